//! Two VRRP runners in two namespaces (privileged): election, the VIP on the master only, a
//! graceful failover, preemption, and link down -> Fault moving it.

mod common;

use std::time::Duration;

use common::netns::{require_root, veth_pair, Netns};
use director::vrrp::{InstanceSpec, RunnerCommand, VrrpRunner};
use vrrp_core::wire::Version;
use vrrp_core::State;

const VIP: &str = "10.199.4.200";

fn spec(priority: u8, primary: &str) -> InstanceSpec {
    common::runner::vi_1(Version::V3, priority, primary, VIP)
}

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "eth0", &format!("{VIP}/24"))
}

fn wait_until(what: &str, done: impl FnMut() -> bool) {
    testkit::wait_until(what, Duration::from_secs(5), done);
}

use common::runner::spawn_in as start_in;

fn state(r: &VrrpRunner) -> State {
    r.status()[0].state
}

#[test]
fn election_graceful_failover_preemption_and_fault_move_the_vip() {
    if !require_root("election_graceful_failover_preemption_and_fault_move_the_vip") {
        return;
    }
    let (na, nb) = veth_pair(
        "vr",
        ("10.199.4.1/24", "fe80::a/64"),
        ("10.199.4.2/24", "fe80::b/64"),
    );
    let lvs1 = start_in(&na, spec(100, "10.199.4.1"));
    let lvs2 = start_in(&nb, spec(90, "10.199.4.2"));
    wait_until("lvs1 master", || {
        state(&lvs1) == State::Master && state(&lvs2) == State::Backup
    });
    wait_until("VIP on lvs1", || has_vip(&na));
    assert!(!has_vip(&nb));
    assert_eq!(
        lvs2.status()[0].master_address,
        Some("10.199.4.1".parse().unwrap())
    );

    // Graceful: lvs1 sends priority 0 and removes the VIP; lvs2 takes over in skew time.
    lvs1.shutdown().unwrap();
    assert!(!has_vip(&na), "VIP removed on shutdown");
    wait_until("lvs2 master", || state(&lvs2) == State::Master);
    wait_until("VIP on lvs2", || has_vip(&nb));
    let t = lvs2.status()[0].last_transition.unwrap();
    assert_eq!(t.reason, vrrp_core::TransitionReason::MasterStopped);

    // lvs1 comes back and preempts; then its link goes down (Fault) and lvs2 takes over.
    let lvs1 = start_in(&na, spec(100, "10.199.4.1"));
    wait_until("lvs1 preempts", || {
        state(&lvs1) == State::Master && state(&lvs2) == State::Backup
    });
    wait_until("VIP back on lvs1 only", || has_vip(&na) && !has_vip(&nb));
    lvs1.command(RunnerCommand::Instance {
        name: "VI_1".into(),
        command: vrrp_core::Command::EnterFault(vrrp_core::FaultCause::InterfaceDown),
    });
    wait_until("lvs1 fault, lvs2 master", || {
        state(&lvs1) == State::Fault && state(&lvs2) == State::Master
    });
    wait_until("VIP on lvs2 only", || has_vip(&nb) && !has_vip(&na));
    lvs1.command(RunnerCommand::Instance {
        name: "VI_1".into(),
        command: vrrp_core::Command::LeaveFault(vrrp_core::FaultCause::InterfaceDown),
    });
    wait_until("lvs1 back and preempting", || state(&lvs1) == State::Master);

    // The link really going down: both ends of the veth lose carrier, both go to Fault and
    // give up the VIP; when it comes back they elect lvs1 again.
    na.exec(&["ip", "link", "set", "eth0", "down"]);
    wait_until("link down -> Fault", || {
        state(&lvs1) == State::Fault && state(&lvs2) == State::Fault
    });
    assert!(!has_vip(&na) && !has_vip(&nb));
    na.exec(&["ip", "link", "set", "eth0", "up"]);
    wait_until("link up -> lvs1 master again", || {
        state(&lvs1) == State::Master && state(&lvs2) == State::Backup
    });
    drop(lvs1);
    lvs2.shutdown().unwrap();
    assert!(!has_vip(&nb));
}

#[test]
fn heartbeat_advances_while_idle_and_a_kept_shutdown_leaves_the_vip() {
    if !require_root("heartbeat_advances_while_idle_and_a_kept_shutdown_leaves_the_vip") {
        return;
    }
    let (na, _nb) = veth_pair(
        "vh",
        ("10.199.5.1/24", "fe80::a/64"),
        ("10.199.5.2/24", "fe80::b/64"),
    );
    let mut spec = spec(100, "10.199.5.1");
    spec.config.virtual_addresses = vec!["10.199.5.200".parse().unwrap()];
    spec.addresses[0].address = "10.199.5.200".parse().unwrap();
    let lvs1 = start_in(&na, spec);
    let vip = || testkit::has_address(&na, "eth0", "10.199.5.200/24");
    wait_until("lvs1 master", || state(&lvs1) == State::Master);
    wait_until("VIP on lvs1", vip);
    // FAULT has no timer: the thread would sleep until a packet or a command came, but it
    // turns at least every HEARTBEAT_INTERVAL.
    lvs1.command(RunnerCommand::Instance {
        name: "VI_1".into(),
        command: vrrp_core::Command::EnterFault(vrrp_core::FaultCause::InterfaceDown),
    });
    wait_until("lvs1 fault", || state(&lvs1) == State::Fault);
    let handle = lvs1.status_handle();
    let before = handle.heartbeat();
    std::thread::sleep(director::vrrp::HEARTBEAT_INTERVAL * 5);
    let turns = handle.heartbeat() - before;
    assert!(turns >= 3, "{turns} turns in 5 heartbeat intervals");
    lvs1.command(RunnerCommand::Instance {
        name: "VI_1".into(),
        command: vrrp_core::Command::LeaveFault(vrrp_core::FaultCause::InterfaceDown),
    });
    wait_until("lvs1 master again", || state(&lvs1) == State::Master);
    wait_until("VIP back", vip);
    // keepalived's --dont-release-vrrp: the VIP stays after the thread has ended.
    lvs1.shutdown_keeping_addresses().unwrap();
    let after = handle.heartbeat();
    std::thread::sleep(director::vrrp::HEARTBEAT_INTERVAL * 2);
    assert_eq!(handle.heartbeat(), after, "no heartbeat once stopped");
    assert!(vip(), "the VIP is left in place");
}

/// `track_src_ip` as keepalived documents it (the runner's `InstanceSpec::track_src_ip`, for
/// embedders; `ha run` refuses the keyword, because keepalived 2.2.7 and 2.4.3 never fault on
/// it): while the configured source address is off the interface the instance is in FAULT
/// without its VIP, and it comes back when the address does.
#[test]
fn track_src_ip_faults_while_the_source_address_is_gone() {
    if !require_root("track_src_ip_faults_while_the_source_address_is_gone") {
        return;
    }
    let (na, _nb) = veth_pair(
        "vs",
        ("10.199.4.1/24", "fe80::a/64"),
        ("10.199.4.2/24", "fe80::b/64"),
    );
    let mut spec = spec(100, "10.199.4.1");
    spec.track_src_ip = true;
    let lvs1 = start_in(&na, spec);
    wait_until("lvs1 master with the VIP", || {
        state(&lvs1) == State::Master && has_vip(&na)
    });
    na.exec(&["ip", "addr", "del", "10.199.4.1/24", "dev", "eth0"]);
    wait_until("FAULT without the VIP", || {
        state(&lvs1) == State::Fault && !has_vip(&na)
    });
    na.exec(&["ip", "addr", "add", "10.199.4.1/24", "dev", "eth0"]);
    wait_until("master again with the VIP", || {
        state(&lvs1) == State::Master && has_vip(&na)
    });
    lvs1.shutdown().unwrap();
}
