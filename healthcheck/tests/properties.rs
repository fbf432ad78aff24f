//! Property tests: the core never panics and its events stay consistent under any mix of
//! results and reloads; hex patterns round-trip.

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
        let check_events = |s: &mut Scheduler, fails: &HashMap<(RealServerId, String), u32>, last: &mut HashMap<RealServerId, bool>| {
            while let Some(event) = s.poll_event() {
                match event {
                    Event::Up { server, .. } => {
                        prop_assert_ne!(last.insert(server.clone(), true), Some(true), "two Ups in a row");
                    }
                    Event::Down { server, cause } => {
                        prop_assert_ne!(last.insert(server.clone(), false), Some(false), "two Downs in a row");
                        if let DownCause::Failed { checker, .. } = cause {
                            prop_assert!(fails[&(server, checker)] > retry, "down before retry + 1 failures");
                        }
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        check_events(&mut s, &consecutive_fails, &mut last)?;
        for op in ops {
            match op {
                Op::Step(ms, bits) => {
                    now += Duration::from_millis(u64::from(ms));
                    let mut i = 0;
                    while let Some(due) = s.poll_start(now) {
                        let pass = bits & (1 << (i % 8)) != 0;
                        i += 1;
                        let key = (due.id.server.clone(), due.id.checker.clone());
                        let count = consecutive_fails.entry(key).or_default();
                        *count = if pass { 0 } else { *count + 1 };
                        let outcome = if pass { Outcome::Pass(None) } else { Outcome::Fail(Failure::Refused) };
                        prop_assert!(s.handle_result(due.token, outcome, now));
                        check_events(&mut s, &consecutive_fails, &mut last)?;
                    }
                    if let Some(next) = s.poll_timeout() {
                        prop_assert!(next > now, "everything due was started");
                    }
                }
                Op::Reload(servers, two) => {
                    let servers = servers & 0b1111;
                    s.replace(config(servers, two, retry, rise), now).unwrap();
                    last.retain(|server, _| (0..4u8).any(|n| servers & (1 << n) != 0 && id(n) == *server));
                    consecutive_fails.retain(|(server, _), _| last.contains_key(server));
                    check_events(&mut s, &consecutive_fails, &mut last)?;
                }
            }
            for (server, up) in &last {
                prop_assert_eq!(s.is_up(server), Some(*up), "state matches the last event");
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
