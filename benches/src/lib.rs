//! Benchmarks live in `benches/benches/`; comparison scripts beside them. What the benchmark
//! binaries share is here.

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
