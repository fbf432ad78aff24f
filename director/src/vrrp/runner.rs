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
    Command, Event, FaultCause, Instance, InstanceConfig, State, Statistics, Transition, Transmit,
    TRANSMIT_BUFFER_LEN,
};

use crate::net::{
    interface_index, GratuitousSender, InterfaceAddress, LinkStatus, LinkWatcher, NetError, Rtnl,
    RtnlError, VrrpSocket,
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
    pub addresses: Vec<IpAddr>,
    pub statistics: Statistics,
    pub last_transition: Option<Transition>,
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
}

/// Where the VRRP thread's outputs go. Sending never blocks the VRRP thread.
pub type RunnerOutputs = tokio::sync::mpsc::UnboundedReceiver<RunnerOutput>;

/// A cheap, shareable view of the runner's status (for the control socket). The VRRP thread
/// swaps in a new snapshot without ever waiting for a reader.
#[derive(Debug, Clone)]
pub struct StatusHandle {
    status: Arc<arc_swap::ArcSwap<Vec<InstanceStatus>>>,
    epoch: std::time::Instant,
}

impl StatusHandle {
    /// The latest status of every instance.
    pub fn status(&self) -> Arc<Vec<InstanceStatus>> {
        self.status.load_full()
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
                report("vrrp", &format!("cannot set vrrp_priority {n}: {e}"));
            }
        }
        if let Some(p) = self.realtime {
            if let Err(e) = crate::net::set_realtime_priority(p) {
                report("vrrp", &format!("cannot set vrrp_rt_priority {p}: {e}"));
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
        let (out_tx, out_rx) = tokio::sync::mpsc::unbounded_channel();
        let (commands_tx, commands_rx) = mpsc::channel();
        // Close-on-exec, so that scripts do not inherit it; non-blocking, so that a full pipe
        // never stalls whoever wakes the thread.
        let (wake_read, wake_write) =
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
                .map_err(|e| RunnerError::Thread(format!("wake pipe: {e}")))?;
        let status = StatusHandle {
            status: Arc::new(arc_swap::ArcSwap::from_pointee(Vec::new())),
            epoch: std::time::Instant::now(),
        };
        let mut core = Core::open(specs, out_tx, status.clone())?;
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

struct Member {
    spec: InstanceSpec,
    instance: Instance,
    /// Index into `Core::sockets`.
    socket: usize,
    ifindex: u32,
    /// Whether our addresses are currently installed.
    addresses_installed: bool,
    /// Index of the VMAC this member created, deleted when it stops.
    vmac: Option<u32>,
    /// The interface adverts and announcements go through: the VMAC or `spec.interface`.
    io_interface: String,
}

/// The state owned by the VRRP thread.
struct Core {
    members: Vec<Member>,
    /// Raw sockets by index (members refer to them by index); `None` once closed.
    sockets: Vec<Option<VrrpSocket>>,
    /// Per interface name: the gratuitous ARP / NA sender.
    announcers: HashMap<String, GratuitousSender>,
    rtnl: Rtnl,
    /// Link changes: a link going down puts its instances in Fault.
    links: LinkWatcher,
    /// The links found at start, published when the thread starts.
    initial_links: Vec<LinkStatus>,
    out: tokio::sync::mpsc::UnboundedSender<RunnerOutput>,
    status: StatusHandle,
    buf: Box<[u8; TRANSMIT_BUFFER_LEN]>,
    rx: Vec<u8>,
}

impl Core {
    fn open(
        specs: Vec<InstanceSpec>,
        out: tokio::sync::mpsc::UnboundedSender<RunnerOutput>,
        status: StatusHandle,
    ) -> Result<Core, RunnerError> {
        let mut rtnl = Rtnl::open()?;
        // Subscribe before reading the current state so no change falls in between.
        let watcher = LinkWatcher::open()?;
        let links = rtnl.links()?;
        let mut core = Core {
            members: Vec::new(),
            sockets: Vec::new(),
            announcers: HashMap::new(),
            rtnl,
            links: watcher,
            initial_links: Vec::new(),
            out,
            status,
            buf: Box::new([0; TRANSMIT_BUFFER_LEN]),
            rx: vec![0; 65536],
        };
        for spec in specs {
            let member = core.prepare_member(spec, &links)?;
            core.members.push(member);
        }
        core.initial_links = links;
        // Status is readable as soon as spawn returns, before the thread's first turn.
        core.publish_status();
        Ok(core)
    }

    /// Opens what an instance needs (sockets shared per interface and family) and creates it,
    /// not started.
    fn prepare_member(
        &mut self,
        spec: InstanceSpec,
        links: &[crate::net::LinkStatus],
    ) -> Result<Member, RunnerError> {
        let net = |source| RunnerError::Net {
            instance: spec.name.clone(),
            source,
        };
        let parent = interface_index(&spec.interface).map_err(net)?;
        let family = spec.config.family();
        let usable = links.iter().any(|l| l.ifindex == parent && l.usable);
        // With use_vmac everything goes through the macvlan; otherwise through the interface.
        let (io_interface, ifindex, mac, vmac) = match &spec.vmac {
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
                (name.clone(), index, mac, Some(index))
            }
            None => {
                let mac = links
                    .iter()
                    .find(|l| l.ifindex == parent)
                    .and_then(|l| l.mac)
                    .unwrap_or([0; 6]);
                (spec.interface.clone(), parent, mac, None)
            }
        };
        let socket = match self.sockets.iter().position(|s| {
            s.as_ref()
                .is_some_and(|s| s.interface() == io_interface && s.family() == family)
        }) {
            Some(i) => i,
            None => {
                self.sockets.push(Some(
                    VrrpSocket::open(&io_interface, spec.config.primary_address).map_err(net)?,
                ));
                self.sockets.len() - 1
            }
        };
        if !self.announcers.contains_key(&io_interface) {
            let sender = GratuitousSender::open(&io_interface, ifindex, mac).map_err(net)?;
            self.announcers.insert(io_interface.clone(), sender);
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
            let mac = links
                .iter()
                .find(|l| l.ifindex == index)
                .and_then(|l| l.mac)
                .unwrap_or([0; 6]);
            let sender = GratuitousSender::open(device, index, mac).map_err(net)?;
            self.announcers.insert(device.to_string(), sender);
        }
        let instance = Instance::new(spec.config.clone())
            .map_err(|e| RunnerError::Thread(format!("instance {}: {e}", spec.name)))?;
        let mut member = Member {
            spec,
            instance,
            socket,
            ifindex,
            addresses_installed: false,
            vmac,
            io_interface,
        };
        if !usable {
            member.instance.handle_command(
                vrrp_core::Instant::ZERO,
                Command::EnterFault(FaultCause::InterfaceDown),
            );
        }
        Ok(member)
    }

    /// Starts member `i`, clearing addresses a crashed predecessor may have left.
    fn start_member(&mut self, i: usize) {
        // A backup holding the VIP would answer ARP for it. Owners (priority 255) own the
        // addresses for real and keep them.
        if !self.members[i].instance.is_address_owner() {
            self.members[i].addresses_installed = true;
            self.remove_addresses(i);
        }
        let now = self.now();
        self.members[i].instance.handle_command(now, Command::Start);
        self.drain(i);
    }

    /// Stops member `i` gracefully: priority-0 advert if master, addresses removed.
    fn stop_member(&mut self, i: usize) {
        let now = self.now();
        self.members[i]
            .instance
            .handle_command(now, Command::Shutdown);
        self.drain(i);
        self.remove_addresses(i);
        if let Some(vmac) = self.members[i].vmac.take() {
            let name = self.members[i].io_interface.clone();
            self.announcers.remove(&name);
            // The VMAC's socket is its own: close it (indices of the others stay valid).
            let socket = self.members[i].socket;
            self.sockets[socket] = None;
            if let Err(e) = self.rtnl.delete_link(vmac) {
                report(&self.members[i].spec.name, &e.to_string());
            }
        }
    }

    /// Applies a new set of instances, changing only what differs. Everything new is opened
    /// before anything running is touched, so a failure changes nothing.
    fn reconfigure(&mut self, specs: Vec<InstanceSpec>) -> Result<ReloadSummary, String> {
        let links = self.rtnl.links().map_err(|e| e.to_string())?;
        let mut summary = ReloadSummary::default();
        let mut prepared = Vec::new();
        for spec in &specs {
            match self.members.iter().find(|m| m.spec.name == spec.name) {
                Some(m) if m.spec == *spec => summary.unchanged.push(spec.name.clone()),
                Some(m) if only_priority_differs(&m.spec, spec) => {
                    summary.reprioritised.push(spec.name.clone())
                }
                Some(_) => {
                    summary.restarted.push(spec.name.clone());
                    prepared.push(
                        self.prepare_member(spec.clone(), &links)
                            .map_err(|e| e.to_string())?,
                    );
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
        for member in prepared {
            self.members.push(member);
            let i = self.members.len() - 1;
            self.start_member(i);
        }
        self.publish_status();
        Ok(summary)
    }
    fn now(&self) -> vrrp_core::Instant {
        self.status.now()
    }

    fn run(&mut self, commands: Receiver<RunnerCommand>, wake: OwnedFd) -> Result<(), RunnerError> {
        for link in std::mem::take(&mut self.initial_links) {
            let _ = self.out.send(RunnerOutput::Link(link));
        }
        for i in 0..self.members.len() {
            self.start_member(i);
        }
        self.publish_status();
        loop {
            crate::fault::point("vrrp");
            let deadline = self
                .members
                .iter()
                .filter_map(|m| m.instance.poll_timeout())
                .min();
            let timeout = deadline.map(|d| d.saturating_duration_since(self.now()));
            let ready = self.wait(&wake, timeout);
            // Commands first: a shutdown must not wait behind packets.
            let mut stop = false;
            if ready.wake {
                let mut sink = [0u8; 64];
                let _ = nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&wake), &mut sink);
            }
            while let Ok(command) = commands.try_recv() {
                match command {
                    RunnerCommand::Shutdown => stop = true,
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
            if stop {
                self.shutdown();
                return Ok(());
            }
            if ready.links {
                self.link_changes();
            }
            for s in ready.sockets {
                self.receive(s);
            }
            let now = self.now();
            for i in 0..self.members.len() {
                if self.members[i]
                    .instance
                    .poll_timeout()
                    .is_some_and(|t| t <= now)
                {
                    self.members[i].instance.handle_timeout(now);
                    self.drain(i);
                }
            }
            self.publish_status();
        }
    }

    fn wait(&self, wake: &OwnedFd, timeout: Option<Duration>) -> Ready {
        let open: Vec<(usize, &VrrpSocket)> = self
            .sockets
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i, s)))
            .collect();
        let mut fds: Vec<PollFd<'_>> = open
            .iter()
            .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        fds.push(PollFd::new(wake.as_fd(), PollFlags::POLLIN));
        fds.push(PollFd::new(self.links.socket().as_fd(), PollFlags::POLLIN));
        let spec = timeout.map(nix::sys::time::TimeSpec::from_duration);
        let mut ready = Ready::default();
        if nix::poll::ppoll(&mut fds, spec, None).is_ok() {
            let n = open.len();
            for (i, fd) in fds.iter().enumerate() {
                if fd.revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
                    if i == n {
                        ready.wake = true;
                    } else if i == n + 1 {
                        ready.links = true;
                    } else {
                        ready.sockets.push(open[i].0);
                    }
                }
            }
        }
        ready
    }

    fn link_changes(&mut self) {
        let Ok(changes) = self.links.next_changes() else {
            return;
        };
        let now = self.now();
        for change in changes {
            let _ = self.out.send(RunnerOutput::Link(change.clone()));
            for i in 0..self.members.len() {
                if self.members[i].ifindex != change.ifindex {
                    continue;
                }
                let command = if change.usable {
                    Command::LeaveFault(FaultCause::InterfaceDown)
                } else {
                    Command::EnterFault(FaultCause::InterfaceDown)
                };
                self.members[i].instance.handle_command(now, command);
                self.drain(i);
            }
        }
    }

    fn receive(&mut self, s: usize) {
        let Some(Ok(got)) = self.sockets[s].as_ref().map(|sock| sock.recv(&mut self.rx)) else {
            return;
        };
        let vrid = self.rx.get(got.payload.start + 1).copied();
        let now = self.now();
        for i in 0..self.members.len() {
            let m = &mut self.members[i];
            if m.socket == s && Some(m.spec.config.vrid) == vrid {
                m.instance
                    .handle_packet(now, &got.info, &self.rx[got.payload.clone()]);
                self.drain(i);
            }
        }
    }

    /// Performs what member `i` asked for: state-change side effects first (addresses), then
    /// adverts and announcements, then events for the caller.
    fn drain(&mut self, i: usize) {
        let mut events = Vec::new();
        while let Some(e) = self.members[i].instance.poll_event() {
            events.push(e);
        }
        for e in &events {
            if let Event::StateChanged(t) = e {
                if t.to == State::Master {
                    self.install_addresses(i);
                } else if t.from == State::Master {
                    self.remove_addresses(i);
                }
            }
        }
        let socket = self.members[i].socket;
        while let Some(t) = self.members[i].instance.poll_transmit(&mut self.buf) {
            match t {
                Transmit::Advertisement {
                    destination, len, ..
                } => {
                    let Some(sock) = self.sockets[socket].as_mut() else {
                        continue;
                    };
                    if let Err(e) = sock.send(destination, &self.buf[..len]) {
                        report(&self.members[i].spec.name, &e.to_string());
                    }
                }
                Transmit::Gratuitous { repeat } => {
                    let m = &self.members[i];
                    // Each address on its own device (see open_member).
                    let mut by_device: Vec<(&str, Vec<IpAddr>)> = Vec::new();
                    for a in &m.spec.addresses {
                        let device = a.device.as_deref().unwrap_or(&m.io_interface);
                        match by_device.iter_mut().find(|(d, _)| *d == device) {
                            Some((_, addrs)) => addrs.push(a.address),
                            None => by_device.push((device, vec![a.address])),
                        }
                    }
                    for (device, addrs) in by_device {
                        let sent = match self.announcers.get(device) {
                            Some(sender) => {
                                sender.announce(&addrs, repeat).map_err(|e| e.to_string())
                            }
                            None => Err(format!("no announcer on {device}")),
                        };
                        if let Err(e) = sent {
                            report(&m.spec.name, &format!("gratuitous ARP/NA not sent: {e}"));
                        }
                    }
                }
            }
        }
        for event in events {
            let _ = self.out.send(RunnerOutput::Event(RunnerEvent {
                instance: self.members[i].spec.name.clone(),
                priority: self.members[i].instance.priority(),
                event,
            }));
        }
    }

    fn interface_address(&self, i: usize, a: &VirtualAddress) -> InterfaceAddress {
        let m = &self.members[i];
        let ifindex = a
            .device
            .as_deref()
            .and_then(|d| interface_index(d).ok())
            .unwrap_or(m.ifindex);
        InterfaceAddress {
            ifindex,
            address: a.address,
            prefix_len: a.prefix_len,
            label: a.label.clone(),
            scope: a.scope,
        }
    }

    fn install_addresses(&mut self, i: usize) {
        for a in self.members[i].spec.addresses.clone() {
            let ia = self.interface_address(i, &a);
            if let Err(e) = self.rtnl.add_address(&ia) {
                report(&self.members[i].spec.name, &e.to_string());
            }
        }
        for r in self.members[i].spec.routes.clone() {
            if let Err(e) = self.rtnl.add_route(&r) {
                report(&self.members[i].spec.name, &e.to_string());
            }
        }
        self.members[i].addresses_installed = true;
    }

    fn remove_addresses(&mut self, i: usize) {
        if !self.members[i].addresses_installed {
            return;
        }
        for r in self.members[i].spec.routes.clone() {
            // Absent routes (never added, or taken with their interface) are fine.
            if let Err(e) = self.rtnl.delete_route(&r) {
                report(&self.members[i].spec.name, &e.to_string());
            }
        }
        for a in self.members[i].spec.addresses.clone() {
            let ia = self.interface_address(i, &a);
            if let Err(e) = self.rtnl.delete_address(&ia) {
                report(&self.members[i].spec.name, &e.to_string());
            }
        }
        self.members[i].addresses_installed = false;
    }

    fn shutdown(&mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i);
        }
        self.publish_status();
    }

    fn publish_status(&self) {
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
                statistics: m.instance.statistics().clone(),
                last_transition: m.instance.last_transition(),
            })
            .collect();
        self.status.status.store(Arc::new(snapshot));
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

/// Writes `/proc/sys/net/<protocol>/conf/<interface>/<key>` (of this network namespace);
/// `protocol` is `ipv4` or `ipv6`.
fn set_sysctl(protocol: &str, interface: &str, key: &str, value: &str) {
    let path = format!("/proc/sys/net/{protocol}/conf/{interface}/{key}");
    if let Err(e) = std::fs::write(&path, value) {
        report(interface, &format!("cannot set {path}: {e}"));
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
    sockets: Vec<usize>,
    wake: bool,
    links: bool,
}

/// Errors on the VRRP thread are reported, never fatal: the next advert or retry may succeed.
/// The subscriber's writer never blocks this thread (see ha's logging).
fn report(instance: &str, message: &str) {
    tracing::warn!(instance, "{message}");
}
