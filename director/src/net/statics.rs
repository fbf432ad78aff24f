//! keepalived's `static_ipaddress`, `static_routes` and `static_rules`: installed when the
//! VRRP side starts whatever the instances' states, never touched by a failover, put back
//! when an interface comes back (the kernel drops its addresses' routes with it) or when
//! something removed them, changed by a reload to what the new file says, and removed at
//! stop — as keepalived's VRRP process does.

use std::net::IpAddr;

use netlink_packet_route::address::AddressScope;

use super::{
    interface_index, parse_route, parse_rule, AddressOptions, InterfaceAddress, Route, Rtnl, Rule,
};

/// A `static_ipaddress` line: the address on a named device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    pub device: String,
    pub label: Option<String>,
    pub scope: AddressScope,
    pub options: AddressOptions,
    /// `no_track`: not put back when something removes it (keepalived reinstates only the
    /// others).
    pub no_track: bool,
}

/// What the configuration asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticPlan {
    pub addresses: Vec<StaticAddress>,
    pub routes: Vec<Route>,
    pub rules: Vec<Rule>,
}

impl StaticPlan {
    /// The static entries of `config`; a line ha cannot apply is the error.
    pub fn from_config(config: &keepalived_conf::Config) -> Result<StaticPlan, String> {
        let mut plan = StaticPlan::default();
        for a in &config.static_ipaddress {
            let device = a.dev.clone().ok_or_else(|| {
                format!(
                    "static_ipaddress {}: no `dev` (a static address names its interface)",
                    a.addr
                )
            })?;
            let line = super::address_line(a).map_err(|e| format!("static_ipaddress: {e}"))?;
            plan.addresses.push(StaticAddress {
                address: a.addr,
                prefix_len: line.prefix_len,
                device,
                label: a.label.clone(),
                scope: line.scope,
                options: line.options,
                no_track: line.no_track,
            });
        }
        for words in &config.static_routes {
            plan.routes
                .push(parse_route(words).map_err(|e| format!("static_routes: {e}"))?);
        }
        for words in &config.static_rules {
            plan.rules
                .push(parse_rule(words).map_err(|e| format!("static_rules: {e}"))?);
        }
        Ok(plan)
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty() && self.routes.is_empty() && self.rules.is_empty()
    }
}

/// The installed static entries. Dropping it removes them.
#[derive(Debug)]
pub struct Statics {
    rtnl: Rtnl,
    plan: StaticPlan,
    last_check: std::time::Instant,
}

/// How often [`Statics::tick`] puts back what something else removed.
pub const CHECK_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

impl StaticAddress {
    fn resolved(&self) -> Result<InterfaceAddress, String> {
        let ifindex = interface_index(&self.device)
            .map_err(|e| format!("static address {}/{}: {e}", self.address, self.prefix_len))?;
        Ok(InterfaceAddress {
            ifindex,
            address: self.address,
            prefix_len: self.prefix_len,
            label: self.label.clone(),
            scope: self.scope,
            options: self.options.clone(),
        })
    }
}

impl Statics {
    /// Installs `plan`: addresses, then routes, then rules. What cannot be installed now (an
    /// interface not there yet) is logged and tried again by [`Statics::reinstate`].
    pub fn start(plan: StaticPlan) -> Result<Statics, String> {
        let rtnl = Rtnl::open().map_err(|e| e.to_string())?;
        let mut statics = Statics {
            rtnl,
            plan,
            last_check: std::time::Instant::now(),
        };
        statics.install(false);
        Ok(statics)
    }

    /// Adds whatever is missing (after a link came back).
    pub fn reinstate(&mut self) {
        self.last_check = std::time::Instant::now();
        self.install(true);
    }

    /// Called often: every [`CHECK_INTERVAL`], adds whatever is missing but `no_track`
    /// addresses, whose removal keepalived leaves alone.
    pub fn tick(&mut self) {
        if self.last_check.elapsed() >= CHECK_INTERVAL {
            self.last_check = std::time::Instant::now();
            self.install_tracked(true, true);
        }
    }

    fn install(&mut self, restoring: bool) {
        self.install_tracked(restoring, false);
    }

    /// Adds the plan's entries; `tracked_only`: not the `no_track` addresses.
    fn install_tracked(&mut self, restoring: bool, tracked_only: bool) {
        let what = if restoring { "restored" } else { "added" };
        for a in self.plan.addresses.clone() {
            if tracked_only && a.no_track {
                continue;
            }
            match a.resolved().and_then(|ia| {
                self.rtnl
                    .add_address(&ia)
                    .map_err(|e| format!("static address: {e}"))
            }) {
                Ok(true) => tracing::info!(
                    "static address {}/{} on {} {what}",
                    a.address,
                    a.prefix_len,
                    a.device
                ),
                Ok(false) => {}
                Err(e) if restoring => tracing::debug!("{e}"),
                Err(e) => tracing::warn!("{e}"),
            }
        }
        for r in self.plan.routes.clone() {
            match self.rtnl.add_route(&r) {
                Ok(true) => tracing::info!("static route {} {what}", r.text),
                Ok(false) => {}
                Err(e) if restoring => tracing::debug!("static route: {e}"),
                Err(e) => tracing::warn!("static route: {e}"),
            }
        }
        for r in self.plan.rules.clone() {
            match self.rtnl.add_rule(&r) {
                Ok(true) => tracing::info!("static rule {} {what}", r.text),
                Ok(false) => {}
                Err(e) if restoring => tracing::debug!("static rule: {e}"),
                Err(e) => tracing::warn!("static rule: {e}"),
            }
        }
    }

    /// Applies a reloaded configuration: what it no longer has is removed, what it adds is
    /// installed, the rest is left alone.
    pub fn reload(&mut self, plan: StaticPlan) {
        let old = std::mem::replace(&mut self.plan, plan);
        let gone = StaticPlan {
            addresses: old
                .addresses
                .into_iter()
                .filter(|a| !self.plan.addresses.contains(a))
                .collect(),
            routes: old
                .routes
                .into_iter()
                .filter(|r| !self.plan.routes.contains(r))
                .collect(),
            rules: old
                .rules
                .into_iter()
                .filter(|r| !self.plan.rules.contains(r))
                .collect(),
        };
        self.remove(&gone);
        self.install(false);
    }

    /// Removes everything: rules, then routes, then addresses.
    pub fn stop(&mut self) {
        let plan = std::mem::take(&mut self.plan);
        self.remove(&plan);
    }

    fn remove(&mut self, plan: &StaticPlan) {
        for r in &plan.rules {
            if let Err(e) = self.rtnl.delete_rule(r) {
                tracing::warn!("static rule: {e}");
            }
        }
        for r in &plan.routes {
            if let Err(e) = self.rtnl.delete_route(r) {
                tracing::warn!("static route: {e}");
            }
        }
        for a in &plan.addresses {
            // An interface that is gone took its addresses with it.
            if let Ok(ia) = a.resolved() {
                if let Err(e) = self.rtnl.delete_address(&ia) {
                    tracing::warn!("static address: {e}");
                }
            }
        }
    }
}

impl Drop for Statics {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> keepalived_conf::Config {
        let mut sources = keepalived_conf::SourceMap::default();
        let loaded = keepalived_conf::parse_str(
            "t.conf",
            text,
            &keepalived_conf::Options::default(),
            &mut sources,
        );
        assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
        loaded.config
    }

    #[test]
    fn static_blocks_plan_into_addresses_routes_and_rules() {
        let plan = StaticPlan::from_config(&parse(
            "static_ipaddress {\n 192.168.9.1/24 dev eth0 scope link label eth0:s\n 2001:db8::1 dev eth1\n}\n\
             static_routes {\n 10.9.0.0/16 via 192.168.9.254 dev eth0\n}\n\
             static_rules {\n from 192.168.9.0/24 table 100\n}\n",
        ))
        .unwrap();
        assert_eq!(plan.addresses.len(), 2);
        assert_eq!(plan.addresses[0].prefix_len, 24);
        assert_eq!(plan.addresses[0].scope, AddressScope::Link);
        assert_eq!(plan.addresses[1].prefix_len, 128);
        assert_eq!(plan.routes[0].device.as_deref(), Some("eth0"));
        assert_eq!(plan.rules[0].table, Some(100));
        let e = StaticPlan::from_config(&parse("static_ipaddress {\n 192.168.9.1/24\n}\n"))
            .unwrap_err();
        assert!(e.contains("no `dev`"), "{e}");
        let e =
            StaticPlan::from_config(&parse("static_rules {\n from 10.0.0.0/8\n}\n")).unwrap_err();
        assert!(e.contains("static_rules") && e.contains("no action"), "{e}");
    }
}
