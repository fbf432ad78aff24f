//! Linux IPVS over generic netlink.
#![forbid(unsafe_code)]
