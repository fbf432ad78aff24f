//! The crate's one error type: configuration that cannot be run, and engine failures.

use std::path::PathBuf;

/// What went wrong, naming the object and the cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad hex {text:?}: {cause}")]
    BadHex { text: String, cause: String },
    #[error("{what}: {cause}")]
    BadConfig { what: String, cause: String },
    #[error("checker {check}: regex {regex:?} does not compile: {cause}")]
    BadRegex {
        check: String,
        regex: String,
        cause: String,
    },
    #[error("checker {check}: cannot load CA file {path}: {cause}")]
    BadCaFile {
        check: String,
        path: PathBuf,
        cause: String,
    },
    #[error("checker {check}: misc_path is empty")]
    EmptyMiscPath { check: String },
    #[error("checker {check}: user {user:?} does not exist")]
    UnknownUser { check: String, user: String },
    #[error("checker {check}: group {group:?} does not exist")]
    UnknownGroup { check: String, group: String },
    #[error("health-check engine: cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("health-check engine has stopped")]
    Stopped,
}
