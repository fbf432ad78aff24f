//! `TCP_CHECK`: up when the connection is established.

use std::net::SocketAddr;

use crate::config::ConnectOptions;
use crate::outcome::{Failure, Outcome};

pub(crate) async fn check(opts: &ConnectOptions, target: SocketAddr) -> Outcome {
    match super::net::tcp_connect(opts, target).await {
        // Dropping the stream closes it; the server sees an ordinary FIN.
        Ok(_stream) => Outcome::Pass(None),
        Err(err) => Outcome::Fail(Failure::from_io(&err)),
    }
}
