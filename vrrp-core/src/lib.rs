//! Sans-IO VRRP: VRRPv2 (RFC 3768) and VRRPv3 (RFC 5798, RFC 9568).
//!
//! - [`wire`]: zero-copy views and representations of advertisements.
//! - [`Instance`]: one virtual router's state machine (RFC 5798 section 6, plus the keepalived
//!   behaviour users rely on). It has no sockets, no clock and no randomness: the caller passes
//!   time in, feeds packets and commands, and drains transmits, events and the next timeout.
//! - [`SyncGroup`]: instances that change state together (keepalived's `vrrp_sync_group`).
//! - [`sim`]: a deterministic simulator of instances on LAN segments with virtual time.
//!
//! Data flows one way: bytes -> [`wire::Packet`] -> [`wire::Repr`] -> [`Instance`] ->
//! [`Transmit`] / [`Event`] -> the caller's I/O layer.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_debug_implementations)]

extern crate alloc;

mod config;
mod error;
mod event;
mod instance;
pub mod sim;
mod stats;
mod sync_group;
mod time;
pub mod wire;

pub use config::{Authentication, GarpConfig, InstanceConfig};
pub use error::Error;
pub use event::{DropReason, Event, FaultCause, State, Transition, TransitionReason};
pub use instance::{Command, Instance, RxInfo, Transmit, TRANSMIT_BUFFER_LEN};
pub use stats::{NewMasterReason, ProtocolErrorReason, Statistics};
pub use sync_group::SyncGroup;
pub use time::Instant;
