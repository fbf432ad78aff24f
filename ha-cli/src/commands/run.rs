//! `ha run`: the director in the foreground (for systemd). The work is the `director`
//! crate's; this is options, logging, signals and systemd's notifications.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use director::{Director, DirectorEvent};

use crate::logging::{self, LogFormat, LogLevel};
use crate::signals::{self, Request, SignalSet};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (keepalived.conf syntax). Given twice, the last wins, as with
    /// keepalived: ha.service passes `-f $CONFIG` and a `-f` in DAEMON_ARGS overrides it.
    #[arg(
        short = 'f',
        long = "use-file",
        default_value = "/etc/keepalived/keepalived.conf"
    )]
    pub file: PathBuf,
    /// keepalived's --config-id: selects `@id` lines (default: the short host name).
    #[arg(short = 'i', long)]
    pub config_id: Option<String>,
    /// How much to log (`RUST_LOG`, if set, refines it per module) [default: info; debug
    /// with -D].
    #[arg(long, value_enum)]
    pub log_level: Option<LogLevel>,
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
    #[arg(short = 'I', long)]
    pub dont_release_ipvs: bool,
    /// Only VRRP, no IPVS or health checks (keepalived's --vrrp).
    #[arg(short = 'P', long, conflicts_with = "check")]
    pub vrrp: bool,
    /// Only IPVS and health checks, no VRRP (keepalived's --check).
    #[arg(short = 'C', long)]
    pub check: bool,
    /// Where keepalived's signals write their dumps: keepalived.data and
    /// keepalived_check.data (SIGUSR1), keepalived.stats (SIGUSR2), keepalived.json
    /// (SIGRTMIN+2). Default: the control socket's directory (/run/ha).
    #[arg(long, value_name = "DIR")]
    pub dump_dir: Option<PathBuf>,
    #[command(flatten)]
    pub keepalived: KeepalivedFlags,
}

/// keepalived's command-line flags, so that its `DAEMON_ARGS` and habits work: those that
/// mean something to ha act, the others are accepted with a warning.
#[derive(Debug, Default, clap::Args)]
#[command(next_help_heading = "keepalived's flags")]
pub struct KeepalivedFlags {
    /// Pid file (keepalived's --pid); default: the control socket's path with `.pid`
    /// (/run/ha/ha.pid). Removed at exit.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// keepalived's VRRP child's pid file: ha is one process, whose pid it gets.
    #[arg(short = 'r', long = "vrrp_pid", value_name = "FILE")]
    pub vrrp_pid_file: Option<PathBuf>,
    /// keepalived's checker child's pid file: ha is one process, whose pid it gets.
    #[arg(short = 'c', long = "checkers_pid", value_name = "FILE")]
    pub checkers_pid_file: Option<PathBuf>,
    /// Detailed log messages: the debug level, unless --log-level says otherwise.
    #[arg(short = 'D', long = "log-detail")]
    pub log_detail: bool,
    /// Log to the console: text lines on stderr, unless --log-format says otherwise.
    #[arg(short = 'l', long = "log-console")]
    pub log_console: bool,
    /// Don't fork: ha never forks (accepted for keepalived's unit and scripts).
    #[arg(short = 'n', long = "dont-fork")]
    pub dont_fork: bool,
    /// Leave VIPs, virtual routes and VMACs in place at stop, without a priority-0 advert.
    #[arg(short = 'V', long = "dont-release-vrrp")]
    pub dont_release_vrrp: bool,
    /// Umask for the files ha creates (numeric, e.g. 022).
    #[arg(short = 'u', long = "umask", value_name = "MASK")]
    pub umask: Option<String>,
    /// Syslog facility: ha logs to the journal or stderr, not syslog; ignored (warned).
    #[arg(short = 'S', long = "log-facility", value_name = "FACILITY")]
    pub log_facility: Option<String>,
    /// Don't log via syslog: ha never does; accepted.
    #[arg(short = 'G', long = "no-syslog")]
    pub no_syslog: bool,
    /// Don't run BFD: ha has no BFD; accepted.
    #[arg(short = 'B', long = "no_bfd")]
    pub no_bfd: bool,
    /// Don't respawn child processes: ha has none; accepted.
    #[arg(short = 'R', long = "dont-respawn")]
    pub dont_respawn: bool,
    /// Start children without configuration: ha has none; accepted.
    #[arg(long = "all")]
    pub all: bool,
    /// keepalived's --release-vips: ignored (warned).
    #[arg(short = 'X', long = "release-vips")]
    pub release_vips: bool,
    /// keepalived's --dump-conf: ignored (warned); `ha check` shows the configuration's problems.
    #[arg(short = 'd', long = "dump-conf")]
    pub dump_conf: bool,
    /// keepalived's --address-monitoring: ignored (warned).
    #[arg(short = 'a', long = "address-monitoring")]
    pub address_monitoring: bool,
    /// keepalived's BFD child's pid file: ignored (warned).
    #[arg(short = 'b', long = "bfd_pid", value_name = "FILE")]
    pub bfd_pid_file: Option<PathBuf>,
    /// keepalived's SNMP subsystem: ha has none; ignored (warned).
    #[arg(short = 'x', long = "snmp")]
    pub snmp: bool,
    /// keepalived's SNMP agent socket: ignored (warned).
    #[arg(short = 'A', long = "snmp-agent-socket", value_name = "FILE")]
    pub snmp_agent_socket: Option<String>,
    /// keepalived's --core-dump: ignored (warned); systemd-coredump or ulimit -c decide.
    #[arg(short = 'm', long = "core-dump")]
    pub core_dump: bool,
    /// keepalived's --core-dump-pattern: ignored (warned).
    #[arg(short = 'M', long = "core-dump-pattern", value_name = "PATTERN", num_args = 0..=1)]
    pub core_dump_pattern: Option<Option<String>>,
    /// keepalived's --all-config: ignored (warned); a missing include is reported by the
    /// configuration check.
    #[arg(short = 'e', long = "all-config")]
    pub all_config: bool,
    /// keepalived's --namespace: refused; run ha in the namespace (`ip netns exec NAME`).
    #[arg(short = 's', long = "namespace", value_name = "NAME")]
    pub namespace: Option<String>,
    /// Print the number of keepalived's signal NAME (STOP, RELOAD, DATA, STATS, STATS_CLEAR,
    /// JSON), which ha run takes the same way, and exit.
    #[arg(long = "signum", value_name = "NAME")]
    pub signum: Option<String>,
    /// keepalived's --config-test: refused here (it would start the director); use `ha check`.
    #[arg(short = 't', long = "config-test", value_name = "LOG_FILE", num_args = 0..=1)]
    pub config_test: Option<Option<String>>,
}

impl KeepalivedFlags {
    /// Flags that ha cannot honour at all: `Err` with what to do instead.
    pub fn refused(&self) -> Result<(), String> {
        if let Some(ns) = &self.namespace {
            return Err(format!(
                "--namespace {ns}: not supported; run ha in the namespace instead \
                 (`ip netns exec {ns} ha run ...`)"
            ));
        }
        if self.config_test.is_some() {
            return Err(
                "--config-test: use `ha check -f FILE` (ha run would start the director)".into(),
            );
        }
        if let Some(mask) = &self.umask {
            if u32::from_str_radix(mask.trim_start_matches("0o"), 8).is_err() {
                return Err(format!("--umask {mask}: not an octal number"));
            }
        }
        Ok(())
    }

    /// One warning per flag that is accepted but changes nothing.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(f) = &self.log_facility {
            w.push(format!(
                "-S/--log-facility {f} ignored: ha logs to the journal (or stderr), not to syslog; \
                 rsyslog's imjournal forwards it (filter on SYSLOG_IDENTIFIER=ha)"
            ));
        }
        let ignored = [
            (self.release_vips, "-X/--release-vips"),
            (self.dump_conf, "-d/--dump-conf"),
            (self.address_monitoring, "-a/--address-monitoring"),
            (self.bfd_pid_file.is_some(), "-b/--bfd_pid (ha has no BFD)"),
            (self.snmp, "-x/--snmp (ha has no SNMP agent)"),
            (self.snmp_agent_socket.is_some(), "-A/--snmp-agent-socket"),
            (self.core_dump, "-m/--core-dump"),
            (self.core_dump_pattern.is_some(), "-M/--core-dump-pattern"),
            (self.all_config, "-e/--all-config"),
        ];
        for (given, flag) in ignored {
            if given {
                w.push(format!("{flag}: keepalived's flag, ignored by ha"));
            }
        }
        w
    }
}

/// Why the main thread wakes up.
enum Wake {
    /// A signal, by number (real-time ones included).
    Signal(i32),
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

/// The pid file's default: the control socket's path with `.pid` (`/run/ha/ha.pid`).
pub fn default_pid_file(control_socket: &Path) -> PathBuf {
    control_socket.with_extension("pid")
}

/// The dumps' default directory: the control socket's (`/run/ha`).
pub fn default_dump_dir(control_socket: &Path) -> PathBuf {
    match control_socket.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Pid files written at start and removed at exit (when they still hold our pid).
struct PidFiles(Vec<PathBuf>);

impl PidFiles {
    fn write(paths: Vec<PathBuf>) -> Result<PidFiles, String> {
        let pid = format!("{}\n", std::process::id());
        let mut written = PidFiles(Vec::new());
        for path in paths {
            let dir = default_dump_dir(&path);
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| format!("pid file {}: not a file name", path.display()))?;
            if let Err(e) = std::fs::create_dir_all(&dir) {
                return Err(format!("pid file {}: {e}", path.display()));
            }
            match crate::dump::write_atomic(&dir, &name, &pid) {
                Ok(_) => {
                    // Readable by all, as keepalived's: exporters and scripts read it.
                    use std::os::unix::fs::PermissionsExt;
                    let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644));
                    written.0.push(path);
                }
                Err(e) => return Err(format!("pid file {}: {e}", path.display())),
            }
        }
        Ok(written)
    }
}

impl Drop for PidFiles {
    fn drop(&mut self) {
        let ours = format!("{}", std::process::id());
        for path in &self.0 {
            if std::fs::read_to_string(path).is_ok_and(|s| s.trim() == ours) {
                let _ = std::fs::remove_file(path);
            }
        }
    }
}

/// Writes the dumps a signal asks for, from the director's status, and logs their paths.
fn write_dumps(director: &Director, dir: &Path, request: Request, signal: i32) {
    let status = match director.status() {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("{}: no dump written: {e}", signals::name(signal));
            return;
        }
    };
    if let Err(e) = std::fs::create_dir_all(dir) {
        tracing::warn!(
            "{}: cannot create {}: {e}",
            signals::name(signal),
            dir.display()
        );
        return;
    }
    for (name, text) in crate::dump::files_for(request, &status) {
        match crate::dump::write_atomic(dir, name, &text) {
            Ok(path) => tracing::info!(
                file = %path.display(),
                "{}: wrote {}",
                signals::name(signal),
                path.display()
            ),
            Err(e) => tracing::warn!(
                "{}: cannot write {}: {e}",
                signals::name(signal),
                dir.join(name).display()
            ),
        }
    }
    if request == Request::StatsClear {
        tracing::info!(
            "{}: counters are not cleared (ha's only grow, as metrics scrapers expect)",
            signals::name(signal)
        );
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    if let Some(name) = &args.keepalived.signum {
        // keepalived's words and exit status, for scripts written against it.
        return match signals::signum(name) {
            Some(number) => {
                println!("{number}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("Unknown sigfunc {name}");
                ExitCode::from(1)
            }
        };
    }
    close_inherited_descriptors_on_exec();
    if let Err(e) = args.keepalived.refused() {
        eprintln!("ha run: {e}");
        return ExitCode::from(2);
    }
    // Signals are taken by a thread of their own with sigwait: block them before any thread
    // starts (the log writer's included) so that every thread inherits the mask. Every
    // signal keepalived's users send is among them, so none kills ha run.
    let signal_set = match SignalSet::keepalived().and_then(|set| set.block().map(|()| set)) {
        Ok(set) => set,
        Err(e) => {
            eprintln!("ha run: cannot block signals: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(mask) = &args.keepalived.umask {
        if let Ok(bits) = u32::from_str_radix(mask.trim_start_matches("0o"), 8) {
            nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(bits));
        }
    }
    let log_level = args.log_level.unwrap_or(if args.keepalived.log_detail {
        LogLevel::Debug
    } else {
        LogLevel::Info
    });
    let log_format = match args.log_format {
        LogFormat::Auto if args.keepalived.log_console => LogFormat::Text,
        format => format,
    };
    let log = match logging::init(log_format, log_level) {
        Ok(guard) => Arc::new(guard),
        Err(e) => {
            eprintln!("ha run: {e}");
            return ExitCode::from(1);
        }
    };
    logging::log_panics();
    for warning in args.keepalived.warnings() {
        tracing::warn!("{warning}");
    }
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
        keep_vrrp_on_stop: args.keepalived.dont_release_vrrp,
        log_ipvs_operations: log_level >= LogLevel::Info,
        log_lines_dropped: Some(Arc::new(move || dropped.dropped_lines())),
    };
    let director = match Director::start(config, options) {
        Ok(d) => d,
        Err(e) => {
            tracing::error!("{e}; not starting");
            return ExitCode::from(1);
        }
    };
    // After the start: the control socket's lock says no other director runs here, so the
    // pid file is not another's.
    let mut pid_paths = vec![args
        .keepalived
        .pid_file
        .clone()
        .unwrap_or_else(|| default_pid_file(&args.control_socket))];
    for extra in [
        &args.keepalived.vrrp_pid_file,
        &args.keepalived.checkers_pid_file,
    ]
    .into_iter()
    .flatten()
    {
        tracing::info!(
            "{}: ha is one process (no VRRP or checker child): the file gets its pid",
            extra.display()
        );
        pid_paths.push(extra.clone());
    }
    let _pid_files = match PidFiles::write(pid_paths) {
        Ok(p) => p,
        Err(e) => {
            tracing::error!("{e}; not starting");
            let _ = director.shutdown();
            return ExitCode::from(1);
        }
    };
    let dump_dir = args
        .dump_dir
        .clone()
        .unwrap_or_else(|| default_dump_dir(&args.control_socket));
    let (wake, woken) = std::sync::mpsc::channel();
    let signal_wake = wake.clone();
    let started = std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || loop {
            match signal_set.wait() {
                Ok(signal) => {
                    if signal_wake.send(Wake::Signal(signal)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    tracing::error!("waiting for signals: {e}");
                    let _ = signal_wake.send(Wake::Signal(nix::libc::SIGTERM));
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
    let mut watchdog = crate::systemd::Watchdog::from_env();
    if let Some(w) = &watchdog {
        tracing::info!(
            "systemd watchdog: fed every {:?} while the VRRP thread's heartbeat advances",
            w.interval()
        );
    }
    tracing::info!(file = %args.file.display(), dumps = %dump_dir.display(), "started");
    let mut failure = None;
    loop {
        let woke = match &mut watchdog {
            None => woken.recv().ok(),
            Some(w) => {
                let now = std::time::Instant::now();
                if w.due(now) {
                    w.feed(now, director.vrrp_heartbeat(), director.is_running());
                }
                match woken.recv_timeout(w.until_due(std::time::Instant::now())) {
                    Ok(woke) => Some(woke),
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => None,
                }
            }
        };
        let Some(woke) = woke else { break };
        match woke {
            Wake::Signal(signal) => match signals::request(signal) {
                Some(Request::Reload) => {
                    let _ = crate::systemd::notify("RELOADING=1");
                    // The director logs the outcome; nothing changes on error.
                    let _ = director.reload_file();
                    let _ = crate::systemd::notify("READY=1");
                }
                Some(Request::Stop) | None => {
                    tracing::info!("{}: stopping", signals::name(signal));
                    break;
                }
                Some(Request::ThreadDump) => {
                    tracing::info!(
                        "{}: thread dumps are not supported; ignored",
                        signals::name(signal)
                    );
                }
                Some(request) => write_dumps(&director, &dump_dir, request, signal),
            },
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
