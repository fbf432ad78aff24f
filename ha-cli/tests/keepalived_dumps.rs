//! keepalived's dump files as ha writes them, read the way Prometheus exporters read
//! keepalived's: `exporter` below follows mehdy/keepalived-exporter's parsers rule for rule
//! (its `ParseVRRPData`, `ParseVRRPScript`, `ParseStats` and the JSON decoding into integer
//! fields), and its sample-based expectations are checked first on keepalived-layout text,
//! then on ha's files.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use director::status::{InstanceReport, Status, TransitionReport, VipReport};
use director::track::{TrackedKind, TrackedReport};
use ha_cli::dump;

/// The exporter's reading rules (a re-statement of its Go parsers, not its code).
mod exporter {
    use std::collections::BTreeMap;

    const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];

    #[derive(Debug, Default, Clone, PartialEq, Eq)]
    pub struct VrrpData {
        pub iname: String,
        pub state: i64,
        pub wantstate: i64,
        pub intf: String,
        pub garp_delay: i64,
        pub vrid: i64,
        pub vips: Vec<String>,
        pub excluded_vips: Vec<String>,
    }

    fn state(v: &str) -> Result<i64, String> {
        STATES
            .iter()
            .position(|s| *s == v)
            .map(|i| i as i64)
            .ok_or_else(|| format!("unknown state found: {v}"))
    }

    fn int(v: &str) -> Result<i64, String> {
        v.parse().map_err(|e| format!("{v:?}: {e}"))
    }

    /// `ParseVRRPData`: instances start at ` VRRP Instance = `, keys are `   Key = value` or
    /// `   Key: value`, list items are indented 5; any other line ends the instance.
    pub fn parse_data(text: &str) -> Result<BTreeMap<String, VrrpData>, String> {
        let mut data: BTreeMap<String, VrrpData> = BTreeMap::new();
        let (mut instance, mut key) = (String::new(), String::new());
        for l in text.lines() {
            if l.starts_with(" VRRP Instance") && l.contains('=') {
                instance = l.trim().split('=').nth(1).unwrap().trim().to_string();
                data.insert(
                    instance.clone(),
                    VrrpData {
                        iname: instance.clone(),
                        ..VrrpData::default()
                    },
                );
            } else if l.starts_with("   ") && !instance.is_empty() {
                let val;
                if l.starts_with("     ") {
                    val = l.trim().to_string();
                } else {
                    let args: Vec<&str> = if l.contains('=') {
                        l.trim().split('=').collect()
                    } else if l.contains(':') {
                        l.trim().split(':').collect()
                    } else {
                        continue;
                    };
                    key = args[0].trim().to_string();
                    if key == "Virtual IP" {
                        continue;
                    }
                    val = args[1].trim().to_string();
                }
                let d = data.get_mut(&instance).unwrap();
                if (key.starts_with("Virtual IP (") || key == "Virtual IP") && !val.is_empty() {
                    d.vips.push(val.clone());
                }
                if key.starts_with("Virtual IP Excluded") && !val.is_empty() {
                    d.excluded_vips.push(val.clone());
                }
                match key.as_str() {
                    "State" => d.state = state(&val)?,
                    "Wantstate" => d.wantstate = state(&val)?,
                    "Interface" | "Listening device" => d.intf = val,
                    "Gratuitous ARP delay" => d.garp_delay = int(&val)?,
                    "Virtual Router ID" => d.vrid = int(&val)?,
                    _ => {}
                }
            } else if l.starts_with(" VRRP Version") || l.starts_with(" VRRP Script") {
                continue;
            } else {
                instance.clear();
            }
        }
        Ok(data)
    }

    /// `ParseVRRPScript`: (name, Status, State) of each ` VRRP Script = ` block.
    pub fn parse_scripts(text: &str) -> Vec<(String, String, String)> {
        let mut scripts = Vec::new();
        let mut script = (String::new(), String::new(), String::new());
        for l in text.lines() {
            if l.starts_with(" VRRP Script") && l.contains('=') {
                if !script.0.is_empty() {
                    scripts.push(std::mem::take(&mut script));
                }
                script.0 = l.trim().split('=').nth(1).unwrap().trim().to_string();
            } else if l.starts_with("   ") && !script.0.is_empty() {
                if !l.contains('=') {
                    continue;
                }
                let s: Vec<&str> = l.trim().split('=').collect();
                match s[0].trim() {
                    "Status" => script.1 = s[1].trim().to_string(),
                    "State" => script.2 = s[1].trim().to_string(),
                    _ => {}
                }
            } else if !l.starts_with("    ") && !script.0.is_empty() {
                scripts.push(std::mem::take(&mut script));
            }
        }
        if !script.0.is_empty() {
            scripts.push(script);
        }
        scripts
    }

    /// `ParseStats`: every value must be an integer; sections are `  Name:` lines.
    pub fn parse_stats(text: &str) -> Result<BTreeMap<String, BTreeMap<String, i64>>, String> {
        let mut stats: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        let (mut instance, mut section) = (String::new(), String::new());
        for l in text.lines() {
            if l.starts_with("VRRP Instance") && l.contains(':') {
                instance = l.trim().split(':').nth(1).unwrap().trim().to_string();
                stats.insert(instance.clone(), BTreeMap::new());
            } else if l.starts_with("  ") && l.ends_with(':') {
                section = l.trim().split(':').next().unwrap().trim().to_string();
            } else if l.starts_with("    ") && !section.is_empty() {
                let sp: Vec<&str> = l.trim().split(':').collect();
                let value = int(sp[1].trim())?;
                let name = match (section.as_str(), sp[0].trim()) {
                    ("Advertisements", "Received") => "advert_rcvd",
                    ("Advertisements", "Sent") => "advert_sent",
                    ("Packet Errors", "Length") => "packet_len_err",
                    ("Packet Errors", "TTL") => "ip_ttl_err",
                    ("Packet Errors", "Invalid Type") => "invalid_type_rcvd",
                    ("Packet Errors", "Advertisement Interval") => "advert_interval_err",
                    ("Packet Errors", "Address List") => "addr_list_err",
                    ("Authentication Errors", "Invalid Type") => "invalid_authtype",
                    ("Authentication Errors", "Type Mismatch") => "authtype_mismatch",
                    ("Authentication Errors", "Failure") => "auth_failure",
                    ("Priority Zero", "Received") => "pri_zero_rcvd",
                    ("Priority Zero", "Sent") => "pri_zero_sent",
                    _ => continue,
                };
                stats.get_mut(&instance).unwrap().insert(name.into(), value);
            } else if l.starts_with("  ") && !l.ends_with(':') && !l.starts_with("    ") {
                let sp: Vec<&str> = l.trim().split(':').collect();
                section.clear();
                let value = int(sp[1].trim())?;
                let name = match sp[0].trim() {
                    "Became master" => "become_master",
                    "Released master" => "release_master",
                    _ => continue,
                };
                stats.get_mut(&instance).unwrap().insert(name.into(), value);
            }
        }
        Ok(stats)
    }

    /// The exporter's JSON types: integers where it decodes `int` (Go refuses `5.5` there,
    /// and so does `i64` here).
    #[derive(Debug, serde::Deserialize)]
    pub struct Vrrp {
        pub data: Data,
        pub stats: BTreeMap<String, i64>,
    }

    #[derive(Debug, serde::Deserialize)]
    pub struct Data {
        pub iname: String,
        pub state: i64,
        pub wantstate: i64,
        pub ifp_ifname: String,
        pub garp_delay: i64,
        pub vrid: i64,
        #[serde(default)]
        pub vips: Vec<String>,
        #[serde(default)]
        pub evips: Vec<String>,
    }

    /// The exporter's `ParseVIP`: address and device from `ADDR dev DEV ...`.
    pub fn vip(text: &str) -> Option<(&str, &str)> {
        let args: Vec<&str> = text.split(' ').collect();
        (args.len() >= 3).then(|| (args[0], args[2]))
    }
}

/// keepalived 2.2's layout, written for this test (values of our own).
const KEEPALIVED_DATA: &str = "------< Global definitions >------
 Network namespace = (default)
------< VRRP Topology >------
 VRRP Instance = VI_WEB
   VRRP Version = 3
   State = MASTER
   Flags: none
   Wantstate = MASTER
   Last transition = 1700000000.123456 (Tue Nov 14 22:13:20.123456 2023)
   Interface = eth1
   Using src_ip = 10.0.0.5
   Gratuitous ARP delay = 5
   Virtual Router ID = 61
   Priority = 100
   Virtual IP (1):
     10.0.0.100/24 dev eth1 scope global set
   Virtual IP Excluded :
     10.9.0.100 dev eth1 scope global set
   Tracked scripts :
     chk_web weight 20
 VRRP Instance = VI_DB
   State = BACKUP
   Wantstate = BACKUP
   Interface = eth1
   Gratuitous ARP delay = 5
   Virtual Router ID = 62
   Virtual IP (1):
     10.0.0.101 dev eth1 scope global
------< VRRP Scripts >------
 VRRP Script = chk_web
   Command = '/usr/local/bin/chk_web'
   Status = GOOD
   VRRP instances :
     VI_WEB, weight 20
   State = idle
";

/// keepalived 2.2's stats layout (values of our own).
const KEEPALIVED_STATS: &str = "VRRP Instance: VI_WEB
  Advertisements:
    Received: 3
    Sent: 400
  Became master: 2
  Released master: 1
  Packet Errors:
    Length: 1
    TTL: 2
    Invalid Type: 3
    Advertisement Interval: 4
    Address List: 5
  Authentication Errors:
    Invalid Type: 6
    Type Mismatch: 7
    Failure: 8
  Priority Zero:
    Received: 9
    Sent: 10
";

#[test]
fn the_exporter_rules_read_keepalived_s_own_layout() {
    let data = exporter::parse_data(KEEPALIVED_DATA).unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(
        data["VI_WEB"],
        exporter::VrrpData {
            iname: "VI_WEB".into(),
            state: 2,
            wantstate: 2,
            intf: "eth1".into(),
            garp_delay: 5,
            vrid: 61,
            vips: vec!["10.0.0.100/24 dev eth1 scope global set".into()],
            excluded_vips: vec!["10.9.0.100 dev eth1 scope global set".into()],
        }
    );
    assert_eq!(data["VI_DB"].state, 1);
    assert_eq!(
        exporter::parse_scripts(KEEPALIVED_DATA),
        vec![("chk_web".into(), "GOOD".into(), "idle".into())]
    );
    let stats = exporter::parse_stats(KEEPALIVED_STATS).unwrap();
    let s = &stats["VI_WEB"];
    assert_eq!(s.len(), 14, "{s:?}");
    assert_eq!(
        (s["advert_rcvd"], s["release_master"], s["pri_zero_sent"]),
        (3, 1, 10)
    );
}

fn instance(name: &str, state: &str, vrid: u8, vips: &[(&str, u8, bool)]) -> InstanceReport {
    let statistics = serde_json::json!({
        "master_transitions": 2, "rcvd_advertisements": 11, "sent_advertisements": 12,
        "packet_length_errors": 1, "ip_ttl_errors": 2, "rcvd_invalid_type_packets": 3,
        "adv_interval_errors": 4, "address_list_errors": 5, "invalid_auth_type": 6,
        "auth_type_mismatch": 7, "auth_failures": 8, "rcvd_pri_zero_packets": 9,
        "sent_pri_zero_packets": 10, "checksum_errors": 99,
    });
    InstanceReport {
        name: name.into(),
        interface: "ens32".into(),
        vrid,
        state: state.into(),
        priority: 100,
        effective_priority: 120,
        master_address: Some("192.168.2.11".parse().unwrap()),
        virtual_addresses: vips.iter().map(|v| v.0.parse().unwrap()).collect(),
        installed_addresses: Vec::new(),
        vip_repairs: 0,
        socket_drops: 0,
        vip_details: vips
            .iter()
            .map(|(a, prefix, excluded)| VipReport {
                address: a.parse().unwrap(),
                prefix_len: *prefix,
                device: "ens32".into(),
                scope: "global".into(),
                label: None,
                excluded: *excluded,
                installed: state == "MASTER",
            })
            .collect(),
        version: 2,
        advert_interval_ms: 1000,
        garp_master_delay_secs: 5,
        last_transition: Some(TransitionReport {
            from: "BACKUP".into(),
            to: state.into(),
            reason: "higher priority".into(),
            seconds_ago: 2.5,
        }),
        statistics,
        sync_group: None,
    }
}

fn status() -> Status {
    Status {
        instances: vec![
            instance(
                "VI_1",
                "MASTER",
                51,
                &[("192.168.2.200", 32, false), ("192.168.3.1", 24, true)],
            ),
            instance("VI_2", "BACKUP", 52, &[("192.168.2.201", 24, false)]),
            // A reload that could not restart an instance leaves it stopped.
            instance("VI_3", "STOP", 53, &[]),
        ],
        tracked: vec![
            TrackedReport {
                kind: TrackedKind::Script,
                name: "chk_haproxy".into(),
                up: true,
                value: None,
                instances: vec![("VI_1".into(), 20), ("VI_2".into(), 0)],
            },
            TrackedReport {
                kind: TrackedKind::Script,
                name: "chk_db".into(),
                up: false,
                value: None,
                instances: vec![("VI_2".into(), -30)],
            },
            TrackedReport {
                kind: TrackedKind::Process,
                name: "haproxy".into(),
                up: true,
                value: None,
                instances: vec![("VI_1".into(), 0)],
            },
        ],
        ..Status::default()
    }
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

#[test]
fn ha_s_data_file_reads_as_keepalived_s() {
    let text = dump::data(&status(), now());
    let data = exporter::parse_data(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(data.len(), 3, "{text}");
    assert_eq!(
        data["VI_1"],
        exporter::VrrpData {
            iname: "VI_1".into(),
            state: 2,
            wantstate: 2,
            intf: "ens32".into(),
            garp_delay: 5,
            vrid: 51,
            vips: vec!["192.168.2.200 dev ens32 scope global set".into()],
            excluded_vips: vec!["192.168.3.1/24 dev ens32 scope global set".into()],
        },
        "{text}"
    );
    assert_eq!(
        data["VI_2"].vips,
        vec!["192.168.2.201/24 dev ens32 scope global".to_string()]
    );
    assert_eq!((data["VI_2"].state, data["VI_2"].vrid), (1, 52));
    assert_eq!(data["VI_3"].state, 3, "STOP is shown as FAULT");
    assert_eq!(
        exporter::parse_scripts(&text),
        vec![
            ("chk_haproxy".into(), "GOOD".into(), "idle".into()),
            ("chk_db".into(), "BAD".into(), "idle".into()),
        ],
        "{text}"
    );
    assert!(text.contains("   Tracked scripts :\n     chk_haproxy weight 20\n"));
    assert!(text.contains(" VRRP Track process = haproxy\n   Have quorum = true\n"));
    assert!(text.contains("   Master router = 192.168.2.11\n"), "{text}");
}

#[test]
fn ha_s_stats_file_reads_as_keepalived_s() {
    let text = dump::stats(&status());
    let stats = exporter::parse_stats(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let expected: BTreeMap<String, i64> = [
        ("advert_rcvd", 11),
        ("advert_sent", 12),
        ("become_master", 2),
        ("release_master", 1),
        ("packet_len_err", 1),
        ("ip_ttl_err", 2),
        ("invalid_type_rcvd", 3),
        ("advert_interval_err", 4),
        ("addr_list_err", 5),
        ("invalid_authtype", 6),
        ("authtype_mismatch", 7),
        ("auth_failure", 8),
        ("pri_zero_rcvd", 9),
        ("pri_zero_sent", 10),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(stats["VI_1"], expected, "{text}");
    // Not master now: both of its tenures are over.
    assert_eq!(stats["VI_2"]["release_master"], 2);
    // keepalived 2.2's layout line for line.
    let vi1 = &text[..text.find("VRRP Instance: VI_2").unwrap()];
    let layout = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(layout(vi1), layout(KEEPALIVED_STATS), "{text}");
}

#[test]
fn ha_s_json_file_decodes_as_keepalived_s() {
    let text = dump::json(&status(), now());
    let vrrps: Vec<exporter::Vrrp> =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(vrrps.len(), 3);
    let vi1 = &vrrps[0];
    assert_eq!(
        (
            vi1.data.iname.as_str(),
            vi1.data.state,
            vi1.data.wantstate,
            vi1.data.ifp_ifname.as_str(),
            vi1.data.garp_delay,
            vi1.data.vrid
        ),
        ("VI_1", 2, 2, "ens32", 5, 51)
    );
    assert_eq!(vi1.data.vips, ["192.168.2.200 dev ens32 scope global"]);
    assert_eq!(vi1.data.evips, ["192.168.3.1/24 dev ens32 scope global"]);
    assert_eq!(
        exporter::vip(&vi1.data.vips[0]),
        Some(("192.168.2.200", "ens32"))
    );
    assert_eq!(vi1.stats.len(), 14);
    assert_eq!(vi1.stats["release_master"], 1);
    assert_eq!(vi1.stats["advert_sent"], 12);
    assert_eq!(vrrps[1].data.state, 1);
    assert_eq!(vrrps[2].data.state, 3);
    assert!(vrrps[2].data.vips.is_empty());
    // keepalived's other fields are there too.
    let raw: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(raw[0]["data"]["track_script"][0], "chk_haproxy");
    assert_eq!(raw[0]["data"]["track_process"][0], "haproxy");
    assert_eq!(raw[0]["data"]["last_transition"], 1_699_999_997.5);
    assert_eq!(raw[0]["data"]["adver_int"], 1.0);
}

#[test]
fn files_are_replaced_whole_and_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("ha-dump-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A link planted where the file goes is replaced, never followed.
    let target = dir.join("target");
    std::fs::write(&target, "untouched").unwrap();
    std::os::unix::fs::symlink(&target, dir.join(dump::JSON_FILE)).unwrap();
    let path = dump::write_atomic(&dir, dump::JSON_FILE, "[]\n").unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "[]\n");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
