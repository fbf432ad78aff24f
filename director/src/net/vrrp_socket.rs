//! Raw sockets for IP protocol 112 on one interface.
//!
//! IPv4: the advert's IP header is built here (`IP_HDRINCL`) with TOS 0xc0, TTL 255, DF clear
//! and an identification counting up from 1, as keepalived sends; received packets come with
//! their IP header, which gives the TTL and destination. IPv6: the kernel builds the header
//! with hop limit 255 and traffic class 0xc0; the hop limit and destination of received
//! packets come from `IPV6_HOPLIMIT` / `IPV6_PKTINFO` control messages. Both sockets are bound
//! to the interface and do not loop their own adverts back.
//!
//! An IPv4 socket reads through two receive queues, sorted by a BPF program
//! ([`super::advert_filter`]): adverts that may be valid, and everything else, so that a flood
//! of bad adverts overflows only the second. Both are read; the filter only sets priorities.
//!
//! As keepalived, a multicast socket joins its one group ([`Membership::Multicast`]: 224.0.0.18
//! / ff02::12, or `vrrp_mcast_group4/6`, `mcast_dst_ip`) and a unicast socket none, both with
//! `IP(V6)_MULTICAST_ALL` off, so that neither receives the adverts of groups that another
//! socket on the host joined.

use std::io::{self, Read};
use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::num::NonZeroU32;
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};
use vrrp_core::wire::{Family, IP_PROTOCOL_VRRP, MULTICAST_V4, MULTICAST_V6};
use vrrp_core::RxInfo;

use super::advert_filter::{self, AdvertFilter, Queue};
use super::ipv4;
use super::sys::{self as cmsg, ControlBuffer};
use super::NetError;

const IPPROTO_IPV6: i32 = 41;
const IPV6_PKTINFO: i32 = 50;
const IPV6_HOPLIMIT: i32 = 52;

/// A received advert: what the IP layer knew and where the VRRP message is in the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub info: RxInfo,
    pub payload: Range<usize>,
    /// Interface index the packet arrived on (IPv6 only; 0 when unknown).
    pub ifindex: u32,
}

/// Datagrams read by one [`VrrpSocket::recv_batch`] at most.
pub const RX_BATCH: usize = 64;
/// The largest datagram a batch slot holds: an IPv4 header with options and the largest
/// VRRP message, or the largest IPv6 VRRP message (255 addresses); longer ones are malformed.
const RX_SLOT: usize = 60 + vrrp_core::wire::MAX_PACKET_LEN;

/// Buffers for [`VrrpSocket::recv_batch`], allocated once and reused, so that reading adverts
/// does not allocate.
pub struct RxBatch {
    slots: Box<[[u8; RX_SLOT]; RX_BATCH]>,
    /// Per datagram read: where its VRRP message is in its slot, `None` when malformed.
    received: Vec<Option<Received>>,
}

impl RxBatch {
    pub fn new() -> RxBatch {
        RxBatch {
            slots: vec![[0u8; RX_SLOT]; RX_BATCH]
                .into_boxed_slice()
                .try_into()
                .expect("RX_BATCH slots"),
            received: Vec::with_capacity(RX_BATCH),
        }
    }

    /// The `k`-th datagram of the last read: what the IP layer said, and its VRRP message.
    pub fn get(&self, k: usize) -> Option<(&Received, &[u8])> {
        let got = self.received.get(k)?.as_ref()?;
        Some((got, self.slots[k].get(got.payload.clone())?))
    }
}

impl Default for RxBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for RxBatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch")
            .field("received", &self.received.len())
            .finish_non_exhaustive()
    }
}

/// Which adverts a socket is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Membership {
    /// Adverts to this group (joined on the interface).
    Multicast(IpAddr),
    /// Unicast adverts only: no group is joined.
    Unicast,
}

/// One raw VRRP socket on one interface.
#[derive(Debug)]
pub struct VrrpSocket {
    /// Sends, and receives the prime queue (all of it while no filter is set).
    socket: Socket,
    /// IPv4: receives the suspect queue (nothing while no filter is set).
    suspect: Option<Socket>,
    /// The filter the two queues are sorted by.
    filter: Option<AdvertFilter>,
    family: Family,
    interface: String,
    ifindex: u32,
    source: IpAddr,
    membership: Membership,
    /// The IPv6 unicast hop limit set on the socket (changed only when a send asks another).
    unicast_hops: u8,
    next_ip_id: u16,
    send_buf: Vec<u8>,
}

/// Index of a network interface by name.
pub fn interface_index(name: &str) -> Result<u32, NetError> {
    nix::net::if_::if_nametoindex(name).map_err(|e| NetError::Interface {
        interface: name.to_string(),
        source: io::Error::from(e),
    })
}

impl VrrpSocket {
    /// Opens a socket on `interface` sending from `source` (the instance's primary address,
    /// IPv6 link-local for VRRPv3 over IPv6), joined to the VRRP multicast group.
    pub fn open(interface: &str, source: IpAddr) -> Result<VrrpSocket, NetError> {
        let group = match Family::of(&source) {
            Family::Ipv4 => IpAddr::V4(MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(MULTICAST_V6),
        };
        Self::open_with(interface, source, Membership::Multicast(group))
    }

    /// Opens a socket on `interface` sending from `source`, for multicast adverts to one group
    /// or for unicast adverts.
    pub fn open_with(
        interface: &str,
        source: IpAddr,
        membership: Membership,
    ) -> Result<VrrpSocket, NetError> {
        let ifindex = interface_index(interface)?;
        let family = Family::of(&source);
        let ctx = |what: &'static str| {
            let interface = interface.to_string();
            move |source: io::Error| NetError::Socket {
                interface,
                what,
                source,
            }
        };
        let domain = match family {
            Family::Ipv4 => Domain::IPV4,
            Family::Ipv6 => Domain::IPV6,
        };
        let socket = Socket::new(
            domain,
            Type::RAW,
            Some(Protocol::from(i32::from(IP_PROTOCOL_VRRP))),
        )
        .map_err(ctx(
            "create a raw IP protocol 112 socket (needs CAP_NET_RAW)",
        ))?;
        socket
            .bind_device(Some(interface.as_bytes()))
            .map_err(ctx("bind to the interface"))?;
        let index = NonZeroU32::new(ifindex).map(NonZeroU32::get).unwrap_or(0);
        match family {
            Family::Ipv4 => {
                socket
                    .set_header_included_v4(true)
                    .map_err(ctx("set IP_HDRINCL"))?;
                socket
                    .set_multicast_loop_v4(false)
                    .map_err(ctx("disable multicast loop"))?;
                socket
                    .set_multicast_all_v4(false)
                    .map_err(ctx("turn IP_MULTICAST_ALL off"))?;
                match membership {
                    Membership::Multicast(IpAddr::V4(group)) => socket
                        .join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))
                        .map_err(ctx("join the VRRP multicast group"))?,
                    Membership::Multicast(_) => {
                        return Err(ctx("join the VRRP multicast group")(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "an IPv6 group for an IPv4 instance",
                        )))
                    }
                    Membership::Unicast => {}
                }
            }
            Family::Ipv6 => {
                socket
                    .set_multicast_hops_v6(255)
                    .map_err(ctx("set the multicast hop limit"))?;
                socket
                    .set_unicast_hops_v6(255)
                    .map_err(ctx("set the unicast hop limit"))?;
                socket
                    .set_tclass_v6(u32::from(ipv4::TOS_INTERNETWORK_CONTROL))
                    .map_err(ctx("set the traffic class"))?;
                socket
                    .set_multicast_loop_v6(false)
                    .map_err(ctx("disable multicast loop"))?;
                socket
                    .set_multicast_if_v6(index)
                    .map_err(ctx("select the multicast interface"))?;
                socket
                    .set_multicast_all_v6(false)
                    .map_err(ctx("turn IPV6_MULTICAST_ALL off"))?;
                match membership {
                    Membership::Multicast(IpAddr::V6(group)) => socket
                        .join_multicast_v6(&group, index)
                        .map_err(ctx("join the VRRP multicast group"))?,
                    Membership::Multicast(_) => {
                        return Err(ctx("join the VRRP multicast group")(io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "an IPv4 group for an IPv6 instance",
                        )))
                    }
                    Membership::Unicast => {}
                }
                socket
                    .set_recv_hoplimit_v6(true)
                    .map_err(ctx("ask for the hop limit"))?;
                nix::sys::socket::setsockopt(
                    &socket,
                    nix::sys::socket::sockopt::Ipv6RecvPacketInfo,
                    &true,
                )
                .map_err(io::Error::from)
                .map_err(ctx("ask for the destination address"))?;
                if let IpAddr::V6(src) = source {
                    let scope = if is_link_local(&src) { ifindex } else { 0 };
                    socket
                        .bind(&SocketAddr::V6(SocketAddrV6::new(src, 0, 0, scope)).into())
                        .map_err(ctx("bind the source address (is it on the interface?)"))?;
                }
            }
        }
        let suspect =
            match family {
                Family::Ipv4 => Some(Self::open_suspect(interface, index, membership).map_err(
                    ctx("open the second receive queue (for adverts that cannot be valid)"),
                )?),
                Family::Ipv6 => None,
            };
        Ok(VrrpSocket {
            socket,
            suspect,
            filter: None,
            family,
            interface: interface.to_string(),
            ifindex,
            source,
            membership,
            unicast_hops: 255,
            next_ip_id: 1,
            send_buf: vec![0u8; ipv4::HEADER_LEN + vrrp_core::wire::MAX_PACKET_LEN],
        })
    }

    /// The IPv4 socket of the suspect queue: receives what the prime queue's filter refuses,
    /// nothing until a filter is set (so that no datagram is in both queues).
    fn open_suspect(interface: &str, index: u32, membership: Membership) -> io::Result<Socket> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(IP_PROTOCOL_VRRP))),
        )?;
        socket.attach_filter(&advert_filter::nothing())?;
        socket.bind_device(Some(interface.as_bytes()))?;
        socket.set_multicast_all_v4(false)?;
        if let Membership::Multicast(IpAddr::V4(group)) = membership {
            socket.join_multicast_v4_n(&group, &InterfaceIndexOrAddress::Index(index))?;
        }
        Ok(socket)
    }

    /// Sorts the received IPv4 datagrams into the prime and the suspect queue by `filter`
    /// (what the instances on this socket accept). Nothing to do for IPv6 or an unchanged
    /// filter.
    pub fn set_filter(&mut self, filter: &AdvertFilter) -> Result<(), NetError> {
        let Some(suspect) = &self.suspect else {
            return Ok(());
        };
        if self.filter.as_ref() == Some(filter) {
            return Ok(());
        }
        let ctx = |source: io::Error| NetError::Socket {
            interface: self.interface.clone(),
            what: "set the advert filter",
            source,
        };
        self.socket
            .attach_filter(&filter.program(Queue::Prime))
            .map_err(ctx)?;
        suspect
            .attach_filter(&filter.program(Queue::Suspect))
            .map_err(ctx)?;
        self.filter = Some(filter.clone());
        Ok(())
    }

    /// The queues this socket reads: the prime one, and the suspect one for IPv4.
    pub fn queues(&self) -> &'static [Queue] {
        match self.suspect {
            Some(_) => &[Queue::Prime, Queue::Suspect],
            None => &[Queue::Prime],
        }
    }

    /// Datagrams the kernel dropped because one of this socket's queues was full, summed over
    /// its queues (0 where the kernel does not say). A flood overflows the suspect queue by
    /// design; a drop from the prime queue means adverts that may be valid were lost.
    pub fn kernel_drops(&self) -> u64 {
        self.queues()
            .iter()
            .map(|&q| cmsg::socket_drops(self.queue_fd(q)).map_or(0, u64::from))
            .sum()
    }

    /// The descriptor to poll for `queue` (the prime one for a queue this socket lacks).
    pub fn queue_fd(&self, queue: Queue) -> BorrowedFd<'_> {
        match (queue, &self.suspect) {
            (Queue::Suspect, Some(suspect)) => suspect.as_fd(),
            _ => self.socket.as_fd(),
        }
    }

    /// Non-blocking reads (the VRRP thread drains every queued advert per wake-up) and a
    /// receive buffer of `bytes`, so that a burst is queued rather than dropped by the kernel.
    pub fn set_nonblocking_with_buffer(&self, bytes: usize) -> Result<(), NetError> {
        let ctx = |what: &'static str| {
            let interface = self.interface.clone();
            move |source: io::Error| NetError::Socket {
                interface,
                what,
                source,
            }
        };
        for socket in std::iter::once(&self.socket).chain(&self.suspect) {
            socket
                .set_nonblocking(true)
                .map_err(ctx("make the socket non-blocking"))?;
            // As root, past net.core.rmem_max (SO_RCVBUFFORCE); else as much as it allows.
            nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::RcvBufForce, &bytes)
                .map_err(io::Error::from)
                .or_else(|_| socket.set_recv_buffer_size(bytes))
                .map_err(ctx("set the receive buffer size"))?;
        }
        Ok(())
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn family(&self) -> Family {
        self.family
    }

    pub fn membership(&self) -> Membership {
        self.membership
    }

    /// Sends a VRRP message to `destination` (the group or a unicast peer) with TTL 255.
    pub fn send(&mut self, destination: IpAddr, payload: &[u8]) -> Result<(), NetError> {
        self.send_with_ttl(destination, payload, 255)
    }

    /// Sends a VRRP message with this IPv4 TTL / IPv6 unicast hop limit (`unicast_ttl`;
    /// IPv6 multicast always goes with hop limit 255).
    pub fn send_with_ttl(
        &mut self,
        destination: IpAddr,
        payload: &[u8],
        ttl: u8,
    ) -> Result<(), NetError> {
        let err = |source| NetError::Send {
            interface: self.interface.clone(),
            destination,
            source,
        };
        match (self.source, destination) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut header = [0u8; ipv4::HEADER_LEN];
                ipv4::emit_header_with_ttl(
                    &mut header,
                    self.next_ip_id,
                    src,
                    dst,
                    payload.len(),
                    ttl,
                );
                self.next_ip_id = self.next_ip_id.wrapping_add(1);
                let len = ipv4::HEADER_LEN + payload.len();
                self.send_buf[..ipv4::HEADER_LEN].copy_from_slice(&header);
                self.send_buf[ipv4::HEADER_LEN..len].copy_from_slice(payload);
                let to = SocketAddr::new(IpAddr::V4(dst), 0);
                self.socket
                    .send_to(&self.send_buf[..len], &to.into())
                    .map_err(err)?;
            }
            (IpAddr::V6(_), IpAddr::V6(dst)) => {
                let scope = if is_link_local(&dst) || dst.is_multicast() {
                    self.ifindex
                } else {
                    0
                };
                if !dst.is_multicast() && ttl != self.unicast_hops {
                    self.socket
                        .set_unicast_hops_v6(u32::from(ttl))
                        .map_err(err)?;
                    self.unicast_hops = ttl;
                }
                let to = SocketAddr::V6(SocketAddrV6::new(dst, 0, 0, scope));
                self.socket.send_to(payload, &to.into()).map_err(err)?;
            }
            _ => {
                return Err(NetError::Send {
                    interface: self.interface.clone(),
                    destination,
                    source: io::Error::new(io::ErrorKind::InvalidInput, "address family mismatch"),
                })
            }
        }
        Ok(())
    }

    /// Reads the datagrams queued on the socket into `batch`, up to [`RX_BATCH`] of them: IPv4
    /// with one `recvmmsg` (a flood costs one system call per batch, not per datagram), IPv6
    /// one at a time (its hop limit and destination come in per-datagram control messages).
    /// Returns how many were read, malformed ones included (their slot is `None`); an error
    /// (`WouldBlock` once the queue is empty) only when none was.
    pub fn recv_batch(&self, queue: Queue, batch: &mut RxBatch) -> io::Result<usize> {
        batch.received.clear();
        if self.family == Family::Ipv6 {
            let got = match self.recv(&mut batch.slots[0][..]) {
                Ok(got) => Some(got),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => None,
                Err(e) => return Err(e),
            };
            batch.received.push(got);
            return Ok(1);
        }
        let mut lengths = [(0usize, false); RX_BATCH];
        let count = cmsg::recv_many(self.queue_fd(queue), &mut batch.slots[..], &mut lengths)?;
        for &(length, truncated) in &lengths[..count] {
            let k = batch.received.len();
            let got = (!truncated)
                .then(|| self.ipv4_received(&batch.slots[k][..length]))
                .flatten();
            batch.received.push(got);
        }
        Ok(count)
    }

    /// What an IPv4 datagram read on this socket says, `None` when its header is malformed.
    fn ipv4_received(&self, packet: &[u8]) -> Option<Received> {
        let header = ipv4::parse_header(packet)?;
        Some(Received {
            info: RxInfo {
                source: IpAddr::V4(header.src),
                destination: IpAddr::V4(header.dst),
                ttl: header.ttl,
            },
            payload: header.payload.0..header.payload.1,
            ifindex: self.ifindex,
        })
    }

    /// Receives one packet into `buf`. Packets that are not well-formed IP are reported as an
    /// `InvalidData` error, which the caller counts and ignores.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        match self.family {
            Family::Ipv4 => {
                let n = (&self.socket).read(buf)?;
                self.ipv4_received(&buf[..n]).ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated or malformed IPv4 header",
                    )
                })
            }
            Family::Ipv6 => {
                let mut control = ControlBuffer::new();
                let mut bufs = [socket2::MaybeUninitSlice::new(cmsg::bytes_as_uninit(buf))];
                let mut from =
                    socket2::SockAddr::from(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)));
                let mut msg = socket2::MsgHdrMut::new()
                    .with_addr(&mut from)
                    .with_buffers(&mut bufs)
                    .with_control(control.as_uninit());
                let n = self.socket.recvmsg(&mut msg, 0)?;
                if msg.flags().is_truncated() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "datagram longer than any VRRP message",
                    ));
                }
                let control_len = msg.control_len();
                let source = from
                    .as_socket_ipv6()
                    .map(|a| *a.ip())
                    .unwrap_or(Ipv6Addr::UNSPECIFIED);
                let control = Ipv6Control::parse(control.filled(control_len));
                Ok(Received {
                    info: RxInfo {
                        source: IpAddr::V6(source),
                        destination: IpAddr::V6(control.destination),
                        ttl: control.hop_limit,
                    },
                    payload: 0..n,
                    ifindex: control.ifindex,
                })
            }
        }
    }
}

/// What the control messages of a received IPv6 advert say (`IPV6_HOPLIMIT`,
/// `IPV6_PKTINFO`); zero or unspecified for what they leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Control {
    pub hop_limit: u8,
    pub destination: Ipv6Addr,
    pub ifindex: u32,
}

impl Ipv6Control {
    /// Reads the control-message buffer `recvmsg` filled.
    pub fn parse(control: &[u8]) -> Ipv6Control {
        let mut out = Ipv6Control {
            hop_limit: 0,
            destination: Ipv6Addr::UNSPECIFIED,
            ifindex: 0,
        };
        for m in cmsg::messages(control) {
            match (m.level, m.kind) {
                (IPPROTO_IPV6, IPV6_HOPLIMIT) if m.data.len() >= 4 => {
                    out.hop_limit =
                        i32::from_ne_bytes(m.data[..4].try_into().unwrap_or([0; 4])) as u8;
                }
                (IPPROTO_IPV6, IPV6_PKTINFO) if m.data.len() >= 20 => {
                    let octets: [u8; 16] = m.data[..16].try_into().unwrap_or([0; 16]);
                    out.destination = Ipv6Addr::from(octets);
                    out.ifindex = u32::from_ne_bytes(m.data[16..20].try_into().unwrap_or([0; 4]));
                }
                _ => {}
            }
        }
        out
    }
}

fn is_link_local(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control-message buffer as Linux lays it out (64-bit: 16-byte headers, 8-byte
    /// alignment).
    fn cmsgs(messages: &[(i32, i32, Vec<u8>)]) -> Vec<u8> {
        let mut buf = Vec::new();
        for (level, kind, data) in messages {
            buf.extend_from_slice(&(16 + data.len()).to_ne_bytes());
            buf.extend_from_slice(&level.to_ne_bytes());
            buf.extend_from_slice(&kind.to_ne_bytes());
            buf.extend_from_slice(data);
            while buf.len() % 8 != 0 {
                buf.push(0);
            }
        }
        buf
    }

    #[test]
    fn ipv6_control_gives_hop_limit_destination_and_interface() {
        let group = MULTICAST_V6;
        let mut pktinfo = group.octets().to_vec();
        pktinfo.extend_from_slice(&7u32.to_ne_bytes());
        let buf = cmsgs(&[
            (IPPROTO_IPV6, IPV6_HOPLIMIT, 255i32.to_ne_bytes().to_vec()),
            (IPPROTO_IPV6, IPV6_PKTINFO, pktinfo),
        ]);
        let control = Ipv6Control::parse(&buf);
        assert_eq!(
            control,
            Ipv6Control {
                hop_limit: 255,
                destination: group,
                ifindex: 7
            }
        );
        // Short or foreign messages are ignored.
        let buf = cmsgs(&[
            (IPPROTO_IPV6, IPV6_PKTINFO, vec![1; 8]),
            (0, 52, vec![9; 4]),
        ]);
        assert_eq!(Ipv6Control::parse(&buf).hop_limit, 0);
        assert_eq!(Ipv6Control::parse(&buf).destination, Ipv6Addr::UNSPECIFIED);
    }
}
