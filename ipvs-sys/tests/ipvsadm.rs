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

/// Found by the ipvsadm_rules fuzz target in a 10-minute run: a weight of 2222552222 was
/// taken and saved as `-w -2072415074`, which no ipvsadm reads back. ipvsadm reads weights
/// and thresholds as `int`s from 0 (1.31 caps the weight at 65535, later releases at INT_MAX).
#[test]
fn weights_and_thresholds_past_int_max_are_refused() {
    let rs =
        |opt: &str| format!("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.2:80 -m {opt}\n");
    let state = ipvsadm::parse_rules(&rs("-w 2147483647")).unwrap();
    let saved = ipvsadm::format_save(&state);
    assert_eq!(ipvsadm::parse_rules(&saved).unwrap(), state, "{saved}");
    for opt in ["-x 2147483647", "-y 2147483647"] {
        assert!(ipvsadm::parse_rules(&rs(opt)).is_ok(), "{opt}");
    }
    for opt in [
        "-w 2147483648",
        "-w 2222552222",
        "-x 2147483648",
        "-y 4294967295",
    ] {
        let err = ipvsadm::parse_rules(&rs(opt)).unwrap_err().to_string();
        assert!(err.contains("at most 2147483647"), "{opt}: {err}");
    }
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

/// Found by the ipvsadm_rules fuzz target in CI: `-M -1772745071` on an IPv6 service was read
/// as a u32 and saved as a negative prefix length that did not import again. ipvsadm takes an
/// IPv6 `-M` as a prefix length from 1 to 128 ("illegal ipv6 netmask specified").
#[test]
fn ipv6_persistence_prefix_lengths_are_1_to_128() {
    for bad in ["0", "129", "-1772745071", "4294967295", "ffff::"] {
        let rules = format!("-A -t [84::1]:0 -s wlc -p 300 -M {bad}\n");
        let err = ipvsadm::parse_rules(&rules).unwrap_err().to_string();
        assert!(err.contains("IPv6 prefix length"), "{bad}: {err}");
    }
    for good in ["1", "64", "128"] {
        let rules = format!("-A -t [84::1]:0 -s wlc -p 300 -M {good}\n");
        let state = ipvsadm::parse_rules(&rules).unwrap();
        let saved = ipvsadm::format_save(&state);
        assert_eq!(ipvsadm::parse_rules(&saved).unwrap(), state, "{saved}");
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

/// `ha ipvs list --stats/--rate` per real server: ipvsadm's print_service_entry prints a
/// destination's counters with print_largenum, but its CPS/InPPS/OutPPS rates as plain `%8u`
/// (only the byte rates scale), unlike the service line.
#[test]
fn stats_and_rate_columns_per_real_server_follow_ipvsadm() {
    use ipvs_sys::ipvsadm::{format_list_with, ListColumns};
    let mut state = IpvsState::synthetic(1, 2);
    let counters = ipvs_sys::Stats {
        conns: 1_234,
        in_pkts: 123_456_789,
        out_pkts: 5,
        in_bytes: 12_345_678_901,
        out_bytes: 0,
        cps: 123_456_789,
        in_pps: 7,
        out_pps: 8,
        in_bps: 123_456_789,
        out_bps: 99,
    };
    state.services[0].destinations[1].stats = Some(counters);
    let info = Info {
        version: 0x010201,
        conn_tab_size: 4096,
    };
    let stats = format_list_with(&state, &info, ListColumns::Stats, false);
    let rate = format_list_with(&state, &info, ListColumns::Rate, false);
    let exact_rate = format_list_with(&state, &info, ListColumns::Rate, true);
    let dest_lines = |text: &str| text.lines().skip(4).map(String::from).collect::<Vec<_>>();
    assert_eq!(
        dest_lines(&stats),
        [
            "  -> 172.16.0.0:80                       0        0        0        0        0",
            "  -> 172.16.0.1:80                    1234  123456K        5   12345M        0",
        ]
    );
    assert_eq!(
        dest_lines(&rate),
        [
            "  -> 172.16.0.0:80                       0        0        0        0        0",
            "  -> 172.16.0.1:80                123456789        7        8  123456K       99",
        ]
    );
    assert_eq!(
        dest_lines(&exact_rate)[1],
        "  -> 172.16.0.1:80                123456789        7        8 123456789       99"
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

/// `/proc/net/ip_vs_conn` as the kernel writes it (`ip_vs_conn_seq_show`): IPv4 in hex,
/// IPv6 in full, a fwmark template (its "virtual address" is the mark), a SIP persistence
/// engine's entry.
const PROC_IP_VS_CONN: &str = "\
Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP C0A83801 DE7A C0A838C8 0050 C0A83866 0050 ESTABLISHED     231
TCP C0A83801 DFCA C0A838C8 0050 C0A83867 0050 FIN_WAIT         58
IP  C0A80006 0000 0000000A 0000 0A000011 0000 NONE            948
TCP 2001:0db8:0000:0000:0000:0000:0000:0001 C350 2001:0db8:0000:0000:0000:0000:0000:00c8 01BB 2001:0db8:0000:0000:0000:0000:0000:000a 01BB ESTABLISHED     899
UDP C0A80001 13C4 C0A800C8 13C4 C0A8000A 13C4 UDP             179 sip abc123@host
";

#[test]
fn connections_print_as_ipvsadm_lnc() {
    let conns = ipvsadm::parse_connections(PROC_IP_VS_CONN).unwrap();
    assert_eq!(conns.len(), 5);
    assert_eq!(
        ipvsadm::format_connections(&conns, false),
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         TCP 03:51  ESTABLISHED 192.168.56.1:56954 192.168.56.200:80  192.168.56.102:80\n\
         TCP 00:58  FIN_WAIT    192.168.56.1:57290 192.168.56.200:80  192.168.56.103:80\n\
         IP  15:48  NONE        192.168.0.6:0      0.0.0.10:0         10.0.0.17:0\n\
         TCP 14:59  ESTABLISHED [2001:db8::1]:50000 [2001:db8::c8]:443 [2001:db8::a]:443\n\
         UDP 02:59  UDP         192.168.0.1:5060   192.168.0.200:5060 192.168.0.10:5060\n"
    );
    let persistent = ipvsadm::format_connections(&conns, true);
    assert!(persistent.starts_with(
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination        pe name          pe_data\n"
    ));
    assert!(persistent.ends_with(
        "UDP 02:59  UDP         192.168.0.1:5060   192.168.0.200:5060 192.168.0.10:5060 sip                abc123@host\n"
    ), "{persistent}");
    assert!(ipvsadm::parse_connections("header\nTCP C0A83801 DE7A\n").is_err());
    assert_eq!(
        ipvsadm::format_connections(&[], false),
        "IPVS connection entries\npro expire state       source             virtual            destination\n"
    );
}

#[test]
fn filters_keep_one_address_or_one_service() {
    use ipvsadm::ServiceFilter;
    let state = ipvsadm::parse_rules(
        "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.1.1.1:80 -m\n\
         -A -t 10.0.0.1:443 -s rr\n-A -u 10.0.0.1:53 -s rr\n-A -t 10.0.0.2:80 -s rr\n\
         -A -f 7 -s rr\n",
    )
    .unwrap();
    let names = |f: &ServiceFilter| -> Vec<String> {
        let kept = f.apply(&state);
        ipvsadm::format_save(&kept)
            .lines()
            .filter(|l| l.starts_with("-A"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(names(&ServiceFilter::address("10.0.0.1").unwrap()).len(), 3);
    assert_eq!(
        names(&ServiceFilter::address("10.0.0.1:80").unwrap()),
        ["-A -t 10.0.0.1:80 -s rr"]
    );
    assert_eq!(names(&ServiceFilter::All).len(), 5);
    assert!(ServiceFilter::address("web:80").is_err());
    let conns = ipvsadm::parse_connections(PROC_IP_VS_CONN).unwrap();
    let vip = ServiceFilter::address("192.168.56.200").unwrap();
    assert_eq!(conns.iter().filter(|c| vip.keeps_connection(c)).count(), 2);
    let v6 = ServiceFilter::address("[2001:db8::c8]:443").unwrap();
    assert_eq!(conns.iter().filter(|c| v6.keeps_connection(c)).count(), 1);
}
