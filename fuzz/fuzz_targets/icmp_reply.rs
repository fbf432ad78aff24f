//! See `ha_fuzz::icmp_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::icmp_reply::run(data));
