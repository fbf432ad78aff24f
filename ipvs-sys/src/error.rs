//! The crate's error type: each error names the object and the cause.

use std::io;
use std::net::SocketAddr;

use crate::model::ServiceKey;
use crate::ops::Op;

/// Everything that can go wrong talking to IPVS or reading its rules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "IPVS is not available: the generic netlink family \"IPVS\" does not exist \
         (load the ip_vs kernel module: modprobe ip_vs)"
    )]
    NotAvailable,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot open network namespace {path}: {source}")]
    Netns {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("service {0} already exists")]
    ServiceExists(ServiceKey),
    #[error("no such service {0}")]
    NoSuchService(ServiceKey),
    #[error("destination {dest} of service {service} already exists")]
    DestExists {
        service: ServiceKey,
        dest: SocketAddr,
    },
    #[error("no such destination {dest} in service {service}")]
    NoSuchDest {
        service: ServiceKey,
        dest: SocketAddr,
    },
    #[error(
        "service {service}: scheduler {scheduler:?}{pe} not available \
         (is the kernel module ip_vs_{scheduler} missing?)"
    )]
    UnknownScheduler {
        service: ServiceKey,
        scheduler: String,
        /// `" or persistence engine \"sip\""` when one was asked for, else empty.
        pe: String,
    },
    #[error("{op}: permission denied (CAP_NET_ADMIN needed)")]
    PermissionDenied { op: String },
    #[error("{op}: a sync daemon in this role is already running")]
    DaemonRunning { op: String },
    #[error("{op}: no sync daemon in this role is running")]
    NoDaemon { op: String },
    #[error("{op}: rejected by the kernel as invalid (EINVAL)")]
    Invalid { op: String },
    #[error(
        "destination {dest} of service {service} rejected as invalid (EINVAL): its address \
         must be unicast, that is routable, in this network namespace (is there a route, is \
         lo up?), and an address family other than the service's needs tunnel forwarding"
    )]
    InvalidDest {
        service: ServiceKey,
        dest: SocketAddr,
    },
    #[error("{op}: value out of range (ERANGE)")]
    OutOfRange { op: String },
    #[error("{op}: address family or protocol not supported by this kernel")]
    Unsupported { op: String },
    #[error("{op}: kernel error {errno}: {source}")]
    Kernel {
        op: String,
        errno: i32,
        #[source]
        source: io::Error,
    },
    #[error("{op}: no acknowledgement received from the kernel")]
    NoAck { op: String },
    #[error(
        "the kernel dropped acknowledgements (socket receive buffer overrun); \
         the outcome of this operation is unknown"
    )]
    AckOverrun,
    #[error("malformed netlink data: {0}")]
    Malformed(String),
    #[error("ipvsadm rules, line {line}: {reason}")]
    Rules { line: usize, reason: String },
}

impl Error {
    /// The typed error for `errno` (positive) returned by the kernel for `op`.
    pub fn from_errno(op: &Op, errno: i32) -> Error {
        let what = op.to_string();
        match (errno, op) {
            (nix_errno::EEXIST, Op::AddService(s)) => Error::ServiceExists(s.key),
            (nix_errno::EEXIST, Op::AddDest(k, d)) => Error::DestExists {
                service: *k,
                dest: d.addr,
            },
            (nix_errno::EEXIST, Op::StartDaemon(_)) => Error::DaemonRunning { op: what },
            (nix_errno::ESRCH, Op::StopDaemon(_)) => Error::NoDaemon { op: what },
            (nix_errno::ESRCH, op) if op.service_key().is_some() => {
                Error::NoSuchService(*op.service_key().expect("checked"))
            }
            (nix_errno::ENOENT, Op::AddService(s) | Op::EditService(s)) => {
                Error::UnknownScheduler {
                    service: s.key,
                    scheduler: s.scheduler.clone(),
                    pe: s
                        .pe_name
                        .as_ref()
                        .map(|p| format!(" or persistence engine {p:?}"))
                        .unwrap_or_default(),
                }
            }
            (nix_errno::ENOENT, Op::EditDest(k, d)) => Error::NoSuchDest {
                service: *k,
                dest: d.addr,
            },
            (nix_errno::ENOENT, Op::DeleteDest(k, a)) => Error::NoSuchDest {
                service: *k,
                dest: *a,
            },
            (nix_errno::EINVAL, Op::AddDest(k, d) | Op::EditDest(k, d)) => Error::InvalidDest {
                service: *k,
                dest: d.addr,
            },
            (nix_errno::EPERM, _) => Error::PermissionDenied { op: what },
            (nix_errno::EINVAL, _) => Error::Invalid { op: what },
            (nix_errno::ERANGE, _) => Error::OutOfRange { op: what },
            (nix_errno::EAFNOSUPPORT | nix_errno::EPROTONOSUPPORT, _) => {
                Error::Unsupported { op: what }
            }
            _ => Error::Kernel {
                op: what,
                errno,
                source: io::Error::from_raw_os_error(errno),
            },
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Error {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The errno values the kernel's IPVS code returns, as plain numbers (Linux, all arches).
pub(crate) mod nix_errno {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const ESRCH: i32 = 3;
    pub const ENOBUFS: i32 = 105;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ERANGE: i32 = 34;
    pub const EPROTONOSUPPORT: i32 = 93;
    pub const EAFNOSUPPORT: i32 = 97;
}
