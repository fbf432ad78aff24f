//! Notify scripts on state changes: `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, and the generic `notify` called with keepalived's arguments
//! (`INSTANCE <name> <STATE> <priority>`). Scripts run without a shell (the line is split into
//! argv as keepalived splits it), as `script_user` when configured, in their own process group,
//! and are reaped on a thread so that a slow script never holds up the director.
//!
//! `notify_fifo` / `vrrp_notify_fifo` get one line per state change, as keepalived writes them:
//! `INSTANCE "<name>" <STATE> <priority>`. The FIFO is created when missing and opened
//! read-write and non-blocking, so that a missing or slow reader never blocks the director
//! (a full FIFO loses the line).

use std::collections::HashMap;
use std::process::{Command, Stdio};

use nix::unistd::{Gid, Uid, User};
use vrrp_core::{Event, State};

use crate::control::state_name;
use crate::vrrp::RunnerEvent;
use keepalived_conf::{Config, ScriptUser};

/// The scripts of one instance, as argv.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceScripts {
    pub master: Option<Vec<String>>,
    pub backup: Option<Vec<String>>,
    pub fault: Option<Vec<String>>,
    pub stop: Option<Vec<String>>,
    pub generic: Option<Vec<String>>,
}

/// Runs notify scripts and writes notify FIFOs for state changes.
#[derive(Debug, Default)]
pub struct Notifier {
    instances: HashMap<String, InstanceScripts>,
    user: Option<(Uid, Gid)>,
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

fn argv(line: &Option<String>) -> Option<Vec<String>> {
    line.as_deref()
        .map(healthcheck::split_command)
        .filter(|v| !v.is_empty())
}

impl Notifier {
    /// The scripts of every instance of a configuration, and the user they run as.
    pub fn from_config(config: &Config) -> Result<Notifier, String> {
        let instances = config
            .vrrp_instances
            .iter()
            .map(|vi| {
                let n = &vi.notify;
                (
                    vi.name.clone(),
                    InstanceScripts {
                        master: argv(&n.master),
                        backup: argv(&n.backup),
                        fault: argv(&n.fault),
                        stop: argv(&n.stop),
                        generic: argv(&n.notify),
                    },
                )
            })
            .collect();
        let user = match &config.global_defs.script_user {
            Some(u) => Some(resolve_user(u)?),
            None => None,
        };
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
            user,
            fifos,
        })
    }

    /// Runs the scripts an event calls for, and returns how many were started.
    pub fn on_event(&self, e: &RunnerEvent) -> usize {
        let Event::StateChanged(t) = e.event else {
            return 0;
        };
        if t.to != State::Initialize {
            let line = format!(
                "INSTANCE \"{}\" {} {}\n",
                e.instance,
                state_name(t.to),
                e.priority
            );
            for mut fifo in &self.fifos {
                use std::io::Write;
                if let Err(err) = fifo.write_all(line.as_bytes()) {
                    eprintln!("({}) notify_fifo: line lost: {err}", e.instance);
                }
            }
        }
        let Some(scripts) = self.instances.get(&e.instance) else {
            return 0;
        };
        let specific = match t.to {
            State::Master => &scripts.master,
            State::Backup => &scripts.backup,
            State::Fault => &scripts.fault,
            State::Stopped => &scripts.stop,
            State::Initialize => &None,
        };
        let mut started = 0;
        if let Some(argv) = specific {
            started += usize::from(self.spawn(&e.instance, argv, &[]));
        }
        if let (Some(argv), false) = (&scripts.generic, t.to == State::Initialize) {
            let args = [
                "INSTANCE".to_string(),
                e.instance.clone(),
                state_name(t.to).to_string(),
                e.priority.to_string(),
            ];
            started += usize::from(self.spawn(&e.instance, argv, &args));
        }
        started
    }

    fn spawn(&self, instance: &str, argv: &[String], extra: &[String]) -> bool {
        spawn_script(instance, argv, extra, self.user)
    }
}

/// Starts a script without a shell (as `user` when given, in its own process group) and
/// reaps it on a thread, logging a failure under `label`. Returns whether it started.
pub fn spawn_script(
    label: &str,
    argv: &[String],
    extra: &[String],
    user: Option<(Uid, Gid)>,
) -> bool {
    use std::os::unix::process::CommandExt;
    let Some(program) = argv.first() else {
        return false;
    };
    let mut command = Command::new(program);
    command
        .args(&argv[1..])
        .args(extra)
        .stdin(Stdio::null())
        .process_group(0);
    if let Some((uid, gid)) = user {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    match command.spawn() {
        Ok(mut child) => {
            let name = format!("{label}: {}", argv.join(" "));
            let _ = std::thread::Builder::new()
                .name("notify".into())
                .spawn(move || match child.wait() {
                    Ok(status) if !status.success() => {
                        eprintln!("({name}) notify script exited with {status}")
                    }
                    Err(e) => eprintln!("({name}) notify script: {e}"),
                    _ => {}
                });
            true
        }
        Err(e) => {
            eprintln!("({label}) cannot run notify script {program}: {e}");
            false
        }
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
        let notifier = Notifier::from_config(&loaded.config).unwrap();
        assert_eq!(notifier.on_event(&event(State::Master)), 2);
        assert_eq!(
            notifier.on_event(&event(State::Backup)),
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
            assert_ne!(
                std::env::var("CI").as_deref(),
                Ok("true"),
                "needs root: NOT RUN"
            );
            eprintln!("*** scripts_run_as_script_user needs root: NOT RUN ***");
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
        let notifier = Notifier::from_config(&loaded.config).unwrap();
        assert_eq!(notifier.on_event(&event(State::Master)), 1);
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
        let notifier = Notifier::from_config(&loaded.config).unwrap();
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
