//! The checkers: one module per keepalived checker keyword.

pub(crate) mod dns;
mod file;
pub(crate) mod http;
pub(crate) mod misc;
pub(crate) mod net;
pub(crate) mod ping;
pub(crate) mod smtp;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{CheckKind, CheckerConfig};
use crate::outcome::{Failure, Outcome};
use crate::Error;

/// A checker ready to run: its configuration validated and compiled (regexes, TLS, user).
#[derive(Debug)]
pub struct Checker {
    config: Arc<CheckerConfig>,
    kind: Prepared,
}

#[derive(Debug)]
enum Prepared {
    Tcp,
    Http(http::HttpChecker),
    Udp(crate::config::UdpCheck),
    Dns(dns::DnsChecker),
    Ping,
    Smtp(crate::config::SmtpCheck),
    Misc(misc::MiscChecker),
    File(crate::config::FileCheck),
}

/// Extra time allowed past `connect_timeout` for checkers that enforce the timeout
/// themselves (UDP waits it out, MISC kills the script), before the outer guard fires.
const SELF_TIMED_SLACK: Duration = Duration::from_secs(1);

impl Checker {
    /// Validates and compiles `config`; `name` labels errors (the [`crate::CheckId`]).
    pub fn new(name: &str, config: Arc<CheckerConfig>) -> Result<Self, Error> {
        let kind = match &config.kind {
            CheckKind::Tcp => Prepared::Tcp,
            CheckKind::Http(http) => Prepared::Http(http::HttpChecker::new(name, http)?),
            CheckKind::Udp(udp) => Prepared::Udp(udp.clone()),
            CheckKind::Dns(dns) => Prepared::Dns(dns::DnsChecker::new(name, dns)?),
            CheckKind::Ping => Prepared::Ping,
            CheckKind::Smtp(smtp) => Prepared::Smtp(smtp.clone()),
            CheckKind::Misc(misc) => Prepared::Misc(misc::MiscChecker::new(name, misc)?),
            CheckKind::File(file) => Prepared::File(file.clone()),
        };
        Ok(Checker { config, kind })
    }

    /// The configuration this checker was built from.
    pub fn config(&self) -> &Arc<CheckerConfig> {
        &self.config
    }

    /// Runs the check once against `real_server` (or `connect_ip`/`connect_port`),
    /// within `connect_timeout`. Never panics on what the server sends.
    pub async fn run(&self, real_server: SocketAddr) -> Outcome {
        let opts = &self.config.connect;
        let target = opts.target(real_server);
        let timeout = self.config.timing.connect_timeout;
        let (work, limit): (
            std::pin::Pin<Box<dyn std::future::Future<Output = Outcome> + Send + '_>>,
            _,
        ) = match &self.kind {
            Prepared::Tcp => (Box::pin(tcp::check(opts, target)), timeout),
            Prepared::Http(http) => (Box::pin(http.check(opts, target)), timeout),
            Prepared::Udp(udp) => (
                Box::pin(udp::check(udp, opts, target, timeout)),
                timeout + SELF_TIMED_SLACK,
            ),
            Prepared::Dns(dns) => (Box::pin(dns.check(opts, target)), timeout),
            Prepared::Ping => (Box::pin(ping::check(opts, target)), timeout),
            Prepared::Smtp(smtp) => (Box::pin(smtp::check(smtp, opts, target)), timeout),
            Prepared::Misc(misc) => (Box::pin(misc.check(timeout)), timeout + SELF_TIMED_SLACK),
            Prepared::File(file) => (Box::pin(file::check(file)), timeout),
        };
        match tokio::time::timeout(limit, work).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Fail(Failure::Timeout(timeout)),
        }
    }
}
