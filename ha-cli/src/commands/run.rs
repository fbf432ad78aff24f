//! `ha run`: the director in the foreground (for systemd), VRRP side.

use std::path::PathBuf;
use std::process::ExitCode;

use nix::sys::signal::{SigSet, Signal};
use vrrp_core::Event;

use crate::config::{self, SourceMap};
use crate::control;
use crate::director::{self, RtnlHost};
use crate::net::Rtnl;
use crate::notify::Notifier;
use crate::track::Tracker;
use crate::vrrp::{RunnerEvent, StatusHandle, VrrpRunner};
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
    /// Control socket for `ha status` and `ha reload` (root-only).
    #[arg(long, default_value = control::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
}

/// What the control socket sees of the running director.
struct ControlView {
    status: StatusHandle,
}

impl control::Director for ControlView {
    fn status(&self) -> Vec<control::InstanceReport> {
        control::report(&self.status.status(), self.status.now().as_nanos())
    }

    fn reload(&self) -> (bool, String) {
        (
            false,
            "reload is not supported yet: restart the director to apply a new configuration"
                .to_string(),
        )
    }
}

fn log_event(e: &RunnerEvent) {
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

pub fn run(args: RunArgs) -> ExitCode {
    let mut opts = config::Options::for_this_host();
    if let Some(id) = args.config_id {
        opts.config_id = id;
    }
    let mut sources = SourceMap::default();
    let loaded = config::load_file(&args.file, &opts, &mut sources);
    if !loaded.diagnostics.is_empty() {
        eprint!(
            "{}",
            config::diag::render(&loaded.diagnostics, &sources, false)
        );
    }
    if loaded.has_errors() {
        eprintln!(
            "ha run: {} has {} error(s); not starting",
            args.file.display(),
            loaded.error_count()
        );
        return ExitCode::from(1);
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
    let specs = match Rtnl::open().map_err(|e| e.to_string()).and_then(|rtnl| {
        director::plan(&loaded.config, &mut RtnlHost(rtnl)).map_err(|e| e.to_string())
    }) {
        Ok(specs) => specs,
        Err(e) => {
            eprintln!("ha run: {e}");
            return ExitCode::from(1);
        }
    };
    let (runner, events) = match VrrpRunner::spawn(specs) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ha run: {e}");
            return ExitCode::from(1);
        }
    };
    let _tracker = match Tracker::start(&loaded.config, runner.commander()) {
        Ok(t) => Some(t),
        Err(e) => {
            eprintln!("ha run: tracking: {e}");
            None
        }
    };
    let view = Arc::new(ControlView {
        status: runner.status_handle(),
    });
    if let Err(e) = control::serve(&args.control_socket, view) {
        eprintln!(
            "ha run: control socket {}: {e}; `ha status` will not reach this director",
            args.control_socket.display()
        );
    }
    let notifier = match Notifier::from_config(&loaded.config) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("ha run: {e}; notify scripts will not run");
            Notifier::default()
        }
    };
    let logger = std::thread::Builder::new()
        .name("events".into())
        .spawn(move || {
            for e in events {
                log_event(&e);
                notifier.on_event(&e);
            }
        });
    if let Err(e) = crate::systemd::notify("READY=1") {
        eprintln!("ha run: cannot tell systemd we are ready: {e}");
    }
    loop {
        match signals.wait() {
            Ok(Signal::SIGHUP) => {
                // Reloading without disturbing unchanged instances is not implemented yet;
                // say so rather than restart everything.
                eprintln!("ha run: SIGHUP: reload is not supported yet; configuration unchanged");
            }
            Ok(_) => break,
            Err(e) => {
                eprintln!("ha run: waiting for signals: {e}");
                break;
            }
        }
    }
    let _ = crate::systemd::notify("STOPPING=1");
    let result = runner.shutdown();
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
