//! The deterministic scheduling and up/down core: no sockets, no clock.
//!
//! [`Scheduler`] decides when each checker runs and what its results mean; the engine
//! (or a test with virtual time) performs the checks. Its methods, by group:
//!
//! - getters: [`Scheduler::is_up`], [`Scheduler::weight`], [`Scheduler::check_count`];
//! - inputs: [`Scheduler::replace`] (a new configuration), [`Scheduler::handle_result`]
//!   (a finished check);
//! - outputs: [`Scheduler::poll_start`] (a check that is due), [`Scheduler::poll_event`]
//!   (an up/down/weight event), [`Scheduler::poll_timeout`] (when to call again).
//!
//! After every input, the caller drains `poll_start` and `poll_event` until both return
//! `None`, then sleeps until `poll_timeout`. Calling `poll_start` early is harmless.
//!
//! Semantics (keepalived's, plus explicit rise/fall):
//! - a checker goes down after `fall` consecutive failures (default `retry + 1`, but 1 when
//!   its very first result fails: keepalived starts checkers with their retries used up) and
//!   up after `rise` consecutive successes (default 1);
//! - while a checker is between states (failures counted but still up, or successes counted
//!   but still down) it runs every `delay_before_retry`; otherwise every `delay_loop`,
//!   counted from the end of the previous run;
//! - a real server is up when all of its checkers are;
//! - `replace` keeps the state of every checker whose identity ([`CheckId`]) is unchanged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use rustc_hash::FxHashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::config::{CheckId, CheckerConfig, RealServerConfig, RealServerId};
use crate::outcome::{DownCause, Event, Failure, Outcome, UpCause, WeightChange};
use crate::Error;

/// Names one run of one checker; results for a superseded run are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CheckToken {
    slot: usize,
    generation: u64,
}

/// A check the caller should run now.
#[derive(Debug, Clone)]
pub struct DueCheck {
    pub token: CheckToken,
    pub id: Arc<CheckId>,
    pub config: Arc<CheckerConfig>,
    /// When it was scheduled to run: the caller's lateness is `now - due`.
    pub due: Instant,
}

/// One checker's state, as [`Scheduler::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckStatus {
    pub id: CheckId,
    /// `TCP_CHECK`, `HTTP_GET`, ...
    pub keyword: &'static str,
    pub up: bool,
    pub consecutive_passes: u32,
    pub consecutive_failures: u32,
    /// The most recent failure, kept after recovery.
    pub last_failure: Option<Failure>,
    /// A run is in progress.
    pub running: bool,
}

#[derive(Debug)]
struct Slot {
    /// Index of its real server in `Scheduler::servers`.
    server: usize,
    id: Arc<CheckId>,
    config: Arc<CheckerConfig>,
    generation: u64,
    up: bool,
    passes: u32,
    fails: u32,
    /// `Some` while waiting to run; `None` while running.
    due: Option<Instant>,
    weight: Option<WeightChange>,
    /// Boxed: rare, and large next to the hot fields.
    last_failure: Option<Box<Failure>>,
    /// Whether a result has come in (keepalived's `has_run`).
    has_run: bool,
}

#[derive(Debug)]
struct ServerState {
    id: RealServerId,
    base_weight: u32,
    up: bool,
    weight: u32,
    slots: Vec<usize>,
}

/// The scheduling and state core. See the module documentation.
#[derive(Debug)]
pub struct Scheduler {
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    by_id: FxHashMap<CheckId, usize>,
    /// Real servers by index (slots name theirs), and the index by identity.
    servers: Vec<Option<ServerState>>,
    free_servers: Vec<usize>,
    server_index: FxHashMap<RealServerId, usize>,
    /// Due times; entries whose slot moved on (new generation or due) are skipped.
    queue: BinaryHeap<Reverse<(Instant, usize, u64)>>,
    events: VecDeque<Event>,
    rng: SmallRng,
    next_generation: u64,
}

impl Scheduler {
    /// An empty scheduler; `seed` drives the `warmup` spread, so runs are reproducible.
    pub fn new(seed: u64) -> Self {
        Scheduler {
            slots: Vec::new(),
            free: Vec::new(),
            by_id: FxHashMap::default(),
            servers: Vec::new(),
            free_servers: Vec::new(),
            server_index: FxHashMap::default(),
            queue: BinaryHeap::new(),
            events: VecDeque::new(),
            rng: SmallRng::seed_from_u64(seed),
            next_generation: 0,
        }
    }

    /// Whether the real server is up, `None` if it is not configured.
    pub fn is_up(&self, server: &RealServerId) -> Option<bool> {
        self.server(server).map(|s| s.up)
    }

    /// The real server's effective weight, `None` if it is not configured.
    pub fn weight(&self, server: &RealServerId) -> Option<u32> {
        self.server(server).map(|s| s.weight)
    }

    fn server(&self, id: &RealServerId) -> Option<&ServerState> {
        let index = *self.server_index.get(id)?;
        self.servers[index].as_ref()
    }

    /// Every checker's state, sorted by identity: for the control socket and logs.
    pub fn status(&self) -> Vec<CheckStatus> {
        let mut status: Vec<CheckStatus> = self
            .slots
            .iter()
            .flatten()
            .map(|slot| CheckStatus {
                id: (*slot.id).clone(),
                keyword: slot.config.kind.keyword(),
                up: slot.up,
                consecutive_passes: slot.passes,
                consecutive_failures: slot.fails,
                last_failure: slot.last_failure.as_deref().cloned(),
                running: slot.due.is_none(),
            })
            .collect();
        status.sort_by(|a, b| a.id.cmp(&b.id));
        status
    }

    /// Number of configured checkers.
    pub fn check_count(&self) -> usize {
        self.by_id.len()
    }

    /// Replaces the whole configuration. Checkers and servers whose identity is unchanged
    /// keep their state; a checker whose options changed keeps its state and runs at once
    /// with the new options. New servers report their initial state as an event.
    pub fn replace(&mut self, servers: Vec<RealServerConfig>, now: Instant) -> Result<(), Error> {
        validate(&servers)?;
        let seen: HashMap<&RealServerId, ()> = servers.iter().map(|s| (&s.id, ())).collect();
        let wanted: HashMap<CheckId, ()> = servers
            .iter()
            .flat_map(|s| {
                s.checkers.iter().map(|c| {
                    (
                        CheckId {
                            server: s.id.clone(),
                            checker: c.name.clone(),
                        },
                        (),
                    )
                })
            })
            .collect();
        let gone: Vec<CheckId> = self
            .by_id
            .keys()
            .filter(|id| !wanted.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(slot) = self.by_id.remove(&id) {
                self.slots[slot] = None;
                self.free.push(slot);
            }
        }
        let gone: Vec<RealServerId> = self
            .server_index
            .keys()
            .filter(|id| !seen.contains_key(id))
            .cloned()
            .collect();
        for id in gone {
            if let Some(index) = self.server_index.remove(&id) {
                self.servers[index] = None;
                self.free_servers.push(index);
            }
        }
        drop(seen);

        for server in servers {
            let existing = self.server_index.get(&server.id).copied();
            let index = existing.unwrap_or_else(|| {
                let state = ServerState {
                    id: server.id.clone(),
                    base_weight: server.weight,
                    up: true,
                    weight: server.weight,
                    slots: Vec::new(),
                };
                let index = match self.free_servers.pop() {
                    Some(index) => {
                        self.servers[index] = Some(state);
                        index
                    }
                    None => {
                        self.servers.push(Some(state));
                        self.servers.len() - 1
                    }
                };
                self.server_index.insert(server.id.clone(), index);
                index
            });
            let mut slots = Vec::with_capacity(server.checkers.len());
            for checker in server.checkers {
                let id = CheckId {
                    server: server.id.clone(),
                    checker: checker.name.clone(),
                };
                slots.push(self.upsert_check(id, checker, index, now));
            }
            let state = self.servers[index].as_mut().expect("indexed server exists");
            state.base_weight = server.weight;
            state.slots = slots;
            if existing.is_none() {
                let (up, first_down) = aggregate(&self.slots, state);
                state.up = up;
                state.weight = effective_weight(&self.slots, state);
                self.events.push_back(if up {
                    Event::Up {
                        server: server.id,
                        cause: UpCause::Initial,
                    }
                } else {
                    Event::Down {
                        server: server.id,
                        cause: DownCause::Alpha {
                            checker: checker_name(&self.slots, first_down),
                        },
                    }
                });
            } else {
                self.evaluate(index, None);
            }
        }
        Ok(())
    }

    fn upsert_check(
        &mut self,
        id: CheckId,
        config: CheckerConfig,
        server: usize,
        now: Instant,
    ) -> usize {
        if let Some(&index) = self.by_id.get(&id) {
            let slot = self.slots[index].as_mut().expect("indexed slot exists");
            if *slot.config != config {
                slot.config = Arc::new(config);
                slot.generation = self.next_generation;
                self.next_generation += 1;
                slot.due = Some(now);
                self.queue.push(Reverse((now, index, slot.generation)));
            }
            return index;
        }
        let due = now + self.warmup_delay(config.timing.warmup);
        let generation = self.next_generation;
        self.next_generation += 1;
        let slot = Slot {
            server,
            id: Arc::new(id.clone()),
            up: !config.timing.alpha,
            config: Arc::new(config),
            generation,
            passes: 0,
            fails: 0,
            due: Some(due),
            weight: None,
            last_failure: None,
            has_run: false,
        };
        let index = match self.free.pop() {
            Some(index) => {
                self.slots[index] = Some(slot);
                index
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.by_id.insert(id, index);
        self.queue.push(Reverse((due, index, generation)));
        index
    }

    fn warmup_delay(&mut self, warmup: Option<Duration>) -> Duration {
        match warmup {
            Some(span) if !span.is_zero() => Duration::from_nanos(
                self.rng
                    .random_range(0..span.as_nanos().min(u64::MAX as u128) as u64),
            ),
            _ => Duration::ZERO,
        }
    }

    /// Takes the next check that is due at `now`, marking it as running.
    pub fn poll_start(&mut self, now: Instant) -> Option<DueCheck> {
        while let Some(&Reverse((due, index, generation))) = self.queue.peek() {
            if due > now {
                return None;
            }
            self.queue.pop();
            let Some(slot) = self.slots.get_mut(index).and_then(Option::as_mut) else {
                continue;
            };
            if slot.generation != generation || slot.due != Some(due) {
                continue;
            }
            slot.due = None;
            return Some(DueCheck {
                token: CheckToken {
                    slot: index,
                    generation,
                },
                id: slot.id.clone(),
                config: slot.config.clone(),
                due,
            });
        }
        None
    }

    /// When the next check is due; `None` when nothing is scheduled.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((due, index, generation))) = self.queue.peek() {
            match self.slots.get(index).and_then(Option::as_ref) {
                Some(slot) if slot.generation == generation && slot.due == Some(due) => {
                    return Some(due)
                }
                _ => {
                    self.queue.pop();
                }
            }
        }
        None
    }

    /// The next event for the director.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Records the result of a check started by [`Scheduler::poll_start`]. Results for a
    /// checker that was removed or reconfigured since are ignored (returns false).
    pub fn handle_result(&mut self, token: CheckToken, outcome: Outcome, now: Instant) -> bool {
        let Some(slot) = self.slots.get_mut(token.slot).and_then(Option::as_mut) else {
            return false;
        };
        if slot.generation != token.generation || slot.due.is_some() {
            return false;
        }
        let timing = &slot.config.timing;
        let mut transition_failure = None;
        let between_states = match outcome {
            Outcome::Pass(weight) => {
                slot.fails = 0;
                slot.passes = slot.passes.saturating_add(1);
                slot.weight = weight;
                if !slot.up && slot.passes >= timing.rise_count() {
                    slot.up = true;
                }
                !slot.up
            }
            Outcome::Fail(failure) => {
                slot.passes = 0;
                slot.fails = slot.fails.saturating_add(1);
                slot.weight = None;
                slot.last_failure = Some(Box::new(failure.clone()));
                if slot.config.log_all_failures {
                    self.events.push_back(Event::CheckFailed {
                        check: (*slot.id).clone(),
                        failure: failure.clone(),
                    });
                }
                // keepalived starts a checker with its retries used up (check_data.c: "one
                // failure is enough initially"): a first result that fails takes it down at
                // once. An explicit `fall` is always counted in full.
                let fall = if timing.fall.is_none() && !slot.has_run {
                    1
                } else {
                    timing.fall_count()
                };
                if slot.up && slot.fails >= fall {
                    slot.up = false;
                    transition_failure = Some(failure);
                }
                slot.up
            }
        };
        slot.has_run = true;
        let interval = if between_states {
            timing.delay_before_retry
        } else {
            timing.delay_loop
        };
        let due = now + interval;
        slot.due = Some(due);
        self.queue
            .push(Reverse((due, token.slot, token.generation)));
        let (server, id) = (slot.server, slot.id.clone());
        self.evaluate(server, Some((&id.checker, transition_failure)));
        true
    }

    /// Re-derives the server's state after a change, emitting events for what moved.
    /// `changed` is the checker that just reported, and its failure if it went down.
    fn evaluate(&mut self, server: usize, changed: Option<(&str, Option<Failure>)>) {
        let state = self.servers[server]
            .as_mut()
            .expect("evaluated server exists");
        let (up, first_down) = aggregate(&self.slots, state);
        let weight = effective_weight(&self.slots, state);
        if up != state.up {
            state.up = up;
            let event = if up {
                let cause = match changed {
                    Some((checker, _)) => UpCause::Recovered {
                        checker: checker.to_string(),
                    },
                    None => UpCause::CheckerRemoved,
                };
                Event::Up {
                    server: state.id.clone(),
                    cause,
                }
            } else {
                let cause = match changed {
                    Some((checker, Some(failure))) => DownCause::Failed {
                        checker: checker.to_string(),
                        failure,
                    },
                    _ => DownCause::Alpha {
                        checker: checker_name(&self.slots, first_down),
                    },
                };
                Event::Down {
                    server: state.id.clone(),
                    cause,
                }
            };
            self.events.push_back(event);
        }
        if weight != state.weight {
            state.weight = weight;
            self.events.push_back(Event::Weight {
                server: state.id.clone(),
                weight,
            });
        }
    }
}

/// Up when all of the server's checkers are; otherwise the first down checker's slot.
fn aggregate(slots: &[Option<Slot>], state: &ServerState) -> (bool, Option<usize>) {
    for &index in &state.slots {
        if slots[index].as_ref().is_some_and(|slot| !slot.up) {
            return (false, Some(index));
        }
    }
    (true, None)
}

fn checker_name(slots: &[Option<Slot>], index: Option<usize>) -> String {
    index
        .and_then(|i| slots[i].as_ref())
        .map(|slot| slot.id.checker.clone())
        .unwrap_or_default()
}

/// The configured weight, replaced by the first `Set` and moved by every `Offset`.
fn effective_weight(slots: &[Option<Slot>], state: &ServerState) -> u32 {
    let mut set = None;
    let mut offset: i64 = 0;
    for &index in &state.slots {
        match slots[index].as_ref().and_then(|s| s.weight) {
            Some(WeightChange::Set(w)) if set.is_none() => set = Some(w),
            Some(WeightChange::Offset(o)) => offset = offset.saturating_add(o),
            _ => {}
        }
    }
    let weight = i64::from(set.unwrap_or(state.base_weight)).saturating_add(offset);
    weight.clamp(0, i64::from(u32::MAX)) as u32
}

/// Refuses a configuration with a real server twice or two checkers of the same name on
/// one real server (their identities would collide), or a zero interval or timeout.
pub fn validate(servers: &[RealServerConfig]) -> Result<(), Error> {
    let mut seen = std::collections::HashSet::new();
    for server in servers {
        if !seen.insert(&server.id) {
            return Err(Error::BadConfig {
                what: format!("real server {}", server.id),
                cause: "configured twice".into(),
            });
        }
        let mut names = std::collections::HashSet::new();
        for checker in &server.checkers {
            let t = &checker.timing;
            for (keyword, value) in [
                ("delay_loop", t.delay_loop),
                ("delay_before_retry", t.delay_before_retry),
                ("connect_timeout", t.connect_timeout),
            ] {
                // A zero interval would re-run the check back to back, forever.
                if value.is_zero() {
                    return Err(Error::BadConfig {
                        what: format!("real server {} checker {}", server.id, checker.name),
                        cause: format!("{keyword} must be greater than 0"),
                    });
                }
            }
            if !names.insert(checker.name.as_str()) {
                return Err(Error::BadConfig {
                    what: format!("real server {}", server.id),
                    cause: format!("two checkers named {:?}", checker.name),
                });
            }
        }
    }
    Ok(())
}
