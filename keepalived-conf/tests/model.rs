//! The typed model: every keyword group of a configuration that uses every block, the
//! defaults, the canonical printer and the JSON form.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use keepalived_conf::diag::render;
use keepalived_conf::*;

fn data(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/config")
        .join(path)
}

fn load(path: &Path) -> (Loaded, SourceMap) {
    let mut sources = SourceMap::default();
    let loaded = load_file(path, &Options::default(), &mut sources);
    (loaded, sources)
}

/// What the compatibility check says of keywords ha does not apply (tested in `compat.rs`):
/// these tests are about the model, which holds what keepalived would do with them.
fn is_compat(d: &Diagnostic) -> bool {
    matches!(
        d.code,
        "not-applied" | "accepted-not-applied" | "applied-differently"
    )
}

fn load_clean(path: &Path) -> Config {
    let (loaded, sources) = load(path);
    let found: Vec<Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| !is_compat(d))
        .cloned()
        .collect();
    assert!(found.is_empty(), "{}", render(&found, &sources, false));
    loaded.config
}

fn parse_clean(text: &str) -> Config {
    let mut sources = SourceMap::default();
    let loaded = parse_str("t.conf", text, &Options::default(), &mut sources);
    assert!(
        !loaded
            .diagnostics
            .iter()
            .any(|d| d.is_error() && !is_compat(d)),
        "{}",
        render(&loaded.diagnostics, &sources, false)
    );
    loaded.config
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn global_defs_keywords() {
    let c = load_clean(&data("valid/full.conf"));
    let g = &c.global_defs;
    assert_eq!(g.router_id.as_deref(), Some("lb-a"));
    assert_eq!(
        g.notification_email,
        ["ops@example.com", "noc team@example.com"]
    );
    assert_eq!(
        g.notification_email_from.as_deref(),
        Some("keepalived@lb-a.example.com")
    );
    assert_eq!(
        g.smtp_server,
        Some(SmtpServer {
            host: "192.0.2.25".into(),
            port: 2525
        })
    );
    assert_eq!(g.smtp_helo_name.as_deref(), Some("lb-a.example.com"));
    assert_eq!(g.smtp_connect_timeout, 10);
    assert_eq!(g.smtp_alert, Some(true));
    assert_eq!(g.vrrp_version, 2);
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.19");
    assert_eq!(g.vrrp_mcast_group6.to_string(), "ff02::13");
    assert_eq!(
        (
            g.vrrp_garp_master_delay,
            g.vrrp_garp_master_repeat,
            g.vrrp_garp_master_refresh,
            g.vrrp_garp_master_refresh_repeat
        ),
        (2, 3, 60, 2)
    );
    assert_eq!(
        (g.vrrp_garp_lower_prio_delay, g.vrrp_garp_lower_prio_repeat),
        (Some(4), Some(6))
    );
    assert_eq!(g.vrrp_garp_interval, Timer(1_000));
    assert_eq!(g.vrrp_gna_interval, Timer(500));
    assert!(g.vrrp_lower_prio_no_advert && g.vrrp_higher_prio_send_advert);
    assert!(g.vrrp_check_unicast_src && g.vrrp_skip_check_adv_addr);
    assert_eq!(
        g.script_user,
        Some(ScriptUser {
            user: "keepalived_script".into(),
            group: Some("scripts".into())
        })
    );
    assert!(g.enable_script_security);
    assert_eq!(
        g.lvs_sync_daemon,
        Some(LvsSyncDaemon {
            interface: "eth1".into(),
            vrrp_instance: "VI_1".into(),
            sync_id: Some(5),
            maxlen: Some(1400),
            port: Some(8848),
            ttl: Some(2),
            group: Some(ip("224.0.0.81")),
        })
    );
    assert_eq!(
        g.lvs_timeouts,
        LvsTimeouts {
            tcp: Some(7200),
            tcpfin: Some(120),
            udp: Some(300)
        }
    );
    assert!(g.lvs_flush);
    assert_eq!(g.lvs_flush_on_stop, Some(true));
    assert_eq!(g.vrrp_startup_delay, Some(Timer(5_500_000)));
    assert!(g.dynamic_interfaces);
    // Known keywords without a typed field are kept, in order.
    let other: Vec<&str> = g.other.iter().map(|r| r.keyword.as_str()).collect();
    assert_eq!(other, ["max_auto_priority", "enable_snmp_vrrp"]);
}

#[test]
fn static_script_track_and_sync_group_blocks() {
    let c = load_clean(&data("valid/full.conf"));
    let st = &c.static_ipaddress[0];
    assert_eq!((st.addr, st.prefix), (ip("198.51.100.1"), Some(24)));
    assert_eq!(
        (st.dev.as_deref(), st.scope.as_deref(), st.label.as_deref()),
        (Some("eth2"), Some("link"), Some("eth2:st"))
    );
    assert_eq!(
        c.static_routes,
        [["203.0.113.0/24", "via", "198.51.100.254", "dev", "eth2"]]
    );

    let s = &c.vrrp_scripts[0];
    assert_eq!(s.name, "chk_haproxy");
    assert_eq!(s.script, "/usr/bin/killall -0 haproxy");
    assert_eq!(
        (s.interval, s.timeout),
        (Timer::secs(2), Some(Timer::secs(3)))
    );
    assert_eq!((s.weight, s.rise, s.fall, s.init_fail), (-20, 2, 3, true));
    assert_eq!(s.user.as_ref().map(|u| u.user.as_str()), Some("nobody"));

    let f = &c.track_files[0];
    assert_eq!(
        (f.name.as_str(), f.file.as_str()),
        ("maint", "/run/keepalived/maint")
    );
    assert_eq!((f.weight, f.weight_reverse), (-50, true));
    assert_eq!(f.init_file, Some(vec!["0".into(), "overwrite".into()]));

    let p = &c.vrrp_track_processes[0];
    assert_eq!(
        (p.process.as_slice(), p.weight, p.quorum),
        (&["nginx".to_string()][..], 10, 2)
    );
    assert_eq!((p.quorum_max, p.delay), (Some(8), Some(Timer(1_500_000))));

    let g = &c.vrrp_sync_groups[0];
    assert_eq!(g.group, ["VI_1", "VI_6"]);
    assert_eq!(
        g.notify.master.as_deref(),
        Some("/etc/keepalived/notify.sh master")
    );
    // Unquoted, keepalived reads the word after the command as the user to run it as
    // (Debian has a `backup` user).
    assert_eq!(
        g.notify.backup.as_deref(),
        Some("/etc/keepalived/notify.sh")
    );
    assert_eq!(
        g.notify.user("notify_backup").map(|u| u.user.as_str()),
        Some("backup")
    );
    assert!(g.global_tracking && g.sync_group_tracking_weight);
    assert_eq!(g.smtp_alert, Some(true));
}

#[test]
fn vrrp_instance_keywords() {
    let c = load_clean(&data("valid/full.conf"));
    let v = &c.vrrp_instances[0];
    assert_eq!(v.state, Some(VrrpState::Backup));
    assert_eq!(v.interface.as_deref(), Some("eth0"));
    assert_eq!(
        (v.virtual_router_id, v.priority, v.advert_int),
        (Some(51), 150, Timer::secs(1))
    );
    assert_eq!(
        v.authentication,
        Some(Authentication {
            auth_type: AuthType::Pass,
            auth_pass: "s3cret".into()
        })
    );
    let vip = &v.virtual_ipaddress[0];
    assert_eq!(
        (
            vip.addr,
            vip.prefix,
            vip.dev.as_deref(),
            vip.label.as_deref()
        ),
        (ip("192.0.2.100"), Some(24), Some("eth0"), Some("eth0:vip"))
    );
    let vip = &v.virtual_ipaddress[2];
    assert_eq!(
        (
            vip.brd.as_deref(),
            vip.scope.as_deref(),
            vip.options.as_slice()
        ),
        (
            Some("192.0.2.255"),
            Some("global"),
            &["no_track".to_string()][..]
        )
    );
    assert_eq!(v.virtual_ipaddress_excluded[0].addr, ip("2001:db8::100"));
    assert_eq!(v.virtual_routes, [["10.9.0.0/16", "via", "192.0.2.1"]]);
    assert!(v.nopreempt);
    assert_eq!(v.preempt_delay, Some(Timer::secs(30)));
    assert_eq!(v.unicast_src_ip, Some(ip("192.0.2.10")));
    assert_eq!(
        v.unicast_peers,
        [
            UnicastPeer {
                addr: ip("192.0.2.11"),
                min_ttl: None,
                max_ttl: None
            },
            UnicastPeer {
                addr: ip("192.0.2.12"),
                min_ttl: Some(250),
                max_ttl: Some(255)
            },
        ]
    );
    assert_eq!(v.unicast_ttl, Some(5));
    assert_eq!(
        v.use_vmac,
        Some(UseVmac {
            name: Some("vrrp.51".into())
        })
    );
    assert!(v.vmac_xmit_base && v.dont_track_primary);
    assert_eq!(v.old_unicast_checksum, Some(UnicastChecksum::Old));
    assert_eq!(v.kernel_rx_buf_size, Some(65536));
    let t = &v.tracking;
    assert_eq!(
        t.interfaces[0],
        Track {
            name: "eth1".into(),
            weight: Some(-10),
            reverse: false
        }
    );
    assert_eq!(t.interfaces[1].weight, None);
    assert_eq!(
        t.scripts[1],
        Track {
            name: "chk_haproxy".into(),
            weight: Some(5),
            reverse: true
        }
    );
    assert_eq!(t.files[0].name, "maint");
    assert_eq!(t.processes[0].weight, Some(3));
    assert_eq!(
        v.notify.notify.as_deref(),
        Some("/etc/keepalived/notify_all.sh")
    );
    assert_eq!(
        v.notify.master.as_deref(),
        Some("/etc/keepalived/notify.sh MASTER VI_1")
    );
    assert_eq!(v.notify.stop.as_deref(), Some("/etc/keepalived/stop.sh"));
    assert_eq!((v.smtp_alert, v.accept), (Some(false), Some(true)));
    assert_eq!(
        (
            v.garp_master_delay,
            v.garp_master_repeat,
            v.garp_master_refresh,
            v.garp_master_refresh_repeat
        ),
        (Some(1), Some(2), Some(30), Some(1))
    );
    assert_eq!(
        (v.garp_lower_prio_delay, v.garp_lower_prio_repeat),
        (Some(3), Some(4))
    );
    assert_eq!(v.lower_prio_no_advert, Some(true));

    let v6 = &c.vrrp_instances[1];
    assert_eq!(
        (v6.version, v6.advert_int, v6.native_ipv6),
        (Some(3), Timer(500_000), true)
    );
    assert_eq!(v6.effective_version(&c.global_defs), 3);
    // Defaults: no state given means BACKUP.
    assert_eq!((v6.state, v6.effective_state()), (None, VrrpState::Backup));
}

#[test]
fn virtual_server_real_server_and_checker_keywords() {
    let c = load_clean(&data("valid/full.conf"));
    let vs = &c.virtual_servers[0];
    assert_eq!(
        vs.key,
        VirtualServerKey::Addr {
            ip: ip("192.0.2.100"),
            port: 443
        }
    );
    assert_eq!(
        (vs.delay_loop, vs.lvs_sched.as_str()),
        (Timer::secs(10), "wlc")
    );
    assert_eq!(
        vs.lvs_method,
        LbKind::Tun {
            tunnel: TunnelType::Gue,
            port: Some(6080),
            csum: Some(TunnelCsum::Remcsum)
        }
    );
    assert_eq!(
        (vs.protocol, vs.persistence_timeout),
        (Protocol::Tcp, Some(600))
    );
    assert_eq!(vs.persistence_granularity.as_deref(), Some("255.255.255.0"));
    assert!(
        vs.ha_suspend && vs.alpha && vs.omega && vs.inhibit_on_failure && vs.sorry_server_inhibit
    );
    assert_eq!((vs.quorum, vs.hysteresis), (2, 1));
    assert_eq!(
        vs.quorum_up.as_deref(),
        Some("/etc/keepalived/quorum.sh up")
    );
    assert_eq!(vs.sorry_server, Some((ip("192.0.2.250"), Some(8443))));
    assert_eq!(vs.sorry_server_lvs_method, Some(LbKind::Nat));
    assert_eq!(vs.virtualhost.as_deref(), Some("www.example.com"));
    assert_eq!(
        (vs.retry, vs.delay_before_retry),
        (Some(2), Some(Timer(1_500_000)))
    );
    assert_eq!(
        (vs.warmup, vs.connect_timeout),
        (Some(Timer::secs(3)), Some(Timer::secs(4)))
    );

    let rs = &vs.real_servers[0];
    assert_eq!((rs.ip, rs.port, rs.weight), (ip("10.1.0.1"), Some(443), 3));
    assert_eq!(rs.inhibit_on_failure, Some(true));
    assert_eq!((rs.uthreshold, rs.lthreshold), (Some(1000), Some(10)));
    assert_eq!(rs.notify_up.as_deref(), Some("/bin/notify up"));
    let http = &rs.checkers[0];
    let CheckerKind::HttpGet {
        urls,
        virtualhost,
        http_protocol,
    } = &http.kind
    else {
        panic!("HTTP_GET expected, got {:?}", http.kind)
    };
    assert_eq!(urls.len(), 2);
    assert_eq!(urls[0].path, "/health");
    assert_eq!(
        urls[0].digest.as_deref(),
        Some("9b3a0c85a887a256d6939da88aabd8cd")
    );
    assert_eq!(urls[0].status_code, ["200-299", "301"]);
    assert_eq!(
        (virtualhost.as_deref(), http_protocol.as_deref()),
        (Some("www.example.com"), Some("1.1"))
    );
    assert_eq!(
        (http.common.connect_timeout, http.common.retry),
        (Some(Timer::secs(3)), Some(3))
    );

    let rs = &vs.real_servers[1];
    assert_eq!(rs.lvs_method, Some(LbKind::Dr));
    let kinds: Vec<&str> = rs.checkers.iter().map(|c| c.kind.keyword()).collect();
    assert_eq!(
        kinds,
        [
            "SSL_GET",
            "SMTP_CHECK",
            "DNS_CHECK",
            "MISC_CHECK",
            "PING_CHECK",
            "UDP_CHECK",
            "FILE_CHECK",
            "BFD_CHECK"
        ]
    );
    assert!(matches!(
        rs.checkers[0].kind,
        CheckerKind::SslGet {
            enable_sni: true,
            ..
        }
    ));
    assert_eq!(rs.checkers[0].common.connect_port, Some(8443));
    assert_eq!(rs.checkers[0].common.bindto, Some(ip("10.1.0.254")));
    assert_eq!(rs.checkers[1].common.connect_ip, Some(ip("10.1.0.2")));
    assert_eq!(
        rs.checkers[2].kind,
        CheckerKind::DnsCheck {
            query_type: Some("A".into()),
            name: Some("example.com".into())
        }
    );
    assert_eq!(
        rs.checkers[3].kind,
        CheckerKind::MiscCheck {
            misc_path: "/usr/local/bin/check.sh 10.1.0.2".into(),
            misc_timeout: Some(Timer::secs(5)),
            misc_dynamic: true,
            user: Some(ScriptUser {
                user: "nobody".into(),
                group: None
            }),
        }
    );
    assert_eq!(
        rs.checkers[6].kind,
        CheckerKind::FileCheck {
            track_file: "maint".into(),
            weight: Some(10),
            reverse: true
        }
    );

    let fw = &c.virtual_servers[1];
    assert_eq!(fw.key, VirtualServerKey::Fwmark { mark: 7 });
    assert_eq!(fw.ip_family, Some(IpFamily::Inet));
    let grp = &c.virtual_servers[2];
    assert_eq!(grp.key, VirtualServerKey::Group { name: "WEB".into() });
    assert_eq!(grp.sched_flags, ["sh-port"]);
    assert_eq!(grp.real_servers[0].port, None);
    assert_eq!(c.virtual_server_groups[0].members.len(), 3);
}

#[test]
fn defaults_are_keepalived_defaults() {
    let c = parse_clean(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n}\n\
         virtual_server 10.0.0.1 80 {\n real_server 10.0.1.1 80 {\n TCP_CHECK {\n }\n }\n}\n",
    );
    let g = &c.global_defs;
    assert_eq!(*g, GlobalDefs::default());
    assert_eq!((g.vrrp_version, g.smtp_connect_timeout), (2, 30));
    assert_eq!(g.vrrp_mcast_group4.to_string(), "224.0.0.18");
    assert_eq!(
        (g.vrrp_garp_master_delay, g.vrrp_garp_master_repeat),
        (5, 5)
    );
    let v = &c.vrrp_instances[0];
    assert_eq!(
        (v.priority, v.advert_int, v.nopreempt),
        (100, Timer::secs(1), false)
    );
    assert_eq!(v.effective_state(), VrrpState::Backup);
    let vs = &c.virtual_servers[0];
    assert_eq!(
        (
            vs.delay_loop,
            vs.lvs_sched.as_str(),
            vs.lvs_method,
            vs.protocol
        ),
        (Timer::secs(60), "wlc", LbKind::Nat, Protocol::Tcp)
    );
    assert_eq!((vs.quorum, vs.hysteresis), (1, 0));
    assert_eq!(vs.real_servers[0].weight, 1);
}

#[test]
fn aliases_and_layout_variants() {
    // `lvs_sched`/`lb_algo`, `lvs_method`/`lb_kind`, `mcast_src_ip`/`unicast_src_ip`,
    // `nb_get_retry`/`retry`, `vrrp_track_file`/`track_file`, a `{` on the next line, a
    // block on one line.
    let c = parse_clean(
        "vrrp_instance V\n{\n interface eth0\n virtual_router_id 1\n mcast_src_ip 10.0.0.2\n virtual_ipaddress { 10.0.0.1 }\n}\n\
         virtual_server 10.0.0.1 80 {\n lb_algo rr\n lb_kind DR\n real_server 10.0.1.1 80 {\n TCP_CHECK { nb_get_retry 4 }\n }\n}\n",
    );
    assert_eq!(c.vrrp_instances[0].unicast_src_ip, Some(ip("10.0.0.2")));
    assert_eq!(
        c.vrrp_instances[0].virtual_ipaddress[0].addr,
        ip("10.0.0.1")
    );
    let vs = &c.virtual_servers[0];
    assert_eq!((vs.lvs_sched.as_str(), vs.lvs_method), ("rr", LbKind::Dr));
    assert_eq!(vs.real_servers[0].checkers[0].common.retry, Some(4));
    let c = parse_clean("vrrp_track_file f {\n file /tmp/f\n}\n");
    assert_eq!(c.track_files[0].file, "/tmp/f");
}

#[test]
fn timers_parse_and_print_exactly() {
    for (s, us) in [
        ("3", 3_000_000),
        ("2.5", 2_500_000),
        ("0.000001", 1),
        (".5", 500_000),
        ("40.95", 40_950_000),
    ] {
        let t = Timer::parse(s).unwrap();
        assert_eq!(t, Timer(us), "{s}");
        assert_eq!(Timer::parse(&t.to_string()), Some(t));
    }
    for bad in ["", "-1", "1.0000001", "abc", "1e3", "."] {
        assert_eq!(Timer::parse(bad), None, "{bad}");
    }
}

#[test]
fn canonical_print_reparses_to_the_same_model() {
    for file in [
        "valid/full.conf",
        "../../../../../shared/examples/lvs1.conf",
    ] {
        let c = load_clean(&data(file));
        let printed = print::print(&c);
        let again = parse_clean(&printed);
        assert_eq!(again, c, "{file}:\n{printed}");
        // Printing is a fixed point.
        assert_eq!(print::print(&again), printed);
    }
}

#[test]
fn json_round_trips() {
    let c = load_clean(&data("valid/full.conf"));
    let json = serde_json::to_string(&c).unwrap();
    let back: Config = serde_json::from_str(&json).unwrap();
    assert_eq!(back, c);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["vrrp_instances"][0]["virtual_router_id"], 51);
    assert_eq!(
        v["virtual_servers"][0]["real_servers"][1]["checkers"][0]["kind"]["type"],
        "SSL_GET"
    );
}

#[test]
fn keepalived_sample_configurations_are_accepted() {
    // The samples Debian's keepalived package ships (keepalived's own documentation).
    let dir = Path::new("/usr/share/doc/keepalived/samples");
    let Ok(entries) = std::fs::read_dir(dir) else {
        testkit::skip(
            "keepalived_sample_configurations_are_accepted",
            &format!("{} not found (apt-get install keepalived)", dir.display()),
        );
        return;
    };
    let mut checked = 0;
    for e in entries {
        let path = e.unwrap().path();
        if !path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("keepalived.conf")
        {
            continue;
        }
        let mut sources = SourceMap::default();
        let opts = Options {
            config_id: "high".into(),
            ..Options::default()
        };
        let loaded = load_file(&path, &opts, &mut sources);
        // keepalived's samples use keywords ha refuses (sync groups, ...): those are the
        // compatibility check's findings, not the language's.
        assert!(
            !loaded
                .diagnostics
                .iter()
                .any(|d| d.is_error() && !is_compat(d)),
            "{}",
            render(&loaded.diagnostics, &sources, false)
        );
        // The canonical form of each parses back to the same model.
        let printed = print::print(&loaded.config);
        assert_eq!(parse_clean(&printed), loaded.config, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} samples");
}
