//! Hand-made VRRP adverts in IPv4 frames with any TTL, sent from a raw socket in a namespace:
//! what a spoofer, a broken peer or a flood sends.
#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::time::Duration;

use testkit::Netns;
use vrrp_core::wire::{AuthType, ChecksumContext, Family, Repr, Version};

const GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// A VRRP advert for VRID 51 and `vip` from `src`: VRRPv2 with PASS `password`, or VRRPv3
/// (checksum with the IPv4 pseudo-header, keepalived's default) when `password` is `None`.
pub fn advert(src: Ipv4Addr, vip: Ipv4Addr, priority: u8, password: Option<&[u8; 4]>) -> Vec<u8> {
    let mut auth_data = [0u8; 8];
    let (version, auth_type, max_advert_interval) = match password {
        Some(p) => {
            auth_data[..4].copy_from_slice(p);
            (Version::V2, AuthType::SimplePassword, 1)
        }
        None => (Version::V3, AuthType::None, 10),
    };
    let repr = Repr {
        version,
        vrid: 51,
        priority,
        max_advert_interval,
        auth_type,
        auth_data,
        family: Family::Ipv4,
        addresses: &vip.octets(),
    };
    let ctx = ChecksumContext {
        src: src.into(),
        dst: GROUP.into(),
        v3_ipv4_pseudo_header: true,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    repr.emit_into(&mut p, &ctx).unwrap();
    p
}

/// `payload` in an IPv4 frame from `src` to 224.0.0.18 with TTL `ttl`.
pub fn frame(src: Ipv4Addr, ttl: u8, id: u16, payload: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 20];
    director::net::ipv4::emit_header(&mut header, id, src, GROUP, payload.len());
    header[8] = ttl;
    header[10..12].copy_from_slice(&[0, 0]);
    let sum = vrrp_core::wire::checksum::of(&[&header[..]]);
    header[10..12].copy_from_slice(&sum.to_be_bytes());
    let mut frame = header.to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// A raw IPv4 socket for protocol 112 on `dev` (header included), in the calling thread's
/// namespace.
fn raw_socket(dev: &str) -> socket2::Socket {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(112))).unwrap();
    socket.set_header_included_v4(true).unwrap();
    socket.bind_device(Some(dev.as_bytes())).unwrap();
    socket
}

/// Sends each frame once from `ns` on `dev`.
pub fn send(ns: &Netns, dev: &str, frames: &[Vec<u8>]) {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let socket = raw_socket(dev);
            let to: std::net::SocketAddr = "224.0.0.18:0".parse().unwrap();
            for f in frames {
                socket.send_to(f, &to.into()).unwrap();
            }
        });
    });
}

/// Sends `frame` from `ns` on `dev` at `rate` per second (paced every millisecond, as the
/// chaos suite's flooder) for `how_long`; returns how many were sent. A fixed rate, the
/// issue's 50,000/s, rather than as fast as the socket goes: unpaced, what the receiver gets
/// to read depends on how much CPU the sender takes from it on a loaded 2-core machine.
pub fn flood(ns: &Netns, dev: &str, frame: &[u8], rate: u64, how_long: Duration) -> u64 {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            let socket = raw_socket(dev);
            let to: std::net::SocketAddr = "224.0.0.18:0".parse().unwrap();
            testkit::paced(rate, how_long, || socket.send_to(frame, &to.into()).is_ok()).0
        })
        .join()
        .unwrap()
    })
}
