//! VRRP-side keywords that keepalived applies and ha does not (yet): `ha run` refuses those
//! that would change who is master or what is forwarded, and warns about the harmless ones;
//! `ha check` reports both. Nothing the VRRP side parses is dropped in silence.

use keepalived_conf::{Config, RawStatement, UnicastChecksum, VrrpInstance};

use super::PlanError;

/// What the VRRP side would not apply in a configuration.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Unapplied {
    /// Behaviour would differ from keepalived's: `ha run` refuses to start. Each names the
    /// instance and why.
    pub errors: Vec<PlanError>,
    /// Accepted, not applied, harmless.
    pub warnings: Vec<String>,
}

/// Address options written after a virtual address that ha does not apply, and whether each
/// changes forwarding or mastership (an error) or not (a warning).
const ADDRESS_OPTIONS: &[(&str, bool)] = &[("track_group", true), ("use_vmac", true)];

/// Instance keywords kept as raw statements that ha does not apply: (keyword, changes
/// behaviour, what to do).
const INSTANCE_OTHER: &[(&str, bool, &str)] = &[
    (
        "garp_extra_if",
        false,
        "gratuitous ARPs are sent on the VIPs' own devices only",
    ),
    (
        "vmac_garp_intvl",
        false,
        "gratuitous ARPs are sent on the VIPs' own devices only",
    ),
    (
        "linkbeat_use_polling",
        false,
        "ha follows link state from rtnetlink",
    ),
    ("debug", false, "set RUST_LOG=debug for detail"),
];

/// Finds what `config`'s VRRP side would not apply.
pub fn unapplied(config: &Config) -> Unapplied {
    let mut out = Unapplied::default();
    for vi in &config.vrrp_instances {
        instance(vi, &mut out);
    }
    for group in &config.vrrp_sync_groups {
        if !group.tracking.bfds.is_empty() {
            for member in &group.group {
                out.errors.push(PlanError {
                    instance: member.clone(),
                    reason: format!(
                        "sync group {}: `track_bfd` is not applied (BFD is not implemented): \
                         remove it, or track the peer with a vrrp_script",
                        group.name
                    ),
                });
            }
        }
    }
    for s in config.global_defs.other.iter().filter(|s| {
        matches!(
            s.keyword.as_str(),
            "vrrp_garp_extra_if" | "vrrp_vmac_garp_intvl"
        )
    }) {
        out.warnings.push(format!(
            "global_defs: `{}` accepted, not applied (gratuitous ARPs are sent on the VIPs' own \
             devices only)",
            s.keyword
        ));
    }
    out
}

fn instance(vi: &VrrpInstance, out: &mut Unapplied) {
    let name = &vi.name;
    let mut refuse = |keyword: &str, what: &str| {
        out.errors.push(PlanError {
            instance: name.clone(),
            reason: format!("`{keyword}` is not applied ({what}); remove it to run with ha"),
        })
    };
    if vi.old_unicast_checksum == Some(UnicastChecksum::Old) {
        refuse(
            "old_unicast_checksum",
            "ha sends the RFC's VRRPv3 unicast checksum, and peers set to the old one drop it",
        );
    }
    if vi.use_ipvlan.is_some() {
        refuse(
            "use_ipvlan",
            "the addresses would go on the interface, not on an ipvlan",
        );
    }
    if vi.vmac_xmit_base {
        refuse(
            "vmac_xmit_base",
            "adverts would go from the VMAC, not from the base interface",
        );
    }
    if vi.use_vmac_addr {
        refuse(
            "use_vmac_addr",
            "addresses on other interfaces would get no VMAC of their own",
        );
    }
    if vi.vrf.is_some() {
        refuse("vrf", "the instance would not run in the VRF");
    }
    if vi.track_src_ip {
        refuse(
            "track_src_ip",
            "losing the source address would not put the instance in FAULT",
        );
    }
    // keepalived: native_ipv6 makes the instance IPv6 (and VRRPv3); ha takes the family from
    // the first virtual address, which agrees when that is IPv6.
    if vi.native_ipv6
        && !vi
            .virtual_ipaddress
            .first()
            .is_some_and(|a| a.addr.is_ipv6())
    {
        refuse(
            "native_ipv6",
            "ha takes the family from the first virtual address; list an IPv6 one first",
        );
    }
    if !vi.tracking.bfds.is_empty() {
        refuse(
            "track_bfd",
            "BFD is not implemented; track the peer with a vrrp_script instead",
        );
    }
    if vi.kernel_rx_buf_size.is_some() {
        out.warnings.push(format!(
            "vrrp_instance {name}: `kernel_rx_buf_size` accepted, not applied (the socket keeps \
             the kernel's default buffer)"
        ));
    }
    for a in vi
        .virtual_ipaddress
        .iter()
        .chain(&vi.virtual_ipaddress_excluded)
    {
        for word in a.options.iter().map(String::as_str) {
            let Some(&(_, changes)) = ADDRESS_OPTIONS.iter().find(|(w, _)| *w == word) else {
                continue;
            };
            let text = format!("address {}: option `{word}` is not applied", a.addr);
            if changes {
                out.errors.push(PlanError {
                    instance: name.clone(),
                    reason: format!("{text}; remove it to run with ha"),
                });
            } else {
                out.warnings
                    .push(format!("vrrp_instance {name}: {text} (accepted, harmless)"));
            }
        }
    }
    for s in &vi.other {
        raw(name, s, out);
    }
}

fn raw(name: &str, s: &RawStatement, out: &mut Unapplied) {
    if let Some(&(keyword, changes, what)) = INSTANCE_OTHER.iter().find(|(k, ..)| *k == s.keyword) {
        if changes {
            out.errors.push(PlanError {
                instance: name.to_string(),
                reason: format!("`{keyword}` is not applied; {what}"),
            });
        } else {
            out.warnings.push(format!(
                "vrrp_instance {name}: `{keyword}` accepted, not applied ({what})"
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str, global: &str) -> Unapplied {
        let text = format!(
            "global_defs {{\n{global}\n}}\nvrrp_instance A {{ interface ens32\n virtual_router_id 7\n \
             virtual_ipaddress {{ 192.168.2.201 }}\n{body}\n}}\n"
        );
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            &text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        unapplied(&loaded.config)
    }

    #[test]
    fn applied_keywords_raise_nothing() {
        let u = check(
            "state MASTER\n skip_check_adv_addr\n old_unicast_checksum never\n dont_track_primary\n \
             virtual_ipaddress_excluded {\n 192.168.3.1/24 brd + home noprefixroute no_track\n \
             2001:db8::1 peer 2001:db8::2 -nodad preferred_lft 9\n }",
            "vrrp_skip_check_adv_addr",
        );
        assert_eq!(u, Unapplied::default());
    }

    #[test]
    fn keywords_that_change_behaviour_refuse_and_harmless_ones_warn() {
        for (body, keyword) in [
            ("old_unicast_checksum", "old_unicast_checksum"),
            ("use_ipvlan", "use_ipvlan"),
            ("use_vmac\n vmac_xmit_base", "vmac_xmit_base"),
            ("use_vmac\n use_vmac_addr", "use_vmac_addr"),
            ("vrf red", "vrf"),
            ("track_src_ip", "track_src_ip"),
            ("native_ipv6", "native_ipv6"),
            ("track_bfd {\n b1\n }", "track_bfd"),
            (
                "virtual_ipaddress_excluded {\n 192.168.2.202 use_vmac\n }",
                "use_vmac",
            ),
        ] {
            let u = check(body, "");
            assert_eq!(u.errors.len(), 1, "{body}: {u:?}");
            assert!(
                u.errors[0].to_string().contains(&format!("`{keyword}`")),
                "{u:?}"
            );
            assert!(u.errors[0].to_string().starts_with("vrrp_instance A: "));
            assert!(u.warnings.is_empty(), "{body}: {u:?}");
        }
        for (body, global, keyword) in [
            ("kernel_rx_buf_size 1024", "", "kernel_rx_buf_size"),
            ("garp_extra_if 10", "", "garp_extra_if"),
            ("linkbeat_use_polling", "", "linkbeat_use_polling"),
            ("", "vrrp_garp_extra_if 10", "vrrp_garp_extra_if"),
        ] {
            let u = check(body, global);
            assert!(u.errors.is_empty(), "{body}: {u:?}");
            assert_eq!(u.warnings.len(), 1, "{body}: {u:?}");
            assert!(u.warnings[0].contains(&format!("`{keyword}`")), "{u:?}");
        }
    }
}
