//! Test support shared by the workspace's privileged tests: network namespaces created per
//! test and deleted on drop ([`netns`]), polling with a limit ([`wait_until`]), sending at a
//! paced rate ([`paced`]), and the one rule for tests that cannot run here ([`in_ci`],
//! [`require_root`]).

pub mod netns;

use std::time::{Duration, Instant};

pub use netns::{require_root, Netns};

/// Whether this is a CI run (`CI=true` or `CI=1`): a test that cannot run then fails instead
/// of skipping loudly.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skips a test that cannot run here: loudly, and as a failure in CI.
pub fn skip(test: &str, why: &str) {
    let message = format!("{test}: {why}: NOT RUN");
    assert!(!in_ci(), "{message} (CI)");
    eprintln!("\n*** {message} ***\n");
}

/// Polls `done` every 10 ms; fails the test after `limit`. Returns how long it took.
pub fn wait_until(what: &str, limit: Duration, done: impl FnMut() -> bool) -> Duration {
    wait_every(what, limit, Duration::from_millis(10), done)
}

/// Polls `done` every `every`; fails the test after `limit`. Returns how long it took.
pub fn wait_every(
    what: &str,
    limit: Duration,
    every: Duration,
    mut done: impl FnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(every);
    }
    start.elapsed()
}

/// Whether `ip addr` in `ns` shows `inet CIDR` on `dev`.
pub fn has_address(ns: &Netns, dev: &str, cidr: &str) -> bool {
    ns.output(&["ip", "-4", "addr", "show", "dev", dev])
        .contains(&format!("inet {cidr}"))
}

/// Calls `send` `rate` times per second for `how_long`, paced every millisecond (never more
/// than 10 ms worth at once after a stall): the bad-advert floods of the fault tests and the
/// chaos suite. Returns how many sends succeeded and how many failed.
pub fn paced(rate: u64, how_long: Duration, mut send: impl FnMut() -> bool) -> (u64, u64) {
    let start = Instant::now();
    let (mut sent, mut errors) = (0u64, 0u64);
    while start.elapsed() < how_long {
        let due = (rate as f64 * start.elapsed().as_secs_f64()) as u64;
        for _ in 0..due.saturating_sub(sent + errors).min(rate / 100 + 1) {
            if send() {
                sent += 1;
            } else {
                errors += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    (sent, errors)
}
