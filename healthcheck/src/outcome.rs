//! What one check run found, and the events the engine reports.

use std::fmt;
use std::time::Duration;

use crate::config::{CheckId, RealServerId};

/// The result of one run of one checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The check passed; dynamic checkers also report a weight.
    Pass(Option<WeightChange>),
    /// The check failed, and why.
    Fail(Failure),
}

/// How a dynamic checker changes its real server's weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightChange {
    /// Replace the configured weight (`misc_dynamic`: exit code - 2).
    Set(u32),
    /// Add to the configured weight (`FILE_CHECK` with a `weight` multiplier).
    Offset(i64),
}

/// Why a check failed. `Display` gives the text for logs and the control socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The whole check took longer than `connect_timeout`.
    Timeout(Duration),
    /// TCP connection refused (RST), or ICMP port unreachable for UDP.
    Refused,
    /// Any other socket error (unreachable network, bind failure, reset...).
    Io(String),
    /// The server spoke, but not the expected protocol (garbage HTTP, bad DNS answer...).
    Protocol(String),
    /// TLS handshake or certificate failure.
    Tls(String),
    /// HTTP status outside `status_code`.
    HttpStatus { path: String, status: u16 },
    /// MD5 of the body differs from `digest`.
    DigestMismatch {
        path: String,
        expected: String,
        actual: String,
    },
    /// `regex` did not match (or matched with `regex_no_match`).
    RegexMismatch { path: String, no_match: bool },
    /// The body was longer than the limit.
    BodyTooLarge { path: String, limit: usize },
    /// UDP reply missing or not matching `require_reply`.
    UdpReply(String),
    /// DNS answer with an error rcode or without a record of the asked type.
    Dns(String),
    /// SMTP reply code other than the expected one.
    Smtp { stage: &'static str, reply: String },
    /// No ICMP echo reply.
    NoEchoReply,
    /// The script exited with this code (1 with `misc_dynamic`, non-zero otherwise).
    ScriptExit(i32),
    /// The script was killed by a signal.
    ScriptSignal(i32),
    /// The script could not be started.
    ScriptSpawn(String),
    /// `FILE_CHECK` file unreadable or not a number, or a value that means down.
    File(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(t) => write!(f, "timeout after {t:?}"),
            Failure::Refused => write!(f, "connection refused"),
            Failure::Io(e) => write!(f, "{e}"),
            Failure::Protocol(e) => write!(f, "protocol error: {e}"),
            Failure::Tls(e) => write!(f, "TLS: {e}"),
            Failure::HttpStatus { path, status } => write!(f, "{path}: status {status}"),
            Failure::DigestMismatch {
                path,
                expected,
                actual,
            } => {
                write!(
                    f,
                    "{path}: digest mismatch: expected {expected}, got {actual}"
                )
            }
            Failure::RegexMismatch {
                path,
                no_match: false,
            } => {
                write!(f, "{path}: body does not match regex")
            }
            Failure::RegexMismatch {
                path,
                no_match: true,
            } => {
                write!(f, "{path}: body matches regex (regex_no_match)")
            }
            Failure::BodyTooLarge { path, limit } => {
                write!(f, "{path}: body larger than {limit} bytes")
            }
            Failure::UdpReply(e) => write!(f, "UDP reply: {e}"),
            Failure::Dns(e) => write!(f, "DNS: {e}"),
            Failure::Smtp { stage, reply } => write!(f, "SMTP {stage}: unexpected reply {reply:?}"),
            Failure::NoEchoReply => write!(f, "no ICMP echo reply"),
            Failure::ScriptExit(code) => write!(f, "script exit {code}"),
            Failure::ScriptSignal(sig) => write!(f, "script killed by signal {sig}"),
            Failure::ScriptSpawn(e) => write!(f, "script cannot start: {e}"),
            Failure::File(e) => write!(f, "{e}"),
        }
    }
}

impl Failure {
    /// Classifies a socket error: refusals apart, the rest by their text.
    pub fn from_io(err: &std::io::Error) -> Failure {
        match err.kind() {
            std::io::ErrorKind::ConnectionRefused => Failure::Refused,
            _ => Failure::Io(err.to_string()),
        }
    }
}

/// Why a real server went up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpCause {
    /// Newly configured, no checker with `alpha`.
    Initial,
    /// This checker passed and every other checker is up.
    Recovered { checker: String },
    /// The last failing checker was removed by a reload.
    CheckerRemoved,
}

/// Why a real server went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownCause {
    /// Newly configured (or newly given a checker) with `alpha`: waiting for a success.
    Alpha { checker: String },
    /// This checker failed `fall` times in a row.
    Failed { checker: String, failure: Failure },
}

impl fmt::Display for UpCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpCause::Initial => write!(f, "initial state"),
            UpCause::Recovered { checker } => write!(f, "{checker} succeeded"),
            UpCause::CheckerRemoved => write!(f, "failing checker removed"),
        }
    }
}

impl fmt::Display for DownCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DownCause::Alpha { checker } => write!(f, "{checker}: alpha, waiting for a success"),
            DownCause::Failed { checker, failure } => write!(f, "{checker}: {failure}"),
        }
    }
}

/// What the director hears from the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Every checker of the real server is up.
    Up {
        server: RealServerId,
        cause: UpCause,
    },
    /// At least one checker of the real server is down.
    Down {
        server: RealServerId,
        cause: DownCause,
    },
    /// The effective weight changed (dynamic checkers).
    Weight { server: RealServerId, weight: u32 },
    /// A single failed check of a `log_all_failures` checker, transition or not.
    CheckFailed { check: CheckId, failure: Failure },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Up { server, cause } => write!(f, "{server}: up ({cause})"),
            Event::Down { server, cause } => write!(f, "{server}: down ({cause})"),
            Event::Weight { server, weight } => write!(f, "{server}: weight {weight}"),
            Event::CheckFailed { check, failure } => write!(f, "{check}: check failed: {failure}"),
        }
    }
}
