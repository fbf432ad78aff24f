//! keepalived's process habits on `ha run` in a namespace (privileged): its flags from
//! `DAEMON_ARGS`, its pid files, its dump signals (the files written under the dump
//! directory, their paths logged), no signal of keepalived's killing the director, and
//! systemd's notify protocol with the watchdog fed only while the VRRP thread turns.

mod common;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::ha::{example, Director};
use common::netns::{require_root, veth_pair_named};
use nix::sys::signal::Signal;
use testkit::wait_until;

const VIP: &str = "192.168.2.200";

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ha-habits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A datagram socket standing in for systemd's `$NOTIFY_SOCKET`, read as the datagrams
/// come, each with its arrival time.
struct Notifications {
    path: PathBuf,
    got: std::sync::Arc<std::sync::Mutex<Vec<(Instant, String)>>>,
}

impl Notifications {
    fn listen(dir: &Path) -> Notifications {
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = std::sync::Arc::clone(&got);
        // Ends with the test process (the socket file is removed with the scratch dir).
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok(n) = socket.recv(&mut buf) {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock().unwrap().push((Instant::now(), text));
            }
        });
        Notifications { path, got }
    }

    fn all(&self) -> Vec<(Instant, String)> {
        self.got.lock().unwrap().clone()
    }
}

fn kill(director: &Director, signal: i32) {
    let rc = unsafe { nix::libc::kill(director.child.id() as i32, signal) };
    assert_eq!(rc, 0);
}

fn alive(director: &mut Director) -> bool {
    director.child.try_wait().unwrap().is_none()
}

#[test]
fn keepalived_flags_pid_files_dump_signals_and_the_watchdog() {
    if !require_root("keepalived_flags_pid_files_dump_signals_and_the_watchdog") {
        return;
    }
    let dir = scratch("signals");
    let notify = Notifications::listen(&dir);
    let (ns, _peer) = veth_pair_named(
        "hk",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let pid_file = dir.join("keepalived.pid");
    let vrrp_pid_file = dir.join("vrrp.pid");
    let dumps = dir.join("dumps");
    // Debian's keepalived unit: `keepalived --dont-fork $DAEMON_ARGS`.
    let mut director = Director::start_path_with(
        &ns,
        &example("lvs1.conf"),
        &[
            "--dont-fork",
            "-D",
            "-S",
            "local1",
            "--vrrp",
            "--pid",
            pid_file.to_str().unwrap(),
            "-r",
            vrrp_pid_file.to_str().unwrap(),
            "--dump-dir",
            dumps.to_str().unwrap(),
        ],
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
        ],
    );
    let pid = director.child.id();
    wait_until("lvs1 master", Duration::from_secs(8), || {
        testkit::has_address(&ns, "ens32", &format!("{VIP}/32"))
    });
    for file in [&pid_file, &vrrp_pid_file] {
        assert_eq!(
            std::fs::read_to_string(file).unwrap(),
            format!("{pid}\n"),
            "{}",
            file.display()
        );
    }

    // READY=1 first, then WATCHDOG=1 every half second (WATCHDOG_USEC is 1 s).
    std::thread::sleep(Duration::from_millis(1000));
    let got = notify.all();
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(texts.first(), Some(&"READY=1"), "{texts:?}");
    let feeds: Vec<Instant> = got
        .iter()
        .filter(|(_, t)| t == "WATCHDOG=1")
        .map(|(at, _)| *at)
        .collect();
    assert!(feeds.len() >= 3, "{texts:?}");
    for pair in feeds.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(350) && gap <= Duration::from_millis(800),
            "feeds {gap:?} apart: {texts:?}"
        );
    }

    // keepalived's dump signals: each file appears, written whole, and its path is logged.
    let jsonsig = ha_cli::signals::sigjson();
    for (signal, file) in [
        (nix::libc::SIGUSR1, "keepalived.data"),
        (nix::libc::SIGUSR2, "keepalived.stats"),
        (jsonsig, "keepalived.json"),
    ] {
        kill(&director, signal);
        let path = dumps.join(file);
        wait_until(file, Duration::from_secs(5), || path.exists());
        wait_until("the path in the log", Duration::from_secs(5), || {
            director
                .log()
                .contains(&format!("wrote {}", path.display()))
        });
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dumps.join("keepalived.json")).unwrap())
            .unwrap();
    assert_eq!(json[0]["data"]["iname"], "VI_1");
    assert_eq!(json[0]["data"]["state"], 2);
    assert_eq!(json[0]["data"]["vrid"], 51);
    assert_eq!(
        json[0]["data"]["vips"][0], "192.168.2.200 dev ens32 scope global",
        "{json}"
    );
    assert!(json[0]["stats"]["advert_sent"].as_u64().unwrap() >= 1);
    assert_eq!(json[0]["stats"]["become_master"], 1);
    let data = std::fs::read_to_string(dumps.join("keepalived.data")).unwrap();
    assert!(
        data.contains(" VRRP Instance = VI_1\n") && data.contains("   State = MASTER\n"),
        "{data}"
    );
    assert!(
        data.contains("     192.168.2.200 dev ens32 scope global set\n"),
        "{data}"
    );
    let stats = std::fs::read_to_string(dumps.join("keepalived.stats")).unwrap();
    assert!(
        stats.starts_with("VRRP Instance: VI_1\n  Advertisements:\n"),
        "{stats}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dumps.join("keepalived.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    // The rest of keepalived's signals: none stops or kills the director.
    for signal in [
        nix::libc::SIGHUP,
        ha_cli::signals::sigstats_clear(),
        ha_cli::signals::sigtdump(),
    ] {
        kill(&director, signal);
    }
    wait_until(
        "the reload and the dumps logged",
        Duration::from_secs(10),
        || {
            let log = director.log();
            log.contains("reloaded:")
                && log.contains("SIGRTMAX-1: wrote")
                && log.contains("SIGRTMAX: thread dumps are not supported")
        },
    );
    assert!(alive(&mut director), "{}", director.log());
    assert!(
        testkit::has_address(&ns, "ens32", &format!("{VIP}/32")),
        "still master"
    );
    let log = director.log();
    assert!(log.contains("-S/--log-facility local1 ignored"), "{log}");

    // SIGTERM: a clean stop, the pid files gone.
    director.signal(Signal::SIGTERM);
    assert!(!pid_file.exists() && !vrrp_pid_file.exists());
    std::thread::sleep(Duration::from_millis(200));
    let stop = notify.all();
    assert!(
        stop.iter().any(|(_, t)| t == "STOPPING=1"),
        "{:?}",
        stop.iter().map(|(_, t)| t).collect::<Vec<_>>()
    );
    drop(director);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stuck_vrrp_thread_starves_the_watchdog() {
    if !require_root("a_stuck_vrrp_thread_starves_the_watchdog") {
        return;
    }
    let dir = scratch("stall");
    let notify = Notifications::listen(&dir);
    let (ns, _peer) = veth_pair_named(
        "hw",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let mut director = Director::start_path_with(
        &ns,
        &example("lvs1.conf"),
        &["--vrrp", "--dump-dir", dir.to_str().unwrap()],
        &[
            ("NOTIFY_SOCKET", notify.path.to_str().unwrap()),
            ("WATCHDOG_USEC", "1000000"),
            // The VRRP thread hangs 2 s after the start; the rest of the director goes on.
            ("HA_FAULT_STALL", "vrrp@2"),
        ],
    );
    std::thread::sleep(Duration::from_secs(5));
    let got = notify.all();
    assert_eq!(got[0].1, "READY=1");
    let start = got[0].0;
    let feeds: Vec<Duration> = got
        .iter()
        .filter(|(_, t)| t == "WATCHDOG=1")
        .map(|(at, _)| *at - start)
        .collect();
    assert!(!feeds.is_empty(), "fed while the thread ran");
    assert!(
        feeds.iter().all(|at| *at < Duration::from_millis(2900)),
        "fed after the VRRP thread stalled: {feeds:?}"
    );
    assert!(alive(&mut director), "the director itself still answers");
    assert!(
        director.log().contains("not feeding the systemd watchdog"),
        "{}",
        director.log()
    );
    drop(director);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn keepalived_flags_that_cannot_work_are_refused() {
    for (args, said) in [
        (&["-s", "blue"][..], "--namespace blue: not supported"),
        (&["-t"][..], "use `ha check -f FILE`"),
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["run", "-f", "/nonexistent.conf"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(said), "{args:?}: {err}");
    }
}

#[test]
fn ha_status_filters_and_watches() {
    if !require_root("ha_status_filters_and_watches") {
        return;
    }
    let (ns, _peer) = veth_pair_named(
        "hs",
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    );
    let director = Director::start_path_with(&ns, &example("lvs1.conf"), &["--vrrp"], &[]);
    let ha = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
            .arg("status")
            .args(args)
            .arg("--socket")
            .arg(&director.socket)
            .output()
            .unwrap()
    };
    let out = ha(&["VI_1", "--json"]);
    assert!(out.status.success());
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["instances"].as_array().unwrap().len(), 1);
    assert_eq!(st["instances"][0]["name"], "VI_1");
    let out = ha(&["VI_9"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no instance VI_9 (instances: VI_1)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // --watch redraws until interrupted.
    let watch = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
        .args(["status", "VI_1", "--watch", "0.2", "--socket"])
        .arg(&director.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(900));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(watch.id() as i32),
        Signal::SIGINT,
    )
    .unwrap();
    let out = watch.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let frames = text.matches("Every 0.2s: ha status VI_1").count();
    assert!(frames >= 3, "{frames} frames:\n{text}");
    assert!(text.contains("\x1b[H\x1b[2J"));
    assert!(text.contains("VI_1"), "{text}");
}

/// keepalived's flags that change nothing in ha are accepted, each with a warning that names
/// it (so `/etc/default/keepalived`'s DAEMON_ARGS start ha); the configuration is read after.
#[test]
fn keepalived_flags_without_effect_are_warned() {
    let ignored = [
        (&["-X"][..], "-X/--release-vips"),
        (&["-d"][..], "-d/--dump-conf"),
        (&["-a"][..], "-a/--address-monitoring"),
        (&["-b", "/tmp/bfd.pid"][..], "-b/--bfd_pid"),
        (&["-x"][..], "-x/--snmp"),
        (&["-A", "/tmp/agentx"][..], "-A/--snmp-agent-socket"),
        (&["-m"][..], "-m/--core-dump"),
        (&["-M"][..], "-M/--core-dump-pattern"),
        (&["-e"][..], "-e/--all-config"),
        (&["-S", "local7"][..], "-S/--log-facility local7 ignored"),
    ];
    // Flags whose meaning ha has anyway (it never forks, syslogs or has children): silent.
    let silent = ["-n", "-G", "-B", "-R", "--all", "-l", "-D", "-V", "-I"];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
        .args([
            "run",
            "-f",
            "/nonexistent/keepalived.conf",
            "--log-format",
            "text",
        ])
        .args(ignored.iter().flat_map(|(args, _)| args.iter()))
        .args(silent)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    // Refused for the missing file, after the warnings: not for a flag.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/keepalived.conf"), "{err}");
    for (_, said) in ignored {
        assert!(err.contains(said), "no warning for {said}: {err}");
    }
    let warnings = err.lines().filter(|l| l.contains("WARN")).count();
    assert_eq!(
        warnings,
        ignored.len(),
        "one warning per ignored flag: {err}"
    );
}

/// `ha run --signum NAME` prints what `keepalived --signum=NAME` prints, with its exit status,
/// so that `kill -s $(... --signum=DATA)` in operators' scripts works with either.
#[test]
fn signum_prints_keepalived_s_numbers() {
    let keepalived = std::process::Command::new("keepalived")
        .arg("--version")
        .output();
    if keepalived.is_err() {
        testkit::skip(
            "signum_prints_keepalived_s_numbers",
            "keepalived is not installed",
        );
        return;
    }
    for name in [
        "STOP",
        "RELOAD",
        "DATA",
        "STATS",
        "STATS_CLEAR",
        "JSON",
        "TDUMP",
        "nope",
    ] {
        let theirs = std::process::Command::new("keepalived")
            .arg(format!("--signum={name}"))
            .output()
            .unwrap();
        let ours = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["run", &format!("--signum={name}")])
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{name}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stdout),
            String::from_utf8_lossy(&theirs.stdout),
            "{name}"
        );
    }
}

/// ha.service runs `ha run --dont-fork -f $CONFIG $DAEMON_ARGS`: a `-f` copied from
/// keepalived's DAEMON_ARGS wins, as the last `-f` does for keepalived, and a flag given
/// again (`-n`, `-D -D`) is no error.
#[test]
fn the_last_use_file_wins_and_repeated_flags_are_taken_once() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ha"))
        .args(["run", "--dont-fork", "--log-format", "text"])
        .args(["-f", "/nonexistent/from-config.conf"])
        .args(["-n", "-D", "-D", "--log-format", "text"])
        .args(["-f", "/nonexistent/from-daemon-args.conf"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent/from-daemon-args.conf"), "{err}");
    assert!(!err.contains("from-config.conf"), "{err}");
}
