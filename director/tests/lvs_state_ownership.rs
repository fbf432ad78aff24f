//! Property tests of what the LVS state does to the kernel's table, against a simulated
//! kernel shared with another user of IPVS: whatever the health events, reloads, refusals
//! and changes made behind the director's back, the other user's services are never
//! touched, a reconcile whose operations were all accepted leaves the kernel holding exactly
//! the desired table (so services whose deletion was refused are deleted later), and only a
//! change made behind the director's back counts as a repair.

use std::collections::HashSet;
use std::time::Instant;

use director::lvs::state::LvsState;
use director::lvs::{LvsPlan, StopPolicy};
use healthcheck::{DownCause, Event, Failure, RealServerId, UpCause};
use ipvs_sys::reconcile::apply_to;
use ipvs_sys::{Destination, ForwardMethod, IpvsState, Op, Service, ServiceKey, VirtualService};
use keepalived_conf::{parse_str, Options, SourceMap};
use proptest::prelude::*;

/// Two virtual servers; the reload drops the second and adds a third.
fn config(reloaded: bool) -> String {
    let second = if reloaded {
        "virtual_server 10.0.0.102 8080 {\n real_server 10.0.0.3 8080 { TCP_CHECK { } }\n}\n"
    } else {
        "virtual_server 10.0.0.101 443 {\n real_server 10.0.0.1 443 { TCP_CHECK { } }\n}\n"
    };
    format!(
        "virtual_server 10.0.0.100 80 {{\n\
          real_server 10.0.0.1 80 {{ weight 2\n TCP_CHECK {{ }} }}\n\
          real_server 10.0.0.2 80 {{ inhibit_on_failure\n TCP_CHECK {{ }} }}\n}}\n{second}"
    )
}

fn plan(reloaded: bool) -> LvsPlan {
    let opts = Options {
        config_id: String::new(),
        host_checks: false,
        check_host: false,
    };
    let mut sources = SourceMap::default();
    let loaded = parse_str("p.conf", &config(reloaded), &opts, &mut sources);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    LvsPlan::from_config(&loaded.config).unwrap()
}

/// Every (virtual server, real server) pair either plan has.
fn servers() -> Vec<RealServerId> {
    [
        ("10.0.0.100:80", "10.0.0.1:80"),
        ("10.0.0.100:80", "10.0.0.2:80"),
        ("10.0.0.101:443", "10.0.0.1:443"),
        ("10.0.0.102:8080", "10.0.0.3:8080"),
    ]
    .iter()
    .map(|(vs, rs)| RealServerId {
        virtual_server: vs.to_string(),
        real_server: rs.parse().unwrap(),
    })
    .collect()
}

/// The other user's services.
fn foreign() -> IpvsState {
    let service = |vip: &str, rip: &str| VirtualService {
        service: Service::new(ServiceKey::tcp(vip.parse().unwrap()), "wrr"),
        destinations: vec![Destination::new(
            rip.parse().unwrap(),
            ForwardMethod::Masq,
            3,
        )],
    };
    IpvsState {
        services: vec![
            service("192.168.7.7:53", "192.168.7.8:53"),
            service("192.168.7.9:80", "192.168.7.10:80"),
        ],
    }
}

fn foreign_keys() -> HashSet<ServiceKey> {
    foreign().services.iter().map(|s| s.service.key).collect()
}

fn touched(op: &Op) -> Option<ServiceKey> {
    match op {
        Op::AddService(s) | Op::EditService(s) => Some(s.key),
        Op::DeleteService(k) | Op::AddDest(k, _) | Op::EditDest(k, _) | Op::DeleteDest(k, _) => {
            Some(*k)
        }
        Op::Zero(k) => *k,
        Op::Flush | Op::SetTimeouts(_) | Op::StartDaemon(_) | Op::StopDaemon(_) => None,
    }
}

#[derive(Debug, Clone)]
enum Input {
    Up(usize),
    Down(usize),
    Reload(bool),
    /// Plans against the kernel's table (`reread`: it was known and read again) and
    /// applies, the kernel refusing the ops whose index modulo 8 is a bit of `refuse`.
    Reconcile {
        reread: bool,
        refuse: u8,
    },
    /// ipvsadm by hand on one of ours: a destination removed.
    RemoveDest(usize),
    /// ipvsadm by hand on one of ours: a destination's weight changed.
    SetWeight(usize, u32),
    /// ipvsadm by hand on one of ours: the service deleted.
    DeleteService(usize),
    /// The other user changes its own service.
    ForeignChange,
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        2 => (0..4usize).prop_map(Input::Up),
        2 => (0..4usize).prop_map(Input::Down),
        1 => any::<bool>().prop_map(Input::Reload),
        6 => (any::<bool>(), prop_oneof![3 => Just(0u8), 1 => any::<u8>()])
            .prop_map(|(reread, refuse)| Input::Reconcile { reread, refuse }),
        1 => (0..4usize).prop_map(Input::RemoveDest),
        1 => (0..4usize, 0..5u32).prop_map(|(i, w)| Input::SetWeight(i, w)),
        1 => (0..4usize).prop_map(Input::DeleteService),
        1 => Just(Input::ForeignChange),
    ]
}

/// The kernel's services that are not the other user's.
fn ours_in(kernel: &IpvsState) -> IpvsState {
    let theirs = foreign_keys();
    IpvsState {
        services: kernel
            .services
            .iter()
            .filter(|s| !theirs.contains(&s.service.key))
            .cloned()
            .collect(),
    }
}

/// What a run leaves: the state, the kernel's table and the other user's part of it.
type Outcome = (LvsState, IpvsState, IpvsState);

/// Runs `inputs` from a kernel holding the other user's services and, when `adopt`, the
/// desired table already (a restart, which reconciles first thing: services the kernel
/// holds that the configuration does not are another user's), checking the properties
/// after each.
fn run(adopt: bool, inputs: &[Input]) -> Result<Outcome, TestCaseError> {
    let t0 = Instant::now();
    let servers = servers();
    let theirs = foreign_keys();
    let mut state = LvsState::new(plan(false), t0);
    let mut kernel = foreign();
    if adopt {
        kernel.services.extend(state.desired().services);
        state.adopt(&kernel, t0);
    }
    let mut foreign_now = foreign();
    // Whether one of ours was changed behind the director's back since the last reconcile
    // whose operations were all accepted.
    let mut tampered = false;
    let mut first = true;
    let restart = adopt.then_some(Input::Reconcile {
        reread: false,
        refuse: 0,
    });
    for input in restart.iter().chain(inputs) {
        let ours: Vec<usize> = (0..kernel.services.len())
            .filter(|&i| !theirs.contains(&kernel.services[i].service.key))
            .collect();
        let pick = |i: usize| (!ours.is_empty()).then(|| ours[i % ours.len()]);
        match input {
            Input::Up(i) => {
                let server = servers[*i].clone();
                let cause = UpCause::Recovered {
                    checker: "TCP_CHECK#0".into(),
                };
                state.handle_health(&Event::Up { server, cause }, t0);
            }
            Input::Down(i) => {
                let server = servers[*i].clone();
                let cause = DownCause::Failed {
                    checker: "TCP_CHECK#0".into(),
                    failure: Failure::Refused,
                };
                state.handle_health(&Event::Down { server, cause }, t0);
            }
            Input::Reload(reloaded) => state.set_plan(plan(*reloaded), t0),
            Input::Reconcile { reread, refuse } => {
                let step = state.reconcile(&kernel, *reread);
                if first {
                    first = false;
                    prop_assert_eq!(step.adopted.is_some(), adopt);
                    if adopt {
                        prop_assert!(step.ops.is_empty(), "adopting: {:?}", step.ops);
                    }
                } else {
                    prop_assert!(step.adopted.is_none());
                }
                prop_assert!(!step.repair || (tampered && *reread), "{:?}", step);
                for op in &step.ops {
                    prop_assert!(
                        touched(op).is_none_or(|k| !theirs.contains(&k)),
                        "{:?} touches another user's service",
                        op
                    );
                }
                if step.ops.is_empty() {
                    prop_assert_eq!(ipvs_sys::plan(&state.desired(), &ours_in(&kernel)).ops, []);
                    tampered = false;
                    continue;
                }
                let mut refused = false;
                let mut results: Vec<Result<(), ipvs_sys::Error>> = Vec::new();
                for (i, op) in step.ops.iter().enumerate() {
                    let refuse = refuse & (1 << (i % 8)) != 0;
                    if !refuse && apply_to(&mut kernel, op) {
                        results.push(Ok(()));
                        continue;
                    }
                    // Planned against the kernel's table, an operation applies unless one
                    // before it (say, adding its service) was refused.
                    prop_assert!(refuse || refused, "{:?} does not apply", op);
                    refused = true;
                    results.push(Err(ipvs_sys::Error::Io {
                        what: "test".into(),
                        source: std::io::Error::other("refused"),
                    }));
                }
                state.record_applied(&step.ops, &results);
                if results.iter().all(|r| r.is_ok()) {
                    tampered = false;
                    prop_assert_eq!(ipvs_sys::plan(&state.desired(), &ours_in(&kernel)).ops, []);
                    let again = state.reconcile(&kernel, true);
                    prop_assert!(again.ops.is_empty() && !again.repair, "{:?}", again);
                }
            }
            Input::RemoveDest(i) => {
                if let Some(s) = pick(*i) {
                    if !kernel.services[s].destinations.is_empty() {
                        kernel.services[s].destinations.remove(0);
                        tampered = true;
                    }
                }
            }
            Input::SetWeight(i, weight) => {
                if let Some(s) = pick(*i) {
                    if let Some(d) = kernel.services[s].destinations.first_mut() {
                        d.weight = *weight;
                        tampered = true;
                    }
                }
            }
            Input::DeleteService(i) => {
                if let Some(s) = pick(*i) {
                    kernel.services.remove(s);
                    tampered = true;
                }
            }
            Input::ForeignChange => {
                let key = foreign_now.services[0].service.key;
                let changed = Op::EditDest(
                    key,
                    Destination::new("192.168.7.8:53".parse().unwrap(), ForwardMethod::Masq, 9),
                );
                prop_assert!(apply_to(&mut kernel, &changed));
                apply_to(&mut foreign_now, &changed);
            }
        }
        // The other user's services are as it left them.
        let left: Vec<&VirtualService> = kernel
            .services
            .iter()
            .filter(|s| theirs.contains(&s.service.key))
            .collect();
        prop_assert_eq!(left, foreign_now.services.iter().collect::<Vec<_>>());
        while state.poll_action().is_some() {}
    }
    // At stop: removing ours names none of theirs; Keep touches nothing.
    for op in state.stop_ops(StopPolicy::RemoveOurs, Some(&kernel)) {
        prop_assert!(matches!(op, Op::DeleteService(k) if !theirs.contains(&k)));
    }
    prop_assert!(state.stop_ops(StopPolicy::Keep, Some(&kernel)).is_empty());
    Ok((state, kernel, foreign_now))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn others_services_are_left_alone_and_ours_converge(
        adopt in any::<bool>(),
        inputs in proptest::collection::vec(input(), 1..60),
    ) {
        run(adopt, &inputs)?;
    }

    #[test]
    fn after_a_clean_reconcile_stop_removes_exactly_ours(
        adopt in any::<bool>(),
        inputs in proptest::collection::vec(input(), 1..40),
    ) {
        let mut inputs = inputs;
        inputs.push(Input::Reconcile { reread: true, refuse: 0 });
        let (state, mut kernel, theirs) = run(adopt, &inputs)?;
        let ours: HashSet<ServiceKey> =
            ours_in(&kernel).services.iter().map(|s| s.service.key).collect();
        let stop = state.stop_ops(StopPolicy::RemoveOurs, Some(&kernel));
        let mut deleted = HashSet::new();
        for op in &stop {
            if let Op::DeleteService(k) = op {
                deleted.insert(*k);
            }
            prop_assert!(apply_to(&mut kernel, op));
        }
        prop_assert_eq!(deleted, ours);
        prop_assert_eq!(kernel, theirs);
    }
}
