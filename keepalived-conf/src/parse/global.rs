//! `global_defs` and its sub-parsers (`script_user`, `notify_fifo`, `lvs_sync_daemon`, ...).

use std::net::IpAddr;

use super::{with_suggestion, Fields, Parser, LVS_MAX_TIMEOUT, MAX_DELAY_SECS};
use crate::diag::Diagnostic;
use crate::model::*;
use crate::syntax::Node;

impl Parser<'_> {
    pub(super) fn global_defs(&mut self, n: &Node, g: &mut GlobalDefs) {
        let mut fields = Fields::default();
        for s in self.block(n) {
            fields.note(s);
            match s.key.text.as_str() {
                "router_id" => g.router_id = self.string(s),
                "notification_email" => {
                    for e in self.block(s) {
                        g.notification_email.push(e.key.text.clone());
                        self.extra_args(e, 0);
                    }
                }
                "notification_email_from" => g.notification_email_from = self.string(s),
                "smtp_server" => {
                    self.extra_args(s, 2);
                    if let Some(host) = self.arg(s, 0, "a host") {
                        let host = host.to_string();
                        let port = if s.args.len() > 1 {
                            self.port_at(s, 1, 1)
                        } else {
                            Some(25)
                        };
                        g.smtp_server = port.map(|port| SmtpServer { host, port });
                    }
                }
                "smtp_helo_name" => g.smtp_helo_name = self.string(s),
                "smtp_connect_timeout" => {
                    if let Some(v) = self.num1(s, 1u32, MAX_DELAY_SECS) {
                        g.smtp_connect_timeout = v
                    }
                }
                "smtp_alert" => g.smtp_alert = Some(self.flag(s)),
                "vrrp_version" => {
                    if let Some(v) = self.num1(s, 2u8, 3) {
                        g.vrrp_version = v
                    }
                }
                "vrrp_strict" => g.vrrp_strict = self.flag(s),
                "vrrp_mcast_group4" => {
                    if let Some(IpAddr::V4(a)) = self.mcast_group(s, false) {
                        g.vrrp_mcast_group4 = a
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(IpAddr::V6(a)) = self.mcast_group(s, true) {
                        g.vrrp_mcast_group6 = a
                    }
                }
                "vrrp_garp_master_delay" => {
                    if let Some(v) = self.num1(s, 0u32, MAX_DELAY_SECS) {
                        g.vrrp_garp_master_delay = v
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(v) = self.num1(s, 0u32, u32::MAX) {
                        g.vrrp_garp_master_repeat = v
                    }
                }
                "vrrp_garp_master_refresh" => {
                    if let Some(v) = self.num1(s, 0u32, u32::MAX) {
                        g.vrrp_garp_master_refresh = v
                    }
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(v) = self.num1(s, 0u32, u32::MAX) {
                        g.vrrp_garp_master_refresh_repeat = v
                    }
                }
                "vrrp_garp_lower_prio_delay" => {
                    g.vrrp_garp_lower_prio_delay = self.num1(s, 0u32, MAX_DELAY_SECS)
                }
                "vrrp_garp_lower_prio_repeat" => {
                    g.vrrp_garp_lower_prio_repeat = self.num1(s, 0u32, i32::MAX as u32)
                }
                "vrrp_garp_interval" => {
                    if let Some(t) = self.timer(s) {
                        g.vrrp_garp_interval = t
                    }
                }
                "vrrp_gna_interval" => {
                    if let Some(t) = self.timer(s) {
                        g.vrrp_gna_interval = t
                    }
                }
                "vrrp_min_garp" => g.vrrp_min_garp = self.flag(s),
                "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = self.flag(s),
                "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = self.flag(s),
                "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = self.flag(s),
                "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = self.flag(s),
                "script_user" => g.script_user = self.script_user(s),
                "notify_fifo" => g.notify_fifo = self.notify_fifo(s),
                "vrrp_priority" => g.vrrp_priority = self.num(s, 0, -20i32, 19),
                "vrrp_rt_priority" => g.vrrp_rt_priority = self.num(s, 0, 1u32, 99),
                "checker_priority" => g.checker_priority = self.num(s, 0, -20i32, 19),
                "vrrp_notify_fifo" => g.vrrp_notify_fifo = self.notify_fifo(s),
                "enable_script_security" => g.enable_script_security = self.flag(s),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(s),
                "lvs_timeouts" => {
                    let mut i = 0;
                    while i < s.args.len() {
                        let which = s.args[i].text.as_str();
                        let v = self.num(s, i + 1, 0u32, LVS_MAX_TIMEOUT);
                        match which {
                            "tcp" => g.lvs_timeouts.tcp = v,
                            "tcpfin" => g.lvs_timeouts.tcpfin = v,
                            "udp" => g.lvs_timeouts.udp = v,
                            other => self.bad_value(
                                s,
                                i,
                                format!("unknown LVS timeout `{other}`"),
                                "write `lvs_timeouts [tcp SECS] [tcpfin SECS] [udp SECS]`".into(),
                            ),
                        }
                        i += 2;
                    }
                }
                "lvs_flush" => g.lvs_flush = self.flag(s),
                // `lvs_flush_onstop`: keepalived's name for it until 2.1.5, still accepted.
                "lvs_flush_on_stop" | "lvs_flush_onstop" => {
                    self.extra_args(s, 1);
                    // keepalived rejects any other word, leaving flush-on-stop off.
                    g.lvs_flush_on_stop = match s.arg(0) {
                        None => Some(false),
                        Some("VS") => Some(true),
                        Some(other) => {
                            self.bad_value(
                                s,
                                0,
                                format!("unknown lvs_flush_on_stop type `{other}`"),
                                with_suggestion(
                                    "write `lvs_flush_on_stop` to flush the whole IPVS table, \
                                     or `lvs_flush_on_stop VS` for only our virtual servers",
                                    other,
                                    &["VS"],
                                ),
                            );
                            None
                        }
                    };
                }
                "vrrp_startup_delay" => g.vrrp_startup_delay = self.timer(s),
                "dynamic_interfaces" => g.dynamic_interfaces = true,
                "lvs_notify_fifo" => g.lvs_notify_fifo = self.notify_fifo(s),
                "notify_fifo_script" => g.notify_fifo_script = self.script_line(s),
                "vrrp_notify_fifo_script" => g.vrrp_notify_fifo_script = self.script_line(s),
                "lvs_notify_fifo_script" => g.lvs_notify_fifo_script = self.script_line(s),
                "vrrp_notify_priority_changes" => {
                    g.vrrp_notify_priority_changes = Some(self.flag(s))
                }
                "smtp_alert_vrrp" => g.smtp_alert_vrrp = Some(self.flag(s)),
                "smtp_alert_checker" => g.smtp_alert_checker = Some(self.flag(s)),
                "no_email_faults" => {
                    self.extra_args(s, 0);
                    g.no_email_faults = true
                }
                "startup_script" => g.startup_script = self.script_line(s),
                "shutdown_script" => g.shutdown_script = self.script_line(s),
                "startup_script_timeout" => g.startup_script_timeout = self.num1(s, 1u32, 1000),
                "shutdown_script_timeout" => g.shutdown_script_timeout = self.num1(s, 1u32, 1000),
                "ha_announce_interface" => g.ha_announce_interface = self.ifname(s),
                _ => self.other(s, &mut g.other, "`global_defs`"),
            }
        }
        self.save_fields("global_defs".to_string(), fields);
    }

    /// `vrrp_mcast_group4|6 ADDRESS`: a multicast address of the keyword's family, as
    /// keepalived checks (an IPv6 group that is not link-local is only warned about).
    fn mcast_group(&mut self, s: &Node, v6: bool) -> Option<IpAddr> {
        let addr = self.ip(s)?;
        let (family, example) = if v6 {
            ("IPv6", "ff02::12")
        } else {
            ("IPv4", "224.0.0.18")
        };
        let problem = if addr.is_ipv6() != v6 {
            format!("`{addr}` is not an {family} address")
        } else if !addr.is_multicast() {
            format!("`{addr}` is not a multicast address")
        } else {
            if let IpAddr::V6(a) = addr {
                // ff02::/16: link-local scope, where VRRP adverts belong.
                if a.segments()[0] & 0xff0f != 0xff02 {
                    self.push(
                        Diagnostic::warning(
                            "mcast-group-scope",
                            Some(s.args[0].span),
                            format!("`{addr}` is not a link-local multicast address"),
                        )
                        .with_label("VRRP adverts should stay on the link")
                        .with_help(format!("keepalived's default is `{example}`")),
                    );
                }
            }
            return Some(addr);
        };
        self.bad_value(
            s,
            0,
            problem,
            format!(
                "`{}` must be an {family} multicast address, e.g. `{example}`",
                s.key.text
            ),
        );
        None
    }

    pub(super) fn script_user(&mut self, s: &Node) -> Option<ScriptUser> {
        self.extra_args(s, 2);
        let user = self.arg(s, 0, "a user name")?.to_string();
        Some(ScriptUser {
            user,
            group: s.arg(1).map(str::to_string),
        })
    }

    fn notify_fifo(&mut self, s: &Node) -> Option<NotifyFifo> {
        self.extra_args(s, 3);
        let path = self.arg(s, 0, "a FIFO path")?.to_string();
        let owner = s.arg(1).map(|user| ScriptUser {
            user: user.to_string(),
            group: s.arg(2).map(str::to_string),
        });
        Some(NotifyFifo { path, owner })
    }

    /// `lvs_sync_daemon IF [inst] NAME [id N] [maxlen L] [port P] [ttl T] [group G]`, as
    /// keepalived reads it: the instance either as `inst NAME` or as the word after the
    /// interface, and the old positional sync id (`IF NAME ID`) with a warning.
    fn lvs_sync_daemon(&mut self, s: &Node) -> Option<LvsSyncDaemon> {
        let interface = self.arg(s, 0, "an interface")?.to_string();
        let mut d = LvsSyncDaemon {
            interface,
            vrrp_instance: String::new(),
            sync_id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut instance: Option<String> = None;
        let mut positional = false;
        let mut i = 1;
        while i < s.args.len() {
            match s.args[i].text.as_str() {
                "inst" => {
                    let name = self.arg(s, i + 1, "a VRRP instance name")?;
                    if instance.is_some() {
                        self.bad_value(
                            s,
                            i,
                            "the VRRP instance of `lvs_sync_daemon` is given twice".into(),
                            "name it once, as `inst NAME` or as the word after the interface"
                                .into(),
                        );
                    } else {
                        instance = Some(name.to_string());
                    }
                }
                "id" => d.sync_id = self.num(s, i + 1, 0u8, 255),
                "maxlen" => d.maxlen = self.num(s, i + 1, 1u16, 65535 - 20 - 8),
                "port" => d.port = self.num(s, i + 1, 1u16, 65535),
                "ttl" => d.ttl = self.num(s, i + 1, 1u8, 255),
                "group" => d.group = self.ip_at(s, i + 1),
                name if i == 1 => {
                    instance = Some(name.to_string());
                    positional = true;
                    i += 1;
                    continue;
                }
                // keepalived's old form `IF NAME SYNCID`, still applied (with its warning).
                w if i == 2 && positional && d.sync_id.is_none() && w.parse::<u32>().is_ok() => {
                    d.sync_id = self.num_named(s, i, "lvs_sync_daemon sync id", 0u8, 255);
                    self.push(
                        Diagnostic::warning(
                            "deprecated",
                            Some(s.args[i].span),
                            "a sync id without `id` before it is an old form".to_string(),
                        )
                        .with_label("read as `id`")
                        .with_help("write `id N`, as keepalived asks"),
                    );
                    i += 1;
                    continue;
                }
                other => {
                    self.bad_value(
                        s,
                        i,
                        format!("unknown lvs_sync_daemon option `{other}`"),
                        "options are inst, id, maxlen, port, ttl and group".into(),
                    );
                    break;
                }
            }
            i += 2;
        }
        let Some(name) = instance else {
            // keepalived would run both sync daemons, following no instance: not done here.
            self.push(
                Diagnostic::error(
                    "missing-value",
                    Some(s.span()),
                    "`lvs_sync_daemon` needs a VRRP instance name".to_string(),
                )
                .with_label("expected a VRRP instance name after the interface")
                .with_help("`lvs_sync_daemon IF NAME` or `lvs_sync_daemon IF inst NAME`"),
            );
            return None;
        };
        d.vrrp_instance = name;
        Some(d)
    }
}
