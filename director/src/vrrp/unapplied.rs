//! VRRP-side keywords and values that keepalived applies and ha does not (yet), for a
//! [`Config`] built without the language's check (an embedder's): `ha run` refuses those
//! that would change who is master or what is forwarded, and warns about the harmless ones.
//! What is refused or warned is the compatibility table's ([`keepalived_conf::compat`]):
//! this only finds the uses in the typed model. `ha check` and `ha run` report the same uses
//! from the file, with file:line, through the table's own check.

use keepalived_conf::compat::{self, Class, Entry};
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

impl Unapplied {
    /// Records a use of `word` (`entry` in the table) by `instance`, as its class says.
    fn found(&mut self, instance: &str, word: &str, entry: Option<&Entry>) {
        let Some(entry) = entry else { return };
        match entry.class {
            Class::Applied | Class::Differs => {}
            Class::Ignored => self.warnings.push(format!(
                "{instance}: `{word}` accepted, not applied ({})",
                entry.note
            )),
            Class::Refused(changes) => self.errors.push(PlanError {
                instance: instance.to_string(),
                reason: format!(
                    "`{word}` is not applied (ignoring it would change {changes}: {}); remove it \
                     to run with ha",
                    entry.note
                ),
            }),
        }
    }
}

/// Whether an instance uses a keyword.
type Uses = fn(&VrrpInstance) -> bool;

/// Typed instance keywords and whether an instance uses each.
const INSTANCE_KEYWORDS: &[(&str, Uses)] = &[
    ("old_unicast_checksum", |vi| {
        vi.old_unicast_checksum == Some(UnicastChecksum::Old)
    }),
    ("use_ipvlan", |vi| vi.use_ipvlan.is_some()),
    ("vmac_xmit_base", |vi| vi.vmac_xmit_base),
    ("use_vmac_addr", |vi| vi.use_vmac_addr),
    ("vrf", |vi| vi.vrf.is_some()),
    ("track_bfd", |vi| !vi.tracking.bfds.is_empty()),
    ("kernel_rx_buf_size", |vi| vi.kernel_rx_buf_size.is_some()),
];

/// Finds what `config`'s VRRP side would not apply.
pub fn unapplied(config: &Config) -> Unapplied {
    let mut out = Unapplied::default();
    for vi in &config.vrrp_instances {
        instance(vi, &mut out);
    }
    for group in &config.vrrp_sync_groups {
        if !group.tracking.bfds.is_empty() {
            let entry = compat::lookup("vrrp_sync_group", "track_bfd");
            for member in &group.group {
                out.found(member, "track_bfd", entry);
            }
        }
    }
    for s in &config.global_defs.other {
        raw("global_defs", "global_defs", s, &mut out);
    }
    for a in &config.static_ipaddress {
        for word in &a.options {
            out.found("static_ipaddress", word, compat::address_option(word));
        }
    }
    out
}

fn instance(vi: &VrrpInstance, out: &mut Unapplied) {
    let name = &vi.name;
    for (keyword, uses) in INSTANCE_KEYWORDS {
        if uses(vi) {
            out.found(name, keyword, compat::lookup("vrrp_instance", keyword));
        }
    }
    // keepalived: native_ipv6 makes the instance IPv6 (and VRRPv3); ha takes the family from
    // the first virtual address, which agrees when that is IPv6.
    if vi.native_ipv6
        && !vi
            .virtual_ipaddress
            .first()
            .is_some_and(|a| a.addr.is_ipv6())
    {
        out.found(name, "native_ipv6", Some(&compat::NATIVE_IPV6_WITH_IPV4));
    }
    for a in vi
        .virtual_ipaddress
        .iter()
        .chain(&vi.virtual_ipaddress_excluded)
    {
        for word in &a.options {
            out.found(name, word, compat::address_option(word));
        }
    }
    for s in &vi.other {
        raw(name, "vrrp_instance", s, out);
    }
}

/// A statement kept as written: its class is its keyword's in `block`.
fn raw(instance: &str, block: &str, s: &RawStatement, out: &mut Unapplied) {
    // A feature turned off is keepalived's default, which is what ha does.
    if let [word] = s.args.as_slice() {
        if matches!(word.as_str(), "off" | "false" | "no") {
            return;
        }
    }
    out.found(instance, &s.keyword, compat::lookup(block, &s.keyword));
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
            ("linkbeat_use_polling", "", "linkbeat_use_polling"),
            ("", "vrrp_no_swap", "vrrp_no_swap"),
        ] {
            let u = check(body, global);
            assert!(u.errors.is_empty(), "{body}: {u:?}");
            assert_eq!(u.warnings.len(), 1, "{body}: {u:?}");
            assert!(u.warnings[0].contains(&format!("`{keyword}`")), "{u:?}");
        }
    }
}
