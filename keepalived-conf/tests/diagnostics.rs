//! Snapshot tests of the rendered diagnostics: each `tests/data/config/diagnostics/X.conf`
//! must render exactly as `X.snap`. `UPDATE_SNAPSHOTS=1 cargo test` rewrites the snapshots
//! (review the diff before committing).

use std::path::Path;

use keepalived_conf::diag::render;
use keepalived_conf::{load_file, parse_str, Options, SourceMap};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/config/diagnostics");

fn rendered(name: &str) -> String {
    let path = Path::new(DIR).join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut sources = SourceMap::default();
    // A stable file name in the output; no host checks (the result must not depend on
    // the machine running the test).
    let loaded = parse_str(
        &format!("diagnostics/{name}"),
        &text,
        &Options::default(),
        &mut sources,
    );
    let mut out = render(&loaded.diagnostics, &sources, false);
    out.push_str(&format!(
        "{} error(s), {} warning(s)\n",
        loaded.error_count(),
        loaded.warning_count()
    ));
    out
}

#[test]
fn diagnostics_match_snapshots() {
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok();
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".conf"))
        .collect();
    names.sort();
    assert!(names.len() >= 15);
    let mut failed = Vec::new();
    for name in &names {
        let got = rendered(name);
        assert!(
            !got.starts_with("0 error(s), 0 warning(s)"),
            "{name} produced no diagnostic"
        );
        let snap = Path::new(DIR).join(name.replace(".conf", ".snap"));
        if update {
            std::fs::write(&snap, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&snap).unwrap_or_default();
        if got != want {
            eprintln!("--- {name}: expected\n{want}\n--- got\n{got}");
            failed.push(name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "snapshots differ: {failed:?} (UPDATE_SNAPSHOTS=1 to accept)"
    );
}

#[test]
fn typo_suggests_the_keyword() {
    let got = rendered("typo-keyword.conf");
    assert!(
        got.contains(
            "warning[unknown-keyword]: unknown keyword `virtual_routr_id` in `vrrp_instance`"
        ),
        "{got}"
    );
    assert!(
        got.contains("= help: did you mean `virtual_router_id`?"),
        "{got}"
    );
    assert!(got.contains("diagnostics/typo-keyword.conf:3:5"), "{got}");
}

#[test]
fn range_errors_say_the_range() {
    let got = rendered("priority-range.conf");
    assert!(
        got.contains("error[invalid-value]: invalid `priority` value `256`"),
        "{got}"
    );
    assert!(
        got.contains("`priority` must be a whole number in 1-255"),
        "{got}"
    );
}

#[test]
fn host_checks_are_warnings_unless_asked() {
    let text = "vrrp_instance V {\n interface no-such-if0\n virtual_router_id 1\n unicast_src_ip 127.0.0.1\n \
                unicast_peer {\n 127.0.0.2\n }\n virtual_ipaddress {\n 127.0.0.10\n }\n}\n\
                vrrp_instance W {\n interface lo\n virtual_router_id 2\n unicast_src_ip 192.0.2.77\n priority 255\n \
                unicast_peer {\n 192.0.2.78\n }\n virtual_ipaddress {\n 192.0.2.79\n }\n}\n";
    let mut opts = Options {
        check_host: true,
        ..Options::default()
    };
    let mut sources = SourceMap::default();
    let l = parse_str("h.conf", text, &opts, &mut sources);
    let got: Vec<(&str, bool)> = l
        .diagnostics
        .iter()
        .map(|d| (d.code, d.is_error()))
        .collect();
    assert_eq!(
        got,
        [
            ("no-such-interface", false),
            // `lo` exists, so no host warning, but keepalived refuses VRRP on it.
            ("loopback-interface", true),
            ("no-such-address", false),
            ("priority-owner", false)
        ],
        "{}",
        render(&l.diagnostics, &sources, false)
    );
    opts.host_checks = true;
    let l = parse_str("h.conf", text, &opts, &mut sources);
    assert!(l.diagnostics.iter().all(|d| d.is_error()));
    assert_eq!(l.error_count(), 4);
}

#[test]
fn file_errors_name_the_file() {
    let mut sources = SourceMap::default();
    let l = load_file(
        Path::new("/nonexistent/keepalived.conf"),
        &Options::default(),
        &mut sources,
    );
    assert!(l.has_errors());
    let out = render(&l.diagnostics, &sources, false);
    assert!(
        out.contains("error[file-unreadable]: configuration file cannot be read"),
        "{out}"
    );
}
