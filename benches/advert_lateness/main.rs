//! VRRP advert timing of `ha run` under health-check load (issue: adverts must stay on time
//! while the checker runs 10,000 checks/s in the same process).
//!
//! Topology, all in namespaces this program creates and deletes:
//! - director (`ha run`): eth0 192.168.3.10/24 towards the observer, rs0 10.0.0.1/30 towards
//!   the real servers, route 10.1.0.0/16 via 10.0.0.2;
//! - observer: eth0 192.168.3.99/24; a raw VRRP socket with SO_TIMESTAMPNS records when
//!   each advert arrived (the kernel stamps it as the veth hands it over, in the sender's
//!   send call, so the observer's own scheduling does not count);
//! - real servers: `local 10.1.0.0/16 dev lo` makes every 10.1.x.y local, and one
//!   listener on 0.0.0.0:80 accepts (and closes) every check; its accept count is the
//!   checks/s achieved.
//!
//! Phases, each with a fresh `ha run`: `baseline` (the VRRP instance alone), `load` (the
//! same instance plus `--real-servers` TCP_CHECKs at `--delay-loop`) and `split` (the same
//! configuration as `ha run --vrrp` plus `ha run --check`, keepalived's process split). The host has no IPVS:
//! the director logs that IPVS is unreachable and runs VRRP and the checks anyway, which the
//! load phase verifies from its log and `ha status`.
//!
//! ```sh
//! cargo build --release -p ha-cli -p benches --bins
//! target/release/advert_lateness --seconds 30 [--real-servers 10000] [--delay-loop 1]
//!     [--phases baseline,load,split] [--vrrp-rt-priority 50] [--max-tw-buckets N]
//! ```

use std::fs::File;
use std::io::IoSliceMut;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::{cpu, enter, ha_bin, load_average, ns_sh, quantile, sh, system_cpu};
use director::net::VrrpSocket;
use nix::sys::socket::{self, sockopt, ControlMessageOwned, MsgFlags};

const ADVERT: Duration = Duration::from_millis(10);
const DIRECTOR: Ipv4Addr = Ipv4Addr::new(192, 168, 3, 10);

struct Lab {
    director: String,
    observer: String,
    servers: String,
}

impl Lab {
    fn new(max_tw_buckets: Option<u64>) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            director: format!("haal-d-{pid}"),
            observer: format!("haal-o-{pid}"),
            servers: format!("haal-r-{pid}"),
        };
        for n in lab.names() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            sh(&["ip", "netns", "add", n]);
            ns_sh(n, &["ip", "link", "set", "lo", "up"]);
        }
        let (d, o, r) = (&lab.director, &lab.observer, &lab.servers);
        ns_sh(
            d,
            &[
                "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", o,
            ],
        );
        ns_sh(
            d,
            &[
                "ip", "link", "add", "rs0", "type", "veth", "peer", "name", "eth0", "netns", r,
            ],
        );
        ns_sh(d, &["ip", "addr", "add", "192.168.3.10/24", "dev", "eth0"]);
        ns_sh(d, &["ip", "addr", "add", "10.0.0.1/30", "dev", "rs0"]);
        ns_sh(o, &["ip", "addr", "add", "192.168.3.99/24", "dev", "eth0"]);
        ns_sh(r, &["ip", "addr", "add", "10.0.0.2/30", "dev", "eth0"]);
        for (ns, dev) in [(d, "eth0"), (d, "rs0"), (o, "eth0"), (r, "eth0")] {
            ns_sh(ns, &["ip", "link", "set", dev, "up"]);
        }
        ns_sh(d, &["ip", "route", "add", "10.1.0.0/16", "via", "10.0.0.2"]);
        // Every 10.1.x.y is local on the real-server side: one listener serves them all.
        ns_sh(
            r,
            &["ip", "route", "add", "local", "10.1.0.0/16", "dev", "lo"],
        );
        // The checker closes first, so TIME_WAIT piles up on the director's side: reuse it for
        // new connections (the namespace default only allows that on loopback).
        ns_sh(d, &["sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
        ns_sh(
            d,
            &["sysctl", "-qw", "net.ipv4.ip_local_port_range=10000 65000"],
        );
        if let Some(n) = max_tw_buckets {
            ns_sh(
                d,
                &["sysctl", "-qw", &format!("net.ipv4.tcp_max_tw_buckets={n}")],
            );
        }
        lab
    }

    fn names(&self) -> [&String; 3] {
        [&self.director, &self.observer, &self.servers]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in self.names() {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

/// The n-th real server: 10.1.0.1, 10.1.0.2, ... (x.y.0 and x.y.255 skipped).
fn real_server(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 1, (n / 254) as u8, (n % 254 + 1) as u8)
}

fn config(real_servers: usize, delay_loop: &str, rt_priority: Option<u32>) -> String {
    let mut c = String::from("global_defs {\n  router_id al\n  vrrp_version 3\n");
    if let Some(p) = rt_priority {
        c.push_str(&format!("  vrrp_rt_priority {p}\n"));
    }
    c.push_str(
        "}\nvrrp_instance VI_1 {\n  state MASTER\n  interface eth0\n  virtual_router_id 7\n  \
         priority 150\n  advert_int 0.01\n  virtual_ipaddress {\n    192.168.3.200/32\n  }\n}\n",
    );
    // Ten virtual servers share the real servers out.
    let per_vs = real_servers.div_ceil(10);
    for vs in 0..10 {
        let range = vs * per_vs..((vs + 1) * per_vs).min(real_servers);
        if range.is_empty() {
            continue;
        }
        c.push_str(&format!(
            "virtual_server 192.168.3.200 {} {{\n  delay_loop {delay_loop}\n  lb_algo rr\n  \
             lb_kind NAT\n  protocol TCP\n",
            8000 + vs
        ));
        for n in range {
            c.push_str(&format!(
                "  real_server {} 80 {{\n    TCP_CHECK {{\n      connect_timeout 2\n    }}\n  }}\n",
                real_server(n)
            ));
        }
        c.push_str("}\n");
    }
    c
}

/// One listener for every real server; counts accepted connections.
fn listen(ns: String, accepted: Arc<AtomicU64>) {
    let listener = std::thread::spawn(move || {
        enter(&ns);
        let fd: OwnedFd = socket::socket(
            socket::AddressFamily::Inet,
            socket::SockType::Stream,
            socket::SockFlag::SOCK_CLOEXEC,
            None,
        )
        .expect("socket");
        socket::setsockopt(&fd, sockopt::ReuseAddr, &true).unwrap();
        let any = socket::SockaddrIn::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80));
        socket::bind(fd.as_raw_fd(), &any).expect("bind 0.0.0.0:80");
        // The longest backlog (somaxconn): a burst of checks must not overflow the accept queue.
        socket::listen(&fd, socket::Backlog::MAXCONN).expect("listen");
        TcpListener::from(fd)
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stream.is_ok() {
                accepted.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
}

/// Adverts from the director: kernel receive time (CLOCK_REALTIME) in ns and priority.
type Seen = Arc<Mutex<Vec<(i64, u8)>>>;

fn observe(ns: String, seen: Seen, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        enter(&ns);
        let socket = VrrpSocket::open("eth0", "192.168.3.99".parse().unwrap()).unwrap();
        socket::setsockopt(&socket, sockopt::ReceiveTimestampns, &true).unwrap();
        let timeout = nix::sys::time::TimeVal::new(0, 100_000);
        socket::setsockopt(&socket, sockopt::ReceiveTimeout, &timeout).unwrap();
        let mut buf = vec![0u8; 4096];
        let mut cmsg = nix::cmsg_space!(nix::sys::time::TimeSpec);
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
            let stamp = msg.cmsgs().ok().and_then(|mut c| {
                c.find_map(|m| match m {
                    ControlMessageOwned::ScmTimestampns(ts) => {
                        Some(ts.tv_sec() * 1_000_000_000 + ts.tv_nsec())
                    }
                    _ => None,
                })
            });
            let n = msg.bytes;
            // IPv4 header (IHL words), then VRRP: version/type, VRID, priority.
            if n < 20 {
                continue;
            }
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            let source = Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]);
            if source != DIRECTOR || n < ihl + 4 {
                continue;
            }
            let stamp = stamp.unwrap_or_else(|| {
                let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME).unwrap();
                now.tv_sec() * 1_000_000_000 + now.tv_nsec()
            });
            seen.lock().unwrap().push((stamp, buf[ihl + 2]));
        }
    })
}

struct Phase {
    name: &'static str,
    real_servers: usize,
    /// The checks in a second `ha run --check` process, VRRP alone (`--vrrp`) in the measured
    /// one: keepalived's split, to tell the process's own check load from the machine's.
    split: bool,
}

struct Options {
    seconds: u64,
    delay_loop: String,
    rt_priority: Option<u32>,
}

/// How late each advert was against the director's schedule. The director schedules each
/// advert one interval after the previous deadline (not after the previous send), and
/// restarts the schedule from "now" only when an advert is a whole interval late or more,
/// which shows as a gap of two intervals or more. So, within a stretch between such
/// restarts, advert k is due at phase + k x 10 ms, the phase being where the earliest
/// advert of the stretch sits. The advert that restarts the schedule is late against the old
/// stretch and the anchor of the new one.
fn lateness(stamps: &[i64]) -> Vec<f64> {
    let interval = ADVERT.as_nanos() as i64;
    let mut out = Vec::with_capacity(stamps.len());
    let mut start = 0;
    loop {
        let mut end = start + 1;
        while end < stamps.len() && stamps[end] - stamps[end - 1] < 2 * interval {
            end += 1;
        }
        // The restarting advert, if any, closes this stretch.
        let last = end.min(stamps.len() - 1);
        let offsets: Vec<i64> = (start..=last)
            .map(|k| stamps[k] - (k - start) as i64 * interval)
            .collect();
        let phase = *offsets.iter().min().unwrap();
        // A stretch's first advert was already counted as the previous one's last.
        let skip = usize::from(start > 0);
        out.extend(offsets[skip..].iter().map(|o| (o - phase) as f64 / 1e6));
        if end >= stamps.len() {
            return out;
        }
        start = end;
    }
}

fn run_phase(lab: &Lab, dir: &Path, phase: &Phase, options: &Options, accepted: &AtomicU64) {
    let conf = dir.join(format!("{}.conf", phase.name));
    std::fs::write(
        &conf,
        config(phase.real_servers, &options.delay_loop, options.rt_priority),
    )
    .unwrap();
    let start = |role: &str, flag: Option<&str>| -> Child {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &lab.director])
            .arg(ha_bin())
            .arg("run")
            .arg("-f")
            .arg(&conf)
            .arg("--control-socket")
            .arg(dir.join(format!("{}-{role}.sock", phase.name)));
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        cmd.stdout(Stdio::null())
            .stderr(File::create(dir.join(format!("{}-{role}.log", phase.name))).unwrap())
            .spawn()
            .expect("start ha run")
    };
    // `ip netns exec` execs ha: the child's pid is ha's.
    let mut children = vec![start("vrrp", phase.split.then_some("--vrrp"))];
    if phase.split {
        children.push(start("check", Some("--check")));
    }
    let checker = if phase.split { 1 } else { 0 };
    let socket = dir.join(format!(
        "{}-{}.sock",
        phase.name,
        if phase.split { "check" } else { "vrrp" }
    ));
    let log = dir.join(format!(
        "{}-{}.log",
        phase.name,
        if phase.split { "check" } else { "vrrp" }
    ));
    let pids: Vec<u32> = children.iter().map(Child::id).collect();

    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let observer = observe(lab.observer.clone(), Arc::clone(&seen), Arc::clone(&stop));
    // The checks' first round is spread over one delay_loop; let it finish, and the engine
    // settle, before measuring.
    let delay_loop: f64 = options.delay_loop.parse().unwrap();
    let settle = if phase.real_servers > 0 {
        Duration::from_secs_f64(delay_loop * 2.0 + 3.0)
    } else {
        Duration::from_secs(2)
    };
    std::thread::sleep(settle);
    seen.lock().unwrap().clear();
    let load0 = load_average();
    let cpu0: Vec<_> = pids.iter().map(|p| cpu(*p)).collect();
    let system0 = system_cpu();
    let accepted0 = accepted.load(Ordering::Relaxed);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(options.seconds));
    let elapsed = t0.elapsed().as_secs_f64();
    let accepted1 = accepted.load(Ordering::Relaxed);
    let cpu1: Vec<_> = pids.iter().map(|p| cpu(*p)).collect();
    let system1 = system_cpu();
    let load1 = load_average();
    stop.store(true, Ordering::Relaxed);
    observer.join().unwrap();

    let status = Command::new(ha_bin())
        .args(["status", "--json", "--socket"])
        .arg(&socket)
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok());
    for child in &mut children {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = child.wait();
    }

    let seen = seen.lock().unwrap().clone();
    let stamps: Vec<i64> = seen.iter().map(|(t, _)| *t).collect();
    let priorities: Vec<u8> = seen.iter().map(|(_, p)| *p).collect();
    println!(
        "\n== {}: {} real servers{}{}; load average {load0} -> {load1}",
        phase.name,
        phase.real_servers,
        if phase.split {
            " (checks in a second process)"
        } else {
            ""
        },
        if phase.real_servers > 0 {
            format!(", TCP_CHECK delay_loop {}", options.delay_loop)
        } else {
            String::new()
        }
    );
    if stamps.len() < 3 {
        println!(
            "too few adverts seen ({}); log: {}",
            stamps.len(),
            log.display()
        );
        return;
    }
    let mut gaps: Vec<f64> = stamps
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1e6)
        .collect();
    gaps.sort_by(f64::total_cmp);
    let mut late = lateness(&stamps);
    late.sort_by(f64::total_cmp);
    let expected = elapsed / ADVERT.as_secs_f64();
    println!(
        "adverts: {} seen in {elapsed:.1} s ({:.1}% of the {expected:.0} due), priority {}",
        stamps.len(),
        stamps.len() as f64 * 100.0 / expected,
        if priorities.iter().all(|p| *p == priorities[0]) {
            priorities[0].to_string()
        } else {
            "varies".into()
        }
    );
    println!(
        "gap between adverts (ms): min {:.3}  p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        gaps[0],
        quantile(&gaps, 0.5),
        quantile(&gaps, 0.99),
        quantile(&gaps, 0.999),
        gaps[gaps.len() - 1]
    );
    println!(
        "gap - 10 ms (ms):          p50 {:+.3}  p99 {:+.3}  p99.9 {:+.3}  max {:+.3}",
        quantile(&gaps, 0.5) - 10.0,
        quantile(&gaps, 0.99) - 10.0,
        quantile(&gaps, 0.999) - 10.0,
        gaps[gaps.len() - 1] - 10.0
    );
    println!(
        "lateness vs schedule (ms): p50 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3}",
        quantile(&late, 0.5),
        quantile(&late, 0.99),
        quantile(&late, 0.999),
        late[late.len() - 1]
    );
    let late_1ms = late.iter().filter(|l| **l > 1.0).count();
    println!(
        "adverts more than 1 ms late: {late_1ms} ({:.2}%)",
        late_1ms as f64 * 100.0 / late.len() as f64
    );
    for (i, ((c0, t0), (c1, t1))) in cpu0.iter().zip(&cpu1).enumerate() {
        let thread = |name: &str| {
            (t1.get(name).copied().unwrap_or(0.0) - t0.get(name).copied().unwrap_or(0.0)) * 100.0
                / elapsed
        };
        println!(
            "ha run{} CPU: {:.1}% of one core (vrrp thread {:.1}%, healthcheck threads {:.1}%, lvs {:.1}%)",
            match (phase.split, i == checker) {
                (false, _) => "",
                (true, false) => " --vrrp",
                (true, true) => " --check",
            },
            (c1 - c0) * 100.0 / elapsed,
            thread("vrrp"),
            thread("healthcheck"),
            thread("lvs"),
        );
    }
    let ticks = (system1.total - system0.total).max(1) as f64;
    println!(
        "machine: busy {:.1}% of {} CPUs, of which softirq {:.1}%; steal {:.1}%",
        (system1.busy - system0.busy) as f64 * 100.0 / ticks,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        (system1.softirq - system0.softirq) as f64 * 100.0 / ticks,
        (system1.steal - system0.steal) as f64 * 100.0 / ticks,
    );
    println!(
        "listener accepts: {:.0}/s",
        (accepted1 - accepted0) as f64 / elapsed
    );
    if let Some(status) = status.filter(|_| phase.real_servers > 0) {
        let rs: Vec<&serde_json::Value> = status["virtual_servers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|vs| vs["real_servers"].as_array().into_iter().flatten())
            .collect();
        let up = rs.iter().filter(|r| r["health"] == "up").count();
        println!(
            "ha status: {up}/{} real servers up; ipvs available {}, error {}",
            rs.len(),
            status["ipvs"]["available"],
            status["ipvs"]["error"]
        );
    }
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    for line in log_text.lines().filter(|l| l.contains("IPVS")).take(1) {
        println!("log: {line}");
    }
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
        seconds: value("--seconds").map_or(30, |v| v.parse().expect("--seconds N")),
        delay_loop: value("--delay-loop").unwrap_or_else(|| "1".into()),
        rt_priority: value("--vrrp-rt-priority").map(|v| v.parse().expect("--vrrp-rt-priority N")),
    };
    let real_servers: usize =
        value("--real-servers").map_or(10_000, |v| v.parse().expect("--real-servers N"));
    assert!(real_servers <= 254 * 256, "at most 65,024 real servers");
    let max_tw_buckets = value("--max-tw-buckets").map(|v| v.parse().expect("--max-tw-buckets N"));
    let phases = value("--phases").unwrap_or_else(|| "baseline,load".into());
    if !nix::unistd::geteuid().is_root() {
        eprintln!("advert_lateness: needs root (network namespaces)");
        std::process::exit(2);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("haal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Lab::new(max_tw_buckets);
    let accepted = Arc::new(AtomicU64::new(0));
    listen(lab.servers.clone(), Arc::clone(&accepted));
    println!(
        "advert_lateness: VRRPv3 advert_int 0.01 (10 ms), {} s per phase, {} CPUs",
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    for name in phases.split(',') {
        let phase = match name {
            "baseline" => Phase {
                name: "baseline",
                real_servers: 0,
                split: false,
            },
            "load" => Phase {
                name: "load",
                real_servers,
                split: false,
            },
            "split" => Phase {
                name: "split",
                real_servers,
                split: true,
            },
            other => panic!("unknown phase {other}: baseline, load or split"),
        };
        run_phase(&lab, &dir, &phase, &options, &accepted);
    }
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lateness_follows_the_deadline_schedule_and_its_restarts() {
        let ms = 1_000_000;
        // On time, 3 ms late, on time again (the schedule does not move), then 22 ms late:
        // the schedule restarts from that advert.
        let stamps = [0, 10 * ms, 23 * ms, 30 * ms, 62 * ms, 72 * ms, 82 * ms];
        let late = lateness(&stamps);
        assert_eq!(late, [0.0, 0.0, 3.0, 0.0, 22.0, 0.0, 0.0]);
    }
}
