//! `MISC_CHECK`: run a program without a shell; its exit code is the result.

use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::{Gid, Pid, Uid, User};
use tokio::process::Command;

use crate::config::MiscCheck;
use crate::outcome::{Failure, Outcome, WeightChange};
use crate::Error;

#[derive(Debug)]
pub(crate) struct MiscChecker {
    argv: Vec<String>,
    dynamic: bool,
    user: Option<(Uid, Gid)>,
}

impl MiscChecker {
    pub(crate) fn new(check: &str, config: &MiscCheck) -> Result<Self, Error> {
        let argv = split_command(&config.path);
        if argv.is_empty() {
            return Err(Error::EmptyMiscPath {
                check: check.to_string(),
            });
        }
        let user = match &config.user {
            None => None,
            Some(name) => {
                let user =
                    User::from_name(name)
                        .ok()
                        .flatten()
                        .ok_or_else(|| Error::UnknownUser {
                            check: check.to_string(),
                            user: name.clone(),
                        })?;
                Some((user.uid, user.gid))
            }
        };
        Ok(MiscChecker {
            argv,
            dynamic: config.dynamic,
            user,
        })
    }

    pub(crate) async fn check(&self, timeout: Duration) -> Outcome {
        let mut command = Command::new(&self.argv[0]);
        command
            .args(&self.argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so a timeout kills whatever the script started too.
            .process_group(0)
            .kill_on_drop(true);
        if let Some((uid, gid)) = self.user {
            command.uid(uid.as_raw()).gid(gid.as_raw());
        }
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return Outcome::Fail(Failure::ScriptSpawn(format!("{}: {e}", self.argv[0]))),
        };
        // Kills the script's whole process group if this future ends before the script
        // does: on timeout, and when the engine drops the check (reload, shutdown).
        let mut group = GroupGuard(child.id());
        let status = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => {
                group.disarm();
                status
            }
            Ok(Err(e)) => {
                return Outcome::Fail(Failure::ScriptSpawn(format!("{}: wait: {e}", self.argv[0])))
            }
            Err(_) => {
                group.kill();
                let _ = child.wait().await;
                return Outcome::Fail(Failure::Timeout(timeout));
            }
        };
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(0), _) => Outcome::Pass(None),
            (Some(code @ 2..=255), _) if self.dynamic => {
                Outcome::Pass(Some(WeightChange::Set(code as u32 - 2)))
            }
            (Some(code), _) => Outcome::Fail(Failure::ScriptExit(code)),
            (None, Some(signal)) => Outcome::Fail(Failure::ScriptSignal(signal)),
            (None, None) => Outcome::Fail(Failure::ScriptSpawn("no exit status".into())),
        }
    }
}

/// The process group of a running script, killed on drop unless disarmed.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&mut self) {
        if let Some(pid) = self.0.take() {
            // The group id is the script's pid (`process_group(0)`). It may be gone already.
            let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
    }

    /// The script exited by itself: what it left running is its own business.
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Splits a command line as keepalived does: on whitespace, with `"..."` and `'...'`
/// grouping words and `\` escaping the next character.
/// Splits a keepalived script line into argv the way keepalived does (no shell): whitespace
/// separates words, single and double quotes group them, a backslash escapes one character.
pub fn split_command(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::split_command;

    #[test]
    fn command_line_splits_on_whitespace_with_quotes_and_escapes() {
        assert_eq!(split_command("/bin/check  a b"), ["/bin/check", "a", "b"]);
        assert_eq!(
            split_command(r#"/bin/check "a b" 'c d' e\ f """#),
            ["/bin/check", "a b", "c d", "e f", ""]
        );
        assert!(split_command("   ").is_empty());
    }
}
