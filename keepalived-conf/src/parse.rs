//! Statement tree to typed [`Config`], reporting every malformed value with its span.

use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};
use std::fmt::Display;
use std::net::IpAddr;
use std::str::FromStr;

use super::diag::{Diagnostic, Span};
use super::keywords as kw;
use super::model::*;
use super::syntax::Node;

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

/// Every keyword keepalived knows, interned so that recording where each statement is
/// costs no allocation.
fn intern(word: &str) -> Option<&'static str> {
    static ALL: OnceLock<FxHashSet<&'static str>> = OnceLock::new();
    ALL.get_or_init(|| {
        [
            kw::TOP,
            kw::GLOBAL,
            kw::INSTANCE,
            kw::SCRIPT,
            kw::TRACK_FILE,
            kw::TRACK_PROCESS,
            kw::SYNC_GROUP,
            kw::VIRTUAL_SERVER,
            kw::REAL_SERVER,
            kw::CHECKER_COMMON,
            kw::CHECKER_SPECIFIC,
            kw::URL,
            kw::AUTH,
        ]
        .into_iter()
        .flatten()
        .copied()
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
}

fn raw(n: &Node) -> RawStatement {
    RawStatement {
        keyword: n.key.text.clone(),
        args: n.args.iter().map(|t| t.text.clone()).collect(),
        block: n.block.as_ref().map(|b| b.iter().map(raw).collect()),
    }
}

fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
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
                    self.bad_value(
                        n,
                        0,
                        format!("invalid boolean `{}` for `{}`", t.text, n.key.text),
                        "use one of on|off|true|false|yes|no, or nothing for on".into(),
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

    /// A keyword not typed in this block: kept if keepalived knows it, else warned about
    /// with the closest known keyword.
    fn other(
        &mut self,
        n: &Node,
        known: &[&'static [&'static str]],
        out: &mut Vec<RawStatement>,
        ctx: &str,
    ) {
        let word = n.key.text.as_str();
        if known.iter().any(|list| list.contains(&word)) {
            out.push(raw(n));
            return;
        }
        let mut d = Diagnostic::warning(
            "unknown-keyword",
            Some(n.key.span),
            format!("unknown keyword `{word}` in {ctx}"),
        )
        .with_label("not a keepalived keyword here; ignored");
        if let Some(s) = suggest(word, known) {
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
                _ => self.other(n, &[kw::TOP], &mut c.other, "the top level"),
            }
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

    fn global_defs(&mut self, n: &Node, g: &mut GlobalDefs) {
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "router_id" => g.router_id = self.string(s),
                "notification_email" => {
                    for e in self.block(s) {
                        g.notification_email.push(e.key.text.clone());
                        self.extra_args(e, 0);
                    }
                }
                "notification_email_from" => g.notification_email_from = self.string(s),
                "smtp_server" => {
                    self.extra_args(s, 2);
                    if let Some(host) = self.arg(s, 0, "a host") {
                        let host = host.to_string();
                        let port = if s.args.len() > 1 {
                            self.num(s, 1, 1u16, 65535)
                        } else {
                            Some(25)
                        };
                        g.smtp_server = port.map(|port| SmtpServer { host, port });
                    }
                }
                "smtp_helo_name" => g.smtp_helo_name = self.string(s),
                "smtp_connect_timeout" => {
                    if let Some(v) = self.num1(s, 1u32, 3600) {
                        g.smtp_connect_timeout = v
                    }
                }
                "smtp_alert" => g.smtp_alert = Some(self.flag(s)),
                "vrrp_version" => {
                    if let Some(v) = self.num1(s, 2u8, 3) {
                        g.vrrp_version = v
                    }
                }
                "vrrp_strict" => g.vrrp_strict = self.flag(s),
                "vrrp_mcast_group4" => {
                    if let Some(IpAddr::V4(a)) = self.ip(s) {
                        g.vrrp_mcast_group4 = a
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(IpAddr::V6(a)) = self.ip(s) {
                        g.vrrp_mcast_group6 = a
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(v) = self.num1(s, 0u32, 10000) {
                        g.vrrp_garp_master_delay = v
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(v) = self.num1(s, 0u32, 10000) {
                        g.vrrp_garp_master_repeat = v
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(v) = self.num1(s, 0u32, u32::MAX) {
                        g.vrrp_garp_master_refresh = v
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(v) = self.num1(s, 0u32, 10000) {
                        g.vrrp_garp_master_refresh_repeat = v
                    }
                }
                "vrrp_garp_lower_prio_delay" => {
                    g.vrrp_garp_lower_prio_delay = self.num1(s, 0u32, u32::MAX)
                }
                "vrrp_garp_lower_prio_repeat" => {
                    g.vrrp_garp_lower_prio_repeat = self.num1(s, 0u32, u32::MAX)
                }
                "vrrp_garp_interval" => {
                    if let Some(t) = self.timer(s) {
                        g.vrrp_garp_interval = t
                    }
                }
                "vrrp_gna_interval" => {
                    if let Some(t) = self.timer(s) {
                        g.vrrp_gna_interval = t
                    }
                }
                "vrrp_min_garp" => g.vrrp_min_garp = self.flag(s),
                "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = self.flag(s),
                "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = self.flag(s),
                "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = self.flag(s),
                "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = self.flag(s),
                "script_user" => g.script_user = self.script_user(s),
                "notify_fifo" => g.notify_fifo = self.notify_fifo(s),
                "vrrp_priority" => g.vrrp_priority = self.num(s, 0, -20i32, 19),
                "vrrp_rt_priority" => g.vrrp_rt_priority = self.num(s, 0, 1u32, 99),
                "checker_priority" => g.checker_priority = self.num(s, 0, -20i32, 19),
                "vrrp_notify_fifo" => g.vrrp_notify_fifo = self.notify_fifo(s),
                "enable_script_security" => g.enable_script_security = self.flag(s),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(s),
                "lvs_timeouts" => {
                    let mut i = 0;
                    while i < s.args.len() {
                        let which = s.args[i].text.as_str();
                        let v = self.num(s, i + 1, 0u32, 86400 * 365);
                        match which {
                            "tcp" => g.lvs_timeouts.tcp = v,
                            "tcpfin" => g.lvs_timeouts.tcpfin = v,
                            "udp" => g.lvs_timeouts.udp = v,
                            other => self.bad_value(
                                s,
                                i,
                                format!("unknown LVS timeout `{other}`"),
                                "write `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`".into(),
                            ),
                        }
                        i += 2;
                    }
                }
                "lvs_flush" => g.lvs_flush = self.flag(s),
                "lvs_flush_on_stop" => {
                    self.extra_args(s, 1);
                    g.lvs_flush_on_stop = Some(s.arg(0) == Some("VS"));
                }
                "vrrp_startup_delay" => g.vrrp_startup_delay = self.timer(s),
                "dynamic_interfaces" => g.dynamic_interfaces = true,
                _ => self.other(s, &[kw::GLOBAL], &mut g.other, "`global_defs`"),
            }
        }
        self.save_fields("global_defs".to_string(), fields);
    }

    fn script_user(&mut self, s: &Node) -> Option<ScriptUser> {
        self.extra_args(s, 2);
        let user = self.arg(s, 0, "a user name")?.to_string();
        Some(ScriptUser {
            user,
            group: s.arg(1).map(str::to_string),
        })
    }

    fn notify_fifo(&mut self, s: &Node) -> Option<NotifyFifo> {
        self.extra_args(s, 3);
        let path = self.arg(s, 0, "a FIFO path")?.to_string();
        let owner = s.arg(1).map(|user| ScriptUser {
            user: user.to_string(),
            group: s.arg(2).map(str::to_string),
        });
        Some(NotifyFifo { path, owner })
    }

    fn lvs_sync_daemon(&mut self, s: &Node) -> Option<LvsSyncDaemon> {
        let interface = self.arg(s, 0, "an interface")?.to_string();
        let vrrp_instance = self.arg(s, 1, "a VRRP instance name")?.to_string();
        let mut d = LvsSyncDaemon {
            interface,
            vrrp_instance,
            sync_id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut i = 2;
        while i < s.args.len() {
            match s.args[i].text.as_str() {
                "id" => d.sync_id = self.num(s, i + 1, 0u8, 255),
                "maxlen" => d.maxlen = self.num(s, i + 1, 1u16, 65535 - 20 - 8),
                "port" => d.port = self.num(s, i + 1, 1u16, 65535),
                "ttl" => d.ttl = self.num(s, i + 1, 1u8, 255),
                "group" => d.group = self.ip_at(s, i + 1),
                other => {
                    self.bad_value(
                        s,
                        i,
                        format!("unknown lvs_sync_daemon option `{other}`"),
                        "options are id, maxlen, port, ttl and group".into(),
                    );
                    break;
                }
            }
            i += 2;
        }
        Some(d)
    }

    /// `ADDR[/PREFIX] [options...]`.
    pub(crate) fn address(&mut self, a: &Node) -> Option<IpAddress> {
        self.no_block(a);
        let text = a.key.text.as_str();
        let (addr_s, prefix_s) = match text.split_once('/') {
            Some((x, p)) => (x, Some(p)),
            None => (text, None),
        };
        let Ok(addr) = addr_s.parse::<IpAddr>() else {
            self.push(
                Diagnostic::error(
                    "invalid-address",
                    Some(a.key.span),
                    format!("`{text}` is not an IP address"),
                )
                .with_label("expected ADDRESS[/PREFIX]")
                .with_help("write e.g. `192.0.2.10/24 dev eth0` or `2001:db8::10/64`"),
            );
            return None;
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_s {
            None => None,
            Some(p) => match p.parse::<u8>() {
                Ok(v) if v <= max => Some(v),
                _ => {
                    self.push(
                        Diagnostic::error(
                            "invalid-address",
                            Some(a.key.span),
                            format!("invalid prefix length `/{p}`"),
                        )
                        .with_label("prefix length out of range")
                        .with_help(format!("the prefix length must be 0-{max}")),
                    );
                    return None;
                }
            },
        };
        let mut ip = IpAddress {
            addr,
            prefix,
            brd: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            options: Vec::new(),
        };
        let mut i = 0;
        while i < a.args.len() {
            let word = a.args[i].text.as_str();
            let value = a.args.get(i + 1).map(|t| t.text.clone());
            let takes_value = matches!(
                word,
                "brd"
                    | "broadcast"
                    | "dev"
                    | "scope"
                    | "label"
                    | "peer"
                    | "preferred_lft"
                    | "track_group"
            );
            if takes_value && value.is_none() {
                self.arg(a, i + 1, &format!("a value for `{word}`"));
                break;
            }
            match word {
                "brd" | "broadcast" => ip.brd = value,
                "dev" => ip.dev = value,
                "scope" => ip.scope = value,
                "label" => ip.label = value,
                "peer" => ip.peer = value,
                "preferred_lft" | "track_group" => {
                    ip.options.push(word.to_string());
                    ip.options.extend(value);
                }
                "no_track" | "home" | "nodad" | "noprefixroute" | "autojoin" | "-" => {
                    ip.options.push(word.to_string())
                }
                other => {
                    let mut d = Diagnostic::warning(
                        "unknown-keyword",
                        Some(a.args[i].span),
                        format!("unknown address option `{other}`"),
                    )
                    .with_label("ignored");
                    if let Some(s) = suggest(other, &[kw::ADDRESS_OPTIONS]) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.push(d);
                    // What follows may be this option's value; do not guess.
                    break;
                }
            }
            i += if takes_value { 2 } else { 1 };
        }
        Some(ip)
    }

    /// Entries of a `track_*` block; `limit` is keepalived's weight bound (253 for
    /// scripts, interfaces and BFD, 254 for files and processes).
    fn tracks(&mut self, n: &Node, path: &str, limit: i32) -> Vec<Track> {
        let mut out = Vec::new();
        for t in self.block(n) {
            self.no_block(t);
            self.spans
                .insert(format!("{path}/{}/{}", n.key.text, t.key.text), t.key.span);
            let mut track = Track {
                name: t.key.text.clone(),
                weight: None,
                reverse: false,
            };
            let mut i = 0;
            while i < t.args.len() {
                match t.args[i].text.as_str() {
                    "weight" => {
                        track.weight = self.num(t, i + 1, -limit, limit);
                        i += 2;
                    }
                    "reverse" => {
                        track.reverse = true;
                        i += 1;
                    }
                    "noreverse" => i += 1,
                    other => {
                        self.bad_value(
                            t,
                            i,
                            format!("unexpected `{other}` in `{}`", n.key.text),
                            "write `NAME [weight W [reverse]]`".into(),
                        );
                        break;
                    }
                }
            }
            out.push(track);
        }
        out
    }

    /// `weight W [reverse]` of scripts and tracked objects.
    fn weight(&mut self, s: &Node, limit: i32) -> Option<(i32, bool)> {
        self.extra_args(s, 2);
        let w = self.num(s, 0, -limit, limit)?;
        let reverse = match s.arg(1) {
            None | Some("noreverse") => false,
            Some("reverse") => true,
            Some(other) => {
                self.bad_value(
                    s,
                    1,
                    format!("unexpected `{other}` after the weight"),
                    "write `weight W [reverse]`".into(),
                );
                false
            }
        };
        Some((w, reverse))
    }

    fn notify(&mut self, s: &Node, n: &mut Notify) -> bool {
        match s.key.text.as_str() {
            "notify" => n.notify = self.command(s),
            "notify_master" => n.master = self.command(s),
            "notify_backup" => n.backup = self.command(s),
            "notify_fault" => n.fault = self.command(s),
            "notify_stop" => n.stop = self.command(s),
            "notify_deleted" => n.deleted = self.command(s),
            "notify_master_rx_lower_pri" => n.master_rx_lower_pri = self.command(s),
            "notify_priority_changes" => n.priority_changes = Some(self.flag(s)),
            _ => return false,
        }
        true
    }

    fn tracking(&mut self, s: &Node, t: &mut Tracking, path: &str) -> bool {
        match s.key.text.as_str() {
            "track_interface" => t.interfaces.extend(self.tracks(s, path, 253)),
            "track_script" => t.scripts.extend(self.tracks(s, path, 253)),
            "track_file" => t.files.extend(self.tracks(s, path, 254)),
            "track_process" => t.processes.extend(self.tracks(s, path, 254)),
            "track_bfd" => t.bfds.extend(self.tracks(s, path, 253)),
            _ => return false,
        }
        true
    }

    fn vrrp_script(&mut self, n: &Node) -> Option<VrrpScript> {
        let name = self.named(n, "vrrp_script")?;
        let path = format!("vrrp_script {name}");
        let mut v = VrrpScript {
            name,
            script: String::new(),
            interval: Timer::secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "script" => v.script = self.command(s).unwrap_or_default(),
                "interval" => v.interval = self.timer(s).unwrap_or(v.interval),
                "timeout" => v.timeout = self.timer(s),
                "weight" => {
                    if let Some((w, r)) = self.weight(s, 253) {
                        (v.weight, v.weight_reverse) = (w, r);
                    }
                }
                "rise" => v.rise = self.num1(s, 1u32, u32::MAX).unwrap_or(1),
                "fall" => v.fall = self.num1(s, 1u32, u32::MAX).unwrap_or(1),
                "user" => v.user = self.script_user(s),
                "init_fail" => v.init_fail = self.flag(s),
                _ => self.other(s, &[kw::SCRIPT], &mut v.other, "`vrrp_script`"),
            }
        }
        self.save_fields(path.clone(), fields);
        if v.script.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("vrrp_script `{}` has no `script`", v.name),
                )
                .with_label("this script has nothing to run")
                .with_help("add `script \"/path/to/check args\"`"),
            );
        }
        Some(v)
    }

    fn track_file(&mut self, n: &Node) -> Option<TrackFile> {
        let name = self.named(n, "track_file")?;
        let path = format!("track_file {name}");
        let mut t = TrackFile {
            name,
            file: String::new(),
            weight: 1,
            weight_reverse: false,
            init_file: None,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "file" => t.file = self.string(s).unwrap_or_default(),
                "weight" => {
                    if let Some((w, r)) = self.weight(s, i32::MAX) {
                        (t.weight, t.weight_reverse) = (w, r);
                    }
                }
                "init_file" => t.init_file = Some(s.args.iter().map(|a| a.text.clone()).collect()),
                _ => self.other(s, &[kw::TRACK_FILE], &mut t.other, "`track_file`"),
            }
        }
        self.save_fields(path.clone(), fields);
        if t.file.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("track_file `{}` has no `file`", t.name),
                )
                .with_help("add `file /path/to/file`"),
            );
        }
        Some(t)
    }

    fn track_process(&mut self, n: &Node) -> Option<TrackProcess> {
        let name = self.named(n, "vrrp_track_process")?;
        let path = format!("vrrp_track_process {name}");
        let mut t = TrackProcess {
            name,
            process: Vec::new(),
            full_command: false,
            weight: 0,
            weight_reverse: false,
            quorum: 1,
            quorum_max: None,
            delay: None,
            terminate_delay: None,
            fork_delay: None,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "process" => t.process = s.args.iter().map(|a| a.text.clone()).collect(),
                "full_command" => t.full_command = self.flag(s),
                "weight" => {
                    if let Some((w, r)) = self.weight(s, 254) {
                        (t.weight, t.weight_reverse) = (w, r);
                    }
                }
                "quorum" => t.quorum = self.num1(s, 0u32, 65535).unwrap_or(1),
                "quorum_max" => t.quorum_max = self.num1(s, 0u32, 65535),
                "delay" => t.delay = self.timer(s),
                "terminate_delay" => t.terminate_delay = self.timer(s),
                "fork_delay" => t.fork_delay = self.timer(s),
                _ => self.other(
                    s,
                    &[kw::TRACK_PROCESS],
                    &mut t.other,
                    "`vrrp_track_process`",
                ),
            }
        }
        self.save_fields(path.clone(), fields);
        if t.process.is_empty() {
            self.push(
                Diagnostic::error(
                    "missing-keyword",
                    Some(n.span()),
                    format!("vrrp_track_process `{}` has no `process`", t.name),
                )
                .with_help("add `process NAME`"),
            );
        }
        Some(t)
    }

    fn sync_group(&mut self, n: &Node) -> Option<SyncGroup> {
        let name = self.named(n, "vrrp_sync_group")?;
        let path = format!("vrrp_sync_group {name}");
        let mut g = SyncGroup {
            name,
            group: Vec::new(),
            tracking: Tracking::default(),
            notify: Notify::default(),
            smtp_alert: None,
            global_tracking: false,
            sync_group_tracking_weight: false,
            other: Vec::new(),
        };
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            if self.notify(s, &mut g.notify) || self.tracking(s, &mut g.tracking, &path) {
                continue;
            }
            match s.key.text.as_str() {
                "group" => {
                    for m in self.block(s) {
                        self.spans
                            .insert(format!("{path}/group/{}", m.key.text), m.key.span);
                        g.group.push(m.key.text.clone());
                    }
                }
                "smtp_alert" => g.smtp_alert = Some(self.flag(s)),
                "global_tracking" => g.global_tracking = self.flag(s),
                "sync_group_tracking_weight" => g.sync_group_tracking_weight = self.flag(s),
                _ => self.other(s, &[kw::SYNC_GROUP], &mut g.other, "`vrrp_sync_group`"),
            }
        }
        self.save_fields(path.clone(), fields);
        Some(g)
    }

    fn instance(&mut self, n: &Node) -> Option<VrrpInstance> {
        let name = self.named(n, "vrrp_instance")?;
        let path = format!("vrrp_instance {name}");
        let mut v = VrrpInstance::new(name);
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            if self.notify(s, &mut v.notify) || self.tracking(s, &mut v.tracking, &path) {
                continue;
            }
            match s.key.text.as_str() {
                "state" => {
                    self.extra_args(s, 1);
                    v.state = match self.arg(s, 0, "MASTER or BACKUP") {
                        Some("MASTER") => Some(VrrpState::Master),
                        Some("BACKUP") => Some(VrrpState::Backup),
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("invalid state `{other}`"),
                                with_suggestion(
                                    "`state` must be MASTER or BACKUP",
                                    other,
                                    &["MASTER", "BACKUP"],
                                ),
                            );
                            None
                        }
                        None => None,
                    }
                }
                "interface" => v.interface = self.ifname(s),
                "virtual_router_id" => v.virtual_router_id = self.num1(s, 1u8, 255),
                "priority" => v.priority = self.num1(s, 1u8, 255).unwrap_or(v.priority),
                "advert_int" => {
                    if let Some(t) = self.timer(s) {
                        if t.0 == 0 {
                            self.bad_value(
                                s,
                                0,
                                "`advert_int` must not be 0".into(),
                                "VRRPv2 needs whole seconds 1-255; VRRPv3 0.01-40.95 s".into(),
                            );
                        } else {
                            v.advert_int = t;
                        }
                    }
                }
                "version" => v.version = self.num1(s, 2u8, 3),
                "authentication" => v.authentication = self.authentication(s),
                "virtual_ipaddress" => {
                    for a in self.block(s) {
                        v.virtual_ipaddress.extend(self.address(a));
                    }
                }
                "virtual_ipaddress_excluded" => {
                    for a in self.block(s) {
                        v.virtual_ipaddress_excluded.extend(self.address(a));
                    }
                }
                "virtual_routes" => v.virtual_routes = self.lines(s),
                "virtual_rules" => v.virtual_rules = self.lines(s),
                "nopreempt" => v.nopreempt = true,
                "preempt" => v.nopreempt = false,
                "preempt_delay" => {
                    v.preempt_delay = self.timer(s);
                    if v.preempt_delay.is_some_and(|t| t > Timer::secs(1000)) {
                        self.bad_value(
                            s,
                            0,
                            "`preempt_delay` out of range".into(),
                            "`preempt_delay` must be 0-1000 seconds".into(),
                        );
                        v.preempt_delay = None;
                    }
                }
                "unicast_src_ip" | "mcast_src_ip" => v.unicast_src_ip = self.ip(s),
                "unicast_peer" => {
                    for p in self.block(s) {
                        self.spans
                            .insert(format!("{path}/unicast_peer/{}", p.key.text), p.key.span);
                        if let Some(peer) = self.unicast_peer(p) {
                            v.unicast_peers.push(peer);
                        }
                    }
                }
                "unicast_ttl" => v.unicast_ttl = self.num1(s, 1u8, 255),
                "unicast_fault_no_peer" => v.unicast_fault_no_peer = self.flag(s),
                "mcast_dst_ip" => v.mcast_dst_ip = self.ip(s),
                "use_vmac" => {
                    let name = if s.args.is_empty() {
                        None
                    } else {
                        self.ifname(s)
                    };
                    v.use_vmac = Some(UseVmac { name });
                }
                "vmac_xmit_base" => v.vmac_xmit_base = self.flag(s),
                "use_ipvlan" => {
                    v.use_ipvlan = Some(s.args.iter().map(|a| a.text.clone()).collect())
                }
                "native_ipv6" => v.native_ipv6 = self.flag(s),
                "dont_track_primary" => v.dont_track_primary = self.flag(s),
                "track_src_ip" => v.track_src_ip = self.flag(s),
                "smtp_alert" => v.smtp_alert = Some(self.flag(s)),
                "accept" => v.accept = Some(self.flag(s)),
                "no_accept" => v.accept = Some(!self.flag(s)),
                "garp_master_delay" => v.garp_master_delay = self.num1(s, 0u32, 10000),
                "garp_master_repeat" => v.garp_master_repeat = self.num1(s, 0u32, 10000),
                "garp_master_refresh" => v.garp_master_refresh = self.num1(s, 0u32, u32::MAX),
                "garp_master_refresh_repeat" => {
                    v.garp_master_refresh_repeat = self.num1(s, 0u32, 10000)
                }
                "garp_lower_prio_delay" => v.garp_lower_prio_delay = self.num1(s, 0u32, u32::MAX),
                "garp_lower_prio_repeat" => v.garp_lower_prio_repeat = self.num1(s, 0u32, u32::MAX),
                "lower_prio_no_advert" => v.lower_prio_no_advert = Some(self.flag(s)),
                "higher_prio_send_advert" => v.higher_prio_send_advert = Some(self.flag(s)),
                "strict_mode" => v.strict_mode = Some(self.flag(s)),
                "old_unicast_checksum" => {
                    self.extra_args(s, 1);
                    v.old_unicast_checksum = match s.arg(0) {
                        None => Some(UnicastChecksum::Old),
                        Some("never") => Some(UnicastChecksum::Never),
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("unexpected `{other}` after `old_unicast_checksum`"),
                                "write `old_unicast_checksum` or `old_unicast_checksum never`"
                                    .into(),
                            );
                            None
                        }
                    }
                }
                "promote_secondaries" => v.promote_secondaries = self.flag(s),
                "down_timer_adverts" => v.down_timer_adverts = self.num1(s, 1u32, 100),
                "kernel_rx_buf_size" => v.kernel_rx_buf_size = self.num1(s, 0u32, u32::MAX),
                "vrf" => v.vrf = self.string(s),
                "use_vmac_addr" => v.use_vmac_addr = self.flag(s),
                "check_unicast_src" => v.check_unicast_src = self.flag(s),
                "skip_check_adv_addr" => v.skip_check_adv_addr = Some(self.flag(s)),
                _ => self.other(s, &[kw::INSTANCE], &mut v.other, "`vrrp_instance`"),
            }
        }
        self.save_fields(path.clone(), fields);
        Some(v)
    }

    fn unicast_peer(&mut self, p: &Node) -> Option<UnicastPeer> {
        self.no_block(p);
        let Ok(addr) = p.key.text.parse::<IpAddr>() else {
            self.push(
                Diagnostic::error(
                    "invalid-address",
                    Some(p.key.span),
                    format!("unicast peer `{}` is not an IP address", p.key.text),
                )
                .with_label("expected an IP address"),
            );
            return None;
        };
        let mut peer = UnicastPeer {
            addr,
            min_ttl: None,
            max_ttl: None,
        };
        let mut i = 0;
        while i < p.args.len() {
            match p.args[i].text.as_str() {
                "min_ttl" => peer.min_ttl = self.num(p, i + 1, 0u8, 255),
                "max_ttl" => peer.max_ttl = self.num(p, i + 1, 0u8, 255),
                other => {
                    self.bad_value(
                        p,
                        i,
                        format!("unexpected `{other}` after a unicast peer"),
                        "write `ADDRESS [min_ttl N] [max_ttl N]`".into(),
                    );
                    break;
                }
            }
            i += 2;
        }
        Some(peer)
    }

    fn authentication(&mut self, n: &Node) -> Option<Authentication> {
        let mut auth_type = None;
        let mut auth_pass = None;
        let mut saw_type = false;
        for s in self.block(n) {
            match s.key.text.as_str() {
                "auth_type" => {
                    saw_type = true;
                    self.extra_args(s, 1);
                    auth_type = match self.arg(s, 0, "PASS or AH") {
                        Some("PASS") => Some(AuthType::Pass),
                        Some("AH") => Some(AuthType::Ah),
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("invalid auth_type `{other}`"),
                                with_suggestion(
                                    "`auth_type` must be PASS or AH",
                                    other,
                                    &["PASS", "AH"],
                                ),
                            );
                            None
                        }
                        None => None,
                    }
                }
                "auth_pass" => {
                    self.extra_args(s, 1);
                    if let Some(p) = self.arg(s, 0, "a password") {
                        if p.len() > 8 {
                            self.push(
                                Diagnostic::warning(
                                    "auth-pass-truncated",
                                    Some(s.args[0].span),
                                    "`auth_pass` is longer than 8 characters",
                                )
                                .with_label("only the first 8 characters are used")
                                .with_help("VRRPv2 authentication data is 8 bytes"),
                            );
                        }
                        auth_pass = Some(p.chars().take(8).collect::<String>());
                    }
                }
                _ => {
                    let mut sink = Vec::new();
                    self.other(s, &[], &mut sink, "`authentication`");
                    if let Some(d) = self.diags.last_mut() {
                        if let Some(sg) = suggest(&s.key.text, &[kw::AUTH]) {
                            d.help = vec![format!("did you mean `{sg}`?")];
                        }
                    }
                }
            }
        }
        match (auth_type, auth_pass) {
            (Some(auth_type), Some(auth_pass)) => Some(Authentication {
                auth_type,
                auth_pass,
            }),
            (Some(_), None) => {
                self.push(
                    Diagnostic::error(
                        "missing-keyword",
                        Some(n.span()),
                        "`authentication` has no `auth_pass`",
                    )
                    .with_help("add `auth_pass SECRET` (up to 8 characters)"),
                );
                None
            }
            (None, _) if saw_type => None,
            (None, _) => {
                self.push(
                    Diagnostic::error(
                        "missing-keyword",
                        Some(n.span()),
                        "`authentication` has no `auth_type`",
                    )
                    .with_help("add `auth_type PASS` or `auth_type AH`"),
                );
                None
            }
        }
    }

    fn lb_kind(&mut self, s: &Node) -> Option<LbKind> {
        let kind = self.arg(s, 0, "NAT, DR or TUN")?;
        match kind.to_ascii_uppercase().as_str() {
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
                if tunnel == TunnelType::Ipip && csum.is_some() {
                    self.push(
                        Diagnostic::error(
                            "invalid-value",
                            Some(s.span()),
                            "checksum options need `type gue` or `type gre`",
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
                    format!("`{}` must be NAT, DR or TUN", s.key.text),
                );
                None
            }
        }
    }

    fn virtual_server(&mut self, n: &Node) -> Option<VirtualServer> {
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
                    self.num(n, 1, 0u16, 65535)?
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
                    vs.persistence_timeout = self.num1(s, 1u32, u32::MAX / 1000)
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
                            self.num(s, 1, 0u16, 65535)
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
                "real_server" => {
                    if let Some(rs) = self.real_server(s, &path) {
                        vs.real_servers.push(rs);
                    }
                }
                _ => self.other(s, &[kw::VIRTUAL_SERVER], &mut vs.other, "`virtual_server`"),
            }
        }
        self.save_fields(path.clone(), fields);
        Some(vs)
    }

    fn real_server(&mut self, n: &Node, vs_path: &str) -> Option<RealServer> {
        let ip = self.ip_at(n, 0)?;
        let port = if n.args.len() > 1 {
            Some(self.num(n, 1, 0u16, 65535)?)
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
                "weight" => rs.weight = self.num1(s, 0i32, 65535).unwrap_or(1),
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
                _ => self.other(s, &[kw::REAL_SERVER], &mut rs.other, "`real_server`"),
            }
        }
        Some(rs)
    }

    fn checker(&mut self, n: &Node) -> Option<Checker> {
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
            },
            "SMTP_CHECK" => CheckerKind::SmtpCheck { helo_name: None },
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
            match key {
                "connect_ip" => {
                    common.connect_ip = self.ip(s);
                    continue;
                }
                "connect_port" => {
                    common.connect_port = self.num1(s, 0u16, 65535);
                    continue;
                }
                "bindto" => {
                    common.bindto = self.ip(s);
                    continue;
                }
                "bind_port" => {
                    common.bind_port = self.num1(s, 0u16, 65535);
                    continue;
                }
                "bind_if" => {
                    common.bind_if = self.string(s);
                    continue;
                }
                "connect_timeout" => {
                    common.connect_timeout = self.timer(s);
                    continue;
                }
                "fwmark" => {
                    common.fwmark = self.num1(s, 0u32, u32::MAX);
                    continue;
                }
                "retry" | "nb_get_retry" => {
                    common.retry = self.num1(s, 0u32, u32::MAX);
                    continue;
                }
                "delay_before_retry" => {
                    common.delay_before_retry = self.timer(s);
                    continue;
                }
                "warmup" => {
                    common.warmup = self.timer(s);
                    continue;
                }
                "delay_loop" => {
                    common.delay_loop = self.timer(s);
                    continue;
                }
                "alpha" => {
                    common.alpha = Some(self.flag(s));
                    continue;
                }
                "log_all_failures" => {
                    common.log_all_failures = Some(self.flag(s));
                    continue;
                }
                _ => {}
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
                CheckerKind::SmtpCheck { helo_name } if key == "helo_name" => {
                    *helo_name = self.string(s);
                    true
                }
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
                        *misc_timeout = self.timer(s);
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
                } => match key {
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
                        if let Some((w, r)) = self.weight(s, 254) {
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
                self.other(
                    s,
                    &[kw::CHECKER_COMMON, kw::CHECKER_SPECIFIC],
                    &mut common.other,
                    &format!("`{which}`"),
                );
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
            _ => {}
        }
        Some(Checker { kind, common })
    }

    fn url(&mut self, n: &Node) -> HttpUrl {
        let mut u = HttpUrl::default();
        for s in self.block(n) {
            match s.key.text.as_str() {
                "path" => u.path = self.string(s).unwrap_or_default(),
                "digest" => u.digest = self.string(s),
                "status_code" => u.status_code.extend(s.args.iter().map(|a| a.text.clone())),
                "virtualhost" => u.virtualhost = self.string(s),
                "regex" => u.regex = self.string(s),
                "regex_no_match" => u.regex_no_match = self.flag(s),
                _ => self.other(s, &[kw::URL], &mut u.other, "`url`"),
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

fn rs_label(ip: IpAddr, port: Option<u16>) -> String {
    match port {
        Some(p) => format!("{ip} {p}"),
        None => ip.to_string(),
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
