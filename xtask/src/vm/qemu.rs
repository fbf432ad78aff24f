//! Booting the guest under qemu (TCG: KVM is not available on the build machines) and reading
//! its serial console.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use super::host::{env_nonempty, find_program};
use super::kernel::Kernel;
use super::{Error, Result};

/// The guest's init prints this, a space and the payload's exit status, then powers off.
pub const RESULT_SENTINEL: &str = "XTASK-RESULT:";
/// Overrides [`Vm::timeout`], in seconds.
const TIMEOUT_ENV: &str = "XTASK_VM_TIMEOUT";
/// How long qemu may take to exit after the guest reported its result.
const POWEROFF_GRACE: Duration = Duration::from_secs(20);

/// One boot of the guest kernel with an initramfs.
#[derive(Debug, Clone)]
pub struct Vm {
    pub vmlinuz: PathBuf,
    pub initrd: PathBuf,
    pub memory_mib: u32,
    pub cpus: u32,
    /// Kernel command line.
    pub append: String,
    /// Kills qemu when the guest has not reported by then (default 900 s, or
    /// `$XTASK_VM_TIMEOUT` seconds).
    pub timeout: Duration,
}

impl Vm {
    pub fn new(kernel: &Kernel, initrd: PathBuf) -> Vm {
        let timeout = env_nonempty(TIMEOUT_ENV)
            .and_then(|seconds| seconds.parse().ok())
            .map(Duration::from_secs)
            .unwrap_or(Duration::from_secs(900));
        Vm {
            vmlinuz: kernel.vmlinuz.clone(),
            initrd,
            memory_mib: 1024,
            cpus: 1,
            append: "console=ttyS0 quiet panic=-1".into(),
            timeout,
        }
    }

    fn command(&self) -> Result<Command> {
        let mut command = Command::new(find_program("qemu-system-x86_64")?);
        command
            .args(["-accel", "tcg", "-cpu", "max", "-m"])
            .arg(self.memory_mib.to_string())
            .arg("-smp")
            .arg(self.cpus.to_string())
            .args([
                "-nodefaults",
                "-no-user-config",
                "-no-reboot",
                "-display",
                "none",
            ])
            .arg("-kernel")
            .arg(&self.vmlinuz)
            .arg("-initrd")
            .arg(&self.initrd)
            .arg("-append")
            .arg(&self.append);
        Ok(command)
    }

    /// Boots, hands each console line (without its line ending) to `on_line`, and returns the
    /// exit status the guest reported. Fails on timeout (killing qemu) or when the guest stops
    /// without reporting.
    pub fn run(&self, mut on_line: impl FnMut(&str)) -> Result<i32> {
        let mut command = self.command()?;
        command
            .args(["-serial", "stdio", "-monitor", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: "qemu-system-x86_64".into(),
            source,
        })?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines_tx, lines) = mpsc::channel();
        let reader = thread::spawn(move || {
            let mut stdout = BufReader::new(stdout);
            let mut line = Vec::new();
            loop {
                line.clear();
                match stdout.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let text = String::from_utf8_lossy(&line);
                        let text = text.trim_end_matches(['\r', '\n']).to_string();
                        if lines_tx.send(text).is_err() {
                            break;
                        }
                    }
                }
            }
        });

        let started = Instant::now();
        let mut deadline = started + self.timeout;
        let mut result = None;
        let outcome = loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            match lines.recv_timeout(remaining) {
                Ok(line) => {
                    on_line(&line);
                    if result.is_none() {
                        if let Some(code) = parse_result_line(&line) {
                            result = Some(code);
                            deadline = Instant::now() + POWEROFF_GRACE;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = wait(&mut child)?;
                    break result.ok_or(Error::NoResult(status));
                }
                Err(RecvTimeoutError::Timeout) => {
                    kill(&mut child)?;
                    break result.ok_or(Error::Timeout(self.timeout));
                }
            }
        };
        let _ = reader.join();
        outcome
    }

    /// Boots with the serial console on this terminal (qemu's monitor muxed in: Ctrl-A x
    /// quits) and returns qemu's exit status.
    pub fn run_interactive(&self) -> Result<ExitStatus> {
        let mut command = self.command()?;
        command.args(["-serial", "mon:stdio"]);
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            command: "qemu-system-x86_64".into(),
            source,
        })?;
        wait(&mut child)
    }
}

fn wait(child: &mut Child) -> Result<ExitStatus> {
    child.wait().map_err(|source| Error::Spawn {
        command: "qemu-system-x86_64 (wait)".into(),
        source,
    })
}

fn kill(child: &mut Child) -> Result<()> {
    let _ = child.kill();
    wait(child).map(drop)
}

/// The exit status in a `XTASK-RESULT: <code>` line; `None` for any other line.
pub fn parse_result_line(line: &str) -> Option<i32> {
    line.strip_prefix(RESULT_SENTINEL)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_parses_exit_status() {
        assert_eq!(parse_result_line("XTASK-RESULT: 0"), Some(0));
        assert_eq!(parse_result_line("XTASK-RESULT: 101"), Some(101));
        assert_eq!(parse_result_line("XTASK-RESULT: 3 "), Some(3));
    }

    #[test]
    fn other_lines_are_not_results() {
        assert_eq!(parse_result_line("test result: ok. 3 passed"), None);
        assert_eq!(parse_result_line("echo XTASK-RESULT: 0"), None);
        assert_eq!(parse_result_line("XTASK-RESULT: zero"), None);
    }
}
