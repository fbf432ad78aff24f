//! Load benchmark of the health-check engine (issue 4): many TCP_CHECK / HTTP_GET targets
//! on listeners spread over 127.0.0.0/8, measured for checks per second, CPU per 1,000
//! checks/s, peak RSS and p99 start lateness against the schedule.
//!
//! ```sh
//! cargo run --release -p benches --bin healthcheck_load -- [--tcp 10000] [--http 2000] [--seconds 20] [--reset] [--nice -10]
//! ```
//!
//! `healthcheck_load core [--tcp N]` times the scheduling core alone in virtual time.
//!
//! `--reset` closes checker connections with a reset (`ConnectOptions::reset_on_close`)
//! instead of keepalived's FIN.
//!
//! The listeners run in a child process (this binary with `serve`), so the CPU and RSS
//! reported are the engine's alone. All traffic stays on loopback.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use healthcheck::config::{
    CheckKind, CheckerConfig, HttpCheck, RealServerConfig, RealServerId, UrlCheck,
};
use healthcheck::{Engine, EngineOptions, Event};
use nix::sys::resource::{getrlimit, getrusage, setrlimit, Resource, UsageWho};

const TCP_PORT: u16 = 9000;
const HTTP_PORT: u16 = 9080;

/// The n-th listener address: 127.1.0.1, 127.1.0.2, ... for TCP, 127.2.x.y for HTTP.
fn address(net: u8, n: usize) -> Ipv4Addr {
    let n = n + 1;
    Ipv4Addr::new(127, net, (n >> 8) as u8, (n & 0xff) as u8)
}

fn raise_nofile() {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    let want = hard.min(1 << 20);
    setrlimit(Resource::RLIMIT_NOFILE, want, hard).expect("setrlimit RLIMIT_NOFILE");
}

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name} wants a number, got {v}"))
        })
        .unwrap_or(default)
}

fn main() {
    raise_nofile();
    let args: Vec<String> = std::env::args().collect();
    let tcp = arg(&args, "--tcp", 10_000);
    let http = arg(&args, "--http", 2_000);
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(tcp, http);
        return;
    }
    if args.get(1).map(String::as_str) == Some("core") {
        core_only(tcp.max(1));
        return;
    }
    let seconds = arg(&args, "--seconds", 20) as u64;
    let reset = args.iter().any(|a| a == "--reset");
    // keepalived's checker_priority for the engine thread, e.g. `--nice -10`.
    let nice = args
        .iter()
        .position(|a| a == "--nice")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse::<i32>().expect("--nice wants a number"));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "serve",
            "--tcp",
            &tcp.to_string(),
            "--http",
            &http.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the listener process");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready", "listener process failed");

    println!(
        "healthcheck_load: {tcp} TCP_CHECK + {http} HTTP_GET targets, delay_loop 1 s, {seconds} s measured, close with {}",
        if reset { "RST" } else { "FIN" }
    );
    if tcp > 0 {
        run_phase(
            "TCP_CHECK",
            targets(1, tcp, TCP_PORT, CheckKind::Tcp, reset),
            seconds,
            nice,
        );
    }
    if http > 0 {
        let kind = CheckKind::Http(HttpCheck {
            urls: vec![UrlCheck {
                path: "/health".into(),
                ..Default::default()
            }],
            ..Default::default()
        });
        run_phase(
            "HTTP_GET",
            targets(2, http, HTTP_PORT, kind, reset),
            seconds,
            nice,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn targets(
    net: u8,
    count: usize,
    port: u16,
    kind: CheckKind,
    reset: bool,
) -> Vec<RealServerConfig> {
    (0..count)
        .map(|n| {
            let mut checker = CheckerConfig::new("check", kind.clone());
            checker.timing.delay_loop = Duration::from_secs(1);
            checker.timing.warmup = Some(Duration::from_secs(1));
            checker.timing.connect_timeout = Duration::from_secs(2);
            checker.connect.reset_on_close = reset;
            RealServerConfig {
                id: RealServerId {
                    virtual_server: "bench".into(),
                    real_server: SocketAddr::new(address(net, n).into(), port),
                },
                weight: 1,
                checkers: vec![checker],
            }
        })
        .collect()
}

/// (user, system) CPU seconds of this process.
fn cpu_seconds() -> (f64, f64) {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let tv = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    (tv(usage.user_time()), tv(usage.system_time()))
}

/// CPU seconds of the kernel's `ksoftirqd` threads: network softirq work deferred there
/// under load is the engine's too, though getrusage does not count it.
fn ksoftirqd_seconds() -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        if !comm.starts_with("ksoftirqd/") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
        if let Some(end) = stat.rfind(')') {
            // utime and stime: fields 14 and 15, the 12th and 13th after the command name.
            let fields: Vec<&str> = stat[end + 2..].split(' ').collect();
            for field in fields.iter().skip(11).take(2) {
                ticks += field.parse::<u64>().unwrap_or(0);
            }
        }
    }
    ticks as f64 / ticks_per_second
}

fn peak_rss_mib() -> f64 {
    getrusage(UsageWho::RUSAGE_SELF).unwrap().max_rss() as f64 / 1024.0
}

fn run_phase(name: &str, servers: Vec<RealServerConfig>, seconds: u64, nice: Option<i32>) {
    let count = servers.len();
    let (engine, mut events) = Engine::start(EngineOptions {
        worker_threads: 1,
        seed: Some(4),
        nice,
    })
    .unwrap();
    engine.replace(servers).unwrap();
    // Warm up: the first round spreads over 1 s; wait for it and a little more.
    std::thread::sleep(Duration::from_secs(3));
    let stats = engine.stats().clone();
    stats.reset_histograms();
    let softirq0 = ksoftirqd_seconds();
    let (c0, f0, cpu0, t0) = (
        stats.completed(),
        stats.failed(),
        cpu_seconds(),
        Instant::now(),
    );
    std::thread::sleep(Duration::from_secs(seconds));
    let (c1, f1, cpu1, elapsed) = (
        stats.completed(),
        stats.failed(),
        cpu_seconds(),
        t0.elapsed(),
    );
    let mut downs = 0;
    while let Ok(event) = events.try_recv() {
        if matches!(event, Event::Down { .. }) {
            downs += 1;
        }
    }
    let rate = (c1 - c0) as f64 / elapsed.as_secs_f64();
    let softirq = (ksoftirqd_seconds() - softirq0) / elapsed.as_secs_f64();
    let user = (cpu1.0 - cpu0.0) / elapsed.as_secs_f64();
    let sys = (cpu1.1 - cpu0.1) / elapsed.as_secs_f64();
    let cpu = user + sys;
    let d = |q| {
        stats
            .duration_quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    let q = |q| {
        stats
            .lateness_quantile(q)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "{name}: {count} targets: {rate:.0} checks/s, {} failed, {downs} down events; CPU {:.1}% of one core \
         (user {:.1}% + sys {:.1}%; {:.2}% per 1,000 checks/s; \
         ksoftirqd {:.1}% more); peak RSS {:.1} MiB; start lateness p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms; \
         check duration p50 {:.2} ms, p99 {:.2} ms",
        f1 - f0,
        cpu * 100.0,
        user * 100.0,
        sys * 100.0,
        cpu * 100.0 / (rate / 1000.0),
        softirq * 100.0,
        peak_rss_mib(),
        q(0.5),
        q(0.99),
        q(0.999),
        d(0.5),
        d(0.99),
    );
    let _ = std::io::stdout().flush();
    engine.shutdown();
}

/// The scheduling core alone, in virtual time: what one check costs before any socket.
fn core_only(count: usize) {
    let mut scheduler = healthcheck::Scheduler::new(4);
    let start = Instant::now();
    scheduler
        .replace(targets(1, count, TCP_PORT, CheckKind::Tcp, false), start)
        .unwrap();
    while scheduler.poll_event().is_some() {}
    let rounds = 100;
    let end = start + Duration::from_secs(rounds);
    let mut now = start;
    let mut checks = 0u64;
    let began = Instant::now();
    while let Some(next) = scheduler.poll_timeout() {
        if next > end {
            break;
        }
        now = now.max(next);
        while let Some(due) = scheduler.poll_start(now) {
            scheduler.handle_result(due.token, healthcheck::Outcome::Pass(None), now);
            checks += 1;
        }
        while scheduler.poll_event().is_some() {}
    }
    let spent = began.elapsed();
    println!(
        "core only: {count} checks x {rounds} virtual seconds: {checks} checks in {:.3} s wall time, {:.0} ns per check",
        spent.as_secs_f64(),
        spent.as_nanos() as f64 / checks as f64
    );
}

/// The listener process: accept-and-close TCP listeners, and HTTP listeners answering 200.
fn serve(tcp: usize, http: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        for n in 0..tcp {
            let listener = tokio::net::TcpListener::bind((address(1, n), TCP_PORT))
                .await
                .expect("bind TCP listener");
            tokio::spawn(async move {
                loop {
                    if let Ok((stream, _)) = listener.accept().await {
                        drop(stream);
                    }
                }
            });
        }
        for n in 0..http {
            let listener = tokio::net::TcpListener::bind((address(2, n), HTTP_PORT))
                .await
                .expect("bind HTTP listener");
            tokio::spawn(async move {
                loop {
                    if let Ok((stream, _)) = listener.accept().await {
                        tokio::spawn(answer_http(stream));
                    }
                }
            });
        }
        println!("ready");
        let _ = std::io::stdout().flush();
        std::future::pending::<()>().await;
    });
}

async fn answer_http(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = [0u8; 1024];
    let mut head = Vec::new();
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let _ = stream
        .write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
        .await;
    let _ = stream.shutdown().await;
}
