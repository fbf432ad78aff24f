//! See `ha_fuzz::garp_frames`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::garp_frames::run(data));
