//! The director on Linux: everything that runs VRRP and LVS from a keepalived.conf, behind
//! one type, [`Director`].
//!
//! ```no_run
//! use director::{Director, DirectorEvent, Options};
//! use keepalived_conf::{Config, IpAddress, VrrpInstance};
//!
//! let mut vi = VrrpInstance::new("VI_1");
//! vi.interface = Some("eth0".into());
//! vi.virtual_router_id = Some(51);
//! vi.virtual_ipaddress = vec![IpAddress::new("192.0.2.200".parse()?)];
//! let config = Config { vrrp_instances: vec![vi], ..Config::default() };
//!
//! let director = Director::start(config, Options::default())?;
//! for event in director.events() {
//!     println!("{event}"); // (VI_1) Entering BACKUP STATE (startup), ...
//!     if let DirectorEvent::Vrrp(e) = &event {
//!         if matches!(e.event, vrrp_core::Event::StateChanged(t) if t.to == vrrp_core::State::Master) {
//!             break;
//!         }
//!     }
//! }
//! println!("{:?}", director.status()?.instances);
//! director.shutdown()?; // priority-0 advert: a peer takes the VIP at once
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `examples/embed.rs` is the same as a program.
//!
//! Inside, each part owns its state and talks to the others through typed channels:
//! - the **VRRP thread** ([`vrrp`]): vrrp-core instances on raw sockets, VIPs, gratuitous
//!   ARP / NA, and the one link watcher; it never waits for anything else;
//! - the **LVS thread** ([`lvs`]): the pure `LvsState`, the health-check engine's results in,
//!   IPVS operations out;
//! - the **router**, on the director's own runtime thread: it starts the others, carries VRRP
//!   state changes to the LVS side, runs every script (notify, tracking, LVS) through one
//!   script runner, sends alerts, applies tracking ([`track`]), answers the control socket
//!   ([`control`]) and the methods of [`Director`], and publishes [`DirectorEvent`]s.
//!
//! A panic on any of the director's threads stops the whole director as a shutdown would
//! (priority-0 adverts, VIPs released) rather than leaving it half alive; the event stream
//! ends with [`DirectorEvent::Stopped`] naming the thread.
// `unsafe` is denied everywhere but `net::sys`, the system-call glue that cannot be written without it.
#![deny(unsafe_code)]

pub mod alert;
pub mod control;
mod fault;
pub mod lvs;
pub mod message_id;
pub mod net;
pub mod notify;
mod router;
pub mod scripts;
pub mod status;
pub mod track;
pub mod vrrp;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, oneshot};

pub use status::Status;
pub use vrrp::{ReloadSummary, RunnerEvent as VrrpEvent};

use router::Input;

/// How a director runs, beyond what its configuration says.
#[derive(Clone)]
pub struct Options {
    /// Run the VRRP side (keepalived's `--vrrp` runs only this one).
    pub vrrp: bool,
    /// Run the LVS side: IPVS and health checks (keepalived's `--check` runs only this one).
    pub lvs: bool,
    /// Where [`Director::reload_file`] and the control socket's `reload` read the
    /// configuration from; `None` for a configuration built in code.
    pub config_file: Option<(PathBuf, keepalived_conf::Options)>,
    /// Serve `ha status`, `ha reload`, `ha drain` and `ha enable` on this unix socket.
    pub control_socket: Option<PathBuf>,
    /// Who besides root may use it (a group that may ask for status).
    pub control_access: control::Access,
    /// How often the kernel's IPVS table is re-read to undo changes made behind our back.
    pub ipvs_verify_interval: Duration,
    /// Leave the IPVS table as it is at stop (keepalived's `--dont-release-ipvs`).
    pub keep_ipvs_on_stop: bool,
    /// Leave the VRRP side's addresses, routes and VMACs at stop, without a priority-0
    /// advert (keepalived's `--dont-release-vrrp`).
    pub keep_vrrp_on_stop: bool,
    /// Log each IPVS operation (or only summaries).
    pub log_ipvs_operations: bool,
    /// Counts log lines the logging layer dropped, for [`Status::log_lines_dropped`].
    pub log_lines_dropped: Option<Arc<dyn Fn() -> u64 + Send + Sync>>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            vrrp: true,
            lvs: true,
            config_file: None,
            control_socket: None,
            control_access: control::Access::default(),
            ipvs_verify_interval: Duration::from_secs(5),
            keep_ipvs_on_stop: false,
            keep_vrrp_on_stop: false,
            log_ipvs_operations: true,
            log_lines_dropped: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("vrrp", &self.vrrp)
            .field("lvs", &self.lvs)
            .field("config_file", &self.config_file.as_ref().map(|(p, _)| p))
            .field("control_socket", &self.control_socket)
            .field("ipvs_verify_interval", &self.ipvs_verify_interval)
            .field("keep_ipvs_on_stop", &self.keep_ipvs_on_stop)
            .field("keep_vrrp_on_stop", &self.keep_vrrp_on_stop)
            .finish_non_exhaustive()
    }
}

/// Why the director could not do what was asked. Each names the object and the cause.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// The configuration file has errors (rendered with their places in the source).
    #[error("{path}: {errors} error(s) in the configuration:\n{rendered}")]
    Config {
        path: String,
        errors: usize,
        rendered: String,
    },
    /// The configuration cannot run on this host (an instance, a virtual server, a script
    /// user, a notify FIFO, ...).
    #[error("{0}")]
    Plan(String),
    /// Starting a part of the director failed.
    #[error("cannot start the {part}: {cause}")]
    Start { part: &'static str, cause: String },
    /// The director changed nothing: the reload was refused.
    #[error("reload refused, configuration unchanged: {0}")]
    Reload(String),
    /// A drain or enable could not be done.
    #[error("{0}")]
    Drain(String),
    /// The director has stopped (or one of its threads failed and stopped it).
    #[error("the director has stopped")]
    Stopped,
}

/// What a reload changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadReport {
    pub vrrp: ReloadSummary,
    /// The LVS side's summary, when it runs.
    pub lvs: Option<String>,
}

impl fmt::Display for ReloadReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(",")
            }
        };
        let s = &self.vrrp;
        write!(
            f,
            "unchanged {}, priority changed {}, restarted {}, added {}, removed {}",
            list(&s.unchanged),
            list(&s.reprioritised),
            list(&s.restarted),
            list(&s.added),
            list(&s.removed)
        )?;
        if !s.failed.is_empty() {
            write!(f, "; NOT restarted (stopped): {}", s.failed.join("; "))?;
        }
        if let Some(lvs) = &self.lvs {
            write!(f, "; {lvs}")?;
        }
        Ok(())
    }
}

/// Something that happened in the director, for embedders and logs.
#[derive(Debug, Clone)]
pub enum DirectorEvent {
    /// A VRRP instance's event (state change, priority change, dropped advert, ...).
    Vrrp(VrrpEvent),
    /// A real server went up or down.
    RealServer {
        virtual_server: String,
        server: SocketAddr,
        up: bool,
        reason: String,
    },
    /// A virtual server gained or lost quorum.
    Quorum { virtual_server: String, up: bool },
    /// An `ha_announce` virtual server's addresses were put on the announce interface
    /// (`announced`) or taken off it, and why.
    Announce {
        virtual_server: String,
        announced: bool,
        reason: String,
    },
    /// A tracked script's verdict changed.
    TrackScript { name: String, up: bool },
    /// The configuration was reloaded.
    Reloaded(ReloadReport),
    /// The director stopped: `None` when asked to, else why (a thread failed).
    Stopped(Option<String>),
    /// This receiver fell behind and missed some events.
    Lagged(u64),
}

impl fmt::Display for DirectorEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectorEvent::Vrrp(e) => match &e.event {
                vrrp_core::Event::StateChanged(t) => write!(
                    f,
                    "({}) Entering {} STATE ({})",
                    e.instance,
                    status::state_name(t.to),
                    t.reason
                ),
                other => write!(f, "({}) {other}", e.instance),
            },
            DirectorEvent::RealServer {
                virtual_server,
                server,
                up,
                reason,
            } => write!(
                f,
                "real server {server} of {virtual_server}: {} ({reason})",
                if *up { "UP" } else { "DOWN" }
            ),
            DirectorEvent::Quorum { virtual_server, up } => write!(
                f,
                "virtual server {virtual_server}: quorum {}",
                if *up { "UP" } else { "DOWN" }
            ),
            DirectorEvent::Announce {
                virtual_server,
                announced,
                reason,
            } => write!(
                f,
                "virtual server {virtual_server}: {} ({reason})",
                if *announced { "ANNOUNCED" } else { "WITHDRAWN" }
            ),
            DirectorEvent::TrackScript { name, up } => write!(
                f,
                "VRRP_Script({name}) {}",
                if *up { "succeeded" } else { "failed" }
            ),
            DirectorEvent::Reloaded(r) => write!(f, "reloaded: {r}"),
            DirectorEvent::Stopped(None) => write!(f, "stopped"),
            DirectorEvent::Stopped(Some(why)) => write!(f, "stopped: {why}"),
            DirectorEvent::Lagged(n) => write!(f, "{n} event(s) missed"),
        }
    }
}

/// A subscription to the director's events. Iterating blocks until the next event and
/// ends after [`DirectorEvent::Stopped`].
#[derive(Debug)]
pub struct EventStream {
    rx: broadcast::Receiver<DirectorEvent>,
    ended: bool,
}

impl EventStream {
    /// The next event, waiting at most `timeout`; `None` on timeout or after the end.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<DirectorEvent> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if self.ended {
                return None;
            }
            match self.rx.try_recv() {
                Ok(e) => return Some(self.seen(e)),
                Err(broadcast::error::TryRecvError::Lagged(n)) => {
                    return Some(DirectorEvent::Lagged(n))
                }
                Err(broadcast::error::TryRecvError::Closed) => {
                    self.ended = true;
                    return None;
                }
                Err(broadcast::error::TryRecvError::Empty) => {}
            }
            if std::time::Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The next event, for async callers.
    pub async fn recv(&mut self) -> Option<DirectorEvent> {
        if self.ended {
            return None;
        }
        match self.rx.recv().await {
            Ok(e) => Some(self.seen(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(DirectorEvent::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => {
                self.ended = true;
                None
            }
        }
    }

    fn seen(&mut self, e: DirectorEvent) -> DirectorEvent {
        if matches!(e, DirectorEvent::Stopped(_)) {
            self.ended = true;
        }
        e
    }
}

impl Iterator for EventStream {
    type Item = DirectorEvent;

    fn next(&mut self) -> Option<DirectorEvent> {
        if self.ended {
            return None;
        }
        match self.rx.blocking_recv() {
            Ok(e) => Some(self.seen(e)),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(DirectorEvent::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => {
                self.ended = true;
                None
            }
        }
    }
}

/// Events kept for receivers that fall behind; beyond this they get [`DirectorEvent::Lagged`].
const EVENT_BUFFER: usize = 4096;

/// A running director. Its methods block the calling thread until the director answers;
/// call them from outside its runtime (any thread of yours, or `spawn_blocking`).
#[derive(Debug)]
pub struct Director {
    inputs: mpsc::UnboundedSender<Input>,
    events: broadcast::Sender<DirectorEvent>,
    /// Subscribed before the director started, for the first [`Director::events`] call.
    first_events: std::sync::Mutex<Option<broadcast::Receiver<DirectorEvent>>>,
    /// The VRRP thread's status, read without asking any thread (its heartbeat).
    vrrp_status: vrrp::StatusHandle,
    thread: Option<JoinHandle<()>>,
}

impl Director {
    /// Plans `config` for this host and starts the VRRP side, the LVS side (when it has
    /// virtual servers), tracking and the control socket. Nothing is left running on error.
    pub fn start(config: keepalived_conf::Config, options: Options) -> Result<Director, Error> {
        let (events, first_events) = broadcast::channel(EVENT_BUFFER);
        let (inputs, inputs_rx) = mpsc::unbounded_channel();
        let (started_tx, started_rx) = std::sync::mpsc::channel();
        let router_events = events.clone();
        let router_inputs = inputs.clone();
        // `net_namespace`: the director's thread enters it first; all it starts inherit it.
        let namespace = net::netns::NamespaceConfig::from_config(&config)
            .map_err(Error::Plan)?
            .net_namespace;
        let thread = std::thread::Builder::new()
            .name("director".into())
            .spawn(move || {
                if let Some(name) = namespace {
                    if let Err(cause) = net::netns::enter(&name) {
                        let _ = started_tx.send(Err(Error::Start {
                            part: "network namespace",
                            cause,
                        }));
                        return;
                    }
                }
                router::run(
                    config,
                    options,
                    router_inputs,
                    inputs_rx,
                    router_events,
                    started_tx,
                )
            })
            .map_err(|e| Error::Start {
                part: "director thread",
                cause: e.to_string(),
            })?;
        match started_rx.recv() {
            Ok(Ok(vrrp_status)) => Ok(Director {
                inputs,
                events,
                first_events: std::sync::Mutex::new(Some(first_events)),
                vrrp_status,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(Error::Start {
                    part: "director thread",
                    cause: "it stopped while starting".into(),
                })
            }
        }
    }

    /// Subscribes to the director's events. The first stream taken starts at the director's
    /// start (nothing is missed, the instances' first transitions included); later ones start
    /// now.
    pub fn events(&self) -> EventStream {
        let first = self.first_events.lock().ok().and_then(|mut f| f.take());
        EventStream {
            rx: first.unwrap_or_else(|| self.events.subscribe()),
            ended: false,
        }
    }

    fn ask<T>(&self, input: impl FnOnce(oneshot::Sender<T>) -> Input) -> Result<T, Error> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(input(reply)).map_err(|_| Error::Stopped)?;
        answer.blocking_recv().map_err(|_| Error::Stopped)
    }

    /// Applies a new configuration, touching only what changed; on error nothing changes.
    pub fn reload(&self, config: keepalived_conf::Config) -> Result<ReloadReport, Error> {
        self.ask(|reply| Input::Reload {
            config: Some(Box::new(config)),
            reply,
        })?
    }

    /// Reads the configuration file again ([`Options::config_file`]) and reloads it.
    pub fn reload_file(&self) -> Result<ReloadReport, Error> {
        self.ask(|reply| Input::Reload {
            config: None,
            reply,
        })?
    }

    /// Drains a real server: weight 0, connections kept, checks go on (every virtual server
    /// it is in, or only `virtual_server`).
    pub fn drain(&self, server: SocketAddr, virtual_server: Option<&str>) -> Result<String, Error> {
        self.ask(|reply| Input::Drain {
            server: Some(server),
            virtual_server: virtual_server.map(str::to_string),
            drained: true,
            reply,
        })?
    }

    /// Undoes [`drain`](Self::drain).
    pub fn enable(
        &self,
        server: SocketAddr,
        virtual_server: Option<&str>,
    ) -> Result<String, Error> {
        self.ask(|reply| Input::Drain {
            server: Some(server),
            virtual_server: virtual_server.map(str::to_string),
            drained: false,
            reply,
        })?
    }

    /// Drains the whole director (`drained`): every `ha_announce` address is withdrawn, so
    /// the routers stop sending it new flows; IPVS and the checks go on. `false` undoes it.
    pub fn drain_director(&self, drained: bool) -> Result<String, Error> {
        self.ask(|reply| Input::Drain {
            server: None,
            virtual_server: None,
            drained,
            reply,
        })?
    }

    /// What the director is doing now.
    pub fn status(&self) -> Result<Status, Error> {
        self.ask(|reply| Input::Status { reply })
    }

    /// The VRRP thread's heartbeat: a count of its loop's turns, which advances at least every
    /// [`vrrp::HEARTBEAT_INTERVAL`] while that thread is alive and not stuck. Reading it asks
    /// no thread anything (for a service watchdog: feed it only while this advances).
    pub fn vrrp_heartbeat(&self) -> u64 {
        self.vrrp_status.heartbeat()
    }

    /// Whether the director still runs (it stops by itself when one of its threads fails).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Waits until the director stops by itself (a thread failed), and says why.
    pub fn wait(&mut self) -> Option<String> {
        let mut events = EventStream {
            rx: self.events.subscribe(),
            ended: false,
        };
        if !self.is_running() {
            return Some("the director has stopped".into());
        }
        for e in events.by_ref() {
            if let DirectorEvent::Stopped(why) = e {
                return why;
            }
        }
        Some("the director has stopped".into())
    }

    /// Stops gracefully: tracking and scripts first, then VRRP (priority-0 adverts, VIPs
    /// removed), then the LVS side (as configured: its services removed, or kept).
    pub fn shutdown(mut self) -> Result<(), Error> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), Error> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        let (reply, answer) = oneshot::channel();
        let asked = self.inputs.send(Input::Shutdown { reply }).is_ok();
        let result = if asked {
            answer.blocking_recv().unwrap_or(Err(Error::Stopped))
        } else {
            Err(Error::Stopped)
        };
        if thread.join().is_err() {
            return Err(Error::Stopped);
        }
        result
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
