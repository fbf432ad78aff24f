//! keepalived 2.2.7 (Debian's) in a namespace, for interoperability tests: VRRP only
//! (`-P`), its own pid files, stopped with SIGTERM (priority-0 adverts) on drop.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use testkit::Netns;

pub struct Keepalived {
    child: Child,
    dir: PathBuf,
}

impl Keepalived {
    /// Starts keepalived with this configuration text in `ns`.
    pub fn start(ns: &Netns, tag: &str, conf: &str) -> Keepalived {
        let dir = std::env::temp_dir().join(format!("ha-ka-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("keepalived.conf");
        std::fs::write(&path, conf).unwrap();
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
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("log")).unwrap())
            .spawn()
            .expect("keepalived (apt-get install keepalived)");
        Keepalived { child, dir }
    }

    /// What keepalived logged (to stderr with -l).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

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
