//! An address line of `virtual_ipaddress`, `virtual_ipaddress_excluded` or
//! `static_ipaddress` as keepalived installs it (`vrrp_ipaddress.c`: `parse_ipaddress` and
//! `netlink_ipaddress`): flags, peer, broadcast and the IPv6 preferred lifetime.

use std::net::{IpAddr, Ipv4Addr};

use netlink_packet_route::address::{AddressFlags, AddressScope};

use super::rtnl::AddressOptions;

/// What an address line asks the kernel for, besides the address itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressLine {
    /// The peer's prefix when a `peer` is given (keepalived ignores the address's own).
    pub prefix_len: u8,
    pub scope: AddressScope,
    pub options: AddressOptions,
    /// `no_track`: its removal by someone else is not reacted to.
    pub no_track: bool,
}

fn host_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

/// Reads `a` as keepalived does. The parser has checked the values; what still does not
/// read is the error.
pub fn address_line(a: &keepalived_conf::IpAddress) -> Result<AddressLine, String> {
    let what = |m: String| format!("address {}: {m}", a.addr);
    let scope = match a.scope.as_deref().unwrap_or("global") {
        "global" | "universe" => AddressScope::Universe,
        "site" => AddressScope::Site,
        "link" => AddressScope::Link,
        "host" => AddressScope::Host,
        "nowhere" => AddressScope::Nowhere,
        other => return Err(what(format!("unknown scope `{other}`"))),
    };
    let mut prefix_len = a.prefix.unwrap_or(host_prefix(a.addr));
    let mut options = AddressOptions::default();
    // keepalived: a peer is an address without prefix, and the address's own prefix is
    // ignored (a host prefix); the peer is IFA_ADDRESS.
    if let Some(peer) = &a.peer {
        let addr: IpAddr = peer
            .parse()
            .ok()
            .filter(|p: &IpAddr| p.is_ipv4() == a.addr.is_ipv4())
            .ok_or_else(|| what(format!("invalid peer `{peer}`")))?;
        prefix_len = host_prefix(addr);
        options.peer = Some(addr);
    }
    let mut no_nodad = false;
    let mut preferred_lft = None;
    let mut words = a.options.iter();
    while let Some(word) = words.next() {
        match word.as_str() {
            "home" => options.flags |= AddressFlags::Homeaddress,
            "noprefixroute" => options.flags |= AddressFlags::Noprefixroute,
            "autojoin" => options.flags |= AddressFlags::Mcautojoin,
            "mngtmpaddr" => options.flags |= AddressFlags::Managetempaddr,
            "-nodad" => no_nodad = true,
            "no_track" => {}
            "preferred_lft" => {
                let value = words.next().map(String::as_str).unwrap_or_default();
                preferred_lft = Some(match value {
                    "forever" => None,
                    n => Some(
                        n.parse::<u32>()
                            .map_err(|_| what(format!("invalid preferred_lft `{n}`")))?,
                    ),
                });
            }
            // track_group's group name; refused or warned by the compatibility table.
            "track_group" => {
                words.next();
            }
            _ => {}
        }
    }
    if let IpAddr::V4(addr) = a.addr {
        // keepalived: a peer cancels `brd`; `+`/`-` compute it from the prefix (up to /30).
        if let (Some(brd), None) = (&a.brd, options.peer) {
            let base = u32::from(addr);
            let host_bits = u32::MAX.checked_shr(u32::from(prefix_len)).unwrap_or(0);
            options.broadcast = match brd.as_str() {
                "+" if prefix_len <= 30 => Some(Ipv4Addr::from(base | host_bits)),
                "-" if prefix_len <= 30 => Some(Ipv4Addr::from(base & !host_bits)),
                "+" | "-" => None,
                b => Some(
                    b.parse()
                        .map_err(|_| what(format!("invalid broadcast `{b}`")))?,
                ),
            };
        }
    } else {
        // keepalived: IPv6 virtual addresses skip duplicate address detection unless
        // `-nodad`, and a /128 without `preferred_lft` is deprecated (not chosen as a source).
        if !no_nodad {
            options.flags |= AddressFlags::Nodad;
        }
        options.preferred_lft = match preferred_lft {
            Some(lft) => lft,
            None if prefix_len == 128 => Some(0),
            None => None,
        };
    }
    Ok(AddressLine {
        prefix_len,
        scope,
        options,
        no_track: a.options.iter().any(|w| w == "no_track"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> AddressLine {
        let conf = format!(
            "vrrp_instance A {{ interface eth0\n virtual_router_id 7\n virtual_ipaddress {{\n {text}\n }}\n}}\n"
        );
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            &conf,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        address_line(&loaded.config.vrrp_instances[0].virtual_ipaddress[0]).unwrap()
    }

    #[test]
    fn ipv4_flags_peer_and_broadcast() {
        let l = line("192.0.2.1/30 peer 192.0.2.2 home noprefixroute autojoin no_track");
        assert_eq!(l.prefix_len, 32);
        assert_eq!(l.options.peer, Some("192.0.2.2".parse().unwrap()));
        assert_eq!(
            l.options.flags,
            AddressFlags::Homeaddress | AddressFlags::Noprefixroute | AddressFlags::Mcautojoin
        );
        assert!(l.no_track);
        assert_eq!(l.options.preferred_lft, None);
        let l = line("192.0.2.1/24 brd +");
        assert_eq!(l.options.broadcast, Some("192.0.2.255".parse().unwrap()));
        let l = line("192.0.2.1/24 brd -");
        assert_eq!(l.options.broadcast, Some("192.0.2.0".parse().unwrap()));
        let l = line("192.0.2.1/24 broadcast 192.0.2.127");
        assert_eq!(l.options.broadcast, Some("192.0.2.127".parse().unwrap()));
        assert_eq!(line("192.0.2.1/31 brd +").options.broadcast, None);
        assert_eq!(line("192.0.2.1").options.flags, AddressFlags::empty());
    }

    #[test]
    fn ipv6_nodad_and_preferred_lifetime_as_keepalived() {
        let l = line("2001:db8::1");
        assert_eq!(l.options.flags, AddressFlags::Nodad);
        assert_eq!(l.options.preferred_lft, Some(0));
        let l = line("2001:db8::1/64");
        assert_eq!(l.options.preferred_lft, None);
        let l = line("2001:db8::1/64 -nodad preferred_lft 30");
        assert_eq!(l.options.flags, AddressFlags::empty());
        assert_eq!(l.options.preferred_lft, Some(30));
        assert_eq!(
            line("2001:db8::1 preferred_lft forever")
                .options
                .preferred_lft,
            None
        );
    }
}
