//! The checker blocks of one `real_server` as the health-check engine's configuration, with
//! keepalived 2.2.7's inheritance (checker, then real server, then virtual server, then
//! keepalived's default) and its per-checker defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

use healthcheck::config::{
    ConnectOptions, DnsCheck, DnsType, FileCheck, HexPattern, HttpCheck, HttpProtocol, MiscCheck,
    RegexOptions, SmtpCheck, TlsOptions, UdpCheck, UrlCheck,
};
use healthcheck::{CheckKind, CheckerConfig, RealServerConfig, RealServerId, Timing};

use keepalived_conf::{
    Checker, CheckerCommon, CheckerKind, Config, HttpUrl, RealServer, Timer, VirtualServer,
    VirtualServerKey,
};

/// keepalived's largest real-server weight (`IPVS_WEIGHT_MAX`).
const MAX_WEIGHT: u32 = 65535;

/// keepalived's `SMTP_DEFAULT_HELO`.
const DEFAULT_SMTP_HELO: &str = "smtpchecker.keepalived.org";

/// A real server whose checkers cannot be run as configured.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "virtual_server {virtual_server}, real_server {real_server}{}: {cause}",
    .checker.as_ref().map_or(String::new(), |c| format!(", {c}"))
)]
pub struct CheckConfigError {
    /// As [`virtual_server_name`] names it.
    pub virtual_server: String,
    /// As [`real_server_addr`] gives it.
    pub real_server: SocketAddr,
    /// The checker's name (`HTTP_GET#0`); `None` when the real server itself is at fault.
    pub checker: Option<String>,
    pub cause: String,
}

/// The name of a virtual server as the director, `ha status` and the health-check ids use it:
/// `192.168.2.200:80` (IPv6: `[2001:db8::1]:80`), `fwmark 7`, `group NAME`.
pub fn virtual_server_name(key: &VirtualServerKey) -> String {
    match key {
        VirtualServerKey::Addr { ip, port } => SocketAddr::new(*ip, *port).to_string(),
        VirtualServerKey::Fwmark { mark } => format!("fwmark {mark}"),
        VirtualServerKey::Group { name } => format!("group {name}"),
    }
}

/// The real server's address: its IP and its port, or the virtual server's port when it has none
/// (fwmark and group virtual servers without a real-server port use 0).
pub fn real_server_addr(vs: &VirtualServer, rs: &RealServer) -> SocketAddr {
    let vs_port = match vs.key {
        VirtualServerKey::Addr { port, .. } => port,
        VirtualServerKey::Fwmark { .. } | VirtualServerKey::Group { .. } => 0,
    };
    SocketAddr::new(rs.ip, rs.port.unwrap_or(vs_port))
}

/// The health-check engine's configuration of one real server: id (virtual_server_name +
/// real_server_addr), weight (negative or out-of-range weights are errors), and one
/// CheckerConfig per checker block, named `KEYWORD#N` (N counts all checker blocks of that
/// real server from 0 in order, e.g. `TCP_CHECK#0`, `HTTP_GET#1`), so names are stable across
/// reloads.
///
/// Takes the whole [`Config`]: `FILE_CHECK` names a top-level `track_file` block, and
/// `MISC_CHECK` defaults to `global_defs script_user`.
pub fn real_server_config(
    vs: &VirtualServer,
    rs: &RealServer,
    config: &Config,
) -> Result<RealServerConfig, CheckConfigError> {
    real_server_config_with(vs, rs, config, true)
}

/// [`real_server_config`]; `check_scripts`: look each MISC_CHECK script up as keepalived does
/// at load time, leaving out (as keepalived removes) one that is not found, not executable,
/// or insecure under `enable_script_security`.
fn real_server_config_with(
    vs: &VirtualServer,
    rs: &RealServer,
    config: &Config,
    check_scripts: bool,
) -> Result<RealServerConfig, CheckConfigError> {
    let id = RealServerId {
        virtual_server: virtual_server_name(&vs.key),
        real_server: real_server_addr(vs, rs),
    };
    let error = |checker: Option<String>, cause: String| CheckConfigError {
        virtual_server: id.virtual_server.clone(),
        real_server: id.real_server,
        checker,
        cause,
    };
    let weight = u32::try_from(rs.weight)
        .ok()
        .filter(|w| *w <= MAX_WEIGHT)
        .ok_or_else(|| {
            error(
                None,
                format!("weight {} is outside 0-{MAX_WEIGHT}", rs.weight),
            )
        })?;
    let mut checkers = Vec::new();
    let mut policy = None;
    for (n, checker) in rs.checkers.iter().enumerate() {
        let name = format!("{}#{n}", checker.kind.keyword());
        if let (
            true,
            CheckerKind::MiscCheck {
                misc_path, user, ..
            },
        ) = (check_scripts, &checker.kind)
        {
            // A policy or user that does not resolve is reported where the director plans its
            // scripts (and by the engine, which refuses an unknown user): not here, where
            // `ha check` may read another machine's configuration.
            if policy.is_none() {
                policy = Some(crate::scripts::ScriptPolicy::from_config(config).ok());
            }
            let Some(Some(policy)) = policy.as_ref() else {
                checkers.extend(
                    smtp_hosts(checker, &name)
                        .into_iter()
                        .map(|(name, c)| {
                            checker_config(vs, rs, config, &c, &name)
                                .map_err(|cause| error(Some(name), cause))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                );
                continue;
            };
            let Ok(ids) = policy.user_for(user.as_ref()) else {
                checkers.push(
                    checker_config(vs, rs, config, checker, &name)
                        .map_err(|cause| error(Some(name.clone()), cause))?,
                );
                continue;
            };
            let argv = healthcheck::split_command(misc_path);
            match policy.assess(&argv, ids) {
                crate::scripts::Verdict::Run => {}
                crate::scripts::Verdict::Insecure(why) => tracing::warn!(checker = %name, "{why}"),
                crate::scripts::Verdict::Disabled(why) => {
                    // keepalived: "Disabling misc script ... due to insecure".
                    tracing::warn!(
                        "virtual_server {}, real_server {}, {name}: {why}: {}",
                        id.virtual_server,
                        id.real_server,
                        crate::scripts::disabled_effect(crate::scripts::ScriptKind::Misc)
                    );
                    continue;
                }
            }
        }
        for (name, checker) in smtp_hosts(checker, &name) {
            checkers.push(
                checker_config(vs, rs, config, &checker, &name)
                    .map_err(|cause| error(Some(name), cause))?,
            );
        }
    }
    Ok(RealServerConfig {
        id,
        weight,
        checkers,
    })
}

/// keepalived 2.2's deprecated SMTP_CHECK `host` blocks: each is one more check with the
/// block's connection settings (from the real server's address); when the checker sets
/// none of its own, the first host takes its place. Other checkers are themselves.
fn smtp_hosts(checker: &Checker, name: &str) -> Vec<(String, Checker)> {
    let CheckerKind::SmtpCheck { helo_name, hosts } = &checker.kind else {
        return vec![(name.to_string(), checker.clone())];
    };
    let c = &checker.common;
    let own_connection = c.connect_ip.is_some()
        || c.connect_port.is_some()
        || c.bindto.is_some()
        || c.bind_port.is_some()
        || c.bind_if.is_some()
        || c.fwmark.is_some()
        || c.connect_timeout.is_some();
    let with = |host: Option<&CheckerCommon>| {
        let mut common = checker.common.clone();
        if let Some(h) = host {
            common.connect_ip = h.connect_ip;
            common.connect_port = h.connect_port;
            common.bindto = h.bindto;
            common.bind_port = h.bind_port;
            common.bind_if = h.bind_if.clone();
            common.fwmark = h.fwmark;
            common.connect_timeout = h.connect_timeout;
        }
        Checker {
            kind: CheckerKind::SmtpCheck {
                helo_name: helo_name.clone(),
                hosts: Vec::new(),
            },
            common,
        }
    };
    let mut out = Vec::new();
    let mut rest = hosts.iter().enumerate();
    if own_connection || hosts.is_empty() {
        out.push((name.to_string(), with(None)));
    } else if let Some((_, first)) = rest.next() {
        out.push((format!("{name}/host#0"), with(Some(first))));
    }
    out.extend(rest.map(|(k, h)| (format!("{name}/host#{k}"), with(Some(h)))));
    out
}

fn checker_config(
    vs: &VirtualServer,
    rs: &RealServer,
    config: &Config,
    checker: &Checker,
    name: &str,
) -> Result<CheckerConfig, String> {
    let common = &checker.common;
    Ok(CheckerConfig {
        name: name.to_string(),
        kind: check_kind(vs, rs, config, &checker.kind)?,
        timing: timing(vs, rs, checker)?,
        connect: ConnectOptions {
            connect_ip: common.connect_ip,
            connect_port: common.connect_port,
            bindto: common.bindto,
            bind_port: common.bind_port,
            bind_if: common.bind_if.clone(),
            fwmark: common.fwmark,
            reset_on_close: false,
        },
        log_all_failures: common.log_all_failures.unwrap_or(false),
    })
}

/// keepalived's `update_checker_activity` defaults (check_data.c): each value comes from the
/// checker, else the real server, else the virtual server, else the checker kind's default.
fn timing(vs: &VirtualServer, rs: &RealServer, checker: &Checker) -> Result<Timing, String> {
    let common = &checker.common;
    let delay_loop = common.delay_loop.or(rs.delay_loop).unwrap_or(vs.delay_loop);
    if delay_loop == Timer(0) {
        return Err("delay_loop is 0: checks need an interval".into());
    }
    let connect_timeout = match &checker.kind {
        // keepalived takes the virtual server's delay_loop here, not the checker's (check_misc.c);
        // `misc_timeout 0` means unset. MISC_CHECK has no connect_timeout keyword.
        CheckerKind::MiscCheck { misc_timeout, .. } => misc_timeout
            .filter(|t| *t != Timer(0))
            .unwrap_or(vs.delay_loop),
        _ => common
            .connect_timeout
            .or(rs.connect_timeout)
            .or(vs.connect_timeout)
            .unwrap_or(Timer::secs(5)),
    };
    if connect_timeout == Timer(0) {
        return Err("connect_timeout is 0: every check would time out".into());
    }
    let default_retry = match checker.kind {
        CheckerKind::DnsCheck { .. } => 3,
        // The script does its own retrying.
        CheckerKind::MiscCheck { .. } => 0,
        _ => 1,
    };
    let default_delay_before_retry = match checker.kind {
        CheckerKind::HttpGet { .. } | CheckerKind::SslGet { .. } => Timer::secs(3),
        CheckerKind::DnsCheck { .. } => delay_loop,
        _ => Timer::secs(1),
    };
    // Unset, keepalived scatters first checks over a whole delay_loop; 0 turns that off.
    let warmup = common
        .warmup
        .or(rs.warmup)
        .or(vs.warmup)
        .unwrap_or(delay_loop);
    Ok(Timing {
        delay_loop: delay_loop.as_duration(),
        connect_timeout: connect_timeout.as_duration(),
        retry: common
            .retry
            .or(rs.retry)
            .or(vs.retry)
            .unwrap_or(default_retry),
        delay_before_retry: common
            .delay_before_retry
            .or(rs.delay_before_retry)
            .or(vs.delay_before_retry)
            .unwrap_or(default_delay_before_retry)
            .as_duration(),
        warmup: (warmup != Timer(0)).then(|| warmup.as_duration()),
        alpha: common.alpha.or(rs.alpha).unwrap_or(vs.alpha),
        rise: None,
        fall: None,
    })
}

fn check_kind(
    vs: &VirtualServer,
    rs: &RealServer,
    config: &Config,
    kind: &CheckerKind,
) -> Result<CheckKind, String> {
    Ok(match kind {
        CheckerKind::TcpCheck => CheckKind::Tcp,
        CheckerKind::PingCheck => CheckKind::Ping,
        CheckerKind::HttpGet {
            urls,
            virtualhost,
            http_protocol,
        } => CheckKind::Http(http_check(vs, rs, urls, virtualhost, http_protocol, None)?),
        CheckerKind::SslGet {
            urls,
            virtualhost,
            http_protocol,
            enable_sni,
            tls_compliant,
        } => {
            // The `SSL` block: keepalived loads the CA file (and exits when it cannot) but
            // never verifies the server against it; the client certificate and key are
            // presented. `password` unlocks an encrypted key, which the engine refuses
            // (it names the file); an unencrypted key ignores it, as OpenSSL does.
            let ssl = config.ssl.clone().unwrap_or_default();
            let tls = TlsOptions {
                verify: false,
                ca_file: ssl.ca.map(PathBuf::from),
                sni: *enable_sni,
                client_cert: ssl.certificate.map(PathBuf::from),
                client_key: ssl.key.map(PathBuf::from),
                close_notify: *tls_compliant,
            };
            CheckKind::Http(http_check(
                vs,
                rs,
                urls,
                virtualhost,
                http_protocol,
                Some(tls),
            )?)
        }
        CheckerKind::UdpCheck {
            payload,
            require_reply,
            min_reply_length,
            max_reply_length,
        } => CheckKind::Udp(UdpCheck {
            min_reply_length: min_reply_length.map_or(0, usize::from),
            max_reply_length: max_reply_length.map_or(255, usize::from),
            payload: match payload {
                Some(p) => HexPattern::parse_bytes(p)
                    .map_err(|e| format!("payload {p:?}: {}", engine_cause(e)))?,
                None => Vec::new(),
            },
            require_reply: require_reply
                .as_deref()
                .map(|r| {
                    HexPattern::parse(r)
                        .map_err(|e| format!("require_reply {r:?}: {}", engine_cause(e)))
                })
                .transpose()?,
        }),
        CheckerKind::DnsCheck { query_type, name } => {
            let defaults = DnsCheck::default();
            CheckKind::Dns(DnsCheck {
                record_type: match query_type {
                    Some(t) => t
                        .parse::<DnsType>()
                        .map_err(|e| format!("type: {}", engine_cause(e)))?,
                    None => defaults.record_type,
                },
                name: name.clone().unwrap_or(defaults.name),
            })
        }
        CheckerKind::SmtpCheck { helo_name, .. } => CheckKind::Smtp(SmtpCheck {
            helo_name: helo_name
                .clone()
                .unwrap_or_else(|| DEFAULT_SMTP_HELO.into()),
        }),
        CheckerKind::MiscCheck {
            misc_path,
            misc_timeout,
            misc_dynamic,
            user,
        } => {
            if healthcheck::split_command(misc_path).is_empty() {
                return Err("misc_path is empty".into());
            }
            // keepalived's default user: script_user, else keepalived_script if it exists.
            let default_user = keepalived_conf::ScriptUser {
                user: crate::scripts::DEFAULT_SCRIPT_USER.into(),
                group: None,
            };
            let has_default = nix::unistd::User::from_name(crate::scripts::DEFAULT_SCRIPT_USER)
                .ok()
                .flatten()
                .is_some();
            let user = user
                .as_ref()
                .or(config.global_defs.script_user.as_ref())
                .or(has_default.then_some(&default_user));
            CheckKind::Misc(MiscCheck {
                // The engine splits the command line itself, with the same split_command.
                path: misc_path.clone(),
                timeout: misc_timeout
                    .filter(|t| *t != Timer(0))
                    .map(Timer::as_duration),
                dynamic: *misc_dynamic,
                user: user.map(|u| u.user.clone()),
                group: user.and_then(|u| u.group.clone()),
            })
        }
        CheckerKind::FileCheck {
            track_file,
            weight,
            reverse,
        } => {
            let file = config
                .track_files
                .iter()
                .find(|f| f.name == *track_file)
                .ok_or_else(|| format!("no track_file block named {track_file:?}"))?;
            // keepalived's file_end_handler: without a weight of its own the checker takes the
            // track_file's weight and its reverse.
            let (weight, reverse) = match weight {
                Some(w) => (*w, *reverse),
                None => (file.weight, file.weight_reverse),
            };
            CheckKind::File(FileCheck {
                path: PathBuf::from(&file.file),
                weight,
                reverse,
            })
        }
        CheckerKind::BfdCheck { name } => {
            return Err(format!(
                "BFD_CHECK {name:?} is not supported: the health-check engine has no BFD; \
                 use another checker"
            ))
        }
    })
}

fn http_check(
    vs: &VirtualServer,
    rs: &RealServer,
    urls: &[HttpUrl],
    virtualhost: &Option<String>,
    http_protocol: &Option<String>,
    tls: Option<TlsOptions>,
) -> Result<HttpCheck, String> {
    if urls.is_empty() {
        return Err("no url block: keepalived needs at least one `url { path ... }`".into());
    }
    let protocol = match http_protocol.as_deref() {
        None | Some("1.0") => HttpProtocol::Http10,
        Some("1.0C" | "1.0c") => HttpProtocol::Http10Close,
        Some("1.1") => HttpProtocol::Http11,
        Some(other) => {
            return Err(format!(
                "http_protocol {other:?} is not one of 1.0, 1.0C, 1.1"
            ))
        }
    };
    Ok(HttpCheck {
        urls: urls
            .iter()
            .enumerate()
            .map(|(n, url)| url_check(n, url))
            .collect::<Result<_, _>>()?,
        // A url's own virtualhost still wins over this one (the engine applies it).
        virtualhost: virtualhost
            .as_ref()
            .or(rs.virtualhost.as_ref())
            .or(vs.virtualhost.as_ref())
            .cloned(),
        protocol,
        tls,
        max_body: 0,
    })
}

/// `n` counts the url blocks from 0, to name one that has no path.
fn url_check(n: usize, url: &HttpUrl) -> Result<UrlCheck, String> {
    if url.path.is_empty() {
        return Err(format!("url block #{n} has no path"));
    }
    let to_usize = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
    let offsets = match (url.regex_min_offset, url.regex_max_offset) {
        (Some(min), Some(max)) if min > max => None,
        (min, max) => Some((min.map(to_usize), max.map(to_usize))),
    };
    let mut status_code = Vec::new();
    for codes in &url.status_code {
        status_code.extend(
            UrlCheck::parse_status_codes(codes)
                .map_err(|e| format!("status_code {codes:?}: {}", engine_cause(e)))?,
        );
    }
    Ok(UrlCheck {
        path: url.path.clone(),
        digest: url
            .digest
            .as_deref()
            .map(|d| {
                UrlCheck::parse_digest(d).map_err(|e| format!("digest {d:?}: {}", engine_cause(e)))
            })
            .transpose()?,
        status_code,
        regex: url.regex.clone(),
        regex_no_match: url.regex_no_match,
        virtualhost: url.virtualhost.clone(),
        regex_options: regex_options(&url.regex_options)?,
        // keepalived drops both offsets when the minimum is past the maximum.
        regex_min_offset: offsets.and_then(|(min, _)| min),
        regex_max_offset: offsets.and_then(|(_, max)| max),
        tls_compliant: url.tls_compliant.unwrap_or(false),
    })
}

/// keepalived's `regex_options` (PCRE2 option names) as the engine's flags. Options that only
/// tune PCRE2's speed or forbid pattern constructs are accepted; those that change what
/// matches in ways the engine cannot are refused. keepalived ignores a word it does not know.
fn regex_options(words: &[String]) -> Result<RegexOptions, String> {
    let mut o = RegexOptions::default();
    for w in words {
        match w.as_str() {
            "caseless" => o.caseless = true,
            "multiline" => o.multiline = true,
            "dotall" => o.dotall = true,
            "extended" => o.extended = true,
            "ungreedy" => o.ungreedy = true,
            "utf" | "ucp" => o.unicode = true,
            // `$` matches only at the very end: the engine's `$` already does.
            "dollar_endonly" => {}
            // Speed, capture numbering, and refusals of constructs: no change to a match.
            "no_auto_capture" | "no_auto_possess" | "no_dotstar_anchor" | "no_start_optimize"
            | "never_ucp" | "never_utf" | "never_backslash_c" | "dupnames" => {}
            "allow_empty_class"
            | "alt_bsux"
            | "auto_callout"
            | "firstline"
            | "match_unset_backref"
            | "alt_circumflex"
            | "alt_verbnames"
            | "use_offset_limit" => {
                return Err(format!(
                    "regex_options {w}: this PCRE2 option changes what matches and the \
                     health-check engine cannot apply it"
                ))
            }
            _ => {}
        }
    }
    Ok(o)
}

/// The cause of a configuration error of the engine, without the value it names (the caller
/// names it with the keyword).
fn engine_cause(e: healthcheck::Error) -> String {
    match e {
        healthcheck::Error::BadHex { cause, .. } | healthcheck::Error::BadConfig { cause, .. } => {
            cause
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;
    use std::time::Duration;

    use super::*;
    use keepalived_conf::{self as config, Options, SourceMap};

    /// Parses a configuration; keepalived-level errors are allowed (some tests convert what
    /// the parser already flags, to check that the conversion refuses it too).
    fn parse(text: &str) -> Config {
        let mut sources = SourceMap::default();
        config::parse_str("test.conf", text, &Options::default(), &mut sources).config
    }

    fn parse_clean(text: &str) -> Config {
        let mut sources = SourceMap::default();
        let loaded = config::parse_str("test.conf", text, &Options::default(), &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    /// Every real server of every virtual server, converted.
    fn convert_all(config: &Config) -> Vec<Result<RealServerConfig, CheckConfigError>> {
        config
            .virtual_servers
            .iter()
            .flat_map(|vs| vs.real_servers.iter().map(move |rs| (vs, rs)))
            .map(|(vs, rs)| real_server_config_with(vs, rs, config, false))
            .collect()
    }

    /// The one real server of a configuration, converted.
    fn convert(text: &str) -> Result<RealServerConfig, CheckConfigError> {
        let config = parse(text);
        let mut all = convert_all(&config);
        assert_eq!(all.len(), 1);
        all.remove(0)
    }

    /// The only checker of the only real server of `vs_body` under `virtual_server 10.0.0.1 80`.
    fn one_checker(rs_body: &str) -> CheckerConfig {
        let rs = convert(&format!(
            "virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 80 {{\n{rs_body}\n }}\n}}\n"
        ))
        .unwrap();
        assert_eq!(rs.checkers.len(), 1);
        rs.checkers.into_iter().next().unwrap()
    }

    fn checker_error(rs_body: &str) -> String {
        convert(&format!(
            "virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 80 {{\n{rs_body}\n }}\n}}\n"
        ))
        .unwrap_err()
        .to_string()
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn virtual_servers_are_named_as_the_director_names_them() {
        let addr = |ip: &str, port| VirtualServerKey::Addr {
            ip: ip.parse().unwrap(),
            port,
        };
        assert_eq!(
            virtual_server_name(&addr("192.168.2.200", 80)),
            "192.168.2.200:80"
        );
        assert_eq!(
            virtual_server_name(&addr("2001:db8::1", 443)),
            "[2001:db8::1]:443"
        );
        assert_eq!(
            virtual_server_name(&VirtualServerKey::Fwmark { mark: 7 }),
            "fwmark 7"
        );
        assert_eq!(
            virtual_server_name(&VirtualServerKey::Group { name: "web".into() }),
            "group web"
        );
    }

    #[test]
    fn a_real_server_without_a_port_takes_the_virtual_servers() {
        let ip: IpAddr = "10.0.0.2".parse().unwrap();
        let by_addr = VirtualServer::new(VirtualServerKey::Addr {
            ip: "10.0.0.1".parse().unwrap(),
            port: 8080,
        });
        let by_mark = VirtualServer::new(VirtualServerKey::Fwmark { mark: 3 });
        let by_group = VirtualServer::new(VirtualServerKey::Group { name: "g".into() });
        let portless = RealServer::new(ip, None);
        let with_port = RealServer::new(ip, Some(81));
        assert_eq!(
            real_server_addr(&by_addr, &portless),
            "10.0.0.2:8080".parse().unwrap()
        );
        assert_eq!(
            real_server_addr(&by_addr, &with_port),
            "10.0.0.2:81".parse().unwrap()
        );
        assert_eq!(
            real_server_addr(&by_mark, &portless),
            "10.0.0.2:0".parse().unwrap()
        );
        assert_eq!(
            real_server_addr(&by_group, &with_port),
            "10.0.0.2:81".parse().unwrap()
        );
    }

    #[test]
    fn checkers_are_named_by_keyword_and_position_among_all_blocks() {
        let rs = convert(
            "virtual_server fwmark 7 {
                real_server 2001:db8::2 443 {
                    weight 0
                    TCP_CHECK { }
                    HTTP_GET { url { path / } }
                    TCP_CHECK { }
                    ICMP_CHECK { }
                }
            }",
        )
        .unwrap();
        assert_eq!(rs.id.virtual_server, "fwmark 7");
        assert_eq!(rs.id.real_server, "[2001:db8::2]:443".parse().unwrap());
        // Weight 0 is keepalived's real server that takes no new connections.
        assert_eq!(rs.weight, 0);
        let names: Vec<&str> = rs.checkers.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["TCP_CHECK#0", "HTTP_GET#1", "TCP_CHECK#2", "PING_CHECK#3"]
        );
        assert_eq!(rs.checkers[3].kind, CheckKind::Ping);
    }

    #[test]
    fn a_real_server_without_checkers_has_none() {
        let rs = convert("virtual_server 10.0.0.1 80 { real_server 10.0.0.2 { weight 65535 } }")
            .unwrap();
        assert_eq!(rs.id.real_server, "10.0.0.2:80".parse().unwrap());
        assert_eq!(rs.weight, 65535);
        assert!(rs.checkers.is_empty());
    }

    #[test]
    fn weights_outside_keepalived_range_are_errors() {
        let config = Config::default();
        let vs = VirtualServer::new(VirtualServerKey::Addr {
            ip: "192.168.2.200".parse().unwrap(),
            port: 80,
        });
        let mut rs = RealServer::new("192.168.2.20".parse().unwrap(), None);
        for weight in [-1, 65536, i32::MIN] {
            rs.weight = weight;
            let e = real_server_config(&vs, &rs, &config).unwrap_err();
            assert_eq!(e.checker, None);
            assert_eq!(
                e.to_string(),
                format!(
                    "virtual_server 192.168.2.200:80, real_server 192.168.2.20:80: \
                     weight {weight} is outside 0-65535"
                )
            );
        }
    }

    #[test]
    fn nb_get_retry_is_retry() {
        // keepalived's old name of `retry` in HTTP_GET and SSL_GET.
        for kind in ["HTTP_GET", "SSL_GET"] {
            let c = one_checker(&format!("{kind} {{ url {{ path / }}\n nb_get_retry 4 }}"));
            assert_eq!(c.timing.retry, 4, "{kind}");
        }
    }

    #[test]
    fn unset_values_take_keepalived_defaults_per_checker_kind() {
        let rs = convert(
            "virtual_server 10.0.0.1 80 {
                real_server 10.0.0.2 80 {
                    TCP_CHECK { }
                    HTTP_GET { url { path / } }
                    SSL_GET { url { path / } }
                    DNS_CHECK { }
                    MISC_CHECK { misc_path /bin/true }
                }
            }",
        )
        .unwrap();
        let timing: Vec<&Timing> = rs.checkers.iter().map(|c| &c.timing).collect();
        let tcp = Timing {
            delay_loop: secs(60),
            connect_timeout: secs(5),
            retry: 1,
            delay_before_retry: secs(1),
            // keepalived scatters first checks over delay_loop unless told otherwise.
            warmup: Some(secs(60)),
            alpha: false,
            rise: None,
            fall: None,
        };
        assert_eq!(*timing[0], tcp);
        let http = Timing {
            delay_before_retry: secs(3),
            ..tcp.clone()
        };
        assert_eq!(*timing[1], http);
        assert_eq!(*timing[2], http);
        let dns = Timing {
            retry: 3,
            delay_before_retry: secs(60),
            ..tcp.clone()
        };
        assert_eq!(*timing[3], dns);
        let misc = Timing {
            retry: 0,
            connect_timeout: secs(60),
            ..tcp.clone()
        };
        assert_eq!(*timing[4], misc);
        for c in &rs.checkers {
            assert_eq!(c.connect, ConnectOptions::default());
            assert!(!c.log_all_failures);
        }
    }

    #[test]
    fn the_most_specific_level_wins() {
        let config = parse_clean(
            "virtual_server 10.0.0.1 80 {
                delay_loop 10
                retry 2
                delay_before_retry 4
                warmup 5
                connect_timeout 6
                alpha
                virtualhost vs.example
                real_server 10.0.0.2 80 {
                    HTTP_GET { url { path / } }
                }
                real_server 10.0.0.3 80 {
                    delay_loop 11
                    retry 3
                    delay_before_retry 7
                    warmup 8
                    connect_timeout 9
                    alpha off
                    virtualhost rs.example
                    HTTP_GET { url { path / } }
                    HTTP_GET {
                        delay_loop 12
                        retry 0
                        delay_before_retry 13
                        warmup 0
                        connect_timeout 14
                        alpha on
                        virtualhost checker.example
                        url { path / }
                        url {
                            path /own
                            virtualhost url.example
                        }
                    }
                }
            }",
        );
        let servers: Vec<RealServerConfig> = convert_all(&config)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let checkers: Vec<&CheckerConfig> =
            servers.iter().flat_map(|rs| rs.checkers.iter()).collect();
        let expect = |delay_loop, retry, dbr, warmup, timeout, alpha| Timing {
            delay_loop: secs(delay_loop),
            connect_timeout: secs(timeout),
            retry,
            delay_before_retry: secs(dbr),
            warmup,
            alpha,
            rise: None,
            fall: None,
        };
        assert_eq!(checkers[0].timing, expect(10, 2, 4, Some(secs(5)), 6, true));
        assert_eq!(
            checkers[1].timing,
            expect(11, 3, 7, Some(secs(8)), 9, false)
        );
        assert_eq!(checkers[2].timing, expect(12, 0, 13, None, 14, true));
        let vhost = |c: &CheckerConfig| match &c.kind {
            CheckKind::Http(h) => (
                h.virtualhost.clone().unwrap(),
                h.urls
                    .iter()
                    .map(|u| u.virtualhost.clone())
                    .collect::<Vec<_>>(),
            ),
            other => panic!("{other:?}"),
        };
        assert_eq!(vhost(checkers[0]), ("vs.example".into(), vec![None]));
        assert_eq!(vhost(checkers[1]), ("rs.example".into(), vec![None]));
        assert_eq!(
            vhost(checkers[2]),
            (
                "checker.example".into(),
                vec![None, Some("url.example".into())]
            )
        );
    }

    #[test]
    fn warmup_defaults_to_the_inherited_delay_loop() {
        let c = one_checker("delay_loop 3\nTCP_CHECK { delay_loop 2 }");
        assert_eq!(c.timing.delay_loop, secs(2));
        assert_eq!(c.timing.warmup, Some(secs(2)));
    }

    #[test]
    fn connect_options_and_log_all_failures_are_passed_on() {
        let c = one_checker(
            "TCP_CHECK {
                connect_ip 10.0.0.9
                connect_port 8080
                bindto 10.0.0.1
                bind_port 5000
                bind_if eth1
                fwmark 42
                log_all_failures
            }",
        );
        assert_eq!(
            c.connect,
            ConnectOptions {
                connect_ip: Some("10.0.0.9".parse().unwrap()),
                connect_port: Some(8080),
                bindto: Some("10.0.0.1".parse().unwrap()),
                bind_port: Some(5000),
                bind_if: Some("eth1".into()),
                fwmark: Some(42),
                reset_on_close: false,
            }
        );
        assert!(c.log_all_failures);
        assert_eq!(c.kind, CheckKind::Tcp);
    }

    #[test]
    fn http_get_urls_and_protocols() {
        let c = one_checker(
            "HTTP_GET {
                url {
                    path /health
                    digest 9b3a0c85a887a256d6939da88aabd8cd
                    status_code 200-204
                    status_code 301
                    regex \"^OK\"
                    regex_no_match
                    virtualhost www.example
                }
                url { path /other }
                http_protocol 1.1
            }",
        );
        let CheckKind::Http(http) = c.kind else {
            panic!("{:?}", c.kind)
        };
        assert_eq!(http.protocol, HttpProtocol::Http11);
        assert_eq!(http.tls, None);
        assert_eq!(http.virtualhost, None);
        assert_eq!(http.max_body, 0);
        assert_eq!(
            http.urls[0],
            UrlCheck {
                path: "/health".into(),
                digest: Some([
                    0x9b, 0x3a, 0x0c, 0x85, 0xa8, 0x87, 0xa2, 0x56, 0xd6, 0x93, 0x9d, 0xa8, 0x8a,
                    0xab, 0xd8, 0xcd
                ]),
                status_code: vec![200..=204, 301..=301],
                regex: Some("^OK".into()),
                regex_no_match: true,
                virtualhost: Some("www.example".into()),
                ..UrlCheck::default()
            }
        );
        assert_eq!(
            http.urls[1],
            UrlCheck {
                path: "/other".into(),
                ..UrlCheck::default()
            }
        );
        for (written, protocol) in [
            ("", HttpProtocol::Http10),
            ("http_protocol 1.0", HttpProtocol::Http10),
            ("http_protocol 1.0C", HttpProtocol::Http10Close),
            ("http_protocol 1.0c", HttpProtocol::Http10Close),
        ] {
            let c = one_checker(&format!("HTTP_GET {{ url {{ path / }}\n{written} }}"));
            let CheckKind::Http(http) = c.kind else {
                panic!("{:?}", c.kind)
            };
            assert_eq!(http.protocol, protocol, "{written}");
        }
    }

    #[test]
    fn ssl_get_is_http_with_tls() {
        let c = one_checker("SSL_GET { url { path / }\nenable_sni }");
        assert_eq!(c.name, "SSL_GET#0");
        let CheckKind::Http(http) = c.kind else {
            panic!("{:?}", c.kind)
        };
        assert_eq!(
            http.tls,
            Some(TlsOptions {
                sni: true,
                ..TlsOptions::default()
            })
        );
        let c = one_checker("SSL_GET { url { path / } }");
        let CheckKind::Http(http) = c.kind else {
            panic!("{:?}", c.kind)
        };
        assert_eq!(http.tls, Some(TlsOptions::default()));
    }

    #[test]
    fn ssl_get_takes_the_ssl_block_and_tls_compliant() {
        let rs = convert(
            "SSL { ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n password p }
            virtual_server 10.0.0.1 443 {
                real_server 10.0.0.2 443 {
                    SSL_GET { tls_compliant\n url { path / } url { path /b\n tls_compliant } }
                }
            }",
        )
        .unwrap();
        let CheckKind::Http(http) = &rs.checkers[0].kind else {
            panic!()
        };
        assert_eq!(
            http.tls,
            Some(TlsOptions {
                verify: false,
                ca_file: Some("/etc/ca.pem".into()),
                sni: false,
                client_cert: Some("/etc/c.pem".into()),
                client_key: Some("/etc/k.pem".into()),
                close_notify: true,
            })
        );
        assert_eq!(
            http.urls
                .iter()
                .map(|u| u.tls_compliant)
                .collect::<Vec<_>>(),
            [false, true]
        );
    }

    #[test]
    fn url_regex_options_and_offsets() {
        let c = one_checker(
            "HTTP_GET { url { path /\n regex up\n regex_options caseless dotall no_auto_capture utf\n \
             regex_min_offset 3\n regex_max_offset 9 } }",
        );
        let CheckKind::Http(http) = c.kind else {
            panic!()
        };
        let u = &http.urls[0];
        assert_eq!(
            u.regex_options,
            RegexOptions {
                caseless: true,
                dotall: true,
                unicode: true,
                ..RegexOptions::default()
            }
        );
        assert_eq!((u.regex_min_offset, u.regex_max_offset), (Some(3), Some(9)));
        // keepalived drops both offsets when min > max.
        let c = one_checker(
            "HTTP_GET { url { path /\n regex up\n regex_min_offset 9\n regex_max_offset 3 } }",
        );
        let CheckKind::Http(http) = c.kind else {
            panic!()
        };
        assert_eq!(
            (http.urls[0].regex_min_offset, http.urls[0].regex_max_offset),
            (None, None)
        );
        // An option that changes matching beyond the engine is refused, naming it.
        let e = checker_error("HTTP_GET { url { path /\n regex up\n regex_options firstline } }");
        assert!(e.contains("regex_options firstline"), "{e}");
    }

    #[test]
    fn udp_check_reply_lengths_default_to_keepalived() {
        let c = one_checker("UDP_CHECK { require_reply 01 }");
        let CheckKind::Udp(u) = c.kind else { panic!() };
        assert_eq!((u.min_reply_length, u.max_reply_length), (0, 255));
        let c = one_checker(
            "UDP_CHECK { require_reply 01\n min_reply_length 4\n max_reply_length 1000 }",
        );
        let CheckKind::Udp(u) = c.kind else { panic!() };
        assert_eq!((u.min_reply_length, u.max_reply_length), (4, 1000));
    }

    #[test]
    fn smtp_check_host_blocks_are_checks_of_their_own() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        // No connection setting of its own: the first host replaces the checker's target.
        let rs = convert(
            "virtual_server 10.0.0.1 25 { real_server 10.0.0.2 25 {
                SMTP_CHECK { helo_name h\n retry 2
                    host { connect_ip 10.0.0.3\n connect_port 2525 }
                    host { connect_ip 10.0.0.4 } } } }",
        )
        .unwrap();
        let got: Vec<_> = rs
            .checkers
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.connect.connect_ip,
                    c.connect.connect_port,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("SMTP_CHECK#0/host#0", ip("10.0.0.3"), Some(2525)),
                ("SMTP_CHECK#0/host#1", ip("10.0.0.4"), None),
            ]
        );
        assert!(rs.checkers.iter().all(|c| c.timing.retry == 2));
        // With a connection setting of its own, the checker checks too.
        let rs = convert(
            "virtual_server 10.0.0.1 25 { real_server 10.0.0.2 25 {
                SMTP_CHECK { connect_port 587
                    host { connect_ip 10.0.0.3 } } } }",
        )
        .unwrap();
        let got: Vec<_> = rs
            .checkers
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.connect.connect_ip,
                    c.connect.connect_port,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("SMTP_CHECK#0", None, Some(587)),
                ("SMTP_CHECK#0/host#0", ip("10.0.0.3"), None),
            ]
        );
    }

    #[test]
    fn http_errors_name_the_checker_and_the_cause() {
        // The parser refuses these values; a configuration built in code can still hold them.
        let with_url = |checkers: &str, set: &dyn Fn(&mut keepalived_conf::HttpUrl)| {
            let mut config = parse(&format!(
                "virtual_server 10.0.0.1 80 {{\n real_server 10.0.0.2 80 {{\n{checkers}\n }}\n}}\n"
            ));
            let rs = &mut config.virtual_servers[0].real_servers[0];
            let Some(keepalived_conf::CheckerKind::HttpGet { urls, .. }) =
                rs.checkers.last_mut().map(|c| &mut c.kind)
            else {
                panic!("the last checker is HTTP_GET");
            };
            set(&mut urls[0]);
            let mut all = convert_all(&config);
            all.remove(0).unwrap_err().to_string()
        };
        assert_eq!(
            with_url("TCP_CHECK { }\nHTTP_GET { url { path / } }", &|u| {
                u.digest = Some("zz".into())
            }),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, HTTP_GET#1: \
             digest \"zz\": 'z' is not a hex digit or X"
        );
        assert_eq!(
            with_url("HTTP_GET { url { path / } }", &|u| u.digest =
                Some("0123".into())),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, HTTP_GET#0: \
             digest \"0123\": 2 bytes, an MD5 digest has 16"
        );
        assert_eq!(
            with_url("HTTP_GET { url { path / } }", &|u| {
                u.status_code = vec!["200".into(), "99".into()]
            }),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, HTTP_GET#0: \
             status_code \"99\": \"99\" is not a status code (100-599)"
        );
        assert_eq!(
            checker_error("SSL_GET { url { path / }\nhttp_protocol 2 }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, SSL_GET#0: \
             http_protocol \"2\" is not one of 1.0, 1.0C, 1.1"
        );
        assert_eq!(
            checker_error("HTTP_GET { connect_port 80 }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, HTTP_GET#0: \
             no url block: keepalived needs at least one `url { path ... }`"
        );
        assert_eq!(
            checker_error(
                "HTTP_GET {\nurl { path / }\nurl { digest 9b3a0c85a887a256d6939da88aabd8cd }\n}"
            ),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, HTTP_GET#0: \
             url block #1 has no path"
        );
    }

    #[test]
    fn udp_check_payload_and_reply_pattern() {
        let c = one_checker("UDP_CHECK { payload 01ff\nrequire_reply 0aXX }");
        let CheckKind::Udp(udp) = c.kind else {
            panic!("{:?}", c.kind)
        };
        assert_eq!(udp.payload, [0x01, 0xff]);
        let reply = udp.require_reply.unwrap();
        assert!(reply.matches(&[0x0a, 0x42]) && !reply.matches(&[0x0b, 0x42]));

        let c = one_checker("UDP_CHECK { }");
        assert_eq!(c.kind, CheckKind::Udp(UdpCheck::default()));

        assert_eq!(
            checker_error("UDP_CHECK { payload 0aXX }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, UDP_CHECK#0: \
             payload \"0aXX\": X wildcard in a payload"
        );
        assert_eq!(
            checker_error("UDP_CHECK { require_reply abc }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, UDP_CHECK#0: \
             require_reply \"abc\": odd number of nibbles"
        );
    }

    #[test]
    fn dns_check_type_and_name() {
        assert_eq!(
            one_checker("DNS_CHECK { }").kind,
            CheckKind::Dns(DnsCheck {
                record_type: DnsType::Soa,
                name: ".".into(),
            })
        );
        assert_eq!(
            one_checker("DNS_CHECK { type aaaa\nname www.example.com }").kind,
            CheckKind::Dns(DnsCheck {
                record_type: DnsType::Aaaa,
                name: "www.example.com".into(),
            })
        );
        assert_eq!(
            checker_error("DNS_CHECK { type PTR }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, DNS_CHECK#0: \
             type: \"PTR\" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA"
        );
    }

    #[test]
    fn smtp_check_helo_name() {
        assert_eq!(
            one_checker("SMTP_CHECK { helo_name mail.example }").kind,
            CheckKind::Smtp(SmtpCheck {
                helo_name: "mail.example".into()
            })
        );
        assert_eq!(
            one_checker("SMTP_CHECK { }").kind,
            CheckKind::Smtp(SmtpCheck {
                helo_name: "smtpchecker.keepalived.org".into()
            })
        );
    }

    #[test]
    fn misc_check_script_timeout_and_user() {
        let text = |global: &str, checker: &str| {
            format!(
                "global_defs {{ {global} }}
                virtual_server 10.0.0.1 80 {{
                    delay_loop 20
                    real_server 10.0.0.2 80 {{
                        MISC_CHECK {{
                            misc_path \"/usr/local/bin/check 'a b' c\"
                            {checker}
                        }}
                    }}
                }}"
            )
        };
        let misc = |global: &str, checker: &str| {
            let rs = convert(&text(global, checker)).unwrap();
            let c = rs.checkers.into_iter().next().unwrap();
            match c.kind {
                CheckKind::Misc(m) => (m, c.timing),
                other => panic!("{other:?}"),
            }
        };

        let (m, timing) = misc("", "misc_timeout 7\nmisc_dynamic\ndelay_loop 30");
        assert_eq!(
            healthcheck::split_command(&m.path),
            ["/usr/local/bin/check", "a b", "c"]
        );
        assert_eq!(m.timeout, Some(secs(7)));
        assert!(m.dynamic);
        assert_eq!(m.user, None);
        assert_eq!((timing.connect_timeout, timing.retry), (secs(7), 0));

        // Without misc_timeout keepalived uses the virtual server's delay_loop.
        let (m, timing) = misc("", "delay_loop 30");
        assert_eq!(m.timeout, None);
        assert!(!m.dynamic);
        assert_eq!(
            (timing.delay_loop, timing.connect_timeout),
            (secs(30), secs(20))
        );

        let (m, _) = misc("script_user nobody", "");
        assert_eq!(m.user.as_deref(), Some("nobody"));
        let (m, _) = misc("script_user nobody", "user daemon");
        assert_eq!(m.user.as_deref(), Some("daemon"));

        // `user USER GROUP` (and script_user's group) reach the engine.
        let (m, _) = misc("script_user nobody nogroup", "");
        assert_eq!(
            (m.user.as_deref(), m.group.as_deref()),
            (Some("nobody"), Some("nogroup"))
        );
        let (m, _) = misc("", "user daemon root");
        assert_eq!(
            (m.user.as_deref(), m.group.as_deref()),
            (Some("daemon"), Some("root"))
        );
        assert_eq!(
            checker_error("MISC_CHECK { misc_path \"  \" }"),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, MISC_CHECK#0: \
             misc_path is empty"
        );
    }

    #[test]
    fn file_check_reads_its_track_file() {
        let text = |checker: &str| {
            format!(
                "track_file weights {{
                    file /run/ha/weight
                    weight 3 reverse
                }}
                virtual_server 10.0.0.1 80 {{
                    real_server 10.0.0.2 80 {{
                        FILE_CHECK {{ {checker} }}
                    }}
                }}"
            )
        };
        let file = |checker: &str| {
            let rs = convert(&text(checker)).unwrap();
            rs.checkers.into_iter().next().unwrap().kind
        };
        // Without a weight of its own the checker takes the track_file's, and its reverse.
        assert_eq!(
            file("track_file weights"),
            CheckKind::File(FileCheck {
                path: "/run/ha/weight".into(),
                weight: 3,
                reverse: true,
            })
        );
        assert_eq!(
            file("track_file weights\nweight -2"),
            CheckKind::File(FileCheck {
                path: "/run/ha/weight".into(),
                weight: -2,
                reverse: false,
            })
        );
        assert_eq!(
            convert(&text("track_file other")).unwrap_err().to_string(),
            "virtual_server 10.0.0.1:80, real_server 10.0.0.2:80, FILE_CHECK#0: \
             no track_file block named \"other\""
        );
    }

    #[test]
    fn bfd_check_is_refused() {
        let e = convert(
            "virtual_server group web {
                real_server 10.0.0.2 80 {
                    TCP_CHECK { }
                    BFD_CHECK { name link1 }
                }
            }",
        )
        .unwrap_err();
        assert_eq!(e.virtual_server, "group web");
        assert_eq!(e.checker.as_deref(), Some("BFD_CHECK#1"));
        assert!(
            e.to_string().starts_with(
                "virtual_server group web, real_server 10.0.0.2:80, BFD_CHECK#1: \
                 BFD_CHECK \"link1\" is not supported"
            ),
            "{e}"
        );
    }

    #[test]
    fn zero_intervals_are_errors() {
        assert!(checker_error("delay_loop 0\nTCP_CHECK { }")
            .ends_with("delay_loop is 0: checks need an interval"));
        assert!(checker_error("TCP_CHECK { connect_timeout 0 }")
            .ends_with("connect_timeout is 0: every check would time out"));
    }

    #[test]
    fn every_real_server_of_the_example_converts() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/examples/lvs1.conf"
        ))
        .unwrap();
        let config = parse_clean(&text);
        let servers: Vec<RealServerConfig> = convert_all(&config)
            .into_iter()
            .collect::<Result<_, _>>()
            .unwrap();
        let addrs: Vec<String> = servers.iter().map(|rs| rs.id.to_string()).collect();
        assert_eq!(
            addrs,
            [
                "192.168.2.200:80 -> 192.168.2.20:80",
                "192.168.2.200:80 -> 192.168.2.30:80"
            ]
        );
        for rs in &servers {
            assert_eq!(rs.weight, 1);
            let [c] = rs.checkers.as_slice() else {
                panic!("{rs:?}")
            };
            assert_eq!(c.name, "TCP_CHECK#0");
            assert_eq!(c.kind, CheckKind::Tcp);
            assert_eq!(c.connect.connect_port, Some(80));
            assert_eq!(c.timing.connect_timeout, secs(3));
            assert_eq!(c.timing.delay_loop, secs(6));
        }
    }
}
