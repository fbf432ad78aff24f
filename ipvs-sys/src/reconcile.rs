//! From the table the kernel has to the table it should have, in the fewest safe steps.
//!
//! Order: each new or changed service, immediately followed by its new and changed
//! destinations; then destinations to remove from services that stay; then services to
//! remove. Changed objects are edited in place (SET), never deleted and re-added, so their
//! connections survive. Planning against the result of applying a plan yields no operations.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::model::{Destination, IpvsState, ServiceKey};
use crate::ops::Op;

/// The ordered operations that turn one table into another.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub ops: Vec<Op>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// One line per operation, `+` add, `~` edit in place, `-` delete, each followed by the
/// equivalent ipvsadm command, e.g. `+ -a -t 10.0.0.1:80 -r 10.0.0.2:80 -g -w 1`.
impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for op in &self.ops {
            let sign = match op {
                Op::AddService(_) | Op::AddDest(..) | Op::StartDaemon(_) => '+',
                Op::EditService(_) | Op::EditDest(..) | Op::SetTimeouts(_) | Op::Zero(_) => '~',
                Op::DeleteService(_) | Op::DeleteDest(..) | Op::Flush | Op::StopDaemon(_) => '-',
            };
            writeln!(f, "{sign} {}", crate::ipvsadm::command_line(op))?;
        }
        Ok(())
    }
}

/// Finds the destination with `addr` in `list`, looking first at `hint` (tables usually list
/// destinations in the same order), then scanning short lists, then through `index`.
fn find_dest<'a>(
    list: &'a [Destination],
    hint: usize,
    addr: SocketAddr,
    index: &mut Option<HashMap<SocketAddr, usize>>,
) -> Option<&'a Destination> {
    if let Some(d) = list.get(hint).filter(|d| d.addr == addr) {
        return Some(d);
    }
    if list.len() <= 32 {
        return list.iter().find(|d| d.addr == addr);
    }
    let index =
        index.get_or_insert_with(|| list.iter().enumerate().map(|(i, d)| (d.addr, i)).collect());
    index.get(&addr).map(|&i| &list[i])
}

/// The operations that make `current` equal `desired` (counters ignored).
pub fn plan(desired: &IpvsState, current: &IpvsState) -> Plan {
    let current_by_key: HashMap<&ServiceKey, usize> = current
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (&s.service.key, i))
        .collect();
    let mut ops = Vec::new();
    let mut dest_deletions = Vec::new();
    let mut kept = vec![false; current.services.len()];

    for (position, want) in desired.services.iter().enumerate() {
        let key = want.service.key;
        let index = match current.services.get(position) {
            Some(c) if c.service.key == key => Some(position),
            _ => current_by_key.get(&key).copied(),
        };
        let Some(index) = index else {
            ops.push(Op::AddService(want.service.clone()));
            ops.extend(
                want.destinations
                    .iter()
                    .map(|d| Op::AddDest(key, d.clone())),
            );
            continue;
        };
        kept[index] = true;
        let have = &current.services[index];
        if !want.service.same_config(&have.service) {
            ops.push(Op::EditService(want.service.clone()));
        }
        let mut have_index = None;
        for (i, d) in want.destinations.iter().enumerate() {
            match find_dest(&have.destinations, i, d.addr, &mut have_index) {
                None => ops.push(Op::AddDest(key, d.clone())),
                Some(h) if !d.same_config(h) => ops.push(Op::EditDest(key, d.clone())),
                Some(_) => {}
            }
        }
        let mut want_index = None;
        for (i, h) in have.destinations.iter().enumerate() {
            if find_dest(&want.destinations, i, h.addr, &mut want_index).is_none() {
                dest_deletions.push(Op::DeleteDest(key, h.addr));
            }
        }
    }
    ops.extend(dest_deletions);
    ops.extend(
        current
            .services
            .iter()
            .zip(&kept)
            .filter(|(_, kept)| !**kept)
            .map(|(s, _)| Op::DeleteService(s.service.key)),
    );
    Plan { ops }
}

/// Remembers what the kernel's table is known to hold, so that a steady-state reconcile
/// plans against memory instead of dumping every destination (the kernel's dump costs more
/// per destination than adding it). Used with [`crate::Ipvs::reconcile`].
///
/// The first reconcile, and the first after [`Reconciler::forget`] or after any refused
/// operation, reads the kernel's table. Changes made behind this process's back (ipvsadm by
/// hand) are seen at the next read: call `forget` periodically to bound that.
#[derive(Clone, Debug, Default)]
pub struct Reconciler {
    known: Option<IpvsState>,
    read_at: Option<Instant>,
    max_age: Option<Duration>,
}

impl Reconciler {
    pub fn new() -> Self {
        Reconciler::default()
    }

    /// Re-reads the kernel's table when what is known was read longer than `max_age` ago,
    /// so changes made behind this process's back are undone within that time.
    pub fn with_max_age(max_age: Duration) -> Self {
        Reconciler {
            max_age: Some(max_age),
            ..Reconciler::default()
        }
    }

    /// Makes the next reconcile read the kernel's table again.
    pub fn forget(&mut self) {
        self.known = None;
        self.read_at = None;
    }

    /// The table the kernel is known to hold, if known.
    pub fn known(&self) -> Option<&IpvsState> {
        self.known.as_ref()
    }

    /// Whether a reconcile at `now` must read the kernel's table first.
    pub fn needs_read(&self, now: Instant) -> bool {
        match (&self.known, self.read_at, self.max_age) {
            (None, _, _) => true,
            (Some(_), Some(at), Some(max)) => now.saturating_duration_since(at) >= max,
            (Some(_), _, _) => false,
        }
    }

    /// Sets the known table as read from the kernel at `now`.
    pub fn set_read(&mut self, state: IpvsState, now: Instant) {
        self.known = Some(state);
        self.read_at = Some(now);
    }

    /// Sets the known table, e.g. right after reading it from the kernel.
    pub fn set_known(&mut self, state: IpvsState) {
        self.set_read(state, Instant::now());
    }

    /// Records the outcome of applying `ops`: each accepted operation updates the known
    /// table; if any was refused or its outcome is unknown, the table is forgotten.
    pub fn record(&mut self, ops: &[Op], results: &[Result<(), crate::Error>]) {
        if results.iter().any(|r| r.is_err()) {
            self.known = None;
            return;
        }
        if let Some(state) = &mut self.known {
            for op in ops {
                if !apply_to(state, op) {
                    self.known = None;
                    return;
                }
            }
        }
    }
}

/// Applies an accepted operation to a table, as the kernel did; `false` if the table cannot
/// say what the operation did (so it should be re-read).
pub fn apply_to(state: &mut IpvsState, op: &Op) -> bool {
    use crate::model::VirtualService;
    let index = |state: &IpvsState, key: &ServiceKey| {
        state.services.iter().position(|s| s.service.key == *key)
    };
    match op {
        Op::AddService(s) => {
            if index(state, &s.key).is_some() {
                return false;
            }
            let mut service = s.clone();
            service.stats = None;
            state.services.push(VirtualService {
                service,
                destinations: Vec::new(),
            });
        }
        Op::EditService(s) => match index(state, &s.key) {
            Some(i) => {
                let stats = state.services[i].service.stats;
                state.services[i].service = s.clone();
                state.services[i].service.stats = stats;
            }
            None => return false,
        },
        Op::DeleteService(k) => match index(state, k) {
            Some(i) => {
                state.services.remove(i);
            }
            None => return false,
        },
        Op::AddDest(k, d) | Op::EditDest(k, d) => {
            let Some(i) = index(state, k) else {
                return false;
            };
            let dests = &mut state.services[i].destinations;
            match (dests.iter_mut().find(|x| x.addr == d.addr), op) {
                (None, Op::AddDest(..)) => {
                    let mut d = d.clone();
                    d.counters = Default::default();
                    d.stats = None;
                    dests.push(d);
                }
                (Some(x), Op::EditDest(..)) => {
                    let (counters, stats) = (x.counters, x.stats);
                    *x = d.clone();
                    x.counters = counters;
                    x.stats = stats;
                }
                _ => return false,
            }
        }
        Op::DeleteDest(k, a) => {
            let Some(i) = index(state, k) else {
                return false;
            };
            let dests = &mut state.services[i].destinations;
            match dests.iter().position(|x| x.addr == *a) {
                Some(j) => {
                    dests.remove(j);
                }
                None => return false,
            }
        }
        Op::Flush => state.services.clear(),
        Op::Zero(_) | Op::SetTimeouts(_) | Op::StartDaemon(_) | Op::StopDaemon(_) => {}
    }
    true
}
