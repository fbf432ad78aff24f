//! What an instance reports to its caller.

use core::fmt;
use core::net::IpAddr;
use core::time::Duration;

use crate::wire::AuthType;
use crate::Instant;

/// RFC 5798 states, plus keepalived's Fault and Stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum State {
    /// Not started yet (or waiting out the startup delay).
    Initialize,
    Backup,
    Master,
    /// Cannot serve: an interface is down or a weight-0 tracked object failed.
    Fault,
    /// Shut down.
    Stopped,
}

/// Why an instance is in fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum FaultCause {
    /// The interface (or a `track_interface` without weight) is down.
    InterfaceDown,
    /// A tracked script, file or process with weight 0 failed.
    Tracking,
    /// Another member of the sync group is in fault.
    SyncGroup,
    /// An operator asked for it.
    Administrative,
    /// The virtual addresses could not be installed: a master that does not hold its VIPs
    /// must not claim them.
    VirtualAddresses,
    /// The configured source address (`unicast_src_ip` with `track_src_ip`) is not on the
    /// interface.
    SourceAddress,
}

impl FaultCause {
    pub(crate) const fn bit(self) -> u8 {
        match self {
            FaultCause::InterfaceDown => 1,
            FaultCause::Tracking => 2,
            FaultCause::SyncGroup => 4,
            FaultCause::Administrative => 8,
            FaultCause::VirtualAddresses => 16,
            FaultCause::SourceAddress => 32,
        }
    }
}

/// Why a state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum TransitionReason {
    /// Startup with priority 255: the address owner is master at once.
    AddressOwner,
    /// Startup below 255: wait for the master-down timer as backup.
    Startup,
    /// The master-down timer ran out with no advert from a master.
    MasterDown,
    /// The master-down timer ran out while discarding a lower-priority master's adverts.
    Preempted,
    /// A priority-0 advert cut the wait to the skew time, which then ran out.
    MasterStopped,
    /// An advert with a higher priority (or equal priority from a higher address) arrived.
    HigherPriorityAdvert { from: IpAddr, priority: u8 },
    /// The sync group moved this member with another one.
    SyncGroup,
    /// A fault began.
    Fault(FaultCause),
    /// The last fault cleared.
    FaultCleared,
    /// Shut down by command.
    Shutdown,
}

impl fmt::Display for TransitionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionReason::AddressOwner => f.write_str("address owner (priority 255)"),
            TransitionReason::Startup => f.write_str("startup"),
            TransitionReason::MasterDown => f.write_str("master-down timer expired"),
            TransitionReason::Preempted => f.write_str("preempted a lower-priority master"),
            TransitionReason::MasterStopped => f.write_str("master sent priority 0"),
            TransitionReason::HigherPriorityAdvert { from, priority } => {
                write!(
                    f,
                    "higher-priority advert from {from} (priority {priority})"
                )
            }
            TransitionReason::SyncGroup => f.write_str("sync group"),
            TransitionReason::Fault(cause) => write!(f, "fault: {cause:?}"),
            TransitionReason::FaultCleared => f.write_str("fault cleared"),
            TransitionReason::Shutdown => f.write_str("shutdown"),
        }
    }
}

/// A state change, as kept for status displays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Transition {
    pub at: Instant,
    pub from: State,
    pub to: State,
    pub reason: TransitionReason,
}

/// Why a received advert was dropped. `Display` reads like keepalived's log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum DropReason {
    /// Not an advert that can be parsed (truncated, bad length, bad type, family mismatch).
    Malformed(crate::Error),
    /// A multicast advert's TTL / hop limit other than 255.
    Ttl { received: u8 },
    /// With `check_unicast_src`: a unicast advert from a peer with a TTL / hop limit outside
    /// the peer's `min_ttl`..`max_ttl`.
    TtlOutOfRange { received: u8, min: u8, max: u8 },
    /// A multicast advert for a unicast instance, or a unicast one for a multicast instance
    /// (keepalived drops both).
    UnexpectedDestination { multicast: bool },
    /// Another VRRP version than ours.
    Version { received: u8, expected: u8 },
    /// Bad checksum; `other_form_matches` means the peer uses the other IPv4 v3 form.
    Checksum { other_form_matches: bool },
    /// Another VRID than ours.
    Vrid { received: u8 },
    /// Authentication type differs from ours.
    AuthTypeMismatch {
        received: AuthType,
        expected: AuthType,
    },
    /// Wrong simple password.
    AuthFailure,
    /// IP Authentication Header (type 2): recognised, never accepted.
    IpAh,
    /// Authentication type unknown.
    InvalidAuthType { received: u8 },
    /// VRRPv2 interval differs from ours (RFC 3768 section 7.1).
    Interval {
        received: Duration,
        configured: Duration,
    },
    /// Number of addresses differs from ours.
    AddressCount { received: u8, expected: u8 },
    /// One of our addresses is not in the advert.
    AddressMissing { vrid: u8, address: IpAddr },
    /// With `check_unicast_src`: the sender is not one of the unicast peers.
    UnknownPeer,
    /// We own the addresses (priority 255): RFC 5798 section 7.1 has owners discard adverts.
    AddressOwner,
}

impl DropReason {
    /// Whether the reason is a configuration mismatch with the sender (split-brain risk) rather
    /// than a damaged or foreign packet.
    pub fn is_misconfiguration(&self) -> bool {
        matches!(
            self,
            DropReason::Version { .. }
                | DropReason::AuthTypeMismatch { .. }
                | DropReason::AuthFailure
                | DropReason::Interval { .. }
                | DropReason::AddressCount { .. }
                | DropReason::AddressMissing { .. }
                | DropReason::Checksum {
                    other_form_matches: true
                }
        )
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DropReason::Malformed(e) => write!(f, "malformed advert: {e}"),
            DropReason::Ttl { received } => {
                write!(f, "invalid TTL/HL. Received {received} and expect 255")
            }
            DropReason::TtlOutOfRange { received, min, max } => {
                write!(f, "TTL/HL {received} not in range [{min}, {max}]")
            }
            DropReason::UnexpectedDestination { multicast: true } => {
                f.write_str("Expected unicast packet but received multicast packet")
            }
            DropReason::UnexpectedDestination { multicast: false } => {
                f.write_str("Expected multicast packet but received unicast packet")
            }
            DropReason::Version { received, expected } => {
                write!(
                    f,
                    "wrong version. Received {received} and expect {expected}"
                )
            }
            DropReason::Checksum {
                other_form_matches: false,
            } => f.write_str("invalid checksum"),
            DropReason::Checksum {
                other_form_matches: true,
            } => f.write_str(
                "invalid checksum: the sender computes the VRRPv3 IPv4 checksum the other way \
                 (v3_checksum_as_v2 differs)",
            ),
            DropReason::Vrid { received } => write!(f, "received VRID {received}, not ours"),
            DropReason::AuthTypeMismatch { received, expected } => write!(
                f,
                "received a {} auth, expecting {}!",
                received.to_byte(),
                expected.to_byte()
            ),
            DropReason::AuthFailure => f.write_str("received an invalid passwd!"),
            DropReason::IpAh => {
                f.write_str("received an IPSEC-AH authenticated advert (not supported)")
            }
            DropReason::InvalidAuthType { received } => {
                write!(f, "received an invalid auth type {received}")
            }
            DropReason::Interval {
                received,
                configured,
            } => write!(
                f,
                "advertisement interval mismatch mine={} sec rcv'd={} sec",
                configured.as_secs(),
                received.as_secs()
            ),
            DropReason::AddressCount { received, expected } => write!(
                f,
                "received an unexpected ip number count {received}, expected {expected}!"
            ),
            DropReason::AddressMissing { vrid, address } => write!(
                f,
                "ip address associated with VRID {vrid} not present in MASTER advert: {address}"
            ),
            DropReason::UnknownPeer => f.write_str("unicast source address not a unicast peer"),
            DropReason::AddressOwner => {
                f.write_str("advert received while we own the addresses (priority 255)")
            }
        }
    }
}

/// Something the caller should know. Drained with [`Instance::poll_event`](crate::Instance::poll_event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Event {
    /// The state changed: run notify scripts, add or remove addresses, start or stop services.
    StateChanged(Transition),
    /// A received advert was dropped and counted.
    PacketDropped { from: IpAddr, reason: DropReason },
    /// A v3 advert's address list differs from ours; RFC 5798 section 7.1 has it logged, not
    /// dropped. `missing` is the first of our addresses it lacks, if any.
    AddressListMismatch {
        from: IpAddr,
        received: u8,
        expected: u8,
        missing: Option<IpAddr>,
    },
    /// A v3 backup adopted the master's advertisement interval.
    MasterIntervalChanged { from: Duration, to: Duration },
    /// The effective priority changed (tracking or reconfiguration).
    PriorityChanged { from: u8, to: u8 },
    /// A backup learned of a (new) master.
    MasterSeen { address: IpAddr, priority: u8 },
    /// As master, an advert of lower priority was received (another node believes it is
    /// master: keepalived's `notify_master_rx_lower_pri`).
    LowerPriorityAdvert { from: IpAddr, priority: u8 },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::StateChanged(t) => write!(f, "{:?} -> {:?} ({})", t.from, t.to, t.reason),
            Event::PacketDropped { from, reason } => {
                write!(f, "dropped advert from {from}: {reason}")
            }
            Event::AddressListMismatch {
                from,
                received,
                expected,
                missing,
            } => {
                write!(
                    f,
                    "advert from {from} lists {received} addresses, expected {expected}"
                )?;
                if let Some(a) = missing {
                    write!(f, "; missing {a}")?;
                }
                Ok(())
            }
            Event::MasterIntervalChanged { from, to } => write!(
                f,
                "advertisement interval updated from {}ms to {}ms by master",
                from.as_millis(),
                to.as_millis()
            ),
            Event::PriorityChanged { from, to } => {
                write!(f, "priority changed from {from} to {to}")
            }
            Event::MasterSeen { address, priority } => {
                write!(f, "master is {address} (priority {priority})")
            }
            Event::LowerPriorityAdvert { from, priority } => {
                write!(
                    f,
                    "received advert from {from} with lower priority {priority}"
                )
            }
        }
    }
}
