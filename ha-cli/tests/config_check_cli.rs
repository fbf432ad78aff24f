//! `ha check` as a user runs it: exit codes, rendered output, `--print`, `--json`.

use std::path::PathBuf;
use std::process::{Command, Output};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/examples");
const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../keepalived-conf/tests/data/config"
);

fn ha(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ha"))
        .arg("check")
        .args(args)
        .output()
        .expect("run ha")
}

fn example(name: &str) -> String {
    PathBuf::from(EXAMPLES).join(name).display().to_string()
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    // Under the target directory, not /tmp: cargo clean removes it.
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ha-check-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn valid_pair_exits_zero() {
    let out = ha(&[&example("lvs1.conf"), &example("lvs2.conf")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("0 error(s), 0 warning(s), 0 split-brain finding(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("lvs1.conf: 1 VRRP instance(s), 1 virtual server(s), 2 real server(s)"),
        "{stderr}"
    );
}

#[test]
fn split_brain_exits_three_and_names_the_finding() {
    let lvs2 = std::fs::read_to_string(example("lvs2.conf")).unwrap();
    let bad = temp_file(
        "lvs2-master.conf",
        &lvs2
            .replace("state BACKUP", "state MASTER")
            .replace("priority 90", "priority 100"),
    );
    let out = ha(&[&example("lvs1.conf"), bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("error[both-master-equal-priority]"),
        "{stderr}"
    );
}

#[test]
fn invalid_config_exits_one_with_rendered_error() {
    let path = format!("{DATA}/diagnostics/priority-range.conf");
    let out = ha(&["--no-host-checks", "-f", &path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[invalid-value]: invalid `priority` value `256`"),
        "{stderr}"
    );
    assert!(stderr.contains("priority-range.conf:4:14"), "{stderr}");
    // Warnings alone pass, unless denied.
    let path = format!("{DATA}/diagnostics/typo-keyword.conf");
    assert_eq!(ha(&["--no-host-checks", &path]).status.code(), Some(0));
    assert_eq!(
        ha(&["--no-host-checks", "--deny-warnings", &path])
            .status
            .code(),
        Some(1)
    );
    // Unreadable file.
    assert_eq!(ha(&["/nonexistent/keepalived.conf"]).status.code(), Some(1));
    // Usage error from clap.
    assert_eq!(ha(&["--no-such-flag"]).status.code(), Some(2));
}

#[test]
fn print_output_rechecks_clean_and_json_parses() {
    let full = format!("{DATA}/valid/full.conf");
    // full.conf holds every keyword ha types, some of which ha refuses to run (exit 1);
    // printed, it must read back to the same text with the same findings.
    let out = ha(&["--no-host-checks", "--print", &full]);
    // Without the file's path (`error: PATH: ...`), which differs between the two.
    let errors = |o: &Output| -> Vec<String> {
        String::from_utf8_lossy(&o.stderr)
            .lines()
            .filter(|l| l.starts_with("error"))
            .map(|l| match l.strip_prefix("error: ") {
                Some(rest) => rest.split_once(": ").map_or(l, |(_, m)| m).to_string(),
                None => l.to_string(),
            })
            .collect()
    };
    assert_eq!(out.status.code(), Some(1));
    // The table's refusals only.
    assert!(
        errors(&out)
            .iter()
            .all(|l| l.starts_with("error[not-applied]")),
        "{:?}",
        errors(&out)
    );
    let printed = temp_file("printed.conf", &String::from_utf8_lossy(&out.stdout));
    let again = ha(&["--no-host-checks", "--print", printed.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(errors(&again), errors(&out));
    assert_eq!(again.stdout, out.stdout);

    let out = ha(&["--no-host-checks", "--json", &full]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["global_defs"]["router_id"], "lb-a");
}

#[test]
fn config_id_selects_conditional_lines() {
    let path = temp_file(
        "cond.conf",
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n @a priority 200\n @b priority 50\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n",
    );
    let out = ha(&[
        "--no-host-checks",
        "--json",
        "-i",
        "b",
        path.to_str().unwrap(),
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["vrrp_instances"][0]["priority"], 50);
}

#[test]
fn bfd_check_is_refused_and_a_checker_the_director_cannot_run_an_error() {
    // ha has no BFD: a server's health would rest on its other checkers only.
    let bfd = temp_file(
        "bfd-check.conf",
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 { BFD_CHECK { name b1 } }\n}\n",
    );
    let out = ha(&["--no-host-checks", bfd.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[not-applied]: `BFD_CHECK` is not applied by ha"),
        "{stderr}"
    );
    // The director's own checks still run on the rest.
    assert!(
        stderr.contains("virtual_server 10.0.0.1:80: real_server 10.0.0.2:80: BFD_CHECK ignored"),
        "{stderr}"
    );
    // The parser accepts any SSL_GET http_protocol word; the director cannot run this one.
    let bad = temp_file(
        "bad-protocol.conf",
        "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 { SSL_GET { url { path / }\n http_protocol 2 } }\n}\n",
    );
    let out = ha(&["--no-host-checks", bad.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error: ")
            && stderr.contains(
                "virtual_server 10.0.0.1:80: real_server 10.0.0.2:80, SSL_GET#0: http_protocol"
            ),
        "{stderr}"
    );
    let _ = std::fs::remove_file(bfd);
    let _ = std::fs::remove_file(bad);
}

#[test]
fn script_checks_on_this_machine_as_keepalived_loads_them() {
    let check = |name: &str, text: &str, args: &[&str]| {
        let path = temp_file(name, text);
        let mut all = args.to_vec();
        all.push(path.to_str().unwrap());
        let out = ha(&all);
        let _ = std::fs::remove_file(&path);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A script user that does not resolve: the director would refuse to start.
    let unknown_user =
        "global_defs {\n script_user ha-no-such-user-12\n startup_script /bin/true\n}\n";
    let (code, stderr) = check("unknown-user.conf", unknown_user, &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("script_user ha-no-such-user-12") && stderr.contains("unknown-user.conf:2"),
        "{stderr}"
    );
    // Another machine's file: its users are not this machine's business.
    let (code, stderr) = check(
        "unknown-user-other.conf",
        unknown_user,
        &["--no-host-checks"],
    );
    assert_eq!(code, Some(0), "{stderr}");
    // A script that is not there is not run (keepalived disables it at load time).
    let (code, stderr) = check(
        "missing-script.conf",
        "global_defs {\n script_user root\n startup_script /nonexistent/ha12-startup\n}\n",
        &[],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("/nonexistent/ha12-startup: cannot be accessed")
            && stderr.contains("will not run"),
        "{stderr}"
    );
    // Scripts without enable_script_security: keepalived's SECURITY VIOLATION, a warning.
    let (code, stderr) = check(
        "no-security.conf",
        "global_defs {\n script_user root\n startup_script /bin/true\n}\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("script_security not enabled")
            && stderr.contains("0 error(s), 1 warning(s)"),
        "{stderr}"
    );
    let (code, stderr) = check(
        "security.conf",
        "global_defs {\n script_user root\n enable_script_security\n startup_script /bin/true\n}\n",
        &[],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("0 error(s), 0 warning(s)"), "{stderr}");
}

/// The class-3 keywords and address options of the compatibility table (`ha check` refuses
/// each).
fn refused_count() -> usize {
    keepalived_conf::compat::TABLE
        .iter()
        .chain(keepalived_conf::compat::ADDRESS_OPTIONS)
        .filter(|e| e.class.number() == 3)
        .count()
}

#[test]
fn every_refused_keyword_is_an_error_of_ha_check_and_ha_run_does_not_start() {
    // compat/not-applied.conf holds each keyword ha refuses once (keepalived-conf's
    // tests/compat.rs keeps it so).
    let file = format!("{DATA}/compat/not-applied.conf");
    let out = ha(&["--no-host-checks", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let refusals = stderr
        .lines()
        .filter(|l| l.starts_with("error[not-applied]: "))
        .count();
    assert_eq!(refusals, refused_count(), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error")).count(),
        refusals,
        "{stderr}"
    );

    // `ha run` refuses before it touches the host: no root, no namespace needed.
    let run = Command::new(env!("CARGO_BIN_EXE_ha"))
        .args(["run", "--use-file", &file])
        .output()
        .expect("run ha");
    let log = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{log}");
    assert!(
        log.contains(&format!("has {} error(s); not starting", refused_count())),
        "{log}"
    );
    assert!(log.contains("error[not-applied]: `vrf`"), "{log}");
}

#[test]
fn harmless_keywords_ha_does_not_apply_are_warnings_naming_the_line() {
    let file = format!("{DATA}/compat/accepted.conf");
    let out = ha(&["--no-host-checks", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("warning[accepted-not-applied]: `vrrp_no_swap` is accepted, not applied"),
        "{stderr}"
    );
    assert!(stderr.contains("accepted.conf:"), "{stderr}");
    assert!(stderr.contains("0 error(s)"), "{stderr}");
}
