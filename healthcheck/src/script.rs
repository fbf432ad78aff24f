//! Running a keepalived script: the one way every script of the director runs (`MISC_CHECK`,
//! `vrrp_script`, notify scripts, `notify_up`/`notify_down`, `quorum_up`/`quorum_down`).
//!
//! keepalived's rules, kept here:
//! - no shell: the line is split into argv as keepalived splits it ([`split_command`]);
//! - as `script_user` (or the checker's `user`): uid and primary gid set, supplementary
//!   groups cleared (the standard library drops them when it sets the uid as root);
//! - in a process group of its own, so that a timeout kills whatever the script started;
//! - stdin from /dev/null.
//!
//! And what keepalived does not do but an HA daemon needs: every script has a timeout; its
//! stdout and stderr are read line by line into the log (at most [`OUTPUT_LINES`] lines of at
//! most [`OUTPUT_LINE_BYTES`] bytes per run, the rest read and dropped, so that a chatty script
//! can neither block on a full pipe nor flood the journal); children are reaped by tokio, with
//! no thread per script.
//!
//! ```no_run
//! # async fn f() {
//! use std::time::Duration;
//! use healthcheck::script::{Script, ScriptExit};
//! let script = Script::new("notify_master VI_1", "/etc/ha/master.sh", Duration::from_secs(30));
//! let exit = script.run(&["INSTANCE".into(), "VI_1".into()]).await;
//! assert!(matches!(exit, ScriptExit::Exited(0)));
//! # }
//! ```

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

pub use crate::checkers::misc::split_command;

/// How long a stopped script has between SIGTERM and SIGKILL (keepalived's one second for
/// the scripts it terminates at shutdown).
pub const STOP_GRACE: Duration = Duration::from_secs(1);

/// Lines of a script's output logged per run; the rest is read and dropped.
pub const OUTPUT_LINES: usize = 20;
/// Bytes of one output line logged; the rest of the line is dropped.
pub const OUTPUT_LINE_BYTES: usize = 1024;

/// A script ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// What the log calls it (`vrrp_script chk_haproxy`, `notify_master VI_1`, ...).
    pub label: String,
    /// The program and its arguments, split as keepalived splits the line.
    pub argv: Vec<String>,
    /// Run as this user and group; `None` runs as the director's user.
    pub user: Option<(Uid, Gid)>,
    /// Killed (the whole process group) after this long.
    pub timeout: Duration,
    /// Whether stdout and stderr go to the log (else to /dev/null, as checks that run every
    /// second would flood it).
    pub log_output: bool,
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptExit {
    /// Exited with this status.
    Exited(i32),
    /// Killed by this signal (not by us).
    Signalled(i32),
    /// Still running at the timeout: its process group was killed.
    TimedOut(Duration),
    /// Could not be started (no such file, not executable, no such user, ...).
    NotStarted(String),
    /// Stopped by its caller (the director shutting down): SIGTERM to its process group,
    /// SIGKILL [`STOP_GRACE`] later if still running.
    Stopped,
}

impl ScriptExit {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        *self == ScriptExit::Exited(0)
    }
}

impl std::fmt::Display for ScriptExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScriptExit::Exited(code) => write!(f, "exited with status {code}"),
            ScriptExit::Signalled(signal) => write!(f, "killed by signal {signal}"),
            ScriptExit::TimedOut(after) => write!(f, "timed out after {after:?} and was killed"),
            ScriptExit::NotStarted(why) => write!(f, "could not be started: {why}"),
            ScriptExit::Stopped => {
                write!(f, "stopped (SIGTERM, then SIGKILL after {STOP_GRACE:?})")
            }
        }
    }
}

impl Script {
    /// A script from a keepalived command line, run as the director's user, output logged.
    pub fn new(label: impl Into<String>, line: &str, timeout: Duration) -> Script {
        Script {
            label: label.into(),
            argv: split_command(line),
            user: None,
            timeout,
            log_output: true,
        }
    }

    /// Runs the script once with `extra` arguments after its own, and waits for it (at most
    /// its timeout). Dropping the future kills the script's process group.
    pub async fn run(&self, extra: &[String]) -> ScriptExit {
        self.run_until(extra, std::future::pending()).await
    }

    /// As [`Script::run`], but when `stop` completes first the script is stopped as keepalived
    /// stops its scripts at shutdown: SIGTERM to its process group, then SIGKILL after
    /// [`STOP_GRACE`].
    pub async fn run_until(
        &self,
        extra: &[String],
        stop: impl std::future::Future<Output = ()>,
    ) -> ScriptExit {
        let Some(program) = self.argv.first() else {
            return ScriptExit::NotStarted("empty command line".into());
        };
        let output = || {
            if self.log_output {
                Stdio::piped()
            } else {
                Stdio::null()
            }
        };
        let mut command = Command::new(program);
        command
            .args(&self.argv[1..])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(output())
            .stderr(output())
            .process_group(0)
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.user {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return ScriptExit::NotStarted(format!("{program}: {e}")),
        };
        let mut group = GroupGuard(child.id());
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let run = async {
            let (status, (), ()) = tokio::join!(
                child.wait(),
                log_lines(&self.label, "stdout", stdout),
                log_lines(&self.label, "stderr", stderr),
            );
            status
        };
        // Boxed so that it can be dropped (releasing the child) before the child is reaped.
        let mut run = Box::pin(run);
        let finished = tokio::select! {
            finished = tokio::time::timeout(self.timeout, &mut run) => finished,
            () = stop => {
                group.signal(Signal::SIGTERM);
                let ended = tokio::time::timeout(STOP_GRACE, &mut run).await.is_ok();
                drop(run);
                if ended {
                    group.disarm();
                } else {
                    group.kill();
                    let _ = child.wait().await;
                }
                return ScriptExit::Stopped;
            }
        };
        drop(run);
        match finished {
            Ok(Ok(status)) => {
                // Exited by itself: what it left running in the background is its business.
                group.disarm();
                match (status.code(), status.signal()) {
                    (Some(code), _) => ScriptExit::Exited(code),
                    (None, Some(signal)) => ScriptExit::Signalled(signal),
                    (None, None) => ScriptExit::NotStarted("no exit status".into()),
                }
            }
            Ok(Err(e)) => ScriptExit::NotStarted(format!("{program}: wait: {e}")),
            Err(_) => {
                group.kill();
                let _ = child.wait().await;
                ScriptExit::TimedOut(self.timeout)
            }
        }
    }
}

/// Reads a script's output to its end, logging the first [`OUTPUT_LINES`] lines.
async fn log_lines(label: &str, stream: &'static str, pipe: Option<impl AsyncRead + Unpin>) {
    let Some(pipe) = pipe else {
        return;
    };
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    let mut logged = 0;
    let mut dropped = 0usize;
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if logged == OUTPUT_LINES {
            dropped += 1;
            continue;
        }
        logged += 1;
        let end = line.len().min(OUTPUT_LINE_BYTES);
        let text = String::from_utf8_lossy(&line[..end]);
        tracing::info!(script = label, stream, "{}", text.trim_end());
    }
    if dropped > 0 {
        tracing::info!(
            script = label,
            stream,
            "{dropped} more line(s) of output not logged"
        );
    }
}

/// The process group of a running script, killed on drop unless disarmed.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    /// Sends `signal` to the group, which stays armed.
    fn signal(&self, signal: Signal) {
        if let Some(pid) = self.0 {
            let _ = killpg(Pid::from_raw(pid as i32), signal);
        }
    }

    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // The group id is the script's pid (`process_group(0)`). It may be gone already.
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }

    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn sh(body: &str, timeout: Duration) -> Script {
        Script {
            label: "test".into(),
            argv: vec!["/bin/sh".into(), "-c".into(), body.into(), "sh".into()],
            user: None,
            timeout,
            log_output: true,
        }
    }

    /// A stopped script gets SIGTERM; one that ignores it is killed STOP_GRACE later, with
    /// what it started.
    #[test]
    fn a_stopped_script_gets_sigterm_then_sigkill() {
        let rt = runtime();
        let long = Duration::from_secs(60);
        let marker = format!("/tmp/ha-stop-test-{}", std::process::id());
        let stop_soon = || async { tokio::time::sleep(Duration::from_millis(200)).await };
        let polite = sh(
            &format!("trap 'echo term > {marker}; exit 0' TERM; sleep 60 & wait"),
            long,
        );
        let started = std::time::Instant::now();
        assert_eq!(
            rt.block_on(polite.run_until(&[], stop_soon())),
            ScriptExit::Stopped
        );
        assert!(started.elapsed() < STOP_GRACE, "{:?}", started.elapsed());
        assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "term");
        let stubborn = sh("trap '' TERM; sleep 60 & wait; sleep 60", long);
        let started = std::time::Instant::now();
        assert_eq!(
            rt.block_on(stubborn.run_until(&[], stop_soon())),
            ScriptExit::Stopped
        );
        assert!(started.elapsed() >= STOP_GRACE, "{:?}", started.elapsed());
        let _ = std::fs::remove_file(&marker);
    }

    #[test]
    fn exit_status_signal_and_missing_program() {
        let rt = runtime();
        let long = Duration::from_secs(20);
        assert_eq!(
            rt.block_on(sh("exit 0", long).run(&[])),
            ScriptExit::Exited(0)
        );
        assert_eq!(
            rt.block_on(sh("exit 3", long).run(&[])),
            ScriptExit::Exited(3)
        );
        assert_eq!(
            rt.block_on(sh("kill -TERM $$", long).run(&[])),
            ScriptExit::Signalled(15)
        );
        let missing = Script::new("missing", "/nonexistent/script arg", long);
        assert!(matches!(
            rt.block_on(missing.run(&[])),
            ScriptExit::NotStarted(why) if why.contains("/nonexistent/script")
        ));
        let empty = Script::new("empty", "   ", long);
        assert!(matches!(
            rt.block_on(empty.run(&[])),
            ScriptExit::NotStarted(_)
        ));
    }

    #[test]
    fn extra_arguments_follow_the_configured_ones() {
        let rt = runtime();
        let script = sh(r#"[ "$1 $2" = "INSTANCE VI_1" ]"#, Duration::from_secs(20));
        let exit = rt.block_on(script.run(&["INSTANCE".into(), "VI_1".into()]));
        assert_eq!(exit, ScriptExit::Exited(0));
    }

    #[test]
    fn a_timeout_kills_the_whole_process_group() {
        let rt = runtime();
        let dir = std::env::temp_dir().join(format!("ha-script-group-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pidfile = dir.join("child.pid");
        // The script starts a grandchild and waits; both must die at the timeout.
        let body = format!("sleep 60 & echo $! > {}; wait", pidfile.display());
        let exit = rt.block_on(sh(&body, Duration::from_millis(300)).run(&[]));
        assert_eq!(exit, ScriptExit::TimedOut(Duration::from_millis(300)));
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed, then reaped by init (or still a zombie for a moment): not running `sleep`.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if state.is_none() || state == Some("Z") {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the grandchild {pid} survived the timeout: {stat}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Runs `script` with a subscriber that captures the log, and returns both.
    fn run_logged(script: &Script) -> (ScriptExit, String) {
        #[derive(Clone, Default)]
        struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl std::io::Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let exit =
            tracing::subscriber::with_default(subscriber, || runtime().block_on(script.run(&[])));
        let log = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        (exit, log)
    }

    #[test]
    fn output_is_logged_line_by_line() {
        let script = sh("echo hello; echo oops >&2; exit 0", Duration::from_secs(20));
        let (exit, log) = run_logged(&script);
        assert!(exit.success());
        assert!(
            log.contains("hello") && log.contains("stream=\"stdout\""),
            "{log}"
        );
        assert!(
            log.contains("oops") && log.contains("stream=\"stderr\""),
            "{log}"
        );
        assert!(log.contains("script=\"test\""), "{log}");
    }

    #[test]
    fn a_flood_of_output_neither_blocks_the_script_nor_floods_the_log() {
        // 200,000 lines (far beyond a pipe's buffer): the script finishes because its
        // output is read, and only the first lines reach the log.
        let script = sh(
            "i=0; while [ $i -lt 200000 ]; do echo line $i; i=$((i+1)); done; exit 7",
            Duration::from_secs(120),
        );
        let (exit, log) = run_logged(&script);
        assert_eq!(exit, ScriptExit::Exited(7));
        assert_eq!(log.lines().count(), OUTPUT_LINES + 1, "{log}");
        assert!(
            log.contains("line 19") && !log.contains("line 20\n"),
            "{log}"
        );
        assert!(
            log.contains("199980 more line(s) of output not logged"),
            "{log}"
        );
    }

    #[test]
    fn output_can_be_discarded() {
        let mut script = sh("echo hello; echo oops >&2; exit 0", Duration::from_secs(20));
        script.log_output = false;
        let (exit, log) = run_logged(&script);
        assert!(exit.success());
        assert!(log.is_empty(), "{log}");
    }
}
