//! Two `ha run` directors from the seed's lvs1.conf and lvs2.conf, unchanged (privileged): the
//! namespaces get the interface `ens32` and the 192.168.2.0/24 addresses the files expect.
//! Election, crash (kill -9) failover, preemption on restart, graceful (SIGTERM) failover.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::netns::{require_root, veth_pair_named, Netns};

const VIP: &str = "192.168.2.200";

fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/examples")
        .join(name)
}

struct Director {
    child: Child,
    log: PathBuf,
}

impl Director {
    fn start(ns: &Netns, conf: &str) -> Director {
        let log = std::env::temp_dir().join(format!("ha-run-{}-{conf}.log", std::process::id()));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                env!("CARGO_BIN_EXE_ha"),
                "run",
                "-f",
            ])
            .arg(example(conf))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Director { child, log }
    }

    fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = std::fs::remove_file(&self.log);
    }
}

fn has_vip(ns: &Netns) -> bool {
    let out = Command::new("ip")
        .args([
            "netns", "exec", &ns.name, "ip", "-4", "addr", "show", "dev", "ens32",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains(&format!("inet {VIP}/32"))
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

#[test]
fn seed_configs_elect_fail_over_on_crash_and_stop_and_preempt() {
    use nix::sys::signal::Signal;
    if !require_root("seed_configs_elect_fail_over_on_crash_and_stop_and_preempt") {
        return;
    }
    let (lvs1_ns, lvs2_ns) = veth_pair_named(
        "hr",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let mut lvs1 = Director::start(&lvs1_ns, "lvs1.conf");
    let lvs2 = Director::start(&lvs2_ns, "lvs2.conf");
    // VRRPv2 at 1 s: lvs1 (100) is master after 3 s + skew.
    wait_until("lvs1 holds the VIP", Duration::from_secs(8), || {
        has_vip(&lvs1_ns)
    });
    assert!(!has_vip(&lvs2_ns));
    assert!(
        lvs1.log().contains("(VI_1) Entering MASTER STATE"),
        "{}",
        lvs1.log()
    );

    // Crash: lvs2 takes over after its master-down interval (3 s + 0.65 s skew).
    lvs1.signal(Signal::SIGKILL);
    let took = wait_until("lvs2 takes the VIP", Duration::from_secs(8), || {
        has_vip(&lvs2_ns)
    });
    assert!(
        took >= Duration::from_secs(2),
        "crash takeover too early: {took:?}"
    );

    // lvs1 restarts: it removes the VIP the crash left, then preempts.
    let mut lvs1 = Director::start(&lvs1_ns, "lvs1.conf");
    wait_until(
        "lvs1 back as master, lvs2 gave the VIP up",
        Duration::from_secs(10),
        || has_vip(&lvs1_ns) && !has_vip(&lvs2_ns),
    );

    // Graceful stop: priority 0, the VIP leaves lvs1 and lvs2 takes over in skew time.
    lvs1.signal(Signal::SIGTERM);
    assert!(!has_vip(&lvs1_ns), "SIGTERM removes the VIP");
    let took = wait_until("lvs2 takes over", Duration::from_secs(3), || {
        has_vip(&lvs2_ns)
    });
    assert!(
        took < Duration::from_secs(2),
        "graceful takeover took {took:?}"
    );
    let log = lvs2.log();
    assert!(log.contains("master sent priority 0"), "{log}");
    drop(lvs2);
}
