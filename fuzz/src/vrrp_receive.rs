//! What `VrrpSocket::recv` parses besides the advert: the IPv4 header a raw socket delivers
//! (selector byte even) and the `recvmsg` control messages of IPv6 (odd).
//!
//! IPv4: no panic; a parsed header's fields are the bytes at their offsets and its payload lies
//! in the packet; our own header for the same addresses and payload parses back to them.
//! Control messages: no panic; the walked messages re-encoded in the kernel's layout walk to
//! the same messages; `Ipv6Control` reports the last hop limit and packet info among them.

use std::net::{Ipv4Addr, Ipv6Addr};

use director::net::ipv4::{emit_header, parse_header, HEADER_LEN};
use director::net::{control_messages, Cmsg, Ipv6Control};

const WORD: usize = std::mem::size_of::<usize>();
/// `struct cmsghdr`: a `size_t` length and two `int`s, padded to the word.
const CMSG_HEADER: usize = (WORD + 8).div_ceil(WORD) * WORD;
const IPPROTO_IPV6: i32 = 41;
const IPV6_PKTINFO: i32 = 50;
const IPV6_HOPLIMIT: i32 = 52;

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&selector, bytes)) = data.split_first() else {
        return;
    };
    if selector % 2 == 0 {
        ipv4(bytes);
    } else {
        control(bytes);
    }
}

fn ipv4(packet: &[u8]) {
    let Some(header) = parse_header(packet) else {
        return;
    };
    let (start, end) = header.payload;
    assert!(HEADER_LEN <= start && start <= end && end <= packet.len());
    assert_eq!(
        start,
        usize::from(packet[0] & 0x0f) * 4,
        "payload after the IHL"
    );
    assert_eq!(
        end,
        usize::from(u16::from_be_bytes([packet[2], packet[3]])),
        "payload up to the total length"
    );
    assert_eq!(
        header.src,
        Ipv4Addr::from([packet[12], packet[13], packet[14], packet[15]])
    );
    assert_eq!(
        header.dst,
        Ipv4Addr::from([packet[16], packet[17], packet[18], packet[19]])
    );
    assert_eq!((header.ttl, header.protocol), (packet[8], packet[9]));

    let payload = &packet[start..end];
    let mut ours = [0u8; HEADER_LEN];
    emit_header(&mut ours, 1, header.src, header.dst, payload.len());
    assert_eq!(
        crate::internet_checksum(&[&ours]),
        0,
        "our header's checksum"
    );
    let mut resent = ours.to_vec();
    resent.extend_from_slice(payload);
    let again = parse_header(&resent).expect("our own header parses");
    assert_eq!((again.src, again.dst), (header.src, header.dst));
    assert_eq!((again.ttl, again.protocol), (255, 112));
    assert_eq!(again.payload, (HEADER_LEN, HEADER_LEN + payload.len()));
}

fn control(buf: &[u8]) {
    let messages: Vec<Cmsg<'_>> = control_messages(buf).collect();
    let mut encoded = Vec::new();
    for m in &messages {
        let base = buf.as_ptr() as usize;
        let at = m.data.as_ptr() as usize - base;
        assert!(at + m.data.len() <= buf.len(), "data inside the buffer");
        encoded.extend_from_slice(&(CMSG_HEADER + m.data.len()).to_ne_bytes());
        encoded.extend_from_slice(&m.level.to_ne_bytes());
        encoded.extend_from_slice(&m.kind.to_ne_bytes());
        encoded.resize(encoded.len().next_multiple_of(WORD), 0);
        encoded.extend_from_slice(m.data);
        encoded.resize(encoded.len().next_multiple_of(WORD), 0);
    }
    let again: Vec<Cmsg<'_>> = control_messages(&encoded).collect();
    assert_eq!(again, messages, "re-encoded control messages");

    let mut expected = Ipv6Control {
        hop_limit: 0,
        destination: Ipv6Addr::UNSPECIFIED,
        ifindex: 0,
    };
    for m in &messages {
        match (m.level, m.kind) {
            (IPPROTO_IPV6, IPV6_HOPLIMIT) if m.data.len() >= 4 => {
                expected.hop_limit = m.data[if cfg!(target_endian = "little") { 0 } else { 3 }];
            }
            (IPPROTO_IPV6, IPV6_PKTINFO) if m.data.len() >= 20 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&m.data[..16]);
                expected.destination = Ipv6Addr::from(octets);
                let mut index = [0u8; 4];
                index.copy_from_slice(&m.data[16..20]);
                expected.ifindex = u32::from_ne_bytes(index);
            }
            _ => {}
        }
    }
    assert_eq!(Ipv6Control::parse(buf), expected);
}
