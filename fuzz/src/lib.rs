//! The fuzz targets' bodies. Each `fuzz_targets/<name>.rs` calls `<name>::run`; `cargo xtask
//! fuzz` runs them under libFuzzer, and xtask's `fuzz_regressions` test runs them on every file
//! in `fuzz/corpus/<name>/` and `fuzz/regressions/<name>/` with a plain `cargo test`, so an
//! input that once crashed keeps being tried without cargo-fuzz.
//!
//! Every body must never panic on any input except to report a broken property.

pub mod config_include;
pub mod config_parse;
pub mod control_request;
pub mod dns_answer;
pub mod garp_frames;
pub mod http_response;
pub mod icmp_reply;
pub mod ipvs_netlink;
pub mod ipvsadm_rules;
pub mod lvs_state;
pub mod rtnl_reply;
pub mod smtp_reply;
pub mod vrrp_instance;
pub mod vrrp_packet;
pub mod vrrp_receive;

/// A target's body.
pub type Body = fn(&[u8]);

/// Every target: its name (the `[[bin]]` in `Cargo.toml`, the corpus directory) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("config_include", config_include::run),
    ("config_parse", config_parse::run),
    ("control_request", control_request::run),
    ("dns_answer", dns_answer::run),
    ("garp_frames", garp_frames::run),
    ("http_response", http_response::run),
    ("icmp_reply", icmp_reply::run),
    ("ipvs_netlink", ipvs_netlink::run),
    ("ipvsadm_rules", ipvsadm_rules::run),
    ("lvs_state", lvs_state::run),
    ("rtnl_reply", rtnl_reply::run),
    ("smtp_reply", smtp_reply::run),
    ("vrrp_instance", vrrp_instance::run),
    ("vrrp_packet", vrrp_packet::run),
    ("vrrp_receive", vrrp_receive::run),
];

/// Polls a future that never waits (its I/O is in memory) to completion.
///
/// # Panics
/// When the future returns `Pending`: with nothing to wait for, that is a hang.
pub fn complete<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("an in-memory exchange waits for nothing"),
    }
}

/// RFC 1071 Internet checksum of `parts`, written here independently of the code under test.
pub fn internet_checksum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u64 = bytes
        .chunks(2)
        .map(|c| u64::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}
