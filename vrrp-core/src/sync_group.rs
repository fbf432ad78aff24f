//! keepalived's `vrrp_sync_group`: instances that change state together.

use alloc::vec::Vec;

use crate::event::State;
use crate::event::{Event, FaultCause};
use crate::instance::{Command, Instance, RxInfo, Transmit, TRANSMIT_BUFFER_LEN};
use crate::Instant;

/// Members move together: when one becomes master the others do, when one falls back to
/// backup the others do, and while any member has a fault of its own every other member is in
/// fault too ([`FaultCause::SyncGroup`]).
///
/// Inputs and outputs are those of [`Instance`], with the member's index.
#[derive(Debug, Clone)]
pub struct SyncGroup {
    members: Vec<Instance>,
    /// Each member's state when the group last synchronised.
    seen: Vec<State>,
    /// Round-robin position for draining outputs fairly.
    cursor: usize,
}

impl SyncGroup {
    pub fn new(members: Vec<Instance>) -> SyncGroup {
        let seen = members.iter().map(Instance::state).collect();
        SyncGroup {
            members,
            seen,
            cursor: 0,
        }
    }

    pub fn members(&self) -> &[Instance] {
        &self.members
    }

    pub fn member(&self, index: usize) -> Option<&Instance> {
        self.members.get(index)
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

    /// Propagates state changes until the group is consistent.
    fn synchronise(&mut self, now: Instant) {
        // Each pass can only move members towards one common state, so a few passes settle.
        for _ in 0..=self.members.len() {
            let own_fault = self
                .members
                .iter()
                .any(|m| m.fault_causes().any(|c| c != FaultCause::SyncGroup));
            let became_master = (0..self.members.len())
                .any(|i| self.members[i].state() == State::Master && self.seen[i] != State::Master);
            let left_master = (0..self.members.len())
                .any(|i| self.members[i].state() == State::Backup && self.seen[i] == State::Master);
            for (i, m) in self.members.iter().enumerate() {
                self.seen[i] = m.state();
            }
            let mut changed = false;
            for m in &mut self.members {
                let before = m.state();
                let has_group_fault = m.fault_causes().any(|c| c == FaultCause::SyncGroup);
                let has_own_fault = m.fault_causes().any(|c| c != FaultCause::SyncGroup);
                if own_fault && !has_own_fault && !has_group_fault {
                    m.handle_command(now, Command::EnterFault(FaultCause::SyncGroup));
                } else if !own_fault && has_group_fault {
                    m.handle_command(now, Command::LeaveFault(FaultCause::SyncGroup));
                } else if !own_fault && became_master && before == State::Backup {
                    m.handle_command(now, Command::ForceMaster);
                } else if !own_fault && left_master && before == State::Master && !became_master {
                    m.handle_command(now, Command::ForceBackup);
                }
                changed |= m.state() != before;
            }
            if !changed {
                break;
            }
        }
    }
}
