//! See `ha_fuzz::vrrp_packet`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::vrrp_packet::run(data));
