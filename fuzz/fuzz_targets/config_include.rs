//! See `ha_fuzz::config_include`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::config_include::run(data));
