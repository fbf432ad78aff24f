//! The value forms every block shares (`src/parse/mod.rs`): missing and extra words,
//! numbers, timers, booleans, blocks, unknown keywords, duplicates and the span index.

use keepalived_conf::parse::{suggest, vs_path};
use keepalived_conf::{Timer, VirtualServerKey};

use super::{instance, parse, real_server};

#[test]
fn a_missing_value_points_at_the_statement() {
    let p = parse("global_defs {\n router_id\n}\n");
    let (d, at) = p.only();
    assert_eq!((d.code, d.is_error()), ("missing-value", true));
    assert_eq!(d.message, "`router_id` needs a value");
    assert_eq!(d.label, "expected a value after this");
    assert_eq!(at, "router_id");
    assert_eq!(p.config().global_defs.router_id, None);
}

#[test]
fn extra_words_are_warned_about_and_the_value_is_kept() {
    let p = parse("global_defs {\n router_id lb-a two more\n}\n");
    let (d, at) = p.only();
    assert_eq!((d.code, d.is_error()), ("extra-argument", false));
    assert_eq!(d.message, "extra words after `router_id` are ignored");
    assert_eq!(at, "two more");
    assert_eq!(p.config().global_defs.router_id.as_deref(), Some("lb-a"));
}

#[test]
fn numbers_are_whole_decimal_numbers_in_range() {
    for bad in ["1.5", "0x10", "1e2", "ten", "4294967296", "-1"] {
        let p = parse(&instance(&format!(" kernel_rx_buf_size {bad}")));
        let (d, at) = p.only();
        assert_eq!(
            d.message,
            format!("invalid `kernel_rx_buf_size` value `{bad}`")
        );
        assert_eq!(at, bad);
        assert_eq!(
            d.help,
            ["`kernel_rx_buf_size` must be a whole number in 0-4294967295"]
        );
    }
    // A leading `+` is accepted, as by strtoul(3).
    let p = parse(&instance(" kernel_rx_buf_size +4096"));
    assert_eq!(p.clean().vrrp_instances[0].kernel_rx_buf_size, Some(4096));
}

#[test]
fn signed_ranges_are_written_from_to() {
    let p = parse("global_defs {\n checker_priority 20\n}\n");
    let (d, _) = p.only();
    assert_eq!(
        d.help,
        ["`checker_priority` must be a whole number from -20 to 19"]
    );
}

#[test]
fn timers_take_up_to_six_decimals() {
    for (text, micros) in [
        ("3", 3_000_000),
        ("0.5", 500_000),
        (".25", 250_000),
        ("2.", 2_000_000),
        ("0.000001", 1),
        ("120", 120_000_000),
    ] {
        let p = parse(&format!("global_defs {{\n vrrp_startup_delay {text}\n}}\n"));
        assert_eq!(
            p.clean().global_defs.vrrp_startup_delay,
            Some(Timer(micros)),
            "{text}"
        );
    }
}

#[test]
fn malformed_timers_are_errors_at_the_value() {
    for bad in ["-1", "1,5", "1.0000001", "5s", ".", "1:30"] {
        let p = parse(&format!("global_defs {{\n vrrp_startup_delay {bad}\n}}\n"));
        let (d, at) = p.only();
        assert_eq!(
            d.message,
            format!("invalid `vrrp_startup_delay` time `{bad}`")
        );
        assert_eq!(at, bad);
        assert_eq!(
            d.help,
            ["`vrrp_startup_delay` is in seconds, e.g. `3` or `0.5` (at most 6 decimals)"]
        );
        assert_eq!(p.config().global_defs.vrrp_startup_delay, None);
    }
}

#[test]
fn a_bare_flag_is_on_and_a_boolean_sets_it() {
    for (arg, on) in [
        ("", true),
        ("on", true),
        ("true", true),
        ("yes", true),
        ("off", false),
        ("false", false),
        ("no", false),
    ] {
        let p = parse(&format!("global_defs {{\n vrrp_strict {arg}\n}}\n"));
        assert_eq!(p.clean().global_defs.vrrp_strict, on, "`{arg}`");
    }
}

#[test]
fn an_invalid_boolean_is_an_error_at_the_value() {
    let p = parse(&instance(" smtp_alert 1"));
    let (d, at) = p.only();
    assert_eq!(d.message, "invalid boolean `1` for `smtp_alert`");
    assert_eq!(at, "1");
    assert_eq!(
        d.help,
        ["use one of on|off|true|false|yes|no, or nothing for on"]
    );
}

#[test]
fn booleans_are_lower_case_as_in_keepalived() {
    // keepalived's check_true_false uses strcmp: `OFF` is reported and not applied.
    let p = parse("global_defs {\n vrrp_strict OFF\n}\n");
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid boolean `OFF` for `vrrp_strict`", "OFF")
    );
    assert_eq!(
        d.help,
        ["keepalived reads booleans in lower case: write `off`"]
    );
}

#[test]
fn a_block_keyword_without_a_block_is_an_error() {
    let p = parse("static_routes\n");
    let (d, at) = p.only();
    assert_eq!((d.code, d.is_error()), ("missing-block", true));
    assert_eq!(d.message, "`static_routes` needs a `{ ... }` block");
    assert_eq!(
        (at, d.label.as_str()),
        ("static_routes", "expected `{` after this")
    );
}

#[test]
fn a_named_block_without_a_name_is_an_error_and_skipped() {
    let p = parse("vrrp_script {\n script /bin/true\n}\n");
    let (d, at) = p.only();
    assert_eq!(d.message, "`vrrp_script` needs a name");
    assert_eq!(at, "vrrp_script");
    assert!(p.config().vrrp_scripts.is_empty());
}

#[test]
fn a_duplicate_block_points_at_both_definitions() {
    let text =
        "vrrp_script chk {\n script /bin/true\n}\nvrrp_script chk {\n script /bin/false\n}\n";
    let p = parse(text);
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.message.as_str()),
        ("duplicate", "duplicate vrrp_script `chk`")
    );
    assert_eq!(at, "vrrp_script chk");
    let (first, label) = &d.secondary[0];
    assert_eq!((first.start, label.as_str()), (0, "first defined here"));
    // The first definition wins.
    assert_eq!(p.config().vrrp_scripts.len(), 1);
    assert_eq!(p.config().vrrp_scripts[0].script, "/bin/true");
}

#[test]
fn unknown_top_level_keywords_suggest_and_known_ones_are_kept() {
    let p = parse("vrrp_scrpit chk {\n script /bin/true\n}\n");
    let (d, at) = p.only();
    assert_eq!((d.code, d.is_error()), ("unknown-keyword", false));
    assert_eq!(d.message, "unknown keyword `vrrp_scrpit` in the top level");
    assert_eq!(at, "vrrp_scrpit");
    assert_eq!(d.help, ["did you mean `vrrp_script`?"]);

    let p = parse("garp_group {\n garp_interval 0.1\n interface eth0\n}\n");
    let other = &p.clean().other;
    assert_eq!(other[0].keyword, "garp_group");
    let block = other[0].block.as_ref().unwrap();
    assert_eq!(
        (block[0].keyword.as_str(), block[0].args.as_slice()),
        ("garp_interval", &["0.1".to_string()][..])
    );
}

#[test]
fn nothing_is_suggested_for_a_word_far_from_every_keyword() {
    let p = parse("global_defs {\n frobnicate 1\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.message, "unknown keyword `frobnicate` in `global_defs`");
    assert!(d.help.is_empty(), "{:?}", d.help);
}

#[test]
fn suggest_is_case_insensitive_and_needs_a_close_match() {
    const KNOWN: &[&str] = &["priority", "preempt_delay"];
    assert_eq!(suggest("PRIORITY", &[KNOWN]), Some("priority"));
    assert_eq!(suggest("prority", &[KNOWN]), Some("priority"));
    assert_eq!(suggest("preempt_dealy", &[KNOWN]), Some("preempt_delay"));
    assert_eq!(suggest("weight", &[KNOWN]), None);
}

#[test]
fn vs_path_names_each_kind_of_virtual_server() {
    let addr = VirtualServerKey::Addr {
        ip: "2001:db8::1".parse().unwrap(),
        port: 443,
    };
    assert_eq!(vs_path(&addr), "virtual_server 2001:db8::1 443");
    assert_eq!(
        vs_path(&VirtualServerKey::Fwmark { mark: 7 }),
        "virtual_server fwmark 7"
    );
    assert_eq!(
        vs_path(&VirtualServerKey::Group { name: "WEB".into() }),
        "virtual_server group WEB"
    );
}

#[test]
fn the_span_index_finds_blocks_keywords_and_list_entries() {
    let p = parse(&format!(
        "vrrp_script chk {{\n script /bin/true\n}}\n{}",
        instance(
            " priority 120\n track_script {\n  chk weight 5\n }\n unicast_peer {\n  192.0.2.7\n }"
        )
    ));
    p.clean();
    let spans = &p.loaded.spans;
    let at = |s: Option<_>| p.text_at(s.expect("a span")).to_string();
    assert_eq!(at(spans.get("vrrp_instance VI_1")), "vrrp_instance VI_1");
    assert_eq!(
        at(spans.field("vrrp_instance VI_1", "priority")),
        "priority 120"
    );
    assert_eq!(spans.exact_field("vrrp_instance VI_1", "advert_int"), None);
    // A keyword not written falls back to the block header.
    assert_eq!(
        at(spans.field("vrrp_instance VI_1", "advert_int")),
        "vrrp_instance VI_1"
    );
    assert_eq!(at(spans.get("vrrp_instance VI_1/track_script/chk")), "chk");
    assert_eq!(
        at(spans.get("vrrp_instance VI_1/unicast_peer/192.0.2.7")),
        "192.0.2.7"
    );

    let p = parse(&real_server(""));
    let spans = &p.loaded.spans;
    assert_eq!(
        p.text_at(
            spans
                .get("virtual_server 192.0.2.1 80/real_server 10.0.0.1 80")
                .unwrap()
        ),
        "real_server 10.0.0.1 80"
    );
}
