//! keepalived 2.2.7 (Debian's) in a network namespace, VRRP only, with its log kept: the
//! reference peer of the interoperability tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command};

use testkit::Netns;

/// A running keepalived; stopped with SIGTERM (its priority-0 advert) on drop.
pub struct Keepalived {
    pub child: Child,
    dir: PathBuf,
    pub log: PathBuf,
}

impl Keepalived {
    /// Starts `keepalived -P -n -l -D` in `ns` with the configuration `text`.
    pub fn start(ns: &Netns, tag: &str, text: &str) -> Keepalived {
        let dir = std::env::temp_dir().join(format!("ha-ka-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, text).unwrap();
        let log = dir.join("keepalived.log");
        let file = std::fs::File::create(&log).unwrap();
        let pid = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "keepalived",
                "-P",
                "-n",
                "-l",
                "-D",
                "-f",
            ])
            .arg(&path)
            .args([
                "-p",
                &pid("k.pid"),
                "-r",
                &pid("v.pid"),
                "-c",
                &pid("c.pid"),
                "-b",
                &pid("b.pid"),
            ])
            // `-l` logs to the console: stderr (and a few lines on stdout).
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("keepalived (apt-get install keepalived)");
        Keepalived { child, dir, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait: keepalived sends its priority-0 advert and removes its VIPs.
    pub fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for Keepalived {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What keepalived logs when it rejects or distrusts a peer's advert: any of these in its log
/// is a complaint about ours.
pub const COMPLAINTS: &[&str] = &[
    "invalid",
    "Invalid",
    "mismatch",
    "not present",
    "bad ",
    "Bad ",
    "wrong",
    "ignoring",
    "unknown",
    "not in range",
    "error",
];

/// The lines of keepalived's log that complain about what it received.
pub fn complaints(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| COMPLAINTS.iter().any(|c| l.contains(c)))
        // Its own start-up notes are not about us.
        .filter(|l| !l.contains("max_auto_priority") && !l.contains("script_security"))
        .collect()
}
