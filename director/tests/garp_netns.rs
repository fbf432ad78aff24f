//! Gratuitous ARP and unsolicited NA between namespaces (privileged): a neighbour that had the
//! virtual address at another MAC learns the new master's MAC, which is what makes the VIP
//! reachable after a failover.

mod common;

use std::time::{Duration, Instant};

use common::netns::{require_root, veth_pair, Netns};
use director::net::{interface_index, GratuitousSender, Rtnl};

fn neighbour(ns: &Netns, addr: &str) -> String {
    ns.output(&["ip", "neigh", "show", addr, "dev", "eth0"])
}

fn mac_text(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn wait_for(ns: &Netns, addr: &str, mac: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let shown = neighbour(ns, addr);
        if shown.contains(mac) || Instant::now() > deadline {
            return shown;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn gratuitous_arp_and_na_move_the_vip_to_the_senders_mac() {
    if !require_root("gratuitous_arp_and_na_move_the_vip_to_the_senders_mac") {
        return;
    }
    let (na, nb) = veth_pair(
        "ga",
        ("10.199.3.1/24", "fe80::a/64"),
        ("10.199.3.2/24", "fe80::b/64"),
    );
    // The client side believes the VIPs are at an old master's MAC.
    nb.exec(&[
        "ip",
        "neigh",
        "add",
        "10.199.3.200",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    nb.exec(&[
        "ip",
        "neigh",
        "add",
        "2001:db8::200",
        "lladdr",
        "02:00:00:00:00:99",
        "dev",
        "eth0",
        "nud",
        "stale",
    ]);
    let mac = std::thread::scope(|s| {
        s.spawn(|| {
            na.enter();
            let ifindex = interface_index("eth0").unwrap();
            let mut rtnl = Rtnl::open().unwrap();
            let link = rtnl
                .links()
                .unwrap()
                .into_iter()
                .find(|l| l.ifindex == ifindex)
                .unwrap();
            let mac = link.mac.expect("veth has a MAC");
            let sender = GratuitousSender::open("eth0", ifindex, mac).unwrap();
            sender
                .announce(
                    &[
                        "10.199.3.200".parse().unwrap(),
                        "2001:db8::200".parse().unwrap(),
                    ],
                    2,
                )
                .unwrap();
            mac
        })
        .join()
        .unwrap()
    });
    let mac = mac_text(mac);
    let v4 = wait_for(&nb, "10.199.3.200", &mac);
    assert!(
        v4.contains(&mac),
        "IPv4 neighbour not updated by the GARP: {v4}"
    );
    let v6 = wait_for(&nb, "2001:db8::200", &mac);
    assert!(
        v6.contains(&mac),
        "IPv6 neighbour not updated by the NA: {v6}"
    );
    assert!(v6.contains("router"), "NA has the Router flag: {v6}");
}
