//! Property tests of the LVS state: whatever the health checks, drains, VRRP changes,
//! reloads and adoptions, the desired IPVS table and the quorum states are those of a
//! reference model of keepalived's rules written apart from `LvsState` (`lvs_model`), after
//! every input; and the same inputs give the same table.

mod lvs_model;

use std::time::{Duration, Instant};

use director::lvs::state::LvsState;
use director::lvs::LvsPlan;
use healthcheck::{DownCause, Event, Failure, RealServerId, UpCause};
use keepalived_conf::{parse_str, Options, SourceMap};
use lvs_model::{normalized, LvsModel};
use proptest::prelude::*;

const VS_A: &str = "10.0.0.100:80";
const VS_B: &str = "10.0.0.101:443";
const VS_C: &str = "10.0.0.102:80";

/// Two virtual servers: one with quorum, hysteresis, a sorry server and a mix of
/// `inhibit_on_failure`; one with two real servers, `ha_suspend` and an inhibited sorry
/// server. The extra plan adds a real server to the first, and a third virtual server whose
/// live weight at start (2) is within its hysteresis band (quorum 2 ± 1), one real server
/// with `alpha`.
fn config(extra_real_server: bool) -> String {
    let third = if extra_real_server {
        "virtual_server 10.0.0.102 80 {\n quorum 2\n hysteresis 1\n sorry_server 10.0.0.9 80\n\
          real_server 10.0.0.1 80 { TCP_CHECK { } }\n\
          real_server 10.0.0.2 80 { TCP_CHECK { } }\n\
          real_server 10.0.0.3 80 { weight 2\n TCP_CHECK { alpha } }\n}\n"
    } else {
        ""
    };
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress {{ 10.0.0.101 }}\n}}\n\
         virtual_server 10.0.0.100 80 {{\n quorum 3\n hysteresis 1\n sorry_server 10.0.0.9 80\n\
          real_server 10.0.0.1 80 {{ weight 2\n TCP_CHECK {{ }} }}\n\
          real_server 10.0.0.2 80 {{ inhibit_on_failure\n TCP_CHECK {{ }} }}\n\
          real_server 10.0.0.3 80 {{ weight 1\n TCP_CHECK {{ }} }}\n\
          {}\n}}\n\
         virtual_server 10.0.0.101 443 {{\n ha_suspend\n sorry_server 10.0.0.9 443\n sorry_server_inhibit\n\
          real_server 10.0.0.1 443 {{ TCP_CHECK {{ }} }}\n\
          real_server 10.0.0.2 443 {{ weight 5\n TCP_CHECK {{ }} }}\n}}\n",
        if extra_real_server {
            "real_server 10.0.0.4 80 { TCP_CHECK { } }"
        } else {
            ""
        }
    ) + third
}

fn plan(extra: bool) -> LvsPlan {
    let opts = Options {
        config_id: String::new(),
        host_checks: false,
        check_host: false,
    };
    let mut sources = SourceMap::default();
    let loaded = parse_str("p.conf", &config(extra), &opts, &mut sources);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    LvsPlan::from_config(&loaded.config).unwrap()
}

#[derive(Debug, Clone)]
enum Input {
    Up(usize),
    Down(usize),
    Weight(usize, u32),
    Drain(usize, bool),
    Vrrp(bool),
    Reload(bool),
    AdoptDesiredMinus(usize),
}

/// Every (virtual server, real server) pair any plan may have.
fn servers() -> Vec<RealServerId> {
    [
        (VS_A, "10.0.0.1:80"),
        (VS_A, "10.0.0.2:80"),
        (VS_A, "10.0.0.3:80"),
        (VS_A, "10.0.0.4:80"),
        (VS_B, "10.0.0.1:443"),
        (VS_B, "10.0.0.2:443"),
        (VS_C, "10.0.0.1:80"),
        (VS_C, "10.0.0.3:80"),
    ]
    .iter()
    .map(|(vs, rs)| RealServerId {
        virtual_server: vs.to_string(),
        real_server: rs.parse().unwrap(),
    })
    .collect()
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        4 => (0..8usize).prop_map(Input::Up),
        4 => (0..8usize).prop_map(Input::Down),
        1 => (0..8usize, 0..4u32).prop_map(|(i, w)| Input::Weight(i, w)),
        2 => (0..8usize, any::<bool>()).prop_map(|(i, d)| Input::Drain(i, d)),
        1 => any::<bool>().prop_map(Input::Vrrp),
        1 => any::<bool>().prop_map(Input::Reload),
        1 => (0..6usize).prop_map(Input::AdoptDesiredMinus),
    ]
}

/// Runs `inputs` through `LvsState` and the model side by side; after every input the
/// desired table and the quorum states must be the model's. Returns the tables.
fn run(inputs: &[Input]) -> Vec<ipvs_sys::IpvsState> {
    let t0 = Instant::now();
    let servers = servers();
    let mut state = LvsState::new(plan(false), t0);
    let mut model = LvsModel::new(&plan(false));
    let mut tables = Vec::new();
    let mut compare = |state: &mut LvsState, model: &LvsModel, what: String| {
        while state.poll_action().is_some() {}
        let desired = normalized(state.desired());
        assert_eq!(
            desired,
            model.table(),
            "after {what}: the table differs from the model's"
        );
        let quorum: Vec<(String, bool)> = state
            .report(t0, None)
            .into_iter()
            .map(|v| (v.name, v.quorum_up))
            .collect();
        assert_eq!(
            quorum,
            model.quorum(),
            "after {what}: quorum differs from the model's"
        );
        tables.push(desired);
    };
    compare(&mut state, &model, "start".into());
    for (step, input) in inputs.iter().enumerate() {
        let now = t0 + Duration::from_secs(step as u64);
        match input {
            Input::Up(i) | Input::Down(i) => {
                let s = &servers[*i];
                let up = matches!(input, Input::Up(_));
                let event = if up {
                    Event::Up {
                        server: s.clone(),
                        cause: UpCause::Recovered {
                            checker: "TCP_CHECK#0".into(),
                        },
                    }
                } else {
                    Event::Down {
                        server: s.clone(),
                        cause: DownCause::Failed {
                            checker: "TCP_CHECK#0".into(),
                            failure: Failure::Refused,
                        },
                    }
                };
                state.handle_health(&event, now);
                model.health(&s.virtual_server, s.real_server, up);
            }
            Input::Weight(i, weight) => {
                let s = &servers[*i];
                state.handle_health(
                    &Event::Weight {
                        server: s.clone(),
                        weight: *weight,
                    },
                    now,
                );
                model.weight(&s.virtual_server, s.real_server, *weight);
            }
            Input::Drain(i, drained) => {
                let s = &servers[*i];
                // Unknown servers are an error answer, never a panic.
                let ours = state
                    .set_drained(s.real_server, Some(&s.virtual_server), *drained)
                    .map_or(0, |ids| ids.len());
                let theirs = model.drain(s.real_server, Some(&s.virtual_server), *drained);
                assert_eq!(ours, theirs, "{input:?}: real servers drained");
            }
            Input::Vrrp(master) => {
                state.handle_vrrp("VI_1", *master);
            }
            Input::Reload(extra) => {
                state.set_plan(plan(*extra), now);
                model.reload(&plan(*extra));
            }
            Input::AdoptDesiredMinus(i) => {
                let mut kernel = state.desired();
                if let Some(s) = kernel.services.first_mut() {
                    if *i < s.destinations.len() {
                        s.destinations.remove(*i);
                    }
                }
                state.adopt(&kernel, now);
                model.adopt(&kernel);
            }
        }
        compare(&mut state, &model, format!("{input:?} (step {step})"));
    }
    tables
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn any_inputs_give_the_reference_models_table(inputs in proptest::collection::vec(input(), 1..60)) {
        run(&inputs);
    }

    #[test]
    fn the_same_inputs_give_the_same_tables(inputs in proptest::collection::vec(input(), 1..40)) {
        prop_assert_eq!(run(&inputs), run(&inputs));
    }

    #[test]
    fn a_reload_to_the_same_plan_changes_nothing(inputs in proptest::collection::vec(input(), 1..40)) {
        let t0 = Instant::now();
        let mut state = LvsState::new(plan(false), t0);
        let servers = servers();
        for input in &inputs {
            if let Input::Down(i) = input {
                state.handle_health(&Event::Down {
                    server: servers[*i].clone(),
                    cause: DownCause::Failed { checker: "TCP_CHECK#0".into(), failure: Failure::Refused },
                }, t0);
            }
        }
        while state.poll_action().is_some() {}
        let before = state.desired();
        state.set_plan(plan(false), t0);
        prop_assert_eq!(state.desired(), before);
        prop_assert!(state.poll_action().is_none(), "a reload to the same plan runs no script");
    }
}
