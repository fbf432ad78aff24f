//! Two `ha run` directors from the seed's lvs1.conf and lvs2.conf, unchanged (privileged): the
//! namespaces get the interface `ens32` and the 192.168.2.0/24 addresses the files expect.
//! Election, crash (kill -9) failover, preemption on restart, graceful (SIGTERM) failover.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::adverts;
use common::ha::{start_with, Director};
use common::netns::{require_root, veth_pair_named, Netns};

const VIP: &str = "192.168.2.200";

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "ens32", &format!("{VIP}/32"))
}

use testkit::wait_until;

#[test]
fn seed_configs_elect_fail_over_on_crash_and_stop_and_preempt() {
    use nix::sys::signal::Signal;
    if !require_root("seed_configs_elect_fail_over_on_crash_and_stop_and_preempt") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hr",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let mut lvs1 = Director::start(&lvs1_ns, "lvs1.conf");
    let lvs2 = Director::start(&lvs2_ns, "lvs2.conf");
    // VRRPv2 at 1 s: lvs1 (100) is master after 3 s + skew.
    wait_until("lvs1 holds the VIP", Duration::from_secs(8), || {
        has_vip(&lvs1_ns)
    });
    assert!(!has_vip(&lvs2_ns));
    assert!(
        lvs1.log().contains("(VI_1) Entering MASTER STATE"),
        "{}",
        lvs1.log()
    );

    // Crash: lvs2 takes over after its master-down interval (3 s + 0.65 s skew).
    lvs1.signal(Signal::SIGKILL);
    let took = wait_until("lvs2 takes the VIP", Duration::from_secs(8), || {
        has_vip(&lvs2_ns)
    });
    assert!(
        took >= Duration::from_secs(2),
        "crash takeover too early: {took:?}"
    );

    // lvs1 restarts: it removes the VIP the crash left, then preempts.
    let mut lvs1 = Director::start(&lvs1_ns, "lvs1.conf");
    wait_until(
        "lvs1 back as master, lvs2 gave the VIP up",
        Duration::from_secs(10),
        || has_vip(&lvs1_ns) && !has_vip(&lvs2_ns),
    );

    // Graceful stop: priority 0, the VIP leaves lvs1 and lvs2 takes over in skew time.
    lvs1.signal(Signal::SIGTERM);
    assert!(!has_vip(&lvs1_ns), "SIGTERM removes the VIP");
    let took = wait_until("lvs2 takes over", Duration::from_secs(3), || {
        has_vip(&lvs2_ns)
    });
    assert!(
        took < Duration::from_secs(2),
        "graceful takeover took {took:?}"
    );
    // The log is written by a non-blocking writer thread: the line may follow the VIP.
    wait_until("lvs2 logs the priority 0", Duration::from_secs(2), || {
        lvs2.log().contains("master sent priority 0")
    });
    drop(lvs2);
}

#[test]
fn spoofed_and_malformed_adverts_are_counted_in_ha_status_and_change_nothing() {
    if !require_root("spoofed_and_malformed_adverts_are_counted_in_ha_status_and_change_nothing") {
        return;
    }
    let (lvs1_ns, attacker) = veth_pair_named(
        "hb",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.66/24", "fe80::66/64"),
    );
    let lvs1 = Director::start(&lvs1_ns, "lvs1.conf");
    wait_until("lvs1 master", Duration::from_secs(8), || has_vip(&lvs1_ns));
    let src: std::net::Ipv4Addr = "192.168.2.66".parse().unwrap();
    let advert =
        |password: &[u8; 4]| adverts::advert(src, VIP.parse().unwrap(), 254, Some(password));
    let mut bad_checksum = advert(b"1111");
    bad_checksum[6] ^= 0xff;
    adverts::send(
        &attacker,
        "ens32",
        &[
            adverts::frame(src, 64, 1, &advert(b"1111")), // wrong TTL: a routed, spoofed advert
            adverts::frame(src, 255, 2, &bad_checksum),   // damaged
            adverts::frame(src, 255, 3, &advert(b"2222")), // wrong password
            adverts::frame(src, 255, 4, &advert(b"1111")[..10]), // truncated
        ],
    );
    let counters =
        |st: &serde_json::Value, k: &str| st["instances"][0]["statistics"][k].as_u64().unwrap();
    wait_until(
        "the four packets are counted",
        Duration::from_secs(3),
        || {
            let st = lvs1.status();
            counters(&st, "ip_ttl_errors") == 1
                && counters(&st, "checksum_errors") == 1
                && counters(&st, "auth_failures") == 1
                && counters(&st, "packet_length_errors") == 1
        },
    );
    let st = lvs1.status();
    assert_eq!(st["instances"][0]["state"], "MASTER", "{st}");
    assert_eq!(st["instances"][0]["master_address"], "192.168.2.10");
    assert!(has_vip(&lvs1_ns));
    let table = lvs1.status_table();
    assert!(table.contains("MASTER"), "{table}");
    let log = lvs1.log();
    assert!(log.contains("received an invalid passwd!"), "{log}");
    assert!(
        log.contains("invalid TTL/HL. Received 64 and expect 255"),
        "{log}"
    );
}

#[test]
fn track_script_weight_moves_mastership_and_notify_gets_keepalived_arguments() {
    if !require_root("track_script_weight_moves_mastership_and_notify_gets_keepalived_arguments") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "ht",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let dir = std::env::temp_dir().join(format!("ha-track-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let flag = dir.join("healthy");
    std::fs::write(&flag, "").unwrap();
    let record = dir.join("record.sh");
    std::fs::write(
        &record,
        "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/notify-$4.log\"\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&record, std::fs::Permissions::from_mode(0o755)).unwrap();
    let conf = |priority: u8, track: bool| {
        format!(
            "global_defs {{ vrrp_version 3 }}\n\
             vrrp_script chk {{\n  script \"/usr/bin/test -f {flag}\"\n  interval 1\n  weight -20\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface ens32\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n  {track}\n  \
             notify {record}\n}}\n",
            flag = flag.display(),
            record = record.display(),
            track = if track { "track_script {\n    chk\n  }" } else { "" },
        )
    };
    let lvs1 = start_with(&lvs1_ns, "lvs1.conf", &conf(100, true));
    let lvs2 = start_with(&lvs2_ns, "lvs2.conf", &conf(90, false));
    wait_until("lvs1 master", Duration::from_secs(5), || has_vip(&lvs1_ns));

    // The tracked check fails: 100 - 20 = 80 < 90, lvs2 preempts.
    std::fs::remove_file(&flag).unwrap();
    wait_until(
        "lvs2 preempts the weakened lvs1",
        Duration::from_secs(5),
        || has_vip(&lvs2_ns) && !has_vip(&lvs1_ns),
    );
    let st = lvs1.status();
    assert_eq!(st["instances"][0]["effective_priority"], 80, "{st}");
    assert_eq!(st["instances"][0]["state"], "BACKUP");

    // It recovers: back to 100, lvs1 preempts.
    std::fs::write(&flag, "").unwrap();
    wait_until("lvs1 master again", Duration::from_secs(5), || {
        has_vip(&lvs1_ns) && !has_vip(&lvs2_ns)
    });
    // notify got keepalived's arguments: INSTANCE name STATE priority.
    let notes = |prio: &str| {
        std::fs::read_to_string(dir.join(format!("notify-{prio}.log"))).unwrap_or_default()
    };
    wait_until("notify calls", Duration::from_secs(3), || {
        notes("100").contains("INSTANCE VI_1 MASTER 100")
            && notes("80").contains("INSTANCE VI_1 BACKUP 80")
            && notes("90").contains("INSTANCE VI_1 MASTER 90")
    });
    drop(lvs1);
    drop(lvs2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn reload_touches_only_what_changed_and_a_bad_file_changes_nothing() {
    if !require_root("reload_touches_only_what_changed_and_a_bad_file_changes_nothing") {
        return;
    }
    let (lvs1_ns, _peer) = veth_pair_named(
        "hl",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let instance = |name: &str, vrid: u8, priority: u8, vip: &str| {
        format!(
            "vrrp_instance {name} {{\n  interface ens32\n  virtual_router_id {vrid}\n  priority {priority}\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    {vip}\n  }}\n}}\n"
        )
    };
    // reload_check_config: a file with errors is not loaded (ha always checks it first).
    let head = "global_defs {\n  vrrp_version 3\n  reload_check_config\n}\n";
    let path = std::env::temp_dir().join(format!("ha-reload-{}.conf", std::process::id()));
    std::fs::write(&path, format!("{head}{}", instance("VI_1", 51, 100, VIP))).unwrap();
    let lvs1 = Director::start_path(&lvs1_ns, &path);
    wait_until("VI_1 master", Duration::from_secs(5), || has_vip(&lvs1_ns));
    let transitions = |st: &serde_json::Value, i: usize| {
        st["instances"][i]["statistics"]["master_transitions"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(transitions(&lvs1.status(), 0), 1);

    // Watch the VIP during the reloads: an unchanged instance must keep it throughout.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Stops the watcher however the reloads end (a failed assertion must not hang the scope).
    struct StopOnDrop<'a>(&'a std::sync::atomic::AtomicBool);
    impl Drop for StopOnDrop<'_> {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    let gaps = std::thread::scope(|s| {
        let _stop_watcher = StopOnDrop(&stop);
        let watcher = s.spawn(|| {
            let mut gaps = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if !has_vip(&lvs1_ns) {
                    gaps += 1;
                }
            }
            gaps
        });
        // Add VI_2, keep VI_1 identical.
        std::fs::write(
            &path,
            format!(
                "{head}{}{}",
                instance("VI_1", 51, 100, VIP),
                instance("VI_2", 52, 100, "192.168.2.201")
            ),
        )
        .unwrap();
        let (ok, message) = lvs1.reload();
        assert!(ok, "{message}");
        assert!(
            message.contains("unchanged VI_1") && message.contains("added VI_2"),
            "{message}"
        );
        // A broken file: refused, nothing changes.
        std::fs::write(
            &path,
            format!("{head}{}", instance("VI_1", 51, 255, VIP))
                .replace("priority 255", "priority 300"),
        )
        .unwrap();
        let (ok, message) = lvs1.reload();
        assert!(!ok, "a bad file must be refused: {message}");
        assert!(message.contains("configuration unchanged"), "{message}");
        // A priority change only: applied in place.
        std::fs::write(
            &path,
            format!(
                "{head}{}{}",
                instance("VI_1", 51, 120, VIP),
                instance("VI_2", 52, 100, "192.168.2.201")
            ),
        )
        .unwrap();
        let (ok, message) = lvs1.reload();
        assert!(ok && message.contains("priority changed VI_1"), "{message}");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        watcher.join().unwrap()
    });
    assert_eq!(
        gaps, 0,
        "the VIP of the unchanged instance disappeared during a reload"
    );
    let st = lvs1.status();
    assert_eq!(st["instances"].as_array().unwrap().len(), 2, "{st}");
    assert_eq!(st["instances"][0]["name"], "VI_1");
    assert_eq!(st["instances"][0]["state"], "MASTER");
    assert_eq!(st["instances"][0]["effective_priority"], 120);
    assert_eq!(transitions(&st, 0), 1, "VI_1 never left MASTER");
    wait_until("VI_2 master", Duration::from_secs(3), || {
        lvs1.status()["instances"][1]["state"] == "MASTER"
    });
    drop(lvs1);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn use_vmac_sends_from_the_virtual_router_mac_and_cleans_up() {
    if !require_root("use_vmac_sends_from_the_virtual_router_mac_and_cleans_up") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hv",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    // The peer believes the VIP is at an old MAC; the VMAC master's GARP must correct it.
    lvs2_ns.exec(&[
        "ip",
        "neigh",
        "add",
        VIP,
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "ens32",
        "nud",
        "stale",
    ]);
    let conf = |priority: u8, vmac: bool| {
        format!(
            "vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
             advert_int 1\n  {}\n  authentication {{\n    auth_type PASS\n    auth_pass 1111\n  }}\n  \
             virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n",
            if vmac { "use_vmac" } else { "" }
        )
    };
    let lvs1 = start_with(&lvs1_ns, "vmac1.conf", &conf(100, true));
    let lvs2 = start_with(&lvs2_ns, "vmac2.conf", &conf(90, false));
    let link = || lvs1_ns.output(&["ip", "-d", "addr", "show", "vrrp.51"]);
    wait_until("the VIP on the VMAC", Duration::from_secs(8), || {
        link().contains(&format!("inet {VIP}/32"))
    });
    let shown = link();
    assert!(
        shown.contains("link/ether 00:00:5e:00:01:33") && shown.contains("macvlan"),
        "{shown}"
    );
    // lvs2 follows lvs1 (adverts from the VMAC reach it) ...
    wait_until("lvs2 follows lvs1", Duration::from_secs(3), || {
        lvs2.status()["instances"][0]["master_address"] == "192.168.2.10"
    });
    // ... and learned the VIP at the virtual router MAC.
    wait_until("neighbour at the VMAC", Duration::from_secs(3), || {
        lvs2_ns
            .output(&["ip", "neigh", "show", VIP])
            .contains("00:00:5e:00:01:33")
    });
    // A graceful stop removes the VMAC.
    let mut lvs1 = lvs1;
    lvs1.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        !link().contains("vrrp.51"),
        "VMAC left behind: {}\n{}",
        link(),
        lvs1.log()
    );
    drop(lvs2);
}

#[test]
fn partition_then_heal_leaves_one_master_and_the_vip_reachable() {
    if !require_root("partition_then_heal_leaves_one_master_and_the_vip_reachable") {
        return;
    }
    let (switch, hosts) = common::netns::bridge_lab(
        "hp",
        "ens32",
        &["192.168.2.10/24", "192.168.2.11/24", "192.168.2.100/24"],
    );
    let (lvs1_ns, lvs2_ns, client) = (&hosts[0], &hosts[1], &hosts[2]);
    // No delayed second burst (garp_master_delay 0): only the announcements on hearing a
    // lower-priority advert can bring the client back after the heal. Whichever side hears
    // the other first, higher_prio_send_advert makes the yielding side send one advert, so the
    // winner always hears a lower priority and announces the VIP (with keepalived's defaults
    // the client may stay on the loser's MAC until its ARP entry expires).
    let conf = |priority: u8| {
        format!(
            "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  interface ens32\n  \
             virtual_router_id 51\n  priority {priority}\n  advert_int 0.1\n  garp_master_delay 0\n  \
             higher_prio_send_advert\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
        )
    };
    let lvs1 = start_with(lvs1_ns, "p1.conf", &conf(100));
    let lvs2 = start_with(lvs2_ns, "p2.conf", &conf(90));
    wait_until("lvs1 master", Duration::from_secs(5), || {
        has_vip(lvs1_ns) && !has_vip(lvs2_ns)
    });
    // Each director answers TCP on port 7000 with its name; the client asks the VIP.
    for (ns, name) in [(lvs1_ns, "lvs1"), (lvs2_ns, "lvs2")] {
        let listener = std::thread::scope(|s| {
            s.spawn(|| {
                ns.enter();
                std::net::TcpListener::bind("0.0.0.0:7000").unwrap()
            })
            .join()
            .unwrap()
        });
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                use std::io::Write;
                let _ = conn.write_all(name.as_bytes());
            }
        });
    }
    let ask_vip = || -> Option<String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                client.enter();
                let addr = std::net::SocketAddr::new(VIP.parse().unwrap(), 7000);
                let mut conn =
                    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
                conn.set_read_timeout(Some(Duration::from_millis(500)))
                    .ok()?;
                let mut name = String::new();
                use std::io::Read;
                conn.read_to_string(&mut name).ok()?;
                Some(name)
            })
            .join()
            .unwrap()
        })
    };
    assert_eq!(
        ask_vip().as_deref(),
        Some("lvs1"),
        "the VIP answers from lvs1"
    );

    // Cut lvs1 off: the client and lvs2 stay together; lvs2 takes over and announces the VIP.
    switch.exec(&["ip", "link", "set", "p0", "nomaster"]);
    wait_until(
        "two masters during the partition",
        Duration::from_secs(5),
        || has_vip(lvs1_ns) && has_vip(lvs2_ns),
    );
    wait_until(
        "the client reaches the VIP on lvs2",
        Duration::from_secs(5),
        || ask_vip().as_deref() == Some("lvs2"),
    );

    // Heal: exactly one master (lvs1, the higher priority), and its gratuitous ARPs on hearing
    // lvs2's lower-priority adverts move the client back to it.
    switch.exec(&["ip", "link", "set", "p0", "master", "br0"]);
    wait_until("one master after the heal", Duration::from_secs(5), || {
        has_vip(lvs1_ns) && !has_vip(lvs2_ns)
    });
    assert_eq!(lvs1.status()["instances"][0]["state"], "MASTER");
    assert_eq!(lvs2.status()["instances"][0]["state"], "BACKUP");
    wait_until(
        "the client reaches the VIP on lvs1 again",
        Duration::from_secs(5),
        || ask_vip().as_deref() == Some("lvs1"),
    );
}

#[test]
fn nopreempt_restarted_higher_priority_director_stays_backup_and_vrrp_runs_realtime() {
    if !require_root(
        "nopreempt_restarted_higher_priority_director_stays_backup_and_vrrp_runs_realtime",
    ) {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hn",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    // nopreempt needs state BACKUP on both nodes (the seed README's advice for production).
    let conf = |priority: u8| {
        format!(
            "global_defs {{\n  vrrp_version 3\n  vrrp_rt_priority 10\n  vrrp_priority -4\n}}\nvrrp_instance VI_1 {{\n  state BACKUP\n  nopreempt\n  \
             interface ens32\n  virtual_router_id 51\n  priority {priority}\n  advert_int 0.1\n  \
             virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
        )
    };
    let mut lvs1 = start_with(&lvs1_ns, "n1.conf", &conf(100));
    wait_until("lvs1 master", Duration::from_secs(5), || has_vip(&lvs1_ns));
    // vrrp_rt_priority 10: the VRRP thread runs SCHED_RR at 10 (proc(5) stat fields 40, 41);
    // vrrp_priority -4: at nice -4 (field 19).
    let vrrp_thread_sched = |pid: u32| -> Option<(i64, i64, i64)> {
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .ok()?
            .flatten()
        {
            let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if comm.trim() == "vrrp" {
                let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
                let rest = &stat[stat.rfind(')')? + 2..];
                let fields: Vec<&str> = rest.split(' ').collect();
                return Some((
                    fields[40 - 3].parse().ok()?,
                    fields[41 - 3].parse().ok()?,
                    fields[19 - 3].parse().ok()?,
                ));
            }
        }
        None
    };
    assert_eq!(
        vrrp_thread_sched(lvs1.child.id()),
        Some((10, 2, -4)),
        "rt priority 10, SCHED_RR, nice -4"
    );
    let lvs2 = start_with(&lvs2_ns, "n2.conf", &conf(90));
    lvs1.signal(nix::sys::signal::Signal::SIGKILL);
    wait_until("lvs2 takes over", Duration::from_secs(5), || {
        has_vip(&lvs2_ns)
    });
    // lvs1 comes back with the higher priority: it removes its stale VIP and stays backup.
    let lvs1 = start_with(&lvs1_ns, "n1.conf", &conf(100));
    wait_until("lvs1 following lvs2", Duration::from_secs(5), || {
        lvs1.status()["instances"][0]["master_address"] == "192.168.2.11"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lvs1.status()["instances"][0]["state"], "BACKUP");
    assert_eq!(lvs2.status()["instances"][0]["state"], "MASTER");
    assert!(has_vip(&lvs2_ns) && !has_vip(&lvs1_ns));
}

#[test]
fn track_file_value_lowers_priority_and_a_weight_zero_file_faults() {
    if !require_root("track_file_value_lowers_priority_and_a_weight_zero_file_faults") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hf",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let dir = std::env::temp_dir().join(format!("ha-trackfile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (weight_file, fault_file) = (dir.join("weight"), dir.join("fault"));
    std::fs::write(&weight_file, "0\n").unwrap();
    std::fs::write(&fault_file, "0\n").unwrap();
    let conf = |priority: u8, track: bool| {
        format!(
            "global_defs {{\n  vrrp_version 3\n}}\n\
             track_file adjust {{\n  file \"{}\"\n  weight 1\n}}\n\
             track_file maintenance {{\n  file \"{}\"\n  weight 0\n}}\n\
             vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n  {}\n}}\n",
            weight_file.display(),
            fault_file.display(),
            if track { "track_file {\n    adjust\n    maintenance\n  }" } else { "" },
        )
    };
    let lvs1 = start_with(&lvs1_ns, "f1.conf", &conf(100, true));
    let lvs2 = start_with(&lvs2_ns, "f2.conf", &conf(90, false));
    wait_until("lvs1 master", Duration::from_secs(5), || has_vip(&lvs1_ns));
    // The file says -20: 100 - 20 = 80 < 90.
    std::fs::write(&weight_file, "-20\n").unwrap();
    wait_until("lvs2 preempts", Duration::from_secs(5), || {
        has_vip(&lvs2_ns) && !has_vip(&lvs1_ns)
    });
    assert_eq!(lvs1.status()["instances"][0]["effective_priority"], 80);
    std::fs::write(&weight_file, "0\n").unwrap();
    wait_until("lvs1 back", Duration::from_secs(5), || has_vip(&lvs1_ns));
    // A non-zero value in a weight-0 file: FAULT.
    std::fs::write(&fault_file, "1\n").unwrap();
    wait_until("lvs1 in fault", Duration::from_secs(5), || {
        lvs1.status()["instances"][0]["state"] == "FAULT"
    });
    wait_until("lvs2 master", Duration::from_secs(5), || has_vip(&lvs2_ns));
    drop(lvs1);
    drop(lvs2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn virtual_routes_follow_mastership() {
    if !require_root("virtual_routes_follow_mastership") {
        return;
    }
    let (lvs1_ns, _peer) = veth_pair_named(
        "hw",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  interface ens32\n  \
         virtual_router_id 51\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n  \
         virtual_routes {{\n    10.250.0.0/16 via 192.168.2.1 dev ens32 metric 7\n    blackhole 10.251.0.0/16\n    \
         src {VIP} 10.252.0.0/16 dev ens32\n  }}\n}}\n"
    );
    let routes = || lvs1_ns.output(&["ip", "route", "show"]);
    let mut lvs1 = start_with(&lvs1_ns, "r1.conf", &conf);
    wait_until(
        "routes installed with the VIP",
        Duration::from_secs(5),
        || {
            let r = routes();
            r.contains("10.250.0.0/16 via 192.168.2.1 dev ens32")
                && r.contains("blackhole 10.251.0.0/16")
        },
    );
    let r = routes();
    assert!(r.contains("metric 7"), "{r}");
    assert!(
        r.contains("10.252.0.0/16 dev ens32") && r.contains(&format!("src {VIP}")),
        "{r}"
    );
    lvs1.signal(nix::sys::signal::Signal::SIGTERM);
    let r = routes();
    assert!(
        !r.contains("10.250.0.0") && !r.contains("10.251.0.0") && !r.contains("10.252.0.0"),
        "{r}"
    );
}

#[test]
fn ipv6_instance_with_use_vmac_keeps_its_link_local_source() {
    if !require_root("ipv6_instance_with_use_vmac_keeps_its_link_local_source") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "h6",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let conf = |priority: u8, vmac: bool| {
        format!(
            "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_6 {{\n  interface ens32\n  \
             virtual_router_id 51\n  priority {priority}\n  advert_int 0.1\n  {}\n  \
             virtual_ipaddress {{\n    2001:db8::200/64\n  }}\n}}\n",
            if vmac { "use_vmac" } else { "" }
        )
    };
    let lvs1 = start_with(&lvs1_ns, "v6a.conf", &conf(100, true));
    let lvs2 = start_with(&lvs2_ns, "v6b.conf", &conf(90, false));
    let vmac = || lvs1_ns.output(&["ip", "-d", "addr", "show", "vrrp.51"]);
    wait_until("the IPv6 VIP on the VMAC", Duration::from_secs(5), || {
        vmac().contains("inet6 2001:db8::200/64")
    });
    let shown = vmac();
    // lvs1's primary address: a link-local of its ens32, which the VMAC carries too.
    let primary = lvs1.status()["instances"][0]["master_address"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(primary.starts_with("fe80::"), "{primary}");
    assert!(
        shown.contains("link/ether 00:00:5e:00:02:33"),
        "IPv6 virtual router MAC: {shown}"
    );
    assert!(
        shown.contains(&format!("inet6 {primary}/64")),
        "the parent's link-local: {shown}"
    );
    assert!(
        !shown.contains("fe80::200:5eff"),
        "no EUI-64 link-local of its own: {shown}"
    );
    wait_until(
        "lvs2 follows lvs1's link-local",
        Duration::from_secs(3),
        || lvs2.status()["instances"][0]["master_address"] == primary.as_str(),
    );
    assert_eq!(lvs2.status()["instances"][0]["state"], "BACKUP");
    drop(lvs1);
}

#[test]
fn unicast_peers_elect_and_fail_over() {
    if !require_root("unicast_peers_elect_and_fail_over") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hu",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    // With unicast_peer set, adverts go to the peer only (no multicast is sent at all), and
    // adverts from other sources are dropped.
    let conf = |priority: u8, me: &str, peer: &str| {
        format!(
            "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  interface ens32\n  \
             virtual_router_id 51\n  priority {priority}\n  advert_int 0.1\n  unicast_src_ip {me}\n  \
             unicast_peer {{\n    {peer}\n  }}\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
        )
    };
    let mut lvs1 = start_with(
        &lvs1_ns,
        "u1.conf",
        &conf(100, "192.168.2.10", "192.168.2.11"),
    );
    let lvs2 = start_with(
        &lvs2_ns,
        "u2.conf",
        &conf(90, "192.168.2.11", "192.168.2.10"),
    );
    wait_until(
        "lvs1 master, lvs2 following by unicast",
        Duration::from_secs(5),
        || has_vip(&lvs1_ns) && lvs2.status()["instances"][0]["master_address"] == "192.168.2.10",
    );
    assert!(!has_vip(&lvs2_ns));
    lvs1.signal(nix::sys::signal::Signal::SIGTERM);
    wait_until("lvs2 takes over", Duration::from_secs(3), || {
        has_vip(&lvs2_ns)
    });
    assert_eq!(
        lvs2.status()["instances"][0]["last_transition"]["reason"],
        "master sent priority 0"
    );
}

/// A TCP listener inside `ns` on `port` until the returned flag is cleared.
fn listen_in(ns: &Netns, port: u16) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    use std::sync::atomic::{AtomicBool, Ordering};
    let running = std::sync::Arc::new(AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&running);
    let path = format!("/var/run/netns/{}", ns.name);
    let (ready, bound) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let f = std::fs::File::open(path).unwrap();
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
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

#[test]
fn real_server_health_runs_notify_scripts_alerts_and_drains_without_ipvs() {
    if !require_root("real_server_health_runs_notify_scripts_alerts_and_drains_without_ipvs") {
        return;
    }
    let smtp_ok = matches!(Command::new("python3").args(["-c", "import aiosmtpd"]).status(), Ok(s) if s.success());
    if !smtp_ok {
        testkit::skip(
            "real_server_health_runs_notify_scripts_alerts_and_drains_without_ipvs",
            "needs python3 -m aiosmtpd",
        );
        return;
    }
    let ns = Netns::new("rs");
    // A real SMTP relay inside the namespace, printing what it receives.
    let mut smtp = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "python3", "-m", "aiosmtpd", "-n", "-c",
        ])
        .args(["aiosmtpd.handlers.Debugging", "-l", "127.0.0.1:2525"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The relay must be up before the first alert.
    {
        let path = format!("/var/run/netns/{}", ns.name);
        std::thread::spawn(move || {
            let f = std::fs::File::open(path).unwrap();
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(15);
            while std::net::TcpStream::connect("127.0.0.1:2525").is_err() {
                assert!(
                    std::time::Instant::now() < deadline,
                    "aiosmtpd did not start"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .join()
        .unwrap();
    }
    let web = listen_in(&ns, 8080);
    let marks = std::env::temp_dir().join(format!("ha-rs-marks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&marks);
    std::fs::create_dir_all(&marks).unwrap();
    let m = marks.display();
    // As in keepalived, real servers alert by default; a virtual server (its quorum) only
    // with `smtp_alert`.
    let director = start_with(
        &ns,
        "rs.conf",
        &format!(
            "global_defs {{\n router_id RS_TEST\n checker_priority 5\n notification_email {{ ops@example.invalid }}\n \
             notification_email_from ha@example.invalid\n smtp_server 127.0.0.1 2525\n}}\n\
             virtual_server 127.0.0.1 80 {{\n delay_loop 1\n lb_kind NAT\n smtp_alert\n quorum_down \"/bin/touch {m}/quorum_down\"\n\
              real_server 127.0.0.1 8080 {{\n weight 3\n notify_down \"/bin/touch {m}/down\"\n notify_up \"/bin/touch {m}/up\"\n\
               TCP_CHECK {{\n connect_timeout 1\n retry 0\n }}\n }}\n}}\n"
        ),
    );
    let server = |d: &Director| d.status()["virtual_servers"][0]["real_servers"][0].clone();
    assert_eq!(server(&director)["health"], "up");
    // checker_priority: the health-check thread runs at nice 5 (proc(5) stat field 19).
    let tasks = format!("/proc/{}/task", director.child.id());
    let nice: Vec<String> = std::fs::read_dir(&tasks)
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter(|stat| stat.contains("(healthcheck)"))
        .map(|stat| {
            stat.rsplit(')')
                .next()
                .unwrap()
                .split_whitespace()
                .nth(16)
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(nice, ["5"], "health-check threads' nice values");
    // The host kernel has no IPVS: the director says so and keeps checking.
    let status = director.status();
    assert_eq!(status["ipvs"]["available"], false, "{status}");

    web.store(false, std::sync::atomic::Ordering::Relaxed);
    testkit::wait_until(
        "the real server to go down",
        Duration::from_secs(10),
        || server(&director)["health"] == "down",
    );
    assert!(
        server(&director)["last_reason"]
            .as_str()
            .unwrap()
            .contains("connection refused"),
        "{}",
        server(&director)
    );
    testkit::wait_until(
        "notify_down and quorum_down",
        Duration::from_secs(5),
        || marks.join("down").exists() && marks.join("quorum_down").exists(),
    );
    assert!(director.log().contains(
        "real server 127.0.0.1:8080 of virtual server 127.0.0.1:80: DOWN (TCP_CHECK#0: connection refused); removed from IPVS"
    ), "{}", director.log());

    let _web = listen_in(&ns, 8080);
    testkit::wait_until(
        "the real server to come back",
        Duration::from_secs(10),
        || server(&director)["health"] == "up",
    );
    testkit::wait_until("notify_up", Duration::from_secs(5), || {
        marks.join("up").exists()
    });

    // Drain and enable act on the director's state even without IPVS.
    let ha = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(args)
            .arg("--socket")
            .arg(&director.socket)
            .output()
            .unwrap()
    };
    let out = ha(&["drain", "127.0.0.1:8080"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server(&director)["drained"], true);
    assert_eq!(server(&director)["desired_weight"], 0);
    let out = ha(&["enable", "127.0.0.1:8080"]);
    assert!(out.status.success());
    assert_eq!(server(&director)["desired_weight"], 3);
    let out = ha(&["drain", "127.0.0.9:80"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no real server 127.0.0.9:80 in any virtual server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    std::thread::sleep(Duration::from_millis(500));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(smtp.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    );
    let mut mail = String::new();
    std::io::Read::read_to_string(&mut smtp.stdout.take().unwrap(), &mut mail).unwrap();
    let _ = smtp.wait();
    // Long headers arrive folded.
    let mail = mail.replace("\n ", " ");
    for subject in [
        "Subject: [RS_TEST] Realserver [127.0.0.1]:tcp:8080 of virtual server 127.0.0.1:80 - DOWN",
        "Subject: [RS_TEST] Realserver [127.0.0.1]:tcp:8080 of virtual server 127.0.0.1:80 - UP",
        "Subject: [RS_TEST] Virtualserver 127.0.0.1:80 - QUORUM DOWN",
    ] {
        assert!(mail.contains(subject), "{subject} not in:\n{mail}");
    }
    assert!(
        mail.contains("=> TCP_CHECK#0: connection refused <="),
        "{mail}"
    );
    drop(director);
    let _ = std::fs::remove_dir_all(&marks);
}

/// Two directors (VRRPv3 at 100 ms); lvs1 (priority 150, with a virtual server so that the LVS
/// thread runs) has a debug-build fault point that panics `thread` 3 s after its start.
/// Returns once lvs1's process has exited: (lvs1's namespace, lvs2's, lvs1, lvs2).
fn panicking(thread: &str, tag: &str) -> (Netns, Netns, Director, Director) {
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        tag,
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let config = |priority: u8| {
        format!(
            "global_defs {{\n  vrrp_version 3\n}}\n\
             vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
             advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n\
             virtual_server 127.0.0.1 80 {{\n  delay_loop 1\n  real_server 127.0.0.1 8080 {{\n    \
             TCP_CHECK {{\n      connect_timeout 1\n    }}\n  }}\n}}\n"
        )
    };
    let lvs2 = start_with(&lvs2_ns, &format!("{tag}-lvs2.conf"), &config(100));
    let path = std::env::temp_dir().join(format!("ha-{}-{tag}-lvs1.conf", lvs1_ns.name));
    std::fs::write(&path, config(150)).unwrap();
    let fault = format!("{thread}@3");
    let mut lvs1 = Director::start_path_with(
        &lvs1_ns,
        &path,
        &["--ipvs-verify-interval", "0.2"],
        &[("HA_FAULT_PANIC", &fault)],
    );
    lvs1.written_config = Some(path);
    wait_until("lvs1 holds the VIP", Duration::from_secs(3), || {
        has_vip(&lvs1_ns) && !has_vip(&lvs2_ns)
    });
    let mut exit = None;
    wait_until("lvs1's process exits", Duration::from_secs(10), || {
        exit = lvs1.child.try_wait().unwrap();
        exit.is_some()
    });
    let exit = exit.unwrap();
    assert_eq!(
        exit.code(),
        Some(1),
        "ha run after a panic: {exit}\n{}",
        lvs1.log()
    );
    let log = lvs1.log();
    assert!(
        log.contains("panic") && log.contains("HA_FAULT_PANIC"),
        "the panic is logged:\n{log}"
    );
    (lvs1_ns, lvs2_ns, lvs1, lvs2)
}

#[test]
fn a_panic_on_the_lvs_thread_stops_the_director_and_hands_the_vip_over() {
    if !require_root("a_panic_on_the_lvs_thread_stops_the_director_and_hands_the_vip_over") {
        return;
    }
    let (lvs1_ns, lvs2_ns, lvs1, lvs2) = panicking("lvs", "pl");
    // Stopped as at shutdown: the VIP released and a priority-0 advert sent, so lvs2 takes
    // over in skew time rather than after its master-down interval.
    assert!(!has_vip(&lvs1_ns), "a VIP left on the stopped director");
    wait_until("lvs2 takes the VIP", Duration::from_secs(2), || {
        has_vip(&lvs2_ns)
    });
    let log = lvs1.log();
    assert!(log.contains("the LVS thread stopped unexpectedly"), "{log}");
    wait_until(
        "lvs2 saw the priority-0 advert",
        Duration::from_secs(2),
        || lvs2.log().contains("master sent priority 0"),
    );
}

#[test]
fn a_panic_on_the_vrrp_thread_stops_the_director_and_releases_the_vip() {
    if !require_root("a_panic_on_the_vrrp_thread_stops_the_director_and_releases_the_vip") {
        return;
    }
    let (lvs1_ns, lvs2_ns, lvs1, _lvs2) = panicking("vrrp", "pv");
    // The VRRP thread could send no goodbye, but it removed its VIP on the way out; lvs2
    // takes over after its master-down interval (3 x 100 ms + skew).
    assert!(!has_vip(&lvs1_ns), "a VIP left on the stopped director");
    wait_until("lvs2 takes the VIP", Duration::from_secs(3), || {
        has_vip(&lvs2_ns)
    });
    assert!(
        lvs1.log().contains("the VRRP thread stopped unexpectedly"),
        "{}",
        lvs1.log()
    );
}

#[test]
fn startup_shutdown_and_notify_fifo_scripts_run_as_keepalived_runs_them() {
    if !require_root("startup_shutdown_and_notify_fifo_scripts_run_as_keepalived_runs_them") {
        return;
    }
    let (ns, _peer) = veth_pair_named(
        "hs",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let dir = std::env::temp_dir().join(format!("ha-scripts-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("scripts.log");
    let record = dir.join("record.sh");
    let reader = dir.join("fifo-reader.sh");
    let vrrp_reader = dir.join("vrrp-fifo-reader.sh");
    // keepalived starts a notify_fifo_script with the FIFO's path as its argument.
    std::fs::write(
        &record,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::write(
        &reader,
        format!(
            "#!/bin/sh\nwhile read -r line; do echo \"fifo $line\" >> {}; done < \"$1\"\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::write(
        &vrrp_reader,
        format!(
            "#!/bin/sh\nwhile read -r line; do echo \"vrrp-fifo $line\" >> {}; done < \"$1\"\n",
            log.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    for s in [&record, &reader, &vrrp_reader] {
        std::fs::set_permissions(s, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n  script_user root\n  startup_script \"{record} startup\"\n  \
         startup_script_timeout 5\n  shutdown_script \"{record} shutdown\"\n  shutdown_script_timeout 5\n  \
         notify_fifo {fifo}\n  notify_fifo_script {reader}\n  vrrp_notify_fifo {vrrp_fifo}\n  \
         vrrp_notify_fifo_script {vrrp_reader}\n}}\n\
         vrrp_instance VI_1 {{\n  state MASTER\n  interface ens32\n  virtual_router_id 51\n  \
         priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n",
        record = record.display(),
        reader = reader.display(),
        fifo = dir.join("notify.fifo").display(),
        vrrp_reader = vrrp_reader.display(),
        vrrp_fifo = dir.join("vrrp-notify.fifo").display(),
    );
    let mut director = start_with(&ns, "scripts.conf", &conf);
    let lines = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "startup script and FIFO line",
        Duration::from_secs(5),
        || {
            lines().contains("\nfifo INSTANCE \"VI_1\" MASTER 100")
                && lines().contains("vrrp-fifo INSTANCE \"VI_1\" MASTER 100")
        },
    );
    assert!(has_vip(&ns));
    assert_eq!(lines().lines().next(), Some("startup"), "{}", lines());
    assert!(!lines().contains("shutdown"), "{}", lines());
    // A graceful stop runs the shutdown script before the director exits.
    director.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(
        lines().contains("shutdown"),
        "{}\n{}",
        lines(),
        director.log()
    );
    drop(director);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unknown_script_user_refuses_the_start() {
    if !require_root("an_unknown_script_user_refuses_the_start") {
        return;
    }
    let (ns, _peer) = veth_pair_named(
        "hu",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let path = std::env::temp_dir().join(format!("ha-unknown-user-{}.conf", std::process::id()));
    // keepalived would not run the notify script as configured: ha must not run it as root.
    std::fs::write(
        &path,
        format!(
            "global_defs {{\n  vrrp_version 3\n  script_user ha-no-such-user-12\n}}\n\
             vrrp_instance VI_1 {{\n  state MASTER\n  interface ens32\n  virtual_router_id 51\n  \
             priority 100\n  advert_int 0.1\n  notify_master /bin/true\n  virtual_ipaddress {{\n    {VIP}\n  }}\n}}\n"
        ),
    )
    .unwrap();
    let socket = std::env::temp_dir().join(format!("ha-unknown-user-{}.sock", std::process::id()));
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            env!("CARGO_BIN_EXE_ha"),
            "run",
            "-f",
        ])
        .arg(&path)
        .arg("--control-socket")
        .arg(&socket)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&socket);
    assert!(
        status.is_some_and(|s| !s.success()),
        "ha run must refuse to start: {status:?}\n{stderr}"
    );
    assert!(
        stderr.contains("script_user ha-no-such-user-12"),
        "{stderr}"
    );
    assert!(!has_vip(&ns), "no VIP was taken");
}
