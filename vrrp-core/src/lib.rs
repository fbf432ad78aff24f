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
//!
//! A backup that hears nobody becomes master after its master-down interval and sends its
//! first advert; the caller owns the clock, the buffer and the sockets:
//!
//! ```
//! use vrrp_core::{Command, Event, Instance, InstanceConfig, Instant, State, Transmit};
//! use vrrp_core::wire::Version;
//!
//! let config = InstanceConfig::new(
//!     Version::V3, 51, 100, "192.0.2.1".parse().unwrap(), vec!["192.0.2.200".parse().unwrap()],
//! );
//! let mut vi = Instance::new(config).unwrap();
//! vi.handle_command(Instant::ZERO, Command::Start);
//! assert_eq!(vi.state(), State::Backup);
//! // Nothing heard: at the deadline it takes over.
//! let deadline = vi.poll_timeout().unwrap();
//! vi.handle_timeout(deadline);
//! assert_eq!(vi.state(), State::Master);
//! let mut buf = [0u8; vrrp_core::TRANSMIT_BUFFER_LEN];
//! let mut adverts = 0;
//! while let Some(t) = vi.poll_transmit(&mut buf) {
//!     if let Transmit::Advertisement { len, .. } = t {
//!         adverts += 1; // send buf[..len] as IP protocol 112 with TTL 255
//!         assert!(len > 0);
//!     }
//! }
//! assert_eq!(adverts, 1);
//! assert!(std::iter::from_fn(|| vi.poll_event())
//!     .any(|e| matches!(e, Event::StateChanged(t) if t.to == State::Master)));
//! ```
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

pub use config::{Authentication, GarpConfig, InstanceConfig, UnicastPeer};
pub use error::Error;
pub use event::{DropReason, Event, FaultCause, State, Transition, TransitionReason};
pub use instance::{Command, Instance, RxInfo, Transmit, TRANSMIT_BUFFER_LEN};
pub use stats::{NewMasterReason, ProtocolErrorReason, Statistics};
pub use sync_group::{GroupMembers, GroupSync, SyncGroup};
pub use time::Instant;
