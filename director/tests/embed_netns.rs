//! `examples/embed.rs`, a director configured in code, against a VRRP peer in another
//! namespace (privileged): it takes the VIP by priority, prints its typed events, and on
//! shutdown hands the VIP over at once (priority-0 advert) and removes it.

mod common;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{require_root, veth_pair, Netns};
use director::vrrp::VrrpRunner;
use vrrp_core::wire::Version;
use vrrp_core::State;

const VIP: &str = "10.199.7.200";

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "eth0", &format!("{VIP}/24"))
}

/// The example's binary, built now (a test target alone does not rebuild examples).
fn embed_binary() -> PathBuf {
    // Without the variables cargo sets for this test (they would make it rebuild).
    let mut build = Command::new(env!("CARGO"));
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && key != "CARGO_HOME" && key != "CARGO_TARGET_DIR" {
            build.env_remove(&*key);
        }
    }
    let status = build
        .args(["build", "-p", "director", "--example", "embed"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build -p director --example embed");
    let target = std::env::current_exe().unwrap();
    target
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples/embed")
}

fn state(r: &VrrpRunner) -> State {
    r.status()[0].state
}

#[test]
fn embedded_director_takes_the_vip_and_hands_it_over_on_shutdown() {
    if !require_root("embedded_director_takes_the_vip_and_hands_it_over_on_shutdown") {
        return;
    }
    let embed = embed_binary();
    let (na, nb) = veth_pair(
        "em",
        ("10.199.7.1/24", "fe80::a/64"),
        ("10.199.7.2/24", "fe80::b/64"),
    );
    // The peer: the same instance at priority 100, master first.
    let peer = common::runner::spawn_in(
        &nb,
        common::runner::vi_1(Version::V3, 100, "10.199.7.2", VIP),
    );
    testkit::wait_until("the peer is master", Duration::from_secs(5), || {
        state(&peer) == State::Master && has_vip(&nb)
    });

    // The embedded director at priority 200 for 4 s: it preempts.
    let child = Command::new("ip")
        .args(["netns", "exec", &na.name])
        .arg(&embed)
        .args(["eth0", &format!("{VIP}/24"), "200", "4"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    testkit::wait_until(
        "the embedded director holds the VIP",
        Duration::from_secs(5),
        || has_vip(&na),
    );
    testkit::wait_until("the peer gave it up", Duration::from_secs(2), || {
        state(&peer) == State::Backup && !has_vip(&nb)
    });
    let output = child.wait_with_output().unwrap();
    let stopped = Instant::now();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{stdout}");
    // Its typed events and status, as the example prints them.
    assert!(
        stdout.contains("event: (VI_1) Entering BACKUP STATE"),
        "{stdout}"
    );
    assert!(
        stdout.contains("event: (VI_1) Entering MASTER STATE"),
        "{stdout}"
    );
    assert!(
        stdout.contains("status: VI_1 MASTER priority 200 VIPs [10.199.7.200]"),
        "{stdout}"
    );
    assert!(stdout.ends_with("shut down\n"), "{stdout}");
    // Shut down: the VIP is gone from its namespace, and the peer took over at once (it
    // would otherwise wait out its master-down interval, 3 x 100 ms + skew).
    assert!(!has_vip(&na), "the embedded director left its VIP behind");
    testkit::wait_until(
        "the peer takes the VIP back",
        Duration::from_secs(2),
        || state(&peer) == State::Master && has_vip(&nb),
    );
    let t = peer.status()[0].last_transition.unwrap();
    assert_eq!(
        t.reason,
        vrrp_core::TransitionReason::MasterStopped,
        "handed over by the priority-0 advert, {:?} after the example exited",
        stopped.elapsed()
    );
}
