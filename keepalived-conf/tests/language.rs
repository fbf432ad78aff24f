//! The keepalived.conf language: comments, quoting, include, parameters, conditionals and
//! ~SEQ/~LST loops, checked on the token lines the preprocessor produces.

use std::path::{Path, PathBuf};

use keepalived_conf::diag::{render, Diagnostic, SourceMap};
use keepalived_conf::lexer::{lex_file, lex_str, LexOptions};
use keepalived_conf::{self as config, Options};

fn lex_with(text: &str, id: &str) -> (Vec<String>, Vec<Diagnostic>) {
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let opts = LexOptions {
        config_id: id.into(),
    };
    let lines = lex_str(
        "test.conf",
        text,
        Path::new("/etc/keepalived"),
        &opts,
        &mut sources,
        &mut diags,
    );
    let lines = lines
        .into_iter()
        .map(|l| l.into_iter().map(|t| t.text).collect::<Vec<_>>().join(" "))
        .collect();
    (lines, diags)
}

fn lex(text: &str) -> Vec<String> {
    let (lines, diags) = lex_with(text, "");
    assert!(diags.is_empty(), "unexpected diagnostics: {diags:?}");
    lines
}

/// A fresh directory for files of one test.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ha-config-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

#[test]
fn comments_hash_and_bang_anywhere_but_not_in_quotes() {
    let lines =
        lex("# full line\n! also\nrouter_id r1 # trailing\nscript \"/bin/echo #1 !2\" ! c\n");
    assert_eq!(lines, ["router_id r1", "script /bin/echo #1 !2"]);
}

#[test]
fn quoted_strings_join_and_escape_like_keepalived() {
    // The man page's examples: quotes are removed, whitespace inside them kept.
    assert_eq!(lex("abcd\" efg h jkl \"mnop\n"), ["abcd efg h jkl mnop"]);
    let (lines, _) = lex_with("abcd \"efg h jkl\" mnop\n", "");
    assert_eq!(lines, ["abcd efg h jkl mnop"]);
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let toks = lex_str(
        "t",
        "a \"efg h\" 'x\\ty' \"q\\\"q\" \"\\x41\\101\"\n",
        Path::new("."),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    let texts: Vec<&str> = toks[0].iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["a", "efg h", "x\ty", "q\"q", "AA"]);
    assert!(toks[0][1].quoted && !toks[0][0].quoted);
}

#[test]
fn braces_are_tokens_even_without_spaces() {
    assert_eq!(
        lex("virtual_ipaddress {10.0.0.1}\n"),
        ["virtual_ipaddress { 10.0.0.1 }"]
    );
    // A quoted brace is text.
    let (lines, _) = lex_with("notify \"a{b}\"\n", "");
    assert_eq!(lines, ["notify a{b}"]);
}

#[test]
fn unterminated_quote_is_an_error_with_its_position() {
    let (_, diags) = lex_with("router_id \"abc\n", "");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, "unterminated-quote");
}

#[test]
fn parameters_plain_braced_undefined_and_recursive() {
    let text = "$NAME=VI_1\n$PRIO=150\nvrrp_instance $NAME {\npriority ${PRIO}\nnotify ${UNDEF} $UNDEF\n}\n";
    assert_eq!(
        lex(text),
        [
            "vrrp_instance VI_1 {",
            "priority 150",
            "notify ${UNDEF} $UNDEF",
            "}"
        ]
    );
    // `$NAME` must be followed by whitespace; otherwise it is left alone.
    assert_eq!(lex("$A=x\n$Ab ${A}b $A\n"), ["$Ab xb x"]);
    // The man page: substitution happens at use, recursively.
    let text = "$ADDRESS_BASE=10.2.${ADDRESS_BASE_SUB}\n$ADDRESS_BASE_SUB=0\n${ADDRESS_BASE}.100/32\n$ADDRESS_BASE_SUB=10\n${ADDRESS_BASE}.100/32\n";
    assert_eq!(lex(text), ["10.2.0.100/32", "10.2.10.100/32"]);
    // Empty values are allowed.
    assert_eq!(lex("$E=\na${E}b\n"), ["ab"]);
}

#[test]
fn self_referencing_parameter_is_an_error_not_a_hang() {
    let (_, diags) = lex_with("$A=${A}x\nrouter_id ${A}\n", "");
    assert!(
        diags.iter().any(|d| d.code == "expansion-depth"),
        "{diags:?}"
    );
}

#[test]
fn multiline_definitions_expand_to_several_lines_and_nest() {
    let text = r#"
$INSTANCE= \
vrrp_instance VI_${NUM} { \
    interface eth0.${NUM} \
    @high priority 130 \
    @low priority 120 \
    virtual_ipaddress { \
        10.0.${NUM}.254/24 \
    } \
}

$NUM=0
$INSTANCE
$NUM=1
$INSTANCE
"#;
    let (lines, diags) = lex_with(text, "high");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        lines,
        [
            "vrrp_instance VI_0 {",
            "interface eth0.0",
            "priority 130",
            "virtual_ipaddress {",
            "10.0.0.254/24",
            "}",
            "}",
            "vrrp_instance VI_1 {",
            "interface eth0.1",
            "priority 130",
            "virtual_ipaddress {",
            "10.0.1.254/24",
            "}",
            "}",
        ]
    );
    // Nested: a definition inside a multi-line value, as in the man page's $VS / $RS.
    let text = r#"
$RS= \
real_server 192.168.${VS_NUM}.${RS_NUM} 80 { \
    weight 1 \
}
$VS= \
virtual_server 10.0.${VS_NUM}.4 80 { \
    $RS_NUM=1 \
    $RS \
    $RS_NUM=2 \
    $RS \
}
$VS_NUM=7
$VS
"#;
    let mut sources = SourceMap::default();
    let loaded = config::parse_str("t", text, &Options::default(), &mut sources);
    assert!(
        !loaded.has_errors(),
        "{}",
        render(&loaded.diagnostics, &sources, false)
    );
    let vs = &loaded.config.virtual_servers[0];
    let rs: Vec<String> = vs.real_servers.iter().map(|r| r.ip.to_string()).collect();
    assert_eq!(rs, ["192.168.7.1", "192.168.7.2"]);
}

#[test]
fn predefined_parameters() {
    let (lines, _) = lex_with(
        "a ${_HASH} ${_BANG} ${_PWD} ${_INSTANCE}\nb ${_RANDOM 5 5}\n",
        "node1",
    );
    assert_eq!(lines, ["a # ! /etc/keepalived node1", "b 5"]);
}

#[test]
fn env_parameter_is_the_environment_variable_or_nothing() {
    // Set by cargo for the tests it runs; compared with what this process sees.
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let (lines, diags) = lex_with(
        "a ${_ENV CARGO_MANIFEST_DIR}\nb ${_ENV HA_TEST_SURELY_UNSET_VARIABLE} c\n",
        "",
    );
    // The unset one is empty, with a warning.
    assert!(
        diags.len() == 1 && diags[0].code == "env-unset" && !diags[0].is_error(),
        "{diags:?}"
    );
    assert_eq!(
        lines,
        [format!("a {dir}").trim_end().to_string(), "b c".into()]
    );
}

#[test]
fn conditional_lines_select_by_config_id() {
    let text = "@main router_id main_router\n@backup router_id backup_router\n@^main peer 1.2.3.4\n@^backup peer 1.2.3.5\nalways\n";
    assert_eq!(
        lex_with(text, "main").0,
        ["router_id main_router", "peer 1.2.3.5", "always"]
    );
    assert_eq!(
        lex_with(text, "backup").0,
        ["router_id backup_router", "peer 1.2.3.4", "always"]
    );
    assert_eq!(
        lex_with(text, "other").0,
        ["peer 1.2.3.4", "peer 1.2.3.5", "always"]
    );
    // With parameters: `@main $PRIORITY=240` and `$IF_MAIN=@main`.
    let text = "@main $PRIORITY=240\n@backup $PRIORITY=200\npriority $PRIORITY\n$IF_MAIN=@main\n$IF_MAIN smtp_alert\n";
    assert_eq!(lex_with(text, "main").0, ["priority 240", "smtp_alert"]);
    assert_eq!(lex_with(text, "backup").0, ["priority 200"]);
}

#[test]
fn seq_and_lst_loops_as_in_the_man_page() {
    assert_eq!(
        lex("~SEQ(SUBNET, 0, 3) ip_address 10.0.${SUBNET}.1\n"),
        [
            "ip_address 10.0.0.1",
            "ip_address 10.0.1.1",
            "ip_address 10.0.2.1",
            "ip_address 10.0.3.1"
        ]
    );
    assert_eq!(
        lex("~SEQx(SUBNET, 0x90, 0x10, 0xc0) ip_address fe80::20:${SUBNET}:1\n"),
        [
            "ip_address fe80::20:90:1",
            "ip_address fe80::20:a0:1",
            "ip_address fe80::20:b0:1",
            "ip_address fe80::20:c0:1"
        ]
    );
    // Omitted start and step; a descending sequence.
    assert_eq!(lex("~SEQ(i, 3) x$i\n"), ["x1", "x2", "x3"]);
    assert_eq!(lex("~SEQ(i, 3, 1) ${i}\n"), ["3", "2", "1"]);
    assert_eq!(
        lex("~LST({IP, IP1}, {10,1},{20,4}) 192.168.${IP}.${IP1}\n"),
        ["192.168.10.1", "192.168.20.4"]
    );
    assert_eq!(
        lex("~LST(IP, 1, 2) ~LST(IP1, 5,6) 192.169.${IP}.${IP1}\n"),
        ["192.169.1.5", "192.169.1.6", "192.169.2.5", "192.169.2.6"]
    );
    assert_eq!(
        lex("~LST({IP, IP1}, {10,1},{20,4}) ~SEQ(IP2,168,2,170) 192.${IP2}.${IP}.${IP1}\n"),
        [
            "192.168.10.1",
            "192.170.10.1",
            "192.168.20.4",
            "192.170.20.4"
        ]
    );
}

#[test]
fn seq_with_a_multiline_definition_generates_instances() {
    let text = r#"
$VI= \
vrrp_instance vi.${IF}.${ID} { \
    interface eth${IF} \
    virtual_router_id ${ID} \
    virtual_ipaddress { \
        10.${IF}.0.${ID}/24 \
    } \
}
~SEQ(IF,0,1) ~SEQ(ID,1,3) $VI
"#;
    let mut sources = SourceMap::default();
    let loaded = config::parse_str("t", text, &Options::default(), &mut sources);
    assert!(
        !loaded.has_errors(),
        "{}",
        render(&loaded.diagnostics, &sources, false)
    );
    let names: Vec<&str> = loaded
        .config
        .vrrp_instances
        .iter()
        .map(|v| v.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["vi.0.1", "vi.0.2", "vi.0.3", "vi.1.1", "vi.1.2", "vi.1.3"]
    );
}

#[test]
fn malformed_seq_is_reported() {
    for bad in [
        "~SEQ(i, 1, 0, 5) x\n",
        "~SEQ(i) x\n",
        "~SEQ(i, a, b) x\n",
        "~LST(i) x\n",
        "~SEQ i\n",
    ] {
        let (lines, diags) = lex_with(bad, "");
        assert!(
            diags.iter().any(|d| d.code == "bad-repeat"),
            "{bad}: {lines:?} {diags:?}"
        );
    }
}

#[test]
fn include_globs_relative_to_the_including_file() {
    let dir = temp_dir("include");
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    std::fs::create_dir_all(dir.join("other")).unwrap();
    std::fs::write(dir.join("main.conf"), "$P=7\ninclude conf.d/*.conf\nlast\n").unwrap();
    std::fs::write(
        dir.join("conf.d/a.conf"),
        "a ${P} ${_PWD}\ninclude ../other/b.conf\n",
    )
    .unwrap();
    std::fs::write(dir.join("conf.d/b.conf"), "b\n").unwrap();
    std::fs::write(dir.join("other/b.conf"), "other\n").unwrap();
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let lines = lex_file(
        &dir.join("main.conf"),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.into_iter().map(|t| t.text).collect::<Vec<_>>().join(" "))
        .collect();
    let pwd = dir.join("conf.d").display().to_string();
    assert_eq!(
        lines,
        [
            format!("a 7 {pwd}"),
            "other".into(),
            "b".into(),
            "last".into()
        ]
    );
    assert_eq!(sources.len(), 4);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn include_variants_and_brace_patterns_as_keepalived() {
    let dir = temp_dir("include-variants");
    for name in ["a", "b", "c"] {
        std::fs::write(dir.join(format!("{name}.conf")), format!("{name}\n")).unwrap();
    }
    // keepalived globs with GLOB_BRACE: alternatives in their order, nested ones too.
    std::fs::write(
        dir.join("main.conf"),
        "include {a,b}.conf\nincluder c.conf\nincludem {c,{a,b}}.conf\nincludew c.conf\n\
         includeb {a,nothere}.conf\nincludea a.conf\n",
    )
    .unwrap();
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    let lines = lex_file(
        &dir.join("main.conf"),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    let lines: Vec<String> = lines
        .into_iter()
        .map(|l| l.into_iter().map(|t| t.text).collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines, ["a", "b", "c", "c", "a", "b", "c", "a", "a"]);
    // `includeb`: every brace alternative must match a file.
    let got: Vec<(&str, bool)> = diags.iter().map(|d| (d.code, d.is_error())).collect();
    assert_eq!(got, [("include-no-match", true)], "{diags:?}");
    assert!(diags[0].label.ends_with("nothere.conf"), "{diags:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_include_pattern_with_too_many_brace_alternatives_is_refused() {
    // Eleven groups of two: 2048 patterns to glob, past the limit of 1024.
    let pattern = "{a,b}".repeat(11);
    let (lines, diags) = lex_with(&format!("includem /nonexistent/{pattern}\nx\n"), "");
    assert_eq!(lines, ["x"]);
    let got: Vec<(&str, &str)> = diags.iter().map(|d| (d.code, d.message.as_str())).collect();
    assert_eq!(
        got,
        [(
            "include-pattern",
            "include pattern has too many brace alternatives"
        )]
    );
}

#[test]
fn include_problems_are_diagnosed() {
    let dir = temp_dir("include-bad");
    std::fs::write(dir.join("loop.conf"), "include loop.conf\n").unwrap();
    std::fs::write(
        dir.join("missing.conf"),
        "include nothere/*.conf\nincludea nothere.conf\n",
    )
    .unwrap();
    let mut sources = SourceMap::default();
    let mut diags = Vec::new();
    lex_file(
        &dir.join("loop.conf"),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["include-cycle"]
    );
    let mut diags = Vec::new();
    lex_file(
        &dir.join("missing.conf"),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    let got: Vec<(&str, bool)> = diags.iter().map(|d| (d.code, d.is_error())).collect();
    // Plain `include` tolerates no match (a warning); `includea` does not.
    assert_eq!(
        got,
        [("include-no-match", false), ("include-no-match", true)]
    );
    let mut diags = Vec::new();
    lex_file(
        &dir.join("absent.conf"),
        &LexOptions::default(),
        &mut sources,
        &mut diags,
    );
    assert_eq!(diags[0].code, "file-unreadable");
    assert!(diags[0].is_error());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn substituted_tokens_point_at_their_parameter() {
    let text = "$PRIO=300\nvrrp_instance V {\n  virtual_router_id 1\n  priority $PRIO\n}\n";
    let mut sources = SourceMap::default();
    let loaded = config::parse_str("t.conf", text, &Options::default(), &mut sources);
    let d = loaded
        .diagnostics
        .iter()
        .find(|d| d.code == "invalid-value")
        .expect("priority 300 is rejected");
    let span = d.span.expect("has a span");
    assert_eq!(sources.location(span), ("t.conf".into(), 4, 12));
    assert_eq!(sources.snippet(span), "$PRIO");
}

#[test]
fn expansion_bombs_are_bounded() {
    // Nested loops: 10^12 lines if unbounded.
    let (_, diags) = lex_with("~SEQ(a, 1000000) ~SEQ(b, 1000000) $X=1\n", "");
    assert_eq!(
        diags.iter().filter(|d| d.code == "bad-repeat").count(),
        1,
        "{diags:?}"
    );
    // Each parameter doubles the previous one: 2^33 bytes if unbounded.
    let mut text = String::from("$P0=xxxxxxxx\n");
    for i in 1..=30 {
        text.push_str(&format!("$P{i}=${{P{}}}${{P{}}}\n", i - 1, i - 1));
    }
    text.push_str("router_id ${P30}\n");
    let (_, diags) = lex_with(&text, "");
    assert!(
        diags.iter().any(|d| d.code == "expansion-size"),
        "{diags:?}"
    );
}

#[test]
fn env_parameter_reads_the_environment_as_keepalived() {
    // Set in this test process only; no other test reads these names.
    std::env::set_var("HA_TEST_ENV_PRIORITY", "150");
    std::env::set_var("HA_TEST_ENV_WORDS", "a b");
    std::env::remove_var("HA_TEST_ENV_UNSET");
    let (lines, diags) = lex_with(
        "priority ${_ENV HA_TEST_ENV_PRIORITY}\nx ${_ENV HA_TEST_ENV_WORDS} y\nz ${_ENV HA_TEST_ENV_UNSET}end\n",
        "node1",
    );
    assert_eq!(lines, ["priority 150", "x a b y", "z end"]);
    // An unset variable is empty, as in keepalived; ha says so.
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!((diags[0].code, diags[0].is_error()), ("env-unset", false));
    // `_ENV` takes exactly one name.
    let (_, diags) = lex_with("a ${_ENV A B}\n", "node1");
    assert_eq!(diags[0].code, "env-parameters");
    assert!(diags[0].is_error());
    // A parameter the file defines wins over the built-in, as keepalived lets it.
    let (lines, _) = lex_with("$_ENV=mine\na $_ENV\n", "node1");
    assert_eq!(lines, ["a mine"]);
}
