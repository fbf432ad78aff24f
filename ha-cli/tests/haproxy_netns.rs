//! keepalived + haproxy, the seed's second pattern, with `ha run --vrrp` as the VRRP half
//! (privileged; no IPVS): two proxy nodes run Debian's haproxy in front of two busybox web
//! servers, and `ha` moves the VIP to a node whose haproxy is alive. The lab is
//! `common/haproxy_lab.rs`; the configurations are `examples/haproxy/`, unchanged where the
//! scenario says so.
//!
//! Every timing is taken from outside the directors: the VIP's arrivals and departures from
//! `ip monitor` in the nodes (checked against `ip addr`), requests from the client, VRRP
//! adverts read on the client's wire. `ha status` is only shown, or waited for. Bounds
//! on timings are generous and come from the protocol: a backup takes over once it has heard
//! no advert of at least its priority for its master-down interval (3 x advert_int + skew).
//!
//! `demo_haproxy` (ignored here) runs every scenario as one timeline with a summary:
//! `cargo xtask demo --haproxy`.

#[path = "common/haproxy_lab.rs"]
mod haproxy_lab;

use std::time::{Duration, Instant};

use haproxy_lab::*;

/// advert_int of the example pair.
const ADVERT_INT: Duration = Duration::from_secs(1);
/// Slack for polling, process start-up and a loaded machine.
const SLACK: Duration = Duration::from_secs(3);
/// ha started to the first MASTER: a master-down interval, a generous allowance.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How often the client asks while waiting for the VIP to move.
const FAST: Duration = Duration::from_millis(200);
/// How often it asks otherwise.
const SLOW: Duration = Duration::from_millis(500);

/// A backup's master-down interval in the example pair (VRRPv2, advert_int 1): 3 x 1 s + skew
/// (256 - priority) / 256 s.
fn master_down(priority: u8) -> Duration {
    3 * ADVERT_INT + ADVERT_INT.mul_f64(f64::from(256 - u16::from(priority)) / 256.0)
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `1 request failed`, `3 requests answered`.
fn requests(n: usize, what: &str) -> String {
    let s = if n == 1 { "" } else { "s" };
    format!("{n} request{s} {what}")
}

/// How the nodes watch their haproxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tracking {
    /// `vrrp_track_process haproxy` (proxy1.conf, proxy2.conf).
    Process,
    /// `vrrp_script chk_haproxy`, the stats socket (proxy1-script.conf, proxy2-script.conf).
    Script,
}

impl Tracking {
    fn files(self) -> [&'static str; 2] {
        match self {
            Tracking::Process => ["proxy1.conf", "proxy2.conf"],
            Tracking::Script => ["proxy1-script.conf", "proxy2-script.conf"],
        }
    }

    fn title(self) -> &'static str {
        match self {
            Tracking::Process => "process tracking (vrrp_track_process haproxy, weight -50)",
            Tracking::Script => {
                "script tracking (vrrp_script check_haproxy.sh: \"show info\" on the stats \
                 socket, interval 1, fall 2, rise 2, weight -50)"
            }
        }
    }

    /// The longest a node takes to see its haproxy die or come back: the /proc poll (200 ms),
    /// or two script runs a second apart (fall 2 / rise 2, interval 1), each up to 1 s.
    fn detection(self) -> Duration {
        match self {
            Tracking::Process => Duration::from_millis(500),
            Tracking::Script => Duration::from_secs(3),
        }
    }
}

/// The example files of a tracking variant, unchanged.
fn configs(tracking: Tracking) -> [String; 2] {
    tracking.files().map(example)
}

/// How long haproxy must stay dead (or alive) before it counts, in the `delay` variant.
const DELAY: Duration = Duration::from_secs(2);
/// How long haproxy is down in the `delay` variant's restart.
const RESTART_GAP: Duration = Duration::from_secs(1);

/// The nopreempt variant of proxy1.conf / proxy2.conf, and the changes, each with its reason.
/// With `weight` false the tracked process has no weight (keepalived's default 0): a dead
/// haproxy puts the instance in FAULT. With `delay`, `delay 2` in the tracked process.
fn nopreempt_configs(weight: bool, delay: bool) -> ([String; 2], Vec<&'static str>) {
    let mut changes = vec![
        "state BACKUP on both nodes (keepalived ignores nopreempt with state MASTER), and \
         nopreempt: a node that comes back does not take the VIP back",
    ];
    if !weight {
        changes.push(
            "vrrp_track_process haproxy without its `weight -50`: a dead haproxy puts the \
             instance in FAULT (a nopreempt backup follows any master, whatever its priority, so \
             a weight alone would never move the VIP)",
        );
    }
    if delay {
        changes.push(
            "`delay 2` in vrrp_track_process haproxy: the quorum must stay lost (or regained) \
             2 s before it counts, so that a restart rides through",
        );
    }
    let configs = ["proxy1.conf", "proxy2.conf"].map(|file| {
        let text = example(file);
        let mut out = String::new();
        for line in text.lines() {
            match line.trim() {
                "state MASTER" | "state BACKUP" => {
                    out.push_str("    state BACKUP\n    nopreempt\n");
                }
                "weight -50" if !weight => {}
                "process haproxy" if delay => {
                    out.push_str(line);
                    out.push_str("\n    delay 2\n");
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        assert!(out.contains("nopreempt"), "{file}: no state line");
        assert_eq!(
            out.contains("weight -50"),
            weight,
            "{file}: its weight line changed"
        );
        assert_eq!(out.contains("delay 2"), delay, "{file}: no process line");
        out
    });
    (configs, changes)
}

/// The client's requests, logged on the timeline; where the VIP is comes from the lab's
/// `ip monitor` (which logs its changes itself).
struct Observer {
    tl: Timeline,
    /// A run of failed requests with the same error: (error, count, last one).
    failing: Option<(String, usize, Instant)>,
    /// A run of requests answered through one proxy while watching.
    answering: Option<Answers>,
}

/// Requests answered through `proxy` in a row: the first [`Answers::SHOWN`] are logged, the
/// others counted, with the web servers that answered them.
struct Answers {
    proxy: String,
    count: usize,
    webs: Vec<String>,
    last: Instant,
}

impl Answers {
    const SHOWN: usize = 2;
}

/// One move of the VIP, seen from outside.
#[derive(Debug, Clone, Copy)]
struct Takeover {
    /// From the event to the VIP on the new node (`ip addr`).
    vip: Duration,
    /// From the event to the first answer relayed by the new node.
    restored: Duration,
    failed: usize,
    answered: usize,
}

impl Observer {
    fn new(tl: Timeline) -> Observer {
        Observer {
            tl,
            failing: None,
            answering: None,
        }
    }

    /// One request through the VIP, logged; a run of identical failures takes two lines.
    fn request(&mut self, lab: &Lab) -> Result<Reply, String> {
        let result = lab.get();
        match &result {
            Ok(reply) => {
                self.end_failures();
                self.end_answers();
                self.tl
                    .log("client", format!("GET http://{VIP}/ -> {reply}"));
            }
            Err(error) => self.failed(error),
        }
        result
    }

    /// A request while watching: answers through the same proxy are counted after the first
    /// few, so that a long watch stays readable.
    fn watched_request(&mut self, lab: &Lab) -> Result<Reply, String> {
        let result = lab.get();
        match &result {
            Ok(reply) => {
                self.end_failures();
                if self
                    .answering
                    .as_ref()
                    .is_some_and(|run| run.proxy != reply.proxy)
                {
                    self.end_answers();
                }
                let run = self.answering.get_or_insert_with(|| Answers {
                    proxy: reply.proxy.clone(),
                    count: 0,
                    webs: Vec::new(),
                    last: Instant::now(),
                });
                run.count += 1;
                run.last = Instant::now();
                if run.count <= Answers::SHOWN {
                    self.tl
                        .log("client", format!("GET http://{VIP}/ -> {reply}"));
                } else if !run.webs.contains(&reply.web) {
                    run.webs.push(reply.web.clone());
                }
            }
            Err(error) => {
                self.end_answers();
                self.failed(error);
            }
        }
        result
    }

    fn failed(&mut self, error: &str) {
        match &mut self.failing {
            Some((same, count, last)) if same == error => {
                *count += 1;
                *last = Instant::now();
            }
            _ => {
                self.end_failures();
                self.tl
                    .log("client", format!("GET http://{VIP}/ -> FAILED: {error}"));
                self.failing = Some((error.to_string(), 1, Instant::now()));
            }
        }
    }

    fn end_failures(&mut self) {
        if let Some((error, count, last)) = self.failing.take() {
            if count > 1 {
                self.tl.log(
                    "client",
                    format!(
                        "... {} more failed the same way ({error}), the last at {}",
                        count - 1,
                        self.tl.stamp(last)
                    ),
                );
            }
        }
    }

    fn end_answers(&mut self) {
        if let Some(run) = self.answering.take() {
            if run.count > Answers::SHOWN {
                let mut webs = run.webs.clone();
                webs.sort();
                self.tl.log(
                    "client",
                    format!(
                        "... {} more answered by {} via {}, the last at {}",
                        run.count - Answers::SHOWN,
                        webs.join(" and "),
                        run.proxy,
                        self.tl.stamp(run.last)
                    ),
                );
            }
        }
    }

    /// `n` requests that must all be answered by `proxy`: the web servers that answered.
    fn answered_by(&mut self, lab: &Lab, proxy: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| match self.request(lab) {
                Ok(reply) if reply.proxy == proxy => reply.web,
                other => panic!("a request through {proxy}: {other:?}\n{}", lab.logs()),
            })
            .collect()
    }

    /// Asks every `every` until `done` is true of the VIP's holders (or `limit` after `since`,
    /// a failure); with `keep`, the VIP must stay exactly there meanwhile, every change of it
    /// counted. Returns the time from `since` and the requests (answered, failed).
    #[allow(clippy::too_many_arguments)]
    fn watch(
        &mut self,
        lab: &Lab,
        what: &str,
        since: (Instant, &str),
        limit: Duration,
        every: Option<Duration>,
        keep: Option<&[&str]>,
        mut done: impl FnMut(&[&'static str]) -> bool,
    ) -> (Duration, usize, usize) {
        let (start, event) = since;
        lab.mark(start, event);
        let (mut answered, mut failed) = (0, 0);
        let mut last_request: Option<Instant> = None;
        loop {
            let holders = lab.vip_holders();
            if let Some(keep) = keep {
                let moves: Vec<String> = lab
                    .vip_changes_since(start)
                    .into_iter()
                    .map(|(at, holders)| format!("{}: {holders:?}", self.tl.stamp(at)))
                    .collect();
                assert!(
                    holders == keep && moves.is_empty(),
                    "the VIP moved ({what}): now on {holders:?}, changes since {event} at {}: \
                     {moves:?}\n{}",
                    self.tl.stamp(start),
                    lab.logs()
                );
            }
            if done(&holders) {
                break;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {what}: the VIP is on {holders:?}\n{}",
                lab.logs()
            );
            if let Some(every) = every {
                if last_request.is_none_or(|at| at.elapsed() >= every) {
                    last_request = Some(Instant::now());
                    match self.watched_request(lab) {
                        Ok(_) => answered += 1,
                        Err(_) => failed += 1,
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.end_failures();
        self.end_answers();
        assert_consistent(lab);
        (start.elapsed(), answered, failed)
    }

    /// Holds for `duration` from now: the VIP must stay on `keep`, requests every `every`.
    fn hold(
        &mut self,
        lab: &Lab,
        what: &str,
        since: (Instant, &str),
        duration: Duration,
        keep: &[&str],
    ) -> (usize, usize) {
        let end = Instant::now() + duration;
        let (_, answered, failed) = self.watch(
            lab,
            what,
            since,
            Duration::MAX,
            Some(SLOW),
            Some(keep),
            |_| Instant::now() >= end,
        );
        (answered, failed)
    }

    /// Waits, asking every [`FAST`], until only `to` holds the VIP and a request through it was
    /// answered; at most `limit` after `since`.
    fn takeover(
        &mut self,
        lab: &Lab,
        to: &'static str,
        since: (Instant, &str),
        limit: Duration,
    ) -> Takeover {
        let (start, what) = since;
        lab.mark(start, what);
        let mut restored = None;
        let (mut answered, mut failed) = (0, 0);
        let mut last_request: Option<Instant> = None;
        loop {
            let holders = lab.vip_holders();
            if restored.is_some() && holders == [to] {
                break;
            }
            assert!(
                start.elapsed() < limit,
                "timed out after {limit:?} waiting for {to} to hold the VIP and answer: \
                 the VIP is on {holders:?}\n{}",
                lab.logs()
            );
            if last_request.is_none_or(|at| at.elapsed() >= FAST) {
                last_request = Some(Instant::now());
                match self.watched_request(lab) {
                    Ok(reply) if reply.proxy == to => {
                        restored.get_or_insert(start.elapsed());
                    }
                    Ok(_) => answered += 1,
                    Err(_) => failed += 1,
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.end_failures();
        self.end_answers();
        assert_consistent(lab);
        let vip = lab
            .vip_changes_since(start)
            .into_iter()
            .find(|(_, holders)| holders.contains(&to))
            .map(|(at, _)| at - start)
            .expect("the VIP's arrival was seen");
        let takeover = Takeover {
            vip,
            restored: restored.expect("answer seen"),
            failed,
            answered,
        };
        self.tl.log(
            "client",
            format!(
                "answered through {to} again {} after {what}: {}, {} in between",
                secs(takeover.restored),
                requests(failed, "failed"),
                requests(answered, "answered")
            ),
        );
        takeover
    }
}

/// `ip monitor`'s view of the VIP is `ip addr`'s.
fn assert_consistent(lab: &Lab) {
    let polled = lab.vip_holders_polled();
    let monitored = lab.vip_holders();
    assert_eq!(polled, monitored, "ip addr and ip monitor disagree");
}

/// Requests answered by both web servers in turn (round robin).
fn assert_round_robin(webs: &[String], what: &str) {
    let alternates = webs.len() >= 2
        && webs[0] != webs[1]
        && webs.iter().enumerate().all(|(i, web)| *web == webs[i % 2]);
    assert!(
        alternates,
        "{what}: round robin over web1 and web2: {webs:?}"
    );
    let mut seen = webs.to_vec();
    seen.sort();
    seen.dedup();
    assert_eq!(seen, ["web1", "web2"], "{what}");
}

/// Starts `ha run --vrrp` on both nodes, proxy1 first, and waits for proxy1 to hold the VIP
/// and proxy2 to be BACKUP.
fn start_directors(lab: &mut Lab, tl: &Timeline, obs: &mut Observer, files: [&str; 2]) {
    let started = Instant::now();
    for (i, name) in ["proxy1", "proxy2"].into_iter().enumerate() {
        lab.proxy_mut(name).start_ha();
        tl.log(
            name,
            format!(
                "ha run --vrrp -f /etc/keepalived/keepalived.conf ({})",
                files[i]
            ),
        );
    }
    obs.watch(
        lab,
        "proxy1 holds the VIP",
        (started, "the start"),
        START_LIMIT,
        None,
        None,
        |holders| holders == ["proxy1"],
    );
    testkit::wait_until("proxy2 BACKUP", START_LIMIT, || {
        lab.proxy("proxy2").ha_state().starts_with("BACKUP")
    });
    for name in ["proxy1", "proxy2"] {
        tl.log(name, format!("ha status: {}", lab.proxy(name).ha_state()));
    }
}

/// What [`preempt_scenario`] measured.
#[derive(Debug)]
struct PreemptRun {
    /// haproxy killed on proxy1 -> proxy2.
    failover: Takeover,
    /// haproxy back on proxy1 -> proxy1 (preempt).
    back: Takeover,
    web_down: Option<WebDown>,
}

/// web1 stopped and started while haproxy balances over it.
#[derive(Debug, Clone, Copy)]
struct WebDown {
    /// httpd stopped -> haproxy on the master says web1 is DOWN.
    out: Duration,
    /// httpd started -> UP again.
    back: Duration,
    answered: usize,
    failed: usize,
}

/// The example pair of `tracking`, unchanged: requests served; haproxy killed on the master
/// moves the VIP to the backup, its restart brings it back (preempt). With `more`, first:
/// haproxy killed on the backup and a web server down both leave the VIP where it is.
fn preempt_scenario(tracking: Tracking, more: bool) -> PreemptRun {
    let tl = Timeline::default();
    let files = tracking.files();
    let [c1, c2] = configs(tracking);
    tl.section(format!(
        "{}: {} and {} of examples/haproxy, unchanged",
        tracking.title(),
        files[0],
        files[1]
    ));
    let mut lab = Lab::new(tl, [&c1, &c2]);
    tl.log("web1+2", "busybox httpd, each serving its name");
    tl.log(
        "proxy1+2",
        "haproxy -Ws -f /etc/haproxy/haproxy.cfg: both nodes balance web1 and web2",
    );
    let mut obs = Observer::new(tl);
    start_directors(&mut lab, &tl, &mut obs, files);

    tl.section("Requests through the VIP, a fresh connection each");
    let webs = obs.answered_by(&lab, "proxy1", 4);
    assert_round_robin(&webs, "through proxy1");

    let mut web_down = None;
    if more {
        tl.section("haproxy killed on proxy2, the BACKUP: the VIP stays on proxy1");
        let kill = Instant::now();
        let n = lab.proxy_mut("proxy2").kill_haproxy();
        tl.log("proxy2", format!("kill -9 of its {n} haproxy processes"));
        // Were proxy2 to take over, it would within its master-down interval.
        let (_, failed) = obs.hold(
            &lab,
            "haproxy killed on the backup",
            (kill, "the kill"),
            tracking.detection() + master_down(90) + ADVERT_INT,
            &["proxy1"],
        );
        assert_eq!(failed, 0, "requests failed with proxy1's haproxy alive");
        tl.log(
            "proxy2",
            format!("ha status: {}", lab.proxy("proxy2").ha_state()),
        );
        lab.proxy_mut("proxy2").start_haproxy();
        tl.log("proxy2", "haproxy started again");

        tl.section("web1's httpd stops: haproxy's own checks take it out; the VIP stays");
        let stopped = Instant::now();
        lab.webs[0].stop();
        tl.log("web1", "httpd stopped: port 80 refuses connections");
        let down = |lab: &Lab| {
            lab.proxy("proxy1")
                .server_status("web1")
                .is_some_and(|s| s.starts_with("DOWN"))
        };
        // haproxy: inter 1s, fall 2.
        let (out, answered_1, failed_1) = obs.watch(
            &lab,
            "haproxy marks web1 DOWN",
            (stopped, "httpd stopped"),
            Duration::from_secs(10),
            Some(SLOW),
            Some(&["proxy1"]),
            |_| down(&lab),
        );
        tl.log(
            "proxy1",
            format!(
                "haproxy (show stat): web1 DOWN {} after httpd stopped (check inter 1s fall 2)",
                secs(out)
            ),
        );
        let (answered_2, failed_2) = obs.hold(
            &lab,
            "a web server down",
            (stopped, "httpd stopped"),
            master_down(90) + ADVERT_INT,
            &["proxy1"],
        );
        let webs = obs.answered_by(&lab, "proxy1", 3);
        assert!(webs.iter().all(|w| w == "web2"), "web1 is down: {webs:?}");
        let started = Instant::now();
        lab.start_web(0);
        tl.log("web1", "httpd started again");
        let (back, answered_3, failed_3) = obs.watch(
            &lab,
            "haproxy marks web1 UP",
            (started, "httpd started"),
            Duration::from_secs(10),
            Some(SLOW),
            Some(&["proxy1"]),
            |_| {
                lab.proxy("proxy1")
                    .server_status("web1")
                    .is_some_and(|s| s == "UP")
            },
        );
        tl.log(
            "proxy1",
            format!(
                "haproxy (show stat): web1 UP {} after httpd started (rise 2)",
                secs(back)
            ),
        );
        let webs = obs.answered_by(&lab, "proxy1", 4);
        assert_round_robin(&webs, "web1 back");
        let failed = failed_1 + failed_2 + failed_3;
        assert_eq!(
            failed, 0,
            "haproxy redispatches a refused connection: no request may fail"
        );
        web_down = Some(WebDown {
            out,
            back,
            answered: answered_1 + answered_2 + answered_3,
            failed,
        });
    }

    tl.section("haproxy killed on proxy1, the MASTER: the VIP moves to proxy2");
    let kill = Instant::now();
    let n = lab.proxy_mut("proxy1").kill_haproxy();
    tl.log(
        "proxy1",
        format!("kill -9 of its {n} haproxy processes (master and worker)"),
    );
    let failover = obs.takeover(
        &lab,
        "proxy2",
        (kill, "the kill"),
        tracking.detection() + master_down(90) + ADVERT_INT + SLACK,
    );
    // proxy2 ignores proxy1's lower-priority adverts and waits out its master-down interval
    // from the last advert at 100, sent at most advert_int before the kill.
    assert!(
        failover.vip >= master_down(90) - ADVERT_INT - Duration::from_millis(500),
        "proxy2 took over {:?} after the kill: before its master-down interval",
        failover.vip
    );
    tl.log(
        "proxy2",
        format!(
            "took over {} after the kill (detection, then its master-down interval {} from \
             proxy1's last advert at priority 100)",
            secs(failover.vip),
            secs(master_down(90))
        ),
    );
    tl.log(
        "proxy1",
        format!("ha status: {}", lab.proxy("proxy1").ha_state()),
    );
    let webs = obs.answered_by(&lab, "proxy2", 4);
    assert_round_robin(&webs, "through proxy2");

    tl.section("haproxy restarted on proxy1: priority 100 again, it takes the VIP back (preempt)");
    let restart = Instant::now();
    lab.proxy_mut("proxy1").start_haproxy();
    tl.log("proxy1", "haproxy -Ws -f /etc/haproxy/haproxy.cfg");
    let back = obs.takeover(
        &lab,
        "proxy1",
        (restart, "the restart"),
        tracking.detection() + master_down(100) + ADVERT_INT + SLACK,
    );
    tl.log(
        "proxy1",
        format!(
            "MASTER again: the VIP {} after the restart (master-down interval {})",
            secs(back.vip),
            secs(master_down(100))
        ),
    );
    let webs = obs.answered_by(&lab, "proxy1", 4);
    assert_round_robin(&webs, "through proxy1 again");
    PreemptRun {
        failover,
        back,
        web_down,
    }
}

/// What [`nopreempt_scenario`] measured.
#[derive(Debug)]
struct NopreemptRun {
    failover: Takeover,
    /// How long proxy1 stayed BACKUP after its haproxy came back.
    stayed: Duration,
}

/// state BACKUP + nopreempt on both nodes, haproxy tracked without a weight (FAULT): haproxy
/// killed on the master moves the VIP in the backup's skew time; back, it stays a backup.
fn nopreempt_scenario() -> NopreemptRun {
    let tl = Timeline::default();
    let ([c1, c2], changes) = nopreempt_configs(false, false);
    tl.section("nopreempt: proxy1.conf and proxy2.conf of examples/haproxy, with these changes");
    for change in &changes {
        println!("   - {change}");
    }
    let mut lab = Lab::new(tl, [&c1, &c2]);
    let mut obs = Observer::new(tl);
    // Both start BACKUP: proxy1 first, and its master-down interval is the shorter.
    start_directors(
        &mut lab,
        &tl,
        &mut obs,
        ["proxy1.conf + nopreempt", "proxy2.conf + nopreempt"],
    );
    let webs = obs.answered_by(&lab, "proxy1", 2);
    assert_round_robin(&webs, "through proxy1");

    tl.section(
        "haproxy killed on proxy1: FAULT, a priority 0 advert, proxy2 takes over in its skew time",
    );
    let kill = Instant::now();
    let n = lab.proxy_mut("proxy1").kill_haproxy();
    tl.log(
        "proxy1",
        format!("kill -9 of its {n} haproxy processes (master and worker)"),
    );
    let failover = obs.takeover(
        &lab,
        "proxy2",
        (kill, "the kill"),
        Tracking::Process.detection() + master_down(90) + SLACK,
    );
    // Priority 0 makes the backup wait only its skew time (0.65 s), not the master-down
    // interval (3.6 s, which it would otherwise have waited at least 2.6 s of).
    assert!(
        failover.vip < master_down(90) - ADVERT_INT - Duration::from_millis(100),
        "proxy2 took {:?}: as if it had not received priority 0",
        failover.vip
    );
    tl.log(
        "proxy1",
        format!("ha status: {}", lab.proxy("proxy1").ha_state()),
    );

    tl.section("haproxy restarted on proxy1: it leaves FAULT as BACKUP and stays (nopreempt)");
    let restart = Instant::now();
    lab.proxy_mut("proxy1").start_haproxy();
    tl.log("proxy1", "haproxy -Ws -f /etc/haproxy/haproxy.cfg");
    // With preempt, proxy1 (100 > 90) would take over within its master-down interval.
    let stayed = Tracking::Process.detection() + master_down(100) + 2 * ADVERT_INT;
    let (_, failed) = obs.hold(
        &lab,
        "nopreempt after haproxy's restart",
        (restart, "the restart"),
        stayed,
        &["proxy2"],
    );
    assert_eq!(failed, 0, "requests failed through proxy2");
    tl.log(
        "proxy1",
        format!(
            "ha status: {}: still BACKUP {} after the restart, no second interruption",
            lab.proxy("proxy1").ha_state(),
            secs(stayed)
        ),
    );
    NopreemptRun { failover, stayed }
}

/// nopreempt with the example's `weight -50` kept: a nopreempt backup follows any master
/// whatever its priority (keepalived's rule), so a dead haproxy on the master does not move
/// the VIP. Returns the requests failed meanwhile.
fn nopreempt_weight_scenario() -> usize {
    let tl = Timeline::default();
    let ([c1, c2], _) = nopreempt_configs(true, false);
    tl.section(
        "nopreempt with the weight kept (the pitfall): a dead haproxy on the master moves nothing",
    );
    let mut lab = Lab::new(tl, [&c1, &c2]);
    let mut obs = Observer::new(tl);
    start_directors(
        &mut lab,
        &tl,
        &mut obs,
        [
            "proxy1.conf + nopreempt, weight kept",
            "proxy2.conf + nopreempt, weight kept",
        ],
    );
    obs.answered_by(&lab, "proxy1", 2);
    let kill = Instant::now();
    let n = lab.proxy_mut("proxy1").kill_haproxy();
    tl.log("proxy1", format!("kill -9 of its {n} haproxy processes"));
    let (_, failed) = obs.hold(
        &lab,
        "nopreempt with a weight",
        (kill, "the kill"),
        Tracking::Process.detection() + master_down(90) + 2 * ADVERT_INT,
        &["proxy1"],
    );
    tl.log(
        "proxy1",
        format!(
            "ha status: {}: MASTER with a dead haproxy; proxy2 (90) accepts its adverts",
            lab.proxy("proxy1").ha_state()
        ),
    );
    assert!(failed > 0, "requests to a dead haproxy were answered?");
    failed
}

/// What [`delay_scenario`] measured.
#[derive(Debug)]
struct DelayRun {
    /// kill -9 then start: how long haproxy was gone.
    restart_gap: Duration,
    failover: Takeover,
}

/// nopreempt, FAULT and `delay 2`: a haproxy restart quicker than the delay leaves the VIP
/// where it is; a death moves it, the delay later.
fn delay_scenario() -> DelayRun {
    let tl = Timeline::default();
    let ([c1, c2], changes) = nopreempt_configs(false, true);
    tl.section(
        "nopreempt with `delay 2`: proxy1.conf and proxy2.conf of examples/haproxy, changed",
    );
    for change in &changes {
        println!("   - {change}");
    }
    let mut lab = Lab::new(tl, [&c1, &c2]);
    let mut obs = Observer::new(tl);
    start_directors(
        &mut lab,
        &tl,
        &mut obs,
        [
            "proxy1.conf + nopreempt, delay 2",
            "proxy2.conf + nopreempt, delay 2",
        ],
    );
    obs.answered_by(&lab, "proxy1", 2);

    tl.section("haproxy restarted on proxy1, down for a second: the VIP stays");
    let kill = Instant::now();
    let n = lab.proxy_mut("proxy1").kill_haproxy();
    tl.log("proxy1", format!("kill -9 of its {n} haproxy processes"));
    // Down long enough for several of ha's /proc polls (200 ms) to see it, shorter than the
    // delay.
    std::thread::sleep(RESTART_GAP.saturating_sub(kill.elapsed()));
    lab.proxy_mut("proxy1").start_haproxy();
    let restart_gap = kill.elapsed();
    tl.log(
        "proxy1",
        format!(
            "haproxy started again, {} after the kill",
            secs(restart_gap)
        ),
    );
    assert!(
        restart_gap + Duration::from_millis(500) < DELAY,
        "the restart took {restart_gap:?}: too slow to test the delay"
    );
    // Were proxy1 to fault, proxy2 would take over in its skew time after the delay.
    obs.hold(
        &lab,
        "a restart within the delay",
        (kill, "the kill"),
        DELAY + master_down(90) - ADVERT_INT,
        &["proxy1"],
    );
    tl.log(
        "proxy1",
        format!("ha status: {}", lab.proxy("proxy1").ha_state()),
    );

    tl.section("haproxy killed on proxy1 for good: FAULT once it has stayed dead 2 s");
    let kill = Instant::now();
    let n = lab.proxy_mut("proxy1").kill_haproxy();
    tl.log("proxy1", format!("kill -9 of its {n} haproxy processes"));
    let failover = obs.takeover(
        &lab,
        "proxy2",
        (kill, "the kill"),
        DELAY + Tracking::Process.detection() + master_down(90) + SLACK,
    );
    assert!(
        failover.vip >= DELAY,
        "proxy2 took over {:?} after the kill, before the delay",
        failover.vip
    );
    tl.log(
        "proxy1",
        format!("ha status: {}", lab.proxy("proxy1").ha_state()),
    );
    DelayRun {
        restart_gap,
        failover,
    }
}

#[test]
fn process_tracking_moves_the_vip_only_when_haproxy_dies_on_the_master() {
    if preflight("process_tracking_moves_the_vip_only_when_haproxy_dies_on_the_master") {
        preempt_scenario(Tracking::Process, true);
    }
}

#[test]
fn script_tracking_on_the_stats_socket_moves_the_vip_and_preempts_back() {
    if preflight("script_tracking_on_the_stats_socket_moves_the_vip_and_preempts_back") {
        preempt_scenario(Tracking::Script, false);
    }
}

#[test]
fn nopreempt_faults_on_a_dead_haproxy_and_keeps_the_vip_after_its_restart() {
    if preflight("nopreempt_faults_on_a_dead_haproxy_and_keeps_the_vip_after_its_restart") {
        nopreempt_scenario();
    }
}

#[test]
fn nopreempt_with_a_weight_leaves_the_vip_on_a_dead_haproxy_as_keepalived_does() {
    if preflight("nopreempt_with_a_weight_leaves_the_vip_on_a_dead_haproxy_as_keepalived_does") {
        nopreempt_weight_scenario();
    }
}

#[test]
fn with_delay_a_haproxy_restart_leaves_the_vip_and_a_death_moves_it_later() {
    if preflight("with_delay_a_haproxy_restart_leaves_the_vip_and_a_death_moves_it_later") {
        delay_scenario();
    }
}

/// Every scenario as one timeline, and a summary: `cargo xtask demo --haproxy`.
#[test]
#[ignore = "the demo: cargo xtask demo --haproxy"]
fn demo_haproxy() {
    if !preflight("demo_haproxy") {
        return;
    }
    println!("\n== The lab: keepalived + haproxy (examples/haproxy) in network namespaces");
    println!(
        "   client 192.168.2.100 | proxy1 192.168.2.10 | proxy2 192.168.2.11 | web1 192.168.2.20 \
         | web2 192.168.2.30\n   \
         VIP {VIP}:80. Each proxy node has its own network, PID, mount and UTS namespaces:\n   \
         Debian's haproxy as its service runs it, haproxy.cfg on /etc/haproxy/haproxy.cfg (the\n   \
         same on both: balance roundrobin, check inter 1s fall 2 rise 2, redispatch), and\n   \
         `ha run --vrrp` with /etc/keepalived/keepalived.conf. Timings are taken from outside:\n   \
         `ip monitor` in the nodes (checked against `ip addr`), the client's requests, VRRP\n   \
         adverts on the client's wire."
    );
    let process = preempt_scenario(Tracking::Process, true);
    let script = preempt_scenario(Tracking::Script, false);
    let nopreempt = nopreempt_scenario();
    let pitfall = nopreempt_weight_scenario();
    let delay = delay_scenario();

    println!(
        "\n== Summary (VRRPv2, advert_int 1; master-down interval of proxy2 (90) {}, of proxy1 \
         (100) {})",
        secs(master_down(90)),
        secs(master_down(100))
    );
    let row = |name: &str, t: &Takeover| {
        println!(
            "   {name:<34} {:>9}   {:>14}   {:>6} of {}",
            secs(t.vip),
            secs(t.restored),
            t.failed,
            t.failed + t.answered + 1
        );
    };
    println!("   haproxy killed on the master       VIP moved   answered again   requests failed");
    row("vrrp_track_process, weight -50", &process.failover);
    row("track_script (stats socket)", &script.failover);
    row("nopreempt, no weight: FAULT", &nopreempt.failover);
    row("nopreempt, FAULT, delay 2", &delay.failover);
    println!("   haproxy back on the old master");
    row("vrrp_track_process (preempt)", &process.back);
    row("track_script (preempt)", &script.back);
    println!(
        "   {:<34} stayed BACKUP the {} watched: no second interruption",
        "nopreempt",
        secs(nopreempt.stayed)
    );
    if let Some(web) = process.web_down {
        println!(
            "   web1 down: haproxy took it out in {} and back in {}; the VIP stayed on proxy1; \
             {} of {} requests failed",
            secs(web.out),
            secs(web.back),
            web.failed,
            web.failed + web.answered
        );
    }
    println!("   haproxy killed on the backup: the VIP stayed on proxy1, no request failed");
    println!(
        "   delay 2: haproxy down {} (kill -9, then started again): the VIP stayed on proxy1",
        secs(delay.restart_gap)
    );
    println!(
        "   nopreempt with weight -50: the VIP stayed with the dead haproxy ({pitfall} requests \
         failed while watched): with nopreempt, track without a weight"
    );
}

/// The example pairs cross-check clean with `ha check`, and so does the nopreempt variant the
/// lab derives (runs anywhere).
#[test]
fn example_pairs_cross_check_clean() {
    let dir = std::env::temp_dir().join(format!("ha-haproxy-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |files: &[std::path::PathBuf]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
            .arg("check")
            .args(files)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(
            text.contains("0 error(s), 0 warning(s), 0 split-brain finding(s)"),
            "{text}"
        );
    };
    for tracking in [Tracking::Process, Tracking::Script] {
        check(&tracking.files().map(|f| examples_dir().join(f)));
    }
    for (weight, delay) in [(false, false), (true, false), (false, true)] {
        let (configs, _) = nopreempt_configs(weight, delay);
        let paths = [0, 1].map(|i| dir.join(format!("proxy{}-{weight}-{delay}.conf", i + 1)));
        for (path, text) in paths.iter().zip(&configs) {
            std::fs::write(path, text).unwrap();
        }
        check(&paths);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
