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
