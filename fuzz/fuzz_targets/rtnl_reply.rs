//! See `ha_fuzz::rtnl_reply`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::rtnl_reply::run(data));
