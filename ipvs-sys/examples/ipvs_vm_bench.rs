//! IPVS programming benchmark against the real kernel: our pipelined client versus
//! `ipvsadm -R`, both in the same boot. Needs root and an IPVS kernel; `cargo xtask vm-bench`
//! runs it in the test VM (see `benches/ipvs_vm/README.md`).
//!
//! For `--services N` TCP services with `--dests M` destinations each (default 1,000 x 10 =
//! 11,000 objects), every round measures, from an empty table:
//!
//! - `ipvsadm -R` of the equivalent save file (process start included);
//! - our reconcile from empty: connect, dump, plan, apply;
//! - a no-op reconcile of the same state (the dump dominates);
//! - a reconcile that changes the weight of 1% of the destinations;
//! - for the breakdown: our dump alone, `ipvsadm -S -n` (its dump), our apply alone, and our
//!   apply one request at a time (no pipelining), and a no-op plan against the cached table
//!   (what a no-op costs when the caller trusts the state it last applied).
//!
//! Each "from empty" step runs in a new network namespace, i.e. a clean IPVS instance. After
//! each programming step the table is checked with `ipvsadm -S -n`, so both sides are known
//! to have built the same thing. Prints one `BENCH <name> <median ms>` line per
//! measurement for scripts, then a summary with the ratios.

use std::fs::File;
use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvs_sys::ipvsadm::format_save;
use ipvs_sys::{Ipvs, IpvsState, Op};
use nix::sched::{unshare, CloneFlags};

struct Options {
    services: u32,
    dests: u32,
    rounds: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        services: 1000,
        dests: 10,
        rounds: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let text = args.next().ok_or(format!("{name} needs a value"))?;
            text.parse()
                .map_err(|_| format!("{name}: {text:?} is not a number"))
        };
        match arg.as_str() {
            "--services" => options.services = value("--services")? as u32,
            "--dests" => options.dests = value("--dests")? as u32,
            "--rounds" => options.rounds = value("--rounds")?.max(1) as usize,
            other => {
                return Err(format!(
                    "unknown argument {other:?}; usage: ipvs_vm_bench \
                     [--services N] [--dests M] [--rounds R]"
                ))
            }
        }
    }
    Ok(options)
}

fn ipvsadm(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new("ipvsadm")
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run ipvsadm: {e}"))?;
    // Feed stdin from another thread: ipvsadm may fill its stderr pipe before reading all.
    let feeder = stdin.map(|text| {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        let text = text.to_string();
        std::thread::spawn(move || pipe.write_all(text.as_bytes()))
    });
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ipvsadm {}: {e}", args.join(" ")))?;
    if let Some(feeder) = feeder {
        // A write error here means ipvsadm exited early; its status says why.
        let _ = feeder.join();
    }
    if !out.status.success() {
        return Err(format!(
            "ipvsadm {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Checks with ipvsadm that the kernel holds exactly `expected`.
fn verify(step: &str, expected: &str) -> Result<(), String> {
    let saved = ipvsadm(&["-S", "-n"], None)?;
    if saved == expected {
        Ok(())
    } else {
        Err(format!(
            "{step}: ipvsadm -S -n shows {} lines, expected {}",
            saved.lines().count(),
            expected.lines().count()
        ))
    }
}

/// Moves this (single) thread, and the processes it starts, into a new network namespace:
/// a clean IPVS instance. Flushing instead would leave the deleted destinations in the
/// kernel's trash list, which every later add searches, slowing whichever side runs next.
/// The namespace stays alive while `keep` holds it.
fn fresh_netns(keep: &mut Vec<File>) -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNET).map_err(|e| format!("unshare(CLONE_NEWNET): {e}"))?;
    // Without an address the namespace has no local routing table, and the kernel then calls
    // every destination address "not unicast".
    let lo = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if !lo.success() {
        return Err(format!("ip link set lo up: {lo}"));
    }
    let handle = File::open("/proc/thread-self/ns/net")
        .map_err(|e| format!("/proc/thread-self/ns/net: {e}"))?;
    keep.push(handle);
    Ok(())
}

/// Connects, dumps, plans and applies: what the director does on a configuration change.
/// Returns the number of operations sent.
fn reconcile(desired: &IpvsState) -> Result<usize, String> {
    let mut ipvs = Ipvs::new().map_err(|e| e.to_string())?;
    let plan = ipvs.plan(desired).map_err(|e| e.to_string())?;
    apply(&mut ipvs, &plan.ops)?;
    Ok(plan.ops.len())
}

fn apply(ipvs: &mut Ipvs, ops: &[Op]) -> Result<(), String> {
    let results = ipvs.apply(ops).map_err(|e| e.to_string())?;
    for (op, result) in ops.iter().zip(results) {
        result.map_err(|e| format!("{op}: {e}"))?;
    }
    Ok(())
}

fn timed<T>(f: impl FnOnce() -> Result<T, String>) -> Result<(Duration, T), String> {
    let start = Instant::now();
    let value = f()?;
    Ok((start.elapsed(), value))
}

/// `desired` with the weight of 1% of all destinations changed: the first destination of
/// services spread evenly over the table. Returns it and the number of changes.
fn one_percent_changed(desired: &IpvsState) -> (IpvsState, usize) {
    let mut changed = desired.clone();
    let total: usize = changed.services.iter().map(|s| s.destinations.len()).sum();
    let wanted = (total / 100).max(1);
    let stride = (changed.services.len() / wanted).max(1);
    let mut done = 0;
    for service in changed.services.iter_mut().step_by(stride).take(wanted) {
        if let Some(dest) = service.destinations.first_mut() {
            dest.weight += 1;
            done += 1;
        }
    }
    (changed, done)
}

struct Sample {
    name: &'static str,
    times: Vec<Duration>,
}

impl Sample {
    fn median(&self) -> Duration {
        let mut sorted = self.times.clone();
        sorted.sort();
        sorted[sorted.len() / 2]
    }
    fn min(&self) -> Duration {
        self.times.iter().copied().min().unwrap_or_default()
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn run(options: &Options) -> Result<(), String> {
    let desired = IpvsState::synthetic(options.services, options.dests);
    let rules = format_save(&desired);
    let objects = desired.object_count();
    let (changed, changed_count) = one_percent_changed(&desired);
    let changed_rules = format_save(&changed);
    println!(
        "ipvs_vm_bench: {} TCP services x {} destinations = {objects} objects, {} rounds",
        options.services, options.dests, options.rounds
    );

    let mut ipvsadm_restore = Sample {
        name: "ipvsadm_restore",
        times: vec![],
    };
    let mut full = Sample {
        name: "reconcile_from_empty",
        times: vec![],
    };
    let mut noop = Sample {
        name: "reconcile_noop",
        times: vec![],
    };
    let mut one_percent = Sample {
        name: "reconcile_1pct",
        times: vec![],
    };
    let mut apply_only = Sample {
        name: "apply_only_from_empty",
        times: vec![],
    };
    let mut dump = Sample {
        name: "dump_only",
        times: vec![],
    };
    let mut ipvsadm_dump = Sample {
        name: "ipvsadm_save",
        times: vec![],
    };
    let mut one_by_one = Sample {
        name: "apply_one_by_one_from_empty",
        times: vec![],
    };
    let mut plan_cached = Sample {
        name: "plan_noop_against_cached_state",
        times: vec![],
    };
    let from_empty = ipvs_sys::plan(&desired, &IpvsState::default()).ops;
    // Namespaces kept alive until the end, so that their cleanup does not run during a
    // later measurement.
    let mut namespaces = Vec::new();
    for round in 1..=options.rounds {
        fresh_netns(&mut namespaces)?;
        let (t, _) = timed(|| ipvsadm(&["-R"], Some(&rules)))?;
        verify("after ipvsadm -R", &rules)?;
        ipvsadm_restore.times.push(t);

        fresh_netns(&mut namespaces)?;
        let (t, ops) = timed(|| reconcile(&desired))?;
        verify("after our reconcile from empty", &rules)?;
        if ops != objects {
            return Err(format!(
                "reconcile from empty sent {ops} ops for {objects} objects"
            ));
        }
        full.times.push(t);

        let (t, ops) = timed(|| reconcile(&desired))?;
        if ops != 0 {
            return Err(format!("no-op reconcile sent {ops} ops"));
        }
        noop.times.push(t);

        let (t, ops) = timed(|| reconcile(&changed))?;
        verify("after the 1% reconcile", &changed_rules)?;
        if ops != changed_count {
            return Err(format!(
                "1% reconcile sent {ops} ops for {changed_count} changes"
            ));
        }
        one_percent.times.push(t);

        // Where the time goes: the dump alone (ours and ipvsadm's), the apply alone, and the
        // apply without pipelining.
        let mut ipvs = Ipvs::new().map_err(|e| e.to_string())?;
        let (t, state) = timed(|| ipvs.state().map_err(|e| e.to_string()))?;
        if state.object_count() != objects {
            return Err(format!("dump found {} objects", state.object_count()));
        }
        dump.times.push(t);
        let (t, _) = timed(|| ipvsadm(&["-S", "-n"], None))?;
        ipvsadm_dump.times.push(t);
        // A no-op without the dump: planning against the table as last read or applied (the
        // kernel holds `changed` now).
        let (t, cached) = timed(|| Ok(ipvs_sys::plan(&changed, &state)))?;
        if !cached.is_empty() {
            return Err(format!("plan against the dump is not empty:\n{cached}"));
        }
        plan_cached.times.push(t);

        fresh_netns(&mut namespaces)?;
        let mut ipvs = Ipvs::new().map_err(|e| e.to_string())?;
        let (t, _) = timed(|| apply(&mut ipvs, &from_empty))?;
        verify("after applying the planned ops", &rules)?;
        apply_only.times.push(t);

        // One request, one ACK, like ipvsadm and keepalived, but on one socket (libipvs
        // opens a socket and resolves the family for every request).
        fresh_netns(&mut namespaces)?;
        let mut ipvs = Ipvs::new().map_err(|e| e.to_string())?;
        let (t, _) = timed(|| {
            from_empty
                .iter()
                .try_for_each(|op| ipvs.execute(op.clone()).map_err(|e| format!("{op}: {e}")))
        })?;
        verify("after applying one by one", &rules)?;
        one_by_one.times.push(t);

        println!(
            "round {round}: ipvsadm -R {:.0} ms, ours {:.0} ms, no-op {:.0} ms, 1% ({changed_count} edits) {:.0} ms",
            ms(*ipvsadm_restore.times.last().unwrap()),
            ms(*full.times.last().unwrap()),
            ms(*noop.times.last().unwrap()),
            ms(*one_percent.times.last().unwrap()),
        );
    }
    drop(namespaces);

    for sample in [
        &ipvsadm_restore,
        &full,
        &noop,
        &one_percent,
        &apply_only,
        &one_by_one,
        &dump,
        &ipvsadm_dump,
        &plan_cached,
    ] {
        println!(
            "BENCH {} median_ms={:.1} min_ms={:.1}",
            sample.name,
            ms(sample.median()),
            ms(sample.min())
        );
    }
    let speedup = ms(ipvsadm_restore.median()) / ms(full.median());
    let noop_share = 100.0 * ms(noop.median()) / ms(full.median());
    println!(
        "no-op without a dump (plan against the cached table): {:.1} ms = {:.2}% of a full apply",
        ms(plan_cached.median()),
        100.0 * ms(plan_cached.median()) / ms(full.median())
    );
    println!(
        "SUMMARY {objects} objects: ours {:.0} ms vs ipvsadm -R {:.0} ms = {speedup:.1}x faster \
         (target >= 5x: {}); no-op reconcile {:.0} ms = {noop_share:.1}% of a full apply \
         (target < 5%: {}); 1% change {:.0} ms",
        ms(full.median()),
        ms(ipvsadm_restore.median()),
        if speedup >= 5.0 { "met" } else { "MISSED" },
        ms(noop.median()),
        if noop_share < 5.0 { "met" } else { "MISSED" },
        ms(one_percent.median()),
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = parse_options().and_then(|options| run(&options));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ipvs_vm_bench: {message}");
            ExitCode::FAILURE
        }
    }
}
