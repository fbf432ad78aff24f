//! Notify scripts on state changes: `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, and the generic `notify` called with keepalived's arguments
//! (`INSTANCE <name> <STATE> <priority>`). The router runs them through its script runner
//! (no shell, as `script_user`, own process group, a timeout, output into the log).
//!
//! `notify_fifo` / `vrrp_notify_fifo` get one line per state change, as keepalived writes them:
//! `INSTANCE "<name>" <STATE> <priority>`. The FIFO is created when missing and opened
//! read-write and non-blocking, so that a missing or slow reader never blocks the director
//! (a full FIFO loses the line).

use std::collections::HashMap;
use std::time::Duration;

use healthcheck::script::Script;
use nix::unistd::{Gid, Uid, User};
use vrrp_core::{Event, State};

use crate::status::state_name;
use crate::vrrp::RunnerEvent;
use keepalived_conf::{Config, ScriptUser};

/// How long a notify script may run before its process group is killed. keepalived sets no
/// limit; a hung script must not pile up behind every state change.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// The scripts of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceScripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub generic: Option<Script>,
}

/// Notify scripts and FIFOs for state changes.
#[derive(Debug, Default)]
pub struct Notifier {
    instances: HashMap<String, InstanceScripts>,
    /// `vrrp_sync_group`s' scripts, called as keepalived does with `GROUP <name> <STATE> 0`.
    groups: HashMap<String, InstanceScripts>,
    fifos: Vec<std::fs::File>,
}

/// Creates the FIFO when missing (owned as configured) and opens it without blocking.
fn open_fifo(fifo: &keepalived_conf::NotifyFifo) -> Result<std::fs::File, String> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let path = std::path::Path::new(&fifo.path);
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => {
            return Err(format!(
                "notify_fifo {}: exists and is not a FIFO",
                fifo.path
            ))
        }
        Err(_) => {
            nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600))
                .map_err(|e| format!("notify_fifo {}: cannot create: {e}", fifo.path))?;
            if let Some(owner) = &fifo.owner {
                let (uid, gid) = resolve_user(owner)?;
                nix::unistd::chown(path, Some(uid), Some(gid))
                    .map_err(|e| format!("notify_fifo {}: cannot chown: {e}", fifo.path))?;
            }
        }
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(nix::libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("notify_fifo {}: {e}", fifo.path))
}

/// A notify script from its configured line.
pub fn notify_script(label: String, line: &str, user: Option<(Uid, Gid)>) -> Option<Script> {
    let script = Script {
        user,
        ..Script::new(label, line, NOTIFY_TIMEOUT)
    };
    (!script.argv.is_empty()).then_some(script)
}

impl Notifier {
    /// The scripts of every instance of a configuration, run as `user`.
    pub fn from_config(config: &Config, user: Option<(Uid, Gid)>) -> Result<Notifier, String> {
        let instances = config
            .vrrp_instances
            .iter()
            .map(|vi| {
                let n = &vi.notify;
                let script = |kind: &str, line: &Option<String>| {
                    line.as_deref()
                        .and_then(|l| notify_script(format!("{kind} {}", vi.name), l, user))
                };
                (
                    vi.name.clone(),
                    InstanceScripts {
                        master: script("notify_master", &n.master),
                        backup: script("notify_backup", &n.backup),
                        fault: script("notify_fault", &n.fault),
                        stop: script("notify_stop", &n.stop),
                        generic: script("notify", &n.notify),
                    },
                )
            })
            .collect();
        let groups = config
            .vrrp_sync_groups
            .iter()
            .map(|sg| {
                let n = &sg.notify;
                let script = |kind: &str, line: &Option<String>| {
                    line.as_deref()
                        .and_then(|l| notify_script(format!("{kind} {}", sg.name), l, user))
                };
                (
                    sg.name.clone(),
                    InstanceScripts {
                        master: script("notify_master", &n.master),
                        backup: script("notify_backup", &n.backup),
                        fault: script("notify_fault", &n.fault),
                        stop: script("notify_stop", &n.stop),
                        generic: script("notify", &n.notify),
                    },
                )
            })
            .collect();
        let fifos = [
            &config.global_defs.notify_fifo,
            &config.global_defs.vrrp_notify_fifo,
        ]
        .into_iter()
        .flatten()
        .map(open_fifo)
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Notifier {
            instances,
            groups,
            fifos,
        })
    }

    /// keepalived's `send_group_notifies`: the FIFO line `GROUP "<name>" <STATE> 0`, the
    /// group's `notify_<state>` script and its `notify` script with `GROUP <name> <STATE> 0`.
    pub fn on_group(&self, group: &str, state: State) -> Vec<(Script, Vec<String>)> {
        if state == State::Initialize {
            return Vec::new();
        }
        let line = format!("GROUP \"{group}\" {} 0\n", state_name(state));
        for mut fifo in &self.fifos {
            use std::io::Write;
            if let Err(err) = fifo.write_all(line.as_bytes()) {
                tracing::warn!(sync_group = %group, "notify_fifo: line lost: {err}");
            }
        }
        let Some(scripts) = self.groups.get(group) else {
            return Vec::new();
        };
        let specific = match state {
            State::Master => &scripts.master,
            State::Backup => &scripts.backup,
            State::Fault => &scripts.fault,
            State::Stopped => &scripts.stop,
            State::Initialize => &None,
        };
        let mut out = Vec::new();
        if let Some(script) = specific {
            out.push((script.clone(), Vec::new()));
        }
        if let Some(script) = &scripts.generic {
            let args = vec![
                "GROUP".to_string(),
                group.to_string(),
                state_name(state).to_string(),
                "0".to_string(),
            ];
            out.push((script.clone(), args));
        }
        out
    }

    /// Writes the FIFO line for a state change, and returns the scripts it calls for, each
    /// with its extra arguments.
    pub fn on_event(&self, e: &RunnerEvent) -> Vec<(Script, Vec<String>)> {
        let Event::StateChanged(t) = e.event else {
            return Vec::new();
        };
        if t.to == State::Initialize {
            return Vec::new();
        }
        let line = format!(
            "INSTANCE \"{}\" {} {}\n",
            e.instance,
            state_name(t.to),
            e.priority
        );
        for mut fifo in &self.fifos {
            use std::io::Write;
            if let Err(err) = fifo.write_all(line.as_bytes()) {
                tracing::warn!(instance = %e.instance, "notify_fifo: line lost: {err}");
            }
        }
        let Some(scripts) = self.instances.get(&e.instance) else {
            return Vec::new();
        };
        let specific = match t.to {
            State::Master => &scripts.master,
            State::Backup => &scripts.backup,
            State::Fault => &scripts.fault,
            State::Stopped => &scripts.stop,
            State::Initialize => &None,
        };
        let mut out = Vec::new();
        if let Some(script) = specific {
            out.push((script.clone(), Vec::new()));
        }
        if let Some(script) = &scripts.generic {
            let args = vec![
                "INSTANCE".to_string(),
                e.instance.clone(),
                state_name(t.to).to_string(),
                e.priority.to_string(),
            ];
            out.push((script.clone(), args));
        }
        out
    }
}

/// Resolves `script_user USER [GROUP]` to ids.
pub fn resolve_user(u: &ScriptUser) -> Result<(Uid, Gid), String> {
    let user = User::from_name(&u.user)
        .map_err(|e| format!("script_user {}: {e}", u.user))?
        .ok_or_else(|| format!("script_user {}: no such user", u.user))?;
    let gid = match &u.group {
        Some(g) => {
            nix::unistd::Group::from_name(g)
                .map_err(|e| format!("script_user group {g}: {e}"))?
                .ok_or_else(|| format!("script_user group {g}: no such group"))?
                .gid
        }
        None => user.gid,
    };
    Ok((user.uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalived_conf as config;
    use vrrp_core::{Instant, Transition, TransitionReason};

    /// Runs the scripts an event calls for, as the router would, and returns how many.
    fn run(jobs: Vec<(Script, Vec<String>)>) -> usize {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for (script, args) in &jobs {
            assert!(rt.block_on(script.run(args)).success(), "{script:?}");
        }
        jobs.len()
    }

    fn event(to: State) -> RunnerEvent {
        RunnerEvent {
            instance: "VI_1".into(),
            priority: 100,
            event: Event::StateChanged(Transition {
                at: Instant::ZERO,
                from: State::Backup,
                to,
                reason: TransitionReason::MasterDown,
            }),
        }
    }

    #[test]
    fn scripts_get_keepalived_arguments() {
        let dir = std::env::temp_dir().join(format!("ha-notify-args-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let out = dir.join("out");
        let script = dir.join("record.sh");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$0 $*\" >> {}\n", out.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let text = format!(
            "vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n \
             notify_master \"{s} master-arg\"\n notify {s}\n }}\n",
            s = script.display()
        );
        let mut sources = config::SourceMap::default();
        let loaded = config::parse_str("t.conf", &text, &config::Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let notifier = Notifier::from_config(&loaded.config, None).unwrap();
        assert_eq!(run(notifier.on_event(&event(State::Master))), 2);
        assert_eq!(
            run(notifier.on_event(&event(State::Backup))),
            1,
            "only the generic script"
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let lines = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.lines().count() == 3 || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let s = script.display().to_string();
        let mut got: Vec<&str> = lines.lines().collect();
        got.sort();
        let mut want = vec![
            format!("{s} master-arg"),
            format!("{s} INSTANCE VI_1 MASTER 100"),
            format!("{s} INSTANCE VI_1 BACKUP 100"),
        ];
        want.sort();
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn scripts_run_as_script_user() {
        if !nix::unistd::geteuid().is_root() {
            testkit::skip("scripts_run_as_script_user", "needs root");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ha-notify-user-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = dir.join("id");
        let text = format!(
            "global_defs {{ script_user nobody }}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n \
             notify_master \"/bin/sh -c 'id -u > {}'\"\n }}\n",
            out.display()
        );
        let mut sources = config::SourceMap::default();
        let loaded = config::parse_str("t.conf", &text, &config::Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let user = resolve_user(loaded.config.global_defs.script_user.as_ref().unwrap()).unwrap();
        let notifier = Notifier::from_config(&loaded.config, Some(user)).unwrap();
        assert_eq!(run(notifier.on_event(&event(State::Master))), 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let uid = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if !text.is_empty() || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let nobody = User::from_name("nobody").unwrap().unwrap().uid;
        assert_eq!(uid.trim(), nobody.to_string());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn notify_fifo_gets_keepalived_lines() {
        let dir = std::env::temp_dir().join(format!("ha-notify-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("state.fifo");
        let text = format!(
            "global_defs {{ notify_fifo {} }}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }} }}\n",
            fifo.display()
        );
        let mut sources = config::SourceMap::default();
        let loaded = config::parse_str("t.conf", &text, &config::Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        let notifier = Notifier::from_config(&loaded.config, None).unwrap();
        use std::os::unix::fs::FileTypeExt;
        assert!(
            std::fs::metadata(&fifo).unwrap().file_type().is_fifo(),
            "created"
        );
        // A reader attached before the events, as a monitoring daemon would be.
        let mut reader = std::fs::File::open(&fifo).unwrap();
        notifier.on_event(&event(State::Master));
        notifier.on_event(&event(State::Fault));
        let mut buf = [0u8; 256];
        use std::io::Read;
        let n = reader.read(&mut buf).unwrap();
        assert_eq!(
            std::str::from_utf8(&buf[..n]).unwrap(),
            "INSTANCE \"VI_1\" MASTER 100\nINSTANCE \"VI_1\" FAULT 100\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
