//! `vrrp_instance`, `vrrp_sync_group` and address lines (`src/parse/vrrp.rs`).

use std::net::IpAddr;

use keepalived_conf::{
    AuthType, Authentication, IpAddress, Timer, UnicastChecksum, UnicastPeer, UseVmac,
    VrrpInstance, VrrpState,
};

use super::{instance, parse};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Instances `VI_1` and `VI_2`, for sync groups.
fn two_instances() -> String {
    instance("") + &instance("").replace("VI_1", "VI_2").replace(" 51", " 52")
}

fn vi(body: &str) -> VrrpInstance {
    parse(&instance(body)).clean().vrrp_instances[0].clone()
}

#[test]
fn an_instance_has_keepalived_defaults() {
    let mut want = VrrpInstance::new("VI_1");
    want.interface = Some("eth0".into());
    want.virtual_router_id = Some(51);
    want.virtual_ipaddress = vec![IpAddress {
        addr: ip("192.0.2.1"),
        prefix: None,
        brd: None,
        dev: None,
        scope: None,
        label: None,
        peer: None,
        options: vec![],
    }];
    let got = vi("");
    assert_eq!(got, want);
    assert_eq!((got.priority, got.advert_int), (100, Timer::secs(1)));
    assert_eq!(
        (got.state, got.effective_state()),
        (None, VrrpState::Backup)
    );
}

#[test]
fn state_is_master_or_backup_in_capitals() {
    assert_eq!(vi(" state MASTER").state, Some(VrrpState::Master));
    assert_eq!(vi(" state BACKUP").state, Some(VrrpState::Backup));
    let p = parse(&instance(" state master"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid state `master`", "master")
    );
    assert_eq!(
        d.help,
        ["`state` must be MASTER or BACKUP; did you mean `MASTER`?"]
    );
    assert_eq!(p.config().vrrp_instances[0].state, None);

    let p = parse(&instance(" state"));
    let (d, _) = p.only();
    assert_eq!(d.message, "`state` needs MASTER or BACKUP");
}

#[test]
fn priority_is_1_to_255_and_a_bad_one_keeps_100() {
    assert_eq!(vi(" priority 1").priority, 1);
    assert_eq!(vi(" priority 255\n state MASTER").priority, 255);
    for bad in ["0", "256", "high"] {
        let p = parse(&instance(&format!(" priority {bad}")));
        let (d, at) = p.only();
        assert_eq!(
            (d.message.clone(), at),
            (format!("invalid `priority` value `{bad}`"), bad)
        );
        assert_eq!(p.config().vrrp_instances[0].priority, 100);
    }
}

#[test]
fn state_master_without_priority_is_the_address_owner_as_in_keepalived() {
    assert_eq!(vi(" state MASTER").priority, 255);
    assert_eq!(vi(" state MASTER\n priority 150").priority, 150);
    assert_eq!(vi(" priority 150\n state MASTER").priority, 150);
    assert_eq!(vi(" state BACKUP").priority, 100);
    // keepalived ignores a BACKUP after a MASTER, and says so.
    let p = parse(&instance(" state MASTER\n priority 90\n state BACKUP"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`state BACKUP` after `state MASTER` is ignored", "BACKUP")
    );
    assert_eq!(p.config().vrrp_instances[0].state, Some(VrrpState::Master));
}

#[test]
fn virtual_router_id_is_1_to_255() {
    let p = parse(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 255\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
    );
    assert_eq!(p.clean().vrrp_instances[0].virtual_router_id, Some(255));
    let p = parse(
        "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 0\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
    );
    let codes = p.codes();
    // The invalid id is dropped, so validation also reports it missing.
    assert_eq!(codes, [("invalid-value", true), ("missing-vrid", true)]);
    assert_eq!(p.config().vrrp_instances[0].virtual_router_id, None);
}

#[test]
fn advert_int_takes_fractions_and_not_zero() {
    let got = vi(" version 3\n advert_int 0.25");
    assert_eq!((got.version, got.advert_int), (Some(3), Timer(250_000)));
    let p = parse(&instance(" advert_int 0"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`advert_int` must not be 0", "0")
    );
    assert_eq!(p.config().vrrp_instances[0].advert_int, Timer::secs(1));
}

#[test]
fn version_is_2_or_3() {
    assert_eq!(vi(" version 2").version, Some(2));
    let p = parse(&instance(" version 4"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `version` value `4`", "4")
    );
}

#[test]
fn preempt_delay_is_0_to_1000_seconds() {
    assert_eq!(vi(" preempt_delay 0.5").preempt_delay, Some(Timer(500_000)));
    assert_eq!(
        vi(" preempt_delay 1000").preempt_delay,
        Some(Timer::secs(1000))
    );
    let p = parse(&instance(" preempt_delay 1000.000001"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`preempt_delay` out of range", "1000.000001")
    );
    assert_eq!(p.config().vrrp_instances[0].preempt_delay, None);
}

#[test]
fn the_last_of_preempt_and_nopreempt_wins() {
    assert!(vi(" nopreempt").nopreempt);
    assert!(!vi(" nopreempt\n preempt").nopreempt);
}

#[test]
fn interface_names_follow_linux_rules() {
    assert_eq!(vi("").interface.as_deref(), Some("eth0"));
    let fifteen = "a23456789012345";
    let p = parse(&format!(
        "vrrp_instance VI_1 {{\n interface {fifteen}\n virtual_router_id 51\n virtual_ipaddress {{\n 192.0.2.1\n }}\n}}\n"
    ));
    assert_eq!(
        p.clean().vrrp_instances[0].interface.as_deref(),
        Some(fifteen)
    );
    for bad in ["a234567890123456", "eth0:1", "\"eth 0\""] {
        let p = parse(&format!(
            "vrrp_instance VI_1 {{\n interface {bad}\n virtual_router_id 51\n virtual_ipaddress {{\n 192.0.2.1\n }}\n}}\n"
        ));
        assert_eq!(p.codes()[0], ("invalid-value", true), "{bad}");
        assert!(p.loaded.diagnostics[0]
            .message
            .ends_with("is not a valid interface name"));
    }
}

#[test]
fn source_and_destination_addresses() {
    let got = vi(" unicast_src_ip 192.0.2.10\n mcast_dst_ip 224.0.0.19");
    assert_eq!(got.unicast_src_ip, Some(ip("192.0.2.10")));
    assert_eq!(got.mcast_dst_ip, Some(ip("224.0.0.19")));
    let p = parse(
        "vrrp_instance V6 {\n interface eth0\n virtual_router_id 1\n version 3\n unicast_src_ip fe80::1\n \
         unicast_peer {\n  fe80::2\n }\n virtual_ipaddress {\n 2001:db8::1\n }\n}\n",
    );
    let got = &p.clean().vrrp_instances[0];
    assert_eq!(got.unicast_src_ip, Some(ip("fe80::1")));
    assert_eq!(got.unicast_peers[0].addr, ip("fe80::2"));
    // `mcast_src_ip` is the older name of `unicast_src_ip`.
    assert_eq!(
        vi(" mcast_src_ip 192.0.2.9").unicast_src_ip,
        Some(ip("192.0.2.9"))
    );
}

#[test]
fn unicast_peers_with_optional_ttls() {
    let got = vi(
        " unicast_src_ip 192.0.2.10\n unicast_ttl 255\n unicast_peer {\n  192.0.2.11\n  192.0.2.12 min_ttl 0 max_ttl 255\n }",
    );
    assert_eq!(
        got.unicast_peers,
        [
            UnicastPeer {
                addr: ip("192.0.2.11"),
                min_ttl: None,
                max_ttl: None
            },
            UnicastPeer {
                addr: ip("192.0.2.12"),
                min_ttl: Some(0),
                max_ttl: Some(255)
            }
        ]
    );
    assert_eq!(got.unicast_ttl, Some(255));
    // keepalived (vrrp_ttl_handler) reads unicast_ttl in 0-255.
    assert_eq!(vi(" unicast_ttl 0").unicast_ttl, Some(0));
    let p = parse(&instance(" unicast_ttl 256"));
    assert_eq!(
        p.only().0.help,
        ["`unicast_ttl` must be a whole number in 0-255"]
    );
}

#[test]
fn per_instance_garp_limits() {
    let got = vi(
        " garp_master_delay 4294\n garp_master_repeat 10001\n garp_lower_prio_repeat 2147483647",
    );
    assert_eq!(
        (
            got.garp_master_delay,
            got.garp_master_repeat,
            got.garp_lower_prio_repeat
        ),
        (Some(4294), Some(10001), Some(i32::MAX as u32))
    );
    let p = parse(&instance(" garp_lower_prio_delay 4295"));
    assert_eq!(
        p.only().0.help,
        ["`garp_lower_prio_delay` must be a whole number in 0-4294"]
    );
}

#[test]
fn malformed_unicast_peers() {
    let p = parse(&instance(" unicast_peer {\n  192.0.2\n }"));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("invalid-address", "192.0.2"));
    assert_eq!(d.message, "unicast peer `192.0.2` is not an IP address");
    assert!(p.config().vrrp_instances[0].unicast_peers.is_empty());

    let p = parse(&instance(" unicast_peer {\n  192.0.2.11 max_ttl 256\n }"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `max_ttl` value `256`", "256")
    );

    let p = parse(&instance(" unicast_peer {\n  192.0.2.11 ttl 5\n }"));
    let (d, at) = p.only();
    assert_eq!(d.message, "unexpected `ttl` after a unicast peer");
    assert_eq!(at, "ttl");
    assert_eq!(d.help, ["write `ADDRESS [min_ttl N] [max_ttl N]`"]);
}

#[test]
fn authentication_pass_and_ah() {
    let got = vi(" authentication {\n  auth_type AH\n  auth_pass 12345678\n }");
    assert_eq!(
        got.authentication,
        Some(Authentication {
            auth_type: AuthType::Ah,
            auth_pass: "12345678".into()
        })
    );
    // Exactly 8 characters is not truncated; 9 is.
    let p = parse(&instance(
        " authentication {\n  auth_type PASS\n  auth_pass 123456789\n }",
    ));
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.is_error(), at),
        ("auth-pass-truncated", false, "123456789")
    );
    assert_eq!(
        p.config().vrrp_instances[0]
            .authentication
            .as_ref()
            .unwrap()
            .auth_pass,
        "12345678"
    );
}

#[test]
fn authentication_needs_type_and_password() {
    let p = parse(&instance(" authentication {\n  auth_type PASS\n }"));
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.message.as_str()),
        ("missing-keyword", "`authentication` has no `auth_pass`")
    );
    assert_eq!(at, "authentication");
    assert_eq!(p.config().vrrp_instances[0].authentication, None);

    // An invalid type is reported once, not again as missing.
    let p = parse(&instance(
        " authentication {\n  auth_type pass\n  auth_pass x\n }",
    ));
    let (d, _) = p.only();
    assert_eq!(
        d.help,
        ["`auth_type` must be PASS or AH; did you mean `PASS`?"]
    );
}

#[test]
fn address_lines_with_every_option() {
    let got = vi(
        " virtual_ipaddress_excluded {\n  192.0.2.10/24 brd 192.0.2.255 dev eth1 scope link label eth1:vip\n  \
         2001:db8::10/64 dev eth0 -nodad noprefixroute home mngtmpaddr\n  \
         2001:db8::11 preferred_lft 0 no_track peer 2001:db8::99\n  ff15::1 autojoin use_vmac\n }",
    );
    let a = &got.virtual_ipaddress_excluded;
    assert_eq!(a.len(), 4);
    assert_eq!((a[0].addr, a[0].prefix), (ip("192.0.2.10"), Some(24)));
    assert_eq!(
        (
            a[0].brd.as_deref(),
            a[0].dev.as_deref(),
            a[0].scope.as_deref(),
            a[0].label.as_deref()
        ),
        (
            Some("192.0.2.255"),
            Some("eth1"),
            Some("link"),
            Some("eth1:vip")
        )
    );
    assert_eq!((a[1].addr, a[1].prefix), (ip("2001:db8::10"), Some(64)));
    assert_eq!(
        a[1].options,
        ["-nodad", "noprefixroute", "home", "mngtmpaddr"]
    );
    assert_eq!(a[2].prefix, None);
    assert_eq!(a[2].options, ["preferred_lft", "0", "no_track"]);
    assert_eq!(a[2].peer.as_deref(), Some("2001:db8::99"));
    assert_eq!(a[3].options, ["autojoin", "use_vmac"]);
}

#[test]
fn address_values_keepalived_rejects_or_ignores() {
    // keepalived: a peer has no prefix, an IPv6 address no broadcast, a lifetime is seconds
    // or `forever` (errors); `nodad` is not its word, an IPv4 lifetime and the prefix of an
    // address with a peer are ignored (warnings).
    for (line, error, message) in [
        (
            "192.0.2.1 peer 192.0.2.2/24",
            true,
            "invalid peer address `192.0.2.2/24`",
        ),
        (
            "192.0.2.1 peer 2001:db8::2",
            true,
            "invalid peer address `2001:db8::2`",
        ),
        (
            "2001:db8::1 brd +",
            true,
            "an IPv6 address has no broadcast address (`brd +`)",
        ),
        (
            "192.0.2.1 brd 300.1.1.1",
            true,
            "invalid broadcast address `300.1.1.1`",
        ),
        (
            "2001:db8::1 preferred_lft soon",
            true,
            "`preferred_lft soon` is invalid",
        ),
        ("2001:db8::1 nodad", false, "unknown address option `nodad`"),
        (
            "192.0.2.1 preferred_lft 0",
            false,
            "`preferred_lft` applies to IPv6 addresses; keepalived ignores it here",
        ),
        (
            "192.0.2.1/24 peer 192.0.2.2",
            false,
            "with a peer, keepalived ignores the address's prefix",
        ),
    ] {
        let p = parse(&instance(&format!(
            " virtual_ipaddress_excluded {{\n  {line}\n }}"
        )));
        let (d, _) = p.only();
        assert_eq!(
            (d.message.as_str(), d.is_error()),
            (message, error),
            "{line}"
        );
    }
}

#[test]
fn address_prefix_lengths_per_family() {
    let got =
        vi(" virtual_ipaddress_excluded {\n  192.0.2.10/32\n  2001:db8::1/128\n  192.0.2.0/0\n }");
    let prefixes: Vec<_> = got
        .virtual_ipaddress_excluded
        .iter()
        .map(|a| a.prefix)
        .collect();
    assert_eq!(prefixes, [Some(32), Some(128), Some(0)]);

    let p = parse(&instance(
        " virtual_ipaddress_excluded {\n  2001:db8::1/129\n }",
    ));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid prefix length `/129`", "2001:db8::1/129")
    );
    assert_eq!(d.help, ["the prefix length must be 0-128"]);
}

#[test]
fn an_address_option_without_its_value() {
    let p = parse(&instance(
        " virtual_ipaddress_excluded {\n  192.0.2.10 dev\n }",
    ));
    let (d, at) = p.only();
    assert_eq!(d.code, "missing-value");
    assert_eq!(d.message, "`192.0.2.10` needs a value for `dev`");
    assert_eq!(at, "192.0.2.10 dev");
}

#[test]
fn a_misspelt_address_option_suggests() {
    let p = parse(&instance(
        " virtual_ipaddress_excluded {\n  192.0.2.10 lable eth0:1\n }",
    ));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unknown address option `lable`", "lable")
    );
    assert_eq!(d.help, ["did you mean `label`?"]);
    // The address is kept; what follows the unknown word is not guessed at.
    let a = &p.config().vrrp_instances[0].virtual_ipaddress_excluded[0];
    assert_eq!((a.addr, a.label.as_deref()), (ip("192.0.2.10"), None));
}

#[test]
fn an_address_takes_no_block() {
    let p = parse(&instance(
        " virtual_ipaddress_excluded {\n  192.0.2.10 {\n  }\n }",
    ));
    let (d, at) = p.only();
    assert_eq!((d.code, d.is_error(), at), ("unexpected-block", false, "{"));
}

#[test]
fn static_addresses_routes_and_rules() {
    let p = parse(
        "static_ipaddress {\n 198.51.100.1/24 dev eth2\n}\nstatic_routes {\n 203.0.113.0/24 via 198.51.100.254\n}\n\
         static_rules {\n from 198.51.100.0/24 table 100\n}\n",
    );
    let c = p.clean();
    assert_eq!(c.static_ipaddress[0].dev.as_deref(), Some("eth2"));
    assert_eq!(
        c.static_routes,
        [["203.0.113.0/24", "via", "198.51.100.254"]]
    );
    assert_eq!(
        c.static_rules,
        [["from", "198.51.100.0/24", "table", "100"]]
    );
}

#[test]
fn virtual_routes_and_rules_are_kept_as_words() {
    let got = vi(" virtual_routes {\n  src 192.0.2.1 to 10.0.0.0/8 via 192.0.2.254\n }\n virtual_rules {\n  to 10.0.0.0/8 table 7\n }");
    assert_eq!(
        got.virtual_routes,
        [["src", "192.0.2.1", "to", "10.0.0.0/8", "via", "192.0.2.254"]]
    );
    assert_eq!(got.virtual_rules, [["to", "10.0.0.0/8", "table", "7"]]);
}

#[test]
fn use_vmac_with_and_without_a_name() {
    assert_eq!(vi(" use_vmac").use_vmac, Some(UseVmac { name: None }));
    assert_eq!(
        vi(" use_vmac vrrp.51").use_vmac,
        Some(UseVmac {
            name: Some("vrrp.51".into())
        })
    );
    let got = vi(" use_vmac\n vmac_xmit_base\n use_vmac_addr");
    assert!(got.vmac_xmit_base && got.use_vmac_addr);
}

#[test]
fn old_unicast_checksum_forms() {
    assert_eq!(
        vi(" old_unicast_checksum").old_unicast_checksum,
        Some(UnicastChecksum::Old)
    );
    assert_eq!(
        vi(" old_unicast_checksum never").old_unicast_checksum,
        Some(UnicastChecksum::Never)
    );
    let p = parse(&instance(" old_unicast_checksum always"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unexpected `always` after `old_unicast_checksum`", "always")
    );
    assert_eq!(p.config().vrrp_instances[0].old_unicast_checksum, None);
}

#[test]
fn accept_and_no_accept() {
    assert_eq!(vi(" accept").accept, Some(true));
    assert_eq!(vi(" no_accept").accept, Some(false));
    assert_eq!(vi("").accept, None);
}

#[test]
fn per_instance_garp_and_timer_settings() {
    let got = vi(
        " garp_master_delay 1\n garp_master_repeat 2\n garp_master_refresh 30\n garp_master_refresh_repeat 1\n \
         garp_lower_prio_delay 3\n garp_lower_prio_repeat 4\n down_timer_adverts 100\n kernel_rx_buf_size 65536",
    );
    assert_eq!(
        (
            got.garp_master_delay,
            got.garp_master_repeat,
            got.garp_master_refresh,
            got.garp_master_refresh_repeat,
            got.garp_lower_prio_delay,
            got.garp_lower_prio_repeat
        ),
        (Some(1), Some(2), Some(30), Some(1), Some(3), Some(4))
    );
    assert_eq!(
        (got.down_timer_adverts, got.kernel_rx_buf_size),
        (Some(100), Some(65536))
    );
    let p = parse(&instance(" down_timer_adverts 101"));
    let (d, _) = p.only();
    assert_eq!(
        d.help,
        ["`down_timer_adverts` must be a whole number in 1-100"]
    );
}

#[test]
fn instance_flags_and_names() {
    let got = vi(
        " native_ipv6\n dont_track_primary\n track_src_ip\n promote_secondaries\n check_unicast_src\n \
         unicast_fault_no_peer\n lower_prio_no_advert off\n higher_prio_send_advert\n strict_mode no\n \
         skip_check_adv_addr\n smtp_alert\n vrf red\n use_ipvlan ipvl0 192.0.2.50/24",
    );
    assert!(got.native_ipv6 && got.dont_track_primary && got.track_src_ip);
    assert!(got.promote_secondaries && got.check_unicast_src && got.unicast_fault_no_peer);
    assert_eq!(
        (
            got.lower_prio_no_advert,
            got.higher_prio_send_advert,
            got.strict_mode
        ),
        (Some(false), Some(true), Some(false))
    );
    assert_eq!(
        (got.skip_check_adv_addr, got.smtp_alert),
        (Some(true), Some(true))
    );
    assert_eq!(got.vrf.as_deref(), Some("red"));
    assert_eq!(
        got.use_ipvlan,
        Some(vec!["ipvl0".into(), "192.0.2.50/24".into()])
    );
}

#[test]
fn misspelt_instance_keywords_suggest_and_known_ones_are_kept() {
    let p = parse(&instance(" advert_itn 2"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        (
            "unknown keyword `advert_itn` in `vrrp_instance`",
            "advert_itn"
        )
    );
    assert_eq!(d.help, ["did you mean `advert_int`?"]);
    let got = vi(" debug 2");
    assert_eq!(got.other[0].keyword, "debug");
}

#[test]
fn duplicate_instance_names() {
    let text = format!("{}{}", instance(""), instance(""));
    let p = parse(&text);
    assert_eq!(p.codes(), [("duplicate", true)]);
    assert_eq!(
        p.loaded.diagnostics[0].message,
        "duplicate vrrp_instance `VI_1`"
    );
    assert_eq!(p.config().vrrp_instances.len(), 1);
}

#[test]
fn sync_group_members_tracking_and_flags() {
    let text = format!(
        "{}vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n track_interface {{\n  eth1\n }}\n notify_master /bin/m\n \
         smtp_alert no\n sync_group_tracking_weight\n}}\n",
        two_instances()
    );
    let p = parse(&text);
    let g = &p.clean().vrrp_sync_groups[0];
    assert_eq!(
        (g.name.as_str(), g.group.as_slice()),
        ("G", &["VI_1".to_string(), "VI_2".to_string()][..])
    );
    assert_eq!(g.tracking.interfaces[0].name, "eth1");
    assert_eq!(g.notify.master.as_deref(), Some("/bin/m"));
    assert_eq!(g.smtp_alert, Some(false));
    assert!(!g.global_tracking && g.sync_group_tracking_weight);
    let at = p.loaded.spans.get("vrrp_sync_group G/group/VI_1").unwrap();
    assert_eq!(p.text_at(at), "VI_1");
}

#[test]
fn global_tracking_is_sync_group_tracking_weight_as_in_keepalived() {
    let text = format!(
        "{}vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n global_tracking\n}}\n",
        two_instances()
    );
    let p = parse(&text);
    let g = &p.clean().vrrp_sync_groups[0];
    assert!(g.global_tracking && g.sync_group_tracking_weight);
}

#[test]
fn misspelt_sync_group_keywords_suggest() {
    let text = format!(
        "{}vrrp_sync_group G {{\n group {{\n  VI_1\n  VI_2\n }}\n globl_tracking\n}}\n",
        two_instances()
    );
    let p = parse(&text);
    let (d, _) = p.only();
    assert_eq!(
        d.message,
        "unknown keyword `globl_tracking` in `vrrp_sync_group`"
    );
    assert_eq!(d.help, ["did you mean `global_tracking`?"]);
}
