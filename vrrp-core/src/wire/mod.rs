//! Wire formats: zero-copy views ([`Packet`]) and high-level representations ([`Repr`]).
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use vrrp_core::wire::{AuthType, ChecksumContext, Family, Packet, Repr, Version};
//!
//! let vip = [10, 99, 0, 200];
//! let repr = Repr {
//!     version: Version::V3,
//!     vrid: 51,
//!     priority: 100,
//!     max_advert_interval: 10, // centiseconds
//!     auth_type: AuthType::None,
//!     auth_data: [0; 8],
//!     family: Family::Ipv4,
//!     addresses: &vip,
//! };
//! let ctx = ChecksumContext {
//!     src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
//!     dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
//!     v3_ipv4_pseudo_header: true,
//! };
//! let mut buf = [0u8; 12];
//! repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &ctx).unwrap();
//! assert_eq!(buf[6..8], [0x74, 0x99]); // keepalived's checksum for this advert
//! let packet = Packet::new_checked(&buf[..]).unwrap();
//! assert_eq!(Repr::parse(&packet, &ctx).unwrap(), repr);
//! ```

pub mod checksum;
mod vrrp;

pub(crate) use vrrp::address_from_bytes;
pub use vrrp::{
    AddressIter, AuthType, ChecksumContext, Family, Packet, Repr, Version, AUTH_DATA_LEN,
    HEADER_LEN, TYPE_ADVERTISEMENT,
};

/// IP protocol number of VRRP.
pub const IP_PROTOCOL_VRRP: u8 = 112;
/// IPv4 multicast group of VRRP.
pub const MULTICAST_V4: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP.
pub const MULTICAST_V6: core::net::Ipv6Addr =
    core::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// The TTL / hop limit every advertisement is sent with and must be received with.
pub const REQUIRED_TTL: u8 = 255;
/// Largest advertisement: 255 IPv6 addresses.
pub const MAX_PACKET_LEN: usize = HEADER_LEN + 255 * 16;
