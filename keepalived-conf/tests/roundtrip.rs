//! Property tests: the canonical form of any generated configuration parses back to the
//! same model, and no input, however malformed, makes the parser panic.

use std::net::IpAddr;

use keepalived_conf::diag::render;
use keepalived_conf::*;
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;

fn parse(text: &str) -> (Loaded, SourceMap) {
    let mut sources = SourceMap::default();
    let loaded = parse_str("gen.conf", text, &Options::default(), &mut sources);
    (loaded, sources)
}

/// Free text, including what needs quoting: spaces, quotes, comment and brace characters.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _./:\"'#!{}\\\\@~-]{0,12}"
}

fn word() -> impl Strategy<Value = String> {
    "[a-zA-Z_][a-zA-Z0-9_.-]{0,10}"
}

fn timer() -> impl Strategy<Value = Timer> {
    prop_oneof![
        (0u64..100).prop_map(Timer::secs),
        (0u64..100_000_000).prop_map(Timer)
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from)
    ]
}

fn ip_address() -> impl Strategy<Value = IpAddress> {
    (
        ip(),
        any::<u8>(),
        of(prop_oneof![
            Just("+".to_string()),
            Just("-".to_string()),
            any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string()),
        ]),
        of(word()),
        of(word()),
        of(word()),
        vec(
            prop_oneof![
                Just(vec!["no_track".to_string()]),
                Just(vec!["-nodad".to_string()]),
                Just(vec!["noprefixroute".to_string()]),
                Just(vec!["home".to_string()]),
                (0u32..1000).prop_map(|n| vec!["preferred_lft".to_string(), n.to_string()]),
            ],
            0..2,
        ),
    )
        .prop_map(|(addr, p, brd, dev, scope, label, opts)| IpAddress {
            addr,
            prefix: Some(p % if addr.is_ipv4() { 33 } else { 129 }).filter(|_| p > 100),
            // keepalived: a broadcast address and a preferred lifetime are IPv4's and IPv6's.
            brd: brd.filter(|_| addr.is_ipv4()),
            dev,
            scope,
            label,
            peer: None,
            options: opts
                .into_iter()
                .filter(|o| addr.is_ipv6() || o[0] != "preferred_lft")
                .flatten()
                .collect(),
        })
}

fn track(limit: i32) -> impl Strategy<Value = Track> {
    (word(), of(-limit..=limit), any::<bool>()).prop_map(|(name, weight, reverse)| Track {
        name,
        reverse: reverse && weight.is_some(),
        weight,
    })
}

fn raw(keywords: &'static [&'static str]) -> impl Strategy<Value = RawStatement> {
    (prop::sample::select(keywords), vec(text(), 0..3)).prop_map(|(k, args)| RawStatement {
        keyword: k.to_string(),
        args,
        block: None,
    })
}

fn instance(i: usize) -> impl Strategy<Value = VrrpInstance> {
    (
        (
            of(prop_oneof![
                Just(VrrpState::Master),
                Just(VrrpState::Backup)
            ]),
            of(word()),
            of(1u8..=255),
            1u8..=255,
            (1u64..100_000_000).prop_map(Timer),
            of(2u8..=3),
            of((
                prop_oneof![Just(AuthType::Pass), Just(AuthType::Ah)],
                "[a-zA-Z0-9]{0,8}",
            )),
            vec(ip_address(), 0..3),
        ),
        (
            vec(ip_address(), 0..2),
            any::<bool>(),
            of((0u64..=1000).prop_map(Timer::secs)),
            of(ip()),
            vec((ip(), of(any::<u8>()), of(any::<u8>())), 0..3),
            of(of(word())),
            vec(track(253), 0..3),
            vec(track(254), 0..2),
        ),
        (
            of(text()),
            of(text()),
            of(any::<bool>()),
            of(any::<bool>()),
            of(0u32..=4294),
            vec(
                raw(&["debug", "garp_extra_if", "linkbeat_use_polling"]),
                0..2,
            ),
            vec(vec(word(), 1..4), 0..2),
            any::<bool>(),
        ),
    )
        .prop_map(move |(a, b, c)| {
            let mut v = VrrpInstance::new(format!("VI_{i}"));
            (
                v.state,
                v.interface,
                v.virtual_router_id,
                v.priority,
                v.advert_int,
                v.version,
            ) = (a.0, a.1, a.2, a.3, a.4, a.5);
            v.authentication = a.6.map(|(auth_type, auth_pass)| Authentication {
                auth_type,
                auth_pass,
            });
            v.virtual_ipaddress = a.7;
            v.virtual_ipaddress_excluded = b.0;
            v.nopreempt = b.1;
            v.preempt_delay = b.2;
            v.unicast_src_ip = b.3;
            v.unicast_peers =
                b.4.into_iter()
                    .map(|(addr, min_ttl, max_ttl)| UnicastPeer {
                        addr,
                        min_ttl,
                        max_ttl,
                    })
                    .collect();
            v.use_vmac = b.5.map(|name| UseVmac { name });
            v.tracking.scripts = b.6;
            v.tracking.files = b.7;
            v.notify.master = c.0;
            v.notify.fault = c.1;
            v.accept = c.2;
            v.smtp_alert = c.3;
            v.garp_master_delay = c.4;
            v.other = c.5;
            v.virtual_routes = c.6;
            v.old_unicast_checksum = c.7.then_some(UnicastChecksum::Never);
            v
        })
}

fn lb_kind() -> impl Strategy<Value = LbKind> {
    prop_oneof![
        Just(LbKind::Nat),
        Just(LbKind::Dr),
        Just(LbKind::Tun {
            tunnel: TunnelType::Ipip,
            port: None,
            csum: None
        }),
        (
            1u16..=65535,
            of(prop_oneof![
                Just(TunnelCsum::Csum),
                Just(TunnelCsum::Remcsum),
                Just(TunnelCsum::Nocsum)
            ])
        )
            .prop_map(|(p, csum)| LbKind::Tun {
                tunnel: TunnelType::Gue,
                port: Some(p),
                csum
            }),
        of(prop_oneof![
            Just(TunnelCsum::Csum),
            Just(TunnelCsum::Nocsum)
        ])
        .prop_map(|csum| LbKind::Tun {
            tunnel: TunnelType::Gre,
            port: None,
            csum
        }),
    ]
}

fn checker() -> impl Strategy<Value = Checker> {
    // Status codes and ranges within 100-599; digests of 32 hex digits.
    let status_code = (100u16..600, of(0u16..100)).prop_map(|(from, span)| match span {
        None => from.to_string(),
        Some(span) => format!("{from}-{}", (from + span).min(599)),
    });
    let url = (
        text().prop_filter("path", |p| !p.is_empty()),
        of("[0-9a-f]{32}"),
        vec(status_code, 0..3),
    )
        .prop_map(|(path, digest, status_code)| HttpUrl {
            path,
            digest,
            status_code,
            ..HttpUrl::default()
        });
    let kind = prop_oneof![
        Just(CheckerKind::TcpCheck),
        Just(CheckerKind::PingCheck),
        (vec(url, 1..3), of(word()), of(word())).prop_map(|(urls, virtualhost, http_protocol)| {
            CheckerKind::HttpGet {
                urls,
                virtualhost,
                http_protocol,
            }
        }),
        (
            text().prop_filter("path", |p| !p.is_empty()),
            of((0u64..=4294).prop_map(Timer::secs)),
            any::<bool>()
        )
            .prop_map(|(misc_path, misc_timeout, misc_dynamic)| {
                CheckerKind::MiscCheck {
                    misc_path,
                    misc_timeout,
                    misc_dynamic,
                    user: None,
                }
            }),
        (of(word()), of(word()))
            .prop_map(|(query_type, name)| CheckerKind::DnsCheck { query_type, name }),
        (word(), of(-254i32..=254), any::<bool>()).prop_map(|(track_file, weight, r)| {
            CheckerKind::FileCheck {
                track_file,
                reverse: r && weight.is_some(),
                weight,
            }
        }),
    ];
    (
        kind,
        of(ip()),
        of(1u16..=65535),
        of(timer()),
        of(any::<u32>()),
        of(any::<bool>()),
    )
        .prop_map(
            |(kind, connect_ip, connect_port, connect_timeout, retry, alpha)| Checker {
                kind,
                common: CheckerCommon {
                    connect_ip,
                    connect_port,
                    connect_timeout,
                    retry,
                    alpha,
                    ..CheckerCommon::default()
                },
            },
        )
}

fn virtual_server(i: usize) -> impl Strategy<Value = VirtualServer> {
    (
        prop_oneof![
            (ip(), any::<u16>()).prop_map(|(ip, port)| VirtualServerKey::Addr { ip, port }),
            Just(VirtualServerKey::Fwmark { mark: i as u32 + 1 }),
        ],
        timer(),
        prop::sample::select(&["rr", "wrr", "lc", "wlc", "sh", "mh"][..]),
        lb_kind(),
        prop_oneof![
            Just(Protocol::Tcp),
            Just(Protocol::Udp),
            Just(Protocol::Sctp)
        ],
        of(1u32..100_000),
        (
            1u32..10,
            0u32..5,
            any::<bool>(),
            any::<bool>(),
            of((ip(), of(any::<u16>()))),
            any::<bool>(),
            of(text().prop_filter("script", |s| !s.trim().is_empty())),
        ),
        vec(
            (ip(), of(any::<u16>()), 0i32..1000, vec(checker(), 0..3)),
            0..3,
        ),
    )
        .prop_map(
            move |(
                key,
                delay_loop,
                sched,
                method,
                protocol,
                persistence,
                (quorum, hysteresis, alpha, omega, sorry, announce, announce_notify),
                rss,
            )| {
                // Unique keys: the generator's index goes into the address.
                let key = match key {
                    VirtualServerKey::Addr { port, .. } => VirtualServerKey::Addr {
                        ip: IpAddr::from([10, 0, (i / 256) as u8, (i % 256) as u8]),
                        port,
                    },
                    k => k,
                };
                let mut vs = VirtualServer::new(key);
                vs.delay_loop = delay_loop;
                vs.lvs_sched = sched.to_string();
                vs.lvs_method = method;
                vs.protocol = protocol;
                vs.persistence_timeout = persistence;
                (
                    vs.quorum,
                    vs.hysteresis,
                    vs.alpha,
                    vs.omega,
                    vs.sorry_server,
                ) = (quorum, hysteresis, alpha, omega, sorry);
                vs.ha_announce = announce;
                vs.ha_announce_notify = announce_notify;
                vs.real_servers = rss
                    .into_iter()
                    .enumerate()
                    .map(|(j, (_, port, weight, checkers))| {
                        let mut rs =
                            RealServer::new(IpAddr::from([192, 168, i as u8, j as u8]), port);
                        rs.weight = weight;
                        rs.checkers = checkers;
                        rs
                    })
                    .collect();
                vs
            },
        )
}

fn global() -> impl Strategy<Value = GlobalDefs> {
    (
        of(text()),
        vec(text(), 0..3),
        of((word(), any::<u16>().prop_filter("port", |p| *p > 0))),
        1u32..3600,
        2u8..=3,
        any::<bool>(),
        (0u32..100, 0u32..100, timer()),
        (of(0u32..1000), of(0u32..1000), of(0u32..1000)),
        of((word(), of(word()))),
        vec(
            raw(&[
                "max_auto_priority",
                "enable_snmp_vrrp",
                "umask",
                "process_names",
            ]),
            0..2,
        ),
        of("[a-z][a-z0-9-]{0,14}"),
    )
        .prop_map(
            |(router_id, emails, smtp, sct, version, strict, garp, lvs, su, other, announce)| {
                let mut g = GlobalDefs {
                    router_id,
                    notification_email: emails,
                    ..GlobalDefs::default()
                };
                g.smtp_server = smtp.map(|(host, port)| SmtpServer { host, port });
                g.smtp_connect_timeout = sct;
                g.vrrp_version = version;
                g.vrrp_strict = strict;
                (
                    g.vrrp_garp_master_delay,
                    g.vrrp_garp_master_repeat,
                    g.vrrp_garp_interval,
                ) = garp;
                g.lvs_timeouts = LvsTimeouts {
                    tcp: lvs.0,
                    tcpfin: lvs.1,
                    udp: lvs.2,
                };
                g.script_user = su.map(|(user, group)| ScriptUser { user, group });
                g.other = other;
                g.ha_announce_interface = announce;
                g
            },
        )
}

fn config() -> impl Strategy<Value = Config> {
    (
        global(),
        (0usize..4).prop_flat_map(|n| (0..n).map(instance).collect::<Vec<_>>()),
        (0usize..3).prop_flat_map(|n| (0..n).map(virtual_server).collect::<Vec<_>>()),
        vec(
            (
                word(),
                text().prop_filter("script", |s| !s.is_empty()),
                timer(),
                -253i32..=253,
                1u32..10,
            ),
            0..2,
        ),
    )
        .prop_map(
            |(global_defs, vrrp_instances, virtual_servers, scripts)| Config {
                global_defs,
                vrrp_instances,
                virtual_servers,
                vrrp_scripts: scripts
                    .into_iter()
                    .enumerate()
                    .map(|(i, (name, script, interval, weight, rise))| VrrpScript {
                        name: format!("{name}{i}"),
                        script,
                        interval,
                        timeout: None,
                        weight,
                        weight_reverse: false,
                        rise,
                        fall: 1,
                        user: None,
                        init_fail: false,
                        other: Vec::new(),
                    })
                    .collect(),
                ..Config::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn printed_config_parses_back_to_the_same_model(c in config()) {
        let printed = print::print(&c);
        let (loaded, sources) = parse(&printed);
        let parse_errors: Vec<_> = loaded
            .diagnostics
            .iter()
            .filter(|d| matches!(d.code, "invalid-value" | "unknown-keyword" | "missing-value" | "unterminated-quote"
                | "unclosed-block" | "unmatched-close" | "invalid-address" | "duplicate" | "extra-argument"))
            .cloned()
            .collect();
        prop_assert!(parse_errors.is_empty(), "{}\n{printed}", render(&parse_errors, &sources, false));
        prop_assert_eq!(&loaded.config, &c, "{}", printed);
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,300}") {
        let (loaded, _) = parse(&s);
        let _ = print::print(&loaded.config);
    }

    /// Token soup from the configuration's own vocabulary, which reaches deeper than
    /// random text. Whatever parses without errors must also print and re-parse equal.
    #[test]
    fn token_soup_never_panics_and_clean_parses_round_trip(words in vec(prop::sample::select(&[
        "{", "}", "\n", "\n", "\n", "\"", "'", "#", "!", "\\", "$A", "${A}", "$A=1", "$B=\\", "@x", "@^x",
        "~SEQ(i,1,3)", "~SEQ(i,0)", "~LST(a,1,2)", "~LST({a,b},{1,2})", "${i}", "vrrp_instance", "VI_1",
        "virtual_server", "real_server", "10.0.0.1", "80", "priority", "255", "0", "-1", "state", "MASTER",
        "virtual_router_id", "virtual_ipaddress", "unicast_peer", "2001:db8::1", "track_script",
        "weight", "reverse", "TCP_CHECK", "HTTP_GET", "url", "path", "MISC_CHECK", "misc_path",
        "global_defs", "router_id", "vrrp_script", "script", "interval", "1.5", "authentication",
        "auth_type", "PASS", "auth_pass", "lb_kind", "TUN", "type", "gue", "port", "fwmark", "group",
        "vrrp_sync_group", "notify_master", "nopreempt", "advert_int", "version", "3", "dev", "eth0",
    ][..]), 0..80)) {
        let text = words.join(" ");
        let (loaded, sources) = parse(&text);
        let printed = print::print(&loaded.config);
        if !loaded.has_errors() && loaded.diagnostics.iter().all(|d| d.code != "unknown-keyword" && d.code != "extra-argument") {
            let (again, s2) = parse(&printed);
            prop_assert_eq!(&again.config, &loaded.config, "input:\n{}\nprinted:\n{}\n{}{}", text, printed,
                render(&loaded.diagnostics, &sources, false), render(&again.diagnostics, &s2, false));
        }
    }
}
