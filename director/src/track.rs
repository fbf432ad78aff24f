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
//! `quorum_max`, matching `process` by name or by full command line) are polled every
//! [`POLL_INTERVAL`]. A process that loses its quorum counts as down only once it has stayed
//! so for `terminate_delay`, and one that regains it as up after `fork_delay` (`delay` sets
//! both; keepalived's rule, to ride out a restart), to within a poll.
//!
//! A script changes state after `rise` consecutive successes or `fall` consecutive failures.
//!
//! [`TrackState`] is pure: results come in (`handle_*`), the instance commands that follow
//! come out ([`TrackState::poll_commands`]). The director's router feeds it: script results
//! from the script runner, link changes from the VRRP thread's link watcher, file values and
//! process counts from its poller ([`read_file_value`], [`count_processes`]).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use healthcheck::script::Script;
use serde::{Deserialize, Serialize};
use vrrp_core::{Command as InstanceCommand, FaultCause};

use crate::net::LinkStatus;
use crate::scripts::{ScriptPolicy, Verdict};
use keepalived_conf::{Config, ParamMatch, Track};

/// How often tracked files are read and processes counted (keepalived uses inotify and
/// netlink process events; a 200 ms poll bounds the delay the same way for an operator).
pub const POLL_INTERVAL: Duration = Duration::from_millis(200);

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
    let adjust = if reverse {
        product.saturating_neg()
    } else {
        product
    };
    if adjust <= -254 {
        Effect::Fault
    } else {
        Effect::Adjust(adjust.clamp(-253, 253) as i32)
    }
}

/// The kinds of tracked object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackedKind {
    Script,
    Interface,
    File,
    Process,
}

/// One object an instance tracks: (kind, name, weight, reverse).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracks {
    kind: TrackedKind,
    name: String,
    weight: i32,
    reverse: bool,
}

/// What one instance tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tracked {
    instance: String,
    objects: Vec<Tracks>,
}

/// A `vrrp_script` as tracking runs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackScript {
    pub name: String,
    pub script: Script,
    pub interval: Duration,
    pub rise: u32,
    pub fall: u32,
    /// `init_fail`: starts down.
    pub init_fail: bool,
}

/// What a configuration tracks: the instances' objects, the scripts to run, the files to
/// read and the processes to count.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackPlan {
    instances: Vec<Tracked>,
    pub scripts: Vec<TrackScript>,
    pub files: Vec<(String, PathBuf)>,
    pub processes: Vec<(String, ProcessMatch)>,
}

impl TrackPlan {
    /// Collects every object some instance (or its sync group) tracks. `policy` gives each
    /// script its user, and a script keepalived would disable at load (not found, not
    /// executable, insecure under `enable_script_security`) is left out of tracking, as
    /// keepalived removes it.
    pub fn from_config(config: &Config, policy: &ScriptPolicy) -> Result<TrackPlan, String> {
        let mut plan = TrackPlan::default();
        let mut disabled: Vec<&str> = Vec::new();
        let weight_of = |t: &Track, own: i32| t.weight.unwrap_or(own);
        for vi in &config.vrrp_instances {
            let group = config
                .vrrp_sync_groups
                .iter()
                .find(|g| g.group.contains(&vi.name));
            let mut objects = Vec::new();
            // The instance's own tracking, then its sync group's (keepalived adds the group's
            // objects, with their weights, to every member).
            let sources = std::iter::once((format!("vrrp_instance {}", vi.name), &vi.tracking))
                .chain(group.map(|g| (format!("vrrp_sync_group {}", g.name), &g.tracking)));
            let mut own_objects = None;
            for (owner, tracking) in sources {
                for t in &tracking.scripts {
                    let s = config
                        .vrrp_scripts
                        .iter()
                        .find(|s| s.name == t.name)
                        .ok_or_else(|| format!("{owner}: no vrrp_script {}", t.name))?;
                    if disabled.contains(&s.name.as_str()) {
                        continue;
                    }
                    if !plan.scripts.iter().any(|p| p.name == s.name) {
                        let user = policy
                            .user_for(s.user.as_ref())
                            .map_err(|e| format!("vrrp_script {}: {e}", s.name))?;
                        let argv = healthcheck::split_command(&s.script);
                        match policy.assess(&argv, user) {
                            Verdict::Run => {}
                            Verdict::Insecure(why) => {
                                tracing::warn!(script = %s.name, "vrrp_script {}: {why}", s.name)
                            }
                            Verdict::Disabled(why) => {
                                // keepalived: "Disabling track script chk due to insecure".
                                tracing::warn!(
                                    script = %s.name,
                                    "vrrp_script {}: {why}: {}",
                                    s.name,
                                    crate::scripts::disabled_effect(
                                        crate::scripts::ScriptKind::Track
                                    )
                                );
                                disabled.push(&s.name);
                                continue;
                            }
                        }
                    }
                    objects.push(Tracks {
                        kind: TrackedKind::Script,
                        name: t.name.clone(),
                        weight: weight_of(t, s.weight),
                        reverse: t.reverse || s.weight_reverse,
                    });
                    if plan.scripts.iter().any(|p| p.name == s.name) {
                        continue;
                    }
                    let interval = s.interval.as_duration();
                    let script_user = policy
                        .user_for(s.user.as_ref())
                        .map_err(|e| format!("vrrp_script {}: {e}", s.name))?;
                    plan.scripts.push(TrackScript {
                        name: s.name.clone(),
                        script: Script {
                            label: format!("vrrp_script {}", s.name),
                            argv: healthcheck::split_command(&s.script),
                            user: script_user,
                            timeout: s.timeout.map(|t| t.as_duration()).unwrap_or(interval),
                            // It runs every interval: its output would flood the log.
                            log_output: false,
                        },
                        interval,
                        rise: s.rise.max(1),
                        fall: s.fall.max(1),
                        init_fail: s.init_fail,
                    });
                }
                for t in &tracking.interfaces {
                    objects.push(Tracks {
                        kind: TrackedKind::Interface,
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(0),
                        reverse: t.reverse,
                    });
                }
                for t in &tracking.files {
                    let f = config
                        .track_files
                        .iter()
                        .find(|f| f.name == t.name)
                        .ok_or_else(|| format!("{owner}: no track_file {}", t.name))?;
                    if !plan.files.iter().any(|(name, _)| *name == f.name) {
                        plan.files.push((f.name.clone(), PathBuf::from(&f.file)));
                    }
                    objects.push(Tracks {
                        kind: TrackedKind::File,
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(f.weight),
                        reverse: t.reverse || f.weight_reverse,
                    });
                }
                for t in &tracking.processes {
                    let p = config
                        .vrrp_track_processes
                        .iter()
                        .find(|p| p.name == t.name)
                        .ok_or_else(|| format!("{owner}: no vrrp_track_process {}", t.name))?;
                    if !plan.processes.iter().any(|(name, _)| *name == p.name) {
                        plan.processes.push((
                            p.name.clone(),
                            ProcessMatch {
                                words: p.process.clone(),
                                full_command: p.full_command,
                                param_match: p.param_match,
                                quorum: p.quorum.max(1),
                                quorum_max: p.quorum_max,
                                terminate_delay: p
                                    .terminate_delay
                                    .or(p.delay)
                                    .map_or(Duration::ZERO, |t| t.as_duration()),
                                fork_delay: p
                                    .fork_delay
                                    .or(p.delay)
                                    .map_or(Duration::ZERO, |t| t.as_duration()),
                            },
                        ));
                    }
                    objects.push(Tracks {
                        kind: TrackedKind::Process,
                        name: t.name.clone(),
                        weight: t.weight.unwrap_or(p.weight),
                        reverse: t.reverse || p.weight_reverse,
                    });
                }
                if own_objects.is_none() {
                    own_objects = Some(objects.len());
                }
            }
            // keepalived (vrrp.c, vrrp_complete_instance): in a sync group without
            // sync_group_tracking_weight, the member's own weighted objects would let the
            // members' priorities drift apart: tracked interfaces count with weight 0,
            // weighted scripts are ignored, a track_file with the default weight 1 counts
            // with weight 0 and one with another weight is ignored.
            if group.is_some_and(|g| !g.sync_group_tracking_weight) {
                let own = own_objects.unwrap_or(0);
                let mut k = 0;
                objects.retain_mut(|o| {
                    k += 1;
                    if k > own || o.weight == 0 {
                        return true;
                    }
                    match o.kind {
                        TrackedKind::Interface => {
                            o.weight = 0;
                            true
                        }
                        TrackedKind::File if o.weight == 1 => {
                            o.weight = 0;
                            true
                        }
                        TrackedKind::Script | TrackedKind::File => {
                            tracing::warn!(
                                "vrrp_instance {}: ignoring tracked {:?} {} with weight {}: \
                                 in sync group without sync_group_tracking_weight",
                                vi.name,
                                o.kind,
                                o.name,
                                o.weight
                            );
                            false
                        }
                        TrackedKind::Process => true,
                    }
                });
            }
            if !objects.is_empty() {
                plan.instances.push(Tracked {
                    instance: vi.name.clone(),
                    objects,
                });
            }
        }
        Ok(plan)
    }

    /// Whether anything is tracked at all.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }
}

/// A tracked object's state, for `ha status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackedReport {
    pub kind: TrackedKind,
    pub name: String,
    /// Up (a script's last verdict, a link usable, a process count within its quorum); for
    /// a file, whether its value is 0.
    pub up: bool,
    /// A file's value.
    pub value: Option<i64>,
    /// The instances that track it, with the weight each applies.
    pub instances: Vec<(String, i32)>,
}

/// A script's consecutive results.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Streak {
    successes: u32,
    failures: u32,
}

/// The state of every tracked object and what each instance was last told. Pure: no I/O.
#[derive(Debug, Clone, Default)]
pub struct TrackState {
    plan: TrackPlan,
    script_up: HashMap<String, bool>,
    streaks: HashMap<String, Streak>,
    link_up: HashMap<String, bool>,
    /// Last value read from each tracked file (0 when unreadable, as keepalived).
    file_value: HashMap<String, i64>,
    process_up: HashMap<String, bool>,
    /// A process whose count says otherwise than `process_up`: since when (the change waits
    /// for its `terminate_delay` or `fork_delay`).
    process_changing: HashMap<String, Instant>,
    /// What was last sent per instance: (adjustment, fault).
    sent: HashMap<String, (i32, bool)>,
}

impl TrackState {
    /// Starts tracking `plan`. What `previous` knew carries over: links, files and
    /// processes, and the verdict of scripts with the same command line (a reload must not
    /// flap them), and what each instance was told.
    pub fn new(plan: TrackPlan, previous: Option<&TrackState>) -> TrackState {
        let mut state = TrackState::default();
        for script in &plan.scripts {
            let carried = previous.and_then(|p| {
                let same =
                    p.plan.scripts.iter().any(|old| {
                        old.name == script.name && old.script.argv == script.script.argv
                    });
                same.then(|| p.script_up.get(&script.name).copied())
                    .flatten()
            });
            state
                .script_up
                .insert(script.name.clone(), carried.unwrap_or(!script.init_fail));
        }
        if let Some(p) = previous {
            state.link_up = p.link_up.clone();
            state.file_value = p.file_value.clone();
            state.process_up = p.process_up.clone();
            state.process_changing = p.process_changing.clone();
            state.sent = p.sent.clone();
        }
        state.plan = plan;
        state
    }

    pub fn plan(&self) -> &TrackPlan {
        &self.plan
    }

    /// One run of a script: success or not. Returns its new verdict when it changed.
    pub fn handle_script(&mut self, name: &str, success: bool) -> Option<bool> {
        let script = self.plan.scripts.iter().find(|s| s.name == name)?;
        let (rise, fall) = (script.rise, script.fall);
        let streak = self.streaks.entry(name.to_string()).or_default();
        if success {
            streak.successes = streak.successes.saturating_add(1);
            streak.failures = 0;
        } else {
            streak.failures = streak.failures.saturating_add(1);
            streak.successes = 0;
        }
        let up = self.script_up.get(name).copied().unwrap_or(true);
        let next = if up {
            streak.failures < fall
        } else {
            streak.successes >= rise
        };
        self.script_up.insert(name.to_string(), next);
        (next != up).then_some(next)
    }

    /// A link's state, by name (found at start or changed).
    pub fn handle_link(&mut self, link: &LinkStatus) {
        self.link_up.insert(link.name.clone(), link.usable);
    }

    /// A tracked file's value (0 when unreadable, as keepalived).
    pub fn handle_file(&mut self, name: &str, value: i64) {
        self.file_value.insert(name.to_string(), value);
    }

    /// How many processes match a `vrrp_track_process`, counted now.
    pub fn handle_process_count(&mut self, name: &str, count: u32) {
        self.handle_process_count_at(name, count, Instant::now());
    }

    /// How many processes match a `vrrp_track_process`, counted at `now`. The first count
    /// decides at once (keepalived's scan at start); later, a change of up or down holds only
    /// once it has lasted its delay, and a count that goes back cancels it.
    pub fn handle_process_count_at(&mut self, name: &str, count: u32, now: Instant) {
        let Some((_, m)) = self.plan.processes.iter().find(|(n, _)| n == name) else {
            return;
        };
        let up = m.up(count);
        match self.process_up.get(name) {
            Some(&was) if was != up => {
                let delay = if up { m.fork_delay } else { m.terminate_delay };
                let since = *self.process_changing.entry(name.to_string()).or_insert(now);
                if now.saturating_duration_since(since) >= delay {
                    self.process_up.insert(name.to_string(), up);
                    self.process_changing.remove(name);
                }
            }
            _ => {
                self.process_up.insert(name.to_string(), up);
                self.process_changing.remove(name);
            }
        }
    }

    fn up(&self, kind: TrackedKind, name: &str) -> bool {
        match kind {
            TrackedKind::Script => self.script_up.get(name).copied().unwrap_or(true),
            TrackedKind::Interface => self.link_up.get(name).copied().unwrap_or(false),
            TrackedKind::File => self.file_value.get(name).copied().unwrap_or(0) == 0,
            TrackedKind::Process => self.process_up.get(name).copied().unwrap_or(false),
        }
    }

    /// The instance commands that bring every instance in line with its tracked objects:
    /// only what changed since the last call (everything the first time).
    pub fn poll_commands(&mut self) -> Vec<(String, InstanceCommand)> {
        let mut out = Vec::new();
        for t in &self.plan.instances {
            let mut adjust = 0i32;
            let mut fault = false;
            for o in &t.objects {
                let e = match o.kind {
                    TrackedKind::File => file_effect(
                        o.weight,
                        o.reverse,
                        self.file_value.get(&o.name).copied().unwrap_or(0),
                    ),
                    kind => effect(o.weight, o.reverse, self.up(kind, &o.name)),
                };
                match e {
                    Effect::Fault => fault = true,
                    Effect::Adjust(a) => adjust = adjust.saturating_add(a),
                }
            }
            let before = self.sent.insert(t.instance.clone(), (adjust, fault));
            let (old_adjust, old_fault) = before.unwrap_or((0, false));
            if before.is_none() || old_adjust != adjust {
                out.push((
                    t.instance.clone(),
                    InstanceCommand::SetPriorityAdjustment(adjust),
                ));
            }
            if before.is_none() || old_fault != fault {
                out.push((
                    t.instance.clone(),
                    if fault {
                        InstanceCommand::EnterFault(FaultCause::Tracking)
                    } else {
                        InstanceCommand::LeaveFault(FaultCause::Tracking)
                    },
                ));
            }
        }
        out
    }

    /// Why `instance` has its current adjustment and fault: the tracked objects that count
    /// now, e.g. `script chk down (-20), interface eth1 down (FAULT)`.
    pub fn cause(&self, instance: &str) -> String {
        let Some(t) = self.plan.instances.iter().find(|t| t.instance == instance) else {
            return "nothing tracked".into();
        };
        let mut parts = Vec::new();
        for o in &t.objects {
            let kind = match o.kind {
                TrackedKind::Script => "script",
                TrackedKind::Interface => "interface",
                TrackedKind::File => "file",
                TrackedKind::Process => "process",
            };
            let (e, what) = match o.kind {
                TrackedKind::File => {
                    let value = self.file_value.get(&o.name).copied().unwrap_or(0);
                    (
                        file_effect(o.weight, o.reverse, value),
                        format!("holds {value}"),
                    )
                }
                k => {
                    let up = self.up(k, &o.name);
                    let word = if up { "up" } else { "down" };
                    (effect(o.weight, o.reverse, up), word.to_string())
                }
            };
            match e {
                Effect::Fault => parts.push(format!("{kind} {} {what} (FAULT)", o.name)),
                Effect::Adjust(0) => {}
                Effect::Adjust(a) => parts.push(format!("{kind} {} {what} ({a:+})", o.name)),
            }
        }
        if parts.is_empty() {
            "every tracked object as wanted".into()
        } else {
            parts.join(", ")
        }
    }

    /// Every tracked object with its state, for `ha status`.
    pub fn report(&self) -> Vec<TrackedReport> {
        let mut out: Vec<TrackedReport> = Vec::new();
        for t in &self.plan.instances {
            for o in &t.objects {
                let entry = match out
                    .iter_mut()
                    .position(|r| r.kind == o.kind && r.name == o.name)
                {
                    Some(i) => &mut out[i],
                    None => {
                        out.push(TrackedReport {
                            kind: o.kind,
                            name: o.name.clone(),
                            up: self.up(o.kind, &o.name),
                            value: (o.kind == TrackedKind::File)
                                .then(|| self.file_value.get(&o.name).copied().unwrap_or(0)),
                            instances: Vec::new(),
                        });
                        out.last_mut().expect("pushed")
                    }
                };
                entry.instances.push((t.instance.clone(), o.weight));
            }
        }
        out
    }
}

/// How a `vrrp_track_process` recognises its processes, and how long a change must last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessMatch {
    words: Vec<String>,
    full_command: bool,
    /// `param_match`; keepalived's default is exact when `process` has arguments.
    param_match: Option<ParamMatch>,
    quorum: u32,
    quorum_max: Option<u32>,
    /// `terminate_delay` (or `delay`): how long the quorum must stay lost.
    terminate_delay: Duration,
    /// `fork_delay` (or `delay`): how long it must stay regained.
    fork_delay: Duration,
}

impl ProcessMatch {
    /// Whether a process (its `comm` and NUL-separated `cmdline`) is one of ours, as
    /// keepalived's `read_procs` decides: by `comm`, or, with `full_command`, arguments or
    /// `param_match`, by the command's first word (exactly as written in `process`), then by
    /// its arguments (`check_params`).
    fn matches(&self, comm: &str, cmdline: &[u8]) -> bool {
        let Some(name) = self.words.first() else {
            return false;
        };
        let param_match = self
            .param_match
            .or((self.words.len() > 1).then_some(ParamMatch::Exact));
        if !self.full_command && param_match.is_none() {
            return comm == name;
        }
        let (argv0, params) = match cmdline.iter().position(|b| *b == 0) {
            Some(i) => (&cmdline[..i], &cmdline[i + 1..]),
            None => (cmdline, &[][..]),
        };
        if argv0 != name.as_bytes() {
            return false;
        }
        let Some(param_match) = param_match else {
            return true;
        };
        // keepalived keeps the configured arguments as they appear in /proc: each followed
        // by a NUL.
        let configured: Vec<u8> = self.words[1..]
            .iter()
            .flat_map(|w| w.bytes().chain(std::iter::once(0)))
            .collect();
        check_params(param_match, &configured, params)
    }

    fn up(&self, count: u32) -> bool {
        count >= self.quorum && self.quorum_max.is_none_or(|max| count <= max)
    }
}

/// keepalived's `check_params`: `configured` and `actual` are NUL-terminated arguments.
fn check_params(param_match: ParamMatch, configured: &[u8], actual: &[u8]) -> bool {
    if param_match == ParamMatch::Exact && configured.is_empty() && actual.is_empty() {
        return true;
    }
    if actual.len() < configured.len() {
        return false;
    }
    match param_match {
        ParamMatch::Exact => actual == configured,
        _ if configured.is_empty() => true,
        ParamMatch::Partial => actual.starts_with(configured),
        // The last configured argument is a prefix of its counterpart.
        ParamMatch::Initial => {
            configured.len() == 1 || actual.starts_with(&configured[..configured.len() - 1])
        }
    }
}

/// keepalived's `init_file [VALUE] [overwrite]` of each `track_file`, applied when the
/// director starts (not at a reload, nor by `ha check`): a missing file (or any, with
/// `overwrite`) is written with VALUE (default 0). Returns what could not be done.
pub fn init_track_files(config: &Config) -> Vec<String> {
    let mut problems = Vec::new();
    for t in &config.track_files {
        let Some(words) = &t.init_file else {
            continue;
        };
        let mut value: i64 = 0;
        let mut overwrite = false;
        for w in words {
            if w == "overwrite" {
                overwrite = true;
            } else if let Ok(v) = w.parse::<i32>() {
                value = v.into();
            } else {
                problems.push(format!(
                    "track_file {}: unknown init_file option {w}",
                    t.name
                ));
            }
        }
        let path = std::path::Path::new(&t.file);
        match std::fs::metadata(path) {
            Ok(m) if overwrite && !m.is_file() => {
                problems.push(format!(
                    "track_file {}: cannot initialise {}: not a regular file",
                    t.name, t.file
                ));
                continue;
            }
            Ok(_) if !overwrite => continue,
            _ => {}
        }
        if let Err(e) = std::fs::write(path, format!("{value}\n")) {
            problems.push(format!(
                "track_file {}: unable to initialise {}: {e}",
                t.name, t.file
            ));
        }
    }
    problems
}

/// Reads a tracked file's value as keepalived does: the first word as an integer, 0 when the
/// file is missing or holds no number.
pub fn read_file_value(path: &std::path::Path) -> i64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|w| w.parse().ok()))
        .unwrap_or(0)
}

/// Whether a `/proc/PID/stat` line is a process that has exited: a zombie (`Z`, not yet reaped
/// by its parent) or dead (`X`). The state is the first field after the command name, which
/// is in parentheses and may itself hold `)` and spaces, so it is found after the last `)`.
fn has_exited(stat: &str) -> bool {
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// Counts the running processes matching each `vrrp_track_process`, from /proc. A process
/// that has exited but is not reaped yet (a zombie keeps its `comm`, e.g. a crashed worker
/// whose parent died too, under an init that does not reap) is not running: keepalived skips
/// zombies as well.
pub fn count_processes(processes: &[(String, ProcessMatch)]) -> Vec<(String, u32)> {
    let mut counts: Vec<(String, u32)> = processes.iter().map(|(n, _)| (n.clone(), 0)).collect();
    if processes.is_empty() {
        return counts;
    }
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return counts;
    };
    for entry in dir.flatten() {
        let is_pid = entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit());
        if !is_pid {
            continue;
        }
        let path = entry.path();
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        if stat.is_empty() || has_exited(&stat) {
            continue;
        }
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let cmdline = std::fs::read(path.join("cmdline")).unwrap_or_default();
        for (i, (_, m)) in processes.iter().enumerate() {
            if m.matches(comm.trim_end(), &cmdline) {
                counts[i].1 += 1;
            }
        }
    }
    counts
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
    fn track_file_values_at_the_ends_of_i64_do_not_overflow() {
        // A file holding i64::MIN (or MAX), reversed: the product saturates, the negation too.
        assert_eq!(file_effect(1, true, i64::MIN), Effect::Adjust(253));
        assert_eq!(file_effect(-254, true, i64::MIN), Effect::Fault);
        assert_eq!(file_effect(1, false, i64::MIN), Effect::Fault);
        assert_eq!(file_effect(254, false, i64::MAX), Effect::Adjust(253));
        assert_eq!(file_effect(-1, true, i64::MAX), Effect::Adjust(253));
    }

    fn plan(text: &str) -> TrackPlan {
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        TrackPlan::from_config(&loaded.config, &ScriptPolicy::unchecked()).unwrap()
    }

    #[test]
    fn vrrp_track_file_is_track_file() {
        // keepalived's old name of the `track_file` block.
        let p = plan(
            "vrrp_track_file F {\n file /run/ha-test-no-such-file\n weight -5\n}\n\
             vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
             track_file { F }\n}\n",
        );
        let a = p.instances.iter().find(|t| t.instance == "A").unwrap();
        let objects: Vec<(TrackedKind, String, i32)> = a
            .objects
            .iter()
            .map(|o| (o.kind, o.name.clone(), o.weight))
            .collect();
        assert_eq!(objects, [(TrackedKind::File, "F".to_string(), -5)]);
    }

    #[test]
    fn sync_group_tracking_goes_to_every_member_and_member_weights_follow_keepalived() {
        let text = "vrrp_script grp {\n script \"/bin/true\"\n}\n\
            vrrp_script own {\n script \"/bin/true\"\n weight -20\n}\n\
            vrrp_sync_group G {\n group {\n A\n B\n }\n track_script { grp }\n track_interface { eth9 }\n}\n\
            vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
            track_script { own }\n track_interface { eth1 weight -10 }\n}\n\
            vrrp_instance B {\n interface eth0\n virtual_router_id 2\n virtual_ipaddress { 10.0.0.2 }\n}\n";
        let p = plan(text);
        let of = |name: &str| -> Vec<(TrackedKind, String, i32)> {
            p.instances
                .iter()
                .find(|t| t.instance == name)
                .map(|t| {
                    t.objects
                        .iter()
                        .map(|o| (o.kind, o.name.clone(), o.weight))
                        .collect()
                })
                .unwrap_or_default()
        };
        // A's weighted script is ignored, its weighted interface counts with weight 0 (a
        // FAULT); the group's objects apply to both members.
        assert_eq!(
            of("A"),
            vec![
                (TrackedKind::Interface, "eth1".to_string(), 0),
                (TrackedKind::Script, "grp".to_string(), 0),
                (TrackedKind::Interface, "eth9".to_string(), 0),
            ]
        );
        assert_eq!(
            of("B"),
            vec![
                (TrackedKind::Script, "grp".to_string(), 0),
                (TrackedKind::Interface, "eth9".to_string(), 0),
            ]
        );
        // sync_group_tracking_weight keeps the members' weights.
        let weighted = plan(&text.replace(
            "vrrp_sync_group G {\n",
            "vrrp_sync_group G {\n sync_group_tracking_weight\n",
        ));
        let a = weighted
            .instances
            .iter()
            .find(|t| t.instance == "A")
            .unwrap();
        assert!(a.objects.iter().any(|o| o.name == "own" && o.weight == -20));
        assert!(a
            .objects
            .iter()
            .any(|o| o.name == "eth1" && o.weight == -10));
    }

    const SCRIPT: &str = "vrrp_script chk {\n script \"/bin/true\"\n rise 2\n fall 3\n weight -20\n}\n\
        vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
        track_script { chk }\n}\n";

    #[test]
    fn a_script_goes_down_at_the_fall_th_failure_and_up_at_the_rise_th_success() {
        let mut t = TrackState::new(plan(SCRIPT), None);
        let first = t.poll_commands();
        assert_eq!(
            first,
            [
                (
                    "VI_1".to_string(),
                    InstanceCommand::SetPriorityAdjustment(0)
                ),
                (
                    "VI_1".to_string(),
                    InstanceCommand::LeaveFault(FaultCause::Tracking)
                ),
            ]
        );
        assert_eq!(t.handle_script("chk", false), None);
        assert_eq!(t.handle_script("chk", false), None);
        assert!(t.poll_commands().is_empty());
        assert_eq!(
            t.handle_script("chk", false),
            Some(false),
            "down at fall = 3"
        );
        assert_eq!(
            t.poll_commands(),
            [(
                "VI_1".to_string(),
                InstanceCommand::SetPriorityAdjustment(-20)
            )]
        );
        assert_eq!(t.handle_script("chk", true), None);
        assert_eq!(
            t.handle_script("chk", false),
            None,
            "a failure resets the rise count"
        );
        assert_eq!(t.handle_script("chk", true), None);
        assert_eq!(t.handle_script("chk", true), Some(true), "up at rise = 2");
        assert_eq!(
            t.poll_commands(),
            [(
                "VI_1".to_string(),
                InstanceCommand::SetPriorityAdjustment(0)
            )]
        );
        assert_eq!(t.handle_script("nonexistent", false), None);
    }

    #[test]
    fn a_reload_keeps_the_verdict_of_an_unchanged_script_only() {
        let mut t = TrackState::new(plan(SCRIPT), None);
        t.poll_commands();
        for _ in 0..3 {
            t.handle_script("chk", false);
        }
        t.poll_commands();
        let same = TrackState::new(plan(SCRIPT), Some(&t));
        assert!(!same.report()[0].up, "same command line: still down");
        let changed = TrackState::new(plan(&SCRIPT.replace("/bin/true", "/bin/false")), Some(&t));
        assert!(changed.report()[0].up, "another command line starts afresh");
        // What the instance was told carries over: no needless command after a reload.
        let mut same = same;
        assert!(same.poll_commands().is_empty());
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
            param_match: None,
            quorum: 2,
            quorum_max: Some(4),
            terminate_delay: Duration::ZERO,
            fork_delay: Duration::ZERO,
        };
        assert!(by_name.matches("nginx", b"nginx: master process\0"));
        assert!(!by_name.matches("httpd", b"/usr/sbin/httpd\0"));
        assert!(!by_name.up(1) && by_name.up(2) && by_name.up(4) && !by_name.up(5));
        let full = ProcessMatch {
            words: vec![
                "/usr/sbin/haproxy".into(),
                "-f".into(),
                "/etc/haproxy.cfg".into(),
            ],
            full_command: true,
            param_match: None,
            quorum: 1,
            quorum_max: None,
            terminate_delay: Duration::ZERO,
            fork_delay: Duration::ZERO,
        };
        assert!(full.matches("haproxy", b"/usr/sbin/haproxy\0-f\0/etc/haproxy.cfg\0"));
        assert!(!full.matches("haproxy", b"/usr/sbin/haproxy\0-f\0/other.cfg\0"));
        // keepalived compares the first word as written: a bare name is not a path.
        let bare = ProcessMatch {
            words: vec!["haproxy".into(), "-f".into(), "/etc/haproxy.cfg".into()],
            ..full.clone()
        };
        assert!(!bare.matches("haproxy", b"/usr/sbin/haproxy\0-f\0/etc/haproxy.cfg\0"));
    }

    #[test]
    fn param_match_as_keepalived_check_params() {
        let m = |words: &[&str], pm: Option<ParamMatch>| ProcessMatch {
            words: words.iter().map(|w| w.to_string()).collect(),
            full_command: false,
            param_match: pm,
            quorum: 1,
            quorum_max: None,
            terminate_delay: Duration::ZERO,
            fork_delay: Duration::ZERO,
        };
        let cmd = b"/usr/sbin/haproxy\0-f\0/etc/haproxy/haproxy.cfg\0-p\0/run/h.pid\0";
        let hap = "/usr/sbin/haproxy";
        // Arguments in `process` mean exact, as keepalived.
        assert!(!m(&[hap, "-f", "/etc/haproxy/haproxy.cfg"], None).matches("haproxy", cmd));
        assert!(m(
            &[hap, "-f", "/etc/haproxy/haproxy.cfg", "-p", "/run/h.pid"],
            None
        )
        .matches("haproxy", cmd));
        // partial: the first arguments.
        let partial = Some(ParamMatch::Partial);
        assert!(m(&[hap, "-f", "/etc/haproxy/haproxy.cfg"], partial).matches("haproxy", cmd));
        assert!(!m(&[hap, "-f", "/etc/haproxy/haproxy"], partial).matches("haproxy", cmd));
        // initial: the last one may be a prefix.
        let initial = Some(ParamMatch::Initial);
        assert!(m(&[hap, "-f", "/etc/haproxy/haproxy"], initial).matches("haproxy", cmd));
        assert!(!m(&[hap, "-f", "/etc/nginx"], initial).matches("haproxy", cmd));
        // Without arguments: partial and initial take any; exact (param_match alone) none.
        assert!(m(&[hap], partial).matches("haproxy", cmd));
        assert!(m(&[hap], initial).matches("haproxy", cmd));
        assert!(!m(&[hap], Some(ParamMatch::Exact)).matches("haproxy", cmd));
        assert!(m(&[hap], Some(ParamMatch::Exact)).matches("haproxy", b"/usr/sbin/haproxy\0"));
        // param_match compares the command's first word, not comm.
        assert!(!m(&["haproxy"], partial).matches("haproxy", cmd));
    }

    #[test]
    fn init_file_writes_a_missing_file_or_overwrites_when_asked() {
        let dir = std::env::temp_dir().join(format!("ha-track-init-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        std::fs::write(&b, "7\n").unwrap();
        std::fs::write(&c, "7\n").unwrap();
        let mut sources = keepalived_conf::SourceMap::default();
        let text = format!(
            "track_file a {{ file {}\n init_file }}\ntrack_file b {{ file {}\n init_file -5 }}\n\
             track_file c {{ file {}\n init_file -5 overwrite }}\ntrack_file d {{ file {}\n init_file overwrite }}\n",
            a.display(),
            b.display(),
            c.display(),
            dir.display()
        );
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            &text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        let problems = init_track_files(&loaded.config);
        assert_eq!(
            std::fs::read_to_string(&a).unwrap(),
            "0\n",
            "missing: written"
        );
        assert_eq!(std::fs::read_to_string(&b).unwrap(), "7\n", "present: kept");
        assert_eq!(std::fs::read_to_string(&c).unwrap(), "-5\n", "overwrite");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].contains("not a regular file"), "{problems:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A plan from configuration text tracking `vrrp_track_process haproxy` with `lines`
    /// (FAULT when down: no weight).
    fn haproxy_plan(lines: &str) -> TrackPlan {
        let text = format!(
            "vrrp_track_process haproxy {{\n process haproxy\n {lines}\n}}\n\
             vrrp_instance VI_1 {{\n state BACKUP\n interface eth0\n virtual_router_id 51\n \
             priority 100\n virtual_ipaddress {{\n 192.168.2.200\n }}\n \
             track_process {{\n haproxy\n }}\n}}\n"
        );
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            &text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        TrackPlan::from_config(&loaded.config, &ScriptPolicy::unchecked()).unwrap()
    }

    /// The instance's last fault command, if any came out.
    fn fault_command(state: &mut TrackState) -> Option<bool> {
        state
            .poll_commands()
            .into_iter()
            .filter_map(|(_, command)| match command {
                InstanceCommand::EnterFault(_) => Some(true),
                InstanceCommand::LeaveFault(_) => Some(false),
                _ => None,
            })
            .next_back()
    }

    #[test]
    fn track_process_delays_hold_a_change_until_it_has_lasted_as_keepalived() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        // No delay: down at the first count of 0.
        let mut state = TrackState::new(haproxy_plan(""), None);
        state.handle_process_count_at("haproxy", 2, at(0));
        assert_eq!(fault_command(&mut state), Some(false));
        state.handle_process_count_at("haproxy", 0, at(200));
        assert_eq!(fault_command(&mut state), Some(true));

        // `delay 2`: a restart shorter than 2 s is ridden out...
        let mut state = TrackState::new(haproxy_plan("delay 2"), None);
        state.handle_process_count_at("haproxy", 2, at(0));
        assert_eq!(
            fault_command(&mut state),
            Some(false),
            "the first count decides"
        );
        for ms in [200, 400, 1800] {
            state.handle_process_count_at("haproxy", 0, at(ms));
            assert_eq!(fault_command(&mut state), None, "still up at {ms} ms");
        }
        state.handle_process_count_at("haproxy", 2, at(2000));
        state.handle_process_count_at("haproxy", 0, at(2200));
        assert_eq!(
            fault_command(&mut state),
            None,
            "the restart cancelled the change"
        );
        // ... a death is not: down once the quorum has stayed lost for 2 s.
        state.handle_process_count_at("haproxy", 0, at(4000));
        assert_eq!(fault_command(&mut state), None);
        state.handle_process_count_at("haproxy", 0, at(4200));
        assert_eq!(fault_command(&mut state), Some(true), "down after 2 s");
        // Coming back waits `delay` too.
        state.handle_process_count_at("haproxy", 1, at(5000));
        state.handle_process_count_at("haproxy", 1, at(6800));
        assert_eq!(fault_command(&mut state), None);
        state.handle_process_count_at("haproxy", 1, at(7000));
        assert_eq!(fault_command(&mut state), Some(false), "up after 2 s");

        // terminate_delay and fork_delay apart; the specific one wins over `delay`.
        let mut state = TrackState::new(
            haproxy_plan("delay 5\n terminate_delay 1\n fork_delay 0"),
            None,
        );
        state.handle_process_count_at("haproxy", 1, at(0));
        state.poll_commands();
        state.handle_process_count_at("haproxy", 0, at(200));
        state.handle_process_count_at("haproxy", 0, at(1200));
        assert_eq!(fault_command(&mut state), Some(true), "terminate_delay 1");
        state.handle_process_count_at("haproxy", 1, at(1400));
        assert_eq!(
            fault_command(&mut state),
            Some(false),
            "fork_delay 0: at once"
        );
    }

    #[test]
    fn exited_processes_are_told_by_the_state_after_the_last_parenthesis() {
        assert!(!has_exited("1234 (haproxy) S 1 1234 1234 0 -1 4194560"));
        assert!(!has_exited("1234 (haproxy) R 1 1234"));
        assert!(has_exited("1234 (haproxy) Z 1 1234 1234 0 -1 4227084"));
        assert!(has_exited("1234 (haproxy) X 1"));
        // The command name may hold ") Z " itself.
        assert!(!has_exited("1234 (a) Z (b) S 1 1234"));
        assert!(has_exited("1234 (a) S (b) Z 1 1234"));
        assert!(!has_exited(""));
    }

    /// A process that has exited but is not reaped (a zombie) is not counted; while it runs,
    /// it is. Its name is unique to this test (a symlink to `sleep` named after the test's pid).
    #[test]
    fn a_zombie_process_is_not_running() {
        let dir = std::env::temp_dir().join(format!("ha-track-zombie-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("hz{}", std::process::id());
        let program = dir.join(&name);
        let sleep = ["/bin/sleep", "/usr/bin/sleep"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("sleep(1)");
        let _ = std::fs::remove_file(&program);
        std::os::unix::fs::symlink(sleep, &program).unwrap();
        let tracked = vec![(
            "zombie".to_string(),
            ProcessMatch {
                words: vec![name.clone()],
                full_command: false,
                param_match: None,
                quorum: 1,
                quorum_max: None,
                terminate_delay: Duration::ZERO,
                fork_delay: Duration::ZERO,
            },
        )];
        let count = || count_processes(&tracked)[0].1;
        let mut child = std::process::Command::new(&program)
            .arg("30")
            .spawn()
            .unwrap();
        let stat = format!("/proc/{}/stat", child.id());
        let state = || std::fs::read_to_string(&stat).unwrap_or_default();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !state().contains(&format!("({name})")) {
            assert!(std::time::Instant::now() < deadline, "{name} did not start");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(count(), 1, "{}", state());
        // Killed and not waited for: a zombie until reaped.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        while !has_exited(&state()) {
            assert!(std::time::Instant::now() < deadline, "{name} did not exit");
            std::thread::sleep(Duration::from_millis(10));
        }
        let zombie_count = count();
        child.wait().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(zombie_count, 0, "a zombie counted as running");
    }
}
