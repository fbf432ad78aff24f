//! keepalived's `net_namespace`, `net_namespace_ipvs` and `instance`.
//!
//! - `net_namespace NAME`: the whole director runs in `/run/netns/NAME` — VRRP sockets,
//!   addresses, routes, rules, the firewall, IPVS, and the scripts it runs. The director's
//!   thread enters it before it starts anything, and every thread and process it starts
//!   inherits it (as keepalived's `setns` before its children start).
//! - `net_namespace_ipvs [NAME]`: IPVS is programmed in that namespace instead (no name: the
//!   default namespace, init's), as keepalived's checker does.
//! - `instance NAME`, and `net_namespace`, name the run files, so that several directors can
//!   share a host: the control socket (and its single-instance lock) is
//!   `/run/ha/[NAMESPACE/]ha[_INSTANCE].sock`, as keepalived's pid files are
//!   `/run/keepalived/[NAMESPACE/]keepalived[_INSTANCE].pid`.
//!
//! None of them can change at a reload (keepalived refuses it too): restart.

use std::path::PathBuf;

/// Where `ip netns` keeps named namespaces.
pub const NETNS_DIR: &str = "/run/netns";

/// The namespace settings of a configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceConfig {
    /// `net_namespace NAME`.
    pub net_namespace: Option<String>,
    /// `net_namespace_ipvs [NAME]`: `Some(None)` is the default namespace.
    pub ipvs: Option<Option<String>>,
    /// `instance NAME`.
    pub instance: Option<String>,
}

fn words<'a>(config: &'a keepalived_conf::Config, keyword: &str) -> Option<&'a [String]> {
    config
        .other
        .iter()
        .chain(&config.global_defs.other)
        .find(|s| s.keyword == keyword)
        .map(|s| s.args.as_slice())
}

/// A name usable as a file name under /run/netns or /run/ha.
fn checked(keyword: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') || name.len() > 255 {
        return Err(format!("{keyword}: `{name}` is not a usable name"));
    }
    Ok(name.to_string())
}

impl NamespaceConfig {
    pub fn from_config(config: &keepalived_conf::Config) -> Result<NamespaceConfig, String> {
        let net_namespace = match words(config, "net_namespace") {
            None => None,
            Some([name, ..]) => Some(checked("net_namespace", name)?),
            Some([]) => return Err("net_namespace: no name".into()),
        };
        let ipvs = match words(config, "net_namespace_ipvs") {
            None => None,
            Some([]) => Some(None),
            Some([name, ..]) => Some(Some(checked("net_namespace_ipvs", name)?)),
        };
        let instance = match words(config, "instance") {
            None => None,
            Some([name, ..]) => Some(checked("instance", name)?),
            Some([]) => return Err("instance: no name".into()),
        };
        Ok(NamespaceConfig {
            net_namespace,
            ipvs,
            instance,
        })
    }

    /// The namespace file IPVS is programmed in, when not the director's own.
    pub fn ipvs_path(&self) -> Option<PathBuf> {
        self.ipvs.as_ref().map(|name| match name {
            Some(name) => PathBuf::from(NETNS_DIR).join(name),
            None => PathBuf::from("/proc/1/ns/net"),
        })
    }

    /// The control socket when `ha run` is not given one.
    pub fn control_socket(&self) -> PathBuf {
        control_socket(self.net_namespace.as_deref(), self.instance.as_deref())
    }
}

/// `/run/ha/[NAMESPACE/]ha[_INSTANCE].sock`.
pub fn control_socket(net_namespace: Option<&str>, instance: Option<&str>) -> PathBuf {
    let mut path = PathBuf::from(crate::control::DEFAULT_SOCKET);
    let file = match instance {
        Some(i) => format!("ha_{i}.sock"),
        None => "ha.sock".to_string(),
    };
    path.pop();
    if let Some(ns) = net_namespace {
        path.push(ns);
    }
    path.push(file);
    path
}

/// Moves the calling thread into the named namespace; threads and processes it starts from
/// then on are in it too.
pub fn enter(name: &str) -> Result<(), String> {
    let path = PathBuf::from(NETNS_DIR).join(name);
    let file = std::fs::File::open(&path)
        .map_err(|e| format!("net_namespace {name}: cannot open {}: {e}", path.display()))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("net_namespace {name}: cannot enter it: {e}"))?;
    tracing::info!("running in network namespace {name}");
    Ok(())
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
    fn names_and_run_files() {
        let c = NamespaceConfig::from_config(&parse(
            "net_namespace blue\ninstance web\nnet_namespace_ipvs\n",
        ))
        .unwrap();
        assert_eq!(c.net_namespace.as_deref(), Some("blue"));
        assert_eq!(
            c.control_socket(),
            PathBuf::from("/run/ha/blue/ha_web.sock")
        );
        assert_eq!(c.ipvs_path(), Some(PathBuf::from("/proc/1/ns/net")));
        // keepalived's parser installs them at the top level only (global_parser.c,
        // install_keyword_root).
        let c =
            NamespaceConfig::from_config(&parse("instance db\nnet_namespace_ipvs lvs\n")).unwrap();
        assert_eq!(c.control_socket(), PathBuf::from("/run/ha/ha_db.sock"));
        assert_eq!(c.ipvs_path(), Some(PathBuf::from("/run/netns/lvs")));
        let c = NamespaceConfig::from_config(&parse("")).unwrap();
        assert_eq!(c.control_socket(), PathBuf::from("/run/ha/ha.sock"));
        assert!(NamespaceConfig::from_config(&parse("net_namespace ../x\n")).is_err());
    }
}
