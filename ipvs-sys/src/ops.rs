//! Changes to the IPVS table, each one netlink request: what [`crate::Ipvs::apply`] sends
//! and what the reconciler plans.

use std::fmt;
use std::net::SocketAddr;

use crate::message::{IpvsCmd, IpvsCmdAttr, IpvsMessage};
use crate::model::{DaemonState, Destination, Service, ServiceKey, SyncDaemon, Timeouts};

/// One change to the IPVS table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    AddService(Service),
    /// Changes scheduler, flags, timeout, netmask or PE of an existing service in place.
    EditService(Service),
    /// Deletes a service and all its destinations.
    DeleteService(ServiceKey),
    AddDest(ServiceKey, Destination),
    /// Changes forwarding, weight, thresholds or tunnel of a destination in place, keeping
    /// its connections.
    EditDest(ServiceKey, Destination),
    DeleteDest(ServiceKey, SocketAddr),
    /// Deletes every service.
    Flush,
    /// Zeroes the counters of one service, or of all when `None`.
    Zero(Option<ServiceKey>),
    SetTimeouts(Timeouts),
    StartDaemon(SyncDaemon),
    StopDaemon(DaemonState),
}

impl Op {
    /// The service this operation concerns, if any.
    pub fn service_key(&self) -> Option<&ServiceKey> {
        match self {
            Op::AddService(s) | Op::EditService(s) => Some(&s.key),
            Op::DeleteService(k)
            | Op::AddDest(k, _)
            | Op::EditDest(k, _)
            | Op::DeleteDest(k, _)
            | Op::Zero(Some(k)) => Some(k),
            _ => None,
        }
    }

    /// The request that performs this operation.
    pub fn to_message(&self) -> IpvsMessage {
        use IpvsCmdAttr as A;
        let (cmd, nlas) = match self {
            Op::AddService(s) => (IpvsCmd::NewService, vec![A::Service(s.to_attrs())]),
            Op::EditService(s) => (IpvsCmd::SetService, vec![A::Service(s.to_attrs())]),
            Op::DeleteService(k) => (IpvsCmd::DelService, vec![A::Service(k.to_attrs())]),
            Op::AddDest(k, d) => (
                IpvsCmd::NewDest,
                vec![A::Service(k.to_attrs()), A::Dest(d.to_attrs())],
            ),
            Op::EditDest(k, d) => (
                IpvsCmd::SetDest,
                vec![A::Service(k.to_attrs()), A::Dest(d.to_attrs())],
            ),
            Op::DeleteDest(k, a) => (
                IpvsCmd::DelDest,
                vec![
                    A::Service(k.to_attrs()),
                    A::Dest(Destination::key_attrs(*a)),
                ],
            ),
            Op::Flush => (IpvsCmd::Flush, vec![]),
            Op::Zero(None) => (IpvsCmd::Zero, vec![]),
            Op::Zero(Some(k)) => (IpvsCmd::Zero, vec![A::Service(k.to_attrs())]),
            Op::SetTimeouts(t) => (
                IpvsCmd::SetConfig,
                vec![
                    A::TimeoutTcp(t.tcp),
                    A::TimeoutTcpFin(t.tcp_fin),
                    A::TimeoutUdp(t.udp),
                ],
            ),
            Op::StartDaemon(d) => (IpvsCmd::NewDaemon, vec![A::Daemon(d.to_attrs())]),
            Op::StopDaemon(state) => (
                IpvsCmd::DelDaemon,
                vec![A::Daemon(vec![crate::message::DaemonAttr::State(
                    state.number(),
                )])],
            ),
        };
        IpvsMessage::new(cmd, nlas)
    }
}

/// What the operation does to which object, e.g. `add destination 10.0.0.2:80 to service
/// TCP 10.0.0.1:80`; used in errors.
impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::AddService(s) => write!(f, "add service {}", s.key),
            Op::EditService(s) => write!(f, "edit service {}", s.key),
            Op::DeleteService(k) => write!(f, "delete service {k}"),
            Op::AddDest(k, d) => write!(f, "add destination {} to service {k}", d.addr),
            Op::EditDest(k, d) => write!(f, "edit destination {} of service {k}", d.addr),
            Op::DeleteDest(k, a) => write!(f, "delete destination {a} of service {k}"),
            Op::Flush => write!(f, "flush all services"),
            Op::Zero(None) => write!(f, "zero all counters"),
            Op::Zero(Some(k)) => write!(f, "zero counters of service {k}"),
            Op::SetTimeouts(t) => write!(
                f,
                "set timeouts tcp {} tcpfin {} udp {}",
                t.tcp, t.tcp_fin, t.udp
            ),
            Op::StartDaemon(d) => write!(
                f,
                "start {} sync daemon on {} (syncid {})",
                d.state.name(),
                d.interface,
                d.sync_id
            ),
            Op::StopDaemon(s) => write!(f, "stop {} sync daemon", s.name()),
        }
    }
}

/// Appends one attribute: header, value, zero padding to 4 bytes.
fn put_attr(buf: &mut Vec<u8>, kind: u16, value: &[u8]) {
    buf.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(value);
    buf.resize(buf.len() + (4 - value.len() % 4) % 4, 0);
}

fn put_cstring(buf: &mut Vec<u8>, kind: u16, s: &str) {
    buf.extend_from_slice(&((5 + s.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
    buf.resize(buf.len() + (4 - (s.len() + 1) % 4) % 4, 0);
}

/// Opens a nest; returns where its length goes.
fn nest_start(buf: &mut Vec<u8>, kind: u16) -> usize {
    let at = buf.len();
    buf.extend_from_slice(&[0, 0]);
    buf.extend_from_slice(&kind.to_ne_bytes());
    at
}

fn nest_end(buf: &mut [u8], at: usize) {
    let len = (buf.len() - at) as u16;
    buf[at..at + 2].copy_from_slice(&len.to_ne_bytes());
}

fn put_addr(buf: &mut Vec<u8>, kind: u16, ip: std::net::IpAddr) {
    let mut bytes = [0u8; 16];
    match ip {
        std::net::IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
        std::net::IpAddr::V6(v6) => bytes = v6.octets(),
    }
    put_attr(buf, kind, &bytes);
}

fn put_service_key(buf: &mut Vec<u8>, key: &ServiceKey) {
    use crate::constants::*;
    put_attr(buf, IPVS_SVC_ATTR_AF, &key.af().number().to_ne_bytes());
    match key {
        ServiceKey::Inet { protocol, addr } => {
            put_attr(
                buf,
                IPVS_SVC_ATTR_PROTOCOL,
                &protocol.number().to_ne_bytes(),
            );
            put_addr(buf, IPVS_SVC_ATTR_ADDR, addr.ip());
            put_attr(buf, IPVS_SVC_ATTR_PORT, &addr.port().to_be_bytes());
        }
        ServiceKey::Fwmark { mark, .. } => {
            put_attr(buf, IPVS_SVC_ATTR_FWMARK, &mark.to_ne_bytes());
        }
    }
}

fn put_service(buf: &mut Vec<u8>, s: &Service) {
    use crate::constants::*;
    let at = nest_start(buf, crate::constants::IPVS_CMD_ATTR_SERVICE);
    put_service_key(buf, &s.key);
    put_cstring(buf, IPVS_SVC_ATTR_SCHED_NAME, &s.scheduler);
    if let Some(pe) = &s.pe_name {
        put_cstring(buf, IPVS_SVC_ATTR_PE_NAME, pe);
    }
    let mut flags = [0u8; 8];
    flags[..4].copy_from_slice(&s.flags.0.to_ne_bytes());
    flags[4..].copy_from_slice(&u32::MAX.to_ne_bytes());
    put_attr(buf, IPVS_SVC_ATTR_FLAGS, &flags);
    put_attr(buf, IPVS_SVC_ATTR_TIMEOUT, &s.timeout.to_ne_bytes());
    let netmask = match s.key.af() {
        crate::model::AddressFamily::Inet => s.netmask.0.to_be_bytes(),
        crate::model::AddressFamily::Inet6 => s.netmask.0.to_ne_bytes(),
    };
    put_attr(buf, IPVS_SVC_ATTR_NETMASK, &netmask);
    nest_end(buf, at);
}

fn put_dest(buf: &mut Vec<u8>, addr: SocketAddr, full: Option<&Destination>) {
    use crate::constants::*;
    let at = nest_start(buf, IPVS_CMD_ATTR_DEST);
    put_addr(buf, IPVS_DEST_ATTR_ADDR, addr.ip());
    put_attr(buf, IPVS_DEST_ATTR_PORT, &addr.port().to_be_bytes());
    let af = crate::model::AddressFamily::of(&addr.ip()).number();
    put_attr(buf, IPVS_DEST_ATTR_ADDR_FAMILY, &af.to_ne_bytes());
    if let Some(d) = full {
        put_attr(
            buf,
            IPVS_DEST_ATTR_FWD_METHOD,
            &d.forward.number().to_ne_bytes(),
        );
        put_attr(buf, IPVS_DEST_ATTR_WEIGHT, &d.weight.to_ne_bytes());
        put_attr(
            buf,
            IPVS_DEST_ATTR_U_THRESH,
            &d.upper_threshold.to_ne_bytes(),
        );
        put_attr(
            buf,
            IPVS_DEST_ATTR_L_THRESH,
            &d.lower_threshold.to_ne_bytes(),
        );
        if d.forward == crate::model::ForwardMethod::Tunnel {
            put_attr(buf, IPVS_DEST_ATTR_TUN_TYPE, &[d.tunnel.kind.number()]);
            put_attr(buf, IPVS_DEST_ATTR_TUN_PORT, &d.tunnel.port.to_be_bytes());
            put_attr(
                buf,
                IPVS_DEST_ATTR_TUN_FLAGS,
                &d.tunnel.checksum.number().to_ne_bytes(),
            );
        }
    }
    nest_end(buf, at);
}

impl Op {
    /// Appends this operation's request (netlink header, genl header, attributes) to `buf`.
    ///
    /// The same bytes as emitting [`Op::to_message`] through netlink-packet-generic (the
    /// tests hold them equal), written directly: batches of thousands of operations spend
    /// their time in the kernel, not in building attribute trees.
    pub fn encode(&self, buf: &mut Vec<u8>, family_id: u16, flags: u16, seq: u32) {
        let cmd = match self {
            Op::AddService(_) => crate::constants::IPVS_CMD_NEW_SERVICE,
            Op::EditService(_) => crate::constants::IPVS_CMD_SET_SERVICE,
            Op::DeleteService(_) => crate::constants::IPVS_CMD_DEL_SERVICE,
            Op::AddDest(..) => crate::constants::IPVS_CMD_NEW_DEST,
            Op::EditDest(..) => crate::constants::IPVS_CMD_SET_DEST,
            Op::DeleteDest(..) => crate::constants::IPVS_CMD_DEL_DEST,
            _ => {
                crate::message::encode_request(buf, family_id, self.to_message(), flags, seq);
                return;
            }
        };
        let start = buf.len();
        buf.extend_from_slice(&[0; 4]); // length, patched below
        buf.extend_from_slice(&family_id.to_ne_bytes());
        buf.extend_from_slice(&flags.to_ne_bytes());
        buf.extend_from_slice(&seq.to_ne_bytes());
        buf.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel fills it
        buf.extend_from_slice(&[cmd, crate::constants::IPVS_GENL_VERSION, 0, 0]);
        match self {
            Op::AddService(s) | Op::EditService(s) => put_service(buf, s),
            Op::DeleteService(k) => {
                let at = nest_start(buf, crate::constants::IPVS_CMD_ATTR_SERVICE);
                put_service_key(buf, k);
                nest_end(buf, at);
            }
            Op::AddDest(k, d) | Op::EditDest(k, d) => {
                let at = nest_start(buf, crate::constants::IPVS_CMD_ATTR_SERVICE);
                put_service_key(buf, k);
                nest_end(buf, at);
                put_dest(buf, d.addr, Some(d));
            }
            Op::DeleteDest(k, a) => {
                let at = nest_start(buf, crate::constants::IPVS_CMD_ATTR_SERVICE);
                put_service_key(buf, k);
                nest_end(buf, at);
                put_dest(buf, *a, None);
            }
            _ => unreachable!("handled above"),
        }
        let len = (buf.len() - start) as u32;
        buf[start..start + 4].copy_from_slice(&len.to_ne_bytes());
    }
}
