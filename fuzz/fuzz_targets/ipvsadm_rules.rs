//! See `ha_fuzz::ipvsadm_rules`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::ipvsadm_rules::run(data));
