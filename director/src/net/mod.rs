//! Network I/O of the director: raw VRRP sockets, the IP headers around adverts, and
//! rtnetlink for virtual addresses and link state.

pub mod address_line;
pub mod advert_filter;
pub mod firewall;
pub mod garp;
pub mod ipv4;
pub mod netns;
pub mod route;
pub mod rtnl;
pub mod rule;
pub mod statics;
mod sys;
pub mod vrrp_socket;

use std::io;
use std::net::IpAddr;

pub use address_line::{address_line, AddressLine};
pub use garp::{virtual_router_mac, GratuitousSender};
pub use route::{parse_route, Route};
pub use rtnl::{
    parse_changes, AddressOptions, InterfaceAddress, LinkStatus, NetChange, NetWatcher, Rtnl,
    RtnlError,
};
pub use rule::{parse_rule, Rule};
/// The `recvmsg` control-message walker, for its fuzz target.
#[doc(hidden)]
pub use sys::{messages as control_messages, Cmsg};
pub use sys::{set_realtime_priority, set_thread_nice};
pub use vrrp_socket::{interface_index, Ipv6Control, Membership, Received, RxBatch, VrrpSocket};

/// Why a network operation failed, naming the interface and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("interface {interface}: {source}")]
    Interface {
        interface: String,
        #[source]
        source: io::Error,
    },
    #[error("interface {interface}: cannot {what}: {source}")]
    Socket {
        interface: String,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("interface {interface}: cannot send an advert to {destination}: {source}")]
    Send {
        interface: String,
        destination: IpAddr,
        #[source]
        source: io::Error,
    },
}
