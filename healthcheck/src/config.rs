//! Plain configuration types, one per keepalived keyword group.
//!
//! The director builds these from the parsed `keepalived.conf`; this crate never reads the
//! file itself. Field names follow keepalived's keywords and each field's doc gives the
//! keyword and keepalived's default.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// A real server behind one virtual server: the unit that goes up and down.
///
/// Its identity survives reloads: a reload that keeps the same `virtual_server` label and
/// `real_server` address keeps the server's state.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RealServerId {
    /// The virtual server as the director names it (`10.0.0.1:80`, `fwmark 7`, a group name).
    pub virtual_server: String,
    /// `real_server <IP> <PORT>`.
    pub real_server: SocketAddr,
}

impl fmt::Display for RealServerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.virtual_server, self.real_server)
    }
}

/// One checker of one real server: the unit the scheduler runs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckId {
    pub server: RealServerId,
    /// The checker's name within the real server, stable across reloads: the director
    /// uses the keyword and position, e.g. `HTTP_GET#0`.
    pub checker: String,
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.server, self.checker)
    }
}

/// `real_server` block: its identity, weight and checkers.
///
/// A real server with no checkers is always up (as in keepalived).
#[derive(Debug, Clone, PartialEq)]
pub struct RealServerConfig {
    pub id: RealServerId,
    /// `weight`, default 1. Dynamic checkers (`misc_dynamic`, `FILE_CHECK`) change the
    /// effective weight reported in [`Event::Weight`](crate::Event::Weight).
    pub weight: u32,
    pub checkers: Vec<CheckerConfig>,
}

/// One checker block (`TCP_CHECK { ... }`, `HTTP_GET { ... }`, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct CheckerConfig {
    /// Stable name within its real server (see [`CheckId::checker`]).
    pub name: String,
    pub kind: CheckKind,
    pub timing: Timing,
    pub connect: ConnectOptions,
    /// `log_all_failures`: log (and emit [`Event::CheckFailed`](crate::Event::CheckFailed)
    /// for) every failure, not only up/down transitions. Default off.
    pub log_all_failures: bool,
}

impl CheckerConfig {
    /// A checker with keepalived's default timing and connection options.
    pub fn new(name: impl Into<String>, kind: CheckKind) -> Self {
        CheckerConfig {
            name: name.into(),
            timing: Timing::default_for(&kind),
            kind,
            connect: ConnectOptions::default(),
            log_all_failures: false,
        }
    }
}

/// When a checker runs and how many results flip its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// `delay_loop`: interval between checks, default 60 s.
    pub delay_loop: Duration,
    /// `connect_timeout` (`misc_timeout` for MISC_CHECK): the whole check's time limit,
    /// default 5 s.
    pub connect_timeout: Duration,
    /// `retry`: a server goes down after `retry + 1` consecutive failures. Default 1
    /// (0 for MISC_CHECK, whose script does its own retrying).
    pub retry: u32,
    /// `delay_before_retry`: interval between checks while failures are being counted,
    /// default 1 s.
    pub delay_before_retry: Duration,
    /// `warmup`: the first check runs at a random time within this span, so that many
    /// checks configured together do not fire together. Default none (first check at once).
    pub warmup: Option<Duration>,
    /// `alpha`: start as down and wait for a success. Default off (start as up).
    pub alpha: bool,
    /// Consecutive successes needed to go up, default 1 (keepalived). For flap damping.
    pub rise: Option<u32>,
    /// Consecutive failures needed to go down; overrides `retry + 1` when set.
    pub fall: Option<u32>,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            delay_loop: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(5),
            retry: 1,
            delay_before_retry: Duration::from_secs(1),
            warmup: None,
            alpha: false,
            rise: None,
            fall: None,
        }
    }
}

impl Timing {
    /// keepalived's defaults for this kind of checker.
    pub fn default_for(kind: &CheckKind) -> Self {
        let mut timing = Timing::default();
        if let CheckKind::Misc(misc) = kind {
            timing.retry = 0;
            timing.connect_timeout = misc.timeout.unwrap_or(timing.delay_loop);
        }
        timing
    }

    /// Consecutive failures that take the checker down.
    pub fn fall_count(&self) -> u32 {
        self.fall.unwrap_or(self.retry.saturating_add(1)).max(1)
    }

    /// Consecutive successes that bring the checker up.
    pub fn rise_count(&self) -> u32 {
        self.rise.unwrap_or(1).max(1)
    }
}

/// Where and how a checker connects: the options common to all network checkers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `connect_ip`: check this address instead of the real server's.
    pub connect_ip: Option<IpAddr>,
    /// `connect_port`: check this port instead of the real server's.
    pub connect_port: Option<u16>,
    /// `bindto`: source address.
    pub bindto: Option<IpAddr>,
    /// `bind_port`: source port.
    pub bind_port: Option<u16>,
    /// `bind_if`: source interface (`SO_BINDTODEVICE`), needed for IPv6 link-local.
    pub bind_if: Option<String>,
    /// `fwmark`: `SO_MARK` on the checker's socket, for policy routing.
    pub fwmark: Option<u32>,
    /// Not a keepalived keyword: close TCP checker connections with a reset
    /// (`SO_LINGER` 0, as HAProxy's checks do) instead of a FIN. The director then keeps
    /// no `TIME_WAIT` sockets: at 10k checks/s a FIN close holds ~600k of them, past
    /// `net.ipv4.tcp_max_tw_buckets`, and costs CPU. Default off (keepalived closes with FIN).
    pub reset_on_close: bool,
}

impl ConnectOptions {
    /// The address to check for a real server.
    pub fn target(&self, real_server: SocketAddr) -> SocketAddr {
        SocketAddr::new(
            self.connect_ip.unwrap_or(real_server.ip()),
            self.connect_port.unwrap_or(real_server.port()),
        )
    }
}

/// The checker keyword and its own options.
#[derive(Debug, Clone, PartialEq)]
pub enum CheckKind {
    /// `TCP_CHECK`: up when a TCP connection is established.
    Tcp,
    /// `HTTP_GET` (`tls: None`) or `SSL_GET` (`tls: Some`).
    Http(HttpCheck),
    /// `UDP_CHECK`.
    Udp(UdpCheck),
    /// `DNS_CHECK`.
    Dns(DnsCheck),
    /// `PING_CHECK`: ICMP or ICMPv6 echo.
    Ping,
    /// `SMTP_CHECK`: banner, HELO, QUIT.
    Smtp(SmtpCheck),
    /// `MISC_CHECK`: a script's exit code.
    Misc(MiscCheck),
    /// `FILE_CHECK`: a number read from a file.
    File(FileCheck),
}

impl CheckKind {
    /// The keepalived keyword, for messages.
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "TCP_CHECK",
            CheckKind::Http(h) if h.tls.is_some() => "SSL_GET",
            CheckKind::Http(_) => "HTTP_GET",
            CheckKind::Udp(_) => "UDP_CHECK",
            CheckKind::Dns(_) => "DNS_CHECK",
            CheckKind::Ping => "PING_CHECK",
            CheckKind::Smtp(_) => "SMTP_CHECK",
            CheckKind::Misc(_) => "MISC_CHECK",
            CheckKind::File(_) => "FILE_CHECK",
        }
    }
}

/// `HTTP_GET` / `SSL_GET` options.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct HttpCheck {
    /// `url` blocks; the checker is up only when every URL passes.
    pub urls: Vec<UrlCheck>,
    /// `virtualhost`: Host header (and TLS SNI) for every URL that sets none.
    pub virtualhost: Option<String>,
    /// `http_protocol`, default 1.0.
    pub protocol: HttpProtocol,
    /// `SSL_GET` options; `None` for plain `HTTP_GET`.
    pub tls: Option<TlsOptions>,
    /// Largest body read for `digest`/`regex`; a larger body is a failure. 0 (the
    /// `Default`) means [`HttpCheck::DEFAULT_MAX_BODY`], 1 MiB.
    pub max_body: usize,
}

impl HttpCheck {
    /// Default limit on the body read from a real server.
    pub const DEFAULT_MAX_BODY: usize = 1 << 20;
}

/// `http_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    /// `1.0`: HTTP/1.0 request, no Connection header.
    #[default]
    Http10,
    /// `1.0C`: HTTP/1.0 with `Connection: close`, for servers that keep 1.0 connections open.
    Http10Close,
    /// `1.1`: HTTP/1.1 with `Connection: close`.
    Http11,
}

/// One `url` block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct UrlCheck {
    /// `path`, e.g. `/health`.
    pub path: String,
    /// `digest`: MD5 of the body (32 hex digits in the config).
    pub digest: Option<[u8; 16]>,
    /// `status_code`: accepted values and ranges; empty means 200-299 (keepalived).
    pub status_code: Vec<std::ops::RangeInclusive<u16>>,
    /// `regex`: the body must match (or, with `regex_no_match`, must not match).
    pub regex: Option<String>,
    /// `regex_no_match`.
    pub regex_no_match: bool,
    /// `virtualhost` for this URL only.
    pub virtualhost: Option<String>,
    /// `regex_options`: how `regex` is compiled.
    pub regex_options: RegexOptions,
    /// `regex_min_offset`: a match must start at or after this byte of the body.
    pub regex_min_offset: Option<usize>,
    /// `regex_max_offset`: a match must start at or before this byte of the body.
    pub regex_max_offset: Option<usize>,
    /// `tls_compliant` of this URL (SSL_GET): end the session with a close_notify alert,
    /// as when the checker's [`TlsOptions::close_notify`] is set.
    pub tls_compliant: bool,
}

/// The `regex_options` (PCRE2 option names) that change what a `regex` matches, as the
/// Rust regex engine's flags. keepalived compiles without UTF (bytes, ASCII classes)
/// unless `utf` or `ucp` is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RegexOptions {
    /// `caseless`: `(?i)`.
    pub caseless: bool,
    /// `multiline`: `^` and `$` at line ends, `(?m)`.
    pub multiline: bool,
    /// `dotall`: `.` matches a newline, `(?s)`.
    pub dotall: bool,
    /// `extended`: whitespace and `#` comments in the pattern are ignored, `(?x)`.
    pub extended: bool,
    /// `ungreedy`: quantifiers are lazy unless followed by `?`, `(?U)`.
    pub ungreedy: bool,
    /// `utf` / `ucp`: the body is UTF-8, classes are Unicode, `(?u)`.
    pub unicode: bool,
}

impl UrlCheck {
    /// Parses a `digest` value: 32 hex digits.
    pub fn parse_digest(text: &str) -> Result<[u8; 16], crate::Error> {
        let bytes = HexPattern::parse_bytes(text)?;
        bytes
            .try_into()
            .map_err(|b: Vec<u8>| crate::Error::BadConfig {
                what: format!("digest {text:?}"),
                cause: format!("{} bytes, an MD5 digest has 16", b.len()),
            })
    }

    /// Parses `status_code` values: `200`, `200-299`, several separated by spaces or commas.
    pub fn parse_status_codes(
        text: &str,
    ) -> Result<Vec<std::ops::RangeInclusive<u16>>, crate::Error> {
        let bad = |cause: String| crate::Error::BadConfig {
            what: format!("status_code {text:?}"),
            cause,
        };
        let code = |word: &str| -> Result<u16, crate::Error> {
            word.parse::<u16>()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| bad(format!("{word:?} is not a status code (100-599)")))
        };
        text.split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| !w.is_empty())
            .map(|word| match word.split_once('-') {
                Some((low, high)) => {
                    let (low, high) = (code(low)?, code(high)?);
                    if low > high {
                        return Err(bad(format!("range {word} is backwards")));
                    }
                    Ok(low..=high)
                }
                None => code(word).map(|c| c..=c),
            })
            .collect()
    }
}

/// `SSL_GET` TLS options. Verification is off by default, as in keepalived.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Verify the server certificate chain and name. Default off.
    pub verify: bool,
    /// `ca` (of the `SSL` block): PEM file of trusted roots. Always read (a file that does
    /// not load is a configuration error, as keepalived exits on it); it decides the
    /// handshake only when `verify` is on (keepalived never verifies).
    pub ca_file: Option<PathBuf>,
    /// `enable_sni`: send SNI (the virtualhost, or nothing for an IP). Default on.
    pub sni: bool,
    /// `certificate` (of the `SSL` block): PEM client certificate chain presented to the
    /// server. Needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// `key` (of the `SSL` block): PEM private key of `client_cert` (not encrypted).
    pub client_key: Option<PathBuf>,
    /// `tls_compliant`: end each session with a close_notify alert. Default off: keepalived
    /// shuts down quietly (`SSL_set_quiet_shutdown`).
    pub close_notify: bool,
}

/// `UDP_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpCheck {
    /// `payload`: bytes to send (hex in the config).
    pub payload: Vec<u8>,
    /// `require_reply`: a reply must come; when the pattern is not empty, the reply's
    /// length must be within `min_reply_length..=max_reply_length` and its first bytes
    /// (as many as both have) must match. `None` means any reply, or none (no ICMP port
    /// unreachable), passes.
    pub require_reply: Option<HexPattern>,
    /// `min_reply_length`, default 0.
    pub min_reply_length: usize,
    /// `max_reply_length`, default 255 (keepalived's).
    pub max_reply_length: usize,
}

impl Default for UdpCheck {
    fn default() -> Self {
        UdpCheck {
            payload: Vec::new(),
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        }
    }
}

/// A hex byte pattern where `X` stands for any nibble (`require_reply 01XX0f`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HexPattern {
    /// One entry per nibble: `None` matches any value.
    nibbles: Vec<Option<u8>>,
}

impl HexPattern {
    /// Parses hex digits and `X`/`x` wildcards; whitespace is ignored.
    pub fn parse(text: &str) -> Result<HexPattern, crate::Error> {
        let mut nibbles = Vec::new();
        for c in text.chars().filter(|c| !c.is_whitespace()) {
            nibbles.push(match c {
                'x' | 'X' => None,
                _ => Some(c.to_digit(16).ok_or_else(|| crate::Error::BadHex {
                    text: text.to_string(),
                    cause: format!("{c:?} is not a hex digit or X"),
                })? as u8),
            });
        }
        if nibbles.len() % 2 != 0 {
            return Err(crate::Error::BadHex {
                text: text.to_string(),
                cause: "odd number of nibbles".into(),
            });
        }
        Ok(HexPattern { nibbles })
    }

    /// Parses plain hex bytes (a `payload`): wildcards are refused.
    pub fn parse_bytes(text: &str) -> Result<Vec<u8>, crate::Error> {
        let pattern = HexPattern::parse(text)?;
        pattern
            .nibbles
            .chunks(2)
            .map(|pair| match (pair[0], pair[1]) {
                (Some(hi), Some(lo)) => Ok(hi << 4 | lo),
                _ => Err(crate::Error::BadHex {
                    text: text.to_string(),
                    cause: "X wildcard in a payload".into(),
                }),
            })
            .collect()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.nibbles.len() / 2
    }

    pub fn is_empty(&self) -> bool {
        self.nibbles.is_empty()
    }

    /// keepalived's `check_udp_reply` comparison: the first `min(reply, pattern)` bytes
    /// match (a reply shorter than the pattern is compared as far as it goes).
    pub fn agrees_with(&self, reply: &[u8]) -> bool {
        self.nibbles.chunks(2).zip(reply).all(|(pair, &byte)| {
            pair[0].is_none_or(|hi| hi == byte >> 4) && pair[1].is_none_or(|lo| lo == byte & 0xf)
        })
    }

    /// True when `reply` starts with bytes matching the pattern (keepalived compares the
    /// pattern's length only).
    pub fn matches(&self, reply: &[u8]) -> bool {
        reply.len() >= self.len()
            && self.nibbles.chunks(2).zip(reply).all(|(pair, &byte)| {
                pair[0].is_none_or(|hi| hi == byte >> 4)
                    && pair[1].is_none_or(|lo| lo == byte & 0xf)
            })
    }
}

/// `DNS_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsCheck {
    /// `type`, default SOA.
    pub record_type: DnsType,
    /// `name`, default `.`.
    pub name: String,
}

impl Default for DnsCheck {
    fn default() -> Self {
        DnsCheck {
            record_type: DnsType::Soa,
            name: ".".into(),
        }
    }
}

/// Query types `DNS_CHECK` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsType {
    A,
    Ns,
    Cname,
    Soa,
    Mx,
    Txt,
    Aaaa,
}

impl std::str::FromStr for DnsType {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "A" => DnsType::A,
            "NS" => DnsType::Ns,
            "CNAME" => DnsType::Cname,
            "SOA" => DnsType::Soa,
            "MX" => DnsType::Mx,
            "TXT" => DnsType::Txt,
            "AAAA" => DnsType::Aaaa,
            _ => {
                return Err(crate::Error::BadConfig {
                    what: "DNS_CHECK type".into(),
                    cause: format!("{s:?} is not one of A, NS, CNAME, SOA, MX, TXT, AAAA"),
                })
            }
        })
    }
}

/// `SMTP_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCheck {
    /// `helo_name`, default the host name.
    pub helo_name: String,
}

impl Default for SmtpCheck {
    fn default() -> Self {
        let host = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "localhost".into());
        SmtpCheck { helo_name: host }
    }
}

/// `MISC_CHECK` options.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MiscCheck {
    /// `misc_path`: the command line, split on whitespace (quotes group words); run without
    /// a shell.
    pub path: String,
    /// `misc_timeout`: kill the script's process group after this long, default `delay_loop`.
    pub timeout: Option<Duration>,
    /// `misc_dynamic`: exit 0 is up, 1 is down, 2-255 is up with weight `code - 2`.
    pub dynamic: bool,
    /// `user` (keepalived's `script_user` default otherwise): run as this user.
    pub user: Option<String>,
    /// The group of `user USER GROUP`; default the user's primary group.
    pub group: Option<String>,
}

/// `FILE_CHECK` options (keepalived's `track_file` applied to a real server).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileCheck {
    /// `file`: holds one integer.
    pub path: PathBuf,
    /// `weight`: multiplier, default 0. With 0, a non-zero value means down; otherwise
    /// `value * weight` is added to the real server's weight.
    pub weight: i32,
    /// `reverse`: negate the multiplier.
    pub reverse: bool,
}
