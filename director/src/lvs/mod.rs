//! The LVS side of the director: `virtual_server` blocks become IPVS services whose real
//! servers follow their health checks.

pub mod announce;
pub mod checks;
pub mod plan;

pub use plan::{LvsPlan, LvsPlanError, RealServerPlan, StopPolicy, VirtualServerPlan};
pub mod runner;
pub mod state;

pub use runner::{LvsHandle, LvsOptions, LvsRunner};
