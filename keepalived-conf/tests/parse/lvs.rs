//! `virtual_server`, `real_server` and `lb_kind` (`src/parse/lvs.rs`).

use std::net::IpAddr;

use keepalived_conf::{
    IpFamily, LbKind, Protocol, RealServer, Timer, TunnelCsum, TunnelType, VirtualServer,
    VirtualServerKey,
};

use super::{parse, real_server, virtual_server};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn vs(body: &str) -> VirtualServer {
    parse(&virtual_server(body)).clean().virtual_servers[0].clone()
}

fn rs(body: &str) -> RealServer {
    parse(&real_server(body)).clean().virtual_servers[0].real_servers[0].clone()
}

#[test]
fn a_virtual_server_has_keepalived_defaults() {
    let mut want = VirtualServer::new(VirtualServerKey::Addr {
        ip: ip("192.0.2.1"),
        port: 80,
    });
    want.real_servers = vec![RealServer::new(ip("10.0.0.1"), Some(80))];
    let got = vs("");
    assert_eq!(got, want);
    assert_eq!(
        (
            got.delay_loop,
            got.lvs_sched.as_str(),
            got.lvs_method,
            got.protocol
        ),
        (Timer::secs(60), "wlc", LbKind::Nat, Protocol::Tcp)
    );
    assert_eq!(
        (got.quorum, got.hysteresis, got.real_servers[0].weight),
        (1, 0, 1)
    );
}

#[test]
fn virtual_server_keys() {
    let p = parse(
        "virtual_server 2001:db8::1 443 {\n}\nvirtual_server 192.0.2.2 {\n}\nvirtual_server fwmark 4294967295 {\n}\n\
         virtual_server_group WEB {\n 192.0.2.3 80\n 192.0.2.10-20 80\n fwmark 7\n}\nvirtual_server group WEB {\n}\n",
    );
    let c = p.clean();
    let keys: Vec<_> = c.virtual_servers.iter().map(|v| v.key.clone()).collect();
    assert_eq!(
        keys,
        [
            VirtualServerKey::Addr {
                ip: ip("2001:db8::1"),
                port: 443
            },
            // No port: a service on every port (keepalived's port 0).
            VirtualServerKey::Addr {
                ip: ip("192.0.2.2"),
                port: 0
            },
            VirtualServerKey::Fwmark { mark: u32::MAX },
            VirtualServerKey::Group { name: "WEB".into() },
        ]
    );
    assert_eq!(
        c.virtual_server_groups[0].members,
        [
            vec!["192.0.2.3", "80"],
            vec!["192.0.2.10-20", "80"],
            vec!["fwmark", "7"]
        ]
    );
}

#[test]
fn malformed_virtual_server_keys_skip_the_block() {
    for (head, message, at) in [
        ("192.0.2.1 65536", "invalid `port` value `65536`", "65536"),
        ("192.0.2 80", "`192.0.2` is not an IP address", "192.0.2"),
        ("fwmark 0", "invalid `fwmark` value `0`", "0"),
        (
            "group",
            "`virtual_server` needs a group name",
            "virtual_server group",
        ),
    ] {
        let p = parse(&format!("virtual_server {head} {{\n}}\n"));
        let (d, span) = p.only();
        assert_eq!((d.message.as_str(), span), (message, at), "{head}");
        assert!(p.config().virtual_servers.is_empty());
    }
}

#[test]
fn a_duplicate_virtual_server_points_at_the_first() {
    let p = parse("virtual_server fwmark 1 {\n}\nvirtual_server fwmark 1 {\n}\n");
    let (d, at) = p.only();
    assert_eq!(d.message, "duplicate `virtual_server fwmark 1`");
    assert_eq!(at, "virtual_server fwmark 1");
    assert_eq!(d.secondary[0].0.start, 0);
}

#[test]
fn every_ipvs_scheduler_is_known() {
    for s in [
        "rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq",
        "twos",
    ] {
        assert_eq!(vs(&format!(" lvs_sched {s}")).lvs_sched, s);
    }
    let p = parse(&virtual_server(" lb_algo wrrr"));
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.is_error(), at),
        ("unknown-scheduler", false, "wrrr")
    );
    assert_eq!(d.help, ["did you mean `wrr`?"]);
}

#[test]
fn forwarding_methods_and_tunnels() {
    assert_eq!(vs(" lb_kind DR").lvs_method, LbKind::Dr);
    assert_eq!(vs(" lvs_method NAT").lvs_method, LbKind::Nat);
    for (text, tunnel, port, csum) in [
        ("TUN", TunnelType::Ipip, None, None),
        ("TUN type ipip", TunnelType::Ipip, None, None),
        // keepalived (svr_forwarding_handler) defaults to nocsum, so IPIP accepts it.
        (
            "TUN type ipip nocsum",
            TunnelType::Ipip,
            None,
            Some(TunnelCsum::Nocsum),
        ),
        ("TUN type gue port 6080", TunnelType::Gue, Some(6080), None),
        (
            "TUN port 1 type gue remcsum",
            TunnelType::Gue,
            Some(1),
            Some(TunnelCsum::Remcsum),
        ),
        (
            "TUN type gre csum",
            TunnelType::Gre,
            None,
            Some(TunnelCsum::Csum),
        ),
        (
            "TUN type gre nocsum",
            TunnelType::Gre,
            None,
            Some(TunnelCsum::Nocsum),
        ),
    ] {
        assert_eq!(
            vs(&format!(" lvs_method {text}")).lvs_method,
            LbKind::Tun { tunnel, port, csum },
            "{text}"
        );
    }
}

#[test]
fn forwarding_methods_are_written_in_capitals() {
    // keepalived (svr_forwarding_handler) compares with strcmp and keeps NAT after
    // reporting `dr`; taking it as DR would forward differently from keepalived.
    let p = parse(&virtual_server(" lb_kind dr"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid forwarding method `dr`", "dr")
    );
    assert_eq!(
        d.help,
        ["`lb_kind` must be NAT, DR or TUN; did you mean `DR`?"]
    );
    assert_eq!(p.config().virtual_servers[0].lvs_method, LbKind::Nat);
    let p = parse(&real_server(" lvs_method tun"));
    assert_eq!(p.only().0.message, "invalid forwarding method `tun`");
    assert_eq!(
        p.config().virtual_servers[0].real_servers[0].lvs_method,
        None
    );
}

#[test]
fn malformed_tunnels() {
    for (text, message) in [
        ("TUN type gue", "a GUE tunnel needs a port"),
        (
            "TUN type gre port 6080",
            "a tunnel port is only valid with `type gue`",
        ),
        (
            "TUN type gre remcsum",
            "`remcsum` is only valid with `type gue`",
        ),
        (
            "TUN type ipip remcsum",
            "`remcsum` is only valid with `type gue`",
        ),
        ("TUN csum", "`csum` needs `type gue` or `type gre`"),
        ("TUN type vxlan", "invalid tunnel type"),
        ("TUN mtu 1400", "unexpected `mtu` in a TUN method"),
        ("BRIDGE", "invalid forwarding method `BRIDGE`"),
    ] {
        let p = parse(&virtual_server(&format!(" lvs_method {text}")));
        let (d, _) = p.only();
        assert_eq!(d.message, message, "{text}");
    }
    // An invalid GUE port is reported, and the tunnel is then also missing its port.
    let p = parse(&virtual_server(" lvs_method TUN type gue port 0"));
    assert_eq!(p.loaded.diagnostics[0].message, "invalid `port` value `0`");
    assert_eq!(
        p.codes(),
        [("invalid-value", true), ("missing-value", true)]
    );

    let p = parse(&virtual_server(" lvs_method BRIDGE"));
    assert_eq!(p.only().0.help, ["`lvs_method` must be NAT, DR or TUN"]);
    assert_eq!(p.config().virtual_servers[0].lvs_method, LbKind::Nat);
}

#[test]
fn protocol_ignores_case_as_keepalived_does() {
    assert_eq!(vs(" protocol udp").protocol, Protocol::Udp);
    assert_eq!(vs(" protocol SCTP").protocol, Protocol::Sctp);
    assert_eq!(vs(" protocol Tcp").protocol, Protocol::Tcp);
    let p = parse(&virtual_server(" protocol icmp"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid protocol `icmp`", "icmp")
    );
}

#[test]
fn ip_family() {
    assert_eq!(vs(" ip_family inet6").ip_family, Some(IpFamily::Inet6));
    let p = parse(&virtual_server(" ip_family ipv6"));
    let (d, _) = p.only();
    assert_eq!(d.message, "invalid ip_family `ipv6`");
    assert_eq!(p.config().virtual_servers[0].ip_family, None);
}

#[test]
fn persistence() {
    let got = vs(
        " persistence_timeout 600\n persistence_granularity 255.255.255.0\n persistence_engine sip",
    );
    assert_eq!(got.persistence_timeout, Some(600));
    assert_eq!(
        got.persistence_granularity.as_deref(),
        Some("255.255.255.0")
    );
    assert_eq!(got.persistence_engine.as_deref(), Some("sip"));
    // keepalived (pto_handler): a bare keyword is IPVS_SVC_PERSISTENT_TIMEOUT, 6 min;
    // a value is 1 s to LVS_MAX_TIMEOUT, 31 days.
    assert_eq!(vs(" persistence_timeout").persistence_timeout, Some(360));
    assert_eq!(
        vs(" persistence_timeout 2678400").persistence_timeout,
        Some(2_678_400)
    );
    let p = parse(&virtual_server(" persistence_timeout 2678401"));
    assert_eq!(
        p.only().0.help,
        ["`persistence_timeout` must be a whole number in 1-2678400"]
    );
    let p = parse(&virtual_server(" persistence_timeout 0"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `persistence_timeout` value `0`", "0")
    );
}

#[test]
fn quorum_and_hysteresis() {
    let got =
        vs(" quorum 1\n hysteresis 4294967295\n quorum_up \"/bin/q up\"\n quorum_down /bin/q down");
    assert_eq!((got.quorum, got.hysteresis), (1, u32::MAX));
    assert_eq!(got.quorum_up.as_deref(), Some("/bin/q up"));
    assert_eq!(got.quorum_down.as_deref(), Some("/bin/q down"));
    let p = parse(&virtual_server(" quorum 0"));
    let (d, _) = p.only();
    assert_eq!(d.help, ["`quorum` must be a whole number in 1-4294967295"]);
    assert_eq!(p.config().virtual_servers[0].quorum, 1);
}

#[test]
fn sorry_server_with_and_without_port() {
    assert_eq!(
        vs(" sorry_server 192.0.2.250 8080").sorry_server,
        Some((ip("192.0.2.250"), Some(8080)))
    );
    assert_eq!(
        vs(" sorry_server 2001:db8::250").sorry_server,
        Some((ip("2001:db8::250"), None))
    );
    let got = vs(" sorry_server 192.0.2.250\n sorry_server_inhibit\n sorry_server_lvs_method DR");
    assert!(got.sorry_server_inhibit);
    assert_eq!(got.sorry_server_lvs_method, Some(LbKind::Dr));
    let p = parse(&virtual_server(" sorry_server 192.0.2.250 65536"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `port` value `65536`", "65536")
    );
    let p = parse(&virtual_server(" sorry_server localhost"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`localhost` is not an IP address", "localhost")
    );
}

#[test]
fn virtual_server_timers_flags_and_checker_defaults() {
    let got = vs(
        " delay_loop 0.5\n retry 3\n delay_before_retry 1.5\n warmup 2\n connect_timeout 0.25\n ha_suspend\n ops\n \
         alpha\n omega\n inhibit_on_failure\n smtp_alert\n virtualhost www.example.com\n lvs_sched sh\n sh-port\n sh-fallback",
    );
    assert_eq!(got.delay_loop, Timer(500_000));
    assert_eq!(
        (
            got.retry,
            got.delay_before_retry,
            got.warmup,
            got.connect_timeout
        ),
        (
            Some(3),
            Some(Timer(1_500_000)),
            Some(Timer::secs(2)),
            Some(Timer(250_000))
        )
    );
    assert!(got.ha_suspend && got.ops && got.alpha && got.omega && got.inhibit_on_failure);
    assert_eq!(
        (got.smtp_alert, got.virtualhost.as_deref()),
        (Some(true), Some("www.example.com"))
    );
    assert_eq!(got.sched_flags, ["sh-port", "sh-fallback"]);
    // A rejected delay_loop keeps keepalived's 60 s.
    let p = parse(&virtual_server(" delay_loop 1m"));
    assert_eq!(p.codes(), [("invalid-value", true)]);
    assert_eq!(p.config().virtual_servers[0].delay_loop, Timer::secs(60));
}

#[test]
fn real_server_keys() {
    let p = parse(
        "virtual_server 2001:db8::1 80 {\n real_server 2001:db8::10 80 {\n }\n real_server 2001:db8::11 {\n }\n \
         real_server 2001:db8::10 8080 {\n }\n}\n",
    );
    let servers = &p.clean().virtual_servers[0].real_servers;
    let keys: Vec<_> = servers.iter().map(|r| (r.ip, r.port)).collect();
    assert_eq!(
        keys,
        [
            (ip("2001:db8::10"), Some(80)),
            (ip("2001:db8::11"), None),
            (ip("2001:db8::10"), Some(8080))
        ]
    );
}

#[test]
fn malformed_real_server_keys_skip_the_server() {
    let p = parse("virtual_server 192.0.2.1 80 {\n real_server 10.0.0.1 http {\n }\n}\n");
    let (d, at) = p.only();
    assert_eq!(at, "http");
    assert_eq!(d.message, "invalid `port` value `http`");
    assert_eq!(d.help, ["`port` must be a whole number in 0-65535"]);
    assert!(p.config().virtual_servers[0].real_servers.is_empty());
}

#[test]
fn real_server_values() {
    let got = rs(
        " weight 3\n lvs_method DR\n inhibit_on_failure off\n notify_up \"/bin/n up\"\n notify_down /bin/n down\n \
         uthreshold 1000\n lthreshold 10\n delay_loop 5\n retry 2\n delay_before_retry 0.5\n warmup 1\n \
         connect_timeout 3\n smtp_alert\n virtualhost rs.example.com\n alpha",
    );
    assert_eq!((got.weight, got.lvs_method), (3, Some(LbKind::Dr)));
    assert_eq!(got.inhibit_on_failure, Some(false));
    assert_eq!(
        (got.notify_up.as_deref(), got.notify_down.as_deref()),
        (Some("/bin/n up"), Some("/bin/n down"))
    );
    assert_eq!((got.uthreshold, got.lthreshold), (Some(1000), Some(10)));
    assert_eq!(
        (
            got.delay_loop,
            got.retry,
            got.delay_before_retry,
            got.warmup,
            got.connect_timeout
        ),
        (
            Some(Timer::secs(5)),
            Some(2),
            Some(Timer(500_000)),
            Some(Timer::secs(1)),
            Some(Timer::secs(3))
        )
    );
    assert_eq!((got.smtp_alert, got.alpha), (Some(true), Some(true)));
    assert_eq!(got.virtualhost.as_deref(), Some("rs.example.com"));
}

#[test]
fn real_server_weight_goes_up_to_the_ipvs_limit() {
    // keepalived (rs_weight_handler) accepts 0..=IPVS_WEIGHT_LIMIT, INT32_MAX.
    assert_eq!(rs(" weight 2147483647").weight, i32::MAX);
    assert_eq!(rs(" weight 65536").weight, 65536);
    let p = parse(&real_server(" weight 2147483648"));
    let (d, _) = p.only();
    assert_eq!(d.help, ["`weight` must be a whole number in 0-2147483647"]);
}

#[test]
fn real_server_weight_is_not_negative() {
    // Weight 0 is a drained server: accepted (validation notes the quorum cannot be met).
    let p = parse(&real_server(" weight 0"));
    assert_eq!(p.codes(), [("quorum-unreachable", false)]);
    assert_eq!(p.config().virtual_servers[0].real_servers[0].weight, 0);

    let p = parse(&real_server(" weight -1"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `weight` value `-1`", "-1")
    );
    assert_eq!(p.config().virtual_servers[0].real_servers[0].weight, 1);
}

#[test]
fn misspelt_server_keywords_suggest() {
    let p = parse(&real_server(" wieght 5"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unknown keyword `wieght` in `real_server`", "wieght")
    );
    assert_eq!(d.help, ["did you mean `weight`?"]);
    let p = parse(&virtual_server(" delay_lop 5"));
    let (d, _) = p.only();
    assert_eq!(d.help, ["did you mean `delay_loop`?"]);
}
