//! The LVS side of the director: `virtual_server` blocks become IPVS services whose real
//! servers follow their health checks.

pub mod checks;
