//! The reconciler: minimal ordered operations, edit in place, deletions last, idempotence,
//! checked by applying plans to a model of the kernel's table.

use std::net::SocketAddr;

use ipvs_sys::{
    ipvsadm, plan, DestCounters, Destination, ForwardMethod, IpvsState, Op, Service, ServiceKey,
    Stats, VirtualService,
};
use proptest::prelude::*;

/// Applies `op` as the kernel would, refusing what the kernel refuses.
fn kernel_apply(state: &mut IpvsState, op: &Op) -> Result<(), String> {
    let find = |state: &mut IpvsState, k: &ServiceKey| {
        state
            .services
            .iter_mut()
            .position(|s| s.service.key == *k)
            .ok_or(format!("ESRCH {k}"))
    };
    match op {
        Op::AddService(s) => {
            if state.find(&s.key).is_some() {
                return Err(format!("EEXIST {}", s.key));
            }
            state.services.push(VirtualService {
                service: s.clone(),
                destinations: vec![],
            });
        }
        Op::EditService(s) => {
            let i = find(state, &s.key)?;
            state.services[i].service = s.clone();
        }
        Op::DeleteService(k) => {
            let i = find(state, k)?;
            state.services.remove(i);
        }
        Op::AddDest(k, d) => {
            let i = find(state, k)?;
            let dests = &mut state.services[i].destinations;
            if dests.iter().any(|x| x.addr == d.addr) {
                return Err(format!("EEXIST {}", d.addr));
            }
            dests.push(d.clone());
        }
        Op::EditDest(k, d) => {
            let i = find(state, k)?;
            let x = state.services[i]
                .destinations
                .iter_mut()
                .find(|x| x.addr == d.addr)
                .ok_or("ENOENT")?;
            // The kernel keeps counters across an edit.
            let counters = x.counters;
            *x = d.clone();
            x.counters = counters;
        }
        Op::DeleteDest(k, a) => {
            let i = find(state, k)?;
            let dests = &mut state.services[i].destinations;
            let j = dests.iter().position(|x| x.addr == *a).ok_or("ENOENT")?;
            dests.remove(j);
        }
        Op::Flush => state.services.clear(),
        other => return Err(format!("not modelled: {other}")),
    }
    Ok(())
}

/// The table as configuration, for comparing what the kernel holds with what is desired:
/// services in key order, destinations in address order, without the kernel's counters and
/// statistics, tunnel parameters only for tunnels (the kernel ignores them otherwise).
fn configuration(table: &IpvsState) -> Vec<(Service, Vec<Destination>)> {
    let mut out: Vec<(Service, Vec<Destination>)> = table
        .services
        .iter()
        .map(|vs| {
            let mut service = vs.service.clone();
            service.stats = None;
            let mut dests: Vec<Destination> = vs
                .destinations
                .iter()
                .map(|d| {
                    let mut d = d.clone();
                    d.counters = DestCounters::default();
                    d.stats = None;
                    if d.forward != ForwardMethod::Tunnel {
                        d.tunnel = Destination::new(d.addr, d.forward, 0).tunnel;
                    }
                    d
                })
                .collect();
            dests.sort_by_key(|d| d.addr);
            (service, dests)
        })
        .collect();
    out.sort_by_key(|(s, _)| s.key);
    out
}

/// The modelled kernel holds exactly the desired table.
#[track_caller]
fn assert_holds(kernel: &IpvsState, desired: &IpvsState) {
    assert_eq!(configuration(kernel), configuration(desired));
}

fn apply_all(state: &mut IpvsState, ops: &[Op]) {
    for op in ops {
        kernel_apply(state, op).unwrap_or_else(|e| panic!("{op}: {e}"));
    }
}

fn tcp(addr: &str) -> ServiceKey {
    ServiceKey::tcp(addr.parse().unwrap())
}

fn dest(addr: &str, weight: u32) -> Destination {
    Destination::new(addr.parse().unwrap(), ForwardMethod::Route, weight)
}

#[test]
fn from_empty_services_come_before_their_destinations() {
    let desired = IpvsState::synthetic(3, 2);
    let p = plan(&desired, &IpvsState::default());
    assert_eq!(p.ops.len(), 9);
    for chunk in p.ops.chunks(3) {
        let Op::AddService(s) = &chunk[0] else {
            panic!("service first: {chunk:?}")
        };
        for op in &chunk[1..] {
            assert!(matches!(op, Op::AddDest(k, _) if *k == s.key));
        }
    }
}

#[test]
fn a_second_plan_is_empty_even_with_live_counters() {
    let desired = IpvsState::synthetic(20, 5);
    let mut kernel = IpvsState::default();
    let ops = plan(&desired, &kernel).ops;
    apply_all(&mut kernel, &ops);
    assert_holds(&kernel, &desired);
    // Traffic arrives: counters and stats change, configuration does not.
    for vs in &mut kernel.services {
        vs.service.stats = Some(Stats {
            conns: 7,
            ..Stats::default()
        });
        for d in &mut vs.destinations {
            d.counters = DestCounters {
                active: 3,
                inactive: 9,
                persistent: 1,
            };
        }
    }
    assert!(plan(&desired, &kernel).is_empty());
}

#[test]
fn changes_are_edits_in_place() {
    let key = tcp("10.0.0.1:80");
    let before = IpvsState {
        services: vec![VirtualService {
            service: Service::new(key, "rr"),
            destinations: vec![dest("10.1.0.1:80", 1), dest("10.1.0.2:80", 1)],
        }],
    };
    let mut after = before.clone();
    after.services[0].service.scheduler = "wlc".into();
    after.services[0].destinations[1].weight = 0;
    let p = plan(&after, &before);
    assert_eq!(
        p.ops,
        vec![
            Op::EditService(after.services[0].service.clone()),
            Op::EditDest(key, after.services[0].destinations[1].clone()),
        ]
    );
    assert_eq!(
        p.to_string(),
        "~ -E -t 10.0.0.1:80 -s wlc\n~ -e -t 10.0.0.1:80 -r 10.1.0.2:80 -g -w 0\n"
    );
}

#[test]
fn deletions_come_last() {
    let (a, b) = (tcp("10.0.0.1:80"), tcp("10.0.0.2:80"));
    let current = IpvsState {
        services: vec![
            VirtualService {
                service: Service::new(a, "rr"),
                destinations: vec![dest("10.1.0.1:80", 1), dest("10.1.0.9:80", 1)],
            },
            VirtualService {
                service: Service::new(b, "rr"),
                destinations: vec![dest("10.2.0.1:80", 1)],
            },
        ],
    };
    let desired = IpvsState {
        services: vec![
            VirtualService {
                service: Service::new(a, "rr"),
                destinations: vec![dest("10.1.0.1:80", 1), dest("10.1.0.3:80", 2)],
            },
            VirtualService {
                service: Service::new(tcp("10.0.0.3:80"), "rr"),
                destinations: vec![],
            },
        ],
    };
    let p = plan(&desired, &current);
    assert_eq!(
        p.to_string(),
        "+ -a -t 10.0.0.1:80 -r 10.1.0.3:80 -g -w 2\n\
         + -A -t 10.0.0.3:80 -s rr\n\
         - -d -t 10.0.0.1:80 -r 10.1.0.9:80\n\
         - -D -t 10.0.0.2:80\n"
    );
    let mut kernel = current;
    apply_all(&mut kernel, &p.ops);
    assert_holds(&kernel, &desired);
    assert!(plan(&desired, &kernel).is_empty());
}

#[test]
fn tunnel_parameters_only_matter_for_tunnels() {
    let key = tcp("10.0.0.1:80");
    let mut d = dest("10.1.0.1:80", 1);
    let current = IpvsState {
        services: vec![VirtualService {
            service: Service::new(key, "rr"),
            destinations: vec![d.clone()],
        }],
    };
    // The kernel reports a tunnel port for a routed destination: not a difference.
    let mut desired = current.clone();
    desired.services[0].destinations[0].tunnel.port = 9;
    assert!(plan(&desired, &current).is_empty());
    assert_holds(&current, &desired);
    d.forward = ForwardMethod::Tunnel;
    desired.services[0].destinations[0] = d;
    assert_eq!(plan(&desired, &current).ops.len(), 1);
}

#[test]
fn imported_ipvsadm_rules_plan_to_nothing_once_applied() {
    let rules = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/kernel-6.1-ipvsadm-S-n.txt"
    ))
    .unwrap();
    let desired = ipvsadm::parse_rules(&rules).unwrap();
    assert_eq!(desired.object_count(), 17);
    let mut kernel = IpvsState::default();
    let ops = plan(&desired, &kernel).ops;
    apply_all(&mut kernel, &ops);
    assert_holds(&kernel, &desired);
    assert_eq!(ipvsadm::format_save(&kernel), rules);
    assert!(plan(&desired, &kernel).is_empty());
}

fn arb_state() -> impl Strategy<Value = IpvsState> {
    let dest = (0u8..6, 0u32..4, prop::bool::ANY).prop_map(|(host, weight, masq)| {
        let addr: SocketAddr = format!("10.9.0.{host}:80").parse().unwrap();
        let fwd = if masq {
            ForwardMethod::Masq
        } else {
            ForwardMethod::Route
        };
        Destination::new(addr, fwd, weight)
    });
    let service = (
        0u8..6,
        prop::sample::select(vec!["rr", "wrr", "wlc"]),
        prop::option::of(1u32..600),
        prop::collection::vec(dest, 0..5),
    )
        .prop_map(|(host, sched, persist, mut dests)| {
            let key = tcp(&format!("10.0.0.{host}:80"));
            let mut service = Service::new(key, sched);
            if let Some(t) = persist {
                service = service.persistent(t);
            }
            dests.sort_by_key(|d| d.addr);
            dests.dedup_by_key(|d| d.addr);
            VirtualService {
                service,
                destinations: dests,
            }
        });
    prop::collection::vec(service, 0..6).prop_map(|mut services| {
        services.sort_by_key(|s| s.service.key);
        services.dedup_by_key(|s| s.service.key);
        IpvsState { services }
    })
}

proptest! {
    /// From any table to any other: the plan applies cleanly (no op refused), the modelled
    /// kernel then holds the desired table, the next plan is empty, and nothing that should
    /// stay is deleted.
    #[test]
    fn plans_converge_in_one_step(current in arb_state(), desired in arb_state()) {
        let p = plan(&desired, &current);
        let mut kernel = current.clone();
        apply_all(&mut kernel, &p.ops);
        prop_assert_eq!(configuration(&kernel), configuration(&desired));
        prop_assert!(plan(&desired, &kernel).is_empty());
        for op in &p.ops {
            if let Op::DeleteService(k) = op {
                prop_assert!(desired.find(k).is_none());
            }
            if let Op::DeleteDest(k, a) = op {
                prop_assert!(!desired.find(k).unwrap().destinations.iter().any(|d| d.addr == *a));
            }
        }
        // Minimal: one operation per object that differs, none for equal ones.
        let unchanged = desired.services.iter().filter(|vs| {
            current.find(&vs.service.key).is_some_and(|c| c.service.same_config(&vs.service))
        }).count();
        let service_ops = p.ops.iter().filter(|o| matches!(o,
            Op::AddService(_) | Op::EditService(_) | Op::DeleteService(_))).count();
        let all_keys: std::collections::HashSet<_> = desired.services.iter()
            .chain(&current.services).map(|s| s.service.key).collect();
        prop_assert_eq!(service_ops, all_keys.len() - unchanged);
    }

    /// A run of desired tables, each planned against the kernel as the last step left it
    /// (traffic changing its counters and the kernel listing destinations newest first in
    /// between): after every step the kernel holds that step's table.
    #[test]
    fn every_step_of_a_run_leaves_the_desired_table(steps in prop::collection::vec(arb_state(), 1..8)) {
        let mut kernel = IpvsState::default();
        for (i, desired) in steps.iter().enumerate() {
            let ops = plan(desired, &kernel).ops;
            apply_all(&mut kernel, &ops);
            prop_assert_eq!(configuration(&kernel), configuration(desired), "step {}", i);
            for vs in &mut kernel.services {
                vs.destinations.reverse();
                for d in &mut vs.destinations {
                    d.counters.active += 1;
                }
            }
        }
    }
}

#[test]
fn large_services_in_kernel_order_plan_only_the_differences() {
    let desired = IpvsState::synthetic(2, 100);
    let mut current = desired.clone();
    // The kernel lists destinations newest first.
    for vs in &mut current.services {
        vs.destinations.reverse();
    }
    current.services[1].destinations.remove(10);
    current.services[1].destinations[20].weight = 7;
    let p = plan(&desired, &current);
    assert_eq!(p.ops.len(), 2, "{p}");
    assert!(p.ops.iter().any(|o| matches!(o, Op::AddDest(..))));
    assert!(p.ops.iter().any(|o| matches!(o, Op::EditDest(..))));
}

#[test]
fn the_known_table_ages_out() {
    use std::time::{Duration, Instant};
    let t0 = Instant::now();
    let mut forever = ipvs_sys::Reconciler::new();
    assert!(forever.needs_read(t0));
    forever.set_read(IpvsState::default(), t0);
    assert!(!forever.needs_read(t0 + Duration::from_secs(86_400)));

    let mut aging = ipvs_sys::Reconciler::with_max_age(Duration::from_secs(300));
    aging.set_read(IpvsState::default(), t0);
    assert!(!aging.needs_read(t0 + Duration::from_secs(299)));
    assert!(aging.needs_read(t0 + Duration::from_secs(300)));
    aging.forget();
    assert!(aging.needs_read(t0));
}
