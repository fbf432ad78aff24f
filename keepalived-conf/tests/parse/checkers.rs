//! The health-check blocks of a real server and `url` (`src/parse/checkers.rs`).

use std::net::IpAddr;

use keepalived_conf::{Checker, CheckerCommon, CheckerKind, HttpUrl, ScriptUser, Timer};

use super::{checker, parse, real_server};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn check(kind: &str, body: &str) -> Checker {
    parse(&checker(kind, body)).clean().virtual_servers[0].real_servers[0].checkers[0].clone()
}

#[test]
fn every_checker_keyword_and_alias() {
    for (keyword, kind) in [
        ("TCP_CHECK", "TCP_CHECK"),
        ("PING_CHECK", "PING_CHECK"),
        ("ICMP_CHECK", "PING_CHECK"),
        ("SMTP_CHECK", "SMTP_CHECK"),
        ("DNS_CHECK", "DNS_CHECK"),
        ("UDP_CHECK", "UDP_CHECK"),
    ] {
        let c = check(keyword, "");
        assert_eq!(
            (c.kind.keyword(), c.common.clone()),
            (kind, CheckerCommon::default())
        );
    }
}

#[test]
fn settings_common_to_every_checker() {
    let c = check(
        "TCP_CHECK",
        " connect_ip 2001:db8::20\n connect_port 8080\n bindto 2001:db8::1\n bind_port 40000\n bind_if eth1\n \
         connect_timeout 0.5\n fwmark 7\n retry 0\n delay_before_retry 1.5\n warmup 3\n delay_loop 10\n alpha\n \
         log_all_failures off",
    );
    assert_eq!(
        c.common,
        CheckerCommon {
            connect_ip: Some(ip("2001:db8::20")),
            connect_port: Some(8080),
            bindto: Some(ip("2001:db8::1")),
            bind_port: Some(40000),
            bind_if: Some("eth1".into()),
            connect_timeout: Some(Timer(500_000)),
            fwmark: Some(7),
            retry: Some(0),
            delay_before_retry: Some(Timer(1_500_000)),
            warmup: Some(Timer::secs(3)),
            delay_loop: Some(Timer::secs(10)),
            alpha: Some(true),
            log_all_failures: Some(false),
            other: vec![],
        }
    );
    // `nb_get_retry` is keepalived's older name for `retry`.
    assert_eq!(check("TCP_CHECK", " nb_get_retry 4").common.retry, Some(4));
}

#[test]
fn malformed_common_settings() {
    for (body, message, at) in [
        (
            " connect_port 65536",
            "invalid `connect_port` value `65536`",
            "65536",
        ),
        (" bindto 10.0.0", "`10.0.0` is not an IP address", "10.0.0"),
        (
            " connect_timeout 5s",
            "invalid `connect_timeout` time `5s`",
            "5s",
        ),
        (
            " alpha maybe",
            "invalid boolean `maybe` for `alpha`",
            "maybe",
        ),
    ] {
        let p = parse(&checker("TCP_CHECK", body));
        let (d, span) = p.only();
        assert_eq!((d.message.as_str(), span), (message, at), "{body}");
    }
}

#[test]
fn ports_are_1_to_65535_and_misc_timeout_whole_seconds() {
    // keepalived: co_port_handler/co_srcport_handler read 1-65535, misc_timeout_handler
    // whole seconds.
    for (kind, body, message, at) in [
        (
            "TCP_CHECK",
            " connect_port 0",
            "invalid `connect_port` value `0`",
            "0",
        ),
        (
            "TCP_CHECK",
            " bind_port 0",
            "invalid `bind_port` value `0`",
            "0",
        ),
        (
            "MISC_CHECK",
            " misc_path /bin/true\n misc_timeout 2.5",
            "invalid `misc_timeout` value `2.5`",
            "2.5",
        ),
    ] {
        let p = parse(&checker(kind, body));
        let (d, span) = p.only();
        assert_eq!((d.message.as_str(), span), (message, at), "{body}");
    }
    let c = check("TCP_CHECK", " connect_port 1\n bind_port 65535");
    assert_eq!(
        (c.common.connect_port, c.common.bind_port),
        (Some(1), Some(65535))
    );
}

#[test]
fn http_get_with_urls() {
    let c = check(
        "HTTP_GET",
        " url {\n  path /health\n  digest 9b3a0c85a887a256d6939da88aabd8cd\n  status_code 200-299 301\n }\n \
         url {\n  path /ready\n  virtualhost ready.example.com\n  regex \"^OK\"\n  regex_no_match\n }\n \
         virtualhost www.example.com\n http_protocol 1.1",
    );
    let CheckerKind::HttpGet {
        urls,
        virtualhost,
        http_protocol,
    } = &c.kind
    else {
        panic!("{:?}", c.kind)
    };
    assert_eq!(
        urls[0],
        HttpUrl {
            path: "/health".into(),
            digest: Some("9b3a0c85a887a256d6939da88aabd8cd".into()),
            status_code: vec!["200-299".into(), "301".into()],
            ..HttpUrl::default()
        }
    );
    assert_eq!(
        (
            urls[1].virtualhost.as_deref(),
            urls[1].regex.as_deref(),
            urls[1].regex_no_match
        ),
        (Some("ready.example.com"), Some("^OK"), true)
    );
    assert_eq!(
        (virtualhost.as_deref(), http_protocol.as_deref()),
        (Some("www.example.com"), Some("1.1"))
    );
}

#[test]
fn ssl_get_with_sni() {
    let c = check("SSL_GET", " url {\n  path /\n }\n enable_sni");
    assert!(matches!(
        c.kind,
        CheckerKind::SslGet {
            enable_sni: true,
            ..
        }
    ));
}

#[test]
fn http_checks_need_a_url_with_a_path() {
    let p = parse(&checker("SSL_GET", " connect_timeout 3"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("SSL_GET has no `url` block", "SSL_GET")
    );

    let p = parse(&checker("HTTP_GET", " url {\n  status_code 200\n }"));
    let (d, at) = p.only();
    assert_eq!((d.message.as_str(), at), ("`url` has no `path`", "url"));
    assert_eq!(d.help, ["add `path /health`"]);
}

#[test]
fn status_codes_and_digests_are_checked_as_keepalived_does() {
    // keepalived (check_http.c, status_code_handler, digest_handler) reports each and
    // ignores it; an ignored code would silently change what counts as healthy.
    for (line, message, at) in [
        (
            "status_code 200 2xx",
            "invalid HTTP status code `2xx`",
            "2xx",
        ),
        ("status_code 600", "invalid HTTP status code `600`", "600"),
        (
            "status_code 99-200",
            "invalid HTTP status code `99-200`",
            "99-200",
        ),
        (
            "status_code 300-200",
            "invalid HTTP status code `300-200`",
            "300-200",
        ),
        (
            "digest 9b3a0c85",
            "`9b3a0c85` is not an MD5 digest",
            "9b3a0c85",
        ),
        (
            "digest 9b3a0c85a887a256d6939da88aabd8cg",
            "`9b3a0c85a887a256d6939da88aabd8cg` is not an MD5 digest",
            "9b3a0c85a887a256d6939da88aabd8cg",
        ),
    ] {
        let p = parse(&checker(
            "HTTP_GET",
            &format!(" url {{\n  path /\n  {line}\n }}"),
        ));
        let (d, span) = p.only();
        assert_eq!((d.message.as_str(), span), (message, at), "{line}");
    }
    let p = parse(&checker(
        "HTTP_GET",
        " url {\n  path /\n  status_code 100 2xx 599\n }",
    ));
    let CheckerKind::HttpGet { urls, .. } =
        &p.config().virtual_servers[0].real_servers[0].checkers[0].kind
    else {
        panic!()
    };
    assert_eq!(urls[0].status_code, ["100", "599"]);
    assert_eq!(urls[0].digest, None);
}

#[test]
fn misspelt_url_keywords_suggest() {
    let p = parse(&checker("HTTP_GET", " url {\n  path /\n  status 200\n }"));
    let (d, _) = p.only();
    assert_eq!(d.message, "unknown keyword `status` in `url`");
    assert_eq!(d.help, ["did you mean `status_code`?"]);
}

#[test]
fn misc_check() {
    let c = check(
        "MISC_CHECK",
        " misc_path \"/usr/local/bin/check 10.0.0.1\"\n misc_timeout 5\n misc_dynamic\n user nobody",
    );
    assert_eq!(
        c.kind,
        CheckerKind::MiscCheck {
            misc_path: "/usr/local/bin/check 10.0.0.1".into(),
            misc_timeout: Some(Timer::secs(5)),
            misc_dynamic: true,
            user: Some(ScriptUser {
                user: "nobody".into(),
                group: None
            }),
        }
    );
    let p = parse(&checker("MISC_CHECK", " misc_timeout 5"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("MISC_CHECK has no `misc_path`", "MISC_CHECK")
    );
}

#[test]
fn dns_smtp_udp_and_bfd_settings() {
    assert_eq!(
        check("DNS_CHECK", " type AAAA\n name example.com").kind,
        CheckerKind::DnsCheck {
            query_type: Some("AAAA".into()),
            name: Some("example.com".into())
        }
    );
    assert_eq!(
        check("SMTP_CHECK", " helo_name lb.example.com").kind,
        CheckerKind::SmtpCheck {
            helo_name: Some("lb.example.com".into()),
            hosts: Vec::new(),
        }
    );
    assert_eq!(
        check("UDP_CHECK", " payload 0a0b\n require_reply").kind,
        CheckerKind::UdpCheck {
            payload: Some("0a0b".into()),
            require_reply: Some(String::new()),
            min_reply_length: None,
            max_reply_length: None,
        }
    );
    assert_eq!(
        check("UDP_CHECK", " require_reply 0c").kind,
        CheckerKind::UdpCheck {
            payload: None,
            require_reply: Some("0c".into()),
            min_reply_length: None,
            max_reply_length: None,
        }
    );
}

#[test]
fn file_check() {
    let text = format!(
        "track_file maint {{\n file /run/maint\n}}\n{}",
        checker("FILE_CHECK", " track_file maint\n weight -10 reverse")
    );
    let p = parse(&text);
    assert_eq!(
        p.clean().virtual_servers[0].real_servers[0].checkers[0].kind,
        CheckerKind::FileCheck {
            track_file: "maint".into(),
            weight: Some(-10),
            reverse: true
        }
    );
    // The file's value scales the real server's weight: keepalived bounds it by the IPVS
    // weight limit, not by VRRP's 254.
    let text = format!(
        "track_file maint {{\n file /run/maint\n}}\n{}",
        checker("FILE_CHECK", " track_file maint\n weight -2147483647")
    );
    let p = parse(&text);
    assert!(matches!(
        p.clean().virtual_servers[0].real_servers[0].checkers[0].kind,
        CheckerKind::FileCheck {
            weight: Some(-2147483647),
            ..
        }
    ));
    let p = parse(&checker("FILE_CHECK", " weight 2"));
    let (d, _) = p.only();
    assert_eq!(d.message, "FILE_CHECK has no `track_file`");
}

#[test]
fn keywords_of_another_checker_are_unknown_and_typos_suggest() {
    let p = parse(&checker("TCP_CHECK", " conect_port 80"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        (
            "unknown keyword `conect_port` in `TCP_CHECK`",
            "conect_port"
        )
    );
    assert_eq!(d.help, ["did you mean `connect_port`?"]);

    // keepalived knows `helo_name` in SMTP_CHECK only: elsewhere it warns and ignores it.
    let p = parse(&real_server(
        " TCP_CHECK {\n  helo_name x\n }\n SMTP_CHECK {\n  helo_name y\n }",
    ));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unknown keyword `helo_name` in `TCP_CHECK`", "helo_name")
    );
    let checkers = &p.config().virtual_servers[0].real_servers[0].checkers;
    assert!(checkers[0].common.other.is_empty());
    assert_eq!(
        checkers[1].kind,
        CheckerKind::SmtpCheck {
            helo_name: Some("y".into()),
            hosts: Vec::new(),
        }
    );
}

#[test]
fn ssl_block_and_ssl_get_tls_keywords() {
    let text = format!(
        "SSL {{\n password secret\n ca /etc/ca.pem\n certificate /etc/c.pem\n key /etc/k.pem\n}}\n{}",
        checker(
            "SSL_GET",
            "enable_sni\n tls_compliant\n url {\n path /\n tls_compliant off\n }"
        )
    );
    let p = parse(&text);
    let c = p.clean();
    assert_eq!(
        c.ssl,
        Some(keepalived_conf::SslContext {
            password: Some("secret".into()),
            ca: Some("/etc/ca.pem".into()),
            certificate: Some("/etc/c.pem".into()),
            key: Some("/etc/k.pem".into()),
        })
    );
    match &c.virtual_servers[0].real_servers[0].checkers[0].kind {
        CheckerKind::SslGet {
            enable_sni,
            tls_compliant,
            urls,
            ..
        } => {
            assert!(*enable_sni && *tls_compliant);
            assert_eq!(urls[0].tls_compliant, Some(false));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn url_regex_options() {
    let c = check(
        "HTTP_GET",
        "url {\n path /\n regex \"up\"\n regex_options caseless multiline\n regex_min_offset 2\n \
         regex_max_offset 10\n regex_stack 1024 65536\n }",
    );
    let CheckerKind::HttpGet { urls, .. } = &c.kind else {
        panic!("{c:?}")
    };
    assert_eq!(urls[0].regex_options, ["caseless", "multiline"]);
    assert_eq!(urls[0].regex_min_offset, Some(2));
    assert_eq!(urls[0].regex_max_offset, Some(10));
    assert_eq!(urls[0].regex_stack, Some((1024, 65536)));
}

#[test]
fn udp_check_reply_lengths() {
    let c = check(
        "UDP_CHECK",
        "require_reply 0102\n min_reply_length 2\n max_reply_length 300",
    );
    let CheckerKind::UdpCheck {
        min_reply_length,
        max_reply_length,
        ..
    } = c.kind
    else {
        panic!()
    };
    assert_eq!((min_reply_length, max_reply_length), (Some(2), Some(300)));
    // keepalived: a minimum above the maximum (255 by default) always fails; said so.
    let p = parse(&checker("UDP_CHECK", "min_reply_length 256"));
    assert_eq!(p.only().0.code, "udp-reply-length");
}

#[test]
fn smtp_check_host_blocks() {
    let c = check(
        "SMTP_CHECK",
        "helo_name h\n host {\n connect_ip 10.0.0.2\n connect_port 2525\n retry 4\n }\n \
         host {\n connect_ip 10.0.0.3\n }",
    );
    let CheckerKind::SmtpCheck { helo_name, hosts } = &c.kind else {
        panic!("{c:?}")
    };
    assert_eq!(helo_name.as_deref(), Some("h"));
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0].connect_ip, Some(ip("10.0.0.2")));
    assert_eq!(hosts[0].connect_port, Some(2525));
    assert_eq!(hosts[1].connect_ip, Some(ip("10.0.0.3")));
    // keepalived 2.2: a host block's retry (not a connection keyword) is the checker's.
    assert_eq!((hosts[0].retry, c.common.retry), (None, Some(4)));
}
