//! keepalived's state dumps, written by `ha run` on keepalived's signals: `keepalived.json`
//! (SIGRTMIN+2), `keepalived.data` and `keepalived_check.data` (SIGUSR1), `keepalived.stats`
//! (SIGUSR2). The layouts are keepalived's (2.2's `vrrp_json.c`, `vrrp_data.c`,
//! `vrrp_print.c`, `check_data.c`) for everything ha knows; what exporters read of them
//! (mehdy/keepalived-exporter's JSON decoder and text parsers) is always there.
//!
//! Everything is built from the director's [`Status`]; the files are written whole under a
//! temporary name and renamed, mode 0600, so a reader never sees half a file.

use std::fmt::Write as _;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use director::status::{InstanceReport, Status};
use director::track::{TrackedKind, TrackedReport};
use serde_json::json;

pub const JSON_FILE: &str = "keepalived.json";
pub const DATA_FILE: &str = "keepalived.data";
pub const CHECK_DATA_FILE: &str = "keepalived_check.data";
pub const STATS_FILE: &str = "keepalived.stats";

/// keepalived's state number and name. ha's STOP (an instance a reload could not restart)
/// is shown as FAULT: keepalived's files only ever hold these four, and exporters refuse
/// others.
pub fn keepalived_state(state: &str) -> (u8, &'static str) {
    match state {
        "INIT" => (0, "INIT"),
        "BACKUP" => (1, "BACKUP"),
        "MASTER" => (2, "MASTER"),
        _ => (3, "FAULT"),
    }
}

fn stat(i: &InstanceReport, key: &str) -> u64 {
    i.statistics[key].as_u64().unwrap_or(0)
}

/// keepalived's `vrrp_stats`, from ha's counters.
pub struct KeepalivedStats {
    pub advert_rcvd: u64,
    pub advert_sent: u64,
    pub become_master: u64,
    pub release_master: u64,
    pub packet_len_err: u64,
    pub advert_interval_err: u64,
    pub ip_ttl_err: u64,
    pub invalid_type_rcvd: u64,
    pub addr_list_err: u64,
    pub invalid_authtype: u64,
    pub authtype_mismatch: u64,
    pub auth_failure: u64,
    pub pri_zero_rcvd: u64,
    pub pri_zero_sent: u64,
}

impl KeepalivedStats {
    pub fn of(i: &InstanceReport) -> KeepalivedStats {
        let become_master = stat(i, "master_transitions");
        // Every time it became master it released it again, but for the tenure going on.
        let release_master = become_master.saturating_sub(u64::from(i.state == "MASTER"));
        KeepalivedStats {
            advert_rcvd: stat(i, "rcvd_advertisements"),
            advert_sent: stat(i, "sent_advertisements"),
            become_master,
            release_master,
            packet_len_err: stat(i, "packet_length_errors"),
            advert_interval_err: stat(i, "adv_interval_errors"),
            ip_ttl_err: stat(i, "ip_ttl_errors"),
            invalid_type_rcvd: stat(i, "rcvd_invalid_type_packets"),
            addr_list_err: stat(i, "address_list_errors"),
            invalid_authtype: stat(i, "invalid_auth_type"),
            authtype_mismatch: stat(i, "auth_type_mismatch"),
            auth_failure: stat(i, "auth_failures"),
            pri_zero_rcvd: stat(i, "rcvd_pri_zero_packets"),
            pri_zero_sent: stat(i, "sent_pri_zero_packets"),
        }
    }
}

/// Seconds since the epoch of something `seconds_ago` before `now`.
fn epoch_secs(now: SystemTime, seconds_ago: f64) -> f64 {
    let now = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    now.saturating_sub(Duration::from_secs_f64(seconds_ago.max(0.0)))
        .as_secs_f64()
}

/// The tracked objects of `kind` that `instance` follows, with its weight for each.
fn tracked_by<'a>(
    tracked: &'a [TrackedReport],
    kind: TrackedKind,
    instance: &'a str,
) -> impl Iterator<Item = (&'a TrackedReport, i32)> + 'a {
    tracked
        .iter()
        .filter(move |t| t.kind == kind)
        .filter_map(move |t| {
            t.instances
                .iter()
                .find(|(name, _)| name == instance)
                .map(|(_, w)| (t, *w))
        })
}

/// `keepalived.json` (keepalived's JSON dump, version 1: an array of instances).
pub fn json(status: &Status, now: SystemTime) -> String {
    let instances: Vec<serde_json::Value> = status
        .instances
        .iter()
        .map(|i| {
            let (state, _) = keepalived_state(&i.state);
            let vips: Vec<String> = i
                .vip_details
                .iter()
                .filter(|v| !v.excluded)
                .map(|v| v.keepalived_text())
                .collect();
            let evips: Vec<String> = i
                .vip_details
                .iter()
                .filter(|v| v.excluded)
                .map(|v| v.keepalived_text())
                .collect();
            let mut data = serde_json::Map::new();
            data.insert("iname".into(), json!(i.name));
            data.insert("ifp_ifname".into(), json!(i.interface));
            data.insert(
                "last_transition".into(),
                json!(i
                    .last_transition
                    .as_ref()
                    .map(|t| epoch_secs(now, t.seconds_ago))
                    .unwrap_or(0.0)),
            );
            // keepalived writes a float; its exporters decode an integer, which a whole
            // number of seconds is for both.
            data.insert("garp_delay".into(), json!(i.garp_master_delay_secs));
            data.insert("vrid".into(), json!(i.vrid));
            data.insert("base_priority".into(), json!(i.priority));
            data.insert("effective_priority".into(), json!(i.effective_priority));
            data.insert(
                "vipset".into(),
                json!(i.vip_details.iter().any(|v| v.installed)),
            );
            data.insert(
                "adver_int".into(),
                json!(i.advert_interval_ms as f64 / 1000.0),
            );
            data.insert("state".into(), json!(state));
            data.insert("wantstate".into(), json!(state));
            data.insert("version".into(), json!(i.version));
            if !vips.is_empty() {
                data.insert("vips".into(), json!(vips));
            }
            if !evips.is_empty() {
                data.insert("evips".into(), json!(evips));
            }
            for (key, kind) in [
                ("track_ifp", TrackedKind::Interface),
                ("track_script", TrackedKind::Script),
                ("track_process", TrackedKind::Process),
                ("track_file", TrackedKind::File),
            ] {
                let names: Vec<&str> = tracked_by(&status.tracked, kind, &i.name)
                    .map(|(t, _)| t.name.as_str())
                    .collect();
                if !names.is_empty() {
                    data.insert(key.into(), json!(names));
                }
            }
            let s = KeepalivedStats::of(i);
            json!({
                "data": data,
                "stats": {
                    "advert_rcvd": s.advert_rcvd,
                    "advert_sent": s.advert_sent,
                    "become_master": s.become_master,
                    "release_master": s.release_master,
                    "packet_len_err": s.packet_len_err,
                    "advert_interval_err": s.advert_interval_err,
                    "ip_ttl_err": s.ip_ttl_err,
                    "invalid_type_rcvd": s.invalid_type_rcvd,
                    "addr_list_err": s.addr_list_err,
                    "invalid_authtype": s.invalid_authtype,
                    "authtype_mismatch": s.authtype_mismatch,
                    "auth_failure": s.auth_failure,
                    "pri_zero_rcvd": s.pri_zero_rcvd,
                    "pri_zero_sent": s.pri_zero_sent,
                }
            })
        })
        .collect();
    let mut out = serde_json::to_string(&instances).unwrap_or_else(|_| "[]".into());
    out.push('\n');
    out
}

/// `keepalived.stats` (keepalived 2.2's layout).
pub fn stats(status: &Status) -> String {
    let mut out = String::new();
    for i in &status.instances {
        let s = KeepalivedStats::of(i);
        let _ = write!(
            out,
            "VRRP Instance: {}\n  Advertisements:\n    Received: {}\n    Sent: {}\n  \
             Became master: {}\n  Released master: {}\n  Packet Errors:\n    Length: {}\n    \
             TTL: {}\n    Invalid Type: {}\n    Advertisement Interval: {}\n    \
             Address List: {}\n  Authentication Errors:\n    Invalid Type: {}\n    \
             Type Mismatch: {}\n    Failure: {}\n  Priority Zero:\n    Received: {}\n    \
             Sent: {}\n",
            i.name,
            s.advert_rcvd,
            s.advert_sent,
            s.become_master,
            s.release_master,
            s.packet_len_err,
            s.ip_ttl_err,
            s.invalid_type_rcvd,
            s.advert_interval_err,
            s.addr_list_err,
            s.invalid_authtype,
            s.authtype_mismatch,
            s.auth_failure,
            s.pri_zero_rcvd,
            s.pri_zero_sent,
        );
    }
    out
}

/// `1673674892.348360`, as keepalived prints times.
fn epoch_text(secs: f64) -> String {
    format!("{secs:.6}")
}

/// `keepalived.data`: the VRRP side (keepalived 2.2's layout, the lines ha has values for).
pub fn data(status: &Status, now: SystemTime) -> String {
    let mut out = String::new();
    let w = &mut out;
    let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let _ = writeln!(w, "------< Global definitions >------");
    let _ = writeln!(w, " Written by = ha {}", env!("CARGO_PKG_VERSION"));
    let _ = writeln!(w, " Written at = {}", epoch_text(now_secs.as_secs_f64()));
    let _ = writeln!(w, " Process id = {}", std::process::id());
    let _ = writeln!(w, "------< VRRP Topology >------");
    for i in &status.instances {
        let (_, state) = keepalived_state(&i.state);
        let _ = writeln!(w, " VRRP Instance = {}", i.name);
        if i.version != 0 {
            let _ = writeln!(w, "   VRRP Version = {}", i.version);
        }
        let _ = writeln!(w, "   State = {state}");
        if state == "BACKUP" {
            if let Some(m) = i.master_address {
                let _ = writeln!(w, "   Master router = {m}");
            }
        }
        let _ = writeln!(w, "   Wantstate = {state}");
        if let Some(t) = &i.last_transition {
            let _ = writeln!(
                w,
                "   Last transition = {} ({} -> {}: {})",
                epoch_text(epoch_secs(now, t.seconds_ago)),
                t.from,
                t.to,
                t.reason
            );
        }
        let _ = writeln!(w, "   Interface = {}", i.interface);
        let _ = writeln!(w, "   Gratuitous ARP delay = {}", i.garp_master_delay_secs);
        let _ = writeln!(w, "   Virtual Router ID = {}", i.vrid);
        let _ = writeln!(w, "   Priority = {}", i.priority);
        let _ = writeln!(w, "   Effective priority = {}", i.effective_priority);
        if i.version == 2 {
            let _ = writeln!(
                w,
                "   Advert interval = {} sec",
                i.advert_interval_ms / 1000
            );
        } else if i.version == 3 {
            let _ = writeln!(w, "   Advert interval = {} milli-sec", i.advert_interval_ms);
        }
        let vips: Vec<_> = i.vip_details.iter().filter(|v| !v.excluded).collect();
        let evips: Vec<_> = i.vip_details.iter().filter(|v| v.excluded).collect();
        for (title, list) in [
            (format!("   Virtual IP ({}):", vips.len()), vips),
            ("   Virtual IP Excluded :".to_string(), evips),
        ] {
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(w, "{title}");
            for v in list {
                let set = if v.installed { " set" } else { "" };
                let _ = writeln!(w, "     {}{set}", v.keepalived_text());
            }
        }
        for (title, kind) in [
            ("Tracked interfaces", TrackedKind::Interface),
            ("Tracked scripts", TrackedKind::Script),
            ("Tracked files", TrackedKind::File),
            ("Tracked processes", TrackedKind::Process),
        ] {
            let list: Vec<_> = tracked_by(&status.tracked, kind, &i.name).collect();
            if list.is_empty() {
                continue;
            }
            let _ = writeln!(w, "   {title} :");
            for (t, weight) in list {
                let _ = writeln!(w, "     {} weight {weight}", t.name);
            }
        }
    }
    let scripts: Vec<_> = status
        .tracked
        .iter()
        .filter(|t| t.kind == TrackedKind::Script)
        .collect();
    if !scripts.is_empty() {
        let _ = writeln!(w, "------< VRRP Scripts >------");
        for t in scripts {
            let _ = writeln!(w, " VRRP Script = {}", t.name);
            let _ = writeln!(w, "   Status = {}", if t.up { "GOOD" } else { "BAD" });
            tracking_instances(w, t);
            // ha does not report whether a run is in progress; between runs keepalived says
            // idle.
            let _ = writeln!(w, "   State = idle");
        }
    }
    let files: Vec<_> = status
        .tracked
        .iter()
        .filter(|t| t.kind == TrackedKind::File)
        .collect();
    if !files.is_empty() {
        let _ = writeln!(w, "------< VRRP Track files >------");
        for t in files {
            let _ = writeln!(w, " VRRP Track file = {}", t.name);
            let _ = writeln!(w, "   Status = {}", t.value.unwrap_or(0));
            tracking_instances(w, t);
        }
    }
    let processes: Vec<_> = status
        .tracked
        .iter()
        .filter(|t| t.kind == TrackedKind::Process)
        .collect();
    if !processes.is_empty() {
        let _ = writeln!(w, "------< VRRP Track processes >------");
        for t in processes {
            let _ = writeln!(w, " VRRP Track process = {}", t.name);
            let _ = writeln!(w, "   Have quorum = {}", t.up);
            tracking_instances(w, t);
        }
    }
    out
}

fn tracking_instances(w: &mut String, t: &TrackedReport) {
    let _ = writeln!(w, "   Tracking instances :");
    for (name, weight) in &t.instances {
        let _ = writeln!(w, "     {name}, weight {weight}");
    }
}

/// `keepalived_check.data`: the LVS side (keepalived 2.2's `check_data.c` layout, the lines ha
/// has values for).
pub fn check_data(status: &Status) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "------< LVS Topology >------");
    for vs in &status.virtual_servers {
        let _ = writeln!(w, " ------< Virtual server >------");
        let _ = writeln!(w, " VS = {} [{}]", vs.name, vs.services.join(", "));
        let _ = writeln!(w, "   lvs_sched = {}", vs.scheduler);
        let _ = writeln!(w, "   quorum = {}", vs.quorum);
        if let Some(s) = vs.sorry_server {
            let _ = writeln!(w, "   sorry server = {s}");
            let _ = writeln!(w, "     alive = {}", u8::from(vs.sorry_server_active));
        }
        if vs.suspended {
            let _ = writeln!(w, "   Using HA suspend (checks suspended)");
        }
        let _ = writeln!(w, "   VS alive = {}", u8::from(vs.live_weight > 0));
        let _ = writeln!(w, "   quorum_state_up = {}", u8::from(vs.quorum_up));
        for rs in &vs.real_servers {
            let _ = writeln!(w, "   ------< Real server >------");
            let _ = writeln!(
                w,
                "   RIP = {}, RPORT = {}, WEIGHT = {}",
                rs.address.ip(),
                rs.address.port(),
                rs.weight.unwrap_or(0)
            );
            let _ = writeln!(w, "   initial weight = {}", rs.configured_weight);
            let _ = writeln!(
                w,
                "   effective weight = {}",
                rs.desired_weight.unwrap_or(0)
            );
            let _ = writeln!(w, "   alive = {}", u8::from(rs.health == "up"));
            let _ = writeln!(w, "   drained = {}", u8::from(rs.drained));
            let _ = writeln!(w, "   RS set = {}", u8::from(rs.in_ipvs));
            let _ = writeln!(
                w,
                "   last change = {} ({:.1}s ago)",
                rs.last_reason, rs.seconds_since_change
            );
        }
    }
    out
}

/// Writes `contents` to `dir/name` whole: a new file (mode 0600, never an existing file or a
/// link followed) renamed over the old one. Returns the path.
pub fn write_atomic(dir: &Path, name: &str, contents: &str) -> io::Result<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut n = 0u32;
    let (tmp, mut file) = loop {
        let tmp = dir.join(format!(".{name}.{}.{n}", std::process::id()));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW | nix::libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(f) => break (tmp, f),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
            Err(e) => return Err(e),
        }
    };
    let written = file
        .write_all(contents.as_bytes())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(path)
}

/// Which files a signal's request writes, with their contents.
pub fn files_for(request: crate::signals::Request, status: &Status) -> Vec<(&'static str, String)> {
    use crate::signals::Request;
    let now = SystemTime::now();
    match request {
        Request::Json => vec![(JSON_FILE, json(status, now))],
        Request::Stats | Request::StatsClear => vec![(STATS_FILE, stats(status))],
        Request::Data => {
            let mut files = vec![(DATA_FILE, data(status, now))];
            if !status.virtual_servers.is_empty() {
                files.push((CHECK_DATA_FILE, check_data(status)));
            }
            files
        }
        _ => Vec::new(),
    }
}
