//! SMTP alerts on state changes, as keepalived sends them: from `notification_email_from` to
//! every `notification_email` through `smtp_server`, with keepalived's subject and body, for
//! instances with `smtp_alert` on (by default whenever an SMTP server is configured).
//! Mail goes out on a thread of its own; a slow or dead server never holds anything up.

use std::collections::HashSet;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::SmtpTransport;
use lettre::{Message, Transport};
use vrrp_core::{Event, State};

use crate::status::state_name;
use crate::vrrp::RunnerEvent;
use keepalived_conf::Config;

/// A ready-to-use alert sender.
#[derive(Debug, Clone)]
pub struct Alerter {
    host: String,
    port: u16,
    timeout: Duration,
    from: Mailbox,
    to: Vec<Mailbox>,
    router_id: String,
    /// Instances with smtp_alert on.
    instances: HashSet<String>,
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

impl Alerter {
    /// `None` when no alert can or should be sent (no server, no recipient, no instance).
    pub fn from_config(config: &Config) -> Result<Option<Alerter>, String> {
        let g = &config.global_defs;
        let Some(server) = &g.smtp_server else {
            return Ok(None);
        };
        if g.notification_email.is_empty() {
            return Ok(None);
        }
        let default_on = g.smtp_alert.unwrap_or(true);
        let instances: HashSet<String> = config
            .vrrp_instances
            .iter()
            .filter(|vi| vi.smtp_alert.unwrap_or(default_on))
            .map(|vi| vi.name.clone())
            .collect();
        // Virtual servers decide their own alerts (the LVS plan carries `smtp_alert`).
        if instances.is_empty() && config.virtual_servers.is_empty() {
            return Ok(None);
        }
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|e| format!("e-mail address `{a}`: {e}"))
        };
        let from = match &g.notification_email_from {
            Some(a) => parse(a)?,
            None => parse(&format!("keepalived@{}", host_name()))?,
        };
        let to = g
            .notification_email
            .iter()
            .map(|a| parse(a))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(Alerter {
            host: server.host.clone(),
            port: server.port,
            timeout: Duration::from_secs(u64::from(g.smtp_connect_timeout)),
            from,
            to,
            router_id: g.router_id.clone().unwrap_or_else(host_name),
            instances,
        }))
    }

    /// keepalived's subject and body for a state change.
    pub fn message_text(&self, instance: &str, state: State) -> (String, String) {
        let subject = format!(
            "[{}] VRRP Instance {instance} - Entering {} state",
            self.router_id,
            state_name(state)
        );
        let body = match state {
            State::Master => "=> VRRP Instance is now owning VRRP VIPs <=",
            State::Backup => "=> VRRP Instance is nolonger owning VRRP VIPs <=",
            State::Fault => "=> VRRP Instance is in FAULT state <=",
            State::Stopped => "=> VRRP Instance is stopped <=",
            State::Initialize => "=> VRRP Instance is initialising <=",
        };
        (subject, body.to_string())
    }

    /// The alert (subject, body) a state change calls for, if any.
    pub fn for_event(&self, e: &RunnerEvent) -> Option<(String, String)> {
        let Event::StateChanged(t) = e.event else {
            return None;
        };
        if t.to == State::Initialize || !self.instances.contains(&e.instance) {
            return None;
        }
        Some(self.message_text(&e.instance, t.to))
    }

    /// Sends one alert, waiting for the relay (at most `smtp_connect_timeout` per step): the
    /// router calls it on a blocking task, so a slow relay never holds anything up.
    pub fn send(&self, subject: &str, body: &str) -> Result<(), String> {
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder.body(body.to_string()).map_err(|e| e.to_string())?;
        // keepalived speaks plain SMTP to its relay; so do we.
        let transport = SmtpTransport::builder_dangerous(&self.host)
            .port(self.port)
            .timeout(Some(self.timeout))
            .build();
        transport
            .send(&message)
            .map(|_| ())
            .map_err(|e| format!("{}:{}: {e}", self.host, self.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalived_conf as config;
    use std::io::Read;
    use std::process::{Command, Stdio};
    use vrrp_core::{Instant, Transition, TransitionReason};

    fn parse(text: &str) -> Config {
        let mut sources = config::SourceMap::default();
        let loaded = config::parse_str("t.conf", text, &config::Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    #[test]
    fn no_server_or_no_recipient_means_no_alerts() {
        let vi = "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 } }\n";
        assert!(Alerter::from_config(&parse(vi)).unwrap().is_none());
        let no_to = format!("global_defs {{ smtp_server 127.0.0.1 }}\n{vi}");
        assert!(Alerter::from_config(&parse(&no_to)).unwrap().is_none());
    }

    #[test]
    fn alerts_reach_a_real_smtp_server_on_loopback() {
        // aiosmtpd (Python, installed by .ci/run) prints every message it receives.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let spawned = Command::new("python3")
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-c",
                "aiosmtpd.handlers.Debugging",
                "-l",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn();
        let ok = matches!(Command::new("python3").args(["-c", "import aiosmtpd"]).status(), Ok(s) if s.success());
        if !ok {
            testkit::skip(
                "alerts_reach_a_real_smtp_server_on_loopback",
                "needs python3 -m aiosmtpd",
            );
            return;
        }
        let mut server = spawned.unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "SMTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let alerter = Alerter::from_config(&parse(&format!(
            "global_defs {{\n router_id LVS_DEVEL\n notification_email {{\n ops@example.invalid\n sre@example.invalid\n }}\n \
             notification_email_from ha@example.invalid\n smtp_server 127.0.0.1 {port}\n smtp_connect_timeout 5\n}}\n\
             vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }} }}\n"
        )))
        .unwrap()
        .unwrap();
        let (subject, body) = alerter.message_text("VI_1", State::Master);
        alerter.send(&subject, &body).unwrap();
        let event = RunnerEvent {
            instance: "VI_1".into(),
            priority: 100,
            event: Event::StateChanged(Transition {
                at: Instant::ZERO,
                from: State::Master,
                to: State::Backup,
                reason: TransitionReason::Shutdown,
            }),
        };
        let (subject, body) = alerter.for_event(&event).unwrap();
        alerter.send(&subject, &body).unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(server.id() as i32),
            nix::sys::signal::Signal::SIGINT,
        );
        let mut out = String::new();
        server
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = server.wait();
        assert!(
            out.contains("Subject: [LVS_DEVEL] VRRP Instance VI_1 - Entering MASTER state"),
            "{out}"
        );
        assert!(
            out.contains("=> VRRP Instance is now owning VRRP VIPs <="),
            "{out}"
        );
        assert!(
            out.contains("Subject: [LVS_DEVEL] VRRP Instance VI_1 - Entering BACKUP state"),
            "{out}"
        );
        assert!(out.contains("From: ha@example.invalid"), "{out}");
        assert!(
            out.contains("ops@example.invalid") && out.contains("sre@example.invalid"),
            "{out}"
        );
    }
}
