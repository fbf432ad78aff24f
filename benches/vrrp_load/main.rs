//! Many VRRP instances in one director: CPU and advert timing of `ha run` and of keepalived
//! 2.2.7 on the same configuration, in the same run (issue 13: 1,000 instances at 100 ms).
//!
//! Topology, all in namespaces this program creates and deletes: a switch namespace with one
//! bridge per segment (`br0`, `br1`, ...; a VRID identifies an instance only on its own
//! interface, so 1,000 instances need four segments of 250), and three namespaces with one
//! port `ethK` on each bridge:
//! - master: 10.10.K.1/24, the measured director, every instance `state MASTER priority 150`;
//! - backup: 10.10.K.2/24, the same instances `state BACKUP priority 100` (it receives every
//!   advert and sends none while the master is healthy);
//! - observer: 10.10.K.99/24, one raw VRRP socket per segment with `SO_TIMESTAMPNS` (the
//!   kernel stamps each advert as the sender's veth hands it over, inside the sender's send
//!   call, so the observer's own scheduling does not count).
//!
//! Each phase starts the master, then the backup, lets them settle (gratuitous ARP bursts
//! included), then measures for `--seconds`: the gap between consecutive adverts of each
//! instance as the observer saw them, and the CPU time (utime + stime from `/proc`) of both
//! directors. keepalived runs as `keepalived -P` (VRRP only; its figures are the parent and
//! the VRRP child together), `ha run` as it is.
//!
//! ```sh
//! cargo build --release -p ha-cli -p benches --bins
//! target/release/vrrp_load [--instances 1000] [--seconds 30] [--settle 12]
//!     [--order ha,keepalived,ha,keepalived] [--advert-int 0.1] [--backup same|ha|keepalived]
//!     [--spread]
//! ```
//!
//! `--order` names `ha`, `keepalived` or `ha-base`, an `ha` built elsewhere
//! (`HA_BASE_BIN=PATH`), to compare two builds of ha with keepalived in one run.
//!
//! `HA_WRAP="valgrind --tool=callgrind ..."` runs the master's `ha run` (the backup's with
//! `HA_WRAP_ROLE=backup`) under a wrapper; with callgrind its counters are zeroed when the
//! measured window opens and dumped when it closes. `HA_BIN` picks another `ha`.
//! `--spread` starts each phase from a peer handing over (see [`run_phase`]).

use std::collections::HashMap;
use std::fs::File;
use std::io::IoSliceMut;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::{
    cpu, cpu_split, enter, ha_bin, load_average, ns_sh, quantile, sh, system_cpu,
    voluntary_switches,
};
use director::net::VrrpSocket;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags};

/// Instances per segment: VRIDs 1 to 250 on each interface.
const PER_SEGMENT: usize = 250;

struct Lab {
    switch: String,
    master: String,
    backup: String,
    observer: String,
    segments: usize,
}

impl Lab {
    fn new(segments: usize) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            switch: format!("havl-s-{pid}"),
            master: format!("havl-m-{pid}"),
            backup: format!("havl-b-{pid}"),
            observer: format!("havl-o-{pid}"),
            segments,
        };
        for n in lab.names() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            sh(&["ip", "netns", "add", n]);
            ns_sh(n, &["ip", "link", "set", "lo", "up"]);
        }
        let sw = &lab.switch;
        for k in 0..segments {
            let br = format!("br{k}");
            ns_sh(
                sw,
                &["ip", "link", "add", &br, "type", "bridge", "stp_state", "0"],
            );
            ns_sh(
                sw,
                &[
                    "ip",
                    "link",
                    "set",
                    &br,
                    "type",
                    "bridge",
                    "mcast_snooping",
                    "0",
                ],
            );
            ns_sh(sw, &["ip", "link", "set", &br, "up"]);
            for (tag, ns, host) in [
                ("m", &lab.master, 1),
                ("b", &lab.backup, 2),
                ("o", &lab.observer, 99),
            ] {
                let port = format!("{tag}{k}");
                let dev = format!("eth{k}");
                ns_sh(
                    sw,
                    &[
                        "ip", "link", "add", &port, "type", "veth", "peer", "name", &dev, "netns",
                        ns,
                    ],
                );
                ns_sh(sw, &["ip", "link", "set", &port, "master", &br, "up"]);
                ns_sh(
                    ns,
                    &[
                        "ip",
                        "addr",
                        "add",
                        &format!("10.10.{k}.{host}/24"),
                        "dev",
                        &dev,
                    ],
                );
                ns_sh(ns, &["ip", "link", "set", &dev, "up"]);
            }
        }
        lab
    }

    fn names(&self) -> [&String; 4] {
        [&self.switch, &self.master, &self.backup, &self.observer]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in self.names() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// What a configuration is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The measured node: `state MASTER priority 150`, or with `spread`, `state BACKUP` and
    /// priorities 101 to 250 (see [`run_phase`]).
    Master { spread: bool },
    /// The other node while measuring: `state BACKUP priority 100`.
    Backup,
    /// The other node before a `spread` phase: master of everything (priority 254) until it
    /// stops.
    Peer,
}

/// The same instances for every node; only the state and priority differ.
fn config(instances: usize, advert_int: &str, role: Role) -> String {
    let (name, state) = match role {
        Role::Master { spread: false } => ("master", "MASTER"),
        Role::Master { spread: true } => ("master", "BACKUP"),
        Role::Backup => ("backup", "BACKUP"),
        Role::Peer => ("peer", "BACKUP"),
    };
    let mut c = format!(
        "global_defs {{\n  router_id vl-{name}\n  vrrp_version 3\n  script_user root\n}}\n"
    );
    for n in 0..instances {
        let (k, vrid) = (n / PER_SEGMENT, n % PER_SEGMENT + 1);
        let priority = match role {
            Role::Master { spread: false } => 150,
            Role::Master { spread: true } => 101 + n % 150,
            Role::Backup => 100,
            Role::Peer => 254,
        };
        c.push_str(&format!(
            "vrrp_instance VI_{n} {{\n  state {state}\n  interface eth{k}\n  virtual_router_id {vrid}\n  \
             priority {priority}\n  advert_int {advert_int}\n  virtual_ipaddress {{\n    10.20.{k}.{vrid}/32\n  }}\n}}\n"
        ));
    }
    c
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Director {
    Ha,
    /// Another `ha` binary (`HA_BASE_BIN`), e.g. a build before a change, measured in the
    /// same run as `ha` and keepalived.
    HaBase,
    Keepalived,
}

impl Director {
    fn parse(s: &str) -> Director {
        match s {
            "ha" => Director::Ha,
            "ha-base" => Director::HaBase,
            "keepalived" => Director::Keepalived,
            other => panic!("unknown director {other}: ha, ha-base or keepalived"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Director::Ha => "ha",
            Director::HaBase => "ha-base",
            Director::Keepalived => "keepalived",
        }
    }

    /// The `ha` binary this director runs (`None` for keepalived).
    fn ha_bin(self) -> Option<String> {
        match self {
            Director::Ha => Some(ha_bin()),
            Director::HaBase => {
                Some(std::env::var("HA_BASE_BIN").expect("ha-base needs HA_BASE_BIN=PATH"))
            }
            Director::Keepalived => None,
        }
    }
}

/// A running director: the process we started (its group holds keepalived's children).
struct Daemon {
    director: Director,
    child: Child,
    /// keepalived's VRRP child pid file.
    vrrp_pid_file: Option<PathBuf>,
    socket: PathBuf,
}

impl Daemon {
    fn start(director: Director, ns: &str, conf: &Path, dir: &Path, role: &str) -> Daemon {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        let socket = dir.join(format!("{role}.sock"));
        let mut vrrp_pid_file = None;
        match director {
            Director::Ha | Director::HaBase => {
                // `HA_WRAP` (a profiler) wraps the master, or the node `HA_WRAP_ROLE` names.
                let wrapped = std::env::var("HA_WRAP_ROLE").unwrap_or_else(|_| "master".into());
                let wrap = std::env::var("HA_WRAP").ok().filter(|_| role == wrapped);
                for w in wrap.iter().flat_map(|w| w.split_whitespace()) {
                    cmd.arg(w);
                }
                cmd.arg(director.ha_bin().unwrap())
                    .arg("run")
                    .arg("-f")
                    .arg(conf)
                    .arg("--control-socket")
                    .arg(&socket);
            }
            Director::Keepalived => {
                let p = |n: &str| dir.join(format!("{role}-{n}.pid"));
                for f in ["k", "v", "c", "b"] {
                    let _ = std::fs::remove_file(p(f));
                }
                cmd.args(["keepalived", "-P", "-n", "-D", "-f"]).arg(conf);
                for (flag, f) in [("-p", "k"), ("-r", "v"), ("-c", "c"), ("-b", "b")] {
                    cmd.arg(flag).arg(p(f));
                }
                vrrp_pid_file = Some(p("v"));
            }
        }
        cmd.process_group(0)
            .stdout(Stdio::null())
            .stderr(File::create(dir.join(format!("{role}.log"))).unwrap());
        Daemon {
            director,
            child: cmd.spawn().expect("start director"),
            vrrp_pid_file,
            socket,
        }
    }

    /// The processes to measure: `ha run` (`ip netns exec` execs it), or keepalived's parent
    /// and VRRP child.
    fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.child.id()];
        if let Some(file) = &self.vrrp_pid_file {
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                if let Some(pid) = std::fs::read_to_string(file)
                    .ok()
                    .and_then(|s| s.trim().parse().ok())
                {
                    pids.push(pid);
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "keepalived wrote no VRRP pid file"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        pids
    }

    /// Instances in MASTER as `ha status` says (ha only).
    fn masters(&self) -> Option<usize> {
        let out = Command::new(self.director.ha_bin()?)
            .args(["status", "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
        Some(
            v["instances"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["state"] == "MASTER")
                .count(),
        )
    }

    fn stop(mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // keepalived's children may outlive the parent by a moment.
                std::thread::sleep(Duration::from_millis(300));
                let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// An advert as the observer saw it.
#[derive(Clone, Copy)]
struct Seen {
    /// Kernel receive stamp (CLOCK_REALTIME), ns.
    stamp: i64,
    segment: u8,
    vrid: u8,
    priority: u8,
    /// Sent by the master node (10.10.K.1), else by the backup.
    from_master: bool,
}

struct Observer {
    seen: Vec<Arc<Mutex<Vec<Seen>>>>,
    /// Datagrams the observer's sockets dropped (SO_RXQ_OVFL), per segment.
    dropped: Vec<Arc<std::sync::atomic::AtomicU32>>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Observer {
    fn start(ns: &str, segments: usize) -> Observer {
        let stop = Arc::new(AtomicBool::new(false));
        let mut seen = Vec::new();
        let mut dropped = Vec::new();
        let mut threads = Vec::new();
        for k in 0..segments {
            let list = Arc::new(Mutex::new(Vec::with_capacity(1 << 20)));
            let drops = Arc::new(std::sync::atomic::AtomicU32::new(0));
            seen.push(Arc::clone(&list));
            dropped.push(Arc::clone(&drops));
            let (ns, stop) = (ns.to_string(), Arc::clone(&stop));
            threads.push(std::thread::spawn(move || {
                observe(&ns, k, &list, &drops, &stop)
            }));
        }
        Observer {
            seen,
            dropped,
            stop,
            threads,
        }
    }

    fn clear(&self) {
        for s in &self.seen {
            s.lock().unwrap().clear();
        }
    }

    fn take(&self) -> Vec<Seen> {
        let mut all = Vec::new();
        for s in &self.seen {
            all.append(&mut s.lock().unwrap());
        }
        all
    }

    fn dropped(&self) -> u32 {
        self.dropped.iter().map(|d| d.load(Ordering::Relaxed)).sum()
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn observe(
    ns: &str,
    k: usize,
    seen: &Mutex<Vec<Seen>>,
    dropped: &std::sync::atomic::AtomicU32,
    stop: &AtomicBool,
) {
    enter(ns);
    let dev = format!("eth{k}");
    let socket = VrrpSocket::open(&dev, format!("10.10.{k}.99").parse().unwrap()).unwrap();
    socket::setsockopt(&socket, sockopt::ReceiveTimestampns, &true).unwrap();
    socket::setsockopt(&socket, sockopt::RxqOvfl, &1).unwrap();
    socket::setsockopt(&socket, sockopt::RcvBufForce, &(8 << 20)).unwrap();
    let timeout = nix::sys::time::TimeVal::new(0, 100_000);
    socket::setsockopt(&socket, sockopt::ReceiveTimeout, &timeout).unwrap();
    let master = Ipv4Addr::new(10, 10, k as u8, 1);
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec, u32);
    while !stop.load(Ordering::Relaxed) {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let Ok(msg) = socket::recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        ) else {
            continue;
        };
        let mut stamp = None;
        for c in msg.cmsgs().into_iter().flatten() {
            match c {
                ControlMessageOwned::ScmTimestampns(ts) => {
                    stamp = Some(ts.tv_sec() * 1_000_000_000 + ts.tv_nsec())
                }
                ControlMessageOwned::RxqOvfl(n) => dropped.store(n, Ordering::Relaxed),
                _ => {}
            }
        }
        let n = msg.bytes;
        if n < 20 {
            continue;
        }
        // IPv4 header (IHL words), then VRRP: version/type, VRID, priority.
        let ihl = usize::from(buf[0] & 0x0f) * 4;
        if n < ihl + 4 {
            continue;
        }
        let source = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
        let stamp = stamp.unwrap_or_else(|| {
            let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).unwrap();
            now.tv_sec() * 1_000_000_000 + now.tv_nsec()
        });
        seen.lock().unwrap().push(Seen {
            stamp,
            segment: k as u8,
            vrid: buf[ihl + 1],
            priority: buf[ihl + 2],
            from_master: source == master,
        });
    }
}

struct Options {
    instances: usize,
    seconds: u64,
    settle: u64,
    advert_int: String,
    backup: Option<Director>,
    spread: bool,
}

/// CPU seconds of a set of processes, and of their threads by name.
fn cpu_of(pids: &[u32]) -> (f64, HashMap<String, f64>) {
    let mut total = 0.0;
    let mut threads = HashMap::new();
    for pid in pids {
        let (t, th) = cpu(*pid);
        total += t;
        for (name, s) in th {
            *threads.entry(name).or_insert(0.0) += s;
        }
    }
    (total, threads)
}

fn switches_of(pids: &[u32]) -> u64 {
    pids.iter()
        .flat_map(|p| voluntary_switches(*p).into_values())
        .sum()
}

/// Under `HA_WRAP="valgrind --tool=callgrind ..."`, zeroes (`-z`) the wrapped process's
/// counters when the measured window opens and dumps them (`-d`) when it closes, so that the
/// profile holds the steady state only.
fn callgrind_control(action: &str, master: &[u32], backup: &[u32]) {
    if !std::env::var("HA_WRAP").is_ok_and(|w| w.contains("callgrind")) {
        return;
    }
    let role = std::env::var("HA_WRAP_ROLE").unwrap_or_else(|_| "master".into());
    let pid = if role == "backup" {
        backup[0]
    } else {
        master[0]
    };
    let _ = Command::new("callgrind_control")
        .arg(action)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .status();
}

/// Addresses 10.20.x.y (the VIPs) held in namespace `ns`.
fn vips_held(ns: &str) -> usize {
    let out = Command::new("ip")
        .args(["-n", ns, "-o", "-4", "addr", "show"])
        .output()
        .expect("ip addr");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(" 10.20."))
        .count()
}

/// One phase: `director` as the measured master, the backup as `--backup` says.
///
/// Started together, a director's instances all become master in the same turn of its loop,
/// so their advert deadlines fall together and stay so (ha schedules each advert one
/// interval after the previous deadline; keepalived's drift apart slowly). With `spread`,
/// the phase begins instead with the other node master of everything (priority 254) and the
/// measured one backup with priorities 101 to 250; the other node then stops (SIGTERM:
/// priority-0 adverts), and each instance takes over when its skew time runs out, (256 -
/// priority) / 256 of an interval later: deadlines spread over 58% of the interval, the
/// way a peer handing over leaves them. The other node then comes back as backup.
fn run_phase(lab: &Lab, dir: &Path, director: Director, options: &Options) {
    let backup_director = options.backup.unwrap_or(director);
    let write = |name: &str, role: Role| {
        let path = dir.join(name);
        std::fs::write(&path, config(options.instances, &options.advert_int, role)).unwrap();
        path
    };
    let master_conf = write(
        "master.conf",
        Role::Master {
            spread: options.spread,
        },
    );
    let backup_conf = write("backup.conf", Role::Backup);
    let interval: f64 = options.advert_int.parse().expect("--advert-int SECONDS");
    let interval_ms = interval * 1e3;

    let observer = Observer::start(&lab.observer, lab.segments);
    let master = if options.spread {
        let peer_conf = write("peer.conf", Role::Peer);
        let peer = Daemon::start(backup_director, &lab.backup, &peer_conf, dir, "peer");
        std::thread::sleep(Duration::from_secs(3));
        let master = Daemon::start(director, &lab.master, &master_conf, dir, "master");
        std::thread::sleep(Duration::from_secs(3));
        peer.stop();
        master
    } else {
        Daemon::start(director, &lab.master, &master_conf, dir, "master")
    };
    std::thread::sleep(Duration::from_secs(2));
    let backup = Daemon::start(backup_director, &lab.backup, &backup_conf, dir, "backup");
    std::thread::sleep(Duration::from_secs(options.settle));
    let master_pids = master.pids();
    let backup_pids = backup.pids();

    callgrind_control("-z", &master_pids, &backup_pids);
    observer.clear();
    let dropped0 = observer.dropped();
    let load0 = load_average();
    let (m0, mt0) = cpu_of(&master_pids);
    let split0: Vec<(f64, f64)> = master_pids.iter().map(|p| cpu_split(*p)).collect();
    let child0 = cpu(*master_pids.last().unwrap()).0;
    let (b0, _) = cpu_of(&backup_pids);
    let bsplit0: Vec<(f64, f64)> = backup_pids.iter().map(|p| cpu_split(*p)).collect();
    let (ms0, bs0) = (switches_of(&master_pids), switches_of(&backup_pids));
    let system0 = system_cpu();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(options.seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    let (m1, mt1) = cpu_of(&master_pids);
    let split1: Vec<(f64, f64)> = master_pids.iter().map(|p| cpu_split(*p)).collect();
    let child1 = cpu(*master_pids.last().unwrap()).0;
    let (b1, _) = cpu_of(&backup_pids);
    let bsplit1: Vec<(f64, f64)> = backup_pids.iter().map(|p| cpu_split(*p)).collect();
    let (ms1, bs1) = (switches_of(&master_pids), switches_of(&backup_pids));
    let system1 = system_cpu();
    let load1 = load_average();
    let seen = observer.take();
    let dropped = observer.dropped() - dropped0;
    callgrind_control("-d", &master_pids, &backup_pids);

    let masters = master.masters();
    let vips_master = vips_held(&lab.master);
    let vips_backup = vips_held(&lab.backup);
    master.stop();
    backup.stop();
    observer.stop();

    println!(
        "\n== {} master, {} backup: {} instances on {} segments, advert_int {} s{}; load average {load0} -> {load1}",
        director.name(),
        backup_director.name(),
        options.instances,
        lab.segments,
        options.advert_int,
        if options.spread { ", spread deadlines" } else { "" },
    );
    let from_backup = seen.iter().filter(|s| !s.from_master).count();
    let mut per_instance: HashMap<(u8, u8), Vec<i64>> = HashMap::new();
    let mut priorities: HashMap<u8, usize> = HashMap::new();
    for s in seen.iter().filter(|s| s.from_master) {
        per_instance
            .entry((s.segment, s.vrid))
            .or_default()
            .push(s.stamp);
        *priorities.entry(s.priority).or_default() += 1;
    }
    let adverts: usize = per_instance.values().map(Vec::len).sum();
    let due = options.instances as f64 * elapsed / interval;
    let mut gaps: Vec<f64> = Vec::with_capacity(adverts);
    for stamps in per_instance.values_mut() {
        stamps.sort_unstable();
        gaps.extend(stamps.windows(2).map(|w| (w[1] - w[0]) as f64 / 1e6));
    }
    gaps.sort_by(f64::total_cmp);
    println!(
        "adverts from the master: {adverts} in {elapsed:.1} s ({:.2}% of the {due:.0} due), \
         {}/{} instances seen, {} priorities; from the backup: {from_backup}; \
         observer drops: {dropped}",
        adverts as f64 * 100.0 / due,
        per_instance.len(),
        options.instances,
        priorities.len(),
    );
    println!(
        "VIPs held: master {vips_master}, backup {vips_backup}{}",
        masters.map_or(String::new(), |m| format!(
            "; ha status: {m} instances MASTER"
        ))
    );
    // Where in the interval the adverts fall, in 1 ms slots: how many wake-ups the sender
    // needs at least, and how bunched its deadlines are.
    let interval_ns = (interval * 1e9) as i64;
    let mut slots = vec![0usize; (interval_ns / 1_000_000).max(1) as usize];
    for stamps in per_instance.values() {
        for t in stamps {
            let slot = (t.rem_euclid(interval_ns) / 1_000_000) as usize;
            let last = slots.len() - 1;
            slots[slot.min(last)] += 1;
        }
    }
    let busiest = slots.iter().max().copied().unwrap_or(0);
    println!(
        "phases: adverts fall in {} of the {} 1-ms slots of the interval; the busiest holds {:.1}%",
        slots.iter().filter(|n| **n > 0).count(),
        slots.len(),
        busiest as f64 * 100.0 / adverts.max(1) as f64
    );
    if gaps.len() > 2 {
        let q = |p| quantile(&gaps, p);
        let late = |limit: f64| gaps.iter().filter(|g| **g - interval_ms > limit).count();
        println!(
            "gap between adverts of an instance (ms): min {:.3}  p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
            gaps[0],
            q(0.5),
            q(0.99),
            q(0.999),
            gaps[gaps.len() - 1]
        );
        println!(
            "gap - {interval_ms:.0} ms (ms):  mean {:+.3}  p50 {:+.3}  p99 {:+.3}  p99.9 {:+.3}  max {:+.3};  \
             over +1 ms: {:.2}%, over +10 ms: {:.3}%, over one interval: {}",
            gaps.iter().sum::<f64>() / gaps.len() as f64 - interval_ms,
            q(0.5) - interval_ms,
            q(0.99) - interval_ms,
            q(0.999) - interval_ms,
            gaps[gaps.len() - 1] - interval_ms,
            late(1.0) as f64 * 100.0 / gaps.len() as f64,
            late(10.0) as f64 * 100.0 / gaps.len() as f64,
            late(interval_ms),
        );
    }
    let per_second = |a: f64, b: f64| (b - a) * 100.0 / elapsed;
    let thread = |name: &str| {
        per_second(
            mt0.get(name).copied().unwrap_or(0.0),
            mt1.get(name).copied().unwrap_or(0.0),
        )
    };
    let delta = |before: &[(f64, f64)], after: &[(f64, f64)]| {
        before
            .iter()
            .zip(after)
            .fold((0.0, 0.0), |(u, s), (a, b)| (u + b.0 - a.0, s + b.1 - a.1))
    };
    let (user, system) = delta(&split0, &split1);
    let (backup_user, backup_system) = delta(&bsplit0, &bsplit1);
    println!(
        "master CPU: {:.2}% of one core (user {:.2}%, sys {:.2}%){}; {:.0} wake-ups/s (voluntary context switches)",
        per_second(m0, m1),
        user * 100.0 / elapsed,
        system * 100.0 / elapsed,
        match director {
            Director::Ha | Director::HaBase => format!(" (vrrp thread {:.2}%)", thread("vrrp")),
            Director::Keepalived => format!(
                " (parent + VRRP child; the child {:.2}%)",
                per_second(child0, child1)
            ),
        },
        (ms1 - ms0) as f64 / elapsed,
    );
    println!(
        "backup CPU: {:.2}% of one core (user {:.2}%, sys {:.2}%); {:.0} wake-ups/s",
        per_second(b0, b1),
        backup_user * 100.0 / elapsed,
        backup_system * 100.0 / elapsed,
        (bs1 - bs0) as f64 / elapsed,
    );
    let ticks = (system1.total - system0.total).max(1) as f64;
    println!(
        "machine: busy {:.1}% of {} CPUs, of which softirq {:.1}%; steal {:.1}%",
        (system1.busy - system0.busy) as f64 * 100.0 / ticks,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (system1.softirq - system0.softirq) as f64 * 100.0 / ticks,
        (system1.steal - system0.steal) as f64 * 100.0 / ticks,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let options = Options {
        instances: value("--instances").map_or(1000, |v| v.parse().expect("--instances N")),
        seconds: value("--seconds").map_or(30, |v| v.parse().expect("--seconds N")),
        settle: value("--settle").map_or(12, |v| v.parse().expect("--settle N")),
        advert_int: value("--advert-int").unwrap_or_else(|| "0.1".into()),
        backup: value("--backup")
            .filter(|b| b != "same")
            .map(|b| Director::parse(&b)),
        spread: args.iter().any(|a| a == "--spread"),
    };
    let order = value("--order").unwrap_or_else(|| "ha,keepalived".into());
    if !nix::unistd::geteuid().is_root() {
        eprintln!("vrrp_load: needs root (network namespaces)");
        std::process::exit(2);
    }
    let segments = options.instances.div_ceil(PER_SEGMENT);
    let dir: PathBuf = std::env::temp_dir().join(format!("havl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Lab::new(segments);
    println!(
        "vrrp_load: {} VRRPv3 instances, advert_int {} s, {} s settle + {} s measured per phase, {} CPUs",
        options.instances,
        options.advert_int,
        options.settle,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for name in order.split(',') {
        run_phase(&lab, &dir, Director::parse(name), &options);
    }
    drop(lab);
    if std::env::var_os("VRRP_LOAD_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
