//! Linux IPVS over generic netlink: typed messages, a pipelined client, a reconciler, and
//! ipvsadm's text formats.
//!
//! - [`message`]: the "IPVS" generic netlink family (version 1) from the kernel's
//!   `include/uapi/linux/ip_vs.h`, every command and attribute, unknown ones kept.
//! - [`model`]: services, destinations, sync daemons, timeouts, and a whole table
//!   ([`IpvsState`]).
//! - [`Ipvs`]: the client. Family id resolved at run time, optionally inside a network
//!   namespace; [`Ipvs::apply`] sends many changes per `sendmsg` and matches the ACKs back.
//! - [`reconcile`]: the ordered operations that turn the kernel's table into a desired one.
//! - [`ipvsadm`]: `ipvsadm -Ln` (also `--stats`, `--rate`, `--thresholds`,
//!   `--persistent-conn`, `--exact`) and `ipvsadm -S -n` output, byte for byte as ipvsadm
//!   1.31 prints them, and reading saved rules.
//!
//! ## Cost model
//!
//! Adding an object costs the kernel less than dumping it: a GET_DEST dump fills ~35
//! attributes and two stats nests per destination. So [`Ipvs::plan`] (dump, then diff)
//! costs more than applying the whole table from empty, while [`Ipvs::reconcile`] with a
//! [`Reconciler`] plans against the table it knows it programmed and sends nothing when
//! nothing changed. Use `plan` to inspect or to re-verify (say every few minutes, or after
//! `Reconciler::forget`), `reconcile` on every configuration or health change.
//!
//! ```no_run
//! use ipvs_sys::{Destination, ForwardMethod, Ipvs, IpvsState, Service, ServiceKey, VirtualService};
//!
//! let key = ServiceKey::tcp("192.168.2.200:80".parse().unwrap());
//! let mut desired = IpvsState::default();
//! desired.services.push(VirtualService {
//!     service: Service::new(key, "rr").persistent(50),
//!     destinations: vec![
//!         Destination::new("192.168.2.11:80".parse().unwrap(), ForwardMethod::Route, 1),
//!         Destination::new("192.168.2.12:80".parse().unwrap(), ForwardMethod::Route, 1),
//!     ],
//! });
//! let mut ipvs = Ipvs::new()?;
//! let plan = ipvs.plan(&desired)?;
//! print!("{plan}");
//! for result in ipvs.apply(&plan.ops)? {
//!     result?;
//! }
//! # Ok::<(), ipvs_sys::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod client;
pub mod constants;
pub mod decode;
pub mod error;
pub mod ipvsadm;
pub mod message;
pub mod model;
pub mod ops;
pub mod reconcile;
pub mod transport;

/// The netlink crates this one builds on, for callers that handle the messages directly.
pub use netlink_packet_core;
pub use netlink_packet_generic;

pub use client::Ipvs;
pub use error::Error;
pub use message::{IpvsCmd, IpvsCmdAttr, IpvsMessage};
pub use model::{
    AddressFamily, DaemonState, DestCounters, Destination, ForwardMethod, Info, IpvsState, Netmask,
    Protocol, Service, ServiceFlags, ServiceKey, Stats, SyncDaemon, Timeouts, Tunnel,
    TunnelChecksum, TunnelType, VirtualService,
};
pub use ops::Op;
pub use reconcile::{plan, Plan, Reconciler};
pub use transport::{NetlinkTransport, Transport};
