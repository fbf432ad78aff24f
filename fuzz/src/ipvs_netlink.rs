//! Arbitrary bytes into the IPVS message parser and the client's reply handling: nothing
//! panics, and whatever parses re-emits to a canonical form that parses back the same.
//!
//! Byte 0 picks the target: even = one IPVS message body with byte 1 as the command; odd =
//! a whole datagram handed to the client as the kernel's reply to a service dump.

use std::io;

use ipvs_sys::message::IpvsMessage;
use ipvs_sys::netlink_packet_core::{Emitable, ParseableParametrized};
use ipvs_sys::netlink_packet_generic::GenlHeader;
use ipvs_sys::transport::Transport;
use ipvs_sys::{Destination, Ipvs, Service, ServiceKey, SyncDaemon};

/// Answers the first receive with the fuzz input, then reports the socket closed.
struct OneReply(Option<Vec<u8>>);

impl Transport for OneReply {
    fn send(&mut self, _: &[u8]) -> io::Result<()> {
        Ok(())
    }
    fn recv(&mut self, buf: &mut Vec<u8>) -> io::Result<()> {
        *buf = self
            .0
            .take()
            .ok_or_else(|| io::Error::other("no more replies"))?;
        Ok(())
    }
}

/// Whether an unknown attribute carries both NLA_F_NESTED and NLA_F_NET_BYTEORDER:
/// netlink-packet-core 0.9 drops the byte-order flag when it emits such an attribute
/// (`NlaBuffer::set_nested_flag` re-reads the masked type). The kernel never sends one.
fn dual_flagged(msg: &IpvsMessage) -> bool {
    use ipvs_sys::message::{DaemonAttr, DestAttr, IpvsCmdAttr, ServiceAttr, StatsAttr};
    use ipvs_sys::netlink_packet_core::{DefaultNla, Nla};
    let both = |n: &DefaultNla| n.kind() & 0xC000 == 0xC000;
    let stats = |s: &[StatsAttr]| {
        s.iter()
            .any(|a| matches!(a, StatsAttr::Other(n) if both(n)))
    };
    msg.nlas.iter().any(|a| match a {
        IpvsCmdAttr::Other(n) => both(n),
        IpvsCmdAttr::Service(v) => v.iter().any(|a| match a {
            ServiceAttr::Other(n) => both(n),
            ServiceAttr::Stats(s) | ServiceAttr::Stats64(s) => stats(s),
            _ => false,
        }),
        IpvsCmdAttr::Dest(v) => v.iter().any(|a| match a {
            DestAttr::Other(n) => both(n),
            DestAttr::Stats(s) | DestAttr::Stats64(s) => stats(s),
            _ => false,
        }),
        IpvsCmdAttr::Daemon(v) => v
            .iter()
            .any(|a| matches!(a, DaemonAttr::Other(n) if both(n))),
        _ => false,
    })
}

fn emit(msg: &IpvsMessage) -> Vec<u8> {
    let mut buf = vec![0; msg.buffer_len()];
    msg.emit(&mut buf);
    buf
}

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 1 {
        let mut ipvs = Ipvs::with_family_id(OneReply(Some(rest.to_vec())), 0x22);
        let _ = ipvs.services();
        let mut ipvs = Ipvs::with_family_id(OneReply(Some(rest.to_vec())), 0x22);
        let _ = ipvs.apply(&[ipvs_sys::Op::Flush, ipvs_sys::Op::Zero(None)]);
        let mut ipvs = Ipvs::with_family_id(OneReply(Some(rest.to_vec())), 0x22);
        let _ = ipvs.destinations(&ServiceKey::tcp("127.0.0.1:1".parse().unwrap()));
        return;
    }
    let Some((&cmd, body)) = rest.split_first() else {
        return;
    };
    let header = GenlHeader { cmd, version: 1 };
    let Ok(msg) = IpvsMessage::parse_with_param(body, header) else {
        return;
    };
    // Canonical form: padding zeroed, nested flags dropped, and the last attribute of each
    // level padded even where the input ended without padding (three levels: message,
    // nest, stats nest), so at most 9 bytes longer.
    let canonical = emit(&msg);
    assert!(canonical.len() <= body.len() + 9);
    let again = IpvsMessage::parse_with_param(&canonical[..], header).expect("canonical parses");
    assert_eq!(
        emit(&again),
        canonical,
        "the canonical form is a fixed point"
    );
    if !dual_flagged(&msg) {
        assert_eq!(again, msg);
    }
    // The model conversions refuse or accept, never panic.
    if let Some(s) = msg.service() {
        if let Ok(service) = Service::from_attrs(s) {
            let _ = service.to_attrs();
            if let Some(d) = msg.dest() {
                let _ = Destination::from_attrs(d, service.key.af()).map(|d| d.to_attrs());
            }
        }
    }
    // The direct destination reader agrees with the typed one.
    if let Some(d) = msg.dest() {
        let af = ipvs_sys::AddressFamily::Inet;
        let direct = ipvs_sys::decode::destination_from_reply(body, header, af);
        match (direct, Destination::from_attrs(d, af)) {
            (Ok(Some(a)), Ok(b)) => assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("direct {a:?} vs typed {b:?}"),
        }
    }
    if let Some(d) = msg.daemon() {
        let _ = SyncDaemon::from_attrs(d).map(|d| d.to_attrs());
    }
    let _ = ServiceKey::tcp("127.0.0.1:1".parse().unwrap()).to_attrs();
}
