//! The VRRP advertisement: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568).
//!
//! ```text
//!  v2:  |Version| Type  | Virtual Rtr ID|   Priority    | Count IP Addrs|
//!       |   Auth Type   |   Adver Int   |          Checksum             |
//!       |                 IP Address(es) ... Authentication Data (8)    |
//!  v3:  |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//!       |(rsvd) |     Max Adver Int     |          Checksum             |
//!       |                     IPvX Address(es)                          |
//! ```
//!
//! The packet carries no address family: it is the family of the IP header around it, given by
//! the [`ChecksumContext`] (the same addresses feed the v3 pseudo-header).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::checksum;
use crate::Error;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const VER_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    /// v2 only.
    pub const AUTH_TYPE: usize = 4;
    /// v2 only: seconds.
    pub const ADVER_INT: usize = 5;
    /// v3 only: 4 reserved bits, then 12 bits of centiseconds.
    pub const MAX_ADVER_INT: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
    pub const ADDRESSES: usize = 8;
}

/// Length of the fixed header in both versions.
pub const HEADER_LEN: usize = field::ADDRESSES;
/// Length of the v2 authentication data trailer.
pub const AUTH_DATA_LEN: usize = 8;
/// The only VRRP packet type.
pub const TYPE_ADVERTISEMENT: u8 = 1;

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Version {
    /// RFC 3768: IPv4 only, interval in seconds, optional simple-password authentication.
    V2,
    /// RFC 5798 / RFC 9568: IPv4 and IPv6, interval in centiseconds, no authentication.
    V3,
}

impl Version {
    /// The number carried in the version nibble.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of the IP header carrying the advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    /// Bytes per address in the address list.
    pub const fn address_len(self) -> usize {
        match self {
            Family::Ipv4 => 4,
            Family::Ipv6 => 16,
        }
    }

    /// The family of an address.
    pub const fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// VRRPv2 authentication type (RFC 2338 section 5.3.6; RFC 3768 keeps the field for compatibility).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum AuthType {
    /// 0: no authentication.
    None,
    /// 1: a plain-text password of up to 8 bytes, NUL-padded (keepalived `auth_type PASS`).
    SimplePassword,
    /// 2: IP Authentication Header. Recognised so it can be counted, never accepted.
    IpAh,
    /// Anything else.
    Unknown(u8),
}

impl AuthType {
    pub const fn from_byte(byte: u8) -> Self {
        match byte {
            0 => AuthType::None,
            1 => AuthType::SimplePassword,
            2 => AuthType::IpAh,
            other => AuthType::Unknown(other),
        }
    }

    pub const fn to_byte(self) -> u8 {
        match self {
            AuthType::None => 0,
            AuthType::SimplePassword => 1,
            AuthType::IpAh => 2,
            AuthType::Unknown(other) => other,
        }
    }
}

/// What a checksum is computed over besides the VRRP message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChecksumContext {
    /// Source address of the IP header.
    pub src: IpAddr,
    /// Destination address of the IP header (the multicast group, or a unicast peer).
    pub dst: IpAddr,
    /// VRRPv3 over IPv4 only: include the IPv4 pseudo-header (RFC 5798 and keepalived's
    /// default). `false` is RFC 9568's and other vendors' form, keepalived's
    /// `v3_checksum_as_v2`. IPv6 always includes its pseudo-header; v2 never does.
    pub v3_ipv4_pseudo_header: bool,
}

impl ChecksumContext {
    /// The family of the IP header, or `None` when source and destination disagree.
    pub fn family(&self) -> Option<Family> {
        let family = Family::of(&self.src);
        (family == Family::of(&self.dst)).then_some(family)
    }

    fn includes_pseudo_header(&self, version: Version) -> bool {
        match (version, Family::of(&self.src)) {
            (Version::V2, _) => false,
            (Version::V3, Family::Ipv6) => true,
            (Version::V3, Family::Ipv4) => self.v3_ipv4_pseudo_header,
        }
    }

    fn checksum(&self, message: &[u8], pseudo_header: bool) -> u16 {
        let sum = if pseudo_header {
            checksum::pseudo_header(self.src, self.dst, message.len(), super::IP_PROTOCOL_VRRP)
        } else {
            0
        };
        checksum::finish(checksum::add(sum, message))
    }
}

/// A read/write view of a VRRP advertisement in a buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking anything; accessors may panic on a short buffer.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking it holds at least the fixed header.
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header is present; the full length depends on the version,
    /// the address count and the family, and is checked by [`Repr::parse`].
    pub fn check_len(&self) -> Result<(), Error> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            Err(Error::Truncated {
                len,
                needed: HEADER_LEN,
            })
        } else {
            Ok(())
        }
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    #[inline]
    pub fn version_number(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] >> 4
    }

    #[inline]
    pub fn packet_type(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TYPE] & 0x0f
    }

    #[inline]
    pub fn vrid(&self) -> u8 {
        self.buffer.as_ref()[field::VRID]
    }

    #[inline]
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    #[inline]
    pub fn address_count(&self) -> u8 {
        self.buffer.as_ref()[field::COUNT]
    }

    /// v2 authentication type byte.
    #[inline]
    pub fn auth_type(&self) -> u8 {
        self.buffer.as_ref()[field::AUTH_TYPE]
    }

    /// v2 advertisement interval in seconds.
    #[inline]
    pub fn advert_interval_secs(&self) -> u8 {
        self.buffer.as_ref()[field::ADVER_INT]
    }

    /// v3 maximum advertisement interval in centiseconds (the reserved bits masked off).
    #[inline]
    pub fn max_advert_interval_cs(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::MAX_ADVER_INT];
        u16::from_be_bytes([b[0], b[1]]) & 0x0fff
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// Length the whole message must have for this version, count and family.
    pub fn expected_len(&self, version: Version, family: Family) -> usize {
        let trailer = match version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + usize::from(self.address_count()) * family.address_len() + trailer
    }

    /// Recomputes the checksum and compares it with the one carried.
    pub fn verify_checksum(&self, version: Version, ctx: &ChecksumContext) -> bool {
        self.computed_checksum(ctx, ctx.includes_pseudo_header(version)) == 0
    }

    /// Checksum over the whole message including the carried checksum field: 0 when valid.
    fn computed_checksum(&self, ctx: &ChecksumContext, pseudo: bool) -> u16 {
        ctx.checksum(self.buffer.as_ref(), pseudo)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version_and_type(&mut self, version: u8, packet_type: u8) {
        self.buffer.as_mut()[field::VER_TYPE] = (version << 4) | (packet_type & 0x0f);
    }

    #[inline]
    pub fn set_vrid(&mut self, vrid: u8) {
        self.buffer.as_mut()[field::VRID] = vrid;
    }

    #[inline]
    pub fn set_priority(&mut self, priority: u8) {
        self.buffer.as_mut()[field::PRIORITY] = priority;
    }

    #[inline]
    pub fn set_address_count(&mut self, count: u8) {
        self.buffer.as_mut()[field::COUNT] = count;
    }

    #[inline]
    pub fn set_auth_type(&mut self, auth_type: u8) {
        self.buffer.as_mut()[field::AUTH_TYPE] = auth_type;
    }

    #[inline]
    pub fn set_advert_interval_secs(&mut self, secs: u8) {
        self.buffer.as_mut()[field::ADVER_INT] = secs;
    }

    /// Sets the v3 interval and clears the reserved bits.
    #[inline]
    pub fn set_max_advert_interval_cs(&mut self, cs: u16) {
        self.buffer.as_mut()[field::MAX_ADVER_INT].copy_from_slice(&(cs & 0x0fff).to_be_bytes());
    }

    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&value.to_be_bytes());
    }

    /// Computes and stores the checksum for `version` in the given context.
    pub fn fill_checksum(&mut self, version: Version, ctx: &ChecksumContext) {
        self.set_checksum(0);
        let value = ctx.checksum(self.buffer.as_ref(), ctx.includes_pseudo_header(version));
        self.set_checksum(value);
    }
}

/// A parsed advertisement. Borrows its address list from the packet (no allocation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Interval in the version's own unit: seconds for v2, centiseconds (12 bits) for v3.
    pub max_advert_interval: u16,
    /// v2 only; `AuthType::None` for v3.
    pub auth_type: AuthType,
    /// v2 only: the 8-byte authentication data as carried (the password, NUL-padded). Zero for v3.
    pub auth_data: [u8; AUTH_DATA_LEN],
    pub family: Family,
    /// The address list in wire form: `count * family.address_len()` bytes.
    pub addresses: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Parses and validates the structure and checksum of an advertisement. Checks against the
    /// local configuration (VRID, authentication, interval, addresses) belong to the instance.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        ctx: &ChecksumContext,
    ) -> Result<Repr<'a>, Error> {
        packet.check_len()?;
        let family = ctx.family().ok_or(Error::AddressFamilyMismatch)?;
        let version = match packet.version_number() {
            2 => Version::V2,
            3 => Version::V3,
            received => return Err(Error::Version { received }),
        };
        if version == Version::V2 && family == Family::Ipv6 {
            return Err(Error::V2OverIpv6);
        }
        if packet.packet_type() != TYPE_ADVERTISEMENT {
            return Err(Error::PacketType {
                received: packet.packet_type(),
            });
        }
        let bytes: &'a [u8] = packet.buffer.as_ref();
        let expected = packet.expected_len(version, family);
        if bytes.len() != expected {
            return Err(Error::Length {
                len: bytes.len(),
                expected,
            });
        }
        let pseudo = ctx.includes_pseudo_header(version);
        if packet.computed_checksum(ctx, pseudo) != 0 {
            // Tell the operator when the peer uses the other IPv4 v3 form: that is a
            // configuration mismatch (`v3_checksum_as_v2`), not corruption.
            let other_form_matches = version == Version::V3
                && family == Family::Ipv4
                && packet.computed_checksum(ctx, !pseudo) == 0;
            return Err(Error::Checksum {
                received: packet.checksum(),
                other_form_matches,
            });
        }
        let addresses_end =
            field::ADDRESSES + usize::from(packet.address_count()) * family.address_len();
        let addresses = &bytes[field::ADDRESSES..addresses_end];
        let (max_advert_interval, auth_type, auth_data) = match version {
            Version::V2 => {
                let mut data = [0; AUTH_DATA_LEN];
                data.copy_from_slice(&bytes[addresses_end..addresses_end + AUTH_DATA_LEN]);
                (
                    u16::from(packet.advert_interval_secs()),
                    AuthType::from_byte(packet.auth_type()),
                    data,
                )
            }
            Version::V3 => (
                packet.max_advert_interval_cs(),
                AuthType::None,
                [0; AUTH_DATA_LEN],
            ),
        };
        Ok(Repr {
            version,
            vrid: packet.vrid(),
            priority: packet.priority(),
            max_advert_interval,
            auth_type,
            auth_data,
            family,
            addresses,
        })
    }

    /// Length of the emitted message.
    pub const fn buffer_len(&self) -> usize {
        let trailer = match self.version {
            Version::V2 => AUTH_DATA_LEN,
            Version::V3 => 0,
        };
        HEADER_LEN + self.addresses.len() + trailer
    }

    /// Number of addresses in the list.
    pub const fn address_count(&self) -> usize {
        self.addresses.len() / self.family.address_len()
    }

    /// The advertised addresses.
    pub fn addresses(&self) -> AddressIter<'a> {
        AddressIter {
            family: self.family,
            bytes: self.addresses,
        }
    }

    /// The advertisement interval as a duration.
    pub fn interval(&self) -> core::time::Duration {
        match self.version {
            Version::V2 => core::time::Duration::from_secs(u64::from(self.max_advert_interval)),
            Version::V3 => {
                core::time::Duration::from_millis(10 * u64::from(self.max_advert_interval))
            }
        }
    }

    /// Checks that this representation can be emitted as it is.
    pub fn check_emittable(&self) -> Result<(), Error> {
        let alen = self.family.address_len();
        if self.addresses.len() % alen != 0 || self.addresses.len() / alen > usize::from(u8::MAX) {
            return Err(Error::AddressList);
        }
        match self.version {
            Version::V2 if self.family == Family::Ipv6 => Err(Error::V2OverIpv6),
            Version::V2 if self.max_advert_interval > u16::from(u8::MAX) => Err(Error::Interval),
            Version::V3 if self.max_advert_interval > 0x0fff => Err(Error::Interval),
            _ => Ok(()),
        }
    }

    /// Writes the advertisement into `packet`, whose buffer must be exactly `buffer_len()`
    /// bytes (use [`Repr::emit_into`] for a larger buffer), and fills in the checksum.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        ctx: &ChecksumContext,
    ) -> Result<(), Error> {
        self.check_emittable()?;
        let needed = self.buffer_len();
        let got = packet.buffer.as_ref().len();
        if got != needed {
            return Err(Error::BufferSize { needed, got });
        }
        packet.set_version_and_type(self.version.number(), TYPE_ADVERTISEMENT);
        packet.set_vrid(self.vrid);
        packet.set_priority(self.priority);
        packet.set_address_count(self.address_count() as u8);
        match self.version {
            Version::V2 => {
                packet.set_auth_type(self.auth_type.to_byte());
                packet.set_advert_interval_secs(self.max_advert_interval as u8);
            }
            Version::V3 => packet.set_max_advert_interval_cs(self.max_advert_interval),
        }
        let end = field::ADDRESSES + self.addresses.len();
        let buf = packet.buffer.as_mut();
        buf[field::ADDRESSES..end].copy_from_slice(self.addresses);
        if self.version == Version::V2 {
            buf[end..end + AUTH_DATA_LEN].copy_from_slice(&self.auth_data);
        }
        packet.fill_checksum(self.version, ctx);
        Ok(())
    }

    /// Emits into the front of `buf` and returns the number of bytes written. A buffer that is
    /// too small is an error naming the size needed; nothing is allocated.
    pub fn emit_into(&self, buf: &mut [u8], ctx: &ChecksumContext) -> Result<usize, Error> {
        let needed = self.buffer_len();
        if buf.len() < needed {
            return Err(Error::BufferSize {
                needed,
                got: buf.len(),
            });
        }
        self.emit(&mut Packet::new_unchecked(&mut buf[..needed]), ctx)?;
        Ok(needed)
    }
}

/// Iterator over the addresses of an advertisement.
#[derive(Debug, Clone)]
pub struct AddressIter<'a> {
    family: Family,
    bytes: &'a [u8],
}

impl Iterator for AddressIter<'_> {
    type Item = IpAddr;

    fn next(&mut self) -> Option<IpAddr> {
        let len = self.family.address_len();
        if self.bytes.len() < len {
            return None;
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Some(address_from_bytes(head))
    }
}

/// An address from its 4- or 16-byte wire form.
pub(crate) fn address_from_bytes(bytes: &[u8]) -> IpAddr {
    match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        _ => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes[..16]);
            IpAddr::V6(Ipv6Addr::from(octets))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 11);
    const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

    fn ctx(pseudo: bool) -> ChecksumContext {
        ChecksumContext {
            src: IpAddr::V4(SRC),
            dst: IpAddr::V4(GROUP),
            v3_ipv4_pseudo_header: pseudo,
        }
    }

    // First advert of v2.pcap (keepalived 2.2.7, dumps.txt): VRID 51, prio 100, PASS "1111".
    static V2_ADVERT: [u8; 20] = [
        0x21, 0x33, 0x64, 0x01, 0x01, 0x01, 0x0c, 0x3d, 0x0a, 0x63, 0x00, 0xc8, 0x31, 0x31, 0x31,
        0x31, 0x00, 0x00, 0x00, 0x00,
    ];
    // First advert of v3.pcap: VRID 51, prio 100, 10 cs, checksum with the IPv4 pseudo-header.
    static V3_ADVERT: [u8; 12] = [
        0x31, 0x33, 0x64, 0x01, 0x00, 0x0a, 0x74, 0x99, 0x0a, 0x63, 0x00, 0xc8,
    ];
    static VIP: [u8; 4] = [10, 99, 0, 200];

    fn v2_repr() -> Repr<'static> {
        Repr {
            version: Version::V2,
            vrid: 51,
            priority: 100,
            max_advert_interval: 1,
            auth_type: AuthType::SimplePassword,
            auth_data: *b"1111\0\0\0\0",
            family: Family::Ipv4,
            addresses: &VIP,
        }
    }

    fn v3_repr() -> Repr<'static> {
        Repr {
            version: Version::V3,
            vrid: 51,
            priority: 100,
            max_advert_interval: 10,
            auth_type: AuthType::None,
            auth_data: [0; 8],
            family: Family::Ipv4,
            addresses: &VIP,
        }
    }

    #[test]
    fn deconstruct_v2() {
        let packet = Packet::new_checked(&V2_ADVERT[..]).unwrap();
        assert_eq!(packet.version_number(), 2);
        assert_eq!(packet.packet_type(), 1);
        assert_eq!(packet.vrid(), 51);
        assert_eq!(packet.priority(), 100);
        assert_eq!(packet.address_count(), 1);
        assert_eq!(packet.auth_type(), 1);
        assert_eq!(packet.advert_interval_secs(), 1);
        assert_eq!(packet.checksum(), 0x0c3d);
        assert!(packet.verify_checksum(Version::V2, &ctx(true)));
    }

    #[test]
    fn deconstruct_v3() {
        let packet = Packet::new_checked(&V3_ADVERT[..]).unwrap();
        assert_eq!(packet.version_number(), 3);
        assert_eq!(packet.max_advert_interval_cs(), 10);
        assert_eq!(packet.checksum(), 0x7499);
        assert!(packet.verify_checksum(Version::V3, &ctx(true)));
        assert!(!packet.verify_checksum(Version::V3, &ctx(false)));
    }

    #[test]
    fn parse_v2() {
        let packet = Packet::new_checked(&V2_ADVERT[..]).unwrap();
        assert_eq!(Repr::parse(&packet, &ctx(true)).unwrap(), v2_repr());
    }

    #[test]
    fn parse_v3() {
        let packet = Packet::new_checked(&V3_ADVERT[..]).unwrap();
        let repr = Repr::parse(&packet, &ctx(true)).unwrap();
        assert_eq!(repr, v3_repr());
        assert_eq!(repr.interval(), core::time::Duration::from_millis(100));
        assert_eq!(
            repr.addresses().collect::<alloc::vec::Vec<_>>(),
            [IpAddr::V4(Ipv4Addr::new(10, 99, 0, 200))]
        );
    }

    #[test]
    fn emit_v2() {
        let mut buf = [0xffu8; 20];
        v2_repr()
            .emit(&mut Packet::new_unchecked(&mut buf[..]), &ctx(true))
            .unwrap();
        assert_eq!(buf, V2_ADVERT);
    }

    #[test]
    fn emit_v3_both_checksum_forms() {
        let mut buf = [0xffu8; 12];
        v3_repr().emit_into(&mut buf, &ctx(true)).unwrap();
        assert_eq!(buf, V3_ADVERT);
        // keepalived's README: 0x5f96 without the pseudo-header (RFC 9568 / v3_checksum_as_v2).
        v3_repr().emit_into(&mut buf, &ctx(false)).unwrap();
        assert_eq!(Packet::new_unchecked(&buf[..]).checksum(), 0x5f96);
    }

    #[test]
    fn checksum_form_mismatch_is_named() {
        let packet = Packet::new_checked(&V3_ADVERT[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet, &ctx(false)),
            Err(Error::Checksum {
                received: 0x7499,
                other_form_matches: true
            })
        );
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(matches!(
            Packet::new_checked(&[0x21u8, 0x33][..]),
            Err(Error::Truncated { .. })
        ));
        let mut short = V2_ADVERT;
        short[3] = 2; // claims two addresses
        let packet = Packet::new_checked(&short[..]).unwrap();
        assert!(matches!(
            Repr::parse(&packet, &ctx(true)),
            Err(Error::Length { .. })
        ));
        let mut bad_type = V2_ADVERT;
        bad_type[0] = 0x22;
        let packet = Packet::new_checked(&bad_type[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet, &ctx(true)),
            Err(Error::PacketType { received: 2 })
        );
        let mut bad_version = V2_ADVERT;
        bad_version[0] = 0x41;
        let packet = Packet::new_checked(&bad_version[..]).unwrap();
        assert_eq!(
            Repr::parse(&packet, &ctx(true)),
            Err(Error::Version { received: 4 })
        );
    }

    #[test]
    fn too_small_buffer_names_the_size() {
        let mut buf = [0u8; 10];
        assert_eq!(
            v2_repr().emit_into(&mut buf, &ctx(true)),
            Err(Error::BufferSize {
                needed: 20,
                got: 10
            })
        );
    }

    #[test]
    fn ipv6_v3_round_trip() {
        let vip: [u8; 16] = "2001:db8::200".parse::<Ipv6Addr>().unwrap().octets();
        let repr = Repr {
            family: Family::Ipv6,
            addresses: &vip,
            ..v3_repr()
        };
        let ctx = ChecksumContext {
            src: "fe80::1".parse().unwrap(),
            dst: "ff02::12".parse().unwrap(),
            v3_ipv4_pseudo_header: true,
        };
        let mut buf = [0u8; 24];
        assert_eq!(repr.emit_into(&mut buf, &ctx), Ok(24));
        let packet = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Repr::parse(&packet, &ctx), Ok(repr));
    }
}
