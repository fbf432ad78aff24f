//! Property tests: wire round trips, no panics on arbitrary input, and protocol invariants over
//! random fault schedules in the simulator.

mod common;

use common::*;
use proptest::prelude::*;
use std::net::IpAddr;
use std::time::Duration;
use vrrp_core::sim::{Action, NetworkConditions, Sim};
use vrrp_core::wire::{AuthType, ChecksumContext, Family, Packet, Repr, Version};
use vrrp_core::{Command, Instance, InstanceConfig, RxInfo, State, TRANSMIT_BUFFER_LEN};

#[derive(Debug, Clone)]
struct OwnedRepr {
    version: Version,
    vrid: u8,
    priority: u8,
    interval: u16,
    auth_type: AuthType,
    auth_data: [u8; 8],
    family: Family,
    addresses: Vec<u8>,
}

impl OwnedRepr {
    fn repr(&self) -> Repr<'_> {
        Repr {
            version: self.version,
            vrid: self.vrid,
            priority: self.priority,
            max_advert_interval: self.interval,
            auth_type: self.auth_type,
            auth_data: self.auth_data,
            family: self.family,
            addresses: &self.addresses,
        }
    }
}

fn any_repr() -> impl Strategy<Value = OwnedRepr> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 8]>(),
        0usize..=20,
    )
        .prop_flat_map(|(vrid, prio, int, auth, data, n)| {
            proptest::collection::vec(any::<u8>(), n * 4).prop_map(move |addresses| OwnedRepr {
                version: Version::V2,
                vrid,
                priority: prio,
                interval: u16::from(int),
                auth_type: AuthType::from_byte(auth),
                auth_data: data,
                family: Family::Ipv4,
                addresses,
            })
        });
    let v3 = (
        any::<u8>(),
        any::<u8>(),
        0u16..=0x0fff,
        any::<bool>(),
        0usize..=20,
    )
        .prop_flat_map(|(vrid, prio, int, v6, n)| {
            let family = if v6 { Family::Ipv6 } else { Family::Ipv4 };
            proptest::collection::vec(any::<u8>(), n * family.address_len()).prop_map(
                move |addresses| OwnedRepr {
                    version: Version::V3,
                    vrid,
                    priority: prio,
                    interval: int,
                    auth_type: AuthType::None,
                    auth_data: [0; 8],
                    family,
                    addresses,
                },
            )
        });
    prop_oneof![v2, v3]
}

fn context(family: Family, pseudo: bool) -> ChecksumContext {
    match family {
        Family::Ipv4 => ChecksumContext {
            src: ip("192.0.2.1"),
            dst: ip("224.0.0.18"),
            v3_ipv4_pseudo_header: pseudo,
        },
        Family::Ipv6 => ChecksumContext {
            src: ip("fe80::1"),
            dst: ip("ff02::12"),
            v3_ipv4_pseudo_header: pseudo,
        },
    }
}

proptest! {
    #[test]
    fn parse_of_emit_is_identity(r in any_repr(), pseudo in any::<bool>()) {
        let repr = r.repr();
        let ctx = context(r.family, pseudo);
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), &ctx).unwrap();
        let packet = Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Repr::parse(&packet, &ctx).unwrap(), repr);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_parser(bytes in proptest::collection::vec(any::<u8>(), 0..600), v6 in any::<bool>(), pseudo in any::<bool>()) {
        let ctx = context(if v6 { Family::Ipv6 } else { Family::Ipv4 }, pseudo);
        if let Ok(packet) = Packet::new_checked(&bytes[..]) {
            if let Ok(repr) = Repr::parse(&packet, &ctx) {
                // What parses re-emits to the same bytes, but for v3's reserved bits (cleared)
                // and then the checksum (which covered them).
                let mut out = vec![0u8; repr.buffer_len()];
                repr.emit(&mut Packet::new_unchecked(&mut out[..]), &ctx).unwrap();
                prop_assert_eq!(out.len(), bytes.len(), "parse takes exactly one message");
                let reserved = if repr.version == Version::V3 { bytes[4] & 0xf0 } else { 0 };
                let mut expected = bytes.clone();
                expected[4] &= !reserved;
                if reserved == 0 {
                    // 0xffff and 0x0000 are the same one's-complement sum; we send 0x0000.
                    if bytes[6..8] == [0xff, 0xff] && out[6..8] == [0, 0] {
                        expected[6..8].copy_from_slice(&[0, 0]);
                    }
                    prop_assert_eq!(&out, &expected);
                } else {
                    prop_assert_eq!(&out[..6], &expected[..6]);
                    prop_assert_eq!(&out[8..], &expected[8..]);
                    let again = Repr::parse(&Packet::new_checked(&out[..]).unwrap(), &ctx);
                    prop_assert_eq!(again, Ok(repr), "the new checksum verifies");
                }
            }
        }
    }

    #[test]
    fn arbitrary_packets_commands_and_timeouts_never_panic_an_instance(
        steps in proptest::collection::vec((0u8..4, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..64), 0u64..2_000), 1..60),
        v2 in any::<bool>(),
    ) {
        let version = if v2 { Version::V2 } else { Version::V3 };
        let mut cfg = InstanceConfig::new(version, 51, 100, ip("10.0.0.1"), vec![ip("10.0.0.100")]);
        if !v2 { cfg.advert_interval = ms(100); }
        let mut inst = Instance::new(cfg).unwrap();
        let mut now = at_ms(0);
        inst.handle_command(now, Command::Start);
        let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
        for (kind, byte, mut bytes, dt) in steps {
            now = now + Duration::from_millis(dt);
            match kind {
                0 => {
                    if bytes.len() >= 2 { bytes[1] = 51; }
                    let rx = RxInfo { source: IpAddr::from([10, 0, 0, byte]), destination: ip("224.0.0.18"), ttl: 255 };
                    inst.handle_packet(now, &rx, &bytes);
                }
                1 => inst.handle_timeout(now),
                2 => inst.handle_command(now, match byte % 8 {
                    0 => Command::Start,
                    1 => Command::Shutdown,
                    2 => Command::SetPriorityAdjustment(i32::from(byte) - 128),
                    3 => Command::SetPriority(byte),
                    4 => Command::EnterFault(vrrp_core::FaultCause::Tracking),
                    5 => Command::LeaveFault(vrrp_core::FaultCause::Tracking),
                    6 => Command::ForceMaster,
                    _ => Command::ForceBackup,
                }),
                _ => { if let Some(t) = inst.poll_timeout() { now = now.max(t); inst.handle_timeout(now); } }
            }
            while inst.poll_transmit(&mut buf).is_some() {}
            while inst.poll_event().is_some() {}
            // Invariants: priority within range, a master has an advert timer, a backup a
            // master-down timer.
            prop_assert!(inst.priority() >= 1);
            match inst.state() {
                State::Master | State::Backup => prop_assert!(inst.poll_timeout().is_some()),
                _ => {}
            }
        }
    }
}

/// A random schedule of faults in the first `FAULT_WINDOW`, then a clean network.
#[derive(Debug, Clone)]
enum Fault {
    Crash(usize),
    Restart(usize),
    Stop(usize),
    Partition(Vec<usize>),
    Heal,
    Lossy(f64),
    Priority(usize, i32),
}

const FAULT_WINDOW_MS: u64 = 8_000;

fn any_schedule(nodes: usize) -> impl Strategy<Value = Vec<(u64, Fault)>> {
    let fault = prop_oneof![
        (0..nodes).prop_map(Fault::Crash),
        (0..nodes).prop_map(Fault::Restart),
        (0..nodes).prop_map(Fault::Stop),
        proptest::collection::vec(0..nodes, 1..nodes).prop_map(Fault::Partition),
        Just(Fault::Heal),
        (0.0f64..0.6).prop_map(Fault::Lossy),
        ((0..nodes), -50i32..50).prop_map(|(n, d)| Fault::Priority(n, d)),
    ];
    proptest::collection::vec((0..FAULT_WINDOW_MS, fault), 0..12)
}

struct Cluster {
    sim: Sim,
    priorities: Vec<u8>,
}

fn cluster(seed: u64, priorities: &[u8], version: Version, preempt: bool) -> Cluster {
    let mut sim = Sim::new(seed);
    for (i, &p) in priorities.iter().enumerate() {
        let addr = IpAddr::from([10, 0, 0, 10 + i as u8]);
        let mut c = InstanceConfig::new(version, 7, p, addr, vec![ip("10.0.0.100")]);
        c.advert_interval = if version == Version::V3 {
            ms(100)
        } else {
            Duration::from_secs(1)
        };
        c.preempt = preempt;
        sim.add_node(&format!("r{i}"), 0, c).unwrap();
    }
    Cluster {
        sim,
        priorities: priorities.to_vec(),
    }
}

/// Applies the fault schedule, then makes the network whole again: every node running, no
/// partition, no loss, original priorities.
fn run_faults_then_heal(c: &mut Cluster, schedule: &[(u64, Fault)]) -> vrrp_core::Instant {
    for (t, f) in schedule {
        let action = match f {
            Fault::Crash(n) => Action::Crash(*n),
            Fault::Restart(n) => Action::Restart(*n),
            Fault::Stop(n) => Action::Stop(*n),
            Fault::Partition(g) => Action::Partition(vec![g.clone()]),
            Fault::Heal => Action::Heal,
            Fault::Lossy(p) => Action::Conditions(NetworkConditions {
                loss: *p,
                delay_min: ms(0),
                delay_max: ms(5),
                duplicate: 0.1,
            }),
            Fault::Priority(n, d) => Action::SetPriorityAdjustment(*n, *d),
        };
        c.sim.schedule(at_ms(*t), action);
    }
    c.sim.run_until(at_ms(FAULT_WINDOW_MS));
    c.sim.apply(Action::Heal);
    c.sim
        .apply(Action::Conditions(NetworkConditions::default()));
    for n in 0..c.priorities.len() {
        c.sim.apply(Action::SetPriorityAdjustment(n, 0));
        if !matches!(c.sim.state(n), Some(State::Backup | State::Master)) {
            c.sim.apply(Action::Restart(n));
        }
    }
    c.sim.now()
}

fn master_down(version: Version, priority: u8) -> Duration {
    let unit = if version == Version::V3 {
        ms(100)
    } else {
        Duration::from_secs(1)
    };
    let skew = Duration::from_nanos(((256 - u64::from(priority)) * unit.as_nanos() as u64) / 256);
    3 * unit + skew
}

proptest! {
    #![proptest_config(ProptestConfig { cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(64), ..ProptestConfig::default() })]

    #[test]
    fn after_two_clean_master_down_intervals_there_is_exactly_one_master_and_it_is_the_best(
        seed in any::<u64>(),
        priorities in proptest::collection::vec(1u8..=254, 2..5),
        schedule in any_schedule(4),
        v2 in any::<bool>(),
    ) {
        let version = if v2 { Version::V2 } else { Version::V3 };
        let schedule: Vec<_> = schedule.into_iter().filter(|(_, f)| match f {
            Fault::Crash(n) | Fault::Restart(n) | Fault::Stop(n) | Fault::Priority(n, _) => *n < priorities.len(),
            Fault::Partition(g) => g.iter().all(|n| *n < priorities.len()),
            _ => true,
        }).collect();
        let mut c = cluster(seed, &priorities, version, true);
        let healed = run_faults_then_heal(&mut c, &schedule);
        let lowest = *priorities.iter().min().unwrap();
        // A restarted node needs its own master-down interval; then two more for the election.
        c.sim.run_until(healed + master_down(version, lowest) * 3);
        let masters = c.sim.masters(0, 7);
        prop_assert_eq!(masters.len(), 1, "masters {:?}", masters);
        // With preempt the master has the highest priority. Among equal priorities the
        // address tie-break settles simultaneous masters only: a backup accepts adverts of
        // equal priority (RFC 5798 6.4.2), so a live master of equal priority stays.
        let best = *priorities.iter().max().unwrap();
        prop_assert_eq!(priorities[masters[0]], best);
        if schedule.is_empty() {
            let highest = (0..priorities.len()).max_by_key(|&i| (priorities[i], i)).unwrap();
            prop_assert_eq!(masters[0], highest, "clean start: highest priority, then address");
        }
    }

    #[test]
    fn nopreempt_never_takes_over_from_a_live_master(
        seed in any::<u64>(),
        priorities in proptest::collection::vec(1u8..=254, 2..5),
        restart_at in 1_000u64..5_000,
    ) {
        let mut c = cluster(seed, &priorities, Version::V3, false);
        c.sim.run_until(at_ms(3_000));
        let masters = c.sim.masters(0, 7);
        prop_assert_eq!(masters.len(), 1);
        let master = masters[0];
        // Restart every other node: none may take over from the live master.
        for n in (0..priorities.len()).filter(|&n| n != master) {
            c.sim.schedule(at_ms(3_000 + restart_at), Action::Crash(n));
            c.sim.schedule(at_ms(3_000 + restart_at + 500), Action::Restart(n));
        }
        c.sim.run_until(at_ms(15_000));
        prop_assert_eq!(c.sim.masters(0, 7), vec![master]);
        let takeovers = c.sim.transitions().filter(|(n, t)| *n != master && t.to == State::Master && t.at > at_ms(3_000)).count();
        prop_assert_eq!(takeovers, 0);
    }

    #[test]
    fn after_a_master_crash_a_backup_is_master_within_master_down_plus_one_interval(
        seed in any::<u64>(),
        priorities in proptest::collection::vec(1u8..=254, 2..5),
        crash_at in 5_000u64..9_000,
        v2 in any::<bool>(),
    ) {
        let version = if v2 { Version::V2 } else { Version::V3 };
        let mut c = cluster(seed, &priorities, version, true);
        c.sim.run_until(at_ms(crash_at));
        let masters = c.sim.masters(0, 7);
        prop_assert_eq!(masters.len(), 1);
        c.sim.apply(Action::Crash(masters[0]));
        let highest_backup = (0..priorities.len()).filter(|&n| n != masters[0]).map(|n| priorities[n]).max().unwrap();
        let interval = if v2 { Duration::from_secs(1) } else { ms(100) };
        let bound = master_down(version, highest_backup) + interval;
        c.sim.run_until(at_ms(crash_at) + bound);
        prop_assert_eq!(c.sim.masters(0, 7).len(), 1, "no master {:?} after the crash", bound);
    }
}
