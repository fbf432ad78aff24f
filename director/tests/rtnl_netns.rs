//! Virtual addresses and link state over rtnetlink in a namespace (privileged), checked
//! against what `ip addr` shows.

mod common;

use common::netns::{require_root, veth_pair};
use director::net::{interface_index, InterfaceAddress, LinkStatus, NetChange, NetWatcher, Rtnl};
use netlink_packet_route::address::AddressScope;

#[test]
fn virtual_addresses_are_added_with_label_and_removed_idempotently() {
    if !require_root("virtual_addresses_are_added_with_label_and_removed_idempotently") {
        return;
    }
    let (na, _nb) = veth_pair(
        "ra",
        ("10.199.1.1/24", "fe80::a/64"),
        ("10.199.1.2/24", "fe80::b/64"),
    );
    let _ns = na.name.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            na.enter();
            let ifindex = interface_index("eth0").unwrap();
            let mut rtnl = Rtnl::open().unwrap();
            let vip = InterfaceAddress {
                ifindex,
                address: "10.199.1.200".parse().unwrap(),
                prefix_len: 32,
                label: Some("eth0:vi1".into()),
                scope: AddressScope::Universe,
                options: Default::default(),
            };
            let vip6 = InterfaceAddress {
                ifindex,
                address: "2001:db8::200".parse().unwrap(),
                prefix_len: 64,
                label: None,
                scope: AddressScope::Universe,
                options: Default::default(),
            };
            assert!(rtnl.add_address(&vip).unwrap());
            assert!(
                !rtnl.add_address(&vip).unwrap(),
                "second add reports it was there"
            );
            assert!(rtnl.add_address(&vip6).unwrap());
            let listed = rtnl.addresses(ifindex).unwrap();
            assert!(listed.contains(&(vip.address, 32)), "{listed:?}");
            assert!(listed.contains(&(vip6.address, 64)), "{listed:?}");
            let shown = na.output(&["ip", "addr", "show", "dev", "eth0"]);
            assert!(
                shown.contains("inet 10.199.1.200/32 scope global eth0:vi1"),
                "{shown}"
            );
            assert!(
                shown.contains("inet6 2001:db8::200/64 scope global"),
                "{shown}"
            );
            assert!(rtnl.delete_address(&vip).unwrap());
            assert!(
                !rtnl.delete_address(&vip).unwrap(),
                "second delete reports it was gone"
            );
            assert!(rtnl.delete_address(&vip6).unwrap());
            let shown = na.output(&["ip", "addr", "show", "dev", "eth0"]);
            assert!(!shown.contains("10.199.1.200"), "{shown}");
            assert!(!shown.contains("2001:db8::200"), "{shown}");
        });
    });
}

#[test]
fn link_down_and_up_are_seen() {
    if !require_root("link_down_and_up_are_seen") {
        return;
    }
    let (na, _nb) = veth_pair(
        "rl",
        ("10.199.2.1/24", "fe80::a/64"),
        ("10.199.2.2/24", "fe80::b/64"),
    );
    std::thread::scope(|s| {
        s.spawn(|| {
            na.enter();
            let ifindex = interface_index("eth0").unwrap();
            let mut rtnl = Rtnl::open().unwrap();
            let eth0 = |rtnl: &mut Rtnl| {
                rtnl.links()
                    .unwrap()
                    .into_iter()
                    .find(|l| l.ifindex == ifindex)
                    .unwrap()
            };
            assert!(eth0(&mut rtnl).usable);
            let mut watcher = NetWatcher::open().unwrap();
            // The watcher does not block: wait (at most 5 s) for a change that matches.
            let mut next = |wanted: &dyn Fn(&NetChange) -> bool| {
                testkit::wait_until("a change", std::time::Duration::from_secs(5), || {
                    watcher.next_changes().unwrap().iter().any(wanted)
                });
            };
            let link = |c: &NetChange| -> Option<LinkStatus> {
                match c {
                    NetChange::Link(l) if l.ifindex == ifindex => Some(l.clone()),
                    _ => None,
                }
            };
            na.exec(&["ip", "link", "set", "eth0", "down"]);
            next(&|c| link(c).is_some_and(|l| l.name == "eth0" && !l.usable));
            assert!(!eth0(&mut rtnl).usable);
            na.exec(&["ip", "link", "set", "eth0", "up"]);
            next(&|c| link(c).is_some_and(|l| l.usable));
            // Addresses added and removed behind our back are announced too.
            na.exec(&["ip", "addr", "add", "10.199.2.77/32", "dev", "eth0"]);
            next(&|c| {
                matches!(c, NetChange::AddressAdded { ifindex: i, address, prefix_len: 32 }
                    if *i == ifindex && *address == "10.199.2.77".parse::<std::net::IpAddr>().unwrap())
            });
            na.exec(&["ip", "addr", "del", "10.199.2.77/32", "dev", "eth0"]);
            next(&|c| {
                matches!(c, NetChange::AddressRemoved { ifindex: i, address, .. }
                    if *i == ifindex && *address == "10.199.2.77".parse::<std::net::IpAddr>().unwrap())
            });
            let up = eth0(&mut rtnl);
            assert!(up.usable);
        });
    });
}

#[test]
fn vmac_is_a_private_macvlan_with_the_virtual_router_mac() {
    if !require_root("vmac_is_a_private_macvlan_with_the_virtual_router_mac") {
        return;
    }
    let (na, _nb) = veth_pair(
        "rv",
        ("10.199.6.1/24", "fe80::a/64"),
        ("10.199.6.2/24", "fe80::b/64"),
    );
    let _ns = na.name.clone();
    std::thread::scope(|s| {
        s.spawn(|| {
            na.enter();
            let parent = interface_index("eth0").unwrap();
            let mut rtnl = Rtnl::open().unwrap();
            let mac = director::net::virtual_router_mac(51, false);
            let vmac = rtnl.create_vmac(parent, "vrrp.51", mac).unwrap();
            // A second creation replaces the leftover of a crashed run.
            let vmac = {
                let again = rtnl.create_vmac(parent, "vrrp.51", mac).unwrap();
                assert_ne!(again, vmac);
                again
            };
            rtnl.set_link_up(vmac).unwrap();
            let shown = na.output(&["ip", "-d", "link", "show", "vrrp.51"]);
            assert!(shown.contains("vrrp.51@eth0"), "{shown}");
            assert!(shown.contains("link/ether 00:00:5e:00:01:33"), "{shown}");
            assert!(shown.contains("macvlan mode private"), "{shown}");
            assert!(
                shown.contains("state UP") || shown.contains(",UP"),
                "{shown}"
            );
            rtnl.delete_link(vmac).unwrap();
            assert!(rtnl.links().unwrap().iter().all(|l| l.name != "vrrp.51"));
        });
    });
}
