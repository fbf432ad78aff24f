//! The `ha` director: composes vrrp-core, ipvs-sys and healthcheck.
// `unsafe` is denied everywhere but `net::sys`, the system-call glue that cannot be written without it.
#![deny(unsafe_code)]

pub mod alert;
pub mod cli;
pub mod commands;
pub mod config;
pub mod control;
pub mod director;
pub mod lvs;
pub mod net;
pub mod notify;
pub mod systemd;
pub mod track;
pub mod vrrp;
