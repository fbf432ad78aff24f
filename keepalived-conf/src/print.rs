//! The canonical form of a [`Config`]: includes, parameters, conditionals and loops
//! resolved, one statement per line, four-space indentation, keepalived's keywords
//! (`lvs_sched`, `lvs_method`, ...), settings at their default left out except the ones an
//! operator looks for (state, priority, advert_int, scheduler, method, protocol). Parsing
//! the output gives back the same model.

use std::fmt::Write as _;

use super::model::*;

/// Writes `c` in canonical keepalived.conf syntax.
pub fn print(c: &Config) -> String {
    let mut p = Printer::default();
    p.config(c);
    p.out
}

/// Quotes a word if keepalived would otherwise split, comment or brace it.
pub fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '"' | '\'' | '#' | '!' | '{' | '}' | '\\')
        });
    // At the start of a line these would be read as a conditional (`@`), a definition or
    // substitution (`$`), a loop (`~`) or an include: quote them wherever they are.
    let special_start = s.starts_with(['@', '$', '~']) || s.starts_with("include");
    if plain && !special_start {
        return s.to_string();
    }
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            '\t' => q.push_str("\\t"),
            '\r' => q.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(q, "\\{:03o}", c as u32);
            }
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

#[derive(Default)]
struct Printer {
    out: String,
    depth: usize,
}

impl Printer {
    fn line(&mut self, words: &[&str]) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        let mut first = true;
        for w in words {
            if !first {
                self.out.push(' ');
            }
            first = false;
            self.out.push_str(&quote(w));
        }
        self.out.push('\n');
    }

    /// A keyword followed by words that are already quoted where needed.
    fn raw_line(&mut self, text: &str) {
        for _ in 0..self.depth {
            self.out.push_str("    ");
        }
        self.out.push_str(text);
        self.out.push('\n');
    }

    fn open(&mut self, words: &[&str]) {
        let mut header: Vec<String> = words.iter().map(|w| quote(w)).collect();
        header.push("{".into());
        self.raw_line(&header.join(" "));
        self.depth += 1;
    }

    fn close(&mut self) {
        self.depth -= 1;
        self.raw_line("}");
    }

    fn kv(&mut self, key: &str, value: impl ToString) {
        self.line(&[key, &value.to_string()]);
    }

    fn opt(&mut self, key: &str, value: &Option<impl ToString>) {
        if let Some(v) = value {
            self.kv(key, v.to_string());
        }
    }

    fn flag(&mut self, key: &str, on: bool) {
        if on {
            self.line(&[key]);
        }
    }

    fn opt_bool(&mut self, key: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.kv(key, if v { "on" } else { "off" });
        }
    }

    fn raw(&mut self, r: &RawStatement) {
        let mut words: Vec<&str> = vec![&r.keyword];
        words.extend(r.args.iter().map(String::as_str));
        match &r.block {
            None => self.line(&words),
            Some(b) => {
                self.open(&words);
                for s in b {
                    self.raw(s);
                }
                self.close();
            }
        }
    }

    fn raws(&mut self, rs: &[RawStatement]) {
        for r in rs {
            self.raw(r);
        }
    }

    fn word_lines(&mut self, key: &str, lines: &[Vec<String>]) {
        if lines.is_empty() {
            return;
        }
        self.open(&[key]);
        for l in lines {
            let words: Vec<&str> = l.iter().map(String::as_str).collect();
            self.line(&words);
        }
        self.close();
    }

    fn config(&mut self, c: &Config) {
        if c.global_defs != GlobalDefs::default() {
            self.global(&c.global_defs);
        }
        if !c.static_ipaddress.is_empty() {
            self.open(&["static_ipaddress"]);
            for a in &c.static_ipaddress {
                self.address(a);
            }
            self.close();
        }
        self.word_lines("static_routes", &c.static_routes);
        self.word_lines("static_rules", &c.static_rules);
        if let Some(ssl) = &c.ssl {
            self.open(&["SSL"]);
            self.opt("password", &ssl.password);
            self.opt("ca", &ssl.ca);
            self.opt("certificate", &ssl.certificate);
            self.opt("key", &ssl.key);
            self.close();
        }
        self.raws(&c.other);
        for s in &c.vrrp_scripts {
            self.script(s);
        }
        for t in &c.track_files {
            self.open(&["track_file", &t.name]);
            self.kv("file", &t.file);
            self.weight(t.weight, t.weight_reverse, 1);
            if let Some(init) = &t.init_file {
                let mut w = vec!["init_file"];
                w.extend(init.iter().map(String::as_str));
                self.line(&w);
            }
            self.raws(&t.other);
            self.close();
        }
        for t in &c.vrrp_track_processes {
            self.open(&["vrrp_track_process", &t.name]);
            let mut w = vec!["process"];
            w.extend(t.process.iter().map(String::as_str));
            self.line(&w);
            self.flag("full_command", t.full_command);
            match t.param_match {
                Some(ParamMatch::Exact) => self.line(&["param_match"]),
                Some(ParamMatch::Initial) => self.line(&["param_match", "initial"]),
                Some(ParamMatch::Partial) => self.line(&["param_match", "partial"]),
                None => {}
            }
            self.weight(t.weight, t.weight_reverse, 0);
            if t.quorum != 1 {
                self.kv("quorum", t.quorum);
            }
            self.opt("quorum_max", &t.quorum_max);
            self.opt("delay", &t.delay);
            self.opt("terminate_delay", &t.terminate_delay);
            self.opt("fork_delay", &t.fork_delay);
            self.raws(&t.other);
            self.close();
        }
        for g in &c.vrrp_sync_groups {
            self.open(&["vrrp_sync_group", &g.name]);
            self.open(&["group"]);
            for m in &g.group {
                self.line(&[m]);
            }
            self.close();
            self.tracking(&g.tracking);
            self.notify(&g.notify);
            self.opt_bool("smtp_alert", g.smtp_alert);
            self.flag("global_tracking", g.global_tracking);
            self.flag("sync_group_tracking_weight", g.sync_group_tracking_weight);
            self.raws(&g.other);
            self.close();
        }
        for vi in &c.vrrp_instances {
            self.instance(vi);
        }
        for g in &c.virtual_server_groups {
            self.open(&["virtual_server_group", &g.name]);
            for m in &g.members {
                let words: Vec<&str> = m.iter().map(String::as_str).collect();
                self.line(&words);
            }
            self.close();
        }
        for vs in &c.virtual_servers {
            self.virtual_server(vs);
        }
    }

    fn global(&mut self, g: &GlobalDefs) {
        let d = GlobalDefs::default();
        self.open(&["global_defs"]);
        self.opt("router_id", &g.router_id);
        if !g.notification_email.is_empty() {
            self.open(&["notification_email"]);
            for e in &g.notification_email {
                self.line(&[e]);
            }
            self.close();
        }
        self.opt("notification_email_from", &g.notification_email_from);
        if let Some(s) = &g.smtp_server {
            self.line(&["smtp_server", &s.host, &s.port.to_string()]);
        }
        self.opt("smtp_helo_name", &g.smtp_helo_name);
        if g.smtp_connect_timeout != d.smtp_connect_timeout {
            self.kv("smtp_connect_timeout", g.smtp_connect_timeout);
        }
        self.opt_bool("smtp_alert", g.smtp_alert);
        if g.vrrp_version != d.vrrp_version {
            self.kv("vrrp_version", g.vrrp_version);
        }
        self.flag("vrrp_strict", g.vrrp_strict);
        if g.vrrp_mcast_group4 != d.vrrp_mcast_group4 {
            self.kv("vrrp_mcast_group4", g.vrrp_mcast_group4);
        }
        if g.vrrp_mcast_group6 != d.vrrp_mcast_group6 {
            self.kv("vrrp_mcast_group6", g.vrrp_mcast_group6);
        }
        for (k, v, dv) in [
            (
                "vrrp_garp_master_delay",
                g.vrrp_garp_master_delay,
                d.vrrp_garp_master_delay,
            ),
            (
                "vrrp_garp_master_repeat",
                g.vrrp_garp_master_repeat,
                d.vrrp_garp_master_repeat,
            ),
            (
                "vrrp_garp_master_refresh",
                g.vrrp_garp_master_refresh,
                d.vrrp_garp_master_refresh,
            ),
            (
                "vrrp_garp_master_refresh_repeat",
                g.vrrp_garp_master_refresh_repeat,
                d.vrrp_garp_master_refresh_repeat,
            ),
        ] {
            if v != dv {
                self.kv(k, v);
            }
        }
        self.opt("vrrp_garp_lower_prio_delay", &g.vrrp_garp_lower_prio_delay);
        self.opt(
            "vrrp_garp_lower_prio_repeat",
            &g.vrrp_garp_lower_prio_repeat,
        );
        if g.vrrp_garp_interval != d.vrrp_garp_interval {
            self.kv("vrrp_garp_interval", g.vrrp_garp_interval);
        }
        if g.vrrp_gna_interval != d.vrrp_gna_interval {
            self.kv("vrrp_gna_interval", g.vrrp_gna_interval);
        }
        self.flag("vrrp_min_garp", g.vrrp_min_garp);
        self.flag("vrrp_lower_prio_no_advert", g.vrrp_lower_prio_no_advert);
        self.flag(
            "vrrp_higher_prio_send_advert",
            g.vrrp_higher_prio_send_advert,
        );
        self.flag("vrrp_check_unicast_src", g.vrrp_check_unicast_src);
        self.flag("vrrp_skip_check_adv_addr", g.vrrp_skip_check_adv_addr);
        if let Some(u) = &g.script_user {
            self.user("script_user", u);
        }
        self.opt("vrrp_priority", &g.vrrp_priority);
        self.opt("vrrp_rt_priority", &g.vrrp_rt_priority);
        self.opt("checker_priority", &g.checker_priority);
        for (key, fifo) in [
            ("notify_fifo", &g.notify_fifo),
            ("vrrp_notify_fifo", &g.vrrp_notify_fifo),
            ("lvs_notify_fifo", &g.lvs_notify_fifo),
        ] {
            if let Some(f) = fifo {
                let mut words = vec![f.path.as_str()];
                if let Some(o) = &f.owner {
                    words.push(&o.user);
                    if let Some(g) = &o.group {
                        words.push(g);
                    }
                }
                let mut line = vec![key];
                line.extend(words);
                self.line(&line);
            }
        }
        self.flag("enable_script_security", g.enable_script_security);
        for (key, script) in [
            ("notify_fifo_script", &g.notify_fifo_script),
            ("vrrp_notify_fifo_script", &g.vrrp_notify_fifo_script),
            ("lvs_notify_fifo_script", &g.lvs_notify_fifo_script),
            ("startup_script", &g.startup_script),
            ("shutdown_script", &g.shutdown_script),
        ] {
            if let Some(s) = script {
                self.script_line(key, s);
            }
        }
        self.opt("startup_script_timeout", &g.startup_script_timeout);
        self.opt("shutdown_script_timeout", &g.shutdown_script_timeout);
        self.opt_bool(
            "vrrp_notify_priority_changes",
            g.vrrp_notify_priority_changes,
        );
        self.opt_bool("smtp_alert_vrrp", g.smtp_alert_vrrp);
        self.opt_bool("smtp_alert_checker", g.smtp_alert_checker);
        self.flag("no_email_faults", g.no_email_faults);
        self.opt("ha_announce_interface", &g.ha_announce_interface);
        if let Some(s) = &g.lvs_sync_daemon {
            let mut w = vec![s.interface.clone(), s.vrrp_instance.clone()];
            if let Some(v) = s.sync_id {
                w.extend(["id".into(), v.to_string()]);
            }
            if let Some(v) = s.maxlen {
                w.extend(["maxlen".into(), v.to_string()]);
            }
            if let Some(v) = s.port {
                w.extend(["port".into(), v.to_string()]);
            }
            if let Some(v) = s.ttl {
                w.extend(["ttl".into(), v.to_string()]);
            }
            if let Some(v) = s.group {
                w.extend(["group".into(), v.to_string()]);
            }
            let mut words = vec!["lvs_sync_daemon"];
            words.extend(w.iter().map(String::as_str));
            self.line(&words);
        }
        let t = &g.lvs_timeouts;
        if *t != LvsTimeouts::default() {
            let mut w = vec!["lvs_timeouts".to_string()];
            for (k, v) in [("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)] {
                if let Some(v) = v {
                    w.extend([k.to_string(), v.to_string()]);
                }
            }
            let words: Vec<&str> = w.iter().map(String::as_str).collect();
            self.line(&words);
        }
        self.flag("lvs_flush", g.lvs_flush);
        match g.lvs_flush_on_stop {
            Some(true) => self.line(&["lvs_flush_on_stop", "VS"]),
            Some(false) => self.line(&["lvs_flush_on_stop"]),
            None => {}
        }
        self.opt("vrrp_startup_delay", &g.vrrp_startup_delay);
        self.flag("dynamic_interfaces", g.dynamic_interfaces);
        self.raws(&g.other);
        self.close();
    }

    fn user(&mut self, key: &str, u: &ScriptUser) {
        match &u.group {
            Some(g) => self.line(&[key, &u.user, g]),
            None => self.line(&[key, &u.user]),
        }
    }

    fn weight(&mut self, w: i32, reverse: bool, default: i32) {
        if reverse {
            self.line(&["weight", &w.to_string(), "reverse"]);
        } else if w != default {
            self.kv("weight", w);
        }
    }

    fn script(&mut self, s: &VrrpScript) {
        self.open(&["vrrp_script", &s.name]);
        self.kv("script", &s.script);
        if s.interval != Timer::secs(1) {
            self.kv("interval", s.interval);
        }
        self.opt("timeout", &s.timeout);
        self.weight(s.weight, s.weight_reverse, 0);
        if s.rise != 1 {
            self.kv("rise", s.rise);
        }
        if s.fall != 1 {
            self.kv("fall", s.fall);
        }
        if let Some(u) = &s.user {
            self.user("user", u);
        }
        self.flag("init_fail", s.init_fail);
        self.raws(&s.other);
        self.close();
    }

    fn address(&mut self, a: &IpAddress) {
        let addr = match a.prefix {
            Some(p) => format!("{}/{p}", a.addr),
            None => a.addr.to_string(),
        };
        let mut w: Vec<&str> = vec![&addr];
        for (k, v) in [
            ("brd", &a.brd),
            ("dev", &a.dev),
            ("scope", &a.scope),
            ("label", &a.label),
            ("peer", &a.peer),
        ] {
            if let Some(v) = v {
                w.extend([k, v.as_str()]);
            }
        }
        w.extend(a.options.iter().map(String::as_str));
        self.line(&w);
    }

    fn tracks(&mut self, key: &str, list: &[Track]) {
        if list.is_empty() {
            return;
        }
        self.open(&[key]);
        for t in list {
            let w = t.weight.map(|w| w.to_string());
            let mut words: Vec<&str> = vec![&t.name];
            if let Some(w) = &w {
                words.extend(["weight", w.as_str()]);
            }
            if t.reverse {
                words.push("reverse");
            }
            self.line(&words);
        }
        self.close();
    }

    fn tracking(&mut self, t: &Tracking) {
        self.tracks("track_interface", &t.interfaces);
        self.tracks("track_script", &t.scripts);
        self.tracks("track_file", &t.files);
        self.tracks("track_process", &t.processes);
        self.tracks("track_bfd", &t.bfds);
    }

    fn notify(&mut self, n: &Notify) {
        for (key, line) in [
            ("notify", &n.notify),
            ("notify_master", &n.master),
            ("notify_backup", &n.backup),
            ("notify_fault", &n.fault),
            ("notify_stop", &n.stop),
            ("notify_deleted", &n.deleted),
            ("notify_master_rx_lower_pri", &n.master_rx_lower_pri),
        ] {
            if let Some(command) = line {
                self.script_line(
                    key,
                    &ScriptLine {
                        command: command.clone(),
                        user: n.user(key).cloned(),
                    },
                );
            }
        }
        if n.notify_deleted && n.deleted.is_none() {
            self.line(&["notify_deleted"]);
        }
        self.opt_bool("notify_priority_changes", n.priority_changes);
    }

    /// `KEYWORD COMMAND [USER [GROUP]]`.
    fn script_line(&mut self, key: &str, s: &ScriptLine) {
        let mut words = vec![key, &s.command];
        if let Some(u) = &s.user {
            words.push(&u.user);
            if let Some(g) = &u.group {
                words.push(g);
            }
        }
        self.line(&words);
    }

    fn instance(&mut self, v: &VrrpInstance) {
        self.open(&["vrrp_instance", &v.name]);
        match v.state {
            Some(VrrpState::Master) => self.kv("state", "MASTER"),
            Some(VrrpState::Backup) => self.kv("state", "BACKUP"),
            None => {}
        }
        self.opt("interface", &v.interface);
        self.opt("virtual_router_id", &v.virtual_router_id);
        self.kv("priority", v.priority);
        self.kv("advert_int", v.advert_int);
        self.opt("version", &v.version);
        if let Some(a) = &v.authentication {
            self.open(&["authentication"]);
            self.kv(
                "auth_type",
                match a.auth_type {
                    AuthType::Pass => "PASS",
                    AuthType::Ah => "AH",
                },
            );
            self.kv("auth_pass", &a.auth_pass);
            self.close();
        }
        for (key, list) in [
            ("virtual_ipaddress", &v.virtual_ipaddress),
            ("virtual_ipaddress_excluded", &v.virtual_ipaddress_excluded),
        ] {
            if !list.is_empty() {
                self.open(&[key]);
                for a in list {
                    self.address(a);
                }
                self.close();
            }
        }
        self.word_lines("virtual_routes", &v.virtual_routes);
        self.word_lines("virtual_rules", &v.virtual_rules);
        self.flag("nopreempt", v.nopreempt);
        self.opt("preempt_delay", &v.preempt_delay);
        self.opt("unicast_src_ip", &v.unicast_src_ip);
        if !v.unicast_peers.is_empty() {
            self.open(&["unicast_peer"]);
            for p in &v.unicast_peers {
                let a = p.addr.to_string();
                let (min, max) = (
                    p.min_ttl.map(|t| t.to_string()),
                    p.max_ttl.map(|t| t.to_string()),
                );
                let mut w: Vec<&str> = vec![&a];
                if let Some(m) = &min {
                    w.extend(["min_ttl", m.as_str()]);
                }
                if let Some(m) = &max {
                    w.extend(["max_ttl", m.as_str()]);
                }
                self.line(&w);
            }
            self.close();
        }
        self.opt("unicast_ttl", &v.unicast_ttl);
        self.flag("unicast_fault_no_peer", v.unicast_fault_no_peer);
        self.opt("mcast_dst_ip", &v.mcast_dst_ip);
        if let Some(m) = &v.use_vmac {
            match &m.name {
                Some(n) => self.line(&["use_vmac", n]),
                None => self.line(&["use_vmac"]),
            }
        }
        self.flag("vmac_xmit_base", v.vmac_xmit_base);
        if let Some(args) = &v.use_ipvlan {
            let mut w = vec!["use_ipvlan"];
            w.extend(args.iter().map(String::as_str));
            self.line(&w);
        }
        self.flag("native_ipv6", v.native_ipv6);
        self.flag("dont_track_primary", v.dont_track_primary);
        self.flag("track_src_ip", v.track_src_ip);
        self.tracking(&v.tracking);
        self.notify(&v.notify);
        self.opt_bool("smtp_alert", v.smtp_alert);
        self.opt_bool("accept", v.accept);
        self.opt("garp_master_delay", &v.garp_master_delay);
        self.opt("garp_master_repeat", &v.garp_master_repeat);
        self.opt("garp_master_refresh", &v.garp_master_refresh);
        self.opt("garp_master_refresh_repeat", &v.garp_master_refresh_repeat);
        self.opt("garp_lower_prio_delay", &v.garp_lower_prio_delay);
        self.opt("garp_lower_prio_repeat", &v.garp_lower_prio_repeat);
        self.opt_bool("lower_prio_no_advert", v.lower_prio_no_advert);
        self.opt_bool("higher_prio_send_advert", v.higher_prio_send_advert);
        self.opt_bool("strict_mode", v.strict_mode);
        match v.old_unicast_checksum {
            Some(UnicastChecksum::Old) => self.line(&["old_unicast_checksum"]),
            Some(UnicastChecksum::Never) => self.line(&["old_unicast_checksum", "never"]),
            None => {}
        }
        self.flag("promote_secondaries", v.promote_secondaries);
        self.opt("down_timer_adverts", &v.down_timer_adverts);
        self.opt("kernel_rx_buf_size", &v.kernel_rx_buf_size);
        self.opt("vrf", &v.vrf);
        self.flag("use_vmac_addr", v.use_vmac_addr);
        self.flag("check_unicast_src", v.check_unicast_src);
        self.opt_bool("skip_check_adv_addr", v.skip_check_adv_addr);
        self.raws(&v.other);
        self.close();
    }

    fn lb_kind(&mut self, key: &str, k: LbKind) {
        match k {
            LbKind::Nat => self.kv(key, "NAT"),
            LbKind::Dr => self.kv(key, "DR"),
            LbKind::Tun { tunnel, port, csum } => {
                let port = port.map(|p| p.to_string());
                let mut w = vec![key, "TUN", "type"];
                w.push(match tunnel {
                    TunnelType::Ipip => "ipip",
                    TunnelType::Gue => "gue",
                    TunnelType::Gre => "gre",
                });
                if let Some(p) = &port {
                    w.extend(["port", p.as_str()]);
                }
                match csum {
                    Some(TunnelCsum::Nocsum) => w.push("nocsum"),
                    Some(TunnelCsum::Csum) => w.push("csum"),
                    Some(TunnelCsum::Remcsum) => w.push("remcsum"),
                    None => {}
                }
                self.line(&w);
            }
        }
    }

    fn virtual_server(&mut self, vs: &VirtualServer) {
        match &vs.key {
            VirtualServerKey::Addr { ip, port } => {
                self.open(&["virtual_server", &ip.to_string(), &port.to_string()])
            }
            VirtualServerKey::Fwmark { mark } => {
                self.open(&["virtual_server", "fwmark", &mark.to_string()])
            }
            VirtualServerKey::Group { name } => self.open(&["virtual_server", "group", name]),
        }
        if vs.delay_loop != Timer::secs(60) {
            self.kv("delay_loop", vs.delay_loop);
        }
        self.kv("lvs_sched", &vs.lvs_sched);
        self.lb_kind("lvs_method", vs.lvs_method);
        for f in &vs.sched_flags {
            self.line(&[f]);
        }
        match vs.ip_family {
            Some(IpFamily::Inet) => self.kv("ip_family", "inet"),
            Some(IpFamily::Inet6) => self.kv("ip_family", "inet6"),
            None => {}
        }
        self.kv(
            "protocol",
            match vs.protocol {
                Protocol::Tcp => "TCP",
                Protocol::Udp => "UDP",
                Protocol::Sctp => "SCTP",
            },
        );
        self.opt("persistence_timeout", &vs.persistence_timeout);
        self.opt("persistence_granularity", &vs.persistence_granularity);
        self.opt("persistence_engine", &vs.persistence_engine);
        self.flag("ha_suspend", vs.ha_suspend);
        self.flag("ops", vs.ops);
        if vs.quorum != 1 {
            self.kv("quorum", vs.quorum);
        }
        if vs.hysteresis != 0 {
            self.kv("hysteresis", vs.hysteresis);
        }
        self.opt("quorum_up", &vs.quorum_up);
        self.opt("quorum_down", &vs.quorum_down);
        self.flag("alpha", vs.alpha);
        self.flag("omega", vs.omega);
        self.flag("inhibit_on_failure", vs.inhibit_on_failure);
        if let Some((ip, port)) = vs.sorry_server {
            match port {
                Some(p) => self.line(&["sorry_server", &ip.to_string(), &p.to_string()]),
                None => self.line(&["sorry_server", &ip.to_string()]),
            }
        }
        self.flag("sorry_server_inhibit", vs.sorry_server_inhibit);
        if let Some(k) = vs.sorry_server_lvs_method {
            self.lb_kind("sorry_server_lvs_method", k);
        }
        self.opt("virtualhost", &vs.virtualhost);
        self.opt_bool("smtp_alert", vs.smtp_alert);
        self.opt("retry", &vs.retry);
        self.opt("delay_before_retry", &vs.delay_before_retry);
        self.opt("warmup", &vs.warmup);
        self.opt("connect_timeout", &vs.connect_timeout);
        self.flag("ha_announce", vs.ha_announce);
        self.opt("ha_announce_notify", &vs.ha_announce_notify);
        self.raws(&vs.other);
        for rs in &vs.real_servers {
            self.real_server(rs);
        }
        self.close();
    }

    fn real_server(&mut self, rs: &RealServer) {
        match rs.port {
            Some(p) => self.open(&["real_server", &rs.ip.to_string(), &p.to_string()]),
            None => self.open(&["real_server", &rs.ip.to_string()]),
        }
        self.kv("weight", rs.weight);
        if let Some(k) = rs.lvs_method {
            self.lb_kind("lvs_method", k);
        }
        self.opt_bool("inhibit_on_failure", rs.inhibit_on_failure);
        self.opt("notify_up", &rs.notify_up);
        self.opt("notify_down", &rs.notify_down);
        self.opt("uthreshold", &rs.uthreshold);
        self.opt("lthreshold", &rs.lthreshold);
        self.opt("delay_loop", &rs.delay_loop);
        self.opt("retry", &rs.retry);
        self.opt("delay_before_retry", &rs.delay_before_retry);
        self.opt("warmup", &rs.warmup);
        self.opt("connect_timeout", &rs.connect_timeout);
        self.opt_bool("smtp_alert", rs.smtp_alert);
        self.opt("virtualhost", &rs.virtualhost);
        self.opt_bool("alpha", rs.alpha);
        self.raws(&rs.other);
        for c in &rs.checkers {
            self.checker(c);
        }
        self.close();
    }

    fn checker(&mut self, c: &Checker) {
        self.open(&[c.kind.keyword()]);
        self.checker_common(&c.common);
        self.checker_kind(&c.kind);
        self.raws(&c.common.other);
        self.close();
    }

    fn checker_common(&mut self, k: &CheckerCommon) {
        self.opt("connect_ip", &k.connect_ip);
        self.opt("connect_port", &k.connect_port);
        self.opt("bindto", &k.bindto);
        self.opt("bind_port", &k.bind_port);
        self.opt("bind_if", &k.bind_if);
        self.opt("connect_timeout", &k.connect_timeout);
        self.opt("fwmark", &k.fwmark);
        self.opt("retry", &k.retry);
        self.opt("delay_before_retry", &k.delay_before_retry);
        self.opt("warmup", &k.warmup);
        self.opt("delay_loop", &k.delay_loop);
        self.opt_bool("alpha", k.alpha);
        self.opt_bool("log_all_failures", k.log_all_failures);
    }

    fn checker_kind(&mut self, kind: &CheckerKind) {
        match kind {
            CheckerKind::TcpCheck | CheckerKind::PingCheck => {}
            CheckerKind::HttpGet {
                urls,
                virtualhost,
                http_protocol,
            } => {
                self.opt("virtualhost", virtualhost);
                self.opt("http_protocol", http_protocol);
                self.urls(urls);
            }
            CheckerKind::SslGet {
                urls,
                virtualhost,
                http_protocol,
                enable_sni,
                tls_compliant,
            } => {
                self.opt("virtualhost", virtualhost);
                self.opt("http_protocol", http_protocol);
                self.flag("enable_sni", *enable_sni);
                self.flag("tls_compliant", *tls_compliant);
                self.urls(urls);
            }
            CheckerKind::SmtpCheck { helo_name, hosts } => {
                self.opt("helo_name", helo_name);
                for h in hosts {
                    self.open(&["host"]);
                    self.checker_common(h);
                    self.raws(&h.other);
                    self.close();
                }
            }
            CheckerKind::DnsCheck { query_type, name } => {
                self.opt("type", query_type);
                self.opt("name", name);
            }
            CheckerKind::MiscCheck {
                misc_path,
                misc_timeout,
                misc_dynamic,
                user,
            } => {
                self.kv("misc_path", misc_path);
                self.opt("misc_timeout", misc_timeout);
                self.flag("misc_dynamic", *misc_dynamic);
                if let Some(u) = user {
                    self.user("user", u);
                }
            }
            CheckerKind::UdpCheck {
                payload,
                require_reply,
                min_reply_length,
                max_reply_length,
            } => {
                self.opt("payload", payload);
                self.opt("min_reply_length", min_reply_length);
                self.opt("max_reply_length", max_reply_length);
                match require_reply.as_deref() {
                    Some("") => self.line(&["require_reply"]),
                    Some(r) => self.line(&["require_reply", r]),
                    None => {}
                }
            }
            CheckerKind::FileCheck {
                track_file,
                weight,
                reverse,
            } => {
                self.kv("track_file", track_file);
                self.check_weight(*weight, *reverse);
            }
            CheckerKind::BfdCheck { name } => self.kv("name", name),
        }
    }

    fn check_weight(&mut self, weight: Option<i32>, reverse: bool) {
        if let Some(w) = weight {
            if reverse {
                self.line(&["weight", &w.to_string(), "reverse"]);
            } else {
                self.kv("weight", w);
            }
        }
    }

    fn urls(&mut self, urls: &[HttpUrl]) {
        for u in urls {
            self.open(&["url"]);
            self.kv("path", &u.path);
            self.opt("digest", &u.digest);
            if !u.status_code.is_empty() {
                let mut w = vec!["status_code"];
                w.extend(u.status_code.iter().map(String::as_str));
                self.line(&w);
            }
            self.opt("virtualhost", &u.virtualhost);
            self.opt("regex", &u.regex);
            self.flag("regex_no_match", u.regex_no_match);
            if !u.regex_options.is_empty() {
                let mut w = vec!["regex_options"];
                w.extend(u.regex_options.iter().map(String::as_str));
                self.line(&w);
            }
            self.opt("regex_min_offset", &u.regex_min_offset);
            self.opt("regex_max_offset", &u.regex_max_offset);
            if let Some((start, max)) = u.regex_stack {
                self.line(&["regex_stack", &start.to_string(), &max.to_string()]);
            }
            self.opt_bool("tls_compliant", u.tls_compliant);
            self.raws(&u.other);
            self.close();
        }
    }
}
