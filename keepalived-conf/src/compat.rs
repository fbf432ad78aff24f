//! What ha does with each keyword keepalived accepts: the compatibility table, and the check
//! that says so in `ha check` and refuses to run what ha would silently get wrong.
//!
//! ha's first rule: do what the file says, or refuse. Every keyword keepalived
//! [`KEEPALIVED`] accepts (its parsers install them; the extraction is
//! `tests/data/keepalived-2.4.3/keywords.tsv`) is in [`TABLE`], in one [`Class`]:
//!
//! 1. [`Class::Applied`]: ha applies it as keepalived does (a test shows it); or
//!    [`Class::Differs`]: applied, with a difference the note names; each use is a warning,
//!    `applied-differently`;
//! 2. [`Class::Ignored`]: not applied, and harmless: it does not change who is master, what
//!    is forwarded or who may run what. Each use is a warning, `accepted-not-applied`;
//! 3. [`Class::Refused`]: not applied, and ignoring it would change one of those (or which
//!    scripts run: a script is the user's own code, ha cannot know it is harmless). Each use
//!    is an error, `not-applied`, so `ha check` fails and `ha run` (and a reload) refuses
//!    the file.
//!
//! The check runs on the statement tree after the typed parse ([`check`]): a keyword of a
//! block the table knows is looked up by its block path (`top`, `global_defs`,
//! `vrrp_instance`, `virtual_server/real_server/HTTP_GET/url`, ...). A keyword the table
//! does not list for its block is not a keepalived keyword there: the parser warns about it
//! as unknown (`unknown-keyword`, with a suggestion), or, when ha types it anyway (an
//! extension such as `lb_kind` in a `real_server`), the check says that keepalived would
//! ignore it (`not-keepalived`). ha's own keywords, named `ha_...`, are listed apart in
//! [`EXTENSIONS`] (documented, validated, used without a warning). Each diagnostic is given once per keyword and line (a
//! `~SEQ` line repeats its statements on one line).
//!
//! `docs/keepalived-compat.md` is rendered from the table ([`document`]); the `compat` test
//! fails when it is stale (`HA_BLESS=1 cargo test -p keepalived-conf --test compat` rewrites
//! it).
//!
//! To move a keyword to class 1 when ha applies it: change its line's class to `A`, say in
//! its note what ha does, add a test that shows it (with the keyword in the test's
//! configuration), take it out of `tests/data/config/compat/not-applied.conf` (or
//! `accepted.conf`), and bless the document.

use rustc_hash::{FxHashMap, FxHashSet};

use crate::diag::{Diagnostic, FileId, SourceMap, Span};
use crate::syntax::Node;

/// The keepalived release whose keywords [`TABLE`] lists.
pub const KEEPALIVED: &str = "2.4.3";

/// What ha does with a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Class 1: applied as keepalived applies it.
    Applied,
    /// Class 1, with a difference from keepalived that does not change who is master, what
    /// is forwarded or who may run what (the note says which); a warning.
    Differs,
    /// Class 2: not applied, harmless; a warning.
    Ignored,
    /// Class 3: not applied, and ignoring it would change what is named ("who is master",
    /// "what is forwarded", "who may run what", "which scripts run"); an error.
    Refused(&'static str),
}

impl Class {
    /// 1, 2 or 3.
    pub fn number(self) -> u8 {
        match self {
            Class::Applied | Class::Differs => 1,
            Class::Ignored => 2,
            Class::Refused(_) => 3,
        }
    }
}

/// One keyword of one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `top`, `language` (include, `@`, `$`, `~SEQ`: the preprocessor), or the path of the
    /// enclosing keywords (`vrrp_instance`, `virtual_server/real_server/TCP_CHECK`).
    pub block: &'static str,
    pub keyword: &'static str,
    pub class: Class,
    /// What ha does with it (class 3: what ignoring it would do).
    pub note: &'static str,
}

const fn e(block: &'static str, keyword: &'static str, class: Class, note: &'static str) -> Entry {
    Entry {
        block,
        keyword,
        class,
        note,
    }
}

const A: Class = Class::Applied;
const D: Class = Class::Differs;
const I: Class = Class::Ignored;
const MASTER: Class = Class::Refused("who is master");
const FORWARDED: Class = Class::Refused("what is forwarded");
const SCRIPTS: Class = Class::Refused("which scripts run");

/// Every keyword keepalived 2.4.3 accepts, sorted by block then keyword, one line each:
/// `e(BLOCK, KEYWORD, CLASS, NOTE)` with CLASS `A` (1), `D` (1, applied with a difference),
/// `I` (2) or what ignoring it would change (3: `MASTER`, `FORWARDED`, `SCRIPTS`; "who may run
/// what" has no keyword left since `enable_script_security` is applied).
#[rustfmt::skip]
pub const TABLE: &[Entry] = &[
    e("SSL", "ca", A, "SSL_GET loads the CA file (not enforced, as keepalived)"),
    e("SSL", "certificate", A, "SSL_GET presents the client certificate"),
    e("SSL", "key", A, "the client certificate's key"),
    e("SSL", "password", A, "a key that needs a password is refused at start; an unencrypted key ignores it"),
    e("bfd_instance", "checker", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "hoplimit", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "idle_tx", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "max_hops", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "min_rx", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "min_tx", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "multihop", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "multiplier", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "neighbor_ip", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "neighbour_ip", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "passive", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "source_ip", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "ttl", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "vrrp", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("bfd_instance", "weight", MASTER, "part of `bfd_instance`: ha has no BFD"),
    e("garp_group", "garp_interval", A, "pacing of gratuitous ARPs on the group's interfaces"),
    e("garp_group", "gna_interval", A, "pacing of unsolicited NAs on the group's interfaces"),
    e("garp_group", "interface", A, "the group's interface"),
    e("garp_group", "interfaces", A, "the group's interfaces"),
    e("global_defs", "bfd_cpu_affinity", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_no_swap", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_priority", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_process_name", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_rlimit_rtime", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_rlimit_rttime", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "bfd_rt_priority", I, "tunes keepalived's BFD process; ha has no BFD (BFD itself is refused)"),
    e("global_defs", "checker_cpu_affinity", I, "scheduling of keepalived's checker process; ha's health checks run on threads of their own at `checker_priority`"),
    e("global_defs", "checker_log_all_failures", I, "ha logs every checker failure that changes a server's state; `log_all_failures` in a checker is applied"),
    e("global_defs", "checker_no_swap", I, "scheduling of keepalived's checker process; ha's health checks run on threads of their own at `checker_priority`"),
    e("global_defs", "checker_priority", A, "nice value of the health-check threads"),
    e("global_defs", "checker_process_name", I, "process names: ha is one process named ha"),
    e("global_defs", "checker_rlimit_rtime", I, "scheduling of keepalived's checker process; ha's health checks run on threads of their own at `checker_priority`"),
    e("global_defs", "checker_rlimit_rttime", I, "scheduling of keepalived's checker process; ha's health checks run on threads of their own at `checker_priority`"),
    e("global_defs", "checker_rt_priority", I, "scheduling of keepalived's checker process; ha's health checks run on threads of their own at `checker_priority`"),
    e("global_defs", "config_save_dir", I, "ha keeps no copy of the configuration it read"),
    e("global_defs", "data_use_instance", I, "ha names its dump files as keepalived without an instance (under `ha run --dump-dir`)"),
    e("global_defs", "dbus_no_interface_name", I, "ha has no D-Bus interface (`ha status`, the control socket instead)"),
    e("global_defs", "dbus_service_name", I, "ha has no D-Bus interface (`ha status`, the control socket instead)"),
    e("global_defs", "default_interface", MASTER, "an instance without `interface` is not run on it (ha refuses to start); give each instance its `interface`"),
    e("global_defs", "disable_local_igmp", I, "ha sends no IGMP reports of its own to suppress"),
    e("global_defs", "dynamic_interfaces", D, "ha follows an instance's interface by name when it goes and comes back; one missing at start stops ha from starting (keepalived would wait for it)"),
    e("global_defs", "enable_dbus", I, "ha has no D-Bus interface (`ha status`, the control socket instead)"),
    e("global_defs", "enable_script_security", A, "scripts writable by non-root users, or in such directories, are disabled at load, as keepalived"),
    e("global_defs", "enable_snmp_checker", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_snmp_keepalived", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_snmp_rfc", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_snmp_rfcv2", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_snmp_rfcv3", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_snmp_vrrp", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "enable_traps", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "fifo_write_vrrp_states_on_reload", SCRIPTS, "the state lines are not written to the FIFO on reload, so its reader does not see them"),
    e("global_defs", "include_check", I, "how strictly keepalived reports include problems; ha's `include` variants keep their own strictness"),
    e("global_defs", "iproute_etc_dir", I, "ha reads no iproute2 name files"),
    e("global_defs", "iproute_usr_dir", I, "ha reads no iproute2 name files"),
    e("global_defs", "json_dump_file", I, "ha writes keepalived's dump files (SIGUSR1, SIGUSR2, SIGRTMIN+2) under `ha run --dump-dir` (default /run/ha), not at this path"),
    e("global_defs", "json_version", I, "the SIGRTMIN+2 JSON dump has the format ha writes"),
    e("global_defs", "log_unknown_vrids", I, "adverts for VRIDs that are not configured are dropped without a log line"),
    e("global_defs", "lvs_flush", A, "flushes the whole IPVS table at start"),
    e("global_defs", "lvs_flush_on_stop", A, "at stop, flushes the whole IPVS table (`VS`: only this configuration's services)"),
    e("global_defs", "lvs_flush_onstop", A, "keepalived's old name of `lvs_flush_on_stop`"),
    e("global_defs", "lvs_netlink_cmd_rcv_bufs", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "lvs_netlink_cmd_rcv_bufs_force", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "lvs_netlink_monitor_rcv_bufs", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "lvs_netlink_monitor_rcv_bufs_force", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "lvs_notify_fifo", A, "real server and virtual server lines written to the FIFO"),
    e("global_defs", "lvs_notify_fifo_script", A, "run with the FIFO's path"),
    e("global_defs", "lvs_process_name", I, "process names: ha is one process named ha"),
    e("global_defs", "lvs_sync_daemon", A, "starts the IPVS connection sync daemon as master or backup with the instance it follows"),
    e("global_defs", "lvs_timeouts", A, "sets the IPVS tcp, tcpfin and udp timeouts"),
    e("global_defs", "max_auto_priority", I, "ha does not raise its own scheduling priority when it runs late; set `vrrp_rt_priority` (applied) for a realtime VRRP thread"),
    e("global_defs", "min_auto_priority_delay", I, "ha does not raise its own scheduling priority when it runs late; set `vrrp_rt_priority` (applied) for a realtime VRRP thread"),
    e("global_defs", "nftables", A, "the nftables table for no_accept / strict mode"),
    e("global_defs", "nftables_counters", A, "counters on the nftables rules"),
    e("global_defs", "nftables_ifindex", I, "ha's nftables rules match the virtual addresses, not interface indexes (the same packets are dropped)"),
    e("global_defs", "nftables_ipvs", FORWARDED, "ha programs one IPVS service per group member, not one fwmark service per group, so persistence does not span the group's addresses and ports"),
    e("global_defs", "nftables_ipvs_priority", FORWARDED, "part of `nftables_ipvs`, which is refused"),
    e("global_defs", "nftables_ipvs_start_fwmark", FORWARDED, "part of `nftables_ipvs`, which is refused"),
    e("global_defs", "nftables_priority", A, "the nftables chains' priority"),
    e("global_defs", "no_checker_emails", I, "e-mail only: ha sends an alert on every checker state change"),
    e("global_defs", "no_email_faults", A, "no mail for FAULT transitions"),
    e("global_defs", "notification_email", A, "recipients of the SMTP alerts"),
    e("global_defs", "notification_email_from", A, "sender of the SMTP alerts"),
    e("global_defs", "notify_fifo", A, "one line per state change written to the FIFO, created when missing"),
    e("global_defs", "notify_fifo_script", A, "run with the FIFO's path"),
    e("global_defs", "process_monitor_rcv_bufs", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "process_monitor_rcv_bufs_force", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "process_name", I, "process names: ha is one process named ha"),
    e("global_defs", "process_names", I, "process names: ha is one process named ha"),
    e("global_defs", "random_seed", I, "`${_RANDOM}` is not reproducible: ha seeds it from the clock"),
    e("global_defs", "reload_check_config", A, "ha always checks a configuration before reloading it and keeps running the old one when it has errors"),
    e("global_defs", "reload_file", I, "no file tells a configuration tool that a reload started and ended (`ha reload` answers when the reload is done)"),
    e("global_defs", "reload_repeat", MASTER, "no reload is scheduled: the configuration meant to take over at that time is not loaded"),
    e("global_defs", "reload_time_file", MASTER, "no reload is scheduled: the configuration meant to take over at that time is not loaded"),
    e("global_defs", "router_id", A, "names this node in SMTP alerts and `ha status`"),
    e("global_defs", "rs_init_notifies", SCRIPTS, "notify_up / notify_down are not run for the initial state of the real servers"),
    e("global_defs", "script_user", A, "user (and group) that runs scripts without a user of their own"),
    e("global_defs", "shutdown_script", A, "run at stop"),
    e("global_defs", "shutdown_script_timeout", A, "the shutdown script's timeout"),
    e("global_defs", "smtp_alert", A, "default for the instances' and servers' `smtp_alert`"),
    e("global_defs", "smtp_alert_checker", A, "checker alerts on or off"),
    e("global_defs", "smtp_alert_vrrp", A, "VRRP alerts on or off"),
    e("global_defs", "smtp_connect_timeout", A, "timeout of the SMTP connection"),
    e("global_defs", "smtp_helo_name", A, "the HELO name of alert mails"),
    e("global_defs", "smtp_server", A, "SMTP server (and port) the alerts go to"),
    e("global_defs", "snmp_rs_stats_update_interval", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "snmp_socket", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "snmp_vs_stats_update_interval", I, "ha has no SNMP agent (`ha run --metrics-listen` exports the same counters)"),
    e("global_defs", "startup_script", A, "run at start, before VRRP"),
    e("global_defs", "startup_script_timeout", A, "the startup script's timeout"),
    e("global_defs", "state_dump_file", I, "ha writes keepalived's dump files (SIGUSR1, SIGUSR2, SIGRTMIN+2) under `ha run --dump-dir` (default /run/ha), not at this path"),
    e("global_defs", "stats_dump_file", I, "ha writes keepalived's dump files (SIGUSR1, SIGUSR2, SIGRTMIN+2) under `ha run --dump-dir` (default /run/ha), not at this path"),
    e("global_defs", "tmp_config_directory", I, "ha keeps no copy of the configuration it read"),
    e("global_defs", "umask", I, "ha creates its FIFOs with mode 0600 and its control socket root-only"),
    e("global_defs", "use_symlink_paths", I, "script paths are run as written, symlinks unresolved (only `enable_script_security`, which ha refuses, looks at them)"),
    e("global_defs", "v3_checksum_as_v2", MASTER, "VRRPv3 IPv4 adverts are checksummed with the pseudo-header, so peers that leave it out drop them and ha drops theirs"),
    e("global_defs", "vmac_addr_prefix", I, "names of VMACs for addresses on other interfaces; ha makes none (`use_vmac_addr` is refused)"),
    e("global_defs", "vmac_prefix", I, "ha names a VMAC `vrrp.VRID` unless `use_vmac NAME` names it"),
    e("global_defs", "vrrp_check_unicast_src", A, "ha always drops unicast adverts whose source is not a `unicast_peer`"),
    e("global_defs", "vrrp_cpu_affinity", I, "CPU affinity of the VRRP thread is not set"),
    e("global_defs", "vrrp_delay_after_boot", MASTER, "ha starts its instances without waiting for the time since boot, so a node that boots can take over before it is ready; use `vrrp_startup_delay` (applied)"),
    e("global_defs", "vrrp_down_timer_adverts", MASTER, "backups wait the RFC's 3 adverts before taking over (set `down_timer_adverts` in each instance, which is applied)"),
    e("global_defs", "vrrp_garp_extra_if", A, "default of `garp_extra_if` for instances without one"),
    e("global_defs", "vrrp_garp_interval", A, "gratuitous ARPs paced as keepalived paces them"),
    e("global_defs", "vrrp_garp_lower_prio_delay", A, "default of `garp_lower_prio_delay`"),
    e("global_defs", "vrrp_garp_lower_prio_repeat", A, "default of `garp_lower_prio_repeat`"),
    e("global_defs", "vrrp_garp_master_delay", A, "default of `garp_master_delay`"),
    e("global_defs", "vrrp_garp_master_refresh", A, "default of `garp_master_refresh`"),
    e("global_defs", "vrrp_garp_master_refresh_repeat", A, "default of `garp_master_refresh_repeat`"),
    e("global_defs", "vrrp_garp_master_repeat", A, "default of `garp_master_repeat`"),
    e("global_defs", "vrrp_gna_interval", A, "unsolicited NAs paced as keepalived paces them"),
    e("global_defs", "vrrp_higher_prio_send_advert", A, "default of `higher_prio_send_advert`"),
    e("global_defs", "vrrp_ipsets", I, "ha programs nftables, not iptables ipsets (`vrrp_iptables` is taken as `nftables`)"),
    e("global_defs", "vrrp_iptables", A, "taken as nftables (ha programs nftables only)"),
    e("global_defs", "vrrp_lower_prio_no_advert", A, "default of `lower_prio_no_advert`"),
    e("global_defs", "vrrp_mcast_group4", A, "adverts sent to and received on this group"),
    e("global_defs", "vrrp_mcast_group6", A, "adverts sent to and received on this group"),
    e("global_defs", "vrrp_min_garp", A, "one gratuitous ARP, no second burst or refresh, as keepalived"),
    e("global_defs", "vrrp_netlink_cmd_rcv_bufs", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "vrrp_netlink_cmd_rcv_bufs_force", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "vrrp_netlink_monitor_rcv_bufs", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "vrrp_netlink_monitor_rcv_bufs_force", I, "netlink socket buffer sizes; ha sizes its own"),
    e("global_defs", "vrrp_no_swap", I, "ha's memory is not locked (mlockall)"),
    e("global_defs", "vrrp_notify_fifo", A, "one line per VRRP state change written to the FIFO, created when missing"),
    e("global_defs", "vrrp_notify_fifo_script", A, "run with the FIFO's path"),
    e("global_defs", "vrrp_notify_priority_changes", A, "MASTER_PRIORITY / BACKUP_PRIORITY FIFO lines"),
    e("global_defs", "vrrp_owner_ignore_adverts", A, "ha's address owners (priority 255) always drop adverts"),
    e("global_defs", "vrrp_priority", A, "nice value of the VRRP thread"),
    e("global_defs", "vrrp_process_name", I, "process names: ha is one process named ha"),
    e("global_defs", "vrrp_rlimit_rtime", I, "RLIMIT_RTTIME of the realtime VRRP thread is not set"),
    e("global_defs", "vrrp_rlimit_rttime", I, "RLIMIT_RTTIME of the realtime VRRP thread is not set"),
    e("global_defs", "vrrp_rt_priority", A, "runs the VRRP thread SCHED_RR at this realtime priority"),
    e("global_defs", "vrrp_rx_bufs_multiplier", I, "receive buffer sizing of the VRRP sockets; ha sizes its own"),
    e("global_defs", "vrrp_rx_bufs_policy", I, "receive buffer sizing of the VRRP sockets; ha sizes its own"),
    e("global_defs", "vrrp_skip_check_adv_addr", A, "the address list of the followed master's adverts is not checked"),
    e("global_defs", "vrrp_startup_delay", A, "instances start this long after ha"),
    e("global_defs", "vrrp_strict", A, "strict mode's rules and defaults; non-accept masters drop VIP traffic through nftables"),
    e("global_defs", "vrrp_version", A, "default VRRP version of the instances"),
    e("global_defs", "vrrp_vmac_garp_intvl", A, "keepalived's old name of `vrrp_garp_extra_if`"),
    e("language", "$NAME", A, "`$NAME` / `${NAME}` replaced by the parameter's value, recursively; an undefined one is left as written"),
    e("language", "$NAME=", A, "defines a parameter; a trailing `\\` continues it on the next line"),
    e("language", "$_BANG", A, "`!`"),
    e("language", "$_ENV", A, "`${_ENV NAME}`: the environment variable NAME, empty when unset"),
    e("language", "$_HASH", A, "`#`"),
    e("language", "$_INSTANCE", A, "the config id"),
    e("language", "$_PWD", A, "the directory of the file being read"),
    e("language", "$_RANDOM", A, "`${_RANDOM [MIN [MAX]]}`: a number in MIN-MAX (default 0-32767)"),
    e("language", "@", A, "`@ID line`: the line is read only when ID is the config id (`--config-id`, default the short host name)"),
    e("language", "@^", A, "`@^ID line`: the line is read only when ID is not the config id"),
    e("language", "include", A, "reads the files the pattern matches, relative to the including file; brace patterns ({a,b}) as keepalived's GLOB_BRACE; no match is a warning"),
    e("language", "includea", A, "`include`; a pattern that matches nothing is an error"),
    e("language", "includeb", A, "`include`; brace patterns are expanded"),
    e("language", "includem", A, "`include`; a pattern that matches nothing is an error"),
    e("language", "includer", A, "`include`; a file that cannot be read is an error"),
    e("language", "includew", A, "`include`; a pattern that matches nothing is an error"),
    e("language", "~LST", A, "`~LST(VAR, V1, V2, ...) line`: the line repeated for each value"),
    e("language", "~SEQ", A, "`~SEQ(VAR, [START,] [STEP,] END) line`: the line repeated for each value"),
    e("language", "~SEQx", A, "`~SEQ` with hexadecimal values"),
    e("top", "SSL", A, "the SSL context of SSL_GET checks"),
    e("top", "bfd_instance", MASTER, "ha has no BFD"),
    e("top", "child_wait_time", I, "ha is one process; nothing to wait for"),
    e("top", "garp_group", A, "gratuitous ARP / NA pacing per interface group, as keepalived paces"),
    e("top", "global_defs", A, "its keywords, below"),
    e("top", "instance", A, "names the pid file and run directory as keepalived's"),
    e("top", "interface_up_down_delays", MASTER, "ha acts on a link change at once: a flap that keepalived's delay rides out faults the instance"),
    e("top", "linkbeat_interfaces", I, "ha watches links over netlink, never by polling"),
    e("top", "linkbeat_use_polling", I, "ha watches links over netlink, never by polling"),
    e("top", "namespace_with_ipsets", I, "ha uses no ipsets"),
    e("top", "net_namespace", A, "the whole director runs in /run/netns/NAME"),
    e("top", "net_namespace_ipvs", A, "IPVS is programmed in that namespace"),
    e("top", "static_ipaddress", A, "installed at start, kept through failovers, repaired, removed at stop"),
    e("top", "static_routes", A, "installed at start, kept through failovers, repaired, removed at stop"),
    e("top", "static_rules", A, "installed at start, kept through failovers, repaired, removed at stop"),
    e("top", "track_file", A, "a file whose value adjusts the priority of the instances tracking it"),
    e("top", "track_group", MASTER, "static addresses and routes do not follow a track group's instances (they stay installed whatever the instances' state)"),
    e("top", "use_pid_dir", I, "ha writes no pid file"),
    e("top", "virtual_server", A, "an IPVS service with its real servers and checkers"),
    e("top", "virtual_server_group", A, "the services of `virtual_server group NAME`: addresses, address ranges, fwmarks"),
    e("top", "vrrp_instance", A, "a VRRP instance"),
    e("top", "vrrp_script", A, "a tracking script"),
    e("top", "vrrp_sync_group", A, "members change state together"),
    e("top", "vrrp_track_file", A, "keepalived's old name of `track_file`"),
    e("top", "vrrp_track_process", A, "a process whose presence adjusts the priority of the instances tracking it"),
    e("track_file", "file", A, "the file holding the value"),
    e("track_file", "init_file", A, "the file is written at start when missing (or always, with overwrite)"),
    e("track_file", "weight", A, "value x weight adjusts the priority (0: a non-zero value is a FAULT); `reverse` negates it"),
    e("track_group", "group", MASTER, "part of `track_group`, which is refused"),
    e("virtual_server", "alpha", A, "real servers start down until a check succeeds"),
    e("virtual_server", "connect_timeout", A, "default of the checkers' `connect_timeout`"),
    e("virtual_server", "delay_before_retry", A, "default of the checkers' `delay_before_retry`"),
    e("virtual_server", "delay_loop", A, "default interval of the checkers"),
    e("virtual_server", "flag-1", A, "IPVS scheduler flag 1"),
    e("virtual_server", "flag-2", A, "IPVS scheduler flag 2"),
    e("virtual_server", "flag-3", A, "IPVS scheduler flag 3"),
    e("virtual_server", "ha_suspend", A, "checks of this service run only while the instance holding its address is master"),
    e("virtual_server", "hashed", I, "the kernel sets IPVS's hashed flag itself"),
    e("virtual_server", "hysteresis", A, "quorum hysteresis"),
    e("virtual_server", "inhibit_on_failure", A, "a failed real server gets weight 0 instead of being removed"),
    e("virtual_server", "ip_family", A, "family of fwmark and group services"),
    e("virtual_server", "lb_algo", A, "the IPVS scheduler"),
    e("virtual_server", "lb_kind", A, "forwarding method: NAT, DR or TUN (with type, port, checksum)"),
    e("virtual_server", "lvs_method", A, "forwarding method: NAT, DR or TUN (with type, port, checksum)"),
    e("virtual_server", "lvs_sched", A, "the IPVS scheduler"),
    e("virtual_server", "mh-fallback", A, "IPVS scheduler flag 1 (mh)"),
    e("virtual_server", "mh-port", A, "IPVS scheduler flag 2 (mh)"),
    e("virtual_server", "omega", A, "at stop, notify_down and quorum_down of what is up are run"),
    e("virtual_server", "ops", A, "IPVS one-packet scheduling"),
    e("virtual_server", "persistence_engine", A, "IPVS persistence engine"),
    e("virtual_server", "persistence_granularity", A, "IPVS persistence netmask"),
    e("virtual_server", "persistence_timeout", A, "IPVS persistence timeout"),
    e("virtual_server", "protocol", A, "TCP, UDP or SCTP"),
    e("virtual_server", "quorum", A, "sum of weights of live real servers needed for the service to be up"),
    e("virtual_server", "quorum_down", A, "run when the quorum is lost"),
    e("virtual_server", "quorum_up", A, "run when the quorum is regained"),
    e("virtual_server", "real_server", A, "an IPVS destination with its checkers"),
    e("virtual_server", "retry", A, "default of the checkers' `retry`"),
    e("virtual_server", "sh-fallback", A, "IPVS scheduler flag 1 (sh)"),
    e("virtual_server", "sh-port", A, "IPVS scheduler flag 2 (sh)"),
    e("virtual_server", "smtp_alert", A, "SMTP alerts for this service's real servers"),
    e("virtual_server", "snmp_name", I, "ha has no SNMP agent"),
    e("virtual_server", "sorry_server", A, "the destination used while the quorum is lost"),
    e("virtual_server", "sorry_server_inhibit", A, "the sorry server stays in the table with weight 0 while the quorum holds"),
    e("virtual_server", "sorry_server_lvs_method", A, "forwarding method of the sorry server"),
    e("virtual_server", "virtualhost", A, "default Host header of HTTP_GET / SSL_GET"),
    e("virtual_server", "warmup", A, "default of the checkers' `warmup`"),
    e("virtual_server", "weight", FORWARDED, "the default weight of real servers without `weight` stays 1 where keepalived uses this one"),
    e("virtual_server/real_server", "BFD_CHECK", FORWARDED, "ha has no BFD: the server's health would rest on its other checkers only"),
    e("virtual_server/real_server", "DNS_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "FILE_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "HTTP_GET", A, "a health check of this server"),
    e("virtual_server/real_server", "MISC_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "PING_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "SMTP_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "SSL_GET", A, "a health check of this server"),
    e("virtual_server/real_server", "TCP_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "UDP_CHECK", A, "a health check of this server"),
    e("virtual_server/real_server", "alpha", A, "the server starts down until a check succeeds"),
    e("virtual_server/real_server", "connect_timeout", A, "default of its checkers' `connect_timeout`"),
    e("virtual_server/real_server", "delay_before_retry", A, "default of its checkers' `delay_before_retry`"),
    e("virtual_server/real_server", "delay_loop", A, "default interval of its checkers"),
    e("virtual_server/real_server", "inhibit_on_failure", A, "a failure sets weight 0 instead of removing the server"),
    e("virtual_server/real_server", "lthreshold", A, "IPVS lower connection threshold"),
    e("virtual_server/real_server", "lvs_method", A, "forwarding method of this server"),
    e("virtual_server/real_server", "notify_down", A, "run when the server goes down"),
    e("virtual_server/real_server", "notify_up", A, "run when the server comes up"),
    e("virtual_server/real_server", "retry", A, "default of its checkers' `retry`"),
    e("virtual_server/real_server", "smtp_alert", A, "SMTP alert when it goes up or down"),
    e("virtual_server/real_server", "snmp_name", I, "ha has no SNMP agent"),
    e("virtual_server/real_server", "uthreshold", A, "IPVS upper connection threshold"),
    e("virtual_server/real_server", "virtualhost", A, "default Host header of its HTTP_GET / SSL_GET"),
    e("virtual_server/real_server", "warmup", A, "default of its checkers' `warmup`"),
    e("virtual_server/real_server", "weight", A, "IPVS weight"),
    e("virtual_server/real_server/BFD_CHECK", "alpha", FORWARDED, "part of `BFD_CHECK`, which is refused"),
    e("virtual_server/real_server/BFD_CHECK", "name", FORWARDED, "part of `BFD_CHECK`, which is refused"),
    e("virtual_server/real_server/DNS_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/DNS_CHECK", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/DNS_CHECK", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/DNS_CHECK", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/DNS_CHECK", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/DNS_CHECK", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/DNS_CHECK", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/DNS_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/DNS_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/DNS_CHECK", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/DNS_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/DNS_CHECK", "name", A, "query name (default `.`)"),
    e("virtual_server/real_server/DNS_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/DNS_CHECK", "type", A, "query type (default SOA)"),
    e("virtual_server/real_server/DNS_CHECK", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/FILE_CHECK", "track_file", A, "the track_file whose value decides health and weight"),
    e("virtual_server/real_server/FILE_CHECK", "weight", A, "scales the file's value into the weight"),
    e("virtual_server/real_server/HTTP_GET", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/HTTP_GET", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/HTTP_GET", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/HTTP_GET", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/HTTP_GET", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/HTTP_GET", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/HTTP_GET", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/HTTP_GET", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/HTTP_GET", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/HTTP_GET", "enable_sni", I, "HTTP_GET has no TLS: nothing to send it in"),
    e("virtual_server/real_server/HTTP_GET", "fast_recovery", I, "URLs are checked at the check interval, so a server comes back up later than keepalived would bring it (timing only)"),
    e("virtual_server/real_server/HTTP_GET", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/HTTP_GET", "http_protocol", A, "HTTP version (1.0, 1.0C, 1.1)"),
    e("virtual_server/real_server/HTTP_GET", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/HTTP_GET", "nb_get_retry", A, "keepalived's old name of `retry`"),
    e("virtual_server/real_server/HTTP_GET", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/HTTP_GET", "url", A, "a URL checked"),
    e("virtual_server/real_server/HTTP_GET", "virtualhost", A, "Host header"),
    e("virtual_server/real_server/HTTP_GET", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/HTTP_GET/url", "digest", A, "MD5 the body must have"),
    e("virtual_server/real_server/HTTP_GET/url", "path", A, "the path requested"),
    e("virtual_server/real_server/HTTP_GET/url", "regex", A, "pattern the body must match"),
    e("virtual_server/real_server/HTTP_GET/url", "regex_max_offset", A, "applied"),
    e("virtual_server/real_server/HTTP_GET/url", "regex_min_offset", A, "applied"),
    e("virtual_server/real_server/HTTP_GET/url", "regex_no_match", A, "the body must not match"),
    e("virtual_server/real_server/HTTP_GET/url", "regex_options", A, "applied; options the engine cannot apply are refused"),
    e("virtual_server/real_server/HTTP_GET/url", "regex_stack", I, "PCRE2 JIT stack size; ha's regex engine needs none"),
    e("virtual_server/real_server/HTTP_GET/url", "status_code", A, "status codes that pass (default 200-299)"),
    e("virtual_server/real_server/HTTP_GET/url", "virtualhost", A, "Host header of this URL"),
    e("virtual_server/real_server/MISC_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/MISC_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/MISC_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/MISC_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/MISC_CHECK", "misc_dynamic", A, "the exit code sets the weight"),
    e("virtual_server/real_server/MISC_CHECK", "misc_path", A, "the command line run (no shell)"),
    e("virtual_server/real_server/MISC_CHECK", "misc_timeout", A, "timeout of the script"),
    e("virtual_server/real_server/MISC_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/MISC_CHECK", "user", A, "user (and group) that runs the script"),
    e("virtual_server/real_server/MISC_CHECK", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/PING_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/PING_CHECK", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/PING_CHECK", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/PING_CHECK", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/PING_CHECK", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/PING_CHECK", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/PING_CHECK", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/PING_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/PING_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/PING_CHECK", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/PING_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/PING_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/PING_CHECK", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/SMTP_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/SMTP_CHECK", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/SMTP_CHECK", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/SMTP_CHECK", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/SMTP_CHECK", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/SMTP_CHECK", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/SMTP_CHECK", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/SMTP_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/SMTP_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/SMTP_CHECK", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/SMTP_CHECK", "helo_name", A, "name sent in HELO"),
    e("virtual_server/real_server/SMTP_CHECK", "host", A, "each host checked"),
    e("virtual_server/real_server/SMTP_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/SMTP_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/SMTP_CHECK", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "alpha", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "bind_if", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "bind_port", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "bindto", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "connect_ip", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "connect_port", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "connect_timeout", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "delay_before_retry", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "delay_loop", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "fwmark", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "log_all_failures", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "retry", A, "applied to the host's check"),
    e("virtual_server/real_server/SMTP_CHECK/host", "warmup", A, "applied to the host's check"),
    e("virtual_server/real_server/SSL_GET", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/SSL_GET", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/SSL_GET", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/SSL_GET", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/SSL_GET", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/SSL_GET", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/SSL_GET", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/SSL_GET", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/SSL_GET", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/SSL_GET", "enable_sni", A, "sends the server name (SNI)"),
    e("virtual_server/real_server/SSL_GET", "fast_recovery", I, "URLs are checked at the check interval, so a server comes back up later than keepalived would bring it (timing only)"),
    e("virtual_server/real_server/SSL_GET", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/SSL_GET", "http_protocol", A, "HTTP version (1.0, 1.0C, 1.1)"),
    e("virtual_server/real_server/SSL_GET", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/SSL_GET", "nb_get_retry", A, "keepalived's old name of `retry`"),
    e("virtual_server/real_server/SSL_GET", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/SSL_GET", "tls_compliant", A, "close_notify sent at the end of the check"),
    e("virtual_server/real_server/SSL_GET", "url", A, "a URL checked"),
    e("virtual_server/real_server/SSL_GET", "virtualhost", A, "Host header"),
    e("virtual_server/real_server/SSL_GET", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/SSL_GET/url", "digest", A, "MD5 the body must have"),
    e("virtual_server/real_server/SSL_GET/url", "path", A, "the path requested"),
    e("virtual_server/real_server/SSL_GET/url", "regex", A, "pattern the body must match"),
    e("virtual_server/real_server/SSL_GET/url", "regex_max_offset", A, "applied"),
    e("virtual_server/real_server/SSL_GET/url", "regex_min_offset", A, "applied"),
    e("virtual_server/real_server/SSL_GET/url", "regex_no_match", A, "the body must not match"),
    e("virtual_server/real_server/SSL_GET/url", "regex_options", A, "applied; options the engine cannot apply are refused"),
    e("virtual_server/real_server/SSL_GET/url", "regex_stack", I, "PCRE2 JIT stack size; ha's regex engine needs none"),
    e("virtual_server/real_server/SSL_GET/url", "status_code", A, "status codes that pass (default 200-299)"),
    e("virtual_server/real_server/SSL_GET/url", "tls_compliant", A, "close_notify sent at the end of the check"),
    e("virtual_server/real_server/SSL_GET/url", "virtualhost", A, "Host header of this URL"),
    e("virtual_server/real_server/TCP_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/TCP_CHECK", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/TCP_CHECK", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/TCP_CHECK", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/TCP_CHECK", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/TCP_CHECK", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/TCP_CHECK", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/TCP_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/TCP_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/TCP_CHECK", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/TCP_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/TCP_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/TCP_CHECK", "warmup", A, "random delay before the first check"),
    e("virtual_server/real_server/UDP_CHECK", "alpha", A, "the server starts down until this check succeeds"),
    e("virtual_server/real_server/UDP_CHECK", "bind_if", A, "interface the check is bound to"),
    e("virtual_server/real_server/UDP_CHECK", "bind_port", A, "source port of the check"),
    e("virtual_server/real_server/UDP_CHECK", "bindto", A, "source address of the check"),
    e("virtual_server/real_server/UDP_CHECK", "connect_ip", A, "address checked (default: the real server's)"),
    e("virtual_server/real_server/UDP_CHECK", "connect_port", A, "port checked (default: the real server's)"),
    e("virtual_server/real_server/UDP_CHECK", "connect_timeout", A, "timeout of one check"),
    e("virtual_server/real_server/UDP_CHECK", "delay_before_retry", A, "delay before a retry"),
    e("virtual_server/real_server/UDP_CHECK", "delay_loop", A, "interval between checks"),
    e("virtual_server/real_server/UDP_CHECK", "fwmark", A, "SO_MARK of the check's socket"),
    e("virtual_server/real_server/UDP_CHECK", "log_all_failures", A, "every failure is logged, not only state changes"),
    e("virtual_server/real_server/UDP_CHECK", "max_reply_length", A, "applied"),
    e("virtual_server/real_server/UDP_CHECK", "min_reply_length", A, "applied"),
    e("virtual_server/real_server/UDP_CHECK", "payload", A, "bytes sent"),
    e("virtual_server/real_server/UDP_CHECK", "require_reply", A, "pattern the reply must match"),
    e("virtual_server/real_server/UDP_CHECK", "retry", A, "failures in a row before the server is down"),
    e("virtual_server/real_server/UDP_CHECK", "warmup", A, "random delay before the first check"),
    e("vrrp_instance", "accept", A, "ha never drops packets addressed to the virtual addresses (accept mode); `accept off` is `no_accept`"),
    e("vrrp_instance", "advert_int", A, "advert interval (VRRPv3: centiseconds)"),
    e("vrrp_instance", "auth_hmac", MASTER, "adverts are neither signed nor checked, so nodes that sign drop ha's adverts and ha takes any advert"),
    e("vrrp_instance", "authentication", A, "VRRPv2 PASS authentication; `auth_type AH` is refused"),
    e("vrrp_instance", "check_unicast_src", A, "ha always drops unicast adverts whose source is not a `unicast_peer`"),
    e("vrrp_instance", "debug", A, "nothing, as in keepalived 2.4.3 (\"not implemented yet\")"),
    e("vrrp_instance", "dont_track_primary", A, "a link-down of the interface does not put the instance in FAULT"),
    e("vrrp_instance", "down_timer_adverts", A, "adverts missed before a backup takes over"),
    e("vrrp_instance", "garp_extra_if", A, "with `all`: while master, one gratuitous ARP / NA every SECS on each other device holding one of its addresses; without `all` only on VMACs of addresses on other interfaces, which ha does not make (`use_vmac_addr` is refused), so nothing, as keepalived with none"),
    e("vrrp_instance", "garp_lower_prio_delay", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "garp_lower_prio_repeat", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "garp_master_delay", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "garp_master_refresh", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "garp_master_refresh_repeat", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "garp_master_repeat", A, "gratuitous ARP / unsolicited NA schedule (instance value, else global)"),
    e("vrrp_instance", "higher_prio_send_advert", A, "a master that hears a higher priority sends one more advert before backing off"),
    e("vrrp_instance", "interface", A, "the interface adverts go out on and come in from; its link state faults the instance"),
    e("vrrp_instance", "kernel_rx_buf_size", I, "receive buffer size of the VRRP socket; ha sizes its own"),
    e("vrrp_instance", "linkbeat_use_polling", I, "ha watches links over netlink, never by polling"),
    e("vrrp_instance", "lower_prio_no_advert", A, "a master that hears a lower priority does not answer with an advert"),
    e("vrrp_instance", "lvs_sync_daemon_interface", A, "the sync daemon on that interface, following this instance"),
    e("vrrp_instance", "mcast_dst_ip", A, "adverts sent to and received on this group"),
    e("vrrp_instance", "mcast_src_ip", A, "source address of the adverts (same as `unicast_src_ip`)"),
    e("vrrp_instance", "native_ipv6", A, "applied where the first virtual address is IPv6; otherwise ha run refuses it"),
    e("vrrp_instance", "no_accept", A, "non-accept masters drop VIP traffic through nftables"),
    e("vrrp_instance", "no_virtual_ipaddress", I, "ha runs an instance without addresses anyway; it still warns that the instance moves no address"),
    e("vrrp_instance", "nopreempt", A, "a higher priority does not take over from a running master (cleared by `state MASTER`, as in keepalived)"),
    e("vrrp_instance", "notify", A, "run on every state change with `INSTANCE NAME STATE PRIORITY`"),
    e("vrrp_instance", "notify_backup", A, "run on becoming BACKUP"),
    e("vrrp_instance", "notify_deleted", A, "DELETED for instances a reload removes"),
    e("vrrp_instance", "notify_fault", A, "run on entering FAULT"),
    e("vrrp_instance", "notify_master", A, "run on becoming MASTER"),
    e("vrrp_instance", "notify_master_rx_lower_pri", A, "run when a lower-priority master is heard"),
    e("vrrp_instance", "notify_priority_changes", A, "MASTER_PRIORITY / BACKUP_PRIORITY FIFO lines"),
    e("vrrp_instance", "notify_stop", A, "run when the instance stops"),
    e("vrrp_instance", "old_unicast_checksum", MASTER, "VRRPv3 unicast adverts use the current checksum, so peers that need the old one drop them"),
    e("vrrp_instance", "owner_ignore_adverts", A, "ha's address owners (priority 255) always drop adverts"),
    e("vrrp_instance", "preempt", A, "the default: a higher priority takes over"),
    e("vrrp_instance", "preempt_delay", A, "a backup waits this long before preempting a lower priority master (cleared by `state MASTER`)"),
    e("vrrp_instance", "priority", A, "priority 1-255 (255: address owner)"),
    e("vrrp_instance", "promote_secondaries", A, "the interface's promote_secondaries sysctl is set while running"),
    e("vrrp_instance", "skip_check_adv_addr", A, "the address list of the followed master's adverts is not checked"),
    e("vrrp_instance", "smtp_alert", A, "SMTP alert on each state change"),
    e("vrrp_instance", "state", A, "initial state: MASTER clears `nopreempt` and `preempt_delay` as keepalived does; ha's MASTER takes over after the master-down interval, keepalived's after one advert interval (the same node ends up master)"),
    e("vrrp_instance", "strict_mode", A, "strict mode's rules and defaults"),
    e("vrrp_instance", "thread_timer_expired", MASTER, "a late nopreempt master does not revert to backup"),
    e("vrrp_instance", "timer_expired_backup", MASTER, "a late nopreempt master does not revert to backup"),
    e("vrrp_instance", "track_bfd", MASTER, "ha has no BFD"),
    e("vrrp_instance", "track_file", A, "the track_files whose values adjust the priority"),
    e("vrrp_instance", "track_interface", A, "interfaces whose link state faults the instance or adjusts its priority"),
    e("vrrp_instance", "track_process", A, "the vrrp_track_processes that adjust the priority or fault the instance"),
    e("vrrp_instance", "track_script", A, "the vrrp_scripts that adjust the priority or fault the instance"),
    e("vrrp_instance", "track_src_ip", I, "keepalived documents a FAULT while the configured source address (`unicast_src_ip`, `mcast_src_ip`) is off the interface, but 2.2.7 (tested) and 2.4.3 (same code) never act on it (they compare the address with the start of a sockaddr); ha does the same, so that both agree about who is master (the director library has the documented behaviour: `InstanceSpec::track_src_ip`)"),
    e("vrrp_instance", "unicast_fault_no_peer", A, "unicast without a peer waits in FAULT"),
    e("vrrp_instance", "unicast_peer", A, "adverts go to these addresses; adverts from other sources are dropped (`min_ttl` / `max_ttl` are not applied: every advert must arrive with TTL 255)"),
    e("vrrp_instance", "unicast_src_ip", A, "source address of the adverts"),
    e("vrrp_instance", "unicast_ttl", A, "the TTL of unicast adverts"),
    e("vrrp_instance", "use_ipvlan", MASTER, "no ipvlan interface is created: the addresses and adverts use the interface itself"),
    e("vrrp_instance", "use_vmac", A, "adverts and addresses go through a macvlan with the virtual router MAC (`vrrp.VRID` or the given name); a MAC address or `group` after the name is not applied (warned)"),
    e("vrrp_instance", "use_vmac_addr", FORWARDED, "no VMAC is made for addresses on other interfaces, so they answer with the interface's own MAC"),
    e("vrrp_instance", "v3_checksum_as_v2", MASTER, "VRRPv3 IPv4 adverts are checksummed with the pseudo-header, so peers that leave it out drop them and ha drops theirs"),
    e("vrrp_instance", "version", A, "VRRP version 2 or 3"),
    e("vrrp_instance", "virtual_ipaddress", A, "the addresses added as master and advertised"),
    e("vrrp_instance", "virtual_ipaddress_excluded", A, "addresses added as master, not advertised"),
    e("vrrp_instance", "virtual_router_id", A, "the VRID"),
    e("vrrp_instance", "virtual_routes", A, "routes added as master, removed as backup"),
    e("vrrp_instance", "virtual_rules", A, "FIB rules added while master"),
    e("vrrp_instance", "vmac_garp_intvl", A, "keepalived's old name of `garp_extra_if`"),
    e("vrrp_instance", "vmac_xmit_base", MASTER, "adverts go out on the VMAC, not the base interface, so where the network drops VMAC traffic peers do not hear them"),
    e("vrrp_instance", "vrf", MASTER, "the VMAC / ipvlan and unicast adverts are not put in the VRF"),
    e("vrrp_instance/auth_hmac", "active_key", MASTER, "part of `auth_hmac`, which is refused"),
    e("vrrp_instance/auth_hmac", "anti_replay", MASTER, "part of `auth_hmac`, which is refused"),
    e("vrrp_instance/auth_hmac", "key", MASTER, "part of `auth_hmac`, which is refused"),
    e("vrrp_instance/auth_hmac", "mode", MASTER, "part of `auth_hmac`, which is refused"),
    e("vrrp_instance/auth_hmac", "time_window", MASTER, "part of `auth_hmac`, which is refused"),
    e("vrrp_instance/authentication", "auth_pass", A, "the password, up to 8 characters"),
    e("vrrp_instance/authentication", "auth_type", A, "PASS; AH is refused"),
    e("vrrp_script", "fall", A, "failures in a row before the script counts as down"),
    e("vrrp_script", "init_fail", A, "the script starts down"),
    e("vrrp_script", "interval", A, "seconds between runs"),
    e("vrrp_script", "rise", A, "successes in a row before the script counts as up"),
    e("vrrp_script", "script", A, "the command line run (no shell), as `user` or `script_user`"),
    e("vrrp_script", "timeout", A, "a run that takes longer fails (default: `interval`)"),
    e("vrrp_script", "user", A, "user (and group) that runs the script"),
    e("vrrp_script", "weight", A, "priority adjustment (0: a failure puts the instance in FAULT); `reverse` swaps it"),
    e("vrrp_sync_group", "global_tracking", A, "sync_group_tracking_weight, as keepalived 2.x"),
    e("vrrp_sync_group", "group", A, "the group's members"),
    e("vrrp_sync_group", "notify", A, "run with GROUP NAME STATE 0"),
    e("vrrp_sync_group", "notify_backup", A, "run when the group enters BACKUP"),
    e("vrrp_sync_group", "notify_fault", A, "run when the group enters FAULT"),
    e("vrrp_sync_group", "notify_master", A, "run when the group enters MASTER"),
    e("vrrp_sync_group", "notify_priority_changes", A, "priority FIFO lines for the group's members"),
    e("vrrp_sync_group", "notify_stop", A, "run when the group stops"),
    e("vrrp_sync_group", "smtp_alert", I, "e-mail only (`vrrp_sync_group` itself is refused)"),
    e("vrrp_sync_group", "sync_group_tracking_weight", A, "members keep their tracked objects' weights"),
    e("vrrp_sync_group", "track_bfd", MASTER, "ha has no BFD"),
    e("vrrp_sync_group", "track_file", A, "applies to every member"),
    e("vrrp_sync_group", "track_interface", A, "applies to every member"),
    e("vrrp_sync_group", "track_process", A, "applies to every member"),
    e("vrrp_sync_group", "track_script", A, "applies to every member"),
    e("vrrp_track_file", "file", A, "the file holding the value"),
    e("vrrp_track_file", "init_file", A, "the file is written at start when missing (or always, with overwrite)"),
    e("vrrp_track_file", "weight", A, "value x weight adjusts the priority (0: a non-zero value is a FAULT); `reverse` negates it"),
    e("vrrp_track_process", "delay", A, "default of `terminate_delay` and `fork_delay`"),
    e("vrrp_track_process", "fork_delay", A, "a regained quorum counts once it has lasted this long"),
    e("vrrp_track_process", "full_command", A, "matches the whole command line"),
    e("vrrp_track_process", "param_match", A, "exact, partial or initial parameter match, as keepalived"),
    e("vrrp_track_process", "process", A, "the process name (or with arguments, the command line) counted in /proc"),
    e("vrrp_track_process", "quorum", A, "at least this many processes for the process to count as up"),
    e("vrrp_track_process", "quorum_max", A, "at most this many"),
    e("vrrp_track_process", "terminate_delay", A, "a lost quorum counts once it has lasted this long"),
    e("vrrp_track_process", "weight", A, "priority adjustment (0: losing the quorum puts the instance in FAULT); `reverse` swaps it"),
];

/// The block name of [`ADDRESS_OPTIONS`]: the words after the address on a line of
/// `virtual_ipaddress`, `virtual_ipaddress_excluded` or `static_ipaddress` (not a block of
/// keepalived's; no statement is named so).
pub const ADDRESS_LINE: &str = "address line";

/// What ha does with each option of an address line (keepalived's `parse_ipaddress`), sorted
/// by keyword. Checked as [`TABLE`]'s keywords are; not counted among keepalived's keywords.
#[rustfmt::skip]
pub const ADDRESS_OPTIONS: &[Entry] = &[
    e(ADDRESS_LINE, "-nodad", A, "IPv6: the address is added with duplicate address detection (keepalived and ha add IPv6 virtual addresses with `nodad` otherwise)"),
    e(ADDRESS_LINE, "autojoin", A, "IFA_F_MCAUTOJOIN: the kernel joins the multicast address"),
    e(ADDRESS_LINE, "brd", A, "IPv4 broadcast address; `+` and `-` computed from the prefix (up to /30); ignored with a `peer`"),
    e(ADDRESS_LINE, "broadcast", A, "as `brd`"),
    e(ADDRESS_LINE, "dev", A, "the address's interface (default: the instance's)"),
    e(ADDRESS_LINE, "home", A, "IFA_F_HOMEADDRESS (IPv6)"),
    e(ADDRESS_LINE, "label", A, "IPv4 address label (`eth0:vip`)"),
    e(ADDRESS_LINE, "mngtmpaddr", A, "IFA_F_MANAGETEMPADDR (IPv6)"),
    e(ADDRESS_LINE, "no_track", A, "a removed address is left removed: keepalived does not react to it (ha puts other virtual and static addresses back)"),
    e(ADDRESS_LINE, "noprefixroute", A, "IFA_F_NOPREFIXROUTE: no prefix route for the address"),
    e(ADDRESS_LINE, "peer", A, "point-to-point: the peer is IFA_ADDRESS, the address IFA_LOCAL with a host prefix"),
    e(ADDRESS_LINE, "preferred_lft", A, "IPv6 preferred lifetime (IFA_CACHEINFO); without it a /128 is deprecated (0), as in keepalived"),
    e(ADDRESS_LINE, "scope", A, "the address's scope"),
    e(ADDRESS_LINE, "track_group", MASTER, "static addresses do not follow a track group's instances (`track_group` itself is refused)"),
    e(ADDRESS_LINE, "use_vmac", FORWARDED, "no VMAC is made for the address's interface, so it answers with the interface's own MAC"),
];

/// The words of [`ADDRESS_OPTIONS`] followed by a value.
const ADDRESS_VALUES: &[&str] = &[
    "brd",
    "broadcast",
    "dev",
    "label",
    "peer",
    "preferred_lft",
    "scope",
    "track_group",
];

/// The entry of an address line option.
pub fn address_option(word: &str) -> Option<&'static Entry> {
    ADDRESS_OPTIONS
        .binary_search_by(|e| e.keyword.cmp(word))
        .ok()
        .map(|i| &ADDRESS_OPTIONS[i])
}

/// `native_ipv6` where the first virtual address is IPv4: ha takes the family from it.
pub const NATIVE_IPV6_WITH_IPV4: Entry = e(
    "vrrp_instance",
    "native_ipv6",
    MASTER,
    "ha takes the instance's family from its first virtual address, which is IPv4 here; list an IPv6 address first",
);

/// Calls `f` with every option word (not its value) of the address lines of `nodes`: the
/// lines of `virtual_ipaddress` and `virtual_ipaddress_excluded` in a `vrrp_instance`, and of
/// `static_ipaddress`.
pub fn address_option_uses(nodes: &[Node], f: &mut dyn FnMut(&crate::lexer::Token)) {
    fn lines<'n>(n: &'n Node, names: &[&str]) -> Vec<&'n Node> {
        match &n.block {
            Some(children) if names.contains(&n.key.text.as_str()) => children.iter().collect(),
            _ => Vec::new(),
        }
    }
    for top in nodes {
        let mut address_lines = lines(top, &["static_ipaddress"]);
        if top.key.text == "vrrp_instance" {
            for child in top.block.iter().flatten() {
                address_lines.extend(lines(
                    child,
                    &["virtual_ipaddress", "virtual_ipaddress_excluded"],
                ));
            }
        }
        for line in address_lines {
            let mut words = line.args.iter();
            while let Some(word) = words.next() {
                if address_option(&word.text).is_none() {
                    // Not an option: the parser warned, and stopped reading the line there.
                    break;
                }
                f(word);
                if ADDRESS_VALUES.contains(&word.text.as_str()) {
                    words.next();
                }
            }
        }
    }
}

/// ha's own keywords, which keepalived does not know (it warns about them and runs
/// without them), sorted by block then keyword. Each is named `ha_...`, so that a reader of
/// the file sees it is ha's; `ha check` says nothing about their use (they are documented
/// here), and validates them.
#[rustfmt::skip]
pub const EXTENSIONS: &[Entry] = &[
    e("global_defs", "ha_announce_interface", A, "`ha_announce_interface NAME` (default `ha-announce`): the dummy interface ha creates to hold the addresses of the `ha_announce` virtual servers; no other use of the interface is allowed (VRRP, tracking, sync daemon)"),
    e("virtual_server", "ha_announce", A, "`ha_announce [on|off]`: while the virtual server has quorum and the director is not drained (`ha drain --director`), its addresses (a group's: every address of its members) are on the announce interface as /32 (/128), for FRR to announce by BGP (`redistribute connected` with a route-map on that interface); removed when quorum is lost and at stop. Refused on a fwmark virtual server (no address)"),
    e("virtual_server", "ha_announce_notify", A, "`ha_announce_notify CMD`: run on each announce and withdrawal of the virtual server's addresses with `ANNOUNCED` or `WITHDRAWN`, the virtual server's name and the reason (`quorum DOWN`, `director drained`, `stopping`, ...) appended; as `script_user`, checked like notify scripts"),
];

/// The entry of ha extension `keyword` in `block`.
pub fn extension(block: &str, keyword: &str) -> Option<&'static Entry> {
    EXTENSIONS
        .iter()
        .find(|e| e.block == block && e.keyword == keyword)
}

/// `docs/keepalived-compat.md`: the table as a document, with the count of each class.
/// The `compat` test fails when the file differs from this.
pub fn document() -> String {
    use std::fmt::Write;
    let count = |n: u8| TABLE.iter().filter(|e| e.class.number() == n).count();
    let mut out = String::new();
    let _ = write!(
        out,
        "# keepalived {KEEPALIVED} keywords in ha\n\n\
         <!-- Generated from keepalived-conf/src/compat.rs by `HA_BLESS=1 cargo test -p \
         keepalived-conf --test compat`; do not edit. -->\n\n\
         ha runs an existing keepalived.conf, or refuses it. Every keyword keepalived \
         {KEEPALIVED} accepts is in one class:\n\n\
         1. **applied** as keepalived applies it: {} keywords, of which {} **with a \
         difference** from keepalived that does not change who is master, what is forwarded \
         or who may run what (the note says which; `ha check` and `ha run` warn);\n\
         2. **accepted, not applied**, harmless (it does not change who is master, what is \
         forwarded or who may run what): `ha check` and `ha run` warn, naming file:line: {} \
         keywords;\n\
         3. **refused**: not applied, and ignoring it would change one of those (or which \
         scripts run): `ha check` reports an error and `ha run` refuses to start: {} keywords.\n\n\
         {} keywords in all. A keyword keepalived does not know in its block is warned about \
         and ignored, as keepalived does.\n",
        count(1),
        TABLE.iter().filter(|e| e.class == Class::Differs).count(),
        count(2),
        count(3),
        TABLE.len(),
    );
    let mut last = "";
    for e in TABLE {
        if e.block != last {
            let title = match e.block {
                "top" => "Top level".to_string(),
                "language" => "The language (includes, parameters, conditionals)".to_string(),
                b => format!("`{b}`"),
            };
            let _ = write!(
                out,
                "\n## {title}\n\n| keyword | class | what ha does |\n|---|---|---|\n"
            );
            last = e.block;
        }
        let class = class_text(e.class);
        let _ = writeln!(
            out,
            "| `{}` | {class} | {} |",
            e.keyword,
            e.note.replace('|', "\\|")
        );
    }
    let _ =
        write!(
        out,
        "\n## Options of an address line\n\nThe words after the address in `virtual_ipaddress`, \
         `virtual_ipaddress_excluded` and `static_ipaddress` (not counted above): {} applied, {} \
         refused.\n\n| option | class | what ha does |\n|---|---|---|\n",
        ADDRESS_OPTIONS.iter().filter(|e| e.class.number() == 1).count(),
        ADDRESS_OPTIONS.iter().filter(|e| e.class.number() == 3).count(),
    );
    for e in ADDRESS_OPTIONS {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} |",
            e.keyword,
            class_text(e.class),
            e.note.replace('|', "\\|")
        );
    }
    let _ = write!(
        out,
        "\n## ha extensions\n\n\
         Keywords of ha's own, in keepalived.conf syntax, each named `ha_...`: keepalived \
         {KEEPALIVED} does not know them (it warns and runs without them); `ha check` \
         validates them without a warning.\n\n\
         | block | keyword | what ha does |\n|---|---|---|\n"
    );
    for e in EXTENSIONS {
        let _ = writeln!(
            out,
            "| `{}` | `{}` | {} |",
            e.block,
            e.keyword,
            e.note.replace('|', "\\|")
        );
    }
    out
}

fn class_text(class: Class) -> String {
    match class {
        Class::Applied => "1 applied".to_string(),
        Class::Differs => "1 applied, with a difference".to_string(),
        Class::Ignored => "2 warned, not applied".to_string(),
        Class::Refused(what) => format!("3 refused ({what})"),
    }
}

/// The entry of `keyword` in `block`.
pub fn lookup(block: &str, keyword: &str) -> Option<&'static Entry> {
    TABLE
        .binary_search_by(|e| (e.block, e.keyword).cmp(&(block, keyword)))
        .ok()
        .map(|i| &TABLE[i])
}

/// The entries of `block`.
pub fn block(block: &str) -> &'static [Entry] {
    let start = TABLE.partition_point(|e| e.block < block);
    let end = TABLE.partition_point(|e| e.block <= block);
    &TABLE[start..end]
}

/// Whether keepalived reads keywords inside the block of the statement at `path`.
pub fn is_block(path: &str) -> bool {
    !block(path).is_empty()
}

/// The blocks whose last part is `name` (`url` is in both HTTP_GET and SSL_GET); `top` for
/// `the top level`. This is how the parser, which names a block by its keyword, finds it.
pub fn blocks_named(name: &str) -> Vec<&'static str> {
    let name = match name.trim_matches('`') {
        "the top level" => "top",
        // ha's alias of PING_CHECK.
        "ICMP_CHECK" => "PING_CHECK",
        other => other,
    };
    let mut out: Vec<&'static str> = TABLE
        .iter()
        .map(|e| e.block)
        .filter(|b| *b == name || b.rsplit('/').next() == Some(name))
        .collect();
    out.dedup();
    out
}

/// `the top level` or `` `real_server` ``: a block as messages name it.
pub fn block_display(block: &str) -> String {
    match block {
        "top" => "the top level".into(),
        other => format!("`{}`", other.rsplit('/').next().unwrap_or(other)),
    }
}

/// One statement with the block it is in.
#[derive(Debug, Clone, Copy)]
pub struct Use<'n> {
    pub block: &'n str,
    pub node: &'n Node,
    /// The parser kept the statement holding this one verbatim, without reading inside.
    pub in_raw: bool,
}

/// Calls `f` for every statement of `nodes` and, inside the blocks keepalived reads
/// keywords in, of their blocks. `raw`: statements the parser kept verbatim.
fn walk<'n>(
    nodes: &'n [Node],
    block: &'n str,
    in_raw: bool,
    raw: &FxHashSet<Span>,
    paths: &mut FxHashMap<String, &'static str>,
    f: &mut dyn FnMut(Use<'_>),
) {
    for n in nodes {
        f(Use {
            block,
            node: n,
            in_raw,
        });
        let Some(children) = &n.block else { continue };
        let path = if block == "top" {
            n.key.text.clone()
        } else {
            format!("{block}/{}", n.key.text)
        };
        // Blocks are few; their paths are interned so that children borrow one.
        let interned = match paths.get(&path) {
            Some(p) => *p,
            None => match TABLE.iter().find(|e| e.block == path) {
                Some(e) => {
                    paths.insert(path, e.block);
                    e.block
                }
                None => continue,
            },
        };
        let raw_here = in_raw || raw.contains(&n.key.span);
        walk(children, interned, raw_here, raw, paths, f);
    }
}

/// Every statement of a statement tree with its block (for tests that look for keywords in
/// configurations).
pub fn uses(nodes: &[Node], f: &mut dyn FnMut(Use<'_>)) {
    let mut paths = FxHashMap::default();
    walk(nodes, "top", false, &FxHashSet::default(), &mut paths, f);
}

/// keepalived's words for "off" (`check_true_false`).
fn is_false(word: &str) -> bool {
    matches!(word, "off" | "false" | "no")
}

/// What a statement is, where its value makes a difference to the keyword's class.
fn by_value(block: &str, n: &Node) -> Option<&'static Entry> {
    const AH: Entry = e(
        "vrrp_instance/authentication",
        "auth_type",
        MASTER,
        "ha speaks PASS or no authentication, so nodes using AH drop its adverts and it drops theirs; use `auth_type PASS` on every node",
    );
    match (block, n.key.text.as_str(), n.arg(0)) {
        ("vrrp_instance/authentication", "auth_type", Some("AH")) => Some(&AH),
        // `accept off` is `no_accept`.
        ("vrrp_instance", "accept", Some(w)) if is_false(w) => lookup("vrrp_instance", "no_accept"),
        _ => None,
    }
}

/// Reports every use of a keyword that ha does not apply (class 2: warning, class 3:
/// error), and every keyword that is not keepalived's in its block: unknown when the parser
/// did not read it (inside a block kept verbatim), an extension when ha types it. `raw`:
/// the key spans of the statements the parser kept verbatim.
pub(crate) fn check(
    nodes: &[Node],
    raw: &FxHashSet<Span>,
    sources: &SourceMap,
    diags: &mut Vec<Diagnostic>,
) {
    let reported: FxHashSet<Span> = diags
        .iter()
        .filter(|d| d.code == "unknown-keyword")
        .filter_map(|d| d.span)
        .collect();
    let mut seen: FxHashSet<(String, FileId, usize)> = FxHashSet::default();
    let mut out = Vec::new();
    let mut paths = FxHashMap::default();
    walk(nodes, "top", false, raw, &mut paths, &mut |u| {
        let n = u.node;
        let word = n.key.text.as_str();
        let span = n.key.span;
        let entry = match by_value(u.block, n) {
            Some(e) => Some(e),
            None => match lookup(u.block, word) {
                // A feature ha does not apply, turned off: keepalived's default, which is
                // what ha does.
                Some(e)
                    if e.class != Class::Applied
                        && n.args.len() == 1
                        && is_false(&n.args[0].text) =>
                {
                    return
                }
                other => other,
            },
        };
        let quiet = match entry {
            Some(e) => e.class == Class::Applied,
            // ha's documented extensions are what the user asked ha for.
            None => reported.contains(&span) || (!u.in_raw && extension(u.block, word).is_some()),
        };
        if quiet {
            return;
        }
        let (_, line, _) = sources.location(span);
        if !seen.insert((word.to_string(), span.file, line)) {
            return;
        }
        match entry {
            Some(entry) => out.extend(finding(entry, word, span)),
            None if u.in_raw => {
                let mut d = Diagnostic::warning(
                    "unknown-keyword",
                    Some(span),
                    format!("unknown keyword `{word}` in {}", block_display(u.block)),
                )
                .with_label("not a keepalived keyword here; ignored");
                if let Some(s) = suggest(word, &[u.block]) {
                    d = d.with_help(format!("did you mean `{s}`?"));
                }
                out.push(d);
            }
            None => out.push(
                Diagnostic::warning(
                    "not-keepalived",
                    Some(span),
                    format!(
                        "`{word}` is not a keepalived {KEEPALIVED} keyword in {}",
                        block_display(u.block)
                    ),
                )
                .with_label("ha applies it; keepalived would ignore it")
                .with_help("keepalived warns about an unknown keyword and runs without it"),
            ),
        }
    });
    address_option_uses(nodes, &mut |word| {
        let entry = address_option(&word.text).expect("an option");
        let (_, line, _) = sources.location(word.span);
        if seen.insert((word.text.clone(), word.span.file, line)) {
            out.extend(finding(entry, &word.text, word.span));
        }
    });
    // Values refused in context: `native_ipv6` with an IPv4 first virtual address.
    for vi in nodes.iter().filter(|n| n.key.text == "vrrp_instance") {
        let children = vi.block.as_deref().unwrap_or_default();
        let first_is_ipv4 = children
            .iter()
            .find(|n| n.key.text == "virtual_ipaddress")
            .and_then(|n| n.block.as_deref()?.first())
            .is_some_and(|a| !a.key.text.contains(':'));
        for n in children.iter().filter(|n| n.key.text == "native_ipv6") {
            if first_is_ipv4 {
                out.extend(finding(&NATIVE_IPV6_WITH_IPV4, "native_ipv6", n.key.span));
            }
        }
    }
    diags.extend(out);
}

/// The diagnostic of a use of `word` (at `span`) whose entry is `entry`; none when applied.
fn finding(entry: &Entry, word: &str, span: Span) -> Option<Diagnostic> {
    match entry.class {
        Class::Applied => None,
        Class::Differs => Some(
            Diagnostic::warning(
                "applied-differently",
                Some(span),
                format!(
                    "`{word}` is applied with a difference from keepalived: {}",
                    entry.note
                ),
            )
            .with_label("applied, not quite as keepalived"),
        ),
        Class::Ignored => Some(
            Diagnostic::warning(
                "accepted-not-applied",
                Some(span),
                format!("`{word}` is accepted, not applied: {}", entry.note),
            )
            .with_label("accepted, not applied"),
        ),
        Class::Refused(changes) => Some(
            Diagnostic::error(
                "not-applied",
                Some(span),
                format!(
                    "`{word}` is not applied by ha, and ignoring it would change {changes}: {}",
                    entry.note
                ),
            )
            .with_label("not applied by ha")
            .with_help(
                "ha refuses to run this: remove it (and what relies on it), or keep \
                 keepalived on this node until ha applies it (docs/keepalived-compat.md)",
            ),
        ),
    }
}

/// The keyword of `blocks` closest to `word`, if close enough to be a likely typo.
pub fn suggest(word: &str, blocks: &[&str]) -> Option<&'static str> {
    let mut best: Option<(f64, &'static str)> = None;
    for b in blocks {
        for e in block(b)
            .iter()
            .chain(EXTENSIONS.iter().filter(|e| e.block == *b))
        {
            let score =
                strsim::jaro_winkler(&word.to_ascii_lowercase(), &e.keyword.to_ascii_lowercase());
            if score > 0.85 && best.is_none_or(|(s, _)| score > s) {
                best = Some((score, e.keyword));
            }
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_finds_by_block_and_keyword() {
        assert_eq!(
            lookup("vrrp_instance", "priority").map(|e| e.class),
            Some(Class::Applied)
        );
        assert_eq!(
            lookup("vrrp_instance", "auth_hmac").map(|e| e.class.number()),
            Some(3)
        );
        assert!(lookup("vrrp_instance", "no_such_keyword").is_none());
        assert!(lookup("global_defs", "priority").is_none());
    }

    #[test]
    fn blocks_are_found_by_their_last_part() {
        assert_eq!(blocks_named("the top level"), ["top"]);
        assert_eq!(
            blocks_named("`real_server`"),
            ["virtual_server/real_server"]
        );
        assert_eq!(
            blocks_named("`url`"),
            [
                "virtual_server/real_server/HTTP_GET/url",
                "virtual_server/real_server/SSL_GET/url"
            ]
        );
        assert_eq!(
            blocks_named("`ICMP_CHECK`"),
            ["virtual_server/real_server/PING_CHECK"]
        );
        assert!(is_block("vrrp_instance/auth_hmac"));
        assert!(!is_block("vrrp_instance/virtual_ipaddress"));
    }
}
