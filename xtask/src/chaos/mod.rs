//! `cargo xtask chaos [--minutes N] [--seed S]`: two ha directors and keepalived in one VRID
//! (VRRPv3, 100 ms adverts) in network namespaces, a client that keeps connecting to the VIP,
//! and a seeded random schedule of faults, printed as it goes. The invariants are judged from
//! outside the processes every 20 ms ([`watch`]); a violation prints the seed, the schedule so
//! far and the command that replays it, and fails.
//!
//! Topology ([`lab`]): a switch namespace with a bridge `br0` (and `br1`, where a partition
//! moves ports); ports `p0`..`p3`
//! lead to `eth0` of ha1 (192.168.2.11), ha2 (.12), kad (.13, keepalived) and the client
//! (.50). VIP 192.168.2.200, VRID 51, priorities 150 / 100 / 50.

pub mod flood;
pub mod lab;
pub mod schedule;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lab::{ns_run, ClientStats, HaConfig, Lab, NotifyScript, DEV, VIP};
use schedule::{BadAdvert, Fault, Node, Reload, Rng, Target};
use watch::{Proc, World};

pub const USAGE: &str =
    "usage: cargo xtask chaos [--minutes N] [--seed S] [--rate PPS] [--keep-logs] [--debug-build]

  --minutes N     how long the schedule runs (default 3)
  --seed S        the schedule's seed (default: random, printed)
  --rate PPS      bad adverts per second during a flood (default 50000)
  --keep-logs     keep the run's directory (configurations, logs) when it passes
  --only K,K...   only these kinds of fault (kill, term, link-down, link-recreate, partition,
                  reload-priority, reload-vip, reload-vmac, vip-delete, flood, notify-hang,
                  notify-flood); the others are drawn and skipped, so a seed keeps its order
  --debug-build   run the debug build of ha (default: release, as deployed; a debug build
                  cannot read a 50,000/s flood on a loaded 2-core machine)";

/// What a run is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub minutes: f64,
    pub seed: u64,
    /// Bad adverts per second during a flood.
    pub rate: u64,
    /// Keep the run's directory (configurations, logs) even when it passes.
    pub keep_logs: bool,
    /// Run ha's debug build instead of the release build.
    pub debug_build: bool,
    /// Only these kinds (indexes into [`schedule::KEYS`]); empty: all.
    pub only: Vec<usize>,
}

impl Options {
    pub fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            minutes: 3.0,
            seed: random_seed(),
            rate: 50_000,
            keep_logs: false,
            debug_build: false,
            only: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(arg) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
                    .cloned()
            };
            match arg.as_str() {
                "--minutes" => {
                    o.minutes = value("--minutes")?
                        .parse()
                        .map_err(|e| format!("--minutes: {e}"))?
                }
                "--seed" => {
                    o.seed = value("--seed")?
                        .parse()
                        .map_err(|e| format!("--seed: {e}"))?
                }
                "--rate" => {
                    o.rate = value("--rate")?
                        .parse()
                        .map_err(|e| format!("--rate: {e}"))?
                }
                "--keep-logs" => o.keep_logs = true,
                "--debug-build" => o.debug_build = true,
                "--only" => {
                    for key in value("--only")?.split(',') {
                        let kind = schedule::KEYS
                            .iter()
                            .position(|k| *k == key)
                            .ok_or_else(|| format!("--only: unknown kind {key}\n{USAGE}"))?;
                        o.only.push(kind);
                    }
                }
                _ => return Err(format!("unknown argument {arg}\n{USAGE}")),
            }
        }
        if o.minutes.is_nan() || o.minutes <= 0.0 {
            return Err("--minutes must be positive".into());
        }
        Ok(o)
    }
}

fn random_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let mut r = Rng::new(nanos ^ u64::from(std::process::id()).rotate_left(32));
    // Short enough to type.
    r.next_u64() % 1_000_000_000
}

/// `cargo xtask chaos ARGS`.
pub fn main(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    run(&Options::parse(args)?)
}

/// Builds `ha` and runs the suite.
pub fn run(options: &Options) -> Result<(), String> {
    if !crate::vm::host::is_root() {
        return Err("chaos needs root (network namespaces)".into());
    }
    for tool in ["keepalived", "ip", "bridge"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("chaos needs {tool} (Debian: keepalived, iproute2)"));
        }
    }
    let ha_bin = build_ha(!options.debug_build)?;
    // Ctrl-C and SIGTERM end the run through its normal clean-up. Blocked in this thread
    // before any other starts (children get an empty mask from std::process).
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        use nix::sys::signal::{SigSet, Signal};
        let mut set = SigSet::empty();
        set.add(Signal::SIGINT);
        set.add(Signal::SIGTERM);
        set.thread_block().map_err(|e| format!("sigmask: {e}"))?;
        let flag = interrupted.clone();
        std::thread::spawn(move || {
            if set.wait().is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        });
    }
    // The mask goes back when the run ends, however it ends.
    struct Unblock;
    impl Drop for Unblock {
        fn drop(&mut self) {
            use nix::sys::signal::{SigSet, Signal};
            let mut set = SigSet::empty();
            set.add(Signal::SIGINT);
            set.add(Signal::SIGTERM);
            let _ = set.thread_unblock();
        }
    }
    let _unblock = Unblock;
    let dir = std::env::temp_dir().join(format!("ha-chaos-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "chaos: seed {}, {} minute(s), floods at {} packets/s; files in {}",
        options.seed,
        options.minutes,
        options.rate,
        dir.display()
    );
    let lab = Lab::create(dir.clone(), ha_bin)?;
    let mut chaos = Chaos::new(lab, options.clone(), interrupted);
    let result = chaos.run();
    chaos.stop_watchers();
    match result {
        Ok(()) => {
            chaos.report();
            drop(chaos);
            if !options.keep_logs {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        }
        Err(why) => {
            chaos.fail_report(&why);
            drop(chaos);
            Err(format!(
                "chaos: {why}\nreplay: cargo xtask chaos --seed {} --minutes {}",
                options.seed, options.minutes
            ))
        }
    }
}

/// `cargo build [--release] -p ha-cli --bin ha`; the `ha` binary it built.
fn build_ha(release: bool) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO")
        .ok()
        .filter(|path| Path::new(path).is_file())
        .unwrap_or_else(|| "cargo".into());
    let profile = if release {
        "--release"
    } else {
        "--profile=dev"
    };
    eprintln!("+ cargo build {profile} -p ha-cli --bin ha");
    let out = Command::new(cargo)
        .args([
            "build",
            profile,
            "-p",
            "ha-cli",
            "--bin",
            "ha",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(crate::vm::workspace_root())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cargo build: {e}"))?;
    if !out.status.success() {
        return Err(format!("cargo build -p ha-cli failed: {}", out.status));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "ha")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| "cargo build -p ha-cli built no `ha`".to_string())
}

/// See [`Chaos::act`].
fn act<T>(world: &Mutex<World>, f: impl FnOnce() -> T) -> T {
    world.lock().unwrap().acting += 1;
    let result = f();
    let mut w = world.lock().unwrap();
    w.acting -= 1;
    w.last_event = Instant::now();
    result
}

/// One flood's figures.
#[derive(Debug, Clone)]
struct FloodRow {
    kind: BadAdvert,
    sent: u64,
    send_errors: u64,
    rate: f64,
    /// Per ha director: the kind's counter and the adverts received, before the flood minus
    /// after.
    counted: [Option<u64>; 2],
    received: [Option<u64>; 2],
    /// Drops at full VRRP raw sockets, per router (`/proc/net/raw`).
    kernel_drops: [u64; 3],
    /// rx_dropped of the ha directors' links (a VMAC's multicast queue drops there).
    link_drops: [u64; 2],
    /// Frames dropped at full per-CPU input backlogs during the flood ([`softnet_drops`]).
    backlog_drops: u64,
    keepalived_took_vip: bool,
    /// A backup with use_vmac took the VIP beside the master (see `World::vmac`).
    vmac_took_vip: bool,
}

/// How long after a flood keepalived may still hold the VIP beside the ha master.
const KEEPALIVED_FLOOD_GRACE: Duration = Duration::from_secs(2);

/// `rx_dropped` of every link in namespace `ns`, summed.
fn rx_dropped(ns: &str) -> u64 {
    link_statistic(ns, "rx_dropped")
}

/// A statistic of every link in namespace `ns`, summed (`tx_dropped` of a veth counts the
/// frames it sent that the peer's input backlog had no room for).
fn link_statistic(ns: &str, name: &str) -> u64 {
    ns_run(
        ns,
        &[
            "sh",
            "-c",
            &format!("cat /sys/class/net/*/statistics/{name}"),
        ],
    )
    .unwrap_or_default()
    .lines()
    .filter_map(|l| l.trim().parse::<u64>().ok())
    .sum()
}

/// Packets the kernel dropped at full per-CPU input backlogs (`/proc/net/softnet_stat`'s
/// second column, every namespace: a veth hands each frame to the receiving side through
/// that backlog, so a flood that outruns the CPUs loses other frames there too, the
/// master's adverts among them, before any socket sees them).
fn softnet_drops() -> u64 {
    std::fs::read_to_string("/proc/net/softnet_stat")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| u64::from_str_radix(l.split_whitespace().nth(1)?, 16).ok())
        .sum()
}

/// Packets the kernel dropped at full protocol-112 raw sockets in namespace `ns`, summed
/// (`/proc/net/raw`'s `drops` column).
fn raw_drops(ns: &str) -> u64 {
    ns_run(ns, &["cat", "/proc/net/raw"])
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local = f.get(1)?;
            local
                .ends_with(":0070")
                .then(|| f.last()?.parse::<u64>().ok())?
        })
        .sum()
}

/// RSS (kB) and descriptors of one ha director: first process, initial configuration, after
/// warm-up; last process, initial configuration, at the end.
#[derive(Debug, Clone, Copy, Default)]
struct Footprint {
    start: Option<(u64, usize)>,
    end: Option<(u64, usize)>,
    end_age: Duration,
    max_fds: usize,
}

struct Chaos {
    lab: Lab,
    options: Options,
    world: Arc<Mutex<World>>,
    client: Arc<Mutex<ClientStats>>,
    interrupted: Arc<AtomicBool>,
    watchers: Vec<std::thread::JoinHandle<()>>,
    t0: Instant,
    /// The schedule as printed.
    printed: Vec<String>,
    tally: [u32; schedule::KINDS.len()],
    faults: u32,
    /// Time from a fault that took the master away to exactly one holder again.
    takeovers: Vec<(Duration, String)>,
    /// Time from the master's VIP deleted to it being back.
    repairs: Vec<Duration>,
    /// Slowest settle after a heal.
    worst_heal: (Duration, String),
    floods: Vec<FloodRow>,
    footprint: [Footprint; 2],
    /// SIGTERM to exit, per stop.
    stops: Vec<Duration>,
    restarts_ready: Vec<Duration>,
    flood_log_growth: Vec<u64>,
    hang_runs_seen: u32,
    /// The flood under way: what it is, and [`softnet_drops`] when it started (a violation
    /// reports the backlog drops since).
    flood_under_way: Option<(String, u64, [u64; 2])>,
}

impl Chaos {
    fn new(lab: Lab, options: Options, interrupted: Arc<AtomicBool>) -> Chaos {
        let world = World::new(
            [lab.socket(Node::Ha1), lab.socket(Node::Ha2)],
            lab.dir.join(NotifyScript::Hang.file_name()),
            lab::KEEPALIVED_PRIORITY,
        );
        Chaos {
            lab,
            options,
            world: Arc::new(Mutex::new(world)),
            client: Arc::new(Mutex::new(ClientStats::default())),
            interrupted,
            watchers: Vec::new(),
            t0: Instant::now(),
            printed: Vec::new(),
            tally: [0; schedule::KINDS.len()],
            faults: 0,
            takeovers: Vec::new(),
            repairs: Vec::new(),
            worst_heal: (Duration::ZERO, String::new()),
            floods: Vec::new(),
            footprint: Default::default(),
            stops: Vec::new(),
            restarts_ready: Vec::new(),
            flood_log_growth: Vec::new(),
            hang_runs_seen: 0,
            flood_under_way: None,
        }
    }

    fn say(&mut self, text: &str) {
        let notes = std::mem::take(&mut self.world().stall_notes);
        for note in notes {
            let line = format!("t+{:8.3}s    ({note})", self.t0.elapsed().as_secs_f64());
            println!("{line}");
            self.printed.push(line);
        }
        let line = format!("t+{:8.3}s  {text}", self.t0.elapsed().as_secs_f64());
        println!("{line}");
        self.printed.push(line);
    }

    fn world(&self) -> std::sync::MutexGuard<'_, World> {
        self.world.lock().unwrap()
    }

    /// The first violations seen, or an interruption.
    fn check(&self) -> Result<(), String> {
        if self.interrupted.load(Ordering::Relaxed) {
            return Err("interrupted".into());
        }
        let w = self.world();
        if w.violations.is_empty() {
            return Ok(());
        }
        let mut v: Vec<String> = w.violations.clone();
        v.dedup();
        v.truncate(5);
        Err(format!("invariant violated: {}", v.join("; ")))
    }

    fn sleep(&self, d: Duration) -> Result<(), String> {
        let until = Instant::now() + d;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(watch::SAMPLE));
        }
    }

    /// A fault was injected or healed now: a change of master is expected.
    fn event(&self) {
        self.world().last_event = Instant::now();
    }

    /// Runs an action that injects or heals a fault (a command, a signal): until it has
    /// returned, when exactly the fault took effect is unknown, so the holder checks pause;
    /// the window opens when it returns.
    fn act<T>(&self, f: impl FnOnce() -> T) -> T {
        act(&self.world, f)
    }

    /// Changes what the watchers know of the lab and opens a window, under one lock: the
    /// sampler never judges a new state against an old event.
    fn change(&self, f: impl FnOnce(&mut World)) {
        let mut w = self.world();
        f(&mut w);
        w.last_event = Instant::now();
    }

    /// Waits for a fresh sample showing exactly one holder per part of the network, due
    /// master-down + 1 s after the last event; how long after that event it came.
    fn settle(&self, after: &str) -> Result<Duration, String> {
        let (seq, deadline, since) = {
            let w = self.world();
            (
                w.sample_seq,
                w.last_event + w.master_down + watch::ONE_HOLDER_SLACK,
                w.last_event,
            )
        };
        loop {
            self.check()?;
            {
                let w = self.world();
                if w.sample_seq > seq && w.settled(w.present) {
                    return Ok(w.sampled_at.saturating_duration_since(since));
                }
                if Instant::now() > deadline && w.sample_seq > seq + 1 {
                    let present: Vec<&str> = Node::ALL
                        .iter()
                        .filter(|n| w.present[n.index()])
                        .map(|n| n.name())
                        .collect();
                    let states: Vec<String> = Node::ALL
                        .iter()
                        .map(|n| format!("{n} {:?}", w.routers[n.index()]))
                        .collect();
                    return Err(format!(
                        "invariant violated: not exactly one VIP holder {:?} after {after} \
                         (allowed: master-down {:?} + {:?}); VIP on [{}]; {}",
                        Instant::now() - since,
                        w.master_down,
                        watch::ONE_HOLDER_SLACK,
                        present.join(", "),
                        states.join("; ")
                    ));
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn is_settled(&self) -> bool {
        let w = self.world();
        w.settled(w.present)
    }

    fn holds(&self, node: Node) -> bool {
        let w = self.world();
        w.present[node.index()] && w.routers[node.index()].proc == Proc::Up
    }

    fn resolve(&self, target: Target) -> Node {
        match target {
            Target::Node(n) => n,
            Target::Holder { fallback } => Node::HA
                .into_iter()
                .find(|&n| self.holds(n))
                .unwrap_or(fallback),
        }
    }

    fn statistics(&self, node: Node) -> Option<serde_json::Value> {
        let (status, _) = watch::ha_status(
            &self.lab.ha_bin,
            &self.lab.socket(node),
            Duration::from_secs(5),
        )
        .ok()?;
        Some(status["instances"][0]["statistics"].clone())
    }

    fn run(&mut self) -> Result<(), String> {
        self.lab.start_keepalived()?;
        for node in Node::HA {
            self.lab.start_ha(node)?;
            let pid = self.lab.ha[node.index()].as_ref().map(|p| p.pid);
            self.world().ha_pids[node.index()] = pid;
        }
        self.lab.start_traffic(self.client.clone())?;
        let namespaces = Node::ALL.map(|n| self.lab.ns(n).to_string());
        self.watchers.push(watch::spawn_sampler(
            self.world.clone(),
            namespaces,
            self.lab.stop.clone(),
        )?);
        self.watchers.push(watch::spawn_prober(
            self.world.clone(),
            self.lab.stop.clone(),
        ));
        self.t0 = Instant::now();
        self.event();
        self.say("lab up: ha1 (priority 150), ha2 (100), kad = keepalived 2.2.7 (50); VRID 51, VRRPv3, advert_int 0.1");
        // Everyone starts as backup: the first master comes after a master-down interval, and
        // ha1 preempts whoever came first.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !(self.holds(Node::Ha1) && self.is_settled()) {
            self.check()?;
            if Instant::now() > deadline {
                return Err("ha1 did not become the one master within 10 s of the start".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.event();
        self.sleep(Duration::from_secs(2))?;
        for node in Node::HA {
            let pid = self.lab.ha[node.index()]
                .as_ref()
                .map(|p| p.pid)
                .unwrap_or(0);
            self.footprint[node.index()].start = lab::rss_and_fds(pid);
        }
        if !self.lab.keepalived_alive() {
            return Err("keepalived exited at start (see kad.log)".into());
        }
        self.say("ha1 is master; the schedule starts");
        let mut rng = Rng::new(self.options.seed);
        let length = Duration::from_secs_f64(self.options.minutes * 60.0);
        let end = self.t0 + length;
        let mut n = 0u32;
        while Instant::now() < end {
            let fault = schedule::draw(&mut rng);
            let quiet = rng.millis(1000, 2500);
            n += 1;
            if !self.options.only.is_empty() && !self.options.only.contains(&fault.kind()) {
                continue;
            }
            if fault.starts_long_scripts()
                && end.saturating_duration_since(Instant::now()) < watch::HANG_LIMIT
            {
                self.say(&format!(
                    "#{n} {fault}: skipped (its scripts would outlive the run)"
                ));
                continue;
            }
            self.say(&format!("#{n} {fault}"));
            self.world().recent_sample_gap = Duration::ZERO;
            self.inject(&fault)?;
            let gap = self.world().recent_sample_gap;
            if gap > Duration::from_millis(200) {
                self.say(&format!(
                    "  (this machine stalled: the lab's 20 ms sampler waited up to {} ms)",
                    gap.as_millis()
                ));
            }
            self.tally[fault.kind()] += 1;
            self.faults += 1;
            self.sleep(quiet)?;
            for node in Node::HA {
                let pid = self.lab.ha[node.index()]
                    .as_ref()
                    .map(|p| p.pid)
                    .unwrap_or(0);
                if let Some((_, fds)) = lab::rss_and_fds(pid) {
                    let f = &mut self.footprint[node.index()];
                    f.max_fds = f.max_fds.max(fds);
                }
            }
            if !self.lab.keepalived_alive() {
                return Err("keepalived exited (see kad.log)".into());
            }
        }
        self.finish()
    }

    fn inject(&mut self, fault: &Fault) -> Result<(), String> {
        match *fault {
            Fault::Kill9 { target, down } => {
                let node = self.resolve(target);
                self.stop_ha(node, false)?;
                self.sleep(down)?;
                self.restart_ha(node)
            }
            Fault::TermRestart { target, down } => {
                let node = self.resolve(target);
                let stopped = Instant::now();
                self.stop_ha(node, true)?;
                self.sleep(down.saturating_sub(stopped.elapsed()))?;
                self.restart_ha(node)
            }
            Fault::LinkDown {
                node,
                switch_side,
                down,
            } => {
                let master = self.holds(node);
                let (ns, dev) = if switch_side {
                    (self.lab.switch.name.clone(), lab::port(node))
                } else {
                    (self.lab.ns(node).to_string(), DEV.to_string())
                };
                self.change(|w| w.routers[node.index()].link_ok = false);
                self.act(|| ns_run(&ns, &["ip", "link", "set", &dev, "down"]))?;
                self.event();
                self.after_loss(node, master, "link down")?;
                self.sleep(down)?;
                self.act(|| ns_run(&ns, &["ip", "link", "set", &dev, "up"]))?;
                let carrier = lab::wait_operstate_up(self.lab.ns(node), Duration::from_secs(10))?;
                self.change(|w| w.routers[node.index()].link_ok = true);
                self.event();
                self.healed(&format!(
                    "{node}'s link up (carrier after {} ms)",
                    carrier.as_millis()
                ))
            }
            Fault::LinkRecreate { target, gone } => {
                let node = self.resolve(target);
                let master = self.holds(node);
                self.change(|w| w.routers[node.index()].link_ok = false);
                self.act(|| ns_run(self.lab.ns(node), &["ip", "link", "del", DEV]))?;
                self.event();
                self.after_loss(node, master, "link deleted")?;
                self.sleep(gone)?;
                let ns = self.lab.ns(node).to_string();
                self.lab.plug(&ns, &lab::port(node), lab::address(node))?;
                let carrier = lab::wait_operstate_up(&ns, Duration::from_secs(10))?;
                self.change(|w| w.routers[node.index()].link_ok = true);
                self.event();
                self.healed(&format!(
                    "{node}'s link re-created (carrier after {} ms)",
                    carrier.as_millis()
                ))
            }
            Fault::Partition {
                node,
                with_client,
                split,
            } => {
                let master = self.holds(node);
                let mut ports = vec![lab::port(node)];
                if with_client {
                    ports.push(lab::CLIENT_PORT.to_string());
                }
                self.change(|w| w.partition = Some(node));
                let sw = self.lab.switch.name.clone();
                for p in &ports {
                    self.act(|| ns_run(&sw, &["ip", "link", "set", p, "master", "br1"]))?;
                }
                self.event();
                // Both sides elect a master.
                let t = self.settle("the partition")?;
                self.say(&format!(
                    "  split: one master on each side after {} ms",
                    t.as_millis()
                ));
                if master {
                    self.takeovers
                        .push((t, format!("partition {{{node}}} | rest (master isolated)")));
                }
                self.sleep(split)?;
                // One network again from the first port moved back: a router there hears the
                // other side's master at once.
                self.change(|w| w.partition = None);
                for p in &ports {
                    self.act(|| ns_run(&sw, &["ip", "link", "set", p, "master", "br0"]))?;
                }
                self.event();
                self.healed("the partition healed")
            }
            Fault::Reload {
                node,
                change: Reload::ToggleVip,
            } => self.toggle_second_vip(node),
            Fault::Reload { node, change } => {
                let c = &mut self.lab.configs[node.index()];
                match change {
                    Reload::Priority(p) => c.priority = p,
                    Reload::ToggleVip => c.second_vip = !c.second_vip,
                    Reload::ToggleVmac => c.vmac = !c.vmac,
                }
                let what = format!(
                    "priority {}, {} VIP(s), use_vmac {}",
                    c.priority,
                    1 + usize::from(c.second_vip),
                    if c.vmac { "on" } else { "off" }
                );
                let (vmac, priority) = (c.vmac, c.priority);
                {
                    let mut w = self.world();
                    w.vmac[node.index()] = vmac;
                    w.priority[node.index()] = priority;
                }
                let message = self.reload(node)?;
                self.say(&format!("  {node} reloaded ({what}): {message}"));
                self.healed("the reload")
            }
            Fault::VipDelete => {
                let Some(node) = Node::HA.into_iter().find(|&n| self.holds(n)) else {
                    self.say("  keepalived holds the VIP: nothing to delete behind ha's back");
                    return Ok(());
                };
                let ns = self.lab.ns(node).to_string();
                let listing = ns_run(&ns, &["ip", "-o", "-4", "addr", "show"])?;
                let dev = listing
                    .lines()
                    .find(|l| l.contains(&format!("inet {VIP}/")))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .map(|d| d.split('@').next().unwrap_or(d).to_string())
                    .ok_or_else(|| format!("no VIP in {ns}:\n{listing}"))?;
                let deleted = Instant::now();
                self.event();
                self.act(|| {
                    ns_run(
                        &ns,
                        &["ip", "addr", "del", &format!("{VIP}/32"), "dev", &dev],
                    )
                })?;
                self.event();
                // Back within an advert interval or so: polled here, finer than the sampler.
                let back = loop {
                    let out = ns_run(
                        &ns,
                        &["ip", "-o", "-4", "addr", "show", "to", &format!("{VIP}/32")],
                    )?;
                    if !out.trim().is_empty() {
                        break deleted.elapsed();
                    }
                    if deleted.elapsed() > Duration::from_secs(3) {
                        return Err(format!(
                            "invariant violated: the VIP deleted on {node} is not back after 3 s"
                        ));
                    }
                    self.check()?;
                    std::thread::sleep(Duration::from_millis(2));
                };
                self.repairs.push(back);
                self.say(&format!(
                    "  deleted on {node} ({dev}); back after {} ms",
                    back.as_millis()
                ));
                self.healed("the VIP's deletion")
            }
            Fault::Flood { kind, length } => self.flood(kind, length),
            Fault::NotifyHang { node, hold } => self.notify(node, NotifyScript::Hang, hold),
            Fault::NotifyFlood { node, hold } => self.notify(node, NotifyScript::Flood, hold),
        }
    }

    /// The second VIP added to every router, or removed from every one, as an operator does:
    /// `node` reloaded first, then the other ha director, then keepalived (SIGHUP).
    /// (keepalived drops adverts whose address count differs from its own, so one router
    /// alone with another list is a misconfigured cluster, not a fault to survive.)
    fn toggle_second_vip(&mut self, node: Node) -> Result<(), String> {
        let on = !self.lab.configs[node.index()].second_vip;
        let other = if node == Node::Ha1 {
            Node::Ha2
        } else {
            Node::Ha1
        };
        for n in [node, other] {
            self.lab.configs[n.index()].second_vip = on;
            let message = self.reload(n)?;
            self.say(&format!(
                "  {n} reloaded ({} VIPs): {message}",
                1 + usize::from(on)
            ));
        }
        self.event();
        // The window opens when keepalived has reloaded, not when it was signalled.
        let lab = &mut self.lab;
        act(&self.world, || lab.reload_keepalived(on))?;
        self.event();
        self.say("  kad reloaded (SIGHUP, \"Reload complete\" in its log)");
        self.healed("the reloads")
    }

    /// After a fault took `node` away: exactly one holder again; a takeover when it was the
    /// master.
    fn after_loss(&mut self, node: Node, master: bool, what: &str) -> Result<(), String> {
        let t = self.settle(&format!("{what} on {node}"))?;
        if master {
            let holder: Vec<&str> = Node::ALL
                .iter()
                .filter(|&&n| self.holds(n))
                .map(|n| n.name())
                .collect();
            self.say(&format!(
                "  {what} on master {node}: {} took over after {} ms",
                holder.join("+"),
                t.as_millis()
            ));
            self.takeovers.push((t, format!("{what} on master {node}")));
        }
        Ok(())
    }

    /// After a heal: exactly one holder within master-down + 1 s.
    fn healed(&mut self, what: &str) -> Result<(), String> {
        let t = self.settle(what)?;
        let holder: Vec<&str> = Node::ALL
            .iter()
            .filter(|&&n| self.holds(n))
            .map(|n| n.name())
            .collect();
        self.say(&format!(
            "  {what}: one holder ({}) after {} ms",
            holder.join("+"),
            t.as_millis()
        ));
        if t > self.worst_heal.0 {
            self.worst_heal = (t, what.to_string());
        }
        Ok(())
    }

    /// kill -9, or SIGTERM and wait for the exit.
    fn stop_ha(&mut self, node: Node, graceful: bool) -> Result<(), String> {
        let master = self.holds(node);
        let i = node.index();
        let Some(mut p) = self.lab.ha[i].take() else {
            return Err(format!("{node} is not running"));
        };
        self.change(|w| {
            w.routers[i].proc = if graceful {
                Proc::Stopping(Instant::now())
            } else {
                Proc::Killed
            };
            w.routers[i].incarnation += 1;
            w.ha_pids[i] = None;
        });
        let sent = Instant::now();
        if graceful {
            p.signal(nix::sys::signal::Signal::SIGTERM);
            self.event();
            self.say(&format!(
                "  SIGTERM {node} ({}, pid {})",
                self.role_was(master),
                p.pid
            ));
            self.after_loss(node, master, "SIGTERM")?;
            // ha waits for running scripts at shutdown (each killed at its 60 s timeout).
            let limit = Duration::from_secs(75);
            loop {
                self.check()?;
                if let Ok(Some(status)) = p.child.try_wait() {
                    let took = sent.elapsed();
                    self.stops.push(took);
                    self.change(|w| w.routers[i].proc = Proc::Stopped);
                    self.say(&format!(
                        "  {node} exited {} ms after SIGTERM ({status})",
                        took.as_millis()
                    ));
                    break;
                }
                if sent.elapsed() > limit {
                    return Err(format!("{node} did not exit within {limit:?} of SIGTERM"));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        } else {
            self.act(|| {
                p.signal(nix::sys::signal::Signal::SIGKILL);
                let _ = p.child.wait();
            });
            self.event();
            self.say(&format!(
                "  kill -9 {node} ({}, pid {})",
                self.role_was(master),
                p.pid
            ));
            self.after_loss(node, master, "kill -9")?;
        }
        Ok(())
    }

    fn role_was(&self, master: bool) -> &'static str {
        if master {
            "master"
        } else {
            "backup"
        }
    }

    /// Starts ha director `node` again with its current configuration.
    fn restart_ha(&mut self, node: Node) -> Result<(), String> {
        let i = node.index();
        // The restarted director may become master before its control socket answers (the
        // VRRP thread starts first): the window opens now, and again when it is ready.
        self.change(|w| {
            w.routers[i].proc = Proc::Starting;
            w.routers[i].incarnation += 1;
        });
        let started = Instant::now();
        let lab = &mut self.lab;
        let world = &self.world;
        act(world, || lab.start_ha(node))?;
        let ready = started.elapsed();
        self.restarts_ready.push(ready);
        let pid = self.lab.ha[i].as_ref().map(|p| p.pid);
        self.change(|w| {
            w.routers[i].proc = Proc::Up;
            w.ha_pids[i] = pid;
        });
        self.event();
        self.healed(&format!(
            "{node} restarted (ready after {} ms)",
            ready.as_millis()
        ))
    }

    /// Writes `node`'s configuration and `ha reload`s it; what it said.
    fn reload(&mut self, node: Node) -> Result<String, String> {
        self.lab.write_config(node)?;
        // A restarted instance gives the VIP up while the reload runs: the window opens now.
        self.event();
        let out = self
            .act(|| {
                Command::new(&self.lab.ha_bin)
                    .args(["reload", "--socket"])
                    .arg(self.lab.socket(node))
                    .stdin(Stdio::null())
                    .output()
            })
            .map_err(|e| format!("ha reload: {e}"))?;
        self.event();
        let said = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        if out.status.success() {
            Ok(said.lines().next().unwrap_or("").to_string())
        } else {
            Err(format!(
                "ha reload of {node} refused a valid configuration: {said}"
            ))
        }
    }

    fn flood(&mut self, kind: BadAdvert, length: Duration) -> Result<(), String> {
        let before = Node::HA.map(|n| self.statistics(n));
        let drops_before = Node::ALL.map(|n| raw_drops(self.lab.ns(n)));
        let rx_dropped_before = Node::HA.map(|n| rx_dropped(self.lab.ns(n)));
        let backlog_before = softnet_drops();
        self.flood_under_way = Some((
            format!("{kind:?}"),
            backlog_before,
            Node::HA.map(|n| link_statistic(self.lab.ns(n), "tx_dropped")),
        ));
        let keepalived_before = self.world().keepalived_flood_samples;
        let vmac_before = self.world().vmac_flood_samples;
        self.world().flood_grace_until = Some(Instant::now() + Duration::from_secs(3600));
        let frame = flood::bad_frame(kind, lab::VRID, VIP);
        let handle = flood::flood(
            self.lab.client.name.clone(),
            DEV,
            frame,
            self.options.rate,
            length,
        );
        while !handle.is_finished() {
            self.check()?;
            std::thread::sleep(watch::SAMPLE);
        }
        let result = handle
            .join()
            .map_err(|_| "flood thread panicked".to_string())??;
        // keepalived works through its backlog, then must follow the master again.
        self.world().flood_grace_until = Some(Instant::now() + KEEPALIVED_FLOOD_GRACE);
        // Let the directors drain what is queued before reading their counters.
        self.sleep(Duration::from_millis(300))?;
        let after = Node::HA.map(|n| self.statistics(n));
        let drops_after = Node::ALL.map(|n| raw_drops(self.lab.ns(n)));
        let kernel_drops = [0, 1, 2].map(|i| drops_after[i].saturating_sub(drops_before[i]));
        let rx_dropped_after = Node::HA.map(|n| rx_dropped(self.lab.ns(n)));
        let link_drops = [0, 1].map(|i| rx_dropped_after[i].saturating_sub(rx_dropped_before[i]));
        let backlog_drops = softnet_drops().saturating_sub(backlog_before);
        let sent_lost = match self.flood_under_way.take() {
            Some((_, _, before)) => {
                let after = Node::HA.map(|n| link_statistic(self.lab.ns(n), "tx_dropped"));
                [0, 1].map(|i| after[i].saturating_sub(before[i]))
            }
            None => [0, 0],
        };
        let delta = |key: &str, i: usize| -> Option<u64> {
            let b = before[i].as_ref()?[key].as_u64()?;
            let a = after[i].as_ref()?[key].as_u64()?;
            Some(a.saturating_sub(b))
        };
        let row = FloodRow {
            kind,
            sent: result.sent,
            send_errors: result.errors,
            rate: result.rate(),
            counted: [0, 1].map(|i| kind.counter().and_then(|k| delta(k, i))),
            received: [0, 1].map(|i| delta("rcvd_advertisements", i)),
            kernel_drops,
            link_drops,
            backlog_drops,
            keepalived_took_vip: false,
            vmac_took_vip: false,
        };
        let show = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        self.say(&format!(
            "  sent {} in {:.1} s ({:.0}/s, {} send errors); {}: ha1 {}, ha2 {}; \
             adverts received: ha1 {}, ha2 {}",
            row.sent,
            result.elapsed.as_secs_f64(),
            row.rate,
            row.send_errors,
            kind.counter().unwrap_or("no instance of that VRID"),
            show(row.counted[0]),
            show(row.counted[1]),
            show(row.received[0]),
            show(row.received[1]),
        ));
        self.say(&format!(
            "  dropped by the kernel at full VRRP sockets: ha1 {}, ha2 {}, kad {}; rx_dropped \
             of the ha directors' links (a VMAC's multicast queue counts there): ha1 {}, ha2 {}; \
             at full per-CPU input backlogs (any frame, any namespace): {} (sent by ha1 {}, \
             by ha2 {})",
            kernel_drops[0],
            kernel_drops[1],
            kernel_drops[2],
            link_drops[0],
            link_drops[1],
            backlog_drops,
            sent_lost[0],
            sent_lost[1],
        ));
        // Until the grace ends, keepalived may still hold the VIP: wait for it, strictly after.
        let grace = self.world().flood_grace_until.unwrap_or_else(Instant::now);
        self.sleep(grace.saturating_duration_since(Instant::now()))?;
        self.world().flood_grace_until = None;
        let mut row = row;
        let kad_samples = self.world().keepalived_flood_samples - keepalived_before;
        if kad_samples > 0 {
            row.keepalived_took_vip = true;
            self.say(&format!(
                "  keepalived held the VIP beside the ha master in {kad_samples} samples (its \
                 socket overflowed with the flood); it let go after the flood"
            ));
        }
        let vmac_samples = self.world().vmac_flood_samples - vmac_before;
        if vmac_samples > 0 {
            row.vmac_took_vip = true;
            self.say(&format!(
                "  KNOWN ISSUE: a backup with use_vmac took the VIP beside the master in \
                 {vmac_samples} samples: it receives adverts through its macvlan, whose multicast \
                 queue (bc_queue_len 1000, drained by a kernel worker) the flood overflows"
            ));
        }
        self.floods.push(row);
        // Nothing may have changed hands: still exactly one holder.
        if !self.is_settled() {
            self.event();
            return self.healed("the flood");
        }
        Ok(())
    }

    /// Notify scripts that hang or flood on `node`, with a priority change that makes it
    /// change state, for `hold`; then removed (running ones are left to ha's timeout).
    fn notify(&mut self, node: Node, script: NotifyScript, hold: Duration) -> Result<(), String> {
        let i = node.index();
        let other = self.lab.configs[1 - i].priority;
        let priority = if self.holds(node) {
            other.saturating_sub(10).max(60)
        } else {
            other.saturating_add(10).min(250)
        };
        let log_before = std::fs::metadata(self.lab.log_path(node)).map_or(0, |m| m.len());
        {
            let c = &mut self.lab.configs[i];
            c.notify = Some(script);
            c.priority = priority;
        }
        self.world().priority[i] = priority;
        let message = self.reload(node)?;
        self.say(&format!(
            "  {node} reloaded with {} and priority {priority}: {message}",
            script.file_name()
        ));
        self.healed("the reload")?;
        let pid = self.lab.ha[i].as_ref().map(|p| p.pid).unwrap_or(0);
        let held = Instant::now();
        let mut seen = 0;
        while held.elapsed() < hold {
            if script == NotifyScript::Hang {
                let path = self.lab.dir.join(script.file_name());
                seen = watch::processes_running(&path.to_string_lossy())
                    .iter()
                    .filter(|(_, ppid, _)| *ppid == pid)
                    .count();
            }
            self.sleep(Duration::from_millis(100))?;
        }
        self.lab.configs[i].notify = None;
        let message = self.reload(node)?;
        let growth = std::fs::metadata(self.lab.log_path(node))
            .map_or(0, |m| m.len())
            .saturating_sub(log_before);
        match script {
            NotifyScript::Hang => {
                if seen == 0 {
                    return Err(format!(
                        "invariant violated: no notify script ran on {node} after its state change"
                    ));
                }
                self.hang_runs_seen += seen as u32;
                self.say(&format!(
                    "  {seen} hanging script(s) running under {node}; scripts removed: {message}"
                ));
            }
            NotifyScript::Flood => {
                self.flood_log_growth.push(growth);
                self.say(&format!(
                    "  {node}'s log grew {growth} bytes meanwhile; scripts removed: {message}"
                ));
                if growth > 4 << 20 {
                    return Err(format!(
                        "invariant violated: {node}'s log grew {growth} bytes under a flooding \
                         notify script (its output is capped)"
                    ));
                }
            }
        }
        self.healed("the reload")
    }

    /// The end: initial configurations back, scripts gone, footprint measured.
    fn finish(&mut self) -> Result<(), String> {
        self.say("== end of the schedule: initial configurations back");
        for node in Node::HA {
            if self.lab.configs[node.index()] != HaConfig::initial(node) {
                self.lab.configs[node.index()] = HaConfig::initial(node);
                {
                    let mut w = self.world();
                    w.vmac[node.index()] = false;
                    w.priority[node.index()] = lab::INITIAL_PRIORITY[node.index()];
                }
                let message = self.reload(node)?;
                self.say(&format!("  {node} reloaded: {message}"));
                self.healed("the reload")?;
            }
        }
        if self.lab.keepalived_second_vip {
            self.event();
            self.lab.reload_keepalived(false)?;
            self.event();
            self.say("  kad reloaded (SIGHUP)");
            self.healed("the reload")?;
        }
        // Scripts still running (at most their 60 s timeout) hold descriptors.
        let waited = Instant::now();
        loop {
            let busy: Vec<u32> = self
                .lab
                .ha
                .iter()
                .flatten()
                .flat_map(|p| lab::children(p.pid))
                .collect();
            if busy.is_empty() {
                break;
            }
            if waited.elapsed() > watch::HANG_LIMIT + Duration::from_secs(5) {
                return Err(format!("scripts {busy:?} still run at the end"));
            }
            self.sleep(Duration::from_millis(200))?;
        }
        if waited.elapsed() > Duration::from_millis(500) {
            self.say(&format!(
                "  waited {:.1} s for notify scripts to end",
                waited.elapsed().as_secs_f64()
            ));
        }
        self.sleep(Duration::from_secs(2))?;
        for node in Node::HA {
            let p = self.lab.ha[node.index()].as_ref().ok_or("ha not running")?;
            let f = &mut self.footprint[node.index()];
            f.end = lab::rss_and_fds(p.pid);
            f.end_age = p.started.elapsed();
        }
        self.check()?;
        for node in Node::HA {
            let f = self.footprint[node.index()];
            if let (Some((rss0, fds0)), Some((rss1, fds1))) = (f.start, f.end) {
                if fds1 > fds0 + 2 {
                    return Err(format!(
                        "invariant violated: {node} has {fds1} descriptors open at the end, \
                         {fds0} at the start (same configuration, no scripts running)"
                    ));
                }
                if rss1 > rss0 + 16 * 1024 {
                    return Err(format!(
                        "invariant violated: {node}'s RSS grew from {rss0} kB to {rss1} kB"
                    ));
                }
            }
        }
        Ok(())
    }

    fn stop_watchers(&mut self) {
        self.lab.stop.store(true, Ordering::Relaxed);
        for w in self.watchers.drain(..) {
            let _ = w.join();
        }
    }

    fn report(&self) {
        let w = self.world();
        let ms = |d: Duration| format!("{} ms", d.as_millis());
        println!(
            "\n== chaos: seed {}, {:.1} minute(s), {} faults",
            self.options.seed,
            self.t0.elapsed().as_secs_f64() / 60.0,
            self.faults
        );
        println!("{:<34} {:>6}", "fault", "count");
        for (kind, n) in schedule::KINDS.iter().zip(self.tally) {
            println!("{kind:<34} {n:>6}");
        }
        println!("{:<34} {:>6}", "total", self.faults);
        println!(
            "\ninvariant violations: 0 ({} VIP samples every 20 ms; worst gap between samples {})",
            w.sample_seq,
            ms(w.worst_sample_gap)
        );
        println!(
            "master-down interval (slowest router): {}",
            ms(w.master_down)
        );
        println!(
            "machine stalls treated as faults (a VRRP thread or the sampler not run for more \
             than half the master-down interval): {}",
            w.stalls.len()
        );
        if let Some((worst, what)) = self.takeovers.iter().max_by_key(|(d, _)| *d) {
            let mean = self.takeovers.iter().map(|(d, _)| *d).sum::<Duration>()
                / self.takeovers.len() as u32;
            println!(
                "worst takeover: {} ({what}); {} takeovers, mean {}",
                ms(*worst),
                self.takeovers.len(),
                ms(mean)
            );
        }
        println!(
            "slowest settle after a heal: {} ({})",
            ms(self.worst_heal.0),
            self.worst_heal.1
        );
        if let Some(worst) = self.repairs.iter().max() {
            println!(
                "VIP deleted behind ha's back: back after at most {} ({} times)",
                ms(*worst),
                self.repairs.len()
            );
        }
        if let Some(worst) = self.stops.iter().max() {
            println!(
                "SIGTERM to exit: at most {} ({} stops)",
                ms(*worst),
                self.stops.len()
            );
        }
        if let Some(worst) = self.restarts_ready.iter().max() {
            println!("restart to control socket ready: at most {}", ms(*worst));
        }
        println!(
            "ha status: {} answers, slowest {} (limit 1 s); {} late during a machine stall",
            w.status_answers,
            ms(w.status_worst),
            w.status_late_in_stall
        );
        println!(
            "\n{:<6} {:>10} {:>10} {:>8} {:>12} {:>8}",
            "", "RSS start", "RSS end", "fds", "(max seen)", "age"
        );
        for node in Node::HA {
            let f = self.footprint[node.index()];
            let (r0, f0) = f.start.unwrap_or_default();
            let (r1, f1) = f.end.unwrap_or_default();
            println!(
                "{:<6} {:>7} kB {:>7} kB {:>3} -> {:<3} {:>8} {:>7.0} s",
                node.name(),
                r0,
                r1,
                f0,
                f1,
                f.max_fds,
                f.end_age.as_secs_f64()
            );
        }
        println!("(end: the last process of each, initial configuration restored, no script running; age: how long it had run)");
        println!(
            "\n{:<13} {:>5} {:>10} {:>9} {:>16} {:>14} {:>14} {:>26} {:>9} {:>9} {:>24} {:>15}",
            "flood",
            "runs",
            "sent",
            "rate/s",
            "counter",
            "ha1 counted",
            "ha2 counted",
            "kernel drops ha1/ha2/kad",
            "kad took",
            "vmac took",
            "link rx_dropped ha1/ha2",
            "backlog drops"
        );
        for kind in BadAdvert::ALL {
            let rows: Vec<&FloodRow> = self.floods.iter().filter(|r| r.kind == kind).collect();
            if rows.is_empty() {
                continue;
            }
            let sent: u64 = rows.iter().map(|r| r.sent).sum();
            let rate = rows.iter().map(|r| r.rate).sum::<f64>() / rows.len() as f64;
            let counted = |i: usize| -> String {
                if kind.counter().is_none() {
                    return "-".into();
                }
                let c: u64 = rows.iter().filter_map(|r| r.counted[i]).sum();
                format!("{c} ({:.0}%)", 100.0 * c as f64 / sent.max(1) as f64)
            };
            let drops = |i: usize| rows.iter().map(|r| r.kernel_drops[i]).sum::<u64>();
            println!(
                "{:<13} {:>5} {:>10} {:>9.0} {:>16} {:>14} {:>14} {:>26} {:>9} {:>9} {:>24} {:>15}",
                kind.name(),
                rows.len(),
                sent,
                rate,
                kind.counter().unwrap_or("(other VRID)"),
                counted(0),
                counted(1),
                format!("{}/{}/{}", drops(0), drops(1), drops(2)),
                format!(
                    "{}/{}",
                    rows.iter().filter(|r| r.keepalived_took_vip).count(),
                    rows.len()
                ),
                format!(
                    "{}/{}",
                    rows.iter().filter(|r| r.vmac_took_vip).count(),
                    rows.len()
                ),
                format!(
                    "{}/{}",
                    rows.iter().map(|r| r.link_drops[0]).sum::<u64>(),
                    rows.iter().map(|r| r.link_drops[1]).sum::<u64>()
                ),
                rows.iter().map(|r| r.backlog_drops).sum::<u64>(),
            );
        }
        let errors: u64 = self.floods.iter().map(|r| r.send_errors).sum();
        if errors > 0 {
            println!("(send errors during floods: {errors})");
        }
        println!(
            "\nnotify: {} hanging script(s) seen ({} runs under a live director), all killed at the 60 s timeout or with their director; flooding scripts grew the log by at most {} bytes",
            w.hang_scripts_seen.len(),
            self.hang_runs_seen,
            self.flood_log_growth.iter().max().copied().unwrap_or(0)
        );
        let c = self.client.lock().unwrap();
        let answered: u64 = c.answered.values().sum();
        let by: Vec<String> = c.answered.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "client: {} connections answered ({}), {} failed; longest outage {}",
            answered,
            by.join(", "),
            c.failed,
            ms(c.longest_outage)
        );
        println!("\nchaos: PASSED (seed {})", self.options.seed);
    }

    fn fail_report(&self, why: &str) {
        eprintln!("\n==================== CHAOS: VIOLATION ====================");
        eprintln!("{why}");
        eprintln!("seed: {}", self.options.seed);
        if let Some((kind, before, tx_before)) = &self.flood_under_way {
            let tx = Node::HA.map(|n| link_statistic(self.lab.ns(n), "tx_dropped"));
            eprintln!(
                "a flood ({kind}) is under way: {} frames dropped at full per-CPU input \
                 backlogs since it started (adverts sent but lost there never reach a socket); \
                 of those sent by ha1: {}, by ha2: {} (their links' tx_dropped)",
                softnet_drops().saturating_sub(*before),
                tx[0].saturating_sub(tx_before[0]),
                tx[1].saturating_sub(tx_before[1]),
            );
        }
        eprintln!("schedule so far:");
        for line in &self.printed {
            eprintln!("  {line}");
        }
        for node in Node::ALL {
            let addrs = ns_run(self.lab.ns(node), &["ip", "-o", "-4", "addr", "show"])
                .unwrap_or_else(|e| e);
            eprintln!("--- {node}: ip -o -4 addr show now:");
            for l in addrs.lines() {
                eprintln!("    {l}");
            }
            if node.is_ha() {
                let status = watch::ha_status(
                    &self.lab.ha_bin,
                    &self.lab.socket(node),
                    Duration::from_secs(2),
                )
                .map(|(v, _)| v["instances"][0].to_string());
                eprintln!(
                    "--- {node}: ha status now: {}",
                    status.unwrap_or_else(|e| e)
                );
            }
        }
        {
            let w = self.world();
            let window = w.master_down;
            for node in Node::HA {
                let history: Vec<_> = w.cpu_wait[node.index()].iter().copied().collect();
                eprintln!(
                    "--- {node}: its vrrp thread waited for a CPU (runnable, not run) up to {:?} \
                     within any {window:?} (or one longer gap between samples) of the last {:?} \
                     (much of the master-down interval: the machine stalled it; little: it \
                     stopped by itself)",
                    watch::worst_cpu_wait(&history, window),
                    history
                        .first()
                        .map(|(t, _)| t.elapsed())
                        .unwrap_or_default(),
                );
                if let Some(pid) = w.ha_pids[node.index()] {
                    eprintln!(
                        "--- {node}: its vrrp thread now: {}",
                        watch::vrrp_thread_now(pid)
                    );
                }
                eprintln!("--- {node}: where its vrrp thread was, sampled with the VIP:");
                for line in watch::trace_lines(&w.thread_trace[node.index()], Instant::now()) {
                    eprintln!("    {line}");
                }
            }
        }
        for node in Node::ALL {
            let log = std::fs::read_to_string(self.lab.log_path(node)).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            eprintln!(
                "--- last lines of {node}'s log ({}):",
                self.lab.log_path(node).display()
            );
            for l in &lines[lines.len().saturating_sub(25)..] {
                eprintln!("    {l}");
            }
        }
        eprintln!(
            "replay: cargo xtask chaos --seed {} --minutes {}",
            self.options.seed, self.options.minutes
        );
        eprintln!("files kept in {}", self.lab.dir.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options_parse() {
        let o = Options::parse(&strings(&["--minutes", "30", "--seed", "7"])).unwrap();
        assert_eq!((o.minutes, o.seed, o.rate), (30.0, 7, 50_000));
        let o = Options::parse(&strings(&["--minutes", "0.5", "--rate", "1000"])).unwrap();
        assert_eq!((o.minutes, o.rate), (0.5, 1000));
        assert!(Options::parse(&strings(&["--minutes"])).is_err());
        assert!(Options::parse(&strings(&["--minutes", "0"])).is_err());
        assert!(Options::parse(&strings(&["--bogus"])).is_err());
        let o = Options::parse(&strings(&["--only", "kill,flood"])).unwrap();
        assert_eq!(o.only, [0, 9]);
        assert!(Options::parse(&strings(&["--only", "nope"])).is_err());
    }
}
