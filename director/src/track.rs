//! Tracking: `track_script` (keepalived's `vrrp_script`), `track_interface`, `track_file` and
//! `track_process` turned into priority adjustments and faults of the instances that track them.
//!
//! keepalived's rules, per tracked object with weight W (the instance's `weight` overrides the
//! object's own):
//! - W = 0: the object failing puts the instance in FAULT;
//! - W > 0: while the object is up, the priority is raised by W;
//! - W < 0: while the object is down, the priority is lowered by |W|;
//! - `reverse` swaps up and down for the purpose of applying W.
//!
//! `track_file` follows keepalived's own rule: the file holds an integer; with weight 0 a
//! non-zero value is a FAULT, otherwise value x weight (negated with `reverse`) is added, and a
//! result of -254 or less is a FAULT. Files and processes (a count of at least `quorum`, at most
//! `quorum_max`, matching `process` by name or by full command line) are polled every 200 ms.
//!
//! Scripts run on threads of their own (never on the VRRP thread), each every `interval`,
//! killed (whole process group) after `timeout`, and change state after `rise` consecutive
//! successes or `fall` consecutive failures.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vrrp_core::{Command as InstanceCommand, FaultCause};

use crate::vrrp::{Commander, RunnerCommand};
use keepalived_conf::{Config, Track};

/// Outcome of one tracked object for one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    Fault,
    Adjust(i32),
}

/// Applies keepalived's weight rules to an object that is `up` or not.
fn effect(weight: i32, reverse: bool, up: bool) -> Effect {
    let up = up != reverse;
    match weight {
        0 if !up => Effect::Fault,
        0 => Effect::Adjust(0),
        w if w > 0 && up => Effect::Adjust(w),
        w if w < 0 && !up => Effect::Adjust(w),
        _ => Effect::Adjust(0),
    }
}

/// What one instance tracks.
#[derive(Debug, Clone)]
struct Tracked {
    instance: String,
    /// (script name, weight, reverse)
    scripts: Vec<(String, i32, bool)>,
    /// (interface name, weight, reverse)
    interfaces: Vec<(String, i32, bool)>,
    /// (track_file name, weight, reverse)
    files: Vec<(String, i32, bool)>,
    /// (vrrp_track_process name, weight, reverse)
    processes: Vec<(String, i32, bool)>,
}

#[derive(Debug, Default)]
struct Shared {
    script_up: HashMap<String, bool>,
    link_up: HashMap<String, bool>,
    /// Last value read from each tracked file (0 when unreadable, as keepalived).
    file_value: HashMap<String, i64>,
    process_up: HashMap<String, bool>,
    /// What was last sent per instance: (adjustment, fault).
    sent: HashMap<String, (i32, bool)>,
}

/// Running trackers. Dropping it stops them (within one script interval or one second).
#[derive(Debug)]
pub struct Tracker {
    shared: Arc<Mutex<Shared>>,
    stop: Arc<AtomicBool>,
    /// The scripts by name with their command line, to carry state across a reload.
    scripts: HashMap<String, Vec<String>>,
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A `vrrp_script` ready to run.
#[derive(Debug, Clone)]
struct Script {
    name: String,
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    rise: u32,
    fall: u32,
    init_fail: bool,
    /// `user`, or `script_user` of global_defs.
    user: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
}

impl Tracker {
    /// Starts the script threads and the interface watcher for every object some instance
    /// tracks, and keeps the runner's instances adjusted. Scripts that `previous` ran with the
    /// same command line keep their state (a reload must not flap them).
    pub fn start(
        config: &Config,
        commander: Commander,
        previous: Option<&Tracker>,
    ) -> Result<Tracker, String> {
        let scripts_by_name: HashMap<&str, &keepalived_conf::VrrpScript> = config
            .vrrp_scripts
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let weight_of = |t: &Track, own: i32| t.weight.unwrap_or(own);
        let mut tracked = Vec::new();
        let mut scripts: HashMap<String, Script> = HashMap::new();
        let mut files: HashMap<String, PathBuf> = HashMap::new();
        let mut processes: HashMap<String, ProcessMatch> = HashMap::new();
        for vi in &config.vrrp_instances {
            let mut entry = Tracked {
                instance: vi.name.clone(),
                scripts: Vec::new(),
                interfaces: Vec::new(),
                files: Vec::new(),
                processes: Vec::new(),
            };
            for t in &vi.tracking.scripts {
                let s = scripts_by_name.get(t.name.as_str()).ok_or_else(|| {
                    format!("vrrp_instance {}: no vrrp_script {}", vi.name, t.name)
                })?;
                entry.scripts.push((
                    t.name.clone(),
                    weight_of(t, s.weight),
                    t.reverse || s.weight_reverse,
                ));
                let interval = s.interval.as_duration();
                let user = match s.user.as_ref().or(config.global_defs.script_user.as_ref()) {
                    Some(u) => Some(crate::notify::resolve_user(u)?),
                    None => None,
                };
                scripts.entry(t.name.clone()).or_insert_with(|| Script {
                    user,
                    name: s.name.clone(),
                    argv: healthcheck::split_command(&s.script),
                    interval,
                    timeout: s.timeout.map(|t| t.as_duration()).unwrap_or(interval),
                    rise: s.rise.max(1),
                    fall: s.fall.max(1),
                    init_fail: s.init_fail,
                });
            }
            for t in &vi.tracking.interfaces {
                entry
                    .interfaces
                    .push((t.name.clone(), t.weight.unwrap_or(0), t.reverse));
            }
            for t in &vi.tracking.files {
                let f = config
                    .track_files
                    .iter()
                    .find(|f| f.name == t.name)
                    .ok_or_else(|| {
                        format!("vrrp_instance {}: no track_file {}", vi.name, t.name)
                    })?;
                files.insert(f.name.clone(), PathBuf::from(&f.file));
                entry.files.push((
                    t.name.clone(),
                    t.weight.unwrap_or(f.weight),
                    t.reverse || f.weight_reverse,
                ));
            }
            for t in &vi.tracking.processes {
                let p = config
                    .vrrp_track_processes
                    .iter()
                    .find(|p| p.name == t.name)
                    .ok_or_else(|| {
                        format!(
                            "vrrp_instance {}: no vrrp_track_process {}",
                            vi.name, t.name
                        )
                    })?;
                processes.insert(
                    p.name.clone(),
                    ProcessMatch {
                        words: p.process.clone(),
                        full_command: p.full_command,
                        quorum: p.quorum.max(1),
                        quorum_max: p.quorum_max,
                    },
                );
                entry.processes.push((
                    t.name.clone(),
                    t.weight.unwrap_or(p.weight),
                    t.reverse || p.weight_reverse,
                ));
            }
            if !entry.scripts.is_empty()
                || !entry.interfaces.is_empty()
                || !entry.files.is_empty()
                || !entry.processes.is_empty()
            {
                tracked.push(entry);
            }
        }
        let shared = Arc::new(Mutex::new(Shared::default()));
        let tracked = Arc::new(tracked);
        let stop = Arc::new(AtomicBool::new(false));
        {
            let mut s = shared.lock().map_err(|e| e.to_string())?;
            for script in scripts.values() {
                let carried = previous.and_then(|p| {
                    (p.scripts.get(&script.name) == Some(&script.argv))
                        .then(|| p.script_up(&script.name))
                        .flatten()
                });
                s.script_up
                    .insert(script.name.clone(), carried.unwrap_or(!script.init_fail));
            }
        }
        let script_lines = scripts
            .values()
            .map(|s| (s.name.clone(), s.argv.clone()))
            .collect();
        apply(&shared, &tracked, &commander);
        for script in scripts.into_values() {
            let (shared, tracked, commander, stop) = (
                Arc::clone(&shared),
                Arc::clone(&tracked),
                commander.clone(),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name(format!("track {}", script.name))
                .spawn(move || run_script(script, &shared, &tracked, &commander, &stop))
                .map_err(|e| e.to_string())?;
        }
        let interfaces: Vec<String> = tracked
            .iter()
            .flat_map(|t| t.interfaces.iter().map(|i| i.0.clone()))
            .collect();
        if !interfaces.is_empty() {
            let mut rtnl = crate::net::Rtnl::open().map_err(|e| e.to_string())?;
            let mut watcher = crate::net::LinkWatcher::open().map_err(|e| e.to_string())?;
            // Wake up every second to notice a stop.
            nix::sys::socket::setsockopt(
                watcher.socket(),
                nix::sys::socket::sockopt::ReceiveTimeout,
                &nix::sys::time::TimeVal::new(1, 0),
            )
            .map_err(|e| e.to_string())?;
            {
                let mut s = shared.lock().map_err(|e| e.to_string())?;
                for link in rtnl.links().map_err(|e| e.to_string())? {
                    s.link_up.insert(link.name, link.usable);
                }
            }
            apply(&shared, &tracked, &commander);
            let (shared2, tracked2, commander2, stop2) = (
                Arc::clone(&shared),
                Arc::clone(&tracked),
                commander.clone(),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name("track links".into())
                .spawn(move || {
                    while !stop2.load(Ordering::Relaxed) {
                        let Ok(changes) = watcher.next_changes() else {
                            continue;
                        };
                        if let Ok(mut s) = shared2.lock() {
                            for c in changes {
                                s.link_up.insert(c.name, c.usable);
                            }
                        }
                        apply(&shared2, &tracked2, &commander2);
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        if !files.is_empty() || !processes.is_empty() {
            poll_files_and_processes(&files, &processes, &shared);
            apply(&shared, &tracked, &commander);
            let (shared3, tracked3, commander3, stop3) = (
                Arc::clone(&shared),
                Arc::clone(&tracked),
                commander.clone(),
                Arc::clone(&stop),
            );
            std::thread::Builder::new()
                .name("track files".into())
                .spawn(move || {
                    while !stop3.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(200));
                        if poll_files_and_processes(&files, &processes, &shared3) {
                            apply(&shared3, &tracked3, &commander3);
                        }
                    }
                })
                .map_err(|e| e.to_string())?;
        }
        Ok(Tracker {
            shared,
            stop,
            scripts: script_lines,
        })
    }

    /// Whether a tracked script is currently up.
    pub fn script_up(&self, name: &str) -> Option<bool> {
        self.shared.lock().ok()?.script_up.get(name).copied()
    }
}

/// How a `vrrp_track_process` recognises its processes.
#[derive(Debug, Clone)]
struct ProcessMatch {
    words: Vec<String>,
    full_command: bool,
    quorum: u32,
    quorum_max: Option<u32>,
}

impl ProcessMatch {
    /// Whether a process (its `comm` and NUL-separated `cmdline`) is one of ours.
    fn matches(&self, comm: &str, cmdline: &[u8]) -> bool {
        let args: Vec<&str> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .filter_map(|a| std::str::from_utf8(a).ok())
            .collect();
        let Some(name) = self.words.first() else {
            return false;
        };
        if self.full_command || self.words.len() > 1 {
            // keepalived: with arguments (or full_command) the whole command line must match.
            let program_matches = args.first().is_some_and(|a| {
                a == name
                    || std::path::Path::new(a)
                        .file_name()
                        .is_some_and(|f| f == name.as_str())
            });
            program_matches
                && args.len() == self.words.len()
                && args[1..]
                    == self.words[1..]
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()[..]
        } else {
            comm == name
        }
    }

    fn up(&self, count: u32) -> bool {
        count >= self.quorum && self.quorum_max.is_none_or(|max| count <= max)
    }
}

/// Reads every tracked file and counts every tracked process; returns whether anything changed.
fn poll_files_and_processes(
    files: &HashMap<String, PathBuf>,
    processes: &HashMap<String, ProcessMatch>,
    shared: &Mutex<Shared>,
) -> bool {
    let values: Vec<(String, i64)> = files
        .iter()
        .map(|(name, path)| {
            let value = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.split_whitespace().next().and_then(|w| w.parse().ok()))
                .unwrap_or(0);
            (name.clone(), value)
        })
        .collect();
    let mut counts: HashMap<&str, u32> = processes.keys().map(|k| (k.as_str(), 0)).collect();
    if !processes.is_empty() {
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let path = entry.path();
                let is_pid = entry
                    .file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit());
                if !is_pid {
                    continue;
                }
                let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
                let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
                for (name, m) in processes {
                    if m.matches(comm.trim_end(), &cmdline) {
                        *counts.entry(name.as_str()).or_default() += 1;
                    }
                }
            }
        }
    }
    let Ok(mut s) = shared.lock() else {
        return false;
    };
    let mut changed = false;
    for (name, value) in values {
        changed |= s.file_value.insert(name, value) != Some(value);
    }
    for (name, m) in processes {
        let up = m.up(counts.get(name.as_str()).copied().unwrap_or(0));
        changed |= s.process_up.insert(name.clone(), up) != Some(up);
    }
    changed
}

/// keepalived's track_file rule for one value.
fn file_effect(weight: i32, reverse: bool, value: i64) -> Effect {
    if weight == 0 {
        return if value != 0 {
            Effect::Fault
        } else {
            Effect::Adjust(0)
        };
    }
    let product = value.saturating_mul(i64::from(weight));
    let adjust = if reverse { -product } else { product };
    if adjust <= -254 {
        Effect::Fault
    } else {
        Effect::Adjust(adjust.clamp(-253, 253) as i32)
    }
}

fn run_script(
    script: Script,
    shared: &Mutex<Shared>,
    tracked: &[Tracked],
    commander: &Commander,
    stop: &AtomicBool,
) {
    let (mut successes, mut failures) = (0u32, 0u32);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let ok = run_once(&script.argv, script.timeout, script.user);
        if ok {
            successes += 1;
            failures = 0;
        } else {
            failures += 1;
            successes = 0;
        }
        let changed = match shared.lock() {
            Ok(mut s) => {
                let up = s.script_up.get(&script.name).copied().unwrap_or(true);
                let next = if up {
                    failures < script.fall
                } else {
                    successes >= script.rise
                };
                s.script_up.insert(script.name.clone(), next);
                next != up
            }
            Err(_) => return,
        };
        if changed {
            apply(shared, tracked, commander);
        }
        std::thread::sleep(script.interval.saturating_sub(started.elapsed()));
    }
}

/// Runs the script once; success is exit status 0 within the timeout.
fn run_once(
    argv: &[String],
    timeout: Duration,
    user: Option<(nix::unistd::Uid, nix::unistd::Gid)>,
) -> bool {
    use std::os::unix::process::CommandExt;
    let Some(program) = argv.first() else {
        return false;
    };
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    if let Some((uid, gid)) = user {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let Ok(mut child) = command.spawn() else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
                let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// Recomputes every instance's adjustment and fault, and tells the runner what changed.
fn apply(shared: &Mutex<Shared>, tracked: &[Tracked], commander: &Commander) {
    let Ok(mut s) = shared.lock() else {
        return;
    };
    for t in tracked {
        let mut adjust = 0;
        let mut fault = false;
        let effects = t
            .scripts
            .iter()
            .map(|(name, w, rev)| effect(*w, *rev, s.script_up.get(name).copied().unwrap_or(true)))
            .chain(t.interfaces.iter().map(|(name, w, rev)| {
                effect(*w, *rev, s.link_up.get(name).copied().unwrap_or(false))
            }))
            .chain(t.files.iter().map(|(name, w, rev)| {
                file_effect(*w, *rev, s.file_value.get(name).copied().unwrap_or(0))
            }))
            .chain(t.processes.iter().map(|(name, w, rev)| {
                effect(*w, *rev, s.process_up.get(name).copied().unwrap_or(false))
            }));
        for e in effects {
            match e {
                Effect::Fault => fault = true,
                Effect::Adjust(a) => adjust += a,
            }
        }
        let before = s.sent.insert(t.instance.clone(), (adjust, fault));
        let (old_adjust, old_fault) = before.unwrap_or((0, false));
        if before.is_none() || old_adjust != adjust {
            commander.send(RunnerCommand::Instance {
                name: t.instance.clone(),
                command: InstanceCommand::SetPriorityAdjustment(adjust),
            });
        }
        if before.is_none() || old_fault != fault {
            commander.send(RunnerCommand::Instance {
                name: t.instance.clone(),
                command: if fault {
                    InstanceCommand::EnterFault(FaultCause::Tracking)
                } else {
                    InstanceCommand::LeaveFault(FaultCause::Tracking)
                },
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_weight_rules() {
        assert_eq!(effect(0, false, false), Effect::Fault);
        assert_eq!(effect(0, false, true), Effect::Adjust(0));
        assert_eq!(effect(10, false, true), Effect::Adjust(10));
        assert_eq!(effect(10, false, false), Effect::Adjust(0));
        assert_eq!(effect(-20, false, false), Effect::Adjust(-20));
        assert_eq!(effect(-20, false, true), Effect::Adjust(0));
        // reverse: a succeeding object counts as down.
        assert_eq!(effect(-20, true, true), Effect::Adjust(-20));
        assert_eq!(effect(0, true, true), Effect::Fault);
    }

    #[test]
    fn keepalived_track_file_rules() {
        assert_eq!(file_effect(0, false, 0), Effect::Adjust(0));
        assert_eq!(file_effect(0, false, 3), Effect::Fault);
        assert_eq!(file_effect(1, false, -20), Effect::Adjust(-20));
        assert_eq!(file_effect(10, false, 2), Effect::Adjust(20));
        assert_eq!(file_effect(10, true, 2), Effect::Adjust(-20));
        assert_eq!(file_effect(1, false, -254), Effect::Fault);
    }

    #[test]
    fn processes_match_by_name_or_full_command_line() {
        let by_name = ProcessMatch {
            words: vec!["nginx".into()],
            full_command: false,
            quorum: 2,
            quorum_max: Some(4),
        };
        assert!(by_name.matches("nginx", b"nginx: master process\0"));
        assert!(!by_name.matches("httpd", b"/usr/sbin/httpd\0"));
        assert!(!by_name.up(1) && by_name.up(2) && by_name.up(4) && !by_name.up(5));
        let full = ProcessMatch {
            words: vec!["haproxy".into(), "-f".into(), "/etc/haproxy.cfg".into()],
            full_command: true,
            quorum: 1,
            quorum_max: None,
        };
        assert!(full.matches("haproxy", b"/usr/sbin/haproxy\0-f\0/etc/haproxy.cfg\0"));
        assert!(!full.matches("haproxy", b"/usr/sbin/haproxy\0-f\0/other.cfg\0"));
    }

    #[test]
    fn scripts_succeed_fail_and_time_out() {
        assert!(run_once(
            &["/bin/true".into()],
            Duration::from_secs(5),
            None
        ));
        assert!(!run_once(
            &["/bin/false".into()],
            Duration::from_secs(5),
            None
        ));
        assert!(!run_once(
            &["/nonexistent/script".into()],
            Duration::from_secs(5),
            None
        ));
        let started = Instant::now();
        assert!(!run_once(
            &["/bin/sleep".into(), "10".into()],
            Duration::from_millis(100),
            None
        ));
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "killed at the timeout"
        );
    }
}
