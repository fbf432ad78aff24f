//! The IPVS generic netlink messages: commands and attributes, loss-free.
//!
//! [`IpvsMessage`] is the payload of a `GenlMessage`; it implements [`GenlFamily`],
//! [`Emitable`] and [`ParseableParametrized`] like netlink-packet-generic's `ctrl` module.
//! Attributes this crate does not know are kept as `Other(DefaultNla)`, so a dump re-emits
//! without loss. Numbers follow the kernel's native byte order except ports (big-endian) and
//! addresses (network order, 4 or 16 bytes: the kernel pads IPv4 to 16).
//!
//! ```
//! use ipvs_sys::message::{IpvsCmd, IpvsCmdAttr, IpvsMessage, ServiceAttr};
//! use netlink_packet_core::{Emitable, ParseableParametrized};
//! use netlink_packet_generic::GenlHeader;
//!
//! let msg = IpvsMessage {
//!     cmd: IpvsCmd::DelService,
//!     nlas: vec![IpvsCmdAttr::Service(vec![ServiceAttr::Af(2), ServiceAttr::Fwmark(7)])],
//! };
//! let mut buf = vec![0; msg.buffer_len()];
//! msg.emit(&mut buf);
//! let header = GenlHeader { cmd: 3, version: 1 };
//! assert_eq!(IpvsMessage::parse_with_param(&buf[..], header).unwrap(), msg);
//! ```

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netlink_packet_core::{
    parse_u16, parse_u16_be, parse_u32, parse_u64, parse_u8, DecodeError, DefaultNla, Emitable,
    Nla, NlaBuffer, NlasIterator, Parseable, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

use crate::constants::*;

/// An IPVS generic netlink command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpvsCmd {
    NewService,
    SetService,
    DelService,
    GetService,
    NewDest,
    SetDest,
    DelDest,
    GetDest,
    NewDaemon,
    DelDaemon,
    GetDaemon,
    SetConfig,
    GetConfig,
    SetInfo,
    GetInfo,
    Zero,
    Flush,
    /// A command number this crate does not know; kept so it re-emits unchanged.
    Other(u8),
}

impl From<IpvsCmd> for u8 {
    fn from(cmd: IpvsCmd) -> u8 {
        use IpvsCmd::*;
        match cmd {
            NewService => IPVS_CMD_NEW_SERVICE,
            SetService => IPVS_CMD_SET_SERVICE,
            DelService => IPVS_CMD_DEL_SERVICE,
            GetService => IPVS_CMD_GET_SERVICE,
            NewDest => IPVS_CMD_NEW_DEST,
            SetDest => IPVS_CMD_SET_DEST,
            DelDest => IPVS_CMD_DEL_DEST,
            GetDest => IPVS_CMD_GET_DEST,
            NewDaemon => IPVS_CMD_NEW_DAEMON,
            DelDaemon => IPVS_CMD_DEL_DAEMON,
            GetDaemon => IPVS_CMD_GET_DAEMON,
            SetConfig => IPVS_CMD_SET_CONFIG,
            GetConfig => IPVS_CMD_GET_CONFIG,
            SetInfo => IPVS_CMD_SET_INFO,
            GetInfo => IPVS_CMD_GET_INFO,
            Zero => IPVS_CMD_ZERO,
            Flush => IPVS_CMD_FLUSH,
            Other(n) => n,
        }
    }
}

impl From<u8> for IpvsCmd {
    fn from(n: u8) -> IpvsCmd {
        use IpvsCmd::*;
        match n {
            IPVS_CMD_NEW_SERVICE => NewService,
            IPVS_CMD_SET_SERVICE => SetService,
            IPVS_CMD_DEL_SERVICE => DelService,
            IPVS_CMD_GET_SERVICE => GetService,
            IPVS_CMD_NEW_DEST => NewDest,
            IPVS_CMD_SET_DEST => SetDest,
            IPVS_CMD_DEL_DEST => DelDest,
            IPVS_CMD_GET_DEST => GetDest,
            IPVS_CMD_NEW_DAEMON => NewDaemon,
            IPVS_CMD_DEL_DAEMON => DelDaemon,
            IPVS_CMD_GET_DAEMON => GetDaemon,
            IPVS_CMD_SET_CONFIG => SetConfig,
            IPVS_CMD_GET_CONFIG => GetConfig,
            IPVS_CMD_SET_INFO => SetInfo,
            IPVS_CMD_GET_INFO => GetInfo,
            IPVS_CMD_ZERO => Zero,
            IPVS_CMD_FLUSH => Flush,
            n => Other(n),
        }
    }
}

impl IpvsCmd {
    /// Whether the top-level attributes use the info numbering (VERSION=1, CONN_TAB_SIZE=2)
    /// rather than the command numbering (SERVICE=1, DEST=2).
    fn uses_info_attrs(self) -> bool {
        matches!(self, IpvsCmd::SetInfo | IpvsCmd::GetInfo)
    }
}

/// One IPVS generic netlink message: a command and its top-level attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsMessage {
    pub cmd: IpvsCmd,
    pub nlas: Vec<IpvsCmdAttr>,
}

impl IpvsMessage {
    pub fn new(cmd: IpvsCmd, nlas: Vec<IpvsCmdAttr>) -> Self {
        IpvsMessage { cmd, nlas }
    }

    /// The service attributes, if the message carries a service.
    pub fn service(&self) -> Option<&[ServiceAttr]> {
        self.nlas.iter().find_map(|a| match a {
            IpvsCmdAttr::Service(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    /// The destination attributes, if the message carries a destination.
    pub fn dest(&self) -> Option<&[DestAttr]> {
        self.nlas.iter().find_map(|a| match a {
            IpvsCmdAttr::Dest(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The sync daemon attributes, if the message carries a daemon.
    pub fn daemon(&self) -> Option<&[DaemonAttr]> {
        self.nlas.iter().find_map(|a| match a {
            IpvsCmdAttr::Daemon(d) => Some(d.as_slice()),
            _ => None,
        })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        IPVS_GENL_NAME
    }

    fn command(&self) -> u8 {
        self.cmd.into()
    }

    fn version(&self) -> u8 {
        IPVS_GENL_VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        self.nlas.as_slice().buffer_len()
    }

    fn emit(&self, buffer: &mut [u8]) {
        self.nlas.as_slice().emit(buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = IpvsCmd::from(header.cmd);
        let mut nlas = Vec::new();
        for nla in NlasIterator::new(buf) {
            let nla = nla?;
            nlas.push(IpvsCmdAttr::parse_for(&nla, cmd)?);
        }
        Ok(IpvsMessage { cmd, nlas })
    }
}

/// Parses a list of nested attributes with `parse`.
fn parse_nested<T>(
    value: &[u8],
    what: &str,
    parse: impl Fn(&NlaBuffer<&[u8]>) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let mut out = Vec::new();
    for nla in NlasIterator::new(value) {
        let nla = nla.map_err(|e| DecodeError::from(format!("{what}: {e}")))?;
        out.push(parse(&nla).map_err(|e| DecodeError::from(format!("{what}: {e}")))?);
    }
    Ok(out)
}

/// A NUL-terminated string as `nla_put_string` writes it (and the kernel's NLA_NUL_STRING
/// policy demands). Anything else is refused, so a parsed message re-emits to the same length.
fn parse_cstring(v: &[u8]) -> Result<String, DecodeError> {
    match v.split_last() {
        Some((0, text)) if !text.contains(&0) => String::from_utf8(text.to_vec())
            .map_err(|e| DecodeError::from(format!("string attribute: {e}"))),
        _ => Err(DecodeError::from(
            "string attribute is not a single NUL-terminated string",
        )),
    }
}

fn emit_u16(buf: &mut [u8], v: u16) {
    buf[..2].copy_from_slice(&v.to_ne_bytes());
}
fn emit_u16_be(buf: &mut [u8], v: u16) {
    buf[..2].copy_from_slice(&v.to_be_bytes());
}
fn emit_u32(buf: &mut [u8], v: u32) {
    buf[..4].copy_from_slice(&v.to_ne_bytes());
}
fn emit_u64(buf: &mut [u8], v: u64) {
    buf[..8].copy_from_slice(&v.to_ne_bytes());
}
fn emit_cstring(buf: &mut [u8], s: &str) {
    buf[..s.len()].copy_from_slice(s.as_bytes());
    buf[s.len()] = 0;
}

/// A top-level attribute of an IPVS message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpvsCmdAttr {
    Service(Vec<ServiceAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    /// `IPVS_INFO_ATTR_VERSION`, only in SET_INFO / GET_INFO messages.
    InfoVersion(u32),
    /// `IPVS_INFO_ATTR_CONN_TAB_SIZE`, only in SET_INFO / GET_INFO messages.
    InfoConnTabSize(u32),
    Other(DefaultNla),
}

impl IpvsCmdAttr {
    /// Parses a top-level attribute; its meaning depends on the command (the info
    /// attributes reuse the numbers of SERVICE and DEST).
    pub fn parse_for(nla: &NlaBuffer<&[u8]>, cmd: IpvsCmd) -> Result<Self, DecodeError> {
        let v = nla.value();
        Ok(if cmd.uses_info_attrs() {
            match nla.kind() {
                IPVS_INFO_ATTR_VERSION => IpvsCmdAttr::InfoVersion(parse_u32(v)?),
                IPVS_INFO_ATTR_CONN_TAB_SIZE => IpvsCmdAttr::InfoConnTabSize(parse_u32(v)?),
                _ => IpvsCmdAttr::Other(DefaultNla::parse(nla)?),
            }
        } else {
            match nla.kind() {
                IPVS_CMD_ATTR_SERVICE => {
                    IpvsCmdAttr::Service(parse_nested(v, "service", ServiceAttr::parse)?)
                }
                IPVS_CMD_ATTR_DEST => {
                    IpvsCmdAttr::Dest(parse_nested(v, "destination", DestAttr::parse)?)
                }
                IPVS_CMD_ATTR_DAEMON => {
                    IpvsCmdAttr::Daemon(parse_nested(v, "sync daemon", DaemonAttr::parse)?)
                }
                IPVS_CMD_ATTR_TIMEOUT_TCP => IpvsCmdAttr::TimeoutTcp(parse_u32(v)?),
                IPVS_CMD_ATTR_TIMEOUT_TCP_FIN => IpvsCmdAttr::TimeoutTcpFin(parse_u32(v)?),
                IPVS_CMD_ATTR_TIMEOUT_UDP => IpvsCmdAttr::TimeoutUdp(parse_u32(v)?),
                _ => IpvsCmdAttr::Other(DefaultNla::parse(nla)?),
            }
        })
    }
}

impl Nla for IpvsCmdAttr {
    fn value_len(&self) -> usize {
        use IpvsCmdAttr::*;
        match self {
            Service(a) => a.as_slice().buffer_len(),
            Dest(a) => a.as_slice().buffer_len(),
            Daemon(a) => a.as_slice().buffer_len(),
            TimeoutTcp(_) | TimeoutTcpFin(_) | TimeoutUdp(_) => 4,
            InfoVersion(_) | InfoConnTabSize(_) => 4,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use IpvsCmdAttr::*;
        match self {
            Service(_) => IPVS_CMD_ATTR_SERVICE,
            Dest(_) => IPVS_CMD_ATTR_DEST,
            Daemon(_) => IPVS_CMD_ATTR_DAEMON,
            TimeoutTcp(_) => IPVS_CMD_ATTR_TIMEOUT_TCP,
            TimeoutTcpFin(_) => IPVS_CMD_ATTR_TIMEOUT_TCP_FIN,
            TimeoutUdp(_) => IPVS_CMD_ATTR_TIMEOUT_UDP,
            InfoVersion(_) => IPVS_INFO_ATTR_VERSION,
            InfoConnTabSize(_) => IPVS_INFO_ATTR_CONN_TAB_SIZE,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use IpvsCmdAttr::*;
        match self {
            Service(a) => a.as_slice().emit(buf),
            Dest(a) => a.as_slice().emit(buf),
            Daemon(a) => a.as_slice().emit(buf),
            TimeoutTcp(v) | TimeoutTcpFin(v) | TimeoutUdp(v) | InfoVersion(v)
            | InfoConnTabSize(v) => emit_u32(buf, *v),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

/// An address as carried in `IPVS_SVC_ATTR_ADDR` / `IPVS_DEST_ATTR_ADDR`: 4 or 16 bytes in
/// network order. The kernel always sends 16 (an IPv4 address padded with zeros); which family
/// it is comes from a sibling attribute, so the raw bytes are kept until then.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InetAddr {
    bytes: [u8; 16],
    len: u8,
}

impl InetAddr {
    /// The kernel's form: 16 bytes, IPv4 in the first four.
    pub fn from_ip(ip: IpAddr) -> Self {
        let mut bytes = [0; 16];
        match ip {
            IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
            IpAddr::V6(v6) => bytes = v6.octets(),
        }
        InetAddr { bytes, len: 16 }
    }

    /// Takes 4 or 16 bytes as received.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, DecodeError> {
        if raw.len() != 4 && raw.len() != 16 {
            return Err(DecodeError::invalid_ip_address(raw.len()));
        }
        let mut bytes = [0; 16];
        bytes[..raw.len()].copy_from_slice(raw);
        Ok(InetAddr {
            bytes,
            len: raw.len() as u8,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The address read as family `af` (`AF_INET` or `AF_INET6`).
    pub fn to_ip(&self, af: u16) -> Option<IpAddr> {
        match af {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(
                self.bytes[0],
                self.bytes[1],
                self.bytes[2],
                self.bytes[3],
            ))),
            AF_INET6 if self.len == 16 => Some(IpAddr::V6(Ipv6Addr::from(self.bytes))),
            _ => None,
        }
    }
}

/// `struct ip_vs_flags`: flags to set and the mask of flags the message speaks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlagsAttr {
    pub flags: u32,
    pub mask: u32,
}

/// A counter in a stats nest: `IPVS_SVC_ATTR_STATS` carries 32-bit counters except the byte
/// counts, `..._STATS64` carries 64-bit ones; the width is kept so it re-emits unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StatValue {
    U32(u32),
    U64(u64),
}

impl StatValue {
    pub fn get(self) -> u64 {
        match self {
            StatValue::U32(v) => u64::from(v),
            StatValue::U64(v) => v,
        }
    }

    fn parse(v: &[u8]) -> Result<Self, DecodeError> {
        match v.len() {
            4 => Ok(StatValue::U32(parse_u32(v)?)),
            8 => Ok(StatValue::U64(parse_u64(v)?)),
            n => Err(DecodeError::invalid_number(8, n)),
        }
    }

    fn len(self) -> usize {
        match self {
            StatValue::U32(_) => 4,
            StatValue::U64(_) => 8,
        }
    }

    fn emit(self, buf: &mut [u8]) {
        match self {
            StatValue::U32(v) => emit_u32(buf, v),
            StatValue::U64(v) => emit_u64(buf, v),
        }
    }
}

/// An attribute of a stats nest (`enum ipvs_stats_attr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatsAttr {
    Conns(StatValue),
    InPkts(StatValue),
    OutPkts(StatValue),
    InBytes(StatValue),
    OutBytes(StatValue),
    Cps(StatValue),
    InPps(StatValue),
    OutPps(StatValue),
    InBps(StatValue),
    OutBps(StatValue),
    /// `IPVS_STATS_ATTR_PAD` and anything newer.
    Other(DefaultNla),
}

impl StatsAttr {
    fn parts(&self) -> Option<(u16, StatValue)> {
        use StatsAttr::*;
        Some(match self {
            Conns(v) => (IPVS_STATS_ATTR_CONNS, *v),
            InPkts(v) => (IPVS_STATS_ATTR_INPKTS, *v),
            OutPkts(v) => (IPVS_STATS_ATTR_OUTPKTS, *v),
            InBytes(v) => (IPVS_STATS_ATTR_INBYTES, *v),
            OutBytes(v) => (IPVS_STATS_ATTR_OUTBYTES, *v),
            Cps(v) => (IPVS_STATS_ATTR_CPS, *v),
            InPps(v) => (IPVS_STATS_ATTR_INPPS, *v),
            OutPps(v) => (IPVS_STATS_ATTR_OUTPPS, *v),
            InBps(v) => (IPVS_STATS_ATTR_INBPS, *v),
            OutBps(v) => (IPVS_STATS_ATTR_OUTBPS, *v),
            Other(_) => return None,
        })
    }

    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        use StatsAttr::*;
        let v = nla.value();
        let make: fn(StatValue) -> StatsAttr = match nla.kind() {
            IPVS_STATS_ATTR_CONNS => Conns,
            IPVS_STATS_ATTR_INPKTS => InPkts,
            IPVS_STATS_ATTR_OUTPKTS => OutPkts,
            IPVS_STATS_ATTR_INBYTES => InBytes,
            IPVS_STATS_ATTR_OUTBYTES => OutBytes,
            IPVS_STATS_ATTR_CPS => Cps,
            IPVS_STATS_ATTR_INPPS => InPps,
            IPVS_STATS_ATTR_OUTPPS => OutPps,
            IPVS_STATS_ATTR_INBPS => InBps,
            IPVS_STATS_ATTR_OUTBPS => OutBps,
            _ => return Ok(Other(DefaultNla::parse(nla)?)),
        };
        Ok(make(StatValue::parse(v)?))
    }
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match (self, self.parts()) {
            (_, Some((_, v))) => v.len(),
            (StatsAttr::Other(nla), None) => nla.value_len(),
            _ => 0,
        }
    }

    fn kind(&self) -> u16 {
        match (self, self.parts()) {
            (_, Some((k, _))) => k,
            (StatsAttr::Other(nla), None) => nla.kind(),
            _ => 0,
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        match (self, self.parts()) {
            (_, Some((_, v))) => v.emit(buf),
            (StatsAttr::Other(nla), None) => nla.emit_value(buf),
            _ => {}
        }
    }
}

/// An attribute of a service nest (`enum ipvs_svc_attr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceAttr {
    Af(u16),
    Protocol(u16),
    Addr(InetAddr),
    /// Host order here; big-endian on the wire.
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    Flags(FlagsAttr),
    /// Persistence timeout in seconds.
    Timeout(u32),
    /// Raw 4 bytes: an IPv4 mask in network order, or for IPv6 a prefix length as a
    /// native-endian u32 (the kernel reads it with `nla_get_be32` but compares it as a number).
    Netmask([u8; 4]),
    Stats(Vec<StatsAttr>),
    PeName(String),
    Stats64(Vec<StatsAttr>),
    Other(DefaultNla),
}

fn parse_array4(v: &[u8]) -> Result<[u8; 4], DecodeError> {
    v.try_into()
        .map_err(|_| DecodeError::invalid_number(4, v.len()))
}

impl ServiceAttr {
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        use ServiceAttr::*;
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_SVC_ATTR_AF => Af(parse_u16(v)?),
            IPVS_SVC_ATTR_PROTOCOL => Protocol(parse_u16(v)?),
            IPVS_SVC_ATTR_ADDR => Addr(InetAddr::from_bytes(v)?),
            IPVS_SVC_ATTR_PORT => Port(parse_u16_be(v)?),
            IPVS_SVC_ATTR_FWMARK => Fwmark(parse_u32(v)?),
            IPVS_SVC_ATTR_SCHED_NAME => SchedName(parse_cstring(v)?),
            IPVS_SVC_ATTR_FLAGS => {
                if v.len() != 8 {
                    return Err(DecodeError::invalid_number(8, v.len()));
                }
                Flags(FlagsAttr {
                    flags: parse_u32(&v[..4])?,
                    mask: parse_u32(&v[4..])?,
                })
            }
            IPVS_SVC_ATTR_TIMEOUT => Timeout(parse_u32(v)?),
            IPVS_SVC_ATTR_NETMASK => Netmask(parse_array4(v)?),
            IPVS_SVC_ATTR_STATS => Stats(parse_nested(v, "service stats", StatsAttr::parse)?),
            IPVS_SVC_ATTR_PE_NAME => PeName(parse_cstring(v)?),
            IPVS_SVC_ATTR_STATS64 => Stats64(parse_nested(v, "service stats64", StatsAttr::parse)?),
            _ => Other(DefaultNla::parse(nla)?),
        })
    }
}

impl Nla for ServiceAttr {
    fn value_len(&self) -> usize {
        use ServiceAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Addr(a) => a.as_bytes().len(),
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags(_) => 8,
            Stats(a) | Stats64(a) => a.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use ServiceAttr::*;
        match self {
            Af(_) => IPVS_SVC_ATTR_AF,
            Protocol(_) => IPVS_SVC_ATTR_PROTOCOL,
            Addr(_) => IPVS_SVC_ATTR_ADDR,
            Port(_) => IPVS_SVC_ATTR_PORT,
            Fwmark(_) => IPVS_SVC_ATTR_FWMARK,
            SchedName(_) => IPVS_SVC_ATTR_SCHED_NAME,
            Flags(_) => IPVS_SVC_ATTR_FLAGS,
            Timeout(_) => IPVS_SVC_ATTR_TIMEOUT,
            Netmask(_) => IPVS_SVC_ATTR_NETMASK,
            Stats(_) => IPVS_SVC_ATTR_STATS,
            PeName(_) => IPVS_SVC_ATTR_PE_NAME,
            Stats64(_) => IPVS_SVC_ATTR_STATS64,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use ServiceAttr::*;
        match self {
            Af(v) | Protocol(v) => emit_u16(buf, *v),
            Port(v) => emit_u16_be(buf, *v),
            Addr(a) => buf[..a.as_bytes().len()].copy_from_slice(a.as_bytes()),
            Fwmark(v) | Timeout(v) => emit_u32(buf, *v),
            Netmask(m) => buf[..4].copy_from_slice(m),
            SchedName(s) | PeName(s) => emit_cstring(buf, s),
            Flags(f) => {
                emit_u32(buf, f.flags);
                emit_u32(&mut buf[4..], f.mask);
            }
            Stats(a) | Stats64(a) => a.as_slice().emit(buf),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

/// An attribute of a destination nest (`enum ipvs_dest_attr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestAttr {
    Addr(InetAddr),
    /// Host order here; big-endian on the wire.
    Port(u16),
    FwdMethod(u32),
    Weight(u32),
    UpperThreshold(u32),
    LowerThreshold(u32),
    ActiveConns(u32),
    InactiveConns(u32),
    PersistentConns(u32),
    Stats(Vec<StatsAttr>),
    /// Family of the destination address when it differs from the service's.
    AddrFamily(u16),
    Stats64(Vec<StatsAttr>),
    TunType(u8),
    /// Host order here; big-endian on the wire.
    TunPort(u16),
    TunFlags(u16),
    Other(DefaultNla),
}

impl DestAttr {
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        use DestAttr::*;
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_DEST_ATTR_ADDR => Addr(InetAddr::from_bytes(v)?),
            IPVS_DEST_ATTR_PORT => Port(parse_u16_be(v)?),
            IPVS_DEST_ATTR_FWD_METHOD => FwdMethod(parse_u32(v)?),
            IPVS_DEST_ATTR_WEIGHT => Weight(parse_u32(v)?),
            IPVS_DEST_ATTR_U_THRESH => UpperThreshold(parse_u32(v)?),
            IPVS_DEST_ATTR_L_THRESH => LowerThreshold(parse_u32(v)?),
            IPVS_DEST_ATTR_ACTIVE_CONNS => ActiveConns(parse_u32(v)?),
            IPVS_DEST_ATTR_INACT_CONNS => InactiveConns(parse_u32(v)?),
            IPVS_DEST_ATTR_PERSIST_CONNS => PersistentConns(parse_u32(v)?),
            IPVS_DEST_ATTR_STATS => Stats(parse_nested(v, "destination stats", StatsAttr::parse)?),
            IPVS_DEST_ATTR_ADDR_FAMILY => AddrFamily(parse_u16(v)?),
            IPVS_DEST_ATTR_STATS64 => {
                Stats64(parse_nested(v, "destination stats64", StatsAttr::parse)?)
            }
            IPVS_DEST_ATTR_TUN_TYPE => TunType(parse_u8(v)?),
            IPVS_DEST_ATTR_TUN_PORT => TunPort(parse_u16_be(v)?),
            IPVS_DEST_ATTR_TUN_FLAGS => TunFlags(parse_u16(v)?),
            _ => Other(DefaultNla::parse(nla)?),
        })
    }
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(a) => a.as_bytes().len(),
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            TunType(_) => 1,
            FwdMethod(_) | Weight(_) | UpperThreshold(_) | LowerThreshold(_) | ActiveConns(_)
            | InactiveConns(_) | PersistentConns(_) => 4,
            Stats(a) | Stats64(a) => a.as_slice().buffer_len(),
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => IPVS_DEST_ATTR_ADDR,
            Port(_) => IPVS_DEST_ATTR_PORT,
            FwdMethod(_) => IPVS_DEST_ATTR_FWD_METHOD,
            Weight(_) => IPVS_DEST_ATTR_WEIGHT,
            UpperThreshold(_) => IPVS_DEST_ATTR_U_THRESH,
            LowerThreshold(_) => IPVS_DEST_ATTR_L_THRESH,
            ActiveConns(_) => IPVS_DEST_ATTR_ACTIVE_CONNS,
            InactiveConns(_) => IPVS_DEST_ATTR_INACT_CONNS,
            PersistentConns(_) => IPVS_DEST_ATTR_PERSIST_CONNS,
            Stats(_) => IPVS_DEST_ATTR_STATS,
            AddrFamily(_) => IPVS_DEST_ATTR_ADDR_FAMILY,
            Stats64(_) => IPVS_DEST_ATTR_STATS64,
            TunType(_) => IPVS_DEST_ATTR_TUN_TYPE,
            TunPort(_) => IPVS_DEST_ATTR_TUN_PORT,
            TunFlags(_) => IPVS_DEST_ATTR_TUN_FLAGS,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DestAttr::*;
        match self {
            Addr(a) => buf[..a.as_bytes().len()].copy_from_slice(a.as_bytes()),
            Port(v) | TunPort(v) => emit_u16_be(buf, *v),
            AddrFamily(v) | TunFlags(v) => emit_u16(buf, *v),
            TunType(v) => buf[0] = *v,
            FwdMethod(v) | Weight(v) | UpperThreshold(v) | LowerThreshold(v) | ActiveConns(v)
            | InactiveConns(v) | PersistentConns(v) => emit_u32(buf, *v),
            Stats(a) | Stats64(a) => a.as_slice().emit(buf),
            Other(nla) => nla.emit_value(buf),
        }
    }
}

/// An attribute of a sync daemon nest (`enum ipvs_daemon_attr`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DaemonAttr {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    State(u32),
    McastIfn(String),
    SyncId(u32),
    SyncMaxlen(u16),
    McastGroup(Ipv4Addr),
    McastGroup6(Ipv6Addr),
    McastPort(u16),
    McastTtl(u8),
    Other(DefaultNla),
}

impl DaemonAttr {
    pub fn parse(nla: &NlaBuffer<&[u8]>) -> Result<Self, DecodeError> {
        use DaemonAttr::*;
        let v = nla.value();
        Ok(match nla.kind() {
            IPVS_DAEMON_ATTR_STATE => State(parse_u32(v)?),
            IPVS_DAEMON_ATTR_MCAST_IFN => McastIfn(parse_cstring(v)?),
            IPVS_DAEMON_ATTR_SYNC_ID => SyncId(parse_u32(v)?),
            IPVS_DAEMON_ATTR_SYNC_MAXLEN => SyncMaxlen(parse_u16(v)?),
            IPVS_DAEMON_ATTR_MCAST_GROUP => McastGroup(Ipv4Addr::from(parse_array4(v)?)),
            IPVS_DAEMON_ATTR_MCAST_GROUP6 => {
                let b: [u8; 16] = v
                    .try_into()
                    .map_err(|_| DecodeError::invalid_ip_address(v.len()))?;
                McastGroup6(Ipv6Addr::from(b))
            }
            IPVS_DAEMON_ATTR_MCAST_PORT => McastPort(parse_u16(v)?),
            IPVS_DAEMON_ATTR_MCAST_TTL => McastTtl(parse_u8(v)?),
            _ => Other(DefaultNla::parse(nla)?),
        })
    }
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxlen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(nla) => nla.value_len(),
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => IPVS_DAEMON_ATTR_STATE,
            McastIfn(_) => IPVS_DAEMON_ATTR_MCAST_IFN,
            SyncId(_) => IPVS_DAEMON_ATTR_SYNC_ID,
            SyncMaxlen(_) => IPVS_DAEMON_ATTR_SYNC_MAXLEN,
            McastGroup(_) => IPVS_DAEMON_ATTR_MCAST_GROUP,
            McastGroup6(_) => IPVS_DAEMON_ATTR_MCAST_GROUP6,
            McastPort(_) => IPVS_DAEMON_ATTR_MCAST_PORT,
            McastTtl(_) => IPVS_DAEMON_ATTR_MCAST_TTL,
            Other(nla) => nla.kind(),
        }
    }

    fn emit_value(&self, buf: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => emit_u32(buf, *v),
            McastIfn(s) => emit_cstring(buf, s),
            SyncMaxlen(v) | McastPort(v) => emit_u16(buf, *v),
            McastGroup(a) => buf[..4].copy_from_slice(&a.octets()),
            McastGroup6(a) => buf[..16].copy_from_slice(&a.octets()),
            McastTtl(v) => buf[0] = *v,
            Other(nla) => nla.emit_value(buf),
        }
    }
}

/// Appends one request frame to `buf`.
pub fn encode_request(buf: &mut Vec<u8>, family_id: u16, msg: IpvsMessage, flags: u16, seq: u32) {
    let mut genl = netlink_packet_generic::GenlMessage::from_payload(msg);
    genl.set_resolved_family_id(family_id);
    let mut header = netlink_packet_core::NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut nl = netlink_packet_core::NetlinkMessage::new(
        header,
        netlink_packet_core::NetlinkPayload::from(genl),
    );
    nl.finalize();
    let start = buf.len();
    buf.resize(start + nl.buffer_len(), 0);
    nl.serialize(&mut buf[start..]);
}
