//! See `ha_fuzz::smtp_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::smtp_reply::run(data));
