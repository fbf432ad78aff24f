//! What IPVS should hold, given the plan and what the health checks and the operator said.
//!
//! Deterministic and free of I/O, like the VRRP core: health events, drains and reloads go
//! in with the time; the desired IPVS table, scripts to run, alerts and log lines come out.
//! Given the kernel's table as the runner read or programmed it, the state also decides the
//! operations: only on this run's own services (others' are left alone), none for an
//! unchanged table adopted at start, a repair when it was changed behind the director's
//! back, and what to delete at stop. The runner ([`super::runner`]) does the I/O.
//!
//! keepalived's rules, per virtual server:
//! - a real server whose checkers are all up is in IPVS with its weight (the checkers'
//!   dynamic weight, 0 while drained);
//! - a failed one is removed, or kept with weight 0 with `inhibit_on_failure`;
//! - quorum: the weights of the live real servers must reach `quorum + hysteresis` to come
//!   up (at start too) and drop below `quorum - hysteresis` to go down; while it is down the sorry server
//!   (if any) replaces the live real servers, which are removed (kept at weight 0 with
//!   `inhibit_on_failure`). `sorry_server_inhibit` keeps the sorry server at weight 0 while
//!   quorum holds.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use healthcheck::{Event, RealServerId};
use ipvs_sys::{Destination, IpvsState, Op, ServiceKey, VirtualService};

use super::plan::{LvsPlan, RealServerPlan, StopPolicy, VirtualServerPlan};
use crate::status::{RealServerReport, TrafficReport, VirtualServerReport};

/// Something the runner must do besides programming IPVS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Run a notify_up/notify_down/quorum_up/quorum_down script (argv as configured).
    Script { argv: Vec<String>, why: String },
    /// Send an SMTP alert.
    Alert { subject: String, body: String },
    /// A line for the log.
    Log(String),
    /// A real server went up or down (for the director's event stream and its log line).
    RealServerChanged {
        virtual_server: String,
        server: std::net::SocketAddr,
        up: bool,
        reason: String,
        /// What it means for IPVS (`removed from IPVS`, `weight 0 in IPVS (inhibit_on_failure)`).
        effect: String,
        /// keepalived's words for it (`Removing service [10.0.0.2]:tcp:80 from VS ...`).
        keepalived: String,
    },
    /// A virtual server gained or lost quorum (for the director's event stream and its log line).
    QuorumChanged {
        virtual_server: String,
        up: bool,
        /// `live weight 1, quorum 2 ± 0; sorry server 10.0.0.9:80 in use`.
        detail: String,
        /// keepalived's words (`Lost quorum 2-0=2 > 1 for VS [192.168.2.200]:tcp:80`).
        keepalived: String,
    },
    /// An `ha_announce` virtual server's addresses were put on the announce interface
    /// (`announced`) or taken off it.
    AnnounceChanged {
        virtual_server: String,
        addresses: Vec<std::net::IpAddr>,
        announced: bool,
        /// `quorum UP`, `quorum DOWN`, `director drained`, `stopping`, ...
        reason: String,
    },
}

/// A real server's health as the director tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub up: bool,
    /// The checkers' effective weight (the configured one unless a dynamic checker set it).
    pub weight: u32,
    pub drained: bool,
    pub reason: String,
    pub since: Instant,
}

/// What reconciling with the kernel's table takes, from [`LvsState::reconcile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconciliation {
    /// The operations, in order; empty when the kernel already holds what is wanted.
    pub ops: Vec<Op>,
    /// The table was changed behind the director's back: these ops put it back.
    pub repair: bool,
    /// At the first reconcile, what the kernel already held of this configuration (`None`
    /// when it held none of it, and at every later reconcile).
    pub adopted: Option<Adopted>,
}

/// This configuration's services (and their destinations) found in the kernel at start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    pub services: usize,
    pub destinations: usize,
}

/// What this run did to the kernel's table, which decides what it may do to it.
#[derive(Debug, Default)]
struct Programmed {
    /// Services this run created or adopted: the only ones it may delete. Other users of
    /// IPVS on this host keep theirs.
    managed: HashSet<ServiceKey>,
    /// The desired table last applied without a refusal: a re-read that differs while it is
    /// still what is desired was changed behind the director's back.
    last_applied: Option<IpvsState>,
    /// Whether the first reconcile (which adopts the kernel's table) has happened.
    adopted: bool,
    /// The desired table the ops awaiting [`LvsState::record_applied`] were planned for.
    pending: Option<IpvsState>,
    repairs: u64,
}

/// The LVS side's state: plan, health, drains, quorum, and what it owns in the kernel.
#[derive(Debug)]
pub struct LvsState {
    plan: LvsPlan,
    health: HashMap<RealServerId, Health>,
    quorum_up: HashMap<String, bool>,
    /// VRRP instances known to be MASTER (for `ha_suspend`).
    masters: HashSet<String>,
    /// Real servers found missing from an adopted table: down until a check passes, so
    /// their checkers run with `alpha`.
    awaiting_success: HashSet<RealServerId>,
    programmed: Programmed,
    actions: VecDeque<Action>,
    /// `ha drain --director`: every announced address is withdrawn.
    director_drained: bool,
    /// The director is stopping: every announced address is withdrawn.
    stopping: bool,
    /// The `ha_announce` virtual servers whose addresses are announced now.
    announced: HashSet<String>,
}

/// The state a newly configured real server starts in, as the health-check engine starts it:
/// down when a checker has `alpha`, else up.
fn initial_health(rs: &RealServerPlan, now: Instant) -> Health {
    let alpha = rs.health.checkers.iter().find(|c| c.timing.alpha);
    Health {
        up: alpha.is_none(),
        weight: rs.health.weight,
        drained: false,
        reason: match alpha {
            Some(c) => format!("{}: alpha, waiting for a success", c.name),
            None => "initial state".into(),
        },
        since: now,
    }
}

fn rs_id(vs: &VirtualServerPlan, rs: &RealServerPlan) -> RealServerId {
    RealServerId {
        virtual_server: vs.name.clone(),
        real_server: rs.addr(),
    }
}

/// keepalived's notation of a virtual server (its `FMT_VS`): `[192.168.2.200]:tcp:80`,
/// `FWM 7`, or `[GROUP]:80`.
fn keepalived_vs(vs: &VirtualServerPlan) -> String {
    match vs.name.strip_prefix("group ") {
        Some(group) => {
            let port = match vs.services.first().map(|s| s.key) {
                Some(ipvs_sys::ServiceKey::Inet { addr, .. }) => addr.port(),
                _ => 0,
            };
            format!("[{group}]:{port}")
        }
        None => match vs.services.first().map(|s| s.key) {
            Some(ipvs_sys::ServiceKey::Inet { protocol, addr }) => format!(
                "[{}]:{}:{}",
                addr.ip(),
                protocol.name().to_lowercase(),
                addr.port()
            ),
            Some(ipvs_sys::ServiceKey::Fwmark { mark, .. }) => format!("FWM {mark}"),
            None => vs.name.clone(),
        },
    }
}

/// keepalived's notation in alerts: `[192.168.2.20]:tcp:80`.
fn alert_name(addr: SocketAddr, vs: &VirtualServerPlan) -> String {
    let proto = match vs.services.first().map(|s| s.key) {
        Some(ipvs_sys::ServiceKey::Inet { protocol, .. }) => protocol.name().to_lowercase(),
        _ => "fwm".into(),
    };
    format!("[{}]:{proto}:{}", addr.ip(), addr.port())
}

impl LvsState {
    pub fn new(plan: LvsPlan, now: Instant) -> Self {
        let mut state = LvsState {
            plan: LvsPlan::default(),
            health: HashMap::new(),
            quorum_up: HashMap::new(),
            masters: HashSet::new(),
            awaiting_success: HashSet::new(),
            programmed: Programmed::default(),
            actions: VecDeque::new(),
            director_drained: false,
            stopping: false,
            announced: HashSet::new(),
        };
        state.set_plan(plan, now);
        state
    }

    pub fn plan(&self) -> &LvsPlan {
        &self.plan
    }

    /// Takes a new plan (a reload). Real servers whose identity (virtual server name and
    /// address) is unchanged keep their health and drain; new ones start as the engine
    /// starts them; quorum is re-evaluated without running scripts for virtual servers that
    /// are new.
    pub fn set_plan(&mut self, plan: LvsPlan, now: Instant) {
        let mut health = HashMap::new();
        for vs in &plan.virtual_servers {
            for rs in &vs.real_servers {
                let id = rs_id(vs, rs);
                let h = match self.health.remove(&id) {
                    Some(mut h) => {
                        // A new configured weight applies unless a dynamic checker set one.
                        if let Some(old) = self.real_server(&id) {
                            if h.weight == old.health.weight {
                                h.weight = rs.health.weight;
                            }
                        }
                        h
                    }
                    None => initial_health(rs, now),
                };
                health.insert(id, h);
            }
        }
        self.health = health;
        self.awaiting_success
            .retain(|id| self.health.contains_key(id));
        let old_quorum = std::mem::take(&mut self.quorum_up);
        self.plan = plan;
        for i in 0..self.plan.virtual_servers.len() {
            let vs = &self.plan.virtual_servers[i];
            let live = self.live_weight(vs);
            // A virtual server keeps its quorum state across a reload; a new one starts as
            // keepalived's set_quorum_states starts it: up only at quorum + hysteresis.
            let up = match old_quorum.get(&vs.name) {
                Some(&was) => was,
                None => live >= vs.quorum.saturating_add(vs.hysteresis),
            };
            self.quorum_up.insert(vs.name.clone(), up);
            self.update_quorum(i);
        }
        self.update_announcements("configured");
    }

    fn real_server(&self, id: &RealServerId) -> Option<&RealServerPlan> {
        self.plan
            .virtual_servers
            .iter()
            .find(|vs| vs.name == id.virtual_server)?
            .real_servers
            .iter()
            .find(|rs| rs.addr() == id.real_server)
    }

    fn live_weight(&self, vs: &VirtualServerPlan) -> u32 {
        vs.real_servers
            .iter()
            .filter_map(|rs| self.health.get(&rs_id(vs, rs)))
            .filter(|h| h.up && !h.drained)
            .map(|h| h.weight)
            .sum()
    }

    /// Applies keepalived's quorum hysteresis to virtual server `index`, queuing scripts,
    /// alerts and log lines on a change.
    fn update_quorum(&mut self, index: usize) {
        let vs = &self.plan.virtual_servers[index];
        let live = self.live_weight(vs);
        let up = self.quorum_up.get(&vs.name).copied().unwrap_or(true);
        let lost = up && (live == 0 || live < vs.quorum.saturating_sub(vs.hysteresis));
        let gained = !up && live > 0 && live >= vs.quorum.saturating_add(vs.hysteresis);
        if !lost && !gained {
            return;
        }
        let now_up = gained;
        self.quorum_up.insert(vs.name.clone(), now_up);
        let word = if now_up { "UP" } else { "DOWN" };
        let mut detail = format!(
            "live weight {live}, quorum {} ± {}",
            vs.quorum, vs.hysteresis
        );
        if let Some(s) = &vs.sorry_server {
            detail.push_str(&format!(
                "; sorry server {} {}",
                s.addr,
                if now_up { "removed" } else { "in use" }
            ));
        }
        // keepalived's update_quorum_state: the threshold it compared with, then the weight.
        let keepalived = if now_up {
            format!(
                "Gained quorum {}+{}={} <= {live} for VS {}",
                vs.quorum,
                vs.hysteresis,
                vs.quorum.saturating_add(vs.hysteresis),
                keepalived_vs(vs)
            )
        } else {
            format!(
                "Lost quorum {}-{}={} > {live} for VS {}",
                vs.quorum,
                vs.hysteresis,
                vs.quorum.saturating_sub(vs.hysteresis),
                keepalived_vs(vs)
            )
        };
        self.actions.push_back(Action::QuorumChanged {
            virtual_server: vs.name.clone(),
            up: now_up,
            detail,
            keepalived,
        });
        let vs_name = vs.name.clone();
        self.update_announcement(&vs_name, &format!("quorum {word}"));
        let vs = &self.plan.virtual_servers[index];
        let script = if now_up {
            &vs.quorum_up
        } else {
            &vs.quorum_down
        };
        if let Some(argv) = script {
            self.actions.push_back(Action::Script {
                argv: argv.clone(),
                why: format!("virtual server {} quorum {word}", vs.name),
            });
        }
        if vs.smtp_alert {
            self.actions.push_back(Action::Alert {
                subject: format!(
                    "[{}] Virtualserver {} - QUORUM {word}",
                    self.router_id(),
                    vs.name
                ),
                body: format!(
                    "=> {} <=",
                    if now_up {
                        "Gained quorum"
                    } else {
                        "Lost quorum"
                    }
                ),
            });
        }
    }

    fn router_id(&self) -> String {
        self.plan.router_id.clone().unwrap_or_else(|| "ha".into())
    }

    /// Takes the kernel's table found at start as the truth about health, so that adopting it
    /// needs no operation: a checked real server missing from an existing service is down
    /// (until a check passes), and one at weight 0 is down with `inhibit_on_failure`, else
    /// drained. Returns how many real servers were adopted as down or drained.
    pub fn adopt(&mut self, kernel: &IpvsState, now: Instant) -> usize {
        let mut changed = 0;
        for vs in &self.plan.virtual_servers {
            let Some(found) = vs.services.first().and_then(|s| kernel.find(&s.key)) else {
                continue;
            };
            for rs in &vs.real_servers {
                if rs.health.checkers.is_empty() {
                    continue;
                }
                let id = rs_id(vs, rs);
                let Some(h) = self.health.get_mut(&id) else {
                    continue;
                };
                match found.destinations.iter().find(|d| d.addr == rs.addr()) {
                    None => {
                        h.up = false;
                        h.reason =
                            "not in the adopted IPVS table; waiting for a check to pass".into();
                        self.awaiting_success.insert(id);
                    }
                    Some(d) if d.weight == 0 && rs.health.weight > 0 => {
                        if rs.inhibit_on_failure {
                            h.up = false;
                            h.reason = "weight 0 in the adopted IPVS table (inhibit_on_failure); waiting for a check to pass".into();
                            self.awaiting_success.insert(id);
                        } else {
                            h.drained = true;
                            h.reason = "weight 0 in the adopted IPVS table: kept drained".into();
                        }
                    }
                    Some(_) => continue,
                }
                h.since = now;
                changed += 1;
            }
        }
        for vs in &self.plan.virtual_servers {
            let up = self.live_weight(vs) >= vs.quorum;
            self.quorum_up.insert(vs.name.clone(), up);
        }
        self.update_announcements("adopted IPVS table");
        changed
    }

    /// A health-check event. Returns whether anything changed.
    pub fn handle_health(&mut self, event: &Event, now: Instant) -> bool {
        let (server, up, weight, reason) = match event {
            Event::Up { server, cause } => (server, Some(true), None, cause.to_string()),
            Event::Down { server, cause } => (server, Some(false), None, cause.to_string()),
            Event::Weight { server, weight } => (
                server,
                None,
                Some(*weight),
                format!("weight set to {weight} by a checker"),
            ),
            Event::CheckFailed { check, failure } => {
                self.actions
                    .push_back(Action::Log(format!("{check}: check failed: {failure}")));
                return false;
            }
        };
        let Some(vs_index) = self
            .plan
            .virtual_servers
            .iter()
            .position(|vs| vs.name == server.virtual_server)
        else {
            return false;
        };
        if up == Some(true) {
            self.awaiting_success.remove(server);
        }
        let Some(h) = self.health.get_mut(server) else {
            return false;
        };
        let was_up = h.up;
        let mut changed = false;
        if let Some(w) = weight {
            changed |= h.weight != w;
            h.weight = w;
        }
        if let Some(up) = up {
            if up != h.up || h.reason != reason {
                changed = true;
            }
            if up != h.up {
                h.since = now;
            }
            h.up = up;
            h.reason = reason.clone();
        }
        let is_up = h.up;
        if up.is_some() && was_up != is_up {
            let vs = &self.plan.virtual_servers[vs_index];
            let rs = vs
                .real_servers
                .iter()
                .find(|rs| rs.addr() == server.real_server)
                .expect("health entries follow the plan");
            let word = if is_up { "UP" } else { "DOWN" };
            let effect = match (is_up, rs.inhibit_on_failure) {
                (true, _) => format!("weight {} in IPVS", rs.health.weight),
                (false, true) => "weight 0 in IPVS (inhibit_on_failure)".into(),
                (false, false) => "removed from IPVS".into(),
            };
            // keepalived's perform_svr_state wording.
            let (verb, preposition) = match (is_up, rs.inhibit_on_failure) {
                (true, true) => ("Enabling", "of"),
                (true, false) => ("Adding", "to"),
                (false, true) => ("Disabling", "of"),
                (false, false) => ("Removing", "from"),
            };
            let keepalived = format!(
                "{verb} service {} {preposition} VS {}",
                alert_name(server.real_server, vs),
                keepalived_vs(vs)
            );
            self.actions.push_back(Action::RealServerChanged {
                virtual_server: vs.name.clone(),
                server: server.real_server,
                up: is_up,
                reason: reason.clone(),
                effect,
                keepalived,
            });
            let script = if is_up {
                &rs.notify_up
            } else {
                &rs.notify_down
            };
            if let Some(argv) = script {
                self.actions.push_back(Action::Script {
                    argv: argv.clone(),
                    why: format!("real server {} {word}", server.real_server),
                });
            }
            if rs.smtp_alert {
                self.actions.push_back(Action::Alert {
                    subject: format!(
                        "[{}] Realserver {} of virtual server {} - {word}",
                        self.router_id(),
                        alert_name(server.real_server, vs),
                        vs.name
                    ),
                    body: format!("=> {reason} <="),
                });
            }
        }
        self.update_quorum(vs_index);
        changed
    }

    /// Drains (weight 0, connections kept) or re-enables every real server at `addr`, in
    /// `virtual_server` only when given. Returns the ids changed, or why none matched.
    pub fn set_drained(
        &mut self,
        addr: SocketAddr,
        virtual_server: Option<&str>,
        drained: bool,
    ) -> Result<Vec<RealServerId>, String> {
        let mut matched = Vec::new();
        for (id, h) in self.health.iter_mut() {
            if id.real_server == addr && virtual_server.is_none_or(|name| name == id.virtual_server)
            {
                h.drained = drained;
                matched.push(id.clone());
            }
        }
        if matched.is_empty() {
            return Err(match virtual_server {
                Some(vs) => format!("no real server {addr} in virtual server {vs}"),
                None => format!("no real server {addr} in any virtual server"),
            });
        }
        matched.sort();
        for i in 0..self.plan.virtual_servers.len() {
            if matched
                .iter()
                .any(|id| id.virtual_server == self.plan.virtual_servers[i].name)
            {
                self.update_quorum(i);
            }
        }
        Ok(matched)
    }

    /// A VRRP instance's state changed. Returns whether the set of suspended virtual servers
    /// changed (the runner then gives the engine the checks to run).
    pub fn handle_vrrp(&mut self, instance: &str, master: bool) -> bool {
        let before: Vec<String> = self.suspended().into_iter().map(String::from).collect();
        if master {
            self.masters.insert(instance.to_string());
        } else {
            self.masters.remove(instance);
        }
        before
            != self
                .suspended()
                .into_iter()
                .map(String::from)
                .collect::<Vec<_>>()
    }

    /// Virtual servers whose checks wait for their VRRP instance to be MASTER (`ha_suspend`).
    pub fn suspended(&self) -> Vec<&str> {
        self.plan
            .virtual_servers
            .iter()
            .filter(|vs| {
                vs.suspend_with
                    .as_ref()
                    .is_some_and(|vi| !self.masters.contains(vi))
            })
            .map(|vs| vs.name.as_str())
            .collect()
    }

    /// The checks the engine should run: every real server's, except those of suspended
    /// virtual servers.
    pub fn health_configs(&self) -> Vec<healthcheck::RealServerConfig> {
        let suspended = self.suspended();
        self.plan
            .virtual_servers
            .iter()
            .filter(|vs| !suspended.contains(&vs.name.as_str()))
            .flat_map(|vs| {
                vs.real_servers.iter().map(|rs| {
                    let mut config = rs.health.clone();
                    if self.awaiting_success.contains(&rs_id(vs, rs)) {
                        for c in &mut config.checkers {
                            c.timing.alpha = true;
                        }
                    }
                    config
                })
            })
            .collect()
    }

    fn desired_weight(
        &self,
        vs: &VirtualServerPlan,
        rs: &RealServerPlan,
        quorum_up: bool,
    ) -> Option<u32> {
        let h = self.health.get(&rs_id(vs, rs))?;
        let inhibit = rs.inhibit_on_failure.then_some(0);
        if !h.up {
            return inhibit;
        }
        if !quorum_up && vs.sorry_server.is_some() {
            return inhibit;
        }
        Some(if h.drained { 0 } else { h.weight })
    }

    /// The IPVS table this director wants, for its own services only.
    pub fn desired(&self) -> IpvsState {
        let mut state = IpvsState::default();
        for vs in &self.plan.virtual_servers {
            let quorum_up = self.quorum_up.get(&vs.name).copied().unwrap_or(true);
            let mut destinations: Vec<Destination> = Vec::with_capacity(vs.real_servers.len() + 1);
            for rs in &vs.real_servers {
                if let Some(weight) = self.desired_weight(vs, rs, quorum_up) {
                    let mut d = rs.destination.clone();
                    d.weight = weight;
                    destinations.push(d);
                }
            }
            if let Some(sorry) = &vs.sorry_server {
                let weight = match (quorum_up, vs.sorry_server_inhibit) {
                    (false, _) => Some(sorry.weight),
                    (true, true) => Some(0),
                    (true, false) => None,
                };
                if let Some(weight) = weight {
                    if !destinations.iter().any(|d| d.addr == sorry.addr) {
                        let mut d = sorry.clone();
                        d.weight = weight;
                        destinations.push(d);
                    }
                }
            }
            for service in &vs.services {
                state.services.push(VirtualService {
                    service: service.clone(),
                    destinations: destinations.clone(),
                });
            }
        }
        state
    }

    /// The virtual servers as `ha status` shows them, with the weights and connection
    /// counts of `kernel` (a fresh read; `None` when IPVS cannot be read) and ages at `now`.
    pub fn report(&self, now: Instant, kernel: Option<&IpvsState>) -> Vec<VirtualServerReport> {
        let suspended = self.suspended();
        self.plan
            .virtual_servers
            .iter()
            .map(|vs| {
                let quorum_up = self.quorum_up.get(&vs.name).copied().unwrap_or(true);
                let in_kernel: Vec<&VirtualService> = kernel
                    .iter()
                    .flat_map(|t| t.services.iter())
                    .filter(|k| vs.services.iter().any(|s| s.key == k.service.key))
                    .collect();
                VirtualServerReport {
                    name: vs.name.clone(),
                    services: vs.services.iter().map(|s| s.key.to_string()).collect(),
                    scheduler: vs
                        .services
                        .first()
                        .map(|s| s.scheduler.clone())
                        .unwrap_or_default(),
                    quorum: vs.quorum,
                    live_weight: self.live_weight(vs),
                    quorum_up,
                    sorry_server: vs.sorry_server.as_ref().map(|d| d.addr),
                    sorry_server_active: !quorum_up && vs.sorry_server.is_some(),
                    suspended: suspended.contains(&vs.name.as_str()),
                    announced: (!vs.announce.is_empty()).then(|| self.announced.contains(&vs.name)),
                    real_servers: vs
                        .real_servers
                        .iter()
                        .filter_map(|rs| {
                            let h = self.health.get(&rs_id(vs, rs))?;
                            let dests: Vec<&Destination> = in_kernel
                                .iter()
                                .filter_map(|s| s.destinations.iter().find(|d| d.addr == rs.addr()))
                                .collect();
                            Some(RealServerReport {
                                address: rs.addr(),
                                health: if h.up { "up" } else { "down" }.into(),
                                drained: h.drained,
                                configured_weight: rs.health.weight,
                                desired_weight: self.desired_weight(vs, rs, quorum_up),
                                weight: dests.first().map(|d| d.weight),
                                in_ipvs: !dests.is_empty(),
                                last_reason: h.reason.clone(),
                                seconds_since_change: now
                                    .saturating_duration_since(h.since)
                                    .as_secs_f64(),
                                active_connections: dests.iter().map(|d| d.counters.active).sum(),
                                inactive_connections: dests
                                    .iter()
                                    .map(|d| d.counters.inactive)
                                    .sum(),
                                traffic: TrafficReport::sum(
                                    dests.iter().filter_map(|d| d.stats.as_ref()),
                                ),
                            })
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// The operations that turn `kernel` (the table the kernel is known to hold) into what
    /// this configuration wants, touching only this run's services. `reread`: `kernel` was
    /// known before and has just been read again, so a difference while the desired table is
    /// still the one last applied was made behind the director's back (a repair, counted).
    /// The first call adopts what the kernel holds: an unchanged table needs no operation.
    /// With an empty plan the table is taken as applied; otherwise report the outcome with
    /// [`LvsState::record_applied`].
    pub fn reconcile(&mut self, kernel: &IpvsState, reread: bool) -> Reconciliation {
        let desired = self.desired();
        let desired_keys: HashSet<ServiceKey> =
            desired.services.iter().map(|s| s.service.key).collect();
        let managed = &self.programmed.managed;
        let ours = |k: &ServiceKey| desired_keys.contains(k) || managed.contains(k);
        let plan = if kernel.services.iter().all(|s| ours(&s.service.key)) {
            ipvs_sys::plan(&desired, kernel)
        } else {
            // Services of other users of IPVS on this host are not ours to delete.
            let mine = IpvsState {
                services: kernel
                    .services
                    .iter()
                    .filter(|s| ours(&s.service.key))
                    .cloned()
                    .collect(),
            };
            ipvs_sys::plan(&desired, &mine)
        };
        let programmed = &mut self.programmed;
        let mut adopted = None;
        if !programmed.adopted {
            programmed.adopted = true;
            let found = kernel
                .services
                .iter()
                .filter(|s| desired_keys.contains(&s.service.key));
            let (services, destinations) =
                found.fold((0, 0), |(n, d), s| (n + 1, d + s.destinations.len()));
            if services > 0 {
                adopted = Some(Adopted {
                    services,
                    destinations,
                });
            }
        }
        if plan.is_empty() {
            programmed.managed = desired_keys;
            programmed.last_applied = Some(desired);
            programmed.pending = None;
            return Reconciliation {
                ops: Vec::new(),
                repair: false,
                adopted,
            };
        }
        let repair = reread && programmed.last_applied.as_ref() == Some(&desired);
        if repair {
            programmed.repairs += 1;
        }
        programmed.pending = Some(desired);
        Reconciliation {
            ops: plan.ops,
            repair,
            adopted,
        }
    }

    /// Takes the outcome of applying the ops of the last [`LvsState::reconcile`], one result
    /// per op: the desired services are now this run's, and so are those whose deletion was
    /// refused (they may still be in the kernel, and are deleted later or at stop).
    pub fn record_applied(&mut self, ops: &[Op], results: &[Result<(), ipvs_sys::Error>]) {
        let programmed = &mut self.programmed;
        let Some(desired) = programmed.pending.take() else {
            return;
        };
        programmed.managed = desired.services.iter().map(|s| s.service.key).collect();
        let mut refused = false;
        for (op, result) in ops.iter().zip(results) {
            if result.is_err() {
                refused = true;
                if let Op::DeleteService(k) = op {
                    programmed.managed.insert(*k);
                }
            }
        }
        programmed.last_applied = (!refused).then_some(desired);
    }

    /// How many times the kernel's table was found changed behind the director's back.
    pub fn repairs(&self) -> u64 {
        self.programmed.repairs
    }

    /// What to do with the kernel's table at stop: as configured, unless `keep`
    /// (`--keep-ipvs-on-stop`) says to leave it.
    pub fn stop_policy(&self, keep: bool) -> StopPolicy {
        if keep {
            StopPolicy::Keep
        } else {
            self.plan.on_stop
        }
    }

    /// The operations that carry out `policy` at stop. Removing ours deletes this run's
    /// services that are in `kernel`, the table last known (all of them when unknown).
    pub fn stop_ops(&self, policy: StopPolicy, kernel: Option<&IpvsState>) -> Vec<Op> {
        let managed = &self.programmed.managed;
        match policy {
            StopPolicy::Keep => Vec::new(),
            StopPolicy::FlushAll => vec![Op::Flush],
            StopPolicy::RemoveOurs => {
                let mut keys: Vec<ServiceKey> = match kernel {
                    Some(t) => t
                        .services
                        .iter()
                        .map(|s| s.service.key)
                        .filter(|k| managed.contains(k))
                        .collect(),
                    None => managed.iter().copied().collect(),
                };
                keys.sort();
                keys.dedup();
                keys.into_iter().map(Op::DeleteService).collect()
            }
        }
    }

    /// Whether `ha_announce` virtual server `vs` should be announced: it has quorum, the
    /// director is not drained and not stopping.
    fn should_announce(&self, vs: &VirtualServerPlan) -> bool {
        !vs.announce.is_empty()
            && !self.director_drained
            && !self.stopping
            && self.quorum_up.get(&vs.name).copied().unwrap_or(true)
    }

    /// Announces or withdraws virtual server `name` as [`Self::should_announce`] says,
    /// queuing the event on a change.
    fn update_announcement(&mut self, name: &str, reason: &str) {
        let Some(vs) = self.plan.virtual_servers.iter().find(|vs| vs.name == name) else {
            return;
        };
        let wanted = self.should_announce(vs);
        if wanted == self.announced.contains(name) {
            return;
        }
        let addresses = vs.announce.clone();
        let smtp_alert = vs.smtp_alert;
        let word = if wanted { "ANNOUNCED" } else { "WITHDRAWN" };
        if let Some(argv) = &vs.announce_notify {
            let mut argv = argv.clone();
            argv.extend([word.to_string(), name.to_string(), reason.to_string()]);
            self.actions.push_back(Action::Script {
                argv,
                why: format!("virtual server {name} {word}"),
            });
        }
        if wanted {
            self.announced.insert(name.to_string());
        } else {
            self.announced.remove(name);
        }
        if smtp_alert {
            self.actions.push_back(Action::Alert {
                subject: format!("[{}] Virtualserver {name} - {word}", self.router_id()),
                body: format!("=> {word} ({reason}) <="),
            });
        }
        self.actions.push_back(Action::AnnounceChanged {
            virtual_server: name.to_string(),
            addresses,
            announced: wanted,
            reason: reason.to_string(),
        });
    }

    /// [`Self::update_announcement`] for every virtual server, and forgets those a reload
    /// removed (the runner takes their addresses off with [`Self::announced_addresses`]).
    fn update_announcements(&mut self, reason: &str) {
        let names: Vec<String> = self
            .plan
            .virtual_servers
            .iter()
            .map(|vs| vs.name.clone())
            .collect();
        self.announced.retain(|n| names.contains(n));
        for name in names {
            self.update_announcement(&name, reason);
        }
    }

    /// `ha drain --director` (`drained`) or `ha enable --director`: withdraws (or announces
    /// again) every `ha_announce` virtual server; IPVS and the checks are left as they are,
    /// so established flows that still reach this director are served. Returns what changed.
    pub fn set_director_drained(&mut self, drained: bool) -> String {
        let before = self.announced.len();
        self.director_drained = drained;
        self.update_announcements(if drained {
            "director drained"
        } else {
            "director enabled"
        });
        let after = self.announced.len();
        let announcing = self
            .plan
            .virtual_servers
            .iter()
            .filter(|vs| !vs.announce.is_empty())
            .count();
        if drained {
            format!(
                "director drained: {} announced virtual server(s) withdrawn ({announcing} with ha_announce); IPVS unchanged",
                before - after.min(before)
            )
        } else {
            format!(
                "director enabled: {after} of {announcing} ha_announce virtual server(s) announced (the others lack quorum)"
            )
        }
    }

    /// Whether `ha drain --director` is in force.
    pub fn director_drained(&self) -> bool {
        self.director_drained
    }

    /// The addresses that belong on the announce interface now (an address shared by
    /// several virtual servers is there while any of them is announced).
    pub fn announced_addresses(&self) -> std::collections::BTreeSet<std::net::IpAddr> {
        self.plan
            .virtual_servers
            .iter()
            .filter(|vs| self.announced.contains(&vs.name))
            .flat_map(|vs| vs.announce.iter().copied())
            .collect()
    }

    /// `omega`: at stop, the notify_down and quorum_down scripts of what is up; every
    /// announced address is withdrawn.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.update_announcements("stopping");
        for vs in &self.plan.virtual_servers {
            if !vs.omega {
                continue;
            }
            for rs in &vs.real_servers {
                let up = self.health.get(&rs_id(vs, rs)).is_some_and(|h| h.up);
                if let (true, Some(argv)) = (up, &rs.notify_down) {
                    self.actions.push_back(Action::Script {
                        argv: argv.clone(),
                        why: format!("real server {} DOWN (omega, stopping)", rs.addr()),
                    });
                }
            }
            if let (Some(true), Some(argv)) = (self.quorum_up.get(&vs.name), &vs.quorum_down) {
                self.actions.push_back(Action::Script {
                    argv: argv.clone(),
                    why: format!("virtual server {} quorum DOWN (omega, stopping)", vs.name),
                });
            }
        }
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use healthcheck::{DownCause, Failure, UpCause};

    fn plan(text: &str) -> LvsPlan {
        LvsPlan::from_config(&super::super::plan::parse_for_test(text)).unwrap()
    }

    fn id(vs: &str, rs: &str) -> RealServerId {
        RealServerId {
            virtual_server: vs.into(),
            real_server: rs.parse().unwrap(),
        }
    }

    fn down(vs: &str, rs: &str) -> Event {
        Event::Down {
            server: id(vs, rs),
            cause: DownCause::Failed {
                checker: "TCP_CHECK#0".into(),
                failure: Failure::Refused,
            },
        }
    }

    fn up(vs: &str, rs: &str) -> Event {
        Event::Up {
            server: id(vs, rs),
            cause: UpCause::Recovered {
                checker: "TCP_CHECK#0".into(),
            },
        }
    }

    /// `(address, weight)` of each destination of the first service.
    fn weights(s: &LvsState) -> Vec<(String, u32)> {
        s.desired().services[0]
            .destinations
            .iter()
            .map(|d| (d.addr.to_string(), d.weight))
            .collect()
    }

    fn drain_actions(s: &mut LvsState) -> Vec<Action> {
        std::iter::from_fn(|| s.poll_action()).collect()
    }

    const TWO: &str = "virtual_server 10.0.0.100 80 {\n lb_kind DR\n\
        real_server 10.0.0.1 80 { weight 2\n notify_down \"/bin/down 1\"\n notify_up \"/bin/up 1\"\n TCP_CHECK { } }\n\
        real_server 10.0.0.2 80 { inhibit_on_failure\n TCP_CHECK { } }\n}\n";

    #[test]
    fn failed_real_server_is_removed_or_inhibited_and_comes_back() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        assert_eq!(
            weights(&s),
            [("10.0.0.1:80".into(), 2), ("10.0.0.2:80".into(), 1)]
        );
        assert!(s.handle_health(&down("10.0.0.100:80", "10.0.0.1:80"), t0));
        assert!(s.handle_health(&down("10.0.0.100:80", "10.0.0.2:80"), t0));
        assert_eq!(weights(&s), [("10.0.0.2:80".into(), 0)]);
        let actions = drain_actions(&mut s);
        assert!(actions.contains(&Action::Script {
            argv: vec!["/bin/down".into(), "1".into()],
            why: "real server 10.0.0.1:80 DOWN".into()
        }));
        assert!(actions.iter().any(|a| matches!(a, Action::Alert { subject, .. }
            if subject == "[ha] Realserver [10.0.0.1]:tcp:80 of virtual server 10.0.0.100:80 - DOWN")));
        s.handle_health(&up("10.0.0.100:80", "10.0.0.1:80"), t0);
        assert_eq!(
            weights(&s),
            [("10.0.0.1:80".into(), 2), ("10.0.0.2:80".into(), 0)]
        );
        // The same state again changes nothing and runs nothing.
        drain_actions(&mut s);
        assert!(!s.handle_health(&up("10.0.0.100:80", "10.0.0.1:80"), t0));
        assert!(drain_actions(&mut s)
            .iter()
            .all(|a| !matches!(a, Action::Script { .. })));
    }

    #[test]
    fn drain_sets_weight_zero_and_enable_restores_it() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        let ids = s
            .set_drained("10.0.0.1:80".parse().unwrap(), None, true)
            .unwrap();
        assert_eq!(ids, [id("10.0.0.100:80", "10.0.0.1:80")]);
        assert_eq!(
            weights(&s),
            [("10.0.0.1:80".into(), 0), ("10.0.0.2:80".into(), 1)]
        );
        s.set_drained("10.0.0.1:80".parse().unwrap(), Some("10.0.0.100:80"), false)
            .unwrap();
        assert_eq!(weights(&s)[0], ("10.0.0.1:80".into(), 2));
        let e = s
            .set_drained("10.0.0.9:80".parse().unwrap(), None, true)
            .unwrap_err();
        assert_eq!(e, "no real server 10.0.0.9:80 in any virtual server");
    }

    #[test]
    fn quorum_with_hysteresis_switches_to_the_sorry_server_and_back() {
        let t0 = Instant::now();
        let vs = "10.0.0.100:80";
        let mut s = LvsState::new(
            plan(
                "virtual_server 10.0.0.100 80 {\n quorum 3\n hysteresis 1\n sorry_server 10.0.0.9 80\n\
                 quorum_up /bin/qup\n quorum_down /bin/qdown\n\
                 real_server 10.0.0.1 80 { weight 2 }\n real_server 10.0.0.2 80 { weight 1 }\n real_server 10.0.0.3 80 { weight 1 }\n}\n",
            ),
            t0,
        );
        assert_eq!(weights(&s).len(), 3);
        // Live 4 → 3: still ≥ quorum - hysteresis (2).
        s.handle_health(&down(vs, "10.0.0.3:80"), t0);
        assert_eq!(weights(&s).len(), 2);
        // Live 3 → 1: below 2, quorum lost: only the sorry server.
        s.handle_health(&down(vs, "10.0.0.1:80"), t0);
        assert_eq!(weights(&s), [("10.0.0.9:80".into(), 1)]);
        let actions = drain_actions(&mut s);
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::Script { argv, .. } if argv[0] == "/bin/qdown")));
        // Live 1 → 3: not yet ≥ quorum + hysteresis (4).
        s.handle_health(&up(vs, "10.0.0.1:80"), t0);
        assert_eq!(weights(&s), [("10.0.0.9:80".into(), 1)]);
        // Live 4: quorum regained, the sorry server goes.
        s.handle_health(&up(vs, "10.0.0.3:80"), t0);
        assert_eq!(weights(&s).len(), 3);
        assert!(!weights(&s).iter().any(|(a, _)| a == "10.0.0.9:80"));
        let actions = drain_actions(&mut s);
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::Script { argv, .. } if argv[0] == "/bin/qup")));
    }

    #[test]
    fn quorum_starts_up_only_at_quorum_plus_hysteresis_as_in_keepalived() {
        // keepalived's set_quorum_states: live 2 with quorum 2 ± 1 starts down, with the
        // sorry server in use; at live 3 it starts up.
        let t0 = Instant::now();
        let conf = |w: u32| {
            format!(
                "virtual_server 10.0.0.100 80 {{\n quorum 2\n hysteresis 1\n sorry_server 10.0.0.9 80\n\
                 real_server 10.0.0.1 80 {{ weight {w} }}\n real_server 10.0.0.2 80 {{ }}\n}}\n"
            )
        };
        let s = LvsState::new(plan(&conf(1)), t0);
        assert_eq!(weights(&s), [("10.0.0.9:80".into(), 1)]);
        let s = LvsState::new(plan(&conf(2)), t0);
        assert_eq!(
            weights(&s),
            [("10.0.0.1:80".into(), 2), ("10.0.0.2:80".into(), 1)]
        );
    }

    #[test]
    fn reload_keeps_health_and_drains_of_unchanged_real_servers() {
        let t0 = Instant::now();
        let vs = "10.0.0.100:80";
        let mut s = LvsState::new(plan(TWO), t0);
        s.handle_health(&down(vs, "10.0.0.2:80"), t0);
        s.set_drained("10.0.0.1:80".parse().unwrap(), None, true)
            .unwrap();
        let more = TWO.replace("}\n}\n", "}\n real_server 10.0.0.3 80 { }\n}\n");
        s.set_plan(plan(&more), t0);
        assert_eq!(
            weights(&s),
            [
                ("10.0.0.1:80".into(), 0),
                ("10.0.0.2:80".into(), 0),
                ("10.0.0.3:80".into(), 1)
            ]
        );
    }

    #[test]
    fn adopting_a_table_takes_missing_servers_as_down_and_weight_zero_as_drained() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        let mut kernel = s.desired();
        // 10.0.0.1 absent, 10.0.0.2 (inhibit_on_failure) at weight 0.
        kernel.services[0].destinations.remove(0);
        kernel.services[0].destinations[0].weight = 0;
        assert_eq!(s.adopt(&kernel, t0), 2);
        assert_eq!(s.desired(), kernel);
        assert!(s
            .health_configs()
            .iter()
            .all(|c| c.checkers[0].timing.alpha));
        s.handle_health(&up("10.0.0.100:80", "10.0.0.1:80"), t0);
        assert!(!s.health_configs()[0].checkers[0].timing.alpha);
        assert_eq!(weights(&s)[0], ("10.0.0.1:80".into(), 2));
    }

    #[test]
    fn report_joins_health_with_the_kernel_table() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        s.handle_health(&down("10.0.0.100:80", "10.0.0.2:80"), t0);
        let mut kernel = s.desired();
        kernel.services[0].destinations[0].counters.active = 7;
        let report = s.report(t0 + std::time::Duration::from_secs(2), Some(&kernel));
        let rs = &report[0].real_servers;
        assert_eq!(report[0].services, ["TCP 10.0.0.100:80"]);
        assert_eq!(
            (
                rs[0].health.as_str(),
                rs[0].weight,
                rs[0].active_connections
            ),
            ("up", Some(2), 7)
        );
        assert_eq!(
            (rs[1].health.as_str(), rs[1].weight, rs[1].desired_weight),
            ("down", Some(0), Some(0))
        );
        assert_eq!(rs[1].seconds_since_change, 2.0);
        assert_eq!(rs[1].last_reason, "TCP_CHECK#0: connection refused");
        // Without a kernel table: nothing in IPVS, the health as known.
        let report = s.report(t0, None);
        assert!(report[0]
            .real_servers
            .iter()
            .all(|r| !r.in_ipvs && r.weight.is_none()));
    }

    #[test]
    fn alpha_servers_start_down_and_ha_suspend_follows_vrrp() {
        let t0 = Instant::now();
        let mut s = LvsState::new(
            plan(
                "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.100 }\n}\n\
                 virtual_server 10.0.0.100 80 {\n alpha\n ha_suspend\n real_server 10.0.0.1 80 { TCP_CHECK { } }\n}\n",
            ),
            t0,
        );
        assert!(weights(&s).is_empty());
        assert_eq!(s.suspended(), ["10.0.0.100:80"]);
        assert!(s.health_configs().is_empty());
        assert!(s.handle_vrrp("VI_1", true));
        assert_eq!(s.health_configs().len(), 1);
        assert!(!s.handle_vrrp("VI_1", true));
    }

    /// Another user's service on this host, which this director must never touch.
    fn foreign() -> VirtualService {
        let key = ipvs_sys::ServiceKey::tcp("192.168.7.7:53".parse().unwrap());
        VirtualService {
            service: ipvs_sys::Service::new(key, "wrr"),
            destinations: vec![Destination::new(
                "192.168.7.8:53".parse().unwrap(),
                ipvs_sys::ForwardMethod::Masq,
                3,
            )],
        }
    }

    /// The service an operation touches, if any.
    fn touched(op: &Op) -> Option<ServiceKey> {
        match op {
            Op::AddService(s) | Op::EditService(s) => Some(s.key),
            Op::DeleteService(k)
            | Op::AddDest(k, _)
            | Op::EditDest(k, _)
            | Op::DeleteDest(k, _) => Some(*k),
            Op::Zero(k) => *k,
            Op::Flush | Op::SetTimeouts(_) | Op::StartDaemon(_) | Op::StopDaemon(_) => None,
        }
    }

    /// Plans against `kernel`, applies the ops to it as the kernel would (refusing those at
    /// the indexes in `refuse`) and records the results. Returns the reconciliation.
    fn apply(
        s: &mut LvsState,
        kernel: &mut IpvsState,
        reread: bool,
        refuse: &[usize],
    ) -> Reconciliation {
        let step = s.reconcile(kernel, reread);
        let results: Vec<_> = step
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| {
                if refuse.contains(&i) {
                    return Err(ipvs_sys::Error::Io {
                        what: "test".into(),
                        source: std::io::Error::other("refused"),
                    });
                }
                assert!(ipvs_sys::reconcile::apply_to(kernel, op), "{op:?}");
                Ok(())
            })
            .collect();
        if !step.ops.is_empty() {
            s.record_applied(&step.ops, &results);
        }
        step
    }

    const OTHER: &str = "virtual_server 10.0.0.200 80 {\n real_server 10.0.0.5 80 { }\n}\n";

    fn key(addr: &str) -> ServiceKey {
        ServiceKey::tcp(addr.parse().unwrap())
    }

    #[test]
    fn others_services_are_never_planned_nor_removed_at_stop() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        let mut kernel = IpvsState {
            services: vec![foreign()],
        };
        let theirs = foreign().service.key;
        let step = apply(&mut s, &mut kernel, false, &[]);
        assert_eq!(step.adopted, None);
        assert_eq!(step.ops.len(), 3);
        assert!(step.ops.iter().all(|op| touched(op) != Some(theirs)));
        // A reload to another virtual server deletes ours, not theirs.
        s.set_plan(plan(OTHER), t0);
        let step = apply(&mut s, &mut kernel, true, &[]);
        assert!(step.ops.contains(&Op::DeleteService(key("10.0.0.100:80"))));
        assert!(step.ops.iter().all(|op| touched(op) != Some(theirs)));
        assert_eq!(kernel.services[0], foreign());
        // Once deleted, 10.0.0.100:80 is no longer ours: if someone else creates it again,
        // it is left alone.
        let mut again = LvsState::new(plan(TWO), t0).desired();
        kernel.services.append(&mut again.services);
        assert!(s.reconcile(&kernel, true).ops.is_empty());
        assert_eq!(
            s.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)),
            [Op::DeleteService(key("10.0.0.200:80"))]
        );
    }

    #[test]
    fn an_adopted_unchanged_table_needs_no_operation() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        let mut kernel = s.desired();
        kernel.services.push(foreign());
        let step = s.reconcile(&kernel, false);
        assert_eq!(
            step,
            Reconciliation {
                ops: Vec::new(),
                repair: false,
                adopted: Some(Adopted {
                    services: 1,
                    destinations: 2
                }),
            }
        );
        // Adopted once; the services found are ours to remove at stop.
        assert_eq!(s.reconcile(&kernel, true).adopted, None);
        assert_eq!(
            s.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)),
            [Op::DeleteService(key("10.0.0.100:80"))]
        );
        assert_eq!(s.repairs(), 0);
    }

    #[test]
    fn a_change_behind_our_back_is_a_repair_counted_once_and_ours_is_not() {
        let t0 = Instant::now();
        let vs = "10.0.0.100:80";
        let mut s = LvsState::new(plan(TWO), t0);
        let mut kernel = IpvsState::default();
        // The first programming is no repair, even read again.
        assert!(!apply(&mut s, &mut kernel, false, &[]).repair);
        assert!(s.reconcile(&kernel, true).ops.is_empty());
        // ipvsadm by hand: a destination removed.
        kernel.services[0].destinations.remove(0);
        let step = apply(&mut s, &mut kernel, true, &[]);
        assert!(step.repair);
        assert_eq!(step.ops.len(), 1);
        assert_eq!(s.repairs(), 1);
        assert!(!apply(&mut s, &mut kernel, true, &[]).repair);
        assert_eq!(s.repairs(), 1);
        // Our own change (a real server down) re-read is no repair.
        s.handle_health(&down(vs, "10.0.0.1:80"), t0);
        let step = apply(&mut s, &mut kernel, true, &[]);
        assert_eq!(
            step.ops,
            [Op::DeleteDest(key(vs), "10.0.0.1:80".parse().unwrap())]
        );
        assert!(!step.repair);
        // A change found at a first read (at start, or after a failure) is no repair either.
        kernel.services[0].destinations.clear();
        let step = apply(&mut s, &mut kernel, false, &[]);
        assert!(!step.ops.is_empty() && !step.repair);
        // Nor one found after a refused operation: what the kernel holds was unknown.
        kernel.services[0].destinations.clear();
        s.handle_health(&up(vs, "10.0.0.1:80"), t0);
        let step = apply(&mut s, &mut kernel, true, &[0]);
        assert!(!step.repair);
        kernel.services[0].destinations.clear();
        assert!(!apply(&mut s, &mut kernel, true, &[]).repair);
        assert_eq!(s.repairs(), 1);
    }

    #[test]
    fn a_refused_delete_keeps_the_service_ours() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        let mut kernel = IpvsState::default();
        apply(&mut s, &mut kernel, false, &[]);
        s.set_plan(plan(OTHER), t0);
        let ours = key("10.0.0.100:80");
        let ops = s.reconcile(&kernel, false).ops;
        let delete = ops
            .iter()
            .position(|op| *op == Op::DeleteService(ours))
            .unwrap();
        // The same plan again, the kernel refusing the delete.
        assert_eq!(apply(&mut s, &mut kernel, false, &[delete]).ops, ops);
        assert!(kernel.find(&ours).is_some());
        // Still ours: deleted at the next reconcile, or at stop.
        assert_eq!(
            s.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)),
            [
                Op::DeleteService(ours),
                Op::DeleteService(key("10.0.0.200:80"))
            ]
        );
        assert_eq!(
            apply(&mut s, &mut kernel, false, &[]).ops,
            [Op::DeleteService(ours)]
        );
        assert!(kernel.find(&ours).is_none());
    }

    #[test]
    fn stop_ops_follow_the_policy() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(TWO), t0);
        assert_eq!(s.stop_policy(false), StopPolicy::RemoveOurs);
        assert_eq!(s.stop_policy(true), StopPolicy::Keep);
        // Nothing programmed yet: nothing of ours to remove.
        assert!(s.stop_ops(StopPolicy::RemoveOurs, None).is_empty());
        let mut kernel = IpvsState {
            services: vec![foreign()],
        };
        apply(&mut s, &mut kernel, false, &[]);
        let ours = [Op::DeleteService(key("10.0.0.100:80"))];
        assert!(s.stop_ops(StopPolicy::Keep, Some(&kernel)).is_empty());
        assert_eq!(s.stop_ops(StopPolicy::FlushAll, Some(&kernel)), [Op::Flush]);
        assert_eq!(s.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)), ours);
        // The table unknown (IPVS failed): every service of ours is deleted.
        assert_eq!(s.stop_ops(StopPolicy::RemoveOurs, None), ours);
        // Ours but gone from the kernel: nothing to delete.
        kernel.services.truncate(1);
        assert!(s.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)).is_empty());
        let flush = LvsState::new(
            plan(&format!("global_defs {{\n lvs_flush_on_stop\n}}\n{TWO}")),
            t0,
        );
        assert_eq!(flush.stop_policy(false), StopPolicy::FlushAll);
        assert_eq!(flush.stop_policy(true), StopPolicy::Keep);
    }

    fn announce_events(s: &mut LvsState) -> Vec<(String, bool, String)> {
        drain_actions(s)
            .into_iter()
            .filter_map(|a| match a {
                Action::AnnounceChanged {
                    virtual_server,
                    announced,
                    reason,
                    ..
                } => Some((virtual_server, announced, reason)),
                _ => None,
            })
            .collect()
    }

    fn addrs(s: &LvsState) -> Vec<String> {
        s.announced_addresses()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const ANNOUNCED: &str = "global_defs {\n ha_announce_interface lb0\n}\n\
        virtual_server 192.0.2.10 80 {\n ha_announce\n real_server 10.0.0.1 80 { TCP_CHECK { } }\n}\n\
        virtual_server 192.0.2.10 443 {\n ha_announce\n real_server 10.0.0.2 443 { TCP_CHECK { } }\n}\n\
        virtual_server 2001:db8::10 80 {\n ha_announce\n real_server 2001:db8::1 80 { TCP_CHECK { } }\n}\n\
        virtual_server 192.0.2.20 80 {\n real_server 10.0.0.3 80 { TCP_CHECK { } }\n}\n";

    #[test]
    fn announced_while_quorum_holds_withdrawn_when_it_is_lost() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(ANNOUNCED), t0);
        assert_eq!(s.plan().announce_interface.as_deref(), Some("lb0"));
        // Checks start up (no alpha): quorum holds, every ha_announce address is announced
        // (192.0.2.10 once for two services); 192.0.2.20 has no ha_announce.
        assert_eq!(addrs(&s), ["192.0.2.10", "2001:db8::10"]);
        let events = announce_events(&mut s);
        assert_eq!(events.len(), 3);
        assert!(events.iter().all(|(_, up, why)| *up && why == "configured"));
        // Port 80 loses quorum: 192.0.2.10 stays, port 443 still has it.
        s.handle_health(&down("192.0.2.10:80", "10.0.0.1:80"), t0);
        assert_eq!(
            announce_events(&mut s),
            [("192.0.2.10:80".into(), false, "quorum DOWN".into())]
        );
        assert_eq!(addrs(&s), ["192.0.2.10", "2001:db8::10"]);
        s.handle_health(&down("192.0.2.10:443", "10.0.0.2:443"), t0);
        assert_eq!(addrs(&s), ["2001:db8::10"]);
        s.handle_health(&up("192.0.2.10:80", "10.0.0.1:80"), t0);
        assert_eq!(
            announce_events(&mut s),
            [
                ("192.0.2.10:443".into(), false, "quorum DOWN".into()),
                ("192.0.2.10:80".into(), true, "quorum UP".into())
            ]
        );
        assert_eq!(addrs(&s), ["192.0.2.10", "2001:db8::10"]);
        let report = s.report(t0, None);
        assert_eq!(report[0].announced, Some(true));
        assert_eq!(report[1].announced, Some(false));
        assert_eq!(report[3].announced, None);
        // Draining the only real server loses quorum too.
        s.set_drained("10.0.0.1:80".parse().unwrap(), None, true)
            .unwrap();
        assert_eq!(addrs(&s), ["2001:db8::10"]);
    }

    #[test]
    fn a_drained_or_stopping_director_withdraws_everything_and_keeps_ipvs() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(ANNOUNCED), t0);
        drain_actions(&mut s);
        let table = s.desired();
        let message = s.set_director_drained(true);
        assert!(
            message.contains("3 announced virtual server(s) withdrawn"),
            "{message}"
        );
        assert!(s.announced_addresses().is_empty());
        assert_eq!(s.desired(), table, "IPVS is not touched");
        let events = announce_events(&mut s);
        assert_eq!(events.len(), 3);
        assert!(events
            .iter()
            .all(|(_, up, why)| !*up && why == "director drained"));
        // Quorum changes while drained announce nothing.
        s.handle_health(&down("192.0.2.10:80", "10.0.0.1:80"), t0);
        s.handle_health(&up("192.0.2.10:80", "10.0.0.1:80"), t0);
        assert!(announce_events(&mut s).is_empty());
        assert!(s.announced_addresses().is_empty());
        // A reload keeps the drain (the README says so).
        s.set_plan(plan(ANNOUNCED), t0);
        assert!(s.director_drained());
        assert!(s.announced_addresses().is_empty());
        assert!(announce_events(&mut s).is_empty());
        s.handle_health(&down("192.0.2.10:443", "10.0.0.2:443"), t0);
        let message = s.set_director_drained(false);
        assert_eq!(
            message,
            "director enabled: 2 of 3 ha_announce virtual server(s) announced (the others lack quorum)"
        );
        assert_eq!(addrs(&s), ["192.0.2.10", "2001:db8::10"]);
        drain_actions(&mut s);
        s.stop();
        assert!(s.announced_addresses().is_empty());
        let events = announce_events(&mut s);
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|(_, up, why)| !*up && why == "stopping"));
    }

    #[test]
    fn a_reload_withdraws_what_is_no_longer_announced() {
        let t0 = Instant::now();
        let mut s = LvsState::new(plan(ANNOUNCED), t0);
        drain_actions(&mut s);
        s.set_plan(
            plan("virtual_server 192.0.2.10 80 {\n ha_announce\n real_server 10.0.0.1 80 { TCP_CHECK { } }\n}\n"),
            t0,
        );
        assert_eq!(s.plan().announce_interface.as_deref(), Some("ha-announce"));
        assert_eq!(addrs(&s), ["192.0.2.10"]);
        // Forgotten, not withdrawn one by one: the runner empties what the plan no longer holds.
        assert!(announce_events(&mut s).is_empty());
        s.set_plan(
            plan("virtual_server 192.0.2.10 80 {\n real_server 10.0.0.1 80 { }\n}\n"),
            t0,
        );
        assert!(s.announced_addresses().is_empty());
        assert_eq!(
            announce_events(&mut s),
            [("192.0.2.10:80".into(), false, "configured".into())]
        );
        assert_eq!(s.plan().announce_interface, None);
    }

    #[test]
    fn an_announced_fwmark_virtual_server_is_refused() {
        // `ha check` refuses it (announce-no-address); the plan refuses it too.
        let mut config = super::super::plan::parse_for_test(
            "virtual_server fwmark 7 {\n real_server 10.0.0.1 80 { }\n}\n",
        );
        config.virtual_servers[0].ha_announce = true;
        let e = LvsPlan::from_config(&config).unwrap_err();
        assert_eq!(
            e.to_string(),
            "virtual_server fwmark 7: ha_announce: this virtual server has no address to announce"
        );
    }

    #[test]
    fn announce_changes_run_the_notify_script_and_alert() {
        let t0 = Instant::now();
        let mut s = LvsState::new(
            plan(
                "virtual_server 192.0.2.10 80 {\n ha_announce\n smtp_alert\n \
                 ha_announce_notify \"/bin/announce --vs web\"\n \
                 real_server 10.0.0.1 80 { TCP_CHECK { } }\n}\n",
            ),
            t0,
        );
        let scripts = |s: &mut LvsState| -> Vec<Vec<String>> {
            drain_actions(s)
                .into_iter()
                .filter_map(|a| match a {
                    Action::Script { argv, .. } => Some(argv),
                    _ => None,
                })
                .collect()
        };
        let argv =
            |words: &[&str]| -> Vec<String> { words.iter().map(|w| w.to_string()).collect() };
        assert_eq!(
            scripts(&mut s),
            [argv(&[
                "/bin/announce",
                "--vs",
                "web",
                "ANNOUNCED",
                "192.0.2.10:80",
                "configured"
            ])]
        );
        s.handle_health(&down("192.0.2.10:80", "10.0.0.1:80"), t0);
        let actions = drain_actions(&mut s);
        assert!(actions.contains(&Action::Script {
            argv: argv(&[
                "/bin/announce",
                "--vs",
                "web",
                "WITHDRAWN",
                "192.0.2.10:80",
                "quorum DOWN"
            ]),
            why: "virtual server 192.0.2.10:80 WITHDRAWN".into(),
        }));
        assert!(actions
            .iter()
            .any(|a| matches!(a, Action::Alert { subject, body }
            if subject == "[ha] Virtualserver 192.0.2.10:80 - WITHDRAWN"
                && body == "=> WITHDRAWN (quorum DOWN) <=")));
        // Drained while withdrawn: nothing changes, nothing runs.
        s.set_director_drained(true);
        assert!(scripts(&mut s).is_empty());
    }
}
