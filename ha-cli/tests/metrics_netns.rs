//! `ha run --metrics-listen`: a real scrape (curl, inside the director's namespace) checked by
//! Prometheus's own `promtool check metrics`, and keepalived-exporter's families following a
//! failover (privileged).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::ha::Director;
use common::netns::{require_root, veth_pair_named, Netns};
use testkit::wait_until;

const VIP: &str = "192.168.2.200";

fn config(priority: u8) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n}}\n\
         vrrp_script chk {{\n  script \"/bin/true\"\n  interval 1\n}}\n\
         vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n  track_script {{\n    chk\n  }}\n}}\n"
    )
}

fn start(ns: &Netns, name: &str, priority: u8, port: u16) -> Director {
    let path = std::env::temp_dir().join(format!("ha-{}-{name}", ns.name));
    std::fs::write(&path, config(priority)).unwrap();
    let listen = format!("127.0.0.1:{port}");
    let mut d = Director::start_path_with(ns, &path, &["--metrics-listen", &listen], &[]);
    d.written_config = Some(path);
    d
}

fn scrape(ns: &Netns, port: u16) -> String {
    ns.output(&[
        "curl",
        "-sf",
        "--max-time",
        "5",
        &format!("http://127.0.0.1:{port}/metrics"),
    ])
}

fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
}

#[test]
fn metrics_are_scraped_checked_by_promtool_and_follow_a_failover() {
    if !require_root("metrics_are_scraped_checked_by_promtool_and_follow_a_failover") {
        return;
    }
    let (ns1, ns2) = veth_pair_named(
        "mx",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let mut lvs1 = start(&ns1, "mx1.conf", 150, 19650);
    let lvs2 = start(&ns2, "mx2.conf", 100, 19650);
    let state =
        r#"keepalived_vrrp_state{iname="VI_1",intf="ens32",vrid="51",ip_address="192.168.2.200"}"#;
    wait_until("lvs1 reports MASTER", Duration::from_secs(10), || {
        value(&scrape(&ns1, 19650), state) == Some(2.0)
    });
    let text = scrape(&ns1, 19650);
    println!("{text}");
    assert_eq!(value(&text, "keepalived_up"), Some(1.0), "{text}");
    assert_eq!(
        value(&text, r#"keepalived_script_status{name="chk"}"#),
        Some(1.0),
        "{text}"
    );
    assert!(
        value(
            &text,
            r#"keepalived_advertisements_sent_total{iname="VI_1",intf="ens32",vrid="51"}"#
        )
        .is_some_and(|n| n > 0.0),
        "{text}"
    );
    // Prometheus's own checker, on the bytes as served.
    if Command::new("promtool").arg("--version").output().is_err() {
        testkit::skip(
            "metrics_are_scraped_checked_by_promtool_and_follow_a_failover (promtool)",
            "promtool missing (Debian package prometheus)",
        );
    } else {
        let mut check = Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        check
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = check.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool check metrics: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A scraper that asks for OpenMetrics (Prometheus does) gets it.
    let open = ns1.output(&[
        "curl",
        "-sf",
        "--max-time",
        "5",
        "-H",
        "Accept: application/openmetrics-text; version=1.0.0",
        "http://127.0.0.1:19650/metrics",
    ]);
    assert!(open.ends_with("# EOF\n"), "{open}");
    assert!(
        open.contains("# TYPE keepalived_advertisements_sent counter"),
        "{open}"
    );
    // A failover shows in both directors' metrics.
    lvs1.signal(nix::sys::signal::Signal::SIGTERM);
    wait_until("lvs2 reports MASTER", Duration::from_secs(5), || {
        value(&scrape(&ns2, 19650), state) == Some(2.0)
    });
    let text = scrape(&ns2, 19650);
    assert_eq!(
        value(
            &text,
            r#"keepalived_become_master_total{iname="VI_1",intf="ens32",vrid="51"}"#
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            r#"keepalived_priority_zero_received_total{iname="VI_1",intf="ens32",vrid="51"}"#
        ),
        Some(1.0),
        "{text}"
    );
    drop(lvs2);
}
