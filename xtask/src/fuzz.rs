//! `cargo xtask fuzz [--seconds N] [--jobs N] [--seed S] [--sanitizer S] [TARGET...]`: builds
//! the fuzz targets of `fuzz/` with cargo-fuzz (stable toolchain, `RUSTC_BOOTSTRAP=1`), runs
//! each for N seconds over its committed seed corpus, prints the executions per target and
//! fails on a crash, keeping the crashing input in `fuzz/regressions/<target>/` (which xtask's
//! `fuzz_regressions` test replays with a plain `cargo test`).
//!
//! Two uses, kept apart on purpose. Exploring (no `--seed`): libFuzzer picks a random seed and
//! grows a corpus kept between runs, so every run looks somewhere new; its findings are fixed
//! and kept as regressions. CI (`cargo xtask test`, [`TEST_SEED`]): a fixed seed from the
//! committed corpus alone, so what CI fuzzes is a fixed sequence of inputs that a developer
//! replays before submitting (`cargo xtask fuzz --seed 1 --seconds 120`: the same sequence,
//! further). Until this split, each CI run explored anew and four runs in a row failed on a
//! fresh finding unrelated to the change under test.
//!
//! Nothing under `fuzz/` is written except for a crash: the corpus the fuzzer grows is
//! `target/fuzz/corpus/<target>/` (the committed seeds and regressions are read-only corpus
//! directories after it), its artifacts `target/fuzz/artifacts/<target>/`, its output
//! `target/fuzz/logs/<target>.log`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::vm::workspace_root;

/// Seconds per target in `cargo xtask test` (and CI).
pub const TEST_SECONDS: u64 = 30;
/// libFuzzer's seed in `cargo xtask test` (and CI); see the module documentation.
pub const TEST_SEED: u64 = 1;
/// Longest one input may take before libFuzzer reports a hang (`-timeout`).
const INPUT_TIMEOUT_SECONDS: u64 = 20;

pub const USAGE: &str =
    "usage: cargo xtask fuzz [--seconds N] [--jobs N] [--seed S] [--sanitizer address|none] [TARGET...]

Builds the fuzz targets (cargo-fuzz, RUSTC_BOOTSTRAP=1) and runs each TARGET (default: all)
for N seconds (default 30) over fuzz/corpus/TARGET, JOBS targets at a time (default 1).
Without --seed the run explores: a random seed, and the corpus grown by earlier runs
(target/fuzz/corpus/). With --seed S (S > 0) it replays: libFuzzer seed S from the committed
corpus alone, the same inputs in the same order on every machine; CI runs --seed 1 for 30 s,
so `--seed 1 --seconds 120` shows before a submission what CI will find.
A crash fails the run; its input is copied to fuzz/regressions/TARGET/. The sanitizer is
none by default (the targets are safe Rust: panics, overflow checks and debug assertions
find the bugs); --sanitizer address builds with ASan.";

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub seconds: u64,
    pub jobs: usize,
    /// libFuzzer's `-seed`; `None` explores (random seed, kept corpus).
    pub seed: Option<u64>,
    pub sanitizer: String,
    /// Empty: every target.
    pub targets: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seconds: TEST_SECONDS,
            jobs: 1,
            seed: None,
            sanitizer: "none".into(),
            targets: Vec::new(),
        }
    }
}

/// Parses the command's arguments.
pub fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut opts = Options::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--seconds" => {
                opts.seconds = value("--seconds")?
                    .parse()
                    .ok()
                    .filter(|&s| s > 0)
                    .ok_or_else(|| format!("--seconds takes a positive number\n{USAGE}"))?;
            }
            "--jobs" => {
                opts.jobs = value("--jobs")?
                    .parse()
                    .ok()
                    .filter(|&j| j > 0)
                    .ok_or_else(|| format!("--jobs takes a positive number\n{USAGE}"))?;
            }
            "--seed" => {
                opts.seed = Some(
                    value("--seed")?
                        .parse()
                        .ok()
                        .filter(|&s| s > 0)
                        .ok_or_else(|| {
                            format!(
                                "--seed takes a positive number (0 is libFuzzer's random)\n{USAGE}"
                            )
                        })?,
                );
            }
            "--sanitizer" => {
                let s = value("--sanitizer")?;
                if s != "none" && s != "address" {
                    return Err(format!("--sanitizer is none or address\n{USAGE}"));
                }
                opts.sanitizer = s.clone();
            }
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            target => opts.targets.push(target.to_string()),
        }
    }
    Ok(opts)
}

/// `cargo xtask fuzz ARGS`.
pub fn command(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let opts = parse_args(args)?;
    if !cargo_fuzz_available() {
        return Err(
            "cargo-fuzz is not installed: cargo install --locked cargo-fuzz (.ci/run does)".into(),
        );
    }
    run(&opts)
}

/// The fuzz step of `cargo xtask test`: every target for [`TEST_SECONDS`] with libFuzzer seed
/// [`TEST_SEED`], as many at a time as there are CPUs. Without cargo-fuzz it is skipped loudly, except in CI where that fails.
pub fn test_step(in_ci: bool) -> Result<(), String> {
    if !cargo_fuzz_available() {
        if in_ci {
            return Err(
                "fuzzing: cargo-fuzz is not installed (CI must fuzz; .ci/run installs it)".into(),
            );
        }
        eprintln!(
            "\n\
             ************************************************************************\n\
             * SKIPPED: fuzzing: cargo-fuzz is not installed.                       *\n\
             * cargo install --locked cargo-fuzz; with CI=true this is a failure.   *\n\
             ************************************************************************\n"
        );
        return Ok(());
    }
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    run(&Options {
        jobs,
        seed: Some(TEST_SEED),
        ..Options::default()
    })
}

fn cargo_fuzz_available() -> bool {
    Command::new("cargo")
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn fuzz_dir() -> PathBuf {
    workspace_root().join("fuzz")
}

/// The targets: one per `fuzz/fuzz_targets/*.rs`, sorted.
pub fn all_targets(fuzz_dir: &Path) -> Result<Vec<String>, String> {
    let dir = fuzz_dir.join("fuzz_targets");
    let entries = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// How one target's run went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub target: String,
    pub execs: Option<u64>,
    pub seconds: u64,
    pub coverage: Option<u64>,
    pub corpus: Option<u64>,
    pub failure: Option<String>,
}

fn run(opts: &Options) -> Result<(), String> {
    let root = workspace_root();
    let fuzz = fuzz_dir();
    let all = all_targets(&fuzz)?;
    let targets = if opts.targets.is_empty() {
        all.clone()
    } else {
        for t in &opts.targets {
            if !all.contains(t) {
                return Err(format!(
                    "no fuzz target {t:?}; the targets: {}",
                    all.join(" ")
                ));
            }
        }
        opts.targets.clone()
    };
    let started = Instant::now();
    build(&fuzz, &opts.sanitizer)?;
    let built = started.elapsed();
    let triple = host_triple()?;
    let binaries = fuzz.join("target").join(triple).join("release");
    let scratch = root.join("target").join("fuzz");
    eprintln!(
        "xtask: fuzzing {} target(s) for {} s each, {} at a time, {} (build took {} s)",
        targets.len(),
        opts.seconds,
        opts.jobs,
        match opts.seed {
            Some(seed) => format!("seed {seed} from the committed corpus"),
            None => "exploring (random seed, kept corpus)".into(),
        },
        built.as_secs()
    );
    let next = AtomicUsize::new(0);
    let reports = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(targets.len()) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(target) = targets.get(i) else {
                    return;
                };
                let report = run_target(target, &binaries, &fuzz, &scratch, opts);
                eprintln!("xtask: fuzz {}", summary_line(&report));
                reports
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(report);
            });
        }
    });
    let mut reports = reports.into_inner().unwrap_or_else(|e| e.into_inner());
    reports.sort_by(|a, b| a.target.cmp(&b.target));
    println!("\nfuzz: {} s per target, executions:", opts.seconds);
    for r in &reports {
        println!("  {}", summary_line(r));
    }
    println!(
        "fuzz: {} s in all (build {} s)",
        started.elapsed().as_secs(),
        built.as_secs()
    );
    let failed: Vec<&Report> = reports.iter().filter(|r| r.failure.is_some()).collect();
    if failed.is_empty() {
        return Ok(());
    }
    for r in &failed {
        eprintln!("\n{}", r.failure.as_deref().unwrap_or_default());
    }
    Err(format!(
        "fuzzing found {} failing target(s): {}",
        failed.len(),
        failed
            .iter()
            .map(|r| r.target.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    ))
}

fn build(fuzz: &Path, sanitizer: &str) -> Result<(), String> {
    let args = [
        "fuzz",
        "build",
        "--release",
        "--debug-assertions",
        "--sanitizer",
        sanitizer,
    ];
    eprintln!("+ (cd fuzz && RUSTC_BOOTSTRAP=1 cargo {})", args.join(" "));
    let status = Command::new("cargo")
        .args(args)
        .current_dir(fuzz)
        .env("RUSTC_BOOTSTRAP", "1")
        .status()
        .map_err(|e| format!("cannot start cargo fuzz: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo fuzz build failed: {status}"))
    }
}

/// The host's target triple, where cargo-fuzz puts the binaries by default.
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV names no host".into())
}

fn run_target(
    target: &str,
    binaries: &Path,
    fuzz: &Path,
    scratch: &Path,
    opts: &Options,
) -> Report {
    let seconds = opts.seconds;
    let mut report = Report {
        target: target.to_string(),
        execs: None,
        seconds,
        coverage: None,
        corpus: None,
        failure: None,
    };
    let fail = |mut report: Report, why: String| {
        report.failure = Some(format!("{target}: {why}"));
        report
    };
    // A seeded run starts from the committed corpus alone, so that it replays anywhere.
    let corpus = match opts.seed {
        Some(_) => scratch.join("seeded-corpus").join(target),
        None => scratch.join("corpus").join(target),
    };
    if opts.seed.is_some() {
        let _ = fs::remove_dir_all(&corpus);
    }
    let artifacts = scratch.join("artifacts").join(target);
    let logs = scratch.join("logs");
    let _ = fs::remove_dir_all(&artifacts);
    for dir in [&corpus, &artifacts, &logs] {
        if let Err(e) = fs::create_dir_all(dir) {
            return fail(report, format!("{}: {e}", dir.display()));
        }
    }
    let log_path = logs.join(format!("{target}.log"));
    let log = match fs::File::create(&log_path) {
        Ok(f) => f,
        Err(e) => return fail(report, format!("{}: {e}", log_path.display())),
    };
    let err_log = match log.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(report, format!("{}: {e}", log_path.display())),
    };
    let mut command = Command::new(binaries.join(target));
    command.arg(&corpus);
    for dir in ["corpus", "regressions"] {
        let d = fuzz.join(dir).join(target);
        if d.is_dir() {
            command.arg(d);
        }
    }
    command
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-seed={}", opts.seed.unwrap_or(0)))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log);
    let status = match command.status() {
        Ok(s) => s,
        Err(e) => {
            return fail(
                report,
                format!("cannot start {}: {e}", binaries.join(target).display()),
            )
        }
    };
    let output = String::from_utf8_lossy(&fs::read(&log_path).unwrap_or_default()).into_owned();
    let stats = parse_output(&output);
    report.execs = stats.execs;
    report.coverage = stats.coverage;
    report.corpus = stats.corpus;
    if status.success() {
        return report;
    }
    let kept = keep_artifacts(&artifacts, &fuzz.join("regressions").join(target));
    let mut why = format!("{status}; log {}\n", log_path.display());
    if let Some(seed) = opts.seed {
        why.push_str(&format!(
            "this run replays with: cargo xtask fuzz --seed {seed} --seconds {seconds} {target}\n"
        ));
    }
    why.push_str(&stats.error);
    match kept {
        Ok(files) if files.is_empty() => why.push_str("no crashing input was written\n"),
        Ok(files) => {
            for file in files {
                let rel = file
                    .strip_prefix(fuzz)
                    .unwrap_or(&file)
                    .display()
                    .to_string();
                why.push_str(&format!(
                    "the input is kept as fuzz/{rel}; replay it with\n  \
                     (cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run -s none -a {target} {rel})\n  \
                     cargo test -p xtask --test fuzz_regressions\n"
                ));
            }
        }
        Err(e) => why.push_str(&format!("cannot keep the input: {e}\n")),
    }
    fail(report, why)
}

/// Copies libFuzzer's artifacts (`crash-*`, `timeout-*`, `oom-*`, `leak-*`) to `dest`.
fn keep_artifacts(artifacts: &Path, dest: &Path) -> Result<Vec<PathBuf>, String> {
    let mut kept = Vec::new();
    let entries = fs::read_dir(artifacts).map_err(|e| format!("{}: {e}", artifacts.display()))?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !["crash-", "timeout-", "oom-", "leak-"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            continue;
        }
        fs::create_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        let to = dest.join(name);
        fs::copy(entry.path(), &to).map_err(|e| format!("{}: {e}", to.display()))?;
        kept.push(to);
    }
    kept.sort();
    Ok(kept)
}

/// What libFuzzer's output says.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub execs: Option<u64>,
    pub coverage: Option<u64>,
    pub corpus: Option<u64>,
    /// The panic or sanitizer report, when it crashed.
    pub error: String,
}

/// Reads the executions (`stat::number_of_executed_units`, else the last `#N` status line or
/// `Done N runs`), the coverage and corpus size of the last status line, and the lines that
/// explain a crash.
pub fn parse_output(output: &str) -> Stats {
    let mut stats = Stats::default();
    let mut last_status = None;
    let mut in_error = false;
    for line in output.lines() {
        if let Some(n) = line.strip_prefix("stat::number_of_executed_units:") {
            stats.execs = n.trim().parse().ok();
        } else if let Some(rest) = line.strip_prefix("Done ") {
            if stats.execs.is_none() {
                last_status = rest.split_whitespace().next().and_then(|n| n.parse().ok());
            }
        } else if let Some(rest) = line.strip_prefix('#') {
            let mut words = rest.split_whitespace();
            if let Some(n) = words.next().and_then(|n| n.parse::<u64>().ok()) {
                last_status = Some(n);
                let words: Vec<&str> = words.collect();
                let after = |key: &str| {
                    words
                        .iter()
                        .position(|w| *w == key)
                        .and_then(|i| words.get(i + 1))
                        .and_then(|v| v.split('/').next())
                        .and_then(|v| v.parse().ok())
                };
                if let Some(c) = after("cov:") {
                    stats.coverage = Some(c);
                }
                if let Some(c) = after("corp:") {
                    stats.corpus = Some(c);
                }
            }
        }
        if line.contains("panicked at") || line.starts_with("==") && line.contains("ERROR") {
            in_error = true;
        }
        if in_error && stats.error.lines().count() < 40 {
            stats.error.push_str(line);
            stats.error.push('\n');
        }
    }
    if stats.execs.is_none() {
        stats.execs = last_status;
    }
    stats
}

/// One line of the summary: target, executions, rate, coverage, corpus, result.
pub fn summary_line(r: &Report) -> String {
    let execs = r.execs.map_or("?".to_string(), |n| n.to_string());
    let rate = r
        .execs
        .map_or("?".to_string(), |n| (n / r.seconds.max(1)).to_string());
    let extra = match (r.coverage, r.corpus) {
        (Some(cov), Some(corp)) => format!(", cov {cov}, corpus {corp}"),
        _ => String::new(),
    };
    let result = if r.failure.is_some() { "FAILED" } else { "ok" };
    format!(
        "{:<16} {:>10} execs ({:>6}/s{extra}) {result}",
        r.target, execs, rate
    )
}

/// How long the fuzz step of `cargo xtask test` takes at most, build aside.
pub fn test_step_budget(targets: usize, jobs: usize) -> Duration {
    Duration::from_secs(TEST_SECONDS * targets.div_ceil(jobs.max(1)) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(parse_args(&[]).unwrap(), Options::default());
        let opts = parse_args(&strings(&["--seconds", "600", "a", "--jobs", "2", "b"])).unwrap();
        assert_eq!(opts.seconds, 600);
        assert_eq!(opts.jobs, 2);
        assert_eq!(opts.targets, ["a", "b"]);
        assert_eq!(opts.seed, None);
        assert_eq!(
            parse_args(&strings(&["--seed", "7"])).unwrap().seed,
            Some(7)
        );
        assert!(parse_args(&strings(&["--seed", "0"])).is_err());
        assert!(parse_args(&strings(&["--seconds"])).is_err());
        assert!(parse_args(&strings(&["--seconds", "0"])).is_err());
        assert!(parse_args(&strings(&["--sanitizer", "memory"])).is_err());
        assert!(parse_args(&strings(&["--frobnicate"])).is_err());
    }

    #[test]
    fn libfuzzer_output_gives_execs_coverage_and_the_error() {
        let done = "INFO: Seed: 1\n\
                    #2\tINITED cov: 10 ft: 11 corp: 1/1b exec/s: 0 rss: 30Mb\n\
                    #65536\tpulse  cov: 120 ft: 300 corp: 40/900b lim: 4 exec/s: 32768 rss: 40Mb\n\
                    #70000\tDONE   cov: 125 ft: 310 corp: 42/1000b lim: 4 exec/s: 2333 rss: 41Mb\n\
                    Done 70000 runs in 30 second(s)\n\
                    stat::number_of_executed_units: 70001\n\
                    stat::average_exec_per_sec:     2333\n";
        let stats = parse_output(done);
        assert_eq!(stats.execs, Some(70001));
        assert_eq!(stats.coverage, Some(125));
        assert_eq!(stats.corpus, Some(42));
        assert!(stats.error.is_empty());

        let crash = "#1000\tNEW    cov: 50 ft: 60 corp: 5/50b lim: 4 exec/s: 0 rss: 30Mb\n\
                     \n\
                     thread '<unnamed>' panicked at src/x.rs:3:5:\n\
                     attempt to add with overflow\n\
                     ==123== ERROR: libFuzzer: deadly signal\n\
                     artifact_prefix='a/'; Test unit written to a/crash-00\n";
        let stats = parse_output(crash);
        assert_eq!(stats.execs, Some(1000));
        assert!(stats.error.starts_with("thread '<unnamed>' panicked"));
        assert!(stats.error.contains("attempt to add with overflow"));
    }

    #[test]
    fn every_target_is_found() {
        let targets = all_targets(&fuzz_dir()).unwrap();
        assert!(targets.contains(&"vrrp_packet".to_string()));
        assert!(targets.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn the_test_step_fits_the_ci_budget() {
        let targets = all_targets(&fuzz_dir()).unwrap().len();
        // Two CPUs in CI: the runs take at most about four minutes, leaving room for the build.
        assert!(test_step_budget(targets, 2) <= Duration::from_secs(4 * 60 + 30));
    }
}
