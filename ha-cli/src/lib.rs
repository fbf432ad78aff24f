//! The `ha` director: composes vrrp-core, ipvs-sys and healthcheck.
// `unsafe` is denied everywhere but `net::cmsg`, which reads recvmsg's control messages.
#![deny(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod config;
pub mod net;
