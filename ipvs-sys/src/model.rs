//! The IPVS objects as users think of them: services, destinations, sync daemons, and the
//! whole table ([`IpvsState`]). Conversions to and from the wire attributes live here too.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::constants::*;
use crate::message::{DaemonAttr, DestAttr, FlagsAttr, InetAddr, ServiceAttr, StatsAttr};
use crate::Error;

/// Address family of a service or destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddressFamily {
    Inet,
    Inet6,
}

impl AddressFamily {
    pub fn of(ip: &IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        }
    }

    /// The kernel's number (`AF_INET` / `AF_INET6`).
    pub fn number(self) -> u16 {
        match self {
            AddressFamily::Inet => AF_INET,
            AddressFamily::Inet6 => AF_INET6,
        }
    }

    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            AF_INET => Some(AddressFamily::Inet),
            AF_INET6 => Some(AddressFamily::Inet6),
            _ => None,
        }
    }
}

/// Transport protocol of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    /// The IP protocol number.
    pub fn number(self) -> u16 {
        match self {
            Protocol::Tcp => IPPROTO_TCP,
            Protocol::Udp => IPPROTO_UDP,
            Protocol::Sctp => IPPROTO_SCTP,
        }
    }

    pub fn from_number(n: u16) -> Option<Self> {
        match n {
            IPPROTO_TCP => Some(Protocol::Tcp),
            IPPROTO_UDP => Some(Protocol::Udp),
            IPPROTO_SCTP => Some(Protocol::Sctp),
            _ => None,
        }
    }

    /// The name `ipvsadm -L` prints.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }
}

/// What identifies a virtual service: protocol + address + port, or a firewall mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServiceKey {
    Inet {
        protocol: Protocol,
        addr: SocketAddr,
    },
    Fwmark {
        af: AddressFamily,
        mark: u32,
    },
}

impl ServiceKey {
    pub fn tcp(addr: SocketAddr) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Tcp,
            addr,
        }
    }

    pub fn udp(addr: SocketAddr) -> Self {
        ServiceKey::Inet {
            protocol: Protocol::Udp,
            addr,
        }
    }

    pub fn af(&self) -> AddressFamily {
        match self {
            ServiceKey::Inet { addr, .. } => AddressFamily::of(&addr.ip()),
            ServiceKey::Fwmark { af, .. } => *af,
        }
    }

    /// The attributes naming this service in a request.
    pub fn to_attrs(&self) -> Vec<ServiceAttr> {
        match self {
            ServiceKey::Inet { protocol, addr } => vec![
                ServiceAttr::Af(self.af().number()),
                ServiceAttr::Protocol(protocol.number()),
                ServiceAttr::Addr(InetAddr::from_ip(addr.ip())),
                ServiceAttr::Port(addr.port()),
            ],
            ServiceKey::Fwmark { af, mark } => {
                vec![ServiceAttr::Af(af.number()), ServiceAttr::Fwmark(*mark)]
            }
        }
    }
}

/// `TCP 10.0.0.1:80`, `UDP [2001:db8::1]:53`, `FWM 7`, `FWM 7 IPv6`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServiceKey::Inet { protocol, addr } => write!(f, "{} {}", protocol.name(), addr),
            ServiceKey::Fwmark {
                af: AddressFamily::Inet,
                mark,
            } => write!(f, "FWM {mark}"),
            ServiceKey::Fwmark {
                af: AddressFamily::Inet6,
                mark,
            } => write!(f, "FWM {mark} IPv6"),
        }
    }
}

/// Service flags (`IP_VS_SVC_F_*`), without the kernel-internal HASHED bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ServiceFlags(pub u32);

impl ServiceFlags {
    pub const PERSISTENT: ServiceFlags = ServiceFlags(IP_VS_SVC_F_PERSISTENT);
    pub const ONE_PACKET: ServiceFlags = ServiceFlags(IP_VS_SVC_F_ONEPACKET);
    pub const SCHED1: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED1);
    pub const SCHED2: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED2);
    pub const SCHED3: ServiceFlags = ServiceFlags(IP_VS_SVC_F_SCHED3);

    pub fn contains(self, other: ServiceFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn insert(&mut self, other: ServiceFlags) {
        self.0 |= other.0;
    }
}

impl std::ops::BitOr for ServiceFlags {
    type Output = ServiceFlags;
    fn bitor(self, rhs: ServiceFlags) -> ServiceFlags {
        ServiceFlags(self.0 | rhs.0)
    }
}

/// Persistence granularity: an IPv4 netmask (host-order u32, `0xffff_ffff` = /32) or an IPv6
/// prefix length (128 = /128), depending on the service's family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Netmask(pub u32);

impl Netmask {
    /// One client per persistence entry: /32 or /128.
    pub fn full(af: AddressFamily) -> Self {
        match af {
            AddressFamily::Inet => Netmask(u32::MAX),
            AddressFamily::Inet6 => Netmask(128),
        }
    }

    fn to_wire(self, af: AddressFamily) -> [u8; 4] {
        match af {
            AddressFamily::Inet => self.0.to_be_bytes(),
            AddressFamily::Inet6 => self.0.to_ne_bytes(),
        }
    }

    fn from_wire(raw: [u8; 4], af: AddressFamily) -> Self {
        match af {
            AddressFamily::Inet => Netmask(u32::from_be_bytes(raw)),
            AddressFamily::Inet6 => Netmask(u32::from_ne_bytes(raw)),
        }
    }

    /// The IPv4 mask as an address (`255.255.255.0`).
    pub fn as_ipv4(self) -> Ipv4Addr {
        Ipv4Addr::from(self.0)
    }
}

/// Traffic counters and rates of a service or destination, as the kernel reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stats {
    pub conns: u64,
    pub in_pkts: u64,
    pub out_pkts: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub cps: u64,
    pub in_pps: u64,
    pub out_pps: u64,
    pub in_bps: u64,
    pub out_bps: u64,
}

impl Stats {
    pub fn from_attrs(attrs: &[StatsAttr]) -> Self {
        let mut s = Stats::default();
        for a in attrs {
            match a {
                StatsAttr::Conns(v) => s.conns = v.get(),
                StatsAttr::InPkts(v) => s.in_pkts = v.get(),
                StatsAttr::OutPkts(v) => s.out_pkts = v.get(),
                StatsAttr::InBytes(v) => s.in_bytes = v.get(),
                StatsAttr::OutBytes(v) => s.out_bytes = v.get(),
                StatsAttr::Cps(v) => s.cps = v.get(),
                StatsAttr::InPps(v) => s.in_pps = v.get(),
                StatsAttr::OutPps(v) => s.out_pps = v.get(),
                StatsAttr::InBps(v) => s.in_bps = v.get(),
                StatsAttr::OutBps(v) => s.out_bps = v.get(),
                StatsAttr::Other(_) => {}
            }
        }
        s
    }
}

/// A virtual service's configuration (and, when read from the kernel, its counters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    pub key: ServiceKey,
    /// Scheduler name: `rr`, `wrr`, `lc`, `wlc`, `sh`, `mh`, ...
    pub scheduler: String,
    pub flags: ServiceFlags,
    /// Persistence timeout in seconds (meaningful with [`ServiceFlags::PERSISTENT`]).
    pub timeout: u32,
    pub netmask: Netmask,
    /// Persistence engine, e.g. `sip`.
    pub pe_name: Option<String>,
    /// Counters; only in services read from the kernel, ignored when comparing configs.
    pub stats: Option<Stats>,
}

impl Service {
    /// A service with `scheduler`, not persistent, like `ipvsadm -A ... -s scheduler`.
    pub fn new(key: ServiceKey, scheduler: &str) -> Self {
        Service {
            key,
            scheduler: scheduler.to_string(),
            flags: ServiceFlags::default(),
            timeout: 0,
            netmask: Netmask::full(key.af()),
            pe_name: None,
            stats: None,
        }
    }

    /// Makes the service persistent for `timeout` seconds (`ipvsadm -p timeout`).
    pub fn persistent(mut self, timeout: u32) -> Self {
        self.flags.insert(ServiceFlags::PERSISTENT);
        self.timeout = timeout;
        self
    }

    /// Whether the configurable parts equal (counters are ignored).
    pub fn same_config(&self, other: &Service) -> bool {
        self.key == other.key
            && self.scheduler == other.scheduler
            && self.flags == other.flags
            && self.timeout == other.timeout
            && self.netmask == other.netmask
            && self.pe_name.as_deref().unwrap_or("") == other.pe_name.as_deref().unwrap_or("")
    }

    /// The full attribute set NEW_SERVICE and SET_SERVICE need.
    pub fn to_attrs(&self) -> Vec<ServiceAttr> {
        let mut attrs = self.key.to_attrs();
        attrs.push(ServiceAttr::SchedName(self.scheduler.clone()));
        if let Some(pe) = &self.pe_name {
            attrs.push(ServiceAttr::PeName(pe.clone()));
        }
        attrs.push(ServiceAttr::Flags(FlagsAttr {
            flags: self.flags.0,
            mask: u32::MAX,
        }));
        attrs.push(ServiceAttr::Timeout(self.timeout));
        attrs.push(ServiceAttr::Netmask(self.netmask.to_wire(self.key.af())));
        attrs
    }

    /// Reads a service from a kernel reply.
    pub fn from_attrs(attrs: &[ServiceAttr]) -> Result<Self, Error> {
        let (mut af, mut proto, mut addr, mut port, mut fwmark) = (None, None, None, None, None);
        let (mut sched, mut flags, mut timeout, mut netmask, mut pe) = (None, 0, 0, None, None);
        let (mut stats, mut stats64) = (None, None);
        for a in attrs {
            match a {
                ServiceAttr::Af(v) => af = Some(*v),
                ServiceAttr::Protocol(v) => proto = Some(*v),
                ServiceAttr::Addr(v) => addr = Some(*v),
                ServiceAttr::Port(v) => port = Some(*v),
                ServiceAttr::Fwmark(v) => fwmark = Some(*v),
                ServiceAttr::SchedName(v) => sched = Some(v.clone()),
                ServiceAttr::Flags(f) => flags = f.flags & f.mask & !IP_VS_SVC_F_HASHED,
                ServiceAttr::Timeout(v) => timeout = *v,
                ServiceAttr::Netmask(v) => netmask = Some(*v),
                ServiceAttr::PeName(v) => pe = Some(v.clone()),
                ServiceAttr::Stats(v) => stats = Some(Stats::from_attrs(v)),
                ServiceAttr::Stats64(v) => stats64 = Some(Stats::from_attrs(v)),
                ServiceAttr::Other(_) => {}
            }
        }
        let bad = |why: &str| Error::Malformed(format!("service in kernel reply: {why}"));
        let af_num = af.ok_or_else(|| bad("no address family"))?;
        let af = AddressFamily::from_number(af_num)
            .ok_or_else(|| bad(&format!("unknown address family {af_num}")))?;
        let key = match fwmark {
            Some(mark) if mark != 0 => ServiceKey::Fwmark { af, mark },
            _ => {
                let p = proto.ok_or_else(|| bad("neither protocol nor firewall mark"))?;
                let protocol = Protocol::from_number(p)
                    .ok_or_else(|| bad(&format!("unknown protocol {p}")))?;
                let ip = addr
                    .and_then(|a| a.to_ip(af.number()))
                    .ok_or_else(|| bad("no usable address"))?;
                let port = port.ok_or_else(|| bad("no port"))?;
                ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(ip, port),
                }
            }
        };
        Ok(Service {
            key,
            scheduler: sched.unwrap_or_default(),
            flags: ServiceFlags(flags),
            timeout,
            netmask: netmask
                .map(|m| Netmask::from_wire(m, af))
                .unwrap_or(Netmask::full(af)),
            pe_name: pe.filter(|p| !p.is_empty()),
            stats: stats64.or(stats),
        })
    }
}

/// How IPVS forwards packets to a destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForwardMethod {
    /// NAT (`-m`, "Masq").
    Masq,
    /// The director itself ("Local").
    Local,
    /// IP-in-IP / GUE / GRE tunnel (`-i`, "Tunnel").
    Tunnel,
    /// Direct routing (`-g`, "Route").
    Route,
    /// Cache bypass.
    Bypass,
}

impl ForwardMethod {
    pub fn number(self) -> u32 {
        match self {
            ForwardMethod::Masq => IP_VS_CONN_F_MASQ,
            ForwardMethod::Local => IP_VS_CONN_F_LOCALNODE,
            ForwardMethod::Tunnel => IP_VS_CONN_F_TUNNEL,
            ForwardMethod::Route => IP_VS_CONN_F_DROUTE,
            ForwardMethod::Bypass => IP_VS_CONN_F_BYPASS,
        }
    }

    pub fn from_number(n: u32) -> Option<Self> {
        match n & IP_VS_CONN_F_FWD_MASK {
            IP_VS_CONN_F_MASQ => Some(ForwardMethod::Masq),
            IP_VS_CONN_F_LOCALNODE => Some(ForwardMethod::Local),
            IP_VS_CONN_F_TUNNEL => Some(ForwardMethod::Tunnel),
            IP_VS_CONN_F_DROUTE => Some(ForwardMethod::Route),
            IP_VS_CONN_F_BYPASS => Some(ForwardMethod::Bypass),
            _ => None,
        }
    }

    /// The name `ipvsadm -L` prints in the Forward column.
    pub fn name(self) -> &'static str {
        match self {
            ForwardMethod::Masq => "Masq",
            ForwardMethod::Local => "Local",
            ForwardMethod::Tunnel => "Tunnel",
            ForwardMethod::Route => "Route",
            ForwardMethod::Bypass => "Bypass",
        }
    }
}

/// Encapsulation of a tunnelled destination.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelType {
    #[default]
    Ipip,
    Gue,
    Gre,
}

impl TunnelType {
    pub fn number(self) -> u8 {
        match self {
            TunnelType::Ipip => IP_VS_CONN_F_TUNNEL_TYPE_IPIP,
            TunnelType::Gue => IP_VS_CONN_F_TUNNEL_TYPE_GUE,
            TunnelType::Gre => IP_VS_CONN_F_TUNNEL_TYPE_GRE,
        }
    }

    pub fn from_number(n: u8) -> Option<Self> {
        match n {
            IP_VS_CONN_F_TUNNEL_TYPE_IPIP => Some(TunnelType::Ipip),
            IP_VS_CONN_F_TUNNEL_TYPE_GUE => Some(TunnelType::Gue),
            IP_VS_CONN_F_TUNNEL_TYPE_GRE => Some(TunnelType::Gre),
            _ => None,
        }
    }

    /// The `--tun-type` name.
    pub fn name(self) -> &'static str {
        match self {
            TunnelType::Ipip => "ipip",
            TunnelType::Gue => "gue",
            TunnelType::Gre => "gre",
        }
    }
}

/// Tunnel checksum mode (`IP_VS_TUNNEL_ENCAP_FLAG_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TunnelChecksum {
    #[default]
    None,
    Checksum,
    RemoteChecksum,
}

impl TunnelChecksum {
    pub fn number(self) -> u16 {
        match self {
            TunnelChecksum::None => IP_VS_TUNNEL_ENCAP_FLAG_NOCSUM,
            TunnelChecksum::Checksum => IP_VS_TUNNEL_ENCAP_FLAG_CSUM,
            TunnelChecksum::RemoteChecksum => IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM,
        }
    }

    pub fn from_number(n: u16) -> Self {
        if n & IP_VS_TUNNEL_ENCAP_FLAG_REMCSUM != 0 {
            TunnelChecksum::RemoteChecksum
        } else if n & IP_VS_TUNNEL_ENCAP_FLAG_CSUM != 0 {
            TunnelChecksum::Checksum
        } else {
            TunnelChecksum::None
        }
    }
}

/// Tunnel parameters of a destination forwarded with [`ForwardMethod::Tunnel`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub kind: TunnelType,
    /// UDP port for GUE; 0 otherwise.
    pub port: u16,
    pub checksum: TunnelChecksum,
}

/// Connection counts of a destination, as the kernel reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DestCounters {
    pub active: u32,
    pub inactive: u32,
    pub persistent: u32,
}

/// A real server behind a virtual service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Address and port; its family may differ from the service's (tunnel only).
    pub addr: SocketAddr,
    pub forward: ForwardMethod,
    /// 0 stops new connections; existing ones continue.
    pub weight: u32,
    /// Upper connection threshold, 0 = none.
    pub upper_threshold: u32,
    /// Lower connection threshold, 0 = none.
    pub lower_threshold: u32,
    /// Used only with [`ForwardMethod::Tunnel`].
    pub tunnel: Tunnel,
    /// Only in destinations read from the kernel; ignored when comparing configs.
    pub counters: DestCounters,
    /// Only in destinations read from the kernel; ignored when comparing configs.
    pub stats: Option<Stats>,
}

impl Destination {
    pub fn new(addr: SocketAddr, forward: ForwardMethod, weight: u32) -> Self {
        Destination {
            addr,
            forward,
            weight,
            upper_threshold: 0,
            lower_threshold: 0,
            tunnel: Tunnel::default(),
            counters: DestCounters::default(),
            stats: None,
        }
    }

    /// Whether the configurable parts equal (counters are ignored).
    pub fn same_config(&self, other: &Destination) -> bool {
        self.addr == other.addr
            && self.forward == other.forward
            && self.weight == other.weight
            && self.upper_threshold == other.upper_threshold
            && self.lower_threshold == other.lower_threshold
            && (self.forward != ForwardMethod::Tunnel || self.tunnel == other.tunnel)
    }

    /// The attributes naming this destination (DEL_DEST).
    pub fn key_attrs(addr: SocketAddr) -> Vec<DestAttr> {
        vec![
            DestAttr::Addr(InetAddr::from_ip(addr.ip())),
            DestAttr::Port(addr.port()),
            DestAttr::AddrFamily(AddressFamily::of(&addr.ip()).number()),
        ]
    }

    /// The full attribute set NEW_DEST and SET_DEST need.
    pub fn to_attrs(&self) -> Vec<DestAttr> {
        let mut attrs = Self::key_attrs(self.addr);
        attrs.push(DestAttr::FwdMethod(self.forward.number()));
        attrs.push(DestAttr::Weight(self.weight));
        attrs.push(DestAttr::UpperThreshold(self.upper_threshold));
        attrs.push(DestAttr::LowerThreshold(self.lower_threshold));
        if self.forward == ForwardMethod::Tunnel {
            attrs.push(DestAttr::TunType(self.tunnel.kind.number()));
            attrs.push(DestAttr::TunPort(self.tunnel.port));
            attrs.push(DestAttr::TunFlags(self.tunnel.checksum.number()));
        }
        attrs
    }

    /// Reads a destination from a kernel reply; `service_af` applies when the reply has no
    /// address family of its own (kernels before 4.13).
    pub fn from_attrs(attrs: &[DestAttr], service_af: AddressFamily) -> Result<Self, Error> {
        let mut d = Destination::new(
            SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
            ForwardMethod::Masq,
            0,
        );
        let (mut addr, mut port, mut af) = (None, 0, service_af.number());
        let (mut stats, mut stats64) = (None, None);
        let (mut tun_type, mut fwd) = (0, 0);
        for a in attrs {
            match a {
                DestAttr::Addr(v) => addr = Some(*v),
                DestAttr::Port(v) => port = *v,
                DestAttr::FwdMethod(v) => fwd = *v,
                DestAttr::Weight(v) => d.weight = *v,
                DestAttr::UpperThreshold(v) => d.upper_threshold = *v,
                DestAttr::LowerThreshold(v) => d.lower_threshold = *v,
                DestAttr::ActiveConns(v) => d.counters.active = *v,
                DestAttr::InactiveConns(v) => d.counters.inactive = *v,
                DestAttr::PersistentConns(v) => d.counters.persistent = *v,
                DestAttr::Stats(v) => stats = Some(Stats::from_attrs(v)),
                DestAttr::Stats64(v) => stats64 = Some(Stats::from_attrs(v)),
                DestAttr::AddrFamily(v) => af = *v,
                DestAttr::TunType(v) => tun_type = *v,
                DestAttr::TunPort(v) => d.tunnel.port = *v,
                DestAttr::TunFlags(v) => d.tunnel.checksum = TunnelChecksum::from_number(*v),
                DestAttr::Other(_) => {}
            }
        }
        let bad = |why: String| Error::Malformed(format!("destination in kernel reply: {why}"));
        let ip = addr
            .and_then(|a| a.to_ip(af))
            .ok_or_else(|| bad(format!("no usable address (family {af})")))?;
        d.addr = SocketAddr::new(ip, port);
        d.forward = ForwardMethod::from_number(fwd)
            .ok_or_else(|| bad(format!("forwarding method {fwd}")))?;
        d.tunnel.kind = TunnelType::from_number(tun_type)
            .ok_or_else(|| bad(format!("tunnel type {tun_type}")))?;
        d.stats = stats64.or(stats);
        Ok(d)
    }
}

/// A virtual service and its destinations, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VirtualService {
    pub service: Service,
    pub destinations: Vec<Destination>,
}

/// A whole IPVS table: what the kernel has, or what it should have.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IpvsState {
    pub services: Vec<VirtualService>,
}

impl IpvsState {
    /// Number of services plus destinations.
    pub fn object_count(&self) -> usize {
        self.services.iter().map(|s| 1 + s.destinations.len()).sum()
    }

    pub fn find(&self, key: &ServiceKey) -> Option<&VirtualService> {
        self.services.iter().find(|s| s.service.key == *key)
    }

    /// A synthetic table for benchmarks and tests: `services` TCP services on 10.0.x.y:80
    /// (round-robin), each with `dests_per_service` direct-routed destinations 172.16.x.y:80
    /// of weight 1. Addresses are distinct for up to 65,536 services and as many
    /// destinations per service.
    pub fn synthetic(services: u32, dests_per_service: u32) -> IpvsState {
        let services = (0..services)
            .map(|i| {
                let vip = Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8);
                let key = ServiceKey::tcp(SocketAddr::new(vip.into(), 80));
                let destinations = (0..dests_per_service)
                    .map(|j| {
                        let rip = Ipv4Addr::new(172, 16, (j >> 8) as u8, j as u8);
                        Destination::new(SocketAddr::new(rip.into(), 80), ForwardMethod::Route, 1)
                    })
                    .collect();
                VirtualService {
                    service: Service::new(key, "rr"),
                    destinations,
                }
            })
            .collect();
        IpvsState { services }
    }
}

/// Connection timeouts in seconds (`ipvsadm --set tcp tcpfin udp`); 0 in a request means
/// "leave unchanged".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Timeouts {
    pub tcp: u32,
    pub tcp_fin: u32,
    pub udp: u32,
}

/// General IPVS information (`GET_INFO`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Info {
    /// Encoded as `major << 16 | minor << 8 | patch`.
    pub version: u32,
    /// Size of the connection hash table.
    pub conn_tab_size: u32,
}

impl Info {
    /// `(major, minor, patch)`.
    pub fn version_triple(&self) -> (u32, u32, u32) {
        (
            (self.version >> 16) & 0xff,
            (self.version >> 8) & 0xff,
            self.version & 0xff,
        )
    }
}

/// Role of a connection sync daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DaemonState {
    Master,
    Backup,
}

impl DaemonState {
    pub fn number(self) -> u32 {
        match self {
            DaemonState::Master => IP_VS_STATE_MASTER,
            DaemonState::Backup => IP_VS_STATE_BACKUP,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DaemonState::Master => "master",
            DaemonState::Backup => "backup",
        }
    }
}

/// A connection synchronisation daemon (`ipvsadm --start-daemon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncDaemon {
    pub state: DaemonState,
    /// Multicast interface, e.g. `eth0`.
    pub interface: String,
    pub sync_id: u32,
    /// UDP payload size; `None` = kernel default.
    pub max_len: Option<u16>,
    /// Multicast group; `None` = 224.0.0.81.
    pub group: Option<IpAddr>,
    /// UDP port; `None` = 8848.
    pub port: Option<u16>,
    /// Multicast TTL; `None` = 1.
    pub ttl: Option<u8>,
}

impl SyncDaemon {
    pub fn to_attrs(&self) -> Vec<DaemonAttr> {
        let mut attrs = vec![
            DaemonAttr::State(self.state.number()),
            DaemonAttr::McastIfn(self.interface.clone()),
            DaemonAttr::SyncId(self.sync_id),
        ];
        if let Some(v) = self.max_len {
            attrs.push(DaemonAttr::SyncMaxlen(v));
        }
        match self.group {
            Some(IpAddr::V4(g)) => attrs.push(DaemonAttr::McastGroup(g)),
            Some(IpAddr::V6(g)) => attrs.push(DaemonAttr::McastGroup6(g)),
            None => {}
        }
        if let Some(v) = self.port {
            attrs.push(DaemonAttr::McastPort(v));
        }
        if let Some(v) = self.ttl {
            attrs.push(DaemonAttr::McastTtl(v));
        }
        attrs
    }

    pub fn from_attrs(attrs: &[DaemonAttr]) -> Result<Self, Error> {
        let mut d = SyncDaemon {
            state: DaemonState::Master,
            interface: String::new(),
            sync_id: 0,
            max_len: None,
            group: None,
            port: None,
            ttl: None,
        };
        let mut state = None;
        for a in attrs {
            match a {
                DaemonAttr::State(v) => state = Some(*v),
                DaemonAttr::McastIfn(v) => d.interface = v.clone(),
                DaemonAttr::SyncId(v) => d.sync_id = *v,
                DaemonAttr::SyncMaxlen(v) => d.max_len = Some(*v),
                DaemonAttr::McastGroup(v) => d.group = Some((*v).into()),
                DaemonAttr::McastGroup6(v) => d.group = Some((*v).into()),
                DaemonAttr::McastPort(v) => d.port = Some(*v),
                DaemonAttr::McastTtl(v) => d.ttl = Some(*v),
                DaemonAttr::Other(_) => {}
            }
        }
        d.state = match state {
            Some(IP_VS_STATE_MASTER) => DaemonState::Master,
            Some(IP_VS_STATE_BACKUP) => DaemonState::Backup,
            other => {
                return Err(Error::Malformed(format!(
                    "sync daemon in kernel reply: state {other:?}"
                )))
            }
        };
        Ok(d)
    }
}
