//! What VRRP tracks: `vrrp_script`, `track_file`, `vrrp_track_process`, the `track_*` lists
//! and weights of instances and sync groups, and their `notify*` scripts.

use super::{Fields, Parser};
use crate::diag::Diagnostic;
use crate::model::*;
use crate::syntax::Node;

impl Parser<'_> {
    /// Entries of a `track_*` block; `limit` is keepalived's weight bound (253 for
    /// scripts, interfaces and BFD, 254 for files and processes).
    fn tracks(&mut self, n: &Node, path: &str, limit: i32) -> Vec<Track> {
        let mut out = Vec::new();
        for t in self.block(n) {
            self.no_block(t);
            self.spans
                .insert(format!("{path}/{}/{}", n.key.text, t.key.text), t.key.span);
            let mut track = Track {
                name: t.key.text.clone(),
                weight: None,
                reverse: false,
            };
            let mut i = 0;
            while i < t.args.len() {
                match t.args[i].text.as_str() {
                    "weight" => {
                        track.weight = self.num(t, i + 1, -limit, limit);
                        i += 2;
                    }
                    "reverse" => {
                        track.reverse = true;
                        i += 1;
                    }
                    "noreverse" => i += 1,
                    other => {
                        self.bad_value(
                            t,
                            i,
                            format!("unexpected `{other}` in `{}`", n.key.text),
                            "write `NAME [weight W [reverse]]`".into(),
                        );
                        break;
                    }
                }
            }
            out.push(track);
        }
        out
    }

    /// `weight W [reverse]` of scripts and tracked objects.
    pub(super) fn weight(&mut self, s: &Node, limit: i32) -> Option<(i32, bool)> {
        self.extra_args(s, 2);
        let w = self.num(s, 0, -limit, limit)?;
        let reverse = match s.arg(1) {
            None | Some("noreverse") => false,
            Some("reverse") => true,
            Some(other) => {
                self.bad_value(
                    s,
                    1,
                    format!("unexpected `{other}` after the weight"),
                    "write `weight W [reverse]`".into(),
                );
                false
            }
        };
        Some((w, reverse))
    }

    pub(super) fn notify(&mut self, s: &Node, n: &mut Notify) -> bool {
        let key = s.key.text.as_str();
        let slot = match key {
            "notify" => &mut n.notify,
            "notify_master" => &mut n.master,
            "notify_backup" => &mut n.backup,
            "notify_fault" => &mut n.fault,
            "notify_stop" => &mut n.stop,
            "notify_deleted" => {
                // keepalived: `notify_deleted` alone only says "report DELETED".
                n.notify_deleted = true;
                if s.args.is_empty() {
                    return true;
                }
                &mut n.deleted
            }
            "notify_master_rx_lower_pri" => &mut n.master_rx_lower_pri,
            "notify_priority_changes" => {
                n.priority_changes = Some(self.flag(s));
                return true;
            }
            _ => return false,
        };
        if let Some(line) = self.script_line(s) {
            *slot = Some(line.command);
            n.users.retain(|(k, _)| k != key);
            if let Some(user) = line.user {
                n.users.push((key.to_string(), user));
            }
        }
        true
    }

    pub(super) fn tracking(&mut self, s: &Node, t: &mut Tracking, path: &str) -> bool {
        match s.key.text.as_str() {
            "track_interface" => t.interfaces.extend(self.tracks(s, path, 253)),
            "track_script" => t.scripts.extend(self.tracks(s, path, 253)),
            "track_file" => t.files.extend(self.tracks(s, path, 254)),
            "track_process" => t.processes.extend(self.tracks(s, path, 254)),
            "track_bfd" => t.bfds.extend(self.tracks(s, path, 253)),
            _ => return false,
        }
        true
    }

    pub(super) fn vrrp_script(&mut self, n: &Node) -> Option<VrrpScript> {
        let name = self.named(n, "vrrp_script")?;
        let path = format!("vrrp_script {name}");
        let mut v = VrrpScript {
            name,
            script: String::new(),
            interval: Timer::secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "script" => v.script = self.command(s).unwrap_or_default(),
                "interval" => v.interval = self.timer(s).unwrap_or(v.interval),
                "timeout" => v.timeout = self.timer(s),
                "weight" => {
                    if let Some((w, r)) = self.weight(s, 253) {
                        (v.weight, v.weight_reverse) = (w, r);
                    }
                }
                "rise" => v.rise = self.num1(s, 1u32, u32::MAX).unwrap_or(1),
                "fall" => v.fall = self.num1(s, 1u32, u32::MAX).unwrap_or(1),
                "user" => v.user = self.script_user(s),
                "init_fail" => v.init_fail = self.flag(s),
                _ => self.other(s, &mut v.other, "`vrrp_script`"),
            }
        }
        self.save_fields(path.clone(), fields);
        if v.script.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("vrrp_script `{}` has no `script`", v.name),
                )
                .with_label("this script has nothing to run")
                .with_help("add `script \"/path/to/check args\"`"),
            );
        }
        Some(v)
    }

    pub(super) fn track_file(&mut self, n: &Node) -> Option<TrackFile> {
        let name = self.named(n, "track_file")?;
        let path = format!("track_file {name}");
        let mut t = TrackFile {
            name,
            file: String::new(),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "file" => t.file = self.string(s).unwrap_or_default(),
                "weight" => {
                    if let Some((w, r)) = self.weight(s, 254) {
                        (t.weight, t.weight_reverse) = (w, r);
                    }
                }
                "init_file" => t.init_file = Some(s.args.iter().map(|a| a.text.clone()).collect()),
                _ => self.other(s, &mut t.other, "`track_file`"),
            }
        }
        self.save_fields(path.clone(), fields);
        if t.file.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("track_file `{}` has no `file`", t.name),
                )
                .with_help("add `file /path/to/file`"),
            );
        }
        Some(t)
    }

    pub(super) fn track_process(&mut self, n: &Node) -> Option<TrackProcess> {
        let name = self.named(n, "vrrp_track_process")?;
        let path = format!("vrrp_track_process {name}");
        let mut t = TrackProcess {
            name,
            process: Vec::new(),
            full_command: false,
            param_match: None,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            terminate_delay: None,
            fork_delay: None,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "process" => t.process = s.args.iter().map(|a| a.text.clone()).collect(),
                "full_command" => t.full_command = self.flag(s),
                "param_match" => {
                    self.extra_args(s, 1);
                    match s.arg(0) {
                        None => t.param_match = Some(ParamMatch::Exact),
                        Some("initial") => t.param_match = Some(ParamMatch::Initial),
                        Some("partial") => t.param_match = Some(ParamMatch::Partial),
                        Some(other) => self.bad_value(
                            s,
                            0,
                            format!("invalid param_match type `{other}`"),
                            "write `param_match` (exact), `param_match initial` or \
                             `param_match partial`"
                                .into(),
                        ),
                    }
                }
                "weight" => {
                    if let Some((w, r)) = self.weight(s, 254) {
                        (t.weight, t.weight_reverse) = (w, r);
                    }
                }
                "quorum" => t.quorum = self.num1(s, 0u32, 65535).unwrap_or(1),
                "quorum_max" => t.quorum_max = self.num1(s, 0u32, 65535),
                "delay" => t.delay = self.timer(s),
                "terminate_delay" => t.terminate_delay = self.timer(s),
                "fork_delay" => t.fork_delay = self.timer(s),
                _ => self.other(s, &mut t.other, "`vrrp_track_process`"),
            }
        }
        self.save_fields(path.clone(), fields);
        if t.process.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("vrrp_track_process `{}` has no `process`", t.name),
                )
                .with_help("add `process NAME`"),
            );
        }
        Some(t)
    }
}
