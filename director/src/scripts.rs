//! Who runs each script, and whether it may run at all: keepalived's `script_user` default,
//! `enable_script_security` and the checks keepalived makes of every script when it loads a
//! configuration (`check_script_secure` in keepalived's `lib/notify.c`).
//!
//! keepalived's rules, matched here:
//! - a script without a user of its own runs as `script_user`; without one, as
//!   `keepalived_script` if that user exists, else as root. With `enable_script_security` and
//!   neither, keepalived drops every such script ("Unable to set default user
//!   keepalived_script"); ha refuses to start instead, as it does when any user or group named
//!   for a script does not exist (keepalived drops those scripts too).
//! - a script is looked up when the configuration is loaded: one that does not exist (a bare
//!   name is searched in `PATH`) or that its user cannot execute is disabled, whatever the
//!   security setting;
//! - a script run as root (uid or gid 0, or set-uid/gid root) is insecure when it, or any
//!   directory on its path (as written and as resolved), is not owned by root, or is writable
//!   by a group other than root's or by anyone (a directory with the sticky bit excepted).
//!   With `enable_script_security` an insecure script is disabled; without, it runs and
//!   keepalived logs "SECURITY VIOLATION";
//! - a disabled `vrrp_script` is removed from the tracking of every instance (it neither
//!   fails nor succeeds: the instance no longer depends on it); a disabled notify script is
//!   not run; a disabled `MISC_CHECK` is removed from its real server.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use keepalived_conf::{Config, ScriptUser};
use nix::unistd::{Gid, Group, Uid, User};

/// keepalived's default script user.
pub const DEFAULT_SCRIPT_USER: &str = "keepalived_script";

/// How scripts are run: the default user and whether insecure scripts are disabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptPolicy {
    /// `enable_script_security`.
    pub security: bool,
    /// The user of scripts that name none; `None`: the director's own (root).
    pub default_user: Option<(Uid, Gid)>,
    /// Look the scripts up on this machine (off only for configurations built in tests).
    pub check_files: bool,
}

/// Resolves `USER [GROUP]` to ids; an unknown user or group is an error.
pub fn resolve_user(u: &ScriptUser) -> Result<(Uid, Gid), String> {
    let user = User::from_name(&u.user)
        .map_err(|e| format!("user {}: {e}", u.user))?
        .ok_or_else(|| format!("user {} does not exist", u.user))?;
    let gid = match &u.group {
        Some(g) => {
            Group::from_name(g)
                .map_err(|e| format!("group {g}: {e}"))?
                .ok_or_else(|| format!("group {g} does not exist"))?
                .gid
        }
        None => user.gid,
    };
    Ok((user.uid, gid))
}

impl ScriptPolicy {
    /// keepalived's default user and security setting for a configuration.
    pub fn from_config(config: &Config) -> Result<ScriptPolicy, String> {
        let g = &config.global_defs;
        let default_user = match &g.script_user {
            Some(u) => Some(resolve_user(u).map_err(|e| {
                format!(
                    "script_user {}: {e}: scripts would not run as configured",
                    u.user
                )
            })?),
            None => match User::from_name(DEFAULT_SCRIPT_USER).ok().flatten() {
                Some(user) => Some((user.uid, user.gid)),
                None if g.enable_script_security && uses_default_user(config) => {
                    return Err(format!(
                        "enable_script_security is set, no script_user is given and user \
                         {DEFAULT_SCRIPT_USER} does not exist: keepalived would run none of the \
                         scripts that name no user; set `script_user` or create \
                         {DEFAULT_SCRIPT_USER}"
                    ))
                }
                None => None,
            },
        };
        Ok(ScriptPolicy {
            security: g.enable_script_security,
            default_user,
            check_files: true,
        })
    }

    /// Scripts run as the director, unchecked: for configurations built in tests.
    pub fn unchecked() -> ScriptPolicy {
        ScriptPolicy {
            security: false,
            default_user: None,
            check_files: false,
        }
    }

    /// The ids a script runs as: its own user, else the default.
    pub fn user_for(&self, own: Option<&ScriptUser>) -> Result<Option<(Uid, Gid)>, String> {
        match own {
            Some(u) => resolve_user(u).map(Some),
            None => Ok(self.default_user),
        }
    }

    /// keepalived's load-time verdict on a script run as `user`.
    pub fn assess(&self, argv: &[String], user: Option<(Uid, Gid)>) -> Verdict {
        if !self.check_files {
            return Verdict::Run;
        }
        let Some(program) = argv.first() else {
            return Verdict::Disabled("empty command line".into());
        };
        let (uid, gid) = user.unwrap_or_else(|| (Uid::effective(), Gid::effective()));
        let path = match find_program(program) {
            Some(p) => p,
            None => return Verdict::Disabled(format!("{program}: not found")),
        };
        let real = match std::fs::canonicalize(&path) {
            Ok(r) => r,
            Err(e) => return Verdict::Disabled(format!("{program}: cannot be accessed: {e}")),
        };
        let meta = match std::fs::metadata(&real) {
            Ok(m) => m,
            Err(e) => return Verdict::Disabled(format!("{program}: cannot be accessed: {e}")),
        };
        if !is_executable(&meta, uid, gid) {
            return Verdict::Disabled(format!(
                "{program} is not executable for uid:gid {uid}:{gid}"
            ));
        }
        let mode = meta.permissions().mode();
        let as_root = uid.is_root()
            || gid.as_raw() == 0
            || (meta.uid() == 0 && mode & 0o4100 == 0o4100)
            || (meta.gid() == 0 && mode & 0o2010 == 0o2010);
        if !as_root {
            return Verdict::Run;
        }
        let unsafe_at = unsafe_component(&path)
            .or_else(|| (real != path).then(|| unsafe_component(&real)).flatten());
        match unsafe_at {
            None => Verdict::Run,
            Some(at) if self.security => Verdict::Disabled(format!(
                "unsafe permissions for script {program} ({at} is writable by non-root users \
                 or not owned by root) and enable_script_security is set"
            )),
            Some(at) => Verdict::Insecure(format!(
                "unsafe permissions for script {program} ({at} is writable by non-root users \
                 or not owned by root)"
            )),
        }
    }
}

/// Whether some script of the configuration would take the default user.
fn uses_default_user(config: &Config) -> bool {
    !audit_list(config).iter().all(|s| s.user.is_some())
}

/// What keepalived decides about a script when it loads the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It runs.
    Run,
    /// It runs, but is insecure (keepalived: "SECURITY VIOLATION").
    Insecure(String),
    /// It does not run (not found, not executable, or insecure with
    /// `enable_script_security`).
    Disabled(String),
}

/// A bare name is searched in PATH, as keepalived does (`find_path`).
fn find_program(program: &str) -> Option<PathBuf> {
    if program.contains('/') {
        let p = Path::new(program);
        let absolute = if p.is_absolute() {
            p.to_path_buf()
        } else {
            std::env::current_dir().ok()?.join(p)
        };
        return Some(clean(&absolute));
    }
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    path.split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

/// `/a/./b//c/../d` as `/a/b/d` (keepalived's `clean_path`; no symlink is followed).
fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => out.push(n),
            std::path::Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// keepalived's `is_executable`.
fn is_executable(meta: &std::fs::Metadata, uid: Uid, gid: Gid) -> bool {
    let mode = meta.permissions().mode();
    if uid.is_root() {
        return mode & 0o111 != 0;
    }
    if uid.as_raw() == meta.uid() {
        return mode & 0o100 != 0;
    }
    if gid.as_raw() == meta.gid() {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// keepalived's `check_security`: the first of `/`, each directory, and the file itself (not
/// following a final symlink) that is not owned by root, or is writable by a non-root group or
/// by others (directories with the sticky bit excepted). A component that cannot be read is
/// reported too.
fn unsafe_component(path: &Path) -> Option<String> {
    let mut prefixes: Vec<PathBuf> = path.ancestors().map(Path::to_path_buf).collect();
    prefixes.reverse();
    for p in prefixes {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            return Some(p.display().to_string());
        };
        let mode = meta.permissions().mode();
        let sticky_dir = meta.is_dir() && mode & 0o1000 != 0;
        let group_or_other_writable = (meta.gid() != 0 && mode & 0o020 != 0) || mode & 0o002 != 0;
        let checked = (meta.is_dir() && !sticky_dir) || meta.is_file();
        if meta.uid() != 0 || (checked && group_or_other_writable) {
            return Some(p.display().to_string());
        }
    }
    None
}

/// One script of a configuration, for [`audit`].
#[derive(Debug, Clone)]
pub struct ScriptEntry {
    /// The block, as [`keepalived_conf::SpanIndex`] names it (`vrrp_instance VI_1`).
    pub block: String,
    /// The keyword (`notify_master`, `script`, `MISC_CHECK`).
    pub keyword: String,
    pub command: String,
    pub user: Option<ScriptUser>,
    /// What disabling it means (keepalived's words).
    pub kind: ScriptKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptKind {
    /// A `vrrp_script`: disabled, it is removed from tracking.
    Track,
    /// Notify, FIFO, startup and shutdown scripts: disabled, it is not run.
    Notify,
    /// A `MISC_CHECK`: disabled, the checker is removed from its real server.
    Misc,
}

/// Every script keepalived checks at load time.
pub fn audit_list(config: &Config) -> Vec<ScriptEntry> {
    let mut out = Vec::new();
    let mut push =
        |block: String, keyword: &str, command: &str, user: Option<&ScriptUser>, kind| {
            out.push(ScriptEntry {
                block,
                keyword: keyword.to_string(),
                command: command.to_string(),
                user: user.cloned(),
                kind,
            })
        };
    let g = &config.global_defs;
    for (key, s) in [
        ("startup_script", &g.startup_script),
        ("shutdown_script", &g.shutdown_script),
        ("notify_fifo_script", &g.notify_fifo_script),
        ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo_script),
        ("lvs_notify_fifo_script", &g.lvs_notify_fifo_script),
    ] {
        if let Some(s) = s {
            push(
                "global_defs".into(),
                key,
                &s.command,
                s.user.as_ref(),
                ScriptKind::Notify,
            );
        }
    }
    for s in &config.vrrp_scripts {
        push(
            format!("vrrp_script {}", s.name),
            "script",
            &s.script,
            s.user.as_ref(),
            ScriptKind::Track,
        );
    }
    for vi in &config.vrrp_instances {
        let n = &vi.notify;
        for (key, line) in [
            ("notify", &n.notify),
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify_deleted", &n.deleted),
            ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
        ] {
            if let Some(command) = line {
                push(
                    format!("vrrp_instance {}", vi.name),
                    key,
                    command,
                    n.user(key),
                    ScriptKind::Notify,
                );
            }
        }
    }
    for vs in &config.virtual_servers {
        let vs_block = keepalived_conf::parse::vs_path(&vs.key);
        for (key, line) in [
            ("quorum_up", &vs.quorum_up),
            ("quorum_down", &vs.quorum_down),
            ("ha_announce_notify", &vs.ha_announce_notify),
        ] {
            if let Some(command) = line {
                push(vs_block.clone(), key, command, None, ScriptKind::Notify);
            }
        }
        for rs in &vs.real_servers {
            let rs_block = match rs.port {
                Some(p) => format!("{vs_block}/real_server {} {p}", rs.ip),
                None => format!("{vs_block}/real_server {}", rs.ip),
            };
            for (key, line) in [
                ("notify_up", &rs.notify_up),
                ("notify_down", &rs.notify_down),
            ] {
                if let Some(command) = line {
                    push(rs_block.clone(), key, command, None, ScriptKind::Notify);
                }
            }
            for c in &rs.checkers {
                if let keepalived_conf::CheckerKind::MiscCheck {
                    misc_path, user, ..
                } = &c.kind
                {
                    push(
                        rs_block.clone(),
                        "MISC_CHECK",
                        misc_path,
                        user.as_ref(),
                        ScriptKind::Misc,
                    );
                }
            }
        }
    }
    out
}

/// A finding of [`audit`], placed by block and keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub block: String,
    pub keyword: String,
    pub message: String,
    /// The script will not run (or the director will not start): an error for `ha check`.
    pub error: bool,
}

/// What keepalived (and ha) decide about every script of a configuration on this machine:
/// for `ha check`. The director applies the same verdicts when it plans.
pub fn audit(config: &Config) -> Vec<Finding> {
    let policy = match ScriptPolicy::from_config(config) {
        Ok(p) => p,
        Err(e) => {
            return vec![Finding {
                block: "global_defs".into(),
                keyword: if config.global_defs.script_user.is_some() {
                    "script_user".into()
                } else {
                    "enable_script_security".into()
                },
                message: e,
                error: true,
            }]
        }
    };
    let mut findings = Vec::new();
    let mut any_script = false;
    let mut insecure = false;
    for s in audit_list(config) {
        let user = match policy.user_for(s.user.as_ref()) {
            Ok(u) => u,
            Err(e) => {
                findings.push(Finding {
                    block: s.block,
                    keyword: s.keyword,
                    message: format!(
                        "{e}: the director refuses to start (keepalived would not run this script)"
                    ),
                    error: true,
                });
                continue;
            }
        };
        let argv = healthcheck::split_command(&s.command);
        any_script = true;
        match policy.assess(&argv, user) {
            Verdict::Run => {}
            Verdict::Insecure(why) => {
                insecure = true;
                findings.push(Finding {
                    block: s.block,
                    keyword: s.keyword,
                    message: format!("{why}: it runs, but enable_script_security would disable it"),
                    error: false,
                });
            }
            Verdict::Disabled(why) => findings.push(Finding {
                block: s.block,
                keyword: s.keyword,
                message: format!("{why}: {}", disabled_effect(s.kind)),
                error: true,
            }),
        }
    }
    if any_script && !policy.security {
        findings.push(Finding {
            block: "global_defs".into(),
            keyword: "enable_script_security".into(),
            message: format!(
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled.{}",
                if insecure {
                    " There are insecure scripts."
                } else {
                    ""
                }
            ),
            error: false,
        });
    }
    findings
}

/// What disabling a script of this kind does, in keepalived's terms.
pub fn disabled_effect(kind: ScriptKind) -> &'static str {
    match kind {
        ScriptKind::Track => {
            "the script is disabled and removed from tracking (as keepalived does: the \
             instances no longer depend on it)"
        }
        ScriptKind::Notify => "the script is disabled and will not run",
        ScriptKind::Misc => {
            "the MISC_CHECK is disabled and removed from its real server (as keepalived does)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    fn policy(security: bool) -> ScriptPolicy {
        ScriptPolicy {
            security,
            default_user: None,
            check_files: true,
        }
    }

    fn argv(s: &str) -> Vec<String> {
        vec![s.to_string()]
    }

    /// A fresh directory under `parent`, removed on drop.
    struct TempDir(PathBuf);
    impl TempDir {
        fn new_in(parent: &str, name: &str) -> TempDir {
            let p = Path::new(parent).join(format!("ha-scripts-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn path(&self) -> &Path {
            &self.0
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn missing_and_non_executable_scripts_are_disabled_whatever_the_security() {
        let dir = TempDir::new_in(&std::env::temp_dir().display().to_string(), "plain");
        let plain = dir.path().join("plain");
        std::fs::write(&plain, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        for security in [false, true] {
            assert!(matches!(
                policy(security).assess(&argv("/nonexistent/x.sh"), None),
                Verdict::Disabled(_)
            ));
            assert!(matches!(
                policy(security).assess(&argv(plain.to_str().unwrap()), None),
                Verdict::Disabled(why) if why.contains("not executable")
            ));
        }
        // A bare name is looked up in PATH.
        assert_eq!(policy(true).assess(&argv("true"), None), Verdict::Run);
        assert!(matches!(
            policy(false).assess(&argv("no-such-program-x"), None),
            Verdict::Disabled(_)
        ));
    }

    #[test]
    fn a_script_in_a_world_writable_directory_is_insecure_and_disabled_with_security() {
        if !nix::unistd::geteuid().is_root() {
            testkit::skip(
                "a_script_in_a_world_writable_directory_is_insecure_and_disabled_with_security",
                "needs root (root-owned paths)",
            );
            return;
        }
        // Under a root-owned 0755 directory, so that only the test's own directory counts.
        let base = TempDir::new_in("/run", "secure");
        std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let ww = base.path().join("ww");
        std::fs::create_dir(&ww).unwrap();
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o777)).unwrap();
        let script = ww.join("s.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let s = argv(script.to_str().unwrap());
        assert!(matches!(
            policy(false).assess(&s, None),
            Verdict::Insecure(_)
        ));
        assert!(matches!(
            policy(true).assess(&s, None),
            Verdict::Disabled(_)
        ));
        // The sticky bit makes a world-writable directory safe (as /tmp).
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert_eq!(policy(true).assess(&s, None), Verdict::Run);
        // A group-writable script (group not root) is unsafe.
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o775)).unwrap();
        nix::unistd::chown(&script, None, Some(Gid::from_raw(65534))).unwrap();
        assert!(matches!(
            policy(true).assess(&s, None),
            Verdict::Disabled(_)
        ));
        // Run as a non-root user the path is not checked (keepalived checks only scripts
        // that run as root).
        std::fs::set_permissions(&ww, std::fs::Permissions::from_mode(0o777)).unwrap();
        let nobody = resolve_user(&ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into()),
        })
        .unwrap();
        assert_eq!(policy(true).assess(&s, Some(nobody)), Verdict::Run);
    }

    #[test]
    fn unknown_users_and_a_missing_default_user_under_security_refuse() {
        let c = parse("global_defs { script_user no-such-user-x }\n");
        let e = ScriptPolicy::from_config(&c).unwrap_err();
        assert!(e.contains("no-such-user-x"), "{e}");
        let has_ks = User::from_name(DEFAULT_SCRIPT_USER)
            .ok()
            .flatten()
            .is_some();
        let c = parse(
            "global_defs { enable_script_security }\n\
             vrrp_script chk { script /bin/true }\n",
        );
        if has_ks {
            assert!(ScriptPolicy::from_config(&c).is_ok());
        } else {
            let e = ScriptPolicy::from_config(&c).unwrap_err();
            assert!(e.contains(DEFAULT_SCRIPT_USER), "{e}");
            // Every script naming its user: nothing takes the default.
            let c = parse(
                "global_defs { enable_script_security }\n\
                 vrrp_script chk { script /bin/true\n user nobody }\n",
            );
            assert_eq!(ScriptPolicy::from_config(&c).unwrap().default_user, None);
        }
        // Without security a missing keepalived_script means root, as keepalived.
        let c = parse("vrrp_script chk { script /bin/true }\n");
        let p = ScriptPolicy::from_config(&c).unwrap();
        assert_eq!(p.default_user.is_some(), has_ks);
        let u = p.user_for(Some(&ScriptUser {
            user: "no-such-user-x".into(),
            group: None,
        }));
        assert!(u.is_err());
    }

    #[test]
    fn audit_places_each_finding_by_block_and_keyword() {
        let c = parse(
            "vrrp_script chk { script /nonexistent/chk.sh }\n\
             vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n \
             notify_master /nonexistent/m.sh\n notify_backup /bin/true no-such-user-x }\n",
        );
        let findings = audit(&c);
        let at: Vec<(&str, &str, bool)> = findings
            .iter()
            .map(|f| (f.block.as_str(), f.keyword.as_str(), f.error))
            .collect();
        assert_eq!(
            at,
            [
                ("vrrp_script chk", "script", true),
                ("vrrp_instance VI_1", "notify_master", true),
                ("vrrp_instance VI_1", "notify_backup", true),
                ("global_defs", "enable_script_security", false),
            ],
            "{findings:#?}"
        );
        assert!(findings[0].message.contains("removed from tracking"));
        assert!(findings[3].message.starts_with("SECURITY VIOLATION"));
    }
}
