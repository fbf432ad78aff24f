//! ipvsadm's text formats: the `ipvsadm -Ln` listing, the `ipvsadm -S -n` save format, and
//! reading rules files (`ipvsadm -R` input) into an [`IpvsState`], so existing rules import.
//!
//! The printers follow ipvsadm 1.31 byte for byte, including its sort order (services by
//! firewall mark, family, protocol, address, port; destinations by address, port) with its
//! 32-bit wrapping comparisons.

use std::cmp::Ordering;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::model::{
    AddressFamily, Destination, ForwardMethod, Info, IpvsState, Netmask, Protocol, Service,
    ServiceFlags, ServiceKey, SyncDaemon, Timeouts, Tunnel, TunnelChecksum, TunnelType,
    VirtualService,
};
use crate::ops::Op;
use crate::Error;

/// ipvsadm's default scheduler.
pub const DEFAULT_SCHEDULER: &str = "wlc";
/// ipvsadm's default persistence timeout (`-p` without a value).
pub const DEFAULT_PERSISTENT_TIMEOUT: u32 = 300;

/// Which columns an `ipvsadm -Ln` listing shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ListColumns {
    /// Forward, Weight, ActiveConn, InActConn (plain `-Ln`).
    #[default]
    Connections,
    /// Conns, InPkts, OutPkts, InBytes, OutBytes (`--stats`).
    Stats,
    /// CPS, InPPS, OutPPS, InBPS, OutBPS (`--rate`).
    Rate,
    /// Uthreshold, Lthreshold, ActiveConn, InActConn (`--thresholds`).
    Thresholds,
    /// Weight, PersistConn, ActiveConn, InActConn (`--persistent-conn`).
    PersistentConn,
}

/// `ipvsadm -Ln` output for `state`, sorted as ipvsadm sorts.
pub fn format_list(state: &IpvsState, info: &Info) -> String {
    format_list_with(state, info, ListColumns::Connections, false)
}

/// `ipvsadm -Ln` with `--stats`, `--rate`, `--thresholds` or `--persistent-conn`, and
/// `--exact` (full numbers instead of K/M/G/T).
pub fn format_list_with(
    state: &IpvsState,
    info: &Info,
    columns: ListColumns,
    exact: bool,
) -> String {
    let (major, minor, patch) = info.version_triple();
    let mut out = format!(
        "IP Virtual Server version {major}.{minor}.{patch} (size={})\n",
        info.conn_tab_size
    );
    let counters_title = |names: [&str; 5]| {
        format!(
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", names[0], names[1], names[2], names[3], names[4]
        )
    };
    out.push_str(&match columns {
        ListColumns::Connections => "Prot LocalAddress:Port Scheduler Flags\n  \
            -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
            .to_string(),
        ListColumns::Stats => counters_title(["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]),
        ListColumns::Rate => counters_title(["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]),
        ListColumns::Thresholds => format!(
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        ),
        ListColumns::PersistentConn => format!(
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port\n",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        ),
    });
    for vs in sorted_services(state) {
        let s = &vs.service;
        let stats = s.stats.unwrap_or_default();
        match columns {
            ListColumns::Stats => {
                let _ = write!(out, "{:<33}", list_service_name(&s.key));
                for v in [
                    stats.conns,
                    stats.in_pkts,
                    stats.out_pkts,
                    stats.in_bytes,
                    stats.out_bytes,
                ] {
                    largenum(&mut out, v, exact);
                }
            }
            ListColumns::Rate => {
                let _ = write!(out, "{:<33}", list_service_name(&s.key));
                for v in [
                    stats.cps,
                    stats.in_pps,
                    stats.out_pps,
                    stats.in_bps,
                    stats.out_bps,
                ] {
                    largenum(&mut out, v, exact);
                }
            }
            _ => service_summary(&mut out, s),
        }
        out.push('\n');
        for d in sorted_dests(&vs.destinations) {
            let name = addr_text(d.addr);
            let stats = d.stats.unwrap_or_default();
            let c = &d.counters;
            match columns {
                ListColumns::Connections => {
                    let _ = writeln!(
                        out,
                        "  -> {:<28} {:<7} {:<6} {:<10} {:<10}",
                        name,
                        d.forward.name(),
                        d.weight as i32,
                        c.active,
                        c.inactive
                    );
                }
                ListColumns::Stats => {
                    let _ = write!(out, "  -> {name:<28}");
                    for v in [
                        stats.conns,
                        stats.in_pkts,
                        stats.out_pkts,
                        stats.in_bytes,
                        stats.out_bytes,
                    ] {
                        largenum(&mut out, v, exact);
                    }
                    out.push('\n');
                }
                ListColumns::Rate => {
                    let _ = write!(
                        out,
                        "  -> {name:<28} {:>8} {:>8} {:>8}",
                        stats.cps, stats.in_pps, stats.out_pps
                    );
                    largenum(&mut out, stats.in_bps, exact);
                    largenum(&mut out, stats.out_bps, exact);
                    out.push('\n');
                }
                ListColumns::Thresholds => {
                    let _ = writeln!(
                        out,
                        "  -> {name:<28} {:<10} {:<10} {:<10} {:<10}",
                        d.upper_threshold, d.lower_threshold, c.active, c.inactive
                    );
                }
                ListColumns::PersistentConn => {
                    let _ = writeln!(
                        out,
                        "  -> {name:<28} {:<9} {:<11} {:<10} {:<10}",
                        d.weight, c.persistent, c.active, c.inactive
                    );
                }
            }
        }
    }
    out
}

/// `TCP  10.0.0.1:80 wlc (flags) persistent 50 mask 255.255.255.0 pe sip ops`.
fn service_summary(out: &mut String, s: &Service) {
    let _ = write!(out, "{} {}", list_service_name(&s.key), s.scheduler);
    let sched_flags = sched_flag_names(s);
    if !sched_flags.is_empty() {
        let _ = write!(out, " ({sched_flags})");
    }
    if s.flags.contains(ServiceFlags::PERSISTENT) {
        let _ = write!(out, " persistent {}", s.timeout);
        if let Some(mask) = netmask_text(s) {
            let _ = write!(out, " mask {mask}");
        }
        if let Some(pe) = s.pe_name.as_deref().filter(|p| !p.is_empty()) {
            let _ = write!(out, " pe {pe}");
        }
    }
    if s.flags.contains(ServiceFlags::ONE_PACKET) {
        out.push_str(" ops");
    }
}

/// ipvsadm's `print_largenum`: 9 columns, scaled to K/M/G/T above 10^8 unless exact.
fn largenum(out: &mut String, v: u64, exact: bool) {
    let _ = if exact {
        let digits = v.to_string().len();
        let width = if digits <= 8 { 9 } else { digits + 1 };
        write!(out, "{v:>width$}")
    } else if v < 100_000_000 {
        write!(out, "{v:>9}")
    } else if v < 1_000_000_000 {
        write!(out, "{:>8}K", v / 1000)
    } else if v < 100_000_000_000 {
        write!(out, "{:>8}M", v / 1_000_000)
    } else if v < 100_000_000_000_000 {
        write!(out, "{:>8}G", v / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", v / 1_000_000_000_000)
    };
}

/// `ipvsadm -L --timeout` output.
pub fn format_timeouts(t: &Timeouts) -> String {
    format!(
        "Timeout (tcp tcpfin udp): {} {} {}\n",
        t.tcp as i32, t.tcp_fin as i32, t.udp as i32
    )
}

/// `ipvsadm -L --daemon` output, daemons in the kernel's order.
pub fn format_daemons(daemons: &[SyncDaemon]) -> String {
    let mut out = String::new();
    for d in daemons {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}",
            d.state.name(),
            d.interface,
            d.sync_id as i32
        );
        if let Some(v) = d.max_len.filter(|v| *v != 0) {
            let _ = write!(out, ", maxlen={v}");
        }
        match d.group {
            Some(IpAddr::V4(g)) => {
                let _ = write!(out, ", group={g}");
            }
            Some(IpAddr::V6(g)) => {
                let _ = write!(out, ", group={}", ipv6_text(g));
            }
            None => {}
        }
        if let Some(v) = d.port.filter(|v| *v != 0) {
            let _ = write!(out, ", port={v}");
        }
        if let Some(v) = d.ttl.filter(|v| *v != 0) {
            let _ = write!(out, ", ttl={v}");
        }
        out.push_str(")\n");
    }
    out
}

/// `ipvsadm -S -n` output for `state`: one `-A` line per service, one `-a` per destination.
/// Like ipvsadm, thresholds are not saved.
pub fn format_save(state: &IpvsState) -> String {
    let mut out = String::new();
    for vs in sorted_services(state) {
        out.push_str(&service_rule("-A", &vs.service));
        out.push('\n');
        for d in sorted_dests(&vs.destinations) {
            out.push_str(&dest_rule("-a", &vs.service.key, d, false));
            out.push('\n');
        }
    }
    out
}

/// The ipvsadm command equivalent to `op`, without the program name.
pub fn command_line(op: &Op) -> String {
    match op {
        Op::AddService(s) => service_rule("-A", s),
        Op::EditService(s) => service_rule("-E", s),
        Op::DeleteService(k) => format!("-D {}", rule_service_name(k)),
        Op::AddDest(k, d) => dest_rule("-a", k, d, true),
        Op::EditDest(k, d) => dest_rule("-e", k, d, true),
        Op::DeleteDest(k, a) => format!("-d {} -r {}", rule_service_name(k), addr_text(*a)),
        Op::Flush => "-C".to_string(),
        Op::Zero(None) => "-Z".to_string(),
        Op::Zero(Some(k)) => format!("-Z {}", rule_service_name(k)),
        Op::SetTimeouts(t) => format!("--set {} {} {}", t.tcp, t.tcp_fin, t.udp),
        Op::StartDaemon(d) => {
            let mut s = format!(
                "--start-daemon {} --mcast-interface {} --syncid {}",
                d.state.name(),
                d.interface,
                d.sync_id
            );
            if let Some(v) = d.max_len {
                let _ = write!(s, " --sync-maxlen {v}");
            }
            if let Some(v) = d.group {
                let _ = write!(s, " --mcast-group {v}");
            }
            if let Some(v) = d.port {
                let _ = write!(s, " --mcast-port {v}");
            }
            if let Some(v) = d.ttl {
                let _ = write!(s, " --mcast-ttl {v}");
            }
            s
        }
        Op::StopDaemon(state) => format!("--stop-daemon {}", state.name()),
    }
}

fn service_rule(cmd: &str, s: &Service) -> String {
    let mut out = format!("{cmd} {} -s {}", rule_service_name(&s.key), s.scheduler);
    if s.flags.contains(ServiceFlags::PERSISTENT) {
        let _ = write!(out, " -p {}", s.timeout);
        if let Some(mask) = netmask_text(s) {
            let _ = write!(out, " -M {mask}");
        }
    }
    if let Some(pe) = s.pe_name.as_deref().filter(|p| !p.is_empty()) {
        let _ = write!(out, " --pe {pe}");
    }
    if s.flags.contains(ServiceFlags::ONE_PACKET) {
        out.push_str(" -o");
    }
    let sched_flags = sched_flag_names(s);
    if !sched_flags.is_empty() {
        let _ = write!(out, " -b {sched_flags}");
    }
    out
}

fn dest_rule(cmd: &str, key: &ServiceKey, d: &Destination, thresholds: bool) -> String {
    let switch = match d.forward {
        ForwardMethod::Masq => "-m",
        ForwardMethod::Tunnel => "-i",
        ForwardMethod::Local | ForwardMethod::Route | ForwardMethod::Bypass => "-g",
    };
    let mut out = format!(
        "{cmd} {} -r {} {switch} -w {}",
        rule_service_name(key),
        addr_text(d.addr),
        d.weight as i32
    );
    if d.forward == ForwardMethod::Tunnel {
        let csum = match d.tunnel.checksum {
            TunnelChecksum::None => "--tun-nocsum",
            TunnelChecksum::Checksum => "--tun-csum",
            TunnelChecksum::RemoteChecksum => "--tun-remcsum",
        };
        match d.tunnel.kind {
            TunnelType::Ipip => out.push_str(" --tun-type ipip"),
            TunnelType::Gue => {
                let _ = write!(out, " --tun-type gue --tun-port {} {csum}", d.tunnel.port);
            }
            TunnelType::Gre => {
                let _ = write!(out, " --tun-type gre {csum}");
            }
        }
    }
    if thresholds {
        if d.upper_threshold != 0 {
            let _ = write!(out, " -x {}", d.upper_threshold);
        }
        if d.lower_threshold != 0 {
            let _ = write!(out, " -y {}", d.lower_threshold);
        }
    }
    out
}

/// `10.0.0.1:80` or `[2001:db8::1]:80`, as `addrport_to_anyname` with `-n`.
fn addr_text(addr: SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("{ip}:{}", addr.port()),
        IpAddr::V6(ip) => format!("[{}]:{}", ipv6_text(ip), addr.port()),
    }
}

/// An IPv6 address as glibc's `inet_ntop` writes it. Rust agrees except for the deprecated
/// IPv4-compatible form (`::a.b.c.d`, the first 96 bits zero and the next 16 not), which
/// glibc writes with a dotted quad.
pub fn ipv6_text(ip: std::net::Ipv6Addr) -> String {
    let s = ip.segments();
    if s[..6].iter().all(|w| *w == 0) && s[6] != 0 {
        let [.., a, b, c, d] = ip.octets();
        return format!("::{a}.{b}.{c}.{d}");
    }
    ip.to_string()
}

fn list_service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Inet { protocol, addr } => {
            format!("{:<4} {}", protocol.name(), addr_text(*addr))
        }
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark,
        } => format!("FWM  {}", *mark as i32),
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark,
        } => format!("FWM  {} IPv6", *mark as i32),
    }
}

fn rule_service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Inet { protocol, addr } => {
            let opt = match protocol {
                Protocol::Tcp => "-t",
                Protocol::Udp => "-u",
                Protocol::Sctp => "--sctp-service",
            };
            format!("{opt} {}", addr_text(*addr))
        }
        ServiceKey::Fwmark {
            af: AddressFamily::Inet,
            mark,
        } => format!("-f {}", *mark as i32),
        ServiceKey::Fwmark {
            af: AddressFamily::Inet6,
            mark,
        } => format!("-f {} -6", *mark as i32),
    }
}

/// The mask text when it is not the full /32 or /128.
fn netmask_text(s: &Service) -> Option<String> {
    match s.key.af() {
        AddressFamily::Inet if s.netmask != Netmask::full(AddressFamily::Inet) => {
            Some(s.netmask.as_ipv4().to_string())
        }
        AddressFamily::Inet6 if s.netmask != Netmask::full(AddressFamily::Inet6) => {
            Some((s.netmask.0 as i32).to_string())
        }
        _ => None,
    }
}

/// Scheduler flag names as ipvsadm prints them, comma-separated.
fn sched_flag_names(s: &Service) -> String {
    let names: [&str; 3] = match s.scheduler.as_str() {
        "sh" => ["sh-fallback", "sh-port", "flag-3"],
        "mh" => ["mh-fallback", "mh-port", "flag-3"],
        _ => ["flag-1", "flag-2", "flag-3"],
    };
    [
        ServiceFlags::SCHED1,
        ServiceFlags::SCHED2,
        ServiceFlags::SCHED3,
    ]
    .iter()
    .zip(names)
    .filter(|(f, _)| s.flags.contains(**f))
    .map(|(_, n)| n)
    .collect::<Vec<_>>()
    .join(",")
}

/// ipvsadm compares 32-bit words by subtracting them into an `int`; the same here, so the
/// order matches even where that wraps.
fn wrapping_cmp(a: u32, b: u32) -> Ordering {
    (a.wrapping_sub(b) as i32).cmp(&0)
}

fn addr_words(ip: &IpAddr) -> Vec<u32> {
    match ip {
        IpAddr::V4(v4) => vec![u32::from(*v4)],
        IpAddr::V6(v6) => v6
            .octets()
            .chunks(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    }
}

fn cmp_addr(a: &IpAddr, b: &IpAddr) -> Ordering {
    for (x, y) in addr_words(a).iter().zip(addr_words(b).iter()) {
        let o = wrapping_cmp(*x, *y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn sorted_services(state: &IpvsState) -> Vec<&VirtualService> {
    let mark = |k: &ServiceKey| match k {
        ServiceKey::Fwmark { mark, .. } => *mark,
        _ => 0,
    };
    let proto = |k: &ServiceKey| match k {
        ServiceKey::Inet { protocol, .. } => u32::from(protocol.number()),
        _ => 0,
    };
    let addr = |k: &ServiceKey| match k {
        ServiceKey::Inet { addr, .. } => Some(*addr),
        ServiceKey::Fwmark { .. } => None,
    };
    let mut v: Vec<&VirtualService> = state.services.iter().collect();
    // A canonical order first (unsigned, total), so that the result depends on the table only.
    v.sort_by_key(|vs| {
        let k = &vs.service.key;
        (mark(k), k.af().number(), proto(k), addr(k))
    });
    wrapping_sort(&mut v, |a, b| {
        let (ka, kb) = (&a.service.key, &b.service.key);
        wrapping_cmp(mark(ka), mark(kb))
            .then(wrapping_cmp(
                u32::from(ka.af().number()),
                u32::from(kb.af().number()),
            ))
            .then(wrapping_cmp(proto(ka), proto(kb)))
            .then_with(|| match (ka, kb) {
                (ServiceKey::Inet { addr: x, .. }, ServiceKey::Inet { addr: y, .. }) => {
                    cmp_addr(&x.ip(), &y.ip()).then(x.port().cmp(&y.port()))
                }
                _ => Ordering::Equal,
            })
    });
    v
}

fn sorted_dests(dests: &[Destination]) -> Vec<&Destination> {
    let mut v: Vec<&Destination> = dests.iter().collect();
    v.sort_by_key(|d| d.addr);
    wrapping_sort(&mut v, |a, b| {
        cmp_addr(&a.addr.ip(), &b.addr.ip()).then(a.addr.port().cmp(&b.addr.port()))
    });
    v
}

/// A stable merge sort by ipvsadm's comparison. That comparison is not a total order (its
/// subtraction wraps: 10.x < 77.x < 205.x < 10.x), and the standard library's sorts may panic
/// on such a comparison; this one never does. Where the comparison is consistent on the
/// items, the result is the sorted order ipvsadm prints.
fn wrapping_sort<T: Copy>(items: &mut [T], cmp: impl Fn(&T, &T) -> Ordering + Copy) {
    let len = items.len();
    if len <= 1 {
        return;
    }
    let mid = len / 2;
    wrapping_sort(&mut items[..mid], cmp);
    wrapping_sort(&mut items[mid..], cmp);
    let mut merged = Vec::with_capacity(len);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < len {
        if cmp(&items[j], &items[i]) == Ordering::Less {
            merged.push(items[j]);
            j += 1;
        } else {
            merged.push(items[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&items[i..mid]);
    merged.extend_from_slice(&items[j..]);
    items.copy_from_slice(&merged);
}

/// Reads ipvsadm rules (the `ipvsadm -S -n` format, as `ipvsadm -R` takes it) into the
/// table they describe. Understands `-A -E -D -a -e -d -C` with their short and long options;
/// addresses must be numeric. Blank lines and `#` comments are skipped.
pub fn parse_rules(text: &str) -> Result<IpvsState, Error> {
    let mut state = IpvsState::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let mut words: Vec<&str> = content.split_whitespace().collect();
        if words.first() == Some(&"ipvsadm") {
            words.remove(0);
        }
        apply_rule(&mut state, &words).map_err(|reason| Error::Rules { line, reason })?;
    }
    Ok(state)
}

#[derive(Default)]
struct RuleArgs {
    command: Option<char>,
    protocol: Option<Protocol>,
    vaddr: Option<String>,
    fwmark: Option<u32>,
    ipv6: bool,
    scheduler: Option<String>,
    persistent: Option<u32>,
    netmask: Option<String>,
    pe: Option<String>,
    ops: bool,
    sched_flags: Option<String>,
    real: Option<String>,
    forward: Option<ForwardMethod>,
    weight: Option<u32>,
    upper: Option<u32>,
    lower: Option<u32>,
    tun_type: Option<TunnelType>,
    tun_port: Option<u16>,
    tun_csum: Option<TunnelChecksum>,
    services_given: usize,
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("invalid {what} {v:?}: expected a number"))
}

/// A weight or threshold: 0 to `INT_MAX`, as ipvsadm reads them (the kernel's fields are
/// `int`; ipvsadm 1.31 caps the weight at 65535, later releases at `INT_MAX`). Anything larger
/// would be saved as a negative number that no ipvsadm reads back.
fn up_to_int_max(what: &str, v: &str) -> Result<u32, String> {
    let n: u32 = number(what, v)?;
    if n > i32::MAX as u32 {
        return Err(format!("invalid {what} {v:?}: at most {}", i32::MAX));
    }
    Ok(n)
}

/// A firewall mark: 0 to 2^32-1, or the negative number `ipvsadm -S` writes for a mark of
/// 2^31 or more (it prints the mark as an `int`).
fn fwmark(v: &str) -> Result<u32, String> {
    match v.parse::<u32>() {
        Ok(mark) => Ok(mark),
        Err(_) => number::<i32>("firewall mark", v).map(|mark| mark as u32),
    }
}

fn apply_rule(state: &mut IpvsState, words: &[&str]) -> Result<(), String> {
    let mut a = RuleArgs::default();
    let mut i = 0;
    let set_command = |a: &mut RuleArgs, c: char| -> Result<(), String> {
        if a.command.is_some() {
            return Err("more than one command on the line".into());
        }
        a.command = Some(c);
        Ok(())
    };
    while i < words.len() {
        let w = words[i];
        let mut value = || -> Result<&str, String> {
            i += 1;
            words
                .get(i)
                .copied()
                .ok_or_else(|| format!("option {w} needs a value"))
        };
        match w {
            "-A" | "--add-service" => set_command(&mut a, 'A')?,
            "-E" | "--edit-service" => set_command(&mut a, 'E')?,
            "-D" | "--delete-service" => set_command(&mut a, 'D')?,
            "-a" | "--add-server" => set_command(&mut a, 'a')?,
            "-e" | "--edit-server" => set_command(&mut a, 'e')?,
            "-d" | "--delete-server" => set_command(&mut a, 'd')?,
            "-C" | "--clear" => set_command(&mut a, 'C')?,
            "-t" | "--tcp-service" => {
                a.services_given += 1;
                a.protocol = Some(Protocol::Tcp);
                a.vaddr = Some(value()?.to_string());
            }
            "-u" | "--udp-service" => {
                a.services_given += 1;
                a.protocol = Some(Protocol::Udp);
                a.vaddr = Some(value()?.to_string());
            }
            "--sctp-service" => {
                a.services_given += 1;
                a.protocol = Some(Protocol::Sctp);
                a.vaddr = Some(value()?.to_string());
            }
            "-f" | "--fwmark-service" => {
                a.services_given += 1;
                a.fwmark = Some(fwmark(value()?)?);
            }
            "-6" | "--ipv6" => a.ipv6 = true,
            "-s" | "--scheduler" => a.scheduler = Some(value()?.to_string()),
            "-p" | "--persistent" => {
                let next = words.get(i + 1).copied();
                a.persistent = match next.and_then(|n| n.parse().ok()) {
                    Some(t) => {
                        i += 1;
                        Some(t)
                    }
                    None => Some(DEFAULT_PERSISTENT_TIMEOUT),
                };
            }
            "-M" | "--netmask" => a.netmask = Some(value()?.to_string()),
            "--pe" => a.pe = Some(value()?.to_string()),
            "-o" | "--ops" => a.ops = true,
            "-b" | "--sched-flags" => a.sched_flags = Some(value()?.to_string()),
            "-r" | "--real-server" => a.real = Some(value()?.to_string()),
            "-g" | "--gatewaying" => a.forward = Some(ForwardMethod::Route),
            "-i" | "--ipip" => a.forward = Some(ForwardMethod::Tunnel),
            "-m" | "--masquerading" => a.forward = Some(ForwardMethod::Masq),
            "-w" | "--weight" => a.weight = Some(up_to_int_max("weight", value()?)?),
            "-x" | "--u-threshold" => a.upper = Some(up_to_int_max("upper threshold", value()?)?),
            "-y" | "--l-threshold" => a.lower = Some(up_to_int_max("lower threshold", value()?)?),
            "--tun-type" => {
                a.tun_type = Some(match value()? {
                    "ipip" => TunnelType::Ipip,
                    "gue" => TunnelType::Gue,
                    "gre" => TunnelType::Gre,
                    other => return Err(format!("unknown tunnel type {other:?}")),
                })
            }
            "--tun-port" => a.tun_port = Some(number("tunnel port", value()?)?),
            "--tun-nocsum" => a.tun_csum = Some(TunnelChecksum::None),
            "--tun-csum" => a.tun_csum = Some(TunnelChecksum::Checksum),
            "--tun-remcsum" => a.tun_csum = Some(TunnelChecksum::RemoteChecksum),
            other => return Err(format!("unknown option {other:?}")),
        }
        i += 1;
    }
    let command = a.command.ok_or("no command (-A, -a, ...) on the line")?;
    if command == 'C' {
        state.services.clear();
        return Ok(());
    }
    let key = service_key(&a)?;
    match command {
        'A' | 'E' => {
            let service = build_service(key, &a)?;
            let existing = state.services.iter_mut().find(|s| s.service.key == key);
            match (command, existing) {
                ('A', Some(_)) => return Err(format!("service {key} defined twice")),
                ('A', None) => state.services.push(VirtualService {
                    service,
                    destinations: Vec::new(),
                }),
                (_, Some(vs)) => vs.service = service,
                (_, None) => return Err(format!("edit of undefined service {key}")),
            }
        }
        'D' => {
            let before = state.services.len();
            state.services.retain(|s| s.service.key != key);
            if state.services.len() == before {
                return Err(format!("delete of undefined service {key}"));
            }
        }
        _ => {
            let real = a.real.as_deref().ok_or("destination command without -r")?;
            let default_port = match key {
                ServiceKey::Inet { addr, .. } => addr.port(),
                ServiceKey::Fwmark { .. } => 0,
            };
            let addr = parse_addr(real, default_port)?;
            let vs = state
                .services
                .iter_mut()
                .find(|s| s.service.key == key)
                .ok_or_else(|| format!("destination of undefined service {key}"))?;
            let pos = vs.destinations.iter().position(|d| d.addr == addr);
            match (command, pos) {
                ('a', Some(_)) => return Err(format!("destination {addr} of {key} defined twice")),
                ('a', None) => vs.destinations.push(build_dest(addr, &a)),
                ('e', Some(p)) => vs.destinations[p] = build_dest(addr, &a),
                ('d', Some(p)) => {
                    vs.destinations.remove(p);
                }
                (_, None) => return Err(format!("no destination {addr} in service {key}")),
                _ => unreachable!("commands are A E D a e d C"),
            }
        }
    }
    Ok(())
}

fn service_key(a: &RuleArgs) -> Result<ServiceKey, String> {
    if a.services_given > 1 {
        return Err("more than one service given".into());
    }
    match (a.protocol, &a.vaddr, a.fwmark) {
        (Some(protocol), Some(v), None) => Ok(ServiceKey::Inet {
            protocol,
            addr: parse_addr(v, 0)?,
        }),
        (None, None, Some(mark)) => Ok(ServiceKey::Fwmark {
            af: if a.ipv6 {
                AddressFamily::Inet6
            } else {
                AddressFamily::Inet
            },
            mark,
        }),
        (None, None, None) => Err("no service (-t, -u, --sctp-service or -f)".into()),
        _ => Err("more than one service given".into()),
    }
}

fn build_service(key: ServiceKey, a: &RuleArgs) -> Result<Service, String> {
    let mut s = Service::new(key, a.scheduler.as_deref().unwrap_or(DEFAULT_SCHEDULER));
    if let Some(t) = a.persistent {
        s = s.persistent(t);
    }
    if let Some(m) = &a.netmask {
        s.netmask = match key.af() {
            AddressFamily::Inet => Netmask(u32::from(
                m.parse::<Ipv4Addr>()
                    .map_err(|_| format!("invalid netmask {m:?}"))?,
            )),
            // ipvsadm: "illegal ipv6 netmask specified" outside 1..=128.
            AddressFamily::Inet6 => match number::<u32>("IPv6 prefix length", m)? {
                len @ 1..=128 => Netmask(len),
                _ => return Err(format!("invalid IPv6 prefix length {m:?}: 1 to 128")),
            },
        };
    }
    s.pe_name = a.pe.clone();
    if a.ops {
        s.flags.insert(ServiceFlags::ONE_PACKET);
    }
    if let Some(flags) = &a.sched_flags {
        for f in flags.split(',') {
            s.flags.insert(match f {
                "flag-1" | "sh-fallback" | "mh-fallback" => ServiceFlags::SCHED1,
                "flag-2" | "sh-port" | "mh-port" => ServiceFlags::SCHED2,
                "flag-3" => ServiceFlags::SCHED3,
                other => return Err(format!("unknown scheduler flag {other:?}")),
            });
        }
    }
    Ok(s)
}

fn build_dest(addr: SocketAddr, a: &RuleArgs) -> Destination {
    let mut d = Destination::new(
        addr,
        a.forward.unwrap_or(ForwardMethod::Route),
        a.weight.unwrap_or(1),
    );
    d.upper_threshold = a.upper.unwrap_or(0);
    d.lower_threshold = a.lower.unwrap_or(0);
    if d.forward == ForwardMethod::Tunnel {
        let kind = a.tun_type.unwrap_or_default();
        // The port is GUE's and the checksum mode GUE's and GRE's: elsewhere they mean nothing,
        // and ipvsadm -S (like format_save) does not write them.
        d.tunnel = Tunnel {
            kind,
            port: match kind {
                TunnelType::Gue => a.tun_port.unwrap_or(0),
                TunnelType::Ipip | TunnelType::Gre => 0,
            },
            checksum: match kind {
                TunnelType::Gue | TunnelType::Gre => a.tun_csum.unwrap_or_default(),
                TunnelType::Ipip => TunnelChecksum::None,
            },
        };
    }
    d
}

/// `1.2.3.4`, `1.2.3.4:80`, `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_addr(text: &str, default_port: u16) -> Result<SocketAddr, String> {
    if let Ok(sa) = text.parse::<SocketAddr>() {
        // Rust reads `[fe80::1%2]:80`; IPVS addresses have no scope, and the saved rules
        // would drop it.
        if let SocketAddr::V6(v6) = sa {
            if v6.scope_id() != 0 {
                return Err(format!(
                    "invalid address {text:?}: IPVS addresses have no scope id"
                ));
            }
        }
        return Ok(sa);
    }
    let bare = text.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<IpAddr>()
        .map(|ip| SocketAddr::new(ip, default_port))
        .map_err(|_| format!("invalid address {text:?} (numeric address[:port] expected)"))
}

/// Where the kernel lists IPVS connections (there is no netlink dump of them).
pub const CONNECTIONS_FILE: &str = "/proc/net/ip_vs_conn";

/// One entry of [`CONNECTIONS_FILE`]: a connection, or a persistence template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// `TCP`, `UDP`, `SCTP`, `IP` (templates), ... as the kernel names it.
    pub protocol: String,
    pub client: SocketAddr,
    pub virtual_addr: SocketAddr,
    pub destination: SocketAddr,
    /// `ESTABLISHED`, `TIME_WAIT`, `NONE`, ...
    pub state: String,
    /// Seconds left.
    pub expires: u32,
    /// The persistence engine's name and data (`sip` and its Call-ID), when one is used.
    pub pe: Option<(String, String)>,
}

/// Reads [`CONNECTIONS_FILE`]'s text: a header line, then `Pro FromIP FPrt ToIP TPrt DestIP
/// DPrt State Expires [PEName PEData]`, IPv4 addresses in hex, IPv6 ones as text, ports in
/// hex.
pub fn parse_connections(text: &str) -> Result<Vec<Connection>, Error> {
    let bad = |line: usize, why: &str| Error::Rules {
        line,
        reason: format!("{CONNECTIONS_FILE}: {why}"),
    };
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 9 {
            return Err(bad(n + 1, "fewer than 9 fields"));
        }
        let addr = |a: &str, p: &str| -> Result<SocketAddr, Error> {
            let port = u16::from_str_radix(p, 16).map_err(|_| bad(n + 1, "bad port"))?;
            let ip = if a.contains(':') {
                IpAddr::V6(a.parse().map_err(|_| bad(n + 1, "bad IPv6 address"))?)
            } else {
                IpAddr::V4(Ipv4Addr::from(
                    u32::from_str_radix(a, 16).map_err(|_| bad(n + 1, "bad IPv4 address"))?,
                ))
            };
            Ok(SocketAddr::new(ip, port))
        };
        out.push(Connection {
            protocol: f[0].to_string(),
            client: addr(f[1], f[2])?,
            virtual_addr: addr(f[3], f[4])?,
            destination: addr(f[5], f[6])?,
            state: f[7].to_string(),
            expires: f[8].parse().map_err(|_| bad(n + 1, "bad expiry"))?,
            pe: match (f.get(9), f.get(10)) {
                (Some(name), Some(data)) => Some((name.to_string(), data.to_string())),
                _ => None,
            },
        });
    }
    Ok(out)
}

/// `ipvsadm -Lnc` (with `persistent`, `ipvsadm -Lnc --persistent-conn`: the persistence
/// engine's columns too), in the kernel's order.
pub fn format_connections(conns: &[Connection], persistent: bool) -> String {
    let mut out = String::from("IPVS connection entries\n");
    if persistent {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} destination",
            "state", "source", "virtual"
        );
    }
    for c in conns {
        let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
        let (client, virt, dest) = (
            addr_text(c.client),
            addr_text(c.virtual_addr),
            addr_text(c.destination),
        );
        match (&c.pe, persistent) {
            (Some((name, data)), true) => {
                let _ = writeln!(
                    out,
                    "{:<3} {expire:<6} {:<11} {client:<18} {virt:<18} {dest:<16} {name:<18} {data}",
                    c.protocol, c.state
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{:<3} {expire:<6} {:<11} {client:<18} {virt:<18} {dest}",
                    c.protocol, c.state
                );
            }
        }
    }
    out
}

/// Which services a listing shows: all, those of one virtual address (any port and
/// protocol, or one port), or one service.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ServiceFilter {
    #[default]
    All,
    /// `ADDR` or `ADDR:PORT`.
    Address { ip: IpAddr, port: Option<u16> },
    /// ipvsadm's `-t`, `-u`, `--sctp-service`, `-f`.
    Service(ServiceKey),
}

impl ServiceFilter {
    /// `192.168.2.200`, `192.168.2.200:80`, `[2001:db8::1]:443` or `2001:db8::1`.
    pub fn address(text: &str) -> Result<ServiceFilter, String> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(ServiceFilter::Address { ip, port: None });
        }
        match text.parse::<SocketAddr>() {
            Ok(sa) => Ok(ServiceFilter::Address {
                ip: sa.ip(),
                port: Some(sa.port()),
            }),
            Err(_) => Err(format!(
                "{text:?}: an address or address:port expected (e.g. 192.168.2.200:80)"
            )),
        }
    }

    pub fn keeps_service(&self, key: &ServiceKey) -> bool {
        match (self, key) {
            (ServiceFilter::All, _) => true,
            (ServiceFilter::Address { ip, port }, ServiceKey::Inet { addr, .. }) => {
                addr.ip() == *ip && port.is_none_or(|p| p == addr.port())
            }
            (ServiceFilter::Address { .. }, ServiceKey::Fwmark { .. }) => false,
            (ServiceFilter::Service(wanted), key) => wanted == key,
        }
    }

    /// Whether a connection to `virtual_addr` (`protocol` as the kernel names it) belongs.
    pub fn keeps_connection(&self, c: &Connection) -> bool {
        match self {
            ServiceFilter::All => true,
            ServiceFilter::Address { ip, port } => {
                c.virtual_addr.ip() == *ip && port.is_none_or(|p| p == c.virtual_addr.port())
            }
            ServiceFilter::Service(ServiceKey::Inet { protocol, addr }) => {
                c.virtual_addr == *addr && c.protocol == protocol.name()
            }
            // Connections do not carry the mark.
            ServiceFilter::Service(ServiceKey::Fwmark { .. }) => true,
        }
    }

    /// `state` with only the services this keeps.
    pub fn apply(&self, state: &IpvsState) -> IpvsState {
        IpvsState {
            services: state
                .services
                .iter()
                .filter(|vs| self.keeps_service(&vs.service.key))
                .cloned()
                .collect(),
        }
    }
}
