//! `global_defs` (`src/parse/global.rs`).

use std::net::{Ipv4Addr, Ipv6Addr};

use keepalived_conf::{GlobalDefs, LvsSyncDaemon, NotifyFifo, ScriptUser, SmtpServer, Timer};

use super::{instance, parse};

fn global(body: &str) -> String {
    format!("global_defs {{\n{body}\n}}\n")
}

#[test]
fn an_empty_global_defs_has_keepalived_defaults() {
    let p = parse(&global(""));
    let g = &p.clean().global_defs;
    assert_eq!(*g, GlobalDefs::default());
    assert_eq!((g.smtp_connect_timeout, g.vrrp_version), (30, 2));
    assert_eq!(g.vrrp_mcast_group4, Ipv4Addr::new(224, 0, 0, 18));
    assert_eq!(g.vrrp_mcast_group6, "ff02::12".parse::<Ipv6Addr>().unwrap());
    assert_eq!(
        (
            g.vrrp_garp_master_delay,
            g.vrrp_garp_master_repeat,
            g.vrrp_garp_master_refresh,
            g.vrrp_garp_master_refresh_repeat
        ),
        (5, 5, 0, 1)
    );
    assert_eq!(
        (g.vrrp_garp_lower_prio_delay, g.vrrp_garp_lower_prio_repeat),
        (None, None)
    );
    assert_eq!(
        (g.vrrp_garp_interval, g.vrrp_gna_interval),
        (Timer(0), Timer(0))
    );
    assert_eq!((g.lvs_flush_on_stop, g.vrrp_startup_delay), (None, None));
}

#[test]
fn smtp_server_port_defaults_to_25() {
    let p = parse(&global(" smtp_server 192.0.2.25"));
    assert_eq!(
        p.clean().global_defs.smtp_server,
        Some(SmtpServer {
            host: "192.0.2.25".into(),
            port: 25
        })
    );
    let p = parse(&global(" smtp_server mail.example.com 587"));
    assert_eq!(
        p.clean().global_defs.smtp_server,
        Some(SmtpServer {
            host: "mail.example.com".into(),
            port: 587
        })
    );
}

#[test]
fn smtp_server_port_is_1_to_65535() {
    let p = parse(&global(" smtp_server 192.0.2.25 0"));
    let (d, at) = p.only();
    assert_eq!((d.message.as_str(), at), ("invalid `port` value `0`", "0"));
    assert_eq!(d.help, ["`port` must be a whole number in 1-65535"]);
    assert_eq!(p.config().global_defs.smtp_server, None);
}

#[test]
fn smtp_server_without_host_is_an_error() {
    let p = parse(&global(" smtp_server"));
    let (d, _) = p.only();
    assert_eq!(d.message, "`smtp_server` needs a host");
    assert_eq!(p.config().global_defs.smtp_server, None);
}

#[test]
fn smtp_connect_timeout_and_helo() {
    let p = parse(&global(
        " smtp_connect_timeout 1\n smtp_helo_name lb-a.example.com",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(g.smtp_connect_timeout, 1);
    assert_eq!(g.smtp_helo_name.as_deref(), Some("lb-a.example.com"));
    // A rejected value leaves keepalived's default.
    let p = parse(&global(" smtp_connect_timeout -5"));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("invalid-value", "-5"));
    assert_eq!(p.config().global_defs.smtp_connect_timeout, 30);
}

#[test]
fn vrrp_version_is_2_or_3() {
    let p = parse(&global(" vrrp_version 3"));
    assert_eq!(p.clean().global_defs.vrrp_version, 3);
    for bad in ["1", "4"] {
        let p = parse(&global(&format!(" vrrp_version {bad}")));
        let (d, at) = p.only();
        assert_eq!(at, bad);
        assert_eq!(d.help, ["`vrrp_version` must be a whole number in 2-3"]);
        assert_eq!(p.config().global_defs.vrrp_version, 2);
    }
}

#[test]
fn multicast_groups_of_each_family() {
    let p = parse(&global(
        " vrrp_mcast_group4 224.0.0.19\n vrrp_mcast_group6 ff02::13",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(g.vrrp_mcast_group4, Ipv4Addr::new(224, 0, 0, 19));
    assert_eq!(g.vrrp_mcast_group6, "ff02::13".parse::<Ipv6Addr>().unwrap());

    let p = parse(&global(" vrrp_mcast_group4 224.0.0"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`224.0.0` is not an IP address", "224.0.0")
    );
}

#[test]
fn multicast_groups_must_be_multicast_of_their_family() {
    // keepalived (vrrp_mcast_group4/6_handler) reports each of these and keeps its default.
    for (line, message) in [
        (
            "vrrp_mcast_group4 ff02::12",
            "`ff02::12` is not an IPv4 address",
        ),
        (
            "vrrp_mcast_group4 192.0.2.18",
            "`192.0.2.18` is not a multicast address",
        ),
        (
            "vrrp_mcast_group6 224.0.0.18",
            "`224.0.0.18` is not an IPv6 address",
        ),
        (
            "vrrp_mcast_group6 2001:db8::12",
            "`2001:db8::12` is not a multicast address",
        ),
    ] {
        let p = parse(&global(&format!(" {line}")));
        let (d, at) = p.only();
        assert_eq!(
            (d.code, d.message.as_str()),
            ("invalid-value", message),
            "{line}"
        );
        assert_eq!(at, line.split(' ').nth(1).unwrap());
        assert_eq!(p.config().global_defs, GlobalDefs::default());
    }
    let p = parse(&global(" vrrp_mcast_group4 192.0.2.18"));
    assert_eq!(
        p.only().0.help,
        ["`vrrp_mcast_group4` must be an IPv4 multicast address, e.g. `224.0.0.18`"]
    );
}

#[test]
fn an_ipv6_group_beyond_the_link_is_a_warning() {
    let p = parse(&global(" vrrp_mcast_group6 ff05::12"));
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.is_error(), at),
        ("mcast-group-scope", false, "ff05::12")
    );
    assert_eq!(
        p.config().global_defs.vrrp_mcast_group6,
        "ff05::12".parse::<Ipv6Addr>().unwrap()
    );
}

#[test]
fn garp_settings() {
    let p = parse(&global(
        " vrrp_garp_master_delay 0\n vrrp_garp_master_repeat 3\n vrrp_garp_master_refresh 60\n \
         vrrp_garp_master_refresh_repeat 2\n vrrp_garp_lower_prio_delay 4\n \
         vrrp_garp_lower_prio_repeat 6\n vrrp_garp_interval 0.001\n vrrp_gna_interval 0.000001\n \
         vrrp_min_garp",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(
        (
            g.vrrp_garp_master_delay,
            g.vrrp_garp_master_repeat,
            g.vrrp_garp_master_refresh,
            g.vrrp_garp_master_refresh_repeat
        ),
        (0, 3, 60, 2)
    );
    assert_eq!(
        (g.vrrp_garp_lower_prio_delay, g.vrrp_garp_lower_prio_repeat),
        (Some(4), Some(6))
    );
    assert_eq!(
        (g.vrrp_garp_interval, g.vrrp_gna_interval),
        (Timer(1_000), Timer(1))
    );
    assert!(g.vrrp_min_garp);
}

#[test]
fn garp_and_smtp_limits_are_keepalived_s() {
    // keepalived keeps these delays in microseconds in an unsigned int: at most 4294 s;
    // repeat counts go up to UINT_MAX (lower_prio_repeat to INT_MAX).
    let p = parse(&global(
        " vrrp_garp_master_delay 4294\n vrrp_garp_master_repeat 4294967295\n \
         vrrp_garp_master_refresh_repeat 20000\n vrrp_garp_lower_prio_delay 4294\n \
         vrrp_garp_lower_prio_repeat 2147483647\n smtp_connect_timeout 4294",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(
        (
            g.vrrp_garp_master_delay,
            g.vrrp_garp_master_repeat,
            g.vrrp_garp_master_refresh_repeat
        ),
        (4294, u32::MAX, 20000)
    );
    assert_eq!(
        (g.vrrp_garp_lower_prio_delay, g.vrrp_garp_lower_prio_repeat),
        (Some(4294), Some(i32::MAX as u32))
    );
    assert_eq!(g.smtp_connect_timeout, 4294);
    for (line, help) in [
        ("vrrp_garp_master_delay 4295", "in 0-4294"),
        ("vrrp_garp_lower_prio_delay 4295", "in 0-4294"),
        ("vrrp_garp_lower_prio_repeat 2147483648", "in 0-2147483647"),
        ("smtp_connect_timeout 4295", "in 1-4294"),
    ] {
        let p = parse(&global(&format!(" {line}")));
        let (d, _) = p.only();
        let key = line.split(' ').next().unwrap();
        assert_eq!(
            d.help,
            [format!("`{key}` must be a whole number {help}")],
            "{line}"
        );
    }
}

#[test]
fn global_flags() {
    let p = parse(&global(
        " vrrp_lower_prio_no_advert\n vrrp_higher_prio_send_advert yes\n vrrp_check_unicast_src on\n \
         vrrp_skip_check_adv_addr true\n enable_script_security\n lvs_flush\n dynamic_interfaces\n \
         smtp_alert off",
    ));
    let g = &p.clean().global_defs;
    assert!(g.vrrp_lower_prio_no_advert && g.vrrp_higher_prio_send_advert);
    assert!(g.vrrp_check_unicast_src && g.vrrp_skip_check_adv_addr);
    assert!(g.enable_script_security && g.lvs_flush && g.dynamic_interfaces);
    assert_eq!(g.smtp_alert, Some(false));
    assert!(!g.vrrp_strict);
}

#[test]
fn script_user_with_and_without_group() {
    let p = parse(&global(" script_user keepalived_script"));
    assert_eq!(
        p.clean().global_defs.script_user,
        Some(ScriptUser {
            user: "keepalived_script".into(),
            group: None
        })
    );
    let p = parse(&global(" script_user nobody nogroup"));
    assert_eq!(
        p.clean().global_defs.script_user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
}

#[test]
fn script_user_needs_a_user() {
    let p = parse(&global(" script_user"));
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.message.as_str()),
        ("missing-value", "`script_user` needs a user name")
    );
    assert_eq!(at, "script_user");
}

#[test]
fn notify_fifos_with_and_without_owner() {
    let p = parse(&global(
        " notify_fifo /run/keepalived.fifo root wheel\n vrrp_notify_fifo /run/vrrp.fifo",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(
        g.notify_fifo,
        Some(NotifyFifo {
            path: "/run/keepalived.fifo".into(),
            owner: Some(ScriptUser {
                user: "root".into(),
                group: Some("wheel".into())
            })
        })
    );
    assert_eq!(
        g.vrrp_notify_fifo,
        Some(NotifyFifo {
            path: "/run/vrrp.fifo".into(),
            owner: None
        })
    );
}

#[test]
fn notify_fifo_takes_at_most_path_user_and_group() {
    let p = parse(&global(" notify_fifo /run/f root wheel extra"));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("extra-argument", "extra"));
    assert!(p.config().global_defs.notify_fifo.is_some());
}

#[test]
fn process_priorities_and_their_limits() {
    let p = parse(&global(
        " vrrp_priority -20\n checker_priority 19\n vrrp_rt_priority 99",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(
        (g.vrrp_priority, g.checker_priority, g.vrrp_rt_priority),
        (Some(-20), Some(19), Some(99))
    );
    let p = parse(&global(" vrrp_priority -21"));
    let (d, _) = p.only();
    assert_eq!(
        d.help,
        ["`vrrp_priority` must be a whole number from -20 to 19"]
    );
    let p = parse(&global(" vrrp_rt_priority 0"));
    let (d, _) = p.only();
    assert_eq!(
        d.help,
        ["`vrrp_rt_priority` must be a whole number in 1-99"]
    );
}

#[test]
fn lvs_sync_daemon_minimal_and_with_every_option() {
    let p = parse(&(global(" lvs_sync_daemon eth1 VI_1") + &instance("")));
    assert_eq!(
        p.clean().global_defs.lvs_sync_daemon,
        Some(LvsSyncDaemon {
            interface: "eth1".into(),
            vrrp_instance: "VI_1".into(),
            sync_id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        })
    );
    let p = parse(
        &(global(" lvs_sync_daemon eth1 VI_1 id 0 maxlen 65507 port 65535 ttl 255 group ff02::81")
            + &instance("")),
    );
    let d = p.clean().global_defs.lvs_sync_daemon.clone().unwrap();
    assert_eq!(
        (d.sync_id, d.maxlen, d.port, d.ttl),
        (Some(0), Some(65507), Some(65535), Some(255))
    );
    assert_eq!(d.group, Some("ff02::81".parse().unwrap()));
}

#[test]
fn lvs_sync_daemon_values_and_options_are_checked() {
    // keepalived's maxlen bound: the largest UDP payload of an IPv4 packet.
    let p = parse(&(global(" lvs_sync_daemon eth1 VI_1 maxlen 65508") + &instance("")));
    let (d, at) = p.only();
    assert_eq!(d.message, "invalid `maxlen` value `65508`");
    assert_eq!(
        (at, d.help[0].as_str()),
        ("65508", "`maxlen` must be a whole number in 1-65507")
    );

    let p = parse(&(global(" lvs_sync_daemon eth1 VI_1 syncid 5") + &instance("")));
    let (d, at) = p.only();
    assert_eq!(d.message, "unknown lvs_sync_daemon option `syncid`");
    assert_eq!(at, "syncid");
    assert_eq!(
        d.help,
        ["options are inst, id, maxlen, port, ttl and group"]
    );

    let p = parse(&global(" lvs_sync_daemon eth1"));
    let (d, _) = p.only();
    assert_eq!(d.message, "`lvs_sync_daemon` needs a VRRP instance name");
    assert_eq!(p.config().global_defs.lvs_sync_daemon, None);
}

#[test]
fn lvs_sync_daemon_inst_form_and_old_positional_id() {
    // keepalived: `inst NAME` anywhere after the interface.
    let p = parse(&(global(" lvs_sync_daemon eth1 id 7 inst VI_1 port 8848") + &instance("")));
    let d = p.clean().global_defs.lvs_sync_daemon.clone().unwrap();
    assert_eq!(
        (d.vrrp_instance.as_str(), d.sync_id, d.port),
        ("VI_1", Some(7), Some(8848))
    );
    let p = parse(&(global(" lvs_sync_daemon eth1 inst VI_1") + &instance("")));
    assert_eq!(
        p.clean()
            .global_defs
            .lvs_sync_daemon
            .clone()
            .unwrap()
            .sync_id,
        None
    );
    // The old `IF NAME SYNCID`: applied, with a warning.
    let p = parse(&(global(" lvs_sync_daemon eth1 VI_1 9") + &instance("")));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("deprecated", "9"));
    assert_eq!(
        p.config()
            .global_defs
            .lvs_sync_daemon
            .clone()
            .unwrap()
            .sync_id,
        Some(9)
    );
    let p = parse(&global(" lvs_sync_daemon eth1 id 3"));
    let (d, _) = p.only();
    assert_eq!(d.message, "`lvs_sync_daemon` needs a VRRP instance name");
}

#[test]
fn lvs_timeouts_each_optional() {
    let p = parse(&global(" lvs_timeouts udp 300 tcp 7200"));
    let t = p.clean().global_defs.lvs_timeouts;
    assert_eq!((t.tcp, t.tcpfin, t.udp), (Some(7200), None, Some(300)));

    // keepalived's LVS_MAX_TIMEOUT: 31 days.
    let p = parse(&global(" lvs_timeouts tcpfin 2678400"));
    assert_eq!(p.clean().global_defs.lvs_timeouts.tcpfin, Some(2_678_400));
    let p = parse(&global(" lvs_timeouts udp 2678401"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `udp` value `2678401`", "2678401")
    );

    let p = parse(&global(" lvs_timeouts tcp"));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("missing-value", "lvs_timeouts tcp"));
    assert_eq!(d.message, "`lvs_timeouts` needs a number");
}

#[test]
fn lvs_flush_on_stop_all_or_only_our_virtual_servers() {
    let p = parse(&global(" lvs_flush_on_stop"));
    assert_eq!(p.clean().global_defs.lvs_flush_on_stop, Some(false));
    let p = parse(&global(" lvs_flush_on_stop VS"));
    assert_eq!(p.clean().global_defs.lvs_flush_on_stop, Some(true));
}

#[test]
fn lvs_flush_on_stop_of_another_type_is_an_error_and_flushes_nothing() {
    // keepalived compares with `VS` exactly and reports anything else, leaving the
    // table alone at stop: `vs` must not become a full flush.
    let p = parse(&global(" lvs_flush_on_stop vs"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unknown lvs_flush_on_stop type `vs`", "vs")
    );
    assert!(d.help[0].ends_with("did you mean `VS`?"), "{:?}", d.help);
    assert_eq!(p.config().global_defs.lvs_flush_on_stop, None);
}

#[test]
fn notification_email_is_a_list_of_addresses() {
    let p = parse(&global(
        " notification_email {\n  ops@example.com\n  \"noc team@example.com\"\n }\n \
         notification_email_from keepalived@lb-a",
    ));
    let g = &p.clean().global_defs;
    assert_eq!(
        g.notification_email,
        ["ops@example.com", "noc team@example.com"]
    );
    assert_eq!(
        g.notification_email_from.as_deref(),
        Some("keepalived@lb-a")
    );

    let p = parse(&global(
        " notification_email {\n  ops@example.com extra\n }",
    ));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("extra-argument", "extra"));
}

#[test]
fn misspelt_global_keywords_suggest_and_known_ones_are_kept() {
    let p = parse(&global(" vrrp_garp_master_delya 5"));
    let (d, at) = p.only();
    assert_eq!(
        d.message,
        "unknown keyword `vrrp_garp_master_delya` in `global_defs`"
    );
    assert_eq!(at, "vrrp_garp_master_delya");
    assert_eq!(d.help, ["did you mean `vrrp_garp_master_delay`?"]);
    assert_eq!(p.config().global_defs.vrrp_garp_master_delay, 5);

    let p = parse(&global(" max_auto_priority 10"));
    let other = &p.clean().global_defs.other;
    assert_eq!(
        (other[0].keyword.as_str(), other[0].args.as_slice()),
        ("max_auto_priority", &["10".to_string()][..])
    );
}

#[test]
fn script_and_alert_keywords_of_global_defs() {
    let p = parse(&global(
        " startup_script \"/bin/up a\" nobody\n startup_script_timeout 20\n \
         shutdown_script /bin/down\n notify_fifo /run/f\n notify_fifo_script /bin/r\n \
         vrrp_notify_fifo_script /bin/v nobody nogroup\n lvs_notify_fifo /run/l\n \
         lvs_notify_fifo_script /bin/l\n vrrp_notify_priority_changes\n smtp_alert_vrrp off\n \
         smtp_alert_checker\n no_email_faults",
    ));
    let g = &p.clean().global_defs;
    let line = |command: &str, user: Option<(&str, Option<&str>)>| {
        Some(keepalived_conf::ScriptLine {
            command: command.into(),
            user: user.map(|(u, g)| ScriptUser {
                user: u.into(),
                group: g.map(Into::into),
            }),
        })
    };
    assert_eq!(g.startup_script, line("/bin/up a", Some(("nobody", None))));
    assert_eq!(g.startup_script_timeout, Some(20));
    assert_eq!(g.shutdown_script, line("/bin/down", None));
    assert_eq!(g.shutdown_script_timeout, None);
    assert_eq!(g.notify_fifo_script, line("/bin/r", None));
    assert_eq!(
        g.vrrp_notify_fifo_script,
        line("/bin/v", Some(("nobody", Some("nogroup"))))
    );
    assert_eq!(
        g.lvs_notify_fifo,
        Some(NotifyFifo {
            path: "/run/l".into(),
            owner: None
        })
    );
    assert_eq!(g.lvs_notify_fifo_script, line("/bin/l", None));
    assert_eq!(g.vrrp_notify_priority_changes, Some(true));
    assert_eq!(g.smtp_alert_vrrp, Some(false));
    assert_eq!(g.smtp_alert_checker, Some(true));
    assert!(g.no_email_faults);
    // keepalived: the timeouts are 1-1000 s.
    let p = parse(&global(" shutdown_script_timeout 0"));
    assert_eq!(p.only().0.code, "invalid-value");
}
