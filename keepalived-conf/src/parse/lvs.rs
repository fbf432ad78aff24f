//! `virtual_server` and `real_server` (and their `lb_kind`).

use std::net::IpAddr;

use super::{suggest, vs_path, with_suggestion, Fields, Parser, LVS_MAX_TIMEOUT};
use crate::diag::Diagnostic;
use crate::model::*;
use crate::syntax::Node;

impl Parser<'_> {
    fn lb_kind(&mut self, s: &Node) -> Option<LbKind> {
        let kind = self.arg(s, 0, "NAT, DR or TUN")?;
        // keepalived compares the method name exactly: `dr` is not DR.
        match kind {
            "NAT" => {
                self.extra_args(s, 1);
                Some(LbKind::Nat)
            }
            "DR" => {
                self.extra_args(s, 1);
                Some(LbKind::Dr)
            }
            "TUN" => {
                let mut tunnel = TunnelType::Ipip;
                let mut port = None;
                let mut csum = None;
                let mut i = 1;
                while i < s.args.len() {
                    match s.args[i].text.as_str() {
                        "type" => {
                            match s.arg(i + 1) {
                                Some("ipip") => tunnel = TunnelType::Ipip,
                                Some("gue") => tunnel = TunnelType::Gue,
                                Some("gre") => tunnel = TunnelType::Gre,
                                _ => self.bad_value(
                                    s,
                                    i + 1,
                                    "invalid tunnel type".into(),
                                    "the tunnel type is ipip, gue or gre".into(),
                                ),
                            }
                            i += 2;
                        }
                        "port" => {
                            port = self.num(s, i + 1, 1u16, 65535);
                            i += 2;
                        }
                        "nocsum" => (csum, i) = (Some(TunnelCsum::Nocsum), i + 1),
                        "csum" => (csum, i) = (Some(TunnelCsum::Csum), i + 1),
                        "remcsum" => (csum, i) = (Some(TunnelCsum::Remcsum), i + 1),
                        other => {
                            self.bad_value(
                                s,
                                i,
                                format!("unexpected `{other}` in a TUN method"),
                                "write `TUN [type {ipip|gue port NUM|gre} [nocsum|csum|remcsum]]`"
                                    .into(),
                            );
                            break;
                        }
                    }
                }
                if tunnel == TunnelType::Gue && port.is_none() {
                    self.push(
                        Diagnostic::error(
                            "missing-value",
                            Some(s.span()),
                            "a GUE tunnel needs a port",
                        )
                        .with_help("write `TUN type gue port NUM`"),
                    );
                }
                if tunnel != TunnelType::Gue && port.is_some() {
                    self.push(
                        Diagnostic::error(
                            "invalid-value",
                            Some(s.span()),
                            "a tunnel port is only valid with `type gue`",
                        )
                        .with_label("port given for a non-GUE tunnel"),
                    );
                }
                if matches!(csum, Some(TunnelCsum::Remcsum)) && tunnel != TunnelType::Gue {
                    self.push(
                        Diagnostic::error(
                            "invalid-value",
                            Some(s.span()),
                            "`remcsum` is only valid with `type gue`",
                        )
                        .with_label("remote checksum offload needs GUE"),
                    );
                }
                // `nocsum` is keepalived's default, so IPIP accepts it.
                if tunnel == TunnelType::Ipip && csum == Some(TunnelCsum::Csum) {
                    self.push(
                        Diagnostic::error(
                            "invalid-value",
                            Some(s.span()),
                            "`csum` needs `type gue` or `type gre`",
                        )
                        .with_label("IPIP has no checksum"),
                    );
                }
                Some(LbKind::Tun { tunnel, port, csum })
            }
            other => {
                self.bad_value(
                    s,
                    0,
                    format!("invalid forwarding method `{other}`"),
                    with_suggestion(
                        &format!("`{}` must be NAT, DR or TUN", s.key.text),
                        other,
                        &["NAT", "DR", "TUN"],
                    ),
                );
                None
            }
        }
    }

    pub(super) fn virtual_server(&mut self, n: &Node) -> Option<VirtualServer> {
        let key = match n.arg(0) {
            Some("fwmark") => {
                let mark = self.num(n, 1, 1u32, u32::MAX)?;
                self.extra_args(n, 2);
                VirtualServerKey::Fwmark { mark }
            }
            Some("group") => {
                let name = self.arg(n, 1, "a group name")?.to_string();
                self.extra_args(n, 2);
                VirtualServerKey::Group { name }
            }
            _ => {
                let ip = self.ip_at(n, 0)?;
                let port = if n.args.len() > 1 {
                    self.port_at(n, 1, 0)?
                } else {
                    0
                };
                self.extra_args(n, 2);
                VirtualServerKey::Addr { ip, port }
            }
        };
        let path = vs_path(&key);
        if self.duplicate(&path, n.span(), &format!("`{path}`")) {
            return None;
        }
        self.spans.insert(path.clone(), n.span());
        let mut vs = VirtualServer::new(key);
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "delay_loop" => vs.delay_loop = self.timer(s).unwrap_or(vs.delay_loop),
                "lb_algo" | "lvs_sched" => {
                    self.extra_args(s, 1);
                    if let Some(a) = self.arg(s, 0, "a scheduler") {
                        const SCHEDULERS: &[&str] = &[
                            "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf",
                            "lblcr", "sed", "nq", "twos",
                        ];
                        if !SCHEDULERS.contains(&a) {
                            let mut d = Diagnostic::warning(
                                "unknown-scheduler",
                                Some(s.args[0].span),
                                format!("unknown IPVS scheduler `{a}`"),
                            )
                            .with_label("the kernel may not have this scheduler");
                            if let Some(sg) = suggest(a, &[SCHEDULERS]) {
                                d = d.with_help(format!("did you mean `{sg}`?"));
                            }
                            self.push(d);
                        }
                        vs.lvs_sched = a.to_string();
                    }
                }
                "lb_kind" | "lvs_method" => {
                    if let Some(k) = self.lb_kind(s) {
                        vs.lvs_method = k
                    }
                }
                "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port"
                | "mh-fallback" => vs.sched_flags.push(s.key.text.clone()),
                "ip_family" => {
                    self.extra_args(s, 1);
                    vs.ip_family = match self.arg(s, 0, "inet or inet6") {
                        Some("inet") => Some(IpFamily::Inet),
                        Some("inet6") => Some(IpFamily::Inet6),
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("invalid ip_family `{other}`"),
                                "`ip_family` must be inet or inet6".into(),
                            );
                            None
                        }
                        None => None,
                    }
                }
                "protocol" => {
                    self.extra_args(s, 1);
                    vs.protocol = match self.arg(s, 0, "TCP, UDP or SCTP") {
                        Some(p) if p.eq_ignore_ascii_case("tcp") => Protocol::Tcp,
                        Some(p) if p.eq_ignore_ascii_case("udp") => Protocol::Udp,
                        Some(p) if p.eq_ignore_ascii_case("sctp") => Protocol::Sctp,
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("invalid protocol `{other}`"),
                                "`protocol` must be TCP, UDP or SCTP".into(),
                            );
                            vs.protocol
                        }
                        None => vs.protocol,
                    }
                }
                "persistence_timeout" => {
                    // A bare keyword is IPVS's default persistence, 6 minutes.
                    vs.persistence_timeout = if s.args.is_empty() {
                        Some(360)
                    } else {
                        self.num1(s, 1u32, LVS_MAX_TIMEOUT)
                    }
                }
                "persistence_granularity" => vs.persistence_granularity = self.string(s),
                "persistence_engine" => vs.persistence_engine = self.string(s),
                "ha_suspend" => vs.ha_suspend = self.flag(s),
                "ops" => vs.ops = self.flag(s),
                "quorum" => vs.quorum = self.num1(s, 1u32, u32::MAX).unwrap_or(1),
                "hysteresis" => vs.hysteresis = self.num1(s, 0u32, u32::MAX).unwrap_or(0),
                "quorum_up" => vs.quorum_up = self.command(s),
                "quorum_down" => vs.quorum_down = self.command(s),
                "alpha" => vs.alpha = self.flag(s),
                "omega" => vs.omega = self.flag(s),
                "inhibit_on_failure" => vs.inhibit_on_failure = self.flag(s),
                "sorry_server" => {
                    self.extra_args(s, 2);
                    if let Some(ip) = self.ip_at(s, 0) {
                        let port = if s.args.len() > 1 {
                            self.port_at(s, 1, 0)
                        } else {
                            None
                        };
                        vs.sorry_server = Some((ip, port));
                    }
                }
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(s),
                "sorry_server_lvs_method" => vs.sorry_server_lvs_method = self.lb_kind(s),
                "virtualhost" => vs.virtualhost = self.string(s),
                "smtp_alert" => vs.smtp_alert = Some(self.flag(s)),
                "retry" => vs.retry = self.num1(s, 0u32, u32::MAX),
                "delay_before_retry" => vs.delay_before_retry = self.timer(s),
                "warmup" => vs.warmup = self.timer(s),
                "connect_timeout" => vs.connect_timeout = self.timer(s),
                "ha_announce" => vs.ha_announce = self.flag(s),
                "ha_announce_notify" => vs.ha_announce_notify = self.command(s),
                "real_server" => {
                    if let Some(rs) = self.real_server(s, &path) {
                        vs.real_servers.push(rs);
                    }
                }
                _ => self.other(s, &mut vs.other, "`virtual_server`"),
            }
        }
        self.save_fields(path.clone(), fields);
        Some(vs)
    }

    fn real_server(&mut self, n: &Node, vs_path: &str) -> Option<RealServer> {
        let ip = self.ip_at(n, 0)?;
        let port = if n.args.len() > 1 {
            Some(self.port_at(n, 1, 0)?)
        } else {
            None
        };
        self.extra_args(n, 2);
        let path = format!("{vs_path}/real_server {}", rs_label(ip, port));
        if self.duplicate(
            &path,
            n.span(),
            &format!("real_server {}", rs_label(ip, port)),
        ) {
            return None;
        }
        self.spans.insert(path.clone(), n.span());
        let mut rs = RealServer::new(ip, port);
        // No keyword spans for real servers: nothing refers to them, and a large
        // configuration has tens of thousands of real servers.
        for s in self.block(n) {
            match s.key.text.as_str() {
                // IPVS weights are 0..=INT32_MAX (keepalived's IPVS_WEIGHT_LIMIT).
                "weight" => rs.weight = self.num1(s, 0i32, i32::MAX).unwrap_or(1),
                "lvs_method" | "lb_kind" => rs.lvs_method = self.lb_kind(s),
                "inhibit_on_failure" => rs.inhibit_on_failure = Some(self.flag(s)),
                "notify_up" => rs.notify_up = self.command(s),
                "notify_down" => rs.notify_down = self.command(s),
                "uthreshold" => rs.uthreshold = self.num1(s, 0u32, u32::MAX),
                "lthreshold" => rs.lthreshold = self.num1(s, 0u32, u32::MAX),
                "delay_loop" => rs.delay_loop = self.timer(s),
                "retry" => rs.retry = self.num1(s, 0u32, u32::MAX),
                "delay_before_retry" => rs.delay_before_retry = self.timer(s),
                "warmup" => rs.warmup = self.timer(s),
                "connect_timeout" => rs.connect_timeout = self.timer(s),
                "smtp_alert" => rs.smtp_alert = Some(self.flag(s)),
                "virtualhost" => rs.virtualhost = self.string(s),
                "alpha" => rs.alpha = Some(self.flag(s)),
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "SMTP_CHECK" | "DNS_CHECK"
                | "MISC_CHECK" | "PING_CHECK" | "ICMP_CHECK" | "UDP_CHECK" | "FILE_CHECK"
                | "BFD_CHECK" => {
                    if let Some(c) = self.checker(s) {
                        rs.checkers.push(c);
                    }
                }
                _ => self.other(s, &mut rs.other, "`real_server`"),
            }
        }
        Some(rs)
    }
}

fn rs_label(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip} {p}"),
        None => ip.to_string(),
    }
}
