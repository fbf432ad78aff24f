//! rtnetlink for the director: virtual addresses (with label and scope), link state, and
//! link and address notifications (a link going down puts its instances in Fault; a VIP
//! removed behind the director's back is put back).

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressMessage, AddressScope, CacheInfo,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, MacVlanMode,
    State as OperState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// rtnetlink multicast group of link changes (`RTMGRP_LINK`).
const RTMGRP_LINK: u32 = 1;
const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const EADDRNOTAVAIL: i32 = 99;
const ESRCH: i32 = 3;

/// Why an rtnetlink request failed, naming the object.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {source}")]
pub struct RtnlError {
    pub what: String,
    #[source]
    pub source: io::Error,
}

fn fail(what: impl Into<String>) -> impl FnOnce(io::Error) -> RtnlError {
    let what = what.into();
    move |source| RtnlError { what, source }
}

/// A virtual address as keepalived's `virtual_ipaddress` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddress {
    pub ifindex: u32,
    pub address: IpAddr,
    pub prefix_len: u8,
    /// `label` (IPv4 only): shown by `ip addr` as an alias name.
    pub label: Option<String>,
    /// `scope`: keepalived's default is global.
    pub scope: AddressScope,
    pub options: AddressOptions,
}

/// What an address line adds to the address (keepalived's `netlink_ipaddress`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressOptions {
    /// `IFA_FLAGS`: `home`, `noprefixroute`, `autojoin`, `mngtmpaddr`, and `nodad` (IPv6
    /// unless `-nodad`).
    pub flags: AddressFlags,
    /// `peer`: the other end of a point-to-point address (`IFA_ADDRESS`; the address itself
    /// is `IFA_LOCAL`).
    pub peer: Option<IpAddr>,
    /// `brd` (IPv4).
    pub broadcast: Option<Ipv4Addr>,
    /// IPv6 preferred lifetime in seconds (`IFA_CACHEINFO`, valid forever); `None`: forever.
    pub preferred_lft: Option<u32>,
}

impl Default for AddressOptions {
    fn default() -> Self {
        AddressOptions {
            flags: AddressFlags::empty(),
            peer: None,
            broadcast: None,
            preferred_lft: None,
        }
    }
}

/// An infinite address lifetime (`INFINITY_LIFE_TIME`).
const FOREVER: u32 = u32::MAX;

/// What a link is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkStatus {
    pub ifindex: u32,
    pub name: String,
    /// Administratively up and the carrier is there (`IFF_UP` and `IFF_RUNNING`).
    pub usable: bool,
    /// Hardware address, for Ethernet-like links.
    pub mac: Option<[u8; 6]>,
}

/// A request/response rtnetlink socket.
#[derive(Debug)]
pub struct Rtnl {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    pub fn open() -> Result<Rtnl, RtnlError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail("open rtnetlink socket"))?;
        socket.bind_auto().map_err(fail("bind rtnetlink socket"))?;
        Ok(Rtnl {
            socket,
            seq: 0,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// Adds a virtual address. Returns `false` if it was already there.
    pub fn add_address(&mut self, a: &InterfaceAddress) -> Result<bool, RtnlError> {
        let msg = address_message(a, true);
        let what = format!(
            "add {}/{} to interface {}",
            a.address, a.prefix_len, a.ifindex
        );
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        ) {
            Ok(_) => Ok(true),
            Err(e) if e.source.raw_os_error() == Some(EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a virtual address. Returns `false` if it was not there.
    pub fn delete_address(&mut self, a: &InterfaceAddress) -> Result<bool, RtnlError> {
        let msg = address_message(a, false);
        let what = format!(
            "delete {}/{} from interface {}",
            a.address, a.prefix_len, a.ifindex
        );
        match self.request(RouteNetlinkMessage::DelAddress(msg), 0, &what) {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    e.source.raw_os_error(),
                    Some(EADDRNOTAVAIL | ENOENT | ESRCH)
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// The addresses on an interface.
    pub fn addresses(&mut self, ifindex: u32) -> Result<Vec<(IpAddr, u8)>, RtnlError> {
        let replies = self.dump(
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
            &format!("list addresses of interface {ifindex}"),
        )?;
        Ok(interface_addresses(&replies, ifindex))
    }

    /// Every link and whether it is usable.
    pub fn links(&mut self) -> Result<Vec<LinkStatus>, RtnlError> {
        let replies = self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            "list links",
        )?;
        Ok(replies
            .into_iter()
            .filter_map(|r| match r {
                RouteNetlinkMessage::NewLink(m) => Some(link_status(&m)),
                _ => None,
            })
            .collect())
    }

    /// Adds a route. Returns `false` if it was already there.
    pub fn add_route(&mut self, route: &super::route::Route) -> Result<bool, RtnlError> {
        let ifindex = self.route_device(route)?;
        let what = format!("add route {}", route.text);
        match self.request(
            RouteNetlinkMessage::NewRoute(route.message(ifindex)),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.source.raw_os_error() == Some(EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a route. Returns `false` if it was not there.
    pub fn delete_route(&mut self, route: &super::route::Route) -> Result<bool, RtnlError> {
        let ifindex = self.route_device(route)?;
        let what = format!("delete route {}", route.text);
        match self.request(
            RouteNetlinkMessage::DelRoute(route.message(ifindex)),
            0,
            &what,
        ) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.source.raw_os_error(), Some(ESRCH | ENOENT)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Adds a FIB rule. Returns `false` if it was already there.
    pub fn add_rule(&mut self, rule: &super::rule::Rule) -> Result<bool, RtnlError> {
        let what = format!("add rule {}", rule.text);
        match self.request(
            RouteNetlinkMessage::NewRule(rule.message()),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        ) {
            Ok(()) => Ok(true),
            Err(e) if e.source.raw_os_error() == Some(EEXIST) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a FIB rule. Returns `false` if it was not there.
    pub fn delete_rule(&mut self, rule: &super::rule::Rule) -> Result<bool, RtnlError> {
        let what = format!("delete rule {}", rule.text);
        match self.request(RouteNetlinkMessage::DelRule(rule.message()), 0, &what) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.source.raw_os_error(), Some(ESRCH | ENOENT)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn route_device(&mut self, route: &super::route::Route) -> Result<Option<u32>, RtnlError> {
        route
            .device
            .as_deref()
            .map(|d| {
                super::interface_index(d).map_err(|e| RtnlError {
                    what: format!("route {}", route.text),
                    source: io::Error::new(io::ErrorKind::NotFound, e.to_string()),
                })
            })
            .transpose()
    }

    /// Creates keepalived's VMAC: a macvlan in private mode on `parent` with the virtual router
    /// MAC, left down so the caller can prepare it (see [`Rtnl::set_link_up`]). Returns its
    /// interface index. An existing link of that name is replaced, as keepalived does after a
    /// crash left one behind.
    pub fn create_vmac(&mut self, parent: u32, name: &str, mac: [u8; 6]) -> Result<u32, RtnlError> {
        if let Some(old) = self.links()?.into_iter().find(|l| l.name == name) {
            self.delete_link(old.ifindex)?;
        }
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_string()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::MacVlan),
            LinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Private,
            )])),
        ]));
        let what = format!("create VMAC {name} on interface {parent}");
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        )?;
        self.links()?
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.ifindex)
            .ok_or_else(|| RtnlError {
                what,
                source: io::Error::new(io::ErrorKind::NotFound, "created but not listed"),
            })
    }

    /// The dummy interface `name` (ha's announce interface), created when missing and
    /// brought up. An existing link of that name is kept, whatever its kind: FRR's
    /// configuration names it, and it may hold addresses a restarted director adopts.
    /// Returns its interface index.
    pub fn ensure_dummy(&mut self, name: &str) -> Result<u32, RtnlError> {
        let ifindex = match self.links()?.into_iter().find(|l| l.name == name) {
            Some(l) => l.ifindex,
            None => {
                let mut msg = LinkMessage::default();
                msg.attributes.push(LinkAttribute::IfName(name.to_string()));
                msg.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(
                        InfoKind::Dummy,
                    )]));
                let what = format!("create dummy interface {name}");
                match self.request(
                    RouteNetlinkMessage::NewLink(msg),
                    NLM_F_CREATE | NLM_F_EXCL,
                    &what,
                ) {
                    Ok(()) => {}
                    // Created meanwhile by someone else: use it.
                    Err(e) if e.source.raw_os_error() == Some(EEXIST) => {}
                    Err(e) => return Err(e),
                }
                self.links()?
                    .into_iter()
                    .find(|l| l.name == name)
                    .map(|l| l.ifindex)
                    .ok_or_else(|| RtnlError {
                        what,
                        source: io::Error::new(io::ErrorKind::NotFound, "created but not listed"),
                    })?
            }
        };
        self.set_link_up(ifindex)?;
        Ok(ifindex)
    }

    /// Brings a link up.
    pub fn set_link_up(&mut self, ifindex: u32) -> Result<(), RtnlError> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        self.request(
            RouteNetlinkMessage::SetLink(msg),
            0,
            &format!("bring interface {ifindex} up"),
        )
    }

    /// Adds an IPv6 link-local address without duplicate address detection (a VMAC carries its
    /// parent's link-local, so adverts keep their source).
    pub fn add_link_local(&mut self, ifindex: u32, address: IpAddr) -> Result<(), RtnlError> {
        let msg = address_message(
            &InterfaceAddress {
                ifindex,
                address,
                prefix_len: 64,
                label: None,
                scope: AddressScope::Link,
                options: AddressOptions {
                    flags: AddressFlags::Nodad,
                    ..AddressOptions::default()
                },
            },
            true,
        );
        let what = format!("add link-local {address} to interface {ifindex}");
        self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
            &what,
        )
    }

    /// Deletes a link (a VMAC on shutdown).
    pub fn delete_link(&mut self, ifindex: u32) -> Result<(), RtnlError> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        self.request(
            RouteNetlinkMessage::DelLink(msg),
            0,
            &format!("delete interface {ifindex}"),
        )
    }

    fn next_seq(&mut self) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    fn send(&mut self, msg: RouteNetlinkMessage, flags: u16, what: &str) -> Result<u32, RtnlError> {
        let seq = self.next_seq();
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        self.socket
            .send_to(&out, &SocketAddr::new(0, 0), 0)
            .map_err(fail(format!("{what}: send")))?;
        Ok(seq)
    }

    /// Sends a request with `NLM_F_ACK` and waits for its acknowledgement.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        what: &str,
    ) -> Result<(), RtnlError> {
        let seq = self.send(msg, flags | NLM_F_ACK, what)?;
        self.collect(seq, what).map(|_| ())
    }

    fn dump(
        &mut self,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        let seq = self.send(msg, NLM_F_DUMP, what)?;
        self.collect(seq, what)
    }

    /// Reads replies to `seq` until its ACK, error or end of dump.
    fn collect(&mut self, seq: u32, what: &str) -> Result<Vec<RouteNetlinkMessage>, RtnlError> {
        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            self.socket
                .recv(&mut self.buf, 0)
                .map_err(fail(format!("{what}: receive")))?;
            match read_replies(&self.buf, seq, &mut replies) {
                Ok(ReplyStatus::Pending) => {}
                Ok(ReplyStatus::Done) => return Ok(replies),
                Ok(ReplyStatus::Refused(errno)) => {
                    return Err(RtnlError {
                        what: what.to_string(),
                        source: io::Error::from_raw_os_error(errno),
                    })
                }
                Err(e) => {
                    return Err(RtnlError {
                        what: format!("{what}: reply"),
                        source: io::Error::new(io::ErrorKind::InvalidData, e),
                    })
                }
            }
        }
    }
}

/// Where a request stands after one datagram of its replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyStatus {
    /// More datagrams follow.
    Pending,
    /// Acknowledged, or the dump is complete.
    Done,
    /// The kernel refused the request with this errno.
    Refused(i32),
}

/// Reads one datagram of replies to request `seq`, appending the messages it carries to
/// `replies`. Messages of other requests are skipped; a message that does not parse is an
/// error (its text).
pub fn read_replies(
    datagram: &[u8],
    seq: u32,
    replies: &mut Vec<RouteNetlinkMessage>,
) -> Result<ReplyStatus, String> {
    let mut offset = 0;
    while offset < datagram.len() {
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
            .map_err(|e| e.to_string())?;
        let len = parsed.header.length as usize;
        if len == 0 {
            break;
        }
        offset += len.div_ceil(4) * 4;
        if parsed.header.sequence_number != seq {
            continue;
        }
        match parsed.payload {
            NetlinkPayload::Done(_) => return Ok(ReplyStatus::Done),
            NetlinkPayload::Error(e) => {
                // The kernel sends a negative errno; whatever it is, it is refused, and a
                // nonsense code (i32::MIN has no negation) must not panic.
                return Ok(match e.code {
                    None => ReplyStatus::Done,
                    Some(code) => {
                        ReplyStatus::Refused(code.get().checked_neg().unwrap_or(i32::MAX))
                    }
                });
            }
            NetlinkPayload::InnerMessage(m) => replies.push(m),
            _ => {}
        }
    }
    Ok(ReplyStatus::Pending)
}

/// The addresses of interface `ifindex` in the replies to an address dump, with their prefix
/// lengths.
pub fn interface_addresses(replies: &[RouteNetlinkMessage], ifindex: u32) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    for reply in replies {
        if let RouteNetlinkMessage::NewAddress(m) = reply {
            if m.header.index != ifindex {
                continue;
            }
            // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS
            // otherwise.
            let local = m.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(ip) => Some(*ip),
                _ => None,
            });
            let address = local.or_else(|| {
                m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(ip) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(ip) = address {
                out.push((ip, m.header.prefix_len));
            }
        }
    }
    out
}

/// The request adding (`add`) or deleting `a`.
fn address_message(a: &InterfaceAddress, add: bool) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match a.address {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = a.prefix_len;
    msg.header.scope = a.scope;
    msg.header.index = a.ifindex;
    msg.attributes.push(AddressAttribute::Local(a.address));
    // With a peer the kernel keeps the peer as the address (and matches it on delete).
    msg.attributes.push(AddressAttribute::Address(
        a.options.peer.unwrap_or(a.address),
    ));
    // Labels are an IPv4 notion (interface aliases).
    if let (true, Some(label)) = (a.address.is_ipv4(), &a.label) {
        msg.attributes.push(AddressAttribute::Label(label.clone()));
    }
    if !add {
        return msg;
    }
    if let Some(brd) = a.options.broadcast {
        msg.attributes.push(AddressAttribute::Broadcast(brd));
    }
    if !a.options.flags.is_empty() {
        msg.attributes
            .push(AddressAttribute::Flags(a.options.flags));
    }
    if let (true, Some(lft)) = (a.address.is_ipv6(), a.options.preferred_lft) {
        let mut cache = CacheInfo::default();
        cache.ifa_preferred = lft;
        cache.ifa_valid = FOREVER;
        msg.attributes.push(AddressAttribute::CacheInfo(cache));
    }
    msg
}

/// What a link message (a dump reply or a notification) says about the link.
pub fn link_status(m: &LinkMessage) -> LinkStatus {
    let name = m
        .attributes
        .iter()
        .find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        })
        .unwrap_or_default();
    let oper_down = m.attributes.iter().any(|a| {
        matches!(
            a,
            LinkAttribute::OperState(OperState::Down | OperState::LowerLayerDown)
        )
    });
    let mac = m.attributes.iter().find_map(|a| match a {
        LinkAttribute::Address(bytes) => <[u8; 6]>::try_from(bytes.as_slice()).ok(),
        _ => None,
    });
    let flags = m.header.flags;
    LinkStatus {
        mac,
        ifindex: m.header.index,
        name,
        usable: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running) && !oper_down,
    }
}

/// The address of an address message: IFA_LOCAL, the interface's own address on
/// point-to-point links, else IFA_ADDRESS.
fn address_of(m: &AddressMessage) -> Option<IpAddr> {
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    local.or_else(|| {
        m.attributes.iter().find_map(|a| match a {
            AddressAttribute::Address(ip) => Some(*ip),
            _ => None,
        })
    })
}

/// A change the kernel announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetChange {
    /// A link appeared or changed (also sent for every link when read again).
    Link(LinkStatus),
    /// A link was deleted.
    LinkDeleted { ifindex: u32, name: String },
    /// An address was added to an interface.
    AddressAdded {
        ifindex: u32,
        address: IpAddr,
        prefix_len: u8,
    },
    /// An address was removed from an interface.
    AddressRemoved {
        ifindex: u32,
        address: IpAddr,
        prefix_len: u8,
    },
    /// The kernel dropped notifications (the socket's buffer overflowed, `ENOBUFS`): what is
    /// known may be stale and must be read again.
    Overrun,
}

/// rtnetlink multicast groups of address changes (`RTMGRP_IPV4_IFADDR`, `RTMGRP_IPV6_IFADDR`).
const RTMGRP_IPV4_IFADDR: u32 = 0x10;
const RTMGRP_IPV6_IFADDR: u32 = 0x100;
const ENOBUFS: i32 = 105;
/// The watcher's receive buffer: room for a burst (an interface with many addresses going
/// away) before the kernel has to drop notifications.
const WATCH_RCVBUF: usize = 4 << 20;

/// A socket subscribed to link and address changes. Non-blocking: [`NetWatcher::next_changes`]
/// returns what is queued, to be called when poll says the socket is readable.
#[derive(Debug)]
pub struct NetWatcher {
    socket: Socket,
    buf: Vec<u8>,
}

impl NetWatcher {
    pub fn open() -> Result<NetWatcher, RtnlError> {
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(fail("open rtnetlink socket"))?;
        socket
            .bind(&SocketAddr::new(
                0,
                RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR,
            ))
            .map_err(fail("subscribe to link and address changes"))?;
        socket
            .set_non_blocking(true)
            .map_err(fail("make the watcher non-blocking"))?;
        // Best effort: the kernel caps it at net.core.rmem_max; an overflow is an Overrun.
        let _ = socket.set_rx_buf_sz(WATCH_RCVBUF);
        Ok(NetWatcher {
            socket,
            buf: Vec::with_capacity(64 * 1024),
        })
    }

    /// The socket, to wait on it with poll alongside other sockets.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Every notification queued now; [`NetChange::Overrun`] when the kernel dropped some.
    pub fn next_changes(&mut self) -> Result<Vec<NetChange>, RtnlError> {
        let mut out = Vec::new();
        loop {
            self.buf.clear();
            match self.socket.recv(&mut self.buf, 0) {
                Ok(_) => parse_changes(&self.buf, &mut out),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(out),
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => out.push(NetChange::Overrun),
                Err(e) => return Err(fail("receive link and address changes")(e)),
            }
        }
    }
}

/// The changes in one datagram of rtnetlink notifications. Malformed messages end the walk;
/// what was read before them is kept.
pub fn parse_changes(datagram: &[u8], out: &mut Vec<NetChange>) {
    let mut offset = 0;
    while offset < datagram.len() {
        let Ok(parsed) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&datagram[offset..])
        else {
            break;
        };
        let len = parsed.header.length as usize;
        if len == 0 {
            break;
        }
        offset += len.div_ceil(4) * 4;
        let NetlinkPayload::InnerMessage(message) = parsed.payload else {
            continue;
        };
        match message {
            RouteNetlinkMessage::NewLink(m) => out.push(NetChange::Link(link_status(&m))),
            RouteNetlinkMessage::DelLink(m) => {
                let status = link_status(&m);
                out.push(NetChange::LinkDeleted {
                    ifindex: status.ifindex,
                    name: status.name,
                });
            }
            RouteNetlinkMessage::NewAddress(m) => {
                if let Some(address) = address_of(&m) {
                    out.push(NetChange::AddressAdded {
                        ifindex: m.header.index,
                        address,
                        prefix_len: m.header.prefix_len,
                    });
                }
            }
            RouteNetlinkMessage::DelAddress(m) => {
                if let Some(address) = address_of(&m) {
                    out.push(NetChange::AddressRemoved {
                        ifindex: m.header.index,
                        address,
                        prefix_len: m.header.prefix_len,
                    });
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{DoneMessage, ErrorMessage};

    fn datagram(messages: Vec<(u32, NetlinkPayload<RouteNetlinkMessage>)>) -> Vec<u8> {
        let mut out = Vec::new();
        for (seq, payload) in messages {
            let mut header = NetlinkHeader::default();
            header.sequence_number = seq;
            let mut nl = NetlinkMessage::new(header, payload);
            nl.finalize();
            let mut buf = vec![0u8; nl.buffer_len()];
            nl.serialize(&mut buf);
            out.extend_from_slice(&buf);
        }
        out
    }

    fn link(ifindex: u32, name: &str, up: bool) -> RouteNetlinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        if up {
            msg.header.flags = LinkFlags::Up | LinkFlags::Running;
        }
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes
            .push(LinkAttribute::Address(vec![2, 0, 0, 0, 0, 1]));
        RouteNetlinkMessage::NewLink(msg)
    }

    #[test]
    fn replies_to_other_requests_are_skipped_and_errors_refuse() {
        let address = address_message(
            &InterfaceAddress {
                ifindex: 3,
                address: "10.0.0.1".parse().unwrap(),
                prefix_len: 24,
                label: None,
                scope: AddressScope::Universe,
                options: AddressOptions::default(),
            },
            true,
        );
        let first = datagram(vec![
            (7, NetlinkPayload::InnerMessage(link(2, "eth0", true))),
            (
                8,
                NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(address)),
            ),
        ]);
        let mut replies = Vec::new();
        assert_eq!(
            read_replies(&first, 8, &mut replies),
            Ok(ReplyStatus::Pending)
        );
        assert_eq!(
            interface_addresses(&replies, 3),
            [("10.0.0.1".parse().unwrap(), 24)]
        );
        assert!(interface_addresses(&replies, 2).is_empty());
        let done = datagram(vec![(8, NetlinkPayload::Done(DoneMessage::default()))]);
        assert_eq!(read_replies(&done, 8, &mut replies), Ok(ReplyStatus::Done));
        let mut refused = ErrorMessage::default();
        refused.code = std::num::NonZeroI32::new(-EEXIST);
        let refused = datagram(vec![(8, NetlinkPayload::Error(refused))]);
        assert_eq!(
            read_replies(&refused, 8, &mut replies),
            Ok(ReplyStatus::Refused(EEXIST))
        );
        assert!(read_replies(&[1, 2, 3], 8, &mut replies).is_err());
    }

    /// Found by the rtnl_reply fuzz target: an error code of i32::MIN overflowed its negation.
    #[test]
    fn an_error_code_without_a_negation_still_refuses() {
        let mut refused = ErrorMessage::default();
        refused.code = std::num::NonZeroI32::new(i32::MIN);
        let refused = datagram(vec![(8, NetlinkPayload::Error(refused))]);
        let status = read_replies(&refused, 8, &mut Vec::new());
        assert!(matches!(status, Ok(ReplyStatus::Refused(_))), "{status:?}");
    }

    #[test]
    fn link_changes_read_every_new_link() {
        let changes = datagram(vec![
            (0, NetlinkPayload::InnerMessage(link(2, "eth0", true))),
            (0, NetlinkPayload::InnerMessage(link(3, "eth1", false))),
        ]);
        let mut links = Vec::new();
        parse_changes(&changes, &mut links);
        assert_eq!(links.len(), 2);
        assert_eq!(
            links[0],
            NetChange::Link(LinkStatus {
                ifindex: 2,
                name: "eth0".into(),
                usable: true,
                mac: Some([2, 0, 0, 0, 0, 1]),
            })
        );
        assert!(matches!(&links[1], NetChange::Link(l) if !l.usable));
        // A message that does not parse ends the datagram.
        let mut first = Vec::new();
        parse_changes(&changes[..changes.len() - 1], &mut first);
        assert_eq!(first.len(), 1);
    }
}
