//! rtnetlink datagrams from the kernel, read as the director reads them: as replies to a
//! request (`Rtnl`'s dumps and acknowledgements, the request's sequence number taken from the
//! first message) and as link notifications (`LinkWatcher`).
//!
//! No panic; the messages read as replies are those of that sequence number, before the end of
//! the dump; each re-emitted by netlink-packet-route parses back to the same link status or
//! interface addresses; the notifications are the `RTM_NEWLINK` messages of the datagram.

use director::net::rtnl::{
    interface_addresses, link_status, parse_link_changes, read_replies, ReplyStatus,
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
        let again = reparse(reply);
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
    let links = parse_link_changes(data);
    // Each notification is a message of its own: at most one per 16-byte netlink header.
    assert!(links.len() <= data.len() / 16);
}

/// The message emitted by netlink-packet-route and parsed back.
fn reparse(message: &RouteNetlinkMessage) -> RouteNetlinkMessage {
    let mut nl = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::InnerMessage(message.clone()),
    );
    nl.finalize();
    let mut bytes = vec![0u8; nl.buffer_len()];
    nl.serialize(&mut bytes);
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&bytes) {
        Ok(NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(again),
            ..
        }) => again,
        other => panic!("{message:?} re-emitted does not parse back: {other:?}"),
    }
}
