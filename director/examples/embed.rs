//! A director embedded in a Rust program: the configuration is built in code (no file), the
//! director is started, its typed events are printed, and it is stopped.
//!
//! ```text
//! embed INTERFACE VIP/PREFIX [PRIORITY] [SECONDS]
//! ```
//!
//! It runs one VRRPv3 instance (VRID 51, 100 ms adverts) on INTERFACE holding VIP, prints
//! every event for SECONDS (default 5), then shuts down: a priority-0 advert hands the VIP to
//! a peer at once. As root, with INTERFACE in this network namespace.

use std::time::{Duration, Instant};

use director::{Director, DirectorEvent, Options};
use keepalived_conf::{Config, IpAddress, Timer, VrrpInstance};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(interface), Some(vip)) = (args.first(), args.get(1)) else {
        return Err("usage: embed INTERFACE VIP/PREFIX [PRIORITY] [SECONDS]".into());
    };
    let priority: u8 = args.get(2).map(|p| p.parse()).transpose()?.unwrap_or(100);
    let seconds: f64 = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
    let (address, prefix) = vip.split_once('/').unwrap_or((vip, "32"));

    // What keepalived.conf would say, in code.
    let mut instance = VrrpInstance::new("VI_1");
    instance.interface = Some(interface.clone());
    instance.virtual_router_id = Some(51);
    instance.priority = priority;
    instance.version = Some(3);
    instance.advert_int = Timer(100_000); // 100 ms, in microseconds
    instance.virtual_ipaddress = vec![IpAddress {
        prefix: Some(prefix.parse()?),
        ..IpAddress::new(address.parse()?)
    }];
    let config = Config {
        vrrp_instances: vec![instance],
        ..Config::default()
    };

    let director = Director::start(config, Options::default())?;
    let mut events = director.events();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match events.next_timeout(left) {
            Some(DirectorEvent::Stopped(why)) => {
                println!("stopped by itself: {why:?}");
                return Err("the director stopped".into());
            }
            Some(event) => println!("event: {event}"),
            None => {}
        }
    }
    let status = director.status()?;
    for i in &status.instances {
        println!(
            "status: {} {} priority {} VIPs {:?}",
            i.name, i.state, i.effective_priority, i.virtual_addresses
        );
    }
    director.shutdown()?;
    println!("shut down");
    Ok(())
}
