//! `UDP_CHECK`: send `payload`, then expect a reply matching `require_reply`, or (with no
//! pattern) at least no ICMP port unreachable within the timeout.

use std::net::SocketAddr;
use std::time::Duration;

use crate::config::{ConnectOptions, UdpCheck};
use crate::outcome::{Failure, Outcome};

/// Largest datagram read; a longer reply is truncated, which does not matter for a prefix match.
const MAX_REPLY: usize = 65_536;

pub(crate) async fn check(
    config: &UdpCheck,
    opts: &ConnectOptions,
    target: SocketAddr,
    timeout: Duration,
) -> Outcome {
    let socket = match super::net::udp_connect(opts, target).await {
        Ok(socket) => socket,
        Err(err) => return Outcome::Fail(Failure::from_io(&err)),
    };
    if let Err(err) = socket.send(&config.payload).await {
        return Outcome::Fail(Failure::from_io(&err));
    }
    let mut buf = vec![0u8; MAX_REPLY];
    match tokio::time::timeout(timeout, socket.recv(&mut buf)).await {
        // keepalived checks the length and the bytes only against a require_reply pattern.
        Ok(Ok(len)) => match &config.require_reply {
            Some(pattern)
                if !pattern.is_empty()
                    && !(config.min_reply_length..=config.max_reply_length).contains(&len) =>
            {
                Outcome::Fail(Failure::UdpReply(format!(
                    "{len}-byte reply is not within min_reply_length {} and max_reply_length {}",
                    config.min_reply_length, config.max_reply_length
                )))
            }
            Some(pattern) if !pattern.agrees_with(&buf[..len]) => Outcome::Fail(Failure::UdpReply(
                format!("{len}-byte reply does not match require_reply"),
            )),
            _ => Outcome::Pass(None),
        },
        Ok(Err(err)) => Outcome::Fail(Failure::from_io(&err)),
        Err(_) if config.require_reply.is_none() => Outcome::Pass(None),
        Err(_) => Outcome::Fail(Failure::UdpReply(format!("no reply within {timeout:?}"))),
    }
}
