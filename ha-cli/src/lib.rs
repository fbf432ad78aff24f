//! The `ha` director: composes vrrp-core, ipvs-sys and healthcheck.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod config;
