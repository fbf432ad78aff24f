//! `MISC_CHECK`: run a program without a shell; its exit code is the result.

use std::time::Duration;

use nix::unistd::User;

use crate::config::MiscCheck;
use crate::outcome::{Failure, Outcome, WeightChange};
use crate::script::{Script, ScriptExit};
use crate::Error;

#[derive(Debug)]
pub(crate) struct MiscChecker {
    script: Script,
    dynamic: bool,
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
                let gid = match &config.group {
                    None => user.gid,
                    Some(group) => {
                        nix::unistd::Group::from_name(group)
                            .ok()
                            .flatten()
                            .ok_or_else(|| Error::UnknownGroup {
                                check: check.to_string(),
                                group: group.clone(),
                            })?
                            .gid
                    }
                };
                Some((user.uid, gid))
            }
        };
        Ok(MiscChecker {
            script: Script {
                label: check.to_string(),
                argv,
                user,
                // Set per run: the check's own timeout.
                timeout: Duration::ZERO,
                // A check runs every delay_loop: its output would flood the log.
                log_output: false,
            },
            dynamic: config.dynamic,
        })
    }

    pub(crate) async fn check(&self, timeout: Duration) -> Outcome {
        let script = Script {
            timeout,
            ..self.script.clone()
        };
        match script.run(&[]).await {
            ScriptExit::Exited(0) => Outcome::Pass(None),
            ScriptExit::Exited(code @ 2..=255) if self.dynamic => {
                Outcome::Pass(Some(WeightChange::Set(code as u32 - 2)))
            }
            ScriptExit::Exited(code) => Outcome::Fail(Failure::ScriptExit(code)),
            ScriptExit::Signalled(signal) => Outcome::Fail(Failure::ScriptSignal(signal)),
            ScriptExit::TimedOut(after) => Outcome::Fail(Failure::Timeout(after)),
            ScriptExit::NotStarted(why) => Outcome::Fail(Failure::ScriptSpawn(why)),
            // run() is never stopped: a check that ends this way was terminated.
            ScriptExit::Stopped => Outcome::Fail(Failure::ScriptSignal(nix::libc::SIGTERM)),
        }
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
