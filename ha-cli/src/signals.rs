//! keepalived's signals, for `ha run`: blocked in every thread before any starts, then taken
//! one at a time by a thread of its own with `sigwait`.
//!
//! | signal | keepalived's `--signum=` | `ha run` |
//! | --- | --- | --- |
//! | SIGTERM, SIGINT | STOP | graceful stop |
//! | SIGHUP | RELOAD | reload the configuration file |
//! | SIGUSR1 | DATA | write `keepalived.data` (and `keepalived_check.data`) |
//! | SIGUSR2 | STATS | write `keepalived.stats` |
//! | SIGRTMAX-1 | STATS_CLEAR | write `keepalived.stats` (counters are not cleared) |
//! | SIGRTMIN+2 | JSON | write `keepalived.json` |
//! | SIGRTMAX | TDUMP | logged, nothing else (keepalived's debug builds dump threads) |
//!
//! Real-time signals kill a process by default, and `nix`'s `Signal` cannot name them: this
//! module builds the set from numbers with libc (the only `unsafe` of the binary).
#![allow(unsafe_code)]

use std::io;

use nix::libc;

/// What a signal asks of `ha run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    Stop,
    Reload,
    /// keepalived's DATA: the configuration and state, as text.
    Data,
    /// keepalived's STATS: per-instance counters, as text.
    Stats,
    /// keepalived's STATS_CLEAR: the same file (ha's counters only grow, as Prometheus wants).
    StatsClear,
    /// keepalived's JSON: instances and counters, as JSON.
    Json,
    /// keepalived's TDUMP (thread dump of its debug builds).
    ThreadDump,
}

/// keepalived's `SIGJSON`.
pub fn sigjson() -> i32 {
    libc::SIGRTMIN() + 2
}

/// keepalived's `SIGSTATS_CLEAR`.
pub fn sigstats_clear() -> i32 {
    libc::SIGRTMAX() - 1
}

/// keepalived's `SIGTDUMP`.
pub fn sigtdump() -> i32 {
    libc::SIGRTMAX()
}

/// `keepalived --signum=NAME`: the number of the signal that asks for NAME (STOP, RELOAD,
/// DATA, STATS, STATS_CLEAR, JSON), as keepalived 2.2.7 prints it; keepalived knows no other
/// names (not TDUMP), nor does this.
pub fn signum(name: &str) -> Option<i32> {
    Some(match name {
        "STOP" => libc::SIGTERM,
        "RELOAD" => libc::SIGHUP,
        "DATA" => libc::SIGUSR1,
        "STATS" => libc::SIGUSR2,
        "STATS_CLEAR" => sigstats_clear(),
        "JSON" => sigjson(),
        _ => return None,
    })
}

/// Every signal `ha run` takes, with what it asks.
pub fn handled() -> Vec<(i32, Request)> {
    vec![
        (libc::SIGTERM, Request::Stop),
        (libc::SIGINT, Request::Stop),
        (libc::SIGHUP, Request::Reload),
        (libc::SIGUSR1, Request::Data),
        (libc::SIGUSR2, Request::Stats),
        (sigstats_clear(), Request::StatsClear),
        (sigjson(), Request::Json),
        (sigtdump(), Request::ThreadDump),
    ]
}

/// What `signal` asks, if `ha run` takes it.
pub fn request(signal: i32) -> Option<Request> {
    handled()
        .into_iter()
        .find(|(s, _)| *s == signal)
        .map(|(_, r)| r)
}

/// `SIGUSR1`, `SIGRTMIN+2`, `SIGRTMAX-1`: as `kill -l` and keepalived's documentation name them.
pub fn name(signal: i32) -> String {
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    if (min..=max).contains(&signal) {
        let from_min = signal - min;
        let from_max = max - signal;
        return if from_max == 0 {
            "SIGRTMAX".into()
        } else if from_min <= from_max {
            format!("SIGRTMIN+{from_min}")
        } else {
            format!("SIGRTMAX-{from_max}")
        };
    }
    match nix::sys::signal::Signal::try_from(signal) {
        Ok(s) => s.as_str().to_string(),
        Err(_) => format!("signal {signal}"),
    }
}

/// A set of signals by number.
#[derive(Clone, Copy)]
pub struct SignalSet {
    set: libc::sigset_t,
}

impl std::fmt::Debug for SignalSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignalSet")
    }
}

impl SignalSet {
    /// The signals of [`handled`].
    pub fn keepalived() -> io::Result<SignalSet> {
        let mut set = SignalSet::empty();
        for (signal, _) in handled() {
            set.add(signal)?;
        }
        Ok(set)
    }

    pub fn empty() -> SignalSet {
        let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
        // SAFETY: sigemptyset initialises the set it is given.
        unsafe {
            libc::sigemptyset(set.as_mut_ptr());
            SignalSet {
                set: set.assume_init(),
            }
        }
    }

    pub fn add(&mut self, signal: i32) -> io::Result<()> {
        // SAFETY: the set is initialised; an invalid number is an error, not UB.
        if unsafe { libc::sigaddset(&mut self.set, signal) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Blocks the set in the calling thread; threads started from it afterwards inherit this.
    pub fn block(&self) -> io::Result<()> {
        // SAFETY: valid set, no old set asked for.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.set, std::ptr::null_mut()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(rc))
        }
    }

    /// Waits for one of the set's signals (blocked in every thread) and returns its number.
    pub fn wait(&self) -> io::Result<i32> {
        let mut signal = 0;
        // SAFETY: valid set and out pointer.
        let rc = unsafe { libc::sigwait(&self.set, &mut signal) };
        if rc == 0 {
            Ok(signal)
        } else {
            Err(io::Error::from_raw_os_error(rc))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_keepalived_s() {
        // `keepalived --signum=JSON` prints 36 and `--signum=STATS_CLEAR` 63 with glibc.
        assert_eq!(sigjson(), 36);
        assert_eq!(sigstats_clear(), 63);
        assert_eq!(request(libc::SIGUSR1), Some(Request::Data));
        assert_eq!(request(libc::SIGUSR2), Some(Request::Stats));
        assert_eq!(request(36), Some(Request::Json));
        assert_eq!(request(libc::SIGQUIT), None);
    }

    #[test]
    fn names_are_kill_s() {
        assert_eq!(name(libc::SIGUSR1), "SIGUSR1");
        assert_eq!(name(sigjson()), "SIGRTMIN+2");
        assert_eq!(name(sigstats_clear()), "SIGRTMAX-1");
        assert_eq!(name(sigtdump()), "SIGRTMAX");
    }

    #[test]
    fn a_blocked_signal_is_waited_for_not_delivered() {
        // On a thread of its own, so that the test harness's threads keep their masks.
        std::thread::spawn(|| {
            let mut set = SignalSet::empty();
            set.add(sigjson()).unwrap();
            set.block().unwrap();
            // SAFETY: raises the blocked signal on this thread only.
            let rc = unsafe { libc::pthread_kill(libc::pthread_self(), sigjson()) };
            assert_eq!(rc, 0);
            assert_eq!(set.wait().unwrap(), sigjson());
        })
        .join()
        .unwrap();
    }
}
