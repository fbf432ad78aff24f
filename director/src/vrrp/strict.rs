//! keepalived's strict mode (`vrrp_strict` in global_defs, `strict_mode` in an instance): the
//! RFC's VRRP. It sets the defaults keepalived sets (no accept mode unless the address
//! owner, no lower-priority adverts or repeated gratuitous ARPs, no advert to a
//! higher-priority master), and it refuses what keepalived resets or refuses in strict mode
//! (keepalived 2.4 `vrrp_complete_instance`): unicast peers, authentication, a MASTER state
//! that is not the address owner's, `preempt_delay`, `down_timer_adverts`, `accept` with
//! VRRPv2, repeated lower-priority gratuitous ARPs, `lower_prio_no_advert off`,
//! `higher_prio_send_advert`, `vmac_xmit_base`, and an instance without virtual addresses.
//! Where keepalived changes the configuration and goes on, ha stops and says what to change:
//! a node that silently ran something other than its file says would not match its peers.

use keepalived_conf::{Config, VrrpInstance, VrrpState};
use vrrp_core::InstanceConfig;

/// Whether `vi` runs in strict mode (`strict_mode`, else the global `vrrp_strict`).
pub fn is_strict(config: &Config, vi: &VrrpInstance) -> bool {
    vi.strict_mode.unwrap_or(config.global_defs.vrrp_strict)
}

/// keepalived's accept mode of `vi`: `accept`/`no_accept` as written, else on unless strict;
/// the address owner (priority 255) always accepts.
pub fn accept_mode(config: &Config, vi: &VrrpInstance) -> bool {
    vi.priority == 255 || vi.accept.unwrap_or(!is_strict(config, vi))
}

/// Applies strict mode to `c` (built from `vi` without it), or says why `vi` cannot run in it.
pub fn apply(config: &Config, vi: &VrrpInstance, c: &mut InstanceConfig) -> Result<(), String> {
    c.accept = accept_mode(config, vi);
    if !is_strict(config, vi) {
        return Ok(());
    }
    let refuse = |what: &str, fix: &str| Err(format!("strict mode (vrrp_strict): {what}; {fix}"));
    let owner = vi.priority == 255;
    if !vi.unicast_peers.is_empty() {
        return refuse("unicast peers are not supported", "use multicast");
    }
    if vi.authentication.is_some() {
        return refuse(
            "authentication is not supported (keepalived would drop it)",
            "remove `authentication`",
        );
    }
    if vi.state == Some(VrrpState::Master) && !owner {
        return refuse(
            "state MASTER must go with being the address owner (priority 255)",
            "use state BACKUP or priority 255",
        );
    }
    if vi
        .preempt_delay
        .is_some_and(|d| d.as_duration() > std::time::Duration::ZERO)
    {
        return refuse("preempt_delay is not allowed", "remove it");
    }
    if vi.down_timer_adverts.is_some_and(|n| n != 3) {
        return refuse("down_timer_adverts is not allowed", "remove it");
    }
    let version = vi.version.unwrap_or(config.global_defs.vrrp_version);
    if vi.accept == Some(true) && !owner && version == 2 {
        return refuse(
            "accept mode with VRRPv2 does not comply with RFC 3768",
            "remove `accept` or use version 3",
        );
    }
    if vi
        .garp_lower_prio_repeat
        .or(config.global_defs.vrrp_garp_lower_prio_repeat)
        .is_some_and(|n| n > 0)
        || vi
            .garp_lower_prio_delay
            .or(config.global_defs.vrrp_garp_lower_prio_delay)
            .is_some_and(|n| n > 0)
    {
        return refuse(
            "no gratuitous ARP repeats after a lower-priority advert",
            "remove garp_lower_prio_repeat and garp_lower_prio_delay",
        );
    }
    if vi.lower_prio_no_advert == Some(false) {
        return refuse(
            "a master must not answer lower-priority adverts",
            "remove `lower_prio_no_advert false`",
        );
    }
    if vi.higher_prio_send_advert == Some(true) {
        return refuse(
            "no advert to a higher-priority master",
            "remove `higher_prio_send_advert`",
        );
    }
    if vi.vmac_xmit_base {
        return refuse("vmac_xmit_base is not allowed", "remove it");
    }
    if vi.virtual_ipaddress.is_empty() {
        return refuse("at least one virtual address is required", "add one");
    }
    if let Some(first) = vi.virtual_ipaddress.first() {
        if let std::net::IpAddr::V6(v6) = first.addr {
            if v6.segments()[0] & 0xffc0 != 0xfe80 && vi.unicast_peers.is_empty() {
                tracing::warn!(
                    instance = %vi.name,
                    "strict mode: the first IPv6 virtual address should be link-local (as keepalived reports)"
                );
            }
        }
    }
    // keepalived's strict defaults (the global settings do not apply in strict mode).
    c.lower_prio_no_advert = true;
    c.higher_prio_send_advert = false;
    c.garp.lower_prio_repeat = None;
    c.garp.lower_prio_delay = std::time::Duration::ZERO;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    /// `global` may say ` vrrp_strict`: set after parsing, so that the parser's own strict
    /// checks (unicast, authentication, no address) leave these to `apply`.
    fn applied(global: &str, instance: &str) -> Result<InstanceConfig, String> {
        let strict = global.contains("vrrp_strict");
        let global = global.replace("vrrp_strict", "");
        let mut config = parse(&format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance A {{\n interface eth0\n virtual_router_id 1\n\
             virtual_ipaddress {{ 10.0.0.1 }}\n{instance}\n}}\n"
        ));
        config.global_defs.vrrp_strict = strict;
        let vi = &config.vrrp_instances[0];
        let mut c = InstanceConfig::new(
            vrrp_core::wire::Version::V3,
            1,
            vi.priority,
            "10.0.0.2".parse().unwrap(),
            vec!["10.0.0.1".parse().unwrap()],
        );
        c.higher_prio_send_advert = true;
        c.garp.lower_prio_repeat = Some(5);
        apply(&config, vi, &mut c).map(|()| c)
    }

    #[test]
    fn strict_mode_sets_keepalived_defaults() {
        let c = applied(" vrrp_strict", "").unwrap();
        assert!(!c.accept && c.lower_prio_no_advert && !c.higher_prio_send_advert);
        assert_eq!(c.garp.lower_prio_repeat, None);
        // The owner accepts; `accept` with VRRPv3 is allowed.
        assert!(
            applied(" vrrp_strict", " priority 255\n state MASTER")
                .unwrap()
                .accept
        );
        assert!(
            applied(" vrrp_strict\n vrrp_version 3", " accept")
                .unwrap()
                .accept
        );
        // `strict_mode off` in the instance wins over the global.
        assert!(applied(" vrrp_strict", " strict_mode off").unwrap().accept);
        // Outside strict mode: accept unless `no_accept`.
        assert!(applied("", "").unwrap().accept);
        assert!(!applied("", " no_accept").unwrap().accept);
    }

    #[test]
    fn strict_mode_refuses_what_keepalived_resets_or_refuses() {
        for (instance, why) in [
            (" unicast_peer { 10.0.0.3 }", "unicast peers"),
            (
                " authentication {\n auth_type PASS\n auth_pass x\n }",
                "authentication",
            ),
            // Without `priority`, state MASTER is the address owner (255), which strict mode
            // allows.
            (" state MASTER\n priority 100", "state MASTER"),
            (" preempt_delay 5", "preempt_delay"),
            (" down_timer_adverts 5", "down_timer_adverts"),
            (" accept", "accept mode with VRRPv2"),
            (" garp_lower_prio_repeat 2", "gratuitous ARP repeats"),
            (" higher_prio_send_advert", "higher-priority master"),
        ] {
            let e = applied(" vrrp_strict", instance).unwrap_err();
            assert!(e.contains(why), "{instance}: {e}");
            assert!(
                applied("", instance).is_ok(),
                "{instance} outside strict mode"
            );
        }
    }
}
