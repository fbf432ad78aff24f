//! The engine: the [`Scheduler`] and the checkers on a tokio runtime of their own.
//!
//! The director starts it once, calls [`Engine::replace`] on every (re)load and reads
//! [`Event`]s from the [`EventReceiver`]. Both directions are unbounded channels: neither
//! the engine nor the director (its VRRP thread included) ever waits on the other.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use crate::checkers::Checker;
use crate::config::{CheckId, RealServerConfig};
use crate::core::{validate, CheckStatus, CheckToken, Scheduler};
use crate::outcome::{Event, Failure, Outcome};
use crate::Error;

/// Where the director reads events: `try_recv` from a poll loop, `recv().await` from
/// async code, `blocking_recv` from a thread of its own.
pub type EventReceiver = mpsc::UnboundedReceiver<Event>;

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Threads of the engine's runtime. 1 (the default) runs everything on one thread,
    /// which is the cheapest per check; more spread TLS and scripts over cores.
    pub worker_threads: usize,
    /// Seed of the `warmup` spread; `None` picks one at random.
    pub seed: Option<u64>,
    /// keepalived's `checker_priority`: the nice value (-20..19) of the engine's threads,
    /// so checks start on time on a busy director. `None` keeps the caller's.
    pub nice: Option<i32>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            worker_threads: 1,
            seed: None,
            nice: None,
        }
    }
}

type CheckerMap = rustc_hash::FxHashMap<CheckId, Arc<Checker>>;

enum Command {
    Replace(Vec<RealServerConfig>, CheckerMap),
    Status(oneshot::Sender<Vec<CheckStatus>>),
    Shutdown,
}

/// tokio's timers fire on 1 ms ticks: a check due before the next tick starts now rather
/// than a tick late.
const TIMER_SLACK: Duration = Duration::from_millis(1);

/// Width of one histogram bucket.
const BUCKET: Duration = Duration::from_micros(50);
/// Buckets up to 100 ms; anything later lands in the last one.
const BUCKETS: usize = 2001;

/// A histogram of durations in 50 µs buckets up to 100 ms, updated without locks.
#[derive(Debug)]
struct Histogram {
    counts: Box<[AtomicU64]>,
    /// Sum of the recorded durations in nanoseconds (exact, unlike the buckets).
    sum_nanos: AtomicU64,
}

/// A histogram read at given upper bounds, as Prometheus histograms are exposed.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// The upper bounds asked for, in seconds.
    pub bounds_seconds: Vec<f64>,
    /// Per bucket (not cumulative): `counts[i]` values above `bounds[i - 1]` and at most
    /// `bounds[i]`; one more entry than bounds, for the values above the last bound.
    pub counts: Vec<u64>,
    pub count: u64,
    pub sum_seconds: f64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_nanos: AtomicU64::new(0),
        }
    }

    fn record(&self, value: Duration) {
        let bucket = ((value.as_nanos() / BUCKET.as_nanos()) as usize).min(BUCKETS - 1);
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(value.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The counts at `bounds` (ascending). A 50 µs bucket counts under the first bound at or
    /// above its upper edge, so bounds that are multiples of 50 µs up to 100 ms are exact;
    /// values of 100 ms and more count in the overflow entry.
    fn snapshot(&self, bounds: &[Duration]) -> HistogramSnapshot {
        let mut counts = vec![0u64; bounds.len() + 1];
        let mut count = 0;
        for (bucket, c) in self.counts.iter().enumerate() {
            let c = c.load(Ordering::Relaxed);
            count += c;
            let slot = if bucket == BUCKETS - 1 {
                // The last bucket holds everything at or past 100 ms: above any bound.
                bounds.len()
            } else {
                let upper = BUCKET * (bucket as u32 + 1);
                bounds.partition_point(|b| *b < upper)
            };
            counts[slot] += c;
        }
        HistogramSnapshot {
            bounds_seconds: bounds.iter().map(Duration::as_secs_f64).collect(),
            counts,
            count,
            sum_seconds: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }

    fn quantile(&self, q: f64) -> Option<Duration> {
        let counts: Vec<u64> = self
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (bucket, count) in counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Some(BUCKET * (bucket as u32 + 1));
            }
        }
        Some(BUCKET * BUCKETS as u32)
    }

    fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
        self.sum_nanos.store(0, Ordering::Relaxed);
    }
}

/// Counters the engine keeps for visibility and benchmarks.
#[derive(Debug)]
pub struct EngineStats {
    started: AtomicU64,
    completed: AtomicU64,
    failed: AtomicU64,
    /// How late each check started against its schedule.
    lateness: Histogram,
    /// How long each check ran.
    duration: Histogram,
}

impl EngineStats {
    fn new() -> Self {
        EngineStats {
            started: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            lateness: Histogram::new(),
            duration: Histogram::new(),
        }
    }

    /// Checks started since the engine started.
    pub fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// Checks finished (passed or failed).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    /// Checks that failed.
    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The `q` quantile (0.0-1.0) of start lateness, to 50 µs; `None` before any start.
    /// Anything at or past 100 ms reads as 100 ms.
    pub fn lateness_quantile(&self, q: f64) -> Option<Duration> {
        self.lateness.quantile(q)
    }

    /// The `q` quantile of check run time, as [`EngineStats::lateness_quantile`].
    pub fn duration_quantile(&self, q: f64) -> Option<Duration> {
        self.duration.quantile(q)
    }

    /// Check run times at `bounds` (ascending; multiples of 50 µs up to 100 ms are exact).
    pub fn duration_histogram(&self, bounds: &[Duration]) -> HistogramSnapshot {
        self.duration.snapshot(bounds)
    }

    /// Start lateness at `bounds`, as [`EngineStats::duration_histogram`].
    pub fn lateness_histogram(&self, bounds: &[Duration]) -> HistogramSnapshot {
        self.lateness.snapshot(bounds)
    }

    /// Forgets the lateness and durations recorded so far (e.g. after a warm-up phase).
    pub fn reset_histograms(&self) {
        self.lateness.reset();
        self.duration.reset();
    }

    fn record_start(&self, lateness: Duration) {
        self.started.fetch_add(1, Ordering::Relaxed);
        self.lateness.record(lateness);
    }
}

/// The running engine. Dropping it stops the runtime and joins its thread.
///
/// Each running check holds one socket (or a script's pipes): the director should allow
/// at least as many open files (`RLIMIT_NOFILE`) as there are checkers, plus its own.
#[derive(Debug)]
pub struct Engine {
    commands: mpsc::UnboundedSender<Command>,
    thread: Option<JoinHandle<()>>,
    stats: Arc<EngineStats>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Replace(servers, _) => write!(f, "Replace({} servers)", servers.len()),
            Command::Status(_) => write!(f, "Status"),
            Command::Shutdown => write!(f, "Shutdown"),
        }
    }
}

impl Engine {
    /// Starts the engine on a thread (and runtime) of its own, with no checks yet.
    pub fn start(options: EngineOptions) -> Result<(Engine, EventReceiver), Error> {
        let runtime = if options.worker_threads <= 1 {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
        } else {
            let nice = options.nice;
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(options.worker_threads)
                .thread_name("healthcheck")
                .on_thread_start(move || set_nice(nice))
                .enable_all()
                .build()
        }
        .map_err(Error::Runtime)?;
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let stats = Arc::new(EngineStats::new());
        let seed = options.seed.unwrap_or_else(rand::random);
        let driver_stats = stats.clone();
        let nice = options.nice;
        let thread = std::thread::Builder::new()
            .name("healthcheck".into())
            .spawn(move || {
                set_nice(nice);
                runtime.block_on(drive(
                    Scheduler::new(seed),
                    command_rx,
                    event_tx,
                    driver_stats,
                ))
            })
            .map_err(Error::Runtime)?;
        Ok((
            Engine {
                commands,
                thread: Some(thread),
                stats,
            },
            events,
        ))
    }

    /// Replaces the whole set of checks. Validation (duplicate identities, regexes, TLS
    /// files, users) happens here, so a bad configuration changes nothing. Checks whose
    /// identity is unchanged keep their state: no spurious down/up on reload.
    pub fn replace(&self, servers: Vec<RealServerConfig>) -> Result<(), Error> {
        validate(&servers)?;
        let mut checkers = CheckerMap::default();
        for server in &servers {
            for config in &server.checkers {
                let id = CheckId {
                    server: server.id.clone(),
                    checker: config.name.clone(),
                };
                let checker = Checker::new(&id.to_string(), Arc::new(config.clone()))?;
                checkers.insert(id, Arc::new(checker));
            }
        }
        self.commands
            .send(Command::Replace(servers, checkers))
            .map_err(|_| Error::Stopped)
    }

    /// Asks for every checker's state. The answer comes on the returned channel
    /// (`.await` it, or `blocking_recv` outside a runtime), so the caller never waits on
    /// the engine unless it chooses to.
    pub fn request_status(&self) -> Result<oneshot::Receiver<Vec<CheckStatus>>, Error> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Status(reply))
            .map_err(|_| Error::Stopped)?;
        Ok(answer)
    }

    /// Counters and lateness, updated live.
    pub fn stats(&self) -> &Arc<EngineStats> {
        &self.stats
    }

    /// Stops the engine and waits for its thread; in-flight checks are abandoned.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn drive(
    mut scheduler: Scheduler,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<Event>,
    stats: Arc<EngineStats>,
) {
    let (result_tx, mut results) = mpsc::unbounded_channel::<(CheckToken, Outcome)>();
    let mut checkers: CheckerMap = CheckerMap::default();
    // Running checks, so that a reload can stop those it removes or changes.
    let mut running: rustc_hash::FxHashMap<CheckToken, (Arc<CheckId>, tokio::task::AbortHandle)> =
        Default::default();
    loop {
        let now = Instant::now();
        while let Some(due) = scheduler.poll_start(now + TIMER_SLACK) {
            stats.record_start(now.saturating_duration_since(due.due));
            let Some(checker) = checkers.get(&*due.id).cloned() else {
                // Cannot happen (servers and checkers arrive together), but a check left
                // "running" would never run again: fail it visibly instead.
                let failure = Failure::Io(format!("{}: no prepared checker", due.id));
                tracing::error!("{failure}");
                scheduler.handle_result(due.token, Outcome::Fail(failure), now);
                continue;
            };
            let results = result_tx.clone();
            let real_server = due.id.server.real_server;
            let stats = stats.clone();
            let token = due.token;
            let task = tokio::spawn(async move {
                let began = Instant::now();
                let outcome = checker.run(real_server).await;
                stats.duration.record(began.elapsed());
                let _ = results.send((token, outcome));
            });
            running.insert(token, (due.id, task.abort_handle()));
        }
        while let Some(event) = scheduler.poll_event() {
            log(&event);
            // The director dropping its receiver is not the engine's problem.
            let _ = events.send(event);
        }
        let deadline = scheduler.poll_timeout();
        tokio::select! {
            biased;
            command = commands.recv() => match command {
                Some(Command::Replace(servers, new_checkers)) => {
                    // Stop runs of checkers the reload removes or changes: their results
                    // would be ignored, and a script or connection should not outlive them.
                    running.retain(|_, (id, task)| {
                        let kept = match (checkers.get(&**id), new_checkers.get(&**id)) {
                            (Some(old), Some(new)) => old.config() == new.config(),
                            _ => false,
                        };
                        if !kept {
                            task.abort();
                        }
                        kept
                    });
                    checkers = new_checkers;
                    if let Err(e) = scheduler.replace(servers, Instant::now()) {
                        tracing::error!("health-check reload refused: {e}");
                    }
                }
                Some(Command::Status(reply)) => {
                    let _ = reply.send(scheduler.status());
                }
                Some(Command::Shutdown) | None => return,
            },
            Some((token, outcome)) = results.recv() => {
                let mut next = Some((token, outcome));
                // Take every result already waiting before scheduling again.
                while let Some((token, outcome)) = next {
                    stats.completed.fetch_add(1, Ordering::Relaxed);
                    if matches!(outcome, Outcome::Fail(_)) {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                    }
                    running.remove(&token);
                    scheduler.handle_result(token, outcome, Instant::now());
                    next = results.try_recv().ok();
                }
            }
            _ = sleep_until(deadline) => {}
        }
    }
}

/// Sets the calling thread's nice value (Linux applies it per thread).
fn set_nice(nice: Option<i32>) {
    if let Some(nice) = nice {
        let thread = rustix::thread::gettid();
        if let Err(e) = rustix::process::setpriority_process(Some(thread), nice) {
            tracing::warn!("health-check engine: cannot set checker_priority {nice}: {e}");
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        // Woken a tick early, the loop starts what is due within TIMER_SLACK: on time.
        Some(deadline) => {
            tokio::time::sleep_until(deadline.checked_sub(TIMER_SLACK).unwrap_or(deadline).into())
                .await
        }
        None => std::future::pending().await,
    }
}

fn log(event: &Event) {
    match event {
        Event::Up { .. } => tracing::info!("{event}"),
        Event::Down { .. } => tracing::warn!("{event}"),
        Event::Weight { .. } => tracing::info!("{event}"),
        Event::CheckFailed { .. } => tracing::warn!("{event}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_snapshots_count_each_value_under_its_first_bound() {
        let h = Histogram::new();
        for micros in [10, 50, 51, 999, 1_000, 1_001, 99_999, 100_000, 2_000_000] {
            h.record(Duration::from_micros(micros));
        }
        let bounds = [
            Duration::from_micros(100),
            Duration::from_millis(1),
            Duration::from_millis(100),
        ];
        let s = h.snapshot(&bounds);
        assert_eq!(s.bounds_seconds, [0.0001, 0.001, 0.1]);
        // Buckets are [k * 50 µs, (k + 1) * 50 µs): 10, 50 and 51 µs are under 100 µs; 999 µs
        // under 1 ms; 1,000 µs starts the bucket that ends at 1.05 ms (the 50 µs resolution),
        // so it counts under 100 ms with 1,001 and 99,999 µs; 100 ms and more overflow.
        assert_eq!(s.counts, [3, 1, 3, 2]);
        assert_eq!(s.count, 9);
        assert!((s.sum_seconds - 2.203_11).abs() < 1e-9, "{}", s.sum_seconds);
        h.reset();
        let s = h.snapshot(&bounds);
        assert_eq!(
            (s.count, s.sum_seconds, s.counts),
            (0, 0.0, vec![0, 0, 0, 0])
        );
    }
}
