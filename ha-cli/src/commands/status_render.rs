//! `ha status` as tables.

use director::status::{
    InstanceReport, IpvsReport, Status, VirtualServerReport, DROPPED_ADVERT_STATISTICS,
};

/// `ha status VI_1` and `ha status --virtual-server VS`: only the instance (with the tracked
/// objects that weigh on it, their instance lists narrowed to it) and/or only the virtual
/// server (with the IPVS summary). Naming one that does not exist is an error that lists
/// those that do.
pub fn filter(
    mut status: Status,
    instance: Option<&str>,
    virtual_server: Option<&str>,
) -> Result<Status, String> {
    if instance.is_none() && virtual_server.is_none() {
        return Ok(status);
    }
    match instance {
        Some(name) => {
            if !status.instances.iter().any(|i| i.name == name) {
                let known: Vec<&str> = status.instances.iter().map(|i| i.name.as_str()).collect();
                return Err(format!(
                    "no instance {name} (instances: {})",
                    list_or_none(&known)
                ));
            }
            status.instances.retain(|i| i.name == name);
            status.tracked.retain_mut(|t| {
                t.instances.retain(|(i, _)| i == name);
                !t.instances.is_empty()
            });
        }
        None => {
            status.instances.clear();
            status.tracked.clear();
        }
    }
    match virtual_server {
        Some(wanted) => {
            if !status
                .virtual_servers
                .iter()
                .any(|vs| virtual_server_matches(vs, wanted))
            {
                let known: Vec<&str> = status
                    .virtual_servers
                    .iter()
                    .map(|vs| vs.name.as_str())
                    .collect();
                return Err(format!(
                    "no virtual server {wanted} (virtual servers: {})",
                    list_or_none(&known)
                ));
            }
            status
                .virtual_servers
                .retain(|vs| virtual_server_matches(vs, wanted));
        }
        None => {
            status.virtual_servers.clear();
            status.ipvs = None;
        }
    }
    Ok(status)
}

fn list_or_none(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `192.168.2.200:80` matches the virtual server of that name and any whose services include
/// `TCP 192.168.2.200:80` (or UDP, SCTP); `FWM 7` and `TCP 192.168.2.200:80` match exactly.
fn virtual_server_matches(vs: &VirtualServerReport, wanted: &str) -> bool {
    let wanted = wanted.trim();
    vs.name == wanted
        || vs.services.iter().any(|s| {
            s == wanted
                || s.split_once(' ')
                    .is_some_and(|(_, address)| address.trim() == wanted)
        })
}

/// ` VI_1 --virtual-server VS` for `--watch`'s header.
pub fn filter_label(instance: Option<&str>, virtual_server: Option<&str>) -> String {
    let mut label = String::new();
    if let Some(i) = instance {
        label.push_str(&format!(" {i}"));
    }
    if let Some(vs) = virtual_server {
        label.push_str(&format!(" --virtual-server {vs}"));
    }
    label
}

/// The whole status: instances, then virtual servers and IPVS, then tracked objects.
pub fn status(status: &Status) -> String {
    let mut parts = Vec::new();
    if !status.instances.is_empty() {
        parts.push(render_table(&status.instances));
    }
    if !status.sync_groups.is_empty() {
        let lines: Vec<String> = status
            .sync_groups
            .iter()
            .map(|g| {
                format!(
                    "VRRP_Group({}) {}: {}\n",
                    g.name,
                    g.state,
                    g.members.join(", ")
                )
            })
            .collect();
        parts.push(lines.concat());
    }
    if status.ipvs.is_some() || !status.virtual_servers.is_empty() {
        parts.push(render_virtual_servers(
            &status.virtual_servers,
            status.ipvs.as_ref(),
        ));
    }
    if !status.tracked.is_empty() {
        parts.push(render_tracked(&status.tracked));
    }
    let mut out = parts.join("\n");
    if status.log_lines_dropped > 0 {
        out.push_str(&format!(
            "\n{} log line(s) dropped (the log's writer fell behind)\n",
            status.log_lines_dropped
        ));
    }
    out
}

/// Tracked scripts, interfaces, files and processes with their state and weights.
pub fn render_tracked(tracked: &[director::track::TrackedReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<24} {:<6}  INSTANCES (WEIGHT)",
        "TRACKED", "NAME", "STATE"
    );
    for t in tracked {
        let kind = match t.kind {
            director::track::TrackedKind::Script => "script",
            director::track::TrackedKind::Interface => "interface",
            director::track::TrackedKind::File => "file",
            director::track::TrackedKind::Process => "process",
        };
        let state = match t.value {
            Some(v) => format!("{v}"),
            None if t.up => "up".into(),
            None => "down".into(),
        };
        let instances: Vec<String> = t
            .instances
            .iter()
            .map(|(name, weight)| format!("{name} ({weight:+})"))
            .collect();
        let _ = writeln!(
            out,
            "{:<10} {:<24} {:<6}  {}",
            kind,
            t.name,
            state,
            instances.join(", ")
        );
    }
    out
}

/// `ha status` as a table.
pub fn render_table(instances: &[InstanceReport]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<8} {:>4} {:<8} {:>9} {:<16} {:<18} {:>8} {:>8}  LAST TRANSITION",
        "INSTANCE", "IFACE", "VRID", "STATE", "PRIO/EFF", "MASTER", "VIPS", "RCVD", "DROPPED"
    );
    for i in instances {
        let rcvd = i.statistics["rcvd_advertisements"].as_u64().unwrap_or(0);
        let dropped: u64 = DROPPED_ADVERT_STATISTICS
            .iter()
            .map(|k| i.statistics[*k].as_u64().unwrap_or(0))
            .sum();
        let vips = i
            .virtual_addresses
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let last = i
            .last_transition
            .as_ref()
            .map(|t| {
                format!(
                    "{} -> {} {:.1}s ago ({})",
                    t.from, t.to, t.seconds_ago, t.reason
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<12} {:<8} {:>4} {:<8} {:>9} {:<16} {:<18} {:>8} {:>8}  {}",
            i.name,
            i.interface,
            i.vrid,
            i.state,
            format!("{}/{}", i.priority, i.effective_priority),
            i.master_address
                .map(|a| a.to_string())
                .unwrap_or_else(|| "-".into()),
            vips,
            rcvd,
            dropped,
            last
        );
    }
    // Counted apart from DROPPED: these never reached ha's checks, and the instances on one
    // socket share the count (shown once).
    let mut overflowed: Vec<(&str, u64)> = Vec::new();
    for i in instances.iter().filter(|i| i.socket_drops > 0) {
        if !overflowed.contains(&(i.interface.as_str(), i.socket_drops)) {
            overflowed.push((&i.interface, i.socket_drops));
        }
    }
    for (interface, drops) in overflowed {
        let _ = writeln!(
            out,
            "{interface}: the kernel dropped {drops} datagram(s) at full VRRP receive queues \
             (a flood; adverts that may be valid are queued apart)"
        );
    }
    out
}

/// `ha status`'s virtual-server part, `ipvsadm -Ln`-like with health and drain.
pub fn render_virtual_servers(vss: &[VirtualServerReport], ipvs: Option<&IpvsReport>) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if let Some(i) = ipvs {
        let _ = write!(
            out,
            "IPVS: {}; {} operation(s), {} refused, {} repair(s)",
            if i.available {
                "reachable"
            } else {
                "NOT reachable"
            },
            i.operations,
            i.refused,
            i.repairs
        );
        if let Some(d) = &i.sync_daemon {
            let _ = write!(out, "; sync daemon {d}");
        }
        if let Some(e) = &i.error {
            let _ = write!(out, " ({e})");
        }
        out.push('\n');
    }
    for vs in vss {
        let mut flags = Vec::new();
        if !vs.quorum_up {
            flags.push("QUORUM LOST".to_string());
        }
        if vs.sorry_server_active {
            if let Some(s) = vs.sorry_server {
                flags.push(format!("sorry server {s} in use"));
            }
        }
        if vs.suspended {
            flags.push("checks suspended (ha_suspend)".into());
        }
        match vs.announced {
            Some(true) => flags.push("announced".into()),
            Some(false) => flags.push("WITHDRAWN (ha_announce)".into()),
            None => {}
        }
        let _ = writeln!(
            out,
            "VIRTUAL SERVER {} [{}] {} quorum {}/{}{}",
            vs.name,
            vs.services.join(", "),
            vs.scheduler,
            vs.live_weight,
            vs.quorum,
            if flags.is_empty() {
                String::new()
            } else {
                format!(" ({})", flags.join("; "))
            }
        );
        let _ = writeln!(
            out,
            "  {:<24} {:<6} {:>7} {:>8} {:>9} {:>9}  LAST CHANGE",
            "REAL SERVER", "HEALTH", "CONFIG", "WEIGHT", "ACTIVE", "INACTIVE"
        );
        for rs in &vs.real_servers {
            let weight = match rs.weight {
                Some(w) if rs.drained => format!("{w} drain"),
                Some(w) => w.to_string(),
                None => "-".into(),
            };
            let _ = writeln!(
                out,
                "  {:<24} {:<6} {:>7} {:>8} {:>9} {:>9}  {:.1}s ago: {}",
                rs.address.to_string(),
                rs.health,
                rs.configured_weight,
                weight,
                rs.active_connections,
                rs.inactive_connections,
                rs.seconds_since_change,
                rs.last_reason
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use director::status::RealServerReport;
    use director::track::{TrackedKind, TrackedReport};

    fn instance(name: &str) -> InstanceReport {
        serde_json::from_value(serde_json::json!({
            "name": name, "interface": "eth0", "vrid": 51, "state": "MASTER", "priority": 100,
            "effective_priority": 100, "master_address": null, "virtual_addresses": [],
            "last_transition": null, "statistics": {},
        }))
        .unwrap()
    }

    fn vs(name: &str, service: &str) -> VirtualServerReport {
        VirtualServerReport {
            name: name.into(),
            services: vec![service.into()],
            scheduler: "wlc".into(),
            quorum: 1,
            live_weight: 1,
            quorum_up: true,
            sorry_server: None,
            sorry_server_active: false,
            suspended: false,
            announced: None,
            real_servers: Vec::<RealServerReport>::new(),
        }
    }

    fn status() -> Status {
        Status {
            instances: vec![instance("VI_1"), instance("VI_2")],
            virtual_servers: vec![
                vs("192.168.2.200:80", "TCP 192.168.2.200:80"),
                vs("fwmark 7", "FWM 7"),
            ],
            ipvs: Some(IpvsReport::default()),
            tracked: vec![
                TrackedReport {
                    kind: TrackedKind::Script,
                    name: "chk".into(),
                    up: true,
                    value: None,
                    instances: vec![("VI_1".into(), 10), ("VI_2".into(), 20)],
                },
                TrackedReport {
                    kind: TrackedKind::File,
                    name: "/run/prio".into(),
                    up: true,
                    value: Some(0),
                    instances: vec![("VI_2".into(), 1)],
                },
            ],
            ..Status::default()
        }
    }

    #[test]
    fn an_instance_keeps_what_weighs_on_it() {
        let s = filter(status(), Some("VI_1"), None).unwrap();
        assert_eq!(s.instances.len(), 1);
        assert_eq!(s.instances[0].name, "VI_1");
        assert_eq!(s.tracked.len(), 1);
        assert_eq!(s.tracked[0].instances, vec![("VI_1".to_string(), 10)]);
        assert!(s.virtual_servers.is_empty() && s.ipvs.is_none());
        let text = super::status(&s);
        assert!(
            text.contains("chk") && text.contains("VI_1 (+10)"),
            "{text}"
        );
        assert!(!text.contains("VI_2"), "{text}");
    }

    #[test]
    fn full_receive_queues_are_shown_once_per_socket() {
        let (mut a, mut b, c) = (instance("VI_1"), instance("VI_2"), instance("VI_3"));
        (a.socket_drops, b.socket_drops) = (1200, 1200);
        let text = render_table(&[a, b, c]);
        let line = "eth0: the kernel dropped 1200 datagram(s) at full VRRP receive queues";
        assert_eq!(text.matches(line).count(), 1, "{text}");
        assert!(!render_table(&[instance("VI_1")]).contains("dropped"));
    }

    #[test]
    fn a_virtual_server_by_name_address_or_service() {
        for wanted in ["192.168.2.200:80", "TCP 192.168.2.200:80"] {
            let s = filter(status(), None, Some(wanted)).unwrap();
            assert_eq!(s.virtual_servers.len(), 1, "{wanted}");
            assert_eq!(s.virtual_servers[0].name, "192.168.2.200:80");
            assert!(s.instances.is_empty() && s.tracked.is_empty() && s.ipvs.is_some());
        }
        let s = filter(status(), None, Some("FWM 7")).unwrap();
        assert_eq!(s.virtual_servers[0].name, "fwmark 7");
        let both = filter(status(), Some("VI_2"), Some("fwmark 7")).unwrap();
        assert_eq!((both.instances.len(), both.virtual_servers.len()), (1, 1));
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        assert_eq!(
            filter(status(), Some("VI_9"), None).unwrap_err(),
            "no instance VI_9 (instances: VI_1, VI_2)"
        );
        assert_eq!(
            filter(status(), None, Some("10.0.0.1:80")).unwrap_err(),
            "no virtual server 10.0.0.1:80 (virtual servers: 192.168.2.200:80, fwmark 7)"
        );
        assert_eq!(filter(status(), None, None).unwrap().instances.len(), 2);
    }
}
