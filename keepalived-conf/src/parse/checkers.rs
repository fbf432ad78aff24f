//! The health-check blocks of a real server (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `UDP_CHECK`,
//! `DNS_CHECK`, `MISC_CHECK`, `SMTP_CHECK`, `PING_CHECK`, `FILE_CHECK`, `BFD_CHECK`) and `url`.

use super::{Parser, MAX_DELAY_SECS};
use crate::diag::Diagnostic;
use crate::model::*;
use crate::syntax::Node;

impl Parser<'_> {
    pub(super) fn checker(&mut self, n: &Node) -> Option<Checker> {
        let which = n.key.text.as_str();
        let mut kind = match which {
            "TCP_CHECK" => CheckerKind::TcpCheck,
            "HTTP_GET" => CheckerKind::HttpGet {
                urls: Vec::new(),
                virtualhost: None,
                http_protocol: None,
            },
            "SSL_GET" => CheckerKind::SslGet {
                urls: Vec::new(),
                virtualhost: None,
                http_protocol: None,
                enable_sni: false,
                tls_compliant: false,
            },
            "SMTP_CHECK" => CheckerKind::SmtpCheck {
                helo_name: None,
                hosts: Vec::new(),
            },
            "DNS_CHECK" => CheckerKind::DnsCheck {
                query_type: None,
                name: None,
            },
            "MISC_CHECK" => CheckerKind::MiscCheck {
                misc_path: String::new(),
                misc_timeout: None,
                misc_dynamic: false,
                user: None,
            },
            "PING_CHECK" | "ICMP_CHECK" => CheckerKind::PingCheck,
            "UDP_CHECK" => CheckerKind::UdpCheck {
                payload: None,
                require_reply: None,
                min_reply_length: None,
                max_reply_length: None,
            },
            "FILE_CHECK" => CheckerKind::FileCheck {
                track_file: String::new(),
                weight: None,
                reverse: false,
            },
            _ => CheckerKind::BfdCheck {
                name: String::new(),
            },
        };
        let mut common = CheckerCommon::default();
        let empty = Vec::new();
        let body = n.block.as_ref().unwrap_or(&empty);
        for s in body {
            let key = s.key.text.as_str();
            if self.checker_common(s, &mut common) {
                continue;
            }
            let handled = match &mut kind {
                CheckerKind::HttpGet {
                    urls,
                    virtualhost,
                    http_protocol,
                }
                | CheckerKind::SslGet {
                    urls,
                    virtualhost,
                    http_protocol,
                    ..
                } => match key {
                    "url" => {
                        urls.push(self.url(s));
                        true
                    }
                    "virtualhost" => {
                        *virtualhost = self.string(s);
                        true
                    }
                    "http_protocol" => {
                        *http_protocol = self.string(s);
                        true
                    }
                    _ => false,
                },
                CheckerKind::SmtpCheck { helo_name, hosts } => match key {
                    "helo_name" => {
                        *helo_name = self.string(s);
                        true
                    }
                    "host" => {
                        // keepalived 2.2: the connection keywords of a host block make one
                        // more check; its other common keywords set the checker's own.
                        let mut host = CheckerCommon::default();
                        for h in self.block(s) {
                            if !self.checker_common(h, &mut host) {
                                self.other(h, &mut host.other, "`host`");
                            }
                        }
                        common.retry = host.retry.take().or(common.retry);
                        common.delay_before_retry =
                            host.delay_before_retry.take().or(common.delay_before_retry);
                        common.warmup = host.warmup.take().or(common.warmup);
                        common.delay_loop = host.delay_loop.take().or(common.delay_loop);
                        common.alpha = host.alpha.take().or(common.alpha);
                        common.log_all_failures =
                            host.log_all_failures.take().or(common.log_all_failures);
                        hosts.push(host);
                        true
                    }
                    _ => false,
                },
                CheckerKind::DnsCheck { query_type, name } => match key {
                    "type" => {
                        *query_type = self.string(s);
                        true
                    }
                    "name" => {
                        *name = self.string(s);
                        true
                    }
                    _ => false,
                },
                CheckerKind::MiscCheck {
                    misc_path,
                    misc_timeout,
                    misc_dynamic,
                    user,
                } => match key {
                    "misc_path" => {
                        *misc_path = self.command(s).unwrap_or_default();
                        true
                    }
                    "misc_timeout" => {
                        // Whole seconds, unlike the other timers.
                        *misc_timeout = self
                            .num1(s, 0u32, MAX_DELAY_SECS)
                            .map(|t| Timer::secs(t.into()));
                        true
                    }
                    "misc_dynamic" => {
                        *misc_dynamic = self.flag(s);
                        true
                    }
                    "user" => {
                        *user = self.script_user(s);
                        true
                    }
                    _ => false,
                },
                CheckerKind::UdpCheck {
                    payload,
                    require_reply,
                    min_reply_length,
                    max_reply_length,
                } => match key {
                    "min_reply_length" => {
                        *min_reply_length = self.num1(s, 0u16, u16::MAX);
                        true
                    }
                    "max_reply_length" => {
                        *max_reply_length = self.num1(s, 0u16, u16::MAX);
                        true
                    }
                    "payload" => {
                        *payload = self.string(s);
                        true
                    }
                    "require_reply" => {
                        *require_reply = Some(s.arg(0).unwrap_or_default().to_string());
                        true
                    }
                    _ => false,
                },
                CheckerKind::FileCheck {
                    track_file,
                    weight,
                    reverse,
                } => match key {
                    "track_file" => {
                        *track_file = self.string(s).unwrap_or_default();
                        true
                    }
                    "weight" => {
                        // Scales a real-server weight: keepalived's bound is the IPVS weight's.
                        if let Some((w, r)) = self.weight(s, i32::MAX) {
                            (*weight, *reverse) = (Some(w), r);
                        }
                        true
                    }
                    _ => false,
                },
                CheckerKind::BfdCheck { name } if key == "name" => {
                    *name = self.string(s).unwrap_or_default();
                    true
                }
                _ => false,
            };
            if !handled {
                if let (CheckerKind::SslGet { enable_sni, .. }, "enable_sni") = (&mut kind, key) {
                    *enable_sni = self.flag(s);
                    continue;
                }
                if let (CheckerKind::SslGet { tls_compliant, .. }, "tls_compliant") =
                    (&mut kind, key)
                {
                    *tls_compliant = self.flag(s);
                    continue;
                }
                self.other(s, &mut common.other, &format!("`{which}`"));
            }
        }
        match &kind {
            CheckerKind::MiscCheck { misc_path, .. } if misc_path.is_empty() => {
                self.push(
                    Diagnostic::error(
                        "missing-keyword",
                        Some(n.key.span),
                        "MISC_CHECK has no `misc_path`",
                    )
                    .with_help("add `misc_path \"/path/to/check args\"`"),
                );
            }
            CheckerKind::HttpGet { urls, .. } | CheckerKind::SslGet { urls, .. }
                if urls.is_empty() =>
            {
                self.push(
                    Diagnostic::error(
                        "missing-keyword",
                        Some(n.key.span),
                        format!("{which} has no `url` block"),
                    )
                    .with_help("add `url { path / status_code 200 }`"),
                );
            }
            CheckerKind::FileCheck { track_file, .. } if track_file.is_empty() => {
                self.push(
                    Diagnostic::error(
                        "missing-keyword",
                        Some(n.key.span),
                        "FILE_CHECK has no `track_file`",
                    )
                    .with_help("add `track_file NAME` naming a track_file block"),
                );
            }
            CheckerKind::UdpCheck {
                min_reply_length: Some(min),
                max_reply_length,
                ..
            } if *min > max_reply_length.unwrap_or(255) => {
                self.push(
                    Diagnostic::warning(
                        "udp-reply-length",
                        Some(n.key.span),
                        format!(
                            "UDP_CHECK min_reply_length {min} > max_reply_length {}: every check \
                             with a require_reply pattern fails",
                            max_reply_length.unwrap_or(255)
                        ),
                    )
                    .with_help("max_reply_length defaults to 255"),
                );
            }
            _ => {}
        }
        Some(Checker { kind, common })
    }

    /// A keyword every checker (and an SMTP_CHECK `host` block) accepts; false if `s` is none.
    fn checker_common(&mut self, s: &Node, common: &mut CheckerCommon) -> bool {
        match s.key.text.as_str() {
            "connect_ip" => common.connect_ip = self.ip(s),
            "connect_port" => common.connect_port = self.num1(s, 1u16, 65535),
            "bindto" => common.bindto = self.ip(s),
            "bind_port" => common.bind_port = self.num1(s, 1u16, 65535),
            "bind_if" => common.bind_if = self.string(s),
            "connect_timeout" => common.connect_timeout = self.timer(s),
            "fwmark" => common.fwmark = self.num1(s, 0u32, u32::MAX),
            "retry" | "nb_get_retry" => common.retry = self.num1(s, 0u32, u32::MAX),
            "delay_before_retry" => common.delay_before_retry = self.timer(s),
            "warmup" => common.warmup = self.timer(s),
            "delay_loop" => common.delay_loop = self.timer(s),
            "alpha" => common.alpha = Some(self.flag(s)),
            "log_all_failures" => common.log_all_failures = Some(self.flag(s)),
            _ => return false,
        }
        true
    }

    fn url(&mut self, n: &Node) -> HttpUrl {
        let mut u = HttpUrl::default();
        for s in self.block(n) {
            match s.key.text.as_str() {
                "path" => u.path = self.string(s).unwrap_or_default(),
                "digest" => u.digest = self.digest(s),
                "status_code" => {
                    for i in 0..s.args.len() {
                        if self.status_code(s, i) {
                            u.status_code.push(s.args[i].text.clone());
                        }
                    }
                }
                "virtualhost" => u.virtualhost = self.string(s),
                "regex" => u.regex = self.string(s),
                "regex_no_match" => u.regex_no_match = self.flag(s),
                "regex_options" => {
                    u.regex_options
                        .extend(s.args.iter().map(|a| a.text.clone()));
                }
                "regex_min_offset" => u.regex_min_offset = self.num1(s, 0u64, u32::MAX.into()),
                "regex_max_offset" => u.regex_max_offset = self.num1(s, 0u64, u32::MAX.into()),
                "regex_stack" => {
                    self.extra_args(s, 2);
                    let start = self.num(s, 0, 1u64, u32::MAX.into());
                    let max = self.num(s, 1, 1u64, u32::MAX.into());
                    u.regex_stack = start.zip(max);
                }
                "tls_compliant" => u.tls_compliant = Some(self.flag(s)),
                _ => self.other(s, &mut u.other, "`url`"),
            }
        }
        if u.path.is_empty() {
            self.push(
                Diagnostic::error("missing-keyword", Some(n.key.span), "`url` has no `path`")
                    .with_help("add `path /health`"),
            );
        }
        u
    }

    /// The MD5 of the page, as `genhash` prints it: 32 hex digits.
    fn digest(&mut self, s: &Node) -> Option<String> {
        let digest = self.string(s)?;
        if digest.len() == 32 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(digest);
        }
        self.bad_value(
            s,
            0,
            format!("`{digest}` is not an MD5 digest"),
            "a digest is 32 hexadecimal digits, as `genhash` prints it".into(),
        );
        None
    }

    /// Argument `i` of `status_code`: `CODE` or `FROM-TO`, within 100-599, as keepalived
    /// checks; an invalid one is reported and left out.
    fn status_code(&mut self, s: &Node, i: usize) -> bool {
        let text = s.args[i].text.as_str();
        let (from, to) = text.split_once('-').unwrap_or((text, text));
        let code = |c: &str| c.parse::<u16>().ok().filter(|c| (100..=599).contains(c));
        if let (Some(from), Some(to)) = (code(from), code(to)) {
            if from <= to {
                return true;
            }
        }
        self.bad_value(
            s,
            i,
            format!("invalid HTTP status code `{text}`"),
            "write a code or a range of codes in 100-599, e.g. `200` or `200-299`".into(),
        );
        false
    }
}
