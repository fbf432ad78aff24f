//! The crate's one error type.

/// Why a packet could not be parsed or emitted, or a configuration was refused.
///
/// Errors about a peer's packet never stop an instance: the instance counts them and reports an
/// [`Event::PacketDropped`](crate::Event::PacketDropped). Configuration errors name the setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Error {
    #[error("VRRP packet truncated: {len} bytes, the fixed header needs {needed}")]
    Truncated { len: usize, needed: usize },
    #[error("VRRP packet length {len} does not match its address count (expected {expected})")]
    Length { len: usize, expected: usize },
    #[error("unsupported VRRP version {received}")]
    Version { received: u8 },
    #[error("VRRP packet type {received} is not an advertisement (1)")]
    PacketType { received: u8 },
    #[error("VRRP checksum 0x{received:04x} is wrong{}", if *.other_form_matches { " (it matches the other IPv4 VRRPv3 checksum form: check `v3_checksum_as_v2` on both sides)" } else { "" })]
    Checksum {
        received: u16,
        other_form_matches: bool,
    },
    #[error("IP source and destination addresses are of different families")]
    AddressFamilyMismatch,
    #[error("VRRPv2 is IPv4 only; IPv6 needs VRRPv3")]
    V2OverIpv6,
    #[error("address list is not a whole number of addresses, or longer than 255")]
    AddressList,
    #[error("advertisement interval does not fit the version's field")]
    Interval,
    #[error("buffer of {got} bytes; {needed} needed")]
    BufferSize { needed: usize, got: usize },
    #[error("invalid instance configuration: {setting}: {reason}")]
    Config {
        setting: &'static str,
        reason: &'static str,
    },
}
