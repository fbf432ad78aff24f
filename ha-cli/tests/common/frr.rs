//! FRR's daemons in a network namespace, for the scale-out tests (Debian's `frr`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use testkit::Netns;

/// Where Debian installs the daemons.
pub const FRR: &str = "/usr/lib/frr";

/// `examples/scale-out/NAME`: under `$HA_EXAMPLES_DIR/scale-out` in the VM (no checkout
/// there), else the workspace's.
pub fn example(name: &str) -> PathBuf {
    match std::env::var_os("HA_EXAMPLES_DIR") {
        Some(dir) => PathBuf::from(dir).join("scale-out").join(name),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/scale-out")
            .join(name),
    }
}

/// A directory removed (with what is left in it) when dropped.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// FRR's zebra, bfdd and bgpd in `ns`, with their files in `dir`, configured by vtysh from
/// `config` (the daemons start empty: each would read only its own part of an integrated
/// file). Stopped (by their pid files) when dropped.
pub struct Frr {
    ns: String,
    dir: PathBuf,
}

impl Frr {
    pub fn start(ns: &Netns, dir: PathBuf, config: &Path) -> Frr {
        std::fs::create_dir_all(&dir).unwrap();
        let frr = Frr {
            ns: ns.name.clone(),
            dir,
        };
        let empty = frr.dir.join("empty.conf");
        std::fs::write(&empty, "").unwrap();
        // The daemons run as frr (the package's user, in the frrvty group vtysh needs).
        let user = nix::unistd::User::from_name("frr")
            .unwrap()
            .expect("user frr");
        for path in [&frr.dir, &empty] {
            nix::unistd::chown(path, Some(user.uid), Some(user.gid)).unwrap();
        }
        for daemon in ["zebra", "bfdd", "bgpd"] {
            let d = frr.dir.display();
            let out = Command::new("ip")
                .args(["netns", "exec", &frr.ns])
                .arg(Path::new(FRR).join(daemon))
                .args(["-d", "-u", "frr", "-g", "frr", "-P", "0"])
                .args(["-f", &format!("{d}/empty.conf")])
                .args(["-i", &format!("{d}/{daemon}.pid")])
                .args(["-z", &format!("{d}/zserv.api")])
                .args(["--vty_socket", &d.to_string()])
                .args(["--log", &format!("file:{d}/{daemon}.log")])
                .output()
                .unwrap();
            assert!(out.status.success(), "{daemon}: {out:?}");
        }
        let out = frr.vtysh(&["-f", config.to_str().unwrap()]);
        assert!(!out.contains('%'), "vtysh -f {}: {out}", config.display());
        frr
    }

    pub fn vtysh(&self, args: &[&str]) -> String {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns, "vtysh", "--vty_socket"])
            .arg(&self.dir)
            .args(args)
            .output()
            .unwrap();
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for daemon in ["bgpd", "bfdd", "zebra"] {
            if let Ok(pid) = std::fs::read_to_string(self.dir.join(format!("{daemon}.pid"))) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
