//! `ha run`: the director in the foreground (for systemd). The work is the `director`
//! crate's; this is options, logging, signals and systemd's notifications.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use director::{Director, DirectorEvent};
use nix::sys::signal::{SigSet, Signal};

use crate::logging::{self, LogFormat, LogLevel};

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
    /// How much to log (`RUST_LOG`, if set, refines it per module).
    #[arg(long, value_enum, default_value = "info")]
    pub log_level: LogLevel,
    /// How to log: journald's native fields when systemd started us with the journal as
    /// stderr (auto), else text; or JSON lines.
    #[arg(long, value_enum, default_value = "auto")]
    pub log_format: LogFormat,
    /// Control socket for `ha status`, `ha reload`, `ha drain` and `ha enable` (root-only).
    #[arg(long, default_value = director::control::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
    /// Serve Prometheus / OpenMetrics text at http://ADDR/metrics (keepalived-exporter's
    /// families and ha's own); off by default.
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Members of this group may run `ha status` (everything else stays root-only).
    #[arg(long, value_name = "GROUP")]
    pub control_group: Option<String>,
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

/// Why the main thread wakes up.
enum Wake {
    Signal(Signal),
    /// The director stopped by itself (one of its threads failed).
    DirectorStopped(String),
}

/// Marks every descriptor above 2 that this process inherited close-on-exec: scripts must
/// get none of them (a parent's pipe held open by a hung script keeps that parent waiting).
/// The director's own are all opened close-on-exec.
fn close_inherited_descriptors_on_exec() {
    use nix::fcntl::{fcntl, FcntlArg, FdFlag};
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let fds: Vec<i32> = dir
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in fds {
        // A number that is stale by now (the directory's own) just fails.
        let _ = fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    close_inherited_descriptors_on_exec();
    // Signals are taken by a thread of their own with sigwait: block them before any thread
    // starts (the log writer's included) so that every thread inherits the mask.
    let mut signals = SigSet::empty();
    for s in [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP] {
        signals.add(s);
    }
    if let Err(e) = signals.thread_block() {
        eprintln!("ha run: cannot block signals: {e}");
        return ExitCode::from(1);
    }
    let log = match logging::init(args.log_format, args.log_level) {
        Ok(guard) => Arc::new(guard),
        Err(e) => {
            eprintln!("ha run: {e}");
            return ExitCode::from(1);
        }
    };
    logging::log_panics();
    let mut config_options = keepalived_conf::Options::for_this_host();
    if let Some(id) = args.config_id.clone() {
        config_options.config_id = id;
    }
    let config = match load(&args, &config_options) {
        Ok(c) => c,
        Err(()) => return ExitCode::from(1),
    };
    let status_group = match &args.control_group {
        None => None,
        Some(name) => match nix::unistd::Group::from_name(name) {
            Ok(Some(group)) => Some(group.gid.as_raw()),
            Ok(None) => {
                tracing::error!("--control-group {name}: no such group; not starting");
                return ExitCode::from(1);
            }
            Err(e) => {
                tracing::error!("--control-group {name}: {e}; not starting");
                return ExitCode::from(1);
            }
        },
    };
    let dropped = Arc::clone(&log);
    let options = director::Options {
        vrrp: !args.check,
        lvs: !args.vrrp,
        config_file: Some((args.file.clone(), config_options)),
        control_socket: Some(args.control_socket.clone()),
        control_access: director::control::Access { status_group },
        ipvs_verify_interval: Duration::from_secs_f64(args.ipvs_verify_interval.max(0.1)),
        keep_ipvs_on_stop: args.dont_release_ipvs,
        log_ipvs_operations: args.log_level >= LogLevel::Info,
        log_lines_dropped: Some(Arc::new(move || dropped.dropped_lines())),
    };
    let director = match Director::start(config, options) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}; not starting");
            return ExitCode::from(1);
        }
    };
    let (wake, woken) = std::sync::mpsc::channel();
    let signal_wake = wake.clone();
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            match signals.wait() {
                Ok(signal) => {
                    if signal_wake.send(Wake::Signal(signal)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!("waiting for signals: {e}");
                    let _ = signal_wake.send(Wake::Signal(Signal::SIGTERM));
                    return;
                }
            }
        });
    if let Err(e) = started {
        tracing::error!("cannot start the signal thread: {e}");
        return ExitCode::from(1);
    }
    let director = Arc::new(director);
    let metrics = match args.metrics_listen {
        Some(addr) => {
            let source = Arc::clone(&director);
            let status: crate::metrics::StatusSource =
                Arc::new(move || source.status().map_err(|e| e.to_string()));
            match crate::metrics::serve(addr, status) {
                Ok(server) => {
                    tracing::info!("metrics at http://{}/metrics", server.local_addr);
                    Some(server)
                }
                Err(e) => {
                    tracing::error!("--metrics-listen {addr}: {e}; not starting");
                    return ExitCode::from(1);
                }
            }
        }
        None => None,
    };
    let events = director.events();
    let _ = std::thread::Builder::new()
        .name("watch".into())
        .spawn(move || {
            for event in events {
                if let DirectorEvent::Stopped(Some(why)) = event {
                    let _ = wake.send(Wake::DirectorStopped(why));
                }
            }
        });
    if let Err(e) = crate::systemd::notify("READY=1") {
        tracing::warn!("cannot tell systemd we are ready: {e}");
    }
    tracing::info!(file = %args.file.display(), "started");
    let mut failure = None;
    while let Ok(woke) = woken.recv() {
        match woke {
            Wake::Signal(Signal::SIGHUP) => {
                let _ = crate::systemd::notify("RELOADING=1");
                // The director logs the outcome; nothing changes on error.
                let _ = director.reload_file();
                let _ = crate::systemd::notify("READY=1");
            }
            Wake::Signal(signal) => {
                tracing::info!("{signal}: stopping");
                break;
            }
            Wake::DirectorStopped(why) => {
                failure = Some(why);
                break;
            }
        }
    }
    let _ = crate::systemd::notify("STOPPING=1");
    drop(metrics);
    let result = match Arc::try_unwrap(director) {
        Ok(director) => director.shutdown(),
        // A scrape still holds it: dropping our handle stops it as well, once it is done.
        Err(director) => {
            drop(director);
            Ok(())
        }
    };
    match (failure, result) {
        (None, Ok(())) => ExitCode::SUCCESS,
        (Some(why), _) => {
            tracing::error!("stopped: {why}");
            ExitCode::from(1)
        }
        (None, Err(e)) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

/// Loads the configuration, logging its diagnostics; `Err` when it has errors.
fn load(args: &RunArgs, options: &keepalived_conf::Options) -> Result<keepalived_conf::Config, ()> {
    let mut sources = keepalived_conf::SourceMap::default();
    let loaded = keepalived_conf::load_file(&args.file, options, &mut sources);
    if !loaded.diagnostics.is_empty() {
        let rendered = keepalived_conf::diag::render(&loaded.diagnostics, &sources, false);
        if loaded.has_errors() {
            tracing::error!("{}", rendered.trim_end());
        } else {
            tracing::warn!("{}", rendered.trim_end());
        }
    }
    if loaded.has_errors() {
        tracing::error!(
            "{} has {} error(s); not starting",
            args.file.display(),
            loaded.error_count()
        );
        return Err(());
    }
    Ok(loaded.config)
}
