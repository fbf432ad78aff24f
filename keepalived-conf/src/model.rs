//! The typed configuration: what the director runs from.
//!
//! Every field holds keepalived's default when the keyword is absent (the default is named
//! in the field's doc). `Option` means "not set, and keepalived has no single default" (the
//! instance inherits a global setting, or the feature is off). Keywords that keepalived
//! knows but this model does not type yet are kept verbatim in `other`, in order, so that
//! nothing in a working configuration is lost or silently dropped.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// A time in keepalived's `<TIMER>` syntax: seconds with up to six decimals, kept in
/// microseconds so that printing and parsing round-trip exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timer(pub u64);

impl Timer {
    pub const fn secs(s: u64) -> Timer {
        Timer(s * 1_000_000)
    }
    pub fn as_micros(self) -> u64 {
        self.0
    }
    pub fn as_duration(self) -> std::time::Duration {
        std::time::Duration::from_micros(self.0)
    }
    /// Parses `3`, `2.5`, `0.000001`; at most six decimals, no sign.
    pub fn parse(s: &str) -> Option<Timer> {
        let (int, frac) = s.split_once('.').unwrap_or((s, ""));
        if int.is_empty() && frac.is_empty()
            || frac.len() > 6
            || !int.bytes().all(|b| b.is_ascii_digit())
            || !frac.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let int: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
        let mut micros: u64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            micros += u64::from(b - b'0') * 10u64.pow(5 - i as u32);
        }
        int.checked_mul(1_000_000)?.checked_add(micros).map(Timer)
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, us) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if us == 0 {
            write!(f, "{s}")
        } else {
            let frac = format!("{us:06}");
            write!(f, "{s}.{}", frac.trim_end_matches('0'))
        }
    }
}

/// A statement kept as written: keyword, arguments, optional block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawStatement {
    pub keyword: String,
    pub args: Vec<String>,
    pub block: Option<Vec<RawStatement>>,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Config {
    pub global_defs: GlobalDefs,
    /// `static_ipaddress { ... }`: addresses keepalived adds at start whatever the VRRP state.
    pub static_ipaddress: Vec<IpAddress>,
    /// `static_routes { ... }`: each route as its words (ip-route(8) syntax).
    pub static_routes: Vec<Vec<String>>,
    /// `static_rules { ... }`: each rule as its words (ip-rule(8) syntax).
    pub static_rules: Vec<Vec<String>>,
    pub vrrp_scripts: Vec<VrrpScript>,
    pub track_files: Vec<TrackFile>,
    pub vrrp_track_processes: Vec<TrackProcess>,
    pub vrrp_sync_groups: Vec<SyncGroup>,
    pub vrrp_instances: Vec<VrrpInstance>,
    pub virtual_server_groups: Vec<VirtualServerGroup>,
    pub virtual_servers: Vec<VirtualServer>,
    /// `SSL { ... }`: the TLS client context of every `SSL_GET` checker.
    #[serde(default)]
    pub ssl: Option<SslContext>,
    /// Other top-level blocks keepalived knows (`linkbeat_interfaces`, `bfd_instance`,
    /// `garp_group`, `track_group`, ...), kept verbatim.
    pub other: Vec<RawStatement>,
}

/// The top-level `SSL { password P; ca FILE; certificate FILE; key FILE }` block: what the
/// `SSL_GET` checkers present and load. keepalived loads the CA file but does not make the
/// handshake depend on it (OpenSSL's `SSL_VERIFY_NONE`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SslContext {
    /// Passphrase of an encrypted `key`.
    pub password: Option<String>,
    /// PEM file of CA certificates.
    pub ca: Option<String>,
    /// PEM file of the client certificate (chain).
    pub certificate: Option<String>,
    /// PEM file of the client's private key.
    pub key: Option<String>,
}

/// A script keyword as keepalived reads it: `KEYWORD "COMMAND ARGS" [USER [GROUP]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptLine {
    /// The command line (one word, quoted in the file if it has spaces).
    pub command: String,
    /// The user (and group) it runs as; default `script_user`.
    pub user: Option<ScriptUser>,
}

/// `script_user USER [GROUP]` and the per-script `user USER [GROUP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScriptUser {
    pub user: String,
    pub group: Option<String>,
}

/// `notify_fifo FILE [USER [GROUP]]`: the FIFO keepalived writes state lines to, and who owns
/// it when it has to be created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyFifo {
    pub path: String,
    pub owner: Option<ScriptUser>,
}

/// `smtp_server HOST [PORT]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpServer {
    pub host: String,
    /// Default 25.
    pub port: u16,
}

/// `lvs_sync_daemon INTERFACE [inst] VRRP_INSTANCE [id ID] [maxlen LEN] [port PORT] [ttl TTL] [group IP]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LvsSyncDaemon {
    pub interface: String,
    pub vrrp_instance: String,
    /// `id` 0-255; default: the VRID of `vrrp_instance` (as in keepalived).
    pub sync_id: Option<u8>,
    pub maxlen: Option<u16>,
    pub port: Option<u16>,
    pub ttl: Option<u8>,
    pub group: Option<IpAddr>,
}

/// `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`; unset means the kernel's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LvsTimeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

/// `global_defs { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlobalDefs {
    /// Default: the host name (resolved at run time, so `None` here).
    pub router_id: Option<String>,
    pub notification_email: Vec<String>,
    /// Default `keepalived@<host name>` (resolved at run time).
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<SmtpServer>,
    pub smtp_helo_name: Option<String>,
    /// Default 30 s.
    pub smtp_connect_timeout: u32,
    /// Global `smtp_alert` default for instances and checkers (`None`: on when an SMTP server is set).
    pub smtp_alert: Option<bool>,
    /// 2 or 3; default 2.
    pub vrrp_version: u8,
    /// RFC-strict VRRP: no auth, no unicast, ... Default off.
    pub vrrp_strict: bool,
    /// Default 224.0.0.18.
    pub vrrp_mcast_group4: Ipv4Addr,
    /// Default ff02::12.
    pub vrrp_mcast_group6: Ipv6Addr,
    /// Gratuitous ARP burst after becoming master: delay in s, default 5.
    pub vrrp_garp_master_delay: u32,
    /// Number of gratuitous ARPs per burst, default 5.
    pub vrrp_garp_master_repeat: u32,
    /// Periodic refresh interval while master in s, default 0 (off).
    pub vrrp_garp_master_refresh: u32,
    /// Gratuitous ARPs per refresh, default 1.
    pub vrrp_garp_master_refresh_repeat: u32,
    /// Delay after a lower-priority advert is received (default: `vrrp_garp_master_delay`).
    pub vrrp_garp_lower_prio_delay: Option<u32>,
    /// Repeat after a lower-priority advert (default: `vrrp_garp_master_repeat`).
    pub vrrp_garp_lower_prio_repeat: Option<u32>,
    /// Delay between gratuitous ARPs on one interface, default 0.
    pub vrrp_garp_interval: Timer,
    /// Delay between unsolicited neighbour adverts on one interface, default 0.
    pub vrrp_gna_interval: Timer,
    /// One gratuitous ARP, no repeat and no refresh (sets the values above).
    pub vrrp_min_garp: bool,
    pub vrrp_lower_prio_no_advert: bool,
    pub vrrp_higher_prio_send_advert: bool,
    /// Check that the source of unicast adverts is a configured peer. Default off.
    pub vrrp_check_unicast_src: bool,
    pub vrrp_skip_check_adv_addr: bool,
    /// Default: `keepalived_script` if that user exists, else root.
    pub script_user: Option<ScriptUser>,
    pub enable_script_security: bool,
    pub lvs_sync_daemon: Option<LvsSyncDaemon>,
    pub lvs_timeouts: LvsTimeouts,
    /// Flush the whole IPVS table at start. Default off.
    pub lvs_flush: bool,
    /// `lvs_flush_on_stop [VS]`: `Some(false)` for all, `Some(true)` for only our virtual servers.
    pub lvs_flush_on_stop: Option<bool>,
    /// Default 5 s.
    pub vrrp_startup_delay: Option<Timer>,
    pub dynamic_interfaces: bool,
    /// `vrrp_priority -20..19`: nice value of the VRRP thread.
    pub vrrp_priority: Option<i32>,
    /// `vrrp_rt_priority 1..99`: run the VRRP thread SCHED_RR at this realtime priority.
    pub vrrp_rt_priority: Option<u32>,
    /// `checker_priority -20..19`: nice value of the health-check threads.
    pub checker_priority: Option<i32>,
    /// `notify_fifo FILE [USER [GROUP]]`: a line per state change of any instance.
    pub notify_fifo: Option<NotifyFifo>,
    /// `vrrp_notify_fifo FILE [USER [GROUP]]`: the same, for VRRP only.
    pub vrrp_notify_fifo: Option<NotifyFifo>,
    /// `lvs_notify_fifo FILE [USER [GROUP]]`: the same, for the checkers only.
    #[serde(default)]
    pub lvs_notify_fifo: Option<NotifyFifo>,
    /// `notify_fifo_script`: started with the FIFO's path as its last argument, to read it.
    #[serde(default)]
    pub notify_fifo_script: Option<ScriptLine>,
    #[serde(default)]
    pub vrrp_notify_fifo_script: Option<ScriptLine>,
    #[serde(default)]
    pub lvs_notify_fifo_script: Option<ScriptLine>,
    /// `vrrp_notify_priority_changes [BOOL]`: the default of the instances'
    /// `notify_priority_changes`. Default off.
    #[serde(default)]
    pub vrrp_notify_priority_changes: Option<bool>,
    /// `smtp_alert_vrrp [BOOL]`: `smtp_alert` for VRRP instances and sync groups only.
    #[serde(default)]
    pub smtp_alert_vrrp: Option<bool>,
    /// `smtp_alert_checker [BOOL]`: `smtp_alert` for the checkers only.
    #[serde(default)]
    pub smtp_alert_checker: Option<bool>,
    /// `no_email_faults`: no mail when an instance or sync group enters FAULT.
    #[serde(default)]
    pub no_email_faults: bool,
    /// `startup_script`: run (and waited for, at most its timeout) before anything starts.
    #[serde(default)]
    pub startup_script: Option<ScriptLine>,
    /// `startup_script_timeout` 1-1000 s, default 10.
    #[serde(default)]
    pub startup_script_timeout: Option<u32>,
    /// `shutdown_script`: run (and waited for) after everything has stopped.
    #[serde(default)]
    pub shutdown_script: Option<ScriptLine>,
    /// `shutdown_script_timeout` 1-1000 s, default 10.
    #[serde(default)]
    pub shutdown_script_timeout: Option<u32>,
    /// ha extension `ha_announce_interface NAME`: the dummy interface that holds the
    /// addresses of the `ha_announce` virtual servers (default
    /// [`DEFAULT_ANNOUNCE_INTERFACE`]).
    #[serde(default)]
    pub ha_announce_interface: Option<String>,
    /// Other global keywords keepalived knows (process names, SNMP, D-Bus, ...).
    pub other: Vec<RawStatement>,
}

/// The interface of `ha_announce` addresses when `ha_announce_interface` is not given.
pub const DEFAULT_ANNOUNCE_INTERFACE: &str = "ha-announce";

impl GlobalDefs {
    /// The dummy interface that holds announced addresses.
    pub fn announce_interface(&self) -> &str {
        self.ha_announce_interface
            .as_deref()
            .unwrap_or(DEFAULT_ANNOUNCE_INTERFACE)
    }
}

impl Default for GlobalDefs {
    fn default() -> Self {
        GlobalDefs {
            router_id: None,
            notification_email: Vec::new(),
            notification_email_from: None,
            smtp_server: None,
            smtp_helo_name: None,
            smtp_connect_timeout: 30,
            smtp_alert: None,
            vrrp_version: 2,
            vrrp_strict: false,
            vrrp_mcast_group4: Ipv4Addr::new(224, 0, 0, 18),
            vrrp_mcast_group6: Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12),
            vrrp_garp_master_delay: 5,
            vrrp_garp_master_repeat: 5,
            vrrp_garp_master_refresh: 0,
            vrrp_garp_master_refresh_repeat: 1,
            vrrp_garp_lower_prio_delay: None,
            vrrp_garp_lower_prio_repeat: None,
            vrrp_garp_interval: Timer(0),
            vrrp_gna_interval: Timer(0),
            vrrp_min_garp: false,
            vrrp_lower_prio_no_advert: false,
            vrrp_higher_prio_send_advert: false,
            vrrp_check_unicast_src: false,
            vrrp_skip_check_adv_addr: false,
            script_user: None,
            enable_script_security: false,
            lvs_sync_daemon: None,
            lvs_timeouts: LvsTimeouts::default(),
            lvs_flush: false,
            lvs_flush_on_stop: None,
            vrrp_startup_delay: None,
            dynamic_interfaces: false,
            vrrp_priority: None,
            vrrp_rt_priority: None,
            checker_priority: None,
            notify_fifo: None,
            vrrp_notify_fifo: None,
            lvs_notify_fifo: None,
            notify_fifo_script: None,
            vrrp_notify_fifo_script: None,
            lvs_notify_fifo_script: None,
            vrrp_notify_priority_changes: None,
            smtp_alert_vrrp: None,
            smtp_alert_checker: None,
            no_email_faults: false,
            startup_script: None,
            startup_script_timeout: None,
            shutdown_script: None,
            shutdown_script_timeout: None,
            ha_announce_interface: None,
            other: Vec::new(),
        }
    }
}

/// An address line of `virtual_ipaddress`, `virtual_ipaddress_excluded` or
/// `static_ipaddress`: `ADDR[/PREFIX] [brd IP] [dev IF] [scope SCOPE] [label LABEL] ...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpAddress {
    pub addr: IpAddr,
    /// Default /32 (IPv4) or /128 (IPv6).
    pub prefix: Option<u8>,
    pub brd: Option<String>,
    /// Default: the instance's interface.
    pub dev: Option<String>,
    /// Default `global`.
    pub scope: Option<String>,
    pub label: Option<String>,
    pub peer: Option<String>,
    /// Flags and options keepalived also accepts (`no_track`, `home`, `nodad`,
    /// `noprefixroute`, `autojoin`, `preferred_lft N`, `track_group G`), as written.
    pub options: Vec<String>,
}

impl IpAddress {
    /// An address with keepalived's defaults (host prefix, the instance's interface).
    pub fn new(addr: IpAddr) -> Self {
        IpAddress {
            addr,
            prefix: None,
            brd: None,
            dev: None,
            scope: None,
            label: None,
            peer: None,
            options: Vec::new(),
        }
    }
}

/// `MASTER` or `BACKUP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum VrrpState {
    Master,
    Backup,
}

/// `auth_type PASS|AH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum AuthType {
    Pass,
    Ah,
}

/// `authentication { auth_type ...; auth_pass ... }` (VRRPv2 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authentication {
    pub auth_type: AuthType,
    /// At most 8 characters are used (longer is truncated, with a warning).
    pub auth_pass: String,
}

/// `unicast_peer { ADDR [min_ttl N] [max_ttl N] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnicastPeer {
    pub addr: IpAddr,
    pub min_ttl: Option<u8>,
    pub max_ttl: Option<u8>,
}

/// An entry of `track_interface`, `track_script`, `track_file`, `track_process`,
/// `track_bfd`: `NAME [weight W [reverse]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Track {
    pub name: String,
    /// Overrides the tracked object's own weight; -254..=254.
    pub weight: Option<i32>,
    pub reverse: bool,
}

/// The `track_*` lists of an instance or sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Tracking {
    pub interfaces: Vec<Track>,
    pub scripts: Vec<Track>,
    pub files: Vec<Track>,
    pub processes: Vec<Track>,
    pub bfds: Vec<Track>,
}

/// `notify*` scripts of an instance or sync group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notify {
    pub notify: Option<String>,
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    pub stop: Option<String>,
    pub deleted: Option<String>,
    pub master_rx_lower_pri: Option<String>,
    pub priority_changes: Option<bool>,
    /// `notify_deleted` was given (with or without a script): an instance removed by a
    /// reload reports DELETED instead of FAULT.
    #[serde(default)]
    pub notify_deleted: bool,
    /// The `USER [GROUP]` written after a script (`notify_master "/bin/m" USER GROUP`), by
    /// keyword; scripts not listed run as `script_user`.
    #[serde(default)]
    pub users: Vec<(String, ScriptUser)>,
}

impl Notify {
    /// The user written after the script of `keyword`, if any.
    pub fn user(&self, keyword: &str) -> Option<&ScriptUser> {
        self.users
            .iter()
            .find(|(k, _)| k == keyword)
            .map(|(_, u)| u)
    }
}

/// `use_vmac [NAME]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UseVmac {
    /// Default `vrrp.<VRID>`.
    pub name: Option<String>,
}

/// `vrrp_instance NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VrrpInstance {
    pub name: String,
    /// Initial state; keepalived's default is BACKUP (MASTER if priority is 255).
    pub state: Option<VrrpState>,
    pub interface: Option<String>,
    /// Required, 1-255.
    pub virtual_router_id: Option<u8>,
    /// 1-255, default 100; 255 means this node owns the addresses.
    pub priority: u8,
    /// Default 1 s.
    pub advert_int: Timer,
    /// `version 2|3`; default: `global_defs vrrp_version`.
    pub version: Option<u8>,
    pub authentication: Option<Authentication>,
    pub virtual_ipaddress: Vec<IpAddress>,
    pub virtual_ipaddress_excluded: Vec<IpAddress>,
    /// `virtual_routes { ... }`: each route as its words.
    pub virtual_routes: Vec<Vec<String>>,
    pub virtual_rules: Vec<Vec<String>>,
    pub nopreempt: bool,
    /// Default 0 s; 0-1000 s.
    pub preempt_delay: Option<Timer>,
    /// Source of adverts (`unicast_src_ip` or its alias `mcast_src_ip`).
    pub unicast_src_ip: Option<IpAddr>,
    pub unicast_peers: Vec<UnicastPeer>,
    pub unicast_ttl: Option<u8>,
    pub unicast_fault_no_peer: bool,
    pub mcast_dst_ip: Option<IpAddr>,
    pub use_vmac: Option<UseVmac>,
    pub vmac_xmit_base: bool,
    pub use_ipvlan: Option<Vec<String>>,
    pub native_ipv6: bool,
    pub dont_track_primary: bool,
    pub track_src_ip: bool,
    pub tracking: Tracking,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    /// `accept` / `no_accept`; default: accept unless `vrrp_strict`.
    pub accept: Option<bool>,
    pub garp_master_delay: Option<u32>,
    pub garp_master_repeat: Option<u32>,
    pub garp_master_refresh: Option<u32>,
    pub garp_master_refresh_repeat: Option<u32>,
    pub garp_lower_prio_delay: Option<u32>,
    pub garp_lower_prio_repeat: Option<u32>,
    pub lower_prio_no_advert: Option<bool>,
    pub higher_prio_send_advert: Option<bool>,
    pub strict_mode: Option<bool>,
    /// `old_unicast_checksum [never]`: the VRRPv3 unicast checksum of keepalived <= 1.3.6.
    /// `None`: the current checksum, accepting the old one from peers (auto-detection).
    pub old_unicast_checksum: Option<UnicastChecksum>,
    /// `promote_secondaries`: set the kernel's promote_secondaries on the interface.
    pub promote_secondaries: bool,
    /// `down_timer_adverts N` (1-100): adverts missed before a backup takes over; default 3.
    pub down_timer_adverts: Option<u32>,
    /// `kernel_rx_buf_size BYTES` of the receive socket.
    pub kernel_rx_buf_size: Option<u32>,
    /// `vrf NAME` for the VMAC/ipvlan interface.
    pub vrf: Option<String>,
    /// `use_vmac_addr`: use the VMAC as the source MAC of the interface's own traffic.
    pub use_vmac_addr: bool,
    pub check_unicast_src: bool,
    pub skip_check_adv_addr: Option<bool>,
    pub other: Vec<RawStatement>,
}

impl VrrpInstance {
    /// An instance with keepalived's defaults.
    pub fn new(name: impl Into<String>) -> Self {
        VrrpInstance {
            name: name.into(),
            state: None,
            interface: None,
            virtual_router_id: None,
            priority: 100,
            advert_int: Timer::secs(1),
            version: None,
            authentication: None,
            virtual_ipaddress: Vec::new(),
            virtual_ipaddress_excluded: Vec::new(),
            virtual_routes: Vec::new(),
            virtual_rules: Vec::new(),
            nopreempt: false,
            preempt_delay: None,
            unicast_src_ip: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            unicast_fault_no_peer: false,
            mcast_dst_ip: None,
            use_vmac: None,
            vmac_xmit_base: false,
            use_ipvlan: None,
            native_ipv6: false,
            dont_track_primary: false,
            track_src_ip: false,
            tracking: Tracking::default(),
            notify: Notify::default(),
            smtp_alert: None,
            accept: None,
            garp_master_delay: None,
            garp_master_repeat: None,
            garp_master_refresh: None,
            garp_master_refresh_repeat: None,
            garp_lower_prio_delay: None,
            garp_lower_prio_repeat: None,
            lower_prio_no_advert: None,
            higher_prio_send_advert: None,
            strict_mode: None,
            old_unicast_checksum: None,
            promote_secondaries: false,
            down_timer_adverts: None,
            kernel_rx_buf_size: None,
            vrf: None,
            use_vmac_addr: false,
            check_unicast_src: false,
            skip_check_adv_addr: None,
            other: Vec::new(),
        }
    }

    /// The VRRP version in effect, given the global default.
    pub fn effective_version(&self, global: &GlobalDefs) -> u8 {
        self.version.unwrap_or(global.vrrp_version)
    }

    /// The initial state in effect: keepalived starts BACKUP unless told MASTER or owner.
    pub fn effective_state(&self) -> VrrpState {
        match self.state {
            Some(s) => s,
            None if self.priority == 255 => VrrpState::Master,
            None => VrrpState::Backup,
        }
    }
}

/// `old_unicast_checksum [never]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnicastChecksum {
    /// Send the old checksum.
    Old,
    /// Send the new checksum and never accept the old one.
    Never,
}

/// `vrrp_script NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrrpScript {
    pub name: String,
    /// The command line, as written (quoted in the file if it has spaces).
    pub script: String,
    /// Default 1 s.
    pub interval: Timer,
    /// Default: `interval`.
    pub timeout: Option<Timer>,
    /// -254..=254, default 0 (failure puts the instance in FAULT).
    pub weight: i32,
    pub weight_reverse: bool,
    /// Default 1.
    pub rise: u32,
    /// Default 1.
    pub fall: u32,
    pub user: Option<ScriptUser>,
    pub init_fail: bool,
    pub other: Vec<RawStatement>,
}

/// `track_file NAME { file PATH; weight W [reverse]; init_file [VALUE] [overwrite] }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackFile {
    pub name: String,
    pub file: String,
    /// -254..=254, default 1.
    pub weight: i32,
    pub weight_reverse: bool,
    pub init_file: Option<Vec<String>>,
    pub other: Vec<RawStatement>,
}

/// `vrrp_track_process NAME { ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackProcess {
    pub name: String,
    /// `process NAME [ARGS...]`.
    pub process: Vec<String>,
    pub full_command: bool,
    /// `param_match [initial|partial]`; keepalived's default is exact when `process` has
    /// arguments, else none.
    #[serde(default)]
    pub param_match: Option<ParamMatch>,
    /// Default 0.
    pub weight: i32,
    pub weight_reverse: bool,
    /// Minimum number of processes, default 1.
    pub quorum: u32,
    pub quorum_max: Option<u32>,
    pub delay: Option<Timer>,
    pub terminate_delay: Option<Timer>,
    pub fork_delay: Option<Timer>,
    pub other: Vec<RawStatement>,
}

/// How a `vrrp_track_process` compares a process's arguments with those of `process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamMatch {
    /// `param_match`: the same arguments.
    Exact,
    /// `param_match partial`: the configured arguments are the first arguments.
    Partial,
    /// `param_match initial`: the first arguments, the last configured one a prefix of its
    /// counterpart.
    Initial,
}

/// `vrrp_sync_group NAME { group { ... } ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncGroup {
    pub name: String,
    pub group: Vec<String>,
    pub tracking: Tracking,
    pub notify: Notify,
    pub smtp_alert: Option<bool>,
    pub global_tracking: bool,
    pub sync_group_tracking_weight: bool,
    pub other: Vec<RawStatement>,
}

/// What a virtual server is keyed on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VirtualServerKey {
    /// `virtual_server IP PORT`.
    Addr { ip: IpAddr, port: u16 },
    /// `virtual_server fwmark MARK`.
    Fwmark { mark: u32 },
    /// `virtual_server group NAME`.
    Group { name: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpFamily {
    Inet,
    Inet6,
}

/// `protocol TCP|UDP|SCTP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// Tunnel encapsulation of `lb_kind TUN` (`type ipip|gue|gre`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelType {
    Ipip,
    Gue,
    Gre,
}

/// `lb_kind` / `lvs_method`: how IPVS forwards to real servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LbKind {
    Nat,
    Dr,
    Tun {
        tunnel: TunnelType,
        /// GUE port.
        port: Option<u16>,
        /// `csum|remcsum|nocsum`; `None`: no checksum option.
        csum: Option<TunnelCsum>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelCsum {
    Nocsum,
    Csum,
    Remcsum,
}

/// `virtual_server_group NAME { IP PORT | IP-RANGE PORT | fwmark N ... }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualServerGroup {
    pub name: String,
    /// Each member as its words (`10.0.0.1 80`, `10.0.0.1-10 80`, `fwmark 1`).
    pub members: Vec<Vec<String>>,
}

/// `virtual_server ... { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VirtualServer {
    pub key: VirtualServerKey,
    /// Checker interval, default 60 s.
    pub delay_loop: Timer,
    /// `lb_algo` / `lvs_sched`; keepalived's default is `wlc`.
    pub lvs_sched: String,
    /// `lb_kind` / `lvs_method`; default NAT.
    pub lvs_method: LbKind,
    /// Scheduler flags (`flag-1`..`flag-3`, `sh-port`, `sh-fallback`, `mh-port`, ...).
    pub sched_flags: Vec<String>,
    /// `ip_family inet|inet6`, for fwmark and group services whose real servers do not
    /// tell the family; keepalived's default is IPv4.
    pub ip_family: Option<IpFamily>,
    /// Default TCP.
    pub protocol: Protocol,
    /// `persistence_timeout` seconds; keepalived's value when only
    /// `persistence_granularity` is given is 6 min.
    pub persistence_timeout: Option<u32>,
    pub persistence_granularity: Option<String>,
    pub persistence_engine: Option<String>,
    pub ha_suspend: bool,
    pub ops: bool,
    /// Sum of real-server weights needed for the service to be up; default 1.
    pub quorum: u32,
    /// Default 0.
    pub hysteresis: u32,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    /// Start real servers as failed until the first successful check.
    pub alpha: bool,
    /// Run the down/quorum_down scripts at shutdown.
    pub omega: bool,
    pub inhibit_on_failure: bool,
    pub sorry_server: Option<(IpAddr, Option<u16>)>,
    pub sorry_server_inhibit: bool,
    pub sorry_server_lvs_method: Option<LbKind>,
    pub virtualhost: Option<String>,
    pub smtp_alert: Option<bool>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Timer>,
    pub warmup: Option<Timer>,
    pub connect_timeout: Option<Timer>,
    /// ha extension `ha_announce`: hold the service addresses as /32 (/128) on the announce
    /// interface while quorum holds, for a routing daemon to announce (scale-out behind ECMP).
    #[serde(default)]
    pub ha_announce: bool,
    /// ha extension `ha_announce_notify CMD`: run on each announce / withdraw with
    /// `ANNOUNCED|WITHDRAWN VIRTUAL_SERVER REASON` appended.
    #[serde(default)]
    pub ha_announce_notify: Option<String>,
    pub real_servers: Vec<RealServer>,
    pub other: Vec<RawStatement>,
}

impl VirtualServer {
    pub fn new(key: VirtualServerKey) -> Self {
        VirtualServer {
            key,
            delay_loop: Timer::secs(60),
            lvs_sched: "wlc".into(),
            lvs_method: LbKind::Nat,
            sched_flags: Vec::new(),
            ip_family: None,
            protocol: Protocol::Tcp,
            persistence_timeout: None,
            persistence_granularity: None,
            persistence_engine: None,
            ha_suspend: false,
            ops: false,
            quorum: 1,
            hysteresis: 0,
            quorum_up: None,
            quorum_down: None,
            alpha: false,
            omega: false,
            inhibit_on_failure: false,
            sorry_server: None,
            sorry_server_inhibit: false,
            sorry_server_lvs_method: None,
            virtualhost: None,
            smtp_alert: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            connect_timeout: None,
            ha_announce: false,
            ha_announce_notify: None,
            real_servers: Vec::new(),
            other: Vec::new(),
        }
    }
}

/// `real_server IP [PORT] { ... }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RealServer {
    pub ip: IpAddr,
    /// Default: the virtual server's port.
    pub port: Option<u16>,
    /// 0..=2147483647, default 1.
    pub weight: i32,
    /// Per-server `lvs_method` override.
    pub lvs_method: Option<LbKind>,
    pub inhibit_on_failure: Option<bool>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    pub uthreshold: Option<u32>,
    pub lthreshold: Option<u32>,
    pub delay_loop: Option<Timer>,
    pub retry: Option<u32>,
    pub delay_before_retry: Option<Timer>,
    pub warmup: Option<Timer>,
    pub connect_timeout: Option<Timer>,
    pub smtp_alert: Option<bool>,
    pub virtualhost: Option<String>,
    pub alpha: Option<bool>,
    pub checkers: Vec<Checker>,
    pub other: Vec<RawStatement>,
}

impl RealServer {
    pub fn new(ip: IpAddr, port: Option<u16>) -> Self {
        RealServer {
            ip,
            port,
            weight: 1,
            lvs_method: None,
            inhibit_on_failure: None,
            notify_up: None,
            notify_down: None,
            uthreshold: None,
            lthreshold: None,
            delay_loop: None,
            retry: None,
            delay_before_retry: None,
            warmup: None,
            connect_timeout: None,
            smtp_alert: None,
            virtualhost: None,
            alpha: None,
            checkers: Vec::new(),
            other: Vec::new(),
        }
    }
}

/// Settings every checker block accepts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CheckerCommon {
    /// Default: the real server's address.
    pub connect_ip: Option<IpAddr>,
    /// Default: the real server's port.
    pub connect_port: Option<u16>,
    pub bindto: Option<IpAddr>,
    pub bind_port: Option<u16>,
    pub bind_if: Option<String>,
    /// Default 5 s.
    pub connect_timeout: Option<Timer>,
    pub fwmark: Option<u32>,
    /// `retry` (alias `nb_get_retry`); default: the real server's, else the virtual
    /// server's, else keepalived's per checker (1; DNS_CHECK 3; MISC_CHECK 0).
    pub retry: Option<u32>,
    /// Default 1 s.
    pub delay_before_retry: Option<Timer>,
    pub warmup: Option<Timer>,
    /// Default: the real server's / virtual server's `delay_loop`.
    pub delay_loop: Option<Timer>,
    pub alpha: Option<bool>,
    pub log_all_failures: Option<bool>,
    pub other: Vec<RawStatement>,
}

/// `url { path P; digest D; status_code N; ... }` of HTTP_GET / SSL_GET.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HttpUrl {
    pub path: String,
    /// MD5 of the page: 32 hex digits.
    pub digest: Option<String>,
    /// Codes or ranges as written (`200`, `200-299`), within 100-599; default 200-299.
    pub status_code: Vec<String>,
    pub virtualhost: Option<String>,
    pub regex: Option<String>,
    pub regex_no_match: bool,
    /// `regex_options WORD...` (PCRE2's option names, as written).
    #[serde(default)]
    pub regex_options: Vec<String>,
    /// `regex_min_offset N`: the match must start at or after this byte of the body.
    #[serde(default)]
    pub regex_min_offset: Option<u64>,
    /// `regex_max_offset N`: the match must start at or before this byte of the body.
    #[serde(default)]
    pub regex_max_offset: Option<u64>,
    /// `regex_stack START MAX`: PCRE2 JIT stack sizes (no effect on what matches).
    #[serde(default)]
    pub regex_stack: Option<(u64, u64)>,
    /// `tls_compliant [BOOL]` of this url (SSL_GET).
    #[serde(default)]
    pub tls_compliant: Option<bool>,
    pub other: Vec<RawStatement>,
}

/// One health-check block of a real server, with its type-specific settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckerKind {
    TcpCheck,
    HttpGet {
        urls: Vec<HttpUrl>,
        virtualhost: Option<String>,
        http_protocol: Option<String>,
    },
    SslGet {
        urls: Vec<HttpUrl>,
        virtualhost: Option<String>,
        http_protocol: Option<String>,
        enable_sni: bool,
        /// `tls_compliant [BOOL]`: end the session with a close_notify alert.
        #[serde(default)]
        tls_compliant: bool,
    },
    SmtpCheck {
        helo_name: Option<String>,
        /// Deprecated `host { connect_ip ...; connect_port ... }` blocks: one more check
        /// each, with the block's connection settings.
        #[serde(default)]
        hosts: Vec<CheckerCommon>,
    },
    DnsCheck {
        /// Query type, default SOA.
        query_type: Option<String>,
        /// Query name, default `.`.
        name: Option<String>,
    },
    MiscCheck {
        misc_path: String,
        /// Whole seconds, 0-4294.
        misc_timeout: Option<Timer>,
        /// `misc_dynamic`: the exit code sets the weight.
        misc_dynamic: bool,
        user: Option<ScriptUser>,
    },
    PingCheck,
    UdpCheck {
        payload: Option<String>,
        require_reply: Option<String>,
        /// `min_reply_length`, default 0.
        #[serde(default)]
        min_reply_length: Option<u16>,
        /// `max_reply_length`, default 255.
        #[serde(default)]
        max_reply_length: Option<u16>,
    },
    FileCheck {
        track_file: String,
        weight: Option<i32>,
        reverse: bool,
    },
    BfdCheck {
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checker {
    pub kind: CheckerKind,
    pub common: CheckerCommon,
}

impl CheckerKind {
    /// The block keyword (`TCP_CHECK`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            CheckerKind::TcpCheck => "TCP_CHECK",
            CheckerKind::HttpGet { .. } => "HTTP_GET",
            CheckerKind::SslGet { .. } => "SSL_GET",
            CheckerKind::SmtpCheck { .. } => "SMTP_CHECK",
            CheckerKind::DnsCheck { .. } => "DNS_CHECK",
            CheckerKind::MiscCheck { .. } => "MISC_CHECK",
            CheckerKind::PingCheck => "PING_CHECK",
            CheckerKind::UdpCheck { .. } => "UDP_CHECK",
            CheckerKind::FileCheck { .. } => "FILE_CHECK",
            CheckerKind::BfdCheck { .. } => "BFD_CHECK",
        }
    }
}
