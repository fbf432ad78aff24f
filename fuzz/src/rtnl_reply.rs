//! rtnetlink datagrams from the kernel, read as the director reads them: as replies to a
//! request (`Rtnl`'s dumps and acknowledgements, the request's sequence number taken from the
//! first message) and as link and address notifications (`NetWatcher`).
//!
//! No panic; a refusal carries an errno; a reply re-emitted by netlink-packet-route, where it
//! parses back, gives the same link status or interface addresses; there are no more
//! notifications than netlink headers fit in the datagram.
//!
//! netlink-packet-route 0.34 does not parse back everything it emits (an empty
//! `IFLA_VF_PORTS` nest, as Linux sends for a veth, re-emits to a nest it refuses): the
//! director never emits what it parsed, so such messages are only compared where they parse.

use director::net::rtnl::{
    interface_addresses, link_status, parse_changes, read_replies, ReplyStatus,
};
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;

/// The target's body.
pub fn run(data: &[u8]) {
    let seq = data
        .get(8..12)
        .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
    let mut replies = Vec::new();
    let status = read_replies(data, seq, &mut replies);
    if let Ok(ReplyStatus::Refused(errno)) = status {
        assert!(errno != 0);
    }
    for reply in &replies {
        let Some(again) = reparse(reply) else {
            continue;
        };
        match (reply, &again) {
            (RouteNetlinkMessage::NewLink(a), RouteNetlinkMessage::NewLink(b)) => {
                assert_eq!(link_status(a), link_status(b));
            }
            (RouteNetlinkMessage::NewAddress(a), RouteNetlinkMessage::NewAddress(b)) => {
                let index = a.header.index;
                assert_eq!(
                    interface_addresses(std::slice::from_ref(reply), index),
                    interface_addresses(std::slice::from_ref(&again), index),
                    "{a:?} re-emitted as {b:?}"
                );
            }
            _ => {}
        }
    }
    let mut changes = Vec::new();
    parse_changes(data, &mut changes);
    // Each notification is a message of its own: at most one per 16-byte netlink header.
    assert!(changes.len() <= data.len() / 16);
}

/// The message emitted by netlink-packet-route and parsed back, if it parses.
fn reparse(message: &RouteNetlinkMessage) -> Option<RouteNetlinkMessage> {
    let mut nl = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::InnerMessage(message.clone()),
    );
    nl.finalize();
    let mut bytes = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut bytes);
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes).ok()? {
        NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(again),
            ..
        } => Some(again),
        other => panic!("{message:?} re-emitted parses as another payload: {other:?}"),
    }
}
