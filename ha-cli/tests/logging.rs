//! `ha_cli::logging` end to end: entries through a real journal-like socket, the writer that
//! never blocks the logging thread, and `init` in child processes (it installs a global
//! subscriber, once per process), where `Auto` reads the real `JOURNAL_STREAM` and stderr.

mod common;
use common::journal::parse_journal_entry;

use std::io::Write;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ha_cli::logging::{
    self, JournalSocket, LogFormat, LogLevel, LoggingError, BUFFERED_LINES_LIMIT,
};

/// A bound on waits that should end at once, so that a broken build fails instead of hanging.
/// Not a timing assertion: nothing here is expected to take more than a fraction of it.
const HANG_LIMIT: Duration = Duration::from_secs(60);

fn temp_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("ha-logging-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A journal stand-in: a datagram socket bound at a path.
fn journal_listener(dir: &Path) -> (UnixDatagram, PathBuf) {
    let path = dir.join("journal.socket");
    let listener = UnixDatagram::bind(&path).unwrap();
    listener.set_read_timeout(Some(HANG_LIMIT)).unwrap();
    (listener, path)
}

fn receive_entry(listener: &UnixDatagram) -> Vec<(String, Vec<u8>)> {
    let mut buf = vec![0u8; 1 << 20];
    let n = listener.recv(&mut buf).expect("a journal datagram");
    parse_journal_entry(&buf[..n])
}

fn values<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
        .collect()
}

#[test]
fn journald_entries_reach_the_socket_as_one_datagram_each() {
    let dir = temp_dir("journald");
    let (listener, path) = journal_listener(&dir);
    let (writer, guard) = logging::non_blocking(JournalSocket::open(&path).unwrap());
    let subscriber = logging::subscriber(LogFormat::Journald, LogLevel::Debug, writer);
    let source_line = line!() + 4;
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("vrrp", instance = "VI_1");
        let _entered = span.enter();
        tracing::warn!(
            real_server = "10.0.0.2:80",
            weight = 0,
            "real server down:\nconnection refused"
        );
        tracing::debug!(target: "healthcheck", "second entry");
        tracing::trace!("below the level");
    });
    drop(guard); // writes out the queue

    let first = receive_entry(&listener);
    assert_eq!(
        values(&first, "MESSAGE"),
        ["real server down:\nconnection refused"]
    );
    assert_eq!(values(&first, "PRIORITY"), ["4"]);
    assert_eq!(values(&first, "SYSLOG_IDENTIFIER"), ["ha"]);
    assert_eq!(values(&first, "TARGET"), ["logging"]);
    assert_eq!(values(&first, "CODE_FILE"), [file!()]);
    assert_eq!(values(&first, "CODE_LINE"), [source_line.to_string()]);
    assert_eq!(values(&first, "HA_INSTANCE"), ["VI_1"]);
    assert_eq!(values(&first, "HA_REAL_SERVER"), ["10.0.0.2:80"]);
    assert_eq!(values(&first, "HA_WEIGHT"), ["0"]);
    let mut names: Vec<&str> = first.iter().map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "CODE_FILE",
            "CODE_LINE",
            "HA_INSTANCE",
            "HA_REAL_SERVER",
            "HA_WEIGHT",
            "MESSAGE",
            "PRIORITY",
            "SYSLOG_IDENTIFIER",
            "TARGET"
        ]
    );

    let second = receive_entry(&listener);
    assert_eq!(values(&second, "MESSAGE"), ["second entry"]);
    assert_eq!(values(&second, "PRIORITY"), ["7"]);
    assert_eq!(values(&second, "TARGET"), ["healthcheck"]);

    listener.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    let error = listener
        .recv(&mut buf)
        .expect_err("nothing below the level");
    assert_eq!(error.kind(), std::io::ErrorKind::WouldBlock);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Receives an entry passed as a memfd (an empty datagram with the fd); checks the seals
/// journald requires.
fn receive_memfd_entry(listener: &UnixDatagram) -> Vec<(String, Vec<u8>)> {
    use nix::fcntl::{fcntl, FcntlArg, SealFlag};
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    use std::os::fd::{AsRawFd as _, RawFd};

    let mut payload = [0u8; 64];
    let mut iov = [std::io::IoSliceMut::new(&mut payload)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let message = recvmsg::<UnixAddr>(
        listener.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("a journal datagram");
    assert_eq!(message.bytes, 0, "the entry is in the fd, not the datagram");
    let fd = message
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("a file descriptor");
    let seals = SealFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GET_SEALS).unwrap());
    let required = SealFlag::F_SEAL_SHRINK
        | SealFlag::F_SEAL_GROW
        | SealFlag::F_SEAL_WRITE
        | SealFlag::F_SEAL_SEAL;
    assert!(seals.contains(required), "seals {seals:?}");
    // Read through /proc: taking ownership of a received raw fd would need unsafe code.
    let entry = std::fs::read(format!("/proc/self/fd/{fd}")).unwrap();
    nix::unistd::close(fd).unwrap();
    parse_journal_entry(&entry)
}

#[test]
fn an_entry_too_large_for_a_datagram_is_passed_as_a_sealed_memfd() {
    let dir = temp_dir("memfd");
    let (listener, path) = journal_listener(&dir);
    let (writer, guard) = logging::non_blocking(JournalSocket::open(&path).unwrap());
    let subscriber = logging::subscriber(LogFormat::Journald, LogLevel::Info, writer);
    // 4 MiB: larger than any default socket send buffer (net.core.wmem_default, 208 KiB).
    let message = "virtual_server 10.0.0.1 80 {\n".repeat((4 << 20) / 29);
    tracing::subscriber::with_default(subscriber, || {
        tracing::error!(instance = "VI_1", "{message}");
        tracing::info!("small again");
    });
    drop(guard);

    let large = receive_memfd_entry(&listener);
    assert_eq!(values(&large, "MESSAGE"), [message.as_str()]);
    assert_eq!(values(&large, "PRIORITY"), ["3"]);
    assert_eq!(values(&large, "HA_INSTANCE"), ["VI_1"]);
    let small = receive_entry(&listener);
    assert_eq!(values(&small, "MESSAGE"), ["small again"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn journal_socket_refuses_a_path_nobody_listens_on() {
    let dir = temp_dir("unreachable");
    assert!(JournalSocket::open(dir.join("missing.socket")).is_err());
    // Bound once, then closed: the path exists but nobody receives.
    let path = dir.join("closed.socket");
    drop(UnixDatagram::bind(&path).unwrap());
    assert!(JournalSocket::open(&path).is_err());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A writer that never returns, like stderr into a pipe nobody reads.
struct StuckWriter;

impl Write for StuckWriter {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        loop {
            std::thread::park();
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs twice the queue's capacity on another thread, drops the guard there too, and waits
/// for it; returns the lines dropped.
fn log_past_a_stuck_writer<W: Write + Send + 'static>(format: LogFormat, writer: W) -> u64 {
    let (done_sender, done) = mpsc::channel();
    let (writer, guard) = logging::non_blocking(writer);
    std::thread::spawn(move || {
        let subscriber = logging::subscriber(format, LogLevel::Info, writer);
        tracing::subscriber::with_default(subscriber, || {
            for line in 0..2 * BUFFERED_LINES_LIMIT {
                tracing::info!(instance = "VI_1", line, "advert sent");
            }
        });
        let dropped = guard.dropped_lines();
        drop(guard);
        done_sender.send(dropped).unwrap();
    });
    done.recv_timeout(HANG_LIMIT)
        .expect("the logging thread waited on the writer")
}

#[test]
fn a_stuck_writer_never_blocks_the_logging_thread() {
    let dropped = log_past_a_stuck_writer(LogFormat::Text, StuckWriter);
    // The queue holds BUFFERED_LINES_LIMIT lines and the writer took at most one.
    let total = 2 * BUFFERED_LINES_LIMIT as u64;
    assert!(
        (total - BUFFERED_LINES_LIMIT as u64 - 1..=total - BUFFERED_LINES_LIMIT as u64)
            .contains(&dropped),
        "dropped {dropped} of {total}"
    );
}

#[test]
fn a_journal_that_does_not_read_never_blocks_the_logging_thread() {
    let dir = temp_dir("stalled");
    // Bound but never read: once its queue is full, sends block the writer thread.
    let (_listener, path) = journal_listener(&dir);
    let dropped = log_past_a_stuck_writer(LogFormat::Journald, JournalSocket::open(&path).unwrap());
    assert!(dropped > 0, "dropped {dropped}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// `init` in a child process: this test binary run again, with `CHILD` set, running only
// `child_process_entry`.

const CHILD: &str = "HA_LOGGING_TEST_CHILD";
const CHILD_FORMAT: &str = "HA_LOGGING_TEST_FORMAT";
const CHILD_SOCKET: &str = "HA_LOGGING_TEST_SOCKET";

/// In a child: `init` with the format and socket the parent gave, log, flush. In the normal
/// run of the tests it does nothing.
#[test]
fn child_process_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let format = match std::env::var(CHILD_FORMAT).unwrap().as_str() {
        "auto" => LogFormat::Auto,
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        "journald" => LogFormat::Journald,
        other => panic!("format {other}"),
    };
    let socket = PathBuf::from(std::env::var_os(CHILD_SOCKET).unwrap());
    let guard = logging::init_with_journal_socket(format, LogLevel::Info, &socket).unwrap();
    tracing::warn!(instance = "VI_1", "child event");
    tracing::debug!("below the level");
    assert!(matches!(
        logging::init(LogFormat::Text, LogLevel::Info),
        Err(LoggingError::AlreadyInstalled(_))
    ));
    assert_eq!(guard.dropped_lines(), 0);
}

/// Runs `child_process_entry` in a child with `format`, the journal socket `socket`, the
/// environment `env` (`JOURNAL_STREAM`, `RUST_LOG` unset unless given) and `stderr`.
fn run_child(
    format: &str,
    socket: &Path,
    env: &[(&str, &str)],
    stderr: impl Into<Stdio>,
) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .env(CHILD_FORMAT, format)
        .env(CHILD_SOCKET, socket)
        .env_remove("JOURNAL_STREAM")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "child: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Splits a text line into its timestamp and the rest, checking the timestamp's shape.
fn after_timestamp(line: &str) -> &str {
    let (timestamp, rest) = line.split_once(' ').unwrap();
    let pattern = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    assert!(
        timestamp.len() == pattern.len()
            && timestamp
                .chars()
                .zip(pattern.chars())
                .all(|(c, p)| if p == 'd' { c.is_ascii_digit() } else { c == p }),
        "timestamp of {line:?}"
    );
    rest
}

fn nothing_received(listener: &UnixDatagram) -> bool {
    listener.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 64];
    matches!(listener.recv(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

#[test]
fn auto_sends_to_the_journal_when_stderr_is_the_journal_stream() {
    let dir = temp_dir("auto-journal");
    let (listener, socket) = journal_listener(&dir);
    // systemd names the stream it gave as stderr; a file stands in for it here.
    let stderr_path = dir.join("stderr");
    let stderr = std::fs::File::create(&stderr_path).unwrap();
    let metadata = stderr.metadata().unwrap();
    let journal_stream = format!("{}:{}", metadata.dev(), metadata.ino());
    run_child(
        "auto",
        &socket,
        &[("JOURNAL_STREAM", &journal_stream)],
        stderr,
    );
    // The child flushed before it exited: the entry is queued already.
    listener.set_nonblocking(true).unwrap();
    let entry = receive_entry(&listener);
    assert_eq!(values(&entry, "MESSAGE"), ["child event"]);
    assert_eq!(values(&entry, "HA_INSTANCE"), ["VI_1"]);
    assert_eq!(values(&entry, "PRIORITY"), ["4"]);
    assert!(nothing_received(&listener), "one entry only");
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(!stderr.contains("child event"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn auto_writes_text_when_stderr_is_not_the_journal_stream() {
    let dir = temp_dir("auto-text");
    let (listener, socket) = journal_listener(&dir);
    // Inherited from a parent whose stderr was the journal; ours is a pipe.
    let other = std::fs::File::create(dir.join("other"))
        .unwrap()
        .metadata()
        .unwrap();
    let journal_stream = format!("{}:{}", other.dev(), other.ino());
    let output = run_child(
        "auto",
        &socket,
        &[("JOURNAL_STREAM", &journal_stream)],
        Stdio::piped(),
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert_eq!(
        after_timestamp(lines[0]),
        " WARN logging: instance=VI_1 child event"
    );
    assert!(nothing_received(&listener));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unreachable_journal_falls_back_to_text_with_one_warning() {
    let dir = temp_dir("fallback");
    let socket = dir.join("no-journal-here");
    let output = run_child("journald", &socket, &[], Stdio::piped());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let warning = after_timestamp(lines[0]);
    assert!(
        warning.starts_with(&format!(
            " WARN ha_cli::logging: socket={} error=",
            socket.display()
        )),
        "{warning}"
    );
    assert!(
        warning.ends_with("cannot reach the journal; logging text to stderr"),
        "{warning}"
    );
    assert_eq!(
        after_timestamp(lines[1]),
        " WARN logging: instance=VI_1 child event"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_invalid_rust_log_is_reported_and_the_level_used() {
    let dir = temp_dir("rust-log");
    let socket = dir.join("unused");
    let output = run_child(
        "text",
        &socket,
        &[("RUST_LOG", "director=loud")],
        Stdio::piped(),
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    let warning = after_timestamp(lines[0]);
    assert!(
        warning.starts_with(" WARN ha_cli::logging: rust_log=\"director=loud\" error=")
            && warning.ends_with("RUST_LOG ignored"),
        "{warning}"
    );
    assert_eq!(
        after_timestamp(lines[1]),
        " WARN logging: instance=VI_1 child event"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_invalid_rust_log_is_reported_in_the_journal_too() {
    let dir = temp_dir("rust-log-journal");
    let (listener, socket) = journal_listener(&dir);
    let output = run_child(
        "journald",
        &socket,
        &[("RUST_LOG", "director=loud")],
        Stdio::piped(),
    );
    assert_eq!(String::from_utf8(output.stderr).unwrap(), "");
    listener.set_nonblocking(true).unwrap();
    let warning = receive_entry(&listener);
    assert_eq!(values(&warning, "MESSAGE"), ["RUST_LOG ignored"]);
    assert_eq!(values(&warning, "HA_RUST_LOG"), ["director=loud"]);
    assert_eq!(values(&warning, "PRIORITY"), ["4"]);
    let event = receive_entry(&listener);
    assert_eq!(values(&event, "MESSAGE"), ["child event"]);
    assert!(nothing_received(&listener));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn rust_log_overrides_the_level_in_init() {
    let dir = temp_dir("rust-log-debug");
    let output = run_child(
        "text",
        &dir.join("unused"),
        &[("RUST_LOG", "debug")],
        Stdio::piped(),
    );
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert_eq!(after_timestamp(lines[1]), "DEBUG logging: below the level");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn json_goes_to_stderr_one_object_per_line() {
    let dir = temp_dir("json");
    let output = run_child("json", &dir.join("unused"), &[], Stdio::piped());
    let stderr = String::from_utf8(output.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(event["level"], "WARN");
    assert_eq!(event["target"], "logging");
    assert_eq!(event["fields"]["message"], "child event");
    assert_eq!(event["fields"]["instance"], "VI_1");
    std::fs::remove_dir_all(&dir).unwrap();
}
