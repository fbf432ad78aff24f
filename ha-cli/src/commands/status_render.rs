//! `ha status` as tables.

use director::status::{InstanceReport, IpvsReport, Status, VirtualServerReport};

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
        let dropped: u64 = [
            "adv_interval_errors",
            "ip_ttl_errors",
            "rcvd_invalid_type_packets",
            "address_list_errors",
            "packet_length_errors",
            "checksum_errors",
            "version_errors",
            "vrid_errors",
            "auth_failures",
            "invalid_auth_type",
            "auth_type_mismatch",
            "ip_ah_auth",
            "unknown_peer",
        ]
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
