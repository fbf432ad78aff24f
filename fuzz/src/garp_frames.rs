//! The gratuitous ARP and unsolicited neighbour advertisement frames the director sends for
//! any MAC and address. The director only emits these (it never parses a received one), so
//! this target checks the emitters against a decoder written here from RFC 826, RFC 4861 and
//! RFC 5798: every field where keepalived and the RFCs put it, and a verifying checksum.
//!
//! Input: MAC (6 bytes), IPv4 address (4), IPv6 address (16), VRID (1); missing bytes are 0.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use director::net::garp::{arp_frame, na_frame, virtual_router_mac, ARP_FRAME_LEN, NA_FRAME_LEN};

/// The target's body.
pub fn run(data: &[u8]) {
    let mut input = [0u8; 27];
    let n = data.len().min(input.len());
    input[..n].copy_from_slice(&data[..n]);
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&input[..6]);
    let mut v4 = [0u8; 4];
    v4.copy_from_slice(&input[6..10]);
    let mut v6 = [0u8; 16];
    v6.copy_from_slice(&input[10..26]);
    let vrid = input[26];

    arp(mac, Ipv4Addr::from(v4));
    na(mac, Ipv6Addr::from(v6));
    assert_eq!(virtual_router_mac(vrid, false), [0, 0, 0x5e, 0, 1, vrid]);
    assert_eq!(virtual_router_mac(vrid, true), [0, 0, 0x5e, 0, 2, vrid]);
}

fn arp(mac: [u8; 6], vip: Ipv4Addr) {
    let f = arp_frame(mac, vip);
    assert_eq!(f.len(), ARP_FRAME_LEN);
    assert_eq!(f[0..6], [0xff; 6], "broadcast");
    assert_eq!(f[6..12], mac, "Ethernet source");
    assert_eq!(f[12..14], [0x08, 0x06], "EtherType ARP");
    assert_eq!(f[14..16], [0, 1], "hardware type Ethernet");
    assert_eq!(f[16..18], [0x08, 0x00], "protocol type IPv4");
    assert_eq!((f[18], f[19]), (6, 4), "address lengths");
    assert_eq!(f[20..22], [0, 1], "a request, as keepalived sends");
    assert_eq!(f[22..28], mac, "sender hardware address");
    assert_eq!(f[28..32], vip.octets(), "sender protocol address");
    assert_eq!(f[32..38], [0xff; 6], "target hardware address");
    assert_eq!(f[38..42], vip.octets(), "target protocol address");
}

fn na(mac: [u8; 6], vip: Ipv6Addr) {
    let f = na_frame(mac, vip);
    assert_eq!(f.len(), NA_FRAME_LEN);
    assert_eq!(f[0..6], [0x33, 0x33, 0, 0, 0, 1], "all-nodes multicast MAC");
    assert_eq!(f[6..12], mac, "Ethernet source");
    assert_eq!(f[12..14], [0x86, 0xdd], "EtherType IPv6");
    let ip = &f[14..54];
    assert_eq!(ip[0] >> 4, 6, "IP version");
    let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
    assert_eq!(payload_len, f.len() - 54, "payload length");
    assert_eq!(ip[6], 58, "next header ICMPv6");
    assert_eq!(ip[7], 255, "hop limit 255 (RFC 4861 7.1.2)");
    assert_eq!(ip[8..24], vip.octets(), "source: the virtual address");
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    assert_eq!(ip[24..40], all_nodes.octets(), "destination ff02::1");
    let icmp = &f[54..];
    assert_eq!((icmp[0], icmp[1]), (136, 0), "neighbour advertisement");
    assert_eq!(icmp[4], 0xa0, "Router and Override set, Solicited clear");
    assert_eq!(icmp[5..8], [0, 0, 0], "reserved");
    assert_eq!(icmp[8..24], vip.octets(), "target address");
    assert_eq!(
        (icmp[24], icmp[25]),
        (2, 1),
        "target link-layer address option"
    );
    assert_eq!(icmp[26..32], mac, "option: the MAC");
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&vip.octets());
    pseudo.extend_from_slice(&all_nodes.octets());
    pseudo.extend_from_slice(&(icmp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 58]);
    assert_eq!(
        crate::internet_checksum(&[&pseudo, icmp]),
        0,
        "the ICMPv6 checksum verifies ({})",
        IpAddr::V6(vip)
    );
}
