//! The IPv4 header of outgoing adverts (sent with `IP_HDRINCL`, as keepalived does, so that
//! TOS, TTL, DF and the identification are exactly what the RFC and keepalived's captures show)
//! and the header of received ones (raw IPv4 sockets deliver it).

use std::net::Ipv4Addr;

use vrrp_core::wire::{checksum, IP_PROTOCOL_VRRP, REQUIRED_TTL};

/// Header length without options.
pub const HEADER_LEN: usize = 20;
/// TOS of VRRP adverts: precedence 6 (internetwork control), as keepalived sends.
pub const TOS_INTERNETWORK_CONTROL: u8 = 0xc0;

/// Writes a 20-byte IPv4 header for a VRRP payload of `payload_len` bytes, TTL 255.
pub fn emit_header(
    buf: &mut [u8; HEADER_LEN],
    id: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload_len: usize,
) {
    emit_header_with_ttl(buf, id, src, dst, payload_len, REQUIRED_TTL);
}

/// [`emit_header`] with another TTL (`unicast_ttl`).
pub fn emit_header_with_ttl(
    buf: &mut [u8; HEADER_LEN],
    id: u16,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload_len: usize,
    ttl: u8,
) {
    let total = (HEADER_LEN + payload_len) as u16;
    buf[0] = 0x45;
    buf[1] = TOS_INTERNETWORK_CONTROL;
    buf[2..4].copy_from_slice(&total.to_be_bytes());
    buf[4..6].copy_from_slice(&id.to_be_bytes());
    buf[6..8].copy_from_slice(&[0, 0]); // DF clear, as keepalived
    buf[8] = ttl;
    buf[9] = IP_PROTOCOL_VRRP;
    buf[10..12].copy_from_slice(&[0, 0]);
    buf[12..16].copy_from_slice(&src.octets());
    buf[16..20].copy_from_slice(&dst.octets());
    let sum = checksum::of(&[&buf[..]]);
    buf[10..12].copy_from_slice(&sum.to_be_bytes());
}

/// What a received IPv4 header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedHeader {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub ttl: u8,
    pub protocol: u8,
    /// Byte range of the payload in the received buffer.
    pub payload: (usize, usize),
}

/// Parses the header a raw socket delivered; `None` for anything too short or inconsistent.
pub fn parse_header(packet: &[u8]) -> Option<ReceivedHeader> {
    if packet.len() < HEADER_LEN || packet[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if ihl < HEADER_LEN || total < ihl || total > packet.len() {
        return None;
    }
    Some(ReceivedHeader {
        src: Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]),
        dst: Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]),
        ttl: packet[8],
        protocol: packet[9],
        payload: (ihl, total),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// keepalived's first advert header in v2.pcap (dumps.txt): id 1, checksum 0xd024.
    const KEEPALIVED_HEADER: [u8; 20] = [
        0x45, 0xc0, 0x00, 0x28, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0xd0, 0x24, 0x0a, 0x63, 0x00,
        0x0b, 0xe0, 0x00, 0x00, 0x12,
    ];

    #[test]
    fn emits_keepalived_header_byte_for_byte() {
        let mut buf = [0u8; HEADER_LEN];
        emit_header(
            &mut buf,
            1,
            Ipv4Addr::new(10, 99, 0, 11),
            Ipv4Addr::new(224, 0, 0, 18),
            20,
        );
        assert_eq!(buf, KEEPALIVED_HEADER);
    }

    #[test]
    fn parses_header_and_payload_range() {
        let mut packet = KEEPALIVED_HEADER.to_vec();
        packet.extend_from_slice(&[0u8; 20]);
        packet.extend_from_slice(&[0xee; 6]); // link padding beyond the total length
        let h = parse_header(&packet).unwrap();
        assert_eq!(h.ttl, 255);
        assert_eq!(h.protocol, 112);
        assert_eq!(h.payload, (20, 40));
        assert!(parse_header(&packet[..10]).is_none());
    }
}
