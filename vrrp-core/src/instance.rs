//! One virtual router: the state machine of RFC 5798 section 6 (as updated by RFC 9568), with
//! RFC 3768 for VRRPv2 and the keepalived behaviour users rely on.
//!
//! # Using an instance
//!
//! Methods fall into four groups:
//! - getters: [`state`](Instance::state), [`priority`](Instance::priority),
//!   [`statistics`](Instance::statistics), ...
//! - inputs: [`handle_packet`](Instance::handle_packet),
//!   [`handle_timeout`](Instance::handle_timeout), [`handle_command`](Instance::handle_command);
//! - outputs: [`poll_transmit`](Instance::poll_transmit), [`poll_event`](Instance::poll_event),
//!   [`poll_timeout`](Instance::poll_timeout).
//!
//! After every input, drain outputs in this order: transmits until `None`, events until `None`,
//! then arm a timer for `poll_timeout()`. Calling `handle_timeout` early is harmless.
//!
//! Nothing on the packet path allocates: the address list is encoded once at construction and
//! transmits and events sit in fixed-size queues.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::config::{interval_from_field, InstanceConfig};
use crate::event::{DropReason, Event, FaultCause, State, Transition, TransitionReason};
use crate::stats::{NewMasterReason, ProtocolErrorReason, Statistics};
use crate::wire::{
    self, AuthType, ChecksumContext, Packet, Repr, Version, MAX_PACKET_LEN, REQUIRED_TTL,
};
use crate::{Authentication, Error, Instant};

/// Size of the buffer [`Instance::poll_transmit`] writes into: fits any advert.
pub const TRANSMIT_BUFFER_LEN: usize = MAX_PACKET_LEN;

/// What the IP layer knew about a received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RxInfo {
    pub source: IpAddr,
    pub destination: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// Something to send, written by [`Instance::poll_transmit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    /// An advert of `len` bytes is in the buffer: send it as IP protocol 112 with TTL / hop
    /// limit 255 from `source` to `destination` (the multicast group or one unicast peer).
    Advertisement {
        source: IpAddr,
        destination: IpAddr,
        len: usize,
        priority: u8,
    },
    /// Send `repeat` gratuitous ARPs (IPv4) or unsolicited neighbour advertisements (IPv6) for
    /// every virtual address now.
    Gratuitous { repeat: u8 },
}

/// Inputs other than packets and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Start the instance (the RFC's Startup event, after `startup_delay`).
    Start,
    /// Stop: a master sends a priority-0 advert; the instance goes to `Stopped`.
    Shutdown,
    /// The sum of the weights of failing/succeeding tracked objects (keepalived's weighted
    /// `track_*`). Effective priority = configured + adjustment, kept within 1-254; an address
    /// owner (255) is not adjusted.
    SetPriorityAdjustment(i32),
    /// Change the configured priority (reload).
    SetPriority(u8),
    /// A fault cause began.
    EnterFault(FaultCause),
    /// A fault cause ended; the instance leaves Fault when none is left.
    LeaveFault(FaultCause),
    /// Become master now (used by [`SyncGroup`](crate::SyncGroup) to move members together).
    ForceMaster,
    /// Become backup now (used by [`SyncGroup`](crate::SyncGroup)).
    ForceBackup,
    /// keepalived's rule for sync group members: when the master-down timer runs out, do not
    /// become master alone but only *want* to ([`Instance::wants_master`]), re-arming the
    /// timer, until the group releases the member with [`Command::ForceMaster`].
    HoldMaster(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Startup,
    MasterDown,
    Advert,
    GarpMasterDelay,
    GarpRefresh,
    GarpLowerPrio,
}

impl Timer {
    const COUNT: usize = 6;
    const ALL: [Timer; Timer::COUNT] = [
        Timer::Startup,
        Timer::MasterDown,
        Timer::Advert,
        Timer::GarpMasterDelay,
        Timer::GarpRefresh,
        Timer::GarpLowerPrio,
    ];
}

#[derive(Debug, Clone, Copy, Default)]
struct Timers([Option<Instant>; Timer::COUNT]);

impl Timers {
    fn get(&self, t: Timer) -> Option<Instant> {
        self.0[t as usize]
    }
    fn set(&mut self, t: Timer, at: Instant) {
        self.0[t as usize] = Some(at);
    }
    fn stop(&mut self, t: Timer) {
        self.0[t as usize] = None;
    }
    fn stop_all(&mut self) {
        self.0 = [None; Timer::COUNT];
    }
    fn next(&self) -> Option<Instant> {
        self.0.iter().flatten().min().copied()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Advert { priority: u8 },
    Gratuitous { repeat: u8 },
}

/// A fixed-capacity FIFO: the packet path must not allocate.
#[derive(Debug, Clone)]
struct Ring<T: Copy, const N: usize> {
    items: [Option<T>; N],
    head: usize,
    len: usize,
}

impl<T: Copy, const N: usize> Ring<T, N> {
    const fn new() -> Self {
        Ring {
            items: [None; N],
            head: 0,
            len: 0,
        }
    }
    /// Pushes, dropping the oldest item when full; returns whether one was dropped.
    fn push(&mut self, item: T) -> bool {
        let dropped = self.len == N;
        if dropped {
            self.pop();
        }
        self.items[(self.head + self.len) % N] = Some(item);
        self.len += 1;
        dropped
    }
    fn front(&self) -> Option<T> {
        if self.len == 0 {
            None
        } else {
            self.items[self.head]
        }
    }
    fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let item = self.items[self.head].take();
        self.head = (self.head + 1) % N;
        self.len -= 1;
        item
    }
    fn iter(&self) -> impl Iterator<Item = T> + '_ {
        (0..self.len).filter_map(move |i| self.items[(self.head + i) % N])
    }
}

/// One VRRP virtual router on one interface.
#[derive(Debug, Clone)]
pub struct Instance {
    config: InstanceConfig,
    /// The virtual addresses in wire form, encoded once.
    address_bytes: Vec<u8>,
    state: State,
    effective_priority: u8,
    priority_adjustment: i32,
    /// RFC 5798 Master_Adver_Interval: ours as master, the master's as a v3 backup.
    master_adver_interval: Duration,
    /// Skew_Time and Master_Down_Interval, recomputed when the priority or the interval
    /// changes rather than on every advert (a 128-bit division is not free).
    skew_time: Duration,
    master_down_interval: Duration,
    master_address: Option<IpAddr>,
    master_priority: Option<u8>,
    faults: u8,
    timers: Timers,
    /// `preempt_delay`: until when lower-priority adverts are still accepted.
    preempt_deadline: Option<Instant>,
    /// Set when the master-down timer runs out while lower-priority adverts were discarded.
    discarded_lower_priority: bool,
    /// Set when a priority-0 advert shortened the master-down timer.
    master_stopped: bool,
    /// [`Command::HoldMaster`]: a sync group decides when this member becomes master.
    hold_master: bool,
    /// Held: the master-down timer ran out (and why it would have taken over).
    wants_master: Option<TransitionReason>,
    transmits: Ring<Pending, 8>,
    /// Next unicast peer to send the front advert to.
    peer_cursor: usize,
    events: Ring<Event, 32>,
    stats: Statistics,
    last_transition: Option<Transition>,
}

impl Instance {
    /// Creates an instance in `Initialize`; it starts on [`Command::Start`].
    pub fn new(config: InstanceConfig) -> Result<Instance, Error> {
        config.validate()?;
        let mut address_bytes = Vec::with_capacity(config.virtual_addresses.len() * 16);
        for addr in &config.virtual_addresses {
            match addr {
                IpAddr::V4(a) => address_bytes.extend_from_slice(&a.octets()),
                IpAddr::V6(a) => address_bytes.extend_from_slice(&a.octets()),
            }
        }
        let mut instance = Instance {
            effective_priority: config.priority,
            master_adver_interval: config.advert_interval,
            skew_time: Duration::ZERO,
            master_down_interval: Duration::ZERO,
            config,
            address_bytes,
            state: State::Initialize,
            priority_adjustment: 0,
            master_address: None,
            master_priority: None,
            faults: 0,
            timers: Timers::default(),
            preempt_deadline: None,
            discarded_lower_priority: false,
            master_stopped: false,
            hold_master: false,
            wants_master: None,
            transmits: Ring::new(),
            peer_cursor: 0,
            events: Ring::new(),
            stats: Statistics::default(),
            last_transition: None,
        };
        instance.set_master_adver_interval(instance.config.advert_interval);
        Ok(instance)
    }

    // ----- getters -----

    pub fn config(&self) -> &InstanceConfig {
        &self.config
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// The effective priority (configured, adjusted by tracking).
    pub fn priority(&self) -> u8 {
        self.effective_priority
    }

    /// Whether this router owns the virtual addresses (configured priority 255).
    pub fn is_address_owner(&self) -> bool {
        self.config.priority == 255
    }

    /// Whether the caller should accept packets addressed to the virtual addresses: only as
    /// master, and only when owner or in accept mode (RFC 5798 section 6.4.3).
    pub fn accepts_virtual_address_traffic(&self) -> bool {
        self.state == State::Master && (self.is_address_owner() || self.config.accept)
    }

    /// The current master: ourselves as master, the last accepted advert's sender as backup.
    pub fn master_address(&self) -> Option<IpAddr> {
        self.master_address
    }

    /// The priority of the master as last advertised (ours when master).
    pub fn master_priority(&self) -> Option<u8> {
        self.master_priority
    }

    /// RFC 5798 Master_Adver_Interval.
    pub fn master_advert_interval(&self) -> Duration {
        self.master_adver_interval
    }

    /// RFC 5798 Skew_Time for the effective priority; RFC 3768's for v2.
    pub fn skew_time(&self) -> Duration {
        self.skew_time
    }

    /// RFC 5798 Master_Down_Interval: `down_timer_adverts` (3) intervals plus the skew time.
    pub fn master_down_interval(&self) -> Duration {
        self.master_down_interval
    }

    pub fn statistics(&self) -> &Statistics {
        &self.stats
    }

    /// The last state change and why it happened.
    pub fn last_transition(&self) -> Option<Transition> {
        self.last_transition
    }

    /// A held backup ([`Command::HoldMaster`]) whose master-down timer ran out: it hears no
    /// master and would be master but for its sync group.
    pub fn wants_master(&self) -> bool {
        self.state == State::Backup && self.wants_master.is_some()
    }

    /// Fault causes currently active.
    pub fn fault_causes(&self) -> impl Iterator<Item = FaultCause> + '_ {
        [
            FaultCause::InterfaceDown,
            FaultCause::Tracking,
            FaultCause::SyncGroup,
            FaultCause::Administrative,
            FaultCause::VirtualAddresses,
            FaultCause::SourceAddress,
        ]
        .into_iter()
        .filter(|c| self.faults & c.bit() != 0)
    }

    // ----- inputs -----

    /// Feeds an advert received for this instance: the IP payload and what the IP layer knew.
    /// A bad packet is counted and reported as [`Event::PacketDropped`]; it never fails.
    pub fn handle_packet(&mut self, now: Instant, rx: &RxInfo, bytes: &[u8]) {
        if matches!(self.state, State::Initialize | State::Stopped) {
            return;
        }
        self.stats.rcvd_advertisements += 1;
        match self.check_packet(rx, bytes) {
            Ok(repr) => self.process_advert(now, rx.source, &repr),
            Err(reason) => self.drop_packet(rx.source, reason),
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        for timer in Timer::ALL {
            match self.timers.get(timer) {
                Some(at) if at <= now => self.fire(now, timer, at),
                _ => {}
            }
        }
    }

    /// Applies a command.
    pub fn handle_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Start => {
                if self.state != State::Initialize && self.state != State::Stopped {
                    return;
                }
                self.state = State::Initialize;
                if self.config.startup_delay.is_zero() {
                    self.startup(now);
                } else {
                    self.timers
                        .set(Timer::Startup, now + self.config.startup_delay);
                }
            }
            Command::Shutdown => {
                if self.state == State::Master {
                    self.send_advert(0);
                }
                self.timers.stop_all();
                self.change_state(now, State::Stopped, TransitionReason::Shutdown);
                self.master_address = None;
                self.master_priority = None;
            }
            Command::SetPriorityAdjustment(adjustment) => {
                self.priority_adjustment = adjustment;
                self.update_priority();
            }
            Command::SetPriority(priority) => {
                if priority != 0 {
                    self.config.priority = priority;
                    self.update_priority();
                }
            }
            Command::EnterFault(cause) => {
                self.faults |= cause.bit();
                if matches!(self.state, State::Backup | State::Master) {
                    self.enter_fault(now, cause);
                }
            }
            Command::LeaveFault(cause) => {
                self.faults &= !cause.bit();
                if self.faults == 0 && self.state == State::Fault {
                    self.leave_fault(now);
                }
            }
            Command::ForceMaster => {
                if self.state == State::Backup {
                    let reason = self.wants_master.unwrap_or(TransitionReason::SyncGroup);
                    self.become_master(now, reason);
                }
            }
            Command::ForceBackup => {
                if self.state == State::Master {
                    self.become_backup(now, TransitionReason::SyncGroup);
                }
            }
            Command::HoldMaster(hold) => {
                self.hold_master = hold;
                if !hold {
                    self.wants_master = None;
                }
            }
        }
    }

    // ----- outputs -----

    /// Writes the next packet to send into `buf`, or asks for gratuitous ARPs / NAs.
    pub fn poll_transmit(&mut self, buf: &mut [u8; TRANSMIT_BUFFER_LEN]) -> Option<Transmit> {
        let pending = self.transmits.front()?;
        match pending {
            Pending::Gratuitous { repeat } => {
                self.transmits.pop();
                Some(Transmit::Gratuitous { repeat })
            }
            Pending::Advert { priority } => {
                let destination = if self.config.unicast_peers.is_empty() {
                    self.transmits.pop();
                    self.config.multicast_destination()
                } else {
                    let peer = self.config.unicast_peers[self.peer_cursor].address;
                    self.peer_cursor += 1;
                    if self.peer_cursor == self.config.unicast_peers.len() {
                        self.peer_cursor = 0;
                        self.transmits.pop();
                    }
                    peer
                };
                let ctx = self.checksum_context(self.config.primary_address, destination);
                let repr = self.advert_repr(priority);
                // Cannot fail: the configuration was validated and the buffer fits any advert.
                let len = repr.emit_into(&mut buf[..], &ctx).ok()?;
                self.stats.sent_advertisements += 1;
                Some(Transmit::Advertisement {
                    source: self.config.primary_address,
                    destination,
                    len,
                    priority,
                })
            }
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }

    /// When [`handle_timeout`](Instance::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- receive path -----

    fn checksum_context(&self, src: IpAddr, dst: IpAddr) -> ChecksumContext {
        ChecksumContext {
            src,
            dst,
            v3_ipv4_pseudo_header: !self.config.v3_checksum_as_v2,
        }
    }

    /// RFC 5798 section 7.1 (RFC 3768 section 7.1 for v2), in the RFC's order, with
    /// keepalived's rules for unicast: no TTL 255 requirement (unicast adverts may cross
    /// routers), and the source and its TTL range checked only with `check_unicast_src`.
    fn check_packet<'a>(&mut self, rx: &RxInfo, bytes: &'a [u8]) -> Result<Repr<'a>, DropReason> {
        let unicast = self.config.is_unicast();
        if !unicast && rx.ttl != REQUIRED_TTL {
            self.stats.ip_ttl_errors += 1;
            self.stats.proto_err_reason = ProtocolErrorReason::IpTtlError;
            return Err(DropReason::Ttl { received: rx.ttl });
        }
        let packet = Packet::new_checked(bytes).map_err(|e| self.malformed(e))?;
        let expected = self.config.version.number();
        if packet.version_number() != expected {
            self.stats.version_errors += 1;
            self.stats.proto_err_reason = ProtocolErrorReason::VersionError;
            return Err(DropReason::Version {
                received: packet.version_number(),
                expected,
            });
        }
        let ctx = self.checksum_context(rx.source, rx.destination);
        let repr = Repr::parse(&packet, &ctx).map_err(|e| self.malformed(e))?;
        if repr.vrid != self.config.vrid {
            self.stats.vrid_errors += 1;
            self.stats.proto_err_reason = ProtocolErrorReason::VrIdError;
            return Err(DropReason::Vrid {
                received: repr.vrid,
            });
        }
        if repr.family != self.config.family() {
            self.stats.packet_length_errors += 1;
            return Err(DropReason::Malformed(Error::AddressFamilyMismatch));
        }
        // An unknown destination (no IPV6_PKTINFO) is not held against the advert.
        let multicast = rx.destination.is_multicast();
        if !rx.destination.is_unspecified() && multicast == unicast {
            self.stats.address_list_errors += 1;
            return Err(DropReason::UnexpectedDestination { multicast });
        }
        if unicast && self.config.check_unicast_src {
            let Some(peer) = self
                .config
                .unicast_peers
                .iter()
                .find(|p| p.address == rx.source)
            else {
                self.stats.unknown_peer += 1;
                return Err(DropReason::UnknownPeer);
            };
            if !(peer.min_ttl..=peer.max_ttl).contains(&rx.ttl) {
                self.stats.ip_ttl_errors += 1;
                self.stats.proto_err_reason = ProtocolErrorReason::IpTtlError;
                return Err(DropReason::TtlOutOfRange {
                    received: rx.ttl,
                    min: peer.min_ttl,
                    max: peer.max_ttl,
                });
            }
        }
        if self.config.version == Version::V2 {
            self.check_authentication(&repr)?;
            let configured = self.config.advert_interval;
            let received = repr.interval();
            if received != configured {
                self.stats.adv_interval_errors += 1;
                return Err(DropReason::Interval {
                    received,
                    configured,
                });
            }
        }
        // keepalived checks the list of a backup's current master only without
        // skip_check_adv_addr.
        let followed_master = self.config.skip_check_adv_addr
            && self.state == State::Backup
            && self.master_address == Some(rx.source);
        if !followed_master {
            self.check_addresses(rx.source, &repr)?;
        }
        if self.is_address_owner() {
            self.stats.owner_discards += 1;
            return Err(DropReason::AddressOwner);
        }
        Ok(repr)
    }

    fn malformed(&mut self, error: Error) -> DropReason {
        match error {
            Error::Checksum {
                other_form_matches, ..
            } => {
                self.stats.checksum_errors += 1;
                self.stats.proto_err_reason = ProtocolErrorReason::ChecksumError;
                return DropReason::Checksum { other_form_matches };
            }
            Error::PacketType { .. } => self.stats.rcvd_invalid_type_packets += 1,
            _ => self.stats.packet_length_errors += 1,
        }
        DropReason::Malformed(error)
    }

    fn check_authentication(&mut self, repr: &Repr<'_>) -> Result<(), DropReason> {
        let expected = match self.config.authentication {
            Authentication::None => AuthType::None,
            Authentication::Password(_) => AuthType::SimplePassword,
        };
        match repr.auth_type {
            AuthType::IpAh => {
                self.stats.ip_ah_auth += 1;
                Err(DropReason::IpAh)
            }
            AuthType::Unknown(received) => {
                self.stats.invalid_auth_type += 1;
                Err(DropReason::InvalidAuthType { received })
            }
            received if received != expected => {
                self.stats.auth_type_mismatch += 1;
                Err(DropReason::AuthTypeMismatch { received, expected })
            }
            _ => match self.config.authentication {
                Authentication::Password(password) if repr.auth_data != password => {
                    self.stats.auth_failures += 1;
                    Err(DropReason::AuthFailure)
                }
                _ => Ok(()),
            },
        }
    }

    /// v2 (RFC 3768): a mismatched list is dropped unless the sender owns the addresses.
    /// v3 (RFC 5798): a mismatch is logged and counted, and the advert is processed.
    fn check_addresses(&mut self, from: IpAddr, repr: &Repr<'_>) -> Result<(), DropReason> {
        let alen = self.config.family().address_len();
        let expected = (self.address_bytes.len() / alen) as u8;
        let received = repr.address_count() as u8;
        let missing = self
            .address_bytes
            .chunks_exact(alen)
            .find(|ours| {
                !repr
                    .addresses
                    .chunks_exact(alen)
                    .any(|theirs| theirs == *ours)
            })
            .map(wire::address_from_bytes);
        if received == expected && missing.is_none() {
            return Ok(());
        }
        self.stats.address_list_errors += 1;
        match self.config.version {
            Version::V2 if repr.priority != 255 => Err(if received != expected {
                DropReason::AddressCount { received, expected }
            } else {
                DropReason::AddressMissing {
                    vrid: self.config.vrid,
                    address: missing.unwrap_or(from),
                }
            }),
            _ => {
                self.push_event(Event::AddressListMismatch {
                    from,
                    received,
                    expected,
                    missing,
                });
                Ok(())
            }
        }
    }

    fn drop_packet(&mut self, from: IpAddr, reason: DropReason) {
        self.push_event(Event::PacketDropped { from, reason });
    }

    /// RFC 5798 sections 6.4.2 and 6.4.3, for an advert that passed the receive checks.
    fn process_advert(&mut self, now: Instant, from: IpAddr, repr: &Repr<'_>) {
        if repr.priority == 0 {
            self.stats.rcvd_pri_zero_packets += 1;
        }
        match self.state {
            State::Backup => self.backup_receive(now, from, repr),
            State::Master => self.master_receive(now, from, repr),
            _ => {}
        }
    }

    fn backup_receive(&mut self, now: Instant, from: IpAddr, repr: &Repr<'_>) {
        if repr.priority == 0 {
            self.timers.set(Timer::MasterDown, now + self.skew_time);
            self.master_stopped = true;
            return;
        }
        let lower = repr.priority < self.effective_priority;
        let accept = if !self.config.preempt || !lower {
            true
        } else if self.config.preempt_delay.is_zero() {
            false
        } else {
            // keepalived's preempt_delay: follow a lower-priority master for a while after
            // startup or after first seeing it.
            let deadline = *self
                .preempt_deadline
                .get_or_insert(now + self.config.preempt_delay);
            now < deadline
        };
        if !accept {
            self.discarded_lower_priority = true;
            return;
        }
        if !lower {
            self.preempt_deadline = None;
        }
        if self.config.version == Version::V3 {
            let interval = interval_from_field(Version::V3, repr.max_advert_interval);
            if interval != self.master_adver_interval && !interval.is_zero() {
                self.push_event(Event::MasterIntervalChanged {
                    from: self.master_adver_interval,
                    to: interval,
                });
                self.set_master_adver_interval(interval);
            }
        }
        if self.master_address != Some(from) || self.master_priority != Some(repr.priority) {
            self.push_event(Event::MasterSeen {
                address: from,
                priority: repr.priority,
            });
        }
        self.master_address = Some(from);
        self.master_priority = Some(repr.priority);
        self.discarded_lower_priority = false;
        self.master_stopped = false;
        // A master is heard: a held member no longer wants to take over.
        self.wants_master = None;
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval);
    }

    fn master_receive(&mut self, now: Instant, from: IpAddr, repr: &Repr<'_>) {
        if repr.priority == 0 {
            self.send_advert(self.effective_priority);
            self.timers
                .set(Timer::Advert, now + self.config.advert_interval);
            return;
        }
        let ours = self.effective_priority;
        let higher =
            repr.priority > ours || (repr.priority == ours && from > self.config.primary_address);
        if higher {
            if self.config.higher_prio_send_advert {
                self.send_advert(ours);
            }
            if self.config.version == Version::V3 {
                let interval = interval_from_field(Version::V3, repr.max_advert_interval);
                if !interval.is_zero() {
                    self.set_master_adver_interval(interval);
                }
            }
            self.become_backup(
                now,
                TransitionReason::HigherPriorityAdvert {
                    from,
                    priority: repr.priority,
                },
            );
            self.master_address = Some(from);
            self.master_priority = Some(repr.priority);
        } else {
            // A lower priority master: the other side of a healed partition, or a restarted
            // peer. keepalived answers at once so it steps down without waiting for our timer.
            self.push_event(Event::LowerPriorityAdvert {
                from,
                priority: repr.priority,
            });
            if !self.config.lower_prio_no_advert {
                self.send_advert(ours);
            }
            if let Some(repeat) = self.config.garp.lower_prio_repeat {
                self.request_gratuitous(repeat);
                if !self.config.garp.lower_prio_delay.is_zero() {
                    self.timers.set(
                        Timer::GarpLowerPrio,
                        now + self.config.garp.lower_prio_delay,
                    );
                }
            }
        }
    }

    // ----- timers -----

    fn fire(&mut self, now: Instant, timer: Timer, deadline: Instant) {
        self.timers.stop(timer);
        match timer {
            Timer::Startup => self.startup(now),
            Timer::MasterDown => {
                if self.state == State::Backup {
                    let reason = if self.master_stopped {
                        TransitionReason::MasterStopped
                    } else if self.discarded_lower_priority {
                        TransitionReason::Preempted
                    } else {
                        TransitionReason::MasterDown
                    };
                    if self.hold_master {
                        // keepalived re-arms the timer while the group is not ready.
                        self.wants_master = Some(reason);
                        self.timers
                            .set(Timer::MasterDown, now + self.master_down_interval);
                    } else {
                        self.become_master(now, reason);
                    }
                }
            }
            Timer::Advert => {
                if self.state == State::Master {
                    self.send_advert(self.effective_priority);
                    // Schedule from the deadline, not from `now`, so late wake-ups do not
                    // accumulate into drift.
                    let interval = self.config.advert_interval;
                    let next = deadline + interval;
                    self.timers.set(
                        Timer::Advert,
                        if next > now { next } else { now + interval },
                    );
                }
            }
            Timer::GarpMasterDelay => {
                if self.state == State::Master {
                    self.request_gratuitous(self.config.garp.master_repeat);
                }
            }
            Timer::GarpRefresh => {
                if let (State::Master, Some(period)) = (self.state, self.config.garp.master_refresh)
                {
                    self.request_gratuitous(self.config.garp.master_refresh_repeat);
                    self.timers.set(Timer::GarpRefresh, now + period);
                }
            }
            Timer::GarpLowerPrio => {
                if let (State::Master, Some(repeat)) =
                    (self.state, self.config.garp.lower_prio_repeat)
                {
                    self.request_gratuitous(repeat);
                }
            }
        }
    }

    // ----- transitions -----

    /// The RFC's Startup event.
    fn startup(&mut self, now: Instant) {
        self.set_master_adver_interval(self.config.advert_interval);
        if !self.config.preempt_delay.is_zero() {
            self.preempt_deadline = Some(now + self.config.preempt_delay);
        }
        if self.faults != 0 {
            let cause = self
                .fault_causes()
                .next()
                .unwrap_or(FaultCause::Administrative);
            self.change_state(now, State::Fault, TransitionReason::Fault(cause));
        } else if self.is_address_owner() {
            self.become_master(now, TransitionReason::AddressOwner);
        } else {
            self.become_backup(now, TransitionReason::Startup);
        }
    }

    fn become_master(&mut self, now: Instant, reason: TransitionReason) {
        self.timers.stop(Timer::MasterDown);
        self.send_advert(self.effective_priority);
        let garp = self.config.garp;
        self.request_gratuitous(garp.master_repeat);
        if !garp.master_delay.is_zero() && garp.master_repeat > 0 {
            self.timers
                .set(Timer::GarpMasterDelay, now + garp.master_delay);
        }
        if let Some(period) = garp.master_refresh {
            self.timers.set(Timer::GarpRefresh, now + period);
        }
        self.set_master_adver_interval(self.config.advert_interval);
        self.timers
            .set(Timer::Advert, now + self.config.advert_interval);
        self.master_address = Some(self.config.primary_address);
        self.master_priority = Some(self.effective_priority);
        self.preempt_deadline = None;
        self.discarded_lower_priority = false;
        self.master_stopped = false;
        self.stats.master_transitions += 1;
        self.stats.new_master_reason = match reason {
            TransitionReason::AddressOwner => NewMasterReason::Priority,
            TransitionReason::Preempted => NewMasterReason::Preempted,
            _ => NewMasterReason::MasterNoResponse,
        };
        self.change_state(now, State::Master, reason);
    }

    fn become_backup(&mut self, now: Instant, reason: TransitionReason) {
        self.stop_master_timers();
        self.master_address = None;
        self.master_priority = None;
        self.discarded_lower_priority = false;
        self.master_stopped = false;
        self.change_state(now, State::Backup, reason);
        self.timers
            .set(Timer::MasterDown, now + self.master_down_interval);
    }

    fn enter_fault(&mut self, now: Instant, cause: FaultCause) {
        if self.state == State::Master {
            // As keepalived: tell the backups at once rather than make them wait.
            self.send_advert(0);
        }
        self.timers.stop_all();
        self.master_address = None;
        self.master_priority = None;
        self.change_state(now, State::Fault, TransitionReason::Fault(cause));
    }

    fn leave_fault(&mut self, now: Instant) {
        self.set_master_adver_interval(self.config.advert_interval);
        if self.is_address_owner() {
            self.become_master(now, TransitionReason::FaultCleared);
        } else {
            self.become_backup(now, TransitionReason::FaultCleared);
        }
    }

    fn stop_master_timers(&mut self) {
        for timer in [
            Timer::Advert,
            Timer::GarpMasterDelay,
            Timer::GarpRefresh,
            Timer::GarpLowerPrio,
        ] {
            self.timers.stop(timer);
        }
    }

    fn change_state(&mut self, now: Instant, to: State, reason: TransitionReason) {
        let from = self.state;
        self.state = to;
        self.wants_master = None;
        if from == to {
            return;
        }
        let transition = Transition {
            at: now,
            from,
            to,
            reason,
        };
        self.last_transition = Some(transition);
        self.push_event(Event::StateChanged(transition));
    }

    fn update_priority(&mut self) {
        let before = self.effective_priority;
        self.effective_priority = if self.config.priority == 255 {
            255
        } else {
            (i32::from(self.config.priority) + self.priority_adjustment).clamp(1, 254) as u8
        };
        if before != self.effective_priority {
            self.set_master_adver_interval(self.master_adver_interval);
            self.push_event(Event::PriorityChanged {
                from: before,
                to: self.effective_priority,
            });
            if self.state == State::Master {
                // Let backups see the new priority now rather than at the next advert.
                self.send_advert(self.effective_priority);
                self.master_priority = Some(self.effective_priority);
            }
        }
    }

    /// Sets Master_Adver_Interval and recomputes the timings derived from it.
    fn set_master_adver_interval(&mut self, interval: Duration) {
        self.master_adver_interval = interval;
        let (skew_unit, down_unit) = match self.config.version {
            // RFC 3768: the skew is in seconds whatever the interval, and the down interval
            // uses our own configured interval.
            Version::V2 => (Duration::from_secs(1), self.config.advert_interval),
            Version::V3 => (interval, interval),
        };
        let nanos = (256 - u128::from(self.effective_priority)) * skew_unit.as_nanos() / 256;
        self.skew_time = Duration::from_nanos(nanos as u64);
        self.master_down_interval =
            down_unit * u32::from(self.config.down_timer_adverts) + self.skew_time;
    }

    // ----- output helpers -----

    fn advert_repr(&self, priority: u8) -> Repr<'_> {
        let (auth_type, auth_data) = match self.config.authentication {
            Authentication::None => (AuthType::None, [0; 8]),
            Authentication::Password(p) => (AuthType::SimplePassword, p),
        };
        Repr {
            version: self.config.version,
            vrid: self.config.vrid,
            priority,
            max_advert_interval: self.config.advert_interval_field(),
            auth_type,
            auth_data,
            family: self.config.family(),
            addresses: &self.address_bytes,
        }
    }

    fn send_advert(&mut self, priority: u8) {
        let item = Pending::Advert { priority };
        // One queued advert per priority is enough: it carries the same content.
        if self.transmits.iter().any(|p| p == item) {
            return;
        }
        if priority == 0 {
            self.stats.sent_pri_zero_packets += 1;
        }
        self.transmits.push(item);
    }

    fn request_gratuitous(&mut self, repeat: u8) {
        if repeat == 0 {
            return;
        }
        self.stats.garp_bursts += 1;
        self.transmits.push(Pending::Gratuitous { repeat });
    }

    fn push_event(&mut self, event: Event) {
        if self.events.push(event) {
            self.stats.events_lost += 1;
        }
    }
}
