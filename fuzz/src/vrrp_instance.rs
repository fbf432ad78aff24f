//! Arbitrary packets, timeouts and commands into an instance: no panic, and its invariants
//! hold after every input.

use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;
use vrrp_core::wire::Version;
use vrrp_core::{
    Authentication, Command, FaultCause, Instance, InstanceConfig, RxInfo, State, Transmit,
    TRANSMIT_BUFFER_LEN,
};

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&setup, mut rest)) = data.split_first() else {
        return;
    };
    let version = if setup & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let primary = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut config = InstanceConfig::new(
        version,
        51,
        if setup & 2 == 0 { 100 } else { 255 },
        primary,
        vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 100))],
    );
    if version == Version::V3 {
        config.advert_interval = Duration::from_millis(100);
    } else if setup & 4 != 0 {
        config.authentication = Authentication::password("1111");
    }
    config.preempt = setup & 8 == 0;
    if setup & 16 != 0 {
        config.unicast_peers = vec![IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))];
    }
    config.preempt_delay = Duration::from_millis(u64::from(setup >> 5) * 300);
    let mut instance = Instance::new(config).expect("valid configuration");
    let mut buf = [0u8; TRANSMIT_BUFFER_LEN];
    let mut now = vrrp_core::Instant::ZERO;
    instance.handle_command(now, Command::Start);
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        now = now + Duration::from_millis(u64::from(op >> 3) * 7);
        match op & 7 {
            0 | 1 => {
                // A packet: a length byte, then that many bytes.
                let Some((&len, tail)) = rest.split_first() else {
                    break;
                };
                let len = usize::from(len).min(tail.len());
                let (bytes, tail) = tail.split_at(len);
                rest = tail;
                let rx = RxInfo {
                    source: IpAddr::V4(Ipv4Addr::new(10, 0, 0, op)),
                    destination: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
                    ttl: if op & 1 == 0 { 255 } else { op },
                };
                instance.handle_packet(now, &rx, bytes);
            }
            2 => instance.handle_timeout(now),
            3 => {
                if let Some(t) = instance.poll_timeout() {
                    now = now.max(t);
                    instance.handle_timeout(now);
                }
            }
            4 => instance.handle_command(now, Command::SetPriorityAdjustment(i32::from(op) - 128)),
            5 => instance.handle_command(
                now,
                if op & 8 == 0 {
                    Command::EnterFault(FaultCause::Tracking)
                } else {
                    Command::LeaveFault(FaultCause::Tracking)
                },
            ),
            6 => instance.handle_command(
                now,
                if op & 8 == 0 {
                    Command::Shutdown
                } else {
                    Command::Start
                },
            ),
            _ => instance.handle_command(now, Command::SetPriority(op)),
        }
        while let Some(t) = instance.poll_transmit(&mut buf) {
            if let Transmit::Advertisement { len, source, .. } = t {
                assert!(len <= TRANSMIT_BUFFER_LEN);
                assert_eq!(source, primary);
            }
        }
        while instance.poll_event().is_some() {}
        assert!(instance.priority() >= 1);
        if instance.is_address_owner() {
            assert_eq!(instance.priority(), 255);
        }
        match instance.state() {
            State::Master => {
                assert!(
                    instance.poll_timeout().is_some(),
                    "a master has its advert timer"
                );
                assert_eq!(instance.master_address(), Some(primary));
            }
            State::Backup => {
                assert!(
                    instance.poll_timeout().is_some(),
                    "a backup has its master-down timer"
                )
            }
            _ => {}
        }
    }
}
