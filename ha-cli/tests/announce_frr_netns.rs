//! Scale-out with FRR (privileged; Debian's `frr`): a router namespace and a director
//! namespace, each running FRR's zebra, bfdd and bgpd configured from
//! `examples/scale-out/frr-router.conf` and `examples/scale-out/frr.conf` unchanged, and `ha
//! run` in the director with `ha_announce`. The router learns the service address by BGP
//! while the virtual server has quorum and loses it when quorum is lost, on `ha drain
//! --director` and at SIGTERM; BFD takes a director that stops answering out of the
//! router's table in well under a second. The times are printed.
//!
//! The host kernel has no dummy module, so the test gives the director a veth named
//! `ha-announce` beforehand: ha keeps an existing link of that name (it creates a dummy one
//! only when it is missing, which the VM test `lvs_vm` shows).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::frr::{example, Frr, TempDir, FRR};
use common::ha::{start_with, Director};
use common::netns::{require_root, veth_pair_named, Netns};
use testkit::wait_until;

const SERVICE: &str = "192.0.2.10";

/// A TCP listener on 127.0.0.1:`port` in `ns` while the flag is set.
fn listen_in(ns: &Netns, port: u16) -> Arc<AtomicBool> {
    let running = Arc::new(AtomicBool::new(true));
    let flag = Arc::clone(&running);
    let name = ns.name.clone();
    let (ready, bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        common::netns::enter_named(&name);
        let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        ready.send(()).unwrap();
        while flag.load(Ordering::Relaxed) {
            let _ = listener.accept();
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    bound.recv().unwrap();
    running
}

fn ha(director: &Director, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ha"))
        .args(args)
        .arg("--socket")
        .arg(&director.socket)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "ha {args:?}: {text}");
    text
}

#[test]
fn frr_announces_what_ha_holds_and_withdraws_on_quorum_loss_drain_stop_and_silence() {
    use nix::sys::signal::Signal;
    let test = "frr_announces_what_ha_holds_and_withdraws_on_quorum_loss_drain_stop_and_silence";
    if !require_root(test) {
        return;
    }
    if !Path::new(FRR).join("bgpd").exists() {
        testkit::skip(test, "needs FRR (apt-get install frr)");
        return;
    }
    // The addresses of the example files: router 10.0.1.1 (AS 65000), director 10.0.1.11.
    let (router, node) = veth_pair_named(
        "fr",
        "eth0",
        ("10.0.1.1/24", "fe80::1/64"),
        ("10.0.1.11/24", "fe80::11/64"),
    );
    node.exec(&[
        "ip",
        "link",
        "add",
        "ha-announce",
        "type",
        "veth",
        "peer",
        "name",
        "ha-announce-p",
    ]);
    node.exec(&["ip", "link", "set", "ha-announce-p", "up"]);
    node.exec(&["ip", "link", "set", "ha-announce", "up"]);
    let dir = TempDir(std::env::temp_dir().join(format!("ha-frr-{}", std::process::id())));
    let router_frr = Frr::start(&router, dir.0.join("router"), &example("frr-router.conf"));
    let node_frr = Frr::start(&node, dir.0.join("director"), &example("frr.conf"));
    let learned = || {
        router
            .output(&["ip", "route", "show", SERVICE])
            .contains("via 10.0.1.11 dev eth0 proto bgp")
    };

    // ha_announce_notify: each change, as the script sees it.
    let notified = dir.0.join("notified");
    let script = dir.0.join("notify.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", notified.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let notified = || -> Vec<String> {
        std::fs::read_to_string(&notified)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };

    // lvs_notify_fifo: the ANNOUNCE lines among the checkers' lines, read by the
    // lvs_notify_fifo_script as keepalived starts it (the FIFO's path as its argument).
    let fifo_lines = dir.0.join("fifo-lines");
    let reader = dir.0.join("fifo-reader.sh");
    std::fs::write(
        &reader,
        format!(
            "#!/bin/sh\nwhile read -r line; do echo \"$line\" >> {}; done < \"$1\"\n",
            fifo_lines.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&reader, std::fs::Permissions::from_mode(0o755)).unwrap();
    let announce_lines = || -> Vec<String> {
        std::fs::read_to_string(&fifo_lines)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("ANNOUNCE "))
            .map(str::to_string)
            .collect()
    };

    let web = listen_in(&node, 8080);
    let mut director = start_with(
        &node,
        "announce-frr.conf",
        &format!(
            "global_defs {{\n lvs_notify_fifo {}\n lvs_notify_fifo_script {}\n}}\n\
             virtual_server {SERVICE} 80 {{\n delay_loop 1\n lb_kind NAT\n ha_announce\n\
              ha_announce_notify {}\n\
              real_server 127.0.0.1 8080 {{\n  TCP_CHECK {{\n   connect_timeout 1\n   retry 0\n  }}\n }}\n}}\n",
            dir.0.join("lvs.fifo").display(),
            reader.display(),
            script.display()
        ),
    );
    let session = wait_until(
        "the router to learn the service",
        Duration::from_secs(40),
        learned,
    );
    println!("BGP session up and the service learned {session:?} after ha started");
    wait_until("BFD up", Duration::from_secs(10), || {
        router_frr
            .vtysh(&["-c", "show bfd peers brief"])
            .lines()
            .any(|l| l.contains("10.0.1.11") && l.trim_end().ends_with("up"))
    });

    // Quorum lost: ha takes the address off, FRR withdraws it.
    web.store(false, Ordering::Relaxed);
    let stopped = Instant::now();
    let mut quorum_lost = None;
    let mut off_interface = None;
    let vs = |d: &Director| d.status()["virtual_servers"][0].clone();
    wait_until(
        "the router to lose the service",
        Duration::from_secs(10),
        || {
            if quorum_lost.is_none() && vs(&director)["quorum_up"] == false {
                quorum_lost = Some(Instant::now());
            }
            if off_interface.is_none()
                && !testkit::has_address(&node, "ha-announce", "192.0.2.10/32")
            {
                off_interface = Some(Instant::now());
            }
            !learned()
        },
    );
    let gone = Instant::now();
    let quorum_lost = quorum_lost.unwrap_or(gone);
    let off_interface = off_interface.unwrap_or(gone);
    println!(
        "real server stopped -> router route gone: {:?} (delay_loop 1 s, connect_timeout 1 s)\n\
         quorum loss seen in ha status -> address off ha-announce: {:?}\n\
         address off ha-announce -> router route gone: {:?}\n\
         quorum loss seen in ha status -> router route gone: {:?}",
        gone - stopped,
        off_interface.saturating_duration_since(quorum_lost),
        gone.saturating_duration_since(off_interface),
        gone.saturating_duration_since(quorum_lost),
    );
    assert_eq!(vs(&director)["announced"], false);

    let _web = listen_in(&node, 8080);
    wait_until(
        "the service learned again",
        Duration::from_secs(10),
        learned,
    );

    ha(&director, &["drain", "--director"]);
    wait_until(
        "withdrawn after ha drain --director",
        Duration::from_secs(5),
        || !learned(),
    );
    ha(&director, &["enable", "--director"]);
    wait_until(
        "learned after ha enable --director",
        Duration::from_secs(5),
        learned,
    );

    director.signal(Signal::SIGTERM);
    wait_until("withdrawn after SIGTERM", Duration::from_secs(5), || {
        !learned()
    });
    assert!(!testkit::has_address(&node, "ha-announce", "192.0.2.10/32"));
    let vs = format!("{SERVICE}:80");
    let want: Vec<String> = [
        "ANNOUNCED configured",
        "WITHDRAWN quorum DOWN",
        "ANNOUNCED quorum UP",
        "WITHDRAWN director drained",
        "ANNOUNCED director enabled",
        "WITHDRAWN stopping",
    ]
    .iter()
    .map(|l| {
        let (word, reason) = l.split_once(' ').unwrap();
        format!("{word} {vs} {reason}")
    })
    .collect();
    wait_until(
        "every ha_announce_notify line",
        Duration::from_secs(5),
        || notified() == want,
    );
    // The FIFO reader is stopped with the director: everything before the stop is there.
    let fifo_want: Vec<String> = [
        "ANNOUNCED",
        "WITHDRAWN",
        "ANNOUNCED",
        "WITHDRAWN",
        "ANNOUNCED",
    ]
    .iter()
    .map(|word| format!("ANNOUNCE [{SERVICE}]:tcp:80 {word}"))
    .collect();
    let fifo_have = announce_lines();
    assert!(
        fifo_have.starts_with(&fifo_want),
        "lvs_notify_fifo ANNOUNCE lines: {fifo_have:?}, want {fifo_want:?} (and perhaps the stop's WITHDRAWN)"
    );

    // A director that goes silent (the host dies): BFD 100 ms x 3 takes it out of the
    // router's table, not the 9 s hold time. The address is put back by hand (ha has
    // stopped) and the director's packets dropped.
    node.exec(&["ip", "addr", "add", "192.0.2.10/32", "dev", "ha-announce"]);
    wait_until("learned again", Duration::from_secs(10), learned);
    wait_until("BFD up again", Duration::from_secs(10), || {
        router_frr
            .vtysh(&["-c", "show bfd peers brief"])
            .lines()
            .any(|l| l.contains("10.0.1.11") && l.trim_end().ends_with("up"))
    });
    node.exec(&["nft", "add table inet silence"]);
    node.exec(&[
        "nft",
        "add chain inet silence out { type filter hook output priority 0; policy drop; }",
    ]);
    let silenced = Instant::now();
    wait_until(
        "BFD to withdraw the silent director",
        Duration::from_secs(5),
        || !learned(),
    );
    println!(
        "director silent -> router route gone (BFD 100 ms x 3): {:?}",
        silenced.elapsed()
    );

    // The same without BFD: the BGP hold time (timers 3 9) decides.
    node.exec(&["nft", "delete table inet silence"]);
    for (frr, asn, neighbor) in [
        (&router_frr, "65000", "DIRECTORS"),
        (&node_frr, "65001", "10.0.1.1"),
    ] {
        let out = frr.vtysh(&[
            "-c",
            "configure terminal",
            "-c",
            &format!("router bgp {asn}"),
            "-c",
            &format!("no neighbor {neighbor} bfd"),
        ]);
        assert!(!out.contains('%'), "{out}");
    }
    wait_until(
        "learned again without BFD",
        Duration::from_secs(40),
        learned,
    );
    node.exec(&["nft", "add table inet silence"]);
    node.exec(&[
        "nft",
        "add chain inet silence out { type filter hook output priority 0; policy drop; }",
    ]);
    let silenced = Instant::now();
    wait_until(
        "the hold time to withdraw the silent director",
        Duration::from_secs(15),
        || !learned(),
    );
    println!(
        "director silent -> router route gone (no BFD, hold time 9 s): {:?}",
        silenced.elapsed()
    );
    drop(node_frr);
    drop(router_frr);
}
