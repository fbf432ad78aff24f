//! Health-check engine for real servers.
#![forbid(unsafe_code)]
