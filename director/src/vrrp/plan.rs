//! From a parsed keepalived.conf to what the VRRP runner runs: keepalived's defaults and
//! global settings folded into each instance, the primary address looked up on the host.

use std::net::IpAddr;
use std::time::Duration;

use vrrp_core::wire::{Family, Version};
use vrrp_core::{Authentication, GarpConfig, InstanceConfig};

use crate::vrrp::{InstanceSpec, VirtualAddress};
use keepalived_conf::{AuthType, Config, IpAddress, VrrpInstance, VrrpState};

/// Why an instance cannot be run on this host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("vrrp_instance {instance}: {reason}")]
pub struct PlanError {
    pub instance: String,
    pub reason: String,
}

/// What the plan needs to know about the host.
pub trait HostAddresses {
    /// The addresses on an interface, in kernel order.
    fn addresses(&mut self, interface: &str) -> Result<Vec<IpAddr>, String>;
}

/// Builds the runner's instance specs from a configuration.
pub fn plan(config: &Config, host: &mut dyn HostAddresses) -> Result<Vec<InstanceSpec>, PlanError> {
    // What ha would not apply: refuse what changes behaviour, say the rest once per plan.
    let unapplied = crate::vrrp::unapplied(config);
    if let Some(e) = unapplied.errors.into_iter().next() {
        return Err(e);
    }
    for w in &unapplied.warnings {
        tracing::warn!("{w}");
    }
    config
        .vrrp_instances
        .iter()
        .map(|i| plan_instance(config, i, host))
        .collect()
}

fn plan_instance(
    config: &Config,
    vi: &VrrpInstance,
    host: &mut dyn HostAddresses,
) -> Result<InstanceSpec, PlanError> {
    let fail = |reason: String| PlanError {
        instance: vi.name.clone(),
        reason,
    };
    let g = &config.global_defs;
    let interface = vi
        .interface
        .clone()
        .ok_or_else(|| fail("no `interface`".into()))?;
    let vrid = vi
        .virtual_router_id
        .ok_or_else(|| fail("no `virtual_router_id`".into()))?;
    let advertised: Vec<IpAddr> = vi.virtual_ipaddress.iter().map(|a| a.addr).collect();
    // keepalived infers the family from the addresses: IPv6 VIPs make an IPv6 instance.
    let family = advertised.first().map(Family::of).unwrap_or(Family::Ipv4);
    // keepalived: an IPv6 instance without `version` runs VRRPv3 whatever `vrrp_version`.
    let version = match vi.version {
        Some(3) => Version::V3,
        Some(_) => Version::V2,
        None if family == Family::Ipv6 => Version::V3,
        None if g.vrrp_version == 3 => Version::V3,
        None => Version::V2,
    };
    let primary = match vi.unicast_src_ip {
        Some(a) => a,
        // keepalived's dynamic_interfaces: an interface missing now may appear later; the
        // instance waits in FAULT and takes the interface's address then.
        None if g.dynamic_interfaces && host.addresses(&interface).is_err() => match family {
            Family::Ipv4 => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            Family::Ipv6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        },
        None => {
            let addresses = host
                .addresses(&interface)
                .map_err(|e| fail(format!("interface {interface}: {e}")))?;
            addresses
                .into_iter()
                .find(|a| match (family, a) {
                    (Family::Ipv4, IpAddr::V4(_)) => true,
                    (Family::Ipv6, IpAddr::V6(v6)) => v6.segments()[0] & 0xffc0 == 0xfe80,
                    _ => false,
                })
                .ok_or_else(|| {
                    fail(format!(
                        "interface {interface} has no {} address to send adverts from",
                        match family {
                            Family::Ipv4 => "IPv4",
                            Family::Ipv6 => "IPv6 link-local",
                        }
                    ))
                })?
        }
    };
    let mut c = InstanceConfig::new(version, vrid, vi.priority, primary, advertised);
    c.advert_interval = vi.advert_int.as_duration();
    // keepalived's vrrp_complete_instance: `state MASTER` and the address owner clear
    // `nopreempt`; `state MASTER` and `nopreempt` clear `preempt_delay`.
    let wants_master = vi.state == Some(VrrpState::Master);
    c.preempt = !vi.nopreempt || wants_master || vi.priority == 255;
    c.preempt_delay = vi
        .preempt_delay
        .filter(|_| c.preempt && !wants_master)
        .map(|t| t.as_duration())
        .unwrap_or_default();
    // Otherwise a `state MASTER` that does not own its addresses starts as any backup
    // (keepalived's vrrp_init_state; measured against keepalived 2.2.7 in vrrp_keywords_netns).
    c.skip_check_adv_addr = vi.skip_check_adv_addr.unwrap_or(g.vrrp_skip_check_adv_addr);
    if let Some(auth) = &vi.authentication {
        match auth.auth_type {
            AuthType::Pass => c.authentication = Authentication::password(&auth.auth_pass),
            AuthType::Ah => {
                return Err(fail(
                    "auth_type AH is not supported (keepalived deprecates it; use PASS or none)"
                        .into(),
                ))
            }
        }
    }
    c.unicast_peers = vi
        .unicast_peers
        .iter()
        .map(|p| vrrp_core::UnicastPeer {
            address: p.addr,
            min_ttl: p.min_ttl.unwrap_or(0),
            max_ttl: p.max_ttl.unwrap_or(255),
        })
        .collect();
    // keepalived: a peer's min_ttl / max_ttl turns the source check on.
    c.check_unicast_src = vi.check_unicast_src
        || g.vrrp_check_unicast_src
        || vi
            .unicast_peers
            .iter()
            .any(|p| p.min_ttl.is_some() || p.max_ttl.is_some());
    c.multicast_group = Some(match (vi.mcast_dst_ip, family) {
        (Some(group), _) => group,
        (None, Family::Ipv4) => IpAddr::V4(g.vrrp_mcast_group4),
        (None, Family::Ipv6) => IpAddr::V6(g.vrrp_mcast_group6),
    })
    .filter(|group| {
        *group
            != match family {
                Family::Ipv4 => IpAddr::V4(vrrp_core::wire::MULTICAST_V4),
                Family::Ipv6 => IpAddr::V6(vrrp_core::wire::MULTICAST_V6),
            }
    });
    c.lower_prio_no_advert = vi
        .lower_prio_no_advert
        .unwrap_or(g.vrrp_lower_prio_no_advert);
    c.higher_prio_send_advert = vi
        .higher_prio_send_advert
        .unwrap_or(g.vrrp_higher_prio_send_advert);
    if let Some(n) = vi.down_timer_adverts {
        c.down_timer_adverts = u8::try_from(n).unwrap_or(u8::MAX);
    }
    c.startup_delay = g
        .vrrp_startup_delay
        .map(|t| t.as_duration())
        .unwrap_or_default();
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let repeat = |n: u32| u8::try_from(n).unwrap_or(u8::MAX);
    // keepalived's vrrp_min_garp: one message, no second burst, no refresh, for the global
    // settings still at their defaults.
    let min = g.vrrp_min_garp;
    let global_delay = if min && g.vrrp_garp_master_delay == 5 {
        0
    } else {
        g.vrrp_garp_master_delay
    };
    let global_repeat = if min && g.vrrp_garp_master_repeat == 5 {
        1
    } else {
        g.vrrp_garp_master_repeat
    };
    let global_refresh_repeat = if min && g.vrrp_garp_master_refresh_repeat == 1 {
        0
    } else {
        g.vrrp_garp_master_refresh_repeat
    };
    let master_delay = vi.garp_master_delay.unwrap_or(global_delay);
    let master_repeat = vi.garp_master_repeat.unwrap_or(global_repeat);
    let refresh = vi.garp_master_refresh.unwrap_or(g.vrrp_garp_master_refresh);
    c.garp = GarpConfig {
        master_delay: secs(master_delay),
        master_repeat: repeat(master_repeat),
        master_refresh: (refresh > 0).then(|| secs(refresh)),
        master_refresh_repeat: repeat(
            vi.garp_master_refresh_repeat
                .unwrap_or(global_refresh_repeat),
        ),
        lower_prio_delay: secs(
            vi.garp_lower_prio_delay
                .or(g.vrrp_garp_lower_prio_delay)
                .unwrap_or(master_delay),
        ),
        // keepalived: unset means garp_master_repeat.
        lower_prio_repeat: Some(repeat(
            vi.garp_lower_prio_repeat
                .or(g.vrrp_garp_lower_prio_repeat)
                .unwrap_or(master_repeat),
        ))
        .filter(|&n| n > 0),
    };
    // Accept mode, and strict mode's defaults and refusals.
    crate::vrrp::strict::apply(config, vi, &mut c).map_err(fail)?;
    c.validate().map_err(|e| fail(e.to_string()))?;
    let addresses = vi
        .virtual_ipaddress
        .iter()
        .chain(&vi.virtual_ipaddress_excluded)
        .map(virtual_address)
        .collect::<Result<Vec<_>, String>>()
        .map_err(fail)?;
    let vmac = vi
        .use_vmac
        .as_ref()
        .map(|v| v.name.clone().unwrap_or_else(|| format!("vrrp.{vrid}")));
    let routes = vi
        .virtual_routes
        .iter()
        .map(|words| crate::net::parse_route(words))
        .collect::<Result<Vec<_>, String>>()
        .map_err(fail)?;
    // keepalived: unicast_ttl applies to unicast adverts only.
    let ttl = if c.is_unicast() {
        vi.unicast_ttl.unwrap_or(255)
    } else {
        255
    };
    let config_fault = (vi.unicast_fault_no_peer && vi.unicast_peers.is_empty())
        .then(|| "unicast_fault_no_peer: unicast without any peer".to_string());
    let sync_group = config
        .vrrp_sync_groups
        .iter()
        .find(|group| group.group.contains(&vi.name))
        .map(|group| group.name.clone());
    let (garp_interval, gna_interval) = garp_pacing(config, &interface);
    let rules = vi
        .virtual_rules
        .iter()
        .map(|words| crate::net::parse_rule(words).map_err(|e| format!("virtual_rules: {e}")))
        .collect::<Result<Vec<_>, String>>()
        .map_err(fail)?;
    Ok(InstanceSpec {
        name: vi.name.clone(),
        interface,
        config: c,
        addresses,
        vmac,
        routes,
        ttl,
        sync_group,
        config_fault,
        dont_track_primary: vi.dont_track_primary,
        dynamic_interfaces: g.dynamic_interfaces,
        // Not applied, as keepalived 2.2.7 and 2.4.3 never act on it (see the compatibility
        // table): ha and keepalived peers must agree about who is master.
        track_src_ip: false,
        garp_interval,
        gna_interval,
        garp_extra_if: garp_extra_if(config, vi),
        promote_secondaries: vi.promote_secondaries,
        rules,
    })
}

/// keepalived's `garp_extra_if SECS [all]` (old name `vmac_garp_intvl`), or the global
/// `vrrp_garp_extra_if` (`vrrp_vmac_garp_intvl`) for an instance without one. Without `all`
/// it announces only on the VMACs made for addresses on other interfaces (`use_vmac_addr`,
/// which ha refuses), so there is nothing to send, and keepalived turns it off too; the same
/// when no address is on another device.
fn garp_extra_if(config: &Config, vi: &VrrpInstance) -> Option<Duration> {
    let read = |statements: &[keepalived_conf::RawStatement], names: [&str; 2]| {
        let s = statements
            .iter()
            .rev()
            .find(|s| names.contains(&s.keyword.as_str()))?;
        let secs: u64 = s.args.iter().find_map(|a| a.parse().ok())?;
        Some((secs, s.args.iter().any(|a| a == "all")))
    };
    let (secs, all) = read(&vi.other, ["garp_extra_if", "vmac_garp_intvl"]).or_else(|| {
        read(
            &config.global_defs.other,
            ["vrrp_garp_extra_if", "vrrp_vmac_garp_intvl"],
        )
    })?;
    let elsewhere = vi
        .virtual_ipaddress
        .iter()
        .chain(&vi.virtual_ipaddress_excluded)
        .any(|a| {
            a.dev
                .as_ref()
                .is_some_and(|d| Some(d) != vi.interface.as_ref())
        });
    (all && elsewhere && secs > 0).then(|| Duration::from_secs(secs))
}

/// The pacing of gratuitous ARPs and NAs on an interface: its `garp_group`'s
/// `garp_interval` / `gna_interval`, or the global `vrrp_garp_interval` / `vrrp_gna_interval`.
pub fn garp_pacing(config: &Config, interface: &str) -> (Duration, Duration) {
    let g = &config.global_defs;
    let mut pacing = (
        g.vrrp_garp_interval.as_duration(),
        g.vrrp_gna_interval.as_duration(),
    );
    for group in config.other.iter().filter(|s| s.keyword == "garp_group") {
        let block = group.block.as_deref().unwrap_or_default();
        let names: Vec<&str> = block
            .iter()
            .flat_map(|s| match s.keyword.as_str() {
                "interface" => s.args.iter().map(String::as_str).collect::<Vec<_>>(),
                "interfaces" => s
                    .block
                    .iter()
                    .flatten()
                    .map(|i| i.keyword.as_str())
                    .chain(s.args.iter().map(String::as_str))
                    .collect(),
                _ => Vec::new(),
            })
            .collect();
        if !names.contains(&interface) {
            continue;
        }
        let timer = |key: &str| {
            block
                .iter()
                .find(|s| s.keyword == key)
                .and_then(|s| s.args.first())
                .and_then(|a| keepalived_conf::Timer::parse(a))
                .map(|t| t.as_duration())
        };
        // keepalived: a group's unset interval is 0, not the global one.
        pacing = (
            timer("garp_interval").unwrap_or_default(),
            timer("gna_interval").unwrap_or_default(),
        );
    }
    pacing
}

fn virtual_address(a: &IpAddress) -> Result<VirtualAddress, String> {
    let line = crate::net::address_line(a)?;
    Ok(VirtualAddress {
        address: a.addr,
        prefix_len: line.prefix_len,
        device: a.dev.clone(),
        label: a.label.clone(),
        scope: line.scope,
        options: line.options,
        no_track: line.no_track,
    })
}

/// Host addresses read over rtnetlink.
#[derive(Debug)]
pub struct RtnlHost(pub crate::net::Rtnl);

impl HostAddresses for RtnlHost {
    fn addresses(&mut self, interface: &str) -> Result<Vec<IpAddr>, String> {
        let index = crate::net::interface_index(interface).map_err(|e| e.to_string())?;
        self.0
            .addresses(index)
            .map(|list| list.into_iter().map(|(a, _)| a).collect())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepalived_conf as config;

    struct FakeHost;

    impl HostAddresses for FakeHost {
        fn addresses(&mut self, interface: &str) -> Result<Vec<IpAddr>, String> {
            match interface {
                "ens32" => Ok(vec![
                    "192.168.2.10".parse().unwrap(),
                    "fe80::1".parse().unwrap(),
                ]),
                other => Err(format!("no interface {other}")),
            }
        }
    }

    fn parse(text: &str) -> Config {
        let mut sources = config::SourceMap::default();
        let opts = config::Options::default();
        let loaded = config::parse_str("test.conf", text, &opts, &mut sources);
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    /// The typed model of a file whatever its diagnostics.
    fn parse_unchecked(text: &str) -> Config {
        let mut sources = config::SourceMap::default();
        let opts = config::Options::default();
        config::parse_str("test.conf", text, &opts, &mut sources).config
    }

    #[test]
    fn the_seed_configuration_maps_to_keepalived_defaults() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/examples/lvs1.conf"
        ))
        .unwrap();
        let specs = plan(&parse(&text), &mut FakeHost).unwrap();
        assert_eq!(specs.len(), 1);
        let s = &specs[0];
        assert_eq!(s.name, "VI_1");
        assert_eq!(s.interface, "ens32");
        let c = &s.config;
        assert_eq!((c.version, c.vrid, c.priority), (Version::V2, 51, 100));
        assert_eq!(c.primary_address, "192.168.2.10".parse::<IpAddr>().unwrap());
        assert_eq!(c.advert_interval, Duration::from_secs(1));
        assert_eq!(c.authentication, Authentication::password("1111"));
        assert!(c.preempt && c.accept);
        assert_eq!(c.garp, GarpConfig::default());
        assert_eq!(
            s.addresses[0].address,
            "192.168.2.200".parse::<IpAddr>().unwrap()
        );
        assert_eq!(s.addresses[0].prefix_len, 32);
    }

    #[test]
    fn mcast_src_ip_is_the_source_address_as_unicast_src_ip() {
        let specs = plan(
            &parse(
                "vrrp_instance A { interface ens32\n virtual_router_id 7\n mcast_src_ip 192.168.2.98\n \
                 virtual_ipaddress { 192.168.2.201 } }\n",
            ),
            &mut FakeHost,
        )
        .unwrap();
        assert_eq!(
            specs[0].config.primary_address,
            "192.168.2.98".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn instance_settings_override_globals() {
        let specs = plan(
            &parse(
                "global_defs { vrrp_version 3\n vrrp_garp_master_repeat 2 }\n\
                 vrrp_instance A { interface ens32\n virtual_router_id 7\n priority 50\n advert_int 0.1\n \
                 nopreempt\n state BACKUP\n garp_master_delay 1\n unicast_src_ip 192.168.2.99\n \
                 unicast_peer { 192.168.2.11 }\n virtual_ipaddress { 192.168.2.201/24 dev ens32 label ens32:a }\n \
                 virtual_ipaddress_excluded { 192.168.3.1/24 } }\n",
            ),
            &mut FakeHost,
        )
        .unwrap();
        let c = &specs[0].config;
        assert_eq!(c.version, Version::V3);
        assert_eq!(c.advert_interval, Duration::from_millis(100));
        assert!(!c.preempt);
        assert_eq!(c.garp.master_repeat, 2);
        assert_eq!(c.garp.master_delay, Duration::from_secs(1));
        assert_eq!(c.primary_address, "192.168.2.99".parse::<IpAddr>().unwrap());
        assert_eq!(
            c.unicast_peers,
            vec![vrrp_core::UnicastPeer::new("192.168.2.11".parse().unwrap())]
        );
        // Unicast without check_unicast_src: any source, any TTL (keepalived).
        assert!(!c.check_unicast_src);
        assert_eq!(specs[0].ttl, 255);
        // Only virtual_ipaddress is advertised; the excluded ones are installed too.
        assert_eq!(c.virtual_addresses.len(), 1);
        assert_eq!(specs[0].addresses.len(), 2);
        assert_eq!(specs[0].addresses[0].label.as_deref(), Some("ens32:a"));
        assert_eq!(specs[0].addresses[0].prefix_len, 24);
    }

    #[test]
    fn multicast_group_unicast_ttl_and_source_checks_follow_keepalived() {
        let one = |global: &str, body: &str| {
            plan(
                &parse(&format!(
                    "global_defs {{\n{global}\n}}\nvrrp_instance A {{ interface ens32\n virtual_router_id 7\n \
                     virtual_ipaddress {{ 192.168.2.201 }}\n{body}\n}}\n"
                )),
                &mut FakeHost,
            )
            .unwrap()
            .remove(0)
        };
        // vrrp_mcast_group4 for every instance, mcast_dst_ip for one.
        let s = one("vrrp_mcast_group4 224.0.0.19", "");
        assert_eq!(s.config.multicast_destination().to_string(), "224.0.0.19");
        let s = one("vrrp_mcast_group4 224.0.0.19", "mcast_dst_ip 224.0.0.20");
        assert_eq!(s.config.multicast_destination().to_string(), "224.0.0.20");
        let s = one("", "");
        assert_eq!(s.config.multicast_group, None);
        // unicast_ttl only with peers; min_ttl turns the source check on.
        let s = one(
            "",
            "unicast_ttl 64\n unicast_peer { 192.168.3.11 min_ttl 250 }",
        );
        assert_eq!(s.ttl, 64);
        assert!(s.config.check_unicast_src);
        assert_eq!(
            (
                s.config.unicast_peers[0].min_ttl,
                s.config.unicast_peers[0].max_ttl
            ),
            (250, 255)
        );
        let s = one("vrrp_check_unicast_src", "unicast_peer { 192.168.3.11 }");
        assert!(s.config.check_unicast_src);
        let s = one("", "check_unicast_src\n unicast_peer { 192.168.3.11 }");
        assert!(s.config.check_unicast_src);
        // unicast_fault_no_peer without a peer: FAULT, not multicast.
        let s = one("", "unicast_fault_no_peer");
        assert!(s.config_fault.is_some());
        assert!(one("", "").config_fault.is_none());
        assert!(one("", "dont_track_primary").dont_track_primary);
    }

    #[test]
    fn state_master_and_skip_check_adv_addr_as_keepalived() {
        let one = |global: &str, body: &str, group: &str| {
            plan(
                &parse(&format!(
                    "global_defs {{\n{global}\n}}\nvrrp_instance A {{ interface ens32\n virtual_router_id 7\n \
                     virtual_ipaddress {{ 192.168.2.201 }}\n{body}\n}}\n{group}"
                )),
                &mut FakeHost,
            )
            .unwrap()
            .remove(0)
            .config
        };
        let c = one(
            "",
            "state MASTER\n priority 150\n nopreempt\n preempt_delay 10",
            "",
        );
        // keepalived clears nopreempt and preempt_delay with state MASTER.
        assert!(c.preempt);
        assert_eq!(c.preempt_delay, Duration::ZERO);
        // Without priority, state MASTER is the address owner.
        assert_eq!(one("", "state MASTER", "").priority, 255);
        let c = one("", "state BACKUP\n nopreempt\n preempt_delay 10", "");
        assert!(!c.preempt);
        assert_eq!(c.preempt_delay, Duration::ZERO);
        let c = one("", "priority 150\n preempt_delay 10", "");
        assert_eq!(c.preempt_delay, Duration::from_secs(10));
        assert!(!one("", "", "").skip_check_adv_addr);
        assert!(one("vrrp_skip_check_adv_addr", "", "").skip_check_adv_addr);
        assert!(one("", "skip_check_adv_addr", "").skip_check_adv_addr);
        assert!(
            !one("vrrp_skip_check_adv_addr", "skip_check_adv_addr false", "").skip_check_adv_addr
        );
    }

    #[test]
    fn an_ipv6_instance_without_version_runs_vrrpv3() {
        struct V6Host;
        impl HostAddresses for V6Host {
            fn addresses(&mut self, _: &str) -> Result<Vec<IpAddr>, String> {
                Ok(vec!["fe80::1".parse().unwrap()])
            }
        }
        let one = |global: &str, body: &str| {
            plan(
                &parse(&format!(
                    "global_defs {{\n{global}\n}}\nvrrp_instance A {{ interface ens32\n virtual_router_id 7\n \
                     virtual_ipaddress {{ 2001:db8::7/64 }}\n{body}\n}}\n"
                )),
                &mut V6Host,
            )
        };
        assert_eq!(one("", "").unwrap()[0].config.version, Version::V3);
        assert_eq!(
            one("vrrp_version 2", "").unwrap()[0].config.version,
            Version::V3
        );
        // Written on the instance, VRRPv2 with IPv6 is refused.
        assert!(one("", "version 2").is_err());
    }

    #[test]
    fn unapplied_keywords_refuse_the_plan() {
        // `ha check` and `ha run` refuse this file already (the compatibility table); the
        // plan refuses it too, for a Config an embedder built without them.
        let conf = parse_unchecked(
            "vrrp_instance A { interface ens32\n virtual_router_id 7\n vrf red\n \
             virtual_ipaddress { 192.168.2.201 } }\n",
        );
        let err = plan(&conf, &mut FakeHost).unwrap_err();
        assert_eq!(err.instance, "A");
        assert!(err.reason.contains("`vrf` is not applied"), "{err}");
    }

    #[test]
    fn garp_extra_if_with_all_on_addresses_on_other_devices() {
        let spec = |global: &str, body: &str, dev: &str| {
            plan(
                &parse(&format!(
                    "global_defs {{\n{global}\n}}\nvrrp_instance A {{ interface ens32\n virtual_router_id 7\n\
                     {body}\n virtual_ipaddress {{ 192.168.2.201\n 10.0.0.1/24 dev {dev} }} }}\n"
                )),
                &mut FakeHost,
            )
            .unwrap()
            .remove(0)
            .garp_extra_if
        };
        let secs = |n| Some(Duration::from_secs(n));
        assert_eq!(spec("", "garp_extra_if 2 all", "ens33"), secs(2));
        assert_eq!(spec("", "vmac_garp_intvl all 3", "ens33"), secs(3));
        assert_eq!(spec("vrrp_garp_extra_if 4 all", "", "ens33"), secs(4));
        assert_eq!(spec("vrrp_vmac_garp_intvl 5 all", "", "ens33"), secs(5));
        // The instance's own setting wins.
        assert_eq!(
            spec("vrrp_garp_extra_if 4 all", "garp_extra_if 2 all", "ens33"),
            secs(2)
        );
        // Without `all` (VMACs of other interfaces only), or nothing elsewhere: off.
        assert_eq!(spec("", "garp_extra_if 2", "ens33"), None);
        assert_eq!(spec("", "garp_extra_if 2 all", "ens32"), None);
    }

    #[test]
    fn garp_pacing_and_min_garp() {
        let conf = parse(
            "global_defs { vrrp_garp_interval 0.25\n vrrp_gna_interval 0.5\n vrrp_min_garp }\n\
             garp_group { garp_interval 0.01\n interfaces {\n ens33\n }\n}\n\
             vrrp_instance A { interface ens32\n virtual_router_id 7\n virtual_ipaddress { 192.168.2.201 } }\n",
        );
        let s = plan(&conf, &mut FakeHost).unwrap().remove(0);
        assert_eq!(s.garp_interval, Duration::from_millis(250));
        assert_eq!(s.gna_interval, Duration::from_millis(500));
        assert_eq!(
            garp_pacing(&conf, "ens33"),
            (Duration::from_millis(10), Duration::ZERO)
        );
        // vrrp_min_garp: one message, no second burst, no refresh.
        assert_eq!(s.config.garp.master_repeat, 1);
        assert_eq!(s.config.garp.master_delay, Duration::ZERO);
        assert_eq!(s.config.garp.master_refresh, None);
        assert_eq!(s.config.garp.lower_prio_repeat, Some(1));
    }

    #[test]
    fn sync_group_membership_is_in_the_spec() {
        let specs = plan(
            &parse(
                "vrrp_sync_group G { group { A\n B } }\n\
                 vrrp_instance A { interface ens32\n virtual_router_id 7\n virtual_ipaddress { 192.168.2.201 } }\n\
                 vrrp_instance B { interface ens32\n virtual_router_id 8\n virtual_ipaddress { 192.168.2.202 } }\n\
                 vrrp_instance C { interface ens32\n virtual_router_id 9\n virtual_ipaddress { 192.168.2.203 } }\n",
            ),
            &mut FakeHost,
        )
        .unwrap();
        let groups: Vec<_> = specs.iter().map(|s| s.sync_group.as_deref()).collect();
        assert_eq!(groups, vec![Some("G"), Some("G"), None]);
    }

    #[test]
    fn missing_interface_address_is_named() {
        let err = plan(
            &parse("vrrp_instance B { interface eth9\n virtual_router_id 9\n virtual_ipaddress { 10.0.0.1 } }\n"),
            &mut FakeHost,
        )
        .unwrap_err();
        assert_eq!(err.instance, "B");
        assert!(err.reason.contains("eth9"), "{err}");
    }
}
