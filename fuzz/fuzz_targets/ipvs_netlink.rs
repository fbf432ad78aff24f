//! See `ha_fuzz::ipvs_netlink`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::ipvs_netlink::run(data));
