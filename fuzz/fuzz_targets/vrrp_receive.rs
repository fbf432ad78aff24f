//! See `ha_fuzz::vrrp_receive`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::vrrp_receive::run(data));
