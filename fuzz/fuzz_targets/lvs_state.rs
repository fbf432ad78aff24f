//! See `ha_fuzz::lvs_state`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ha_fuzz::lvs_state::run(data));
