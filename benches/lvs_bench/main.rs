//! In-VM helpers for the LVS benchmarks (the host kernel has no IPVS; see README.md here).
//!
//! - `lvs_bench serve [ADDR:PORT]`: accepts and closes TCP connections forever (default
//!   0.0.0.0:80): the real servers of `benches/rss/lvs_vm.sh` and of `removal`.
//! - `lvs_bench removal [--director ha|keepalived] [--runs N] [--modes refused,timeout]
//!   [--delay-loop S] [--connect-timeout S] [--retry N] [--delay-before-retry S]`:
//!   time from a real server failing to its destination leaving the IPVS table, against
//!   what keepalived's checker semantics predict.
//!
//! Run by `cargo xtask vm-run` as README.md shows; it needs root, IPVS and iproute2.

use std::fs::File;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use director::net::{parse_route, Rtnl};
use ipvs_sys::{Ipvs, ServiceKey};

const NS: &str = "lvsrm";
const VIP: &str = "10.3.0.100:80";
const REAL_SERVER: &str = "10.3.0.2:80";
const POLL: Duration = Duration::from_millis(10);

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", args[0]));
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn serve(addr: &str) -> ! {
    let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
    println!("lvs_bench: listening on {addr}");
    let _ = std::io::stdout().flush();
    for stream in listener.incoming() {
        drop(stream);
    }
    unreachable!("incoming() never ends")
}

/// The checker's timing, as configured in the `TCP_CHECK` block.
#[derive(Debug, Clone, Copy)]
struct Timing {
    delay_loop: f64,
    connect_timeout: f64,
    retry: u32,
    delay_before_retry: f64,
}

impl Timing {
    /// keepalived's semantics: the failure is first seen by the next check, 0 to delay_loop
    /// after it (checks run delay_loop after the end of the previous one), then `retry` more
    /// checks follow, each delay_before_retry after the end of the one before; a timed-out
    /// check lasts connect_timeout, a refused one next to nothing.
    fn predicted(&self, timeout: bool) -> (f64, f64) {
        let per_check = if timeout { self.connect_timeout } else { 0.0 };
        let least =
            f64::from(self.retry) * self.delay_before_retry + f64::from(self.retry + 1) * per_check;
        (least, least + self.delay_loop)
    }
}

fn config(t: &Timing) -> String {
    let (vip, port) = VIP.split_once(':').unwrap();
    let (rs, rs_port) = REAL_SERVER.split_once(':').unwrap();
    format!(
        "global_defs {{\n  router_id removal\n}}\n\
         virtual_server {vip} {port} {{\n  delay_loop {}\n  lb_algo rr\n  lb_kind NAT\n  protocol TCP\n  \
         real_server {rs} {rs_port} {{\n    weight 1\n    TCP_CHECK {{\n      connect_timeout {}\n      \
         retry {}\n      delay_before_retry {}\n    }}\n  }}\n}}\n",
        t.delay_loop, t.connect_timeout, t.retry, t.delay_before_retry
    )
}

struct Lab;

impl Lab {
    fn new() -> Lab {
        let _ = Command::new("ip").args(["netns", "del", NS]).output();
        sh(&["ip", "netns", "add", NS]);
        sh(&["ip", "-n", NS, "link", "set", "lo", "up"]);
        sh(&[
            "ip", "link", "add", "rs0", "type", "veth", "peer", "name", "eth0", "netns", NS,
        ]);
        sh(&["ip", "addr", "add", "10.3.0.1/24", "dev", "rs0"]);
        sh(&["ip", "link", "set", "rs0", "up"]);
        sh(&["ip", "-n", NS, "addr", "add", "10.3.0.2/24", "dev", "eth0"]);
        sh(&["ip", "-n", NS, "link", "set", "eth0", "up"]);
        Lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["link", "del", "rs0"]).output();
        let _ = Command::new("ip").args(["netns", "del", NS]).output();
    }
}

fn start_listener() -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("ip")
        .args(["netns", "exec", NS])
        .arg(exe)
        .args(["serve", REAL_SERVER])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the listener");
    // Wait for its "listening" line: the port is open from then on.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("listening"), "listener: {line}");
    child
}

/// An rtnetlink socket in the real server's namespace: adding a blackhole route there takes
/// microseconds, so the failure's time is known to well under the 10 ms poll.
fn rtnl_in_ns() -> Rtnl {
    std::thread::spawn(|| {
        let f = File::open(format!("/var/run/netns/{NS}")).expect("netns");
        nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        Rtnl::open().expect("rtnetlink")
    })
    .join()
    .unwrap()
}

fn present(ipvs: &mut Ipvs, key: &ServiceKey, rs: SocketAddr) -> bool {
    ipvs.destinations(key)
        .map(|d| d.iter().any(|d| d.addr == rs))
        .unwrap_or(false)
}

/// Polls every 10 ms until the destination's presence is `want`; returns when it was seen.
fn wait_for(
    ipvs: &mut Ipvs,
    key: &ServiceKey,
    rs: SocketAddr,
    want: bool,
    limit: Duration,
) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    loop {
        if present(ipvs, key, rs) == want {
            return Some(Instant::now());
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(POLL);
    }
}

/// A little randomness without a dependency: the failure must fall at a random point of the
/// check cycle, or every run would measure the same phase.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Jitter(seed | 1)
    }

    fn below(&mut self, limit: f64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_secs_f64(limit * (self.0 % 1_000_000) as f64 / 1e6)
    }
}

fn start_director(director: &str, conf: &Path, dir: &Path) -> Child {
    let log = File::create(dir.join(format!("{director}.log"))).unwrap();
    let mut cmd = match director {
        "ha" => {
            let mut c = Command::new(std::env::var("HA_BIN").unwrap_or_else(|_| "ha".into()));
            c.args(["run", "--check", "-f"]).arg(conf);
            c.arg("--control-socket").arg(dir.join("ha.sock"));
            c
        }
        "keepalived" => {
            let mut c = Command::new("keepalived");
            c.args(["-n", "-C", "-f"]).arg(conf);
            for (flag, name) in [("-p", "k"), ("-c", "c"), ("-r", "v")] {
                c.arg(flag).arg(dir.join(format!("{name}.pid")));
            }
            c
        }
        other => panic!("--director ha or keepalived, not {other}"),
    };
    cmd.stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start the director")
}

fn removal(args: &[String]) {
    let value = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_else(|| default.into())
    };
    let number = |name: &str, default: &str| -> f64 {
        value(name, default)
            .parse()
            .unwrap_or_else(|_| panic!("{name} wants a number"))
    };
    let director = value("--director", "ha");
    let runs = number("--runs", "10") as usize;
    let timing = Timing {
        delay_loop: number("--delay-loop", "1"),
        connect_timeout: number("--connect-timeout", "1"),
        retry: number("--retry", "2") as u32,
        delay_before_retry: number("--delay-before-retry", "1"),
    };
    let modes = value("--modes", "refused,timeout");

    let dir = PathBuf::from(format!("/tmp/lvs_bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _lab = Lab::new();
    let mut listener = start_listener();
    let mut rtnl = rtnl_in_ns();
    // Dropping the SYN-ACK on the real server's side: the director's SYN goes unanswered
    // and its connect times out.
    let blackhole = parse_route(&["blackhole".into(), "10.3.0.1/32".into()]).unwrap();
    let conf = dir.join("director.conf");
    std::fs::write(&conf, config(&timing)).unwrap();
    let mut ipvs = Ipvs::new().expect("IPVS");
    let key = ServiceKey::tcp(VIP.parse().unwrap());
    let rs: SocketAddr = REAL_SERVER.parse().unwrap();
    let mut daemon = start_director(&director, &conf, &dir);
    if wait_for(&mut ipvs, &key, rs, true, Duration::from_secs(30)).is_none() {
        let _ = daemon.kill();
        panic!("{director} never put {rs} in IPVS; see {}", dir.display());
    }
    // Let the first, scattered round of checks pass.
    std::thread::sleep(Duration::from_secs_f64(timing.delay_loop + 1.0));
    println!(
        "removal: {director}, TCP_CHECK delay_loop {} connect_timeout {} retry {} delay_before_retry {}; \
         polling IPVS every {} ms",
        timing.delay_loop,
        timing.connect_timeout,
        timing.retry,
        timing.delay_before_retry,
        POLL.as_millis()
    );
    let mut jitter = Jitter::new();
    for mode in modes.split(',') {
        let timeout = match mode {
            "refused" => false,
            "timeout" => true,
            other => panic!("--modes refused,timeout, not {other}"),
        };
        let mut times = Vec::new();
        for run in 0..runs {
            std::thread::sleep(jitter.below(timing.delay_loop) + Duration::from_millis(300));
            let failed = if timeout {
                rtnl.add_route(&blackhole).expect("add the blackhole route");
                Instant::now()
            } else {
                let _ = listener.kill();
                let _ = listener.wait();
                Instant::now()
            };
            let limit = Duration::from_secs_f64(timing.predicted(timeout).1 * 3.0 + 5.0);
            let removed = wait_for(&mut ipvs, &key, rs, false, limit);
            if timeout {
                rtnl.delete_route(&blackhole)
                    .expect("delete the blackhole route");
            } else {
                listener = start_listener();
            }
            match removed {
                Some(at) => {
                    let s = (at - failed).as_secs_f64();
                    println!("  {mode} run {run}: removed after {s:.3} s");
                    times.push(s);
                }
                None => println!("  {mode} run {run}: not removed within {limit:?}"),
            }
            if wait_for(&mut ipvs, &key, rs, true, Duration::from_secs(30)).is_none() {
                println!("  {mode}: {rs} did not come back; stopping");
                break;
            }
        }
        let (least, most) = timing.predicted(timeout);
        times.sort_by(f64::total_cmp);
        if times.is_empty() {
            println!("RESULT {director} {mode}: no run measured");
            continue;
        }
        let outside = times
            .iter()
            .filter(|t| **t < least - 0.05 || **t > most + 0.05)
            .count();
        println!(
            "RESULT {director} {mode}: {} runs, min {:.3} / median {:.3} / max {:.3} s; \
             keepalived's semantics predict {least:.1}-{most:.1} s (+ up to {} ms of polling); {outside} outside",
            times.len(),
            times[0],
            times[times.len() / 2],
            times[times.len() - 1],
            POLL.as_millis()
        );
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = daemon.wait();
    let _ = listener.kill();
    let _ = listener.wait();
    if std::env::var_os("LVS_BENCH_SHOW_LOG").is_some() {
        print!(
            "{}",
            std::fs::read_to_string(dir.join(format!("{director}.log"))).unwrap_or_default()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("serve") => serve(args.get(1).map_or("0.0.0.0:80", String::as_str)),
        Some("removal") => removal(&args[1..]),
        _ => {
            eprintln!("usage: lvs_bench serve [ADDR:PORT] | lvs_bench removal [--director ha|keepalived] [--runs N] ...");
            std::process::exit(2);
        }
    }
}
