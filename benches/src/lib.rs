//! Benchmarks live in `benches/benches/`; comparison scripts beside them. What the benchmark
//! binaries share is here: namespace set-up, and CPU figures read from `/proc`.

use std::collections::HashMap;
use std::fs::File;
use std::process::Command;

/// Runs a command (`args[0]` with the rest) and panics with its stderr when it fails: the
/// namespace set-up of the benchmark binaries.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// [`sh`] inside network namespace `ns` (`ip netns exec`).
pub fn ns_sh(ns: &str, args: &[&str]) {
    let mut all = vec!["ip", "netns", "exec", ns];
    all.extend_from_slice(args);
    sh(&all);
}

/// Moves the calling thread into network namespace `ns`.
pub fn enter(ns: &str) {
    let f = File::open(format!("/var/run/netns/{ns}")).expect("netns");
    nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
}

/// (utime, stime) of a `/proc/.../stat` line, in seconds.
fn stat_split(stat: &str) -> (f64, f64) {
    let Some(end) = stat.rfind(')') else {
        return (0.0, 0.0);
    };
    // utime and stime are fields 14 and 15: the 12th and 13th after the command name.
    let mut fields = stat[end + 2..]
        .split(' ')
        .skip(11)
        .map(|f| f.parse::<u64>().unwrap_or(0) as f64 / 100.0); // USER_HZ
    (fields.next().unwrap_or(0.0), fields.next().unwrap_or(0.0))
}

/// utime + stime of a `/proc/.../stat` line, in seconds.
fn stat_seconds(stat: &str) -> f64 {
    let (user, system) = stat_split(stat);
    user + system
}

/// CPU seconds of a process, user and system apart.
pub fn cpu_split(pid: u32) -> (f64, f64) {
    stat_split(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default())
}

/// CPU seconds (user + system) of a process, and of its threads by name.
pub fn cpu(pid: u32) -> (f64, HashMap<String, f64>) {
    let total =
        stat_seconds(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        *threads.entry(comm.trim().to_string()).or_insert(0.0) += stat_seconds(&stat);
    }
    (total, threads)
}

/// Voluntary context switches of a process's threads, by thread name: a thread that sleeps in
/// poll between events switches once per wake-up.
pub fn voluntary_switches(pid: u32) -> HashMap<String, u64> {
    let mut threads = HashMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(entry.path().join("status")).unwrap_or_default();
        let n = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        *threads.entry(comm.trim().to_string()).or_insert(0) += n;
    }
    threads
}

/// The machine's CPU time from /proc/stat (all CPUs, in ticks).
pub struct SystemCpu {
    pub total: u64,
    pub busy: u64,
    pub softirq: u64,
    pub steal: u64,
}

pub fn system_cpu() -> SystemCpu {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let at = |i: usize| fields.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let total: u64 = (0..8).map(at).sum();
    SystemCpu {
        total,
        busy: total - at(3) - at(4),
        softirq: at(6),
        steal: at(7),
    }
}

/// The three load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `ha` binary: `$HA_BIN`, or the one beside the running benchmark binary.
pub fn ha_bin() -> String {
    std::env::var("HA_BIN").unwrap_or_else(|_| {
        let exe = std::env::current_exe().unwrap();
        exe.with_file_name("ha").to_string_lossy().into_owned()
    })
}

/// The `q` quantile of a sorted, non-empty slice (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}
