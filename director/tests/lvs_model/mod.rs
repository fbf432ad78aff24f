//! A reference model of keepalived's LVS rules, for judging `LvsState` from outside.
//!
//! Written from keepalived's documentation (keepalived.conf(5): `quorum`, `hysteresis`,
//! `sorry_server`, `sorry_server_inhibit`, `inhibit_on_failure`, `alpha`) and its source
//! (`keepalived/check/ipwrapper.c`: `weigh_live_realservers`, `set_quorum_states`,
//! `update_quorum_state`, `perform_quorum_state`, `perform_svr_state`, `update_svr_wgt`,
//! `init_service_vs`, `clear_diff_services`/`clear_diff_rs`), plus ha's documented additions:
//! `ha drain` (weight 0, connections kept) and the adoption of the table found at start. It
//! uses nothing of `LvsState`: only the plan (what the keepalived.conf says) and the inputs.
//!
//! The rules, per virtual server:
//! - a real server is alive when its checkers all pass (an `alpha` checker starts failed);
//!   the health-check engine reports it as Up/Down, and a dynamic weight as Weight;
//! - live weight = the sum of the alive real servers' weights (a drained one weighs 0);
//! - quorum starts up iff live ≥ quorum + hysteresis (`set_quorum_states`); it is gained when
//!   live ≥ quorum + hysteresis, lost when live is 0 or < quorum − hysteresis
//!   (`update_quorum_state`); a reload keeps a virtual server's quorum state
//!   (`clear_diff_services`) and re-evaluates it;
//! - in IPVS: an alive real server with its weight (0 while drained); a failed one absent, or
//!   at weight 0 with `inhibit_on_failure`;
//! - while quorum is down and a sorry server is configured, the sorry server is in IPVS with
//!   its weight and the alive real servers are out (at 0 with `inhibit_on_failure`)
//!   (`perform_quorum_state`); while quorum is up it is absent, or at weight 0 with
//!   `sorry_server_inhibit`; without a sorry server quorum changes nothing in IPVS;
//! - a reload keeps an unchanged real server's (same virtual server, same address) health and
//!   drain; its weight becomes the new configured one unless a checker had set another (ha's
//!   documented rule: keepalived keeps the old effective weight whatever the new
//!   configuration says); new real servers start as at startup;
//! - VRRP mastership (`ha_suspend`) pauses checks and changes nothing in IPVS by itself;
//! - adoption (ha): in a service found in the kernel at start, a checked real server missing
//!   is down, one at weight 0 (configured > 0) is down with `inhibit_on_failure`, else drained;
//!   quorum is then up iff live ≥ quorum (the table was programmed with quorum; hysteresis
//!   cannot be known from it).
#![allow(dead_code)]

use std::net::SocketAddr;

use director::lvs::LvsPlan;
use ipvs_sys::{Destination, IpvsState, Service, VirtualService};

#[derive(Debug, Clone)]
struct Rs {
    dest: Destination,
    configured: u32,
    inhibit: bool,
    checked: bool,
    alive: bool,
    weight: u32,
    drained: bool,
}

#[derive(Debug, Clone)]
struct Vs {
    name: String,
    services: Vec<Service>,
    quorum: u32,
    hysteresis: u32,
    sorry: Option<Destination>,
    sorry_inhibit: bool,
    quorum_up: bool,
    rs: Vec<Rs>,
}

impl Vs {
    fn live(&self) -> u64 {
        self.rs
            .iter()
            .filter(|r| r.alive && !r.drained)
            .map(|r| u64::from(r.weight))
            .sum()
    }

    fn up_threshold(&self) -> u64 {
        u64::from(self.quorum) + u64::from(self.hysteresis)
    }

    /// `update_quorum_state`.
    fn update_quorum(&mut self) {
        let live = self.live() as i64;
        let down_threshold = i64::from(self.quorum) - i64::from(self.hysteresis);
        if !self.quorum_up && live as u64 >= self.up_threshold() {
            self.quorum_up = true;
        } else if self.quorum_up && (live == 0 || live < down_threshold) {
            self.quorum_up = false;
        }
    }
}

/// The model. See the module documentation.
#[derive(Debug, Clone)]
pub struct LvsModel {
    vs: Vec<Vs>,
}

fn fresh(plan: &LvsPlan) -> Vec<Vs> {
    plan.virtual_servers
        .iter()
        .map(|v| {
            let rs = v
                .real_servers
                .iter()
                .map(|r| Rs {
                    dest: r.destination.clone(),
                    configured: r.health.weight,
                    inhibit: r.inhibit_on_failure,
                    checked: !r.health.checkers.is_empty(),
                    alive: !r.health.checkers.iter().any(|c| c.timing.alpha),
                    weight: r.health.weight,
                    drained: false,
                })
                .collect();
            let mut vs = Vs {
                name: v.name.clone(),
                services: v.services.clone(),
                quorum: v.quorum,
                hysteresis: v.hysteresis,
                sorry: v.sorry_server.clone(),
                sorry_inhibit: v.sorry_server_inhibit,
                quorum_up: false,
                rs,
            };
            vs.quorum_up = vs.live() >= vs.up_threshold();
            vs
        })
        .collect()
}

impl LvsModel {
    pub fn new(plan: &LvsPlan) -> LvsModel {
        LvsModel { vs: fresh(plan) }
    }

    fn find(&mut self, vs: &str, rs: SocketAddr) -> Option<(&mut Vs, usize)> {
        let v = self.vs.iter_mut().find(|v| v.name == vs)?;
        let i = v.rs.iter().position(|r| r.dest.addr == rs)?;
        Some((v, i))
    }

    /// The engine says a real server passed (`up`) or failed its checks.
    pub fn health(&mut self, vs: &str, rs: SocketAddr, up: bool) {
        if let Some((v, i)) = self.find(vs, rs) {
            v.rs[i].alive = up;
            v.update_quorum();
        }
    }

    /// A checker set a dynamic weight.
    pub fn weight(&mut self, vs: &str, rs: SocketAddr, weight: u32) {
        if let Some((v, i)) = self.find(vs, rs) {
            v.rs[i].weight = weight;
            v.update_quorum();
        }
    }

    /// `ha drain` / `ha enable` of every real server at `rs` (in `vs` only, when given).
    /// Returns how many matched.
    pub fn drain(&mut self, rs: SocketAddr, vs: Option<&str>, drained: bool) -> usize {
        let mut matched = 0;
        for v in &mut self.vs {
            if vs.is_some_and(|name| name != v.name) {
                continue;
            }
            let mut touched = false;
            for r in v.rs.iter_mut().filter(|r| r.dest.addr == rs) {
                r.drained = drained;
                matched += 1;
                touched = true;
            }
            if touched {
                v.update_quorum();
            }
        }
        matched
    }

    /// A reload.
    pub fn reload(&mut self, plan: &LvsPlan) {
        let mut new = fresh(plan);
        for v in &mut new {
            let Some(old) = self.vs.iter().find(|o| o.name == v.name) else {
                continue;
            };
            v.quorum_up = old.quorum_up;
            for r in &mut v.rs {
                if let Some(o) = old.rs.iter().find(|o| o.dest.addr == r.dest.addr) {
                    r.alive = o.alive;
                    r.drained = o.drained;
                    if o.weight != o.configured {
                        r.weight = o.weight;
                    }
                }
            }
            v.update_quorum();
        }
        self.vs = new;
    }

    /// The table found in the kernel at start is adopted.
    pub fn adopt(&mut self, kernel: &IpvsState) {
        for v in &mut self.vs {
            let Some(found) = v
                .services
                .first()
                .and_then(|s| kernel.services.iter().find(|k| k.service.key == s.key))
            else {
                continue;
            };
            for r in v.rs.iter_mut().filter(|r| r.checked) {
                match found.destinations.iter().find(|d| d.addr == r.dest.addr) {
                    None => r.alive = false,
                    Some(d) if d.weight == 0 && r.configured > 0 => {
                        if r.inhibit {
                            r.alive = false;
                        } else {
                            r.drained = true;
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        for v in &mut self.vs {
            v.quorum_up = v.live() >= u64::from(v.quorum);
        }
    }

    /// The IPVS table these rules want; destinations in address order.
    pub fn table(&self) -> IpvsState {
        let mut out = IpvsState::default();
        for v in &self.vs {
            let sorry_in_use = !v.quorum_up && v.sorry.is_some();
            let mut destinations: Vec<Destination> = Vec::new();
            for r in &v.rs {
                let weight = if !r.alive || sorry_in_use {
                    r.inhibit.then_some(0)
                } else if r.drained {
                    Some(0)
                } else {
                    Some(r.weight)
                };
                if let Some(weight) = weight {
                    destinations.push(Destination {
                        weight,
                        ..r.dest.clone()
                    });
                }
            }
            if let Some(sorry) = &v.sorry {
                let weight = match (v.quorum_up, v.sorry_inhibit) {
                    (false, _) => Some(sorry.weight),
                    (true, true) => Some(0),
                    (true, false) => None,
                };
                if let Some(weight) = weight {
                    if !destinations.iter().any(|d| d.addr == sorry.addr) {
                        destinations.push(Destination {
                            weight,
                            ..sorry.clone()
                        });
                    }
                }
            }
            destinations.sort_by_key(|d| d.addr);
            for s in &v.services {
                out.services.push(VirtualService {
                    service: s.clone(),
                    destinations: destinations.clone(),
                });
            }
        }
        out
    }

    /// Whether quorum holds for each virtual server, by name.
    pub fn quorum(&self) -> Vec<(String, bool)> {
        self.vs
            .iter()
            .map(|v| (v.name.clone(), v.quorum_up))
            .collect()
    }
}

/// `table` with each service's destinations in address order, for comparing with the model.
pub fn normalized(mut table: IpvsState) -> IpvsState {
    for s in &mut table.services {
        s.destinations.sort_by_key(|d| d.addr);
    }
    table
}
