//! The invariants, judged from outside the processes: which namespaces hold the VIP (an
//! rtnetlink address dump in each router's namespace every 20 ms), what the schedule did to
//! each router, and whether `ha status` answers within a second.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::schedule::Node;

/// How often the VIP is looked for.
pub const SAMPLE: Duration = Duration::from_millis(20);
/// Two holders are tolerated this long after the master-down interval following an event.
pub const TWO_HOLDER_SLACK: Duration = Duration::from_millis(100);
/// Exactly one holder is due this long after the master-down interval following an event.
pub const ONE_HOLDER_SLACK: Duration = Duration::from_secs(1);
/// `ha status` must answer within this.
pub const STATUS_LIMIT: Duration = Duration::from_secs(1);
/// A SIGTERM'd director must have removed its VIP this long after the signal.
pub const STOP_LIMIT: Duration = Duration::from_secs(1);

/// What the schedule did to a router's process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proc {
    Up,
    /// kill -9: its kernel keeps the VIP (stale, expected) until it is started again.
    Killed,
    /// Started, control socket not answering yet (a stale VIP may still be there).
    Starting,
    /// SIGTERM at this instant: the VIP must be gone within [`STOP_LIMIT`].
    Stopping(Instant),
    /// Exited after SIGTERM.
    Stopped,
}

#[derive(Debug, Clone, Copy)]
pub struct RouterState {
    pub proc: Proc,
    /// Its interface is there and up.
    pub link_ok: bool,
    /// Bumped at every kill or start (the status prober ignores answers across one).
    pub incarnation: u64,
}

/// What the watchers share with the schedule.
#[derive(Debug)]
pub struct World {
    pub routers: [RouterState; 3],
    /// Isolated on a bridge of its own: this router (and the client).
    pub partition: Option<Node>,
    /// The last fault injected or healed (a state change is expected after it).
    pub last_event: Instant,
    /// Master-down interval of the slowest router.
    pub master_down: Duration,
    /// VIP presence per router at the last sample, and the sample's sequence number.
    pub present: [bool; 3],
    pub sample_seq: u64,
    pub sampled_at: Instant,
    pub violations: Vec<String>,
    pub sockets: [PathBuf; 2],
    pub ha_pids: [Option<u32>; 2],
    pub status_answers: u64,
    pub status_worst: Duration,
    /// Status requests not answered in time while a machine stall was under way.
    pub status_late_in_stall: u64,
    /// Hanging notify scripts seen, and seen killed by their director.
    pub hang_scripts_seen: std::collections::BTreeSet<u32>,
    pub hang_script: PathBuf,
    /// Its longest gap between two samples (the sampler itself delayed by load), over the
    /// run and since the schedule last reset it.
    pub worst_sample_gap: Duration,
    pub recent_sample_gap: Duration,
    /// While a flood runs (and until this instant after it), keepalived's VIP is not counted
    /// as a second holder but tallied: keepalived 2.2.7 reads one advert per wake-up, so a
    /// 50,000/s flood overflows its socket and the master's adverts are lost with the rest.
    pub flood_grace_until: Option<Instant>,
    /// Samples in which keepalived held the VIP beside an ha master during a flood.
    pub keepalived_flood_samples: u64,
    /// Whether each ha director runs with `use_vmac` (then it receives adverts through its
    /// macvlan, whose multicast queue a flood overflows: graced like keepalived, tallied).
    pub vmac: [bool; 2],
    pub vmac_flood_samples: u64,
    /// Configured priority of each ha director.
    pub priority: [u8; 2],
    /// Actions injecting or healing a fault under way: the holder checks wait for them.
    pub acting: u32,
    /// Per ha director, the cumulative time its `vrrp` thread waited for a CPU while runnable
    /// (`/proc/PID/task/TID/schedstat`), sampled with the VIP over the last few seconds. Not
    /// judged: shown with a violation, to tell a master the machine did not run (a loaded
    /// host) from one that stopped by itself (a bug).
    pub cpu_wait: [std::collections::VecDeque<(Instant, Duration)>; 2],
    /// Per ha director: since when its `vrrp` thread has been runnable with the same run time
    /// (not run), and that run time. The kernel adds a wait to `schedstat` only when the wait
    /// ends, so a thread not run right now is seen here.
    pub runnable_since: [Option<(Instant, u64)>; 2],
    /// Per ha director, where its `vrrp` thread was at each sample over the last seconds
    /// (state, system call, wait channel, kernel stack), merged into spans: a violation
    /// prints it, to show where a master that went silent sat.
    pub thread_trace: [std::collections::VecDeque<TraceSpan>; 2],
    /// Machine stalls seen: a director's `vrrp` thread runnable but not run, or the sampler
    /// itself not run, for more than [`STALL_FRACTION`] of the master-down interval. Each is
    /// a fault the schedule did not inject (the protocol cannot hear adverts it is not run to
    /// read): the holder checks allow master-down after it, as after any fault. Printed as
    /// they happen and counted in the report, never silent.
    pub stalls: Vec<String>,
    /// Stall lines not printed yet.
    pub stall_notes: Vec<String>,
    /// A stall is under way (one line per stall).
    in_stall: bool,
    /// The last sample that saw a stall under way.
    pub last_stall_at: Option<Instant>,
}

/// A stall longer than this part of the master-down interval is a fault (see
/// [`World::stalls`]).
pub const STALL_FRACTION: u32 = 2;

/// Master-down interval (RFC 5798 §6.1) for a 100 ms advert interval and `priority`.
pub fn master_down(priority: u8) -> Duration {
    let advert = 100_000u64; // µs
    Duration::from_micros(3 * advert + (256 - u64::from(priority)) * advert / 256)
}

impl World {
    pub fn new(sockets: [PathBuf; 2], hang_script: PathBuf, lowest_priority: u8) -> World {
        let r = RouterState {
            proc: Proc::Up,
            link_ok: true,
            incarnation: 0,
        };
        World {
            routers: [r; 3],
            partition: None,
            last_event: Instant::now(),
            master_down: master_down(lowest_priority),
            present: [false; 3],
            sample_seq: 0,
            sampled_at: Instant::now(),
            violations: Vec::new(),
            sockets,
            ha_pids: [None, None],
            status_answers: 0,
            status_worst: Duration::ZERO,
            status_late_in_stall: 0,
            hang_scripts_seen: Default::default(),
            hang_script,
            worst_sample_gap: Duration::ZERO,
            recent_sample_gap: Duration::ZERO,
            flood_grace_until: None,
            keepalived_flood_samples: 0,
            vmac: [false; 2],
            vmac_flood_samples: 0,
            cpu_wait: Default::default(),
            runnable_since: [None; 2],
            thread_trace: Default::default(),
            priority: super::lab::INITIAL_PRIORITY,
            acting: 0,
            stalls: Vec::new(),
            stall_notes: Vec::new(),
            in_stall: false,
            last_stall_at: None,
        }
    }

    /// The routers that can hold the VIP in each part of the network.
    pub fn components(&self) -> Vec<Vec<Node>> {
        match self.partition {
            None => vec![Node::ALL.to_vec()],
            Some(x) => vec![
                vec![x],
                Node::ALL.iter().copied().filter(|&n| n != x).collect(),
            ],
        }
    }

    fn eligible(&self, n: Node) -> bool {
        let r = self.routers[n.index()];
        r.proc == Proc::Up && r.link_ok
    }

    /// During a flood, the routers holding the VIP beside the rightful master that do not
    /// count: keepalived beside an ha director, and an ha director with `use_vmac` beside the
    /// other one of higher priority (it lost the master's adverts in its macvlan's queue).
    pub fn flooded(&self, present: [bool; 3], now: Instant) -> Vec<Node> {
        let up = |n: Node| present[n.index()] && self.routers[n.index()].proc == Proc::Up;
        if self.flood_grace_until.is_none_or(|t| now >= t) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for n in Node::HA {
            let other = if n == Node::Ha1 { Node::Ha2 } else { Node::Ha1 };
            if up(n)
                && self.vmac[n.index()]
                && up(other)
                && self.priority[other.index()] > self.priority[n.index()]
            {
                out.push(n);
            }
        }
        if up(Node::Kad) && Node::HA.into_iter().any(up) {
            out.push(Node::Kad);
        }
        out
    }

    /// Whether keepalived holds the VIP beside an ha director during a flood.
    pub fn keepalived_flooded(&self, present: [bool; 3], now: Instant) -> bool {
        self.flooded(present, now).contains(&Node::Kad)
    }

    /// What counts as VIP presence: a flooded router's is left out (see [`World::flooded`]).
    fn counted(&self, mut present: [bool; 3], now: Instant) -> [bool; 3] {
        for n in self.flooded(present, now) {
            present[n.index()] = false;
        }
        present
    }

    /// Exactly one holder in every part of the network with a router able to hold it, held by
    /// such a router, and no VIP on a stopped director.
    pub fn settled(&self, present: [bool; 3]) -> bool {
        let present = self.counted(present, Instant::now());
        self.components().iter().all(|part| {
            let holders: Vec<Node> = part
                .iter()
                .copied()
                .filter(|n| present[n.index()] && self.routers[n.index()].proc == Proc::Up)
                .collect();
            let any_eligible = part.iter().any(|&n| self.eligible(n));
            if any_eligible {
                holders.len() == 1 && self.eligible(holders[0])
            } else {
                holders.is_empty()
            }
        }) && Node::ALL.iter().all(|n| {
            !present[n.index()]
                || !matches!(
                    self.routers[n.index()].proc,
                    Proc::Stopped | Proc::Stopping(_)
                )
        })
    }

    /// The invariants at `now` for this sample: the violations it shows.
    pub fn judge(&self, present: [bool; 3], now: Instant) -> Vec<String> {
        let present = self.counted(present, now);
        let mut out = Vec::new();
        let since = now.saturating_duration_since(self.last_event);
        let who = |nodes: &[Node]| {
            nodes
                .iter()
                .map(|n| n.name())
                .collect::<Vec<_>>()
                .join(" and ")
        };
        for n in Node::ALL {
            if !present[n.index()] {
                continue;
            }
            match self.routers[n.index()].proc {
                Proc::Stopped => out.push(format!("VIP left on stopped director {n}")),
                Proc::Stopping(at) if now.saturating_duration_since(at) > STOP_LIMIT => {
                    out.push(format!("VIP still on {n} {:?} after its SIGTERM", now - at))
                }
                _ => {}
            }
        }
        if self.acting > 0 {
            return out;
        }
        for part in self.components() {
            let holders: Vec<Node> = part
                .iter()
                .copied()
                .filter(|n| present[n.index()] && self.routers[n.index()].proc == Proc::Up)
                .collect();
            if holders.len() > 1 && since > self.master_down + TWO_HOLDER_SLACK {
                out.push(format!(
                    "{} hold the VIP together {since:?} after the last fault (allowed: \
                     master-down {:?} + {TWO_HOLDER_SLACK:?})",
                    who(&holders),
                    self.master_down
                ));
            }
            let eligible: Vec<Node> = part.iter().copied().filter(|&n| self.eligible(n)).collect();
            // A restarted director whose control socket does not answer yet may already be
            // master: its VIP is not counted as a second holder (it may be stale), but it is
            // someone holding it.
            let starting_holder = part
                .iter()
                .any(|n| present[n.index()] && self.routers[n.index()].proc == Proc::Starting);
            if since > self.master_down + ONE_HOLDER_SLACK {
                if !eligible.is_empty()
                    && !starting_holder
                    && !holders.iter().any(|h| eligible.contains(h))
                {
                    out.push(format!(
                        "nobody of {} holds the VIP {since:?} after the last fault (allowed: \
                         master-down {:?} + {ONE_HOLDER_SLACK:?})",
                        who(&part),
                        self.master_down
                    ));
                }
                for h in holders.iter().filter(|h| !eligible.contains(h)) {
                    out.push(format!("{h} keeps the VIP with its link down or gone"));
                }
            }
        }
        out
    }
}

/// A netlink route socket in namespace `ns` (opened from a thread that enters it).
fn route_socket(ns: &str) -> Result<socket2::Socket, String> {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        testkit::netns::enter_named(&ns);
        let s = socket2::Socket::new(
            socket2::Domain::from(libc::AF_NETLINK),
            socket2::Type::RAW,
            Some(socket2::Protocol::from(libc::NETLINK_ROUTE)),
        )
        .map_err(|e| format!("netlink socket in {ns}: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(1)))
            .map_err(|e| e.to_string())?;
        Ok(s)
    })
    .join()
    .map_err(|_| "netlink thread panicked".to_string())?
}

/// Whether `vip` is an address of any interface in the socket's namespace (RTM_GETADDR dump).
fn has_address(socket: &socket2::Socket, seq: u32, vip: Ipv4Addr) -> Result<bool, String> {
    const RTM_NEWADDR: u16 = 20;
    const RTM_GETADDR: u16 = 22;
    const NLMSG_DONE: u16 = 3;
    const NLMSG_ERROR: u16 = 2;
    let mut req = Vec::with_capacity(24);
    req.extend_from_slice(&24u32.to_ne_bytes());
    req.extend_from_slice(&RTM_GETADDR.to_ne_bytes());
    req.extend_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_DUMP) as u16).to_ne_bytes());
    req.extend_from_slice(&seq.to_ne_bytes());
    req.extend_from_slice(&0u32.to_ne_bytes());
    req.extend_from_slice(&[libc::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0]);
    // Unconnected and unaddressed, a netlink socket sends to the kernel.
    socket
        .send(&req)
        .map_err(|e| format!("netlink send: {e}"))?;
    let mut found = false;
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = std::io::Read::read(&mut &*socket, &mut buf)
            .map_err(|e| format!("netlink receive: {e}"))?;
        let mut off = 0;
        while off + 16 <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            let mseq = u32::from_ne_bytes(buf[off + 8..off + 12].try_into().unwrap());
            if len < 16 || off + len > n {
                break;
            }
            if mseq == seq {
                match kind {
                    NLMSG_DONE => return Ok(found),
                    NLMSG_ERROR => return Err("netlink dump error".into()),
                    RTM_NEWADDR => {
                        // ifaddrmsg (8 bytes), then attributes.
                        let mut a = off + 16 + 8;
                        while a + 4 <= off + len {
                            let alen =
                                u16::from_ne_bytes(buf[a..a + 2].try_into().unwrap()) as usize;
                            let atype = u16::from_ne_bytes(buf[a + 2..a + 4].try_into().unwrap());
                            if alen < 4 {
                                break;
                            }
                            // IFA_ADDRESS (1), IFA_LOCAL (2).
                            if (atype == 1 || atype == 2)
                                && alen == 8
                                && buf[a + 4..a + 8] == vip.octets()
                            {
                                found = true;
                            }
                            a += (alen + 3) & !3;
                        }
                    }
                    _ => {}
                }
            }
            off += (len + 3) & !3;
        }
    }
}

/// How far back [`World::cpu_wait`] goes.
const CPU_WAIT_HISTORY: Duration = Duration::from_secs(5);

/// What the scheduler says of the `vrrp` thread of process `pid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSched {
    /// Its state letter from `stat` (R: running or waiting for a CPU).
    pub state: char,
    /// Time run so far (first field of `schedstat`, nanoseconds).
    pub run_ns: u64,
    /// Time waited for a CPU in waits that have ended (second field).
    pub wait: Duration,
    /// User and system time so far (`stat` fields 14 and 15, in clock ticks of 10 ms): a
    /// thread's system time includes the softirq work the kernel does in its context.
    pub user_sys_ticks: (u64, u64),
}

impl ThreadSched {
    /// State R: running or waiting for a CPU.
    pub fn runnable(&self) -> bool {
        self.state == 'R'
    }
}

fn vrrp_thread_sched(task: &std::path::Path) -> Option<ThreadSched> {
    let sched = std::fs::read_to_string(task.join("schedstat")).ok()?;
    let mut fields = sched.split_whitespace();
    let run_ns = fields.next()?.parse().ok()?;
    let wait_ns = fields.next()?.parse().ok()?;
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: field 3 (state) is at 0, utime (14) at 11, stime (15) at 12.
    Some(ThreadSched {
        state: fields.first()?.chars().next()?,
        run_ns,
        wait: Duration::from_nanos(wait_ns),
        user_sys_ticks: (fields.get(11)?.parse().ok()?, fields.get(12)?.parse().ok()?),
    })
}

/// The `vrrp` thread's directory under `/proc/PID/task`.
fn vrrp_task_dir(pid: u32) -> Option<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .map(|task| task.path())
        .find(|path| {
            std::fs::read_to_string(path.join("comm")).is_ok_and(|comm| comm.trim() == "vrrp")
        })
}

/// Where the `vrrp` thread in `task` is: its `state` (from [`ThreadSched`]), system call (number, or
/// `running`), wait channel and the innermost frames of its kernel stack. A thread blocked in
/// a system call shows there.
fn vrrp_thread_where(task: &std::path::Path, state: char) -> String {
    let read = |name: &str| std::fs::read_to_string(task.join(name)).unwrap_or_default();
    let syscall = read("syscall");
    let syscall = syscall.split_whitespace().next().unwrap_or("?");
    let stack: Vec<String> = read("stack")
        .lines()
        .take(6)
        .map(|l| l.split_whitespace().last().unwrap_or("").to_string())
        .collect();
    format!(
        "state {state}, syscall {syscall}, wchan {}, stack {}",
        read("wchan").trim(),
        stack.join(" < ")
    )
}

/// Where the `vrrp` thread of process `pid` is now, with its schedstat, for a violation's
/// report.
pub fn vrrp_thread_now(pid: u32) -> String {
    let Some(task) = vrrp_task_dir(pid) else {
        return "no vrrp thread".into();
    };
    let state = vrrp_thread_sched(&task).map_or('?', |s| s.state);
    format!(
        "{}, schedstat {}",
        vrrp_thread_where(&task, state),
        std::fs::read_to_string(task.join("schedstat"))
            .unwrap_or_default()
            .trim()
    )
}

/// One stretch of samples in which a `vrrp` thread was in the same place (see
/// [`World::thread_trace`]).
#[derive(Debug, Clone)]
pub struct TraceSpan {
    pub first: Instant,
    pub last: Instant,
    pub samples: u32,
    /// [`vrrp_thread_where`]'s words.
    pub place: String,
    /// Its run time (`schedstat`) at the first and the last sample.
    pub run_ns: (u64, u64),
    /// Its user and system ticks at the first and the last sample.
    pub ticks: ((u64, u64), (u64, u64)),
}

/// Adds a sample of the thread's place to `trace`, merged into the last span when the place
/// is the same, and forgets spans older than [`CPU_WAIT_HISTORY`].
fn trace_sample(
    trace: &mut std::collections::VecDeque<TraceSpan>,
    place: String,
    sched: ThreadSched,
    now: Instant,
) {
    match trace.back_mut() {
        Some(span) if span.place == place => {
            span.last = now;
            span.samples += 1;
            span.run_ns.1 = sched.run_ns;
            span.ticks.1 = sched.user_sys_ticks;
        }
        _ => trace.push_back(TraceSpan {
            first: now,
            last: now,
            samples: 1,
            place,
            run_ns: (sched.run_ns, sched.run_ns),
            ticks: (sched.user_sys_ticks, sched.user_sys_ticks),
        }),
    }
    while trace
        .front()
        .is_some_and(|s| now.saturating_duration_since(s.last) > CPU_WAIT_HISTORY)
    {
        trace.pop_front();
    }
}

/// The trace as lines, times relative to `now`: where the thread was over the last seconds
/// (a thread silent for seconds shows the system call it sat in, or that it ran).
pub fn trace_lines(trace: &std::collections::VecDeque<TraceSpan>, now: Instant) -> Vec<String> {
    trace
        .iter()
        .map(|s| {
            format!(
                "-{:>5} ms .. -{:>5} ms ({:>3} samples, ran {:>6} us, user {} ms, sys {} ms): {}",
                now.saturating_duration_since(s.first).as_millis(),
                now.saturating_duration_since(s.last).as_millis(),
                s.samples,
                s.run_ns.1.saturating_sub(s.run_ns.0) / 1000,
                10 * s.ticks.1 .0.saturating_sub(s.ticks.0 .0),
                10 * s.ticks.1 .1.saturating_sub(s.ticks.0 .1),
                s.place
            )
        })
        .collect()
}

/// The thread's cumulative CPU wait including the wait under way: runnable since `since`
/// with a run time that has not moved (the kernel adds that wait to `schedstat` only once it
/// ends, and a thread not run for seconds must count now). Updates `since`.
pub fn cpu_wait_so_far(
    sched: ThreadSched,
    since: &mut Option<(Instant, u64)>,
    now: Instant,
) -> Duration {
    match *since {
        Some((t, run_ns)) if sched.runnable() && run_ns == sched.run_ns => {
            sched.wait + now.saturating_duration_since(t)
        }
        _ => {
            *since = sched.runnable().then_some((now, sched.run_ns));
            sched.wait
        }
    }
}

/// The most CPU wait added within any `window` of `history` (cumulative samples), or between
/// two consecutive samples further apart (the sampler itself stalled: the wait is not lost).
pub fn worst_cpu_wait(history: &[(Instant, Duration)], window: Duration) -> Duration {
    let mut worst = Duration::ZERO;
    let mut start = 0;
    for (j, &(t, wait)) in history.iter().enumerate() {
        while start + 1 < j && t.saturating_duration_since(history[start].0) > window {
            start += 1;
        }
        worst = worst.max(wait.saturating_sub(history[start].1));
    }
    worst
}

/// The CPU wait added over the last `window` before `now` (cumulative samples).
pub fn recent_cpu_wait(
    history: &std::collections::VecDeque<(Instant, Duration)>,
    now: Instant,
    window: Duration,
) -> Duration {
    let Some(&(_, latest)) = history.back() else {
        return Duration::ZERO;
    };
    let start = history
        .iter()
        .find(|(t, _)| now.saturating_duration_since(*t) <= window)
        .map_or(latest, |&(_, w)| w);
    latest.saturating_sub(start)
}

/// How often each CPU's heartbeat thread beats.
const HEARTBEAT_PERIOD: Duration = Duration::from_millis(5);

/// One thread per CPU, pinned to it at `SCHED_FIFO` 99, writing the time every
/// [`HEARTBEAT_PERIOD`]. A CPU whose heartbeat is late ran nothing at all meanwhile: the
/// hypervisor did not run that vCPU (this machine is a VM whose vCPUs are taken away for
/// seconds at times: `steal` in `/proc/stat`), or the kernel did not yield it. Every thread
/// queued there, and every timer armed there, waits with it: a master whose VRRP thread sleeps
/// in `ppoll` on such a CPU sends nothing, without being runnable or waiting for a CPU.
struct CpuHeartbeats {
    base: Instant,
    /// Per CPU: nanoseconds since `base` at its last beat.
    beats: Arc<Vec<std::sync::atomic::AtomicU64>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuHeartbeats {
    fn spawn(stop: Arc<AtomicBool>) -> Result<CpuHeartbeats, String> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let base = Instant::now();
        let beats: Arc<Vec<_>> = Arc::new(
            (0..cpus)
                .map(|_| std::sync::atomic::AtomicU64::new(0))
                .collect(),
        );
        let mut threads = Vec::new();
        for cpu in 0..cpus {
            let (beats, stop) = (beats.clone(), stop.clone());
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            threads.push(std::thread::spawn(move || {
                let _ = ready_tx.send(pin_realtime(cpu));
                while !stop.load(Ordering::Relaxed) {
                    beats[cpu].store(base.elapsed().as_nanos() as u64, Ordering::Relaxed);
                    std::thread::sleep(HEARTBEAT_PERIOD);
                }
            }));
            ready_rx
                .recv()
                .map_err(|_| format!("CPU {cpu}'s heartbeat thread died"))??;
        }
        Ok(CpuHeartbeats {
            base,
            beats,
            threads,
        })
    }

    /// Per CPU, how long since its last beat.
    fn lags(&self, now: Instant) -> Vec<Duration> {
        let since_base = now.saturating_duration_since(self.base);
        self.beats
            .iter()
            .map(|b| since_base.saturating_sub(Duration::from_nanos(b.load(Ordering::Relaxed))))
            .collect()
    }
}

/// Pins the calling thread to `cpu` at `SCHED_FIFO` 99 (with `chrt`, so that xtask stays free
/// of `unsafe`).
fn pin_realtime(cpu: usize) -> Result<(), String> {
    let mut set = nix::sched::CpuSet::new();
    set.set(cpu)
        .and_then(|()| nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set))
        .map_err(|e| format!("pinning a heartbeat thread to CPU {cpu}: {e}"))?;
    let tid = nix::unistd::gettid().to_string();
    let out = Command::new("chrt")
        .args(["-f", "-p", "99", &tid])
        .output()
        .map_err(|e| format!("chrt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "chrt -f -p 99 {tid} (CPU {cpu}'s heartbeat thread): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Samples the VIP in each router's namespace every [`SAMPLE`] and judges; stops with `stop`.
pub fn spawn_sampler(
    world: Arc<Mutex<World>>,
    namespaces: [String; 3],
    stop: Arc<AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, String> {
    let sockets = [
        route_socket(&namespaces[0])?,
        route_socket(&namespaces[1])?,
        route_socket(&namespaces[2])?,
    ];
    let heartbeats = CpuHeartbeats::spawn(stop.clone())?;
    Ok(std::thread::spawn(move || {
        let mut seq = 1u32;
        let mut last = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let mut present = [false; 3];
            let mut error = None;
            for (i, s) in sockets.iter().enumerate() {
                seq = seq.wrapping_add(1);
                match has_address(s, seq, super::lab::VIP) {
                    Ok(p) => present[i] = p,
                    Err(e) => error = Some(e),
                }
            }
            let now = Instant::now();
            let mut w = world.lock().unwrap();
            for i in 0..2 {
                let task = w.ha_pids[i].and_then(vrrp_task_dir);
                let sched = task.as_deref().and_then(vrrp_thread_sched);
                let wait = sched.map(|s| cpu_wait_so_far(s, &mut w.runnable_since[i], now));
                match (&task, sched) {
                    (Some(task), Some(sched)) => {
                        let place = vrrp_thread_where(task, sched.state);
                        trace_sample(&mut w.thread_trace[i], place, sched, now)
                    }
                    _ => w.thread_trace[i].clear(),
                }
                let history = &mut w.cpu_wait[i];
                match wait {
                    Some(wait) => history.push_back((now, wait)),
                    None => history.clear(),
                }
                while history
                    .front()
                    .is_some_and(|(t, _)| now.saturating_duration_since(*t) > CPU_WAIT_HISTORY)
                {
                    history.pop_front();
                }
            }
            // A machine stall is a fault of its own (see World::stalls).
            let limit = w.master_down / STALL_FRACTION;
            let mut stalled = Vec::new();
            if now - last > limit {
                stalled.push(format!(
                    "the lab's sampler was not run for {:?}",
                    now - last
                ));
            }
            for (cpu, lag) in heartbeats.lags(now).into_iter().enumerate() {
                if lag > limit {
                    stalled.push(format!(
                        "CPU {cpu} ran nothing for {lag:?} (its heartbeat thread, pinned at \
                         SCHED_FIFO 99, was not run: the hypervisor did not run that vCPU or \
                         the kernel did not yield it; whatever sleeps or waits there waits too)"
                    ));
                }
            }
            for (i, node) in Node::HA.into_iter().enumerate() {
                let waited = recent_cpu_wait(&w.cpu_wait[i], now, w.master_down);
                if waited > limit {
                    stalled.push(format!(
                        "{node}'s VRRP thread waited {waited:?} for a CPU within the last {:?}",
                        w.master_down
                    ));
                }
            }
            if stalled.is_empty() {
                w.in_stall = false;
            } else {
                w.last_event = now;
                w.last_stall_at = Some(now);
                if !w.in_stall {
                    w.in_stall = true;
                    let note = format!(
                        "machine stall, treated as a fault (master-down allowed after it): {}",
                        stalled.join("; ")
                    );
                    w.stalls.push(note.clone());
                    w.stall_notes.push(note);
                }
            }
            w.worst_sample_gap = w.worst_sample_gap.max(now - last);
            w.recent_sample_gap = w.recent_sample_gap.max(now - last);
            last = now;
            if let Some(e) = error {
                w.violations.push(format!("the VIP sampler failed: {e}"));
            } else {
                for n in w.flooded(present, now) {
                    if n == Node::Kad {
                        w.keepalived_flood_samples += 1;
                    } else {
                        w.vmac_flood_samples += 1;
                    }
                }
                let found = w.judge(present, now);
                w.violations.extend(found);
                w.present = present;
                w.sample_seq += 1;
                w.sampled_at = now;
            }
            drop(w);
            std::thread::sleep(SAMPLE.saturating_sub(now.elapsed()));
        }
        for t in heartbeats.threads {
            let _ = t.join();
        }
    }))
}

/// `ha status --json` against `socket` (the command itself), killed after `limit`: the reply
/// and how long it took.
pub fn ha_status(
    ha_bin: &std::path::Path,
    socket: &std::path::Path,
    limit: Duration,
) -> Result<(serde_json::Value, Duration), String> {
    let start = Instant::now();
    let mut child = Command::new(ha_bin)
        .args(["status", "--json", "--socket"])
        .arg(socket)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ha status: {e}"))?;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("ha status did not answer within {limit:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("ha status: {e}")),
        }
    }
    let took = start.elapsed();
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "ha status failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let value = serde_json::from_slice(&out.stdout).map_err(|e| format!("ha status: {e}"))?;
    Ok((value, took))
}

/// One `{"command":"status"}` request on a control socket, as `ha status` sends it, from this
/// thread (no process to start on a loaded machine): how long the answer took.
pub fn status_request(socket: &std::path::Path, limit: Duration) -> Result<Duration, String> {
    use std::io::{BufRead, Write};
    let start = Instant::now();
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("control socket: {e}"))?;
    stream
        .set_read_timeout(Some(limit))
        .map_err(|e| e.to_string())?;
    (&stream)
        .write_all(b"{\"command\":\"status\"}\n")
        .map_err(|e| format!("control socket: {e}"))?;
    let mut reply = String::new();
    std::io::BufReader::new(&stream)
        .read_line(&mut reply)
        .map_err(|e| format!("no status answer within {limit:?}: {e}"))?;
    let took = start.elapsed();
    if took > limit {
        return Err(format!("status answered after {took:?} (limit {limit:?})"));
    }
    let value: serde_json::Value =
        serde_json::from_str(&reply).map_err(|e| format!("status reply: {e}: {reply}"))?;
    if value["reply"] != "status" {
        return Err(format!("status reply: {reply}"));
    }
    Ok(took)
}

/// Asks every running ha director for its status every 500 ms (a second at most), and looks
/// for hanging notify scripts their director should have killed at its timeout.
pub fn spawn_prober(
    world: Arc<Mutex<World>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            for node in Node::HA {
                let (socket, before) = {
                    let w = world.lock().unwrap();
                    let r = w.routers[node.index()];
                    if r.proc != Proc::Up {
                        continue;
                    }
                    (w.sockets[node.index()].clone(), r.incarnation)
                };
                let asked = Instant::now();
                let result = status_request(&socket, STATUS_LIMIT);
                let mut w = world.lock().unwrap();
                let r = w.routers[node.index()];
                if r.proc != Proc::Up || r.incarnation != before {
                    continue;
                }
                match result {
                    Ok(took) => {
                        w.status_answers += 1;
                        w.status_worst = w.status_worst.max(took);
                    }
                    // The machine did not run a CPU meanwhile (the director's threads may
                    // be queued there): like a late advert, not the director's doing.
                    Err(e) if w.last_stall_at.is_some_and(|t| t >= asked) => {
                        w.status_late_in_stall += 1;
                        let note = format!("{node}: {e}, during a machine stall");
                        w.stall_notes.push(note);
                    }
                    Err(e) => {
                        let gap = w.recent_sample_gap;
                        w.violations.push(format!(
                            "{node}: {e} (the lab's own 20 ms sampler was delayed up to {gap:?} \
                             meanwhile)"
                        ))
                    }
                }
            }
            check_hanging_scripts(&world);
            std::thread::sleep(Duration::from_millis(500));
        }
    })
}

/// How long a hanging notify script may live under its director: ha's notify timeout (60 s)
/// and some slack.
pub const HANG_LIMIT: Duration = Duration::from_secs(65);

/// Hanging notify scripts: each is seen; one older than [`HANG_LIMIT`] whose parent is a
/// running director was not killed at its timeout.
fn check_hanging_scripts(world: &Arc<Mutex<World>>) {
    let (script, pids) = {
        let w = world.lock().unwrap();
        (w.hang_script.to_string_lossy().into_owned(), w.ha_pids)
    };
    for (pid, ppid, age) in processes_running(&script) {
        let mut w = world.lock().unwrap();
        w.hang_scripts_seen.insert(pid);
        let under_director = pids.iter().flatten().any(|&d| d == ppid);
        if under_director && age > HANG_LIMIT {
            w.violations.push(format!(
                "notify script {pid} still runs {age:?} after it started under director \
                 {ppid} (its timeout is 60 s)"
            ));
        }
    }
}

/// Processes whose command line contains `needle`: (pid, parent, age).
pub fn processes_running(needle: &str) -> Vec<(u32, u32, Duration)> {
    let ticks = 100.0; // USER_HZ on Linux
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0);
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if !String::from_utf8_lossy(&cmdline).contains(needle) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces): state is field 3.
        let Some((_, rest)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ppid = fields.get(1).and_then(|p| p.parse().ok()).unwrap_or(0);
        let start: f64 = fields.get(19).and_then(|p| p.parse().ok()).unwrap_or(0.0);
        let age = Duration::from_secs_f64((uptime - start / ticks).max(0.0));
        out.push((pid, ppid, age));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn world() -> World {
        let mut w = World::new(
            [PathBuf::new(), PathBuf::new()],
            PathBuf::new(),
            super::super::lab::KEEPALIVED_PRIORITY,
        );
        w.last_event = Instant::now() - Duration::from_secs(10);
        w
    }

    #[test]
    fn master_down_interval_follows_rfc5798() {
        // 3 * 100 ms + (256 - 50) * 100 ms / 256.
        assert_eq!(master_down(50), Duration::from_micros(380_468));
        assert_eq!(master_down(255), Duration::from_micros(300_390));
    }

    #[test]
    fn one_holder_is_fine_two_are_not_after_the_window() {
        let w = world();
        let now = Instant::now();
        assert!(w.judge([true, false, false], now).is_empty());
        assert!(w.settled([true, false, false]));
        let two = w.judge([true, true, false], now);
        assert_eq!(two.len(), 1, "{two:?}");
        assert!(two[0].contains("ha1 and ha2"), "{two:?}");
        let none = w.judge([false, false, false], now);
        assert!(none[0].contains("nobody"), "{none:?}");
        // Inside the window both are tolerated.
        let mut w = world();
        w.last_event = now;
        assert!(w.judge([true, true, true], now).is_empty());
        assert!(!w.settled([true, true, false]));
        // While a fault is being injected, the holder checks wait.
        let mut w = world();
        w.acting = 1;
        assert!(w.judge([true, true, false], now).is_empty());
        assert!(w.judge([false, false, false], now).is_empty());
        w.routers[0].proc = Proc::Stopped;
        assert!(
            !w.judge([true, false, false], now).is_empty(),
            "a stopped one never"
        );
    }

    #[test]
    fn a_killed_directors_vip_is_stale_a_stopped_ones_is_not() {
        let mut w = world();
        let now = Instant::now();
        w.routers[0].proc = Proc::Killed;
        assert!(w.judge([true, true, false], now).is_empty());
        assert!(w.settled([true, true, false]));
        w.routers[0].proc = Proc::Stopping(now);
        assert!(w.judge([true, true, false], now).is_empty());
        assert!(!w.settled([true, true, false]));
        w.routers[0].proc = Proc::Stopping(now - Duration::from_secs(2));
        assert_eq!(w.judge([true, true, false], now).len(), 1);
        w.routers[0].proc = Proc::Stopped;
        assert!(w.judge([true, true, false], now)[0].contains("stopped director ha1"));
    }

    #[test]
    fn each_side_of_a_partition_has_its_master() {
        let mut w = world();
        let now = Instant::now();
        w.partition = Some(Node::Kad);
        assert!(w.judge([true, false, true], now).is_empty());
        assert!(w.settled([true, false, true]));
        assert!(
            !w.judge([true, false, false], now).is_empty(),
            "kad alone needs its own"
        );
        assert!(!w.judge([true, true, true], now).is_empty());
    }

    #[test]
    fn keepalived_is_left_out_while_flooded_only() {
        let mut w = world();
        let now = Instant::now();
        assert!(!w.judge([true, false, true], now).is_empty());
        w.flood_grace_until = Some(now + Duration::from_secs(1));
        assert!(w.judge([true, false, true], now).is_empty());
        assert!(w.keepalived_flooded([true, false, true], now));
        // Never two ha directors, flood or not.
        assert!(!w.judge([true, true, false], now).is_empty());
        // Alone, keepalived is the holder.
        assert!(w.judge([false, false, true], now).is_empty());
        assert!(!w.keepalived_flooded([false, false, true], now));
        // A backup with use_vmac is graced too, beside the master of higher priority.
        w.vmac[1] = true;
        assert!(w.judge([true, true, false], now).is_empty());
        assert_eq!(w.flooded([true, true, true], now), [Node::Ha2, Node::Kad]);
        w.vmac = [true, false];
        assert!(
            !w.judge([true, true, false], now).is_empty(),
            "ha1 is the master"
        );
        assert_eq!(w.flooded([true, false, true], now), [Node::Kad]);
    }

    #[test]
    fn a_wait_under_way_counts_before_the_kernel_adds_it() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let sched = |runnable, run_ns, wait_ms| ThreadSched {
            state: if runnable { 'R' } else { 'S' },
            run_ns,
            wait: ms(wait_ms),
            user_sys_ticks: (0, 0),
        };
        let mut since = None;
        // Runnable and run between samples: nothing under way.
        assert_eq!(cpu_wait_so_far(sched(true, 100, 5), &mut since, t0), ms(5));
        assert_eq!(
            cpu_wait_so_far(sched(true, 200, 5), &mut since, t0 + ms(20)),
            ms(5)
        );
        // Runnable, run time frozen: the wait grows with the clock.
        assert_eq!(
            cpu_wait_so_far(sched(true, 200, 5), &mut since, t0 + ms(1020)),
            ms(1005)
        );
        // It ran: schedstat has the wait now, and nothing is counted twice.
        assert_eq!(
            cpu_wait_so_far(sched(false, 300, 1010), &mut since, t0 + ms(1040)),
            ms(1010)
        );
        assert_eq!(since, None);
    }

    #[test]
    fn cpu_wait_is_the_worst_increase_within_the_window() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let history = [
            (t0, ms(10)),
            (t0 + ms(100), ms(20)),
            (t0 + ms(200), ms(300)),
            (t0 + ms(700), ms(310)),
            (t0 + ms(800), ms(900)),
        ];
        // 100..200 ms: +280; 700..800: +590; 200..700 (500 ms) only +10.
        assert_eq!(worst_cpu_wait(&history, ms(150)), ms(590));
        // Within 600 ms: 200 ms -> 800 ms adds 600.
        assert_eq!(worst_cpu_wait(&history, ms(600)), ms(600));
        assert_eq!(worst_cpu_wait(&[], ms(600)), Duration::ZERO);
        // One gap longer than the window: what it added still shows.
        assert_eq!(
            worst_cpu_wait(&[(t0, ms(0)), (t0 + ms(1000), ms(800))], ms(380)),
            ms(800)
        );
    }

    #[test]
    fn a_node_with_its_link_down_must_not_hold_the_vip() {
        let mut w = world();
        let now = Instant::now();
        w.routers[0].link_ok = false;
        assert!(w.judge([false, true, false], now).is_empty());
        let kept = w.judge([true, true, false], now);
        assert!(kept.iter().any(|v| v.contains("link down")), "{kept:?}");
        assert!(!w.settled([true, false, false]));
    }
}
