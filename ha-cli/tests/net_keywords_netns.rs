//! keepalived's network keywords against `ha run` in network namespaces (privileged): static
//! addresses, routes and rules; virtual rules; the no_accept firewall (nftables); the
//! network namespace, IPVS namespace and instance name.

mod common;

use std::time::Duration;

use common::ha::{start_with, Director};
use common::netns::{require_root, veth_pair_named, Netns};
use testkit::wait_until;

const VIP: &str = "192.168.2.200";

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "ens32", &format!("{VIP}/32"))
}

/// One VRRPv3 instance at 100 ms adverts: `global` lines in global_defs, `extra` lines in the
/// instance, `top` blocks after it.
fn config(priority: u8, global: &str, extra: &str, top: &str) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n{global}}}\n\
         vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n{extra}}}\n{top}"
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

fn state(d: &Director) -> String {
    d.status()["instances"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn rules(ns: &Netns) -> String {
    ns.output(&["ip", "rule", "show"])
}

fn routes(ns: &Netns) -> String {
    ns.output(&["ip", "route", "show", "table", "all"])
}

const STATICS: &str =
    "static_ipaddress {\n  10.77.0.1/24 dev ens32\n  10.77.1.1/24 dev ens32 no_track\n  \
    10.77.2.1/24 dev ens32\n}\n\
    static_routes {\n  10.78.0.0/16 via 10.77.0.254 dev ens32\n}\n\
    static_rules {\n  from 10.77.0.0/24 table 100 preference 1000\n}\n";

const VIRTUAL_RULES: &str =
    "  virtual_rules {\n    from 192.168.2.200 table 200 preference 1001\n  }\n\
    virtual_routes {\n    10.79.0.0/16 dev ens32 table 200\n  }\n";

/// `static_*` are installed at start whatever the state, kept through a failover, put back
/// when removed or when their link comes back, follow a reload, and go at stop;
/// `virtual_rules` follow mastership as `virtual_routes` do.
#[test]
fn static_entries_stay_through_failover_and_virtual_rules_follow_mastership() {
    let test = "static_entries_stay_through_failover_and_virtual_rules_follow_mastership";
    if !require_root(test) {
        return;
    }
    let (ns1, ns2) = pair("st");
    let mut d1 = start_with(&ns1, "st1.conf", &config(150, "", VIRTUAL_RULES, STATICS));
    wait_until("d1 master", Duration::from_secs(5), || {
        has_vip(&ns1) && state(&d1) == "MASTER"
    });
    assert!(testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254 dev ens32"));
    let r = rules(&ns1);
    assert!(r.contains("1000:\tfrom 10.77.0.0/24 lookup 100"), "{r}");
    assert!(r.contains("1001:\tfrom 192.168.2.200 lookup 200"), "{r}");
    assert!(routes(&ns1).contains("10.79.0.0/16 dev ens32 table 200"));

    // A peer of higher priority takes over: the virtual rule and route go, the statics stay.
    let d2 = start_with(&ns2, "st2.conf", &config(200, "", VIRTUAL_RULES, ""));
    wait_until("d2 takes over", Duration::from_secs(5), || {
        has_vip(&ns2) && state(&d1) == "BACKUP"
    });
    wait_until("d1's virtual rule removed", Duration::from_secs(2), || {
        !rules(&ns1).contains("1001:")
    });
    assert!(!routes(&ns1).contains("10.79.0.0/16"));
    assert!(rules(&ns2).contains("1001:\tfrom 192.168.2.200 lookup 200"));
    assert!(testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254"));
    assert!(rules(&ns1).contains("1000:"));

    // Removed behind its back: put back (within the 5 s check), but a `no_track` address.
    assert!(testkit::has_address(&ns1, "ens32", "10.77.1.1/24"));
    ns1.exec(&["ip", "route", "del", "10.78.0.0/16"]);
    ns1.exec(&["ip", "rule", "del", "preference", "1000"]);
    ns1.exec(&["ip", "addr", "del", "10.77.1.1/24", "dev", "ens32"]);
    ns1.exec(&["ip", "addr", "del", "10.77.2.1/24", "dev", "ens32"]);
    wait_until(
        "static route, rule and address restored",
        Duration::from_secs(8),
        || {
            routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254")
                && rules(&ns1).contains("1000:")
                && testkit::has_address(&ns1, "ens32", "10.77.2.1/24")
        },
    );
    assert!(!testkit::has_address(&ns1, "ens32", "10.77.1.1/24"));
    // The link goes down and up: the kernel dropped the route; it comes back with the link.
    ns1.exec(&["ip", "link", "set", "ens32", "down"]);
    wait_until("route gone with the link", Duration::from_secs(2), || {
        !routes(&ns1).contains("10.78.0.0/16")
    });
    ns1.exec(&["ip", "link", "set", "ens32", "up"]);
    let back = wait_until(
        "static route back with the link",
        Duration::from_secs(4),
        || routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254"),
    );
    println!("static route back {back:?} after the link came up");

    // A reload changes the static rule: the old one goes, the new one comes.
    let path = d1.written_config.clone().unwrap();
    std::fs::write(
        &path,
        config(
            150,
            "",
            VIRTUAL_RULES,
            &STATICS.replace("preference 1000", "preference 1002"),
        ),
    )
    .unwrap();
    let (ok, message) = d1.reload();
    assert!(ok, "{message}");
    let r = rules(&ns1);
    assert!(
        !r.contains("1000:") && r.contains("1002:\tfrom 10.77.0.0/24 lookup 100"),
        "{r}"
    );

    // At stop keepalived removes its static entries.
    d1.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(!testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(!routes(&ns1).contains("10.78.0.0/16"));
    assert!(!rules(&ns1).contains("1002:"));
    drop(d2);
}

/// A TCP listener on every address of `ns`, on `port`, for the life of the test process.
fn listen(ns: &Netns, port: u16) {
    let name = ns.name.clone();
    let (ready, is_ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        testkit::netns::enter_named(&name);
        let listener = std::net::TcpListener::bind(("0.0.0.0", port)).unwrap();
        ready.send(()).unwrap();
        for stream in listener.incoming() {
            drop(stream);
        }
    });
    is_ready.recv().unwrap();
}

/// Whether a TCP connection from `ns` to `VIP:port` is answered within a second.
fn vip_answers(ns: &Netns, port: u16) -> bool {
    let name = ns.name.clone();
    std::thread::spawn(move || {
        testkit::netns::enter_named(&name);
        let to = std::net::SocketAddr::new(VIP.parse().unwrap(), port);
        std::net::TcpStream::connect_timeout(&to, Duration::from_secs(1)).is_ok()
    })
    .join()
    .unwrap()
}

fn nft(ns: &Netns, args: &[&str]) -> String {
    let mut full = vec!["nft"];
    full.extend_from_slice(args);
    ns.output(&full)
}

fn require_nft(test: &str) -> bool {
    if std::process::Command::new("nft").arg("-v").output().is_ok() {
        return true;
    }
    testkit::skip(test, "needs nft(8) (Debian's nftables)");
    false
}

/// keepalived's `no_accept`: a master not in accept mode drops traffic to its VIPs (VRRP goes
/// on), through its own nftables table at the configured priority; a master in accept mode
/// answers; the tables go at stop. `vrrp_strict` implies it.
#[test]
fn no_accept_and_vrrp_strict_drop_traffic_to_the_vip_through_nftables() {
    let test = "no_accept_and_vrrp_strict_drop_traffic_to_the_vip_through_nftables";
    if !require_root(test) || !require_nft(test) {
        return;
    }
    let (ns1, ns2) = pair("fw");
    for ns in [&ns1, &ns2] {
        listen(ns, 18080);
    }
    let mut d1 = start_with(&ns1, "fw1.conf", &config(150, "", "  no_accept\n", ""));
    let d2 = start_with(&ns2, "fw2.conf", &config(100, "", "  accept\n", ""));
    wait_until("d1 master", Duration::from_secs(5), || {
        has_vip(&ns1) && state(&d1) == "MASTER"
    });
    let table = nft(&ns1, &["list", "table", "ip", "keepalived"]);
    assert!(
        table.contains("hook input priority filter - 1; policy accept;")
            && table.contains("ip daddr @vips drop")
            && table.contains("ip saddr @vips drop")
            && table.contains(&format!("elements = {{ {VIP} }}")),
        "{table}"
    );
    assert!(
        !vip_answers(&ns2, 18080),
        "no_accept: the master must drop it"
    );
    // VRRP itself goes on: the peer stays backup.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d2), "BACKUP");
    // An accept-mode node has no firewall at all.
    assert_eq!(nft(&ns2, &["list", "tables"]).trim(), "");

    // The master goes: the accept-mode peer takes over and answers; the tables are gone.
    d1.signal(nix::sys::signal::Signal::SIGTERM);
    wait_until("d2 master", Duration::from_secs(5), || has_vip(&ns2));
    assert!(vip_answers(&ns1, 18080), "accept: the master answers");
    assert_eq!(
        nft(&ns1, &["list", "tables"]).trim(),
        "",
        "tables left at stop"
    );

    // vrrp_strict implies no_accept; nftables NAME, nftables_priority, nftables_counters.
    let strict = start_with(
        &ns1,
        "fw3.conf",
        &config(
            150,
            "  vrrp_strict\n  nftables ha_fw\n  nftables_priority -5\n  nftables_counters\n",
            "",
            "",
        ),
    );
    wait_until("strict master", Duration::from_secs(5), || {
        has_vip(&ns1) && state(&strict) == "MASTER"
    });
    assert!(
        !vip_answers(&ns2, 18080),
        "vrrp_strict: the master must drop it"
    );
    let table = nft(&ns1, &["list", "table", "ip", "ha_fw"]);
    assert!(
        table.contains("hook input priority filter - 5;")
            && table.contains("ip daddr @vips counter packets")
            && !table.contains("counter packets 0 bytes 0 drop\n\t\tip saddr"),
        "{table}"
    );
    assert!(nft(&ns1, &["list", "tables"]).contains("table ip6 ha_fw"));
    // A change of firewall is refused at reload, as keepalived refuses a new table name.
    let path = strict.written_config.clone().unwrap();
    std::fs::write(
        &path,
        config(150, "  vrrp_strict\n  nftables other\n", "", ""),
    )
    .unwrap();
    let (ok, message) = strict.reload();
    assert!(!ok && message.contains("firewall"), "{message}");
    drop(strict);
    drop(d2);
}

/// `net_namespace NAME`: `ha run` started in another namespace runs the whole director in
/// /run/netns/NAME (VRRP, VIPs, the scripts it runs); `instance NAME` and the namespace name
/// its control socket, which `ha status --namespace --instance` finds; neither changes at a
/// reload.
#[test]
fn net_namespace_runs_the_director_there_and_instance_names_its_run_files() {
    let test = "net_namespace_runs_the_director_there_and_instance_names_its_run_files";
    if !require_root(test) {
        return;
    }
    let (ns1, ns2) = pair("nn");
    let elsewhere = Netns::new("nn0");
    let pid = std::process::id();
    let tmp = std::env::temp_dir();
    let seen = tmp.join(format!("ha-nn-{pid}.links"));
    let script = tmp.join(format!("ha-nn-{pid}.sh"));
    std::fs::write(
        &script,
        format!("#!/bin/sh\nip -o link > {}\n", seen.display()),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let instance = format!("t{pid}");
    let text = config(
        150,
        "",
        &format!("  notify_master {}\n", script.display()),
        &format!("net_namespace {}\ninstance {instance}\n", ns1.name),
    );
    let path = tmp.join(format!("ha-nn-{pid}.conf"));
    std::fs::write(&path, &text).unwrap();
    let log = tmp.join(format!("ha-nn-{pid}.log"));
    // `ha check` from another namespace cannot see ns1's interfaces: it says so instead of
    // warning that ens32 is missing; run in ns1 it checks them.
    let check = |netns: &str| {
        let out = std::process::Command::new("ip")
            .args([
                "netns",
                "exec",
                netns,
                env!("CARGO_BIN_EXE_ha"),
                "check",
                "-f",
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout)
    };
    let said = check(&elsewhere.name);
    assert!(
        said.contains("host-checks-skipped") && !said.contains("no-such-interface"),
        "{said}"
    );
    let said = check(&ns1.name);
    assert!(
        !said.contains("host-checks-skipped") && !said.contains("no-such-interface"),
        "{said}"
    );
    // Started in `elsewhere`, with no --control-socket.
    let mut child = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &elsewhere.name,
            env!("CARGO_BIN_EXE_ha"),
            "run",
            "-f",
        ])
        .arg(&path)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let socket = std::path::PathBuf::from(format!("/run/ha/{}/ha_{instance}.sock", ns1.name));
    let ha = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(args)
            .args(["--namespace", &ns1.name, "--instance", &instance])
            .output()
            .unwrap()
    };
    let status = || -> serde_json::Value {
        let out = ha(&["status", "--json"]);
        serde_json::from_slice(&out.stdout).unwrap_or_default()
    };
    let logged = || std::fs::read_to_string(&log).unwrap_or_default();
    wait_until(
        "the director in ns1 is master",
        Duration::from_secs(8),
        || {
            assert!(
                child.try_wait().unwrap().is_none(),
                "ha run stopped:\n{}",
                logged()
            );
            status()["instances"][0]["state"] == "MASTER" && has_vip(&ns1)
        },
    );
    assert!(socket.exists(), "{}", socket.display());
    // The pid file beside it, as keepalived's /run/keepalived/NS/keepalived_INSTANCE.pid.
    let pid_file = socket.with_extension("pid");
    assert_eq!(
        std::fs::read_to_string(&pid_file)
            .unwrap_or_default()
            .trim(),
        child.id().to_string(),
        "{}",
        pid_file.display()
    );
    // Its adverts are on ns1's link: the peer in ns2 stays backup.
    let d2 = start_with(&ns2, "nn2.conf", &config(100, "", "", ""));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&d2), "BACKUP");
    assert!(!testkit::has_address(
        &elsewhere,
        "lo",
        &format!("{VIP}/32")
    ));
    // The notify script ran in ns1 too: it saw ns1's ens32.
    wait_until("notify_master ran", Duration::from_secs(3), || {
        seen.exists()
    });
    wait_until("notify_master wrote", Duration::from_secs(3), || {
        std::fs::read_to_string(&seen)
            .unwrap_or_default()
            .contains("ens32")
    });
    // A reload may not change the instance name.
    std::fs::write(
        &path,
        text.replace(&format!("instance {instance}"), "instance other"),
    )
    .unwrap();
    let out = ha(&["reload"]);
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success() && said.contains("restart"), "{said}");
    // Stopped: the VIP leaves ns1, the socket goes.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    child.wait().unwrap();
    assert!(!has_vip(&ns1));
    assert!(!socket.exists());
    // The single-instance lock stays next to the socket (as flock files do): ours to remove.
    let lock = director::control::lock_path(&socket);
    for f in [&seen, &script, &path, &log, &lock] {
        let _ = std::fs::remove_file(f);
    }
    std::fs::remove_dir(socket.parent().unwrap()).unwrap();
}
