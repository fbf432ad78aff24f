//! Interoperability with keepalived 2.2.7 (privileged): keepalived in one namespace, our VRRP
//! runner in the other, one VRID. Either one is master, failover goes both ways, and the
//! elections come out as keepalived's own would. VRRPv2 with PASS authentication and VRRPv3.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::netns::{require_root, veth_pair, Netns};
use director::vrrp::{InstanceSpec, VrrpRunner};
use vrrp_core::wire::Version;
use vrrp_core::{State, TransitionReason};

const VIP: &str = "10.199.5.200";

/// keepalived running in a namespace, stopped (SIGTERM: priority-0 advert) on drop.
struct Keepalived {
    child: Child,
    dir: PathBuf,
}

impl Keepalived {
    fn start(ns: &Netns, version: Version, priority: u8, tag: &str) -> Keepalived {
        let dir = std::env::temp_dir().join(format!("ha-ka-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (version_line, interval, auth) = match version {
            Version::V2 => (
                "vrrp_version 2",
                "1",
                "authentication {\n        auth_type PASS\n        auth_pass 1111\n    }",
            ),
            Version::V3 => ("vrrp_version 3", "0.1", ""),
        };
        let conf = format!(
            "global_defs {{\n    router_id ka_{tag}\n    {version_line}\n    script_user root\n}}\n\
             vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
             priority {priority}\n    advert_int {interval}\n    {auth}\n    virtual_ipaddress {{\n        {VIP}/24\n    }}\n}}\n"
        );
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).unwrap();
        let pid = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(&path)
            .args([
                "-p",
                &pid("k.pid"),
                "-r",
                &pid("v.pid"),
                "-c",
                &pid("c.pid"),
                "-b",
                &pid("b.pid"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("keepalived (apt-get install keepalived)");
        Keepalived { child, dir }
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn spec(version: Version, priority: u8, primary: &str) -> InstanceSpec {
    common::runner::vi_1(version, priority, primary, VIP)
}

fn has_vip(ns: &Netns) -> bool {
    testkit::has_address(ns, "eth0", &format!("{VIP}/24"))
}

use common::runner::spawn_in as start_runner;
use testkit::wait_until;

fn state(r: &VrrpRunner) -> State {
    r.status()[0].state
}

fn interop(tag: &str, version: Version) {
    let (ka_ns, ha_ns) = veth_pair(
        tag,
        ("10.199.5.1/24", "fe80::a/64"),
        ("10.199.5.2/24", "fe80::b/64"),
    );
    let slow = Duration::from_secs(if version == Version::V2 { 8 } else { 3 });
    // keepalived's own start (a process reading its configuration and opening its sockets),
    // then its master-down interval: on a loaded CI machine the start alone took over 3 s.
    let startup = slow + Duration::from_secs(5);

    // keepalived (100) is master, we (90) follow it.
    let ka = Keepalived::start(&ka_ns, version, 100, tag);
    let ours = start_runner(&ha_ns, spec(version, 90, "10.199.5.2"));
    wait_until("keepalived master, VIP on its side", startup, || {
        has_vip(&ka_ns)
    });
    wait_until("we follow keepalived", slow, || {
        ours.status()[0].master_address == Some("10.199.5.1".parse().unwrap())
    });
    assert_eq!(state(&ours), State::Backup);
    assert!(!has_vip(&ha_ns));
    let s = ours.status()[0].statistics.clone();
    assert!(s.rcvd_advertisements > 0);
    assert_eq!(
        s.checksum_errors
            + s.auth_failures
            + s.auth_type_mismatch
            + s.version_errors
            + s.address_list_errors,
        0,
        "{s:?}"
    );

    // keepalived stops (priority-0 advert): we take over within the skew time.
    ka.stop();
    wait_until("we become master", slow, || state(&ours) == State::Master);
    assert_eq!(
        ours.status()[0].last_transition.unwrap().reason,
        TransitionReason::MasterStopped
    );
    wait_until("VIP moves to us", slow, || {
        has_vip(&ha_ns) && !has_vip(&ka_ns)
    });

    // keepalived comes back with the higher priority and preempts us.
    let ka = Keepalived::start(&ka_ns, version, 100, tag);
    wait_until("keepalived preempts us", slow * 2, || {
        state(&ours) == State::Backup
    });
    wait_until("VIP back on keepalived only", slow, || {
        has_vip(&ka_ns) && !has_vip(&ha_ns)
    });
    ka.stop();
    wait_until("we take over again", slow, || state(&ours) == State::Master);
    ours.shutdown().unwrap();

    // Roles reversed: we (100) are master and keepalived (90) follows us.
    let ours = start_runner(&ha_ns, spec(version, 100, "10.199.5.2"));
    wait_until("we are master", slow, || state(&ours) == State::Master);
    let ka = Keepalived::start(&ka_ns, version, 90, tag);
    std::thread::sleep(slow / 2);
    assert_eq!(
        state(&ours),
        State::Master,
        "keepalived at 90 must not take over"
    );
    assert!(has_vip(&ha_ns) && !has_vip(&ka_ns));
    // We stop gracefully: keepalived takes over.
    ours.shutdown().unwrap();
    wait_until("keepalived takes over from us", slow, || has_vip(&ka_ns));
    ka.stop();
}

#[test]
fn interop_with_keepalived_vrrpv2_pass_auth() {
    if !require_root("interop_with_keepalived_vrrpv2_pass_auth") {
        return;
    }
    interop("k2", Version::V2);
}

#[test]
fn interop_with_keepalived_vrrpv3() {
    if !require_root("interop_with_keepalived_vrrpv3") {
        return;
    }
    interop("k3", Version::V3);
}
