//! `PING_CHECK`'s matching of a datagram from its ICMP socket against its echo request (the
//! first byte picks raw or datagram socket and IPv4 or IPv6; the next four are the request's
//! identifier and sequence number; the rest is the datagram).
//!
//! No panic; a match is an echo reply (RFC 792 type 0, RFC 4443 type 129) with the request's
//! sequence number and, on raw sockets, identifier, found after the IPv4 header's IHL on raw
//! IPv4 sockets and at the start otherwise.

use healthcheck::fuzzing::icmp_reply;

/// The target's body.
pub fn run(data: &[u8]) {
    let [selector, i0, i1, s0, s1, datagram @ ..] = data else {
        return;
    };
    let (raw, v6) = (selector & 1 != 0, selector & 2 != 0);
    let (ident, seq) = (
        u16::from_be_bytes([*i0, *i1]),
        u16::from_be_bytes([*s0, *s1]),
    );
    if !icmp_reply(datagram, raw, v6, ident, seq) {
        return;
    }
    let skip = if raw && !v6 {
        usize::from(datagram[0] & 0x0f) * 4
    } else {
        0
    };
    let icmp = &datagram[skip..];
    assert!(icmp.len() >= 8);
    assert_eq!(icmp[0], if v6 { 129 } else { 0 }, "echo reply");
    assert_eq!(icmp[6..8], seq.to_be_bytes());
    if raw {
        assert_eq!(icmp[4..6], ident.to_be_bytes());
    }
}
