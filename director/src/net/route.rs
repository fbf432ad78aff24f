//! keepalived's `virtual_routes` (and `static_routes`): the route words parsed into an
//! rtnetlink route, added and removed with [`Rtnl`](super::Rtnl).
//!
//! Accepted: `[blackhole|unreachable|prohibit|unicast] [to] PREFIX|default` then any of
//! `via|gw ADDR`, `dev NAME`, `src ADDR`, `metric|preference|priority N`, `table N|main|local`,
//! `scope global|site|link|host|nowhere`, `onlink`.

use std::net::IpAddr;

use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope,
    RouteType,
};
use netlink_packet_route::AddressFamily;

/// A route as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Destination and prefix length; `None` is the default route.
    pub destination: Option<(IpAddr, u8)>,
    pub gateway: Option<IpAddr>,
    pub device: Option<String>,
    pub source: Option<IpAddr>,
    pub metric: Option<u32>,
    pub table: Option<u32>,
    pub scope: Option<RouteScope>,
    pub kind: RouteType,
    pub onlink: bool,
    /// The words it was parsed from, for messages.
    pub text: String,
}

fn parse_prefix(word: &str) -> Result<(IpAddr, u8), String> {
    let (addr, len) = match word.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (word, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| format!("`{word}` is not an address or prefix"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|l| *l <= max)
            .ok_or_else(|| format!("`{word}`: prefix length must be 0-{max}"))?,
        None => max,
    };
    Ok((addr, len))
}

/// Parses one route line (its words).
pub fn parse_route(words: &[String]) -> Result<Route, String> {
    let text = words.join(" ");
    let mut route = Route {
        destination: None,
        gateway: None,
        device: None,
        source: None,
        metric: None,
        table: None,
        scope: None,
        kind: RouteType::Unicast,
        onlink: false,
        text: text.clone(),
    };
    let mut i = 0;
    let word = |i: usize| words.get(i).map(String::as_str);
    if let Some(kind) = word(i).and_then(|w| match w {
        "blackhole" => Some(RouteType::BlackHole),
        "unreachable" => Some(RouteType::Unreachable),
        "prohibit" => Some(RouteType::Prohibit),
        "unicast" => Some(RouteType::Unicast),
        _ => None,
    }) {
        route.kind = kind;
        i += 1;
    }
    if word(i) == Some("to") {
        i += 1;
    }
    let mut have_destination = false;
    while let Some(w) = word(i) {
        let value = || word(i + 1).ok_or_else(|| format!("route `{text}`: `{w}` needs a value"));
        match w {
            "via" | "gw" => {
                route.gateway = Some(
                    value()?
                        .parse()
                        .map_err(|_| format!("route `{text}`: bad gateway"))?,
                )
            }
            "dev" | "oif" => route.device = Some(value()?.to_string()),
            "src" => {
                route.source = Some(
                    value()?
                        .parse()
                        .map_err(|_| format!("route `{text}`: bad src"))?,
                )
            }
            "metric" | "preference" | "priority" => {
                route.metric = Some(
                    value()?
                        .parse()
                        .map_err(|_| format!("route `{text}`: bad metric"))?,
                )
            }
            "table" => {
                route.table = Some(match value()? {
                    "main" => 254,
                    "local" => 255,
                    "default" => 253,
                    n => n
                        .parse()
                        .map_err(|_| format!("route `{text}`: bad table"))?,
                })
            }
            "scope" => {
                route.scope = Some(match value()? {
                    "global" | "universe" => RouteScope::Universe,
                    "site" => RouteScope::Site,
                    "link" => RouteScope::Link,
                    "host" => RouteScope::Host,
                    "nowhere" => RouteScope::NoWhere,
                    other => return Err(format!("route `{text}`: unknown scope `{other}`")),
                })
            }
            "to" => {
                i += 1;
                continue;
            }
            "onlink" => {
                route.onlink = true;
                i += 1;
                continue;
            }
            "default" if !have_destination => {
                have_destination = true;
                i += 1;
                continue;
            }
            other if !have_destination => {
                route.destination =
                    Some(parse_prefix(other).map_err(|e| format!("route `{text}`: {e}"))?);
                have_destination = true;
                i += 1;
                continue;
            }
            other => return Err(format!("route `{text}`: unknown word `{other}`")),
        }
        i += 2;
    }
    if !have_destination {
        return Err(format!("route `{text}`: no destination"));
    }
    Ok(route)
}

impl Route {
    /// The family: of the destination, else of the gateway or source, else IPv4.
    pub fn is_ipv6(&self) -> bool {
        self.destination
            .map(|(a, _)| a)
            .or(self.gateway)
            .or(self.source)
            .is_some_and(|a| a.is_ipv6())
    }

    /// The rtnetlink message, with the device already resolved to its index.
    pub fn message(&self, ifindex: Option<u32>) -> RouteMessage {
        let mut msg = RouteMessage::default();
        let table = self.table.unwrap_or(254);
        msg.header = RouteHeader {
            address_family: if self.is_ipv6() {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            destination_prefix_length: self.destination.map_or(0, |(_, l)| l),
            table: u8::try_from(table).unwrap_or(252),
            protocol: RouteProtocol::Static,
            scope: self.scope.unwrap_or(
                if self.gateway.is_none() && self.kind == RouteType::Unicast {
                    RouteScope::Link
                } else {
                    RouteScope::Universe
                },
            ),
            kind: self.kind,
            flags: if self.onlink {
                RouteFlags::Onlink
            } else {
                RouteFlags::empty()
            },
            ..RouteHeader::default()
        };
        if let Some((addr, _)) = self.destination {
            msg.attributes
                .push(RouteAttribute::Destination(RouteAddress::from(addr)));
        }
        if let Some(gw) = self.gateway {
            msg.attributes
                .push(RouteAttribute::Gateway(RouteAddress::from(gw)));
        }
        if let Some(src) = self.source {
            msg.attributes
                .push(RouteAttribute::PrefSource(RouteAddress::from(src)));
        }
        if let Some(i) = ifindex {
            msg.attributes.push(RouteAttribute::Oif(i));
        }
        if let Some(m) = self.metric {
            msg.attributes.push(RouteAttribute::Priority(m));
        }
        if table > 255 {
            msg.attributes.push(RouteAttribute::Table(table));
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
    fn keepalived_route_lines_parse() {
        let r = parse_route(&words("10.250.0.0/16 via 192.168.2.1 dev ens32 metric 5")).unwrap();
        assert_eq!(r.destination, Some(("10.250.0.0".parse().unwrap(), 16)));
        assert_eq!(r.gateway, Some("192.168.2.1".parse().unwrap()));
        assert_eq!(r.device.as_deref(), Some("ens32"));
        assert_eq!(r.metric, Some(5));
        let b = parse_route(&words("blackhole 10.251.0.0/16")).unwrap();
        assert_eq!(b.kind, RouteType::BlackHole);
        let d = parse_route(&words("default via 192.168.2.1 table 100")).unwrap();
        assert_eq!((d.destination, d.table), (None, Some(100)));
        let s = parse_route(&words(
            "src 192.168.2.200 to 10.0.0.0/8 dev ens32 scope link",
        ))
        .unwrap();
        assert_eq!(s.source, Some("192.168.2.200".parse().unwrap()));
        assert_eq!(s.scope, Some(RouteScope::Link));
        assert!(parse_route(&words("10.0.0.0/33")).is_err());
        assert!(parse_route(&words("10.0.0.0/8 frobnicate 1"))
            .unwrap_err()
            .contains("frobnicate"));
        assert!(parse_route(&words("via 10.0.0.1"))
            .unwrap_err()
            .contains("no destination"));
    }
}
