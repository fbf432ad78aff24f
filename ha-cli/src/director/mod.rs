//! The director: a parsed configuration turned into running parts. For now the VRRP side
//! (keepalived's `--vrrp` mode); LVS joins it later.

pub mod vrrp_plan;

pub use vrrp_plan::{plan, HostAddresses, PlanError, RtnlHost};
