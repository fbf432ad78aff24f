//! Health-check engine for real servers: every keepalived checker, keepalived's
//! scheduling and up/down semantics, and events for the director.
//!
//! - [`config`]: plain configuration types with keepalived's keywords and defaults; the
//!   director builds them from `keepalived.conf`.
//! - [`Scheduler`]: the deterministic core (when checks run, what results mean), driven by
//!   the engine or by tests with virtual time.
//! - [`Checker`]: one checker ready to run once against a real server.
//! - [`Engine`]: the core and the checkers on a tokio runtime on threads of its own,
//!   reporting [`Event`]s through a channel that never blocks either side.
//!
//! keepalived keywords and where they live:
//!
//! | keepalived | here |
//! |---|---|
//! | `real_server IP PORT`, `weight` | [`RealServerConfig`] |
//! | `delay_loop`, `connect_timeout`, `retry`, `delay_before_retry`, `warmup`, `alpha` (+ `rise`, `fall`) | [`Timing`] |
//! | `connect_ip`, `connect_port`, `bindto`, `bind_port`, `bind_if`, `fwmark` | [`config::ConnectOptions`] |
//! | `log_all_failures` | [`CheckerConfig::log_all_failures`] |
//! | `TCP_CHECK`, `PING_CHECK` | [`CheckKind::Tcp`], [`CheckKind::Ping`] |
//! | `HTTP_GET`, `SSL_GET`: `url { path digest status_code regex regex_no_match virtualhost }`, `http_protocol`, `enable_sni` | [`config::HttpCheck`], [`config::UrlCheck`], [`config::TlsOptions`] |
//! | `UDP_CHECK`: `payload`, `require_reply` | [`config::UdpCheck`], [`config::HexPattern`] |
//! | `DNS_CHECK`: `type`, `name` | [`config::DnsCheck`] |
//! | `SMTP_CHECK`: `helo_name` | [`config::SmtpCheck`] |
//! | `MISC_CHECK`: `misc_path`, `misc_timeout`, `misc_dynamic`, `user` | [`config::MiscCheck`] |
//! | `FILE_CHECK`: `file`, `weight`, `reverse` | [`config::FileCheck`] |
//! | `checker_priority` | [`EngineOptions::nice`] |
//!
//! ```no_run
//! use healthcheck::{config::*, Engine, EngineOptions};
//! let (engine, mut events) = Engine::start(EngineOptions::default())?;
//! let server = RealServerId { virtual_server: "10.0.0.1:80".into(), real_server: "192.0.2.10:80".parse().unwrap() };
//! engine.replace(vec![RealServerConfig {
//!     id: server,
//!     weight: 1,
//!     checkers: vec![CheckerConfig::new("TCP_CHECK#0", CheckKind::Tcp)],
//! }])?;
//! while let Some(event) = events.blocking_recv() {
//!     println!("{event}");
//! }
//! # Ok::<(), healthcheck::Error>(())
//! ```
#![forbid(unsafe_code)]

mod checkers;
pub mod config;
mod core;
mod engine;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod outcome;
pub mod script;

pub use crate::checkers::misc::split_command;
pub use crate::checkers::Checker;
pub use crate::config::{
    CheckId, CheckKind, CheckerConfig, RealServerConfig, RealServerId, Timing,
};
pub use crate::core::{CheckStatus, CheckToken, DueCheck, Scheduler};
pub use crate::engine::{Engine, EngineOptions, EngineStats, EventReceiver};
pub use crate::error::Error;
pub use crate::outcome::{DownCause, Event, Failure, Outcome, UpCause, WeightChange};
