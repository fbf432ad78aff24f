//! Semantic checks keepalived makes on a parsed configuration, with its severities, plus
//! the checks against this host (interfaces, local addresses), which are warnings unless
//! `--host-checks` asks for errors: configurations are often checked on another machine.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use super::diag::{Diagnostic, Severity};
use super::model::*;
use super::parse::{vs_path, SpanIndex};
use super::Options;

/// Appends to `diags` every problem found in `c`.
pub fn validate(c: &Config, spans: &SpanIndex, opts: &Options, diags: &mut Vec<Diagnostic>) {
    let mut v = Validator {
        c,
        spans,
        opts,
        diags,
    };
    v.instances();
    v.sync_groups();
    v.global();
    v.virtual_servers();
    v.announce();
}

struct Validator<'a> {
    c: &'a Config,
    spans: &'a SpanIndex,
    opts: &'a Options,
    diags: &'a mut Vec<Diagnostic>,
}

/// The family of an instance: from its source address, else its first address.
pub fn instance_family(vi: &VrrpInstance) -> Option<bool> {
    vi.unicast_src_ip
        .map(|a| a.is_ipv6())
        .or_else(|| vi.virtual_ipaddress.first().map(|a| a.addr.is_ipv6()))
        .or_else(|| vi.unicast_peers.first().map(|p| p.addr.is_ipv6()))
}

fn family_name(v6: bool) -> &'static str {
    if v6 {
        "IPv6"
    } else {
        "IPv4"
    }
}

impl Validator<'_> {
    fn host(&mut self, d: Diagnostic) {
        let severity = if self.opts.host_checks {
            Severity::Error
        } else {
            Severity::Warning
        };
        self.diags.push(Diagnostic { severity, ..d }.with_help(
            "host checks are warnings by default; `ha check --host-checks` makes them errors",
        ));
    }

    /// `net_namespace NAME`: the director's interfaces and addresses are NAME's, which
    /// this process cannot see (/sys/class/net is the namespace sysfs was mounted in).
    fn net_namespace(&self) -> Option<&str> {
        self.c
            .other
            .iter()
            .chain(&self.c.global_defs.other)
            .find(|s| s.keyword == "net_namespace")
            .and_then(|s| s.args.first())
            .map(String::as_str)
    }

    fn instances(&mut self) {
        let check_host = match self
            .net_namespace()
            .map(|ns| (ns.to_string(), in_netns(ns)))
        {
            None => self.opts.check_host,
            Some(_) if !self.opts.check_host => false,
            // `ip netns exec NAME ha check`: this process sees NAME's interfaces.
            Some((_, Some(true))) => true,
            Some((ns, Some(false))) => {
                // Checked from here they would be false warnings (errors with --host-checks).
                self.diags.push(
                    Diagnostic::warning(
                        "host-checks-skipped",
                        None,
                        format!(
                            "interfaces and addresses not checked: the director runs in \
                             net_namespace {ns}"
                        ),
                    )
                    .with_help(format!(
                        "check them there: `ip netns exec {ns} ha check FILE`"
                    )),
                );
                false
            }
            Some((ns, None)) => {
                self.host(Diagnostic::warning(
                    "no-such-namespace",
                    None,
                    format!("net_namespace {ns}: /run/netns/{ns} does not exist (`ha run` will not start)"),
                ));
                false
            }
        };
        let g = &self.c.global_defs;
        let scripts: HashSet<&str> = self
            .c
            .vrrp_scripts
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        let files: HashSet<&str> = self.c.track_files.iter().map(|s| s.name.as_str()).collect();
        let procs: HashSet<&str> = self
            .c
            .vrrp_track_processes
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        // (interface, family, vrid) -> first instance using it.
        let mut vrids: HashMap<(Option<&str>, bool, u8), &str> = HashMap::new();
        for vi in &self.c.vrrp_instances {
            let block = format!("vrrp_instance {}", vi.name);
            let at = |k: &str| self.spans.field(&block, k);
            let version = vi.effective_version(g);
            let v6 = instance_family(vi).unwrap_or(false);
            match vi.virtual_router_id {
                None => self.diags.push(
                    Diagnostic::error(
                        "missing-vrid",
                        self.spans.get(&block),
                        format!("vrrp_instance `{}` has no `virtual_router_id`", vi.name),
                    )
                    .with_label("this instance cannot run without a VRID")
                    .with_help("add `virtual_router_id N` (1-255, the same on every node of this instance)"),
                ),
                Some(id) => {
                    let key = (vi.interface.as_deref(), v6, id);
                    if let Some(first) = vrids.insert(key, &vi.name) {
                        let mut d = Diagnostic::error(
                            "duplicate-vrid",
                            at("virtual_router_id"),
                            format!(
                                "VRID {id} is used by both `{first}` and `{}` on the same interface",
                                vi.name
                            ),
                        )
                        .with_label("second use of this VRID")
                        .with_help("each instance on one interface and family needs its own VRID");
                        if let Some(s) =
                            self.spans.field(&format!("vrrp_instance {first}"), "virtual_router_id")
                        {
                            d = d.with_secondary(s, "first used here");
                        }
                        self.diags.push(d);
                    }
                }
            }
            if vi.interface.is_none() {
                self.diags.push(
                    Diagnostic::warning(
                        "missing-interface",
                        self.spans.get(&block),
                        format!("vrrp_instance `{}` has no `interface`", vi.name),
                    )
                    .with_label("keepalived falls back to `default_interface` (eth0)")
                    .with_help("add `interface IFNAME`"),
                );
            }
            if vi.nopreempt && vi.state == Some(VrrpState::Master) {
                let mut d = Diagnostic::warning(
                    "nopreempt-master",
                    at("nopreempt"),
                    "`nopreempt` has no effect with `state MASTER`",
                )
                .with_label("ignored: a MASTER always takes over")
                .with_help("use `state BACKUP` on every node for `nopreempt` to work");
                if let Some(state) = self.spans.exact_field(&block, "state") {
                    d = d.with_secondary(state, "initial state set here");
                }
                self.diags.push(d);
            }
            // Address families.
            for a in vi.virtual_ipaddress.iter() {
                if a.addr.is_ipv6() != v6 {
                    self.diags.push(
                        Diagnostic::warning(
                            "vip-family",
                            at("virtual_ipaddress"),
                            format!(
                                "{} address {} in an {} instance",
                                family_name(a.addr.is_ipv6()),
                                a.addr,
                                family_name(v6)
                            ),
                        )
                        .with_label("keepalived treats this as an excluded address")
                        .with_help(
                            "put addresses of the other family in `virtual_ipaddress_excluded`",
                        ),
                    );
                }
            }
            for p in &vi.unicast_peers {
                if p.addr.is_ipv6() != v6 {
                    self.diags.push(
                        Diagnostic::error(
                            "unicast-peer-family",
                            self.spans
                                .get(&format!("{block}/unicast_peer/{}", p.addr))
                                .or(at("unicast_peer")),
                            format!(
                                "unicast peer {} is {} but instance `{}` is {}",
                                p.addr,
                                family_name(p.addr.is_ipv6()),
                                vi.name,
                                family_name(v6)
                            ),
                        )
                        .with_label("peer of the wrong address family")
                        .with_help(
                            "peers must be of the same family as `unicast_src_ip` and the VIPs",
                        ),
                    );
                }
            }
            if version == 2 && v6 {
                self.diags.push(
                    Diagnostic::warning(
                        "ipv6-vrrpv2",
                        self.spans
                            .field(&block, "version")
                            .or(self.spans.get(&block)),
                        format!("IPv6 instance `{}` needs VRRP version 3", vi.name),
                    )
                    .with_label("keepalived switches this instance to version 3")
                    .with_help("set `version 3` (or `vrrp_version 3` in global_defs)"),
                );
            }
            // Advertisement interval.
            let adv = vi.advert_int.as_micros();
            if version == 2 && (adv % 1_000_000 != 0 || adv > 255_000_000) {
                self.diags.push(
                    Diagnostic::warning(
                        "advert-int",
                        at("advert_int"),
                        format!(
                            "VRRPv2 `advert_int` {} is not whole seconds 1-255",
                            vi.advert_int
                        ),
                    )
                    .with_label("keepalived rounds this")
                    .with_help(
                        "VRRPv2 adverts are whole seconds; use `version 3` for sub-second adverts",
                    ),
                );
            }
            if version == 3 && (adv % 10_000 != 0 || !(10_000..=40_950_000).contains(&adv)) {
                self.diags.push(
                    Diagnostic::error(
                        "advert-int",
                        at("advert_int"),
                        format!("VRRPv3 `advert_int` {} out of range", vi.advert_int),
                    )
                    .with_label("not representable in centiseconds 1-4095")
                    .with_help("VRRPv3 `advert_int` must be 0.01-40.95 seconds in steps of 0.01"),
                );
            }
            if vi.authentication.is_some() {
                if version == 3 {
                    self.diags.push(
                        Diagnostic::warning(
                            "auth-vrrpv3",
                            at("authentication"),
                            "VRRPv3 has no authentication; this block is ignored",
                        )
                        .with_label("ignored with version 3")
                        .with_help("remove `authentication` (RFC 5798 removed it)"),
                    );
                } else if g.vrrp_strict || vi.strict_mode == Some(true) {
                    self.diags.push(
                        Diagnostic::error(
                            "strict-auth",
                            at("authentication"),
                            "authentication is not allowed with `vrrp_strict`",
                        )
                        .with_label("RFC 3768 (as revised) forbids authentication")
                        .with_help("remove `authentication` or `vrrp_strict`"),
                    );
                }
            }
            if (g.vrrp_strict || vi.strict_mode == Some(true)) && !vi.unicast_peers.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "strict-unicast",
                        at("unicast_peer"),
                        "unicast peers are not allowed with `vrrp_strict`",
                    )
                    .with_label("strict VRRP is multicast only")
                    .with_help("remove `unicast_peer` or `vrrp_strict`"),
                );
            }
            if !vi.unicast_peers.is_empty() {
                if let Some(src) = vi.unicast_src_ip {
                    if vi.unicast_peers.iter().any(|p| p.addr == src) {
                        self.diags.push(
                            Diagnostic::warning(
                                "unicast-self-peer",
                                at("unicast_peer"),
                                format!("`unicast_peer` lists this node's own address {src}"),
                            )
                            .with_label("keepalived ignores a peer equal to unicast_src_ip"),
                        );
                    }
                }
            }
            if vi.virtual_ipaddress.is_empty() {
                self.diags.push(
                    Diagnostic::warning(
                        "no-vip",
                        self.spans.get(&block),
                        format!("vrrp_instance `{}` has no `virtual_ipaddress`", vi.name),
                    )
                    .with_label("this instance moves no address"),
                );
            }
            // References to tracked objects.
            let refs: [(&[Track], &HashSet<&str>, &str, &str); 3] = [
                (
                    &vi.tracking.scripts,
                    &scripts,
                    "track_script",
                    "vrrp_script",
                ),
                (&vi.tracking.files, &files, "track_file", "track_file"),
                (
                    &vi.tracking.processes,
                    &procs,
                    "track_process",
                    "vrrp_track_process",
                ),
            ];
            for (list, known, keyword, def) in refs {
                for t in list {
                    if !known.contains(t.name.as_str()) {
                        let span = self
                            .spans
                            .get(&format!("{block}/{keyword}/{}", t.name))
                            .or(at(keyword));
                        let help = match closest(&t.name, known.iter().copied()) {
                            Some(s) => format!("did you mean `{s}`?"),
                            None => format!("define `{def} {} {{ ... }}`", t.name),
                        };
                        self.diags.push(
                            Diagnostic::warning(
                                "unknown-reference",
                                span,
                                format!("`{keyword}` names `{}`, which is not defined", t.name),
                            )
                            .with_label("keepalived ignores this entry")
                            .with_help(help),
                        );
                    }
                }
            }
            if vi.interface.as_deref() == Some("lo") {
                self.diags.push(
                    Diagnostic::error(
                        "loopback-interface",
                        at("interface"),
                        "VRRP cannot run on the loopback interface",
                    )
                    .with_label("adverts on `lo` reach no other node")
                    .with_help("use the interface that faces the other directors"),
                );
            }
            if (g.vrrp_strict || vi.strict_mode == Some(true)) && vi.virtual_ipaddress.is_empty() {
                self.diags.push(
                    Diagnostic::error(
                        "strict-no-vip",
                        self.spans.get(&block),
                        format!(
                            "instance `{}` has no virtual address, which `vrrp_strict` forbids",
                            vi.name
                        ),
                    )
                    .with_label("strict VRRP needs at least one address"),
                );
            }
            self.sync_group_weights(vi, &block);
            if check_host {
                self.host_instance(vi, &block);
            }
        }
    }

    /// keepalived ignores tracking weights of instances in a sync group (they would let
    /// the members' priorities drift apart) unless the group has
    /// `sync_group_tracking_weight`.
    fn sync_group_weights(&mut self, vi: &VrrpInstance, block: &str) {
        let Some(group) = self
            .c
            .vrrp_sync_groups
            .iter()
            .find(|g| g.group.contains(&vi.name))
        else {
            return;
        };
        if group.sync_group_tracking_weight {
            return;
        }
        let c = self.c;
        let weighted = |list: &[Track], default: &dyn Fn(&str) -> i32| {
            list.iter()
                .find(|t| t.weight.unwrap_or_else(|| default(&t.name)) != 0)
                .map(|t| t.name.clone())
        };
        let script_w = |n: &str| {
            c.vrrp_scripts
                .iter()
                .find(|s| s.name == n)
                .map_or(0, |s| s.weight)
        };
        let file_w = |n: &str| {
            c.track_files
                .iter()
                .find(|f| f.name == n)
                .map_or(0, |f| f.weight)
        };
        let proc_w = |n: &str| {
            c.vrrp_track_processes
                .iter()
                .find(|p| p.name == n)
                .map_or(0, |p| p.weight)
        };
        let found = [
            ("track_interface", weighted(&vi.tracking.interfaces, &|_| 0)),
            ("track_script", weighted(&vi.tracking.scripts, &script_w)),
            ("track_file", weighted(&vi.tracking.files, &file_w)),
            ("track_process", weighted(&vi.tracking.processes, &proc_w)),
        ];
        for (keyword, name) in found {
            if let Some(name) = name {
                self.diags.push(
                    Diagnostic::warning(
                        "sync-group-weight",
                        self.spans
                            .get(&format!("{block}/{keyword}/{name}"))
                            .or(self.spans.field(block, keyword)),
                        format!(
                            "the weight of `{name}` is ignored: `{}` is in sync group `{}`",
                            vi.name, group.name
                        ),
                    )
                    .with_label("a failure puts the instance in FAULT instead")
                    .with_help(
                        "add `sync_group_tracking_weight` to the sync group, or use weight 0",
                    ),
                );
            }
        }
    }

    fn host_instance(&mut self, vi: &VrrpInstance, block: &str) {
        let mut others: Vec<(&str, &str)> = Vec::new();
        for a in vi
            .virtual_ipaddress
            .iter()
            .chain(&vi.virtual_ipaddress_excluded)
        {
            if let Some(dev) = &a.dev {
                others.push((dev, "virtual_ipaddress"));
            }
        }
        for t in &vi.tracking.interfaces {
            others.push((&t.name, "track_interface"));
        }
        for (ifname, keyword) in others {
            if Some(ifname) != vi.interface.as_deref() && !interface_exists(ifname) {
                let span = self
                    .spans
                    .get(&format!("{block}/{keyword}/{ifname}"))
                    .or(self.spans.field(block, keyword));
                self.host(
                    Diagnostic::warning(
                        "no-such-interface",
                        span,
                        format!("interface `{ifname}` does not exist on this host"),
                    )
                    .with_label(format!("named in `{keyword}`")),
                );
            }
        }
        if let Some(ifname) = &vi.interface {
            if !interface_exists(ifname) {
                self.host(
                    Diagnostic::warning(
                        "no-such-interface",
                        self.spans.field(block, "interface"),
                        format!("interface `{ifname}` does not exist on this host"),
                    )
                    .with_label("not found in /sys/class/net"),
                );
            }
        }
        if let Some(src) = vi.unicast_src_ip {
            if !address_is_local(src) {
                self.host(
                    Diagnostic::warning(
                        "no-such-address",
                        self.spans.field(block, "unicast_src_ip"),
                        format!("`unicast_src_ip` {src} is not an address of this host"),
                    )
                    .with_label("cannot send adverts from this address here"),
                );
            }
        }
        if vi.priority == 255 {
            for a in &vi.virtual_ipaddress {
                if !address_is_local(a.addr) {
                    self.host(
                        Diagnostic::warning(
                            "priority-owner",
                            self.spans.field(block, "priority"),
                            format!("priority 255 but {} is not an address of this host", a.addr),
                        )
                        .with_label("255 is reserved for the owner of the virtual addresses")
                        .with_help("use a priority of 1-254 unless this node owns the addresses"),
                    );
                    break;
                }
            }
        }
    }

    fn sync_groups(&mut self) {
        let instances: HashSet<&str> = self
            .c
            .vrrp_instances
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        let mut member_of: HashMap<&str, &str> = HashMap::new();
        for sg in &self.c.vrrp_sync_groups {
            let block = format!("vrrp_sync_group {}", sg.name);
            for m in &sg.group {
                let span = self.spans.get(&format!("{block}/group/{m}"));
                if !instances.contains(m.as_str()) {
                    let mut d = Diagnostic::warning(
                        "unknown-reference",
                        span,
                        format!(
                            "sync group `{}` names instance `{m}`, which is not defined",
                            sg.name
                        ),
                    )
                    .with_label("keepalived ignores this member");
                    if let Some(s) = closest(m, instances.iter().copied()) {
                        d = d.with_help(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                } else if let Some(first) = member_of.insert(m, &sg.name) {
                    self.diags.push(
                        Diagnostic::error(
                            "sync-group-overlap",
                            span,
                            format!(
                                "instance `{m}` is in sync groups `{first}` and `{}`",
                                sg.name
                            ),
                        )
                        .with_label("an instance can be in one sync group only"),
                    );
                }
            }
            if sg.group.len() < 2 {
                self.diags.push(
                    Diagnostic::warning(
                        "sync-group-size",
                        self.spans.get(&block),
                        format!("sync group `{}` has fewer than two instances", sg.name),
                    )
                    .with_label("a sync group of one instance syncs nothing"),
                );
            }
        }
    }

    fn global(&mut self) {
        let g = &self.c.global_defs;
        if let Some(d) = &g.lvs_sync_daemon {
            if !self
                .c
                .vrrp_instances
                .iter()
                .any(|v| v.name == d.vrrp_instance)
            {
                self.diags.push(
                    Diagnostic::error(
                        "unknown-reference",
                        self.spans.field("global_defs", "lvs_sync_daemon"),
                        format!(
                            "`lvs_sync_daemon` names instance `{}`, which is not defined",
                            d.vrrp_instance
                        ),
                    )
                    .with_label("the sync daemon follows this instance's state"),
                );
            }
        }
    }

    fn virtual_servers(&mut self) {
        let groups: HashSet<&str> = self
            .c
            .virtual_server_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect();
        for vs in &self.c.virtual_servers {
            let block = vs_path(&vs.key);
            if let VirtualServerKey::Group { name } = &vs.key {
                if !groups.contains(name.as_str()) {
                    self.diags.push(
                        Diagnostic::error(
                            "unknown-reference",
                            self.spans.get(&block),
                            format!("virtual_server_group `{name}` is not defined"),
                        )
                        .with_label("no such group")
                        .with_help(format!("define `virtual_server_group {name} {{ ... }}`")),
                    );
                }
            }
            if let VirtualServerKey::Fwmark { .. } = vs.key {
                if self.spans.exact_field(&block, "protocol").is_some() {
                    self.diags.push(
                        Diagnostic::warning(
                            "fwmark-protocol",
                            self.spans.exact_field(&block, "protocol"),
                            "`protocol` is ignored for a fwmark virtual server",
                        )
                        .with_label("the firewall mark selects the packets"),
                    );
                }
            }
            for flag in &vs.sched_flags {
                let needs = match flag.as_str() {
                    "sh-port" | "sh-fallback" => "sh",
                    "mh-port" | "mh-fallback" => "mh",
                    _ => continue,
                };
                if vs.lvs_sched != needs {
                    self.diags.push(
                        Diagnostic::warning(
                            "scheduler-flag",
                            self.spans.exact_field(&block, flag),
                            format!("`{flag}` only applies to the `{needs}` scheduler"),
                        )
                        .with_label(format!("ignored with `{}`", vs.lvs_sched)),
                    );
                }
            }
            let total: i64 = vs.real_servers.iter().map(|r| i64::from(r.weight)).sum();
            if !vs.real_servers.is_empty() && i64::from(vs.quorum) > total {
                self.diags.push(
                    Diagnostic::warning(
                        "quorum-unreachable",
                        self.spans.field(&block, "quorum"),
                        format!(
                            "quorum {} exceeds the total real-server weight {total}",
                            vs.quorum
                        ),
                    )
                    .with_label("this virtual server can never be up"),
                );
            }
            if let VirtualServerKey::Addr { port: vport, .. } = vs.key {
                for rs in &vs.real_servers {
                    let method = rs.lvs_method.unwrap_or(vs.lvs_method);
                    if let (LbKind::Dr | LbKind::Tun { .. }, Some(p)) = (method, rs.port) {
                        if vport != 0 && p != vport {
                            let path = format!("{block}/real_server {} {p}", rs.ip);
                            self.diags.push(
                                Diagnostic::warning(
                                    "port-remap",
                                    self.spans.get(&path),
                                    format!("real server port {p} differs from virtual server port {vport}"),
                                )
                                .with_label("DR and TUN cannot change the port")
                                .with_help("use NAT to map ports, or give the real server the virtual server's port"),
                            );
                        }
                    }
                }
            }
        }
    }
}

impl Validator<'_> {
    /// An announced address that VRRP or `static_ipaddress` also puts on an interface: FRR's
    /// zebra keeps a connected prefix while any interface holds it, so the address stays
    /// announced after ha withdraws it (seen with FRR 8.4).
    fn announce_overlap(&mut self, block: &str, ip: std::net::IpAddr) {
        let holder = self
            .c
            .vrrp_instances
            .iter()
            .find(|vi| {
                vi.virtual_ipaddress
                    .iter()
                    .chain(&vi.virtual_ipaddress_excluded)
                    .any(|a| a.addr == ip)
            })
            .map(|vi| format!("vrrp_instance {}", vi.name))
            .or_else(|| {
                self.c
                    .static_ipaddress
                    .iter()
                    .any(|a| a.addr == ip)
                    .then(|| "static_ipaddress".to_string())
            });
        if let Some(holder) = holder {
            self.diags.push(
                Diagnostic::warning(
                    "announce-overlap",
                    self.spans.field(block, "ha_announce"),
                    format!("{ip} is announced by `ha_announce` and also held by {holder}"),
                )
                .with_label("may stay announced after a withdrawal")
                .with_help(
                    "a routing daemon redistributing connected routes (FRR's zebra) keeps a prefix \
                     while any interface holds it: announce an address that only the announce \
                     interface holds",
                ),
            );
        }
    }

    /// The ha extensions `ha_announce` and `ha_announce_interface`: an announced virtual
    /// server needs an address, and the announce interface is ha's alone (ha adds and removes
    /// addresses there, and FRR announces whatever is on it).
    fn announce(&mut self) {
        let g = &self.c.global_defs;
        for vs in &self.c.virtual_servers {
            if vs.ha_announce_notify.is_some() && !vs.ha_announce {
                let block = vs_path(&vs.key);
                self.diags.push(
                    Diagnostic::warning(
                        "announce-unused",
                        self.spans.field(&block, "ha_announce_notify"),
                        format!("`ha_announce_notify` on {block}, which has no `ha_announce`"),
                    )
                    .with_label("never run"),
                );
            }
        }
        let announced: Vec<&VirtualServer> = self
            .c
            .virtual_servers
            .iter()
            .filter(|vs| vs.ha_announce)
            .collect();
        if announced.is_empty() {
            if g.ha_announce_interface.is_some() {
                self.diags.push(
                    Diagnostic::warning(
                        "announce-unused",
                        self.spans.field("global_defs", "ha_announce_interface"),
                        "`ha_announce_interface` is set, but no virtual server has `ha_announce`",
                    )
                    .with_label("nothing will be announced"),
                );
            }
            return;
        }
        for vs in &announced {
            let block = vs_path(&vs.key);
            if let VirtualServerKey::Addr { ip, .. } = vs.key {
                self.announce_overlap(&block, ip);
            }
            let why = match &vs.key {
                VirtualServerKey::Addr { .. } => continue,
                VirtualServerKey::Fwmark { mark } => {
                    format!("fwmark {mark} selects packets by mark, not by address")
                }
                VirtualServerKey::Group { name } => {
                    let has_address = self
                        .c
                        .virtual_server_groups
                        .iter()
                        .filter(|g| &g.name == name)
                        .flat_map(|g| &g.members)
                        .any(|m| m.first().is_some_and(|w| w != "fwmark"));
                    if has_address {
                        continue;
                    }
                    format!("virtual_server_group {name} has no address member")
                }
            };
            self.diags.push(
                Diagnostic::error(
                    "announce-no-address",
                    self.spans.field(&block, "ha_announce"),
                    format!("`ha_announce` on {block}, which has no address to announce: {why}"),
                )
                .with_label("nothing to put on the announce interface")
                .with_help("announce a virtual server with an address (`virtual_server IP PORT`, or a group with address members)"),
            );
        }
        let name = g.announce_interface();
        let mut users: Vec<String> = Vec::new();
        for vi in &self.c.vrrp_instances {
            let uses = vi.interface.as_deref() == Some(name)
                || vi.tracking.interfaces.iter().any(|t| t.name == name)
                || vi
                    .virtual_ipaddress
                    .iter()
                    .chain(&vi.virtual_ipaddress_excluded)
                    .any(|a| a.dev.as_deref() == Some(name));
            if uses {
                users.push(format!("vrrp_instance {}", vi.name));
            }
        }
        if g.lvs_sync_daemon
            .as_ref()
            .is_some_and(|d| d.interface == name)
        {
            users.push("lvs_sync_daemon".into());
        }
        if !users.is_empty() {
            self.diags.push(
                Diagnostic::error(
                    "announce-interface-in-use",
                    self.spans.field("global_defs", "ha_announce_interface"),
                    format!(
                        "the announce interface `{name}` is also used by {}",
                        users.join(", ")
                    ),
                )
                .with_label("ha owns this interface's addresses")
                .with_help("give `ha_announce_interface` a name of its own; ha creates it as a dummy interface"),
            );
        }
    }
}

fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (strsim::jaro_winkler(word, c), c))
        .filter(|(s, _)| *s > 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// Whether this process runs in the named network namespace (`/run/netns/NAME`); `None`
/// when there is no such namespace.
fn in_netns(name: &str) -> Option<bool> {
    use std::os::unix::fs::MetadataExt;
    if name.contains('/') {
        return None;
    }
    let named = std::fs::metadata(std::path::Path::new("/run/netns").join(name)).ok()?;
    let own = std::fs::metadata("/proc/self/ns/net").ok()?;
    Some(named.dev() == own.dev() && named.ino() == own.ino())
}

/// Whether the interface exists on this host.
pub fn interface_exists(name: &str) -> bool {
    !name.contains('/') && std::path::Path::new("/sys/class/net").join(name).exists()
}

/// Whether `addr` is configured on this host: binding a UDP socket to it succeeds only
/// then (unless `ip_nonlocal_bind` is set, which makes this optimistic).
pub fn address_is_local(addr: IpAddr) -> bool {
    std::net::UdpSocket::bind((addr, 0)).is_ok()
}
