//! Scenarios on the simulator with exact virtual timings: RFC 5798 section 6 behaviours and
//! keepalived's extensions. Network delay is zero unless a test says otherwise, so timings are
//! exactly the RFC's.

mod common;

use common::*;
use std::time::Duration;
use vrrp_core::sim::{Action, NetworkConditions, Sim, TraceKind};
use vrrp_core::wire::Version;
use vrrp_core::{
    Command, DropReason, Event, FaultCause, Instance, InstanceConfig, RxInfo, State, SyncGroup,
    TransitionReason, Transmit, TRANSMIT_BUFFER_LEN,
};

const VIP: &str = "10.99.0.200";

fn config(version: Version, priority: u8, addr: &str, interval: Duration) -> InstanceConfig {
    let mut c = InstanceConfig::new(version, 51, priority, ip(addr), vec![ip(VIP)]);
    c.advert_interval = interval;
    c
}

fn v3(priority: u8, addr: &str) -> InstanceConfig {
    config(Version::V3, priority, addr, ms(100))
}

fn v2(priority: u8, addr: &str) -> InstanceConfig {
    config(Version::V2, priority, addr, Duration::from_secs(1))
}

fn instant_network(sim: &mut Sim) {
    sim.set_conditions(NetworkConditions {
        delay_min: Duration::ZERO,
        delay_max: Duration::ZERO,
        ..NetworkConditions::default()
    });
}

fn pair(a: InstanceConfig, b: InstanceConfig) -> Sim {
    let mut sim = Sim::new(7);
    instant_network(&mut sim);
    sim.add_node("lvs1", 0, a).unwrap();
    sim.add_node("lvs2", 0, b).unwrap();
    sim
}

/// Time of the last advert `node` sent at or before `before`.
fn last_sent(sim: &Sim, node: usize, before: vrrp_core::Instant) -> vrrp_core::Instant {
    sim.trace()
        .iter()
        .rev()
        .filter(|e| e.node == Some(node) && e.at <= before)
        .find(|e| matches!(e.kind, TraceKind::Sent { priority, .. } if priority > 0))
        .map(|e| e.at)
        .expect("an advert")
}

/// Time `node` last became master.
fn became_master(sim: &Sim, node: usize) -> vrrp_core::Instant {
    sim.transitions()
        .filter(|(n, t)| *n == node && t.to == State::Master)
        .map(|(_, t)| t.at)
        .last()
        .expect("became master")
}

#[test]
fn election_startup_below_255_waits_master_down_then_higher_priority_wins() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(2000));
    assert_eq!(sim.state(0), Some(State::Master));
    assert_eq!(sim.state(1), Some(State::Backup));
    // Both start as backup; lvs1's master-down interval is 3 * 100 ms + 156 * 100 / 256 ms
    // = 360.9375 ms.
    assert_eq!(
        became_master(&sim, 0),
        at_us(360_937) + Duration::from_nanos(500)
    );
    assert_eq!(sim.masters(0, 51), vec![0]);
}

#[test]
fn owner_priority_255_is_master_at_startup() {
    let mut sim = pair(v3(255, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(1));
    assert_eq!(sim.state(0), Some(State::Master));
    assert_eq!(became_master(&sim, 0), at_ms(0));
    let (_, t) = sim.transitions().find(|(n, _)| *n == 0).unwrap();
    assert_eq!(t.reason, TransitionReason::AddressOwner);
}

#[test]
fn crash_failover_v3_10cs_priority_90_takes_364_8_ms() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.run_until(at_ms(4000));
    let gap = became_master(&sim, 1) - last_sent(&sim, 0, at_ms(3000));
    assert_eq!(gap, Duration::from_nanos(364_843_750));
}

#[test]
fn graceful_failover_v3_10cs_takes_skew_time_64_8_ms() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.schedule(at_ms(3000), Action::Stop(0));
    sim.run_until(at_ms(4000));
    assert_eq!(
        became_master(&sim, 1) - at_ms(3000),
        Duration::from_nanos(64_843_750)
    );
    let (_, t) = sim.transitions().filter(|(n, _)| *n == 1).last().unwrap();
    assert_eq!(t.reason, TransitionReason::MasterStopped);
    let stats = sim.node(0).instance.as_ref().unwrap().statistics().clone();
    assert_eq!(stats.sent_pri_zero_packets, 1);
}

#[test]
fn crash_failover_v2_1s_takes_3648_4_ms() {
    let mut sim = pair(v2(100, "10.99.0.11"), v2(90, "10.99.0.12"));
    sim.schedule(at_ms(10_000), Action::Crash(0));
    sim.run_until(at_ms(15_000));
    let gap = became_master(&sim, 1) - last_sent(&sim, 0, at_ms(10_000));
    assert_eq!(
        gap,
        Duration::from_micros(3_648_437) + Duration::from_nanos(500)
    );
}

#[test]
fn graceful_failover_v2_1s_takes_skew_time_648_4_ms() {
    let mut sim = pair(v2(100, "10.99.0.11"), v2(90, "10.99.0.12"));
    sim.schedule(at_ms(10_000), Action::Stop(0));
    sim.run_until(at_ms(12_000));
    assert_eq!(
        became_master(&sim, 1) - at_ms(10_000),
        Duration::from_micros(648_437) + Duration::from_nanos(500)
    );
}

#[test]
fn preemption_restarted_higher_priority_takes_over_after_its_master_down_interval() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.schedule(at_ms(5000), Action::Restart(0));
    sim.run_until(at_ms(7000));
    assert_eq!(sim.state(0), Some(State::Master));
    assert_eq!(sim.state(1), Some(State::Backup));
    assert_eq!(
        became_master(&sim, 0) - at_ms(5000),
        Duration::from_nanos(360_937_500)
    );
    let (_, t) = sim.transitions().filter(|(n, _)| *n == 0).last().unwrap();
    assert_eq!(t.reason, TransitionReason::Preempted);
    // The old master steps down on the higher-priority advert, without a priority-0 advert.
    let (_, t) = sim.transitions().filter(|(n, _)| *n == 1).last().unwrap();
    assert!(matches!(
        t.reason,
        TransitionReason::HigherPriorityAdvert { priority: 100, .. }
    ));
    assert_eq!(
        sim.node(1)
            .instance
            .as_ref()
            .unwrap()
            .statistics()
            .sent_pri_zero_packets,
        0
    );
}

#[test]
fn nopreempt_restarted_higher_priority_stays_backup() {
    let mut a = v3(100, "10.99.0.11");
    let mut b = v3(90, "10.99.0.12");
    a.preempt = false;
    b.preempt = false;
    let mut sim = pair(a, b);
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.schedule(at_ms(5000), Action::Restart(0));
    sim.run_until(at_ms(10_000));
    assert_eq!(sim.state(0), Some(State::Backup));
    assert_eq!(sim.state(1), Some(State::Master));
}

#[test]
fn preempt_delay_holds_off_preemption() {
    let mut a = v3(100, "10.99.0.11");
    a.preempt_delay = Duration::from_secs(2);
    let mut sim = pair(a, v3(90, "10.99.0.12"));
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.schedule(at_ms(5000), Action::Restart(0));
    sim.run_until(at_ms(6900));
    assert_eq!(
        sim.state(0),
        Some(State::Backup),
        "still within preempt_delay"
    );
    sim.run_until(at_ms(8000));
    assert_eq!(sim.state(0), Some(State::Master));
    let t = became_master(&sim, 0) - at_ms(5000);
    assert!(
        t >= Duration::from_secs(2) && t <= Duration::from_millis(2400),
        "{t:?}"
    );
}

#[test]
fn equal_priority_tie_breaks_on_higher_primary_address() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(100, "10.99.0.12"));
    sim.run_until(at_ms(2000));
    assert_eq!(sim.masters(0, 51), vec![1]);
}

#[test]
fn priority_zero_advert_answered_by_master_and_counted() {
    let mut inst = Instance::new(v3(100, "10.99.0.11")).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    inst.handle_timeout(at_ms(400));
    assert_eq!(inst.state(), State::Master);
    let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
    while inst.poll_transmit(&mut buf).is_some() {}
    // A peer's priority-0 advert: the master answers with an advert at once.
    let mut peer = Instance::new(v3(90, "10.99.0.12")).unwrap();
    peer.handle_command(at_ms(0), Command::Start);
    peer.handle_command(at_ms(0), Command::ForceMaster); // not a backup: force for the test
    peer.handle_timeout(at_ms(0));
    let mut peer_buf = [0u8; TRANSMIT_BUFFER_LEN];
    while peer.poll_transmit(&mut peer_buf).is_some() {}
    peer.handle_command(at_ms(1), Command::Shutdown);
    let Some(Transmit::Advertisement {
        len, priority: 0, ..
    }) = peer.poll_transmit(&mut peer_buf)
    else {
        panic!("priority-0 advert expected")
    };
    let rx = RxInfo {
        source: ip("10.99.0.12"),
        destination: ip("224.0.0.18"),
        ttl: 255,
    };
    inst.handle_packet(at_ms(410), &rx, &peer_buf[..len]);
    assert_eq!(inst.statistics().rcvd_pri_zero_packets, 1);
    assert!(matches!(
        inst.poll_transmit(&mut buf),
        Some(Transmit::Advertisement { priority: 100, .. })
    ));
}

#[test]
fn tracking_weight_moves_mastership_and_weight_zero_is_fault() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(1000));
    sim.apply(Action::SetPriorityAdjustment(0, -20));
    sim.run_until(at_ms(2000));
    assert_eq!(sim.masters(0, 51), vec![1], "80 < 90: the backup preempts");
    sim.apply(Action::SetPriorityAdjustment(0, 0));
    sim.run_until(at_ms(3000));
    assert_eq!(sim.masters(0, 51), vec![0]);
    // Weight 0 failing: fault, a priority-0 advert, the backup takes over in skew time.
    sim.apply(Action::Fault(0, true));
    let at = sim.now();
    sim.run_until(at_ms(4000));
    assert_eq!(sim.state(0), Some(State::Fault));
    assert_eq!(
        became_master(&sim, 1) - at,
        Duration::from_nanos(64_843_750)
    );
    sim.apply(Action::Fault(0, false));
    sim.run_until(at_ms(5000));
    assert_eq!(sim.masters(0, 51), vec![0]);
}

#[test]
fn link_down_is_fault_and_link_up_returns_through_backup() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(1000));
    sim.apply(Action::Fault(1, true));
    sim.run_until(at_ms(1500));
    assert_eq!(sim.state(1), Some(State::Fault));
    sim.apply(Action::Fault(1, false));
    sim.run_until(at_ms(2000));
    assert_eq!(sim.state(1), Some(State::Backup));
    let (_, t) = sim.transitions().filter(|(n, _)| *n == 1).last().unwrap();
    assert_eq!(t.reason, TransitionReason::FaultCleared);
}

#[test]
fn partition_gives_two_masters_and_heal_gives_one_with_garps() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(1000));
    sim.apply(Action::Partition(vec![vec![0], vec![1]]));
    sim.run_until(at_ms(2000));
    assert_eq!(sim.masters(0, 51), vec![0, 1]);
    sim.apply(Action::Heal);
    let healed = sim.now();
    sim.run_until(at_ms(3000));
    assert_eq!(sim.masters(0, 51), vec![0]);
    // The surviving master keeps advertising; its GARPs were sent when it became master and
    // the loser sends none after the heal.
    let garps_after_heal = sim
        .trace()
        .iter()
        .filter(|e| e.at >= healed && e.node == Some(1))
        .filter(|e| matches!(e.kind, TraceKind::Gratuitous { .. }))
        .count();
    assert_eq!(garps_after_heal, 0);
}

#[test]
fn garp_bursts_on_master_then_after_garp_master_delay_and_refresh() {
    let mut c = v3(255, "10.99.0.11");
    c.garp.master_refresh = Some(Duration::from_secs(10));
    c.garp.master_refresh_repeat = 2;
    let mut sim = Sim::new(1);
    sim.add_node("lvs1", 0, c).unwrap();
    sim.run_until(at_ms(25_000));
    let garps: Vec<_> = sim
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Gratuitous { repeat } => Some((e.at, repeat)),
            _ => None,
        })
        .collect();
    assert_eq!(
        garps,
        vec![
            (at_ms(0), 5),
            (at_ms(5000), 5),
            (at_ms(10_000), 2),
            (at_ms(20_000), 2)
        ]
    );
    // The first advert precedes the first GARP burst, as keepalived sends them.
    let first = sim
        .trace()
        .iter()
        .position(|e| {
            matches!(
                e.kind,
                TraceKind::Sent { .. } | TraceKind::Gratuitous { .. }
            )
        })
        .unwrap();
    assert!(matches!(sim.trace()[first].kind, TraceKind::Sent { .. }));
}

#[test]
fn lower_priority_advert_is_answered_unless_lower_prio_no_advert() {
    for (no_advert, expected_answers) in [(false, 1), (true, 0)] {
        let mut c = v3(100, "10.99.0.11");
        c.lower_prio_no_advert = no_advert;
        c.garp.lower_prio_repeat = Some(3);
        let mut master = Instance::new(c).unwrap();
        master.handle_command(at_ms(0), Command::Start);
        master.handle_timeout(at_ms(400));
        let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
        while master.poll_transmit(&mut buf).is_some() {}
        let advert = advert_bytes(v3(90, "10.99.0.12"));
        master.handle_packet(at_ms(410), &rx("10.99.0.12"), &advert);
        let mut answers = 0;
        let mut garps = 0;
        while let Some(t) = master.poll_transmit(&mut buf) {
            match t {
                Transmit::Advertisement { .. } => answers += 1,
                Transmit::Gratuitous { repeat } => garps += repeat,
            }
        }
        assert_eq!(
            answers, expected_answers,
            "lower_prio_no_advert {no_advert}"
        );
        assert_eq!(garps, 3);
        assert_eq!(master.state(), State::Master);
    }
}

#[test]
fn higher_prio_send_advert_sends_one_advert_before_yielding() {
    let mut c = v3(90, "10.99.0.12");
    c.higher_prio_send_advert = true;
    let mut inst = Instance::new(c).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    inst.handle_timeout(at_ms(400));
    assert_eq!(inst.state(), State::Master);
    let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
    while inst.poll_transmit(&mut buf).is_some() {}
    inst.handle_packet(
        at_ms(410),
        &rx("10.99.0.11"),
        &advert_bytes(v3(100, "10.99.0.11")),
    );
    assert_eq!(inst.state(), State::Backup);
    assert!(matches!(
        inst.poll_transmit(&mut buf),
        Some(Transmit::Advertisement { priority: 90, .. })
    ));
}

#[test]
fn down_timer_adverts_sets_the_number_of_missed_adverts() {
    let mut b = v3(90, "10.99.0.12");
    b.down_timer_adverts = 5;
    let mut sim = pair(v3(100, "10.99.0.11"), b);
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.run_until(at_ms(4000));
    let gap = became_master(&sim, 1) - last_sent(&sim, 0, at_ms(3000));
    assert_eq!(gap, Duration::from_nanos(500_000_000 + 64_843_750));
}

#[test]
fn startup_delay_defers_the_startup_event() {
    let mut c = v3(255, "10.99.0.11");
    c.startup_delay = Duration::from_secs(2);
    let mut inst = Instance::new(c).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    assert_eq!(inst.state(), State::Initialize);
    assert_eq!(inst.poll_timeout(), Some(at_ms(2000)));
    inst.handle_timeout(at_ms(2000));
    assert_eq!(inst.state(), State::Master);
}

#[test]
fn v3_backup_adopts_master_interval_and_v2_drops_a_different_one() {
    let mut sim = pair(
        config(Version::V3, 100, "10.99.0.11", ms(200)),
        config(Version::V3, 90, "10.99.0.12", ms(1000)),
    );
    sim.run_until(at_ms(3000));
    let b = sim.node(1).instance.as_ref().unwrap();
    assert_eq!(b.master_advert_interval(), ms(200));
    assert_eq!(sim.masters(0, 51), vec![0]);

    let mut sim = pair(
        config(Version::V2, 100, "10.99.0.11", Duration::from_secs(1)),
        config(Version::V2, 90, "10.99.0.12", Duration::from_secs(2)),
    );
    sim.run_until(at_ms(10_000));
    assert_eq!(
        sim.masters(0, 51),
        vec![0, 1],
        "v2 interval mismatch: split brain"
    );
}

#[test]
fn receive_checks_drop_count_and_report_bad_ttl_checksum_and_vrid() {
    let mut inst = Instance::new(v3(90, "10.99.0.12")).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    let good = advert_bytes(v3(100, "10.99.0.11"));
    let mut bad_ttl = rx("10.99.0.11");
    bad_ttl.ttl = 64;
    inst.handle_packet(at_ms(1), &bad_ttl, &good);
    let mut corrupt = good.clone();
    corrupt[2] ^= 1;
    inst.handle_packet(at_ms(2), &rx("10.99.0.11"), &corrupt);
    let mut other = v3(100, "10.99.0.11");
    other.vrid = 52;
    inst.handle_packet(at_ms(3), &rx("10.99.0.11"), &advert_bytes(other));
    inst.handle_packet(at_ms(4), &rx("10.99.0.11"), &good[..5]);
    let reasons: Vec<_> = std::iter::from_fn(|| inst.poll_event())
        .filter_map(|e| match e {
            Event::PacketDropped { reason, .. } => Some(reason),
            _ => None,
        })
        .collect();
    assert!(matches!(reasons[0], DropReason::Ttl { received: 64 }));
    assert!(matches!(
        reasons[1],
        DropReason::Checksum {
            other_form_matches: false
        }
    ));
    assert!(matches!(reasons[2], DropReason::Vrid { received: 52 }));
    assert!(matches!(reasons[3], DropReason::Malformed(_)));
    let s = inst.statistics();
    assert_eq!(
        (
            s.ip_ttl_errors,
            s.checksum_errors,
            s.vrid_errors,
            s.packet_length_errors
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(inst.state(), State::Backup, "nothing changed");
    assert_eq!(inst.master_address(), None);
}

#[test]
fn v3_checksum_form_mismatch_is_named() {
    let mut c = v3(90, "10.99.0.12");
    c.v3_checksum_as_v2 = true;
    let mut inst = Instance::new(c).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    inst.handle_packet(
        at_ms(1),
        &rx("10.99.0.11"),
        &advert_bytes(v3(100, "10.99.0.11")),
    );
    let reason = first_drop(&mut inst).unwrap();
    assert_eq!(
        reason,
        DropReason::Checksum {
            other_form_matches: true
        }
    );
    assert!(reason.to_string().contains("v3_checksum_as_v2"), "{reason}");
}

#[test]
fn ah_authentication_is_recognised_and_refused_with_its_own_counter() {
    let mut inst = Instance::new(v2(90, "10.99.0.12")).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    let mut bytes = advert_bytes(v2(100, "10.99.0.11"));
    bytes[4] = 2; // auth type AH
    bytes[6] = 0;
    bytes[7] = 0;
    // Recompute the v2 checksum (over the message only).
    let sum = vrrp_core::wire::checksum::of(&[&bytes[..]]);
    bytes[6..8].copy_from_slice(&sum.to_be_bytes());
    inst.handle_packet(at_ms(1), &rx("10.99.0.11"), &bytes);
    assert_eq!(inst.statistics().ip_ah_auth, 1);
    assert_eq!(first_drop(&mut inst), Some(DropReason::IpAh));
}

#[test]
fn unicast_sends_to_each_peer_and_accepts_only_peers() {
    let mut a = v3(100, "10.99.0.11");
    a.unicast_peers = vec![ip("10.99.0.12"), ip("10.99.0.13")];
    let mut b = v3(90, "10.99.0.12");
    b.unicast_peers = vec![ip("10.99.0.11")];
    let mut sim = pair(a, b);
    sim.run_until(at_ms(1000));
    assert_eq!(sim.masters(0, 51), vec![0]);
    let destinations: std::collections::BTreeSet<_> = sim
        .trace()
        .iter()
        .filter(|e| e.node == Some(0))
        .filter_map(|e| match e.kind {
            TraceKind::Sent { destination, .. } => Some(destination),
            _ => None,
        })
        .collect();
    assert_eq!(
        destinations,
        [ip("10.99.0.12"), ip("10.99.0.13")].into_iter().collect()
    );

    let mut c = v3(90, "10.99.0.12");
    c.unicast_peers = vec![ip("10.99.0.11")];
    let mut inst = Instance::new(c).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    inst.handle_packet(
        at_ms(1),
        &rx("10.99.0.99"),
        &advert_bytes(v3(100, "10.99.0.99")),
    );
    assert_eq!(inst.statistics().unknown_peer, 1);
}

#[test]
fn sync_group_members_move_together_and_fault_pulls_the_group() {
    let mut a = v3(100, "10.99.0.11");
    a.vrid = 1;
    let mut b = v3(100, "10.99.0.11");
    b.vrid = 2;
    b.advert_interval = ms(1000); // b alone would take ~3.2 s to become master
    let mut group = SyncGroup::new(vec![Instance::new(a).unwrap(), Instance::new(b).unwrap()]);
    group.handle_command_all(at_ms(0), Command::Start);
    let t = group.poll_timeout().unwrap();
    group.handle_timeout(t);
    assert_eq!(group.member(0).unwrap().state(), State::Master);
    assert_eq!(
        group.member(1).unwrap().state(),
        State::Master,
        "pulled along at once"
    );
    group.handle_command(t, 1, Command::EnterFault(FaultCause::InterfaceDown));
    assert_eq!(group.member(0).unwrap().state(), State::Fault);
    assert_eq!(group.member(1).unwrap().state(), State::Fault);
    group.handle_command(t, 1, Command::LeaveFault(FaultCause::InterfaceDown));
    assert_eq!(group.member(0).unwrap().state(), State::Backup);
    assert_eq!(group.member(1).unwrap().state(), State::Backup);
    // A higher-priority master for member 0 sends the whole group back to backup.
    let t2 = group.poll_timeout().unwrap();
    group.handle_timeout(t2);
    assert_eq!(group.member(1).unwrap().state(), State::Master);
    let mut hi = v3(200, "10.99.0.20");
    hi.vrid = 1;
    group.handle_packet(t2, 0, &rx("10.99.0.20"), &advert_bytes(hi));
    assert_eq!(group.member(0).unwrap().state(), State::Backup);
    assert_eq!(group.member(1).unwrap().state(), State::Backup);
}

#[test]
fn lossy_duplicating_reordering_network_still_elects_one_master() {
    let mut sim = Sim::new(42);
    sim.set_conditions(NetworkConditions {
        loss: 0.2,
        duplicate: 0.2,
        delay_min: Duration::from_micros(50),
        delay_max: Duration::from_millis(20),
    });
    for (i, p) in [100, 90, 80].into_iter().enumerate() {
        sim.add_node(&format!("r{i}"), 0, v3(p, &format!("10.99.0.{}", 11 + i)))
            .unwrap();
    }
    sim.run_until(at_ms(5000));
    assert_eq!(sim.masters(0, 51), vec![0]);
}

fn first_drop(inst: &mut Instance) -> Option<DropReason> {
    std::iter::from_fn(|| inst.poll_event()).find_map(|e| match e {
        Event::PacketDropped { reason, .. } => Some(reason),
        _ => None,
    })
}

fn rx(source: &str) -> RxInfo {
    RxInfo {
        source: ip(source),
        destination: ip("224.0.0.18"),
        ttl: 255,
    }
}

/// The advert an instance with this configuration sends as master.
fn advert_bytes(config: InstanceConfig) -> Vec<u8> {
    let priority = config.priority;
    let mut c = config;
    c.priority = 255; // owner: master at once
    let mut inst = Instance::new(c).unwrap();
    inst.handle_command(at_ms(0), Command::Start);
    if priority != 255 {
        inst.handle_command(at_ms(0), Command::SetPriority(priority));
    }
    let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
    let mut last = None;
    while let Some(t) = inst.poll_transmit(&mut buf) {
        if let Transmit::Advertisement {
            len, priority: p, ..
        } = t
        {
            if p == priority {
                last = Some(buf[..len].to_vec());
            }
        }
    }
    last.expect("advert")
}

#[test]
fn master_sends_adverts_every_advertisement_interval_without_drift() {
    let mut sim = pair(v3(100, "10.99.0.11"), v3(90, "10.99.0.12"));
    sim.run_until(at_ms(5000));
    let sent: Vec<_> = sim
        .trace()
        .iter()
        .filter(|e| e.node == Some(0) && matches!(e.kind, TraceKind::Sent { .. }))
        .map(|e| e.at)
        .collect();
    assert!(sent.len() > 40);
    for w in sent.windows(2) {
        assert_eq!(w[1] - w[0], ms(100));
    }
    // The backup never sends while the master is alive.
    assert!(!sim
        .trace()
        .iter()
        .any(|e| e.node == Some(1) && matches!(e.kind, TraceKind::Sent { .. })));
}

#[test]
fn address_owner_discards_adverts_and_stays_master() {
    let mut sim = pair(v3(255, "10.99.0.11"), v3(254, "10.99.0.12"));
    sim.apply(Action::Partition(vec![vec![0], vec![1]]));
    sim.run_until(at_ms(1000));
    assert_eq!(sim.masters(0, 51), vec![0, 1]);
    sim.apply(Action::Heal);
    sim.run_until(at_ms(2000));
    assert_eq!(sim.masters(0, 51), vec![0]);
    let owner = sim.node(0).instance.as_ref().unwrap();
    assert!(owner.statistics().owner_discards > 0);
    assert_eq!(
        owner.statistics().new_master_reason,
        vrrp_core::NewMasterReason::Priority
    );
}

#[test]
fn accept_mode_only_as_master_and_only_when_owner_or_configured() {
    let mut c = v3(100, "10.99.0.11");
    c.accept = true;
    let mut accept = Instance::new(c).unwrap();
    let mut no_accept = Instance::new(v3(100, "10.99.0.11")).unwrap();
    let mut owner = Instance::new(v3(255, "10.99.0.11")).unwrap();
    for i in [&mut accept, &mut no_accept, &mut owner] {
        i.handle_command(at_ms(0), Command::Start);
        assert_eq!(i.accepts_virtual_address_traffic(), i.is_address_owner());
        i.handle_timeout(at_ms(1000));
        assert_eq!(i.state(), State::Master);
    }
    assert!(accept.accepts_virtual_address_traffic());
    assert!(!no_accept.accepts_virtual_address_traffic());
    assert!(owner.accepts_virtual_address_traffic());
}

#[test]
fn ipv6_election_and_failover_with_the_ipv6_pseudo_header() {
    let mk = |p, a: &str| {
        let mut c = InstanceConfig::new(Version::V3, 51, p, ip(a), vec![ip("2001:db8::200")]);
        c.advert_interval = ms(100);
        c
    };
    let mut sim = pair(mk(100, "fe80::11"), mk(90, "fe80::12"));
    sim.schedule(at_ms(3000), Action::Crash(0));
    sim.run_until(at_ms(4000));
    assert_eq!(sim.masters(0, 51), vec![1]);
    let gap = became_master(&sim, 1) - last_sent(&sim, 0, at_ms(3000));
    assert_eq!(gap, Duration::from_nanos(364_843_750));
    let sent_to: Vec<_> = sim
        .trace()
        .iter()
        .filter_map(|e| match e.kind {
            TraceKind::Sent { destination, .. } => Some(destination),
            _ => None,
        })
        .collect();
    assert!(sent_to.iter().all(|d| *d == ip("ff02::12")));
    assert_eq!(
        sim.node(1)
            .instance
            .as_ref()
            .unwrap()
            .statistics()
            .checksum_errors,
        0
    );
}

#[test]
fn a_reload_of_the_priority_alone_keeps_the_instance_and_any_other_restarts_it() {
    let mut sim = pair(v3(200, "10.99.0.1"), v3(100, "10.99.0.2"));
    sim.run_until(at_ms(1_000));
    assert_eq!(sim.state(0), Some(State::Master));
    let took_over = became_master(&sim, 0);
    // The priority alone: still master, same instance (no new transition), new priority sent.
    sim.schedule(at_ms(1_000), Action::Reload(0, v3(150, "10.99.0.1")));
    sim.run_until(at_ms(2_000));
    assert_eq!(sim.state(0), Some(State::Master));
    assert_eq!(became_master(&sim, 0), took_over);
    assert_eq!(sim.node(0).config.priority, 150);
    assert!(sim.trace().iter().any(|e| e.node == Some(0)
        && e.at > at_ms(1_000)
        && matches!(e.kind, TraceKind::Sent { priority: 150, .. })));
    // Another interval: stopped (priority 0, so lvs2 takes over after its skew time) and
    // started afresh as a backup, which preempts lvs2 after its master-down interval.
    let mut slower = v3(150, "10.99.0.1");
    slower.advert_interval = ms(200);
    sim.schedule(at_ms(2_000), Action::Reload(0, slower));
    sim.run_until(at_ms(2_100));
    let skew = Duration::from_nanos(100_000_000 * 156 / 256);
    assert_eq!(became_master(&sim, 1), at_ms(2_000) + skew);
    assert_eq!(sim.state(0), Some(State::Backup));
    sim.run_until(at_ms(4_000));
    assert_eq!(sim.state(0), Some(State::Master));
    assert_eq!(sim.state(1), Some(State::Backup));
}
