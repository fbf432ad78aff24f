//! Test-only fault points: in debug builds, `HA_FAULT_PANIC=NAME@SECONDS` makes the thread
//! that passes `point(NAME)` panic once SECONDS have passed since the first fault point was reached (the director's start), so that
//! tests can show what a panicking director thread does. Release builds have no fault points.

/// Panics here if `HA_FAULT_PANIC` names this point and its time has come (debug builds).
#[cfg(debug_assertions)]
pub fn point(name: &str) {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};
    static START: OnceLock<(Instant, Option<(String, Duration)>)> = OnceLock::new();
    let (start, fault) = START.get_or_init(|| {
        let fault = std::env::var("HA_FAULT_PANIC").ok().and_then(|v| {
            let (name, secs) = v.split_once('@')?;
            Some((
                name.to_string(),
                Duration::from_secs_f64(secs.parse().ok()?),
            ))
        });
        (Instant::now(), fault)
    });
    if let Some((target, after)) = fault {
        if target == name && start.elapsed() >= *after {
            panic!("fault point {name}: HA_FAULT_PANIC asked this thread to panic");
        }
    }
}

#[cfg(not(debug_assertions))]
#[inline(always)]
pub fn point(_name: &str) {}
