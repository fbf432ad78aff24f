//! A director's state change as the journal receives it: ha's journald writer (the one
//! `ha run` installs under systemd) on a socket of the test's, a real `Director` in a network
//! namespace (privileged). The record carries MESSAGE_ID, PRIORITY and HA_* fields.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::journal::parse_journal_entry;
use common::netns::{require_root, veth_pair};
use director::{Director, Options};
use ha_cli::logging::{self, LogFormat, LogLevel};
use keepalived_conf::{Config, IpAddress, Timer, VrrpInstance};

#[test]
fn a_state_change_reaches_the_journal_with_its_fields() {
    if !require_root("a_state_change_reaches_the_journal_with_its_fields") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ha-journal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("socket");
    let journal = UnixDatagram::bind(&socket_path).unwrap();
    journal
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let _guard =
        logging::init_with_journal_socket(LogFormat::Journald, LogLevel::Info, &socket_path)
            .unwrap();
    let (na, _nb) = veth_pair(
        "jr",
        ("10.199.9.1/24", "fe80::a/64"),
        ("10.199.9.2/24", "fe80::b/64"),
    );
    let mut vi = VrrpInstance::new("VI_1");
    vi.interface = Some("eth0".into());
    vi.virtual_router_id = Some(51);
    vi.version = Some(3);
    vi.advert_int = Timer(100_000);
    vi.virtual_ipaddress = vec![IpAddress::new("10.199.9.200".parse().unwrap())];
    let config = Config {
        vrrp_instances: vec![vi],
        ..Config::default()
    };
    let director = std::thread::scope(|s| {
        s.spawn(|| {
            na.enter();
            Director::start(config, Options::default()).unwrap()
        })
        .join()
        .unwrap()
    });
    // Read entries until the MASTER transition.
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = vec![0u8; 65536];
    let record = loop {
        assert!(Instant::now() < deadline, "no MASTER record in the journal");
        let Ok(n) = journal.recv(&mut buf) else {
            continue;
        };
        let fields = parse_journal_entry(&buf[..n]);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        if get("HA_STATE").as_deref() == Some("MASTER") {
            break fields;
        }
    };
    let shown: Vec<String> = record
        .iter()
        .map(|(n, v)| format!("{n}={}", String::from_utf8_lossy(v)))
        .collect();
    println!("{}", shown.join("\n"));
    let get = |name: &str| {
        record
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        get("MESSAGE_ID").as_deref(),
        Some(director::message_id::STATE_CHANGED)
    );
    assert_eq!(get("PRIORITY").as_deref(), Some("6"));
    assert_eq!(get("HA_INSTANCE").as_deref(), Some("VI_1"));
    assert_eq!(
        get("HA_REASON").as_deref(),
        Some("master-down timer expired")
    );
    assert_eq!(
        get("HA_KEEPALIVED").as_deref(),
        Some("(VI_1) Entering MASTER STATE")
    );
    assert_eq!(get("SYSLOG_IDENTIFIER").as_deref(), Some("ha"));
    assert!(
        get("MESSAGE").is_some_and(|m| m.starts_with("(VI_1) Entering MASTER STATE")),
        "{shown:?}"
    );
    director.shutdown().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
