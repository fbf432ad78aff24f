//! The director on Linux: everything that runs VRRP and LVS from a keepalived.conf.
// `unsafe` is denied everywhere but `net::sys`, the system-call glue that cannot be written without it.
#![deny(unsafe_code)]

pub mod alert;
pub mod control;
pub mod lvs;
pub mod net;
pub mod notify;
pub mod track;
pub mod vrrp;
