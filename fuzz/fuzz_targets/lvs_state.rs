//! The LVS state machine: arbitrary health events, drains, VRRP changes, reloads and
//! adoptions of arbitrary kernel tables. No panic, and after every input the desired table
//! and the quorum states are those of the reference model of keepalived's rules that the
//! director's property test uses (`director/tests/lvs_model`, written apart from `LvsState`).
#![no_main]

#[path = "../../director/tests/lvs_model/mod.rs"]
mod lvs_model;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use keepalived_conf::{parse_str, Options, SourceMap};
use director::lvs::state::LvsState;
use director::lvs::LvsPlan;
use healthcheck::{DownCause, Event, Failure, RealServerId, UpCause};
use ipvs_sys::{Destination, ForwardMethod};
use libfuzzer_sys::fuzz_target;
use lvs_model::{normalized, LvsModel};

/// Two plans to reload between: the second drops a real server, adds one and changes weights.
const CONFIGS: [&str; 2] = [
    "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.101 } }\n\
     virtual_server 10.0.0.100 80 { quorum 3\n hysteresis 1\n sorry_server 10.0.0.9 80\n\
      real_server 10.0.0.1 80 { weight 2\n TCP_CHECK { } }\n real_server 10.0.0.2 80 { inhibit_on_failure\n TCP_CHECK { } }\n\
      real_server 10.0.0.3 80 { TCP_CHECK { alpha } } }\n\
     virtual_server 10.0.0.101 443 { ha_suspend\n sorry_server 10.0.0.9 443\n sorry_server_inhibit\n\
      real_server 10.0.0.1 443 { TCP_CHECK { } }\n real_server 10.0.0.2 443 { weight 5\n TCP_CHECK { } } }\n",
    "vrrp_instance VI_1 { interface eth0\n virtual_router_id 1\n priority 100\n virtual_ipaddress { 10.0.0.101 } }\n\
     virtual_server 10.0.0.100 80 { quorum 2\n sorry_server 10.0.0.9 80\n\
      real_server 10.0.0.1 80 { weight 1\n TCP_CHECK { } }\n real_server 10.0.0.4 80 { TCP_CHECK { } } }\n\
     virtual_server 10.0.0.101 443 { inhibit_on_failure\n\
      real_server 10.0.0.1 443 { TCP_CHECK { } }\n real_server 10.0.0.2 443 { weight 3\n TCP_CHECK { } } }\n",
];

fn plans() -> &'static [LvsPlan; 2] {
    static PLANS: OnceLock<[LvsPlan; 2]> = OnceLock::new();
    PLANS.get_or_init(|| {
        CONFIGS.map(|text| {
            let opts = Options {
                config_id: String::new(),
                host_checks: false,
                check_host: false,
            };
            let loaded = parse_str("f.conf", text, &opts, &mut SourceMap::default());
            assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
            LvsPlan::from_config(&loaded.config).expect("plans")
        })
    })
}

fn server(byte: u8) -> RealServerId {
    let vs = if byte & 0x80 == 0 {
        "10.0.0.100:80"
    } else {
        "10.0.0.101:443"
    };
    let port = if byte & 0x80 == 0 { 80 } else { 443 };
    RealServerId {
        virtual_server: vs.to_string(),
        real_server: SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + (byte & 0x7) % 5)),
            port,
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let t0 = Instant::now();
    let mut state = LvsState::new(plans()[0].clone(), t0);
    let mut model = LvsModel::new(&plans()[0]);
    for (step, chunk) in data.chunks(2).enumerate() {
        let (op, arg) = (chunk[0], chunk.get(1).copied().unwrap_or(0));
        let now = t0 + Duration::from_millis(step as u64);
        let checker = || "TCP_CHECK#0".to_string();
        match op % 8 {
            0 => {
                let s = server(arg);
                state.handle_health(&Event::Up { server: s.clone(), cause: UpCause::Recovered { checker: checker() } }, now);
                model.health(&s.virtual_server, s.real_server, true);
            }
            1 => {
                let s = server(arg);
                state.handle_health(
                    &Event::Down { server: s.clone(), cause: DownCause::Failed { checker: checker(), failure: Failure::Refused } },
                    now,
                );
                model.health(&s.virtual_server, s.real_server, false);
            }
            2 => {
                let s = server(arg);
                state.handle_health(&Event::Weight { server: s.clone(), weight: u32::from(op >> 3) }, now);
                model.weight(&s.virtual_server, s.real_server, u32::from(op >> 3));
            }
            3 | 4 => {
                let s = server(arg);
                let only = (arg & 0x40 != 0).then_some(s.virtual_server.as_str());
                let ours = state.set_drained(s.real_server, only, op % 8 == 3).map_or(0, |ids| ids.len());
                assert_eq!(ours, model.drain(s.real_server, only, op % 8 == 3), "step {step}: drained");
            }
            5 => {
                state.handle_vrrp("VI_1", arg & 1 == 1);
            }
            6 => {
                let plan = &plans()[usize::from(arg & 1)];
                state.set_plan(plan.clone(), now);
                model.reload(plan);
            }
            _ => {
                // A kernel table close to the desired one: a destination dropped or reweighted,
                // or a stranger added.
                let mut kernel = state.desired();
                if let Some(s) = kernel.services.get_mut(usize::from(arg & 1)) {
                    let i = usize::from(arg >> 1) % (s.destinations.len() + 1);
                    match (arg >> 5) % 3 {
                        0 if i < s.destinations.len() => {
                            s.destinations.remove(i);
                        }
                        1 if i < s.destinations.len() => s.destinations[i].weight = u32::from(arg & 3),
                        _ => s.destinations.push(Destination::new(
                            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, arg)), 80),
                            ForwardMethod::Masq,
                            1,
                        )),
                    }
                }
                state.adopt(&kernel, now);
                model.adopt(&kernel);
            }
        }
        while state.poll_action().is_some() {}
        assert_eq!(normalized(state.desired()), model.table(), "step {step} (op {op}, arg {arg}): table");
        let quorum: Vec<(String, bool)> =
            state.report(t0, None).into_iter().map(|v| (v.name, v.quorum_up)).collect();
        assert_eq!(quorum, model.quorum(), "step {step} (op {op}, arg {arg}): quorum");
    }
});
