//! See `ha_fuzz::control_request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::control_request::run(data));
