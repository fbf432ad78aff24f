//! Counters, after the VRRPv3-MIB (RFC 6527) with the VRRP-MIB's (RFC 2787) authentication ones.

/// RFC 6527 `vrrpv3StatisticsNewMasterReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum NewMasterReason {
    #[default]
    NotMaster,
    /// Became master as the address owner.
    Priority,
    /// Preempted a lower-priority master.
    Preempted,
    /// The master stopped answering (or sent priority 0).
    MasterNoResponse,
}

/// RFC 6527 `vrrpv3StatisticsProtoErrReason`: the last protocol error seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub enum ProtocolErrorReason {
    #[default]
    NoError,
    IpTtlError,
    VersionError,
    ChecksumError,
    VrIdError,
}

/// Per-instance statistics. Field names follow the MIB objects they mirror.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Statistics {
    /// `vrrpv3StatisticsMasterTransitions`.
    pub master_transitions: u64,
    /// `vrrpv3StatisticsNewMasterReason`.
    pub new_master_reason: NewMasterReason,
    /// `vrrpv3StatisticsRcvdAdvertisements`: every advert received for this instance.
    pub rcvd_advertisements: u64,
    /// `vrrpv3StatisticsAdvIntervalErrors`.
    pub adv_interval_errors: u64,
    /// `vrrpv3StatisticsIpTtlErrors`.
    pub ip_ttl_errors: u64,
    /// `vrrpv3StatisticsProtoErrReason`.
    pub proto_err_reason: ProtocolErrorReason,
    /// `vrrpv3StatisticsRcvdPriZeroPackets`.
    pub rcvd_pri_zero_packets: u64,
    /// `vrrpv3StatisticsSentPriZeroPackets`.
    pub sent_pri_zero_packets: u64,
    /// `vrrpv3StatisticsRcvdInvalidTypePackets`.
    pub rcvd_invalid_type_packets: u64,
    /// `vrrpv3StatisticsAddressListErrors`.
    pub address_list_errors: u64,
    /// `vrrpv3StatisticsPacketLengthErrors` (also truncated and family-mismatched packets).
    pub packet_length_errors: u64,
    /// `vrrpv3RouterChecksumErrors`, kept per instance.
    pub checksum_errors: u64,
    /// `vrrpv3RouterVersionErrors`, kept per instance.
    pub version_errors: u64,
    /// `vrrpv3RouterVrIdErrors`, kept per instance.
    pub vrid_errors: u64,
    /// RFC 2787 `vrrpStatsAuthFailures`: wrong password.
    pub auth_failures: u64,
    /// RFC 2787 `vrrpStatsInvalidAuthType`: unknown authentication type.
    pub invalid_auth_type: u64,
    /// RFC 2787 `vrrpStatsAuthTypeMismatch`: authentication type differs from ours.
    pub auth_type_mismatch: u64,
    /// Adverts with IP Authentication Header authentication (type 2), all refused.
    pub ip_ah_auth: u64,
    /// Adverts from a source that is not a configured unicast peer.
    pub unknown_peer: u64,
    /// Adverts discarded because we own the addresses.
    pub owner_discards: u64,
    /// Adverts sent (all priorities, each unicast copy counted).
    pub sent_advertisements: u64,
    /// Gratuitous ARP / NA bursts requested.
    pub garp_bursts: u64,
    /// Events lost because the caller did not drain them.
    pub events_lost: u64,
}

impl Statistics {
    /// Adverts dropped for any reason: the sum of the per-reason counters.
    pub fn adverts_dropped(&self) -> u64 {
        self.adv_interval_errors
            + self.ip_ttl_errors
            + self.rcvd_invalid_type_packets
            + self.address_list_errors
            + self.packet_length_errors
            + self.checksum_errors
            + self.version_errors
            + self.vrid_errors
            + self.auth_failures
            + self.invalid_auth_type
            + self.auth_type_mismatch
            + self.ip_ah_auth
            + self.unknown_peer
    }
}
