//! The router: the director's one event loop, on a tokio runtime of its own thread.
//!
//! It owns the VRRP runner, the LVS runner, notify scripts, alerts and tracking state, and
//! reacts to one input at a time, whichever comes first:
//! - the VRRP thread's outputs: state changes go to the LVS side (sync daemon, `ha_suspend`),
//!   notify scripts and FIFOs, alerts and the event stream; link changes go to tracking;
//! - the LVS thread's actions: scripts, alerts, events;
//! - tracking: script results, file values and process counts;
//! - requests: the [`Director`](crate::Director)'s methods and the control socket's, each
//!   with its reply channel;
//! - a director thread that stopped unexpectedly: everything else is stopped as at shutdown.
//!
//! Scripts of every kind run here, as tasks, through one [`ScriptRunner`]: at most
//! [`MAX_SCRIPTS`] at once, each with its timeout, its output in the log.

use std::sync::Arc;
use std::time::Duration;

use healthcheck::script::Script;
use nix::unistd::{Gid, Uid};
use tokio::sync::{broadcast, mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use vrrp_core::Event;

use crate::alert::Alerter;
use crate::control::{ControlRequest, ControlSocket, Reply, Request};
use crate::lvs::state::Action;
use crate::lvs::{LvsHandle, LvsOptions, LvsPlan, LvsRunner};
use crate::notify::{global_script, Notifier, START_STOP_SCRIPT_TIMEOUT};
use crate::scripts::{ScriptPolicy, Verdict};
use crate::status::{report, Status};
use crate::track::{TrackPlan, TrackState, POLL_INTERVAL};
use crate::vrrp::{
    InstanceSpec, RtnlHost, RunnerCommand, RunnerOutput, RunnerOutputs, ThreadPriority, VrrpRunner,
};
use crate::{DirectorEvent, Error, Options, ReloadReport};

/// Scripts running at once; more wait for a slot (their timeouts start when they run).
pub const MAX_SCRIPTS: usize = 64;

/// What the router is asked to do.
pub(crate) enum Input {
    /// Apply this configuration, or re-read the file when `None`.
    Reload {
        config: Option<Box<keepalived_conf::Config>>,
        reply: oneshot::Sender<Result<ReloadReport, Error>>,
    },
    /// `server` `None`: the whole director (`ha drain --director`).
    Drain {
        server: Option<std::net::SocketAddr>,
        virtual_server: Option<String>,
        drained: bool,
        reply: oneshot::Sender<Result<String, Error>>,
    },
    Status {
        reply: oneshot::Sender<Status>,
    },
    /// One run of a tracked script (`generation` tells runs of a replaced plan apart).
    TrackScript {
        generation: u64,
        name: String,
        exit: healthcheck::script::ScriptExit,
    },
    Shutdown {
        reply: oneshot::Sender<Result<(), Error>>,
    },
}

/// Everything a configuration means to the director, planned and checked before anything
/// runs (so that a bad reload changes nothing).
struct Planned {
    config: keepalived_conf::Config,
    specs: Vec<InstanceSpec>,
    lvs: LvsPlan,
    notifier: Notifier,
    alerter: Option<Alerter>,
    script_user: Option<(Uid, Gid)>,
    track: TrackPlan,
    /// LVS notify scripts keepalived would disable at load (not found, not executable,
    /// insecure under `enable_script_security`): not run.
    lvs_disabled: Vec<Vec<String>>,
    shutdown_script: Option<Script>,
}

/// keepalived's nftables tables for `no_accept` (VRRP side only), when `config` needs them.
fn start_firewall(
    config: &keepalived_conf::Config,
    options: &Options,
) -> Result<Option<crate::net::firewall::Firewall>, Error> {
    use crate::net::firewall::{Firewall, FirewallConfig};
    if !options.vrrp {
        return Ok(None);
    }
    let Some(fw) = FirewallConfig::from_config(config).map_err(Error::Plan)? else {
        return Ok(None);
    };
    Firewall::start(fw).map(Some).map_err(|cause| Error::Start {
        part: "firewall (no_accept)",
        cause,
    })
}

/// Installs the static entries of `config` (VRRP side only), or none.
fn start_statics(
    config: &keepalived_conf::Config,
    options: &Options,
) -> Result<Option<crate::net::statics::Statics>, Error> {
    use crate::net::statics::{StaticPlan, Statics};
    if !options.vrrp {
        return Ok(None);
    }
    let plan = StaticPlan::from_config(config).map_err(Error::Plan)?;
    if plan.is_empty() {
        return Ok(None);
    }
    Statics::start(plan)
        .map(Some)
        .map_err(|cause| Error::Start {
            part: "static addresses, routes and rules",
            cause,
        })
}

fn plan(config: keepalived_conf::Config, options: &Options) -> Result<Planned, Error> {
    let rtnl = crate::net::Rtnl::open().map_err(|e| Error::Start {
        part: "rtnetlink socket",
        cause: e.to_string(),
    })?;
    let specs = if options.vrrp {
        crate::vrrp::plan(&config, &mut RtnlHost(rtnl)).map_err(|e| Error::Plan(e.to_string()))?
    } else {
        Vec::new()
    };
    let lvs = if options.lvs {
        LvsPlan::from_config(&config).map_err(|e| Error::Plan(e.to_string()))?
    } else {
        LvsPlan::default()
    };
    for w in &lvs.warnings {
        tracing::warn!("{w}");
    }
    let policy = ScriptPolicy::from_config(&config).map_err(Error::Plan)?;
    let script_user = policy.default_user;
    let notifier = Notifier::from_config(&config, &policy).map_err(Error::Plan)?;
    let alerter = Alerter::from_config(&config).map_err(Error::Plan)?;
    let track = if options.vrrp {
        TrackPlan::from_config(&config, &policy).map_err(Error::Plan)?
    } else {
        TrackPlan::default()
    };
    let lvs_disabled = lvs_disabled_scripts(&config, &policy);
    let g = &config.global_defs;
    let shutdown_script = global_script(
        &policy,
        "shutdown_script",
        &g.shutdown_script,
        g.shutdown_script_timeout
            .map_or(START_STOP_SCRIPT_TIMEOUT, |t| Duration::from_secs(t.into())),
    )
    .map_err(Error::Plan)?;
    Ok(Planned {
        config,
        specs,
        lvs,
        notifier,
        alerter,
        script_user,
        track,
        lvs_disabled,
        shutdown_script,
    })
}

/// The `notify_up`/`notify_down`/`quorum_up`/`quorum_down` command lines keepalived would
/// disable at load time (each logged).
fn lvs_disabled_scripts(
    config: &keepalived_conf::Config,
    policy: &ScriptPolicy,
) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for vs in &config.virtual_servers {
        let rs_scripts = vs
            .real_servers
            .iter()
            .flat_map(|rs| [&rs.notify_up, &rs.notify_down]);
        for line in [&vs.quorum_up, &vs.quorum_down, &vs.ha_announce_notify]
            .into_iter()
            .chain(rs_scripts)
            .flatten()
        {
            let argv = healthcheck::split_command(line);
            if let Verdict::Disabled(why) = policy.assess(&argv, policy.default_user) {
                tracing::warn!(
                    "{why}: {}",
                    crate::scripts::disabled_effect(crate::scripts::ScriptKind::Notify)
                );
                out.push(argv);
            }
        }
    }
    out
}

/// keepalived's `startup_script`: run before anything starts, waited for at most its timeout;
/// its failure is logged and the start goes on.
async fn run_startup_script(config: &keepalived_conf::Config) {
    let g = &config.global_defs;
    let Ok(policy) = ScriptPolicy::from_config(config) else {
        // The plan reports the error.
        return;
    };
    let timeout = g
        .startup_script_timeout
        .map_or(START_STOP_SCRIPT_TIMEOUT, |t| Duration::from_secs(t.into()));
    match global_script(&policy, "startup_script", &g.startup_script, timeout) {
        Ok(Some(script)) => run_start_stop(&script).await,
        Ok(None) => {}
        Err(e) => tracing::warn!("startup_script: {e}"),
    }
}

/// Runs a startup or shutdown script to its end or timeout, logging how it ended.
async fn run_start_stop(script: &Script) {
    tracing::info!(script = %script.label, "running {}", script.argv.join(" "));
    let exit = script.run(&[]).await;
    if exit.success() {
        tracing::info!(script = %script.label, "{exit}");
    } else {
        // keepalived: "startup script script failed, status N".
        tracing::warn!(script = %script.label, "{}: {exit}", script.argv.join(" "));
    }
}

/// Runs scripts as tasks of the router's runtime, at most [`MAX_SCRIPTS`] at once.
#[derive(Clone)]
struct ScriptRunner {
    slots: Arc<Semaphore>,
    /// Bumped to stop the scripts started before (shutdown); those started after run on.
    epoch: Arc<watch::Sender<u64>>,
}

impl ScriptRunner {
    fn new() -> ScriptRunner {
        ScriptRunner {
            slots: Arc::new(Semaphore::new(MAX_SCRIPTS)),
            epoch: Arc::new(watch::channel(0).0),
        }
    }

    /// Starts a script that nobody waits for; a failure is logged.
    fn spawn(&self, script: Script, extra: Vec<String>) {
        let slots = Arc::clone(&self.slots);
        let mut epoch = self.epoch.subscribe();
        let started = *epoch.borrow();
        tokio::spawn(async move {
            let Ok(_slot) = slots.acquire_owned().await else {
                return;
            };
            let stop = async move {
                let _ = epoch.wait_for(|e| *e != started).await;
            };
            let exit = script.run_until(&extra, stop).await;
            if !exit.success() {
                tracing::warn!(script = %script.label, "{}: {exit}", script.argv.join(" "));
            }
        });
    }

    /// Runs a script and waits for its exit.
    async fn run(&self, script: &Script) -> healthcheck::script::ScriptExit {
        let _slot = self.slots.acquire().await;
        script.run(&[]).await
    }

    /// Stops the scripts started so far, as keepalived does when it stops: SIGTERM to each
    /// one's process group, SIGKILL a second later.
    fn stop_running(&self) {
        self.epoch.send_modify(|e| *e += 1);
    }

    /// Waits until no script runs, for `at_most`; whether none does.
    async fn idle_within(&self, at_most: Duration) -> bool {
        tokio::time::timeout(at_most, self.slots.acquire_many(MAX_SCRIPTS as u32))
            .await
            .is_ok()
    }
}

/// How long a stop waits for the scripts it started before stopping them (keepalived's
/// shutdown timer).
const STOP_SCRIPTS_WAIT: Duration = Duration::from_secs(1);

struct Router {
    options: Options,
    config: keepalived_conf::Config,
    inputs: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<DirectorEvent>,
    vrrp: Option<VrrpRunner>,
    lvs: Option<LvsRunner>,
    lvs_handle: Option<LvsHandle>,
    /// Kept so that the LVS actions channel stays open (and quiet) when no LVS side runs.
    _lvs_actions_tx: mpsc::UnboundedSender<Action>,
    notifier: Notifier,
    alerter: Option<Alerter>,
    script_user: Option<(Uid, Gid)>,
    lvs_disabled: Vec<Vec<String>>,
    shutdown_script: Option<Script>,
    /// The `*notify_fifo_script` readers, running for the director's life.
    fifo_tasks: Vec<(Script, Vec<String>, JoinHandle<()>)>,
    scripts: ScriptRunner,
    track: TrackState,
    /// Tasks running the tracked scripts of the current plan.
    track_tasks: Vec<JoinHandle<()>>,
    track_generation: u64,
    _control: Option<ControlSocket>,
    /// `static_ipaddress`, `static_routes`, `static_rules` (VRRP side only).
    statics: Option<crate::net::statics::Statics>,
}

/// The director thread's body: plans and starts everything, reports the outcome on
/// `started`, then routes until shutdown.
pub(crate) fn run(
    config: keepalived_conf::Config,
    options: Options,
    inputs_tx: mpsc::UnboundedSender<Input>,
    inputs: mpsc::UnboundedReceiver<Input>,
    events: broadcast::Sender<DirectorEvent>,
    started: std::sync::mpsc::Sender<Result<crate::vrrp::StatusHandle, Error>>,
) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_name("director-blocking")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = started.send(Err(Error::Start {
                part: "director runtime",
                cause: e.to_string(),
            }));
            return;
        }
    };
    runtime.block_on(async move {
        let (control_tx, control_rx) = mpsc::unbounded_channel();
        let (lvs_actions_tx, lvs_actions) = mpsc::unbounded_channel();
        run_startup_script(&config).await;
        // keepalived writes the init_file values when it reads the configuration at start.
        for problem in crate::track::init_track_files(&config) {
            tracing::warn!("{problem}");
        }
        let (mut router, vrrp_outputs) = match Router::start(
            config,
            options,
            inputs_tx,
            events,
            control_tx,
            lvs_actions_tx,
        ) {
            Ok(r) => r,
            Err(e) => {
                let _ = started.send(Err(e));
                return;
            }
        };
        let vrrp_status = router
            .vrrp
            .as_ref()
            .map(VrrpRunner::status_handle)
            .expect("the VRRP runner starts with the router");
        let _ = started.send(Ok(vrrp_status));
        router
            .route(inputs, vrrp_outputs, lvs_actions, control_rx)
            .await;
    });
}

impl Router {
    fn start(
        config: keepalived_conf::Config,
        options: Options,
        inputs: mpsc::UnboundedSender<Input>,
        events: broadcast::Sender<DirectorEvent>,
        control_tx: mpsc::UnboundedSender<ControlRequest>,
        lvs_actions_tx: mpsc::UnboundedSender<Action>,
    ) -> Result<(Router, RunnerOutputs), Error> {
        // Before the instances are planned: one may send its adverts from a static address.
        let statics = start_statics(&config, &options)?;
        let planned = plan(config, &options)?;
        let priority = ThreadPriority {
            nice: planned.config.global_defs.vrrp_priority,
            realtime: planned.config.global_defs.vrrp_rt_priority,
        };
        let firewall = start_firewall(&planned.config, &options)?;
        let (vrrp, vrrp_outputs) =
            VrrpRunner::spawn_with_firewall(planned.specs, priority, firewall).map_err(|e| {
                Error::Start {
                    part: "VRRP side",
                    cause: e.to_string(),
                }
            })?;
        let lvs = if options.lvs && !planned.lvs.virtual_servers.is_empty() {
            let lvs_options = LvsOptions {
                verify_interval: options.ipvs_verify_interval.max(Duration::from_millis(100)),
                keep_on_stop: options.keep_ipvs_on_stop,
                log_operations: options.log_ipvs_operations,
                netns: crate::net::netns::NamespaceConfig::from_config(&planned.config)
                    .map_err(Error::Plan)?
                    .ipvs_path(),
            };
            Some(
                LvsRunner::spawn(planned.lvs, lvs_options, lvs_actions_tx.clone()).map_err(
                    |cause| Error::Start {
                        part: "LVS side",
                        cause,
                    },
                )?,
            )
        } else {
            None
        };
        let control = match &options.control_socket {
            Some(path) => Some(
                crate::control::serve(path, options.control_access, control_tx).map_err(|e| {
                    Error::Start {
                        part: "control socket",
                        cause: format!("{}: {e}", path.display()),
                    }
                })?,
            ),
            None => None,
        };
        let mut router = Router {
            config: planned.config,
            inputs,
            events,
            vrrp: Some(vrrp),
            lvs_handle: lvs.as_ref().map(LvsRunner::handle),
            lvs,
            _lvs_actions_tx: lvs_actions_tx,
            notifier: planned.notifier,
            alerter: planned.alerter,
            script_user: planned.script_user,
            lvs_disabled: planned.lvs_disabled,
            shutdown_script: planned.shutdown_script,
            fifo_tasks: Vec::new(),
            scripts: ScriptRunner::new(),
            track: TrackState::new(planned.track, None),
            track_tasks: Vec::new(),
            track_generation: 0,
            _control: control,
            statics,
            options,
        };
        router.start_fifo_scripts();
        router.start_track_scripts();
        router.poll_tracked_files();
        router.apply_tracking();
        Ok((router, vrrp_outputs))
    }

    async fn route(
        &mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut vrrp_outputs: RunnerOutputs,
        mut lvs_actions: mpsc::UnboundedReceiver<Action>,
        mut control: mpsc::UnboundedReceiver<ControlRequest>,
    ) {
        let mut poll = tokio::time::interval(POLL_INTERVAL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let stop_reply = loop {
            crate::fault::point("router");
            tokio::select! {
                input = inputs.recv() => match input {
                    Some(Input::Shutdown { reply }) => break Some(reply),
                    Some(input) => self.handle(input).await,
                    // Every Director handle is gone: stop as if asked.
                    None => break None,
                },
                output = vrrp_outputs.recv() => match output {
                    Some(output) => self.vrrp_output(output),
                    None => {
                        self.failed("the VRRP thread stopped unexpectedly", &mut vrrp_outputs, &mut lvs_actions).await;
                        return;
                    }
                },
                // The router keeps a sender, so this channel only ends with the router.
                Some(action) = lvs_actions.recv() => self.lvs_action(action),
                Some(request) = control.recv() => self.control(request),
                _ = poll.tick() => {
                    if let Some(statics) = &mut self.statics {
                        statics.tick();
                    }
                    if !self.track.plan().files.is_empty() || !self.track.plan().processes.is_empty() {
                        self.poll_tracked_files();
                        self.apply_tracking();
                    }
                    if self.lvs.as_ref().is_some_and(|l| !l.is_running()) {
                        self.failed("the LVS thread stopped unexpectedly", &mut vrrp_outputs, &mut lvs_actions).await;
                        return;
                    }
                },
            }
        };
        let result = self.shutdown(&mut vrrp_outputs, &mut lvs_actions).await;
        if let Some(script) = self.shutdown_script.take() {
            run_start_stop(&script).await;
        }
        let _ = self.events.send(DirectorEvent::Stopped(None));
        if let Some(reply) = stop_reply {
            let _ = reply.send(result);
        }
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Reload { config, reply } => {
                let result = self.reload(config.map(|c| *c)).await;
                match &result {
                    Ok(report) => {
                        tracing::info!(
                            message_id = crate::message_id::RELOADED,
                            "reloaded: {report}"
                        );
                        let _ = self.events.send(DirectorEvent::Reloaded(report.clone()));
                    }
                    Err(e) => tracing::warn!(message_id = crate::message_id::RELOADED, "{e}"),
                }
                let _ = reply.send(result);
            }
            Input::Drain {
                server,
                virtual_server,
                drained,
                reply,
            } => {
                let Some(lvs) = self.lvs_handle.clone() else {
                    let _ = reply.send(Err(Error::Drain(
                        "this director runs no virtual servers".into(),
                    )));
                    return;
                };
                tokio::spawn(async move {
                    let result = lvs.drain(server, virtual_server, drained).await;
                    let _ = reply.send(result.map_err(Error::Drain));
                });
            }
            Input::Status { reply } => {
                let status = self.status_now();
                let lvs = self.lvs_handle.clone();
                tokio::spawn(async move {
                    let _ = reply.send(with_lvs_status(status, lvs).await);
                });
            }
            Input::TrackScript {
                generation,
                name,
                exit,
            } => {
                if generation != self.track_generation {
                    return;
                }
                if let Some(up) = self.track.handle_script(&name, exit.success()) {
                    // keepalived's words: `VRRP_Script(chk) failed (exited with status 1)`.
                    let keepalived = match &exit {
                        _ if up => format!("VRRP_Script({name}) succeeded"),
                        healthcheck::script::ScriptExit::Exited(code) => {
                            format!("VRRP_Script({name}) failed (exited with status {code})")
                        }
                        healthcheck::script::ScriptExit::TimedOut(_) => {
                            format!("VRRP_Script({name}) timed_out")
                        }
                        other => format!("VRRP_Script({name}) failed ({other})"),
                    };
                    tracing::info!(
                        message_id = crate::message_id::TRACKED_SCRIPT,
                        script = %name,
                        state = if up { "UP" } else { "DOWN" },
                        keepalived = %keepalived,
                        "{keepalived}"
                    );
                    let _ = self.events.send(DirectorEvent::TrackScript { name, up });
                    self.apply_tracking();
                }
            }
            Input::Shutdown { .. } => {}
        }
    }

    /// The status the router knows without asking the LVS thread.
    fn status_now(&self) -> Status {
        let (instances, sync_groups, vrrp_outputs_lost) = match &self.vrrp {
            Some(v) => {
                let handle = v.status_handle();
                let snapshot = handle.status();
                (
                    report(&snapshot, handle.now().as_nanos()),
                    crate::status::sync_groups(&snapshot),
                    handle.outputs_lost(),
                )
            }
            None => (Vec::new(), Vec::new(), 0),
        };
        Status {
            instances,
            sync_groups,
            virtual_servers: Vec::new(),
            ipvs: None,
            tracked: self.track.report(),
            log_lines_dropped: self
                .options
                .log_lines_dropped
                .as_ref()
                .map(|count| count())
                .unwrap_or(0),
            vrrp_outputs_lost,
            checks: None,
        }
    }

    fn control(&mut self, request: ControlRequest) {
        let ControlRequest { request, reply } = request;
        let inputs = self.inputs.clone();
        // Through the same inputs as the Director's methods: one path for both.
        tokio::spawn(async move {
            let drained = matches!(request, Request::Drain { .. } | Request::DrainDirector);
            let answer = match request {
                Request::Status => ask(&inputs, |reply| Input::Status { reply })
                    .await
                    .map(Reply::Status),
                Request::Reload => ask(&inputs, |reply| Input::Reload {
                    config: None,
                    reply,
                })
                .await
                .map(|result| match result {
                    Ok(report) => Reply::Reload {
                        accepted: true,
                        message: format!("reloaded: {report}"),
                    },
                    Err(e) => Reply::Reload {
                        accepted: false,
                        message: e.to_string(),
                    },
                }),
                Request::DrainDirector | Request::EnableDirector => {
                    ask(&inputs, |reply| Input::Drain {
                        server: None,
                        virtual_server: None,
                        drained,
                        reply,
                    })
                    .await
                    .map(drain_reply)
                }
                Request::Drain {
                    server,
                    virtual_server,
                }
                | Request::Enable {
                    server,
                    virtual_server,
                } => ask(&inputs, |reply| Input::Drain {
                    server: Some(server),
                    virtual_server,
                    drained,
                    reply,
                })
                .await
                .map(drain_reply),
            };
            let _ = reply.send(answer.unwrap_or_else(|e| Reply::Error {
                message: e.to_string(),
            }));
        });
    }

    fn vrrp_output(&mut self, output: RunnerOutput) {
        match output {
            RunnerOutput::Link(link) => {
                if let (true, Some(statics)) = (link.usable, &mut self.statics) {
                    statics.reinstate();
                }
                self.track.handle_link(&link);
                self.apply_tracking();
            }
            RunnerOutput::Group { name, state } => {
                for (script, args) in self.notifier.on_group(&name, state) {
                    self.scripts.spawn(script, args);
                }
            }
            RunnerOutput::Event(e) => {
                log_vrrp_event(&e);
                if let Event::StateChanged(t) = &e.event {
                    if let Some(lvs) = &self.lvs_handle {
                        lvs.vrrp_state(&e.instance, t.to);
                    }
                    if let Some((subject, body)) =
                        self.alerter.as_ref().and_then(|a| a.for_event(&e))
                    {
                        self.send_alert(subject, body);
                    }
                }
                for (script, args) in self.notifier.on_event(&e) {
                    self.scripts.spawn(script, args);
                }
                let _ = self.events.send(DirectorEvent::Vrrp(e));
            }
        }
    }

    fn lvs_action(&mut self, action: Action) {
        match action {
            Action::Script { argv, why } => {
                // A prefix: ha_announce_notify runs with arguments appended.
                if self.lvs_disabled.iter().any(|d| argv.starts_with(d)) {
                    tracing::debug!(script = %why, "disabled at load: not run");
                    return;
                }
                let script = Script {
                    label: why,
                    argv,
                    user: self.script_user,
                    timeout: crate::notify::NOTIFY_TIMEOUT,
                    log_output: true,
                };
                self.scripts.spawn(script, Vec::new());
            }
            Action::Alert { subject, body } => self.send_alert(subject, body),
            Action::Log(line) => tracing::info!("{line}"),
            Action::RealServerChanged {
                virtual_server,
                server,
                up,
                reason,
                effect,
                keepalived,
            } => {
                let word = if up { "UP" } else { "DOWN" };
                let (vs_name, rs_name) =
                    crate::notify::keepalived_names(&self.config, &virtual_server, Some(server));
                self.notifier
                    .lvs_real_server(&rs_name.unwrap_or_default(), &vs_name, up);
                tracing::info!(
                    message_id = crate::message_id::REAL_SERVER_CHANGED,
                    virtual_server,
                    real_server = %server,
                    state = word,
                    reason,
                    keepalived,
                    "real server {server} of virtual server {virtual_server}: {word} ({reason}); {effect}"
                );
                let _ = self.events.send(DirectorEvent::RealServer {
                    virtual_server,
                    server,
                    up,
                    reason,
                });
            }
            Action::QuorumChanged {
                virtual_server,
                up,
                detail,
                keepalived,
            } => {
                let word = if up { "UP" } else { "DOWN" };
                let (vs_name, _) =
                    crate::notify::keepalived_names(&self.config, &virtual_server, None);
                self.notifier.lvs_quorum(&vs_name, up);
                tracing::info!(
                    message_id = crate::message_id::QUORUM_CHANGED,
                    virtual_server,
                    state = word,
                    keepalived,
                    "virtual server {virtual_server}: quorum {word} ({detail})"
                );
                let _ = self
                    .events
                    .send(DirectorEvent::Quorum { virtual_server, up });
            }
            Action::AnnounceChanged {
                virtual_server,
                addresses,
                announced,
                reason,
            } => {
                let word = if announced { "ANNOUNCED" } else { "WITHDRAWN" };
                let (vs_name, _) =
                    crate::notify::keepalived_names(&self.config, &virtual_server, None);
                self.notifier.lvs_announce(&vs_name, announced);
                let list: Vec<String> = addresses.iter().map(ToString::to_string).collect();
                tracing::info!(
                    message_id = crate::message_id::ANNOUNCE_CHANGED,
                    virtual_server,
                    state = word,
                    reason,
                    "virtual server {virtual_server}: {word} ({reason}); {} {}",
                    list.join(", "),
                    if announced {
                        "on the announce interface"
                    } else {
                        "off the announce interface"
                    }
                );
                let _ = self.events.send(DirectorEvent::Announce {
                    virtual_server,
                    announced,
                    reason,
                });
            }
        }
    }

    /// Sends an alert on a blocking task: a slow relay holds up nothing.
    fn send_alert(&self, subject: String, body: String) {
        let Some(alerter) = self.alerter.clone() else {
            return;
        };
        tokio::task::spawn_blocking(move || {
            if let Err(e) = alerter.send(&subject, &body) {
                tracing::warn!("SMTP alert \"{subject}\" not sent: {e}");
            }
        });
    }

    /// Starts the `*notify_fifo_script` readers that are not running yet, and stops those no
    /// longer configured.
    fn start_fifo_scripts(&mut self) {
        let wanted = self.notifier.fifo_scripts().to_vec();
        let mut kept = Vec::new();
        for (script, args, task) in self.fifo_tasks.drain(..) {
            if wanted.iter().any(|(s, a)| *s == script && *a == args) && !task.is_finished() {
                kept.push((script, args, task));
            } else {
                task.abort();
            }
        }
        for (script, args) in wanted {
            if kept.iter().any(|(s, a, _)| *s == script && *a == args) {
                continue;
            }
            let (s, a) = (script.clone(), args.clone());
            let task = tokio::spawn(async move {
                let exit = s.run(&a).await;
                // keepalived: "notify fifo script terminated".
                tracing::info!(script = %s.label, "notify fifo script terminated: {exit}");
            });
            kept.push((script, args, task));
        }
        self.fifo_tasks = kept;
    }

    /// Starts one task per tracked script: run, report, wait out the interval, again.
    fn start_track_scripts(&mut self) {
        for task in self.track_tasks.drain(..) {
            task.abort();
        }
        self.track_generation += 1;
        let generation = self.track_generation;
        for ts in self.track.plan().scripts.clone() {
            let inputs = self.inputs.clone();
            let runner = self.scripts.clone();
            self.track_tasks.push(tokio::spawn(async move {
                let mut ticks = tokio::time::interval(ts.interval.max(Duration::from_millis(10)));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    let exit = runner.run(&ts.script).await;
                    if inputs
                        .send(Input::TrackScript {
                            generation,
                            name: ts.name.clone(),
                            exit,
                        })
                        .is_err()
                    {
                        return;
                    }
                }
            }));
        }
    }

    /// Reads the tracked files and counts the tracked processes.
    fn poll_tracked_files(&mut self) {
        let plan = self.track.plan();
        let values: Vec<(String, i64)> = plan
            .files
            .iter()
            .map(|(name, path)| (name.clone(), crate::track::read_file_value(path)))
            .collect();
        let counts = crate::track::count_processes(&plan.processes);
        for (name, value) in values {
            self.track.handle_file(&name, value);
        }
        for (name, count) in counts {
            self.track.handle_process_count(&name, count);
        }
    }

    /// Sends the VRRP thread whatever tracking changed.
    fn apply_tracking(&mut self) {
        let Some(vrrp) = &self.vrrp else {
            return;
        };
        for (name, command) in self.track.poll_commands() {
            // Every priority change says why (keepalived only says that it changed).
            tracing::info!(
                message_id = crate::message_id::TRACKING_APPLIED,
                instance = %name,
                cause = %self.track.cause(&name),
                "({name}) tracking: {command:?} because {}",
                self.track.cause(&name)
            );
            vrrp.command(RunnerCommand::Instance { name, command });
        }
    }

    async fn reload(
        &mut self,
        config: Option<keepalived_conf::Config>,
    ) -> Result<ReloadReport, Error> {
        let config = match config {
            Some(c) => c,
            None => load_file(&self.options).map_err(|e| match e {
                Error::Reload(_) => e,
                other => Error::Reload(other.to_string()),
            })?,
        };
        let namespaces = crate::net::netns::NamespaceConfig::from_config(&config);
        if namespaces != crate::net::netns::NamespaceConfig::from_config(&self.config) {
            return Err(Error::Reload(
                "net_namespace, net_namespace_ipvs or instance changes: restart to apply it, as \
                 keepalived asks"
                    .into(),
            ));
        }
        if self.options.vrrp {
            let old = crate::net::firewall::FirewallConfig::from_config(&self.config);
            let new = crate::net::firewall::FirewallConfig::from_config(&config);
            if old != new {
                return Err(Error::Reload(
                    "the firewall changes (nftables, nftables_priority, nftables_counters, or \
                     whether an instance is in accept mode): restart to apply it, as keepalived \
                     asks"
                        .into(),
                ));
            }
        }
        let statics = if self.options.vrrp {
            crate::net::statics::StaticPlan::from_config(&config).map_err(Error::Reload)?
        } else {
            Default::default()
        };
        let options = self.options.clone();
        let planned = tokio::task::spawn_blocking(move || plan(config, &options))
            .await
            .map_err(|e| Error::Reload(e.to_string()))?
            .map_err(|e| Error::Reload(e.to_string()))?;
        if self.lvs.is_none() && self.options.lvs && !planned.lvs.virtual_servers.is_empty() {
            return Err(Error::Reload(
                "virtual servers were added to a director started without any: restart it to \
                 start the LVS side"
                    .into(),
            ));
        }
        let vrrp = self.vrrp.as_ref().ok_or(Error::Stopped)?;
        let (reply, answer) = oneshot::channel();
        vrrp.command(RunnerCommand::Reconfigure {
            specs: planned.specs,
            reply,
        });
        let summary = tokio::time::timeout(Duration::from_secs(10), answer)
            .await
            .map_err(|_| Error::Reload("the VRRP thread did not answer within 10 s".into()))?
            .map_err(|_| Error::Stopped)?
            .map_err(Error::Reload)?;
        match &mut self.statics {
            Some(s) => s.reload(statics),
            None if !statics.is_empty() => {
                self.statics =
                    Some(crate::net::statics::Statics::start(statics).map_err(Error::Reload)?)
            }
            None => {}
        }
        // Tracking follows the new file; scripts with the same command line keep their verdict.
        self.track = TrackState::new(planned.track, Some(&self.track));
        self.start_track_scripts();
        self.poll_tracked_files();
        self.apply_tracking();
        let lvs = match &self.lvs_handle {
            Some(l) => Some(l.reload(planned.lvs).await.map_err(Error::Reload)?),
            None => None,
        };
        // Instances the reload removed: keepalived notifies them DELETED (or FAULT).
        for name in &summary.removed {
            for (script, args) in self.notifier.on_deleted(name) {
                self.scripts.spawn(script, args);
            }
        }
        let mut notifier = planned.notifier;
        notifier.carry_state(&self.notifier);
        self.notifier = notifier;
        self.start_fifo_scripts();
        self.alerter = planned.alerter;
        self.script_user = planned.script_user;
        self.lvs_disabled = planned.lvs_disabled;
        self.shutdown_script = planned.shutdown_script;
        self.config = planned.config;
        Ok(ReloadReport { vrrp: summary, lvs })
    }

    /// A director thread died: stop the rest as at shutdown, and say why.
    async fn failed(
        &mut self,
        why: &str,
        vrrp_outputs: &mut RunnerOutputs,
        lvs_actions: &mut mpsc::UnboundedReceiver<Action>,
    ) {
        tracing::error!("{why}: stopping the director");
        let _ = self.shutdown(vrrp_outputs, lvs_actions).await;
        let _ = self
            .events
            .send(DirectorEvent::Stopped(Some(why.to_string())));
    }

    /// Stops tracking, then VRRP, then the LVS side; routes what they report while stopping
    /// (notify_stop, omega's scripts) and waits for those scripts, within their timeout.
    async fn shutdown(
        &mut self,
        vrrp_outputs: &mut RunnerOutputs,
        lvs_actions: &mut mpsc::UnboundedReceiver<Action>,
    ) -> Result<(), Error> {
        for task in self.track_tasks.drain(..) {
            task.abort();
        }
        for (_, _, task) in self.fifo_tasks.drain(..) {
            task.abort();
        }
        // keepalived terminates the scripts still running when it stops (a hung notify script
        // must not hold the stop for its whole timeout).
        self.scripts.stop_running();
        let vrrp = self.vrrp.take();
        let lvs = self.lvs.take();
        self.lvs_handle = None;
        // VRRP first: the priority-0 advert hands the VIP over before the services go.
        let keep_vrrp = self.options.keep_vrrp_on_stop;
        let stopped = tokio::task::spawn_blocking(move || {
            let vrrp_result = vrrp
                .map(|v| {
                    if keep_vrrp {
                        v.shutdown_keeping_addresses()
                    } else {
                        v.shutdown()
                    }
                })
                .transpose();
            if let Some(lvs) = lvs {
                lvs.shutdown();
            }
            vrrp_result
        })
        .await
        .map_err(|_| Error::Stopped)?
        .map(|_| ())
        .map_err(|e| Error::Start {
            part: "VRRP side",
            cause: format!("stopping: {e}"),
        });
        // keepalived removes the static entries once its instances have stopped.
        self.statics = None;
        // Both threads have ended: what they said on the way out is all in the channels.
        while let Ok(output) = vrrp_outputs.try_recv() {
            self.vrrp_output(output);
        }
        while let Ok(action) = lvs_actions.try_recv() {
            self.lvs_action(action);
        }
        // Give the stop's own scripts (notify_stop, the state changes) keepalived's shutdown
        // timer, one second, then stop what is left as it does.
        tokio::task::yield_now().await;
        if !self.scripts.idle_within(STOP_SCRIPTS_WAIT).await {
            self.scripts.stop_running();
            let stopped_in = healthcheck::script::STOP_GRACE + Duration::from_millis(500);
            if !self.scripts.idle_within(stopped_in).await {
                tracing::warn!("scripts still running {stopped_in:?} after SIGKILL; not waiting");
            }
        }
        stopped.map(|_| ())
    }
}

/// The control socket's answer to a drain or enable.
fn drain_reply<E: std::fmt::Display>(result: Result<String, E>) -> Reply {
    match result {
        Ok(message) => Reply::Drain {
            accepted: true,
            message,
        },
        Err(e) => Reply::Drain {
            accepted: false,
            message: e.to_string(),
        },
    }
}

/// Reads the configuration file named in the options.
fn load_file(options: &Options) -> Result<keepalived_conf::Config, Error> {
    let Some((path, opts)) = &options.config_file else {
        return Err(Error::Reload(
            "this director's configuration was given in code, not read from a file: reload it \
             with Director::reload"
                .into(),
        ));
    };
    let mut sources = keepalived_conf::SourceMap::default();
    let loaded = keepalived_conf::load_file(path, opts, &mut sources);
    let rendered = keepalived_conf::diag::render(&loaded.diagnostics, &sources, false);
    if loaded.has_errors() {
        return Err(Error::Config {
            path: path.display().to_string(),
            errors: loaded.error_count(),
            rendered,
        });
    }
    if !rendered.is_empty() {
        tracing::warn!("{}", rendered.trim_end());
    }
    Ok(loaded.config)
}

/// Sends an input with a reply channel and awaits the answer.
async fn ask<T>(
    inputs: &mpsc::UnboundedSender<Input>,
    input: impl FnOnce(oneshot::Sender<T>) -> Input,
) -> Result<T, Error> {
    let (reply, answer) = oneshot::channel();
    inputs.send(input(reply)).map_err(|_| Error::Stopped)?;
    answer.await.map_err(|_| Error::Stopped)
}

/// Adds the LVS side's report to a status.
async fn with_lvs_status(mut status: Status, lvs: Option<LvsHandle>) -> Status {
    if let Some(lvs) = lvs {
        match lvs.status().await {
            Ok(report) => {
                status.virtual_servers = report.virtual_servers;
                status.ipvs = Some(report.ipvs);
                status.checks = report.checks;
            }
            Err(e) => tracing::warn!("LVS status: {e}"),
        }
    }
    status
}

/// Logs a VRRP event at the level an operator expects: drops and mismatches are warnings,
/// state and priority changes information, a master seen by a backup a debug line. Each
/// carries its `message_id` and, where keepalived logs the same, keepalived's words.
fn log_vrrp_event(e: &crate::vrrp::RunnerEvent) {
    use crate::message_id;
    let instance = e.instance.as_str();
    match &e.event {
        Event::StateChanged(t) => {
            let state = crate::status::state_name(t.to);
            if t.reason == vrrp_core::TransitionReason::MasterDown {
                tracing::info!(
                    instance,
                    keepalived = format!("({instance}) Receive advertisement timeout"),
                    "({instance}) no advert within the master-down interval"
                );
            }
            // keepalived's words: `(VI_1) Entering BACKUP STATE (init)` at start, else without
            // a reason.
            let keepalived = match (t.to, t.reason) {
                (vrrp_core::State::Stopped, _) => format!("({instance}) sent 0 priority"),
                (vrrp_core::State::Backup, vrrp_core::TransitionReason::Startup) => {
                    format!("({instance}) Entering BACKUP STATE (init)")
                }
                _ => format!("({instance}) Entering {state} STATE"),
            };
            tracing::info!(
                message_id = message_id::STATE_CHANGED,
                instance,
                state,
                reason = %t.reason,
                keepalived,
                "({instance}) Entering {state} STATE ({})",
                t.reason
            )
        }
        Event::PacketDropped { .. } | Event::AddressListMismatch { .. } => tracing::warn!(
            message_id = message_id::ADVERT_DROPPED,
            instance,
            keepalived = format!("({instance}) {}", e.event),
            "({instance}) {}",
            e.event
        ),
        Event::PriorityChanged { from, to } => tracing::info!(
            message_id = message_id::PRIORITY_CHANGED,
            instance,
            keepalived = format!("({instance}) Changing effective priority from {from} to {to}"),
            "({instance}) {}",
            e.event
        ),
        Event::MasterIntervalChanged { .. } => {
            tracing::info!(instance, "({instance}) {}", e.event)
        }
        Event::MasterSeen { .. } => tracing::debug!(instance, "({instance}) {}", e.event),
        Event::LowerPriorityAdvert { from, priority } => tracing::info!(
            instance,
            keepalived = format!(
                "({instance}) Received advert from {from} with lower priority {priority}, ours {}",
                e.priority
            ),
            "({instance}) {}",
            e.event
        ),
    }
}
