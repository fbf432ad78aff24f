//! The journal's `MESSAGE_ID` of each kind of event the director logs (a `message_id` field on
//! the event; ha's journald writer turns it into `MESSAGE_ID`), so that operators can select
//! them (`journalctl MESSAGE_ID=...`) whatever the wording. Fixed forever once published.
//!
//! Alongside, events that keepalived also logs carry a `keepalived` field with keepalived's
//! exact words (`(VI_1) Entering MASTER STATE`), which `ha run --log-format keepalived` prints.

/// A VRRP instance changed state (`HA_INSTANCE`, `HA_STATE`, `HA_REASON`).
pub const STATE_CHANGED: &str = "bbf002a4a539455086ca988b78fc5844";
/// An instance's effective priority changed.
pub const PRIORITY_CHANGED: &str = "258d6454d0d44c6a90898221ec008cf0";
/// A tracked script's verdict changed.
pub const TRACKED_SCRIPT: &str = "86821f4b6a9a44189c6426d5161da55e";
/// Tracking changed an instance's priority adjustment or fault, with the cause.
pub const TRACKING_APPLIED: &str = "8812257f77ff460083f9ab262402cc25";
/// A real server went up or down (`HA_VIRTUAL_SERVER`, `HA_REAL_SERVER`, `HA_STATE`).
pub const REAL_SERVER_CHANGED: &str = "b6bac8d2998846feae95e12a8abb1faf";
/// A virtual server gained or lost quorum.
pub const QUORUM_CHANGED: &str = "fd66eeedefa845658846d309a86a1002";
/// An `ha_announce` virtual server's addresses were announced or withdrawn
/// (`HA_VIRTUAL_SERVER`, `HA_STATE` ANNOUNCED or WITHDRAWN, `HA_REASON`).
pub const ANNOUNCE_CHANGED: &str = "b89c806ef3114d7a8a1d93d4de7a868d";
/// A VIP removed behind the director's back was put back.
pub const VIP_REPAIRED: &str = "0c9ed44bb3cf4cd2bd218947362b42b5";
/// The configuration was reloaded (or the reload refused).
pub const RELOADED: &str = "578e6ade170c4040b3c2512d5e3d8ef0";
/// An advert was dropped (one line per kind and second; all are counted).
pub const ADVERT_DROPPED: &str = "b2f895955cf84e5191680bfaefbc3f97";
