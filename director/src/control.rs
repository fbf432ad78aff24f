//! The control socket: a root-only unix socket on which `ha status` and `ha reload` talk to a
//! running director. One JSON request line, one JSON reply line.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vrrp_core::State;

use crate::vrrp::InstanceStatus;

/// Where `ha run` listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/ha/ha.sock";

/// A request on the control socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Request {
    Status,
    Reload,
    /// Weight 0 for the real server at `server` (every virtual server, or only
    /// `virtual_server`), keeping its connections; `enable` undoes it.
    Drain {
        server: SocketAddr,
        virtual_server: Option<String>,
    },
    Enable {
        server: SocketAddr,
        virtual_server: Option<String>,
    },
}

/// The last state change of an instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransitionReport {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// How long ago, in seconds.
    pub seconds_ago: f64,
}

/// One instance as `ha status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceReport {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: String,
    pub priority: u8,
    pub effective_priority: u8,
    pub master_address: Option<IpAddr>,
    pub virtual_addresses: Vec<IpAddr>,
    pub last_transition: Option<TransitionReport>,
    pub statistics: serde_json::Value,
}

/// One real server as `ha status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServerReport {
    pub address: SocketAddr,
    /// `up` or `down`, from its health checks.
    pub health: String,
    /// Drained by `ha drain` (weight 0 until `ha enable`).
    pub drained: bool,
    pub configured_weight: u32,
    /// The weight the director wants in IPVS; absent when it wants the server out.
    pub desired_weight: Option<u32>,
    /// The weight in the kernel's table; absent when the server is not in it.
    pub weight: Option<u32>,
    pub in_ipvs: bool,
    /// Why it is up or down (the last check result that changed it).
    pub last_reason: String,
    pub seconds_since_change: f64,
    pub active_connections: u32,
    pub inactive_connections: u32,
}

/// One virtual server as `ha status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerReport {
    pub name: String,
    /// The IPVS services (`TCP 192.168.2.200:80`, `FWM 7`); a group has several.
    pub services: Vec<String>,
    pub scheduler: String,
    pub quorum: u32,
    /// Sum of the weights of the live real servers.
    pub live_weight: u32,
    pub quorum_up: bool,
    pub sorry_server: Option<SocketAddr>,
    pub sorry_server_active: bool,
    /// `ha_suspend` with its VRRP instance not MASTER: checks paused.
    pub suspended: bool,
    pub real_servers: Vec<RealServerReport>,
}

/// The director's IPVS side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpvsReport {
    /// Whether IPVS could be reached (the ip_vs module is loaded).
    pub available: bool,
    pub error: Option<String>,
    /// IPVS operations applied since start (0 after a restart that adopted an unchanged table).
    pub operations: u64,
    /// Operations the kernel refused.
    pub refused: u64,
    /// Reconciles that undid changes made behind the director's back.
    pub repairs: u64,
    /// Reads of the whole table.
    pub reads: u64,
    /// The last operations applied, as ipvsadm commands.
    pub last_operations: Vec<String>,
    /// The sync daemon's role (`master`, `backup`), if one runs.
    pub sync_daemon: Option<String>,
}

/// A reply on the control socket.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Status {
        instances: Vec<InstanceReport>,
        #[serde(default)]
        virtual_servers: Vec<VirtualServerReport>,
        #[serde(default)]
        ipvs: Option<IpvsReport>,
    },
    Reload {
        accepted: bool,
        message: String,
    },
    Drain {
        accepted: bool,
        message: String,
    },
    Error {
        message: String,
    },
}

/// keepalived's state names.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
        State::Stopped => "STOP",
    }
}

/// Turns the runner's snapshot into the report, with times relative to `now` (nanoseconds
/// on the runner's clock).
pub fn report(status: &[InstanceStatus], now_ns: u64) -> Vec<InstanceReport> {
    status
        .iter()
        .map(|s| InstanceReport {
            name: s.name.clone(),
            interface: s.interface.clone(),
            vrid: s.vrid,
            state: state_name(s.state).to_string(),
            priority: s.configured_priority,
            effective_priority: s.priority,
            master_address: s.master_address,
            virtual_addresses: s.addresses.clone(),
            last_transition: s.last_transition.map(|t| TransitionReport {
                from: state_name(t.from).to_string(),
                to: state_name(t.to).to_string(),
                reason: t.reason.to_string(),
                seconds_ago: now_ns.saturating_sub(t.at.as_nanos()) as f64 / 1e9,
            }),
            statistics: serde_json::to_value(&s.statistics).unwrap_or_default(),
        })
        .collect()
}

/// What the server needs from the director.
pub trait Director: Send + Sync {
    fn status(&self) -> Vec<InstanceReport>;
    /// Virtual servers and the IPVS side (none when the configuration has none).
    fn lvs_status(&self) -> (Vec<VirtualServerReport>, Option<IpvsReport>);
    /// Starts a reload; the reply says whether it was accepted.
    fn reload(&self) -> (bool, String);
    /// Drains (`drained`) or re-enables a real server.
    fn drain(
        &self,
        server: SocketAddr,
        virtual_server: Option<String>,
        drained: bool,
    ) -> (bool, String);
}

/// Listens on `path` (mode 0600, parent directory created) and serves requests on a thread.
pub fn serve(path: &Path, director: Arc<dyn Director>) -> io::Result<PathBuf> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A socket file left by a previous run: remove it only if nobody answers on it.
    if path.exists() && UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    let owned = path.to_path_buf();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let director = Arc::clone(&director);
                let _ = std::thread::Builder::new()
                    .name("control-client".into())
                    .spawn(move || handle(stream, &*director));
            }
        })?;
    Ok(owned)
}

fn handle(stream: UnixStream, director: &dyn Director) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut line = String::new();
    let mut reader = BufReader::new(&stream);
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let reply = match serde_json::from_str::<Request>(line.trim()) {
        Ok(Request::Status) => {
            let (virtual_servers, ipvs) = director.lvs_status();
            Reply::Status {
                instances: director.status(),
                virtual_servers,
                ipvs,
            }
        }
        Ok(Request::Drain {
            server,
            virtual_server,
        }) => {
            let (accepted, message) = director.drain(server, virtual_server, true);
            Reply::Drain { accepted, message }
        }
        Ok(Request::Enable {
            server,
            virtual_server,
        }) => {
            let (accepted, message) = director.drain(server, virtual_server, false);
            Reply::Drain { accepted, message }
        }
        Ok(Request::Reload) => {
            let (accepted, message) = director.reload();
            Reply::Reload { accepted, message }
        }
        Err(e) => Reply::Error {
            message: format!("bad request: {e}"),
        },
    };
    let mut out = serde_json::to_string(&reply).unwrap_or_default();
    out.push('\n');
    let _ = (&stream).write_all(out.as_bytes());
}

/// Sends one request and reads the reply.
pub fn request(path: &Path, request: &Request) -> io::Result<Reply> {
    let stream = UnixStream::connect(path).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!(
                "cannot reach the director at {}: {e} (is `ha run` running, and are you root?)",
                path.display()
            ),
        )
    })?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut line = serde_json::to_string(request).map_err(io::Error::other)?;
    line.push('\n');
    (&stream).write_all(line.as_bytes())?;
    let mut reply = String::new();
    BufReader::new(&stream).read_line(&mut reply)?;
    serde_json::from_str(reply.trim()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// `ha status` as a table.
pub fn render_table(instances: &[InstanceReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>4} {:<8} {:>9} {:<16} {:<18} {:>8} {:>8}  LAST TRANSITION",
        "INSTANCE", "IFACE", "VRID", "STATE", "PRIO/EFF", "MASTER", "VIPS", "RCVD", "DROPPED"
    );
    for i in instances {
        let rcvd = i.statistics["rcvd_advertisements"].as_u64().unwrap_or(0);
        let dropped: u64 = [
            "adv_interval_errors",
            "ip_ttl_errors",
            "rcvd_invalid_type_packets",
            "address_list_errors",
            "packet_length_errors",
            "checksum_errors",
            "version_errors",
            "vrid_errors",
            "auth_failures",
            "invalid_auth_type",
            "auth_type_mismatch",
            "ip_ah_auth",
            "unknown_peer",
        ]
        .iter()
        .map(|k| i.statistics[*k].as_u64().unwrap_or(0))
        .sum();
        let vips = i
            .virtual_addresses
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let last = i
            .last_transition
            .as_ref()
            .map(|t| {
                format!(
                    "{} -> {} {:.1}s ago ({})",
                    t.from, t.to, t.seconds_ago, t.reason
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:>4} {:<8} {:>9} {:<16} {:<18} {:>8} {:>8}  {}",
            i.name,
            i.interface,
            i.vrid,
            i.state,
            format!("{}/{}", i.priority, i.effective_priority),
            i.master_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            vips,
            rcvd,
            dropped,
            last
        );
    }
    out
}

/// `ha status`'s virtual-server part, `ipvsadm -Ln`-like with health and drain.
pub fn render_virtual_servers(vss: &[VirtualServerReport], ipvs: Option<&IpvsReport>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(i) = ipvs {
        let _ = write!(
            out,
            "IPVS: {}; {} operation(s), {} refused, {} repair(s)",
            if i.available {
                "reachable"
            } else {
                "NOT reachable"
            },
            i.operations,
            i.refused,
            i.repairs
        );
        if let Some(d) = &i.sync_daemon {
            let _ = write!(out, "; sync daemon {d}");
        }
        if let Some(e) = &i.error {
            let _ = write!(out, " ({e})");
        }
        out.push('\n');
    }
    for vs in vss {
        let mut flags = Vec::new();
        if !vs.quorum_up {
            flags.push("QUORUM LOST".to_string());
        }
        if vs.sorry_server_active {
            if let Some(s) = vs.sorry_server {
                flags.push(format!("sorry server {s} in use"));
            }
        }
        if vs.suspended {
            flags.push("checks suspended (ha_suspend)".into());
        }
        let _ = writeln!(
            out,
            "VIRTUAL SERVER {} [{}] {} quorum {}/{}{}",
            vs.name,
            vs.services.join(", "),
            vs.scheduler,
            vs.live_weight,
            vs.quorum,
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "  {:<24} {:<6} {:>7} {:>8} {:>9} {:>9}  LAST CHANGE",
            "REAL SERVER", "HEALTH", "CONFIG", "WEIGHT", "ACTIVE", "INACTIVE"
        );
        for rs in &vs.real_servers {
            let weight = match rs.weight {
                Some(w) if rs.drained => format!("{w} drain"),
                Some(w) => w.to_string(),
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<6} {:>7} {:>8} {:>9} {:>9}  {:.1}s ago: {}",
                rs.address.to_string(),
                rs.health,
                rs.configured_weight,
                weight,
                rs.active_connections,
                rs.inactive_connections,
                rs.seconds_since_change,
                rs.last_reason
            );
        }
    }
    out
}
