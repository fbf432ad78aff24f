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
    pub last_transition: Option<TransitionReport>,
    pub statistics: serde_json::Value,
    /// Its `vrrp_sync_group`, if any.
    #[serde(default)]
    pub sync_group: Option<String>,
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
