//! `vrrp_script`, `track_file`, `vrrp_track_process`, the `track_*` lists and `notify*`
//! (`src/parse/track.rs`).

use keepalived_conf::{Notify, ParamMatch, ScriptUser, Timer, Track, TrackProcess, VrrpScript};

use super::{instance, parse};

fn script(body: &str) -> VrrpScript {
    let p = parse(&format!("vrrp_script chk {{\n{body}\n}}\n"));
    p.clean().vrrp_scripts[0].clone()
}

#[test]
fn a_script_has_keepalived_defaults() {
    let s = script(" script /bin/true");
    assert_eq!(
        s,
        VrrpScript {
            name: "chk".into(),
            script: "/bin/true".into(),
            interval: Timer::secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            other: vec![],
        }
    );
}

#[test]
fn script_values() {
    let s = script(
        " script \"/usr/bin/pgrep -x haproxy\"\n interval 0.5\n timeout 2.25\n weight -253 reverse\n \
         rise 3\n fall 4294967295\n user nobody nogroup\n init_fail",
    );
    assert_eq!(s.script, "/usr/bin/pgrep -x haproxy");
    assert_eq!(
        (s.interval, s.timeout),
        (Timer(500_000), Some(Timer(2_250_000)))
    );
    assert_eq!((s.weight, s.weight_reverse), (-253, true));
    assert_eq!((s.rise, s.fall), (3, u32::MAX));
    assert_eq!(
        s.user,
        Some(ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert!(s.init_fail);
    assert_eq!(
        script(" script /bin/true\n weight 253 noreverse").weight,
        253
    );
}

#[test]
fn a_command_line_of_several_words_keeps_quoted_words_whole() {
    assert_eq!(
        script(" script /bin/check \"a b\" c").script,
        "/bin/check 'a b' c"
    );
}

#[test]
fn script_weight_limits_and_suffix() {
    for bad in ["254", "-254"] {
        let p = parse(&format!(
            "vrrp_script chk {{\n script /bin/true\n weight {bad}\n}}\n"
        ));
        let (d, at) = p.only();
        assert_eq!(at, bad);
        assert_eq!(d.help, ["`weight` must be a whole number from -253 to 253"]);
        assert_eq!(p.config().vrrp_scripts[0].weight, 0);
    }
    let p = parse("vrrp_script chk {\n script /bin/true\n weight 10 revers\n}\n");
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("unexpected `revers` after the weight", "revers")
    );
    assert_eq!(d.help, ["write `weight W [reverse]`"]);
}

#[test]
fn rise_and_fall_are_at_least_1() {
    let p = parse("vrrp_script chk {\n script /bin/true\n rise 0\n}\n");
    let (d, at) = p.only();
    assert_eq!((d.message.as_str(), at), ("invalid `rise` value `0`", "0"));
    assert_eq!(p.config().vrrp_scripts[0].rise, 1);
}

#[test]
fn a_script_without_script_is_an_error() {
    let p = parse("vrrp_script chk {\n interval 2\n}\n");
    let (d, at) = p.only();
    assert_eq!(
        (d.code, d.message.as_str()),
        ("missing-keyword", "vrrp_script `chk` has no `script`")
    );
    assert_eq!(at, "vrrp_script chk");
}

#[test]
fn misspelt_script_keywords_suggest() {
    let p = parse("vrrp_script chk {\n script /bin/true\n intervall 2\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.message, "unknown keyword `intervall` in `vrrp_script`");
    assert_eq!(d.help, ["did you mean `interval`?"]);
}

#[test]
fn track_file_block() {
    let p = parse(
        "track_file maint {\n file /run/maint\n weight -50 reverse\n init_file 5 overwrite\n}\n",
    );
    let f = &p.clean().track_files[0];
    assert_eq!((f.name.as_str(), f.file.as_str()), ("maint", "/run/maint"));
    assert_eq!((f.weight, f.weight_reverse), (-50, true));
    assert_eq!(f.init_file, Some(vec!["5".into(), "overwrite".into()]));

    let p = parse("track_file maint {\n file /run/maint\n init_file\n}\n");
    let f = &p.clean().track_files[0];
    // Default weight 1; a bare `init_file` creates the file with 0.
    assert_eq!((f.weight, f.init_file.clone()), (1, Some(vec![])));
}

#[test]
fn track_file_weight_is_254_at_most() {
    // keepalived (track_file_weight_handler) reads the weight in [-254, 254].
    let p = parse("track_file maint {\n file /run/maint\n weight -254\n}\n");
    assert_eq!(p.clean().track_files[0].weight, -254);
    let p = parse("track_file maint {\n file /run/maint\n weight 255\n}\n");
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("invalid `weight` value `255`", "255")
    );
    assert_eq!(d.help, ["`weight` must be a whole number from -254 to 254"]);
    assert_eq!(p.config().track_files[0].weight, 1);
}

#[test]
fn track_file_without_file_is_an_error() {
    let p = parse("track_file maint {\n weight 2\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.message, "track_file `maint` has no `file`");
}

#[test]
fn track_process_block() {
    let p = parse(
        "vrrp_track_process nginx {\n process nginx -g \"daemon off;\"\n full_command\n weight 254\n \
         quorum 0\n quorum_max 65535\n delay 1.5\n terminate_delay 0.5\n fork_delay 0.000001\n}\n",
    );
    let t = &p.clean().vrrp_track_processes[0];
    assert_eq!(t.process, ["nginx", "-g", "daemon off;"]);
    assert!(t.full_command);
    assert_eq!((t.weight, t.quorum, t.quorum_max), (254, 0, Some(65535)));
    assert_eq!(
        (t.delay, t.terminate_delay, t.fork_delay),
        (Some(Timer(1_500_000)), Some(Timer(500_000)), Some(Timer(1)))
    );

    let p = parse("vrrp_track_process nginx {\n process nginx\n}\n");
    let t: &TrackProcess = &p.clean().vrrp_track_processes[0];
    assert_eq!(
        (t.weight, t.quorum, t.quorum_max, t.delay),
        (0, 1, None, None)
    );
}

#[test]
fn track_process_limits() {
    let p = parse("vrrp_track_process p {\n process p\n weight -255\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.help, ["`weight` must be a whole number from -254 to 254"]);
    let p = parse("vrrp_track_process p {\n process p\n quorum 65536\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.help, ["`quorum` must be a whole number in 0-65535"]);
    assert_eq!(p.config().vrrp_track_processes[0].quorum, 1);
    let p = parse("vrrp_track_process p {\n quorum 2\n}\n");
    let (d, _) = p.only();
    assert_eq!(d.message, "vrrp_track_process `p` has no `process`");
}

fn tracking_instance(lists: &str) -> String {
    format!(
        "vrrp_script chk {{\n script /bin/true\n}}\ntrack_file f {{\n file /run/f\n}}\n\
         vrrp_track_process p {{\n process p\n}}\n{}",
        instance(lists)
    )
}

#[test]
fn track_lists_with_weights_at_their_limits() {
    let p = parse(&tracking_instance(
        " track_interface {\n  eth1 weight -253\n  eth2\n }\n track_script {\n  chk weight 253 reverse\n }\n \
         track_file {\n  f weight -254 noreverse\n }\n track_process {\n  p weight 254\n }\n track_bfd {\n  b weight 0\n }",
    ));
    let t = &p.config().vrrp_instances[0].tracking;
    let w = |l: &[Track]| l.iter().map(|t| (t.weight, t.reverse)).collect::<Vec<_>>();
    assert_eq!(w(&t.interfaces), [(Some(-253), false), (None, false)]);
    assert_eq!(w(&t.scripts), [(Some(253), true)]);
    assert_eq!(w(&t.files), [(Some(-254), false)]);
    assert_eq!(w(&t.processes), [(Some(254), false)]);
    assert_eq!(t.bfds[0].name, "b");
    assert_eq!(p.codes(), []);
}

#[test]
fn track_weights_beyond_their_limits() {
    for (list, name, bad, help) in [
        ("track_interface", "eth1", "254", "from -253 to 253"),
        ("track_script", "chk", "-254", "from -253 to 253"),
        ("track_file", "f", "255", "from -254 to 254"),
        ("track_process", "p", "-255", "from -254 to 254"),
    ] {
        let p = parse(&tracking_instance(&format!(
            " {list} {{\n  {name} weight {bad}\n }}"
        )));
        let (d, at) = p.only();
        assert_eq!(
            (d.message.clone(), at),
            (format!("invalid `weight` value `{bad}`"), bad)
        );
        assert_eq!(d.help, [format!("`weight` must be a whole number {help}")]);
    }
}

#[test]
fn malformed_track_entries() {
    let p = parse(&instance(" track_interface {\n  eth1 wieght 5\n }"));
    let (d, at) = p.only();
    assert_eq!(d.message, "unexpected `wieght` in `track_interface`");
    assert_eq!(
        (at, d.help[0].as_str()),
        ("wieght", "write `NAME [weight W [reverse]]`")
    );
    // The entry itself is kept.
    assert_eq!(
        p.config().vrrp_instances[0].tracking.interfaces[0].name,
        "eth1"
    );

    let p = parse(&instance(" track_interface {\n  eth1 weight\n }"));
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("missing-value", "eth1 weight"));
}

#[test]
fn notify_scripts_of_an_instance() {
    let p = parse(&instance(
        " notify /bin/n\n notify_master \"/bin/n master\"\n notify_backup /bin/n backup\n notify_fault /bin/f\n \
         notify_stop /bin/s\n notify_deleted /bin/d\n notify_master_rx_lower_pri /bin/l\n notify_priority_changes",
    ));
    assert_eq!(
        p.clean().vrrp_instances[0].notify,
        Notify {
            notify: Some("/bin/n".into()),
            master: Some("/bin/n master".into()),
            // keepalived: the words after the (quoted) command are USER [GROUP].
            backup: Some("/bin/n".into()),
            fault: Some("/bin/f".into()),
            stop: Some("/bin/s".into()),
            deleted: Some("/bin/d".into()),
            master_rx_lower_pri: Some("/bin/l".into()),
            priority_changes: Some(true),
            notify_deleted: true,
            users: vec![(
                "notify_backup".into(),
                ScriptUser {
                    user: "backup".into(),
                    group: None
                }
            )],
        }
    );
}

#[test]
fn notify_scripts_take_a_user_and_group_after_the_command() {
    let p = parse(&instance(
        " notify_master \"/bin/m a b\" nobody nogroup\n notify_fault /bin/f\n notify_deleted",
    ));
    let n = &p.clean().vrrp_instances[0].notify;
    assert_eq!(n.master.as_deref(), Some("/bin/m a b"));
    assert_eq!(
        n.user("notify_master"),
        Some(&ScriptUser {
            user: "nobody".into(),
            group: Some("nogroup".into())
        })
    );
    assert_eq!(n.user("notify_fault"), None);
    // `notify_deleted` alone: DELETED is reported, no script runs.
    assert!(n.notify_deleted);
    assert_eq!(n.deleted, None);
}

#[test]
fn track_process_param_match() {
    for (line, want) in [
        ("param_match", Some(ParamMatch::Exact)),
        ("param_match initial", Some(ParamMatch::Initial)),
        ("param_match partial", Some(ParamMatch::Partial)),
    ] {
        let p = parse(&format!(
            "vrrp_track_process p {{\n process haproxy -f\n {line}\n}}\n"
        ));
        assert_eq!(
            p.clean().vrrp_track_processes[0].param_match,
            want,
            "{line}"
        );
    }
    let p = parse("vrrp_track_process p {\n process haproxy\n param_match prefix\n}\n");
    let (d, at) = p.only();
    assert_eq!((d.code, at), ("invalid-value", "prefix"));
}

#[test]
fn a_notify_without_a_command_is_an_error() {
    let p = parse(&instance(" notify_master"));
    let (d, at) = p.only();
    assert_eq!(
        (d.message.as_str(), at),
        ("`notify_master` needs a command", "notify_master")
    );
    assert_eq!(p.config().vrrp_instances[0].notify.master, None);
}
