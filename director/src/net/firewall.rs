//! keepalived's firewall for `no_accept` (and `vrrp_strict`, which implies it): while an
//! instance that is not in accept mode (nor the address owner) is master, traffic to and from
//! its virtual addresses is dropped, VRRP itself aside (adverts go to the multicast group or
//! the peers, from the primary address). The rules are keepalived's, in tables of their own
//! (`ip` and `ip6`, named `keepalived` unless `nftables NAME` says otherwise) whose base
//! chains hook input and output at `nftables_priority` (default -1, before the filter
//! tables):
//!
//! ```text
//! table ip keepalived {
//!     set vips { type ipv4_addr }
//!     chain in  { type filter hook input  priority -1; policy accept; ip daddr @vips drop }
//!     chain out { type filter hook output priority -1; policy accept; ip saddr @vips drop }
//! }
//! table ip6 keepalived {
//!     set vips { type ipv6_addr }
//!     set vips_link_local { type ipv6_addr . iface_index }
//!     chain in  { ...; icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept
//!                 ip6 daddr fe80::/10 goto in_link_local; ip6 daddr @vips drop }
//!     chain out { ...; the same with saddr and out_link_local }
//!     chain in_link_local  { ip6 daddr . iif @vips_link_local drop }
//!     chain out_link_local { ip6 saddr . oif @vips_link_local drop }
//! }
//! ```
//!
//! An instance's addresses (`virtual_ipaddress` and `_excluded`) enter the sets before they
//! are added when it becomes master, and leave them after they are removed; the tables are
//! created afresh at start (a dead predecessor's are replaced) and deleted at stop.
//! `nftables_counters` adds a counter to each drop rule. `vrrp_iptables` is taken as
//! `nftables`, as keepalived built without iptables does.
//!
//! The rules are programmed through nft(8)'s JSON interface (libnftables-json(5)): `nft -j -f
//! -` with one batch per change, applied by the kernel as one transaction.

use std::io::Write;
use std::net::IpAddr;
use std::process::{Command, Stdio};

use serde_json::{json, Value};

/// The firewall settings of a configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// `nftables [NAME]`: default `keepalived`.
    pub table: String,
    /// `nftables_priority`: default -1.
    pub priority: i32,
    /// `nftables_counters`.
    pub counters: bool,
}

/// A virtual address as the firewall keys it: link-local IPv6 addresses with their interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallAddress {
    pub address: IpAddr,
    pub interface: String,
}

fn global_words<'a>(config: &'a keepalived_conf::Config, keyword: &str) -> Option<&'a [String]> {
    config
        .global_defs
        .other
        .iter()
        .chain(&config.other)
        .find(|s| s.keyword == keyword)
        .map(|s| s.args.as_slice())
}

impl FirewallConfig {
    /// The firewall `config` asks for: `nftables` or `vrrp_iptables` in global_defs, or any
    /// instance not in accept mode (keepalived then uses nftables with its defaults). `None`
    /// when there is no reason for one.
    pub fn from_config(config: &keepalived_conf::Config) -> Result<Option<FirewallConfig>, String> {
        let nftables = global_words(config, "nftables");
        let iptables = global_words(config, "vrrp_iptables");
        let needed = config
            .vrrp_instances
            .iter()
            .any(|vi| !crate::vrrp::strict::accept_mode(config, vi));
        if nftables.is_none() && iptables.is_none() && !needed {
            return Ok(None);
        }
        let table = nftables
            .and_then(|w| w.first().cloned())
            .unwrap_or_else(|| "keepalived".to_string());
        if table.is_empty()
            || table.len() > 255
            || !table
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            return Err(format!("nftables: `{table}` is not a valid table name"));
        }
        let priority = match global_words(config, "nftables_priority").and_then(|w| w.first()) {
            Some(p) => p
                .parse()
                .map_err(|_| format!("nftables_priority: `{p}` is not a whole number"))?,
            None => -1,
        };
        Ok(Some(FirewallConfig {
            table,
            priority,
            counters: global_words(config, "nftables_counters").is_some(),
        }))
    }
}

/// The tables in the kernel. Dropping it deletes them.
#[derive(Debug)]
pub struct Firewall {
    config: FirewallConfig,
    nft: String,
    active: bool,
}

impl Firewall {
    /// Creates the tables afresh (replacing any a dead predecessor left).
    pub fn start(config: FirewallConfig) -> Result<Firewall, String> {
        let nft = ["/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("nft")
            .to_string();
        let mut fw = Firewall {
            config,
            nft,
            active: false,
        };
        let mut batch = fw.delete_tables();
        batch.extend(fw.tables());
        fw.run(batch)
            .map_err(|e| format!("nftables table {}: {e}", fw.config.table))?;
        fw.active = true;
        tracing::info!(
            "nftables: tables ip/ip6 {} at priority {} drop traffic to the VIPs of masters not in accept mode",
            fw.config.table,
            fw.config.priority
        );
        Ok(fw)
    }

    pub fn config(&self) -> &FirewallConfig {
        &self.config
    }

    /// Starts dropping traffic to and from `addresses`.
    pub fn add(&mut self, addresses: &[FirewallAddress]) -> Result<(), String> {
        let batch: Vec<Value> = addresses
            .iter()
            .map(|a| json!({"add": {"element": self.element(a)}}))
            .collect();
        self.run(batch)
    }

    /// Stops dropping it (addresses not in the sets are fine).
    pub fn remove(&mut self, addresses: &[FirewallAddress]) -> Result<(), String> {
        let mut batch = Vec::new();
        for a in addresses {
            // Adding first makes the delete succeed whether or not it was there.
            batch.push(json!({"add": {"element": self.element(a)}}));
            batch.push(json!({"delete": {"element": self.element(a)}}));
        }
        self.run(batch)
    }

    /// Deletes the tables.
    pub fn stop(&mut self) {
        if !self.active {
            return;
        }
        self.active = false;
        let batch = self.delete_tables();
        if let Err(e) = self.run(batch) {
            tracing::warn!("nftables: cannot delete table {}: {e}", self.config.table);
        }
    }

    fn element(&self, a: &FirewallAddress) -> Value {
        let t = &self.config.table;
        match a.address {
            IpAddr::V4(v4) => {
                json!({"family": "ip", "table": t, "name": "vips", "elem": [v4.to_string()]})
            }
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => json!({
                "family": "ip6", "table": t, "name": "vips_link_local",
                "elem": [{"concat": [v6.to_string(), a.interface]}]
            }),
            IpAddr::V6(v6) => {
                json!({"family": "ip6", "table": t, "name": "vips", "elem": [v6.to_string()]})
            }
        }
    }

    /// Deleting a table that may not exist: add it (a no-op if it does), then delete it.
    fn delete_tables(&self) -> Vec<Value> {
        let t = &self.config.table;
        let mut batch = Vec::new();
        for family in ["ip", "ip6"] {
            batch.push(json!({"add": {"table": {"family": family, "name": t}}}));
            batch.push(json!({"delete": {"table": {"family": family, "name": t}}}));
        }
        batch
    }

    fn tables(&self) -> Vec<Value> {
        let t = &self.config.table;
        let p = self.config.priority;
        let drop = |mut expr: Vec<Value>| {
            if self.config.counters {
                expr.push(json!({"counter": null}));
            }
            expr.push(json!({"drop": null}));
            expr
        };
        let matches = |left: Value, right: Value| json!({"match": {"op": "==", "left": left, "right": right}});
        let field = |protocol: &str, field: &str| json!({"payload": {"protocol": protocol, "field": field}});
        let rule = |family: &str, chain: &str, expr: Vec<Value>| json!({"add": {"rule": {"family": family, "table": t, "chain": chain, "expr": expr}}});
        let mut batch = Vec::new();
        for family in ["ip", "ip6"] {
            batch.push(json!({"add": {"table": {"family": family, "name": t}}}));
            for (chain, hook) in [("in", "input"), ("out", "output")] {
                batch.push(json!({"add": {"chain": {
                    "family": family, "table": t, "name": chain,
                    "type": "filter", "hook": hook, "prio": p, "policy": "accept"
                }}}));
            }
        }
        batch.push(json!({"add": {"set": {"family": "ip", "table": t, "name": "vips", "type": "ipv4_addr"}}}));
        for (chain, addr) in [("in", "daddr"), ("out", "saddr")] {
            batch.push(rule(
                "ip",
                chain,
                drop(vec![matches(field("ip", addr), json!("@vips"))]),
            ));
        }
        batch.push(json!({"add": {"set": {"family": "ip6", "table": t, "name": "vips", "type": "ipv6_addr"}}}));
        batch.push(json!({"add": {"set": {
            "family": "ip6", "table": t, "name": "vips_link_local", "type": ["ipv6_addr", "iface_index"]
        }}}));
        for (chain, addr, iface) in [("in", "daddr", "iif"), ("out", "saddr", "oif")] {
            let link_local = format!("{chain}_link_local");
            batch
                .push(json!({"add": {"chain": {"family": "ip6", "table": t, "name": link_local}}}));
            batch.push(rule(
                "ip6",
                chain,
                vec![
                    matches(
                        field("icmpv6", "type"),
                        json!({"set": ["nd-neighbor-solicit", "nd-neighbor-advert"]}),
                    ),
                    json!({"accept": null}),
                ],
            ));
            batch.push(rule(
                "ip6",
                chain,
                vec![
                    matches(
                        field("ip6", addr),
                        json!({"prefix": {"addr": "fe80::", "len": 10}}),
                    ),
                    json!({"goto": {"target": link_local}}),
                ],
            ));
            batch.push(rule(
                "ip6",
                chain,
                drop(vec![matches(field("ip6", addr), json!("@vips"))]),
            ));
            batch.push(rule(
                "ip6",
                &link_local,
                drop(vec![matches(
                    json!({"concat": [field("ip6", addr), {"meta": {"key": iface}}]}),
                    json!("@vips_link_local"),
                )]),
            ));
        }
        batch
    }

    /// Runs one batch through `nft -j -f -`.
    fn run(&self, batch: Vec<Value>) -> Result<(), String> {
        if batch.is_empty() {
            return Ok(());
        }
        let text = json!({"nftables": batch}).to_string();
        let mut child = Command::new(&self.nft)
            .args(["-j", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e} (is nftables installed?)", self.nft))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(text.as_bytes())
                .map_err(|e| format!("{}: {e}", self.nft))?;
        }
        let out = child
            .wait_with_output()
            .map_err(|e| format!("{}: {e}", self.nft))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed: {}",
                self.nft,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

impl Drop for Firewall {
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

    const VI: &str = "vrrp_instance A {\n interface eth0\n virtual_router_id 1\n virtual_ipaddress { 10.0.0.1 }\n";

    #[test]
    fn a_firewall_when_keepalived_would_use_one() {
        // Accept mode (keepalived's default outside strict mode): none.
        assert_eq!(
            FirewallConfig::from_config(&parse(&format!("{VI}}}\n"))).unwrap(),
            None
        );
        let default = Some(FirewallConfig {
            table: "keepalived".into(),
            priority: -1,
            counters: false,
        });
        // no_accept, vrrp_strict or strict_mode: keepalived's defaults.
        for text in [
            format!("{VI} no_accept\n}}\n"),
            format!("global_defs {{\n vrrp_strict\n}}\n{VI}}}\n"),
            format!("{VI} strict_mode\n}}\n"),
            format!("global_defs {{\n vrrp_iptables\n}}\n{VI}}}\n"),
        ] {
            assert_eq!(
                FirewallConfig::from_config(&parse(&text)).unwrap(),
                default,
                "{text}"
            );
        }
        // The owner accepts whatever strict mode says; `accept` overrides strict mode.
        assert_eq!(
            FirewallConfig::from_config(&parse(&format!(
                "global_defs {{\n vrrp_strict\n}}\n{VI} priority 255\n}}\n"
            )))
            .unwrap(),
            None
        );
        assert_eq!(
            FirewallConfig::from_config(&parse(&format!("{VI} strict_mode\n accept\n}}\n")))
                .unwrap(),
            None
        );
        let c = FirewallConfig::from_config(&parse(&format!(
            "global_defs {{\n nftables ka_fw\n nftables_priority -150\n nftables_counters\n}}\n{VI}}}\n"
        )))
        .unwrap()
        .unwrap();
        assert_eq!(
            (c.table.as_str(), c.priority, c.counters),
            ("ka_fw", -150, true)
        );
    }
}
