//! What breaks HA daemons in production, one fault at a time, against `ha run` in network
//! namespaces (privileged). Each test failed before the fix it names.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::adverts;
use common::ha::{start_with, Director};
use common::netns::{require_root, veth_pair_named, Netns};
use testkit::wait_until;

const VIP: &str = "192.168.2.200";

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "ens32", &format!("{VIP}/32"))
}

/// One VRRPv3 instance at 100 ms adverts, with `extra` lines inside the instance and `global`
/// lines in global_defs.
fn config(priority: u8, extra: &str, global: &str) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n{global}}}\n\
         vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n{extra}}}\n"
    )
}

fn pair(tag: &str) -> (Netns, Netns) {
    veth_pair_named(
        tag,
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    )
}

fn instance(d: &Director) -> serde_json::Value {
    d.status()["instances"][0].clone()
}

/// Fix: installed VIPs are watched over rtnetlink and put back. Before it, a VIP deleted by an
/// operator or another tool stayed deleted: nobody held it.
#[test]
fn a_vip_deleted_behind_the_masters_back_is_put_back_and_counted() {
    if !require_root("a_vip_deleted_behind_the_masters_back_is_put_back_and_counted") {
        return;
    }
    let (ns1, ns2) = pair("fv");
    let lvs1 = start_with(&ns1, "fv1.conf", &config(150, "", ""));
    let lvs2 = start_with(&ns2, "fv2.conf", &config(100, "", ""));
    wait_until("lvs1 master with the VIP", Duration::from_secs(5), || {
        has_vip(&ns1) && instance(&lvs1)["state"] == "MASTER"
    });
    for round in 1..=3u64 {
        ns1.exec(&["ip", "addr", "del", &format!("{VIP}/32"), "dev", "ens32"]);
        let deleted = Instant::now();
        // Back within one advert interval (100 ms), give or take the test's own polling.
        wait_until("the VIP is back", Duration::from_secs(2), || has_vip(&ns1));
        println!(
            "round {round}: VIP back {:?} after the delete",
            deleted.elapsed()
        );
        wait_until("the repair is counted", Duration::from_secs(2), || {
            instance(&lvs1)["vip_repairs"] == round
        });
    }
    let st = instance(&lvs1);
    assert_eq!(st["state"], "MASTER", "{st}");
    assert_eq!(st["installed_addresses"], serde_json::json!([VIP]), "{st}");
    assert!(!has_vip(&ns2));
    assert_eq!(instance(&lvs2)["state"], "BACKUP");
    assert!(
        lvs1.log()
            .contains("was removed behind the director's back: added again"),
        "{}",
        lvs1.log()
    );
}

/// Fix: a master whose VIPs cannot be added gives up mastership (FAULT) and tries again.
/// Before it, the failure was only logged and the instance stayed MASTER without its VIP
/// while its adverts kept the peer in BACKUP: nobody held the VIP.
#[test]
fn a_vip_that_cannot_be_installed_makes_the_instance_give_up_mastership() {
    if !require_root("a_vip_that_cannot_be_installed_makes_the_instance_give_up_mastership") {
        return;
    }
    let (ns1, ns2) = pair("fi");
    // An IPv6 address among the excluded VIPs, on an interface with IPv6 disabled: the kernel
    // refuses it.
    let extra = "  virtual_ipaddress_excluded {\n    2001:db8:1::200/64\n  }\n";
    ns1.exec(&["sysctl", "-qw", "net.ipv6.conf.ens32.disable_ipv6=1"]);
    let lvs2 = start_with(&ns2, "fi2.conf", &config(100, "", ""));
    wait_until("lvs2 master", Duration::from_secs(5), || has_vip(&ns2));
    let lvs1 = start_with(&ns1, "fi1.conf", &config(150, extra, ""));
    // lvs1 preempts, fails to add its addresses, and leaves: lvs2 keeps (or takes back) the VIP.
    wait_until(
        "lvs1 in FAULT for its addresses",
        Duration::from_secs(5),
        || {
            let st = instance(&lvs1);
            st["state"] == "FAULT" && st["last_transition"]["reason"] == "fault: VirtualAddresses"
        },
    );
    wait_until("lvs2 holds the VIP", Duration::from_secs(3), || {
        has_vip(&ns2) && instance(&lvs2)["state"] == "MASTER"
    });
    assert!(!has_vip(&ns1), "a node in FAULT keeps no VIP");
    // Fixed: it tries again within a second and preempts.
    ns1.exec(&["sysctl", "-qw", "net.ipv6.conf.ens32.disable_ipv6=0"]);
    wait_until("lvs1 master again", Duration::from_secs(5), || {
        has_vip(&ns1) && instance(&lvs1)["state"] == "MASTER"
    });
    wait_until("lvs2 gave the VIP up", Duration::from_secs(3), || {
        !has_vip(&ns2)
    });
}

/// Fix: links are followed by name; a deleted interface closes its sockets, and when one
/// with the same name comes back (a new index) they are opened again. Before it, the sockets
/// stayed bound to the old index and the instances never recovered without a restart.
#[test]
fn an_interface_deleted_and_recreated_recovers_on_both_nodes() {
    if !require_root("an_interface_deleted_and_recreated_recovers_on_both_nodes") {
        return;
    }
    let (ns1, ns2) = pair("fr");
    let lvs1 = start_with(&ns1, "fr1.conf", &config(150, "", ""));
    let lvs2 = start_with(&ns2, "fr2.conf", &config(100, "", ""));
    wait_until("lvs1 master", Duration::from_secs(5), || {
        has_vip(&ns1) && instance(&lvs2)["state"] == "BACKUP"
    });
    // A driver reload / NIC hot-plug: the pair disappears from both namespaces.
    ns1.exec(&["ip", "link", "del", "ens32"]);
    wait_until("both in FAULT", Duration::from_secs(5), || {
        instance(&lvs1)["state"] == "FAULT" && instance(&lvs2)["state"] == "FAULT"
    });
    // ... and comes back under the same name, with a new index.
    let tmp = format!("vfr{}", std::process::id() % 100_000);
    let out = Command::new("ip")
        .args([
            "link",
            "add",
            &format!("{tmp}a"),
            "type",
            "veth",
            "peer",
            "name",
        ])
        .arg(format!("{tmp}b"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    for (ns, dev, addr, ll) in [
        (&ns1, format!("{tmp}a"), "192.168.2.10/24", "fe80::10/64"),
        (&ns2, format!("{tmp}b"), "192.168.2.11/24", "fe80::11/64"),
    ] {
        let moved = Command::new("ip")
            .args(["link", "set", &dev, "netns", &ns.name])
            .status()
            .unwrap();
        assert!(moved.success());
        ns.exec(&["ip", "link", "set", &dev, "name", "ens32"]);
        ns.exec(&["ip", "addr", "add", addr, "dev", "ens32"]);
        ns.exec(&["ip", "-6", "addr", "add", ll, "dev", "ens32", "nodad"]);
        ns.exec(&["ip", "link", "set", "ens32", "up"]);
    }
    wait_until(
        "lvs1 master and lvs2 backup again, adverts flowing",
        Duration::from_secs(10),
        || {
            has_vip(&ns1)
                && !has_vip(&ns2)
                && instance(&lvs1)["state"] == "MASTER"
                && instance(&lvs2)["state"] == "BACKUP"
        },
    );
    // Adverts cross the new link: lvs2 keeps receiving them.
    let before = instance(&lvs2)["statistics"]["rcvd_advertisements"]
        .as_u64()
        .unwrap();
    wait_until(
        "lvs2 receives lvs1's adverts",
        Duration::from_secs(3),
        || {
            instance(&lvs2)["statistics"]["rcvd_advertisements"]
                .as_u64()
                .unwrap()
                > before + 5
        },
    );
    assert!(
        lvs1.log().contains("sockets opened again"),
        "{}",
        lvs1.log()
    );
}

/// Fix: a `use_vmac` instance restarted by a reload gets its new VMAC's socket. Before it, it
/// kept the old VMAC's socket, closed right after: no adverts went out while the sent counter
/// rose, the peer took over, and both held the VIP (the reloaded node stayed master).
#[test]
fn a_use_vmac_instance_restarted_by_a_reload_keeps_advertising() {
    if !require_root("a_use_vmac_instance_restarted_by_a_reload_keeps_advertising") {
        return;
    }
    let (ns1, ns2) = pair("fm");
    let vmac = "  use_vmac vrrp.51\n";
    let lvs1 = start_with(&ns1, "fm1.conf", &config(150, vmac, ""));
    let lvs2 = start_with(&ns2, "fm2.conf", &config(100, "", ""));
    let on_vmac = |ns: &Netns| testkit::has_address(ns, "vrrp.51", &format!("{VIP}/32"));
    wait_until("lvs1 master on its VMAC", Duration::from_secs(5), || {
        on_vmac(&ns1) && instance(&lvs2)["state"] == "BACKUP"
    });
    // A change that restarts the instance (a second VIP).
    let path = lvs1.written_config.clone().unwrap();
    let text = config(150, vmac, "").replace(
        &format!("    {VIP}\n"),
        &format!("    {VIP}\n    192.168.2.201\n"),
    );
    std::fs::write(&path, text).unwrap();
    let (ok, message) = lvs1.reload();
    assert!(ok && message.contains("restarted VI_1"), "{message}");
    // The restart stops the old instance (priority 0: lvs2 takes over for a moment); the new
    // one must advertise from its new VMAC and preempt.
    let back = Instant::now() + Duration::from_secs(5);
    while !(on_vmac(&ns1) && !has_vip(&ns2) && instance(&lvs2)["state"] == "BACKUP") {
        assert!(
            Instant::now() < back,
            "lvs1 is not master again:\nlvs1 {}\nlvs2 {}\n{}\n{}",
            instance(&lvs1),
            instance(&lvs2),
            lvs1.log(),
            ns1.output(&["ip", "-d", "link"])
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Then for two seconds lvs2 hears lvs1 and never takes over: one holder only.
    let received = |d: &Director| {
        instance(d)["statistics"]["rcvd_advertisements"]
            .as_u64()
            .unwrap()
    };
    let start = received(&lvs2);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        assert!(
            !has_vip(&ns2),
            "lvs2 took the VIP: lvs1 stopped advertising after the reload"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        received(&lvs2) >= start + 10,
        "lvs2 received {} adverts in 2 s",
        received(&lvs2) - start
    );
    assert_eq!(instance(&lvs1)["state"], "MASTER");
    assert_eq!(instance(&lvs2)["state"], "BACKUP");
    assert!(on_vmac(&ns1));
}

/// Fix: every descriptor is close-on-exec. Before it, the VRRP thread's wake pipe was
/// inherited by every script (and a script holding it could stall tracking and reload).
#[test]
fn scripts_inherit_no_descriptor_of_the_director() {
    if !require_root("scripts_inherit_no_descriptor_of_the_director") {
        return;
    }
    let (ns1, _ns2) = pair("fd");
    let out = std::env::temp_dir().join(format!("ha-fds-{}", std::process::id()));
    let _ = std::fs::remove_file(&out);
    // The script lists what its own descriptors point to (Python rather than a shell, whose
    // redirections keep copies of descriptors of their own).
    let script = std::env::temp_dir().join(format!("ha-fds-{}.py", std::process::id()));
    std::fs::write(
        &script,
        format!(
            "#!/usr/bin/python3\nimport os\nfds = sorted(int(f) for f in os.listdir('/proc/self/fd'))\n\
             lines = []\nfor fd in fds:\n    try:\n        lines.append(f'{{fd}} {{os.readlink(f\"/proc/self/fd/{{fd}}\")}}')\n    \
             except OSError:\n        pass\nopen('{}', 'w').write('\\n'.join(lines) + '\\n')\n",
            out.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let notify = format!("  notify_master {}\n", script.display());
    let lvs1 = start_with(&ns1, "fd1.conf", &config(150, &notify, ""));
    wait_until("the notify script ran", Duration::from_secs(10), || {
        std::fs::read_to_string(&out).is_ok_and(|t| !t.is_empty())
    });
    let listing = std::fs::read_to_string(&out).unwrap();
    let inherited: Vec<&str> = listing
        .lines()
        .filter(|l| {
            let mut words = l.split_whitespace();
            let fd: u32 = words.next().and_then(|n| n.parse().ok()).unwrap_or(0);
            let target = words.next().unwrap_or("");
            // 0-2 are the script's own; listing the directory opens one more.
            fd > 2 && !target.starts_with("/proc/")
        })
        .collect();
    assert!(
        inherited.is_empty(),
        "descriptors inherited from ha run: {inherited:?}\n{listing}"
    );
    drop(lvs1);
    let _ = std::fs::remove_file(&out);
    let _ = std::fs::remove_file(&script);
}

/// Fix: the control socket checks the peer's credentials, is created 0600 (0660 with a
/// group), and a lock makes a second director on it refuse to start. Before it, a second
/// `ha run` started and on exit deleted the first one's socket.
#[test]
fn the_control_socket_is_guarded_and_owned_by_one_director() {
    if !require_root("the_control_socket_is_guarded_and_owned_by_one_director") {
        return;
    }
    let (ns1, _ns2) = pair("fc");
    let lvs1 = start_with(&ns1, "fc1.conf", &config(150, "", ""));
    wait_until("lvs1 master", Duration::from_secs(5), || has_vip(&ns1));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&lvs1.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "socket mode {mode:o}");
    // A second director on the same socket refuses to start, and leaves the first alone.
    let conf = std::env::temp_dir().join(format!("ha-fc-second-{}.conf", std::process::id()));
    std::fs::write(&conf, config(100, "", "")).unwrap();
    let second = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns1.name,
            env!("CARGO_BIN_EXE_ha"),
            "run",
            "-f",
        ])
        .arg(&conf)
        .arg("--control-socket")
        .arg(&lvs1.socket)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&conf);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(said.contains("another director (pid"), "{said}");
    assert!(
        lvs1.socket.exists(),
        "the first director's socket was removed"
    );
    assert_eq!(
        instance(&lvs1)["state"],
        "MASTER",
        "the first one still answers"
    );
    // Not root: refused, whatever the file mode.
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ha"))
            .args(args)
            .arg("--socket")
            .arg(&lvs1.socket)
            .output()
            .unwrap()
    };
    let out = as_nobody(&["status"]);
    assert!(!out.status.success(), "nobody read the status: {out:?}");
    drop(lvs1);

    // With --control-group: its members may read the status, and nothing more.
    let (ns3, _ns4) = pair("fg");
    let path = std::env::temp_dir().join(format!("ha-{}-fg.conf", ns3.name));
    std::fs::write(&path, config(150, "", "")).unwrap();
    let mut lvs3 = Director::start_path_with(&ns3, &path, &["--control-group", "nogroup"], &[]);
    lvs3.written_config = Some(path);
    let mode = std::fs::metadata(&lvs3.socket)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o660, "socket mode {mode:o}");
    let as_member = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid", "nobody", "--regid", "nogroup", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_ha"))
            .args(args)
            .arg("--socket")
            .arg(&lvs3.socket)
            .output()
            .unwrap()
    };
    let status = as_member(&["status", "--json"]);
    assert!(status.status.success(), "{status:?}");
    let reload = as_member(&["reload"]);
    assert!(!reload.status.success());
    assert!(
        String::from_utf8_lossy(&reload.stderr).contains("permission denied"),
        "{reload:?}"
    );
}

/// Fix: floods of bad adverts are drained per wake-up, counted, logged at most once a second
/// per kind, and never delay the real adverts. Before it, one datagram was read per wake-up,
/// every drop was a log line and an event in an unbounded channel.
#[test]
fn a_flood_of_bad_adverts_is_counted_and_changes_nothing() {
    if !require_root("a_flood_of_bad_adverts_is_counted_and_changes_nothing") {
        return;
    }
    let (ns1, ns2) = pair("ff");
    let lvs1 = start_with(&ns1, "ff1.conf", &config(150, "", ""));
    let lvs2 = start_with(&ns2, "ff2.conf", &config(100, "", ""));
    wait_until("lvs1 master", Duration::from_secs(5), || {
        has_vip(&ns1) && instance(&lvs2)["state"] == "BACKUP"
    });
    let rss = |d: &Director| -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", ha_pid(d)))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let rss_before = rss(&lvs2);
    // From lvs2's peer address space: adverts with TTL 64, for lvs2 (the backup) to drop.
    let src: std::net::Ipv4Addr = "192.168.2.10".parse().unwrap();
    let bad = adverts::frame(
        src,
        64,
        1,
        &adverts::advert(src, VIP.parse().unwrap(), 200, None),
    );
    let wakeups_before = vrrp_thread_wakeups(&lvs2);
    let sent = adverts::flood(&ns1, "ens32", &bad, 50_000, Duration::from_secs(3));
    let wakeups = vrrp_thread_wakeups(&lvs2) - wakeups_before;
    println!("sent {sent} bad adverts in 3 s; lvs2's VRRP thread woke {wakeups} times");
    let st = instance(&lvs2);
    let ttl_errors = st["statistics"]["ip_ttl_errors"].as_u64().unwrap();
    // Read in batches, not with a wake-up (a context switch) per datagram: a socket that gave
    // only bad adverts is left unread for 2 ms, so at most ~500 wake-ups a second for the
    // flood, plus the adverts' own (a wake-up per datagram was 24,409 here).
    assert!(
        wakeups < 2_500,
        "{wakeups} wake-ups in 3 s for {ttl_errors} bad adverts"
    );
    assert!(
        ttl_errors > sent / 2,
        "lvs2 counted {ttl_errors} of {sent} bad adverts"
    );
    // Nothing changed: lvs2 is still a backup following lvs1.
    assert_eq!(st["state"], "BACKUP", "{st}");
    assert_eq!(instance(&lvs1)["state"], "MASTER");
    assert!(has_vip(&ns1) && !has_vip(&ns2));
    let drop_lines = lvs2
        .log()
        .lines()
        .filter(|l| l.contains("invalid TTL"))
        .count();
    assert!(
        drop_lines <= 10,
        "{drop_lines} log lines for {ttl_errors} dropped adverts"
    );
    let rss_after = rss(&lvs2);
    println!("lvs2 VmRSS {rss_before} kB -> {rss_after} kB");
    assert!(
        rss_after < rss_before + 8 * 1024,
        "memory grew under the flood: {rss_before} kB -> {rss_after} kB"
    );
}

/// Fix: before a backup's master-down timer fires, everything queued on its socket is read.
/// Before it, a wake-up read 256 datagrams and then ran the timers: with a flood queued ahead
/// of the master's adverts, the backup declared the master down while its adverts sat unread
/// in the queue, and took the VIP beside it (the chaos suite's flood split brain).
#[test]
fn adverts_queued_behind_a_flood_are_read_before_the_master_is_declared_down() {
    if !require_root("adverts_queued_behind_a_flood_are_read_before_the_master_is_declared_down") {
        return;
    }
    use nix::sys::signal::{kill, Signal};
    let (ns1, ns2) = pair("fq");
    // ns1 plays the master (priority 200, every 100 ms); lvs2 is the backup under test.
    let master: std::net::Ipv4Addr = "192.168.2.10".parse().unwrap();
    let valid = adverts::frame(
        master,
        255,
        1,
        &adverts::advert(master, VIP.parse().unwrap(), 200, None),
    );
    let bad = adverts::frame(
        master,
        64,
        2,
        &adverts::advert(master, VIP.parse().unwrap(), 200, None),
    );
    let lvs2 = start_with(&ns2, "fq2.conf", &config(100, "", ""));
    let advertise = |rounds: u32| {
        for _ in 0..rounds {
            adverts::send(&ns1, "ens32", std::slice::from_ref(&valid));
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    advertise(10);
    assert_eq!(instance(&lvs2)["state"], "BACKUP", "{}", instance(&lvs2));
    // Freeze lvs2 past its master-down interval (3.6 x 100 ms) while the master keeps
    // advertising behind a flood: 400 bad adverts (more than a wake-up reads), then the
    // master's advert, as if the flood had filled the queue faster than lvs2 read it.
    let pid = nix::unistd::Pid::from_raw(ha_pid(&lvs2) as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let mut queued = vec![bad.clone(); 400];
    queued.push(valid.clone());
    adverts::send(&ns1, "ens32", &queued);
    kill(pid, Signal::SIGCONT).unwrap();
    advertise(5);
    let st = instance(&lvs2);
    println!("lvs2 after the frozen flood: {st}");
    assert!(
        st["statistics"]["ip_ttl_errors"].as_u64().unwrap() >= 400,
        "the flood was not read: {st}"
    );
    assert_eq!(st["state"], "BACKUP", "{st}");
    assert_eq!(st["statistics"]["master_transitions"], 0, "{st}");
    assert!(
        !lvs2.log().contains("Entering MASTER"),
        "lvs2 took over while the master's advert was queued:\n{}",
        lvs2.log()
    );
    assert!(!has_vip(&ns2));
}

/// Fix: a flood larger than a socket's receive queue no longer pushes the master's adverts out
/// of the kernel. The backup is frozen past its master-down interval while 3,000 bad adverts
/// (TTL 64: more than the queue holds) and then, every 100 ms, the master's advert behind 300
/// more arrive. With one queue, the kernel dropped every one of the master's adverts at the
/// full queue and the backup took over when it woke; with the adverts that may be valid
/// sorted into a queue of their own (a BPF filter), the master's adverts wait there.
#[test]
fn a_flood_larger_than_the_receive_queue_does_not_crowd_out_the_masters_adverts() {
    if !require_root("a_flood_larger_than_the_receive_queue_does_not_crowd_out_the_masters_adverts")
    {
        return;
    }
    use nix::sys::signal::{kill, Signal};
    let (ns1, ns2) = pair("fo");
    let master: std::net::Ipv4Addr = "192.168.2.10".parse().unwrap();
    let advert = adverts::advert(master, VIP.parse().unwrap(), 200, None);
    let valid = adverts::frame(master, 255, 1, &advert);
    let bad = adverts::frame(master, 64, 2, &advert);
    let lvs2 = start_with(&ns2, "fo2.conf", &config(100, "", ""));
    for _ in 0..10 {
        adverts::send(&ns1, "ens32", std::slice::from_ref(&valid));
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(instance(&lvs2)["state"], "BACKUP", "{}", instance(&lvs2));
    let pid = nix::unistd::Pid::from_raw(ha_pid(&lvs2) as i32);
    kill(pid, Signal::SIGSTOP).unwrap();
    adverts::send(&ns1, "ens32", &vec![bad.clone(); 3000]);
    for _ in 0..8 {
        let mut round = vec![bad.clone(); 300];
        round.push(valid.clone());
        adverts::send(&ns1, "ens32", &round);
        std::thread::sleep(Duration::from_millis(100));
    }
    kill(pid, Signal::SIGCONT).unwrap();
    // Time to read the queues and decide before the master's next advert.
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        adverts::send(&ns1, "ens32", std::slice::from_ref(&valid));
        std::thread::sleep(Duration::from_millis(100));
    }
    let st = instance(&lvs2);
    println!("lvs2 after a frozen flood past its queue: {st}");
    assert!(
        st["statistics"]["ip_ttl_errors"].as_u64().unwrap() >= 1000,
        "the flood was not read: {st}"
    );
    // What the full suspect queue lost is in ha status, counted by the kernel.
    assert!(st["socket_drops"].as_u64().unwrap() > 0, "{st}");
    assert_eq!(st["state"], "BACKUP", "{st}");
    assert_eq!(st["statistics"]["master_transitions"], 0, "{st}");
    assert!(
        !lvs2.log().contains("Entering MASTER"),
        "lvs2 took over while the master's adverts were queued:\n{}",
        lvs2.log()
    );
    assert!(!has_vip(&ns2));
}

/// Fix: a stop terminates the scripts still running, as keepalived does (SIGTERM to each
/// script's process group, SIGKILL a second later), and gives the stop's own scripts a second.
/// Before it, SIGTERM waited for a hung notify script's whole 60 s timeout (the chaos suite
/// saw stops of up to 46.8 s).
#[test]
fn a_hung_notify_script_does_not_hold_the_stop() {
    if !require_root("a_hung_notify_script_does_not_hold_the_stop") {
        return;
    }
    let (ns1, _ns2) = pair("fh");
    let marker = format!("ha-hung-{}", std::process::id());
    let script = std::env::temp_dir().join(format!("{marker}.sh"));
    // `sleep` is the script's child: the whole process group must go.
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh
sleep 1000 # {marker}
echo done
"
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let running = || {
        Command::new("pgrep")
            .args(["-f", &marker])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let notify = format!("  notify_master {}\n", script.display());
    let mut lvs1 = start_with(&ns1, "fh1.conf", &config(150, &notify, ""));
    wait_until("the notify script hangs", Duration::from_secs(10), running);
    let asked = Instant::now();
    lvs1.signal(nix::sys::signal::Signal::SIGTERM);
    let stopped_in = asked.elapsed();
    println!("ha run stopped {stopped_in:?} after SIGTERM, with a hung notify script");
    // keepalived's second for the running scripts and one for the stop's own, and slack for
    // a loaded machine; the script's own timeout is 60 s.
    assert!(
        stopped_in < Duration::from_secs(10),
        "SIGTERM took {stopped_in:?}:\n{}",
        lvs1.log()
    );
    wait_until(
        "the script's process group is gone",
        Duration::from_secs(3),
        || !running(),
    );
    assert!(lvs1.log().contains("stopped (SIGTERM"), "{}", lvs1.log());
    let _ = std::fs::remove_file(&script);
}

/// How many times `d`'s VRRP thread went to sleep and was woken (voluntary context switches).
fn vrrp_thread_wakeups(d: &Director) -> u64 {
    let tasks = format!("/proc/{}/task", ha_pid(d));
    for task in std::fs::read_dir(&tasks).unwrap().flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim() == "vrrp" {
            let status = std::fs::read_to_string(task.path().join("status")).unwrap();
            return status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap();
        }
    }
    panic!("no vrrp thread in {tasks}");
}

/// The pid of the `ha run` process inside `ip netns exec`.
fn ha_pid(d: &Director) -> u32 {
    // `ip netns exec` execs the command: the child is ha itself.
    d.child.id()
}
