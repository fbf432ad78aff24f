//! The LVS state machine: arbitrary health events, drains, VRRP changes, reloads and
//! adoptions of arbitrary kernel tables. No panic, and keepalived's rules hold after every
//! input (`LvsState::check_invariants`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use director::lvs::state::LvsState;
use director::lvs::LvsPlan;
use healthcheck::{DownCause, Event, Failure, RealServerId, UpCause};
use ipvs_sys::{Destination, ForwardMethod};
use keepalived_conf::{parse_str, Options, SourceMap};

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

/// The target's body.
pub fn run(data: &[u8]) {
    let t0 = Instant::now();
    let mut state = LvsState::new(plans()[0].clone(), t0);
    for (step, chunk) in data.chunks(2).enumerate() {
        let (op, arg) = (chunk[0], chunk.get(1).copied().unwrap_or(0));
        let now = t0 + Duration::from_millis(step as u64);
        let checker = || "TCP_CHECK#0".to_string();
        match op % 8 {
            0 => {
                state.handle_health(
                    &Event::Up {
                        server: server(arg),
                        cause: UpCause::Recovered { checker: checker() },
                    },
                    now,
                );
            }
            1 => {
                state.handle_health(
                    &Event::Down {
                        server: server(arg),
                        cause: DownCause::Failed {
                            checker: checker(),
                            failure: Failure::Refused,
                        },
                    },
                    now,
                );
            }
            2 => {
                state.handle_health(
                    &Event::Weight {
                        server: server(arg),
                        weight: u32::from(op >> 3),
                    },
                    now,
                );
            }
            3 | 4 => {
                let s = server(arg);
                let only = (arg & 0x40 != 0).then_some(s.virtual_server.as_str());
                let _ = state.set_drained(s.real_server, only, op % 8 == 3);
            }
            5 => {
                state.handle_vrrp("VI_1", arg & 1 == 1);
            }
            6 => state.set_plan(plans()[usize::from(arg & 1)].clone(), now),
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
                        1 if i < s.destinations.len() => {
                            s.destinations[i].weight = u32::from(arg & 3)
                        }
                        _ => s.destinations.push(Destination::new(
                            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 9, arg)), 80),
                            ForwardMethod::Masq,
                            1,
                        )),
                    }
                }
                state.adopt(&kernel, now);
            }
        }
        while state.poll_action().is_some() {}
        if let Err(e) = state.check_invariants() {
            panic!("step {step} (op {op}, arg {arg}): {e}");
        }
    }
}
