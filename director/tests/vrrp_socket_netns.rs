//! Raw VRRP sockets between two network namespaces (privileged): adverts built by vrrp-core
//! leave with TTL 255 and TOS 0xc0 and arrive with their TTL and destination, and a backup
//! instance accepts them.

mod common;

use std::net::IpAddr;
use std::sync::mpsc;

use common::netns::{require_root, veth_pair};
use director::net::VrrpSocket;
use vrrp_core::wire::Version;
use vrrp_core::{Command, Event, Instance, InstanceConfig, Instant, Transmit, TRANSMIT_BUFFER_LEN};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn exchange(tag: &str, version: Version, a: &str, b: &str, vip: &str) {
    let (na, nb) = veth_pair(
        tag,
        ("10.199.0.1/24", "fe80::a/64"),
        ("10.199.0.2/24", "fe80::b/64"),
    );
    let (a, b, vip) = (ip(a), ip(b), ip(vip));
    let (ready_tx, ready_rx) = mpsc::channel();
    let (got, header, events) = std::thread::scope(|scope| {
        let receiver = scope.spawn(|| {
            nb.enter();
            let socket = VrrpSocket::open("eth0", b).unwrap();
            let timeout = nix::sys::time::TimeVal::new(5, 0);
            nix::sys::socket::setsockopt(
                &socket,
                nix::sys::socket::sockopt::ReceiveTimeout,
                &timeout,
            )
            .unwrap();
            ready_tx.send(()).unwrap();
            let mut buf = vec![0u8; 4096];
            let got = socket.recv(&mut buf).expect("an advert within 5 s");
            let mut backup =
                Instance::new(InstanceConfig::new(version, 51, 90, b, vec![vip])).unwrap();
            backup.handle_command(Instant::ZERO, Command::Start);
            backup.handle_packet(Instant::ZERO, &got.info, &buf[got.payload.clone()]);
            let events: Vec<Event> = std::iter::from_fn(|| backup.poll_event()).collect();
            let header = buf[..got.payload.start].to_vec();
            (got, header, events)
        });
        ready_rx.recv().unwrap();
        scope
            .spawn(|| {
                na.enter();
                let mut socket = VrrpSocket::open("eth0", a).unwrap();
                let config = InstanceConfig::new(version, 51, 255, a, vec![vip]);
                let mut owner = Instance::new(config).unwrap();
                owner.handle_command(Instant::ZERO, Command::Start);
                let mut out = [0u8; TRANSMIT_BUFFER_LEN];
                while let Some(t) = owner.poll_transmit(&mut out) {
                    if let Transmit::Advertisement {
                        destination, len, ..
                    } = t
                    {
                        socket.send(destination, &out[..len]).unwrap();
                    }
                }
            })
            .join()
            .unwrap();
        receiver.join().unwrap()
    });
    assert_eq!(got.info.ttl, 255);
    assert_eq!(got.info.source, a);
    match version {
        Version::V2 => {
            assert_eq!(got.info.destination, ip("224.0.0.18"));
            assert_eq!(header[1], 0xc0, "TOS internetwork control");
            assert_eq!(
                u16::from_be_bytes([header[4], header[5]]),
                1,
                "IP id starts at 1"
            );
            assert_eq!(header[6] & 0x40, 0, "DF clear");
        }
        Version::V3 => assert_eq!(got.info.destination, ip("ff02::12")),
    }
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::MasterSeen { address, priority: 255 } if *address == a)),
        "backup accepted the advert: {events:?}"
    );
}

#[test]
fn ipv4_advert_crosses_namespaces_with_ttl_255_and_keepalived_header() {
    if !require_root("ipv4_advert_crosses_namespaces_with_ttl_255_and_keepalived_header") {
        return;
    }
    exchange(
        "s4",
        Version::V2,
        "10.199.0.1",
        "10.199.0.2",
        "10.199.0.100",
    );
}

#[test]
fn ipv6_advert_crosses_namespaces_with_hop_limit_255() {
    if !require_root("ipv6_advert_crosses_namespaces_with_hop_limit_255") {
        return;
    }
    exchange("s6", Version::V3, "fe80::a", "fe80::b", "2001:db8::100");
}
