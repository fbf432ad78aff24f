//! See `ha_fuzz::dns_answer`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::dns_answer::run(data));
