//! From a parsed keepalived.conf to what the VRRP runner runs: keepalived's defaults and
//! global settings folded into each instance, the primary address looked up on the host.

use std::net::IpAddr;
use std::time::Duration;

use netlink_packet_route::address::AddressScope;
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
    let version = match vi.version.unwrap_or(g.vrrp_version) {
        3 => Version::V3,
        _ => Version::V2,
    };
    let advertised: Vec<IpAddr> = vi.virtual_ipaddress.iter().map(|a| a.addr).collect();
    // keepalived infers the family from the addresses: IPv6 VIPs make an IPv6 instance.
    let family = advertised.first().map(Family::of).unwrap_or(Family::Ipv4);
    let primary = match vi.unicast_src_ip {
        Some(a) => a,
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
    // keepalived clears `nopreempt` and `preempt_delay` of an instance that starts MASTER
    // ("will not work with initial state MASTER - clearing"): it takes over at once.
    let starts_master = vi.state == Some(VrrpState::Master);
    c.preempt = !vi.nopreempt || starts_master;
    c.preempt_delay = vi
        .preempt_delay
        .filter(|_| !starts_master)
        .map(|t| t.as_duration())
        .unwrap_or_default();
    c.accept = vi.accept.unwrap_or(!g.vrrp_strict);
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
    c.unicast_peers = vi.unicast_peers.iter().map(|p| p.addr).collect();
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
    let master_delay = vi.garp_master_delay.unwrap_or(g.vrrp_garp_master_delay);
    let master_repeat = vi.garp_master_repeat.unwrap_or(g.vrrp_garp_master_repeat);
    let refresh = vi.garp_master_refresh.unwrap_or(g.vrrp_garp_master_refresh);
    c.garp = GarpConfig {
        master_delay: secs(master_delay),
        master_repeat: repeat(master_repeat),
        master_refresh: (refresh > 0).then(|| secs(refresh)),
        master_refresh_repeat: repeat(
            vi.garp_master_refresh_repeat
                .unwrap_or(g.vrrp_garp_master_refresh_repeat),
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
    Ok(InstanceSpec {
        name: vi.name.clone(),
        interface,
        config: c,
        addresses,
        vmac,
        routes,
    })
}

fn virtual_address(a: &IpAddress) -> Result<VirtualAddress, String> {
    let scope = match a.scope.as_deref().unwrap_or("global") {
        "global" | "universe" => AddressScope::Universe,
        "site" => AddressScope::Site,
        "link" => AddressScope::Link,
        "host" => AddressScope::Host,
        "nowhere" => AddressScope::Nowhere,
        other => return Err(format!("address {}: unknown scope `{other}`", a.addr)),
    };
    Ok(VirtualAddress {
        address: a.addr,
        prefix_len: a.prefix.unwrap_or(if a.addr.is_ipv4() { 32 } else { 128 }),
        device: a.dev.clone(),
        label: a.label.clone(),
        scope,
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
            vec!["192.168.2.11".parse::<IpAddr>().unwrap()]
        );
        // Only virtual_ipaddress is advertised; the excluded ones are installed too.
        assert_eq!(c.virtual_addresses.len(), 1);
        assert_eq!(specs[0].addresses.len(), 2);
        assert_eq!(specs[0].addresses[0].label.as_deref(), Some("ens32:a"));
        assert_eq!(specs[0].addresses[0].prefix_len, 24);
    }

    #[test]
    fn state_master_clears_nopreempt_and_preempt_delay_as_keepalived() {
        let instance = |state: &str| {
            let text = format!(
                "vrrp_instance A {{ state {state}\n interface ens32\n virtual_router_id 7\n \
                 nopreempt\n preempt_delay 5\n virtual_ipaddress {{ 192.168.2.201 }} }}\n"
            );
            let mut sources = config::SourceMap::default();
            let loaded =
                config::parse_str("t.conf", &text, &config::Options::default(), &mut sources);
            plan(&loaded.config, &mut FakeHost)
                .unwrap()
                .remove(0)
                .config
        };
        let backup = instance("BACKUP");
        assert!(!backup.preempt);
        assert_eq!(backup.preempt_delay, Duration::from_secs(5));
        let master = instance("MASTER");
        assert!(master.preempt);
        assert_eq!(master.preempt_delay, Duration::ZERO);
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
