//! `ha run` in a network namespace, driven as an operator would: started with a configuration,
//! asked through `ha status` / `ha reload` on its control socket, signalled, and its log read.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use testkit::Netns;

/// The seed's example configuration `name` (`../shared/examples`).
pub fn example(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/examples")
        .join(name)
}

pub struct Director {
    pub child: Child,
    pub log: PathBuf,
    pub socket: PathBuf,
    /// A configuration file the test wrote for this director, removed with it.
    pub written_config: Option<PathBuf>,
}

impl Director {
    pub fn start(ns: &Netns, conf: &str) -> Director {
        Director::start_path(ns, &example(conf))
    }

    pub fn start_path(ns: &Netns, path: &std::path::Path) -> Director {
        Director::start_path_with(ns, path, &[], &[])
    }

    /// [`start_path`](Self::start_path) with more arguments and environment variables.
    pub fn start_path_with(
        ns: &Netns,
        path: &std::path::Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Director {
        let conf = path.file_name().unwrap().to_string_lossy().into_owned();
        let tmp = std::env::temp_dir();
        let log = tmp.join(format!(
            "ha-run-{}-{}-{conf}.log",
            ns.name,
            std::process::id()
        ));
        // Both directors share this machine's filesystem: each needs its own control socket.
        let socket = tmp.join(format!("ha-{}-{conf}.sock", ns.name));
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                env!("CARGO_BIN_EXE_ha"),
                "run",
                "-f",
            ])
            .arg(path)
            .arg("--control-socket")
            .arg(&socket)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let director = Director {
            child,
            log,
            socket,
            written_config: None,
        };
        // Ready when its control socket answers (a killed predecessor may have left the file).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::os::unix::net::UnixStream::connect(&director.socket).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "ha run did not come up:\n{}",
                director.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        director
    }

    /// `ha status --json` against this director.
    pub fn status(&self) -> serde_json::Value {
        let out = Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["status", "--json", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "ha status: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn status_table(&self) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["status", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn signal(&mut self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.child.id() as i32), signal);
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Director {
    fn drop(&mut self) {
        self.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = std::fs::remove_file(&self.log);
        let _ = std::fs::remove_file(&self.socket);
        if let Some(path) = &self.written_config {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// A director started from configuration text (written to a temporary file).
pub fn start_with(ns: &Netns, name: &str, text: &str) -> Director {
    let path = std::env::temp_dir().join(format!("ha-{}-{name}", ns.name));
    std::fs::write(&path, text).unwrap();
    let mut director = Director::start_path(ns, &path);
    director.written_config = Some(path);
    director
}

impl Director {
    /// `ha reload` against this director: (success, printed message).
    pub fn reload(&self) -> (bool, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_ha"))
            .args(["reload", "--socket"])
            .arg(&self.socket)
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    }
}
