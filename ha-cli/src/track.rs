//! Tracking: `track_script` (keepalived's `vrrp_script`) and `track_interface` turned into
//! priority adjustments and faults of the instances that track them.
//!
//! keepalived's rules, per tracked object with weight W (the instance's `weight` overrides the
//! object's own):
//! - W = 0: the object failing puts the instance in FAULT;
//! - W > 0: while the object is up, the priority is raised by W;
//! - W < 0: while the object is down, the priority is lowered by |W|;
//! - `reverse` swaps up and down for the purpose of applying W.
//!
//! Scripts run on threads of their own (never on the VRRP thread), each every `interval`,
//! killed (whole process group) after `timeout`, and change state after `rise` consecutive
//! successes or `fall` consecutive failures.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vrrp_core::{Command as InstanceCommand, FaultCause};

use crate::config::{Config, Track};
use crate::vrrp::{Commander, RunnerCommand};

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
}

#[derive(Debug, Default)]
struct Shared {
    script_up: HashMap<String, bool>,
    link_up: HashMap<String, bool>,
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
        let scripts_by_name: HashMap<&str, &crate::config::VrrpScript> = config
            .vrrp_scripts
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let weight_of = |t: &Track, own: i32| t.weight.unwrap_or(own);
        let mut tracked = Vec::new();
        let mut scripts: HashMap<String, Script> = HashMap::new();
        for vi in &config.vrrp_instances {
            let mut entry = Tracked {
                instance: vi.name.clone(),
                scripts: Vec::new(),
                interfaces: Vec::new(),
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
            if !entry.scripts.is_empty() || !entry.interfaces.is_empty() {
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
