//! SMTP alerts on state changes, as keepalived sends them: from `notification_email_from` to
//! every `notification_email` through `smtp_server` (greeting it with `smtp_helo_name`), with
//! keepalived's subject and body, for instances with `smtp_alert` on. As in keepalived, an
//! instance's `smtp_alert` defaults to `smtp_alert_vrrp`, else the global `smtp_alert`, else
//! off; `no_email_faults` sends nothing for FAULT. Mail goes out on a thread of its own; a
//! slow or dead server never holds anything up.

use std::collections::HashSet;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::transport::smtp::extension::ClientId;
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
    /// `smtp_helo_name`; default the host name (as keepalived).
    helo_name: String,
    /// `no_email_faults`: no alert when an instance enters FAULT.
    no_email_faults: bool,
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
        // keepalived (vrrp.c): the instance's, else smtp_alert_vrrp, else smtp_alert, else off.
        let default_on = g.smtp_alert_vrrp.or(g.smtp_alert).unwrap_or(false);
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
            helo_name: g.smtp_helo_name.clone().unwrap_or_else(host_name),
            no_email_faults: g.no_email_faults,
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
        if t.to == State::Fault && self.no_email_faults {
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
            .hello_name(ClientId::Domain(self.helo_name.clone()))
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

    /// aiosmtpd's Debugging handler (it prints every message it receives), also printing
    /// the name each client greets it with.
    const SMTP_SERVER: &str = r#"
import sys
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Debugging
class Handler(Debugging):
    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        print("GREETED", hostname, flush=True)
        session.host_name = hostname
        return responses
c = Controller(Handler(sys.stdout), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
sys.stdin.read()
c.stop()
sys.stdout.flush()
"#;

    /// A real SMTP server (aiosmtpd, installed by .ci/run) on loopback: its port, and the
    /// process, whose stdout is everything it received once its stdin is closed.
    fn smtp_server(test: &str) -> Option<(u16, std::process::Child)> {
        let ok = matches!(Command::new("python3").args(["-c", "import aiosmtpd"]).status(), Ok(s) if s.success());
        if !ok {
            testkit::skip(test, "needs python3 -m aiosmtpd");
            return None;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let server = Command::new("python3")
            .args(["-c", SMTP_SERVER, &port.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "SMTP server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some((port, server))
    }

    /// Stops the server and returns what it printed.
    fn received(mut server: std::process::Child) -> String {
        drop(server.stdin.take());
        let mut out = String::new();
        server
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let _ = server.wait();
        out
    }

    #[test]
    fn alerts_reach_a_real_smtp_server_on_loopback() {
        let Some((port, server)) = smtp_server("alerts_reach_a_real_smtp_server_on_loopback")
        else {
            return;
        };
        let alerter = Alerter::from_config(&parse(&format!(
            "global_defs {{\n router_id LVS_DEVEL\n notification_email {{\n ops@example.invalid\n sre@example.invalid\n }}\n \
             notification_email_from ha@example.invalid\n smtp_server 127.0.0.1 {port}\n smtp_connect_timeout 5\n \
             smtp_helo_name lb1.example.test\n smtp_alert\n}}\n\
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
        let out = received(server);
        // smtp_helo_name is the name the director greets the relay with.
        assert!(out.contains("GREETED lb1.example.test"), "{out}");
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

    fn transition(to: State) -> RunnerEvent {
        RunnerEvent {
            instance: "VI_1".into(),
            priority: 100,
            event: Event::StateChanged(Transition {
                at: Instant::ZERO,
                from: State::Backup,
                to,
                reason: TransitionReason::MasterDown,
            }),
        }
    }

    #[test]
    fn smtp_alert_defaults_as_keepalived_and_no_email_faults() {
        let text = |global: &str, instance: &str| {
            format!(
                "global_defs {{ notification_email {{ ops@example.invalid }}\n smtp_server 127.0.0.1\n {global} }}\n\
                 vrrp_instance VI_1 {{ interface eth0\n virtual_router_id 1\n virtual_ipaddress {{ 10.0.0.1 }}\n {instance} }}\n\
                 virtual_server 10.0.0.1 80 {{ real_server 10.0.0.2 80 {{ }} }}\n"
            )
        };
        let alerts = |global: &str, instance: &str, to: State| {
            Alerter::from_config(&parse(&text(global, instance)))
                .unwrap()
                .and_then(|a| a.for_event(&transition(to)))
                .is_some()
        };
        // keepalived: an instance mails only when smtp_alert is on somewhere.
        assert!(!alerts("", "", State::Master));
        assert!(alerts("smtp_alert", "", State::Master));
        assert!(alerts("smtp_alert_vrrp", "", State::Master));
        // smtp_alert_vrrp wins over smtp_alert, the instance's over both.
        assert!(!alerts(
            "smtp_alert\n smtp_alert_vrrp off",
            "",
            State::Master
        ));
        assert!(alerts("smtp_alert off", "smtp_alert", State::Master));
        // smtp_alert_checker is the checkers' only.
        assert!(!alerts("smtp_alert_checker", "", State::Master));
        // no_email_faults: no mail for FAULT, the others still.
        assert!(alerts("smtp_alert", "", State::Fault));
        assert!(!alerts("smtp_alert\n no_email_faults", "", State::Fault));
        assert!(alerts("smtp_alert\n no_email_faults", "", State::Backup));
    }
}
