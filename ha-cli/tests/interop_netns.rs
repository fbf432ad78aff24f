//! `ha run` against keepalived 2.2.7 in network namespaces, through the binary (privileged):
//! VRRPv2 with PASS authentication and VRRPv3, IPv4 and IPv6, each side in each role.
//!
//! Both sides' VIPs are sampled every 20 ms for the whole run, from threads reading rtnetlink in
//! each namespace: there must never be two holders outside a takeover window. keepalived's log
//! is kept, and any complaint in it about what it received fails the test. After each
//! handover, the side that yielded must no longer hold the VIP.

mod common;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::ha::Director;
use common::keepalived::{complaints, Keepalived};
use common::netns::{require_root, veth_pair, Netns};
use nix::sys::signal::Signal;

#[derive(Clone, Copy, Debug)]
struct Case {
    version: u8,
    ipv6: bool,
}

impl Case {
    fn vip(self) -> &'static str {
        if self.ipv6 {
            "2001:db8:99::200"
        } else {
            "10.199.6.200"
        }
    }

    fn prefix(self) -> u8 {
        if self.ipv6 {
            64
        } else {
            24
        }
    }

    fn advert(self) -> Duration {
        if self.version == 2 {
            Duration::from_secs(1)
        } else {
            Duration::from_millis(100)
        }
    }

    /// The same instance for both daemons (keepalived's syntax is ha's).
    fn config(self, priority: u8, router_id: &str) -> String {
        let (interval, auth) = match self.version {
            2 => (
                "1",
                "  authentication {\n    auth_type PASS\n    auth_pass 1111\n  }\n",
            ),
            _ => ("0.1", ""),
        };
        format!(
            "global_defs {{\n  router_id {router_id}\n  vrrp_version {}\n  script_user root\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
             priority {priority}\n  advert_int {interval}\n{auth}  virtual_ipaddress {{\n    {}/{}\n  }}\n}}\n",
            self.version,
            self.vip(),
            self.prefix()
        )
    }
}

/// One side: ha or keepalived.
enum Side {
    Ha(Director),
    Keepalived(Keepalived),
}

impl Side {
    fn start(kind: &str, ns: &Netns, case: Case, priority: u8, tag: &str) -> Side {
        let text = case.config(priority, tag);
        match kind {
            "ha" => Side::Ha(common::ha::start_with(ns, &format!("{tag}.conf"), &text)),
            _ => Side::Keepalived(Keepalived::start(ns, tag, &text)),
        }
    }

    /// SIGTERM: a priority-0 advert, the VIP removed.
    fn stop(&mut self) {
        match self {
            Side::Ha(d) => d.signal(Signal::SIGTERM),
            Side::Keepalived(k) => k.stop(),
        }
    }
}

/// Samples whether `address` is on `eth0` in a namespace every 20 ms, from a thread living in
/// it (rtnetlink, no process per sample).
struct Sampler {
    samples: Arc<Mutex<Vec<(Instant, bool)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    fn start(ns: &Netns, address: IpAddr) -> Sampler {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let name = ns.name.clone();
        let (s, st) = (Arc::clone(&samples), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            testkit::netns::enter_named(&name);
            let mut rtnl = director::net::Rtnl::open().unwrap();
            let ifindex = director::net::interface_index("eth0").unwrap();
            while !st.load(Ordering::Relaxed) {
                let held = rtnl
                    .addresses(ifindex)
                    .is_ok_and(|list| list.iter().any(|(a, _)| *a == address));
                s.lock().unwrap().push((Instant::now(), held));
                std::thread::sleep(Duration::from_millis(20));
            }
        });
        Sampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    fn holds_now(&self) -> bool {
        self.samples.lock().unwrap().last().is_some_and(|s| s.1)
    }

    fn finish(mut self) -> Vec<(Instant, bool)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.samples.lock().unwrap())
    }
}

/// Times at which both sides held the VIP (by the two samplers' timelines).
fn overlaps(a: &[(Instant, bool)], b: &[(Instant, bool)]) -> Vec<Instant> {
    let held_at = |s: &[(Instant, bool)], t: Instant| {
        s.iter().rev().find(|(at, _)| *at <= t).is_some_and(|x| x.1)
    };
    a.iter()
        .filter(|(t, held)| *held && held_at(b, *t))
        .map(|(t, _)| *t)
        .collect()
}

fn wait(what: &str, limit: Duration, done: impl FnMut() -> bool) -> Duration {
    testkit::wait_every(what, limit, Duration::from_millis(20), done)
}

/// `first` (priority 150) and `second` (priority 100), each "ha" or "keepalived": election,
/// graceful stop of the master, its restart and preemption.
fn run(case: Case, first: &str, second: &str, tag: &str) {
    let (n1, n2) = veth_pair(
        tag,
        ("10.199.6.1/24", "fe80::a/64"),
        ("10.199.6.2/24", "fe80::b/64"),
    );
    let vip: IpAddr = case.vip().parse().unwrap();
    let s1 = Sampler::start(&n1, vip);
    let s2 = Sampler::start(&n2, vip);
    let mut events: Vec<Instant> = vec![Instant::now()];
    let mut a = Side::start(first, &n1, case, 150, &format!("{tag}1"));
    let b = Side::start(second, &n2, case, 100, &format!("{tag}2"));
    // Master-down with nothing heard: 3 adverts + skew, plus start-up.
    let master_down = case.advert() * 4 + Duration::from_secs(3);
    wait("the first side's election", master_down, || {
        s1.holds_now() && !s2.holds_now()
    });
    // Graceful stop: priority 0, the second side takes over in its skew time.
    events.push(Instant::now());
    a.stop();
    wait(
        "the second side takes over",
        case.advert() + Duration::from_secs(2),
        || s2.holds_now(),
    );
    assert!(!s1.holds_now(), "{first} kept the VIP after stopping");
    // Restart: the first side preempts after its master-down interval; the second yields.
    events.push(Instant::now());
    let a2 = Side::start(first, &n1, case, 150, &format!("{tag}3"));
    wait("the first side preempts", master_down, || s1.holds_now());
    events.push(Instant::now());
    wait(
        "the second side yields",
        case.advert() + Duration::from_secs(2),
        || !s2.holds_now(),
    );
    // Steady for a few adverts: one holder.
    std::thread::sleep(case.advert() * 3);
    assert!(s1.holds_now() && !s2.holds_now());
    let t1 = s1.finish();
    let t2 = s2.finish();
    // Two holders only right after a handover: within one advert interval (the loser hears
    // the winner's first advert) plus the samplers' and processes' delays.
    let window = case.advert() + Duration::from_millis(500);
    let takeovers = [events[1], events[3]];
    for t in overlaps(&t1, &t2) {
        assert!(
            takeovers
                .iter()
                .any(|e| t + Duration::from_millis(200) >= *e && t <= *e + window),
            "{first} and {second} both held the VIP at {:?}, outside a takeover",
            t.duration_since(events[0])
        );
    }
    let long_overlap = overlaps(&t1, &t2).len() as u32 * Duration::from_millis(20);
    assert!(
        long_overlap <= window * 2,
        "{first} and {second} both held the VIP for {long_overlap:?} in all"
    );
    for side in [&a, &b, &a2] {
        if let Side::Keepalived(k) = side {
            let log = k.log();
            let found = complaints(&log);
            assert!(
                found.is_empty(),
                "keepalived complained about our adverts:\n{}\n--- its log ---\n{log}",
                found.join("\n")
            );
            assert!(log.contains("Entering"), "keepalived ran:\n{log}");
        }
    }
}

fn both_roles(case: Case, tag: &str) {
    run(case, "ha", "keepalived", &format!("{tag}h"));
    run(case, "keepalived", "ha", &format!("{tag}k"));
}

#[test]
fn vrrpv2_pass_ipv4_both_roles() {
    if !require_root("vrrpv2_pass_ipv4_both_roles") {
        return;
    }
    both_roles(
        Case {
            version: 2,
            ipv6: false,
        },
        "i2",
    );
}

#[test]
fn vrrpv3_ipv4_both_roles() {
    if !require_root("vrrpv3_ipv4_both_roles") {
        return;
    }
    both_roles(
        Case {
            version: 3,
            ipv6: false,
        },
        "i3",
    );
}

#[test]
fn vrrpv3_ipv6_both_roles() {
    if !require_root("vrrpv3_ipv6_both_roles") {
        return;
    }
    both_roles(
        Case {
            version: 3,
            ipv6: true,
        },
        "i6",
    );
}

/// The complaint check can fail: with another password on ha's side, keepalived's log says so
/// and `complaints` finds it.
#[test]
fn keepalived_complaints_are_seen() {
    if !require_root("keepalived_complaints_are_seen") {
        return;
    }
    let case = Case {
        version: 2,
        ipv6: false,
    };
    let (n1, n2) = veth_pair(
        "ic",
        ("10.199.6.1/24", "fe80::a/64"),
        ("10.199.6.2/24", "fe80::b/64"),
    );
    let text = case
        .config(150, "ic1")
        .replace("auth_pass 1111", "auth_pass 2222");
    let _ha = common::ha::start_with(&n1, "ic1.conf", &text);
    let ka = Keepalived::start(&n2, "ic2", &case.config(100, "ic2"));
    wait("keepalived complains", Duration::from_secs(10), || {
        !complaints(&ka.log()).is_empty()
    });
    println!("{}", complaints(&ka.log()).join("\n"));
}
