//! What a running director reports: its VRRP instances, virtual and real servers, the IPVS
//! side and tracked objects. One shape for [`Director::status`](crate::Director::status) and
//! for the control socket's JSON.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};
use vrrp_core::State;

use crate::track::TrackedReport;
use crate::vrrp::InstanceStatus;

/// Everything `ha status` shows.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub instances: Vec<InstanceReport>,
    /// `vrrp_sync_group`s: their state and members.
    #[serde(default)]
    pub sync_groups: Vec<SyncGroupReport>,
    #[serde(default)]
    pub virtual_servers: Vec<VirtualServerReport>,
    /// The IPVS side; absent when the director runs no virtual servers.
    #[serde(default)]
    pub ipvs: Option<IpvsReport>,
    #[serde(default)]
    pub tracked: Vec<TrackedReport>,
    /// Log lines lost because the log's writer fell behind (it never blocks the director).
    #[serde(default)]
    pub log_lines_dropped: u64,
    /// VRRP events and link changes lost because the router fell behind (the VRRP thread
    /// never waits for it).
    #[serde(default)]
    pub vrrp_outputs_lost: u64,
    /// The health-check engine's counters and histograms; absent without virtual servers.
    #[serde(default)]
    pub checks: Option<CheckReport>,
}

/// What the health-check engine has done since start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CheckReport {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    /// How long checks ran.
    pub duration: HistogramReport,
    /// How late checks started against their schedule.
    pub lateness: HistogramReport,
}

/// A histogram at fixed upper bounds (Prometheus's `le`), counts per bucket (not cumulative)
/// with one more count than bounds, for the values above the last bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HistogramReport {
    pub bounds_seconds: Vec<f64>,
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl From<healthcheck::HistogramSnapshot> for HistogramReport {
    fn from(h: healthcheck::HistogramSnapshot) -> Self {
        HistogramReport {
            bounds_seconds: h.bounds_seconds,
            counts: h.counts,
            count: h.count,
            sum_seconds: h.sum_seconds,
        }
    }
}

/// One `vrrp_sync_group` as `ha status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroupReport {
    pub name: String,
    /// MASTER, BACKUP or FAULT (keepalived's group states), INIT before its members start.
    pub state: String,
    pub members: Vec<String>,
}

/// The groups of the runner's snapshot, in the order their first member appears.
pub fn sync_groups(status: &[InstanceStatus]) -> Vec<SyncGroupReport> {
    let mut groups: Vec<SyncGroupReport> = Vec::new();
    for s in status {
        let Some((name, state)) = &s.sync_group else {
            continue;
        };
        match groups.iter_mut().find(|g| &g.name == name) {
            Some(g) => g.members.push(s.name.clone()),
            None => groups.push(SyncGroupReport {
                name: name.clone(),
                state: state_name(*state).to_string(),
                members: vec![s.name.clone()],
            }),
        }
    }
    groups
}

/// The last state change of an instance.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransitionReport {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// How long ago, in seconds.
    pub seconds_ago: f64,
}

/// One instance as `ha status` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InstanceReport {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: String,
    pub priority: u8,
    pub effective_priority: u8,
    pub master_address: Option<IpAddr>,
    /// As configured.
    pub virtual_addresses: Vec<IpAddr>,
    /// Installed in the kernel now (all of them while MASTER, none otherwise).
    #[serde(default)]
    pub installed_addresses: Vec<IpAddr>,
    /// Virtual addresses put back after something else removed them.
    #[serde(default)]
    pub vip_repairs: u64,
    /// Datagrams the kernel dropped at the full receive queues of the socket the instance
    /// reads, since it was opened (a flood of bad adverts overflows the queue kept for them;
    /// adverts that may be valid have a queue of their own). Shared by the instances on it.
    #[serde(default)]
    pub socket_drops: u64,
    /// Every virtual address with its options (`virtual_ipaddress`, then
    /// `virtual_ipaddress_excluded`).
    #[serde(default)]
    pub vip_details: Vec<VipReport>,
    /// VRRP version (2 or 3); 0 from a director that did not say.
    #[serde(default)]
    pub version: u8,
    #[serde(default)]
    pub advert_interval_ms: u64,
    /// `garp_master_delay`, in seconds.
    #[serde(default)]
    pub garp_master_delay_secs: u64,
    pub last_transition: Option<TransitionReport>,
    pub statistics: serde_json::Value,
    /// Its `vrrp_sync_group`, if any.
    #[serde(default)]
    pub sync_group: Option<String>,
}

/// One virtual address of an instance, with what keepalived's dumps show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipReport {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// The device it goes on (`dev`, else the instance's interface).
    pub device: String,
    /// `global`, `site`, `link`, `host`, `nowhere` or a number.
    pub scope: String,
    pub label: Option<String>,
    /// From `virtual_ipaddress_excluded` (installed, not advertised).
    pub excluded: bool,
    /// Installed in the kernel now.
    pub installed: bool,
}

impl VipReport {
    /// keepalived's text for it (`192.168.2.200 dev eth0 scope global`; `/prefix` when it is
    /// not a host address), as in its JSON dump's `vips` and its data dump.
    pub fn keepalived_text(&self) -> String {
        let full = if self.address.is_ipv4() { 32 } else { 128 };
        let mut s = self.address.to_string();
        if self.prefix_len != full {
            s.push_str(&format!("/{}", self.prefix_len));
        }
        s.push_str(&format!(" dev {} scope {}", self.device, self.scope));
        if let Some(label) = &self.label {
            s.push_str(&format!(" label {label}"));
        }
        s
    }
}

/// The scope's name as `ip address` prints it.
pub fn scope_name(scope: netlink_packet_route::address::AddressScope) -> String {
    use netlink_packet_route::address::AddressScope;
    match scope {
        AddressScope::Universe => "global".into(),
        AddressScope::Site => "site".into(),
        AddressScope::Link => "link".into(),
        AddressScope::Host => "host".into(),
        AddressScope::Nowhere => "nowhere".into(),
        other => u8::from(other).to_string(),
    }
}

/// One real server as `ha status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServerReport {
    pub address: SocketAddr,
    /// `up` or `down`, from its health checks.
    pub health: String,
    /// Drained by `ha drain` (weight 0 until `ha enable`).
    pub drained: bool,
    pub configured_weight: u32,
    /// The weight the director wants in IPVS; absent when it wants the server out.
    pub desired_weight: Option<u32>,
    /// The weight in the kernel's table; absent when the server is not in it.
    pub weight: Option<u32>,
    pub in_ipvs: bool,
    /// Why it is up or down (the last check result that changed it).
    pub last_reason: String,
    pub seconds_since_change: f64,
    pub active_connections: u32,
    pub inactive_connections: u32,
    /// Its traffic in the kernel (summed over the services it is in), as of the last table
    /// read; absent when it is in none or the kernel gave no counters.
    #[serde(default)]
    pub traffic: Option<TrafficReport>,
}

/// IPVS's counters and rates of a destination (the kernel's estimates, 2 s average).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrafficReport {
    pub connections: u64,
    pub in_packets: u64,
    pub out_packets: u64,
    pub in_bytes: u64,
    pub out_bytes: u64,
    pub connections_per_second: u64,
    pub in_packets_per_second: u64,
    pub out_packets_per_second: u64,
    pub in_bytes_per_second: u64,
    pub out_bytes_per_second: u64,
}

impl TrafficReport {
    /// The sum of the kernel's counters for one real server over its services.
    pub fn sum<'a>(stats: impl IntoIterator<Item = &'a ipvs_sys::Stats>) -> Option<Self> {
        let mut total: Option<TrafficReport> = None;
        for s in stats {
            let t = total.get_or_insert_with(TrafficReport::default);
            t.connections += s.conns;
            t.in_packets += s.in_pkts;
            t.out_packets += s.out_pkts;
            t.in_bytes += s.in_bytes;
            t.out_bytes += s.out_bytes;
            t.connections_per_second += s.cps;
            t.in_packets_per_second += s.in_pps;
            t.out_packets_per_second += s.out_pps;
            t.in_bytes_per_second += s.in_bps;
            t.out_bytes_per_second += s.out_bps;
        }
        total
    }
}

/// One virtual server as `ha status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServerReport {
    pub name: String,
    /// The IPVS services (`TCP 192.168.2.200:80`, `FWM 7`); a group has several.
    pub services: Vec<String>,
    pub scheduler: String,
    pub quorum: u32,
    /// Sum of the weights of the live real servers.
    pub live_weight: u32,
    pub quorum_up: bool,
    pub sorry_server: Option<SocketAddr>,
    pub sorry_server_active: bool,
    /// `ha_suspend` with its VRRP instance not MASTER: checks paused.
    pub suspended: bool,
    /// ha extension `ha_announce`: whether its addresses are on the announce interface
    /// (`None` when it is not announced at all).
    #[serde(default)]
    pub announced: Option<bool>,
    pub real_servers: Vec<RealServerReport>,
}

/// The director's IPVS side.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpvsReport {
    /// Whether IPVS could be reached (the ip_vs module is loaded).
    pub available: bool,
    pub error: Option<String>,
    /// IPVS operations applied since start (0 after a restart that adopted an unchanged table).
    pub operations: u64,
    /// Operations the kernel refused.
    pub refused: u64,
    /// Reconciles that undid changes made behind the director's back.
    pub repairs: u64,
    /// Reads of the whole table.
    pub reads: u64,
    /// The last operations applied, as ipvsadm commands.
    pub last_operations: Vec<String>,
    /// The sync daemon's role (`master`, `backup`), if one runs.
    pub sync_daemon: Option<String>,
}

/// The keys of [`InstanceReport::statistics`] that count adverts dropped, one per reason
/// (`ha status`'s DROPPED column sums them; the metrics label each with its reason).
pub const DROPPED_ADVERT_STATISTICS: &[&str] = &[
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
];

/// keepalived's state names.
pub fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
        State::Stopped => "STOP",
    }
}

/// Turns the runner's snapshot into the report, with times relative to `now` (nanoseconds
/// on the runner's clock).
pub fn report(status: &[InstanceStatus], now_ns: u64) -> Vec<InstanceReport> {
    status
        .iter()
        .map(|s| InstanceReport {
            name: s.name.clone(),
            interface: s.interface.clone(),
            vrid: s.vrid,
            state: state_name(s.state).to_string(),
            priority: s.configured_priority,
            effective_priority: s.priority,
            master_address: s.master_address,
            virtual_addresses: s.addresses.clone(),
            installed_addresses: s.installed_addresses.clone(),
            vip_repairs: s.vip_repairs,
            socket_drops: s.socket_drops,
            vip_details: s
                .address_details
                .iter()
                .enumerate()
                .map(|(i, a)| VipReport {
                    address: a.address,
                    prefix_len: a.prefix_len,
                    device: a.device.clone().unwrap_or_else(|| s.interface.clone()),
                    scope: scope_name(a.scope),
                    label: a.label.clone(),
                    excluded: i >= s.advertised_addresses,
                    installed: s.installed_addresses.contains(&a.address),
                })
                .collect(),
            version: s.version,
            advert_interval_ms: s.advert_interval.as_millis() as u64,
            garp_master_delay_secs: s.garp_master_delay.as_secs(),
            last_transition: s.last_transition.map(|t| TransitionReport {
                from: state_name(t.from).to_string(),
                to: state_name(t.to).to_string(),
                reason: t.reason.to_string(),
                seconds_ago: now_ns.saturating_sub(t.at.as_nanos()) as f64 / 1e9,
            }),
            statistics: serde_json::to_value(&s.statistics).unwrap_or_default(),
            sync_group: s.sync_group.as_ref().map(|(name, _)| name.clone()),
        })
        .collect()
}

#[cfg(test)]
mod dropped_tests {
    use super::*;

    /// `ha status`'s DROPPED column and the VRRP thread's flood detection
    /// (`Statistics::adverts_dropped`) count the same reasons.
    #[test]
    fn adverts_dropped_sums_the_dropped_advert_statistics() {
        let mut stats = vrrp_core::Statistics::default();
        let mut json = serde_json::to_value(&stats).unwrap();
        let mut expected = 0;
        for (k, key) in DROPPED_ADVERT_STATISTICS.iter().enumerate() {
            json[*key] = serde_json::json!(1u64 << k);
            expected += 1u64 << k;
        }
        stats.adv_interval_errors = json["adv_interval_errors"].as_u64().unwrap();
        stats.ip_ttl_errors = json["ip_ttl_errors"].as_u64().unwrap();
        stats.rcvd_invalid_type_packets = json["rcvd_invalid_type_packets"].as_u64().unwrap();
        stats.address_list_errors = json["address_list_errors"].as_u64().unwrap();
        stats.packet_length_errors = json["packet_length_errors"].as_u64().unwrap();
        stats.checksum_errors = json["checksum_errors"].as_u64().unwrap();
        stats.version_errors = json["version_errors"].as_u64().unwrap();
        stats.vrid_errors = json["vrid_errors"].as_u64().unwrap();
        stats.auth_failures = json["auth_failures"].as_u64().unwrap();
        stats.invalid_auth_type = json["invalid_auth_type"].as_u64().unwrap();
        stats.auth_type_mismatch = json["auth_type_mismatch"].as_u64().unwrap();
        stats.ip_ah_auth = json["ip_ah_auth"].as_u64().unwrap();
        stats.unknown_peer = json["unknown_peer"].as_u64().unwrap();
        // Every key of the list was a field set above: the serialised form agrees.
        assert_eq!(serde_json::to_value(&stats).unwrap(), json);
        assert_eq!(stats.adverts_dropped(), expected);
    }
}
