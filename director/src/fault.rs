//! Test-only fault points: in debug builds, `HA_FAULT_PANIC=NAME@SECONDS` makes the thread
//! that passes `point(NAME)` panic once SECONDS have passed since the first fault point was
//! reached (the director's start), and `HA_FAULT_STALL=NAME@SECONDS` makes it hang there for
//! good (a thread stuck in a system call or a lock), so that tests can show what a panicking
//! or stuck director thread does. Release builds have no fault points.

/// Panics or hangs here if `HA_FAULT_PANIC` or `HA_FAULT_STALL` names this point and its time
/// has come (debug builds).
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    type Fault = Option<(String, Duration)>;
    static START: OnceLock<(Instant, Fault, Fault)> = OnceLock::new();
    let parse = |var: &str| -> Fault {
        std::env::var(var).ok().and_then(|v| {
            let (name, secs) = v.split_once('@')?;
            Some((
                name.to_string(),
                Duration::from_secs_f64(secs.parse().ok()?),
            ))
        })
    };
    let (start, panic, stall) = START.get_or_init(|| {
        (
            Instant::now(),
            parse("HA_FAULT_PANIC"),
            parse("HA_FAULT_STALL"),
        )
    });
    let due = |fault: &Fault| {
        fault
            .as_ref()
            .is_some_and(|(target, after)| target == name && start.elapsed() >= *after)
    };
    if due(panic) {
        panic!("fault point {name}: HA_FAULT_PANIC asked this thread to panic");
    }
    if due(stall) {
        tracing::warn!("fault point {name}: HA_FAULT_STALL: this thread hangs from now on");
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}
