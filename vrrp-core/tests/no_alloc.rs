//! The receive and transmit paths allocate nothing after construction: a counting global
//! allocator watches a master and a backup exchange adverts, time out, and take over.
//!
//! Only the test's own thread is counted (a thread-local flag): the test harness and anything
//! else in the process may allocate meanwhile (a global counter failed 1 run in 5 under load).

mod common;

use common::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use vrrp_core::wire::Version;
use vrrp_core::{Command, Instance, InstanceConfig, RxInfo, State, Transmit, TRANSMIT_BUFFER_LEN};

struct Counting;

thread_local! {
    /// Whether this thread's allocations are counted, and how many were.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

/// Counts an allocation when the calling thread is being watched. `try_with`: a thread being
/// torn down may allocate after its thread-locals are gone.
fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
    }
}

/// Runs `f` with this thread's allocations counted; returns what it returned and the count.
fn counting<T>(f: impl FnOnce() -> T) -> (T, usize) {
    ALLOCATIONS.with(|n| n.set(0));
    COUNTING.with(|c| c.set(true));
    let out = f();
    COUNTING.with(|c| c.set(false));
    (out, ALLOCATIONS.with(Cell::get))
}

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
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

        let ((), allocations) = counting(|| {
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
        });

        assert_eq!(backup.state(), State::Master, "{version:?}");
        assert!(backup.statistics().rcvd_advertisements > 1_000);
        assert_eq!(
            allocations, 0,
            "{version:?}: allocations on the packet path"
        );
    }
}

/// The counter itself: it sees this thread's allocations, and not another thread's.
#[test]
fn the_counter_sees_this_threads_allocations_only() {
    let (boxed, n) = counting(|| std::hint::black_box(Box::new([7u8; 64])));
    assert!(n >= 1, "an allocation went uncounted");
    drop(boxed);
    // Spawning and joining allocate a little here; the other thread's 10,000 are not counted.
    let (sum, n) = counting(|| {
        std::thread::spawn(|| {
            (0..10_000u64)
                .map(|i| *std::hint::black_box(Box::new(i)))
                .sum::<u64>()
        })
        .join()
        .unwrap()
    });
    assert_eq!(sum, 49_995_000);
    assert!(n < 100, "{n} allocations counted: another thread's were");
}
