//! systemd's `Type=notify` protocol: readiness and the watchdog, datagrams to
//! `$NOTIFY_SOCKET`.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

/// Sends `state` (e.g. `READY=1`, `STOPPING=1`, `STATUS=...`) to systemd when run under it;
/// does nothing otherwise.
pub fn notify(state: &str) -> io::Result<()> {
    match std::env::var_os("NOTIFY_SOCKET") {
        Some(path) => notify_to(&path.to_string_lossy(), state),
        None => Ok(()),
    }
}

/// Sends `state` to the socket systemd named: a path, or `@name` for an abstract socket.
pub fn notify_to(socket_path: &str, state: &str) -> io::Result<()> {
    let socket = UnixDatagram::unbound()?;
    if let Some(name) = socket_path.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
        socket.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        socket.send_to(state.as_bytes(), socket_path)?;
    }
    Ok(())
}

/// systemd's watchdog (`WatchdogSec=`), fed with `WATCHDOG=1` at half its timeout, and
/// only while the VRRP thread's heartbeat advances: a stuck VRRP thread (the one that holds
/// the VIPs) stops the feeding, and systemd kills and restarts the service. The VRRP thread
/// itself never does I/O for this; it only bumps a counter that this reads.
#[derive(Debug)]
pub struct Watchdog {
    interval: Duration,
    next: Instant,
    last_heartbeat: Option<u64>,
    /// The stall was logged (once per stall).
    stalled: bool,
}

impl Watchdog {
    /// From `$WATCHDOG_USEC` and `$WATCHDOG_PID`, as systemd sets them; `None` when the
    /// watchdog is off or meant for another process.
    pub fn from_env() -> Option<Watchdog> {
        let usec = std::env::var("WATCHDOG_USEC").ok();
        let pid = std::env::var("WATCHDOG_PID").ok();
        Watchdog::from_values(
            usec.as_deref(),
            pid.as_deref(),
            std::process::id(),
            Instant::now(),
        )
    }

    /// [`from_env`](Self::from_env) with the values given (sd_watchdog_enabled's rules).
    pub fn from_values(
        usec: Option<&str>,
        pid: Option<&str>,
        our_pid: u32,
        now: Instant,
    ) -> Option<Watchdog> {
        let usec: u64 = usec?.trim().parse().ok().filter(|u| *u > 0)?;
        if let Some(pid) = pid {
            if pid.trim().parse::<u32>().ok()? != our_pid {
                return None;
            }
        }
        let interval = Duration::from_micros(usec) / 2;
        Some(Watchdog {
            interval,
            next: now + interval,
            last_heartbeat: None,
            stalled: false,
        })
    }

    /// How often it is fed: half of systemd's timeout.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn due(&self, now: Instant) -> bool {
        now >= self.next
    }

    pub fn until_due(&self, now: Instant) -> Duration {
        self.next.saturating_duration_since(now)
    }

    /// Whether to send `WATCHDOG=1` now: the director runs and the heartbeat moved since the
    /// last decision (the first decision has nothing to compare with: the thread just
    /// started).
    pub fn decide(&mut self, heartbeat: u64, running: bool) -> bool {
        let advanced = self.last_heartbeat != Some(heartbeat);
        self.last_heartbeat = Some(heartbeat);
        running && advanced
    }

    /// When due: decides, sends `WATCHDOG=1` if alive, and schedules the next turn.
    pub fn feed(&mut self, now: Instant, heartbeat: u64, running: bool) {
        if self.decide(heartbeat, running) {
            if self.stalled {
                tracing::warn!("VRRP thread moving again: feeding the systemd watchdog");
                self.stalled = false;
            }
            if let Err(e) = notify("WATCHDOG=1") {
                tracing::warn!("cannot feed systemd's watchdog: {e}");
            }
        } else if !self.stalled {
            self.stalled = true;
            tracing::error!(
                "VRRP thread stalled (heartbeat {heartbeat} unchanged for {:?}) or director \
                 stopped: not feeding the systemd watchdog",
                self.interval
            );
        }
        self.next = now + self.interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::linux::net::SocketAddrExt;

    #[test]
    fn watchdog_is_half_of_systemd_s_timeout_and_for_our_pid_only() {
        let now = Instant::now();
        let w = Watchdog::from_values(Some("10000000"), Some("42"), 42, now).unwrap();
        assert_eq!(w.interval(), Duration::from_secs(5));
        assert!(!w.due(now));
        assert!(w.due(now + Duration::from_secs(5)));
        assert!(Watchdog::from_values(Some("10000000"), Some("43"), 42, now).is_none());
        assert!(Watchdog::from_values(Some("10000000"), None, 42, now).is_some());
        assert!(Watchdog::from_values(None, Some("42"), 42, now).is_none());
        assert!(Watchdog::from_values(Some("0"), None, 42, now).is_none());
        assert!(Watchdog::from_values(Some("soon"), None, 42, now).is_none());
    }

    #[test]
    fn watchdog_is_fed_only_while_the_heartbeat_advances() {
        let mut w = Watchdog::from_values(Some("2000000"), None, 1, Instant::now()).unwrap();
        assert!(w.decide(7, true), "first turn: the thread just started");
        assert!(w.decide(9, true));
        assert!(!w.decide(9, true), "stuck VRRP thread: no WATCHDOG=1");
        assert!(!w.decide(9, true));
        assert!(w.decide(10, true), "moving again");
        assert!(!w.decide(11, false), "director stopped");
    }

    #[test]
    fn ready_reaches_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("ha-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();
        notify_to(&path.to_string_lossy(), "READY=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"READY=1");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn ready_reaches_an_abstract_socket() {
        let name = format!("ha-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        notify_to(&format!("@{name}"), "STOPPING=1").unwrap();
        let mut buf = [0u8; 64];
        let n = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"STOPPING=1");
    }
}
