//! Flap scenarios on the deterministic core with virtual time: retry/rise/fall semantics,
//! several checkers per server, reload keeping state, warmup spread, dynamic weights.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use healthcheck::config::{CheckKind, CheckerConfig, MiscCheck, RealServerConfig, RealServerId};
use healthcheck::{CheckId, DownCause, Event, Failure, Outcome, Scheduler, UpCause, WeightChange};

const SECOND: Duration = Duration::from_secs(1);

fn server(n: u8) -> RealServerId {
    RealServerId {
        virtual_server: "10.0.0.1:80".into(),
        real_server: format!("192.0.2.{n}:80").parse().unwrap(),
    }
}

fn tcp(name: &str, delay_loop: u64, retry: u32, delay_before_retry: u64) -> CheckerConfig {
    let mut c = CheckerConfig::new(name, CheckKind::Tcp);
    c.timing.delay_loop = Duration::from_secs(delay_loop);
    c.timing.retry = retry;
    c.timing.delay_before_retry = Duration::from_secs(delay_before_retry);
    c
}

fn real(n: u8, checkers: Vec<CheckerConfig>) -> RealServerConfig {
    RealServerConfig {
        id: server(n),
        weight: 10,
        checkers,
    }
}

/// Drives a scheduler in virtual time: jumps to each deadline, runs every due check
/// through `world` (which answers at once), and records events with their time offset.
struct Harness {
    scheduler: Scheduler,
    start: Instant,
    now: Instant,
    events: Vec<(Duration, Event)>,
    runs: Vec<(Duration, CheckId)>,
}

impl Harness {
    fn new(servers: Vec<RealServerConfig>) -> Self {
        let start = Instant::now();
        let mut scheduler = Scheduler::new(7);
        scheduler.replace(servers, start).unwrap();
        let mut h = Harness {
            scheduler,
            start,
            now: start,
            events: Vec::new(),
            runs: Vec::new(),
        };
        h.drain_events();
        h
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.scheduler.poll_event() {
            self.events.push((self.now - self.start, e));
        }
    }

    /// Runs until virtual time `until` (offset from start); `world(id, t)` is the outcome
    /// of a check run at offset `t`. Caps the number of steps.
    fn run(&mut self, until: Duration, mut world: impl FnMut(&CheckId, Duration) -> Outcome) {
        for _ in 0..100_000 {
            let Some(next) = self.scheduler.poll_timeout() else {
                return;
            };
            if next - self.start > until {
                self.now = self.start + until;
                return;
            }
            self.now = self.now.max(next);
            while let Some(due) = self.scheduler.poll_start(self.now) {
                let t = self.now - self.start;
                self.runs.push((t, (*due.id).clone()));
                let outcome = world(&due.id, t);
                assert!(self.scheduler.handle_result(due.token, outcome, self.now));
            }
            self.drain_events();
        }
        panic!("harness step cap reached");
    }

    fn take_events(&mut self) -> Vec<(Duration, Event)> {
        std::mem::take(&mut self.events)
    }
}

fn pass() -> Outcome {
    Outcome::Pass(None)
}

fn refused() -> Outcome {
    Outcome::Fail(Failure::Refused)
}

#[test]
fn new_server_reports_initial_up_and_alpha_starts_down() {
    let mut alpha = tcp("TCP_CHECK#0", 5, 1, 1);
    alpha.timing.alpha = true;
    let mut h = Harness::new(vec![
        real(1, vec![tcp("TCP_CHECK#0", 5, 1, 1)]),
        real(2, vec![alpha]),
    ]);
    let events = h.take_events();
    assert!(events.contains(&(
        Duration::ZERO,
        Event::Up {
            server: server(1),
            cause: UpCause::Initial
        }
    )));
    assert!(events.contains(&(
        Duration::ZERO,
        Event::Down {
            server: server(2),
            cause: DownCause::Alpha {
                checker: "TCP_CHECK#0".into()
            }
        }
    )));
    // The alpha server comes up on its first success.
    h.run(Duration::from_secs(1), |_, _| pass());
    assert_eq!(
        h.take_events(),
        vec![(
            Duration::ZERO,
            Event::Up {
                server: server(2),
                cause: UpCause::Recovered {
                    checker: "TCP_CHECK#0".into()
                }
            }
        )]
    );
}

#[test]
fn server_goes_down_after_retry_plus_one_failures_spaced_by_delay_before_retry() {
    // delay_loop 10, retry 2, delay_before_retry 1: failing from t=20 on.
    let mut h = Harness::new(vec![real(1, vec![tcp("TCP_CHECK#0", 10, 2, 1)])]);
    h.take_events();
    h.run(Duration::from_secs(60), |_, t| {
        if t >= Duration::from_secs(20) {
            refused()
        } else {
            pass()
        }
    });
    let events = h.take_events();
    // Failures at 20, 21, 22: down at the third, not before.
    assert_eq!(
        events,
        vec![(
            Duration::from_secs(22),
            Event::Down {
                server: server(1),
                cause: DownCause::Failed {
                    checker: "TCP_CHECK#0".into(),
                    failure: Failure::Refused
                }
            }
        )]
    );
    let times: Vec<u64> = h.runs.iter().map(|(t, _)| t.as_secs()).collect();
    // While down it checks at delay_loop again.
    assert_eq!(times, [0, 10, 20, 21, 22, 32, 42, 52]);
}

#[test]
fn one_success_brings_server_back_up_and_resets_the_failure_count() {
    let mut h = Harness::new(vec![real(1, vec![tcp("TCP_CHECK#0", 10, 1, 1)])]);
    h.take_events();
    // Fails at 10 (one failure: still up), passes at 11, fails at 21, 22: down at 22.
    h.run(Duration::from_secs(40), |_, t| match t.as_secs() {
        10 | 21 | 22 => refused(),
        _ => pass(),
    });
    let events = h.take_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(events[0], (t, Event::Down { .. }) if t == Duration::from_secs(22)));
    // Down at 22, next run at 32 passes: up at once.
    assert!(matches!(events[1], (t, Event::Up { .. }) if t == Duration::from_secs(32)));
}

#[test]
fn rise_and_fall_damp_a_flapping_server() {
    let mut check = tcp("TCP_CHECK#0", 2, 1, 1);
    check.timing.rise = Some(3);
    check.timing.fall = Some(3);
    let mut h = Harness::new(vec![real(1, vec![check])]);
    h.take_events();
    // Alternating results never reach 3 in a row: no transition at all.
    let mut flip = false;
    h.run(Duration::from_secs(30), |_, _| {
        flip = !flip;
        if flip {
            refused()
        } else {
            pass()
        }
    });
    assert_eq!(h.take_events(), vec![]);
    // Three failures in a row take it down, three successes bring it back.
    let mut h = Harness::new(vec![real(
        1,
        vec![{
            let mut c = tcp("TCP_CHECK#0", 10, 1, 1);
            c.timing.rise = Some(3);
            c.timing.fall = Some(3);
            c
        }],
    )]);
    h.take_events();
    h.run(Duration::from_secs(100), |_, t| {
        if (10..40).contains(&t.as_secs()) {
            refused()
        } else {
            pass()
        }
    });
    let events: Vec<(u64, bool)> = h
        .take_events()
        .into_iter()
        .map(|(t, e)| (t.as_secs(), matches!(e, Event::Up { .. })))
        .collect();
    // Fails at 10, 11, 12 (down); checks every 10 s while down: 22, 32 fail; 42 passes,
    // then 43, 44 at delay_before_retry: up at 44.
    assert_eq!(events, [(12, false), (44, true)]);
}

#[test]
fn server_is_up_only_when_all_its_checkers_are() {
    let mut h = Harness::new(vec![real(
        1,
        vec![tcp("TCP_CHECK#0", 10, 0, 1), tcp("HTTP_GET#0", 10, 0, 1)],
    )]);
    h.take_events();
    h.run(Duration::from_secs(35), |id, t| {
        match (id.checker.as_str(), t.as_secs()) {
            ("HTTP_GET#0", 10..=29) => Outcome::Fail(Failure::HttpStatus {
                path: "/".into(),
                status: 503,
            }),
            ("TCP_CHECK#0", 20..=29) => refused(),
            _ => pass(),
        }
    });
    let events = h.take_events();
    assert_eq!(
        events,
        vec![
            (
                Duration::from_secs(10),
                Event::Down {
                    server: server(1),
                    cause: DownCause::Failed {
                        checker: "HTTP_GET#0".into(),
                        failure: Failure::HttpStatus {
                            path: "/".into(),
                            status: 503
                        }
                    }
                }
            ),
            // Both checkers recover at 30; the server is up after the second one.
            (
                Duration::from_secs(30),
                Event::Up {
                    server: server(1),
                    cause: UpCause::Recovered {
                        checker: "HTTP_GET#0".into()
                    }
                }
            ),
        ]
    );
    assert_eq!(h.scheduler.is_up(&server(1)), Some(true));
}

#[test]
fn reload_keeps_state_of_unchanged_checks_without_spurious_events() {
    let config = vec![
        real(1, vec![tcp("TCP_CHECK#0", 10, 0, 1)]),
        real(2, vec![tcp("TCP_CHECK#0", 10, 0, 1)]),
    ];
    let mut h = Harness::new(config.clone());
    h.take_events();
    h.run(Duration::from_secs(15), |id, _| {
        if id.server == server(2) {
            refused()
        } else {
            pass()
        }
    });
    assert_eq!(h.take_events().len(), 1, "server 2 went down");
    assert_eq!(h.scheduler.is_up(&server(2)), Some(false));

    // Same servers plus a new one: only the new one reports.
    let mut reload = config.clone();
    reload.push(real(3, vec![tcp("TCP_CHECK#0", 10, 0, 1)]));
    h.scheduler.replace(reload, h.now).unwrap();
    h.drain_events();
    assert_eq!(
        h.take_events(),
        vec![(
            h.now - h.start,
            Event::Up {
                server: server(3),
                cause: UpCause::Initial
            }
        )]
    );
    assert_eq!(
        h.scheduler.is_up(&server(2)),
        Some(false),
        "down state survived the reload"
    );
    // The unchanged checks keep their schedule: nothing runs at reload time.
    let runs_before = h.runs.len();
    h.run(Duration::from_secs(19), |_, _| pass());
    assert!(
        h.runs[runs_before..]
            .iter()
            .all(|(_, id)| id.server == server(3)),
        "{:?}",
        &h.runs[runs_before..]
    );
}

#[test]
fn reload_removing_the_failing_checker_brings_the_server_up() {
    let mut h = Harness::new(vec![real(
        1,
        vec![tcp("TCP_CHECK#0", 10, 0, 1), tcp("HTTP_GET#0", 10, 0, 1)],
    )]);
    h.take_events();
    h.run(Duration::from_secs(5), |id, _| {
        if id.checker == "HTTP_GET#0" {
            refused()
        } else {
            pass()
        }
    });
    assert_eq!(h.scheduler.is_up(&server(1)), Some(false));
    h.take_events();
    h.scheduler
        .replace(vec![real(1, vec![tcp("TCP_CHECK#0", 10, 0, 1)])], h.now)
        .unwrap();
    h.drain_events();
    let t = h.now - h.start;
    assert_eq!(
        h.take_events(),
        vec![(
            t,
            Event::Up {
                server: server(1),
                cause: UpCause::CheckerRemoved
            }
        )]
    );
}

#[test]
fn results_of_a_check_reconfigured_while_running_are_ignored() {
    let mut s = Scheduler::new(1);
    let t0 = Instant::now();
    s.replace(vec![real(1, vec![tcp("TCP_CHECK#0", 10, 0, 1)])], t0)
        .unwrap();
    let due = s.poll_start(t0).unwrap();
    // Reloaded with a new delay_loop while the check runs.
    s.replace(
        vec![real(1, vec![tcp("TCP_CHECK#0", 5, 0, 1)])],
        t0 + SECOND,
    )
    .unwrap();
    assert!(!s.handle_result(due.token, refused(), t0 + SECOND));
    assert_eq!(s.is_up(&server(1)), Some(true));
    // The new configuration runs at once.
    let again = s.poll_start(t0 + SECOND).unwrap();
    assert_eq!(again.config.timing.delay_loop, Duration::from_secs(5));
    // And a removed check's result is ignored too.
    s.replace(vec![], t0 + SECOND).unwrap();
    assert!(!s.handle_result(again.token, refused(), t0 + SECOND));
    assert_eq!(s.check_count(), 0);
}

#[test]
fn warmup_spreads_first_checks_over_the_warmup_span() {
    let servers: Vec<RealServerConfig> = (0..=255u8)
        .map(|n| {
            let mut c = tcp("TCP_CHECK#0", 1, 1, 1);
            c.timing.warmup = Some(SECOND);
            real(n, vec![c])
        })
        .collect();
    let mut h = Harness::new(servers);
    h.run(Duration::from_millis(999), |_, _| pass());
    assert_eq!(
        h.runs.len(),
        256,
        "every first check runs within the warmup span"
    );
    let mut per_100ms: HashMap<u128, usize> = HashMap::new();
    for (t, _) in &h.runs {
        *per_100ms.entry(t.as_millis() / 100).or_default() += 1;
    }
    // Uniform over 10 slices: about 26 each; none empty, none holding a third.
    assert_eq!(per_100ms.len(), 10, "{per_100ms:?}");
    assert!(per_100ms.values().all(|&n| n < 85), "{per_100ms:?}");
}

#[test]
fn same_seed_gives_the_same_schedule() {
    let config = |n: u8| {
        let mut c = tcp("TCP_CHECK#0", 1, 1, 1);
        c.timing.warmup = Some(SECOND);
        real(n, vec![c])
    };
    let first: Vec<_> = (0..2)
        .map(|_| {
            let mut h = Harness::new((0..50).map(config).collect());
            h.run(Duration::from_secs(3), |_, _| pass());
            h.runs
        })
        .collect();
    assert_eq!(first[0], first[1]);
}

#[test]
fn misc_dynamic_weights_are_reported_as_weight_events() {
    let mut misc = CheckerConfig::new(
        "MISC_CHECK#0",
        CheckKind::Misc(MiscCheck {
            path: "/bin/true".into(),
            dynamic: true,
            ..Default::default()
        }),
    );
    misc.timing.delay_loop = Duration::from_secs(10);
    let mut h = Harness::new(vec![real(1, vec![misc])]);
    h.take_events();
    h.run(Duration::from_secs(25), |_, t| match t.as_secs() {
        0 => Outcome::Pass(Some(WeightChange::Set(3))),
        10 => Outcome::Pass(Some(WeightChange::Set(3))),
        _ => Outcome::Pass(None),
    });
    let events: Vec<_> = h
        .take_events()
        .into_iter()
        .map(|(t, e)| (t.as_secs(), e))
        .collect();
    assert_eq!(
        events,
        [
            (
                0,
                Event::Weight {
                    server: server(1),
                    weight: 3
                }
            ),
            (
                20,
                Event::Weight {
                    server: server(1),
                    weight: 10
                }
            )
        ]
    );
}

#[test]
fn log_all_failures_reports_every_failure_not_only_transitions() {
    let mut c = tcp("TCP_CHECK#0", 10, 2, 1);
    c.log_all_failures = true;
    let mut h = Harness::new(vec![real(1, vec![c])]);
    h.take_events();
    // A first pass (a first failure would take it down at once, as in keepalived), then
    // failures from 10 s on: three, one second apart, before the server goes down.
    h.run(Duration::from_secs(13), |_, at| {
        if at < Duration::from_secs(10) {
            Outcome::Pass(None)
        } else {
            Outcome::Fail(Failure::Timeout(SECOND))
        }
    });
    let kinds: Vec<&str> = h
        .take_events()
        .iter()
        .map(|(_, e)| match e {
            Event::CheckFailed { .. } => "failed",
            Event::Down { .. } => "down",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["failed", "failed", "failed", "down"]);
}

#[test]
fn duplicate_identities_are_refused_and_change_nothing() {
    let mut s = Scheduler::new(1);
    let now = Instant::now();
    let err = s
        .replace(vec![real(1, vec![]), real(1, vec![])], now)
        .unwrap_err();
    assert!(err.to_string().contains("configured twice"), "{err}");
    let err = s
        .replace(
            vec![real(1, vec![tcp("A", 1, 1, 1), tcp("A", 1, 1, 1)])],
            now,
        )
        .unwrap_err();
    assert!(
        err.to_string().contains("two checkers named \"A\""),
        "{err}"
    );
    assert_eq!(s.check_count(), 0);
    assert!(s.poll_event().is_none());
}

#[test]
fn server_without_checkers_is_up() {
    let mut s = Scheduler::new(1);
    s.replace(vec![real(1, vec![])], Instant::now()).unwrap();
    assert_eq!(
        s.poll_event(),
        Some(Event::Up {
            server: server(1),
            cause: UpCause::Initial
        })
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn zero_intervals_and_timeouts_are_refused() {
    let mut s = Scheduler::new(1);
    let mut c = tcp("TCP_CHECK#0", 0, 1, 1);
    let err = s
        .replace(vec![real(1, vec![c.clone()])], Instant::now())
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("delay_loop must be greater than 0"),
        "{err}"
    );
    c.timing.delay_loop = SECOND;
    c.timing.connect_timeout = Duration::ZERO;
    let err = s
        .replace(vec![real(1, vec![c])], Instant::now())
        .unwrap_err();
    assert!(err.to_string().contains("connect_timeout"), "{err}");
    assert_eq!(s.check_count(), 0);
}
