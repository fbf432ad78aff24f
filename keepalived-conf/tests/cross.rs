//! Split-brain cross-check of two nodes, on the shared lvs1/lvs2 examples and one broken
//! variant per finding: each variant must produce exactly its finding.

use std::path::PathBuf;

use keepalived_conf::cross::{cross_check, NodeConfig};
use keepalived_conf::diag::render;
use keepalived_conf::{parse_str, Options, SourceMap};

const EXAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/examples");

fn example(name: &str) -> String {
    let path = PathBuf::from(EXAMPLES).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Findings (codes) of the pair, after checking both files have no errors but keywords ha
/// does not apply (`not-applied`: the cross-check still compares what they mean to keepalived).
fn findings(a: &str, b: &str) -> (Vec<&'static str>, String) {
    let mut sources = SourceMap::default();
    let la = parse_str("lvs1.conf", a, &Options::default(), &mut sources);
    let lb = parse_str("lvs2.conf", b, &Options::default(), &mut sources);
    for l in [&la, &lb] {
        assert!(
            l.diagnostics
                .iter()
                .all(|d| !d.is_error() || d.code == "not-applied"),
            "{}",
            render(&l.diagnostics, &sources, false)
        );
    }
    let nodes = [
        NodeConfig {
            name: "lvs1",
            loaded: &la,
        },
        NodeConfig {
            name: "lvs2",
            loaded: &lb,
        },
    ];
    let found = cross_check(&nodes);
    (
        found.iter().map(|d| d.code).collect(),
        render(&found, &sources, false),
    )
}

fn edit(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "`{from}` not in the example");
    text.replacen(from, to, 1)
}

#[test]
fn shared_examples_pass_clean() {
    let (a, b) = (example("lvs1.conf"), example("lvs2.conf"));
    for (name, text) in [("lvs1.conf", &a), ("lvs2.conf", &b)] {
        let mut sources = SourceMap::default();
        let l = parse_str(name, text, &Options::default(), &mut sources);
        assert!(
            l.diagnostics.is_empty(),
            "{}",
            render(&l.diagnostics, &sources, false)
        );
    }
    let (codes, rendered) = findings(&a, &b);
    assert!(codes.is_empty(), "{rendered}");
    // Either order.
    assert!(findings(&b, &a).0.is_empty());
}

#[test]
fn each_broken_variant_produces_exactly_its_finding() {
    let (a, b) = (example("lvs1.conf"), example("lvs2.conf"));
    let nopreempt = |t: &str| edit(t, "    priority", "    nopreempt\n    priority");
    let unicast = |t: &str, src: &str, peer: &str| {
        edit(
            t,
            "    advert_int 1\n",
            &format!("    advert_int 1\n    unicast_src_ip {src}\n    unicast_peer {{\n        {peer}\n    }}\n"),
        )
    };
    let extra_instance = "\nvrrp_instance VI_2 {\n    state BACKUP\n    interface ens32\n    virtual_router_id 52\n    priority 90\n    virtual_ipaddress {\n        192.168.2.201\n    }\n}\n";
    let variants: Vec<(&str, String, String)> = vec![
        (
            "both-master-equal-priority",
            a.clone(),
            edit(
                &edit(&b, "state BACKUP", "state MASTER"),
                "priority 90",
                "priority 100",
            ),
        ),
        (
            "vrid-mismatch",
            a.clone(),
            edit(&b, "virtual_router_id 51", "virtual_router_id 52"),
        ),
        (
            "advert-int-mismatch",
            a.clone(),
            edit(&b, "advert_int 1", "advert_int 2"),
        ),
        (
            "auth-mismatch",
            a.clone(),
            edit(&b, "auth_pass 1111", "auth_pass 2222"),
        ),
        (
            "version-mismatch",
            a.clone(),
            edit(&b, "advert_int 1", "advert_int 1\n    version 3"),
        ),
        (
            "vip-mismatch",
            a.clone(),
            edit(&b, "        192.168.2.200\n", "        192.168.2.201\n"),
        ),
        (
            "vrid-reused",
            a.clone(),
            edit(&b, "vrrp_instance VI_1", "vrrp_instance VI_2"),
        ),
        ("nopreempt-one-side", a.clone(), nopreempt(&b)),
        ("nopreempt-with-master", nopreempt(&a), nopreempt(&b)),
        (
            "unicast-peers-mismatch",
            unicast(&a, "192.168.2.10", "192.168.2.11"),
            unicast(&b, "192.168.2.11", "192.168.2.12"),
        ),
        (
            "unicast-peers-mismatch",
            unicast(&a, "192.168.2.10", "192.168.2.11"),
            b.clone(),
        ),
        (
            "instance-on-one-node",
            a.clone(),
            format!("{b}{extra_instance}"),
        ),
        (
            "mcast-group-mismatch",
            a.clone(),
            edit(
                &b,
                "router_id LVS_DEVEL\n",
                "router_id LVS_DEVEL\n   vrrp_mcast_group4 224.0.0.19\n",
            ),
        ),
        (
            "two-address-owners",
            edit(&a, "priority 100", "priority 255"),
            edit(&b, "priority 90", "priority 255"),
        ),
    ];
    for (expected, va, vb) in &variants {
        let (codes, rendered) = findings(va, vb);
        assert_eq!(codes, [*expected], "variant {expected}:\n{rendered}");
    }
    // Unicast peers that do point at each other are fine.
    let (codes, rendered) = findings(
        &unicast(&a, "192.168.2.10", "192.168.2.11"),
        &unicast(&b, "192.168.2.11", "192.168.2.10"),
    );
    assert!(codes.is_empty(), "{rendered}");
}

#[test]
fn findings_point_at_both_files() {
    let (a, b) = (example("lvs1.conf"), example("lvs2.conf"));
    let (_, rendered) = findings(
        &a,
        &edit(&b, "virtual_router_id 51", "virtual_router_id 52"),
    );
    let expected = "\
error[vrid-mismatch]: instance `VI_1`: virtual_router_id differs between lvs1 (51) and lvs2 (52)
   --> lvs1.conf:21:5
   |
21 |     virtual_router_id 51
   |     ^^^^^^^^^^^^^^^^^^^^ 51 here
   |
   --> lvs2.conf:21:5
   |
21 |     virtual_router_id 52
   |     -------------------- 52 here
   |
   = help: both nodes become master of different virtual routers; use one VRID

";
    assert_eq!(rendered, expected);
}

#[test]
fn three_nodes_are_checked_pairwise() {
    let (a, b) = (example("lvs1.conf"), example("lvs2.conf"));
    let c = edit(&b, "priority 90", "priority 80");
    let d = edit(&b, "virtual_router_id 51", "virtual_router_id 53");
    let mut sources = SourceMap::default();
    let loaded: Vec<_> = [&a, &b, &c, &d]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            parse_str(
                &format!("lvs{}.conf", i + 1),
                t,
                &Options::default(),
                &mut sources,
            )
        })
        .collect();
    let names = ["lvs1", "lvs2", "lvs3", "lvs4"];
    let nodes: Vec<NodeConfig<'_>> = names
        .iter()
        .zip(&loaded)
        .map(|(name, loaded)| NodeConfig { name, loaded })
        .collect();
    assert!(cross_check(&nodes[..3]).is_empty());
    // lvs4's VRID differs from each of the three others.
    let codes: Vec<&str> = cross_check(&nodes).iter().map(|d| d.code).collect();
    assert_eq!(codes, ["vrid-mismatch"; 3]);
}
