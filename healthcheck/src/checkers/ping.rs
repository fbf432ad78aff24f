//! `PING_CHECK`: one ICMP (or ICMPv6) echo request, up on the matching reply.
//!
//! Uses an unprivileged ICMP datagram socket where `net.ipv4.ping_group_range` allows it
//! (the kernel then owns the identifier and filters replies), a raw socket otherwise.

use std::io;
use std::net::SocketAddr;

use socket2::{Protocol, SockAddr, Type};
use tokio::net::UdpSocket;

use crate::config::ConnectOptions;
use crate::outcome::{Failure, Outcome};

/// ICMP echo message offsets (RFC 792, RFC 4443: the same layout for both).
mod field {
    pub const TYPE: usize = 0;
    pub const CHECKSUM: std::ops::Range<usize> = 2..4;
    pub const IDENT: std::ops::Range<usize> = 4..6;
    pub const SEQ: std::ops::Range<usize> = 6..8;
    pub const HEADER_LEN: usize = 8;
}

const ECHO_REQUEST_V4: u8 = 8;
const ECHO_REPLY_V4: u8 = 0;
const ECHO_REQUEST_V6: u8 = 128;
const ECHO_REPLY_V6: u8 = 129;
const PAYLOAD: &[u8] = b"ha-healthcheck";

/// Builds an echo request. ICMPv6 checksums cover a pseudo-header the kernel fills in, so
/// only the ICMPv4 checksum is computed here.
pub(crate) fn echo_request(v6: bool, ident: u16, seq: u16) -> Vec<u8> {
    let mut packet = vec![0u8; field::HEADER_LEN + PAYLOAD.len()];
    packet[field::TYPE] = if v6 { ECHO_REQUEST_V6 } else { ECHO_REQUEST_V4 };
    packet[field::IDENT].copy_from_slice(&ident.to_be_bytes());
    packet[field::SEQ].copy_from_slice(&seq.to_be_bytes());
    packet[field::HEADER_LEN..].copy_from_slice(PAYLOAD);
    if !v6 {
        let sum = checksum(&packet);
        packet[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    }
    packet
}

/// RFC 1071 Internet checksum.
pub(crate) fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// True when `packet` (an ICMP message, IPv4 header already stripped) is the reply to
/// our request. `ident` is `None` on datagram sockets, where the kernel rewrites it.
pub(crate) fn is_reply(packet: &[u8], v6: bool, ident: Option<u16>, seq: u16) -> bool {
    packet.len() >= field::HEADER_LEN
        && packet[field::TYPE] == if v6 { ECHO_REPLY_V6 } else { ECHO_REPLY_V4 }
        && ident.is_none_or(|id| packet[field::IDENT] == id.to_be_bytes())
        && packet[field::SEQ] == seq.to_be_bytes()
}

/// Opens the ICMP socket: a datagram one if allowed (or `raw` is forced), raw otherwise.
fn open(
    opts: &ConnectOptions,
    target: SocketAddr,
    force_raw: bool,
) -> io::Result<(UdpSocket, bool)> {
    let protocol = if target.is_ipv4() {
        Protocol::ICMPV4
    } else {
        Protocol::ICMPV6
    };
    let datagram = if force_raw {
        Err(io::Error::from(io::ErrorKind::PermissionDenied))
    } else {
        super::net::socket(opts, target, Type::DGRAM, Some(protocol))
    };
    let (socket, raw) = match datagram {
        Ok(socket) => (socket, false),
        Err(e)
            if matches!(e.kind(), io::ErrorKind::PermissionDenied)
                || e.raw_os_error() == Some(nix::errno::Errno::EPERM as i32) =>
        {
            (
                super::net::socket(opts, target, Type::RAW, Some(protocol))?,
                true,
            )
        }
        Err(e) => return Err(e),
    };
    // The port is meaningless for ICMP; connecting filters replies by source address.
    socket.connect(&SockAddr::from(SocketAddr::new(target.ip(), 0)))?;
    Ok((UdpSocket::from_std(std::net::UdpSocket::from(socket))?, raw))
}

pub(crate) async fn check(opts: &ConnectOptions, target: SocketAddr) -> Outcome {
    match exchange(opts, target, false).await {
        Ok(()) => Outcome::Pass(None),
        Err(failure) => Outcome::Fail(failure),
    }
}

async fn exchange(
    opts: &ConnectOptions,
    target: SocketAddr,
    force_raw: bool,
) -> Result<(), Failure> {
    let v6 = target.is_ipv6();
    let (socket, raw) =
        open(opts, target, force_raw).map_err(|e| Failure::Io(format!("ICMP socket: {e}")))?;
    let ident: u16 = rand::random();
    let seq: u16 = rand::random();
    socket
        .send(&echo_request(v6, ident, seq))
        .await
        .map_err(|e| Failure::from_io(&e))?;
    let mut buf = vec![0u8; 1500];
    loop {
        let len = socket
            .recv(&mut buf)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        if is_reply_datagram(&buf[..len], raw, v6, ident, seq) {
            return Ok(());
        }
    }
}

/// True when a datagram received on the ICMP socket is the reply to our request (`raw`: a
/// raw socket, which delivers IPv4 headers and does not filter by identifier).
pub(crate) fn is_reply_datagram(
    datagram: &[u8],
    raw: bool,
    v6: bool,
    ident: u16,
    seq: u16,
) -> bool {
    let mut packet = datagram;
    // Raw IPv4 sockets deliver the IP header too; skip it by its IHL.
    if raw && !v6 {
        let ihl = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        packet = packet.get(ihl..).unwrap_or(&[]);
    }
    is_reply(packet, v6, raw.then_some(ident), seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Type 8, id 0x1234, seq 1, our payload; checksum 0x49f7 computed independently.
    static REQUEST_V4: [u8; 22] = [
        0x08, 0x00, 0x49, 0xf7, 0x12, 0x34, 0x00, 0x01, b'h', b'a', b'-', b'h', b'e', b'a', b'l',
        b't', b'h', b'c', b'h', b'e', b'c', b'k',
    ];

    #[test]
    fn echo_request_v4_has_rfc1071_checksum() {
        let packet = echo_request(false, 0x1234, 1);
        assert_eq!(packet, REQUEST_V4);
        assert_eq!(
            checksum(&packet),
            0,
            "a packet with its checksum sums to zero"
        );
    }

    /// The raw-socket path, used where unprivileged ICMP sockets are not allowed.
    #[tokio::test]
    async fn raw_socket_echo_to_loopback_v4_and_v6() {
        if !nix::unistd::Uid::effective().is_root() {
            testkit::skip(
                "raw_socket_echo_to_loopback_v4_and_v6",
                "raw ICMP needs root",
            );
            return;
        }
        let opts = ConnectOptions::default();
        for target in ["127.0.0.1:0", "[::1]:0"] {
            let target: SocketAddr = target.parse().unwrap();
            let (_, raw) = open(&opts, target, true).unwrap();
            assert!(raw);
            let result = tokio::time::timeout(
                std::time::Duration::from_secs(2),
                exchange(&opts, target, true),
            )
            .await;
            assert_eq!(result, Ok(Ok(())), "{target}");
        }
    }

    #[test]
    fn reply_matching_checks_type_ident_and_seq() {
        let mut reply = REQUEST_V4;
        reply[0] = ECHO_REPLY_V4;
        assert!(is_reply(&reply, false, Some(0x1234), 1));
        assert!(is_reply(&reply, false, None, 1));
        assert!(!is_reply(&reply, false, Some(0x1235), 1));
        assert!(!is_reply(&reply, false, None, 2));
        assert!(
            !is_reply(&REQUEST_V4, false, None, 1),
            "our own request is not a reply"
        );
        assert!(!is_reply(&reply[..7], false, None, 1), "truncated");
    }
}
