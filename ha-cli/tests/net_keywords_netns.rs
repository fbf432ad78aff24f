//! keepalived's network keywords against `ha run` in network namespaces (privileged): static
//! addresses, routes and rules; virtual rules; the no_accept firewall (nftables); the
//! network namespace, IPVS namespace and instance name.

mod common;

use std::time::Duration;

use common::ha::{start_with, Director};
use common::netns::{require_root, veth_pair_named, Netns};
use testkit::wait_until;

const VIP: &str = "192.168.2.200";

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "ens32", &format!("{VIP}/32"))
}

/// One VRRPv3 instance at 100 ms adverts: `global` lines in global_defs, `extra` lines in the
/// instance, `top` blocks after it.
fn config(priority: u8, global: &str, extra: &str, top: &str) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n{global}}}\n\
         vrrp_instance VI_1 {{\n  interface ens32\n  virtual_router_id 51\n  priority {priority}\n  \
         advert_int 0.1\n  virtual_ipaddress {{\n    {VIP}\n  }}\n{extra}}}\n{top}"
    )
}

fn pair(tag: &str) -> (Netns, Netns) {
    veth_pair_named(
        tag,
        "ens32",
        ("192.168.2.10/24", "fe80::10/64"),
        ("192.168.2.11/24", "fe80::11/64"),
    )
}

fn state(d: &Director) -> String {
    d.status()["instances"][0]["state"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn rules(ns: &Netns) -> String {
    ns.output(&["ip", "rule", "show"])
}

fn routes(ns: &Netns) -> String {
    ns.output(&["ip", "route", "show", "table", "all"])
}

const STATICS: &str = "static_ipaddress {\n  10.77.0.1/24 dev ens32\n}\n\
    static_routes {\n  10.78.0.0/16 via 10.77.0.254 dev ens32\n}\n\
    static_rules {\n  from 10.77.0.0/24 table 100 preference 1000\n}\n";

const VIRTUAL_RULES: &str =
    "  virtual_rules {\n    from 192.168.2.200 table 200 preference 1001\n  }\n\
    virtual_routes {\n    10.79.0.0/16 dev ens32 table 200\n  }\n";

/// `static_*` are installed at start whatever the state, kept through a failover, put back
/// when removed or when their link comes back, follow a reload, and go at stop;
/// `virtual_rules` follow mastership as `virtual_routes` do.
#[test]
fn static_entries_stay_through_failover_and_virtual_rules_follow_mastership() {
    let test = "static_entries_stay_through_failover_and_virtual_rules_follow_mastership";
    if !require_root(test) {
        return;
    }
    let (ns1, ns2) = pair("st");
    let mut d1 = start_with(&ns1, "st1.conf", &config(150, "", VIRTUAL_RULES, STATICS));
    wait_until("d1 master", Duration::from_secs(5), || {
        has_vip(&ns1) && state(&d1) == "MASTER"
    });
    assert!(testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254 dev ens32"));
    let r = rules(&ns1);
    assert!(r.contains("1000:\tfrom 10.77.0.0/24 lookup 100"), "{r}");
    assert!(r.contains("1001:\tfrom 192.168.2.200 lookup 200"), "{r}");
    assert!(routes(&ns1).contains("10.79.0.0/16 dev ens32 table 200"));

    // A peer of higher priority takes over: the virtual rule and route go, the statics stay.
    let d2 = start_with(&ns2, "st2.conf", &config(200, "", VIRTUAL_RULES, ""));
    wait_until("d2 takes over", Duration::from_secs(5), || {
        has_vip(&ns2) && state(&d1) == "BACKUP"
    });
    wait_until("d1's virtual rule removed", Duration::from_secs(2), || {
        !rules(&ns1).contains("1001:")
    });
    assert!(!routes(&ns1).contains("10.79.0.0/16"));
    assert!(rules(&ns2).contains("1001:\tfrom 192.168.2.200 lookup 200"));
    assert!(testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254"));
    assert!(rules(&ns1).contains("1000:"));

    // Removed behind its back: put back (within the 5 s check).
    ns1.exec(&["ip", "route", "del", "10.78.0.0/16"]);
    ns1.exec(&["ip", "rule", "del", "preference", "1000"]);
    wait_until(
        "static route and rule restored",
        Duration::from_secs(8),
        || routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254") && rules(&ns1).contains("1000:"),
    );
    // The link goes down and up: the kernel dropped the route; it comes back with the link.
    ns1.exec(&["ip", "link", "set", "ens32", "down"]);
    wait_until("route gone with the link", Duration::from_secs(2), || {
        !routes(&ns1).contains("10.78.0.0/16")
    });
    ns1.exec(&["ip", "link", "set", "ens32", "up"]);
    let back = wait_until(
        "static route back with the link",
        Duration::from_secs(4),
        || routes(&ns1).contains("10.78.0.0/16 via 10.77.0.254"),
    );
    println!("static route back {back:?} after the link came up");

    // A reload changes the static rule: the old one goes, the new one comes.
    let path = d1.written_config.clone().unwrap();
    std::fs::write(
        &path,
        config(
            150,
            "",
            VIRTUAL_RULES,
            &STATICS.replace("preference 1000", "preference 1002"),
        ),
    )
    .unwrap();
    let (ok, message) = d1.reload();
    assert!(ok, "{message}");
    let r = rules(&ns1);
    assert!(
        !r.contains("1000:") && r.contains("1002:\tfrom 10.77.0.0/24 lookup 100"),
        "{r}"
    );

    // At stop keepalived removes its static entries.
    d1.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(!testkit::has_address(&ns1, "ens32", "10.77.0.1/24"));
    assert!(!routes(&ns1).contains("10.78.0.0/16"));
    assert!(!rules(&ns1).contains("1002:"));
    drop(d2);
}
