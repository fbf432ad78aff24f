//! Arbitrary bytes into the VRRP advertisement parser: no panic, and whatever parses re-emits
//! to the same bytes where the input is canonical: v3's reserved bits clear, and the checksum
//! not 0xffff (one's complement "negative zero", which verifies but is emitted as 0x0000).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use vrrp_core::wire::{ChecksumContext, Packet, Repr, Version};

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    let ctx = if selector & 1 == 0 {
        ChecksumContext {
            src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, 11)),
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            v3_ipv4_pseudo_header: selector & 2 == 0,
        }
    } else {
        ChecksumContext {
            src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
            dst: IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)),
            v3_ipv4_pseudo_header: true,
        }
    };
    let Ok(packet) = Packet::new_checked(bytes) else {
        return;
    };
    let Ok(repr) = Repr::parse(&packet, &ctx) else {
        return;
    };
    let _ = repr.addresses().count();
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut out[..]), &ctx)
        .expect("a parsed advert re-emits");
    let reserved_clear = repr.version == Version::V2 || bytes[4] & 0xf0 == 0;
    let canonical = reserved_clear && bytes[6..8] != [0xff, 0xff];
    if canonical {
        assert_eq!(out, bytes, "emit(parse(x)) != x");
    }
}
