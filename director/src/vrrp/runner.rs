//! The VRRP side of the director: vrrp-core instances driven by real sockets and timers on a
//! thread of their own, so that scripts and health checks can never delay an advert.
//!
//! [`VrrpRunner::spawn`] opens one raw socket per (interface, family), one packet socket per
//! interface for gratuitous ARPs / NAs, and an rtnetlink socket for the virtual addresses, then
//! loops: wait (ppoll, nanosecond timeout) for a packet, a command or the earliest instance
//! deadline; feed the instances; perform what they ask (send adverts, add or remove virtual
//! addresses on state changes, announce them); publish events and a status snapshot.
//!
//! It is also the director's one link watcher: link changes (and the links found at start)
//! go out with the events, for `track_interface`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use nix::poll::{PollFd, PollFlags};
use vrrp_core::{
    Command, Event, FaultCause, GroupMembers, GroupSync, Instance, InstanceConfig, State,
    Statistics, Transition, Transmit, TRANSMIT_BUFFER_LEN,
};

use crate::net::advert_filter::{AdvertFilter, Queue};
use crate::net::{
    interface_index, GratuitousSender, InterfaceAddress, LinkStatus, Membership, NetChange,
    NetError, NetWatcher, Rtnl, RtnlError, RxBatch, VrrpSocket,
};

/// What the runner needs to run one `vrrp_instance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The instance's name (`vrrp_instance NAME`).
    pub name: String,
    /// Interface the adverts go out on and come in from.
    pub interface: String,
    /// The protocol configuration; `primary_address` must be on `interface`.
    pub config: InstanceConfig,
    /// Addresses to add while master (`virtual_ipaddress` and `_excluded`).
    pub addresses: Vec<VirtualAddress>,
    /// `use_vmac`: the name of the macvlan to create on `interface` with the virtual router
    /// MAC; adverts, announcements and addresses then go through it.
    pub vmac: Option<String>,
    /// `virtual_routes`: added after the addresses while master, removed before them.
    pub routes: Vec<crate::net::Route>,
    /// IPv4 TTL / IPv6 hop limit of its adverts: `unicast_ttl` for unicast, else 255.
    pub ttl: u8,
    /// The `vrrp_sync_group` it belongs to: its members change state together.
    pub sync_group: Option<String>,
    /// Why it cannot run: it waits in FAULT (keepalived's `unicast_fault_no_peer` without a
    /// peer).
    pub config_fault: Option<String>,
    /// `dont_track_primary`: its interface going down does not put it in FAULT.
    pub dont_track_primary: bool,
    /// `track_src_ip` with a configured source address: the instance is in FAULT while that
    /// address is not on its interface (keepalived's VRRP_FAULT_FL_NO_SOURCE_IP).
    pub track_src_ip: bool,
    /// `dynamic_interfaces`: a missing interface is waited for in FAULT rather than refused;
    /// an unspecified `config.primary_address` is taken from the interface when it appears.
    pub dynamic_interfaces: bool,
    /// Delay between gratuitous ARPs sent on its interface (`vrrp_garp_interval`,
    /// `garp_group`); zero sends them back to back.
    pub garp_interval: Duration,
    /// The same for unsolicited neighbour advertisements (`vrrp_gna_interval`).
    pub gna_interval: Duration,
    /// `garp_extra_if SECS all` (or the global `vrrp_garp_extra_if`): while master, one
    /// gratuitous ARP / NA every SECS on each other device holding one of its addresses.
    pub garp_extra_if: Option<Duration>,
    /// `promote_secondaries`: the interface's promote_secondaries sysctl is set while the
    /// instance runs, so removing a VIP keeps the other addresses of its subnet, and put back
    /// when the last instance that set it stops (keepalived; not for a VMAC, as keepalived).
    pub promote_secondaries: bool,
    /// `virtual_rules`: added after the routes while master, removed before them.
    pub rules: Vec<crate::net::Rule>,
}

/// One virtual address with its keepalived options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAddress {
    pub address: IpAddr,
    pub prefix_len: u8,
    /// `dev`: defaults to the instance's interface.
    pub device: Option<String>,
    pub label: Option<String>,
    pub scope: netlink_packet_route::address::AddressScope,
    /// Flags, peer, broadcast, preferred lifetime (keepalived's address options).
    pub options: crate::net::AddressOptions,
    /// `no_track`: keepalived does not react when it is removed; neither does ha.
    pub no_track: bool,
}

/// Why the runner could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("instance {instance}: {source}")]
    Net {
        instance: String,
        #[source]
        source: NetError,
    },
    #[error("{0}")]
    Rtnl(#[from] RtnlError),
    #[error("VRRP thread: {0}")]
    Thread(String),
}

/// What a reconfiguration did, instance by instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadSummary {
    /// Identical: kept running with their state and addresses.
    pub unchanged: Vec<String>,
    /// Only the priority changed: applied in place, state kept.
    pub reprioritised: Vec<String>,
    /// Changed otherwise: stopped and started again.
    pub restarted: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Restarted instances that could not be started again (`NAME: why`); they are stopped.
    pub failed: Vec<String>,
}

/// Asks the runner thread to do something.
#[derive(Debug)]
pub enum RunnerCommand {
    /// A command for the named instance.
    Instance { name: String, command: Command },
    /// Replace the set of instances, touching only what changed; the result is sent back.
    Reconfigure {
        specs: Vec<InstanceSpec>,
        reply: tokio::sync::oneshot::Sender<Result<ReloadSummary, String>>,
    },
    /// Stop every instance gracefully (priority-0 adverts, addresses removed) and end.
    Shutdown,
    /// End without releasing anything (keepalived's `--dont-release-vrrp`): no priority-0
    /// advert, the addresses, routes and VMACs stay; a peer takes over after its master-down
    /// interval, and a restarted director finds them.
    ShutdownKeepingAddresses,
}

/// What an instance looks like from outside, refreshed after every change.
#[derive(Debug, Clone)]
pub struct InstanceStatus {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub state: State,
    pub priority: u8,
    pub configured_priority: u8,
    pub master_address: Option<IpAddr>,
    /// The configured virtual addresses.
    pub addresses: Vec<IpAddr>,
    /// Those of them installed in the kernel now (as the kernel announced them).
    pub installed_addresses: Vec<IpAddr>,
    /// The configured virtual addresses with their options, in configuration order.
    pub address_details: Vec<VirtualAddress>,
    /// How many of `address_details` come first and are advertised (`virtual_ipaddress`);
    /// the rest are `virtual_ipaddress_excluded`.
    pub advertised_addresses: usize,
    /// VRRP version (2 or 3).
    pub version: u8,
    pub advert_interval: Duration,
    /// `garp_master_delay`.
    pub garp_master_delay: Duration,
    /// Virtual addresses put back after something else removed them while master.
    pub vip_repairs: u64,
    /// Datagrams the kernel dropped at the full queues of the socket this instance reads,
    /// since it was opened ([`VrrpSocket::kernel_drops`]; shared by the instances on it).
    pub socket_drops: u64,
    pub statistics: Statistics,
    pub last_transition: Option<Transition>,
    /// Its `vrrp_sync_group` and the group's state.
    pub sync_group: Option<(String, State)>,
}

/// An event from an instance, with the instance's name and its priority at the time.
#[derive(Debug, Clone)]
pub struct RunnerEvent {
    pub instance: String,
    pub priority: u8,
    pub event: Event,
}

/// What the VRRP thread tells the rest of the director.
#[derive(Debug, Clone)]
pub enum RunnerOutput {
    Event(RunnerEvent),
    /// A link changed, or was found at start (for `track_interface`).
    Link(LinkStatus),
    /// A `vrrp_sync_group` changed state (for its notify scripts).
    Group {
        name: String,
        state: State,
    },
}

/// Where the VRRP thread's outputs go. Bounded: the VRRP thread never waits for the reader;
/// when it is full an output is dropped and counted ([`StatusHandle::outputs_lost`]).
pub type RunnerOutputs = tokio::sync::mpsc::Receiver<RunnerOutput>;

/// Receive buffer of each VRRP socket: about a thousand adverts queue up during a burst.
const RECEIVE_BUFFER: usize = 1 << 20;
/// Outputs queued for the router at most.
const OUTPUT_CAPACITY: usize = 8192;
/// Datagrams read from one socket per wake-up, so that a flood on one socket cannot starve
/// the timers and the other sockets.
const MAX_READS_PER_WAKE: usize = 256;
/// How long a socket whose last read gave only bad adverts is left unread (see `run`).
const FLOOD_PAUSE: Duration = Duration::from_millis(2);
/// Datagrams a socket's queue can hold at most: its buffer (the kernel doubles
/// [`RECEIVE_BUFFER`]) over the smallest memory a queued datagram is charged (832 bytes
/// measured for an advert; 512 leaves a margin). Reading this many reads all that was queued.
const QUEUED_AT_MOST: usize = 2 * RECEIVE_BUFFER / 512;
/// How often a dropped advert is published as an event per instance and kind of drop (all
/// are counted).
const DROP_EVENT_INTERVAL: Duration = Duration::from_secs(1);
/// How often the same error of an instance is logged (the rest are counted in the next line).
const REPORT_INTERVAL: Duration = Duration::from_secs(10);
/// How often the status snapshot is refreshed when only counters changed.
const STATUS_INTERVAL: Duration = Duration::from_millis(100);
/// How long an instance whose addresses could not be installed waits in FAULT before trying
/// again.
const ADDRESS_RETRY: Duration = Duration::from_secs(1);
/// The VRRP thread turns its loop at least this often, even with no timer due, so that its
/// heartbeat ([`StatusHandle::heartbeat`]) shows it alive (a service watchdog follows it).
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_millis(250);

/// A cheap, shareable view of the runner's status (for the control socket). The VRRP thread
/// swaps in a new snapshot without ever waiting for a reader.
#[derive(Debug, Clone)]
pub struct StatusHandle {
    status: Arc<arc_swap::ArcSwap<Vec<InstanceStatus>>>,
    lost: Arc<std::sync::atomic::AtomicU64>,
    /// Turns of the VRRP thread's loop.
    heartbeat: Arc<std::sync::atomic::AtomicU64>,
    epoch: std::time::Instant,
}

impl StatusHandle {
    /// The latest status of every instance.
    pub fn status(&self) -> Arc<Vec<InstanceStatus>> {
        self.status.load_full()
    }

    /// Outputs (events, link changes) dropped because the router fell behind.
    pub fn outputs_lost(&self) -> u64 {
        self.lost.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Turns of the VRRP thread's loop so far: it advances at least every
    /// [`HEARTBEAT_INTERVAL`] while the thread is alive and not stuck (in a system call, a
    /// lock, an endless loop). A watchdog reads it without ever touching the thread.
    pub fn heartbeat(&self) -> u64 {
        self.heartbeat.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Now on the instances' clock (their transition times are on it).
    pub fn now(&self) -> vrrp_core::Instant {
        vrrp_core::Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }
}

/// Scheduling of the VRRP thread: keepalived's `vrrp_priority` (nice) and `vrrp_rt_priority`
/// (SCHED_RR), so that nothing else on the machine delays an advert.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ThreadPriority {
    pub nice: Option<i32>,
    pub realtime: Option<u32>,
}

impl ThreadPriority {
    /// Applies to the calling thread; a refusal (no CAP_SYS_NICE) is reported, not fatal.
    fn apply(self) {
        if let Some(n) = self.nice {
            if let Err(e) = crate::net::set_thread_nice(n) {
                tracing::warn!("cannot set vrrp_priority {n}: {e}");
            }
        }
        if let Some(p) = self.realtime {
            if let Err(e) = crate::net::set_realtime_priority(p) {
                tracing::warn!("cannot set vrrp_rt_priority {p}: {e}");
            }
        }
    }
}

/// Sends commands to the VRRP thread from anywhere (tracking, the control socket).
#[derive(Debug, Clone)]
pub struct Commander {
    commands: Sender<RunnerCommand>,
    wake: Arc<OwnedFd>,
}

impl Commander {
    /// Queues a command and wakes the VRRP thread. Never blocks: the wake pipe is
    /// non-blocking, and a full pipe already means a wake-up is pending.
    pub fn send(&self, command: RunnerCommand) {
        let _ = self.commands.send(command);
        let _ = nix::unistd::write(&*self.wake, &[1]);
    }
}

/// Handle to the VRRP thread.
#[derive(Debug)]
pub struct VrrpRunner {
    commander: Commander,
    status: StatusHandle,
    thread: Option<JoinHandle<Result<(), RunnerError>>>,
}

impl VrrpRunner {
    /// Opens everything, starts the instances and returns the handle and the outputs
    /// (events and link changes).
    pub fn spawn(specs: Vec<InstanceSpec>) -> Result<(VrrpRunner, RunnerOutputs), RunnerError> {
        Self::spawn_with(specs, ThreadPriority::default())
    }

    /// [`spawn`](Self::spawn) with the VRRP thread's scheduling set first.
    pub fn spawn_with(
        specs: Vec<InstanceSpec>,
        priority: ThreadPriority,
    ) -> Result<(VrrpRunner, RunnerOutputs), RunnerError> {
        Self::spawn_with_firewall(specs, priority, None)
    }

    /// [`spawn_with`](Self::spawn_with), dropping traffic to the addresses of masters not in
    /// accept mode through `firewall` (keepalived's `no_accept`).
    pub fn spawn_with_firewall(
        specs: Vec<InstanceSpec>,
        priority: ThreadPriority,
        firewall: Option<crate::net::firewall::Firewall>,
    ) -> Result<(VrrpRunner, RunnerOutputs), RunnerError> {
        let (out_tx, out_rx) = tokio::sync::mpsc::channel(OUTPUT_CAPACITY);
        let (commands_tx, commands_rx) = mpsc::channel();
        // Close-on-exec, so that scripts do not inherit it; non-blocking, so that a full pipe
        // never stalls whoever wakes the thread.
        let (wake_read, wake_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|e| RunnerError::Thread(format!("wake pipe: {e}")))?;
        let status = StatusHandle {
            status: Arc::new(arc_swap::ArcSwap::from_pointee(Vec::new())),
            lost: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            heartbeat: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            epoch: std::time::Instant::now(),
        };
        let mut core = Core::open(specs, out_tx, status.clone())?;
        core.firewall = firewall;
        let thread = std::thread::Builder::new()
            .name("vrrp".into())
            .spawn(move || {
                priority.apply();
                core.run(commands_rx, wake_read)
            })
            .map_err(|e| RunnerError::Thread(e.to_string()))?;
        Ok((
            VrrpRunner {
                commander: Commander {
                    commands: commands_tx,
                    wake: Arc::new(wake_write),
                },
                status,
                thread: Some(thread),
            },
            out_rx,
        ))
    }

    /// Sends a command and wakes the thread.
    pub fn command(&self, command: RunnerCommand) {
        self.commander.send(command);
    }

    /// A clonable sender of commands.
    pub fn commander(&self) -> Commander {
        self.commander.clone()
    }

    /// The latest status of every instance.
    pub fn status(&self) -> Arc<Vec<InstanceStatus>> {
        self.status.status()
    }

    /// A view of the status that outlives borrows of the runner.
    pub fn status_handle(&self) -> StatusHandle {
        self.status.clone()
    }

    /// Graceful stop: priority-0 adverts, addresses removed, thread joined.
    pub fn shutdown(mut self) -> Result<(), RunnerError> {
        self.command(RunnerCommand::Shutdown);
        self.join()
    }

    /// Stop releasing nothing (keepalived's `--dont-release-vrrp`): no priority-0 advert,
    /// addresses, routes and VMACs left in place; thread joined.
    pub fn shutdown_keeping_addresses(mut self) -> Result<(), RunnerError> {
        self.command(RunnerCommand::ShutdownKeepingAddresses);
        self.join()
    }

    fn join(&mut self) -> Result<(), RunnerError> {
        match self.thread.take() {
            Some(t) => t
                .join()
                .map_err(|_| RunnerError::Thread("VRRP thread panicked".into()))?,
            None => Ok(()),
        }
    }
}

impl Drop for VrrpRunner {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.command(RunnerCommand::Shutdown);
            let _ = self.join();
        }
    }
}

/// The sockets and interfaces a member's adverts and announcements go through.
#[derive(Debug, Clone)]
struct MemberIo {
    /// Index into `Core::sockets`.
    socket: usize,
    /// `spec.interface`'s index when bound: a different one means it was re-created.
    parent_ifindex: u32,
    /// The index of the interface adverts go out on (the VMAC, or `spec.interface`).
    ifindex: u32,
    /// The VMAC this member created, deleted when it stops.
    vmac: Option<u32>,
    /// The VMAC's name or `spec.interface`.
    interface: String,
    /// This member turned `promote_secondaries` on: it turns it off when it stops.
    promoted: bool,
}

struct Member {
    spec: InstanceSpec,
    instance: Instance,
    /// `None` while its interface is missing: the instance waits in FAULT.
    io: Option<MemberIo>,
    /// Whether the member holds its addresses (it is master, or was asked to clear them).
    holds_addresses: bool,
    /// Per `spec.addresses`: installed in the kernel, as the kernel announced it.
    installed: Vec<bool>,
    vip_repairs: u64,
    /// When to try again after its addresses could not be installed (FAULT until then).
    retry_addresses_at: Option<vrrp_core::Instant>,
    /// When the next `garp_extra_if` announcement is due (while it holds its addresses).
    extra_garp_at: Option<vrrp_core::Instant>,
    /// When a dropped advert was last published as an event, per kind of drop.
    last_drop_event: HashMap<std::mem::Discriminant<vrrp_core::DropReason>, vrrp_core::Instant>,
}

/// A `vrrp_sync_group` over the runner's members.
struct Group {
    name: String,
    /// Indexes into `Core::members`.
    members: Vec<usize>,
    sync: GroupSync,
    /// The state last published.
    published: State,
}

/// The members of one group, as vrrp-core's group logic sees them.
struct GroupView<'a> {
    members: &'a mut [Member],
    indexes: &'a [usize],
}

impl GroupMembers for GroupView<'_> {
    fn count(&self) -> usize {
        self.indexes.len()
    }
    fn member(&mut self, k: usize) -> &mut Instance {
        &mut self.members[self.indexes[k]].instance
    }
}

/// Gratuitous ARPs / NAs waiting for their turn on one device (`vrrp_garp_interval`,
/// `vrrp_gna_interval`, `garp_group`).
#[derive(Default)]
struct Paced {
    queue: std::collections::VecDeque<IpAddr>,
    garp_interval: Duration,
    gna_interval: Duration,
    /// When the next ARP / NA may go.
    next_arp: Option<vrrp_core::Instant>,
    next_na: Option<vrrp_core::Instant>,
}

impl Paced {
    /// When the head of the queue may go.
    fn due(&self) -> Option<vrrp_core::Instant> {
        let head = self.queue.front()?;
        Some(
            match head {
                IpAddr::V4(_) => self.next_arp,
                IpAddr::V6(_) => self.next_na,
            }
            .unwrap_or(vrrp_core::Instant::ZERO),
        )
    }
}

/// The state owned by the VRRP thread.
struct Core {
    members: Vec<Member>,
    groups: Vec<Group>,
    /// Per device: paced announcements.
    paced: HashMap<String, Paced>,
    /// Raw sockets by index (members refer to them by index); `None` once closed.
    sockets: Vec<Option<VrrpSocket>>,
    /// Per interface name: the gratuitous ARP / NA sender.
    announcers: HashMap<String, GratuitousSender>,
    rtnl: Rtnl,
    /// Link and address changes: the director's one watcher.
    watcher: NetWatcher,
    /// The links found at start, published when the thread starts.
    initial_links: Vec<LinkStatus>,
    out: tokio::sync::mpsc::Sender<RunnerOutput>,
    status: StatusHandle,
    /// Something other than counters changed since the snapshot.
    status_changed: bool,
    last_status: Option<vrrp_core::Instant>,
    /// Per (instance, kind of error): when it was last logged and how many since.
    reported: HashMap<(String, &'static str), (Option<vrrp_core::Instant>, u64)>,
    buf: Box<[u8; TRANSMIT_BUFFER_LEN]>,
    rx: RxBatch,
    /// Socket queues left out of the poll set until then: their last read gave only bad
    /// adverts.
    flood_pause: HashMap<(usize, Queue), vrrp_core::Instant>,
    /// keepalived's `no_accept` drop rules, when the configuration needs them.
    firewall: Option<crate::net::firewall::Firewall>,
}

impl Core {
    fn open(
        specs: Vec<InstanceSpec>,
        out: tokio::sync::mpsc::Sender<RunnerOutput>,
        status: StatusHandle,
    ) -> Result<Core, RunnerError> {
        let mut rtnl = Rtnl::open()?;
        // Subscribe before reading the current state so no change falls in between.
        let watcher = NetWatcher::open()?;
        let links = rtnl.links()?;
        let mut core = Core {
            members: Vec::new(),
            groups: Vec::new(),
            paced: HashMap::new(),
            sockets: Vec::new(),
            announcers: HashMap::new(),
            rtnl,
            watcher,
            initial_links: Vec::new(),
            out,
            status,
            status_changed: true,
            last_status: None,
            reported: HashMap::new(),
            buf: Box::new([0; TRANSMIT_BUFFER_LEN]),
            rx: RxBatch::new(),
            flood_pause: HashMap::new(),
            firewall: None,
        };
        for spec in specs {
            let member = core.prepare_member(spec, &links)?;
            core.members.push(member);
        }
        core.build_groups();
        core.initial_links = links;
        // Status is readable as soon as spawn returns, before the thread's first turn.
        core.publish_status();
        Ok(core)
    }

    /// Creates an instance, not started, with its I/O opened (sockets shared per interface
    /// and family).
    fn prepare_member(
        &mut self,
        spec: InstanceSpec,
        links: &[LinkStatus],
    ) -> Result<Member, RunnerError> {
        let instance = Instance::new(spec.config.clone())
            .map_err(|e| RunnerError::Thread(format!("instance {}: {e}", spec.name)))?;
        let installed = vec![false; spec.addresses.len()];
        let mut member = Member {
            spec,
            instance,
            io: None,
            holds_addresses: false,
            installed,
            vip_repairs: 0,
            retry_addresses_at: None,
            extra_garp_at: None,
            last_drop_event: HashMap::new(),
        };
        let missing = interface_index(&member.spec.interface).is_err();
        if missing && member.spec.dynamic_interfaces {
            tracing::warn!(
                instance = %member.spec.name,
                "interface {} does not exist: waiting in FAULT for it (dynamic_interfaces)",
                member.spec.interface
            );
            member.instance.handle_command(
                vrrp_core::Instant::ZERO,
                Command::EnterFault(FaultCause::InterfaceDown),
            );
            return Ok(member);
        }
        let io = self.open_io(&member.spec, links)?;
        let usable = links
            .iter()
            .any(|l| l.ifindex == io.parent_ifindex && l.usable);
        member.io = Some(io);
        if !usable && !member.spec.dont_track_primary {
            member.instance.handle_command(
                vrrp_core::Instant::ZERO,
                Command::EnterFault(FaultCause::InterfaceDown),
            );
        }
        if member.spec.track_src_ip && !self.source_address_present(&member) {
            tracing::warn!(
                instance = %member.spec.name,
                "source address {} is not on {}: waiting in FAULT (track_src_ip)",
                member.spec.config.primary_address,
                member.spec.interface
            );
            member.instance.handle_command(
                vrrp_core::Instant::ZERO,
                Command::EnterFault(FaultCause::SourceAddress),
            );
        }
        if let Some(why) = &member.spec.config_fault {
            tracing::warn!(instance = %member.spec.name, "{why}: waiting in FAULT");
            member.instance.handle_command(
                vrrp_core::Instant::ZERO,
                Command::EnterFault(FaultCause::Administrative),
            );
        }
        Ok(member)
    }

    /// Opens what a member sends and receives through: the VMAC (created afresh), the raw
    /// socket, the announcers.
    fn open_io(
        &mut self,
        spec: &InstanceSpec,
        links: &[LinkStatus],
    ) -> Result<MemberIo, RunnerError> {
        let net = |source| RunnerError::Net {
            instance: spec.name.clone(),
            source,
        };
        let parent = interface_index(&spec.interface).map_err(net)?;
        let family = spec.config.family();
        let mac_of = |index: u32| {
            links
                .iter()
                .find(|l| l.ifindex == index)
                .and_then(|l| l.mac)
                .unwrap_or([0; 6])
        };
        // With use_vmac everything goes through the macvlan; otherwise through the interface.
        let (interface, ifindex, mac, vmac) = match &spec.vmac {
            Some(name) => {
                let ipv6 = family == vrrp_core::wire::Family::Ipv6;
                let mac = crate::net::virtual_router_mac(spec.config.vrid, ipv6);
                let index = self
                    .rtnl
                    .create_vmac(parent, name, mac)
                    .map_err(RunnerError::Rtnl)?;
                if ipv6 {
                    // As keepalived: no link-local of its own (no EUI-64, no DAD) but the
                    // parent's, so adverts keep their source address.
                    set_sysctl("ipv6", name, "addr_gen_mode", "1");
                    set_sysctl("ipv6", name, "accept_dad", "0");
                    self.rtnl
                        .add_link_local(index, spec.config.primary_address)
                        .map_err(RunnerError::Rtnl)?;
                } else {
                    // As keepalived: the parent must not answer ARP for addresses that live on
                    // the VMAC, or clients would learn the parent's MAC.
                    set_sysctl("ipv4", &spec.interface, "arp_ignore", "1");
                    set_sysctl("ipv4", &spec.interface, "arp_filter", "1");
                    set_sysctl("ipv4", name, "arp_ignore", "1");
                }
                self.rtnl.set_link_up(index).map_err(RunnerError::Rtnl)?;
                // A fresh VMAC: nothing opened on an earlier one with this name may be used.
                self.close_interface(name);
                (name.clone(), index, mac, Some(index))
            }
            None => (spec.interface.clone(), parent, mac_of(parent), None),
        };
        let promoted = vmac.is_none()
            && spec.promote_secondaries
            && family == vrrp_core::wire::Family::Ipv4
            && read_sysctl("ipv4", &interface, "promote_secondaries").as_deref() == Some("0")
            && {
                set_sysctl("ipv4", &interface, "promote_secondaries", "1");
                true
            };
        // As keepalived: one socket per interface, family and multicast group, and one for
        // unicast.
        let membership = if spec.config.is_unicast() {
            Membership::Unicast
        } else {
            Membership::Multicast(spec.config.multicast_destination())
        };
        let open = self.sockets.iter().position(|s| {
            s.as_ref().is_some_and(|s| {
                s.interface() == interface && s.family() == family && s.membership() == membership
            })
        });
        let socket = match open {
            Some(i) => i,
            None => {
                let socket =
                    VrrpSocket::open_with(&interface, spec.config.primary_address, membership)
                        .map_err(net)?;
                socket
                    .set_nonblocking_with_buffer(RECEIVE_BUFFER)
                    .map_err(net)?;
                match self.sockets.iter().position(Option::is_none) {
                    Some(free) => {
                        self.sockets[free] = Some(socket);
                        free
                    }
                    None => {
                        self.sockets.push(Some(socket));
                        self.sockets.len() - 1
                    }
                }
            }
        };
        if !self.announcers.contains_key(&interface) {
            let sender = GratuitousSender::open(&interface, ifindex, mac).map_err(net)?;
            self.announcers.insert(interface.clone(), sender);
        }
        // As keepalived, an address on another device (`dev eth1`) is announced there: the
        // hosts that use it (real servers with a NAT gateway VIP) may only be on that link. A
        // device missing now is reported when its announcement fails.
        for device in spec.addresses.iter().filter_map(|a| a.device.as_deref()) {
            if self.announcers.contains_key(device) {
                continue;
            }
            let Ok(index) = interface_index(device) else {
                continue;
            };
            let sender = GratuitousSender::open(device, index, mac_of(index)).map_err(net)?;
            self.announcers.insert(device.to_string(), sender);
        }
        Ok(MemberIo {
            socket,
            parent_ifindex: parent,
            ifindex,
            vmac,
            interface,
            promoted,
        })
    }

    /// Closes every socket and announcer opened on the interface with this name (it is about
    /// to be re-created); the members that used them lose their I/O.
    fn close_interface(&mut self, interface: &str) {
        self.close_where(|name, _| name == interface);
    }

    /// Closes every socket and announcer opened on interface index `ifindex` (it was
    /// deleted). By index: a notification about an old interface must not close what was
    /// opened on a new one with the same name.
    fn close_ifindex(&mut self, ifindex: u32) {
        self.close_where(|_, index| index == ifindex);
    }

    fn close_where(&mut self, stale: impl Fn(&str, u32) -> bool) {
        self.announcers
            .retain(|name, sender| !stale(name, sender.ifindex()));
        for (i, slot) in self.sockets.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|s| stale(s.interface(), s.ifindex()))
            {
                *slot = None;
                for m in &mut self.members {
                    if m.io.as_ref().is_some_and(|io| io.socket == i) {
                        m.io = None;
                    }
                }
            }
        }
    }

    /// Starts member `i`, clearing addresses a crashed predecessor may have left.
    fn start_member(&mut self, i: usize) {
        // A backup holding the VIP would answer ARP for it. Owners (priority 255) own the
        // addresses for real and keep them.
        if !self.members[i].instance.is_address_owner() {
            self.members[i].holds_addresses = true;
            self.remove_addresses(i);
        }
        let now = self.now();
        self.members[i].instance.handle_command(now, Command::Start);
        self.drain(i);
    }

    /// Stops member `i` gracefully: priority-0 advert if master, addresses removed, its VMAC
    /// deleted.
    fn stop_member(&mut self, i: usize) {
        let now = self.now();
        self.members[i]
            .instance
            .handle_command(now, Command::Shutdown);
        self.drain(i);
        self.remove_addresses(i);
        if let Some(io) = self.members[i].io.as_ref().filter(|io| io.promoted) {
            let interface = io.interface.clone();
            // Another running instance that asked for it keeps it on (keepalived counts).
            let heir = (0..self.members.len()).find(|&j| {
                j != i
                    && self.members[j].spec.promote_secondaries
                    && self.members[j]
                        .io
                        .as_ref()
                        .is_some_and(|o| o.interface == interface)
            });
            match heir.and_then(|j| self.members[j].io.as_mut()) {
                Some(o) => o.promoted = true,
                None => set_sysctl("ipv4", &interface, "promote_secondaries", "0"),
            }
        }
        let vmac = self.members[i].io.as_ref().and_then(|io| io.vmac);
        if let Some(vmac) = vmac {
            let name = self.members[i].io.as_ref().map(|io| io.interface.clone());
            if let Some(name) = name {
                self.close_interface(&name);
            }
            if let Err(e) = self.rtnl.delete_link(vmac) {
                self.report(i, "vmac", &e.to_string());
            }
        }
        self.members[i].io = None;
    }

    /// Applies a new set of instances, changing only what differs. Everything new is opened
    /// before anything running is touched, so a failure changes nothing; the exception is an
    /// instance restarted with a VMAC, whose VMAC must go before the new one is made.
    fn reconfigure(&mut self, specs: Vec<InstanceSpec>) -> Result<ReloadSummary, String> {
        let links = self.rtnl.links().map_err(|e| e.to_string())?;
        let mut summary = ReloadSummary::default();
        let mut prepared = Vec::new();
        // Restarted instances with a VMAC: prepared after the old one has stopped.
        let mut later = Vec::new();
        for spec in &specs {
            match self.members.iter().find(|m| m.spec.name == spec.name) {
                Some(m) if m.spec == *spec => summary.unchanged.push(spec.name.clone()),
                Some(m) if only_priority_differs(&m.spec, spec) => {
                    summary.reprioritised.push(spec.name.clone())
                }
                Some(m) => {
                    summary.restarted.push(spec.name.clone());
                    if m.spec.vmac.is_some() || spec.vmac.is_some() {
                        later.push(spec.clone());
                    } else {
                        prepared.push(
                            self.prepare_member(spec.clone(), &links)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                }
                None => {
                    summary.added.push(spec.name.clone());
                    prepared.push(
                        self.prepare_member(spec.clone(), &links)
                            .map_err(|e| e.to_string())?,
                    );
                }
            }
        }
        for m in &self.members {
            if !specs.iter().any(|s| s.name == m.spec.name) {
                summary.removed.push(m.spec.name.clone());
            }
        }
        let now = self.now();
        for name in &summary.reprioritised {
            if let (Some(i), Some(spec)) = (
                self.members.iter().position(|m| &m.spec.name == name),
                specs.iter().find(|s| &s.name == name),
            ) {
                self.members[i].spec = spec.clone();
                self.members[i]
                    .instance
                    .handle_command(now, Command::SetPriority(spec.config.priority));
                self.drain(i);
            }
        }
        let going: Vec<usize> = (0..self.members.len())
            .filter(|&i| {
                let name = &self.members[i].spec.name;
                summary.removed.contains(name) || summary.restarted.contains(name)
            })
            .collect();
        for &i in &going {
            self.stop_member(i);
        }
        let mut index = 0;
        self.members.retain(|_| {
            let keep = !going.contains(&index);
            index += 1;
            keep
        });
        // Sockets of a VMAC stopped above were closed: members prepared before may have
        // picked them up only if they shared the interface, which VMACs never do.
        for spec in later {
            let name = spec.name.clone();
            match self.prepare_member(spec, &links) {
                Ok(member) => prepared.push(member),
                Err(e) => {
                    tracing::error!(instance = %name, "not restarted: {e}");
                    summary.failed.push(format!("{name}: {e}"));
                }
            }
        }
        let first_new = self.members.len();
        self.members.extend(prepared);
        // Membership may have changed with the members: the groups are made again.
        self.build_groups();
        for i in first_new..self.members.len() {
            self.start_member(i);
        }
        self.status_changed = true;
        self.publish_status();
        Ok(summary)
    }

    fn now(&self) -> vrrp_core::Instant {
        self.status.now()
    }

    /// The earliest deadline: an instance's timer or an address retry.
    fn next_deadline(&self) -> Option<vrrp_core::Instant> {
        self.members
            .iter()
            .flat_map(|m| {
                [
                    m.instance.poll_timeout(),
                    m.retry_addresses_at,
                    m.extra_garp_at,
                ]
            })
            .flatten()
            .chain(self.paced.values().filter_map(Paced::due))
            .min()
    }

    fn run(&mut self, commands: Receiver<RunnerCommand>, wake: OwnedFd) -> Result<(), RunnerError> {
        for link in std::mem::take(&mut self.initial_links) {
            self.output(RunnerOutput::Link(link));
        }
        for i in 0..self.members.len() {
            self.start_member(i);
        }
        self.refresh_filters();
        self.publish_status();
        loop {
            crate::fault::point("vrrp");
            self.status
                .heartbeat
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let now = self.now();
            self.flood_pause.retain(|_, until| *until > now);
            let timeout = self
                .next_deadline()
                .into_iter()
                .chain(self.flood_pause.values().copied())
                .min()
                .map(|d| d.saturating_duration_since(now))
                .map_or(HEARTBEAT_INTERVAL, |t| t.min(HEARTBEAT_INTERVAL));
            let ready = self.wait(&wake, Some(timeout));
            // Commands first: a shutdown must not wait behind packets.
            let mut stop = None;
            if ready.wake {
                let mut sink = [0u8; 64];
                while matches!(
                    nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&wake), &mut sink),
                    Ok(n) if n == sink.len()
                ) {}
            }
            while let Ok(command) = commands.try_recv() {
                match command {
                    RunnerCommand::Shutdown => stop = Some(true),
                    RunnerCommand::ShutdownKeepingAddresses => stop = Some(false),
                    RunnerCommand::Reconfigure { specs, reply } => {
                        let _ = reply.send(self.reconfigure(specs));
                    }
                    RunnerCommand::Instance { name, command } => {
                        let now = self.now();
                        if let Some(i) = self.members.iter().position(|m| m.spec.name == name) {
                            self.members[i].instance.handle_command(now, command);
                            self.drain(i);
                        }
                    }
                }
            }
            if let Some(release) = stop {
                if release {
                    self.shutdown();
                } else {
                    self.shutdown_keeping_addresses();
                }
                return Ok(());
            }
            if ready.watcher {
                self.net_changes();
            }
            if ready.wake || ready.watcher {
                // Instances and sockets change only on a command or a change of the network.
                self.refresh_filters();
            }
            for (s, queue) in ready.sockets {
                let (read, accepted) = self.receive(s, queue, MAX_READS_PER_WAKE);
                // Only bad adverts: likely a flood. Leave the socket alone for a moment, so
                // that a flood is read in batches rather than with a wake-up per datagram
                // (which costs a context switch each, and the CPU that the other threads and
                // the kernel's own delivery need). A good advert waits FLOOD_PAUSE at most;
                // a master-down timeout still reads the whole queue first.
                if read > 0 && !accepted {
                    let now = self.now();
                    self.flood_pause.insert((s, queue), now + FLOOD_PAUSE);
                } else {
                    self.flood_pause.remove(&(s, queue));
                }
            }
            let now = self.now();
            for i in 0..self.members.len() {
                if self.members[i].extra_garp_at.is_some_and(|t| t <= now) {
                    self.announce_extra(i, now);
                }
                if self.members[i].retry_addresses_at.is_some_and(|t| t <= now) {
                    self.members[i].retry_addresses_at = None;
                    self.members[i]
                        .instance
                        .handle_command(now, Command::LeaveFault(FaultCause::VirtualAddresses));
                    self.drain(i);
                }
                if self.members[i]
                    .instance
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
                {
                    // A backup's timer is master-down. Adverts may be queued on its socket,
                    // received before the deadline but not read yet (a flood fills the
                    // queue faster than a wake-up reads it): read everything that was queued
                    // in the prime queue (the only one a valid advert can be in) before
                    // deciding, so that our own read latency never elects us.
                    if self.members[i].instance.state() == State::Backup {
                        if let Some(s) = self.members[i].io.as_ref().map(|io| io.socket) {
                            self.receive(s, Queue::Prime, QUEUED_AT_MOST);
                        }
                        if self.members[i]
                            .instance
                            .poll_timeout()
                            .is_none_or(|t| t > now)
                        {
                            continue;
                        }
                    }
                    self.members[i].instance.handle_timeout(now);
                    self.drain(i);
                }
            }
            if self
                .paced
                .values()
                .any(|p| p.due().is_some_and(|t| t <= now))
            {
                self.pump_announcements();
            }
            let due = self
                .last_status
                .is_none_or(|t| now.saturating_duration_since(t) >= STATUS_INTERVAL);
            if self.status_changed || due {
                self.publish_status();
            }
        }
    }

    fn wait(&self, wake: &OwnedFd, timeout: Option<Duration>) -> Ready {
        let open: Vec<(usize, Queue, &VrrpSocket)> = self
            .sockets
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .flat_map(|(i, s)| s.queues().iter().map(move |&q| (i, q, s)))
            .filter(|(i, q, _)| !self.flood_pause.contains_key(&(*i, *q)))
            .collect();
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .map(|(_, q, s)| PollFd::new(s.queue_fd(*q), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(
            self.watcher.socket().as_fd(),
            PollFlags::POLLIN,
        ));
        let spec = timeout.map(nix::sys::time::TimeSpec::from_duration);
        let mut ready = Ready::default();
        if nix::poll::ppoll(&mut fds, spec, None).is_ok() {
            let n = open.len();
            for (i, fd) in fds.iter().enumerate() {
                if fd.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                    if i == n {
                        ready.wake = true;
                    } else if i == n + 1 {
                        ready.watcher = true;
                    } else {
                        ready.sockets.push((open[i].0, open[i].1));
                    }
                }
            }
        }
        ready
    }

    /// Sends an output to the router without waiting; a full channel loses it (counted).
    fn output(&self, output: RunnerOutput) {
        if self.out.try_send(output).is_err() {
            self.status
                .lost
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    fn net_changes(&mut self) {
        let changes = match self.watcher.next_changes() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{e}; reading links and addresses again");
                vec![NetChange::Overrun]
            }
        };
        for change in changes {
            match change {
                NetChange::Link(link) => self.link_changed(link),
                NetChange::LinkDeleted { ifindex, name } => self.link_deleted(ifindex, &name),
                NetChange::AddressAdded {
                    ifindex, address, ..
                } => self.address_seen(ifindex, address, true),
                NetChange::AddressRemoved {
                    ifindex, address, ..
                } => self.address_seen(ifindex, address, false),
                NetChange::Overrun => self.resync(),
            }
        }
    }

    /// A link appeared or changed. Members follow their interface by name: one re-created
    /// (a new index) gets its I/O opened again; its state decides FAULT.
    fn link_changed(&mut self, link: LinkStatus) {
        let now = self.now();
        self.output(RunnerOutput::Link(link.clone()));
        for i in 0..self.members.len() {
            if self.members[i].spec.interface != link.name {
                continue;
            }
            let stale = self.members[i]
                .io
                .as_ref()
                .is_none_or(|io| io.parent_ifindex != link.ifindex);
            if stale {
                self.rebind(i);
            }
            // dont_track_primary: only a missing interface (no sockets) is a fault.
            let usable = link.usable || self.members[i].spec.dont_track_primary;
            let command = if usable && self.members[i].io.is_some() {
                Command::LeaveFault(FaultCause::InterfaceDown)
            } else {
                Command::EnterFault(FaultCause::InterfaceDown)
            };
            self.members[i].instance.handle_command(now, command);
            self.drain(i);
        }
    }

    /// A link went away: what was opened on it is closed; its members wait in FAULT. A VMAC
    /// deleted under a member whose interface is still there is made again.
    fn link_deleted(&mut self, ifindex: u32, name: &str) {
        let now = self.now();
        self.output(RunnerOutput::Link(LinkStatus {
            ifindex,
            name: name.to_string(),
            usable: false,
            mac: None,
        }));
        // Members bound to this very index lose it; ones on a newer interface with this name
        // are not concerned.
        let bound: Vec<(bool, bool)> = self
            .members
            .iter()
            .map(|m| match &m.io {
                Some(io) => (io.parent_ifindex == ifindex, io.ifindex == ifindex),
                None => (m.spec.interface == name, false),
            })
            .collect();
        self.close_ifindex(ifindex);
        for (i, (parent_gone, vmac_gone)) in bound.into_iter().enumerate() {
            let vmac_gone = vmac_gone && self.members[i].spec.vmac.is_some();
            if !parent_gone && !vmac_gone {
                continue;
            }
            self.members[i].io = None;
            self.members[i]
                .instance
                .handle_command(now, Command::EnterFault(FaultCause::InterfaceDown));
            self.drain(i);
            if vmac_gone && !parent_gone {
                tracing::warn!(
                    instance = %self.members[i].spec.name,
                    "VMAC {name} was deleted behind the director's back: making it again"
                );
                self.rebind(i);
                if self.members[i].io.is_some() {
                    self.members[i]
                        .instance
                        .handle_command(now, Command::LeaveFault(FaultCause::InterfaceDown));
                    self.drain(i);
                }
            }
        }
    }

    /// Opens member `i`'s I/O again (its interface was re-created, or it had none).
    fn rebind(&mut self, i: usize) {
        let links = match self.rtnl.links() {
            Ok(l) => l,
            Err(e) => return self.report(i, "links", &e.to_string()),
        };
        if let Some(name) = self.members[i].io.take().map(|io| io.interface) {
            self.close_interface(&name);
        }
        if self.members[i].spec.config.primary_address.is_unspecified()
            && !self.adopt_primary_address(i)
        {
            return;
        }
        let spec = self.members[i].spec.clone();
        match self.open_io(&spec, &links) {
            Ok(io) => {
                tracing::info!(
                    instance = %spec.name,
                    "interface {} (index {}): sockets opened again",
                    spec.interface,
                    io.parent_ifindex
                );
                self.members[i].io = Some(io);
            }
            Err(e) => self.report(i, "rebind", &e.to_string()),
        }
    }

    /// dynamic_interfaces: the interface of member `i` appeared; its instance is made again
    /// with the interface's address as its primary address (keeping its faults and tracking
    /// adjustment). `false` while the interface has no usable address yet.
    fn adopt_primary_address(&mut self, i: usize) -> bool {
        let spec = &self.members[i].spec;
        let family = spec.config.family();
        let found = interface_index(&spec.interface)
            .ok()
            .and_then(|index| self.rtnl.addresses(index).ok())
            .and_then(|list| {
                list.into_iter()
                    .map(|(a, _)| a)
                    .find(|a| match (family, a) {
                        (vrrp_core::wire::Family::Ipv4, IpAddr::V4(_)) => true,
                        (vrrp_core::wire::Family::Ipv6, IpAddr::V6(v6)) => {
                            v6.segments()[0] & 0xffc0 == 0xfe80
                        }
                        _ => false,
                    })
            });
        let Some(primary) = found else {
            return false;
        };
        let mut config = spec.config.clone();
        config.primary_address = primary;
        let Ok(mut instance) = Instance::new(config.clone()) else {
            return false;
        };
        let now = self.now();
        let old = &self.members[i].instance;
        let adjustment = i32::from(old.priority()) - i32::from(old.config().priority);
        let faults: Vec<FaultCause> = old.fault_causes().collect();
        let started = old.state() != State::Initialize;
        instance.handle_command(
            now,
            Command::HoldMaster(self.members[i].spec.sync_group.is_some()),
        );
        instance.handle_command(now, Command::SetPriorityAdjustment(adjustment));
        for cause in faults {
            instance.handle_command(now, Command::EnterFault(cause));
        }
        if started {
            instance.handle_command(now, Command::Start);
        }
        // The old instance's events are gone with it; the new one's FAULT is its first.
        tracing::info!(
            instance = %self.members[i].spec.name,
            "interface {} appeared: adverts from {primary}",
            self.members[i].spec.interface
        );
        self.members[i].spec.config = config;
        self.members[i].instance = instance;
        true
    }

    /// The kernel added or removed an address. A VIP removed from a master is put back; a
    /// tracked source address (`track_src_ip`) takes its instance in and out of FAULT.
    fn address_seen(&mut self, ifindex: u32, address: IpAddr, present: bool) {
        let now = self.now();
        for i in 0..self.members.len() {
            let m = &self.members[i];
            let on_its_interface =
                m.io.as_ref()
                    .is_some_and(|io| io.ifindex == ifindex || io.parent_ifindex == ifindex);
            if m.spec.track_src_ip && m.spec.config.primary_address == address && on_its_interface {
                let command = if present {
                    Command::LeaveFault(FaultCause::SourceAddress)
                } else {
                    tracing::warn!(
                        instance = %m.spec.name,
                        "source address {address} removed: FAULT until it is back (track_src_ip)"
                    );
                    Command::EnterFault(FaultCause::SourceAddress)
                };
                self.members[i].instance.handle_command(now, command);
                self.drain(i);
            }
        }
        for i in 0..self.members.len() {
            for j in 0..self.members[i].spec.addresses.len() {
                let a = self.members[i].spec.addresses[j].clone();
                if a.address != address || self.interface_address(i, &a).ifindex != ifindex {
                    continue;
                }
                self.members[i].installed[j] = present;
                if !present && self.members[i].holds_addresses && !a.no_track {
                    self.repair_address(i, j);
                }
            }
        }
        self.status_changed = true;
    }

    /// Whether a member's configured source address is on its interface (or its VMAC's
    /// parent).
    fn source_address_present(&mut self, member: &Member) -> bool {
        let Some(io) = &member.io else { return false };
        let address = member.spec.config.primary_address;
        [io.ifindex, io.parent_ifindex].into_iter().any(|index| {
            self.rtnl
                .addresses(index)
                .is_ok_and(|list| list.iter().any(|(a, _)| *a == address))
        })
    }

    /// Puts back VIP `j` of master `i` that something else removed.
    fn repair_address(&mut self, i: usize, j: usize) {
        let a = self.members[i].spec.addresses[j].clone();
        let ia = self.interface_address(i, &a);
        match self.rtnl.add_address(&ia) {
            Ok(_) => {
                self.members[i].installed[j] = true;
                self.members[i].vip_repairs += 1;
                tracing::warn!(
                    message_id = crate::message_id::VIP_REPAIRED,
                    instance = %self.members[i].spec.name,
                    "virtual address {}/{} was removed behind the director's back: added again",
                    a.address,
                    a.prefix_len
                );
                // Announce it again: neighbours may have flushed their entries meanwhile.
                self.announce(i, 1);
            }
            Err(e) => {
                self.report(i, "address", &e.to_string());
                self.address_failure(i);
            }
        }
    }

    /// Notifications were lost: read the links and the masters' addresses again.
    fn resync(&mut self) {
        tracing::warn!("rtnetlink notifications were lost: reading links and addresses again");
        let links = match self.rtnl.links() {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("{e}");
                return;
            }
        };
        for i in 0..self.members.len() {
            let name = self.members[i].spec.interface.clone();
            if !links.iter().any(|l| l.name == name) {
                let ifindex = self.members[i]
                    .io
                    .as_ref()
                    .map(|io| io.parent_ifindex)
                    .unwrap_or(0);
                self.link_deleted(ifindex, &name);
            }
        }
        for link in links {
            self.link_changed(link);
        }
        for i in 0..self.members.len() {
            if !self.members[i].holds_addresses {
                continue;
            }
            for j in 0..self.members[i].spec.addresses.len() {
                let a = self.members[i].spec.addresses[j].clone();
                let ia = self.interface_address(i, &a);
                let present = self
                    .rtnl
                    .addresses(ia.ifindex)
                    .is_ok_and(|list| list.iter().any(|(addr, _)| *addr == a.address));
                self.members[i].installed[j] = present;
                if !present && !a.no_track {
                    self.repair_address(i, j);
                }
            }
        }
    }

    /// Reads up to `budget` datagrams from `queue` of socket `s` and hands each to the
    /// members it is for. Returns how many were read and whether any was accepted (not
    /// dropped).
    fn receive(&mut self, s: usize, queue: Queue, budget: usize) -> (usize, bool) {
        let mut read = 0;
        let mut accepted = false;
        while read < budget {
            let count = match self.sockets[s]
                .as_ref()
                .map(|sock| sock.recv_batch(queue, &mut self.rx))
            {
                Some(Ok(count)) => count,
                // Drained (WouldBlock) or the socket is gone.
                _ => break,
            };
            read += count;
            let now = self.now();
            for k in 0..count {
                // Malformed IP is skipped; everything else goes to the instance of its VRID,
                // which counts what it drops.
                let Some((_, payload)) = self.rx.get(k) else {
                    continue;
                };
                let vrid = payload.get(1).copied();
                for i in 0..self.members.len() {
                    let m = &mut self.members[i];
                    let ours = m.io.as_ref().is_some_and(|io| io.socket == s);
                    if ours && Some(m.spec.config.vrid) == vrid {
                        let dropped = m.instance.statistics().adverts_dropped();
                        if let Some((got, payload)) = self.rx.get(k) {
                            m.instance.handle_packet(now, &got.info, payload);
                        }
                        accepted |= m.instance.statistics().adverts_dropped() == dropped;
                        self.drain(i);
                    }
                }
            }
        }
        (read, accepted)
    }

    /// Sorts each socket's datagrams by what the instances on it accept
    /// ([`crate::net::advert_filter`]): TTL 255 on a multicast socket, their versions and
    /// VRIDs, a checksum that verifies. Called when instances or sockets may have changed.
    fn refresh_filters(&mut self) {
        for s in 0..self.sockets.len() {
            let Some(socket) = &self.sockets[s] else {
                continue;
            };
            let mut instances: Vec<(u8, u8)> = self
                .members
                .iter()
                .filter(|m| m.io.as_ref().is_some_and(|io| io.socket == s))
                .map(|m| (m.spec.config.version.number(), m.spec.config.vrid))
                .collect();
            instances.sort_unstable();
            instances.dedup();
            let filter = AdvertFilter {
                ttl_255: socket.membership() != Membership::Unicast,
                instances,
            };
            let result = self.sockets[s]
                .as_mut()
                .map(|socket| socket.set_filter(&filter));
            if let Some(Err(e)) = result {
                // Unfiltered, the socket still receives everything in one queue.
                tracing::warn!("{e}: a flood of bad adverts can crowd out good ones");
            }
        }
    }

    /// After an input to member `i`: its sync group (if any) moves its members together, then
    /// every member concerned is drained.
    fn drain(&mut self, i: usize) {
        let Some(g) = self.groups.iter().position(|g| g.members.contains(&i)) else {
            return self.drain_one(i);
        };
        let indexes = self.groups[g].members.clone();
        // Draining can change states again (a master whose addresses fail goes to FAULT):
        // synchronise until it does not.
        for _ in 0..4 {
            let now = self.now();
            let group = &mut self.groups[g];
            group.sync.synchronise(
                now,
                &mut GroupView {
                    members: &mut self.members,
                    indexes: &indexes,
                },
            );
            let states: Vec<State> = indexes
                .iter()
                .map(|&k| self.members[k].instance.state())
                .collect();
            for &k in &indexes {
                self.drain_one(k);
            }
            if indexes
                .iter()
                .zip(&states)
                .all(|(&k, s)| self.members[k].instance.state() == *s)
            {
                break;
            }
        }
        let group = &mut self.groups[g];
        let state = group.sync.state();
        if state != group.published {
            group.published = state;
            let name = group.name.clone();
            tracing::info!(
                sync_group = %name,
                "VRRP_Group({name}) Syncing instances to {} state",
                crate::status::state_name(state)
            );
            self.status_changed = true;
            self.output(RunnerOutput::Group { name, state });
        }
    }

    /// Makes the sync groups from the members' specs; each member is held so that its group
    /// decides when it becomes master.
    fn build_groups(&mut self) {
        let now = self.now();
        let mut groups: Vec<Group> = Vec::new();
        for (i, m) in self.members.iter().enumerate() {
            let Some(name) = &m.spec.sync_group else {
                continue;
            };
            match groups.iter_mut().find(|g| &g.name == name) {
                Some(g) => g.members.push(i),
                None => groups.push(Group {
                    name: name.clone(),
                    members: vec![i],
                    sync: GroupSync::default(),
                    published: State::Initialize,
                }),
            }
        }
        for g in &mut groups {
            g.sync = GroupSync::new(
                now,
                &mut GroupView {
                    members: &mut self.members,
                    indexes: &g.members,
                },
            );
            // A group made again keeps the state it had published.
            if let Some(old) = self.groups.iter().find(|o| o.name == g.name) {
                g.published = old.published;
            }
        }
        self.groups = groups;
    }

    /// Performs what member `i` asked for: state-change side effects first (addresses), then
    /// adverts and announcements, then events for the caller. A master whose addresses cannot
    /// be installed gives up (FAULT) and tries again after [`ADDRESS_RETRY`].
    fn drain_one(&mut self, i: usize) {
        loop {
            let mut events = Vec::new();
            while let Some(e) = self.members[i].instance.poll_event() {
                events.push(e);
            }
            let mut failed = false;
            for e in &events {
                if let Event::StateChanged(t) = e {
                    self.status_changed = true;
                    if t.to == State::Master {
                        failed |= !self.install_addresses(i);
                    } else if t.from == State::Master {
                        self.remove_addresses(i);
                    }
                }
            }
            self.transmit(i);
            let now = self.now();
            for event in events {
                if let Event::PacketDropped { reason, .. } = &event {
                    let kind = std::mem::discriminant(reason);
                    let m = &mut self.members[i];
                    let recent = m
                        .last_drop_event
                        .get(&kind)
                        .is_some_and(|t| now.saturating_duration_since(*t) < DROP_EVENT_INTERVAL);
                    if recent {
                        // Counted in the statistics; one event per kind and interval is enough.
                        continue;
                    }
                    m.last_drop_event.insert(kind, now);
                } else {
                    self.status_changed = true;
                }
                self.output(RunnerOutput::Event(RunnerEvent {
                    instance: self.members[i].spec.name.clone(),
                    priority: self.members[i].instance.priority(),
                    event,
                }));
            }
            if !failed {
                return;
            }
            self.address_failure(i);
        }
    }

    /// The addresses of master `i` could not be installed: it must not claim them.
    fn address_failure(&mut self, i: usize) {
        let now = self.now();
        tracing::error!(
            instance = %self.members[i].spec.name,
            "virtual addresses could not be installed: leaving MASTER (FAULT), trying again in {:?}",
            ADDRESS_RETRY
        );
        self.members[i].retry_addresses_at = Some(now + ADDRESS_RETRY);
        self.members[i]
            .instance
            .handle_command(now, Command::EnterFault(FaultCause::VirtualAddresses));
    }

    fn transmit(&mut self, i: usize) {
        let socket = self.members[i].io.as_ref().map(|io| io.socket);
        let ttl = self.members[i].spec.ttl;
        while let Some(t) = self.members[i].instance.poll_transmit(&mut self.buf) {
            match t {
                Transmit::Advertisement {
                    destination, len, ..
                } => {
                    let sent = match socket.and_then(|s| self.sockets[s].as_mut()) {
                        Some(sock) => sock
                            .send_with_ttl(destination, &self.buf[..len], ttl)
                            .map_err(|e| e.to_string()),
                        None => Err("no socket: its interface is gone".to_string()),
                    };
                    if let Err(e) = sent {
                        self.report(i, "send", &e);
                    }
                }
                Transmit::Gratuitous { repeat } => self.announce(i, repeat),
            }
        }
    }

    /// Gratuitous ARPs / unsolicited NAs for member `i`'s addresses, each on its own device.
    fn announce(&mut self, i: usize, repeat: u8) {
        let m = &self.members[i];
        let Some(io) = &m.io else {
            return;
        };
        let mut by_device: Vec<(String, Vec<IpAddr>)> = Vec::new();
        for a in &m.spec.addresses {
            let device = a.device.as_deref().unwrap_or(&io.interface);
            match by_device.iter_mut().find(|(d, _)| d == device) {
                Some((_, addrs)) => addrs.push(a.address),
                None => by_device.push((device.to_string(), vec![a.address])),
            }
        }
        let (garp_interval, gna_interval) = (m.spec.garp_interval, m.spec.gna_interval);
        let mut failures = Vec::new();
        for (device, addrs) in by_device {
            if !garp_interval.is_zero() || !gna_interval.is_zero() {
                // Paced as keepalived paces (vrrp_arp.c): a message goes now if the device's
                // interval has passed and nothing waits; otherwise its address waits, once
                // (an address already waiting is not queued again, so repeats collapse).
                let paced = self.paced.entry(device.clone()).or_default();
                paced.garp_interval = garp_interval;
                paced.gna_interval = gna_interval;
                let now = self.status.now();
                for _ in 0..repeat {
                    for &address in &addrs {
                        if !paced.queue.contains(&address) {
                            paced.queue.push_back(address);
                        }
                        // The head goes now if its turn has come.
                        pump(&self.announcers, &device, paced, now);
                    }
                }
                continue;
            }
            let sent = match self.announcers.get(&device) {
                Some(sender) => sender.announce(&addrs, repeat).map_err(|e| e.to_string()),
                None => Err(format!("no announcer on {device}")),
            };
            if let Err(e) = sent {
                failures.push(format!("gratuitous ARP/NA not sent: {e}"));
            }
        }
        for f in failures {
            self.report(i, "announce", &f);
        }
    }

    /// Sends the paced announcements whose turn has come, one message per device and
    /// interval.
    fn pump_announcements(&mut self) {
        let now = self.now();
        for (device, paced) in &mut self.paced {
            pump(&self.announcers, device, paced, now);
        }
    }

    fn interface_address(&self, i: usize, a: &VirtualAddress) -> InterfaceAddress {
        let m = &self.members[i];
        let ifindex = a
            .device
            .as_deref()
            .and_then(|d| interface_index(d).ok())
            .or(m.io.as_ref().map(|io| io.ifindex))
            .unwrap_or(0);
        InterfaceAddress {
            ifindex,
            address: a.address,
            prefix_len: a.prefix_len,
            label: a.label.clone(),
            scope: a.scope,
            options: a.options.clone(),
        }
    }

    /// keepalived's `vrrp_send_vmac_update` with `all`: one gratuitous ARP / NA for the first
    /// address on each device other than member `i`'s interface, then again an interval on.
    fn announce_extra(&mut self, i: usize, now: vrrp_core::Instant) {
        let m = &self.members[i];
        let (Some(interval), Some(io)) = (m.spec.garp_extra_if, &m.io) else {
            self.members[i].extra_garp_at = None;
            return;
        };
        let mut devices: Vec<(&str, IpAddr)> = Vec::new();
        for a in &m.spec.addresses {
            let device = a.device.as_deref().unwrap_or(&io.interface);
            if device != io.interface && !devices.iter().any(|(d, _)| *d == device) {
                devices.push((device, a.address));
            }
        }
        let mut failures = Vec::new();
        for (device, address) in devices {
            let sent = match self.announcers.get(device) {
                Some(sender) => sender.announce(&[address], 1).map_err(|e| e.to_string()),
                None => Err(format!("no announcer on {device}")),
            };
            if let Err(e) = sent {
                failures.push(format!("garp_extra_if: gratuitous ARP/NA not sent: {e}"));
            }
        }
        self.members[i].extra_garp_at = Some(now + interval);
        for f in failures {
            self.report(i, "announce", &f);
        }
    }

    /// Adds member `i`'s addresses and routes; `false` when an address could not be added.
    fn install_addresses(&mut self, i: usize) -> bool {
        self.members[i].holds_addresses = true;
        // keepalived: the first periodic announcement comes garp_master_delay + the interval
        // after becoming master.
        self.members[i].extra_garp_at = self.members[i]
            .spec
            .garp_extra_if
            .map(|every| self.now() + self.members[i].spec.config.garp.master_delay + every);
        let mut ok = true;
        // no_accept: the drop rules go in before the addresses (keepalived's order).
        if let Err(e) = self.firewall_update(i, true) {
            ok = false;
            self.report(i, "firewall", &e);
        }
        for j in 0..self.members[i].spec.addresses.len() {
            let a = self.members[i].spec.addresses[j].clone();
            let ia = self.interface_address(i, &a);
            match self.rtnl.add_address(&ia) {
                Ok(_) => self.members[i].installed[j] = true,
                Err(e) => {
                    ok = false;
                    self.report(i, "address", &e.to_string());
                }
            }
        }
        for r in self.members[i].spec.routes.clone() {
            if let Err(e) = self.rtnl.add_route(&r) {
                self.report(i, "route", &e.to_string());
            }
        }
        for r in self.members[i].spec.rules.clone() {
            if let Err(e) = self.rtnl.add_rule(&r) {
                self.report(i, "rule", &e.to_string());
            }
        }
        ok
    }

    fn remove_addresses(&mut self, i: usize) {
        self.members[i].extra_garp_at = None;
        if !self.members[i].holds_addresses {
            return;
        }
        self.members[i].holds_addresses = false;
        for r in self.members[i].spec.rules.clone() {
            if let Err(e) = self.rtnl.delete_rule(&r) {
                self.report(i, "rule", &e.to_string());
            }
        }
        for r in self.members[i].spec.routes.clone() {
            // Absent routes (never added, or taken with their interface) are fine.
            if let Err(e) = self.rtnl.delete_route(&r) {
                self.report(i, "route", &e.to_string());
            }
        }
        for j in 0..self.members[i].spec.addresses.len() {
            let a = self.members[i].spec.addresses[j].clone();
            let ia = self.interface_address(i, &a);
            match self.rtnl.delete_address(&ia) {
                Ok(_) => self.members[i].installed[j] = false,
                Err(e) => self.report(i, "address", &e.to_string()),
            }
        }
        if let Err(e) = self.firewall_update(i, false) {
            self.report(i, "firewall", &e);
        }
    }

    /// Puts member `i`'s addresses into the firewall's drop sets (`add`) or takes them out,
    /// when it is not in accept mode.
    fn firewall_update(&mut self, i: usize, add: bool) -> Result<(), String> {
        let m = &self.members[i];
        let Some(fw) = self.firewall.as_mut() else {
            return Ok(());
        };
        if m.spec.config.accept {
            return Ok(());
        }
        let interface =
            m.io.as_ref()
                .map_or(m.spec.interface.as_str(), |io| io.interface.as_str());
        let addresses: Vec<_> = m
            .spec
            .addresses
            .iter()
            .map(|a| crate::net::firewall::FirewallAddress {
                address: a.address,
                interface: a.device.clone().unwrap_or_else(|| interface.to_string()),
            })
            .collect();
        if add {
            fw.add(&addresses)
        } else {
            fw.remove(&addresses)
        }
    }

    fn shutdown(&mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i);
        }
        self.status_changed = true;
        self.publish_status();
    }

    /// Ends without a priority-0 advert and leaves addresses, routes and VMACs as they are:
    /// the instances are dropped with their sockets.
    fn shutdown_keeping_addresses(&mut self) {
        let kept: usize = self
            .members
            .iter()
            .map(|m| m.installed.iter().filter(|i| **i).count())
            .sum();
        tracing::info!("VRRP stopped without releasing ({kept} virtual address(es) left in place)");
        self.members.clear();
        self.status_changed = true;
        self.publish_status();
    }

    fn publish_status(&mut self) {
        let socket_drops: Vec<u64> = self
            .sockets
            .iter()
            .map(|s| s.as_ref().map_or(0, VrrpSocket::kernel_drops))
            .collect();
        let snapshot: Vec<InstanceStatus> = self
            .members
            .iter()
            .map(|m| InstanceStatus {
                name: m.spec.name.clone(),
                interface: m.spec.interface.clone(),
                vrid: m.spec.config.vrid,
                state: m.instance.state(),
                priority: m.instance.priority(),
                configured_priority: m.spec.config.priority,
                master_address: m.instance.master_address(),
                addresses: m.spec.addresses.iter().map(|a| a.address).collect(),
                installed_addresses: m
                    .spec
                    .addresses
                    .iter()
                    .zip(&m.installed)
                    .filter(|(_, installed)| **installed)
                    .map(|(a, _)| a.address)
                    .collect(),
                address_details: m.spec.addresses.clone(),
                advertised_addresses: m.spec.config.virtual_addresses.len(),
                version: m.spec.config.version.number(),
                advert_interval: m.spec.config.advert_interval,
                garp_master_delay: m.spec.config.garp.master_delay,
                vip_repairs: m.vip_repairs,
                socket_drops: m
                    .io
                    .as_ref()
                    .and_then(|io| socket_drops.get(io.socket).copied())
                    .unwrap_or(0),
                statistics: m.instance.statistics().clone(),
                last_transition: m.instance.last_transition(),
                sync_group: m.spec.sync_group.as_ref().map(|name| {
                    let state = self
                        .groups
                        .iter()
                        .find(|g| &g.name == name)
                        .map_or(State::Initialize, |g| g.sync.state());
                    (name.clone(), state)
                }),
            })
            .collect();
        self.status.status.store(Arc::new(snapshot));
        self.status_changed = false;
        self.last_status = Some(self.now());
    }

    /// Logs an error of member `i` at most once per [`REPORT_INTERVAL`] per kind, saying how
    /// many were not logged. Errors on the VRRP thread are never fatal: the next advert or
    /// retry may succeed.
    fn report(&mut self, i: usize, kind: &'static str, message: &str) {
        let now = self.now();
        let instance = self.members[i].spec.name.clone();
        let entry = self.reported.entry((instance.clone(), kind)).or_default();
        if entry
            .0
            .is_some_and(|last| now.saturating_duration_since(last) < REPORT_INTERVAL)
        {
            entry.1 += 1;
            return;
        }
        let suppressed = std::mem::take(&mut entry.1);
        entry.0 = Some(now);
        if suppressed > 0 {
            tracing::warn!(
                instance,
                "{message} (and {suppressed} more since the last report)"
            );
        } else {
            tracing::warn!(instance, "{message}");
        }
    }
}

impl Drop for Core {
    /// A panic on the VRRP thread must not leave VIPs behind on a node that no longer
    /// advertises them (the peer takes over after its master-down interval).
    fn drop(&mut self) {
        if std::thread::panicking() {
            for i in 0..self.members.len() {
                self.remove_addresses(i);
            }
        }
    }
}

/// Sends the paced announcements of `device` whose turn has come.
fn pump(
    announcers: &HashMap<String, GratuitousSender>,
    device: &str,
    paced: &mut Paced,
    now: vrrp_core::Instant,
) {
    while paced.due().is_some_and(|due| due <= now) {
        let Some(address) = paced.queue.pop_front() else {
            break;
        };
        let sent = match announcers.get(device) {
            Some(sender) => sender.announce(&[address], 1).map_err(|e| e.to_string()),
            None => Err(format!("no announcer on {device}")),
        };
        if let Err(e) = sent {
            tracing::warn!("gratuitous ARP/NA not sent: {e}");
        }
        match address {
            IpAddr::V4(_) => paced.next_arp = Some(now + paced.garp_interval),
            IpAddr::V6(_) => paced.next_na = Some(now + paced.gna_interval),
        }
    }
}

/// Reads `/proc/sys/net/<protocol>/conf/<interface>/<key>` (of this network namespace).
fn read_sysctl(protocol: &str, interface: &str, key: &str) -> Option<String> {
    std::fs::read_to_string(format!("/proc/sys/net/{protocol}/conf/{interface}/{key}"))
        .ok()
        .map(|v| v.trim().to_string())
}

/// Writes `/proc/sys/net/<protocol>/conf/<interface>/<key>` (of this network namespace);
/// `protocol` is `ipv4` or `ipv6`.
fn set_sysctl(protocol: &str, interface: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/{protocol}/conf/{interface}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        tracing::warn!(interface, "cannot set {path}: {e}");
    }
}

/// Whether two specs differ in the configured priority only (applied in place on reload).
fn only_priority_differs(a: &InstanceSpec, b: &InstanceSpec) -> bool {
    let mut b_with_a_priority = b.clone();
    b_with_a_priority.config.priority = a.config.priority;
    a.config.priority != b.config.priority && *a == b_with_a_priority
}

#[derive(Default)]
struct Ready {
    /// (socket, queue) with datagrams to read.
    sockets: Vec<(usize, Queue)>,
    wake: bool,
    watcher: bool,
}
