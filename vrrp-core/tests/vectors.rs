//! keepalived 2.2.7's captures: every VRRP packet parses and re-emits byte for byte, and the
//! mismatch captures produce keepalived's diagnostics.

mod common;

use common::*;
use std::time::Duration;
use vrrp_core::wire::{ChecksumContext, Packet, Repr, Version};
use vrrp_core::{
    Authentication, Command, DropReason, Event, Instance, InstanceConfig, RxInfo, State,
};

fn ctx(c: &Captured) -> ChecksumContext {
    ChecksumContext {
        src: c.source,
        dst: c.destination,
        v3_ipv4_pseudo_header: true,
    }
}

#[test]
fn every_captured_advert_parses_and_reemits_byte_for_byte() {
    let mut total = 0;
    for name in all_captures() {
        let packets = read_vrrp_packets(&name);
        assert!(!packets.is_empty(), "{name}: no VRRP packets");
        for c in &packets {
            let packet = Packet::new_checked(&c.vrrp[..]).unwrap();
            let repr = Repr::parse(&packet, &ctx(c))
                .unwrap_or_else(|e| panic!("{name} frame {}: {e}", c.index));
            let mut out = vec![0u8; repr.buffer_len()];
            repr.emit(&mut Packet::new_unchecked(&mut out[..]), &ctx(c))
                .unwrap();
            assert_eq!(out, c.vrrp, "{name} frame {}", c.index);
            assert_eq!(
                c.ttl, 255,
                "{name} frame {}: keepalived sends TTL 255",
                c.index
            );
            assert_eq!(
                c.tos, 0xc0,
                "{name} frame {}: keepalived sends TOS 0xc0",
                c.index
            );
            total += 1;
        }
    }
    assert!(total > 100, "only {total} adverts found");
}

/// The capture's first advert from `source`, as the receiving node's configuration: the same
/// VRID, version, interval, authentication and addresses, priority 90, primary 10.99.0.12.
fn receiver_like(c: &Captured) -> InstanceConfig {
    let packet = Packet::new_checked(&c.vrrp[..]).unwrap();
    let repr = Repr::parse(&packet, &ctx(c)).unwrap();
    let mut cfg = InstanceConfig::new(
        repr.version,
        repr.vrid,
        90,
        ip("10.99.0.12"),
        repr.addresses().collect(),
    );
    cfg.advert_interval = repr.interval();
    if repr.auth_type == vrrp_core::wire::AuthType::SimplePassword {
        cfg.authentication = Authentication::Password(repr.auth_data);
    }
    cfg
}

/// Feeds every advert of ns1 (10.99.0.11) in `capture` to a started backup built by `configure`,
/// and returns the instance's events.
fn replay_to_ns2(
    capture: &str,
    configure: impl FnOnce(&mut InstanceConfig),
) -> (Instance, Vec<Event>) {
    let packets: Vec<_> = read_vrrp_packets(capture)
        .into_iter()
        .filter(|c| c.source == ip("10.99.0.11"))
        .collect();
    let mut cfg = receiver_like(&packets[0]);
    configure(&mut cfg);
    let mut instance = Instance::new(cfg).unwrap();
    let t0 = packets[0].time_us;
    instance.handle_command(at_us(0), Command::Start);
    let mut events = Vec::new();
    for c in &packets {
        let rx = RxInfo {
            source: c.source,
            destination: c.destination,
            ttl: c.ttl,
        };
        instance.handle_packet(at_us(c.time_us - t0), &rx, &c.vrrp);
        while let Some(e) = instance.poll_event() {
            events.push(e);
        }
    }
    (instance, events)
}

fn first_drop(events: &[Event]) -> (DropReason, String) {
    events
        .iter()
        .find_map(|e| match e {
            Event::PacketDropped { reason, .. } => Some((*reason, reason.to_string())),
            _ => None,
        })
        .expect("a dropped packet")
}

#[test]
fn misconf_advert_int_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_advert_int.pcap", |c| {
        c.advert_interval = Duration::from_secs(2)
    });
    let (_, msg) = first_drop(&events);
    assert_eq!(
        msg,
        "advertisement interval mismatch mine=2 sec rcv'd=1 sec"
    );
    assert!(i.statistics().adv_interval_errors > 0);
}

#[test]
fn misconf_auth_pass_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_auth_pass.pcap", |c| {
        c.authentication = Authentication::password("2222")
    });
    assert_eq!(
        first_drop(&events),
        (
            DropReason::AuthFailure,
            "received an invalid passwd!".into()
        )
    );
    assert!(i.statistics().auth_failures > 0);
}

#[test]
fn misconf_auth_type_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_auth_type.pcap", |c| {
        c.authentication = Authentication::None
    });
    assert_eq!(first_drop(&events).1, "received a 1 auth, expecting 0!");
    assert!(i.statistics().auth_type_mismatch > 0);
}

#[test]
fn misconf_vip_count_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_vip_count.pcap", |c| {
        c.virtual_addresses.push(ip("10.99.0.201"))
    });
    assert_eq!(
        first_drop(&events).1,
        "received an unexpected ip number count 1, expected 2!"
    );
    assert!(i.statistics().address_list_errors > 0);
}

#[test]
fn misconf_vip_addr_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_vip_addr.pcap", |c| {
        c.virtual_addresses = vec![ip("10.99.0.201")]
    });
    assert_eq!(
        first_drop(&events).1,
        "ip address associated with VRID 51 not present in MASTER advert: 10.99.0.201"
    );
    assert!(i.statistics().address_list_errors > 0);
}

#[test]
fn misconf_version_is_dropped_with_keepalived_message() {
    let (i, events) = replay_to_ns2("misconf_version.pcap", |c| {
        c.version = Version::V3;
        c.authentication = Authentication::None;
    });
    assert_eq!(
        first_drop(&events).1,
        "wrong version. Received 2 and expect 3"
    );
    assert!(i.statistics().version_errors > 0);
}

#[test]
fn misconf_v2_cases_leave_the_receiver_to_become_master_as_keepalived_did() {
    // keepalived: "in every v2 case both nodes ended up MASTER (split brain)".
    for (capture, change) in [
        ("misconf_advert_int.pcap", 0),
        ("misconf_auth_pass.pcap", 1),
        ("misconf_vip_count.pcap", 2),
        ("misconf_vip_addr.pcap", 3),
    ] {
        let (mut i, _) = replay_to_ns2(capture, |c| match change {
            0 => c.advert_interval = Duration::from_secs(2),
            1 => c.authentication = Authentication::password("2222"),
            2 => c.virtual_addresses.push(ip("10.99.0.201")),
            _ => c.virtual_addresses = vec![ip("10.99.0.201")],
        });
        let down = i.master_down_interval();
        i.handle_timeout(at_us(0) + down);
        assert_eq!(i.state(), State::Master, "{capture}");
    }
}

#[test]
fn misconf_v3_advert_int_is_adopted_by_the_backup() {
    let (i, events) = replay_to_ns2("misconf_v3_advert_int.pcap", |c| {
        c.advert_interval = Duration::from_secs(2)
    });
    let msg = events
        .iter()
        .find_map(|e| matches!(e, Event::MasterIntervalChanged { .. }).then(|| e.to_string()))
        .expect("interval adopted");
    assert_eq!(
        msg,
        "advertisement interval updated from 2000ms to 1000ms by master"
    );
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.master_advert_interval(), Duration::from_secs(1));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::PacketDropped { .. })));
}

/// v3.pcap: keepalived's master (10.99.0.11) sends 10 cs adverts. Ours, configured as it
/// was, sends the same bytes at the same interval; and ours as a backup follows keepalived's
/// master through the whole capture without taking over, then takes over one
/// Master_Down_Interval after its last advert.
#[test]
fn our_v3_master_and_backup_keep_keepalived_timing() {
    let packets: Vec<_> = read_vrrp_packets("v3.pcap")
        .into_iter()
        .filter(|c| c.source == ip("10.99.0.11") && c.vrrp[2] != 0)
        .collect();
    assert!(packets.len() > 20);
    let theirs = &packets[0];
    let repr = Repr::parse(
        &Packet::new_checked(&theirs.vrrp[..]).unwrap(),
        &ctx(theirs),
    )
    .unwrap();
    assert_eq!(repr.interval(), Duration::from_millis(100));

    // Ours as the master keepalived was: the same bytes, every 100 ms.
    let mut cfg = receiver_like(theirs);
    cfg.priority = repr.priority;
    cfg.primary_address = theirs.source;
    let mut master = Instance::new(cfg).unwrap();
    let mut buf = Box::new([0u8; vrrp_core::TRANSMIT_BUFFER_LEN]);
    master.handle_command(at_ms(0), Command::Start);
    let mut sent = Vec::new();
    while sent.len() < 5 {
        let t = master.poll_timeout().expect("a master has timers");
        master.handle_timeout(t);
        while let Some(out) = master.poll_transmit(&mut buf) {
            if let vrrp_core::Transmit::Advertisement { len, .. } = out {
                assert_eq!(
                    buf[..len],
                    theirs.vrrp[..],
                    "our advert differs from keepalived's"
                );
                sent.push(t);
            }
        }
    }
    assert_eq!(master.state(), State::Master);
    for w in sent[1..].windows(2) {
        assert_eq!(w[1] - w[0], Duration::from_millis(100));
    }

    // Ours as a backup of lower priority with a slower interval of its own: it learns 100 ms
    // and never takes over while keepalived's adverts keep coming at keepalived's pace.
    let (mut backup, events) =
        replay_to_ns2("v3.pcap", |c| c.advert_interval = Duration::from_secs(1));
    assert!(!events
        .iter()
        .any(|e| matches!(e, Event::StateChanged(t) if t.to == State::Master)));
    assert_eq!(backup.state(), State::Backup);
    assert_eq!(backup.master_advert_interval(), Duration::from_millis(100));
    // The capture ends with keepalived's shutdown advert (priority 0): the backup takes over
    // one Skew_Time later (RFC 5798 6.4.2), (256 - 90) / 256 × 100 ms.
    let all: Vec<_> = read_vrrp_packets("v3.pcap")
        .into_iter()
        .filter(|c| c.source == ip("10.99.0.11"))
        .collect();
    let shutdown = all.last().unwrap();
    assert_eq!(
        shutdown.vrrp[2], 0,
        "the capture ends with keepalived's shutdown advert"
    );
    let at =
        at_us(shutdown.time_us - all[0].time_us) + Duration::from_nanos(100_000_000 * 166 / 256);
    let fires = backup.poll_timeout().unwrap();
    assert_eq!(fires, at, "master-down after the shutdown advert");
    backup.handle_timeout(fires);
    assert_eq!(backup.state(), State::Master);
}

#[test]
fn checksum_negative_zero_verifies_and_reemits_as_zero() {
    // Found by the vrrp_packet fuzz target: a v2 advert whose checksum field is 0xffff.
    let input = std::fs::read(vectors_dir().join("../fuzz/checksum-negative-zero.bin")).unwrap();
    let c = ChecksumContext {
        src: ip("10.99.0.11"),
        dst: ip("224.0.0.18"),
        v3_ipv4_pseudo_header: true,
    };
    let bytes = &input[1..]; // the target's first byte selects the context
    let repr = Repr::parse(&Packet::new_checked(bytes).unwrap(), &c).unwrap();
    let mut out = vec![0u8; repr.buffer_len()];
    repr.emit(&mut Packet::new_unchecked(&mut out[..]), &c)
        .unwrap();
    assert_eq!(&bytes[6..8], [0xff, 0xff]);
    assert_eq!(out[6..8], [0x00, 0x00]);
    assert_eq!(out[..6], bytes[..6]);
    assert_eq!(out[8..], bytes[8..]);
}
