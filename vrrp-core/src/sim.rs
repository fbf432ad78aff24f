//! A deterministic simulator: VRRP instances on simulated LAN segments with virtual time.
//!
//! Everything is decided by the scenario and the seed: packet loss, delay, duplication and
//! reordering (random delays) come from a seeded generator, so a run can be replayed exactly.
//! Scenario actions (crash, restart, graceful stop, priority changes, partitions, faults) are
//! scheduled at virtual times; [`Sim::run_until`] jumps from one deadline to the next.
//!
//! ```
//! use core::time::Duration;
//! use vrrp_core::sim::{Action, Sim};
//! use vrrp_core::{wire::Version, Instant, InstanceConfig, State};
//!
//! let vip = "10.0.0.100".parse().unwrap();
//! let mut sim = Sim::new(1);
//! let mut cfg = |prio, addr: &str| {
//!     let mut c = InstanceConfig::new(Version::V3, 51, prio, addr.parse().unwrap(), vec![vip]);
//!     c.advert_interval = Duration::from_millis(100);
//!     c
//! };
//! let a = sim.add_node("lvs1", 0, cfg(100, "10.0.0.1")).unwrap();
//! let b = sim.add_node("lvs2", 0, cfg(90, "10.0.0.2")).unwrap();
//! sim.schedule(Instant::from_nanos(3_000_000_000), Action::Crash(a));
//! sim.run_until(Instant::from_nanos(5_000_000_000));
//! assert_eq!(sim.state(b), Some(State::Master));
//! ```

use alloc::collections::BinaryHeap;
use alloc::string::String;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::IpAddr;
use core::time::Duration;

use crate::event::State;
use crate::event::{DropReason, Event, FaultCause, Transition};
use crate::instance::{Command, Instance, RxInfo, Transmit, TRANSMIT_BUFFER_LEN};
use crate::wire::{self, REQUIRED_TTL};
use crate::{Error, InstanceConfig, Instant};

/// Index of a node in the simulation.
pub type NodeId = usize;

/// A small, seeded generator (SplitMix64): the simulator's only source of chance.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn duration_between(&mut self, lo: Duration, hi: Duration) -> Duration {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_nanos() as u64;
        lo + Duration::from_nanos(self.next_u64() % (span + 1))
    }
}

/// How the simulated network treats packets.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NetworkConditions {
    /// Probability that a copy of a packet is lost.
    pub loss: f64,
    /// Probability that a delivered copy is delivered twice.
    pub duplicate: f64,
    /// Delivery delay, uniform between these bounds (a range reorders packets).
    pub delay_min: Duration,
    pub delay_max: Duration,
}

impl Default for NetworkConditions {
    /// A clean LAN: no loss, 100 µs latency.
    fn default() -> Self {
        NetworkConditions {
            loss: 0.0,
            duplicate: 0.0,
            delay_min: Duration::from_micros(100),
            delay_max: Duration::from_micros(100),
        }
    }
}

/// A scenario step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Start a node's instance (nodes start at time zero unless added with `start = false`).
    Start(NodeId),
    /// Kill a node: no priority-0 advert, state lost.
    Crash(NodeId),
    /// Bring a crashed or stopped node back with a fresh instance.
    Restart(NodeId),
    /// Graceful shutdown: a master sends a priority-0 advert.
    Stop(NodeId),
    /// Change the configured priority.
    SetPriority(NodeId, u8),
    /// Change the tracking adjustment of the priority.
    SetPriorityAdjustment(NodeId, i32),
    /// A fault begins (`true`) or ends (`false`), e.g. the interface going down.
    Fault(NodeId, bool),
    /// Split the network: nodes only reach nodes in the same group. Unlisted nodes form one
    /// more group together.
    Partition(Vec<Vec<NodeId>>),
    /// Undo any partition.
    Heal,
    /// Change loss, duplication and delay.
    Conditions(NetworkConditions),
    /// A configuration reload, as the director applies one: a change of the priority alone
    /// keeps the running instance (its state, timers and tracking adjustment) and changes
    /// its priority; any other change stops the instance (a master sends priority 0) and
    /// starts a fresh one. A crashed node only takes the configuration for its restart.
    /// The configuration must be valid (it is ignored otherwise).
    Reload(NodeId, InstanceConfig),
}

/// What happened, for the trace.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "kind", rename_all = "snake_case"))]
pub enum TraceKind {
    /// A state change.
    State(Transition),
    /// An advert left the node.
    Sent { destination: IpAddr, priority: u8 },
    /// The node asked for gratuitous ARPs / NAs.
    Gratuitous { repeat: u8 },
    /// An advert was delivered and accepted by the instance's checks.
    Received { from: IpAddr, priority: u8 },
    /// A delivered advert was dropped by the instance.
    Dropped { from: IpAddr, reason: DropReason },
    /// The network lost a copy of an advert on its way to this node.
    Lost { from: IpAddr },
    /// An advert reached this node's running instance (only with
    /// [`Sim::trace_deliveries`]): the bytes as delivered, whatever the instance made of them.
    Delivered { from: IpAddr, bytes: Vec<u8> },
    /// Any other instance event.
    Event(Event),
    /// A scenario action was applied to this node (or to the network, node = None).
    Action { description: String },
}

/// One trace line.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TraceEntry {
    pub at: Instant,
    pub node: Option<NodeId>,
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub kind: TraceKind,
}

/// A simulated router.
#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub segment: usize,
    pub config: InstanceConfig,
    /// `None` while crashed.
    pub instance: Option<Instance>,
    partition: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Delivery {
    at: Instant,
    seq: u64,
    to: NodeId,
    from: IpAddr,
    destination: IpAddr,
    bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: Instant,
    seq: u64,
    index: usize,
}

/// The simulator. See the module documentation.
#[derive(Debug)]
pub struct Sim {
    now: Instant,
    rng: Rng,
    conditions: NetworkConditions,
    nodes: Vec<Node>,
    in_flight: BinaryHeap<Reverse<Delivery>>,
    actions: Vec<Action>,
    schedule: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    trace: Vec<TraceEntry>,
    /// Whether received-and-accepted adverts are traced (they dominate long traces).
    pub trace_received: bool,
    /// Whether every advert delivered to a running instance is traced with its bytes
    /// ([`TraceKind::Delivered`]), for checkers that judge the instances from outside.
    pub trace_deliveries: bool,
    buf: alloc::boxed::Box<[u8; TRANSMIT_BUFFER_LEN]>,
    steps: u64,
}

/// Steps after which `run_until` gives up, so a livelock fails a test instead of hanging it.
pub const MAX_STEPS: u64 = 50_000_000;

impl Sim {
    pub fn new(seed: u64) -> Sim {
        Sim {
            now: Instant::ZERO,
            rng: Rng::new(seed),
            conditions: NetworkConditions::default(),
            nodes: Vec::new(),
            in_flight: BinaryHeap::new(),
            actions: Vec::new(),
            schedule: BinaryHeap::new(),
            seq: 0,
            trace: Vec::new(),
            trace_received: false,
            trace_deliveries: false,
            buf: alloc::boxed::Box::new([0; TRANSMIT_BUFFER_LEN]),
            steps: 0,
        }
    }

    /// Adds a node on `segment` and starts it now.
    pub fn add_node(
        &mut self,
        name: &str,
        segment: usize,
        config: InstanceConfig,
    ) -> Result<NodeId, Error> {
        let id = self.add_stopped_node(name, segment, config)?;
        self.apply(Action::Start(id));
        Ok(id)
    }

    /// Adds a node that waits for [`Action::Start`].
    pub fn add_stopped_node(
        &mut self,
        name: &str,
        segment: usize,
        config: InstanceConfig,
    ) -> Result<NodeId, Error> {
        let instance = Instance::new(config.clone())?;
        self.nodes.push(Node {
            name: String::from(name),
            segment,
            config,
            instance: Some(instance),
            partition: 0,
        });
        Ok(self.nodes.len() - 1)
    }

    pub fn set_conditions(&mut self, conditions: NetworkConditions) {
        self.conditions = conditions;
    }

    /// Schedules an action at a virtual time (now if in the past).
    pub fn schedule(&mut self, at: Instant, action: Action) {
        self.actions.push(action);
        let seq = self.next_seq();
        self.schedule.push(Reverse(Scheduled {
            at: at.max(self.now),
            seq,
            index: self.actions.len() - 1,
        }));
    }

    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id]
    }

    /// The state of a node's instance, `None` while crashed.
    pub fn state(&self, id: NodeId) -> Option<State> {
        self.nodes[id].instance.as_ref().map(Instance::state)
    }

    /// Nodes that are master for `vrid` on `segment`.
    pub fn masters(&self, segment: usize, vrid: u8) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| {
                let n = &self.nodes[i];
                n.segment == segment
                    && n.config.vrid == vrid
                    && self.state(i) == Some(State::Master)
            })
            .collect()
    }

    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// State changes only.
    pub fn transitions(&self) -> impl Iterator<Item = (NodeId, Transition)> + '_ {
        self.trace.iter().filter_map(|e| match (&e.kind, e.node) {
            (TraceKind::State(t), Some(n)) => Some((n, *t)),
            _ => None,
        })
    }

    /// Applies an action now.
    pub fn apply(&mut self, action: Action) {
        let description = alloc::format!("{action:?}");
        let node = match &action {
            Action::Start(n)
            | Action::Crash(n)
            | Action::Restart(n)
            | Action::Stop(n)
            | Action::SetPriority(n, _)
            | Action::SetPriorityAdjustment(n, _)
            | Action::Fault(n, _)
            | Action::Reload(n, _) => Some(*n),
            _ => None,
        };
        self.push_trace(node, TraceKind::Action { description });
        match action {
            Action::Start(n) => self.command(n, Command::Start),
            Action::Crash(n) => self.nodes[n].instance = None,
            Action::Restart(n) => {
                // Validated when the node was added.
                if let Ok(instance) = Instance::new(self.nodes[n].config.clone()) {
                    self.nodes[n].instance = Some(instance);
                    self.command(n, Command::Start);
                }
            }
            Action::Stop(n) => self.command(n, Command::Shutdown),
            Action::SetPriority(n, p) => {
                self.nodes[n].config.priority = p;
                self.command(n, Command::SetPriority(p));
            }
            Action::SetPriorityAdjustment(n, adj) => {
                self.command(n, Command::SetPriorityAdjustment(adj))
            }
            Action::Fault(n, true) => {
                self.command(n, Command::EnterFault(FaultCause::InterfaceDown))
            }
            Action::Fault(n, false) => {
                self.command(n, Command::LeaveFault(FaultCause::InterfaceDown))
            }
            Action::Partition(groups) => {
                for node in &mut self.nodes {
                    node.partition = groups.len();
                }
                for (g, members) in groups.iter().enumerate() {
                    for &n in members {
                        self.nodes[n].partition = g;
                    }
                }
            }
            Action::Heal => {
                for node in &mut self.nodes {
                    node.partition = 0;
                }
            }
            Action::Conditions(c) => self.conditions = c,
            Action::Reload(n, config) => self.reload(n, config),
        }
    }

    /// Runs until virtual time `end`, processing every deadline on the way.
    ///
    /// # Panics
    /// After [`MAX_STEPS`] steps in one simulation (a livelock is a bug worth stopping on).
    pub fn run_until(&mut self, end: Instant) {
        loop {
            let next_delivery = self.in_flight.peek().map(|d| d.0.at);
            let next_action = self.schedule.peek().map(|s| s.0.at);
            let next_timer = self
                .nodes
                .iter()
                .filter_map(|n| n.instance.as_ref().and_then(Instance::poll_timeout))
                .min();
            let Some(next) = [next_delivery, next_action, next_timer]
                .into_iter()
                .flatten()
                .min()
            else {
                self.now = end;
                return;
            };
            if next > end {
                self.now = end;
                return;
            }
            self.steps += 1;
            assert!(
                self.steps < MAX_STEPS,
                "simulation exceeded {MAX_STEPS} steps"
            );
            self.now = self.now.max(next);
            if next_action == Some(next) {
                let Reverse(s) = self.schedule.pop().expect("peeked");
                let action = self.actions[s.index].clone();
                self.apply(action);
            } else if next_delivery == Some(next) {
                let Reverse(d) = self.in_flight.pop().expect("peeked");
                self.deliver(d);
            } else {
                for n in 0..self.nodes.len() {
                    let due = self.nodes[n]
                        .instance
                        .as_ref()
                        .and_then(Instance::poll_timeout)
                        .is_some_and(|t| t <= next);
                    if due {
                        if let Some(i) = self.nodes[n].instance.as_mut() {
                            i.handle_timeout(next);
                        }
                        self.drain(n);
                    }
                }
            }
        }
    }

    /// Runs for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        self.run_until(end);
    }

    fn reload(&mut self, n: NodeId, config: InstanceConfig) {
        if config.validate().is_err() || config == self.nodes[n].config {
            return;
        }
        let mut only_priority = self.nodes[n].config.clone();
        only_priority.priority = config.priority;
        let running = self.nodes[n].instance.is_some();
        if only_priority == config {
            self.nodes[n].config = config;
            let priority = self.nodes[n].config.priority;
            self.command(n, Command::SetPriority(priority));
            return;
        }
        self.nodes[n].config = config;
        if running {
            self.command(n, Command::Shutdown);
            if let Ok(instance) = Instance::new(self.nodes[n].config.clone()) {
                self.nodes[n].instance = Some(instance);
                self.command(n, Command::Start);
            }
        }
    }

    fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn command(&mut self, n: NodeId, command: Command) {
        let now = self.now;
        if let Some(i) = self.nodes[n].instance.as_mut() {
            i.handle_command(now, command);
        }
        self.drain(n);
    }

    fn deliver(&mut self, d: Delivery) {
        let now = self.now;
        let Some(instance) = self.nodes[d.to].instance.as_mut() else {
            return;
        };
        let rx = RxInfo {
            source: d.from,
            destination: d.destination,
            ttl: REQUIRED_TTL,
        };
        let before = instance.statistics().rcvd_advertisements;
        instance.handle_packet(now, &rx, &d.bytes);
        let counted = instance.statistics().rcvd_advertisements != before;
        if self.trace_received && counted {
            let priority = d.bytes.get(2).copied().unwrap_or(0);
            self.push_trace(
                Some(d.to),
                TraceKind::Received {
                    from: d.from,
                    priority,
                },
            );
        }
        if self.trace_deliveries {
            self.push_trace(
                Some(d.to),
                TraceKind::Delivered {
                    from: d.from,
                    bytes: d.bytes,
                },
            );
        }
        self.drain(d.to);
    }

    /// Takes everything a node's instance wants to say or send. Events are traced first so a
    /// state change reads before the advert it caused at the same instant.
    fn drain(&mut self, n: NodeId) {
        while let Some(event) = self.nodes[n]
            .instance
            .as_mut()
            .and_then(Instance::poll_event)
        {
            let kind = match event {
                Event::StateChanged(t) => TraceKind::State(t),
                Event::PacketDropped { from, reason } => TraceKind::Dropped { from, reason },
                other => TraceKind::Event(other),
            };
            self.push_trace(Some(n), kind);
        }
        loop {
            let Some(instance) = self.nodes[n].instance.as_mut() else {
                return;
            };
            let Some(transmit) = instance.poll_transmit(&mut self.buf) else {
                break;
            };
            match transmit {
                Transmit::Advertisement {
                    destination,
                    len,
                    priority,
                    ..
                } => {
                    let bytes = self.buf[..len].to_vec();
                    self.push_trace(
                        Some(n),
                        TraceKind::Sent {
                            destination,
                            priority,
                        },
                    );
                    self.send(n, destination, bytes);
                }
                Transmit::Gratuitous { repeat } => {
                    self.push_trace(Some(n), TraceKind::Gratuitous { repeat })
                }
            }
        }
    }

    fn send(&mut self, from_node: NodeId, destination: IpAddr, bytes: Vec<u8>) {
        let source = self.nodes[from_node].config.primary_address;
        let multicast = destination == IpAddr::V4(wire::MULTICAST_V4)
            || destination == IpAddr::V6(wire::MULTICAST_V6);
        let vrid = bytes.get(1).copied().unwrap_or(0);
        let (segment, partition) = (
            self.nodes[from_node].segment,
            self.nodes[from_node].partition,
        );
        for to in 0..self.nodes.len() {
            let node = &self.nodes[to];
            let addressed = if multicast {
                node.config.vrid == vrid
            } else {
                node.config.primary_address == destination
            };
            if to == from_node || node.segment != segment || !addressed {
                continue;
            }
            if node.partition != partition || self.rng.next_f64() < self.conditions.loss {
                self.push_trace(Some(to), TraceKind::Lost { from: source });
                continue;
            }
            let copies = if self.rng.next_f64() < self.conditions.duplicate {
                2
            } else {
                1
            };
            for _ in 0..copies {
                let delay = self
                    .rng
                    .duration_between(self.conditions.delay_min, self.conditions.delay_max);
                let seq = self.next_seq();
                self.in_flight.push(Reverse(Delivery {
                    at: self.now + delay,
                    seq,
                    to,
                    from: source,
                    destination,
                    bytes: bytes.clone(),
                }));
            }
        }
    }

    fn push_trace(&mut self, node: Option<NodeId>, kind: TraceKind) {
        self.trace.push(TraceEntry {
            at: self.now,
            node,
            kind,
        });
    }
}
