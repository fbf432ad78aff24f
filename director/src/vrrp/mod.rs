//! The VRRP side: the plan (keepalived.conf to instance specs) and the runner (the VRRP
//! thread with its sockets).

pub mod plan;
pub mod runner;
pub mod strict;
pub mod unapplied;

pub use plan::{plan, HostAddresses, PlanError, RtnlHost};
pub use runner::*;
pub use unapplied::{unapplied, Unapplied};
