//! keepalived's `virtual_rules` and `static_rules`: ip-rule(8) words parsed into an
//! rtnetlink FIB rule, added and removed with [`Rtnl`](super::Rtnl).
//!
//! Accepted, as keepalived reads them: `inet`/`inet6`, `from PREFIX|all`, `to PREFIX|all`,
//! `not`, `table|lookup N|main|local|default`, `preference|order|priority N`,
//! `tos|dsfield N`, `fwmark N[/MASK]`, `suppress_prefixlength|sup_pl N`,
//! `suppress_ifgroup|sup_group N`, `dev|iif NAME`, `oif NAME`, `uidrange A-B`, `protocol N`,
//! `ipproto tcp|udp|icmp|N`, `sport N[-M]`, `dport N[-M]`, `[type] goto N|nop|blackhole|
//! unreachable|prohibit`, `no_track`. What ha does not apply (`realms`, `tunnel-id`,
//! `l3mdev`, `track_group`) is refused by name rather than left out of the rule.

use std::net::IpAddr;

use netlink_packet_route::rule::{
    RuleAction, RuleAttribute, RuleFlags, RuleHeader, RuleMessage, RulePortRange, RuleUidRange,
};
use netlink_packet_route::{AddressFamily, IpProtocol};

/// A FIB rule as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub ipv6: bool,
    pub from: Option<(IpAddr, u8)>,
    pub to: Option<(IpAddr, u8)>,
    pub invert: bool,
    pub table: Option<u32>,
    pub priority: Option<u32>,
    pub tos: u8,
    pub fwmark: Option<u32>,
    pub fwmask: Option<u32>,
    pub suppress_prefixlen: Option<u32>,
    pub suppress_ifgroup: Option<u32>,
    pub iif: Option<String>,
    pub oif: Option<String>,
    pub uid_range: Option<(u32, u32)>,
    pub protocol: Option<u8>,
    pub ip_protocol: Option<u8>,
    pub sport: Option<(u16, u16)>,
    pub dport: Option<(u16, u16)>,
    pub action: RuleAction,
    pub goto: Option<u32>,
    /// The words it was parsed from, for messages.
    pub text: String,
}

fn number<T: std::str::FromStr>(text: &str, what: &str, word: &str) -> Result<T, String> {
    let parsed = match word.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16)
            .ok()
            .and_then(|v| v.to_string().parse().ok()),
        None => word.parse().ok(),
    };
    parsed.ok_or_else(|| format!("rule `{text}`: bad {what} `{word}`"))
}

fn range<T: std::str::FromStr + Copy>(
    text: &str,
    what: &str,
    word: &str,
) -> Result<(T, T), String> {
    match word.split_once('-') {
        Some((a, b)) => Ok((number(text, what, a)?, number(text, what, b)?)),
        None => {
            let v = number(text, what, word)?;
            Ok((v, v))
        }
    }
}

fn prefix(text: &str, word: &str) -> Result<Option<(IpAddr, u8)>, String> {
    if matches!(word, "all" | "any" | "default") {
        return Ok(None);
    }
    let (addr, len) = match word.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (word, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("rule `{text}`: `{word}` is not an address or prefix"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("rule `{text}`: `{word}`: prefix length must be 0-{max}"))?,
        None => max,
    };
    Ok(Some((addr, len)))
}

/// Parses one rule line (its words).
pub fn parse_rule(words: &[String]) -> Result<Rule, String> {
    let text = words.join(" ");
    let mut rule = Rule {
        ipv6: false,
        from: None,
        to: None,
        invert: false,
        table: None,
        priority: None,
        tos: 0,
        fwmark: None,
        fwmask: None,
        suppress_prefixlen: None,
        suppress_ifgroup: None,
        iif: None,
        oif: None,
        uid_range: None,
        protocol: None,
        ip_protocol: None,
        sport: None,
        dport: None,
        action: RuleAction::Unspec,
        goto: None,
        text: text.clone(),
    };
    let mut family: Option<bool> = None;
    let mut set_family = |ipv6: bool| -> Result<(), String> {
        match family {
            Some(f) if f != ipv6 => Err(format!("rule `{text}` mixes IPv4 and IPv6")),
            _ => {
                family = Some(ipv6);
                Ok(())
            }
        }
    };
    let set_action = |rule: &mut Rule, action: RuleAction| -> Result<(), String> {
        if rule.action != RuleAction::Unspec {
            return Err(format!(
                "rule `{text}`: more than one of table/nop/goto/blackhole/prohibit/unreachable"
            ));
        }
        rule.action = action;
        Ok(())
    };
    let mut i = 0;
    while i < words.len() {
        let w = words[i].as_str();
        let value = || {
            words
                .get(i + 1)
                .map(String::as_str)
                .ok_or_else(|| format!("rule `{text}`: `{w}` needs a value"))
        };
        let mut step = 2;
        match w {
            "inet" => {
                set_family(false)?;
                step = 1;
            }
            "inet6" => {
                set_family(true)?;
                step = 1;
            }
            "from" | "to" => {
                let p = prefix(&text, value()?)?;
                if let Some((a, _)) = p {
                    set_family(a.is_ipv6())?;
                }
                if w == "from" {
                    rule.from = p;
                } else {
                    rule.to = p;
                }
            }
            "table" | "lookup" => {
                let table = match value()? {
                    "main" => 254,
                    "local" => 255,
                    "default" => 253,
                    n => number(&text, "table", n)?,
                };
                if table == 0 {
                    return Err(format!("rule `{text}`: table 0 is not valid"));
                }
                rule.table = Some(table);
                set_action(&mut rule, RuleAction::ToTable)?;
            }
            "not" => {
                rule.invert = true;
                step = 1;
            }
            "preference" | "order" | "priority" => {
                rule.priority = Some(number(&text, "preference", value()?)?)
            }
            "tos" | "dsfield" => rule.tos = number(&text, "tos", value()?)?,
            "fwmark" => {
                let v = value()?;
                match v.split_once('/') {
                    Some((mark, mask)) => {
                        rule.fwmark = Some(number(&text, "fwmark", mark)?);
                        rule.fwmask = Some(number(&text, "fwmark mask", mask)?);
                    }
                    None => rule.fwmark = Some(number(&text, "fwmark", v)?),
                }
            }
            "suppress_prefixlength" | "sup_pl" => {
                rule.suppress_prefixlen = Some(number(&text, "suppress_prefixlength", value()?)?)
            }
            "suppress_ifgroup" | "sup_group" => {
                rule.suppress_ifgroup = Some(number(&text, "suppress_ifgroup", value()?)?)
            }
            "dev" | "iif" => rule.iif = Some(value()?.to_string()),
            "oif" => rule.oif = Some(value()?.to_string()),
            "uidrange" => rule.uid_range = Some(range(&text, "uidrange", value()?)?),
            "protocol" => rule.protocol = Some(number(&text, "protocol", value()?)?),
            "ipproto" => {
                rule.ip_protocol = Some(match value()? {
                    "tcp" => 6,
                    "udp" => 17,
                    "icmp" => 1,
                    "ipv6-icmp" | "icmpv6" => 58,
                    "sctp" => 132,
                    n => number(&text, "ipproto", n)?,
                })
            }
            "sport" => rule.sport = Some(range(&text, "sport", value()?)?),
            "dport" => rule.dport = Some(range(&text, "dport", value()?)?),
            "no_track" => step = 1,
            "type" => step = 1,
            "goto" => {
                rule.goto = Some(number(&text, "goto target", value()?)?);
                set_action(&mut rule, RuleAction::Goto)?;
            }
            "nop" | "blackhole" | "unreachable" | "prohibit" => {
                set_action(
                    &mut rule,
                    match w {
                        "nop" => RuleAction::Nop,
                        "blackhole" => RuleAction::Blackhole,
                        "unreachable" => RuleAction::Unreachable,
                        _ => RuleAction::Prohibit,
                    },
                )?;
                step = 1;
            }
            "realms" | "tunnel-id" | "l3mdev" | "track_group" => {
                return Err(format!(
                    "rule `{text}`: `{w}` is not supported by ha (refused rather than left out)"
                ))
            }
            other => return Err(format!("rule `{text}`: unknown word `{other}`")),
        }
        i += step;
    }
    rule.ipv6 = family.unwrap_or(false);
    if rule.action == RuleAction::Unspec {
        return Err(format!(
            "rule `{text}`: no action (table, goto, nop, blackhole, unreachable or prohibit)"
        ));
    }
    if rule.action == RuleAction::Goto && rule.priority.is_none_or(|p| Some(p) >= rule.goto) {
        return Err(format!(
            "rule `{text}`: goto needs a preference lower than its target"
        ));
    }
    if rule.action != RuleAction::ToTable
        && (rule.suppress_prefixlen.is_some() || rule.suppress_ifgroup.is_some())
    {
        return Err(format!(
            "rule `{text}`: suppress_prefixlength and suppress_ifgroup need a table action"
        ));
    }
    Ok(rule)
}

impl Rule {
    /// The rtnetlink message (the same for adding and deleting).
    pub fn message(&self) -> RuleMessage {
        let mut msg = RuleMessage::default();
        let table = self.table.unwrap_or(0);
        msg.header = RuleHeader {
            family: if self.ipv6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            dst_len: self.to.map_or(0, |(_, l)| l),
            src_len: self.from.map_or(0, |(_, l)| l),
            tos: self.tos,
            table: if (1..256).contains(&table) {
                table as u8
            } else {
                0
            },
            action: self.action,
            flags: if self.invert {
                RuleFlags::Invert
            } else {
                RuleFlags::empty()
            },
        };
        let a = &mut msg.attributes;
        if table > 255 {
            a.push(RuleAttribute::Table(table));
        }
        if let Some((addr, _)) = self.from {
            a.push(RuleAttribute::Source(addr));
        }
        if let Some((addr, _)) = self.to {
            a.push(RuleAttribute::Destination(addr));
        }
        if let Some(p) = self.priority {
            a.push(RuleAttribute::Priority(p));
        }
        if let Some(m) = self.fwmark {
            a.push(RuleAttribute::FwMark(m));
        }
        if let Some(m) = self.fwmask {
            a.push(RuleAttribute::FwMask(m));
        }
        if let Some(n) = self.suppress_prefixlen {
            a.push(RuleAttribute::SuppressPrefixLen(n));
        }
        if let Some(n) = self.suppress_ifgroup {
            a.push(RuleAttribute::SuppressIfGroup(n));
        }
        if let Some(i) = &self.iif {
            a.push(RuleAttribute::Iifname(i.clone()));
        }
        if let Some(o) = &self.oif {
            a.push(RuleAttribute::Oifname(o.clone()));
        }
        if let Some((start, end)) = self.uid_range {
            a.push(RuleAttribute::UidRange(RuleUidRange { start, end }));
        }
        if let Some(p) = self.protocol {
            a.push(RuleAttribute::Protocol(p.into()));
        }
        if let Some(p) = self.ip_protocol {
            a.push(RuleAttribute::IpProtocol(IpProtocol::from(p)));
        }
        if let Some((start, end)) = self.sport {
            a.push(RuleAttribute::SourcePortRange(RulePortRange { start, end }));
        }
        if let Some((start, end)) = self.dport {
            a.push(RuleAttribute::DestinationPortRange(RulePortRange {
                start,
                end,
            }));
        }
        if let Some(g) = self.goto {
            a.push(RuleAttribute::Goto(g));
        }
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn keepalived_rule_lines_parse() {
        let r = parse_rule(&words("from 192.168.2.0/24 table 1")).unwrap();
        assert_eq!(r.from, Some(("192.168.2.0".parse().unwrap(), 24)));
        assert_eq!(
            (r.table, r.action, r.ipv6),
            (Some(1), RuleAction::ToTable, false)
        );
        let r = parse_rule(&words(
            "from 192.168.28.0/24 to 192.168.29.0/26 table 300 iif p33p1 oif wlan0 tos 22 fwmark 24/12 preference 39",
        ))
        .unwrap();
        assert_eq!(
            (r.fwmark, r.fwmask, r.priority, r.tos),
            (Some(24), Some(12), Some(39), 22)
        );
        assert_eq!(
            (r.iif.as_deref(), r.oif.as_deref()),
            (Some("p33p1"), Some("wlan0"))
        );
        let m = r.message();
        assert_eq!(
            (m.header.table, m.header.src_len, m.header.dst_len),
            (0, 24, 26)
        );
        assert!(m.attributes.contains(&RuleAttribute::Table(300)));
        let r = parse_rule(&words(
            "to 1:2:3:4:5:6:7:0/112 from 7:6:5:4:3:2::/96 table 6908 uidrange 10000-19999 ipproto udp sport 10-20 dport 30",
        ))
        .unwrap();
        assert!(r.ipv6);
        assert_eq!(
            (r.uid_range, r.ip_protocol),
            (Some((10000, 19999)), Some(17))
        );
        assert_eq!((r.sport, r.dport), (Some((10, 20)), Some((30, 30))));
        let r = parse_rule(&words("not from all fwmark 0x10 type unreachable")).unwrap();
        assert!(r.invert && r.from.is_none());
        assert_eq!((r.fwmark, r.action), (Some(16), RuleAction::Unreachable));
        assert_eq!(
            parse_rule(&words("preference 100 goto 200"))
                .unwrap()
                .action,
            RuleAction::Goto
        );
    }

    #[test]
    fn rules_keepalived_refuses_or_ha_does_not_apply_are_errors() {
        for (line, why) in [
            ("from 10.0.0.0/8", "no action"),
            (
                "from 10.0.0.0/8 to fe80::/64 table 1",
                "mixes IPv4 and IPv6",
            ),
            ("from 10.0.0.0/8 table 0", "table 0"),
            ("table 1 nop", "more than one"),
            ("goto 5", "goto needs a preference"),
            ("preference 9 goto 5", "goto needs a preference"),
            ("nop suppress_prefixlength 0", "need a table action"),
            (
                "from 10.0.0.0/8 table 1 realms 3",
                "`realms` is not supported",
            ),
            (
                "from 10.0.0.0/8 table 1 track_group G",
                "`track_group` is not supported",
            ),
            (
                "from 10.0.0.0/8 table 1 frobnicate",
                "unknown word `frobnicate`",
            ),
            ("from 10.0.0.0/33 table 1", "prefix length"),
        ] {
            let e = parse_rule(&words(line)).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
