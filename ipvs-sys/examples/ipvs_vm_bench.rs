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
//! - for the breakdown: our dump alone, `ipvsadm -S -n` (its dump), our apply alone.
//!
//! After each programming step the table is checked with `ipvsadm -S -n`, so both sides are
//! known to have built the same thing. Prints one `BENCH <name> <median ms>` line per
//! measurement for scripts, then a summary with the ratios.

use std::io::Write;
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use ipvs_sys::ipvsadm::format_save;
use ipvs_sys::{Ipvs, IpvsState, Op};

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
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes())
            .map_err(|e| format!("ipvsadm {}: writing stdin: {e}", args.join(" ")))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ipvsadm {}: {e}", args.join(" ")))?;
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
    let from_empty = ipvs_sys::plan(&desired, &IpvsState::default()).ops;
    for round in 1..=options.rounds {
        ipvsadm(&["-C"], None)?;
        let (t, _) = timed(|| ipvsadm(&["-R"], Some(&rules)))?;
        verify("after ipvsadm -R", &rules)?;
        ipvsadm_restore.times.push(t);

        ipvsadm(&["-C"], None)?;
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

        // Where the time goes: the dump alone (ours and ipvsadm's), the apply alone.
        let mut ipvs = Ipvs::new().map_err(|e| e.to_string())?;
        let (t, state) = timed(|| ipvs.state().map_err(|e| e.to_string()))?;
        if state.object_count() != objects {
            return Err(format!("dump found {} objects", state.object_count()));
        }
        dump.times.push(t);
        let (t, _) = timed(|| ipvsadm(&["-S", "-n"], None))?;
        ipvsadm_dump.times.push(t);
        ipvs.flush().map_err(|e| e.to_string())?;
        let (t, _) = timed(|| apply(&mut ipvs, &from_empty))?;
        verify("after applying the planned ops", &rules)?;
        apply_only.times.push(t);

        println!(
            "round {round}: ipvsadm -R {:.0} ms, ours {:.0} ms, no-op {:.0} ms, 1% ({changed_count} edits) {:.0} ms",
            ms(*ipvsadm_restore.times.last().unwrap()),
            ms(*full.times.last().unwrap()),
            ms(*noop.times.last().unwrap()),
            ms(*one_percent.times.last().unwrap()),
        );
    }
    ipvsadm(&["-C"], None)?;

    for sample in [
        &ipvsadm_restore,
        &full,
        &noop,
        &one_percent,
        &apply_only,
        &dump,
        &ipvsadm_dump,
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
