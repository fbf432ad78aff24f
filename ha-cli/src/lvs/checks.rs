//! keepalived checker blocks → the health-check engine's configuration.
//! (Placeholder until the full translation lands.)

use std::net::SocketAddr;

use crate::config::{CheckerKind, GlobalDefs, RealServer, VirtualServer, VirtualServerKey};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CheckConfigError(String);

pub fn virtual_server_name(key: &VirtualServerKey) -> String {
    match key {
        VirtualServerKey::Addr { ip, port } => SocketAddr::new(*ip, *port).to_string(),
        VirtualServerKey::Fwmark { mark } => format!("fwmark {mark}"),
        VirtualServerKey::Group { name } => format!("group {name}"),
    }
}

pub fn real_server_addr(vs: &VirtualServer, rs: &RealServer) -> SocketAddr {
    let port = rs.port.unwrap_or(match vs.key {
        VirtualServerKey::Addr { port, .. } => port,
        _ => 0,
    });
    SocketAddr::new(rs.ip, port)
}

pub fn real_server_config(
    vs: &VirtualServer,
    rs: &RealServer,
    _globals: &GlobalDefs,
) -> Result<healthcheck::RealServerConfig, CheckConfigError> {
    let mut checkers = Vec::new();
    for (i, c) in rs.checkers.iter().enumerate() {
        let CheckerKind::TcpCheck = c.kind else {
            return Err(CheckConfigError(format!("{} not yet", c.kind.keyword())));
        };
        let mut cc =
            healthcheck::CheckerConfig::new(format!("TCP_CHECK#{i}"), healthcheck::CheckKind::Tcp);
        cc.timing.delay_loop = c
            .common
            .delay_loop
            .or(rs.delay_loop)
            .unwrap_or(vs.delay_loop)
            .as_duration();
        if let Some(t) = c.common.connect_timeout {
            cc.timing.connect_timeout = t.as_duration();
        }
        if let Some(r) = c.common.retry.or(rs.retry).or(vs.retry) {
            cc.timing.retry = r;
        }
        if let Some(t) = c
            .common
            .delay_before_retry
            .or(rs.delay_before_retry)
            .or(vs.delay_before_retry)
        {
            cc.timing.delay_before_retry = t.as_duration();
        }
        cc.connect.connect_port = c.common.connect_port;
        cc.connect.connect_ip = c.common.connect_ip;
        cc.timing.alpha = c.common.alpha.or(rs.alpha).unwrap_or(vs.alpha);
        checkers.push(cc);
    }
    Ok(healthcheck::RealServerConfig {
        id: healthcheck::RealServerId {
            virtual_server: virtual_server_name(&vs.key),
            real_server: real_server_addr(vs, rs),
        },
        weight: rs.weight.max(0) as u32,
        checkers,
    })
}
