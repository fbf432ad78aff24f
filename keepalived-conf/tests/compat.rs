//! The compatibility check: every keyword ha refuses is one error, every keyword ha accepts
//! without applying it one warning, on the configurations that hold them all
//! (`tests/data/config/compat/`), and the rules around them: unknown keywords, ha's own
//! extensions, values that change a keyword's class, one report per line.

use std::collections::BTreeSet;
use std::path::Path;

use keepalived_conf::compat::{self, Class, TABLE};
use keepalived_conf::diag::render;
use keepalived_conf::lexer::{lex_str, LexOptions};
use keepalived_conf::syntax::build_tree;
use keepalived_conf::{load_file, parse_str, Diagnostic, Loaded, Options, SourceMap, Span};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/config/compat");

fn load(name: &str) -> (Loaded, SourceMap) {
    let mut sources = SourceMap::default();
    let loaded = load_file(
        &Path::new(DIR).join(name),
        &Options::default(),
        &mut sources,
    );
    (loaded, sources)
}

fn parse(text: &str) -> (Loaded, SourceMap) {
    let mut sources = SourceMap::default();
    let loaded = parse_str("t.conf", text, &Options::default(), &mut sources);
    (loaded, sources)
}

/// `(block, keyword, key span)` of every statement of `text` in a block keepalived reads
/// keywords in.
fn uses(text: &str) -> Vec<(String, String, Span)> {
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let lines = lex_str(
        "t.conf",
        text,
        Path::new(DIR),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    let tree = build_tree(lines, &mut diags);
    let mut out = Vec::new();
    compat::uses(&tree, &mut |u| {
        out.push((
            u.block.to_string(),
            u.node.key.text.clone(),
            u.node.key.span,
        ))
    });
    compat::address_option_uses(&tree, &mut |word| {
        out.push((
            compat::ADDRESS_LINE.to_string(),
            word.text.clone(),
            word.span,
        ))
    });
    out
}

/// The entry of a use found by [`uses`].
fn entry(block: &str, keyword: &str) -> Option<&'static compat::Entry> {
    if block == compat::ADDRESS_LINE {
        compat::address_option(keyword)
    } else {
        compat::lookup(block, keyword)
    }
}

fn codes(l: &Loaded) -> Vec<(&'static str, bool)> {
    l.diagnostics
        .iter()
        .map(|d| (d.code, d.is_error()))
        .collect()
}

/// Whether a keyword is inside a block whose own keyword ha refuses (its keywords cannot be
/// shown harmless in a configuration ha would run).
fn in_refused_block(block: &str) -> bool {
    let mut parts: Vec<&str> = block.split('/').collect();
    while let Some(last) = parts.pop() {
        let parent = if parts.is_empty() {
            "top".to_string()
        } else {
            parts.join("/")
        };
        if let Some(e) = compat::lookup(&parent, last) {
            if matches!(e.class, Class::Refused(_)) {
                return true;
            }
        }
    }
    false
}

/// Checks that `name` holds exactly the keywords of `class` (`expected`), and that each use
/// of one gets exactly one diagnostic of `code` at its keyword.
fn one_finding_per_keyword(name: &str, expected: BTreeSet<(String, String)>, code: &str) {
    let text = std::fs::read_to_string(Path::new(DIR).join(name)).unwrap();
    let (loaded, sources) = load(name);
    let rendered = render(&loaded.diagnostics, &sources, false);
    let found: Vec<(String, String, Span)> = uses(&text)
        .into_iter()
        .filter(|(b, k, _)| {
            entry(b, k)
                .is_some_and(|e| e.class.number() == if code == "not-applied" { 3 } else { 2 })
        })
        .collect();
    let held: BTreeSet<(String, String)> = found
        .iter()
        .map(|(b, k, _)| (b.clone(), k.clone()))
        .collect();
    let missing: Vec<_> = expected.difference(&held).collect();
    assert!(missing.is_empty(), "{name} lacks {missing:?}");
    let extra: Vec<_> = held.difference(&expected).collect();
    assert!(
        extra.is_empty(),
        "{name} holds more than expected: {extra:?}"
    );
    assert_eq!(found.len(), expected.len(), "{name} holds a keyword twice");
    let findings: Vec<&Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code == code)
        .collect();
    for (b, k, span) in &found {
        let n = findings.iter().filter(|d| d.span == Some(*span)).count();
        assert_eq!(n, 1, "`{k}` in {b}: {n} `{code}` findings\n{rendered}");
        let d = findings.iter().find(|d| d.span == Some(*span)).unwrap();
        assert!(
            d.message.starts_with(&format!("`{k}` is ")),
            "{}",
            d.message
        );
    }
    assert_eq!(findings.len(), found.len(), "{rendered}");
}

#[test]
fn every_refused_keyword_is_one_error_and_nothing_else_is() {
    let expected = TABLE
        .iter()
        .chain(compat::ADDRESS_OPTIONS)
        .filter(|e| matches!(e.class, Class::Refused(_)))
        .map(|e| (e.block.to_string(), e.keyword.to_string()))
        .collect();
    one_finding_per_keyword("not-applied.conf", expected, "not-applied");
    let (loaded, sources) = load("not-applied.conf");
    // Nothing but the refusals is an error: the configuration is otherwise valid.
    let others: Vec<Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.is_error() && d.code != "not-applied")
        .cloned()
        .collect();
    assert!(others.is_empty(), "{}", render(&others, &sources, false));
    let e = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.starts_with("`track_bfd`") && d.message.ends_with("BFD"))
        .unwrap();
    assert_eq!(
        e.message,
        "`track_bfd` is not applied by ha, and ignoring it would change who is master: \
         ha has no BFD"
    );
    assert_eq!(e.label, "not applied by ha");
    assert!(
        e.help[0].contains("docs/keepalived-compat.md"),
        "{:?}",
        e.help
    );
}

#[test]
fn every_harmless_keyword_is_one_warning_and_the_file_is_valid() {
    let expected = TABLE
        .iter()
        .filter(|e| e.class == Class::Ignored && !in_refused_block(e.block))
        .map(|e| (e.block.to_string(), e.keyword.to_string()))
        .collect();
    one_finding_per_keyword("accepted.conf", expected, "accepted-not-applied");
    let (loaded, sources) = load("accepted.conf");
    let others: Vec<Diagnostic> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.code != "accepted-not-applied" && d.code != "no-vip")
        .cloned()
        .collect();
    assert!(others.is_empty(), "{}", render(&others, &sources, false));
    let w = loaded
        .diagnostics
        .iter()
        .find(|d| d.message.starts_with("`vrrp_no_swap`"))
        .unwrap();
    assert_eq!(
        w.message,
        "`vrrp_no_swap` is accepted, not applied: ha's memory is not locked (mlockall)"
    );
    assert!(!w.is_error());
}

#[test]
fn every_keyword_applied_with_a_difference_is_one_warning_naming_it() {
    let differs: Vec<_> = TABLE.iter().filter(|e| e.class == Class::Differs).collect();
    assert!(!differs.is_empty());
    for e in differs {
        let (l, sources) = parse(&in_block(e.block, e.keyword));
        let found: Vec<&Diagnostic> = l
            .diagnostics
            .iter()
            .filter(|d| d.code == "applied-differently")
            .collect();
        assert_eq!(
            found.len(),
            1,
            "{}",
            render(&l.diagnostics, &sources, false)
        );
        assert_eq!(
            found[0].message,
            format!(
                "`{}` is applied with a difference from keepalived: {}",
                e.keyword, e.note
            )
        );
        assert!(!found[0].is_error());
    }
}

#[test]
fn the_only_harmless_keywords_left_out_are_inside_refused_blocks() {
    let inside: Vec<_> = TABLE
        .iter()
        .filter(|e| e.class == Class::Ignored && in_refused_block(e.block))
        .map(|e| (e.block, e.keyword))
        .collect();
    assert_eq!(inside, []);
}

#[test]
fn an_unknown_keyword_is_a_warning_with_a_suggestion_even_where_ha_reads_nothing() {
    // The parser types `vrrp_instance`; `bfd_instance` it keeps verbatim, and the check
    // reads inside it for keepalived.
    let (l, _) = parse("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priorty 5\n virtual_ipaddress {\n 192.0.2.1\n }\n}\nbfd_instance B {\n min_rxx 10\n}\n");
    let unknown: Vec<(&str, &[String])> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == "unknown-keyword")
        .map(|d| (d.message.as_str(), d.help.as_slice()))
        .collect();
    assert_eq!(
        unknown,
        [
            (
                "unknown keyword `priorty` in `vrrp_instance`",
                &["did you mean `priority`?".to_string()][..]
            ),
            (
                "unknown keyword `min_rxx` in `bfd_instance`",
                &["did you mean `min_rx`?".to_string()][..]
            ),
        ]
    );
    assert!(l
        .diagnostics
        .iter()
        .all(|d| d.is_error() == (d.code == "not-applied")));
}

#[test]
fn words_keepalived_does_not_know_are_unknown_though_ha_once_kept_them() {
    // Older keepalived names, or keywords of another block: keepalived 2.4.3 warns and
    // ignores them, and so does ha (it used to keep them silently).
    let (l, _) = parse(
        "global_defs {\n lvs_id LVS1\n}\nvrrp_instance V {\n interface eth0\n virtual_router_id 1\n \
         notify_up /bin/true\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
    );
    let got: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == "unknown-keyword")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        got,
        [
            "unknown keyword `lvs_id` in `global_defs`",
            "unknown keyword `notify_up` in `vrrp_instance`"
        ]
    );
    assert!(!l.has_errors());
}

#[test]
fn keywords_ha_applies_but_keepalived_does_not_know_are_flagged() {
    let (l, _) = parse(
        "virtual_server 192.0.2.1 80 {\n lb_kind NAT\n real_server 10.0.0.1 80 {\n  lb_kind DR\n  \
         ICMP_CHECK {\n  }\n }\n}\n",
    );
    let got: Vec<&str> = l
        .diagnostics
        .iter()
        .filter(|d| d.code == "not-keepalived")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(
        got,
        [
            "`lb_kind` is not a keepalived 2.4.3 keyword in `real_server`",
            "`ICMP_CHECK` is not a keepalived 2.4.3 keyword in `real_server`"
        ]
    );
    assert!(!l.has_errors());
}

#[test]
fn a_statement_repeated_on_one_line_is_reported_once() {
    // `~SEQ` makes three statements of one line: one finding, as keepalived's line.
    let (l, sources) = parse("~SEQ(i, 1, 3) global_defs { vrrp_no_swap }\n");
    assert_eq!(
        codes(&l),
        [("accepted-not-applied", false)],
        "{}",
        render(&l.diagnostics, &sources, false)
    );
    // Two lines, two findings.
    let (l, _) = parse("global_defs {\n vrrp_no_swap\n vrrp_no_swap\n}\n");
    assert_eq!(codes(&l).len(), 2);
}

#[test]
fn a_feature_turned_off_is_what_ha_does() {
    let (l, sources) = parse(
        "global_defs {\n vrrp_strict off\n enable_script_security false\n vrrp_no_swap no\n}\n\
         vrrp_instance V {\n interface eth0\n virtual_router_id 1\n strict_mode off\n \
         virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
    );
    assert!(
        l.diagnostics.is_empty(),
        "{}",
        render(&l.diagnostics, &sources, false)
    );
    let (l, _) = parse("global_defs {\n v3_checksum_as_v2 on\n}\n");
    assert_eq!(codes(&l), [("not-applied", true)]);
}

#[test]
fn values_that_ha_does_not_apply_are_refused() {
    let instance = |body: &str| {
        format!(
            "vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n{body}\n \
             virtual_ipaddress {{\n 192.0.2.1\n }}\n}}\n"
        )
    };
    // `accept off` is `no_accept`, which ha applies (nftables drops the VIPs' traffic).
    let (l, _) = parse(&instance(" accept off"));
    assert!(l.diagnostics.is_empty());
    let (l, _) = parse(&instance(" accept"));
    assert!(l.diagnostics.is_empty());
    let (l, _) = parse(&instance(
        " authentication {\n auth_type AH\n auth_pass x\n }",
    ));
    assert_eq!(codes(&l), [("not-applied", true)]);
    assert!(l.diagnostics[0]
        .message
        .starts_with("`auth_type` is not applied"));
    let (l, _) = parse(&instance(
        " authentication {\n auth_type PASS\n auth_pass x\n }",
    ));
    assert!(l.diagnostics.is_empty());
    // native_ipv6 where the first virtual address is IPv4: ha would run an IPv4 instance.
    let (l, _) = parse(&instance(" native_ipv6"));
    assert_eq!(codes(&l), [("not-applied", true)]);
    assert!(l.diagnostics[0]
        .message
        .starts_with("`native_ipv6` is not applied"));
    let (l, _) = parse(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n native_ipv6\n \
         virtual_ipaddress {\n 2001:db8::1\n 192.0.2.1\n }\n}\n",
    );
    assert!(!l.diagnostics.iter().any(|d| d.code == "not-applied"));
}

#[test]
fn address_options_are_classified_like_keywords() {
    // Sorted: `address_option` searches by halves.
    for w in compat::ADDRESS_OPTIONS.windows(2) {
        assert!(
            w[0].keyword < w[1].keyword,
            "{} then {}",
            w[0].keyword,
            w[1].keyword
        );
    }
    // Every option the parser reads on an address line has an entry (the parser's list).
    let text = "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress {\n \
                192.0.2.1/24 brd + dev eth0 scope link label eth0:v home noprefixroute autojoin \
                no_track mngtmpaddr use_vmac\n 2001:db8::1 peer 2001:db8::2 -nodad preferred_lft 9\n }\n}\n";
    let found: Vec<String> = uses(text)
        .into_iter()
        .filter(|(b, ..)| b == compat::ADDRESS_LINE)
        .map(|(_, k, _)| k)
        .collect();
    assert_eq!(
        found,
        [
            "brd",
            "dev",
            "scope",
            "label",
            "home",
            "noprefixroute",
            "autojoin",
            "no_track",
            "mngtmpaddr",
            "use_vmac",
            "peer",
            "-nodad",
            "preferred_lft"
        ]
    );
    // One error for the refused one, at its word; the applied ones say nothing.
    let (l, sources) = parse(text);
    let refused: Vec<&Diagnostic> = l.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(
        refused.len(),
        1,
        "{}",
        render(&l.diagnostics, &sources, false)
    );
    assert!(refused[0]
        .message
        .starts_with("`use_vmac` is not applied by ha"));
}

#[test]
fn keepalived_keywords_ha_did_not_know_are_classified_not_unknown() {
    // `auth_hmac` (keepalived 2.4) was an unknown keyword to ha, warned about and dropped:
    // VRRP would have run unauthenticated.
    let (l, _) = parse(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n auth_hmac {\n  key 1 secret-secret-secret-secret-secret\n  \
         active_key 1\n }\n virtual_ipaddress {\n 192.0.2.1\n }\n}\n",
    );
    assert_eq!(
        codes(&l),
        [
            ("not-applied", true),
            ("not-applied", true),
            ("not-applied", true)
        ]
    );
}

#[test]
fn uses_walk_blocks_keepalived_reads_keywords_in() {
    let found: Vec<(String, String)> = uses(
        "vrrp_instance V {\n virtual_ipaddress {\n 192.0.2.1\n }\n authentication {\n auth_type PASS\n }\n}\n",
    )
    .into_iter()
    .map(|(b, k, _)| (b, k))
    .collect();
    let pairs: Vec<(&str, &str)> = found
        .iter()
        .map(|(b, k)| (b.as_str(), k.as_str()))
        .collect();
    // The addresses are values, not keywords: not walked into.
    assert_eq!(
        pairs,
        [
            ("top", "vrrp_instance"),
            ("vrrp_instance", "virtual_ipaddress"),
            ("vrrp_instance", "authentication"),
            ("vrrp_instance/authentication", "auth_type")
        ]
    );
}

/// keepalived's keywords, extracted from its parsers (`tests/data/keepalived-VERSION/`, by
/// the script there).
fn keepalived_keywords(version: &str) -> BTreeSet<(String, String)> {
    let path = format!(
        "{}/tests/data/keepalived-{version}/keywords.tsv",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut f = l.split('\t');
            (f.next().unwrap().to_string(), f.next().unwrap().to_string())
        })
        .collect()
}

#[test]
fn the_table_lists_every_keepalived_keyword_once_sorted() {
    // Sorted and unique: `lookup` searches it by halves.
    for w in TABLE.windows(2) {
        assert!(
            (w[0].block, w[0].keyword) < (w[1].block, w[1].keyword),
            "{}/{} then {}/{}: the table must be sorted by block, then keyword, without repeats",
            w[0].block,
            w[0].keyword,
            w[1].block,
            w[1].keyword
        );
    }
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|e| (e.block.to_string(), e.keyword.to_string()))
        .collect();
    let keepalived = keepalived_keywords(compat::KEEPALIVED);
    let missing: Vec<_> = keepalived.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "keepalived keywords without an entry: {missing:?}"
    );
    let extra: Vec<_> = table.difference(&keepalived).collect();
    assert!(
        extra.is_empty(),
        "entries keepalived does not know: {extra:?}"
    );
    assert!(TABLE.iter().all(|e| !e.note.is_empty()));
}

/// A configuration holding `keyword` (with one argument) in `block`, the enclosing blocks
/// named as keepalived wants them.
fn in_block(block: &str, keyword: &str) -> String {
    let mut open = String::new();
    let mut close = String::new();
    if block != "top" {
        for part in block.split('/') {
            let args = match part {
                "virtual_server" => " 192.0.2.1 80",
                "real_server" => " 10.0.0.1 80",
                "global_defs" | "SSL" | "garp_group" | "authentication" | "auth_hmac" | "url"
                | "host" => "",
                p if p.ends_with("_CHECK") || p.ends_with("_GET") => "",
                _ => " X",
            };
            open.push_str(&format!("{part}{args} {{\n"));
            close.push_str("}\n");
        }
    }
    format!("{open}{keyword} 1\n{close}")
}

#[test]
fn the_parser_accepts_every_keyword_of_the_table_in_its_block() {
    let mut unknown = Vec::new();
    for e in TABLE.iter().filter(|e| e.block != "language") {
        let text = in_block(e.block, e.keyword);
        let (l, _) = parse(&text);
        let key = format!("`{}`", e.keyword);
        if l.diagnostics.iter().any(|d| {
            matches!(d.code, "unknown-keyword" | "not-keepalived") && d.message.contains(&key)
        }) {
            unknown.push(format!("{}/{}", e.block, e.keyword));
        }
    }
    assert!(
        unknown.is_empty(),
        "treated as not keepalived's: {unknown:?}"
    );
}

/// Words the parser matches that are values or options, not keywords of a block (or, for
/// `ICMP_CHECK`, ha's own name of `PING_CHECK`, flagged `not-keepalived`).
const NOT_KEYWORDS: &[&str] = &[
    "ICMP_CHECK",
    // lvs_timeouts, lvs_sync_daemon options
    "tcp",
    "tcpfin",
    "udp",
    "id",
    "maxlen",
    "port",
    // lb_kind, real_server tunnel options
    "DR",
    "NAT",
    "TUN",
    "csum",
    "nocsum",
    "remcsum",
    // flags
    "on",
    "off",
    "true",
    "false",
    "yes",
    "no",
    "reverse",
    "noreverse",
    // address options, unicast_peer options
    "-nodad",
    "mngtmpaddr",
    "autojoin",
    "brd",
    "broadcast",
    "dev",
    "home",
    "label",
    "no_track",
    "nodad",
    "noprefixroute",
    "peer",
    "preferred_lft",
    "scope",
    "min_ttl",
    "max_ttl",
    // lvs_sync_daemon's options (`lvs_sync_daemon IF inst VI_1 id 7`)
    "inst",
];

#[test]
fn every_keyword_the_parser_types_has_an_entry() {
    // The match arms of the parser (`"word" =>`, `"a" | "b" =>`) name what it types.
    let known: BTreeSet<&str> = TABLE
        .iter()
        .chain(compat::EXTENSIONS)
        .map(|e| e.keyword)
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/parse");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines() {
            let line = line.trim();
            let Some((pattern, _)) = line.split_once("=>") else {
                continue;
            };
            let pattern = pattern.split(" if ").next().unwrap().trim();
            let words: Vec<&str> = pattern.split('|').map(str::trim).collect();
            if !words
                .iter()
                .all(|w| w.len() > 2 && w.starts_with('"') && w.ends_with('"'))
            {
                continue;
            }
            for w in words {
                let w = &w[1..w.len() - 1];
                if !known.contains(w) && !NOT_KEYWORDS.contains(&w) {
                    missing.push(format!("{}: {w}", path.display()));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "typed but not in the table: {missing:?}"
    );
}

#[test]
fn the_document_matches_the_table() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/keepalived-compat.md");
    let want = compat::document();
    if std::env::var_os("HA_BLESS").is_some() {
        std::fs::create_dir_all(Path::new(path).parent().unwrap()).unwrap();
        std::fs::write(path, &want).unwrap();
    }
    let have = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        have == want,
        "docs/keepalived-compat.md is stale: HA_BLESS=1 cargo test -p keepalived-conf --test compat"
    );
}

#[test]
fn the_reference_peer_knows_no_keyword_the_table_lacks() {
    // keepalived 2.2.7, the peer of the namespace tests, knows a subset of 2.4.3's keywords.
    let table: BTreeSet<(String, String)> = TABLE
        .iter()
        .map(|e| (e.block.to_string(), e.keyword.to_string()))
        .collect();
    let peer = keepalived_keywords("2.2.7");
    let missing: Vec<_> = peer.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "2.2.7 keywords without an entry: {missing:?}"
    );
    assert_eq!(peer.len(), 519);
}

/// Test configurations: the `.conf` files of keepalived-conf's test data and of the
/// examples, read as keepalived would ((block, keyword) pairs), and the tests of ha-cli and
/// director (their namespace tests, and the unit tests of their sources, `#[cfg(test)]`
/// onwards), whose configurations are strings in the test code (their words).
fn tested_uses() -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut paths = Vec::new();
    for dir in [
        "keepalived-conf/tests/data",
        "examples",
        "ha-cli/tests",
        "ha-cli/src",
        "director/tests",
        "director/src",
    ] {
        files(&root.join(dir), &mut paths);
    }
    let mut pairs = BTreeSet::new();
    let mut words = BTreeSet::new();
    for path in paths {
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("conf") => {
                for (block, keyword, _) in uses(&text) {
                    pairs.insert((block, keyword));
                }
            }
            Some("rs") => {
                // In a source file, only its tests: the code names the keywords it reads.
                let text = match path.to_string_lossy().contains("/src/") {
                    true => text.split_once("#[cfg(test)]").map_or("", |(_, t)| t),
                    false => &text,
                };
                words.extend(
                    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                        .filter(|w| !w.is_empty())
                        .map(str::to_string),
                );
            }
            _ => {}
        }
    }
    (pairs, words)
}

#[test]
fn every_applied_keyword_is_in_a_test_configuration() {
    let (pairs, words) = tested_uses();
    let missing: Vec<String> = TABLE
        .iter()
        .filter(|e| e.class.number() == 1 && e.block != "language")
        .filter(|e| {
            !pairs.contains(&(e.block.to_string(), e.keyword.to_string()))
                && !words.contains(e.keyword)
        })
        .map(|e| format!("{}/{}", e.block, e.keyword))
        .collect();
    assert!(
        missing.is_empty(),
        "{} applied keywords are in no test configuration: {missing:?}",
        missing.len()
    );
}

#[test]
fn ha_extensions_are_not_keepalived_keywords_and_are_used_without_a_warning() {
    let keepalived = keepalived_keywords(compat::KEEPALIVED);
    for e in compat::EXTENSIONS {
        assert!(
            e.keyword.starts_with("ha_"),
            "{}: not named as ha's",
            e.keyword
        );
        assert!(
            !keepalived.contains(&(e.block.to_string(), e.keyword.to_string())),
            "{}/{} is keepalived's",
            e.block,
            e.keyword
        );
        assert!(compat::lookup(e.block, e.keyword).is_none());
    }
    let (l, _) = parse(
        "global_defs {\n ha_announce_interface lb0\n}\nvirtual_server 192.0.2.1 80 {\n \
         ha_announce\n real_server 10.0.0.1 80 {\n  TCP_CHECK {\n  }\n }\n}\n",
    );
    assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
    assert_eq!(l.config.global_defs.announce_interface(), "lb0");
    assert!(l.config.virtual_servers[0].ha_announce);
    let document = compat::document();
    let section = document
        .split("## ha extensions")
        .nth(1)
        .expect("an ha extensions section");
    for e in compat::EXTENSIONS {
        assert!(section.contains(&format!("`{}`", e.keyword)));
    }
    // A typo of an extension is an unknown keyword with the extension as suggestion.
    let (l, _) = parse("virtual_server 192.0.2.1 80 {\n ha_anounce\n}\n");
    assert!(
        l.diagnostics
            .iter()
            .any(|d| d.code == "unknown-keyword"
                && d.help.iter().any(|h| h.contains("`ha_announce`"))),
        "{:?}",
        l.diagnostics
    );
}
