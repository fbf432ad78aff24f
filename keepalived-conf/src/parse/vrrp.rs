//! `vrrp_sync_group`, `vrrp_instance` (with `unicast_peer` and `authentication`) and the
//! address lines of `virtual_ipaddress` and `static_ipaddress`.

use std::net::IpAddr;

use super::{suggest, with_suggestion, Fields, Parser, MAX_DELAY_SECS};
use crate::diag::Diagnostic;
use crate::model::*;
use crate::syntax::Node;

impl Parser<'_> {
    pub(super) fn sync_group(&mut self, n: &Node) -> Option<SyncGroup> {
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
                // keepalived 2.x: a deprecated name for sync_group_tracking_weight.
                "global_tracking" => {
                    g.global_tracking = self.flag(s);
                    g.sync_group_tracking_weight |= g.global_tracking;
                }
                "sync_group_tracking_weight" => g.sync_group_tracking_weight = self.flag(s),
                _ => self.other(s, &mut g.other, "`vrrp_sync_group`"),
            }
        }
        self.save_fields(path.clone(), fields);
        Some(g)
    }

    pub(super) fn instance(&mut self, n: &Node) -> Option<VrrpInstance> {
        let name = self.named(n, "vrrp_instance")?;
        let path = format!("vrrp_instance {name}");
        let mut v = VrrpInstance::new(name);
        let mut fields = Fields::default();
        let mut priority_set = false;
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
                        // keepalived keeps a MASTER written earlier.
                        Some("BACKUP") if v.state == Some(VrrpState::Master) => {
                            self.push(
                                Diagnostic::warning(
                                    "state-backup-after-master",
                                    Some(s.args[0].span),
                                    "`state BACKUP` after `state MASTER` is ignored",
                                )
                                .with_label("keepalived keeps the first `state MASTER`")
                                .with_help("keep one `state` line"),
                            );
                            Some(VrrpState::Master)
                        }
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
                "priority" => {
                    priority_set = true;
                    v.priority = self.num1(s, 1u8, 255).unwrap_or(v.priority)
                }
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
                "unicast_ttl" => v.unicast_ttl = self.num1(s, 0u8, 255),
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
                "garp_master_delay" => v.garp_master_delay = self.num1(s, 0u32, MAX_DELAY_SECS),
                "garp_master_repeat" => v.garp_master_repeat = self.num1(s, 0u32, u32::MAX),
                "garp_master_refresh" => v.garp_master_refresh = self.num1(s, 0u32, u32::MAX),
                "garp_master_refresh_repeat" => {
                    v.garp_master_refresh_repeat = self.num1(s, 0u32, u32::MAX)
                }
                "garp_lower_prio_delay" => {
                    v.garp_lower_prio_delay = self.num1(s, 0u32, MAX_DELAY_SECS)
                }
                "garp_lower_prio_repeat" => {
                    v.garp_lower_prio_repeat = self.num1(s, 0u32, i32::MAX as u32)
                }
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
                _ => self.other(s, &mut v.other, "`vrrp_instance`"),
            }
        }
        // keepalived's vrrp_complete_instance: without `priority`, `state MASTER` makes the
        // address owner (255), anything else 100.
        if !priority_set && v.state == Some(VrrpState::Master) {
            v.priority = 255;
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
                    self.other(s, &mut sink, "`authentication`");
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
                "no_track" | "home" | "-nodad" | "mngtmpaddr" | "noprefixroute" | "autojoin"
                | "use_vmac" => ip.options.push(word.to_string()),
                // Not keepalived's: it warns and goes on; its IPv6 addresses skip DAD anyway.
                "nodad" => self.push(
                    Diagnostic::warning(
                        "unknown-keyword",
                        Some(a.args[i].span),
                        "unknown address option `nodad`".to_string(),
                    )
                    .with_label("ignored, as keepalived does")
                    .with_help(
                        "IPv6 virtual addresses are added without duplicate address detection \
                         anyway; `-nodad` turns that off",
                    ),
                ),
                other => {
                    let mut d = Diagnostic::warning(
                        "unknown-keyword",
                        Some(a.args[i].span),
                        format!("unknown address option `{other}`"),
                    )
                    .with_label("ignored");
                    if let Some(s) = suggest(other, &[ADDRESS_OPTIONS]) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.push(d);
                    // What follows may be this option's value; do not guess.
                    break;
                }
            }
            i += if takes_value { 2 } else { 1 };
        }
        self.address_values(a, &mut ip)?;
        Some(ip)
    }

    /// keepalived's checks of an address line's values (`parse_route`'s sibling in
    /// `vrrp_ipaddress.c`): a bad value drops the address, a pointless one is ignored.
    fn address_values(&mut self, a: &Node, ip: &mut IpAddress) -> Option<()> {
        let span = a.key.span;
        let error = |m: String| {
            Diagnostic::error("invalid-address", Some(span), m).with_label("address skipped")
        };
        if let Some(peer) = &ip.peer {
            let max = if ip.addr.is_ipv4() { 32 } else { 128 };
            // keepalived reads the peer without a prefix: `peer 10.0.0.2/24` is invalid, and
            // it would run without the peer.
            match peer.parse::<IpAddr>() {
                Ok(p) if p.is_ipv4() == ip.addr.is_ipv4() => {}
                _ => {
                    self.push(error(format!("invalid peer address `{peer}`")).with_help(
                        "a peer is one address, without prefix; the address gets a host prefix",
                    ));
                    return None;
                }
            }
            if ip.prefix.is_some_and(|p| p != max) {
                self.push(
                    Diagnostic::warning(
                        "ignored-value",
                        Some(span),
                        "with a peer, keepalived ignores the address's prefix".to_string(),
                    )
                    .with_label("a host prefix is used"),
                );
            }
            if ip.brd.take().is_some() {
                self.push(
                    Diagnostic::warning(
                        "ignored-value",
                        Some(span),
                        "keepalived ignores the broadcast address of an address with a peer"
                            .to_string(),
                    )
                    .with_label("`brd` ignored"),
                );
            }
        }
        if let Some(brd) = &ip.brd {
            if ip.addr.is_ipv6() {
                self.push(error(format!(
                    "an IPv6 address has no broadcast address (`brd {brd}`)"
                )));
                return None;
            }
            if !matches!(brd.as_str(), "+" | "-") && brd.parse::<std::net::Ipv4Addr>().is_err() {
                self.push(error(format!("invalid broadcast address `{brd}`")));
                return None;
            }
        }
        if let Some(i) = ip.options.iter().position(|w| w == "preferred_lft") {
            let value = ip
                .options
                .get(i + 1)
                .map(String::as_str)
                .unwrap_or_default();
            if value != "forever" && value.parse::<u32>().is_err() {
                self.push(
                    Diagnostic::error(
                        "invalid-value",
                        Some(span),
                        format!("`preferred_lft {value}` is invalid"),
                    )
                    .with_label("expected seconds or `forever`"),
                );
                ip.options.drain(i..(i + 2).min(ip.options.len()));
            } else if ip.addr.is_ipv4() {
                self.push(
                    Diagnostic::warning(
                        "ignored-value",
                        Some(span),
                        "`preferred_lft` applies to IPv6 addresses; keepalived ignores it here"
                            .to_string(),
                    )
                    .with_label("ignored"),
                );
            }
        }
        Some(())
    }
}

/// Words of an address line after the address itself.
const ADDRESS_OPTIONS: &[&str] = &[
    "brd",
    "broadcast",
    "dev",
    "scope",
    "label",
    "peer",
    "no_track",
    "home",
    "-nodad",
    "mngtmpaddr",
    "noprefixroute",
    "autojoin",
    "preferred_lft",
    "track_group",
    "use_vmac",
];
