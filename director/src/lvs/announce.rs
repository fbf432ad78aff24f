//! The announce interface (ha extension `ha_announce`): the I/O half. Which addresses belong
//! there is [`super::state::LvsState`]'s decision ([`announced_addresses`]); this keeps the
//! dummy interface holding exactly those, as /32 or /128, for the node's routing daemon (FRR's
//! `redistribute connected` with a route-map on the interface) to announce. ha never speaks
//! BGP itself.
//!
//! [`announced_addresses`]: super::state::LvsState::announced_addresses

use std::collections::BTreeSet;
use std::net::IpAddr;

use netlink_packet_route::address::AddressScope;

use crate::net::rtnl::{InterfaceAddress, Rtnl, RtnlError};

/// The announce interface and what this run last put on it.
#[derive(Debug)]
pub struct Announcer {
    interface: String,
    rtnl: Option<Rtnl>,
    ifindex: Option<u32>,
    /// What the interface held after the last successful [`Announcer::apply`].
    applied: Option<BTreeSet<IpAddr>>,
}

fn host_prefix(a: IpAddr) -> u8 {
    if a.is_ipv4() {
        32
    } else {
        128
    }
}

impl Announcer {
    pub fn new(interface: String) -> Announcer {
        Announcer {
            interface,
            rtnl: None,
            ifindex: None,
            applied: None,
        }
    }

    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Makes the interface hold exactly `wanted`, creating it if needed. Without `verify`,
    /// nothing is done when `wanted` is what was last applied; with it, the interface is
    /// read again and what was changed behind the director's back is put back. A failure is
    /// logged and retried at the next call.
    pub fn apply(&mut self, wanted: &BTreeSet<IpAddr>, verify: bool) {
        if !verify && self.applied.as_ref() == Some(wanted) {
            return;
        }
        match self.sync(wanted) {
            Ok(()) => self.applied = Some(wanted.clone()),
            Err(e) => {
                tracing::warn!(
                    interface = self.interface,
                    "announce interface {}: {e}",
                    self.interface
                );
                self.rtnl = None;
                self.ifindex = None;
                self.applied = None;
            }
        }
    }

    fn sync(&mut self, wanted: &BTreeSet<IpAddr>) -> Result<(), RtnlError> {
        if self.rtnl.is_none() {
            self.rtnl = Some(Rtnl::open()?);
        }
        let rtnl = self.rtnl.as_mut().expect("opened above");
        let ifindex = match self.ifindex {
            Some(i) => i,
            None => {
                let i = rtnl.ensure_dummy(&self.interface)?;
                self.ifindex = Some(i);
                i
            }
        };
        let held = rtnl.addresses(ifindex)?;
        let address = |a: IpAddr, prefix_len: u8| InterfaceAddress {
            ifindex,
            address: a,
            prefix_len,
            label: None,
            scope: AddressScope::Universe,
            options: crate::net::AddressOptions::default(),
        };
        // The interface is ha's alone: whatever else is on it would be announced too.
        for &(a, prefix) in &held {
            let link_local = matches!(a, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80);
            if link_local || (wanted.contains(&a) && prefix == host_prefix(a)) {
                continue;
            }
            rtnl.delete_address(&address(a, prefix))?;
            tracing::info!(
                "announce interface {}: removed {a}/{prefix}",
                self.interface
            );
        }
        for &a in wanted {
            if held.contains(&(a, host_prefix(a))) {
                continue;
            }
            rtnl.add_address(&address(a, host_prefix(a)))?;
            tracing::info!(
                "announce interface {}: added {a}/{}",
                self.interface,
                host_prefix(a)
            );
        }
        Ok(())
    }
}
