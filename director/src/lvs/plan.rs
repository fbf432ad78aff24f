//! `virtual_server` blocks → what IPVS and the health checks should run: one
//! [`VirtualServerPlan`] per block, with its services (a group expands to several), real
//! servers and checkers, and the global LVS settings.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use ipvs_sys::{
    AddressFamily, DaemonState, Destination, ForwardMethod, Netmask, Service, ServiceFlags,
    ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelChecksum, TunnelType,
};

use super::checks;
use keepalived_conf::{
    self as config, Config, IpFamily, LbKind, RealServer, TunnelCsum, VirtualServer,
    VirtualServerKey,
};

/// A `virtual_server` block that cannot become IPVS state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("virtual_server {virtual_server}: {cause}")]
pub struct LvsPlanError {
    pub virtual_server: String,
    pub cause: String,
}

/// Everything the LVS side runs from one configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LvsPlan {
    pub virtual_servers: Vec<VirtualServerPlan>,
    /// `lvs_sync_daemon`: the connection sync daemon and the VRRP instance it follows.
    pub sync_daemon: Option<SyncDaemonPlan>,
    /// `lvs_timeouts`; `None` when none is configured (the kernel's stay).
    pub timeouts: Option<Timeouts>,
    /// `lvs_flush`: flush the whole IPVS table at start.
    pub flush_at_start: bool,
    /// What to remove at stop.
    pub on_stop: StopPolicy,
    /// `router_id`, for alerts.
    pub router_id: Option<String>,
    /// Global `script_user` for notify_up/down and quorum scripts.
    pub script_user: Option<config::ScriptUser>,
    /// `checker_priority`: nice value of the health-check threads.
    pub checker_priority: Option<i32>,
    /// What the director ignores from the configuration, one line each.
    pub warnings: Vec<String>,
    /// ha extension `ha_announce_interface`: the dummy interface holding announced
    /// addresses; `None` when no virtual server is announced.
    pub announce_interface: Option<String>,
}

/// What the director leaves in the kernel when it stops (SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StopPolicy {
    /// keepalived's default: remove the virtual servers this configuration defines.
    #[default]
    RemoveOurs,
    /// `lvs_flush_on_stop`: flush the whole table.
    FlushAll,
    /// `ha run --keep-ipvs-on-stop` (keepalived's `--dont-release-ipvs`): leave it all, so a
    /// restart adopts it without touching connections.
    Keep,
}

/// The sync daemon and the VRRP instance whose state decides its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemonPlan {
    pub vrrp_instance: String,
    /// The daemon with `state` Backup; the master daemon is the same with state Master.
    pub daemon: SyncDaemon,
}

impl SyncDaemonPlan {
    pub fn daemon(&self, state: DaemonState) -> SyncDaemon {
        SyncDaemon {
            state,
            ..self.daemon.clone()
        }
    }
}

/// One `virtual_server` block.
#[derive(Debug, Clone, PartialEq)]
pub struct VirtualServerPlan {
    /// `192.168.2.200:80`, `fwmark 7`, `group NAME`: the name in logs, `ha status` and the
    /// health-check ids.
    pub name: String,
    /// The IPVS services (one, or one per group member), in configuration order.
    pub services: Vec<Service>,
    pub real_servers: Vec<RealServerPlan>,
    pub quorum: u32,
    pub hysteresis: u32,
    pub quorum_up: Option<Vec<String>>,
    pub quorum_down: Option<Vec<String>>,
    /// Used while quorum is lost.
    pub sorry_server: Option<Destination>,
    /// Keep the sorry server with weight 0 while quorum holds.
    pub sorry_server_inhibit: bool,
    /// Run notify_down / quorum_down at stop.
    pub omega: bool,
    /// `ha_suspend`: the VRRP instance whose mastership of this address the checks wait for.
    pub suspend_with: Option<String>,
    pub smtp_alert: bool,
    /// ha extension `ha_announce`: the service addresses held on the announce interface
    /// while quorum holds (empty when not announced), each once, in configuration order.
    pub announce: Vec<IpAddr>,
    /// `ha_announce_notify`: run on each change with `ANNOUNCED|WITHDRAWN NAME REASON`.
    pub announce_notify: Option<Vec<String>>,
}

/// One `real_server` block.
#[derive(Debug, Clone, PartialEq)]
pub struct RealServerPlan {
    /// The destination as configured (weight = configured weight).
    pub destination: Destination,
    pub inhibit_on_failure: bool,
    pub notify_up: Option<Vec<String>>,
    pub notify_down: Option<Vec<String>>,
    pub smtp_alert: bool,
    /// The health-check engine's view (id, weight, checkers).
    pub health: healthcheck::RealServerConfig,
}

impl RealServerPlan {
    pub fn addr(&self) -> SocketAddr {
        self.destination.addr
    }
}

impl LvsPlan {
    /// Plans every virtual server of `config`; the first block that cannot be planned is the
    /// error (nothing is applied from a configuration with an error).
    pub fn from_config(config: &Config) -> Result<LvsPlan, LvsPlanError> {
        let g = &config.global_defs;
        // keepalived (check_data.c): a virtual server's smtp_alert defaults to
        // smtp_alert_checker, else smtp_alert, else off; a real server's (not inherited from
        // its virtual server) to the same, else on.
        let default_alert = g.smtp_alert_checker.or(g.smtp_alert);
        let mut virtual_servers = Vec::new();
        let mut warnings = Vec::new();
        for vs in &config.virtual_servers {
            virtual_servers.push(plan_virtual_server(
                config,
                vs,
                default_alert,
                &mut warnings,
            )?);
        }
        let mut names = std::collections::HashSet::new();
        for vs in &virtual_servers {
            for s in &vs.services {
                if !names.insert(s.key) {
                    return Err(LvsPlanError {
                        virtual_server: vs.name.clone(),
                        cause: format!("service {} is defined twice", s.key),
                    });
                }
            }
        }
        let sync_daemon = g.lvs_sync_daemon.as_ref().map(|d| SyncDaemonPlan {
            vrrp_instance: d.vrrp_instance.clone(),
            daemon: SyncDaemon {
                state: DaemonState::Backup,
                interface: d.interface.clone(),
                // keepalived: without `id`, the sync id is the followed instance's VRID.
                sync_id: u32::from(d.sync_id.unwrap_or_else(|| {
                    config
                        .vrrp_instances
                        .iter()
                        .find(|v| v.name == d.vrrp_instance)
                        .and_then(|v| v.virtual_router_id)
                        .unwrap_or(0)
                })),
                max_len: d.maxlen,
                group: d.group,
                port: d.port,
                ttl: d.ttl,
            },
        });
        let t = &g.lvs_timeouts;
        let timeouts =
            (t.tcp.is_some() || t.tcpfin.is_some() || t.udp.is_some()).then(|| Timeouts {
                tcp: t.tcp.unwrap_or(0),
                tcp_fin: t.tcpfin.unwrap_or(0),
                udp: t.udp.unwrap_or(0),
            });
        Ok(LvsPlan {
            virtual_servers,
            sync_daemon,
            timeouts,
            flush_at_start: g.lvs_flush,
            on_stop: match g.lvs_flush_on_stop {
                Some(false) => StopPolicy::FlushAll,
                Some(true) | None => StopPolicy::RemoveOurs,
            },
            router_id: g.router_id.clone(),
            script_user: g.script_user.clone(),
            checker_priority: g.checker_priority,
            warnings,
            announce_interface: config
                .virtual_servers
                .iter()
                .any(|vs| vs.ha_announce)
                .then(|| g.announce_interface().to_string()),
        })
    }

    /// Every real server as (virtual server name, address).
    pub fn real_server_ids(&self) -> std::collections::HashSet<(String, SocketAddr)> {
        self.virtual_servers
            .iter()
            .flat_map(|vs| {
                vs.real_servers
                    .iter()
                    .map(|rs| (vs.name.clone(), rs.addr()))
            })
            .collect()
    }

    /// Every real server's health-check configuration (for the engine).
    pub fn health_configs(&self) -> Vec<healthcheck::RealServerConfig> {
        self.virtual_servers
            .iter()
            .flat_map(|vs| vs.real_servers.iter().map(|rs| rs.health.clone()))
            .collect()
    }
}

fn script(line: &Option<String>) -> Option<Vec<String>> {
    line.as_deref()
        .map(healthcheck::split_command)
        .filter(|argv| !argv.is_empty())
}

fn plan_virtual_server(
    config: &Config,
    vs: &VirtualServer,
    default_alert: Option<bool>,
    warnings: &mut Vec<String>,
) -> Result<VirtualServerPlan, LvsPlanError> {
    let name = checks::virtual_server_name(&vs.key);
    let err = |cause: String| LvsPlanError {
        virtual_server: name.clone(),
        cause,
    };
    // fwmark and group services name no address: the family is `ip_family`, else the first
    // real server's, else IPv4 (keepalived).
    let family = match (vs.ip_family, vs.real_servers.first()) {
        (Some(IpFamily::Inet), _) => AddressFamily::Inet,
        (Some(IpFamily::Inet6), _) => AddressFamily::Inet6,
        (None, Some(rs)) => AddressFamily::of(&rs.ip),
        (None, None) => AddressFamily::Inet,
    };
    let protocol = match vs.protocol {
        config::Protocol::Tcp => ipvs_sys::Protocol::Tcp,
        config::Protocol::Udp => ipvs_sys::Protocol::Udp,
        config::Protocol::Sctp => ipvs_sys::Protocol::Sctp,
    };
    let keys: Vec<ServiceKey> = match &vs.key {
        VirtualServerKey::Addr { ip, port } => vec![ServiceKey::Inet {
            protocol,
            addr: SocketAddr::new(*ip, *port),
        }],
        VirtualServerKey::Fwmark { mark } => vec![ServiceKey::Fwmark {
            af: family,
            mark: *mark,
        }],
        VirtualServerKey::Group { name: group } => {
            let g = config
                .virtual_server_groups
                .iter()
                .find(|g| &g.name == group)
                .ok_or_else(|| err(format!("no virtual_server_group {group}")))?;
            let mut keys = Vec::new();
            for member in &g.members {
                keys.extend(group_member(member, protocol, family).map_err(&err)?);
            }
            keys
        }
    };
    let mut flags = ServiceFlags::default();
    let persistent = vs.persistence_timeout.is_some() || vs.persistence_granularity.is_some();
    if persistent {
        flags.insert(ServiceFlags::PERSISTENT);
    }
    if vs.ops {
        flags.insert(ServiceFlags::ONE_PACKET);
    }
    for f in &vs.sched_flags {
        flags.insert(match f.as_str() {
            "flag-1" | "sh-fallback" | "mh-fallback" => ServiceFlags::SCHED1,
            "flag-2" | "sh-port" | "mh-port" => ServiceFlags::SCHED2,
            "flag-3" => ServiceFlags::SCHED3,
            other => return Err(err(format!("unknown scheduler flag `{other}`"))),
        });
    }
    let mut services = Vec::new();
    for key in keys {
        let mut s = Service::new(key, &vs.lvs_sched);
        s.flags = flags;
        if persistent {
            // keepalived's timeout when only the granularity is given: 6 minutes.
            s.timeout = vs.persistence_timeout.unwrap_or(360);
        }
        if let Some(g) = &vs.persistence_granularity {
            s.netmask = granularity(g, key.af())
                .ok_or_else(|| err(format!("persistence_granularity {g} is not a netmask")))?;
        }
        s.pe_name = vs.persistence_engine.clone();
        services.push(s);
    }

    let mut real_servers = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rs in &vs.real_servers {
        let addr = checks::real_server_addr(vs, rs);
        if !seen.insert(addr) {
            return Err(err(format!("real_server {addr} is defined twice")));
        }
        // keepalived built without BFD ignores BFD_CHECK with a warning; so does this
        // director, which has no BFD.
        let without_bfd;
        let rs = if rs
            .checkers
            .iter()
            .any(|c| matches!(c.kind, config::CheckerKind::BfdCheck { .. }))
        {
            warnings.push(format!(
                "virtual_server {name}: real_server {addr}: BFD_CHECK ignored (this director has \
                 no BFD); its other checkers decide its health"
            ));
            let mut r = rs.clone();
            r.checkers
                .retain(|c| !matches!(c.kind, config::CheckerKind::BfdCheck { .. }));
            without_bfd = r;
            &without_bfd
        } else {
            rs
        };
        // PCRE2's JIT stack sizes: the regex crate has no such stack, and the size never
        // changes what matches (keepalived only fails a check whose match overflows it).
        for c in &rs.checkers {
            let (config::CheckerKind::HttpGet { urls, .. }
            | config::CheckerKind::SslGet { urls, .. }) = &c.kind
            else {
                continue;
            };
            for u in urls.iter().filter(|u| u.regex_stack.is_some()) {
                warnings.push(format!(
                    "virtual_server {name}: real_server {addr}: {} url {}: regex_stack accepted, \
                     not applied (ha's regex engine has no JIT stack to size)",
                    c.kind.keyword(),
                    u.path
                ));
            }
        }
        real_servers.push(plan_real_server(config, vs, rs, default_alert).map_err(&err)?);
    }
    let sorry_server = vs.sorry_server.map(|(ip, port)| {
        let port = port.unwrap_or(match vs.key {
            VirtualServerKey::Addr { port, .. } => port,
            _ => 0,
        });
        let method = vs.sorry_server_lvs_method.unwrap_or(vs.lvs_method);
        let (forward, tunnel) = forwarding(method);
        let mut d = Destination::new(SocketAddr::new(ip, port), forward, 1);
        d.tunnel = tunnel;
        d
    });
    let suspend_with = if vs.ha_suspend {
        let addrs: Vec<IpAddr> = services
            .iter()
            .filter_map(|s| match s.key {
                ServiceKey::Inet { addr, .. } => Some(addr.ip()),
                ServiceKey::Fwmark { .. } => None,
            })
            .collect();
        config
            .vrrp_instances
            .iter()
            .find(|vi| {
                vi.virtual_ipaddress
                    .iter()
                    .chain(&vi.virtual_ipaddress_excluded)
                    .any(|a| addrs.contains(&a.addr))
            })
            .map(|vi| vi.name.clone())
    } else {
        None
    };
    let mut announce: Vec<IpAddr> = Vec::new();
    if vs.ha_announce {
        for s in &services {
            if let ServiceKey::Inet { addr, .. } = s.key {
                if !announce.contains(&addr.ip()) {
                    announce.push(addr.ip());
                }
            }
        }
        if announce.is_empty() {
            return Err(err(
                "ha_announce: this virtual server has no address to announce".into(),
            ));
        }
    }
    Ok(VirtualServerPlan {
        name: name.clone(),
        services,
        real_servers,
        quorum: vs.quorum,
        hysteresis: vs.hysteresis,
        quorum_up: script(&vs.quorum_up),
        quorum_down: script(&vs.quorum_down),
        sorry_server,
        sorry_server_inhibit: vs.sorry_server_inhibit,
        omega: vs.omega,
        suspend_with,
        smtp_alert: vs.smtp_alert.or(default_alert).unwrap_or(false),
        announce,
        announce_notify: script(&vs.ha_announce_notify),
    })
}

fn plan_real_server(
    config: &Config,
    vs: &VirtualServer,
    rs: &RealServer,
    default_alert: Option<bool>,
) -> Result<RealServerPlan, String> {
    // The error names the virtual server itself; the plan error adds it once.
    let health = checks::real_server_config(vs, rs, config).map_err(|e| match &e.checker {
        Some(checker) => format!("real_server {}, {checker}: {}", e.real_server, e.cause),
        None => format!("real_server {}: {}", e.real_server, e.cause),
    })?;
    let (forward, tunnel) = forwarding(rs.lvs_method.unwrap_or(vs.lvs_method));
    let mut destination =
        Destination::new(checks::real_server_addr(vs, rs), forward, health.weight);
    destination.tunnel = tunnel;
    destination.upper_threshold = rs.uthreshold.unwrap_or(0);
    destination.lower_threshold = rs.lthreshold.unwrap_or(0);
    Ok(RealServerPlan {
        destination,
        inhibit_on_failure: rs.inhibit_on_failure.unwrap_or(vs.inhibit_on_failure),
        notify_up: script(&rs.notify_up),
        notify_down: script(&rs.notify_down),
        smtp_alert: rs.smtp_alert.or(default_alert).unwrap_or(true),
        health,
    })
}

fn forwarding(kind: LbKind) -> (ForwardMethod, Tunnel) {
    match kind {
        LbKind::Nat => (ForwardMethod::Masq, Tunnel::default()),
        LbKind::Dr => (ForwardMethod::Route, Tunnel::default()),
        LbKind::Tun { tunnel, port, csum } => (
            ForwardMethod::Tunnel,
            Tunnel {
                kind: match tunnel {
                    config::TunnelType::Ipip => TunnelType::Ipip,
                    config::TunnelType::Gue => TunnelType::Gue,
                    config::TunnelType::Gre => TunnelType::Gre,
                },
                port: port.unwrap_or(0),
                checksum: match csum {
                    None | Some(TunnelCsum::Nocsum) => TunnelChecksum::None,
                    Some(TunnelCsum::Csum) => TunnelChecksum::Checksum,
                    Some(TunnelCsum::Remcsum) => TunnelChecksum::RemoteChecksum,
                },
            },
        ),
    }
}

/// `255.255.255.0` for IPv4, a prefix length (`64`) for IPv6.
fn granularity(text: &str, af: AddressFamily) -> Option<Netmask> {
    match af {
        AddressFamily::Inet => text.parse::<Ipv4Addr>().ok().map(|m| Netmask(u32::from(m))),
        AddressFamily::Inet6 => text
            .trim_start_matches('/')
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 128)
            .map(Netmask),
    }
}

/// One `virtual_server_group` line: `IP PORT`, `IP-LAST PORT` (a range of the last octet,
/// or of the last group for IPv6), `fwmark N`.
fn group_member(
    words: &[String],
    protocol: ipvs_sys::Protocol,
    family: AddressFamily,
) -> Result<Vec<ServiceKey>, String> {
    let line = words.join(" ");
    match words {
        [fw, mark] if fw == "fwmark" => {
            let mark = mark
                .parse()
                .map_err(|_| format!("group member `{line}`: bad fwmark"))?;
            Ok(vec![ServiceKey::Fwmark { af: family, mark }])
        }
        [addr, port] => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("group member `{line}`: bad port"))?;
            let ips = address_range(addr)
                .ok_or_else(|| format!("group member `{line}`: not an address or address range"))?;
            Ok(ips
                .into_iter()
                .map(|ip| ServiceKey::Inet {
                    protocol,
                    addr: SocketAddr::new(ip, port),
                })
                .collect())
        }
        _ => Err(format!(
            "group member `{line}`: write `IP PORT`, `IP-LAST PORT` or `fwmark N`"
        )),
    }
}

fn address_range(text: &str) -> Option<Vec<IpAddr>> {
    let Some((first, last)) = text.rsplit_once('-') else {
        return text.parse().ok().map(|ip| vec![ip]);
    };
    match first.parse::<IpAddr>().ok()? {
        IpAddr::V4(a) => {
            let o = a.octets();
            let end: u8 = last.parse().ok()?;
            (o[3] <= end).then(|| {
                (o[3]..=end)
                    .map(|x| IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], x)))
                    .collect()
            })
        }
        IpAddr::V6(a) => {
            let mut s = a.segments();
            let end = u16::from_str_radix(last, 16).ok()?;
            (s[7] <= end).then(|| {
                (s[7]..=end)
                    .map(|x| {
                        s[7] = x;
                        IpAddr::V6(Ipv6Addr::from(s))
                    })
                    .collect()
            })
        }
    }
}

/// A configuration for unit tests, which must parse without errors.
#[cfg(test)]
pub(crate) fn parse_for_test(text: &str) -> Config {
    let opts = keepalived_conf::Options {
        config_id: String::new(),
        host_checks: false,
        check_host: false,
    };
    let mut sources = keepalived_conf::SourceMap::default();
    let loaded = keepalived_conf::parse_str("test.conf", text, &opts, &mut sources);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<LvsPlan, LvsPlanError> {
        LvsPlan::from_config(&parse_for_test(text))
    }

    #[test]
    fn seed_virtual_server_becomes_a_persistent_dr_service_with_two_destinations() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/examples/lvs1.conf"
        ))
        .unwrap();
        let p = plan(&text).unwrap();
        let vs = &p.virtual_servers[0];
        assert_eq!(vs.name, "192.168.2.200:80");
        let s = &vs.services[0];
        assert_eq!(s.key, ServiceKey::tcp("192.168.2.200:80".parse().unwrap()));
        assert_eq!(s.scheduler, "rr");
        assert!(s.flags.contains(ServiceFlags::PERSISTENT));
        assert_eq!(s.timeout, 50);
        let d: Vec<_> = vs.real_servers.iter().map(|r| &r.destination).collect();
        assert_eq!(d[0].addr, "192.168.2.20:80".parse().unwrap());
        assert_eq!(d[1].addr, "192.168.2.30:80".parse().unwrap());
        assert!(d
            .iter()
            .all(|d| d.forward == ForwardMethod::Route && d.weight == 1));
        assert_eq!(vs.quorum, 1);
        assert_eq!(p.on_stop, StopPolicy::RemoveOurs);
    }

    #[test]
    fn groups_expand_ranges_and_fwmarks() {
        let p = plan(
            "virtual_server_group G {\n 10.0.0.1-3 80\n fwmark 7\n}\n\
             virtual_server group G {\n lb_algo wlc\n lb_kind NAT\n ops\n persistence_granularity 255.255.255.0\n\
             real_server 192.168.1.1 80 { weight 3 }\n}\n",
        )
        .unwrap();
        let keys: Vec<String> = p.virtual_servers[0]
            .services
            .iter()
            .map(|s| s.key.to_string())
            .collect();
        assert_eq!(
            keys,
            [
                "TCP 10.0.0.1:80",
                "TCP 10.0.0.2:80",
                "TCP 10.0.0.3:80",
                "FWM 7",
            ]
        );
        assert_eq!(
            address_range("2001:db8::a-c").unwrap(),
            ["2001:db8::a", "2001:db8::b", "2001:db8::c"].map(|a| a.parse::<IpAddr>().unwrap())
        );
        assert_eq!(address_range("10.0.0.5-4"), None);
        let s = &p.virtual_servers[0].services[0];
        assert!(s
            .flags
            .contains(ServiceFlags::ONE_PACKET | ServiceFlags::PERSISTENT));
        assert_eq!(s.timeout, 360);
        assert_eq!(s.netmask, Netmask(0xffff_ff00));
        let rs = &p.virtual_servers[0].real_servers[0];
        assert_eq!(rs.destination.weight, 3);
        assert_eq!(rs.destination.forward, ForwardMethod::Masq);
    }

    #[test]
    fn scheduler_flags_persistence_engine_and_old_spellings() {
        let flags = |words: &str| {
            plan(&format!(
                "virtual_server 10.0.0.100 80 {{\n {words}\n real_server 10.0.0.1 80 {{ }}\n}}\n"
            ))
            .unwrap()
            .virtual_servers[0]
                .services[0]
                .flags
        };
        let f = flags("lb_algo sh\n sh-fallback\n sh-port");
        assert!(f.contains(ServiceFlags::SCHED1) && f.contains(ServiceFlags::SCHED2));
        let f = flags("lb_algo mh\n mh-fallback");
        assert!(f.contains(ServiceFlags::SCHED1) && !f.contains(ServiceFlags::SCHED2));
        let f = flags("lb_algo mh\n mh-port");
        assert!(f.contains(ServiceFlags::SCHED2) && !f.contains(ServiceFlags::SCHED1));
        let f = flags("flag-1\n flag-2\n flag-3");
        assert!(
            f.contains(ServiceFlags::SCHED1)
                && f.contains(ServiceFlags::SCHED2)
                && f.contains(ServiceFlags::SCHED3)
        );
        let p = plan(
            "global_defs {\n lvs_flush_onstop\n}\n\
             vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 9\n lvs_sync_daemon_interface eth0\n \
             virtual_ipaddress { 10.0.0.100 }\n}\n\
             virtual_server 10.0.0.100 5060 {\n protocol UDP\n persistence_timeout 60\n \
             persistence_engine sip\n real_server 10.0.0.1 5060 { }\n}\n",
        )
        .unwrap();
        assert_eq!(
            p.virtual_servers[0].services[0].pe_name.as_deref(),
            Some("sip")
        );
        // `lvs_flush_onstop`, keepalived's old name of `lvs_flush_on_stop`.
        assert_eq!(p.on_stop, StopPolicy::FlushAll);
        // `lvs_sync_daemon_interface`, keepalived's old per-instance sync daemon: id = VRID.
        let sd = p.sync_daemon.as_ref().unwrap();
        assert_eq!(sd.vrrp_instance, "VI_1");
        assert_eq!(sd.daemon.sync_id, 9);
        assert_eq!(sd.daemon.interface, "eth0");
    }

    #[test]
    fn sorry_server_quorum_sync_daemon_and_ha_suspend() {
        let p = plan(
            "global_defs {\n checker_priority -5\n lvs_sync_daemon eth0 VI_1 id 5\n lvs_timeouts tcp 900 udp 30\n lvs_flush\n lvs_flush_on_stop\n}\n\
             vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.100 }\n}\n\
             virtual_server 10.0.0.100 80 {\n quorum 2\n hysteresis 1\n quorum_up \"/bin/echo up\"\n ha_suspend\n\
             sorry_server 10.0.0.9 8080\n sorry_server_inhibit\n inhibit_on_failure\n\
             real_server 10.0.0.1 80 { inhibit_on_failure off\n notify_down \"/bin/true x\" }\n real_server 10.0.0.2 80 { }\n}\n",
        )
        .unwrap();
        let vs = &p.virtual_servers[0];
        assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
        assert_eq!(
            vs.quorum_up.as_deref(),
            Some(&["/bin/echo".to_string(), "up".into()][..])
        );
        assert_eq!(vs.suspend_with.as_deref(), Some("VI_1"));
        let sorry = vs.sorry_server.as_ref().unwrap();
        assert_eq!(sorry.addr, "10.0.0.9:8080".parse().unwrap());
        assert!(vs.sorry_server_inhibit);
        assert!(!vs.real_servers[0].inhibit_on_failure);
        assert!(vs.real_servers[1].inhibit_on_failure);
        assert_eq!(vs.real_servers[0].notify_down.as_ref().unwrap()[1], "x");
        let sd = p.sync_daemon.as_ref().unwrap();
        assert_eq!(sd.vrrp_instance, "VI_1");
        assert_eq!(sd.daemon.sync_id, 5);
        assert_eq!(sd.daemon(DaemonState::Master).state, DaemonState::Master);
        assert_eq!(
            p.timeouts,
            Some(Timeouts {
                tcp: 900,
                tcp_fin: 0,
                udp: 30
            })
        );
        assert!(p.flush_at_start);
        assert_eq!(p.on_stop, StopPolicy::FlushAll);
        assert_eq!(p.checker_priority, Some(-5));
    }

    #[test]
    fn sync_daemon_id_defaults_to_the_vrid_of_its_instance() {
        let vrrp = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n virtual_ipaddress { 10.0.0.100 }\n}\n\
                    vrrp_instance VI_2 {\n interface eth0\n virtual_router_id 52\n virtual_ipaddress { 10.0.0.101 }\n}\n";
        let sync = |line: &str| {
            let p = plan(&format!("global_defs {{\n {line}\n}}\n{vrrp}")).unwrap();
            let d = p.sync_daemon.unwrap();
            (d.vrrp_instance, d.daemon.sync_id, d.daemon.port)
        };
        // keepalived: no `id` means the VRID of the instance it follows.
        assert_eq!(sync("lvs_sync_daemon eth0 VI_2"), ("VI_2".into(), 52, None));
        // The `inst` form, options in any order.
        assert_eq!(
            sync("lvs_sync_daemon eth0 port 8848 inst VI_1"),
            ("VI_1".into(), 51, Some(8848))
        );
        // An explicit `id` wins, 0 included.
        assert_eq!(
            sync("lvs_sync_daemon eth0 inst VI_1 id 0"),
            ("VI_1".into(), 0, None)
        );
        assert_eq!(
            sync("lvs_sync_daemon eth0 VI_2 id 9"),
            ("VI_2".into(), 9, None)
        );
    }

    #[test]
    fn a_service_defined_twice_is_an_error_naming_it() {
        let e = plan(
            "virtual_server 10.0.0.1 80 { }\nvirtual_server_group G { 10.0.0.1 80 }\nvirtual_server group G { }\n",
        )
        .unwrap_err();
        assert_eq!(e.virtual_server, "group G");
        assert!(e.cause.contains("TCP 10.0.0.1:80 is defined twice"), "{e}");
    }

    #[test]
    fn url_regex_stack_is_accepted_with_a_warning() {
        let p = plan(
            "virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 { HTTP_GET { url { path /x\n \
             regex up\n regex_stack 1000 2000 } } }\n}\n",
        )
        .unwrap();
        assert!(
            p.warnings
                .iter()
                .any(|w| w.contains("HTTP_GET url /x: regex_stack accepted, not applied")),
            "{:?}",
            p.warnings
        );
    }

    #[test]
    fn smtp_alert_defaults_as_keepalived_with_smtp_alert_checker() {
        let alerts = |global: &str, vs: &str, rs: &str| {
            let p = plan(&format!(
                "global_defs {{ {global} }}\n\
                 virtual_server 10.0.0.1 80 {{ {vs}\n real_server 10.0.0.2 80 {{ {rs} }} }}\n"
            ))
            .unwrap();
            let v = &p.virtual_servers[0];
            (v.smtp_alert, v.real_servers[0].smtp_alert)
        };
        // Unset everywhere: virtual servers off, real servers on (keepalived's "backwards
        // compatibility" exception).
        assert_eq!(alerts("", "", ""), (false, true));
        assert_eq!(alerts("smtp_alert off", "", ""), (false, false));
        assert_eq!(alerts("smtp_alert_checker", "", ""), (true, true));
        // smtp_alert_checker wins over smtp_alert.
        assert_eq!(
            alerts("smtp_alert\n smtp_alert_checker off", "", ""),
            (false, false)
        );
        // smtp_alert_vrrp is VRRP's only.
        assert_eq!(alerts("smtp_alert_vrrp off", "", ""), (false, true));
        // A real server does not inherit its virtual server's setting.
        assert_eq!(alerts("", "smtp_alert off", ""), (false, true));
        assert_eq!(alerts("", "smtp_alert", "smtp_alert off"), (true, false));
    }
}
