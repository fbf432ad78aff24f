//! Gratuitous ARP (IPv4) and unsolicited neighbour advertisements (IPv6), sent through a packet
//! socket so that the sender MAC can be the interface's or the virtual router's (VMAC).
//!
//! The ARP is a *request* as keepalived sends it (broadcast, sender IP = target IP = the
//! virtual address, target MAC ff:ff:ff:ff:ff:ff); the NA follows RFC 5798 section 6.4.2
//! (Router and Override flags set, Solicited clear, target link-layer address option).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use socket2::{Domain, Socket, Type};
use vrrp_core::wire::checksum;

use super::sys::link_layer_address;
use super::NetError;

const ETHERTYPE_ARP: u16 = 0x0806;
const IPPROTO_ICMPV6: u8 = 58;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];
/// Ethernet address of the IPv6 all-nodes group ff02::1.
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// Length of a gratuitous ARP frame (without Ethernet padding, as captured).
pub const ARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA frame.
pub const NA_FRAME_LEN: usize = 14 + 40 + 24 + 8;

/// The virtual router MAC of RFC 5798 section 7.3: 00-00-5E-00-01-{VRID} for IPv4,
/// 00-00-5E-00-02-{VRID} for IPv6.
pub fn virtual_router_mac(vrid: u8, ipv6: bool) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, if ipv6 { 0x02 } else { 0x01 }, vrid]
}

/// A gratuitous ARP request for `vip` from `mac`.
pub fn arp_frame(mac: [u8; 6], vip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // request
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&vip.octets());
    f[32..38].copy_from_slice(&BROADCAST);
    f[38..42].copy_from_slice(&vip.octets());
    f
}

/// An unsolicited neighbour advertisement for `vip` from `mac`, sent from `vip` to ff02::1.
pub fn na_frame(mac: [u8; 6], vip: Ipv6Addr) -> [u8; NA_FRAME_LEN] {
    let mut f = [0u8; NA_FRAME_LEN];
    f[0..6].copy_from_slice(&ALL_NODES_MAC);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
    let ip = &mut f[14..54];
    ip[0] = 0x60;
    ip[4..6].copy_from_slice(&32u16.to_be_bytes());
    ip[6] = IPPROTO_ICMPV6;
    ip[7] = 255;
    ip[8..24].copy_from_slice(&vip.octets());
    ip[24..40].copy_from_slice(&ALL_NODES.octets());
    let icmp = &mut f[54..];
    icmp[0] = 136; // neighbour advertisement
    icmp[4] = 0xa0; // Router | Override
    icmp[8..24].copy_from_slice(&vip.octets());
    icmp[24] = 2; // target link-layer address option
    icmp[25] = 1; // length in units of 8 bytes
    icmp[26..32].copy_from_slice(&mac);
    let pseudo = checksum::pseudo_header(
        IpAddr::V6(vip),
        IpAddr::V6(ALL_NODES),
        icmp.len(),
        IPPROTO_ICMPV6,
    );
    let sum = checksum::finish(checksum::add(pseudo, icmp));
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    f
}

/// Sends gratuitous ARPs / NAs on one interface.
#[derive(Debug)]
pub struct GratuitousSender {
    socket: Socket,
    interface: String,
    ifindex: u32,
    mac: [u8; 6],
}

impl GratuitousSender {
    /// Opens a packet socket on the interface; `mac` is the sender hardware address (the
    /// interface's, or the VMAC).
    pub fn open(interface: &str, ifindex: u32, mac: [u8; 6]) -> Result<GratuitousSender, NetError> {
        // Protocol 0: this socket only sends, it receives nothing.
        let socket =
            Socket::new(Domain::PACKET, Type::RAW, None).map_err(|source| NetError::Socket {
                interface: interface.to_string(),
                what: "create a packet socket (needs CAP_NET_RAW)",
                source,
            })?;
        Ok(GratuitousSender {
            socket,
            interface: interface.to_string(),
            ifindex,
            mac,
        })
    }

    /// The index of the interface it sends on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Announces each address `repeat` times.
    pub fn announce(&self, addresses: &[IpAddr], repeat: u8) -> Result<(), NetError> {
        for _ in 0..repeat {
            for address in addresses {
                self.announce_once(*address)?;
            }
        }
        Ok(())
    }

    fn announce_once(&self, address: IpAddr) -> Result<(), NetError> {
        let result = match address {
            IpAddr::V4(a) => {
                let to = link_layer_address(self.ifindex, ETHERTYPE_ARP, BROADCAST);
                self.socket.send_to(&arp_frame(self.mac, a), &to)
            }
            IpAddr::V6(a) => {
                let to = link_layer_address(self.ifindex, ETHERTYPE_IPV6, ALL_NODES_MAC);
                self.socket.send_to(&na_frame(self.mac, a), &to)
            }
        };
        result.map(|_| ()).map_err(|source| NetError::Send {
            interface: self.interface.clone(),
            destination: address,
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gratuitous ARP keepalived sent in v2.pcap (vectors dumps.txt).
    const KEEPALIVED_GARP: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xb2, 0x2f, 0xc7, 0xbd, 0x64, 0x64, 0x08, 0x06, 0x00,
        0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01, 0xb2, 0x2f, 0xc7, 0xbd, 0x64, 0x64, 0x0a, 0x63,
        0x00, 0xc8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0a, 0x63, 0x00, 0xc8,
    ];

    #[test]
    fn arp_frame_is_keepalived_byte_for_byte() {
        let mac = [0xb2, 0x2f, 0xc7, 0xbd, 0x64, 0x64];
        assert_eq!(
            arp_frame(mac, Ipv4Addr::new(10, 99, 0, 200)),
            KEEPALIVED_GARP
        );
    }

    #[test]
    fn virtual_router_macs() {
        assert_eq!(virtual_router_mac(51, false), [0, 0, 0x5e, 0, 1, 0x33]);
        assert_eq!(virtual_router_mac(51, true), [0, 0, 0x5e, 0, 2, 0x33]);
    }

    #[test]
    fn na_checksum_verifies() {
        let vip: Ipv6Addr = "2001:db8::200".parse().unwrap();
        let f = na_frame([2, 0, 0, 0, 0, 1], vip);
        // The checksum over pseudo-header and message, the checksum field included, is zero.
        let pseudo =
            checksum::pseudo_header(IpAddr::V6(vip), IpAddr::V6(ALL_NODES), 32, IPPROTO_ICMPV6);
        assert_eq!(checksum::finish(checksum::add(pseudo, &f[54..])), 0);
        assert_eq!(f[54], 136);
        assert_eq!(f[58], 0xa0);
    }
}
