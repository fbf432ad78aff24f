//! Property tests: the core never panics and its events stay consistent under any mix of
//! results and reloads; Down comes exactly at the `fall`-th consecutive failure and Up at the
//! `rise`-th consecutive success, at keepalived's intervals, as a model of keepalived's
//! checker epilogue (check_tcp.c `tcp_epilog`, check_data.c) says; hex patterns round-trip.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use healthcheck::config::{CheckKind, CheckerConfig, HexPattern, RealServerConfig, RealServerId};
use healthcheck::{DownCause, Event, Failure, Outcome, Scheduler};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    /// Advance time by this many ms and answer every due check: pass if the bit is set.
    Step(u16, u8),
    /// Reload with the servers whose bit is set, each with 1 or 2 checkers.
    Reload(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0u16..3000, any::<u8>()).prop_map(|(ms, bits)| Op::Step(ms, bits)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(servers, two)| Op::Reload(servers, two)),
    ]
}

fn id(n: u8) -> RealServerId {
    RealServerId {
        virtual_server: "vs".into(),
        real_server: format!("192.0.2.{n}:80").parse().unwrap(),
    }
}

fn config(servers: u8, two: u8, retry: u32, rise: u32) -> Vec<RealServerConfig> {
    (0..4u8)
        .filter(|n| servers & (1 << n) != 0)
        .map(|n| {
            let checkers = (0..if two & (1 << n) != 0 { 2 } else { 1 })
                .map(|c| {
                    let mut checker = CheckerConfig::new(format!("TCP_CHECK#{c}"), CheckKind::Tcp);
                    checker.timing.delay_loop = Duration::from_millis(1000);
                    checker.timing.delay_before_retry = Duration::from_millis(300);
                    checker.timing.retry = retry;
                    checker.timing.rise = Some(rise);
                    checker.timing.alpha = n % 2 == 1;
                    checker.timing.warmup = Some(Duration::from_millis(500));
                    checker
                })
                .collect();
            RealServerConfig {
                id: id(n),
                weight: 1,
                checkers,
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn events_alternate_and_downs_follow_fall_consecutive_failures(
        retry in 0u32..3,
        rise in 1u32..3,
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let mut s = Scheduler::new(seed);
        let start = Instant::now();
        let mut now = start;
        s.replace(config(0b1111, 0b0101, retry, rise), now).unwrap();
        let mut last: HashMap<RealServerId, bool> = HashMap::new();
        let mut consecutive_fails: HashMap<(RealServerId, String), u32> = HashMap::new();
        // Results per checker: keepalived takes a checker down at its first result if that fails.
        let mut results: HashMap<(RealServerId, String), u32> = HashMap::new();
        let check_events = |s: &mut Scheduler, fails: &HashMap<(RealServerId, String), u32>, results: &HashMap<(RealServerId, String), u32>, last: &mut HashMap<RealServerId, bool>| {
            while let Some(event) = s.poll_event() {
                match event {
                    Event::Up { server, .. } => {
                        prop_assert_ne!(last.insert(server.clone(), true), Some(true), "two Ups in a row");
                    }
                    Event::Down { server, cause } => {
                        prop_assert_ne!(last.insert(server.clone(), false), Some(false), "two Downs in a row");
                        if let DownCause::Failed { checker, .. } = cause {
                            let key = (server, checker);
                            prop_assert!(fails[&key] > retry || results[&key] == 1, "down before retry + 1 failures");
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        check_events(&mut s, &consecutive_fails, &results, &mut last)?;
        for op in ops {
            match op {
                Op::Step(ms, bits) => {
                    now += Duration::from_millis(u64::from(ms));
                    let mut i = 0;
                    while let Some(due) = s.poll_start(now) {
                        let pass = bits & (1 << (i % 8)) != 0;
                        i += 1;
                        let key = (due.id.server.clone(), due.id.checker.clone());
                        *results.entry(key.clone()).or_default() += 1;
                        let count = consecutive_fails.entry(key).or_default();
                        *count = if pass { 0 } else { *count + 1 };
                        let outcome = if pass { Outcome::Pass(None) } else { Outcome::Fail(Failure::Refused) };
                        prop_assert!(s.handle_result(due.token, outcome, now));
                        check_events(&mut s, &consecutive_fails, &results, &mut last)?;
                    }
                    if let Some(next) = s.poll_timeout() {
                        prop_assert!(next > now, "everything due was started");
                    }
                }
                Op::Reload(servers, two) => {
                    let servers = servers & 0b1111;
                    s.replace(config(servers, two, retry, rise), now).unwrap();
                    last.retain(|server, _| (0..4u8).any(|n| servers & (1 << n) != 0 && id(n) == *server));
                    let present: Vec<(RealServerId, String)> = config(servers, two, retry, rise)
                        .into_iter()
                        .flat_map(|c| c.checkers.into_iter().map(move |k| (c.id.clone(), k.name)))
                        .collect();
                    consecutive_fails.retain(|key, _| present.contains(key));
                    results.retain(|key, _| present.contains(key));
                    check_events(&mut s, &consecutive_fails, &results, &mut last)?;
                }
            }
            for (server, up) in &last {
                prop_assert_eq!(s.is_up(server), Some(*up), "state matches the last event");
            }
        }
    }

    /// One real server, one or two checkers, each with its own results: after every result,
    /// the server's Up/Down events are exactly the model's, and each check runs when the model
    /// says (`delay_before_retry` while between states, else `delay_loop`).
    #[test]
    fn down_exactly_at_the_fall_th_failure_and_up_at_the_rise_th_success(
        checkers in proptest::collection::vec(
            (0u32..4, proptest::option::of(1u32..4), proptest::option::of(1u32..5), any::<bool>(),
             proptest::collection::vec(any::<bool>(), 0..40)),
            1..3),
    ) {
        let server = id(1);
        let configs: Vec<CheckerConfig> = checkers.iter().enumerate().map(|(i, (retry, rise, fall, alpha, _))| {
            let mut c = CheckerConfig::new(format!("TCP_CHECK#{i}"), CheckKind::Tcp);
            c.timing.delay_loop = Duration::from_millis(1000 + 100 * i as u64);
            c.timing.delay_before_retry = Duration::from_millis(300 + 10 * i as u64);
            c.timing.retry = *retry;
            c.timing.rise = *rise;
            c.timing.fall = *fall;
            c.timing.alpha = *alpha;
            c
        }).collect();
        let mut models: Vec<CheckerModel> = checkers.iter()
            .map(|(retry, rise, fall, alpha, results)| CheckerModel::new(*retry, *rise, *fall, *alpha, results.clone()))
            .collect();
        let mut s = Scheduler::new(1);
        let t0 = Instant::now();
        s.replace(vec![RealServerConfig { id: server.clone(), weight: 1, checkers: configs.clone() }], t0).unwrap();
        let mut server_up = models.iter().all(|m| m.up);
        let first = s.poll_event();
        prop_assert!(
            matches!(&first, Some(Event::Up { .. }) if server_up) || matches!(&first, Some(Event::Down { .. }) if !server_up),
            "initial event {:?}, expected up = {}", first, server_up
        );
        let mut due_at: Vec<Option<Instant>> = vec![Some(t0); models.len()];
        let mut now = t0;
        while let Some(next) = s.poll_timeout() {
            now = now.max(next);
            let mut any = false;
            while let Some(due) = s.poll_start(now) {
                let i: usize = due.id.checker.trim_start_matches("TCP_CHECK#").parse().unwrap();
                prop_assert_eq!(Some(due.due), due_at[i], "checker {} ran at the wrong time", i);
                let Some(pass) = models[i].next_result() else {
                    due_at[i] = None;
                    continue;
                };
                any = true;
                let delay = models[i].result(pass);
                due_at[i] = Some(now + if delay { configs[i].timing.delay_before_retry } else { configs[i].timing.delay_loop });
                let outcome = if pass { Outcome::Pass(None) } else { Outcome::Fail(Failure::Refused) };
                prop_assert!(s.handle_result(due.token, outcome, now));
                let expected = models.iter().all(|m| m.up);
                let mut events = Vec::new();
                while let Some(e) = s.poll_event() {
                    if matches!(e, Event::Up { .. } | Event::Down { .. }) {
                        events.push(e);
                    }
                }
                if expected != server_up {
                    prop_assert_eq!(events.len(), 1, "checker {} result {}: one event expected", i, pass);
                    let is_up = matches!(events[0], Event::Up { .. });
                    prop_assert_eq!(is_up, expected);
                    if !expected {
                        let is_failed = matches!(&events[0], Event::Down { cause: DownCause::Failed { .. }, .. });
                        prop_assert!(is_failed);
                    }
                    server_up = expected;
                } else {
                    prop_assert!(events.is_empty(), "checker {} result {}: unexpected {:?}", i, pass, events);
                }
                prop_assert_eq!(s.is_up(&server), Some(server_up));
            }
            if !any && due_at.iter().all(Option::is_none) {
                break;
            }
        }
    }

    #[test]
    fn hex_pattern_round_trips_and_matches_its_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let text: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
        prop_assert_eq!(HexPattern::parse_bytes(&text).unwrap(), bytes.clone());
        let pattern = HexPattern::parse(&text).unwrap();
        prop_assert!(pattern.matches(&bytes));
        let wild: String = text.chars().enumerate().map(|(i, c)| if i % 3 == 0 { 'X' } else { c }).collect();
        prop_assert!(HexPattern::parse(&wild).unwrap().matches(&bytes));
    }

    #[test]
    fn hex_pattern_parse_never_panics(text in "\\PC{0,40}") {
        let _ = HexPattern::parse(&text);
        let _ = HexPattern::parse_bytes(&text);
    }
}

/// One checker as keepalived's checker epilogue runs it (check_tcp.c `tcp_epilog`; the other
/// checkers share it): `retry_it` starts at `retry` (check_data.c: "one failure is enough
/// initially"), a success resets it and brings the checker up, a failure while up (or as the
/// first result) takes it down once `retry_it` has reached `retry`, else counts one more retry
/// and runs again after `delay_before_retry`. ha's `rise` and `fall`, when set, replace the
/// single success and the `retry + 1` failures with that many consecutive ones.
#[derive(Debug)]
struct CheckerModel {
    retry: u32,
    rise: Option<u32>,
    fall: Option<u32>,
    up: bool,
    has_run: bool,
    retry_it: u32,
    passes: u32,
    fails: u32,
    results: std::vec::IntoIter<bool>,
}

impl CheckerModel {
    fn new(
        retry: u32,
        rise: Option<u32>,
        fall: Option<u32>,
        alpha: bool,
        results: Vec<bool>,
    ) -> Self {
        CheckerModel {
            retry,
            rise,
            fall,
            up: !alpha,
            has_run: false,
            retry_it: retry,
            passes: 0,
            fails: 0,
            results: results.into_iter(),
        }
    }

    fn next_result(&mut self) -> Option<bool> {
        self.results.next()
    }

    /// Takes a result; returns whether the next run comes after `delay_before_retry`.
    fn result(&mut self, pass: bool) -> bool {
        let mut retry_delay = false;
        if pass {
            self.fails = 0;
            self.passes += 1;
            self.retry_it = 0;
            if !self.up {
                match self.rise {
                    Some(rise) if self.passes < rise => retry_delay = true,
                    _ => self.up = true,
                }
            }
        } else {
            self.passes = 0;
            self.fails += 1;
            match self.fall {
                Some(fall) => {
                    if self.up {
                        if self.fails >= fall {
                            self.up = false;
                        } else {
                            retry_delay = true;
                        }
                    }
                }
                None => {
                    if (self.up || !self.has_run) && self.retry_it >= self.retry {
                        self.retry_it = 0;
                        self.up = false;
                    } else if self.up {
                        self.retry_it += 1;
                        retry_delay = true;
                    }
                }
            }
        }
        self.has_run = true;
        retry_delay
    }
}
