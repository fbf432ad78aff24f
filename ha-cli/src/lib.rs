//! The `ha` binary: command-line parsing, the subcommands, output and signals. The work is
//! done by the library crates (`keepalived-conf`, `director`, `vrrp-core`, `ipvs-sys`,
//! `healthcheck`).
#![deny(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod logging;
pub mod metrics;
pub mod systemd;
