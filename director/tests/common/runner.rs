//! Helpers for tests that run VRRP directors in namespaces.
#![allow(dead_code)]

use std::time::Duration;

use director::vrrp::{InstanceSpec, VirtualAddress, VrrpRunner};
use netlink_packet_route::address::AddressScope;
use vrrp_core::wire::Version;
use vrrp_core::{Authentication, InstanceConfig};

use testkit::Netns;

/// `VI_1` on `eth0`, VRID 51, one VIP (/24): VRRPv3 at 100 ms, or VRRPv2 at 1 s with PASS
/// authentication `1111`.
pub fn vi_1(version: Version, priority: u8, primary: &str, vip: &str) -> InstanceSpec {
    let mut config = InstanceConfig::new(
        version,
        51,
        priority,
        primary.parse().unwrap(),
        vec![vip.parse().unwrap()],
    );
    match version {
        Version::V2 => config.authentication = Authentication::password("1111"),
        Version::V3 => config.advert_interval = Duration::from_millis(100),
    }
    InstanceSpec {
        name: "VI_1".into(),
        interface: "eth0".into(),
        config,
        addresses: vec![VirtualAddress {
            address: vip.parse().unwrap(),
            prefix_len: 24,
            device: None,
            label: None,
            scope: AddressScope::Universe,
            options: Default::default(),
            no_track: false,
        }],
        vmac: None,
        routes: Vec::new(),
        ttl: 255,
        sync_group: None,
        config_fault: None,
        dont_track_primary: false,
        promote_secondaries: false,
        dynamic_interfaces: false,
        track_src_ip: false,
        garp_interval: Duration::ZERO,
        garp_extra_if: None,
        gna_interval: Duration::ZERO,
        rules: Vec::new(),
    }
}

/// Starts a VRRP runner whose sockets live in `ns`.
pub fn spawn_in(ns: &Netns, spec: InstanceSpec) -> VrrpRunner {
    std::thread::scope(|s| {
        s.spawn(|| {
            ns.enter();
            VrrpRunner::spawn(vec![spec]).unwrap().0
        })
        .join()
        .unwrap()
    })
}
