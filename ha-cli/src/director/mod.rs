//! The director's VRRP plan: a parsed configuration turned into the instances the VRRP
//! thread runs. The LVS side plans itself in [`crate::lvs::plan`].

pub mod vrrp_plan;

pub use vrrp_plan::{plan, HostAddresses, PlanError, RtnlHost};
