//! The engine on its own runtime thread, against real listeners: events with reasons,
//! reload keeping state, bad reloads refused.

use std::time::Duration;

use healthcheck::config::*;
use healthcheck::{DownCause, Engine, EngineOptions, Event, EventReceiver, Failure, UpCause};

fn tcp_checker(delay_loop_ms: u64) -> CheckerConfig {
    let mut c = CheckerConfig::new("TCP_CHECK#0", CheckKind::Tcp);
    c.timing.delay_loop = Duration::from_millis(delay_loop_ms);
    c.timing.delay_before_retry = Duration::from_millis(delay_loop_ms);
    c.timing.connect_timeout = Duration::from_millis(500);
    c.timing.retry = 0;
    c
}

fn server(addr: std::net::SocketAddr, checkers: Vec<CheckerConfig>) -> RealServerConfig {
    RealServerConfig {
        id: RealServerId {
            virtual_server: "vs1".into(),
            real_server: addr,
        },
        weight: 1,
        checkers,
    }
}

fn next(events: &mut EventReceiver) -> Event {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(event) = events.try_recv() {
            return event;
        }
        assert!(std::time::Instant::now() < deadline, "no event within 5 s");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn engine_reports_initial_up_then_down_with_the_reason_when_the_listener_goes() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (engine, mut events) = Engine::start(EngineOptions {
        worker_threads: 1,
        seed: Some(1),
        nice: Some(-5),
    })
    .unwrap();
    engine
        .replace(vec![server(addr, vec![tcp_checker(50)])])
        .unwrap();
    assert!(matches!(
        next(&mut events),
        Event::Up {
            cause: UpCause::Initial,
            ..
        }
    ));
    // Let a few checks pass, then close the listener: refused, down.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        events.try_recv().is_err(),
        "no flapping while the listener is there"
    );
    drop(listener);
    match next(&mut events) {
        Event::Down {
            server,
            cause: DownCause::Failed { checker, failure },
        } => {
            assert_eq!(server.real_server, addr);
            assert_eq!(checker, "TCP_CHECK#0");
            assert_eq!(failure, Failure::Refused);
        }
        other => panic!("{other:?}"),
    }
    assert!(engine.stats().completed() >= 3);
    let status = engine.request_status().unwrap().blocking_recv().unwrap();
    if nix::unistd::Uid::effective().is_root() {
        // checker_priority applied to the engine's thread.
        // (Other tests' engine threads run beside this one, at the default nice 0.)
        let nice = engine_threads_nice();
        assert!(nice.contains(&-5), "{nice:?}");
    }
    assert_eq!(status.len(), 1);
    assert_eq!(status[0].keyword, "TCP_CHECK");
    assert!(!status[0].up);
    assert_eq!(status[0].last_failure, Some(Failure::Refused));
    assert!(engine.stats().lateness_quantile(0.99).is_some());
    engine.shutdown();
}

#[test]
fn engine_reload_keeps_state_and_refuses_bad_configuration() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (engine, mut events) = Engine::start(EngineOptions {
        worker_threads: 2,
        seed: Some(2),
        nice: None,
    })
    .unwrap();
    let config = vec![server(closed, vec![tcp_checker(50)])];
    engine.replace(config.clone()).unwrap();
    assert!(matches!(next(&mut events), Event::Up { .. }));
    assert!(matches!(next(&mut events), Event::Down { .. }));
    // The same configuration again: still down, no event.
    engine.replace(config.clone()).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        events.try_recv().is_err(),
        "reload of an unchanged config is silent"
    );
    // A bad regex is refused before anything changes.
    let mut bad = CheckerConfig::new(
        "HTTP_GET#0",
        CheckKind::Http(HttpCheck {
            urls: vec![UrlCheck {
                path: "/".into(),
                regex: Some("(".into()),
                ..Default::default()
            }],
            ..Default::default()
        }),
    );
    bad.timing.delay_loop = Duration::from_millis(50);
    let err = engine
        .replace(vec![server(closed, vec![tcp_checker(50), bad])])
        .unwrap_err();
    assert!(err.to_string().contains("regex"), "{err}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(events.try_recv().is_err());
}

/// The nice values of this process's threads named `healthcheck`, from /proc.
fn engine_threads_nice() -> Vec<i64> {
    let mut nice = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let path = task.unwrap().path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if comm.trim() == "healthcheck" {
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // Field 19 (nice), counted after the parenthesised command name.
            if let Some(end) = stat.rfind(')') {
                if let Some(value) = stat[end + 2..].split(' ').nth(16) {
                    nice.push(value.parse().unwrap());
                }
            }
        }
    }
    nice
}

#[test]
fn reload_removing_a_running_misc_check_kills_its_script() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let script = dir.path().join("slow");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nsleep 30 &\necho $! > {}\nwait\n",
            pid_file.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut misc = CheckerConfig::new(
        "MISC_CHECK#0",
        CheckKind::Misc(MiscCheck {
            path: script.display().to_string(),
            timeout: Some(Duration::from_secs(30)),
            ..Default::default()
        }),
    );
    misc.timing.delay_loop = Duration::from_secs(60);
    let addr = "127.0.0.1:1".parse().unwrap();
    let (engine, _events) = Engine::start(EngineOptions::default()).unwrap();
    engine.replace(vec![server(addr, vec![misc])]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let child: i32 = loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|t| t.trim().parse().ok())
        {
            break pid;
        }
        assert!(std::time::Instant::now() < deadline, "script did not start");
        std::thread::sleep(Duration::from_millis(10));
    };
    engine.replace(vec![]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let state = std::fs::read_to_string(format!("/proc/{child}/stat")).unwrap_or_default();
    assert!(
        state.is_empty() || state.contains(") Z "),
        "child {child} still running: {state}"
    );
}
