//! ipvsadm text formats: the rules reader against written rules files, its errors, and the
//! printers on tables built here (the real-kernel vectors are checked in `batch.rs`).

use ipvs_sys::{ipvsadm, Error, ForwardMethod, Info, IpvsState, TunnelChecksum, TunnelType};

fn data(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn long_options_defaults_and_edits_are_understood() {
    let state = ipvsadm::parse_rules(&data("rules-long-options.txt")).unwrap();
    assert_eq!(
        ipvsadm::format_save(&state),
        data("rules-long-options.saved.txt")
    );
    let udp = &state.services[1];
    assert_eq!(udp.destinations[0].upper_threshold, 1000);
    assert_eq!(udp.destinations[0].lower_threshold, 800);
    let tunnel = &state.services[2].destinations[0];
    assert_eq!(tunnel.forward, ForwardMethod::Tunnel);
    assert_eq!(tunnel.tunnel.kind, TunnelType::Gue);
    assert_eq!(tunnel.tunnel.checksum, TunnelChecksum::RemoteChecksum);
}

/// Found by the ipvsadm_rules fuzz target: `--tun-port` and `--tun-csum` given with an ipip
/// tunnel were kept, though the model has a port for GUE only and `ipvsadm -S` writes neither,
/// so the saved rules imported back to another table.
#[test]
fn tunnel_options_of_another_tunnel_type_are_ignored() {
    let rules = "-A -t 10.0.0.4:80 -s rr\n\
                 -a -t 10.0.0.4:80 -r 192.168.1.30:80 -i -w 1 --tun-port 6080 --tun-csum\n\
                 -a -t 10.0.0.4:80 -r 192.168.1.31:80 -i --tun-type gre --tun-port 6080 --tun-csum\n";
    let state = ipvsadm::parse_rules(rules).unwrap();
    let [ipip, gre] = &state.services[0].destinations[..] else {
        panic!("two destinations");
    };
    assert_eq!((ipip.tunnel.kind, ipip.tunnel.port), (TunnelType::Ipip, 0));
    assert_eq!(ipip.tunnel.checksum, TunnelChecksum::None);
    assert_eq!((gre.tunnel.kind, gre.tunnel.port), (TunnelType::Gre, 0));
    assert_eq!(gre.tunnel.checksum, TunnelChecksum::Checksum);
    let saved = ipvsadm::format_save(&state);
    assert_eq!(ipvsadm::parse_rules(&saved).unwrap(), state, "{saved}");
}

/// Found by the ipvsadm_rules fuzz target: ipvsadm -S (and format_save) writes a firewall
/// mark of 2^31 or more as a negative int, which the import refused.
#[test]
fn high_firewall_marks_import_as_ipvsadm_saves_them() {
    let state = ipvsadm::parse_rules("-A -f 2255222222 -s rr\n").unwrap();
    let saved = ipvsadm::format_save(&state);
    assert_eq!(saved, "-A -f -2039745074 -s rr\n");
    assert_eq!(ipvsadm::parse_rules(&saved).unwrap(), state);
    assert!(ipvsadm::parse_rules("-A -f 4294967296 -s rr\n").is_err());
    assert!(ipvsadm::parse_rules("-A -f -2147483649 -s rr\n").is_err());
}

/// Found by the ipvsadm_rules fuzz target: `[2001:db8::%100]:443` read as an address with a
/// scope id, which IPVS does not have and the saved rules dropped (making it another service).
#[test]
fn ipv6_scope_ids_are_refused() {
    for rules in [
        "-A -t [2001:db8::%100]:443 -s rr\n",
        "-A -t [2001:db8::1]:443 -s rr\n-a -t [2001:db8::1]:443 -r [fe80::1%2]:443 -m\n",
    ] {
        let err = ipvsadm::parse_rules(rules).unwrap_err().to_string();
        assert!(err.contains("scope id"), "{err}");
    }
}

/// Found by the ipvsadm_rules fuzz target: ipvsadm's wrapping address comparison is cyclic
/// (205.0.0.1 < 10.0.0.4 < 77.0.0.1 < 205.0.0.1), so the saved order depended on the order of
/// the rules, and with a few dozen services the standard library's sort panicked
/// ("does not correctly implement a total order").
#[test]
fn services_far_apart_sort_the_same_way_in_any_order_and_never_panic() {
    let lines = [
        "-A -t 205.0.0.1:80 -s rr",
        "-A -t 10.0.0.4:80 -s rr",
        "-A -t 77.0.0.1:80 -s rr",
    ];
    let mut saved = Vec::new();
    for order in [[0, 1, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
        let rules: String = order.iter().map(|&i| format!("{}\n", lines[i])).collect();
        saved.push(ipvsadm::format_save(&ipvsadm::parse_rules(&rules).unwrap()));
    }
    assert!(saved.windows(2).all(|w| w[0] == w[1]), "{saved:?}");

    // Many services and destinations spread over the address space.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as u32
    };
    for _ in 0..50 {
        let mut rules = String::new();
        for _ in 0..60 {
            rules.push_str(&format!(
                "-A -t {}:80 -s rr\n",
                std::net::Ipv4Addr::from(next())
            ));
        }
        for _ in 0..60 {
            let real = std::net::Ipv4Addr::from(next());
            rules.push_str(&format!("-a -t 10.0.0.1:80 -r {real}:80 -m\n"));
        }
        let state = ipvsadm::parse_rules(&format!("-A -t 10.0.0.1:80 -s rr\n{rules}")).unwrap();
        let text = ipvsadm::format_save(&state);
        assert_eq!(
            ipvsadm::format_save(&ipvsadm::parse_rules(&text).unwrap()),
            text
        );
        let _ = ipvsadm::format_list(&state, &Info::default());
    }
}

#[test]
fn saved_rules_read_back_to_the_same_text() {
    for name in ["kernel-6.1-ipvsadm-S-n.txt", "rules-long-options.saved.txt"] {
        let text = data(name);
        let state = ipvsadm::parse_rules(&text).unwrap();
        assert_eq!(ipvsadm::format_save(&state), text, "{name}");
    }
}

#[test]
fn bad_rules_name_the_line_and_the_cause() {
    let cases = [
        (
            "-A -t 10.0.0.1:80 -s rr\n-A -t 10.0.0.1:80 -s rr\n",
            2,
            "service TCP 10.0.0.1:80 defined twice",
        ),
        (
            "-a -t 10.0.0.1:80 -r 10.1.1.1 -g\n",
            1,
            "destination of undefined service TCP 10.0.0.1:80",
        ),
        (
            "\n\n-A -t 10.0.0.1:80 --frobnicate\n",
            3,
            "unknown option \"--frobnicate\"",
        ),
        (
            "-A -t web.example:80\n",
            1,
            "invalid address \"web.example:80\" (numeric address[:port] expected)",
        ),
        ("-A -t 10.0.0.1:80 -s\n", 1, "option -s needs a value"),
        (
            "-t 10.0.0.1:80\n",
            1,
            "no command (-A, -a, ...) on the line",
        ),
        (
            "-A -t 10.0.0.1:80 -u 10.0.0.1:53\n",
            1,
            "more than one service given",
        ),
        (
            "-A -t 10.0.0.1:80 -w x\n",
            1,
            "invalid weight \"x\": expected a number",
        ),
    ];
    for (text, line, reason) in cases {
        match ipvsadm::parse_rules(text) {
            Err(Error::Rules { line: l, reason: r }) => {
                assert_eq!((l, r.as_str()), (line, reason), "{text:?}")
            }
            other => panic!("{text:?}: expected a rules error, got {other:?}"),
        }
    }
    let err = ipvsadm::parse_rules("-D -t 10.0.0.1:80\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "ipvsadm rules, line 1: delete of undefined service TCP 10.0.0.1:80"
    );
}

#[test]
fn listing_of_an_empty_table() {
    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    assert_eq!(
        ipvsadm::format_list(&IpvsState::default(), &info),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
    );
}

#[test]
fn synthetic_table_saves_as_ipvsadm_would() {
    let text = ipvsadm::format_save(&IpvsState::synthetic(2, 2));
    assert_eq!(
        text,
        "-A -t 10.0.0.0:80 -s rr\n\
         -a -t 10.0.0.0:80 -r 172.16.0.0:80 -g -w 1\n\
         -a -t 10.0.0.0:80 -r 172.16.0.1:80 -g -w 1\n\
         -A -t 10.0.0.1:80 -s rr\n\
         -a -t 10.0.0.1:80 -r 172.16.0.0:80 -g -w 1\n\
         -a -t 10.0.0.1:80 -r 172.16.0.1:80 -g -w 1\n"
    );
}

#[test]
fn stats_columns_scale_like_print_largenum() {
    use ipvs_sys::ipvsadm::{format_list_with, ListColumns};
    let mut state = IpvsState::synthetic(1, 1);
    state.services[0].service.stats = Some(ipvs_sys::Stats {
        conns: 99_999_999,
        in_pkts: 123_456_789,
        out_pkts: 12_345_678_901,
        in_bytes: 12_345_678_901_234,
        out_bytes: 123_456_789_012_345_678,
        ..Default::default()
    });
    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    let scaled = format_list_with(&state, &info, ListColumns::Stats, false);
    let exact = format_list_with(&state, &info, ListColumns::Stats, true);
    let line = |text: &str| text.lines().nth(3).unwrap().to_string();
    assert_eq!(
        line(&scaled),
        "TCP  10.0.0.0:80                  99999999  123456K   12345M   12345G  123456T"
    );
    assert_eq!(
        line(&exact),
        "TCP  10.0.0.0:80                  99999999 123456789 12345678901 12345678901234 123456789012345678"
    );
    assert_eq!(
        scaled.lines().nth(4).unwrap(),
        "  -> 172.16.0.0:80                       0        0        0        0        0"
    );
}

/// Expected texts are glibc's (`socket.inet_ntop` in Python on the build host).
#[test]
fn ipv6_addresses_print_as_inet_ntop_does() {
    use ipvs_sys::ipvsadm::ipv6_text;
    let cases = [
        ("::", "::"),
        ("::1", "::1"),
        ("::0.0.1.2", "::102"),
        ("::1.2.3.4", "::1.2.3.4"),
        ("::ffff:1.2.3.4", "::ffff:1.2.3.4"),
        ("2001:db8::1", "2001:db8::1"),
        ("2001:db8:0:1::1", "2001:db8:0:1::1"),
        ("fe80::1:0:0:1", "fe80::1:0:0:1"),
        ("0:0:0:0:0:1:0:1", "::1:0:1"),
        ("::ffff:0:1", "::ffff:0.0.0.1"),
        ("::1:2", "::0.1.0.2"),
    ];
    for (input, printed) in cases {
        assert_eq!(ipv6_text(input.parse().unwrap()), printed, "{input}");
    }
}

/// The same texts as `ipvsadm -L --daemon` / `--timeout` printed in the test VM for these
/// settings (compared there by `ipvs_probe daemons` / `timeouts`).
#[test]
fn daemon_and_timeout_listings() {
    use ipvs_sys::{DaemonState, SyncDaemon, Timeouts};
    let master = SyncDaemon {
        state: DaemonState::Master,
        interface: "lo".into(),
        sync_id: 3,
        max_len: Some(1400),
        group: Some("224.0.0.99".parse().unwrap()),
        port: Some(9000),
        ttl: Some(3),
    };
    let backup = SyncDaemon {
        state: DaemonState::Backup,
        interface: "eth1".into(),
        sync_id: 4,
        max_len: None,
        group: Some("ff02::99".parse().unwrap()),
        port: None,
        ttl: None,
    };
    assert_eq!(
        ipvsadm::format_daemons(&[master, backup]),
        "master sync daemon (mcast=lo, syncid=3, maxlen=1400, group=224.0.0.99, port=9000, ttl=3)\n\
         backup sync daemon (mcast=eth1, syncid=4, group=ff02::99)\n"
    );
    assert_eq!(
        ipvsadm::format_timeouts(&Timeouts {
            tcp: 900,
            tcp_fin: 120,
            udp: 300
        }),
        "Timeout (tcp tcpfin udp): 900 120 300\n"
    );
}
