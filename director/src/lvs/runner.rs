//! The LVS side's thread: owns the IPVS client, the health-check engine and the
//! [`LvsState`], and keeps the kernel's table equal to what the state wants.
//!
//! - Health events, VRRP state changes, drains, reloads and status requests arrive on one
//!   channel; inputs that arrive together are handled together and then reconciled once.
//! - Reconciling plans against the table the director last read or programmed (ipvs-sys's
//!   [`Reconciler`]), so a steady state costs no netlink traffic. The table is re-read every
//!   verify interval: whatever was changed behind the director's back is put back (a
//!   repair). Only this configuration's services are touched; others are left alone.
//! - At start the first read adopts what the kernel already has: after a restart (or a
//!   `kill -9`) an unchanged table needs no operation at all, so no connection flaps.
//! - Which services are ours, what is a repair and what to delete at stop are the state's
//!   decisions ([`LvsState::reconcile`], [`LvsState::stop_ops`]); this thread reads the
//!   table, applies the operations and reports their results back.
//! - Health checks run on the engine's own threads and VRRP on its own: neither waits for
//!   the other or for netlink.

use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ipvs_sys::{DaemonState, Ipvs, Reconciler};
use tokio::sync::{mpsc::UnboundedSender, oneshot};

use super::announce::Announcer;
use super::plan::{LvsPlan, StopPolicy};
use super::state::{Action, LvsState};
use crate::status::{CheckReport, IpvsReport, VirtualServerReport};

/// Upper bounds of the check run-time histogram (multiples of the engine's 50 µs buckets, so
/// exact; checks that time out land above the last).
const CHECK_DURATION_BOUNDS: [Duration; 9] = [
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_micros(2500),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(25),
    Duration::from_millis(50),
    Duration::from_millis(75),
    Duration::from_millis(100),
];
/// Upper bounds of the check start-lateness histogram.
const CHECK_LATENESS_BOUNDS: [Duration; 7] = [
    Duration::from_micros(100),
    Duration::from_micros(500),
    Duration::from_millis(1),
    Duration::from_millis(5),
    Duration::from_millis(10),
    Duration::from_millis(50),
    Duration::from_millis(100),
];

/// The LVS side of `ha status`.
#[derive(Debug)]
pub struct LvsReport {
    pub virtual_servers: Vec<VirtualServerReport>,
    pub ipvs: IpvsReport,
    pub checks: Option<CheckReport>,
}

/// How the runner behaves beyond what the configuration says.
#[derive(Debug, Clone)]
pub struct LvsOptions {
    /// How often the kernel's table is re-read to find changes made behind our back.
    pub verify_interval: Duration,
    /// Leave IPVS as it is at stop, whatever the configuration says (keepalived's
    /// `--dont-release-ipvs`).
    pub keep_on_stop: bool,
    /// Log each IPVS operation (info) or only summaries.
    pub log_operations: bool,
    /// `net_namespace_ipvs`: program IPVS in this namespace (its file) instead of the
    /// runner's own.
    pub netns: Option<std::path::PathBuf>,
}

impl Default for LvsOptions {
    fn default() -> Self {
        LvsOptions {
            verify_interval: Duration::from_secs(5),
            keep_on_stop: false,
            log_operations: true,
            netns: None,
        }
    }
}

/// What can be asked of the runner.
enum Input {
    Health(healthcheck::Event),
    Vrrp {
        instance: String,
        state: vrrp_core::State,
    },
    /// `addr` `None`: the whole director (`ha drain --director`).
    Drain {
        addr: Option<SocketAddr>,
        virtual_server: Option<String>,
        drained: bool,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Reload {
        plan: Box<LvsPlan>,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Status {
        reply: oneshot::Sender<LvsReport>,
    },
    Shutdown,
}

/// A handle for the director's router: inputs go in without blocking; requests are answered
/// on a oneshot the caller awaits.
#[derive(Clone)]
pub struct LvsHandle {
    tx: Sender<Input>,
}

const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// Waits for the LVS thread's answer.
async fn answer<T>(reply: oneshot::Receiver<T>) -> Result<T, String> {
    match tokio::time::timeout(ANSWER_TIMEOUT, reply).await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(_)) => Err("the LVS thread has stopped".into()),
        Err(_) => Err(format!(
            "the LVS thread did not answer within {ANSWER_TIMEOUT:?}"
        )),
    }
}

impl LvsHandle {
    /// A VRRP instance changed state (for `lvs_sync_daemon` and `ha_suspend`).
    pub fn vrrp_state(&self, instance: &str, state: vrrp_core::State) {
        let _ = self.tx.send(Input::Vrrp {
            instance: instance.to_string(),
            state,
        });
    }

    /// Drains (`drained`) or re-enables the real server at `addr` (`None`: the whole
    /// director, whose announced addresses are withdrawn); the reply describes the change.
    pub async fn drain(
        &self,
        addr: Option<SocketAddr>,
        virtual_server: Option<String>,
        drained: bool,
    ) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Drain {
            addr,
            virtual_server,
            drained,
            reply,
        })?;
        answer(rx).await?
    }

    /// Takes a new plan, keeping the health of unchanged real servers.
    pub async fn reload(&self, plan: LvsPlan) -> Result<String, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Reload {
            plan: Box::new(plan),
            reply,
        })?;
        answer(rx).await?
    }

    /// Virtual and real servers, with the kernel's weights and connection counts.
    pub async fn status(&self) -> Result<LvsReport, String> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Status { reply })?;
        answer(rx).await
    }

    fn send(&self, input: Input) -> Result<(), String> {
        self.tx
            .send(input)
            .map_err(|_| "the LVS thread has stopped".to_string())
    }
}

/// The running LVS side.
pub struct LvsRunner {
    handle: LvsHandle,
    thread: Option<JoinHandle<()>>,
}

impl LvsRunner {
    /// Starts the health-check engine and the LVS thread. What the LVS side asks for (scripts,
    /// alerts, events) goes to `actions`.
    pub fn spawn(
        plan: LvsPlan,
        options: LvsOptions,
        actions: UnboundedSender<Action>,
    ) -> Result<LvsRunner, String> {
        let (engine, mut events) = healthcheck::Engine::start(healthcheck::EngineOptions {
            nice: plan.checker_priority,
            ..healthcheck::EngineOptions::default()
        })
        .map_err(|e| format!("health-check engine: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let health_tx = tx.clone();
        std::thread::Builder::new()
            .name("health-events".into())
            .spawn(move || {
                while let Some(event) = events.blocking_recv() {
                    if health_tx.send(Input::Health(event)).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| format!("cannot start the health-event thread: {e}"))?;
        let now = Instant::now();
        let state = LvsState::new(plan, now);
        let mut lvs = Lvs {
            state,
            engine: Some(engine),
            ipvs: None,
            ipvs_error: None,
            reconciler: Reconciler::with_max_age(options.verify_interval),
            counters: Counters::default(),
            daemon_role: None,
            announcer: None,
            actions,
            options,
        };
        lvs.announcer = lvs
            .state
            .plan()
            .announce_interface
            .clone()
            .map(Announcer::new);
        // The kernel first: what it holds decides the health the checks start from.
        lvs.start_kernel_side();
        lvs.adopt(now);
        lvs.engine
            .as_ref()
            .expect("started above")
            .replace(lvs.state.health_configs())
            .map_err(|e| format!("health checks: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("lvs".into())
            .spawn(move || lvs.run(rx))
            .map_err(|e| format!("cannot start the LVS thread: {e}"))?;
        Ok(LvsRunner {
            handle: LvsHandle { tx },
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> LvsHandle {
        self.handle.clone()
    }

    /// Whether the LVS thread still runs (it ends only at shutdown, or by a panic).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops checks and, as configured, removes this configuration's services.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.handle.tx.send(Input::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LvsRunner {
    fn drop(&mut self) {
        self.stop();
    }
}

#[derive(Debug, Default)]
struct Counters {
    operations: u64,
    refused: u64,
    reads: u64,
    last_operations: Vec<String>,
}

struct Lvs {
    state: LvsState,
    engine: Option<healthcheck::Engine>,
    ipvs: Option<Ipvs>,
    ipvs_error: Option<String>,
    reconciler: Reconciler,
    counters: Counters,
    daemon_role: Option<DaemonState>,
    /// The announce interface, when a virtual server has `ha_announce`.
    announcer: Option<Announcer>,
    /// Where scripts, alerts and events go (the director's router).
    actions: UnboundedSender<Action>,
    options: LvsOptions,
}

impl Lvs {
    fn run(&mut self, rx: Receiver<Input>) {
        self.reconcile(Instant::now());
        self.announce(true);
        let mut next_verify = Instant::now() + self.options.verify_interval;
        loop {
            crate::fault::point("lvs");
            let wait = next_verify.saturating_duration_since(Instant::now());
            let first = match rx.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            // Everything already queued is handled before one reconcile.
            let mut stop = false;
            for input in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                if matches!(input, Input::Shutdown) {
                    stop = true;
                    break;
                }
                self.handle(input);
            }
            self.run_actions();
            if stop {
                break;
            }
            // Withdrawing first: a router keeps sending to an address only as long as it is
            // announced.
            let now = Instant::now();
            let verify = now >= next_verify;
            self.announce(verify);
            if verify {
                next_verify = now + self.options.verify_interval;
            }
            self.reconcile(now);
        }
        self.shutdown();
    }

    fn handle(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Health(event) => {
                self.state.handle_health(&event, now);
            }
            Input::Vrrp { instance, state } => {
                let master = state == vrrp_core::State::Master;
                if self.state.handle_vrrp(&instance, master) {
                    self.update_checks();
                }
                let follows = self
                    .state
                    .plan()
                    .sync_daemon
                    .as_ref()
                    .is_some_and(|d| d.vrrp_instance == instance);
                // At STOP the whole director is stopping: shutdown stops the daemon.
                if follows && state != vrrp_core::State::Stopped {
                    self.sync_daemon_role(Some(if master {
                        DaemonState::Master
                    } else {
                        DaemonState::Backup
                    }));
                }
            }
            Input::Drain {
                addr,
                virtual_server,
                drained,
                reply,
            } => {
                let answer = match addr {
                    Some(addr) => self.drain(addr, virtual_server.as_deref(), drained, now),
                    None => self.drain_director(drained),
                };
                let _ = reply.send(answer);
            }
            Input::Reload { plan, reply } => {
                let answer = self.reload(*plan, now);
                let _ = reply.send(answer);
            }
            Input::Status { reply } => {
                let _ = reply.send(self.status(now));
            }
            Input::Shutdown => {}
        }
    }

    fn update_checks(&mut self) {
        if let Some(engine) = &self.engine {
            if let Err(e) = engine.replace(self.state.health_configs()) {
                tracing::warn!("health checks not updated: {e}");
            }
        }
    }

    fn drain(
        &mut self,
        addr: SocketAddr,
        virtual_server: Option<&str>,
        drained: bool,
        now: Instant,
    ) -> Result<String, String> {
        let ids = self.state.set_drained(addr, virtual_server, drained)?;
        self.run_actions();
        let before = self.counters.operations;
        self.reconcile(now);
        let names: Vec<String> = ids.iter().map(|id| id.virtual_server.clone()).collect();
        let message = format!(
            "real server {addr} {} in {} ({} IPVS operation(s))",
            if drained {
                "drained: weight 0, existing connections kept"
            } else {
                "enabled: configured weight restored"
            },
            names.join(", "),
            self.counters.operations - before
        );
        tracing::info!("{message}");
        Ok(message)
    }

    /// `ha drain --director` / `ha enable --director`.
    fn drain_director(&mut self, drained: bool) -> Result<String, String> {
        if self.announcer.is_none() {
            return Err("no virtual server has ha_announce: nothing to withdraw".into());
        }
        let message = self.state.set_director_drained(drained);
        self.run_actions();
        self.announce(false);
        tracing::info!("{message}");
        Ok(message)
    }

    /// Puts on the announce interface what the state says belongs there.
    fn announce(&mut self, verify: bool) {
        let wanted = self.state.announced_addresses();
        if let Some(a) = &mut self.announcer {
            a.apply(&wanted, verify);
        }
    }

    fn reload(&mut self, plan: LvsPlan, now: Instant) -> Result<String, String> {
        let old_daemon = self.state.plan().sync_daemon.clone();
        let old_timeouts = self.state.plan().timeouts;
        let before = self.state.plan().real_server_ids();
        self.state.set_plan(plan, now);
        let interface = self.state.plan().announce_interface.clone();
        if self.announcer.as_ref().map(|a| a.interface()) != interface.as_deref() {
            // A renamed (or no longer used) announce interface is emptied.
            if let Some(mut old) = self.announcer.take() {
                old.apply(&Default::default(), true);
            }
            self.announcer = interface.map(Announcer::new);
        }
        let after = self.state.plan().real_server_ids();
        self.update_checks();
        if self.state.plan().timeouts != old_timeouts {
            self.set_timeouts();
        }
        if self.state.plan().sync_daemon != old_daemon {
            let role = self.daemon_role.or(Some(DaemonState::Backup));
            self.sync_daemon_role(None);
            if self.state.plan().sync_daemon.is_some() {
                self.sync_daemon_role(role);
            }
        }
        self.run_actions();
        let ops_before = self.counters.operations;
        self.reconcile(now);
        Ok(format!(
            "real servers added {}, removed {}, kept {} (with their health); {} IPVS operation(s)",
            after.difference(&before).count(),
            before.difference(&after).count(),
            after.intersection(&before).count(),
            self.counters.operations - ops_before
        ))
    }

    /// Logs what the state reports and hands scripts, alerts and events to the router.
    fn run_actions(&mut self) {
        while let Some(action) = self.state.poll_action() {
            match action {
                Action::Log(line) => tracing::info!("{line}"),
                other => {
                    let _ = self.actions.send(other);
                }
            }
        }
    }

    /// The client, opened on first use and again after it failed.
    fn ipvs(&mut self) -> Option<&mut Ipvs> {
        if self.ipvs.is_none() {
            let opened = match &self.options.netns {
                Some(path) => Ipvs::in_netns(path),
                None => Ipvs::new(),
            };
            match opened {
                Ok(ipvs) => {
                    if self.ipvs_error.take().is_some() {
                        tracing::info!("IPVS is reachable again");
                    }
                    self.ipvs = Some(ipvs);
                }
                Err(e) => {
                    let message = format!("{e}");
                    if self.ipvs_error.as_deref() != Some(&message) {
                        tracing::warn!(
                            "cannot reach IPVS: {message}; health checks and VRRP keep \
                             running, and the table is programmed once IPVS is reachable"
                        );
                    }
                    self.ipvs_error = Some(message);
                    return None;
                }
            }
        }
        self.ipvs.as_mut()
    }

    fn ipvs_failed(&mut self, what: &str, e: ipvs_sys::Error) {
        tracing::warn!("{what}: {e}");
        self.ipvs_error = Some(e.to_string());
        self.ipvs = None;
        self.reconciler.forget();
    }

    /// Reads the kernel's table and takes what it finds of this configuration as the
    /// starting health (see [`LvsState::adopt`]).
    fn adopt(&mut self, now: Instant) {
        let Some(ipvs) = self.ipvs() else {
            return;
        };
        match ipvs.state() {
            Ok(table) => {
                self.counters.reads += 1;
                let changed = self.state.adopt(&table, now);
                if changed > 0 {
                    tracing::info!(
                        "{changed} real server(s) absent or at weight 0 in the kernel's table: \
                         kept so until their checks say otherwise"
                    );
                }
                self.reconciler.set_read(table, now);
            }
            Err(e) => self.ipvs_failed("reading the IPVS table", e),
        }
    }

    /// `lvs_flush`, `lvs_timeouts` and the sync daemon's backup role at start.
    fn start_kernel_side(&mut self) {
        if self.state.plan().flush_at_start {
            if let Some(ipvs) = self.ipvs() {
                match ipvs.flush() {
                    Ok(()) => tracing::info!("flushed the IPVS table (lvs_flush)"),
                    Err(e) => tracing::warn!("lvs_flush: {e}"),
                }
            }
        }
        if self.state.plan().timeouts.is_some() {
            self.set_timeouts();
        }
        if self.state.plan().sync_daemon.is_some() {
            self.sync_daemon_role(Some(DaemonState::Backup));
        }
    }

    fn set_timeouts(&mut self) {
        let Some(t) = self.state.plan().timeouts else {
            return;
        };
        if let Some(ipvs) = self.ipvs() {
            match ipvs.set_timeouts(&t) {
                Ok(()) => {
                    tracing::info!("timeouts tcp {} tcpfin {} udp {}", t.tcp, t.tcp_fin, t.udp)
                }
                Err(e) => tracing::warn!("lvs_timeouts: {e}"),
            }
        }
    }

    /// Runs the sync daemon in `role` (stopping the other role), or none.
    fn sync_daemon_role(&mut self, role: Option<DaemonState>) {
        let Some(plan) = self.state.plan().sync_daemon.clone() else {
            return;
        };
        if role == self.daemon_role && role.is_some() {
            return;
        }
        let Some(ipvs) = self.ipvs() else {
            return;
        };
        for other in [DaemonState::Master, DaemonState::Backup] {
            if Some(other) != role {
                // Not running is the usual case here.
                let _ = ipvs.stop_daemon(other);
            }
        }
        if let Some(role) = role {
            let daemon = plan.daemon(role);
            let result = match ipvs.start_daemon(&daemon) {
                Err(ipvs_sys::Error::DaemonRunning { .. }) => {
                    // Left by an earlier run, perhaps with other settings: start it afresh.
                    let _ = ipvs.stop_daemon(role);
                    ipvs.start_daemon(&daemon)
                }
                other => other,
            };
            match result {
                Ok(()) => tracing::info!(
                    "sync daemon {} on {} (syncid {}), following {}",
                    role.name(),
                    daemon.interface,
                    daemon.sync_id,
                    plan.vrrp_instance
                ),
                Err(e) => tracing::warn!("sync daemon {}: {e}", role.name()),
            }
        }
        self.daemon_role = role;
    }

    fn reconcile(&mut self, now: Instant) {
        if self.ipvs().is_none() {
            return;
        }
        let was_known = self.reconciler.known().is_some();
        let read = self.reconciler.needs_read(now);
        if read {
            let ipvs = self.ipvs.as_mut().expect("opened above");
            match ipvs.state() {
                Ok(table) => {
                    self.counters.reads += 1;
                    self.reconciler.set_read(table, now);
                }
                Err(e) => return self.ipvs_failed("reading the IPVS table", e),
            }
        }
        let known = self.reconciler.known().expect("read above");
        let plan = self.state.reconcile(known, read && was_known);
        if let Some(found) = plan.adopted {
            tracing::info!(
                "adopted {} service(s) with {} destination(s) already in the kernel; {} operation(s) needed",
                found.services,
                found.destinations,
                plan.ops.len()
            );
        }
        if plan.ops.is_empty() {
            return;
        }
        if plan.repair {
            tracing::warn!(
                "the IPVS table was changed behind the director's back; repairing with {} operation(s)",
                plan.ops.len()
            );
        }
        let lines: Vec<String> = plan
            .ops
            .iter()
            .map(|op| format!("ipvsadm {}", ipvs_sys::ipvsadm::command_line(op)))
            .collect();
        if self.options.log_operations {
            for line in lines.iter().take(20) {
                tracing::info!("{line}");
            }
            if lines.len() > 20 {
                tracing::info!("... and {} more operation(s)", lines.len() - 20);
            }
        }
        let ipvs = self.ipvs.as_mut().expect("opened above");
        let results = match ipvs.apply(&plan.ops) {
            Ok(results) => results,
            Err(e) => return self.ipvs_failed("programming IPVS", e),
        };
        let mut refused = 0;
        for e in results.iter().filter_map(|r| r.as_ref().err()) {
            refused += 1;
            tracing::warn!("refused: {e}");
        }
        self.counters.operations += (results.len() - refused) as u64;
        self.counters.refused += refused as u64;
        self.counters.last_operations = lines;
        self.reconciler.record(&plan.ops, &results);
        self.state.record_applied(&plan.ops, &results);
    }

    /// The table as the director knows it: read at the last verify interval and updated with
    /// every operation since. A status request never reads the kernel (at 11,000 objects a
    /// read costs a third of a second, and `ha status` can be asked in a loop); connection
    /// counters are as of the last read.
    fn status(&mut self, now: Instant) -> LvsReport {
        let virtual_servers = self.state.report(now, self.reconciler.known());
        let ipvs = IpvsReport {
            available: self.ipvs.is_some(),
            error: self.ipvs_error.clone(),
            operations: self.counters.operations,
            refused: self.counters.refused,
            repairs: self.state.repairs(),
            reads: self.counters.reads,
            last_operations: self.counters.last_operations.clone(),
            sync_daemon: self.daemon_role.map(|r| r.name().to_string()),
        };
        let checks = self.engine.as_ref().map(|engine| {
            let stats = engine.stats();
            CheckReport {
                started: stats.started(),
                completed: stats.completed(),
                failed: stats.failed(),
                duration: stats.duration_histogram(&CHECK_DURATION_BOUNDS).into(),
                lateness: stats.lateness_histogram(&CHECK_LATENESS_BOUNDS).into(),
            }
        });
        LvsReport {
            virtual_servers,
            ipvs,
            checks,
        }
    }

    fn shutdown(&mut self) {
        self.state.stop();
        self.run_actions();
        // Withdrawn before IPVS goes: the routers move new flows away first.
        self.announce(false);
        if let Some(engine) = self.engine.take() {
            engine.shutdown();
        }
        let policy = self.state.stop_policy(self.options.keep_on_stop);
        if policy == StopPolicy::Keep {
            tracing::info!("leaving the IPVS table as it is");
            return;
        }
        self.sync_daemon_role(None);
        let ops = self.state.stop_ops(policy, self.reconciler.known());
        if ops.is_empty() {
            return;
        }
        let Some(ipvs) = self.ipvs() else {
            return;
        };
        match ipvs.apply(&ops) {
            Ok(results) => {
                let done = results.iter().filter(|r| r.is_ok()).count();
                tracing::info!(
                    "stopping: {}",
                    match policy {
                        StopPolicy::FlushAll => "flushed the IPVS table (lvs_flush_on_stop)".into(),
                        _ => format!("removed {done} virtual service(s) of this configuration"),
                    }
                );
            }
            Err(e) => tracing::warn!("stopping: {e}"),
        }
    }
}
