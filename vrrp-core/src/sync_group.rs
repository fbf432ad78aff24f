//! keepalived's `vrrp_sync_group`: instances that change state together.
//!
//! The rules are keepalived's (`vrrp_sync.c`, `vrrp_scheduler.c`):
//! - a member in FAULT of its own puts every other member in FAULT ([`FaultCause::SyncGroup`];
//!   a master among them sends its priority-0 advert), and the group is FAULT until no member
//!   has a fault of its own, when they all go back to BACKUP;
//! - a master that falls back to BACKUP (a higher-priority advert) takes the other masters
//!   with it;
//! - a member becomes MASTER only when the group is MASTER already or when every other member
//!   wants to be master too (its master-down timer ran out: it hears no master), which
//!   prefers BACKUP to thrashing; it then takes every other member with it. Members are held
//!   with [`Command::HoldMaster`] for this.
//!
//! [`GroupSync`] keeps a group's state over members owned by someone else (the director's
//! runner owns them with their sockets); [`SyncGroup`] owns its members (simulator, tests).

use alloc::vec::Vec;

use crate::event::State;
use crate::event::{Event, FaultCause};
use crate::instance::{Command, Instance, RxInfo, Transmit, TRANSMIT_BUFFER_LEN};
use crate::Instant;

/// The members of a group, wherever they live.
pub trait GroupMembers {
    fn count(&self) -> usize;
    fn member(&mut self, k: usize) -> &mut Instance;
}

impl GroupMembers for [Instance] {
    fn count(&self) -> usize {
        self.len()
    }
    fn member(&mut self, k: usize) -> &mut Instance {
        &mut self[k]
    }
}

/// A group's state and what it last saw of its members.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSync {
    state: State,
    /// Each member's state when the group last synchronised.
    seen: Vec<State>,
}

impl Default for GroupSync {
    /// A group of no members.
    fn default() -> GroupSync {
        GroupSync {
            state: State::Initialize,
            seen: Vec::new(),
        }
    }
}

impl GroupSync {
    /// A group of `members`, in their current states; each is held
    /// ([`Command::HoldMaster`]).
    pub fn new<M: GroupMembers + ?Sized>(now: Instant, members: &mut M) -> GroupSync {
        let n = members.count();
        let mut seen = Vec::with_capacity(n);
        for k in 0..n {
            let m = members.member(k);
            m.handle_command(now, Command::HoldMaster(true));
            seen.push(m.state());
        }
        GroupSync {
            state: State::Initialize,
            seen,
        }
    }

    /// The group's state: FAULT while a member has a fault of its own, MASTER while its
    /// members are master, BACKUP otherwise (INIT before the members start).
    pub fn state(&self) -> State {
        self.state
    }

    /// Propagates state changes until the group is consistent. Call after every input to any
    /// member, before draining the members' outputs.
    pub fn synchronise<M: GroupMembers + ?Sized>(&mut self, now: Instant, members: &mut M) {
        let n = members.count().min(self.seen.len());
        // Each pass moves members towards one common state, so a few passes settle.
        for _ in 0..=n {
            let mut own_fault = false;
            let mut running = false;
            let mut became_master = false;
            let mut left_master = false;
            let mut any_master = false;
            let mut all_want = true;
            let mut any_wants = false;
            for k in 0..n {
                let m = members.member(k);
                let state = m.state();
                own_fault |= m.fault_causes().any(|c| c != FaultCause::SyncGroup);
                running |= matches!(state, State::Backup | State::Master | State::Fault);
                became_master |= state == State::Master && self.seen[k] != State::Master;
                left_master |= state == State::Backup && self.seen[k] == State::Master;
                any_master |= state == State::Master;
                any_wants |= m.wants_master();
                all_want &= state == State::Master || m.wants_master();
                self.seen[k] = state;
            }
            let mut changed = false;
            let mut apply = |members: &mut M, pick: &dyn Fn(&Instance) -> Option<Command>| {
                for k in 0..n {
                    let m = members.member(k);
                    if let Some(command) = pick(m) {
                        let before = m.state();
                        m.handle_command(now, command);
                        changed |= m.state() != before;
                    }
                }
            };
            if own_fault {
                self.state = State::Fault;
                apply(members, &|m| {
                    let faulted = m.fault_causes().next().is_some();
                    (!faulted).then_some(Command::EnterFault(FaultCause::SyncGroup))
                });
            } else {
                apply(members, &|m| {
                    m.fault_causes()
                        .any(|c| c == FaultCause::SyncGroup)
                        .then_some(Command::LeaveFault(FaultCause::SyncGroup))
                });
                if became_master {
                    self.state = State::Master;
                    apply(members, &|m| {
                        (m.state() == State::Backup).then_some(Command::ForceMaster)
                    });
                } else if left_master {
                    self.state = State::Backup;
                    apply(members, &|m| {
                        (m.state() == State::Master).then_some(Command::ForceBackup)
                    });
                } else if any_wants && (self.state == State::Master || all_want) {
                    self.state = State::Master;
                    apply(members, &|m| {
                        (m.state() == State::Backup).then_some(Command::ForceMaster)
                    });
                } else if any_master {
                    self.state = State::Master;
                } else if running {
                    self.state = State::Backup;
                } else if n > 0 && self.seen.iter().all(|s| *s == State::Stopped) {
                    self.state = State::Stopped;
                }
            }
            if !changed {
                break;
            }
        }
    }
}

/// Members move together: see the module documentation.
///
/// Inputs and outputs are those of [`Instance`], with the member's index.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    members: Vec<Instance>,
    sync: GroupSync,
    /// Round-robin position for draining outputs fairly.
    cursor: usize,
}

impl SyncGroup {
    pub fn new(mut members: Vec<Instance>) -> SyncGroup {
        let sync = GroupSync::new(Instant::ZERO, members.as_mut_slice());
        SyncGroup {
            members,
            sync,
            cursor: 0,
        }
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    pub fn member(&self, index: usize) -> Option<&Instance> {
        self.members.get(index)
    }

    /// The group's state (see [`GroupSync::state`]).
    pub fn state(&self) -> State {
        self.sync.state()
    }

    /// Feeds a packet to member `index` (ignored when out of range).
    pub fn handle_packet(&mut self, now: Instant, index: usize, rx: &RxInfo, bytes: &[u8]) {
        if let Some(m) = self.members.get_mut(index) {
            m.handle_packet(now, rx, bytes);
            self.synchronise(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        for m in &mut self.members {
            m.handle_timeout(now);
        }
        self.synchronise(now);
    }

    /// A command for one member.
    pub fn handle_command(&mut self, now: Instant, index: usize, command: Command) {
        if let Some(m) = self.members.get_mut(index) {
            m.handle_command(now, command);
            self.synchronise(now);
        }
    }

    /// A command for every member (start, shutdown).
    pub fn handle_command_all(&mut self, now: Instant, command: Command) {
        for m in &mut self.members {
            m.handle_command(now, command);
        }
        self.synchronise(now);
    }

    pub fn poll_transmit(
        &mut self,
        buf: &mut [u8; TRANSMIT_BUFFER_LEN],
    ) -> Option<(usize, Transmit)> {
        let n = self.members.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            if let Some(t) = self.members[i].poll_transmit(buf) {
                self.cursor = (i + 1) % n;
                return Some((i, t));
            }
        }
        None
    }

    pub fn poll_event(&mut self) -> Option<(usize, Event)> {
        self.members
            .iter_mut()
            .enumerate()
            .find_map(|(i, m)| m.poll_event().map(|e| (i, e)))
    }

    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.members.iter().filter_map(Instance::poll_timeout).min()
    }

    fn synchronise(&mut self, now: Instant) {
        self.sync.synchronise(now, self.members.as_mut_slice());
    }
}
