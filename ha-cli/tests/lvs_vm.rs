//! The LVS side of `ha run` against the kernel's IPVS, in the seed scenario's lab
//! (`common::lab`: client, lvs1, lvs2, web1, web2 in namespaces; DR on port 80, NAT on 8080).
//!
//! Every lab test needs root and a kernel with IPVS, which the build machines do not have: they
//! are ignored here and run in the VM by `cargo xtask vm-test`; `cargo xtask demo` runs
//! `demo_scenario` there and shows its timeline. The few tests without `#[ignore]` check the
//! support code (configuration generation, `ipvsadm` parsing) and run anywhere.

mod common;

use std::time::{Duration, Instant};

use common::lab::*;
use common::netns::require_root;
use nix::sys::signal::Signal;

/// lvs2's master-down interval: 3 x advert_int 1 s + skew (256 - 90) / 256 s.
const LVS2_MASTER_DOWN: Duration = Duration::from_millis(3648);
/// Slack for polling and for the VM's emulated CPU.
const SLACK: Duration = Duration::from_millis(1500);
/// VRRP startup, the first checks, a takeover: generous under TCG.
const LONG: Duration = Duration::from_secs(20);

/// Root and IPVS, or a clear failure: these tests only run when asked for (`--ignored`).
fn preflight(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    assert!(
        ipvs_available(),
        "{test}: this kernel has no IPVS (/proc/net/ip_vs is missing and `modprobe ip_vs` \
         failed): run it in the VM with `cargo xtask vm-test` or `cargo xtask demo`"
    );
    true
}

fn vs_dr() -> String {
    format!("{VIP}:{DR_PORT}")
}

/// (address, weight) of a service's destinations in `ns`'s IPVS table, sorted.
fn weights(ns: &common::netns::Netns, service: &str) -> Vec<(String, i64)> {
    dests_of(ns, service)
        .into_iter()
        .map(|d| (d.address, d.weight))
        .collect()
}

fn expect(pairs: &[(&str, i64)]) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = pairs.iter().map(|(a, w)| (a.to_string(), *w)).collect();
    v.sort();
    v
}

/// Waits until `ns`'s IPVS has exactly these destinations with these weights for `service`.
fn wait_table(
    ns: &common::netns::Netns,
    service: &str,
    pairs: &[(&str, i64)],
    limit: Duration,
) -> Duration {
    let want = expect(pairs);
    let start = Instant::now();
    loop {
        let have = weights(ns, service);
        if have == want {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{}: {service} has {have:?}, want {want:?} (waited {limit:?}):\n{}",
            ns.name,
            ipvsadm(ns)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Both services with web1 and web2 at weight 1.
fn wait_full_table(ns: &common::netns::Netns, limit: Duration) {
    wait_table(
        ns,
        &dr_service(),
        &[("192.168.2.20:80", 1), ("192.168.2.30:80", 1)],
        limit,
    );
    wait_table(
        ns,
        &nat_service(),
        &[("10.0.0.20:80", 1), ("10.0.0.30:80", 1)],
        limit,
    );
}

fn indented(text: &str) -> String {
    text.lines()
        .map(|line| format!("             {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `lvs1 is MASTER` (or none, or both) from the running directors' `ha status`.
fn masters(directors: &[&Director]) -> String {
    let masters: Vec<&str> = directors
        .iter()
        .filter(|d| d.state().as_deref() == Some("MASTER"))
        .map(|d| d.name)
        .collect();
    match masters.as_slice() {
        [] => "no MASTER".into(),
        [one] => format!("{one} is MASTER"),
        many => format!("{} are MASTER", many.join(" and ")),
    }
}

/// Who is master and, when it differs, where the client's packets go: `lvs1 is MASTER`.
fn situation(lab: &Lab, directors: &[&Director]) -> String {
    let master = masters(directors);
    match lab.client_path() {
        Some(path) if !master.starts_with(path) => {
            format!("{master}, packets still go to {path}")
        }
        _ => master,
    }
}

/// One request from the client, logged with the situation (see [`situation`]).
fn request(lab: &Lab, tl: &Timeline, port: u16, situation: &str) -> Result<String, String> {
    let answer = lab.get(port);
    let shown = match &answer {
        Ok(body) => body.clone(),
        Err(e) => format!("FAILED: {e}"),
    };
    tl.log(
        "client",
        format!("GET {VIP}:{port} -> {shown} ({situation})"),
    );
    answer
}

/// `n` requests that must all be answered: the bodies. (The situation is looked at once:
/// under TCG every `ha status` takes a while.)
fn answered(lab: &Lab, tl: &Timeline, port: u16, n: usize, directors: &[&Director]) -> Vec<String> {
    let now = situation(lab, directors);
    (0..n)
        .map(|_| {
            request(lab, tl, port, &now).unwrap_or_else(|e| panic!("request to {VIP}:{port}: {e}"))
        })
        .collect()
}

fn assert_alternates(bodies: &[String], what: &str) {
    assert!(
        alternates(bodies),
        "{what}: round robin over web1 and web2 should alternate: {bodies:?}"
    );
    let mut seen = bodies.to_vec();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["1111", "2222"], "{what}");
}

/// Requests every ~500 ms while waiting for `done` (checked every 100 ms): how long it took,
/// and (answered, failed).
/// Sends a request every 500 ms (logging each with the situation) until `done` holds, for at
/// most `limit`. `done` is polled every 50 ms on a thread of its own, so the instant returned
/// (of the first poll that saw `done`) does not wait for a slow request or `ha status`.
/// Returns that instant and how many requests succeeded and failed meanwhile.
fn requests_until(
    lab: &Lab,
    tl: &Timeline,
    directors: &[&Director],
    what: &str,
    limit: Duration,
    done: impl FnMut() -> bool + Send,
) -> (Instant, usize, usize) {
    let start = Instant::now();
    let seen = std::sync::atomic::AtomicBool::new(false);
    let mut done = done;
    std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            while !done() {
                if start.elapsed() >= limit || seen.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let at = Instant::now();
            seen.store(true, std::sync::atomic::Ordering::SeqCst);
            Some(at)
        });
        let mut last_request: Option<Instant> = None;
        let (mut ok, mut failed) = (0, 0);
        while !seen.load(std::sync::atomic::Ordering::SeqCst) && !watcher.is_finished() {
            if last_request.is_none_or(|t| t.elapsed() >= Duration::from_millis(500)) {
                match request(lab, tl, DR_PORT, &situation(lab, directors)) {
                    Ok(_) => ok += 1,
                    Err(_) => failed += 1,
                }
                last_request = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let at = watcher.join().expect("the watcher does not panic");
        let at = at.unwrap_or_else(|| panic!("timed out after {limit:?} waiting for {what}"));
        (at, ok, failed)
    })
}

/// `text` wrapped at `width` columns, the first line after `first`, the others after `rest`.
fn wrapped(text: &str, first: &str, rest: &str, width: usize) -> String {
    let mut lines = vec![first.to_string()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().unwrap();
        let fresh = line.len() == first.len() || line.len() == rest.len();
        if !fresh && line.len() + 1 + word.len() > width {
            lines.push(format!("{rest}{word}"));
        } else {
            if !fresh {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines.join("\n")
}

// Timings are the test's own: from its clock at the cause (a kill, an httpd stopped) to the
// poll that first saw the effect from outside the director (the VIP on an interface, the IPVS
// table as `ipvsadm -Ln` lists it), never what ha's status says of itself. They overstate by
// up to one poll.

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// The seed scenario, told as a timeline and checked: round robin by DR and NAT, a crash of the
/// master, a web server going down and up, the master coming back (preempt), then nopreempt.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn demo_scenario() {
    if !preflight("demo_scenario") {
        return;
    }
    let lab = Lab::new();
    // The clock starts with the directors: building the lab takes a while under TCG.
    println!("\n== The lab: the seed scenario (shared/examples) in network namespaces");
    println!(
        "   client 192.168.2.100 | lvs1 192.168.2.10 / 10.0.0.10 | lvs2 192.168.2.11 / 10.0.0.11\n   \
         web1 192.168.2.20 / 10.0.0.20 answers 1111 | web2 192.168.2.30 / 10.0.0.30 answers 2222\n   \
         VIP {VIP}: port {DR_PORT} by direct routing (the VIP on the webs' lo, arp_ignore=1,\n   \
         arp_announce=2), port {NAT_PORT} by NAT (the webs answer via the gateway VIP {GATEWAY_VIP})"
    );
    let conf1 = lab_config(Seed::Lvs1, &ConfigOptions::default());
    let conf2 = lab_config(Seed::Lvs2, &ConfigOptions::default());
    println!("\n   lvs1.conf and lvs2.conf of the seed, with these changes:");
    for change in &conf1.changes {
        println!("{}", wrapped(change, "   - ", "     ", 96));
    }

    let tl = Timeline::default();
    tl.section("Start: lvs1 (state MASTER, priority 100), lvs2 (state BACKUP, priority 90)");
    let mut lvs1 = lab.start_director("lvs1", &conf1.text, &[]);
    tl.log("lvs1", "ha run -f lvs1.conf");
    let mut lvs2 = lab.start_director("lvs2", &conf2.text, &[]);
    tl.log("lvs2", "ha run -f lvs2.conf");
    wait_for("lvs1 MASTER holding the VIPs", LONG, || {
        lab.vip_holders() == ["lvs1"] && has_gateway_vip(&lab.lvs1)
    });
    tl.log(
        "lvs1",
        format!("MASTER: {VIP} on {EXT_IF}, {GATEWAY_VIP} on {INT_IF}"),
    );
    wait_for("lvs2 BACKUP", LONG, || {
        lvs2.state().as_deref() == Some("BACKUP")
    });
    tl.log("lvs2", "BACKUP");
    wait_full_table(&lab.lvs1, LONG);
    tl.log(
        "lvs1",
        format!(
            "IPVS, as `ipvsadm -Ln` shows it:\n{}",
            indented(&ipvsadm(&lab.lvs1))
        ),
    );

    tl.section("Round robin through the VIP, fresh connection per request");
    let both = [&lvs1, &lvs2];
    assert_alternates(&answered(&lab, &tl, DR_PORT, 4, &both), "DR");
    assert_alternates(&answered(&lab, &tl, NAT_PORT, 4, &both), "NAT");

    tl.section("lvs1 crashes: kill -9 of its ha");
    let crash = Instant::now();
    lvs1.kill(Signal::SIGKILL);
    tl.log(
        "lvs1",
        "SIGKILL: no goodbye advert; its kernel keeps the VIPs and the IPVS table",
    );
    let both = [&lvs1, &lvs2];
    let (seen, crash_ok, crash_failed) =
        requests_until(&lab, &tl, &both, "lvs2 takes the VIP", LONG, || {
            has_vip(&lab.lvs2)
        });
    let takeover = seen - crash;
    tl.log(
        "lvs2",
        format!(
            "holds the VIP {} after the crash, as the test saw it (master-down interval {} from lvs1's last advert, sent up to 1 s before the crash)",
            secs(takeover),
            secs(LVS2_MASTER_DOWN)
        ),
    );
    assert!(
        takeover <= LVS2_MASTER_DOWN + SLACK,
        "takeover took {takeover:?}"
    );
    assert!(
        crash_failed <= 1,
        "{crash_failed} requests failed during the takeover"
    );
    wait_for("lvs2 holds the gateway VIP", Duration::from_secs(3), || {
        has_gateway_vip(&lab.lvs2)
    });
    wait_for(
        "the client's ARP entry for the VIP points at lvs2",
        Duration::from_secs(5),
        || lab.client_path() == Some("lvs2"),
    );
    tl.log(
        "client",
        "its ARP entry for the VIP now points at lvs2 (gratuitous ARP)",
    );
    wait_full_table(&lab.lvs2, LONG);
    assert_alternates(&answered(&lab, &tl, DR_PORT, 4, &both), "DR via lvs2");
    assert_alternates(&answered(&lab, &tl, NAT_PORT, 4, &both), "NAT via lvs2");

    tl.section("web1's httpd stops");
    let stopped = Instant::now();
    lab.web1.stop();
    tl.log("web1", "httpd stopped: port 80 refuses connections");
    let (seen, _, _) = requests_until(&lab, &tl, &both, "web1 out of lvs2's IPVS", LONG, || {
        let dests = ipvs_dests(&ipvsadm(&lab.lvs2));
        !dests
            .iter()
            .any(|d| d.address == lab.web1.dr() || d.address == lab.web1.nat())
    });
    let removal = seen - stopped;
    let web1_status = lvs2.real_server(&vs_dr(), &lab.web1.dr());
    assert_eq!(web1_status["health"], "down", "{web1_status}");
    tl.log(
        "lvs2",
        format!(
            "TCP_CHECK failed twice (retry 1): web1 removed from IPVS {} after it stopped",
            secs(removal)
        ),
    );
    assert!(
        removal <= Duration::from_secs(8),
        "removal took {removal:?}"
    );
    tl.log(
        "lvs2",
        format!(
            "ha status: web1 {} ({})",
            web1_status["health"], web1_status["last_reason"]
        ),
    );
    for port in [DR_PORT, NAT_PORT] {
        let bodies = answered(&lab, &tl, port, 3, &both);
        assert!(bodies.iter().all(|b| b == "2222"), "{bodies:?}");
    }

    tl.section("web1's httpd starts again");
    let started = Instant::now();
    lab.web1.start();
    tl.log("web1", "httpd listening on port 80");
    wait_table(
        &lab.lvs2,
        &dr_service(),
        &[("192.168.2.20:80", 1), ("192.168.2.30:80", 1)],
        LONG,
    );
    let rejoin = started.elapsed();
    tl.log(
        "lvs2",
        format!(
            "TCP_CHECK succeeded: web1 back in IPVS {} after it started",
            secs(rejoin)
        ),
    );
    wait_full_table(&lab.lvs2, LONG);
    assert_alternates(&answered(&lab, &tl, DR_PORT, 4, &both), "DR after rejoin");
    assert_alternates(&answered(&lab, &tl, NAT_PORT, 4, &both), "NAT after rejoin");

    tl.section("lvs1 comes back: higher priority, preempt (the default)");
    let back = Instant::now();
    lvs1.restart();
    tl.log(
        "lvs1",
        "ha run -f lvs1.conf again: removes the VIPs the crash left, adopts the IPVS table",
    );
    let both = [&lvs1, &lvs2];
    wait_for("the VIP on lvs1 alone", LONG, || {
        lab.vip_holders() == ["lvs1"]
    });
    let preempt = back.elapsed();
    wait_for("lvs1 MASTER again, lvs2 BACKUP", LONG, || {
        lab.vip_holders() == ["lvs1"]
            && lvs1.state().as_deref() == Some("MASTER")
            && lvs2.state().as_deref() == Some("BACKUP")
    });
    tl.log(
        "lvs1",
        format!(
            "MASTER again (the VIP on lvs1 alone) {} after its restart; lvs2 BACKUP",
            secs(preempt)
        ),
    );
    wait_for(
        "the client's ARP entry points at lvs1",
        Duration::from_secs(5),
        || lab.client_path() == Some("lvs1"),
    );
    wait_full_table(&lab.lvs1, LONG);
    assert_alternates(&answered(&lab, &tl, DR_PORT, 4, &both), "DR via lvs1");
    assert_alternates(&answered(&lab, &tl, NAT_PORT, 4, &both), "NAT via lvs1");

    tl.section("nopreempt: state BACKUP on both nodes; lvs1 restarted stays BACKUP");
    lvs1.kill(Signal::SIGTERM);
    lvs2.kill(Signal::SIGTERM);
    tl.log(
        "lvs1+2",
        "SIGTERM: both stop, removing their VIPs and virtual servers",
    );
    assert!(lab.vip_holders().is_empty(), "SIGTERM leaves no VIP");
    assert!(
        ipvs_services(&ipvsadm(&lab.lvs1)).is_empty(),
        "SIGTERM removes the virtual servers:\n{}",
        ipvsadm(&lab.lvs1)
    );
    let nopreempt = ConfigOptions {
        nopreempt: true,
        ..ConfigOptions::default()
    };
    let np1 = lab_config(Seed::Lvs1, &nopreempt);
    let np2 = lab_config(Seed::Lvs2, &nopreempt);
    drop(lvs1);
    drop(lvs2);
    let mut lvs1 = lab.start_director("lvs1", &np1.text, &[]);
    tl.log("lvs1", "ha run with state BACKUP + nopreempt, priority 100");
    wait_for("lvs1 MASTER (nobody else)", LONG, || {
        lab.vip_holders() == ["lvs1"]
    });
    tl.log(
        "lvs1",
        "MASTER after its master-down interval: nobody else speaks",
    );
    let lvs2 = lab.start_director("lvs2", &np2.text, &[]);
    wait_for("lvs2 BACKUP", LONG, || {
        lvs2.state().as_deref() == Some("BACKUP")
    });
    tl.log(
        "lvs2",
        "ha run with state BACKUP + nopreempt, priority 90: BACKUP",
    );
    let crash = Instant::now();
    lvs1.kill(Signal::SIGKILL);
    tl.log("lvs1", "SIGKILL");
    wait_for("lvs2 takes over", LONG, || has_vip(&lab.lvs2));
    let np_takeover = crash.elapsed();
    tl.log(
        "lvs2",
        format!("holds the VIP {} after the crash", secs(np_takeover)),
    );
    lvs1.restart();
    tl.log("lvs1", "ha run again (priority 100 > 90)");
    let both = [&lvs1, &lvs2];
    wait_for("lvs1 follows lvs2 as BACKUP", LONG, || {
        lvs1.state().as_deref() == Some("BACKUP") && lab.vip_holders() == ["lvs2"]
    });
    let hold = Duration::from_secs(6);
    let since = Instant::now();
    while since.elapsed() < hold {
        assert_eq!(lvs1.state().as_deref(), Some("BACKUP"), "nopreempt");
        assert_eq!(lab.vip_holders(), ["lvs2"]);
        std::thread::sleep(Duration::from_millis(500));
    }
    tl.log(
        "lvs1",
        format!(
            "still BACKUP {} later: nopreempt spares the second interruption",
            secs(hold)
        ),
    );
    wait_full_table(&lab.lvs2, LONG);
    assert_alternates(&answered(&lab, &tl, DR_PORT, 4, &both), "DR via lvs2");
    assert_alternates(&answered(&lab, &tl, NAT_PORT, 2, &both), "NAT via lvs2");

    tl.section("Summary");
    println!("   VIP takeover after lvs1's crash       {:>7}   (master-down interval {} from the last advert; {} requests answered, {} failed meanwhile)",
        secs(takeover), secs(LVS2_MASTER_DOWN), crash_ok, crash_failed);
    println!("   web1 stopped -> out of IPVS           {:>7}   (delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 1)",
        secs(removal));
    println!(
        "   web1 started -> back in IPVS          {:>7}",
        secs(rejoin)
    );
    println!(
        "   lvs1 restarted -> MASTER (preempt)    {:>7}",
        secs(preempt)
    );
    println!(
        "   nopreempt: takeover after the crash   {:>7}; restarted lvs1 stayed BACKUP",
        secs(np_takeover)
    );
}

/// `ha drain` quiesces a real server (weight 0, still in IPVS: its connections go on), `ha
/// enable` brings it back.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn drain_and_enable_via_the_control_socket() {
    if !preflight("drain_and_enable_via_the_control_socket") {
        return;
    }
    let lab = Lab::new();
    let lvs1 = lab.start_director(
        "lvs1",
        &lab_config(Seed::Lvs1, &ConfigOptions::default()).text,
        &[],
    );
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_full_table(&lab.lvs1, LONG);

    // Two connections in a row: round robin puts one on each web server.
    let held = [lab.hold(DR_PORT), lab.hold(DR_PORT)];
    let (ok, text) = lvs1.ha(&["drain", &lab.web1.dr()]);
    assert!(ok, "ha drain: {text}\n{}", lvs1.log());
    wait_table(
        &lab.lvs1,
        &dr_service(),
        &[("192.168.2.20:80", 0), ("192.168.2.30:80", 1)],
        Duration::from_secs(5),
    );
    let web1 = dests_of(&lab.lvs1, &dr_service())
        .into_iter()
        .find(|d| d.address == lab.web1.dr())
        .unwrap();
    assert_eq!(web1.active, 1, "the held connection is still on web1");
    let status = lvs1.real_server(&vs_dr(), &lab.web1.dr());
    assert_eq!(status["drained"], true, "{status}");
    assert_eq!(status["weight"], 0, "{status}");
    assert_eq!(status["configured_weight"], 1, "{status}");
    assert_eq!(status["in_ipvs"], true, "{status}");

    let bodies = lab.get_n(DR_PORT, 6).unwrap();
    assert!(bodies.iter().all(|b| b == "2222"), "drained: {bodies:?}");
    // The connections opened before the drain are answered, web1's included.
    let mut finished: Vec<String> = held.map(|h| h.finish().unwrap()).into();
    finished.sort();
    assert_eq!(finished, ["1111", "2222"]);

    let (ok, text) = lvs1.ha(&["enable", &lab.web1.dr()]);
    assert!(ok, "ha enable: {text}");
    wait_table(
        &lab.lvs1,
        &dr_service(),
        &[("192.168.2.20:80", 1), ("192.168.2.30:80", 1)],
        Duration::from_secs(5),
    );
    assert_eq!(lvs1.real_server(&vs_dr(), &lab.web1.dr())["drained"], false);
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "after enable");
}

/// Changes made with ipvsadm behind the director's back are undone at the next verification.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn kernel_tampering_is_repaired() {
    if !preflight("kernel_tampering_is_repaired") {
        return;
    }
    let lab = Lab::new();
    let lvs1 = lab.start_director(
        "lvs1",
        &lab_config(Seed::Lvs1, &ConfigOptions::default()).text,
        &["--ipvs-verify-interval", "1"],
    );
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_full_table(&lab.lvs1, LONG);
    let repairs = lvs1.ipvs_counter("repairs");
    let before = ipvs_table_shape(&lab.lvs1);

    let dr = format!("{VIP}:{DR_PORT}");
    ipvsadm_change(&lab.lvs1, &["-d", "-t", &dr, "-r", "192.168.2.20:80"]);
    ipvsadm_change(
        &lab.lvs1,
        &["-e", "-t", &dr, "-r", "192.168.2.30:80", "-g", "-w", "7"],
    );
    ipvsadm_change(&lab.lvs1, &["-D", "-t", &format!("{VIP}:{NAT_PORT}")]);
    // The director may repair before this line runs (its verify interval is 1 s and TCG is
    // slow): either the tampering is still visible, or the repair is already counted.
    assert!(
        ipvs_table_shape(&lab.lvs1) != before || lvs1.ipvs_counter("repairs") > repairs,
        "the tampering neither took nor was repaired"
    );

    let took = wait_for(
        "the director restores its table",
        Duration::from_secs(5),
        || ipvs_table_shape(&lab.lvs1) == before,
    );
    println!("kernel table repaired {took:?} after the tampering");
    wait_for("ipvs.repairs counts it", Duration::from_secs(3), || {
        lvs1.ipvs_counter("repairs") > repairs
    });
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "DR after repair");
    assert_alternates(&lab.get_n(NAT_PORT, 4).unwrap(), "NAT after repair");
}

/// `quorum 2` over web1 + web2 (weight 1 each): losing one loses the quorum, the sorry server
/// takes all requests, quorum_down runs; web1 back, quorum_up runs and the sorry server goes.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn quorum_loss_switches_to_the_sorry_server_and_back() {
    if !preflight("quorum_loss_switches_to_the_sorry_server_and_back") {
        return;
    }
    let lab = Lab::new();
    let sorry = lab.add_web("sorry", "192.168.2.40", None, "sorry");
    let marks = lab.dir.join("quorum.log");
    let script = lab.dir.join("mark.sh");
    std::fs::write(
        &script,
        format!("#!/bin/sh\necho \"$1\" >> {}\n", marks.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let options = ConfigOptions {
        dr_extra: vec![
            "    quorum 2".into(),
            "    sorry_server 192.168.2.40 80".into(),
            format!("    quorum_up \"{} up\"", script.display()),
            format!("    quorum_down \"{} down\"", script.display()),
        ],
        ..ConfigOptions::default()
    };
    let lvs1 = lab.start_director("lvs1", &lab_config(Seed::Lvs1, &options).text, &[]);
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_full_table(&lab.lvs1, LONG);
    let vs = || {
        lvs1.status()["virtual_servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == vs_dr().as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(vs()["quorum_up"], true);
    let lines = || -> Vec<String> {
        std::fs::read_to_string(&marks)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };

    lab.web1.stop();
    wait_table(&lab.lvs1, &dr_service(), &[("192.168.2.40:80", 1)], LONG);
    let bodies = lab.get_n(DR_PORT, 4).unwrap();
    assert!(bodies.iter().all(|b| b == "sorry"), "{bodies:?}");
    assert!(sorry.served() >= 4);
    let v = vs();
    assert_eq!(v["quorum_up"], false, "{v}");
    assert_eq!(v["sorry_server_active"], true, "{v}");
    wait_for("quorum_down ran", Duration::from_secs(5), || {
        lines().last().map(String::as_str) == Some("down")
    });
    // The NAT virtual server has no quorum: it goes on with web2 alone.
    wait_table(&lab.lvs1, &nat_service(), &[("10.0.0.30:80", 1)], LONG);

    lab.web1.start();
    wait_table(
        &lab.lvs1,
        &dr_service(),
        &[("192.168.2.20:80", 1), ("192.168.2.30:80", 1)],
        LONG,
    );
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "quorum back");
    let v = vs();
    assert_eq!(v["quorum_up"], true, "{v}");
    assert_eq!(v["sorry_server_active"], false, "{v}");
    wait_for(
        "quorum_up ran after quorum_down",
        Duration::from_secs(5),
        || {
            let l = lines();
            let down = l.iter().rposition(|m| m == "down");
            down.is_some_and(|d| l[d + 1..].iter().any(|m| m == "up"))
        },
    );
}

/// ha extension `ha_announce` (scale-out behind ECMP): the DR virtual server's address is a
/// /32 on the dummy announce interface while the virtual server has quorum, off it once quorum
/// is lost (web1 stops, quorum 2), back when web1 returns, off after `ha drain --director`
/// (back after `ha enable --director`) and after SIGTERM. IPVS is not touched by the drain.
/// Prints the time from quorum loss (as `ha status` first shows it) to the withdrawal.
#[test]
#[ignore = "needs IPVS and the dummy module: run by cargo xtask vm-test"]
fn announced_address_follows_quorum_drain_and_stop() {
    if !preflight("announced_address_follows_quorum_drain_and_stop") {
        return;
    }
    const ANNOUNCE: &str = "ha-announce";
    let lab = Lab::new();
    let options = ConfigOptions {
        dr_extra: vec!["    quorum 2".into(), "    ha_announce".into()],
        without_nat: true,
        ..ConfigOptions::default()
    };
    let mut lvs1 = lab.start_director("lvs1", &lab_config(Seed::Lvs1, &options).text, &[]);
    let announced = || {
        lab.lvs1
            .output(&["ip", "-4", "addr", "show", "dev", ANNOUNCE])
            .contains(&format!("inet {VIP}/32"))
    };
    wait_for("the VIP on the announce interface", LONG, announced);
    assert!(lab
        .lvs1
        .output(&["ip", "-d", "link", "show", ANNOUNCE])
        .contains("dummy"));
    let both = [("192.168.2.20:80", 1), ("192.168.2.30:80", 1)];
    wait_table(&lab.lvs1, &dr_service(), &both, LONG);
    let vs = || {
        lvs1.status()["virtual_servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == vs_dr().as_str())
            .cloned()
            .unwrap()
    };
    assert_eq!(vs()["announced"], true);

    lab.web1.stop();
    let stopped = Instant::now();
    let mut quorum_lost = None;
    wait_for("withdrawal after quorum loss", LONG, || {
        if quorum_lost.is_none() && vs()["quorum_up"] == false {
            quorum_lost = Some(Instant::now());
        }
        !announced()
    });
    let withdrawn = Instant::now();
    println!(
        "ha_announce: web1 stopped -> withdrawn {}; quorum loss in ha status -> withdrawn {} ms",
        secs(withdrawn - stopped),
        withdrawn
            .saturating_duration_since(quorum_lost.unwrap_or(withdrawn))
            .as_millis()
    );
    assert_eq!(vs()["announced"], false);
    assert!(
        lvs1.log().contains(&format!(
            "virtual server {}: WITHDRAWN (quorum DOWN); {VIP} off the announce interface",
            vs_dr()
        )),
        "{}",
        lvs1.log()
    );

    lab.web1.start();
    wait_for("the VIP announced again", LONG, announced);

    let (ok, out) = lvs1.ha(&["drain", "--director"]);
    assert!(ok, "{out}");
    assert!(!announced(), "drained, still announced: {out}");
    assert_eq!(vs()["quorum_up"], true);
    wait_table(&lab.lvs1, &dr_service(), &both, SLACK);
    let (ok, out) = lvs1.ha(&["enable", "--director"]);
    assert!(ok, "{out}");
    assert!(announced(), "enabled, not announced: {out}");

    lvs1.kill(Signal::SIGTERM);
    assert!(!announced(), "announced after SIGTERM");
}

/// Scale-out with FRR in the VM: a router namespace peers by BGP (and BFD) with lvs1, both
/// running FRR's zebra, bfdd and bgpd from `examples/scale-out` unchanged. lvs1 announces a
/// DR virtual server on 192.0.2.10 (web1 and web2, quorum 2) with `ha_announce` on its dummy
/// interface; the router learns the address, loses it when quorum is lost (web1 stops) and
/// learns it again when web1 returns. Prints the time from quorum loss to the router's
/// route going.
#[test]
#[ignore = "needs IPVS, the dummy module and FRR: run by cargo xtask vm-test"]
fn frr_router_learns_and_withdraws_the_announced_address() {
    use common::frr::{example, Frr, TempDir};
    const SERVICE: &str = "192.0.2.10";
    if !preflight("frr_router_learns_and_withdraws_the_announced_address") {
        return;
    }
    let lab = Lab::new();
    // The router, on a link of its own to lvs1 (the addresses of the example files).
    let router = common::netns::Netns::new("frr-rt");
    let (a, b) = (
        format!("fr{}a", std::process::id() % 100_000),
        format!("fr{}b", std::process::id() % 100_000),
    );
    let host_ip = |args: &[&str]| {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "ip {args:?}: {out:?}");
    };
    host_ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
    host_ip(&["link", "set", &a, "netns", &router.name]);
    host_ip(&["link", "set", &b, "netns", &lab.lvs1.name]);
    for (ns, dev, addr) in [
        (&router, &a, "10.0.1.1/24"),
        (&lab.lvs1, &b, "10.0.1.11/24"),
    ] {
        ns.exec(&["ip", "addr", "add", addr, "dev", dev]);
        ns.exec(&["ip", "link", "set", dev, "up"]);
    }
    let dir = TempDir(lab.dir.join("frr"));
    let _router_frr = Frr::start(&router, dir.0.join("router"), &example("frr-router.conf"));
    let _lvs1_frr = Frr::start(&lab.lvs1, dir.0.join("lvs1"), &example("frr.conf"));
    // A service address of its own (the router accepts 192.0.2.0/24's hosts): the VRRP VIP
    // is also on ens32, and zebra keeps announcing a connected prefix another interface
    // still holds (ha check warns about that overlap).
    let mut config = lab_config(
        Seed::Lvs1,
        &ConfigOptions {
            without_nat: true,
            ..ConfigOptions::default()
        },
    )
    .text;
    config.push_str(&format!(
        "virtual_server {SERVICE} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind DR\n    \
         protocol TCP\n    quorum 2\n    ha_announce\n{}\n{}\n}}\n",
        real_server_block("192.168.2.20", 80).join("\n"),
        real_server_block("192.168.2.30", 80).join("\n"),
    ));
    let lvs1 = lab.start_director("lvs1", &config, &[]);
    let learned = || {
        router
            .output(&["ip", "route", "show", SERVICE])
            .contains(&format!("via 10.0.1.11 dev {a} proto bgp"))
    };
    let took = wait_for(
        "the router to learn the service address",
        Duration::from_secs(60),
        learned,
    );
    println!(
        "frr: the router learned {SERVICE} by BGP {} after ha started",
        secs(took)
    );
    let vs = || {
        lvs1.status()["virtual_servers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == format!("{SERVICE}:80").as_str())
            .cloned()
            .unwrap()
    };

    lab.web1.stop();
    let mut quorum_lost = None;
    wait_for("the router to lose the service address", LONG, || {
        if quorum_lost.is_none() && vs()["quorum_up"] == false {
            quorum_lost = Some(Instant::now());
        }
        !learned()
    });
    let gone = Instant::now();
    println!(
        "frr: quorum loss in ha status -> the router's route gone {} ms",
        gone.saturating_duration_since(quorum_lost.unwrap_or(gone))
            .as_millis()
    );
    lab.web1.start();
    wait_for(
        "the router to learn the service address again",
        LONG,
        learned,
    );
}

/// Scale-out behind an ECMP router (issue 15, `common::ecmp`): three directors announce
/// 192.0.2.10:80 (DR over web1..web3) by BGP to a router hashing flows on the 5-tuple. The
/// client holds 240 long-lived flows; director d3's node dies (links dark, `ha run` and FRR
/// killed with SIGKILL). Once the router has dropped d3's path, every flow is tried again: it
/// is broken when it fails or another real server answers. The router's hash-threshold
/// rehash moves d3's flows and some of the survivors' to other directors, which (with
/// `sloppy_tcp`) schedule them afresh: with Maglev hashing (`mh`, `mh-port`) every director
/// picks the flow's real server, so none break; with `rr` two in three moved flows reach
/// another real server and are reset. With `mh`, then: web3 fails its checks (both surviving
/// directors give it weight 0; the other flows go on) and comes back; d1 loses quorum (its
/// link to the real servers goes down), withdraws (its flows move to d2 and go on) and
/// announces again when the link returns. The `mh` run has BFD (the examples), the `rr` run
/// only the hold timer (`timers 3 9`); both print the time from the crash to the router's
/// route shrinking. `cargo xtask demo --scale-out` shows this test's timeline.
#[test]
#[ignore = "needs IPVS, the dummy module and FRR: run by cargo xtask vm-test"]
fn ecmp_three_directors_mh_keeps_flows_rr_breaks_them() {
    use common::ecmp::{
        active_per_real_server, crash_run, ipvs_service, one_line, open_flows, probe, CrashOutcome,
        CrashRun, REAL_SERVERS,
    };
    const FLOWS: usize = 240;
    if !preflight("ecmp_three_directors_mh_keeps_flows_rr_breaks_them") {
        return;
    }
    let report = |algo: &str, bfd: &str, o: &CrashOutcome| {
        let crashed = o.per_director[o.crashed];
        println!(
            "ecmp: {algo} ({bfd}): d{} crashed -> the router's route shrank after {} ms; \
             broken {}/{} flows ({:.1}%): {}/{crashed} of d{}'s, {}/{} of the survivors'; {:?}",
            o.crashed + 1,
            o.shrink.as_millis(),
            o.broken(),
            o.flows,
            CrashOutcome::percent(o.broken(), o.flows),
            o.broken_of_crashed,
            o.crashed + 1,
            o.broken_of_survivors,
            o.flows - crashed,
            o.reasons,
        );
    };
    let tl = Timeline::default();
    let CrashRun {
        outcome: mh,
        mut flows,
        lab,
    } = crash_run(&tl, "ecmh", "mh", &["mh-port"], true, FLOWS, 2);
    report("mh", "BFD", &mh);
    // Every director schedules a moved flow to the same real server.
    assert!(
        CrashOutcome::percent(mh.broken(), mh.flows) <= 5.0,
        "mh: {} of {} flows broke",
        mh.broken(),
        mh.flows
    );

    // A real server fails: every director gives it weight 0 (inhibit_on_failure).
    let web3 = format!("{}:80", REAL_SERVERS[2]);
    let survivors = &lab.directors[..2];
    let web3_weight = |w: i64| {
        survivors.iter().all(|d| {
            dests_of(&d.ns, &ipvs_service())
                .iter()
                .any(|dest| dest.address == web3 && dest.weight == w)
        })
    };
    tl.section("a real server fails, then a director loses quorum (lb_algo mh)");
    lab.servers[2].close();
    tl.log(
        "web3",
        "stops listening (established connections still answered)",
    );
    let took = wait_for("d1 and d2 give web3 weight 0", LONG, || web3_weight(0));
    tl.log("d1, d2", format!("web3 weight 0 after {}", secs(took)));
    let results = probe(&mut flows);
    let broken = |on_web3: bool| {
        flows
            .iter()
            .zip(&results)
            .filter(|(f, r)| (f.server == "web3") == on_web3 && r.is_err())
            .count()
    };
    let (others, on_web3) = (broken(false), broken(true));
    tl.log(
        "client",
        format!("flows tried again: {others} broken on web1/web2, {on_web3} on web3"),
    );
    assert_eq!(others, 0, "flows to web1 and web2 broke when web3 failed");
    lab.servers[2].listen();
    let took = wait_for("d1 and d2 give web3 weight 1 again", LONG, || {
        web3_weight(1)
    });
    tl.log(
        "d1, d2",
        format!("web3 back, weight 1 after {}", secs(took)),
    );

    // d1 loses its real servers: quorum lost, withdrawn; its flows move to d2 and go on.
    lab.cut_back_link(0, true);
    let cut = Instant::now();
    tl.log("d1", "its link to the real servers goes down");
    wait_for("the router to keep only d2", LONG, || lab.nexthops() == [1]);
    tl.log(
        "router",
        format!(
            "{} later, d1 withdrawn: {}",
            secs(cut.elapsed()),
            one_line(&lab.route())
        ),
    );
    let broken = probe(&mut flows).iter().filter(|r| r.is_err()).count();
    tl.log(
        "client",
        format!("flows tried again, all through d2: {broken} broken"),
    );
    tl.log(
        "d2",
        format!("active: {}", active_per_real_server(&lab.directors[1])),
    );
    assert!(
        CrashOutcome::percent(broken, FLOWS) <= 5.0,
        "mh: {broken} of {FLOWS} flows broke when d1 withdrew"
    );
    lab.cut_back_link(0, false);
    let restored = Instant::now();
    wait_for("the router to learn d1 again", LONG, || {
        lab.nexthops() == [0, 1]
    });
    tl.log(
        "router",
        format!(
            "{} after d1's link returned, d1 announces again: {}",
            secs(restored.elapsed()),
            one_line(&lab.route())
        ),
    );
    // A director joining: the rehash moves about half of d2's flows to d1, which never saw
    // them.
    let mh_join = probe(&mut flows).iter().filter(|r| r.is_err()).count();
    tl.log(
        "client",
        format!("flows tried again after d1 joined: {mh_join} broken"),
    );
    println!("ecmp: mh: a director joins (d1 back beside d2): broken {mh_join}/{FLOWS} flows");
    assert!(
        CrashOutcome::percent(mh_join, FLOWS) <= 5.0,
        "mh: {mh_join} of {FLOWS} flows broke when d1 joined"
    );
    drop(flows);
    drop(lab);

    let CrashRun {
        outcome: rr, lab, ..
    } = crash_run(&tl, "ecrr", "rr", &[], false, FLOWS, 2);
    report("rr", "no BFD", &rr);
    // A director joining with rr: fresh flows all through d2, then d1 comes back.
    tl.section("a director joins (lb_algo rr)");
    lab.cut_back_link(0, true);
    wait_for("the router to keep only d2", LONG, || lab.nexthops() == [1]);
    let mut fresh = open_flows(&lab.client, FLOWS);
    tl.log("client", format!("{FLOWS} fresh flows, all through d2"));
    lab.cut_back_link(0, false);
    wait_for("the router to learn d1 again", LONG, || {
        lab.nexthops() == [0, 1]
    });
    let rr_join = probe(&mut fresh).iter().filter(|r| r.is_err()).count();
    tl.log(
        "client",
        format!("flows tried again after d1 joined: {rr_join} broken"),
    );
    println!("ecmp: rr: a director joins (d1 back beside d2): broken {rr_join}/{FLOWS} flows");
    assert!(
        rr_join > 3 * mh_join.max(1),
        "rr join {rr_join} vs mh join {mh_join}"
    );
    drop(fresh);
    drop(lab);
    // rr: two in three moved flows land on another real server; all of d3's moved.
    let crashed = rr.per_director[rr.crashed];
    assert!(
        CrashOutcome::percent(rr.broken_of_crashed, crashed) >= 30.0,
        "rr: only {} of d3's {crashed} flows broke",
        rr.broken_of_crashed
    );
    assert!(
        rr.broken() > 3 * mh.broken().max(1),
        "rr {} vs mh {}",
        rr.broken(),
        mh.broken()
    );
}

/// A reload that adds web3 to the DR virtual server applies exactly one IPVS operation; web1
/// and web2 keep their health state and their open connections.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn reload_adding_one_real_server_changes_only_that_one() {
    if !preflight("reload_adding_one_real_server_changes_only_that_one") {
        return;
    }
    let lab = Lab::new();
    let _web3 = lab.add_web("web3", "192.168.2.50", None, "3333");
    let lvs1 = lab.start_director(
        "lvs1",
        &lab_config(Seed::Lvs1, &ConfigOptions::default()).text,
        &[],
    );
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_full_table(&lab.lvs1, LONG);
    wait_for("web1 and web2 checked up", LONG, || {
        [lab.web1.dr(), lab.web2.dr()]
            .iter()
            .all(|rs| lvs1.real_server(&vs_dr(), rs)["health"] == "up")
    });
    let kept = |status: &serde_json::Value| {
        (
            status["health"].clone(),
            status["last_reason"].clone(),
            status["weight"].clone(),
            status["in_ipvs"].clone(),
        )
    };
    let web1_before = kept(&lvs1.real_server(&vs_dr(), &lab.web1.dr()));
    let web2_before = kept(&lvs1.real_server(&vs_dr(), &lab.web2.dr()));
    let held = [lab.hold(DR_PORT), lab.hold(DR_PORT)];
    let nat_before = weights(&lab.lvs1, &nat_service());
    let operations = lvs1.ipvs_counter("operations");

    let options = ConfigOptions {
        dr_extra: real_server_block("192.168.2.50", 80),
        ..ConfigOptions::default()
    };
    lvs1.write_config(&lab_config(Seed::Lvs1, &options).text);
    let (ok, text) = lvs1.ha(&["reload"]);
    assert!(ok, "ha reload: {text}\n{}", lvs1.log());
    wait_table(
        &lab.lvs1,
        &dr_service(),
        &[
            ("192.168.2.20:80", 1),
            ("192.168.2.30:80", 1),
            ("192.168.2.50:80", 1),
        ],
        LONG,
    );
    wait_for("web3 checked up", LONG, || {
        lvs1.real_server(&vs_dr(), "192.168.2.50:80")["health"] == "up"
    });
    // A few check rounds: nothing else may move.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        lvs1.ipvs_counter("operations") - operations,
        1,
        "one AddDest: {:#}\n{}",
        lvs1.status()["ipvs"]["last_operations"],
        lvs1.log()
    );
    assert_eq!(weights(&lab.lvs1, &nat_service()), nat_before);
    assert_eq!(
        kept(&lvs1.real_server(&vs_dr(), &lab.web1.dr())),
        web1_before
    );
    assert_eq!(
        kept(&lvs1.real_server(&vs_dr(), &lab.web2.dr())),
        web2_before
    );
    let mut finished: Vec<String> = held.map(|h| h.finish().unwrap()).into();
    finished.sort();
    assert_eq!(finished, ["1111", "2222"], "connections survive the reload");
    let mut bodies = lab.get_n(DR_PORT, 6).unwrap();
    bodies.sort();
    bodies.dedup();
    assert_eq!(bodies, ["1111", "2222", "3333"]);
}

/// SIGKILL leaves the kernel table; a director restarted on the same configuration adopts it
/// without a single IPVS operation.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn kill_9_and_restart_adopts_the_kernel_state_with_zero_operations() {
    if !preflight("kill_9_and_restart_adopts_the_kernel_state_with_zero_operations") {
        return;
    }
    let lab = Lab::new();
    let mut lvs1 = lab.start_director(
        "lvs1",
        &lab_config(Seed::Lvs1, &ConfigOptions::default()).text,
        &["--ipvs-verify-interval", "1"],
    );
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_full_table(&lab.lvs1, LONG);
    let before = ipvs_table_shape(&lab.lvs1);
    lvs1.kill(Signal::SIGKILL);
    assert_eq!(ipvs_table_shape(&lab.lvs1), before, "SIGKILL leaves IPVS");

    lvs1.restart();
    wait_for("every real server checked up", LONG, || {
        let status = lvs1.status();
        let servers: Vec<serde_json::Value> = status["virtual_servers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|vs| vs["real_servers"].as_array().cloned().unwrap_or_default())
            .collect();
        servers.len() == 4 && servers.iter().all(|rs| rs["health"] == "up")
    });
    // Two verification rounds at 1 s: still nothing to do.
    std::thread::sleep(Duration::from_secs(2));
    let status = lvs1.status();
    assert_eq!(
        status["ipvs"]["operations"],
        0,
        "{status:#}\n{}",
        lvs1.log()
    );
    assert_eq!(status["ipvs"]["repairs"], 0, "{status:#}");
    assert_eq!(ipvs_table_shape(&lab.lvs1), before);
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "DR after adoption");
}

/// The lab itself, without a director: the VIPs and the IPVS table set by hand (ip, ipvsadm)
/// balance by DR and by NAT, on lvs1 and then on lvs2.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn lab_balances_by_dr_and_nat_with_ipvs_programmed_by_hand() {
    if !preflight("lab_balances_by_dr_and_nat_with_ipvs_programmed_by_hand") {
        return;
    }
    let lab = Lab::new();
    let dr = format!("{VIP}:{DR_PORT}");
    let nat = format!("{VIP}:{NAT_PORT}");
    let program = |ns: &common::netns::Netns| {
        ns.exec(&["ip", "addr", "add", &format!("{VIP}/32"), "dev", EXT_IF]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{GATEWAY_VIP}/24"),
            "dev",
            INT_IF,
        ]);
        ipvsadm_change(ns, &["-A", "-t", &dr, "-s", "rr"]);
        ipvsadm_change(ns, &["-A", "-t", &nat, "-s", "rr"]);
        for web in [&lab.web1, &lab.web2] {
            ipvsadm_change(ns, &["-a", "-t", &dr, "-r", &web.dr(), "-g", "-w", "1"]);
            ipvsadm_change(ns, &["-a", "-t", &nat, "-r", &web.nat(), "-m", "-w", "1"]);
        }
    };
    program(&lab.lvs1);
    assert_eq!(lab.vip_holders(), ["lvs1"]);
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "DR via lvs1");
    assert_alternates(&lab.get_n(NAT_PORT, 4).unwrap(), "NAT via lvs1");
    assert_eq!(lab.client_path(), Some("lvs1"));
    // DR replies bypass the director: IPVS saw the connections, the web servers answered.
    assert_eq!(lab.web1.served() + lab.web2.served(), 8);

    // A failover by hand: the VIPs move, the neighbours forget the old MAC.
    lab.lvs1
        .exec(&["ip", "addr", "del", &format!("{VIP}/32"), "dev", EXT_IF]);
    lab.lvs1.exec(&[
        "ip",
        "addr",
        "del",
        &format!("{GATEWAY_VIP}/24"),
        "dev",
        INT_IF,
    ]);
    program(&lab.lvs2);
    lab.client.exec(&["ip", "neigh", "flush", "dev", EXT_IF]);
    for web in [&lab.web1, &lab.web2] {
        web.ns.exec(&["ip", "neigh", "flush", "dev", INT_IF]);
    }
    assert_eq!(lab.vip_holders(), ["lvs2"]);
    assert_alternates(&lab.get_n(DR_PORT, 4).unwrap(), "DR via lvs2");
    assert_alternates(&lab.get_n(NAT_PORT, 4).unwrap(), "NAT via lvs2");
    assert_eq!(lab.client_path(), Some("lvs2"));

    // Without health checks a stopped server keeps its turn: every other request fails.
    lab.web1.stop();
    let answers: Vec<Result<String, String>> = (0..4).map(|_| lab.get(DR_PORT)).collect();
    assert_eq!(
        answers
            .iter()
            .filter(|a| a.as_deref() == Ok("2222"))
            .count(),
        2,
        "{answers:?}"
    );
    assert!(
        answers.iter().any(|a| a.is_err()),
        "web1's turns fail: {answers:?}"
    );
    // An accepted connection outlives its server's listener.
    lab.web1.start();
    let accepted = lab.web1.accepted();
    let held = [lab.hold(DR_PORT), lab.hold(DR_PORT)];
    wait_for(
        "web1 accepts its connection",
        Duration::from_secs(3),
        || lab.web1.accepted() > accepted,
    );
    lab.web1.stop();
    let mut finished: Vec<String> = held.map(|h| h.finish().unwrap()).into();
    finished.sort();
    assert_eq!(finished, ["1111", "2222"]);
}

// Support code, no privileges needed.

#[test]
fn lab_configs_adapt_the_seed_and_pass_ha_check() {
    let dir = std::env::temp_dir().join(format!("ha-lab-configs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for nopreempt in [false, true] {
        let options = ConfigOptions {
            nopreempt,
            dr_extra: real_server_block("192.168.2.50", 80),
            ..ConfigOptions::default()
        };
        let c1 = lab_config(Seed::Lvs1, &options);
        let c2 = lab_config(Seed::Lvs2, &options);
        for text in [&c1.text, &c2.text] {
            assert!(text.contains(&format!("interface {EXT_IF}")), "{text}");
            assert!(
                !text.contains("ens32") && !text.contains("smtp_server"),
                "{text}"
            );
            assert!(!text.contains("persistence_timeout"), "{text}");
            assert!(text.contains("lb_kind NAT") && text.contains("10.0.0.254/24 dev eth1"));
            assert!(text.contains("real_server 192.168.2.50 80"), "{text}");
            assert_eq!(text.contains("nopreempt"), nopreempt);
        }
        assert!(c1.changes.len() >= 6, "{:?}", c1.changes);
        let (p1, p2) = (dir.join("lvs1.conf"), dir.join("lvs2.conf"));
        std::fs::write(&p1, &c1.text).unwrap();
        std::fs::write(&p2, &c2.text).unwrap();
        let out = std::process::Command::new(ha_bin())
            .arg("check")
            .args([&p1, &p2])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ha check:\n{}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            c1.text
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ipvsadm_output_parses() {
    let table = "IP Virtual Server version 1.2.1 (size=4096)\n\
        Prot LocalAddress:Port Scheduler Flags\n\
        \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
        TCP  192.168.2.200:80 rr\n\
        \x20 -> 192.168.2.20:80              Route   1      2          3\n\
        TCP  192.168.2.200:8080 rr\n\
        \x20 -> 10.0.0.30:80                 Masq    0      0          0\n";
    assert_eq!(
        ipvs_services(table),
        ["TCP 192.168.2.200:80 rr", "TCP 192.168.2.200:8080 rr"]
    );
    let dests = ipvs_dests(table);
    assert_eq!(dests.len(), 2);
    assert_eq!(dests[0].service, "TCP 192.168.2.200:80");
    assert_eq!(dests[0].address, "192.168.2.20:80");
    assert_eq!(
        (dests[0].weight, dests[0].active, dests[0].inactive),
        (1, 2, 3)
    );
    assert_eq!(dests[1].forward, "Masq");
}

#[test]
fn alternation_means_two_bodies_taking_turns() {
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert!(alternates(&s(&["1111", "2222", "1111", "2222"])));
    assert!(!alternates(&s(&["1111", "1111"])));
    assert!(!alternates(&s(&["1111", "2222", "2222"])));
}

/// `lvs_sync_daemon`: the master's kernel runs the master sync daemon and the backup's the
/// backup daemon; the backup learns the master's connections; the roles follow a failover,
/// and a stopped director stops its daemon.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn sync_daemon_follows_vrrp_mastership_and_syncs_connections() {
    if !preflight("sync_daemon_follows_vrrp_mastership_and_syncs_connections") {
        return;
    }
    let lab = Lab::new();
    let with_sync = |seed| {
        lab_config(seed, &ConfigOptions::default()).text.replacen(
            "global_defs {",
            &format!("global_defs {{\n   lvs_sync_daemon {EXT_IF} VI_1 id 7"),
            1,
        )
    };
    let daemons = |ns: &common::netns::Netns| ns.output(&["ipvsadm", "-L", "--daemon"]);
    let mut lvs1 = lab.start_director("lvs1", &with_sync(Seed::Lvs1), &[]);
    let lvs2 = lab.start_director("lvs2", &with_sync(Seed::Lvs2), &[]);
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_for("lvs1 master daemon, lvs2 backup daemon", LONG, || {
        daemons(&lab.lvs1).contains(&format!("master sync daemon (mcast={EXT_IF}, syncid=7"))
            && daemons(&lab.lvs2).contains(&format!("backup sync daemon (mcast={EXT_IF}, syncid=7"))
    });
    assert!(
        !daemons(&lab.lvs1).contains("backup"),
        "{}",
        daemons(&lab.lvs1)
    );
    assert_eq!(lvs1.status()["ipvs"]["sync_daemon"], "master");
    assert_eq!(lvs2.status()["ipvs"]["sync_daemon"], "backup");

    // A connection through lvs1 appears in lvs2's connection table.
    wait_full_table(&lab.lvs1, LONG);
    let held = lab.hold(DR_PORT);
    wait_for("the connection synchronised to lvs2", LONG, || {
        lab.lvs2
            .output(&["ipvsadm", "-Lnc"])
            .lines()
            .any(|l| l.contains(&format!("{VIP}:{DR_PORT}")) && l.contains("192.168.2.100"))
    });

    // SIGTERM: lvs1 hands over and stops its daemon; lvs2 becomes the master daemon.
    lvs1.kill(Signal::SIGTERM);
    wait_for("lvs2 master daemon", LONG, || {
        daemons(&lab.lvs2).contains("master sync daemon")
            && !daemons(&lab.lvs2).contains("backup sync daemon")
    });
    assert_eq!(
        daemons(&lab.lvs1).trim(),
        "",
        "a stopped director stops its daemon"
    );
    // The synchronised connection carries on through lvs2.
    let body = held
        .finish()
        .expect("the held connection finishes through lvs2");
    assert!(body == "1111" || body == "2222", "{body}");
}

/// keepalived's defaults for `lvs_sync_daemon`: the `inst` form without `id` runs the daemon
/// with the followed instance's VRID as its sync id (VI_1's 51), so that two directors of one
/// pair agree without saying it.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn sync_daemon_inst_form_takes_the_vrid_as_its_sync_id() {
    if !preflight("sync_daemon_inst_form_takes_the_vrid_as_its_sync_id") {
        return;
    }
    let lab = Lab::new();
    let text = lab_config(Seed::Lvs1, &ConfigOptions::default())
        .text
        .replacen(
            "global_defs {",
            &format!("global_defs {{\n   lvs_sync_daemon {EXT_IF} inst VI_1"),
            1,
        );
    let _lvs1 = lab.start_director("lvs1", &text, &[]);
    wait_for("lvs1 master daemon with syncid 51", LONG, || {
        lab.lvs1
            .output(&["ipvsadm", "-L", "--daemon"])
            .contains(&format!("master sync daemon (mcast={EXT_IF}, syncid=51"))
    });
}

/// `net_namespace_ipvs NAME`: the director runs VRRP and its checks in its own namespace but
/// programs its virtual servers in NAME's IPVS, and removes them from there at stop.
#[test]
#[ignore = "needs IPVS: run by cargo xtask vm-test"]
fn net_namespace_ipvs_programs_the_virtual_servers_in_that_namespace() {
    if !preflight("net_namespace_ipvs_programs_the_virtual_servers_in_that_namespace") {
        return;
    }
    let lab = Lab::new();
    let ipvs_ns = common::netns::Netns::new("ipvsns");
    let text = format!(
        "net_namespace_ipvs {}\n{}",
        ipvs_ns.name,
        lab_config(Seed::Lvs1, &ConfigOptions::default()).text
    );
    let mut lvs1 = lab.start_director("lvs1", &text, &[]);
    wait_for("lvs1 holds the VIP", LONG, || has_vip(&lab.lvs1));
    wait_for(
        "the virtual servers are in the IPVS namespace",
        LONG,
        || {
            // `TCP 192.168.2.200:80 rr`: the service, then its scheduler.
            let services = ipvs_services(&ipvsadm(&ipvs_ns));
            [dr_service(), nat_service()]
                .iter()
                .all(|vs| services.iter().any(|s| s.starts_with(&format!("{vs} "))))
        },
    );
    assert!(
        ipvs_services(&ipvsadm(&lab.lvs1)).is_empty(),
        "the director's own namespace stays empty:\n{}",
        ipvsadm(&lab.lvs1)
    );
    lvs1.kill(Signal::SIGTERM);
    wait_for("removed from the IPVS namespace at stop", LONG, || {
        ipvs_services(&ipvsadm(&ipvs_ns)).is_empty()
    });
}
