//! Configuration of one virtual router instance.

use alloc::vec::Vec;
use core::net::IpAddr;
use core::time::Duration;

use crate::wire::{Family, Version, AUTH_DATA_LEN};
use crate::Error;

/// VRRPv2 authentication (keepalived's `authentication { auth_type ... auth_pass ... }`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum Authentication {
    /// Type 0.
    #[default]
    None,
    /// Type 1 (`auth_type PASS`): up to 8 bytes, NUL-padded on the wire.
    Password([u8; AUTH_DATA_LEN]),
}

impl Authentication {
    /// A simple password as keepalived takes it: the first 8 bytes, NUL-padded.
    pub fn password(text: &str) -> Authentication {
        let mut data = [0u8; AUTH_DATA_LEN];
        let bytes = text.as_bytes();
        let n = bytes.len().min(AUTH_DATA_LEN);
        data[..n].copy_from_slice(&bytes[..n]);
        Authentication::Password(data)
    }
}

/// When gratuitous ARPs / unsolicited neighbour advertisements are sent (keepalived's `garp_*`).
/// The instance decides when; the caller sends one per virtual address each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GarpConfig {
    /// `garp_master_delay`: delay of the second burst after becoming master (0 = no second burst).
    pub master_delay: Duration,
    /// `garp_master_repeat`: messages per burst on becoming master.
    pub master_repeat: u8,
    /// `garp_master_refresh`: period of refresh bursts while master (`None` = off).
    pub master_refresh: Option<Duration>,
    /// `garp_master_refresh_repeat`: messages per refresh burst.
    pub master_refresh_repeat: u8,
    /// `garp_lower_prio_delay`: delay of the second burst after a lower-priority advert.
    pub lower_prio_delay: Duration,
    /// `garp_lower_prio_repeat`: messages per burst when a master hears a lower-priority advert
    /// (the other side of a healed partition may have taken the VIP's neighbours with it);
    /// `None` = none are sent. keepalived's default is `garp_master_repeat`.
    pub lower_prio_repeat: Option<u8>,
}

impl Default for GarpConfig {
    /// keepalived 2.2.7's defaults.
    fn default() -> Self {
        GarpConfig {
            master_delay: Duration::from_secs(5),
            master_repeat: 5,
            master_refresh: None,
            master_refresh_repeat: 1,
            lower_prio_delay: Duration::from_secs(5),
            lower_prio_repeat: Some(5),
        }
    }
}

/// A `unicast_peer` entry: where unicast adverts go, and (with `check_unicast_src`) the only
/// sources accepted, each within its TTL / hop-limit range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct UnicastPeer {
    pub address: IpAddr,
    /// `min_ttl`: adverts from this peer with a lower TTL / hop limit are dropped (default 0).
    pub min_ttl: u8,
    /// `max_ttl` (default 255).
    pub max_ttl: u8,
}

impl UnicastPeer {
    /// A peer with keepalived's defaults: any TTL.
    pub const fn new(address: IpAddr) -> UnicastPeer {
        UnicastPeer {
            address,
            min_ttl: 0,
            max_ttl: 255,
        }
    }
}

impl From<IpAddr> for UnicastPeer {
    fn from(address: IpAddr) -> UnicastPeer {
        UnicastPeer::new(address)
    }
}

/// Everything an [`Instance`](crate::Instance) needs to know. Defaults are keepalived's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InstanceConfig {
    /// `vrrp_version` (keepalived's default is 2).
    pub version: Version,
    /// `virtual_router_id`, 1-255.
    pub vrid: u8,
    /// `priority`, 1-255; 255 means this router owns the addresses and is master at once.
    pub priority: u8,
    /// `advert_int`: whole seconds for v2; a multiple of 10 ms up to 40.95 s for v3.
    pub advert_interval: Duration,
    /// The addresses advertised (`virtual_ipaddress`; the `_excluded` ones are not advertised).
    pub virtual_addresses: Vec<IpAddr>,
    /// This router's primary address on the interface (or `unicast_src_ip`): the source of
    /// adverts, and the tie-breaker between equal priorities.
    pub primary_address: IpAddr,
    /// Preempt a lower-priority master (`nopreempt` turns it off).
    pub preempt: bool,
    /// `preempt_delay`: time after startup, or after first seeing a lower-priority master,
    /// before preempting it.
    pub preempt_delay: Duration,
    /// Accept mode (`accept` / `no_accept`): whether the master accepts packets for virtual
    /// addresses it does not own. The caller enforces it; the instance reports it.
    pub accept: bool,
    /// v2 only.
    pub authentication: Authentication,
    /// `unicast_peer`: when not empty, adverts go to each peer instead of the multicast group.
    /// As keepalived, unicast adverts need not have TTL 255 (they may cross routers), and
    /// other sources are accepted unless `check_unicast_src` is set.
    pub unicast_peers: Vec<UnicastPeer>,
    /// `check_unicast_src` / `vrrp_check_unicast_src` (or a peer's `min_ttl` / `max_ttl`):
    /// unicast adverts from an address that is not a peer are dropped, and those from a peer
    /// whose TTL is outside its range.
    pub check_unicast_src: bool,
    /// The multicast group adverts go to (`vrrp_mcast_group4` / `vrrp_mcast_group6`,
    /// `mcast_dst_ip`); `None` is the IANA group, 224.0.0.18 or ff02::12.
    pub multicast_group: Option<IpAddr>,
    /// VRRPv3 over IPv4: compute the checksum without the pseudo-header (`v3_checksum_as_v2`).
    pub v3_checksum_as_v2: bool,
    /// `lower_prio_no_advert`: as master, do not answer a lower-priority advert with an advert
    /// of our own (RFC behaviour; keepalived's default answers).
    pub lower_prio_no_advert: bool,
    /// `higher_prio_send_advert`: as master, send one advert before yielding to a higher
    /// priority, so that the other side of a healed partition learns about us at once.
    pub higher_prio_send_advert: bool,
    /// `down_timer_adverts`: adverts missed before a backup takes over (RFC: 3).
    pub down_timer_adverts: u8,
    /// `vrrp_startup_delay`: time between the start command and the RFC Startup event.
    pub startup_delay: Duration,
    /// `skip_check_adv_addr`: as a backup, adverts from the master already followed are not
    /// checked against our address list (a new master's first advert still is).
    pub skip_check_adv_addr: bool,
    pub garp: GarpConfig,
}

impl InstanceConfig {
    /// A configuration with keepalived's defaults for the given essentials.
    pub fn new(
        version: Version,
        vrid: u8,
        priority: u8,
        primary_address: IpAddr,
        virtual_addresses: Vec<IpAddr>,
    ) -> InstanceConfig {
        InstanceConfig {
            version,
            vrid,
            priority,
            advert_interval: Duration::from_secs(1),
            virtual_addresses,
            primary_address,
            preempt: true,
            preempt_delay: Duration::ZERO,
            accept: false,
            authentication: Authentication::None,
            unicast_peers: Vec::new(),
            check_unicast_src: false,
            multicast_group: None,
            v3_checksum_as_v2: false,
            lower_prio_no_advert: false,
            higher_prio_send_advert: false,
            down_timer_adverts: 3,
            startup_delay: Duration::ZERO,
            skip_check_adv_addr: false,
            garp: GarpConfig::default(),
        }
    }

    /// The address family of the instance (that of its primary address).
    pub fn family(&self) -> Family {
        Family::of(&self.primary_address)
    }

    /// Whether adverts go to unicast peers rather than a multicast group.
    pub fn is_unicast(&self) -> bool {
        !self.unicast_peers.is_empty()
    }

    /// The multicast group of multicast adverts.
    pub fn multicast_destination(&self) -> IpAddr {
        self.multicast_group.unwrap_or(match self.family() {
            Family::Ipv4 => IpAddr::V4(crate::wire::MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(crate::wire::MULTICAST_V6),
        })
    }

    /// The interval in the advert's field unit (seconds for v2, centiseconds for v3).
    pub fn advert_interval_field(&self) -> u16 {
        interval_to_field(self.version, self.advert_interval)
    }

    /// Checks the configuration the way keepalived refuses one.
    pub fn validate(&self) -> Result<(), Error> {
        let err = |setting, reason| Err(Error::Config { setting, reason });
        if self.vrid == 0 {
            return err("virtual_router_id", "must be 1-255");
        }
        if self.priority == 0 {
            return err(
                "priority",
                "must be 1-255 (0 is reserved for the shutdown advert)",
            );
        }
        let family = self.family();
        if self.version == Version::V2 && family == Family::Ipv6 {
            return err("vrrp_version", "IPv6 needs VRRPv3");
        }
        if self
            .virtual_addresses
            .iter()
            .any(|a| Family::of(a) != family)
        {
            return err(
                "virtual_ipaddress",
                "every advertised address must be of the instance's family",
            );
        }
        if self.virtual_addresses.len() > 255 {
            return err(
                "virtual_ipaddress",
                "at most 255 addresses can be advertised",
            );
        }
        if self
            .unicast_peers
            .iter()
            .any(|p| Family::of(&p.address) != family)
        {
            return err("unicast_peer", "peers must be of the instance's family");
        }
        if self.unicast_peers.iter().any(|p| p.min_ttl > p.max_ttl) {
            return err("unicast_peer", "min_ttl must not be above max_ttl");
        }
        if let Some(group) = self.multicast_group {
            if Family::of(&group) != family || !group.is_multicast() {
                return err(
                    "mcast_dst_ip",
                    "must be a multicast group of the instance's family",
                );
            }
        }
        match self.version {
            Version::V2 => {
                let secs = self.advert_interval.as_secs();
                if self.advert_interval.subsec_nanos() != 0 || !(1..=255).contains(&secs) {
                    return err("advert_int", "VRRPv2 needs whole seconds, 1-255");
                }
            }
            Version::V3 => {
                let ms = self.advert_interval.as_millis();
                if self.advert_interval.as_nanos() % 10_000_000 != 0 || !(10..=40_950).contains(&ms)
                {
                    return err(
                        "advert_int",
                        "VRRPv3 needs a multiple of 10 ms, 0.01-40.95 s",
                    );
                }
                if self.authentication != Authentication::None {
                    return err("authentication", "VRRPv3 has no authentication");
                }
            }
        }
        if self.down_timer_adverts == 0 {
            return err("down_timer_adverts", "must be 1-255");
        }
        if self.garp.master_refresh == Some(Duration::ZERO) {
            return err(
                "garp_master_refresh",
                "must be positive (omit it to disable)",
            );
        }
        Ok(())
    }
}

/// Converts an interval to the advert's field (seconds for v2, centiseconds for v3).
pub(crate) fn interval_to_field(version: Version, interval: Duration) -> u16 {
    match version {
        Version::V2 => u16::try_from(interval.as_secs()).unwrap_or(u16::MAX),
        Version::V3 => u16::try_from(interval.as_millis() / 10).unwrap_or(u16::MAX),
    }
}

/// Converts the advert's interval field to a duration.
pub(crate) fn interval_from_field(version: Version, field: u16) -> Duration {
    match version {
        Version::V2 => Duration::from_secs(u64::from(field)),
        Version::V3 => Duration::from_millis(10 * u64::from(field)),
    }
}
