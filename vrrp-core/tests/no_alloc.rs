//! The receive and transmit paths allocate nothing after construction: a counting global
//! allocator watches a master and a backup exchange adverts, time out, and take over. Only
//! the thread under test is counted (a thread-local flag), so that other threads of the test
//! harness cannot make it fail.

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use vrrp_core::wire::Version;
use vrrp_core::{Command, Instance, InstanceConfig, RxInfo, State, Transmit, TRANSMIT_BUFFER_LEN};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    // A const-initialised `Cell`: reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn counting() -> bool {
    COUNTING.try_with(Cell::get).unwrap_or(false)
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if counting() {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn config(version: Version, priority: u8, addr: &str) -> InstanceConfig {
    let mut c = InstanceConfig::new(
        version,
        51,
        priority,
        ip(addr),
        vec![ip("10.99.0.200"), ip("10.99.0.201")],
    );
    if version == Version::V3 {
        c.advert_interval = ms(100);
    } else {
        c.authentication = vrrp_core::Authentication::password("1111");
    }
    c.unicast_peers = vec![];
    c
}

#[test]
fn packet_paths_do_not_allocate() {
    for version in [Version::V2, Version::V3] {
        let mut master = Instance::new(config(version, 100, "10.99.0.11")).unwrap();
        let mut backup = Instance::new(config(version, 90, "10.99.0.12")).unwrap();
        let mut buf = Box::new([0u8; TRANSMIT_BUFFER_LEN]);
        let mut now = at_ms(0);
        master.handle_command(now, Command::Start);
        backup.handle_command(now, Command::Start);

        COUNTING.with(|c| c.set(true));
        for _ in 0..2_000 {
            let next = [master.poll_timeout(), backup.poll_timeout()]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
            now = next;
            master.handle_timeout(now);
            backup.handle_timeout(now);
            {
                let (from, to) = (&mut master, &mut backup);
                while let Some(t) = from.poll_transmit(&mut buf) {
                    if let Transmit::Advertisement {
                        source,
                        destination,
                        len,
                        ..
                    } = t
                    {
                        let rx = RxInfo {
                            source,
                            destination,
                            ttl: 255,
                        };
                        to.handle_packet(now, &rx, &buf[..len]);
                    }
                }
                while from.poll_event().is_some() {}
                while to.poll_event().is_some() {}
            }
            while backup.poll_transmit(&mut buf).is_some() {}
            // A bad packet on the receive path too.
            backup.handle_packet(
                now,
                &RxInfo {
                    source: ip("10.99.0.66"),
                    destination: ip("224.0.0.18"),
                    ttl: 64,
                },
                &buf[..20],
            );
            while backup.poll_event().is_some() {}
        }
        // And a takeover: the master stops, the backup becomes master.
        master.handle_command(now, Command::Shutdown);
        while let Some(t) = master.poll_transmit(&mut buf) {
            if let Transmit::Advertisement {
                source,
                destination,
                len,
                ..
            } = t
            {
                backup.handle_packet(
                    now,
                    &RxInfo {
                        source,
                        destination,
                        ttl: 255,
                    },
                    &buf[..len],
                );
            }
        }
        let t = backup.poll_timeout().unwrap();
        backup.handle_timeout(t);
        while backup.poll_transmit(&mut buf).is_some() {}
        while backup.poll_event().is_some() {}
        while master.poll_event().is_some() {}
        COUNTING.with(|c| c.set(false));

        assert_eq!(backup.state(), State::Master, "{version:?}");
        assert!(backup.statistics().rcvd_advertisements > 1_000);
        assert_eq!(
            ALLOCATIONS.load(Ordering::SeqCst),
            0,
            "{version:?}: allocations on the packet path"
        );
    }
}
