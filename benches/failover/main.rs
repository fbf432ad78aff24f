//! Failover time of `ha run` and keepalived 2.2.7, side by side, in the same namespaces.
//!
//! Topology: a bridge in a "switch" namespace with three ports: lvs1 (192.168.2.10, priority
//! 100), lvs2 (192.168.2.11, priority 90) and an observer. VRRPv3 at 10 cs, VIP 192.168.2.200.
//! For each implementation and each kind of failover (crash = SIGKILL of the whole process
//! group, graceful = SIGTERM), N runs:
//! - advert to advert: the observer's receive time of the new master's first advert minus that
//!   of the old master's last one (for graceful, its priority-0 advert);
//! - VIP present: from the signal to the VIP appearing on lvs2 (polled over rtnetlink every
//!   200 µs from inside lvs2's namespace).
//!
//! Run as root: `cargo run --release -p benches --bin failover -- [--runs 10]`.
//! The RFC: master-down interval 3 x 100 ms + skew (256 - 90) x 100 ms / 256 = 364.84 ms;
//! skew alone 64.84 ms.

use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use benches::sh;
use director::net::{interface_index, Rtnl, VrrpSocket};

const VIP: &str = "192.168.2.200";

struct Lab {
    names: [String; 4],
}

impl Lab {
    fn new() -> Lab {
        let pid = std::process::id();
        let names = ["sw", "l1", "l2", "ob"].map(|n| format!("hafo-{n}-{pid}"));
        for n in &names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
            sh(&["ip", "netns", "add", n]);
            sh(&["ip", "netns", "exec", n, "ip", "link", "set", "lo", "up"]);
        }
        let sw = &names[0];
        sh(&[
            "ip",
            "netns",
            "exec",
            sw,
            "ip",
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "stp_state",
            "0",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            sw,
            "ip",
            "link",
            "set",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
        ]);
        sh(&["ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up"]);
        for (i, (ns, addr)) in [
            (&names[1], "192.168.2.10/24"),
            (&names[2], "192.168.2.11/24"),
            (&names[3], "192.168.2.99/24"),
        ]
        .into_iter()
        .enumerate()
        {
            let port = format!("p{i}");
            sh(&[
                "ip", "netns", "exec", sw, "ip", "link", "add", &port, "type", "veth", "peer",
                "name", "eth0", "netns", ns,
            ]);
            sh(&[
                "ip", "netns", "exec", sw, "ip", "link", "set", &port, "master", "br0", "up",
            ]);
            sh(&[
                "ip", "netns", "exec", ns, "ip", "addr", "add", addr, "dev", "eth0",
            ]);
            sh(&["ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"]);
        }
        Lab { names }
    }

    fn ns(&self, i: usize) -> &str {
        &self.names[i]
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &self.names {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
    }
}

fn enter(ns: &str) {
    let f = File::open(format!("/var/run/netns/{ns}")).expect("netns");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Implementation {
    Ha,
    Keepalived,
}

fn config(priority: u8) -> String {
    format!(
        "global_defs {{\n  router_id fo{priority}\n  vrrp_version 3\n  script_user root\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}/32\n  }}\n}}\n"
    )
}

struct Daemon {
    child: Child,
}

impl Daemon {
    fn start(which: Implementation, ns: &str, priority: u8, dir: &std::path::Path) -> Daemon {
        let conf = dir.join(format!("{which:?}-{priority}.conf"));
        std::fs::write(&conf, config(priority)).unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns]);
        match which {
            Implementation::Ha => {
                let ha = std::env::var("HA_BIN").unwrap_or_else(|_| {
                    let exe = std::env::current_exe().unwrap();
                    exe.with_file_name("ha").to_string_lossy().into_owned()
                });
                cmd.arg(ha)
                    .arg("run")
                    .arg("-f")
                    .arg(&conf)
                    .arg("--control-socket");
                cmd.arg(dir.join(format!("ha-{priority}.sock")));
            }
            Implementation::Keepalived => {
                let p = |n: &str| {
                    dir.join(format!("{n}-{priority}.pid"))
                        .to_string_lossy()
                        .into_owned()
                };
                cmd.args(["keepalived", "-P", "-n", "-D", "-f"]).arg(&conf);
                cmd.args(["-p", &p("k"), "-r", &p("v"), "-c", &p("c"), "-b", &p("b")]);
            }
        }
        use std::os::unix::process::CommandExt;
        cmd.process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Daemon {
            child: cmd.spawn().expect("start daemon"),
        }
    }

    /// Signals the whole process group (keepalived's children included).
    fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let _ =
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
    }

    fn stop(mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Adverts seen by the observer: (receive time, source, priority).
type Seen = Arc<Mutex<Vec<(Instant, IpAddr, u8)>>>;

fn observe(ns: String, seen: Seen, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        enter(&ns);
        let socket = VrrpSocket::open("eth0", "192.168.2.99".parse().unwrap()).unwrap();
        let timeout = nix::sys::time::TimeVal::new(0, 100_000);
        nix::sys::socket::setsockopt(&socket, nix::sys::socket::sockopt::ReceiveTimeout, &timeout)
            .unwrap();
        let mut buf = vec![0u8; 4096];
        while !stop.load(Ordering::Relaxed) {
            if let Ok(got) = socket.recv(&mut buf) {
                let t = Instant::now();
                let priority = buf.get(got.payload.start + 2).copied().unwrap_or(0);
                seen.lock().unwrap().push((t, got.info.source, priority));
            }
        }
    })
}

fn has_vip(rtnl: &mut Rtnl, ifindex: u32) -> bool {
    let vip: IpAddr = VIP.parse().unwrap();
    rtnl.addresses(ifindex)
        .map(|a| a.iter().any(|(x, _)| *x == vip))
        .unwrap_or(false)
}

/// Waits in lvs2's namespace until it holds the VIP; returns when.
fn wait_vip(ns: &str, limit: Duration) -> Option<Instant> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        let mut rtnl = Rtnl::open().unwrap();
        let ifindex = interface_index("eth0").unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if has_vip(&mut rtnl, ifindex) {
                return Some(Instant::now());
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        None
    })
    .join()
    .unwrap()
}

fn vip_now(ns: &str) -> bool {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        enter(&ns);
        let mut rtnl = Rtnl::open().unwrap();
        let ifindex = interface_index("eth0").unwrap();
        has_vip(&mut rtnl, ifindex)
    })
    .join()
    .unwrap()
}

struct Run {
    advert_to_advert: Duration,
    signal_to_vip: Duration,
}

fn one_run(
    lab: &Lab,
    which: Implementation,
    graceful: bool,
    dir: &std::path::Path,
) -> Result<Run, String> {
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let observer = observe(lab.ns(3).to_string(), Arc::clone(&seen), Arc::clone(&stop));
    let mut lvs1 = Daemon::start(which, lab.ns(1), 100, dir);
    // Let lvs1 win the election before lvs2 starts.
    let t0 = Instant::now();
    while !vip_now(lab.ns(1)) && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let lvs2 = Daemon::start(which, lab.ns(2), 90, dir);
    std::thread::sleep(Duration::from_millis(1500));
    let old: IpAddr = "192.168.2.10".parse().unwrap();
    let new: IpAddr = "192.168.2.11".parse().unwrap();
    let signalled = Instant::now();
    lvs1.signal(if graceful {
        nix::sys::signal::Signal::SIGTERM
    } else {
        nix::sys::signal::Signal::SIGKILL
    });
    let vip_at = wait_vip(lab.ns(2), Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    observer.join().unwrap();
    let _ = lvs1.child.wait();
    lvs2.stop();
    let seen = seen.lock().unwrap().clone();
    let last_old = seen
        .iter()
        .rev()
        .filter(|(_, s, p)| *s == old && (*p == 0) == graceful)
        .map(|(t, _, _)| *t)
        .find(|t| {
            if graceful {
                *t >= signalled
            } else {
                *t <= signalled + Duration::from_millis(1)
            }
        })
        .ok_or_else(|| format!("no last advert of the old master among {} seen", seen.len()))?;
    let first_new = seen
        .iter()
        .filter(|(t, s, _)| *s == new && *t > last_old)
        .map(|(t, _, _)| *t)
        .next()
        .ok_or("no advert of the new master")?;
    Ok(Run {
        advert_to_advert: first_new - last_old,
        signal_to_vip: vip_at.ok_or("the VIP never appeared on lvs2")? - signalled,
    })
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut runs = 10;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--runs" {
            runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(10);
        }
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("failover: needs root (network namespaces)");
        std::process::exit(2);
    }
    let dir: PathBuf = std::env::temp_dir().join(format!("hafo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab = Lab::new();
    println!("VRRPv3 advert_int 0.1, priorities 100 / 90: RFC master-down 364.8 ms, skew 64.8 ms");
    println!("{runs} runs each; min / median / max in ms\n");
    println!(
        "{:<11} {:<9} {:>24} {:>24} {:>5}",
        "impl", "failover", "advert to advert", "signal to VIP present", "ok"
    );
    for which in [Implementation::Ha, Implementation::Keepalived] {
        for graceful in [false, true] {
            let mut a2a = Vec::new();
            let mut vip = Vec::new();
            for run in 0..runs {
                // Fresh pid files and sockets for every run: keepalived refuses to start over
                // a pid file it cannot prove stale.
                let run_dir = dir.join(format!("{which:?}-{graceful}-{run}"));
                std::fs::create_dir_all(&run_dir).unwrap();
                match one_run(&lab, which, graceful, &run_dir) {
                    Ok(r) => {
                        a2a.push(r.advert_to_advert);
                        vip.push(r.signal_to_vip);
                    }
                    Err(e) => eprintln!(
                        "{which:?} {}: run not measured: {e}",
                        if graceful { "graceful" } else { "crash" }
                    ),
                }
            }
            let kind = if graceful { "graceful" } else { "crash" };
            if a2a.is_empty() {
                println!(
                    "{:<11} {kind:<9} {:>24} {:>24} {:>5}",
                    format!("{which:?}"),
                    "-",
                    "-",
                    0
                );
                continue;
            }
            let n = a2a.len();
            let (a0, a1, a2) = stats(a2a);
            let (v0, v1, v2) = stats(vip);
            println!(
                "{:<11} {kind:<9} {:>24} {:>24} {:>5}",
                format!("{which:?}"),
                format!("{} / {} / {}", ms(a0), ms(a1), ms(a2)),
                format!("{} / {} / {}", ms(v0), ms(v1), ms(v2)),
                format!("{n}/{runs}")
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
