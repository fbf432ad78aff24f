//! `ha run`: the director in the foreground (for systemd): VRRP, and the LVS side (IPVS and
//! health checks) when the configuration has virtual servers.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use vrrp_core::Event;

use director::alert::Alerter;
use director::control;
use director::lvs::{LvsHandle, LvsOptions, LvsPlan, LvsRunner};
use director::net::Rtnl;
use director::notify::Notifier;
use director::track::Tracker;
use director::vrrp::RtnlHost;
use director::vrrp::{
    InstanceSpec, RunnerCommand, RunnerEvent, StatusHandle, ThreadPriority, VrrpRunner,
};
use keepalived_conf::{self as config, SourceMap};
use std::sync::Arc;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (keepalived.conf syntax).
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    pub file: PathBuf,
    /// keepalived's --config-id: selects `@id` lines (default: the short host name).
    #[arg(short = 'i', long)]
    pub config_id: Option<String>,
    /// How much to log: error, warn, info or debug.
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// Control socket for `ha status`, `ha reload`, `ha drain` and `ha enable` (root-only).
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
    /// Seconds between reads of the kernel's IPVS table, to find and undo changes made
    /// behind the director's back.
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub ipvs_verify_interval: f64,
    /// Leave the IPVS table as it is at stop (keepalived's --dont-release-ipvs), so that a
    /// restarted director adopts it without touching connections.
    #[arg(long)]
    pub dont_release_ipvs: bool,
    /// Only VRRP, no IPVS or health checks (keepalived's --vrrp).
    #[arg(short = 'P', long, conflicts_with = "check")]
    pub vrrp: bool,
    /// Only IPVS and health checks, no VRRP (keepalived's --check).
    #[arg(short = 'C', long)]
    pub check: bool,
}

/// The outcome of the last reload, for `ha reload` to wait on.
#[derive(Debug, Default)]
struct ReloadState {
    generation: u64,
    ok: bool,
    message: String,
}

/// What the control socket sees of the running director.
struct ControlView {
    status: StatusHandle,
    reloads: Arc<Mutex<ReloadState>>,
    lvs: Option<LvsHandle>,
}

impl control::Director for ControlView {
    fn status(&self) -> Vec<control::InstanceReport> {
        control::report(&self.status.status(), self.status.now().as_nanos())
    }

    fn lvs_status(
        &self,
    ) -> (
        Vec<control::VirtualServerReport>,
        Option<control::IpvsReport>,
    ) {
        match self.lvs.as_ref().and_then(|l| l.status()) {
            Some((vss, ipvs)) => (vss, Some(ipvs)),
            None => (Vec::new(), None),
        }
    }

    fn drain(
        &self,
        server: std::net::SocketAddr,
        virtual_server: Option<String>,
        drained: bool,
    ) -> (bool, String) {
        match &self.lvs {
            None => (false, "this director runs no virtual servers".into()),
            Some(l) => match l.drain(server, virtual_server, drained) {
                Ok(m) => (true, m),
                Err(e) => (false, e),
            },
        }
    }

    /// A reload is the SIGHUP path: raise it, then wait for its outcome.
    fn reload(&self) -> (bool, String) {
        let before = self.reloads.lock().map(|r| r.generation).unwrap_or(0);
        if let Err(e) = nix::sys::signal::kill(nix::unistd::getpid(), Signal::SIGHUP) {
            return (false, format!("cannot signal the director: {e}"));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(r) = self.reloads.lock() {
                if r.generation > before {
                    return (r.ok, r.message.clone());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        (
            false,
            "the director did not finish the reload within 15 s".into(),
        )
    }
}

/// How much `ha run` logs (to stderr, which systemd's journal takes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    /// Only failures of the director itself.
    Error,
    /// Also dropped adverts and configuration mismatches with peers.
    Warn,
    /// Also state, priority and interval changes (default).
    Info,
    /// Also every change of master seen by a backup.
    Debug,
}

fn event_level(event: &Event) -> LogLevel {
    match event {
        Event::PacketDropped { .. } | Event::AddressListMismatch { .. } => LogLevel::Warn,
        Event::StateChanged(_)
        | Event::MasterIntervalChanged { .. }
        | Event::PriorityChanged { .. } => LogLevel::Info,
        Event::MasterSeen { .. } => LogLevel::Debug,
    }
}

fn log_event(e: &RunnerEvent, level: LogLevel) {
    if event_level(&e.event) > level {
        return;
    }
    match &e.event {
        Event::StateChanged(t) => eprintln!(
            "({}) Entering {} STATE ({})",
            e.instance,
            control::state_name(t.to),
            t.reason
        ),
        other => eprintln!("({}) {other}", e.instance),
    }
}

/// Loads and plans a configuration; errors come back rendered for the log.
fn load(
    file: &Path,
    opts: &config::Options,
) -> Result<(config::Config, Vec<InstanceSpec>, LvsPlan), String> {
    let mut sources = SourceMap::default();
    let loaded = config::load_file(file, opts, &mut sources);
    if !loaded.diagnostics.is_empty() {
        eprint!(
            "{}",
            config::diag::render(&loaded.diagnostics, &sources, false)
        );
    }
    if loaded.has_errors() {
        return Err(format!(
            "{} has {} error(s)",
            file.display(),
            loaded.error_count()
        ));
    }
    let rtnl = Rtnl::open().map_err(|e| e.to_string())?;
    let specs =
        director::vrrp::plan(&loaded.config, &mut RtnlHost(rtnl)).map_err(|e| e.to_string())?;
    let lvs = LvsPlan::from_config(&loaded.config).map_err(|e| e.to_string())?;
    for w in &lvs.warnings {
        eprintln!("ha run: warning: {w}");
    }
    Ok((loaded.config, specs, lvs))
}

/// SIGHUP: parse and validate first (on error nothing changes), then apply only the
/// difference. Tracking, notify scripts and SMTP alerts follow the new file; unchanged
/// scripts keep their state.
#[allow(clippy::too_many_arguments)]
fn reload(
    file: &Path,
    opts: &config::Options,
    sides: Sides,
    runner: &VrrpRunner,
    lvs: Option<&LvsHandle>,
    tracker: &mut Option<Tracker>,
    notifier: &Mutex<Notifier>,
    alerter: &Mutex<Option<Alerter>>,
) -> Result<String, String> {
    let (config, specs, lvs_plan) = load(file, opts)?;
    let specs = if sides.vrrp { specs } else { Vec::new() };
    let new_notifier = Notifier::from_config(&config)?;
    let new_alerter = Alerter::from_config(&config)?;
    let user = script_user(&config)?;
    if lvs.is_none() && sides.lvs && !lvs_plan.virtual_servers.is_empty() {
        return Err(
            "virtual servers were added to a director started without any: \
                    restart it to start the LVS side"
                .into(),
        );
    }
    let (reply, answer) = std::sync::mpsc::channel();
    runner.command(RunnerCommand::Reconfigure { specs, reply });
    let summary = answer
        .recv_timeout(Duration::from_secs(10))
        .map_err(|_| "the VRRP thread did not answer".to_string())??;
    let new_tracker = Tracker::start(&config, runner.commander(), tracker.as_ref())?;
    *tracker = Some(new_tracker);
    let lvs_summary = match lvs {
        Some(l) => format!("; {}", l.reload(lvs_plan, new_alerter.clone(), user)?),
        None => String::new(),
    };
    if let Ok(mut n) = notifier.lock() {
        *n = new_notifier;
    }
    if let Ok(mut a) = alerter.lock() {
        *a = new_alerter;
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "-".to_string()
        } else {
            v.join(",")
        }
    };
    Ok(format!(
        "reloaded {}: unchanged {}, priority changed {}, restarted {}, added {}, removed {}{lvs_summary}",
        file.display(),
        list(&summary.unchanged),
        list(&summary.reprioritised),
        list(&summary.restarted),
        list(&summary.added),
        list(&summary.removed)
    ))
}

/// Which sides of the director run (`--vrrp`, `--check`, or both).
#[derive(Debug, Clone, Copy)]
struct Sides {
    vrrp: bool,
    lvs: bool,
}

fn script_user(
    config: &config::Config,
) -> Result<Option<(nix::unistd::Uid, nix::unistd::Gid)>, String> {
    config
        .global_defs
        .script_user
        .as_ref()
        .map(director::notify::resolve_user)
        .transpose()
}

pub fn run(args: RunArgs) -> ExitCode {
    let mut opts = config::Options::for_this_host();
    if let Some(id) = args.config_id.clone() {
        opts.config_id = id;
    }
    // Signals are taken synchronously by this thread: block them before any thread starts so
    // every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        eprintln!("ha run: cannot block signals: {e}");
        return ExitCode::from(1);
    }
    let sides = Sides {
        vrrp: !args.check,
        lvs: !args.vrrp,
    };
    let (config, specs, lvs_plan) = match load(&args.file, &opts) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("ha run: {e}; not starting");
            return ExitCode::from(1);
        }
    };
    let priority = ThreadPriority {
        nice: config.global_defs.vrrp_priority,
        realtime: config.global_defs.vrrp_rt_priority,
    };
    let specs = if sides.vrrp { specs } else { Vec::new() };
    let (runner, events) = match VrrpRunner::spawn_with(specs, priority) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ha run: {e}");
            return ExitCode::from(1);
        }
    };
    let mut tracker = match Tracker::start(&config, runner.commander(), None) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("ha run: tracking: {e}");
            None
        }
    };
    let lvs = if sides.lvs && !lvs_plan.virtual_servers.is_empty() {
        let options = LvsOptions {
            verify_interval: Duration::from_secs_f64(args.ipvs_verify_interval.max(0.1)),
            keep_on_stop: args.dont_release_ipvs,
            log_operations: args.log_level >= LogLevel::Info,
        };
        let alerter = Alerter::from_config(&config).unwrap_or(None);
        let user = match script_user(&config) {
            Ok(u) => u,
            Err(e) => {
                eprintln!("ha run: {e}; notify_up/notify_down scripts run as this user");
                None
            }
        };
        match LvsRunner::spawn(lvs_plan, alerter, user, options) {
            Ok(l) => Some(l),
            Err(e) => {
                eprintln!("ha run: {e}");
                return ExitCode::from(1);
            }
        }
    } else {
        None
    };
    let lvs_handle = lvs.as_ref().map(LvsRunner::handle);
    let reloads = Arc::new(Mutex::new(ReloadState::default()));
    let view = Arc::new(ControlView {
        status: runner.status_handle(),
        reloads: Arc::clone(&reloads),
        lvs: lvs_handle.clone(),
    });
    if let Err(e) = control::serve(&args.control_socket, view) {
        eprintln!(
            "ha run: control socket {}: {e}; `ha status` will not reach this director",
            args.control_socket.display()
        );
    }
    let notifier = Arc::new(Mutex::new(match Notifier::from_config(&config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ha run: {e}; notify scripts will not run");
            Notifier::default()
        }
    }));
    let alerter = Arc::new(Mutex::new(match Alerter::from_config(&config) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ha run: {e}; SMTP alerts will not be sent");
            None
        }
    }));
    let events_alerter = Arc::clone(&alerter);
    let events_notifier = Arc::clone(&notifier);
    let log_level = args.log_level;
    let events_lvs = lvs_handle.clone();
    let logger = std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            for e in events {
                log_event(&e, log_level);
                if let (Some(l), Event::StateChanged(t)) = (&events_lvs, &e.event) {
                    l.vrrp_state(&e.instance, t.to);
                }
                if let Ok(n) = events_notifier.lock() {
                    n.on_event(&e);
                }
                if let Ok(Some(a)) = events_alerter.lock().as_deref() {
                    a.on_event(&e);
                }
            }
        });
    if let Err(e) = crate::systemd::notify("READY=1") {
        eprintln!("ha run: cannot tell systemd we are ready: {e}");
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                let _ = crate::systemd::notify("RELOADING=1");
                let outcome = reload(
                    &args.file,
                    &opts,
                    sides,
                    &runner,
                    lvs_handle.as_ref(),
                    &mut tracker,
                    &notifier,
                    &alerter,
                );
                let (ok, message) = match outcome {
                    Ok(m) => (true, m),
                    Err(e) => (
                        false,
                        format!("reload failed, configuration unchanged: {e}"),
                    ),
                };
                eprintln!("ha run: {message}");
                if let Ok(mut r) = reloads.lock() {
                    r.generation += 1;
                    r.ok = ok;
                    r.message = message;
                }
                let _ = crate::systemd::notify("READY=1");
            }
            Ok(_) => break,
            Err(e) => {
                eprintln!("ha run: waiting for signals: {e}");
                break;
            }
        }
    }
    let _ = crate::systemd::notify("STOPPING=1");
    drop(tracker);
    // VRRP first: the priority-0 advert hands the VIP over before the services go.
    let result = runner.shutdown();
    drop(lvs_handle);
    if let Some(l) = lvs {
        l.shutdown();
    }
    let _ = std::fs::remove_file(&args.control_socket);
    if let Ok(l) = logger {
        let _ = l.join();
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ha run: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp_core::{DropReason, Instant, Transition, TransitionReason};

    #[test]
    fn levels_order_events_as_an_operator_expects() {
        let dropped = Event::PacketDropped {
            from: "10.0.0.2".parse().unwrap(),
            reason: DropReason::AuthFailure,
        };
        let changed = Event::StateChanged(Transition {
            at: Instant::ZERO,
            from: vrrp_core::State::Backup,
            to: vrrp_core::State::Master,
            reason: TransitionReason::MasterDown,
        });
        let seen = Event::MasterSeen {
            address: "10.0.0.2".parse().unwrap(),
            priority: 100,
        };
        assert_eq!(event_level(&dropped), LogLevel::Warn);
        assert_eq!(event_level(&changed), LogLevel::Info);
        assert_eq!(event_level(&seen), LogLevel::Debug);
        // --log-level warn shows drops but not state changes.
        assert!(event_level(&dropped) <= LogLevel::Warn);
        assert!(event_level(&changed) > LogLevel::Warn);
    }
}
