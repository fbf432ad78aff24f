//! Scenario files (`tests/scenarios/*.scn`) replayed on the core in virtual time: each is
//! a configuration, check results by time window, optional reloads, and the events
//! expected, compared as the text an operator reads.
//!
//! Format, one statement a line (`#` comments):
//! - `server N weight W`: real server 192.0.2.N:80 of virtual server `vs1`;
//! - `checker N NAME key=value... [alpha]`: delay_loop, retry, delay_before_retry, rise,
//!   fall, warmup (seconds);
//! - `fail N NAME FROM..TO REASON`: checks run in [FROM, TO) fail (refused, timeout,
//!   noreply, status=CODE, exit=CODE); other checks pass;
//! - `weight N NAME FROM..TO W`: checks in the window pass with weight W (`misc_dynamic`);
//! - `reload T`: the `server`/`checker` lines that follow replace the configuration at T;
//! - `run T`: run until T;
//! - `expect T TEXT`: the next event, at T, displays as TEXT.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use healthcheck::config::{CheckKind, CheckerConfig, RealServerConfig, RealServerId};
use healthcheck::{Failure, Outcome, Scheduler, WeightChange};

struct Window {
    server: u8,
    checker: String,
    from: f64,
    to: f64,
    outcome: Outcome,
}

struct Scenario {
    configs: Vec<(f64, Vec<RealServerConfig>)>,
    windows: Vec<Window>,
    run_until: f64,
    expected: Vec<String>,
}

fn server_id(n: u8) -> RealServerId {
    RealServerId {
        virtual_server: "vs1".into(),
        real_server: format!("192.0.2.{n}:80").parse().unwrap(),
    }
}

fn seconds(text: &str) -> Duration {
    Duration::from_secs_f64(
        text.parse()
            .unwrap_or_else(|_| panic!("bad seconds {text:?}")),
    )
}

fn window(text: &str) -> (f64, f64) {
    let (from, to) = text.split_once("..").expect("FROM..TO");
    (from.parse().unwrap(), to.parse().unwrap())
}

fn parse(text: &str) -> Scenario {
    let mut s = Scenario {
        configs: vec![(0.0, Vec::new())],
        windows: Vec::new(),
        run_until: 0.0,
        expected: Vec::new(),
    };
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let config = &mut s.configs.last_mut().unwrap().1;
        match words[0] {
            "server" => config.push(RealServerConfig {
                id: server_id(words[1].parse().unwrap()),
                weight: words[3].parse().unwrap(),
                checkers: Vec::new(),
            }),
            "checker" => {
                let id = server_id(words[1].parse().unwrap());
                let kind = if words[2].starts_with("MISC") {
                    CheckKind::Misc(Default::default())
                } else {
                    CheckKind::Tcp
                };
                let mut checker = CheckerConfig::new(words[2], kind);
                for option in &words[3..] {
                    let t = &mut checker.timing;
                    match option.split_once('=') {
                        None if *option == "alpha" => t.alpha = true,
                        Some(("delay_loop", v)) => t.delay_loop = seconds(v),
                        Some(("delay_before_retry", v)) => t.delay_before_retry = seconds(v),
                        Some(("warmup", v)) => t.warmup = Some(seconds(v)),
                        Some(("retry", v)) => t.retry = v.parse().unwrap(),
                        Some(("rise", v)) => t.rise = Some(v.parse().unwrap()),
                        Some(("fall", v)) => t.fall = Some(v.parse().unwrap()),
                        _ => panic!("unknown checker option {option:?}"),
                    }
                }
                config
                    .iter_mut()
                    .find(|s| s.id == id)
                    .expect("server line first")
                    .checkers
                    .push(checker);
            }
            "fail" | "weight" => {
                let (from, to) = window(words[3]);
                let outcome = if words[0] == "weight" {
                    Outcome::Pass(Some(WeightChange::Set(words[4].parse().unwrap())))
                } else {
                    Outcome::Fail(match words[4].split_once('=') {
                        None if words[4] == "refused" => Failure::Refused,
                        None if words[4] == "timeout" => Failure::Timeout(Duration::from_secs(5)),
                        None if words[4] == "noreply" => Failure::NoEchoReply,
                        Some(("status", code)) => Failure::HttpStatus {
                            path: "/".into(),
                            status: code.parse().unwrap(),
                        },
                        Some(("exit", code)) => Failure::ScriptExit(code.parse().unwrap()),
                        _ => panic!("unknown failure {:?}", words[4]),
                    })
                };
                s.windows.push(Window {
                    server: words[1].parse().unwrap(),
                    checker: words[2].into(),
                    from,
                    to,
                    outcome,
                });
            }
            "reload" => s.configs.push((words[1].parse().unwrap(), Vec::new())),
            "run" => s.run_until = words[1].parse().unwrap(),
            "expect" => s.expected.push(line["expect ".len()..].to_string()),
            other => panic!("unknown statement {other:?}"),
        }
    }
    s
}

fn offset(t: Duration) -> String {
    let secs = t.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}")
    } else {
        format!("{secs}")
    }
}

/// Replays a scenario; returns the events as `T TEXT` lines.
fn replay(s: &Scenario) -> Vec<String> {
    let start = Instant::now();
    let mut scheduler = Scheduler::new(1);
    let mut events = Vec::new();
    let mut configs = s.configs.iter().peekable();
    let mut now = start;
    let end = start + Duration::from_secs_f64(s.run_until);
    for _ in 0..100_000 {
        // Apply every reload that is due before the next check.
        let next_check = scheduler.poll_timeout().unwrap_or(end);
        if let Some((at, _)) = configs.peek() {
            let at = start + Duration::from_secs_f64(*at);
            if at <= next_check {
                now = now.max(at);
                let (_, config) = configs.next().unwrap();
                scheduler.replace(config.clone(), now).unwrap();
                while let Some(e) = scheduler.poll_event() {
                    events.push(format!("{} {e}", offset(now - start)));
                }
                continue;
            }
        }
        if next_check > end {
            return events;
        }
        now = now.max(next_check);
        while let Some(due) = scheduler.poll_start(now) {
            let t = (now - start).as_secs_f64();
            let n = due
                .id
                .server
                .real_server
                .ip()
                .to_string()
                .rsplit('.')
                .next()
                .unwrap()
                .parse::<u8>()
                .unwrap();
            let outcome = s
                .windows
                .iter()
                .find(|w| {
                    w.server == n && w.checker == due.id.checker && (w.from..w.to).contains(&t)
                })
                .map_or(Outcome::Pass(None), |w| w.outcome.clone());
            scheduler.handle_result(due.token, outcome, now);
            while let Some(e) = scheduler.poll_event() {
                events.push(format!("{} {e}", offset(now - start)));
            }
        }
    }
    panic!("scenario step cap reached");
}

#[test]
fn every_scenario_file_replays_to_its_expected_events() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "scenarios missing from {}", dir.display());
    for path in files {
        let scenario = parse(&std::fs::read_to_string(&path).unwrap());
        let events = replay(&scenario);
        assert_eq!(events, scenario.expected, "scenario {}", path.display());
    }
}
