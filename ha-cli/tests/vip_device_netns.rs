//! A VIP on another device than the instance's (`10.0.0.254/24 dev eth1`, the NAT gateway of
//! the LVS setups) is announced by gratuitous ARP on that device, as keepalived does: the real
//! servers behind it are only on that link, and after a failover they must learn the new
//! master's MAC (privileged; no IPVS needed).

mod common;

use std::time::Duration;

use common::lab::{Lab, GATEWAY_VIP, INT_IF};
use common::netns::{require_root, Netns};
use testkit::wait_until;

fn neighbour_mac(ns: &Netns, address: &str) -> Option<String> {
    let shown = ns.output(&["ip", "neigh", "show", address, "dev", INT_IF]);
    let mut words = shown.split_whitespace().skip_while(|w| *w != "lladdr");
    words.next()?;
    words.next().map(str::to_string)
}

fn mac(ns: &Netns) -> String {
    let link = ns.output(&["ip", "-o", "link", "show", "dev", INT_IF]);
    let mut words = link.split_whitespace().skip_while(|w| *w != "link/ether");
    words.next();
    words.next().unwrap().to_string()
}

#[test]
fn a_vip_with_dev_is_announced_on_that_device() {
    if !require_root("a_vip_with_dev_is_announced_on_that_device") {
        return;
    }
    let lab = Lab::new();
    // web1 believes the gateway is somewhere else (a crashed master's MAC, say).
    let stale = "02:00:00:00:00:01";
    lab.web1.ns.exec(&[
        "ip",
        "neigh",
        "replace",
        GATEWAY_VIP,
        "lladdr",
        stale,
        "dev",
        INT_IF,
        "nud",
        "stale",
    ]);
    assert_eq!(
        neighbour_mac(&lab.web1.ns, GATEWAY_VIP).as_deref(),
        Some(stale)
    );
    // Past the neighbour lock time, so the announcement may override the entry.
    std::thread::sleep(Duration::from_millis(1100));
    let conf = format!(
        "global_defs {{\n  vrrp_version 3\n}}\nvrrp_instance VI_1 {{\n  interface eth0\n  \
         virtual_router_id 51\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {{\n    \
         192.168.2.200\n    {GATEWAY_VIP}/24 dev {INT_IF}\n  }}\n}}\n"
    );
    let lvs1 = lab.start_director("lvs1", &conf, &[]);
    let want = mac(&lab.lvs1);
    wait_until(
        "web1 learns the gateway VIP at lvs1's eth1",
        Duration::from_secs(10),
        || neighbour_mac(&lab.web1.ns, GATEWAY_VIP).as_deref() == Some(want.as_str()),
    );
    drop(lvs1);
}
