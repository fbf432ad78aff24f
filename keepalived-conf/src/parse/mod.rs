//! Statement tree to typed [`Config`], reporting every malformed value with its span.
//!
//! This file holds the shared machinery (span index, argument and value helpers, the
//! top-level dispatch); each block family of the [model](crate::model) is parsed by
//! `impl Parser` methods in its own file: `global.rs` (`global_defs`), `vrrp.rs` (instances,
//! sync groups, addresses), `track.rs` (scripts, tracked files and processes, `track_*`
//! lists, notify), `lvs.rs` (virtual and real servers) and `checkers.rs` (health checks).

use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Display;
use std::net::IpAddr;
use std::str::FromStr;

use super::compat;
use super::diag::{Diagnostic, Span};
use super::model::*;
use super::syntax::Node;

mod checkers;
mod global;
mod lvs;
mod track;
mod vrrp;

/// keepalived's bound on delays in whole seconds that it keeps in microseconds
/// (`UINT_MAX / TIMER_HZ`): 4294 s.
const MAX_DELAY_SECS: u32 = u32::MAX / 1_000_000;

/// keepalived's bound on IPVS timeouts (`lvs_timeouts`, `persistence_timeout`): 31 days.
const LVS_MAX_TIMEOUT: u32 = 86400 * 31;

/// Where things are in the source, for diagnostics after parsing. Blocks and list entries
/// are keyed by a path such as `vrrp_instance VI_1` or `vrrp_instance VI_1/track_script/chk`;
/// the keywords of a block are looked up with [`SpanIndex::field`].
#[derive(Debug, Clone, Default)]
pub struct SpanIndex {
    map: FxHashMap<String, Span>,
    fields: FxHashMap<String, Vec<(&'static str, Span)>>,
}

impl SpanIndex {
    /// The span of a block header or list entry.
    pub fn get(&self, path: &str) -> Option<Span> {
        self.map.get(path).copied()
    }

    /// The span of the first `keyword` statement in `block`.
    pub fn exact_field(&self, block: &str, keyword: &str) -> Option<Span> {
        self.fields
            .get(block)?
            .iter()
            .find(|(k, _)| *k == keyword)
            .map(|(_, s)| *s)
    }

    /// The span of `keyword` in block `block`, else the block's header.
    pub fn field(&self, block: &str, keyword: &str) -> Option<Span> {
        self.exact_field(block, keyword).or_else(|| self.get(block))
    }

    fn insert(&mut self, path: String, span: Span) {
        self.map.entry(path).or_insert(span);
    }
}

/// Every keyword of the [compatibility table](crate::compat), and ha's `ICMP_CHECK` (its
/// name of `PING_CHECK`), interned so that recording where each statement is costs no
/// allocation.
fn intern(word: &str) -> Option<&'static str> {
    static ALL: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    ALL.get_or_init(|| {
        compat::TABLE
            .iter()
            .chain(compat::EXTENSIONS)
            .map(|e| e.keyword)
            .chain(["ICMP_CHECK"])
            .collect()
    })
    .get(word)
    .copied()
}

/// The keyword spans of one block, collected while it is parsed.
#[derive(Default)]
struct Fields(Vec<(&'static str, Span)>);

impl Fields {
    fn note(&mut self, n: &Node) {
        if let Some(k) = intern(&n.key.text) {
            if !self.0.iter().any(|(x, _)| *x == k) {
                self.0.push((k, n.span()));
            }
        }
    }
}

pub(crate) struct Parser<'d> {
    pub diags: &'d mut Vec<Diagnostic>,
    pub spans: SpanIndex,
    /// Key spans of the keepalived keywords kept verbatim (`other`): the compatibility check
    /// reports them and reads inside their blocks, which the parser did not.
    pub raw: FxHashSet<Span>,
}

fn raw(n: &Node) -> RawStatement {
    RawStatement {
        keyword: n.key.text.clone(),
        args: n.args.iter().map(|t| t.text.clone()).collect(),
        block: n.block.as_ref().map(|b| b.iter().map(raw).collect()),
    }
}

/// keepalived's `check_true_false`: lower case only (`TRUE` is not a boolean).
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "on" | "true" | "yes" => Some(true),
        "off" | "false" | "no" => Some(false),
        _ => None,
    }
}

impl Parser<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn arg<'n>(&mut self, n: &'n Node, i: usize, what: &str) -> Option<&'n str> {
        match n.args.get(i) {
            Some(t) => Some(t.text.as_str()),
            None => {
                self.push(
                    Diagnostic::error(
                        "missing-value",
                        Some(n.span()),
                        format!("`{}` needs {what}", n.key.text),
                    )
                    .with_label(format!("expected {what} after this")),
                );
                None
            }
        }
    }

    fn extra_args(&mut self, n: &Node, allowed: usize) {
        if n.args.len() > allowed {
            let span = n.args[allowed].span.to(n.args[n.args.len() - 1].span);
            self.push(
                Diagnostic::warning(
                    "extra-argument",
                    Some(span),
                    format!("extra words after `{}` are ignored", n.key.text),
                )
                .with_label("ignored"),
            );
        }
    }

    fn bad_value(&mut self, n: &Node, i: usize, message: String, help: String) {
        let span = n.args.get(i).map_or(n.span(), |t| t.span);
        self.push(
            Diagnostic::error("invalid-value", Some(span), message)
                .with_label("invalid value")
                .with_help(help),
        );
    }

    fn num<T>(&mut self, n: &Node, i: usize, lo: T, hi: T) -> Option<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        // An option inside the arguments (`weight W`, `port P`) is named by the word
        // before its value; a keyword's own value by the keyword.
        let what = match i.checked_sub(1).and_then(|p| n.args.get(p)) {
            Some(prev) => prev.text.clone(),
            None => n.key.text.clone(),
        };
        self.num_named(n, i, &what, lo, hi)
    }

    /// The port after an address (`virtual_server IP PORT`): named `port`, not by the
    /// address before it.
    fn port_at(&mut self, n: &Node, i: usize, lo: u16) -> Option<u16> {
        self.num_named(n, i, "port", lo, 65535)
    }

    fn num_named<T>(&mut self, n: &Node, i: usize, what: &str, lo: T, hi: T) -> Option<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let s = self.arg(n, i, "a number")?;
        match s.parse::<T>() {
            Ok(v) if v >= lo && v <= hi => Some(v),
            _ => {
                let range = if lo.to_string().starts_with('-') {
                    format!("from {lo} to {hi}")
                } else {
                    format!("in {lo}-{hi}")
                };
                self.bad_value(
                    n,
                    i,
                    format!("invalid `{what}` value `{s}`"),
                    format!("`{what}` must be a whole number {range}"),
                );
                None
            }
        }
    }

    fn num1<T>(&mut self, n: &Node, lo: T, hi: T) -> Option<T>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        self.extra_args(n, 1);
        self.num(n, 0, lo, hi)
    }

    fn timer_at(&mut self, n: &Node, i: usize) -> Option<Timer> {
        let s = self.arg(n, i, "a time in seconds")?;
        match Timer::parse(s) {
            Some(t) => Some(t),
            None => {
                self.bad_value(
                    n,
                    i,
                    format!("invalid `{}` time `{s}`", n.key.text),
                    format!(
                        "`{}` is in seconds, e.g. `3` or `0.5` (at most 6 decimals)",
                        n.key.text
                    ),
                );
                None
            }
        }
    }

    fn timer(&mut self, n: &Node) -> Option<Timer> {
        self.extra_args(n, 1);
        self.timer_at(n, 0)
    }

    /// A flag with an optional `<BOOL>` argument.
    fn flag(&mut self, n: &Node) -> bool {
        self.extra_args(n, 1);
        match n.args.first() {
            None => true,
            Some(t) => match parse_bool(&t.text) {
                Some(b) => b,
                None => {
                    let lower = t.text.to_ascii_lowercase();
                    let help = if parse_bool(&lower).is_some() {
                        format!("keepalived reads booleans in lower case: write `{lower}`")
                    } else {
                        "use one of on|off|true|false|yes|no, or nothing for on".into()
                    };
                    self.bad_value(
                        n,
                        0,
                        format!("invalid boolean `{}` for `{}`", t.text, n.key.text),
                        help,
                    );
                    true
                }
            },
        }
    }

    /// A Linux interface name: 1-15 bytes, no `/`, whitespace or `:` (IFNAMSIZ).
    fn ifname(&mut self, n: &Node) -> Option<String> {
        let name = self.string(n)?;
        if name.is_empty()
            || name.len() > 15
            || name.contains(|c: char| c == '/' || c == ':' || c.is_whitespace())
        {
            self.bad_value(
                n,
                0,
                format!("`{name}` is not a valid interface name"),
                "interface names are 1-15 characters without `/`, `:` or spaces".into(),
            );
            return None;
        }
        Some(name)
    }

    fn string(&mut self, n: &Node) -> Option<String> {
        self.extra_args(n, 1);
        self.arg(n, 0, "a value").map(str::to_string)
    }

    /// All arguments joined (script command lines written without quotes).
    fn command(&mut self, n: &Node) -> Option<String> {
        if n.args.is_empty() {
            self.arg(n, 0, "a command");
            return None;
        }
        // One (usually quoted) word is the whole command line; several words are joined,
        // keeping a quoted word with spaces as one argument in single quotes, as keepalived
        // splits command lines.
        if let [one] = n.args.as_slice() {
            return Some(one.text.clone());
        }
        Some(
            n.args
                .iter()
                .map(|t| {
                    if t.text.contains(char::is_whitespace) {
                        format!("'{}'", t.text)
                    } else {
                        t.text.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    /// A script keyword as keepalived reads it (`notify_master`, `startup_script`, ...): the
    /// first word is the command line (quoted when it has spaces), then `[USER [GROUP]]`.
    fn script_line(&mut self, n: &Node) -> Option<ScriptLine> {
        let command = self.arg(n, 0, "a command")?.to_string();
        self.extra_args(n, 3);
        let user = n.arg(1).map(|user| ScriptUser {
            user: user.to_string(),
            group: n.arg(2).map(str::to_string),
        });
        Some(ScriptLine { command, user })
    }

    fn ip_at(&mut self, n: &Node, i: usize) -> Option<IpAddr> {
        let s = self.arg(n, i, "an IP address")?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.bad_value(
                    n,
                    i,
                    format!("`{s}` is not an IP address"),
                    "write an IPv4 (192.0.2.1) or IPv6 (2001:db8::1) address".into(),
                );
                None
            }
        }
    }

    fn ip(&mut self, n: &Node) -> Option<IpAddr> {
        self.extra_args(n, 1);
        self.ip_at(n, 0)
    }

    fn block<'n>(&mut self, n: &'n Node) -> &'n [Node] {
        match &n.block {
            Some(b) => b,
            None => {
                self.push(
                    Diagnostic::error(
                        "missing-block",
                        Some(n.span()),
                        format!("`{}` needs a `{{ ... }}` block", n.key.text),
                    )
                    .with_label("expected `{` after this"),
                );
                &[]
            }
        }
    }

    fn no_block(&mut self, n: &Node) {
        if let (Some(_), Some(open)) = (&n.block, n.open) {
            self.push(
                Diagnostic::warning(
                    "unexpected-block",
                    Some(open),
                    format!("`{}` takes no block; its contents are ignored", n.key.text),
                )
                .with_label("unexpected block"),
            );
        }
    }

    /// A keyword not typed in this block (`ctx`, as messages name it: `` `vrrp_instance` ``):
    /// kept verbatim if keepalived knows it there (the [compatibility table](crate::compat)
    /// decides, and the compatibility check reports what ha does not apply), else warned
    /// about with the closest keepalived keyword of the block.
    fn other(&mut self, n: &Node, out: &mut Vec<RawStatement>, ctx: &str) {
        let word = n.key.text.as_str();
        let blocks = compat::blocks_named(ctx);
        if blocks.iter().any(|b| compat::lookup(b, word).is_some()) {
            self.raw.insert(n.key.span);
            out.push(raw(n));
            return;
        }
        let mut d = Diagnostic::warning(
            "unknown-keyword",
            Some(n.key.span),
            format!("unknown keyword `{word}` in {ctx}"),
        )
        .with_label("not a keepalived keyword here; ignored");
        if let Some(s) = compat::suggest(word, &blocks) {
            d = d.with_help(format!("did you mean `{s}`?"));
        }
        self.push(d);
    }

    fn duplicate(&mut self, path: &str, span: Span, what: &str) -> bool {
        if let Some(first) = self.spans.get(path) {
            self.push(
                Diagnostic::error("duplicate", Some(span), format!("duplicate {what}"))
                    .with_label("defined again here")
                    .with_secondary(first, "first defined here"),
            );
            return true;
        }
        false
    }

    fn save_fields(&mut self, block: String, fields: Fields) {
        self.spans.fields.insert(block, fields.0);
    }

    pub fn config(&mut self, nodes: &[Node]) -> Config {
        let mut c = Config::default();
        for n in nodes {
            match n.key.text.as_str() {
                "global_defs" => self.global_defs(n, &mut c.global_defs),
                "static_ipaddress" => {
                    for a in self.block(n) {
                        if let Some(ip) = self.address(a) {
                            c.static_ipaddress.push(ip);
                        }
                    }
                }
                "static_routes" => c.static_routes.extend(self.lines(n)),
                "static_rules" => c.static_rules.extend(self.lines(n)),
                "vrrp_script" => {
                    if let Some(s) = self.vrrp_script(n) {
                        c.vrrp_scripts.push(s);
                    }
                }
                // `vrrp_track_file` is keepalived's deprecated name for `track_file`.
                "track_file" | "vrrp_track_file" => {
                    if let Some(s) = self.track_file(n) {
                        c.track_files.push(s);
                    }
                }
                "vrrp_track_process" => {
                    if let Some(s) = self.track_process(n) {
                        c.vrrp_track_processes.push(s);
                    }
                }
                "vrrp_sync_group" => {
                    if let Some(s) = self.sync_group(n) {
                        c.vrrp_sync_groups.push(s);
                    }
                }
                "vrrp_instance" => {
                    if let Some(s) = self.instance(n) {
                        c.vrrp_instances.push(s);
                    }
                }
                "virtual_server_group" => {
                    if let Some(name) = self.named(n, "virtual_server_group") {
                        let members = self.lines(n);
                        c.virtual_server_groups
                            .push(VirtualServerGroup { name, members });
                    }
                }
                "virtual_server" => {
                    if let Some(vs) = self.virtual_server(n) {
                        c.virtual_servers.push(vs);
                    }
                }
                "SSL" => {
                    // keepalived: a second SSL block replaces the first.
                    let mut ssl = SslContext::default();
                    for s in self.block(n) {
                        match s.key.text.as_str() {
                            "password" => ssl.password = self.string(s),
                            "ca" => ssl.ca = self.string(s),
                            "certificate" => ssl.certificate = self.string(s),
                            "key" => ssl.key = self.string(s),
                            _ => self.other(s, &mut Vec::new(), "`SSL`"),
                        }
                    }
                    c.ssl = Some(ssl);
                }
                _ => self.other(n, &mut c.other, "the top level"),
            }
        }
        // keepalived's deprecated `lvs_sync_daemon_interface IF` in an instance: the sync
        // daemon on IF following that instance, unless `lvs_sync_daemon` names one.
        if c.global_defs.lvs_sync_daemon.is_none() {
            c.global_defs.lvs_sync_daemon = c.vrrp_instances.iter().find_map(|vi| {
                let s = vi
                    .other
                    .iter()
                    .find(|s| s.keyword == "lvs_sync_daemon_interface")?;
                Some(LvsSyncDaemon {
                    interface: s.args.first()?.clone(),
                    vrrp_instance: vi.name.clone(),
                    sync_id: None,
                    maxlen: None,
                    port: None,
                    ttl: None,
                    group: None,
                })
            });
        }
        c
    }

    /// The name of a named block; records its span and reports duplicates.
    fn named(&mut self, n: &Node, what: &str) -> Option<String> {
        let name = self.arg(n, 0, "a name")?.to_string();
        self.extra_args(n, 1);
        let path = format!("{what} {name}");
        if self.duplicate(&path, n.span(), &format!("{what} `{name}`")) {
            return None;
        }
        self.spans.insert(path, n.span());
        Some(name)
    }

    /// A block whose statements are plain lines (routes, group members, ...).
    fn lines(&mut self, n: &Node) -> Vec<Vec<String>> {
        self.block(n)
            .iter()
            .map(|l| {
                std::iter::once(&l.key)
                    .chain(&l.args)
                    .map(|t| t.text.clone())
                    .collect()
            })
            .collect()
    }
}

/// `help` plus "did you mean" when `word` is close to one of `choices`.
fn with_suggestion(help: &str, word: &str, choices: &'static [&'static str]) -> String {
    match suggest(word, &[choices]) {
        Some(s) => format!("{help}; did you mean `{s}`?"),
        None => help.to_string(),
    }
}

/// `virtual_server 192.0.2.1 80`, `virtual_server fwmark 1`, `virtual_server group G`.
pub fn vs_path(key: &VirtualServerKey) -> String {
    match key {
        VirtualServerKey::Addr { ip, port } => format!("virtual_server {ip} {port}"),
        VirtualServerKey::Fwmark { mark, .. } => format!("virtual_server fwmark {mark}"),
        VirtualServerKey::Group { name } => format!("virtual_server group {name}"),
    }
}

/// The known keyword closest to `word`, if close enough to be a likely typo.
pub fn suggest(word: &str, known: &[&'static [&'static str]]) -> Option<&'static str> {
    let mut best: Option<(f64, &'static str)> = None;
    for list in known {
        for &k in *list {
            let score = strsim::jaro_winkler(&word.to_ascii_lowercase(), &k.to_ascii_lowercase());
            if score > 0.85 && best.is_none_or(|(b, _)| score > b) {
                best = Some((score, k));
            }
        }
    }
    best.map(|(_, k)| k)
}
