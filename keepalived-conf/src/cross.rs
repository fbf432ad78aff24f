//! Cross-checks the configurations of the nodes of one cluster for split-brain risks.
//!
//! Instances are matched by name. Each risk is a [`Diagnostic`] whose `code` names the
//! finding, pointing at both files:
//!
//! | code | risk |
//! |---|---|
//! | `both-master-equal-priority` | both nodes start MASTER with the same priority |
//! | `two-address-owners` | both nodes claim priority 255 |
//! | `vrid-mismatch` | one instance, different `virtual_router_id`: two masters |
//! | `advert-int-mismatch` | different `advert_int`: keepalived drops the other's adverts |
//! | `auth-mismatch` | different authentication: adverts rejected |
//! | `version-mismatch` | VRRP v2 on one node, v3 on the other |
//! | `vip-mismatch` | different virtual addresses: adverts rejected (or addresses lost) |
//! | `vrid-reused` | one VRID used by two differently named instances |
//! | `nopreempt-one-side` | `nopreempt` on one node only |
//! | `nopreempt-with-master` | `nopreempt` with `state MASTER` (it needs BACKUP on all nodes) |
//! | `unicast-peers-mismatch` | unicast peers that do not point at each other |
//! | `mcast-group-mismatch` | multicast adverts sent to different groups |
//! | `instance-on-one-node` | an instance only one node runs |

use std::collections::BTreeSet;
use std::net::IpAddr;

use super::diag::{Diagnostic, Span};
use super::model::*;
use super::validate::instance_family;
use super::Loaded;

/// One node's configuration and a short name for messages (usually its file name).
pub struct NodeConfig<'a> {
    pub name: &'a str,
    pub loaded: &'a Loaded,
}

/// Every split-brain risk between the nodes, each once per pair of nodes.
pub fn cross_check(nodes: &[NodeConfig<'_>]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (i, a) in nodes.iter().enumerate() {
        for vi in &a.loaded.config.vrrp_instances {
            if vi.nopreempt && vi.state == Some(VrrpState::Master) {
                out.push(
                    finding(
                        "nopreempt-with-master",
                        span(a, vi, "nopreempt"),
                        format!(
                            "instance `{}` on {}: `nopreempt` with `state MASTER` does not prevent preemption",
                            vi.name, a.name
                        ),
                    )
                    .with_label("ignored with state MASTER")
                    .with_help("use `state BACKUP` on every node for `nopreempt` to take effect"),
                );
            }
        }
        for b in &nodes[i + 1..] {
            pair(a, b, &mut out);
        }
    }
    out
}

fn finding(code: &'static str, at: Option<Span>, message: String) -> Diagnostic {
    Diagnostic::error(code, at, message)
}

/// Instance `name` is configured on `has` and nowhere on `lacks`.
fn instance_on_one_node(has: &NodeConfig<'_>, lacks: &NodeConfig<'_>, name: &str) -> Diagnostic {
    finding(
        "instance-on-one-node",
        has.loaded.spans.get(&format!("vrrp_instance {name}")),
        format!(
            "instance `{name}` is on {} but not on {}",
            has.name, lacks.name
        ),
    )
    .with_label("no peer for this instance")
    .with_help("with no backup node this instance is not highly available")
}

fn span(n: &NodeConfig<'_>, vi: &VrrpInstance, keyword: &str) -> Option<Span> {
    n.loaded
        .spans
        .field(&format!("vrrp_instance {}", vi.name), keyword)
}

fn with_other(d: Diagnostic, at: Option<Span>, label: String) -> Diagnostic {
    match at {
        Some(s) => d.with_secondary(s, label),
        None => d,
    }
}

fn vips(vi: &VrrpInstance) -> BTreeSet<(IpAddr, Option<u8>)> {
    vi.virtual_ipaddress
        .iter()
        .map(|a| (a.addr, a.prefix))
        .collect()
}

fn pair(a: &NodeConfig<'_>, b: &NodeConfig<'_>, out: &mut Vec<Diagnostic>) {
    let (ga, gb) = (&a.loaded.config.global_defs, &b.loaded.config.global_defs);
    let mut reused: BTreeSet<String> = BTreeSet::new();
    // One VRID, two different instances (on the same address family).
    for x in &a.loaded.config.vrrp_instances {
        for y in &b.loaded.config.vrrp_instances {
            if x.name != y.name
                && x.virtual_router_id.is_some()
                && x.virtual_router_id == y.virtual_router_id
                && instance_family(x) == instance_family(y)
            {
                reused.insert(x.name.clone());
                reused.insert(y.name.clone());
                out.push(with_other(
                    finding(
                        "vrid-reused",
                        span(a, x, "virtual_router_id"),
                        format!(
                            "VRID {} is instance `{}` on {} but instance `{}` on {}",
                            x.virtual_router_id.unwrap_or_default(),
                            x.name,
                            a.name,
                            y.name,
                            b.name
                        ),
                    )
                    .with_label(format!("`{}` uses this VRID", x.name))
                    .with_help("one VRID is one virtual router: give the instances the same name, or different VRIDs"),
                    span(b, y, "virtual_router_id"),
                    format!("`{}` uses it too", y.name),
                ));
            }
        }
    }
    for x in &a.loaded.config.vrrp_instances {
        let Some(y) = b
            .loaded
            .config
            .vrrp_instances
            .iter()
            .find(|y| y.name == x.name)
        else {
            if !reused.contains(&x.name) {
                out.push(instance_on_one_node(a, b, &x.name));
            }
            continue;
        };
        instance_pair(a, b, x, y, ga, gb, out);
    }
    for y in &b.loaded.config.vrrp_instances {
        let on_a = a
            .loaded
            .config
            .vrrp_instances
            .iter()
            .any(|x| x.name == y.name);
        if !on_a && !reused.contains(&y.name) {
            out.push(instance_on_one_node(b, a, &y.name));
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn instance_pair(
    a: &NodeConfig<'_>,
    b: &NodeConfig<'_>,
    x: &VrrpInstance,
    y: &VrrpInstance,
    ga: &GlobalDefs,
    gb: &GlobalDefs,
    out: &mut Vec<Diagnostic>,
) {
    let name = &x.name;
    let mut differ =
        |code: &'static str, keyword: &str, what: &str, va: String, vb: String, help: &str| {
            out.push(with_other(
                finding(
                    code,
                    span(a, x, keyword),
                    format!(
                        "instance `{name}`: {what} differs between {} ({va}) and {} ({vb})",
                        a.name, b.name
                    ),
                )
                .with_label(format!("{va} here"))
                .with_help(help.to_string()),
                span(b, y, keyword),
                format!("{vb} here"),
            ));
        };
    if x.virtual_router_id != y.virtual_router_id {
        differ(
            "vrid-mismatch",
            "virtual_router_id",
            "virtual_router_id",
            fmt_opt(x.virtual_router_id),
            fmt_opt(y.virtual_router_id),
            "both nodes become master of different virtual routers; use one VRID",
        );
    }
    if x.advert_int != y.advert_int {
        differ(
            "advert-int-mismatch",
            "advert_int",
            "advert_int",
            format!("{} s", x.advert_int),
            format!("{} s", y.advert_int),
            "keepalived discards adverts with another interval, so both become master",
        );
    }
    let (va, vb) = (x.effective_version(ga), y.effective_version(gb));
    if va != vb {
        let kw = if x.version.is_some() {
            "version"
        } else {
            "virtual_router_id"
        };
        differ(
            "version-mismatch",
            kw,
            "VRRP version",
            format!("v{va}"),
            format!("v{vb}"),
            "v2 and v3 adverts are not compatible; set the same `version` on every node",
        );
    }
    // Authentication only exists in VRRPv2.
    if va == 2 && vb == 2 && x.authentication != y.authentication {
        let show = |v: &VrrpInstance| match &v.authentication {
            None => "none".to_string(),
            Some(a) => format!("{:?}", a.auth_type).to_uppercase(),
        };
        let (sa, sb) = if show(x) == show(y) {
            (
                format!("{} with one password", show(x)),
                "another password".to_string(),
            )
        } else {
            (show(x), show(y))
        };
        differ(
            "auth-mismatch",
            "authentication",
            "authentication",
            sa,
            sb,
            "adverts that fail authentication are dropped, so both become master",
        );
    }
    if vips(x) != vips(y) {
        let show = |v: &VrrpInstance| {
            v.virtual_ipaddress
                .iter()
                .map(|a| match a.prefix {
                    Some(p) => format!("{}/{p}", a.addr),
                    None => a.addr.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        differ(
            "vip-mismatch",
            "virtual_ipaddress",
            "the virtual address list",
            show(x),
            show(y),
            "keepalived drops adverts whose address list differs; use the same list on every node",
        );
    }
    if x.nopreempt != y.nopreempt {
        let (with, without, wn) = if x.nopreempt { (a, b, x) } else { (b, a, y) };
        out.push(
            finding(
                "nopreempt-one-side",
                span(with, wn, "nopreempt"),
                format!(
                    "instance `{name}`: `nopreempt` on {} but not on {}",
                    with.name, without.name
                ),
            )
            .with_label("only this node refrains from preempting")
            .with_help("set `nopreempt` (with `state BACKUP`) on every node, or on none"),
        );
    }
    if x.effective_state() == VrrpState::Master
        && y.effective_state() == VrrpState::Master
        && x.priority == y.priority
    {
        out.push(with_other(
            finding(
                if x.priority == 255 {
                    "two-address-owners"
                } else {
                    "both-master-equal-priority"
                },
                span(a, x, "priority"),
                format!(
                    "instance `{name}`: both {} and {} start MASTER with priority {}",
                    a.name, b.name, x.priority
                ),
            )
            .with_label("same priority here")
            .with_help("give the backup `state BACKUP` and a lower priority"),
            span(b, y, "priority"),
            "and here".into(),
        ));
    } else if x.priority == 255 && y.priority == 255 {
        out.push(
            finding(
                "two-address-owners",
                span(a, x, "priority"),
                format!(
                    "instance `{name}`: both {} and {} claim priority 255",
                    a.name, b.name
                ),
            )
            .with_label("only one node can own the addresses")
            .with_help("use priority 255 on at most one node"),
        );
    }
    unicast(a, b, x, y, out);
    if x.unicast_peers.is_empty() && y.unicast_peers.is_empty() {
        let group = |v: &VrrpInstance, g: &GlobalDefs| -> IpAddr {
            v.mcast_dst_ip
                .unwrap_or(if instance_family(v) == Some(true) {
                    IpAddr::V6(g.vrrp_mcast_group6)
                } else {
                    IpAddr::V4(g.vrrp_mcast_group4)
                })
        };
        let (ma, mb) = (group(x, ga), group(y, gb));
        if ma != mb {
            let at = |n: &NodeConfig<'_>, v: &VrrpInstance| {
                span(n, v, "mcast_dst_ip")
                    .filter(|_| v.mcast_dst_ip.is_some())
                    .or_else(|| {
                        let kw = if ma.is_ipv6() {
                            "vrrp_mcast_group6"
                        } else {
                            "vrrp_mcast_group4"
                        };
                        n.loaded.spans.exact_field("global_defs", kw)
                    })
                    .or_else(|| span(n, v, "virtual_router_id"))
            };
            out.push(with_other(
                finding(
                    "mcast-group-mismatch",
                    at(a, x),
                    format!(
                        "instance `{name}`: {} sends adverts to {ma} but {} to {mb}",
                        a.name, b.name
                    ),
                )
                .with_label(format!("{ma} here"))
                .with_help("neither node hears the other: use one multicast group"),
                at(b, y),
                format!("{mb} here"),
            ));
        }
    }
}

fn unicast(
    a: &NodeConfig<'_>,
    b: &NodeConfig<'_>,
    x: &VrrpInstance,
    y: &VrrpInstance,
    out: &mut Vec<Diagnostic>,
) {
    let (ux, uy) = (!x.unicast_peers.is_empty(), !y.unicast_peers.is_empty());
    let name = &x.name;
    if !ux && !uy {
        return;
    }
    let mut problems = Vec::new();
    if ux != uy {
        let (uni, multi) = if ux { (a, b) } else { (b, a) };
        problems.push(format!(
            "{} sends unicast but {} sends multicast",
            uni.name, multi.name
        ));
    } else {
        if let Some(src) = y.unicast_src_ip {
            if !x.unicast_peers.iter().any(|p| p.addr == src) {
                problems.push(format!(
                    "{}'s peers do not include {}'s unicast_src_ip {src}",
                    a.name, b.name
                ));
            }
        }
        if let Some(src) = x.unicast_src_ip {
            if !y.unicast_peers.iter().any(|p| p.addr == src) {
                problems.push(format!(
                    "{}'s peers do not include {}'s unicast_src_ip {src}",
                    b.name, a.name
                ));
            }
        }
    }
    if problems.is_empty() {
        return;
    }
    let at = span(a, x, "unicast_peer").or_else(|| span(a, x, "unicast_src_ip"));
    let mut d = finding(
        "unicast-peers-mismatch",
        at,
        format!("instance `{name}`: unicast peers do not point at each other"),
    )
    .with_label("adverts from this node do not reach the other");
    for p in problems {
        d = d.with_help(p);
    }
    let other = span(b, y, "unicast_peer").or_else(|| span(b, y, "unicast_src_ip"));
    out.push(with_other(d, other, "the other node's peers".into()));
}

fn fmt_opt(v: Option<u8>) -> String {
    v.map_or_else(|| "unset".into(), |v| v.to_string())
}
