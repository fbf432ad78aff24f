//! Notify scripts on state changes: `notify_master`, `notify_backup`, `notify_fault`,
//! `notify_stop`, `notify_deleted`, `notify_master_rx_lower_pri`, and the generic `notify`
//! called with keepalived's arguments (`INSTANCE <name> <STATE> <priority>`). The router runs
//! them through its script runner (no shell, as the script's user, own process group, a
//! timeout, output into the log). Each script runs as the user written after it
//! (`notify_master "/bin/m" USER GROUP`), else as the [`ScriptPolicy`]'s default; a script
//! keepalived would disable at load time (not found, not executable, insecure under
//! `enable_script_security`) is not run.
//!
//! `notify_fifo` / `vrrp_notify_fifo` get one line per state change, as keepalived writes them:
//! `INSTANCE "<name>" <STATE> <priority>`, with `MASTER_RX_LOWER_PRI` when a master hears a
//! lower priority, and `MASTER_PRIORITY` / `BACKUP_PRIORITY` on a priority change when
//! `notify_priority_changes` is on. `notify_fifo` / `lvs_notify_fifo` get the checkers' lines,
//! `VS <vs> UP|DOWN` and `RS <rs> <vs> UP|DOWN`, and, for ha's `ha_announce` extension,
//! `ANNOUNCE <vs> ANNOUNCED|WITHDRAWN`. A FIFO is created when missing and opened
//! read-write and non-blocking, so that a missing or slow reader never blocks the director
//! (a full FIFO loses the line). A `*notify_fifo_script` is started with the FIFO's path as
//! its last argument, to read it, and runs until the director stops.

use std::collections::HashMap;
use std::time::Duration;

use healthcheck::script::Script;
use nix::unistd::{Gid, Uid};
use vrrp_core::{Event, State};

use crate::scripts::{ScriptPolicy, Verdict};
use crate::status::state_name;
use crate::vrrp::RunnerEvent;
use keepalived_conf::{Config, ScriptLine, ScriptUser};

pub use crate::scripts::resolve_user;

/// How long a notify script may run before its process group is killed. keepalived sets no
/// limit; a hung script must not pile up behind every state change.
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(60);

/// A FIFO reader script runs for the director's life (keepalived: `TIMER_NEVER`).
pub const FIFO_SCRIPT_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 86400);

/// keepalived's default `startup_script_timeout` / `shutdown_script_timeout`.
pub const START_STOP_SCRIPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The scripts of one instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceScripts {
    pub master: Option<Script>,
    pub backup: Option<Script>,
    pub fault: Option<Script>,
    pub stop: Option<Script>,
    pub deleted: Option<Script>,
    pub master_rx_lower_pri: Option<Script>,
    pub generic: Option<Script>,
    /// `notify_deleted`: an instance removed by a reload reports DELETED, not FAULT.
    pub notify_deleted: bool,
    /// `notify_priority_changes` in effect (the instance's, its sync group's, or
    /// `vrrp_notify_priority_changes`).
    pub priority_changes: bool,
}

/// A FIFO opened for notify lines.
#[derive(Debug)]
struct Fifo {
    file: std::fs::File,
}

/// Notify scripts and FIFOs for state changes.
#[derive(Debug, Default)]
pub struct Notifier {
    instances: HashMap<String, InstanceScripts>,
    /// `notify_fifo` and `vrrp_notify_fifo`.
    vrrp_fifos: Vec<Fifo>,
    /// `notify_fifo` and `lvs_notify_fifo`.
    lvs_fifos: Vec<Fifo>,
    /// The FIFO reader scripts, each with its FIFO's path as last argument.
    fifo_scripts: Vec<(Script, Vec<String>)>,
    /// The last state and priority of each instance (for DELETED and priority lines).
    last: HashMap<String, (State, u8)>,
    /// `vrrp_sync_group`s' scripts, called as keepalived does with `GROUP <name> <STATE> 0`.
    groups: HashMap<String, InstanceScripts>,
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
                let (uid, gid) =
                    resolve_user(owner).map_err(|e| format!("notify_fifo {}: {e}", fifo.path))?;
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

/// A script as the policy lets it run: `Ok(None)` when keepalived would disable it (logged),
/// an error when its user does not resolve.
pub fn policed_script(
    policy: &ScriptPolicy,
    label: String,
    line: &str,
    own_user: Option<&ScriptUser>,
    timeout: Duration,
) -> Result<Option<Script>, String> {
    let user = policy
        .user_for(own_user)
        .map_err(|e| format!("{label}: {e}"))?;
    let Some(script) = notify_script(label, line, user) else {
        return Ok(None);
    };
    match policy.assess(&script.argv, user) {
        Verdict::Run => {}
        Verdict::Insecure(why) => tracing::warn!(script = %script.label, "{why}"),
        Verdict::Disabled(why) => {
            tracing::warn!(
                script = %script.label,
                "{why}: {}",
                crate::scripts::disabled_effect(crate::scripts::ScriptKind::Notify)
            );
            return Ok(None);
        }
    }
    Ok(Some(Script { timeout, ..script }))
}

/// A `KEYWORD "COMMAND" [USER [GROUP]]` global script, as the policy lets it run.
pub fn global_script(
    policy: &ScriptPolicy,
    keyword: &str,
    line: &Option<ScriptLine>,
    timeout: Duration,
) -> Result<Option<Script>, String> {
    match line {
        Some(l) => policed_script(
            policy,
            keyword.to_string(),
            &l.command,
            l.user.as_ref(),
            timeout,
        ),
        None => Ok(None),
    }
}

impl Notifier {
    /// The scripts of every instance of a configuration, run as the policy says.
    pub fn from_config(config: &Config, policy: &ScriptPolicy) -> Result<Notifier, String> {
        let g = &config.global_defs;
        let mut instances = HashMap::new();
        for vi in &config.vrrp_instances {
            let n = &vi.notify;
            let script = |key: &str, line: &Option<String>| match line {
                Some(l) => policed_script(
                    policy,
                    format!("{key} {}", vi.name),
                    l,
                    n.user(key),
                    NOTIFY_TIMEOUT,
                ),
                None => Ok(None),
            };
            let group = config
                .vrrp_sync_groups
                .iter()
                .find(|sg| sg.group.contains(&vi.name));
            let priority_changes = n
                .priority_changes
                .or(group.and_then(|sg| sg.notify.priority_changes))
                .or(g.vrrp_notify_priority_changes)
                .unwrap_or(false);
            instances.insert(
                vi.name.clone(),
                InstanceScripts {
                    master: script("notify_master", &n.master)?,
                    backup: script("notify_backup", &n.backup)?,
                    fault: script("notify_fault", &n.fault)?,
                    stop: script("notify_stop", &n.stop)?,
                    deleted: script("notify_deleted", &n.deleted)?,
                    master_rx_lower_pri: script(
                        "notify_master_rx_lower_pri",
                        &n.master_rx_lower_pri,
                    )?,
                    generic: script("notify", &n.notify)?,
                    notify_deleted: n.notify_deleted,
                    priority_changes,
                },
            );
        }
        let mut groups = HashMap::new();
        for sg in &config.vrrp_sync_groups {
            let n = &sg.notify;
            let script = |key: &str, line: &Option<String>| match line {
                Some(l) => policed_script(
                    policy,
                    format!("{key} {}", sg.name),
                    l,
                    n.user(key),
                    NOTIFY_TIMEOUT,
                ),
                None => Ok(None),
            };
            groups.insert(
                sg.name.clone(),
                InstanceScripts {
                    master: script("notify_master", &n.master)?,
                    backup: script("notify_backup", &n.backup)?,
                    fault: script("notify_fault", &n.fault)?,
                    stop: script("notify_stop", &n.stop)?,
                    deleted: None,
                    master_rx_lower_pri: None,
                    generic: script("notify", &n.notify)?,
                    notify_deleted: false,
                    priority_changes: false,
                },
            );
        }
        let mut fifo_scripts = Vec::new();
        let mut open = |fifo: &Option<keepalived_conf::NotifyFifo>,
                        script: &Option<ScriptLine>,
                        keyword: &str|
         -> Result<Option<Fifo>, String> {
            let Some(fifo) = fifo else {
                return Ok(None);
            };
            let file = open_fifo(fifo)?;
            if let Some(s) = global_script(policy, keyword, script, FIFO_SCRIPT_TIMEOUT)? {
                fifo_scripts.push((s, vec![fifo.path.clone()]));
            }
            Ok(Some(Fifo { file }))
        };
        let global = open(&g.notify_fifo, &g.notify_fifo_script, "notify_fifo_script")?;
        let vrrp = open(
            &g.vrrp_notify_fifo,
            &g.vrrp_notify_fifo_script,
            "vrrp_notify_fifo_script",
        )?;
        let lvs = open(
            &g.lvs_notify_fifo,
            &g.lvs_notify_fifo_script,
            "lvs_notify_fifo_script",
        )?;
        let clone = |f: &Option<Fifo>| -> Result<Option<Fifo>, String> {
            f.as_ref()
                .map(|f| {
                    f.file
                        .try_clone()
                        .map(|file| Fifo { file })
                        .map_err(|e| format!("notify_fifo: {e}"))
                })
                .transpose()
        };
        let vrrp_fifos = [clone(&global)?, vrrp].into_iter().flatten().collect();
        let lvs_fifos = [global, lvs].into_iter().flatten().collect();
        Ok(Notifier {
            instances,
            groups,
            vrrp_fifos,
            lvs_fifos,
            fifo_scripts,
            last: HashMap::new(),
        })
    }

    /// keepalived's `send_group_notifies`: the FIFO line `GROUP "<name>" <STATE> 0`, the
    /// group's `notify_<state>` script and its `notify` script with `GROUP <name> <STATE> 0`.
    pub fn on_group(&self, group: &str, state: State) -> Vec<(Script, Vec<String>)> {
        if state == State::Initialize {
            return Vec::new();
        }
        let line = format!("GROUP \"{group}\" {} 0\n", state_name(state));
        Self::write(&self.vrrp_fifos, &line);
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

    /// The FIFO reader scripts to start, each with its extra arguments (the FIFO's path).
    pub fn fifo_scripts(&self) -> &[(Script, Vec<String>)] {
        &self.fifo_scripts
    }

    /// Takes over what the previous notifier knew of each instance's state.
    pub fn carry_state(&mut self, previous: &Notifier) {
        for (name, last) in &previous.last {
            if self.instances.contains_key(name) {
                self.last.insert(name.clone(), *last);
            }
        }
    }

    fn write(fifos: &[Fifo], line: &str) {
        for fifo in fifos {
            use std::io::Write;
            if let Err(err) = (&fifo.file).write_all(line.as_bytes()) {
                tracing::warn!("notify_fifo: line lost: {err}");
            }
        }
    }

    /// Writes the FIFO lines an event calls for, and returns the scripts it calls for, each
    /// with its extra arguments.
    pub fn on_event(&mut self, e: &RunnerEvent) -> Vec<(Script, Vec<String>)> {
        let Some(scripts) = self.instances.get(&e.instance) else {
            // An instance a reload removed: its notifications were sent as DELETED.
            return Vec::new();
        };
        let mut out = Vec::new();
        match e.event {
            Event::StateChanged(t) => {
                self.last.insert(e.instance.clone(), (t.to, e.priority));
                if t.to == State::Initialize {
                    return Vec::new();
                }
                let scripts = scripts.clone();
                self.state_notifies(&scripts, &e.instance, state_name(t.to), t.to, e.priority)
            }
            Event::LowerPriorityAdvert { .. } => {
                let line = format!(
                    "INSTANCE \"{}\" MASTER_RX_LOWER_PRI {}\n",
                    e.instance, e.priority
                );
                if let Some(script) = &scripts.master_rx_lower_pri {
                    out.push((script.clone(), Vec::new()));
                }
                Self::write(&self.vrrp_fifos, &line);
                out
            }
            Event::PriorityChanged { to, .. } => {
                let state = self.last.get(&e.instance).map(|(s, _)| *s);
                if let Some(last) = self.last.get_mut(&e.instance) {
                    last.1 = to;
                }
                if scripts.priority_changes {
                    let which = if state == Some(State::Master) {
                        "MASTER_PRIORITY"
                    } else {
                        "BACKUP_PRIORITY"
                    };
                    let line = format!("INSTANCE \"{}\" {which} {to}\n", e.instance);
                    Self::write(&self.vrrp_fifos, &line);
                }
                out
            }
            _ => out,
        }
    }

    /// The specific script, the generic one and the FIFO line of a state.
    fn state_notifies(
        &self,
        scripts: &InstanceScripts,
        instance: &str,
        word: &str,
        state: State,
        priority: u8,
    ) -> Vec<(Script, Vec<String>)> {
        let line = format!("INSTANCE \"{instance}\" {word} {priority}\n");
        Self::write(&self.vrrp_fifos, &line);
        let specific = match (word, state) {
            ("DELETED", _) => &scripts.deleted,
            (_, State::Master) => &scripts.master,
            (_, State::Backup) => &scripts.backup,
            (_, State::Fault) => &scripts.fault,
            (_, State::Stopped) => &scripts.stop,
            (_, State::Initialize) => &None,
        };
        let mut out = Vec::new();
        if let Some(script) = specific {
            out.push((script.clone(), Vec::new()));
        }
        if let Some(script) = &scripts.generic {
            let args = vec![
                "INSTANCE".to_string(),
                instance.to_string(),
                word.to_string(),
                priority.to_string(),
            ];
            out.push((script.clone(), args));
        }
        out
    }

    /// keepalived's notifications for an instance a reload removed (`clear_diff_vrrp`):
    /// DELETED with `notify_deleted`, else FAULT as keepalived has always sent (nothing when
    /// the instance was already in FAULT).
    pub fn on_deleted(&self, instance: &str) -> Vec<(Script, Vec<String>)> {
        let Some(scripts) = self.instances.get(instance) else {
            return Vec::new();
        };
        let (state, priority) = self
            .last
            .get(instance)
            .copied()
            .unwrap_or((State::Backup, 0));
        if scripts.notify_deleted {
            self.state_notifies(scripts, instance, "DELETED", State::Fault, priority)
        } else if state != State::Fault {
            self.state_notifies(scripts, instance, "FAULT", State::Fault, priority)
        } else {
            Vec::new()
        }
    }

    /// The checkers' FIFO line for a virtual server's quorum: `VS <vs> UP|DOWN`.
    pub fn lvs_quorum(&self, vs: &str, up: bool) {
        let word = if up { "UP" } else { "DOWN" };
        Self::write(&self.lvs_fifos, &format!("VS {vs} {word}\n"));
    }

    /// ha's FIFO line when an `ha_announce` virtual server's addresses go on or off the
    /// announce interface: `ANNOUNCE <vs> ANNOUNCED|WITHDRAWN`. A type of its own (not `VS`),
    /// so that a keepalived FIFO reader taking anything but `VS .. UP` for down is not misled;
    /// it appears only where the ha extension is configured.
    pub fn lvs_announce(&self, vs: &str, announced: bool) {
        let word = if announced { "ANNOUNCED" } else { "WITHDRAWN" };
        Self::write(&self.lvs_fifos, &format!("ANNOUNCE {vs} {word}\n"));
    }

    /// The checkers' FIFO line for a real server: `RS <rs> <vs> UP|DOWN`.
    pub fn lvs_real_server(&self, rs: &str, vs: &str, up: bool) {
        let word = if up { "UP" } else { "DOWN" };
        Self::write(&self.lvs_fifos, &format!("RS {rs} {vs} {word}\n"));
    }
}

/// keepalived's names of a virtual server and a real server in FIFO lines and logs
/// (`format_vs`, `format_rs`): `[10.0.0.1]:tcp:80`, `FWM 7`, `[GROUP]:0`.
pub fn keepalived_names(
    config: &Config,
    virtual_server: &str,
    server: Option<std::net::SocketAddr>,
) -> (String, Option<String>) {
    use keepalived_conf::{Protocol, VirtualServerKey};
    let vs = config
        .virtual_servers
        .iter()
        .find(|v| crate::lvs::checks::virtual_server_name(&v.key) == virtual_server);
    let proto = match vs.map(|v| v.protocol) {
        Some(Protocol::Udp) => "udp",
        Some(Protocol::Sctp) => "sctp",
        _ => "tcp",
    };
    let trio = |a: std::net::SocketAddr| format!("[{}]:{proto}:{}", a.ip(), a.port());
    let vs_name = match vs.map(|v| &v.key) {
        Some(VirtualServerKey::Addr { ip, port }) => trio(std::net::SocketAddr::new(*ip, *port)),
        Some(VirtualServerKey::Fwmark { mark }) => format!("FWM {mark}"),
        Some(VirtualServerKey::Group { name }) => format!("[{name}]:0"),
        None => virtual_server.to_string(),
    };
    (vs_name, server.map(trio))
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
        let mut notifier = Notifier::from_config(
            &loaded.config,
            &ScriptPolicy::from_config(&loaded.config).unwrap(),
        )
        .unwrap();
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
        let policy = ScriptPolicy::from_config(&loaded.config).unwrap();
        let mut notifier = Notifier::from_config(&loaded.config, &policy).unwrap();
        assert_eq!(run(notifier.on_event(&event(State::Master))), 1);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let uid = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if !text.is_empty() || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
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
        let mut notifier =
            Notifier::from_config(&loaded.config, &ScriptPolicy::unchecked()).unwrap();
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

    fn parse(text: &str) -> Config {
        let mut sources = config::SourceMap::default();
        let loaded = config::parse_str("t.conf", text, &config::Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    fn labels(jobs: &[(Script, Vec<String>)]) -> Vec<String> {
        jobs.iter()
            .map(|(s, a)| {
                let mut words = vec![s.label.clone()];
                words.extend(a.iter().cloned());
                words.join(" ")
            })
            .collect()
    }

    fn vrrp_event(event: Event, priority: u8) -> RunnerEvent {
        RunnerEvent {
            instance: "VI_1".into(),
            priority,
            event,
        }
    }

    /// Reads what the FIFO holds now.
    fn drain(reader: &mut std::fs::File) -> String {
        use std::io::Read;
        let mut buf = [0u8; 4096];
        let n = reader.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// A FIFO, and a non-blocking reader opened on it after the notifier created it.
    fn fifo_reader(path: &std::path::Path) -> std::fs::File {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(nix::libc::O_NONBLOCK)
            .open(path)
            .unwrap()
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("ha-notify-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn master_rx_lower_pri_runs_its_script_and_writes_its_fifo_line() {
        let dir = temp_dir("rxlower");
        let fifo = dir.join("f");
        let c = parse(&format!(
            "global_defs {{ vrrp_notify_fifo {} }}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n \
             notify_master_rx_lower_pri \"/bin/true lower\" }}\n",
            fifo.display()
        ));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        let mut reader = fifo_reader(&fifo);
        let from = "10.0.0.9".parse().unwrap();
        let jobs = n.on_event(&vrrp_event(
            Event::LowerPriorityAdvert { from, priority: 50 },
            100,
        ));
        // keepalived's notify_exec: the script with its own arguments only.
        assert_eq!(labels(&jobs), ["notify_master_rx_lower_pri VI_1"]);
        assert_eq!(jobs[0].0.argv, ["/bin/true", "lower"]);
        assert_eq!(
            drain(&mut reader),
            "INSTANCE \"VI_1\" MASTER_RX_LOWER_PRI 100\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn priority_changes_write_fifo_lines_only_when_asked() {
        let dir = temp_dir("prio");
        let fifo = dir.join("f");
        for (setting, want) in [
            ("", ""),
            (
                " notify_priority_changes",
                "INSTANCE \"VI_1\" MASTER_PRIORITY 90\n",
            ),
        ] {
            let _ = std::fs::remove_file(&fifo);
            let c = parse(&format!(
                "global_defs {{ notify_fifo {} }}\n\
                 vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n{setting} }}\n",
                fifo.display()
            ));
            let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
            let mut reader = fifo_reader(&fifo);
            n.on_event(&event(State::Master));
            assert_eq!(drain(&mut reader), "INSTANCE \"VI_1\" MASTER 100\n");
            let jobs = n.on_event(&vrrp_event(
                Event::PriorityChanged { from: 100, to: 90 },
                90,
            ));
            assert!(jobs.is_empty(), "no script for a priority change");
            assert_eq!(drain(&mut reader), want, "{setting:?}");
        }
        // The global vrrp_notify_priority_changes is the default; a backup says BACKUP_PRIORITY.
        let _ = std::fs::remove_file(&fifo);
        let c = parse(&format!(
            "global_defs {{ notify_fifo {}\n vrrp_notify_priority_changes }}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }} }}\n",
            fifo.display()
        ));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        let mut reader = fifo_reader(&fifo);
        n.on_event(&event(State::Backup));
        drain(&mut reader);
        n.on_event(&vrrp_event(
            Event::PriorityChanged { from: 100, to: 110 },
            110,
        ));
        assert_eq!(
            drain(&mut reader),
            "INSTANCE \"VI_1\" BACKUP_PRIORITY 110\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_sync_group_stopping_runs_its_notify_stop_script() {
        let c = parse(
            "vrrp_sync_group G {\n group {\n VI_1\n }\n notify_stop \"/bin/true stopped\"\n}\n\
             vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 } }\n",
        );
        let n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        assert_eq!(labels(&n.on_group("G", State::Stopped)), ["notify_stop G"]);
        assert!(n.on_group("G", State::Master).is_empty());
    }

    #[test]
    fn a_deleted_instance_reports_deleted_with_notify_deleted_else_fault() {
        let base = "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
                    notify /bin/true\n notify_fault /bin/true\n";
        // Without notify_deleted: FAULT, as keepalived has always sent.
        let c = parse(&format!("{base} }}\n"));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        n.on_event(&event(State::Master));
        assert_eq!(
            labels(&n.on_deleted("VI_1")),
            ["notify_fault VI_1", "notify VI_1 INSTANCE VI_1 FAULT 100"]
        );
        // Already in FAULT: nothing.
        n.on_event(&event(State::Fault));
        assert!(n.on_deleted("VI_1").is_empty());
        // notify_deleted alone: DELETED to the generic script, no specific one.
        let c = parse(&format!("{base} notify_deleted }}\n"));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        n.on_event(&event(State::Fault));
        assert_eq!(
            labels(&n.on_deleted("VI_1")),
            ["notify VI_1 INSTANCE VI_1 DELETED 100"]
        );
        // With a script.
        let c = parse(&format!("{base} notify_deleted \"/bin/true d\" }}\n"));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        n.on_event(&event(State::Backup));
        assert_eq!(
            labels(&n.on_deleted("VI_1")),
            [
                "notify_deleted VI_1",
                "notify VI_1 INSTANCE VI_1 DELETED 100"
            ]
        );
        // Events of an instance the reload removed run nothing more (no STOP).
        let other = parse("vrrp_instance VI_2 { interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.2 }\n notify /bin/true }\n");
        let mut n2 = Notifier::from_config(&other, &ScriptPolicy::unchecked()).unwrap();
        n2.carry_state(&n);
        assert!(n2.on_event(&event(State::Stopped)).is_empty());
    }

    #[test]
    fn a_notify_script_runs_as_the_user_written_after_it_and_a_missing_one_is_not_run() {
        let c = parse(
            "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
             notify_master /bin/true nobody\n notify_backup /nonexistent/b.sh }\n",
        );
        let policy = ScriptPolicy::from_config(&c).unwrap();
        let mut n = Notifier::from_config(&c, &policy).unwrap();
        let nobody = resolve_user(&ScriptUser {
            user: "nobody".into(),
            group: None,
        })
        .unwrap();
        let jobs = n.on_event(&event(State::Master));
        assert_eq!(jobs[0].0.user, Some(nobody));
        // keepalived disables a script it cannot find when it loads the configuration.
        assert!(n.on_event(&event(State::Backup)).is_empty());
        // A user that does not exist: the director refuses to start.
        let c = parse(
            "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
             notify_master /bin/true no-such-user-x }\n",
        );
        let e = Notifier::from_config(&c, &ScriptPolicy::from_config(&c).unwrap()).unwrap_err();
        assert!(e.contains("no-such-user-x"), "{e}");
    }

    #[test]
    fn fifo_scripts_read_their_fifo_and_lvs_lines_go_to_the_lvs_fifos() {
        let dir = temp_dir("fifoscript");
        let (global, vrrp, lvs) = (dir.join("g"), dir.join("v"), dir.join("l"));
        let c = parse(&format!(
            "global_defs {{ notify_fifo {}\n notify_fifo_script \"/bin/cat -u\"\n vrrp_notify_fifo {}\n \
             lvs_notify_fifo {}\n lvs_notify_fifo_script /bin/cat }}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }} }}\n",
            global.display(),
            vrrp.display(),
            lvs.display()
        ));
        let mut n = Notifier::from_config(&c, &ScriptPolicy::unchecked()).unwrap();
        // keepalived adds the FIFO's path as the script's last argument.
        let scripts: Vec<(Vec<String>, Vec<String>)> = n
            .fifo_scripts()
            .iter()
            .map(|(s, a)| (s.argv.clone(), a.clone()))
            .collect();
        assert_eq!(
            scripts,
            [
                (
                    vec!["/bin/cat".to_string(), "-u".into()],
                    vec![global.display().to_string()]
                ),
                (
                    vec!["/bin/cat".to_string()],
                    vec![lvs.display().to_string()]
                ),
            ]
        );
        let (mut rg, mut rv, mut rl) =
            (fifo_reader(&global), fifo_reader(&vrrp), fifo_reader(&lvs));
        n.on_event(&event(State::Master));
        n.lvs_real_server("[10.0.0.2]:tcp:80", "[10.0.0.1]:tcp:80", false);
        n.lvs_quorum("[10.0.0.1]:tcp:80", false);
        let vrrp_line = "INSTANCE \"VI_1\" MASTER 100\n";
        let lvs_lines = "RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 DOWN\nVS [10.0.0.1]:tcp:80 DOWN\n";
        assert_eq!(drain(&mut rg), format!("{vrrp_line}{lvs_lines}"));
        assert_eq!(drain(&mut rv), vrrp_line);
        assert_eq!(drain(&mut rl), lvs_lines);
        // And the script, run, reads the FIFO.
        let out = dir.join("out");
        let (script, args) = n.fifo_scripts()[1].clone();
        let script = Script {
            argv: vec![
                "/bin/sh".into(),
                "-c".into(),
                format!("exec head -n 1 \"$0\" > {}", out.display()),
            ],
            ..script
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let reader = tokio::spawn(async move { script.run(&args).await });
            tokio::time::sleep(Duration::from_millis(200)).await;
            n.lvs_quorum("[10.0.0.1]:tcp:80", true);
            let exit = tokio::time::timeout(Duration::from_secs(10), reader)
                .await
                .unwrap()
                .unwrap();
            assert!(exit.success(), "{exit}");
        });
        assert_eq!(
            std::fs::read_to_string(&out).unwrap(),
            "VS [10.0.0.1]:tcp:80 UP\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn keepalived_names_of_virtual_and_real_servers() {
        let c = parse(
            "virtual_server 10.0.0.1 53 { protocol UDP\n real_server 10.0.0.2 53 { } }\n\
             virtual_server fwmark 7 { real_server 10.0.0.3 80 { } }\n",
        );
        assert_eq!(
            keepalived_names(&c, "10.0.0.1:53", Some("10.0.0.2:53".parse().unwrap())),
            ("[10.0.0.1]:udp:53".into(), Some("[10.0.0.2]:udp:53".into()))
        );
        assert_eq!(keepalived_names(&c, "fwmark 7", None).0, "FWM 7");
    }
}
