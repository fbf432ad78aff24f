//! `cargo xtask demo --haproxy`: the seed's second pattern, keepalived + haproxy, with `ha run
//! --vrrp` as the VRRP half, told as a timeline. It runs here, in network namespaces (no IPVS,
//! so no VM): `ha-cli`'s `haproxy_netns` test binary, its ignored `demo_haproxy` alone, the
//! same scenarios as the binary's other tests, which `cargo test` runs.

use std::path::PathBuf;
use std::process::{Command, Stdio};

use xtask::vm::{self, host};

/// Debian packages the lab needs (`haproxy_netns` and the demo; also in `TEST_PACKAGES` and
/// `.ci/run`): haproxy itself, socat for its stats socket (the check script and the lab's
/// `show stat`), busybox's httpd as the web servers. util-linux (`unshare`, `nsenter`) and
/// iproute2 are there already.
pub const PACKAGES: &[&str] = &["haproxy", "socat", "busybox-static"];

/// The test binary's arguments that run the demo alone, its output uncaptured.
const DEMO_ARGS: &[&str] = &[
    "demo_haproxy",
    "--exact",
    "--include-ignored",
    "--nocapture",
    "--test-threads=1",
];

pub fn demo() -> Result<(), String> {
    if !host::is_root() {
        return Err(
            "demo --haproxy needs root (network, PID and mount namespaces, bind mounts)".into(),
        );
    }
    host::ensure_debian_packages(PACKAGES).map_err(|e| e.to_string())?;
    let tests = test_binary().map_err(|e| e.to_string())?;
    eprintln!("xtask: the keepalived + haproxy demo, here in network namespaces (about 2 minutes)");
    let mut child = Command::new(&tests)
        .args(DEMO_ARGS)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", tests.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut previous_blank = false;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
        if let Some(line) = demo_line(&line) {
            let blank = line.trim().is_empty();
            if !(blank && previous_blank) {
                println!("{line}");
            }
            previous_blank = blank;
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the haproxy demo failed ({status})"))
    }
}

/// Builds `haproxy_netns` (and the `ha` binary it runs) and returns its path.
fn test_binary() -> Result<PathBuf, vm::Error> {
    super::cargo_executable(
        &[
            "test",
            "-p",
            "ha-cli",
            "--test",
            "haproxy_netns",
            "--no-run",
        ],
        "haproxy_netns",
    )
}

/// The demo's own output: libtest's lines of a passing run are left out; failures stay.
fn demo_line(line: &str) -> Option<&str> {
    let line = line.strip_prefix("test demo_haproxy ... ").unwrap_or(line);
    let noise =
        line == "ok" || line.starts_with("running 1 test") || line.starts_with("test result: ok.");
    (!noise).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_output_leaves_out_libtest_lines() {
        assert_eq!(demo_line("running 1 test"), None);
        assert_eq!(demo_line("test demo_haproxy ... ok"), None);
        assert_eq!(
            demo_line("test result: ok. 1 passed; 0 failed; 0 ignored"),
            None
        );
        assert_eq!(
            demo_line("test demo_haproxy ... "),
            Some(""),
            "the first line of the demo follows libtest's on the same line"
        );
        assert_eq!(
            demo_line("t+  3.2s  client   GET http://192.168.2.200/ -> web1 via proxy1"),
            Some("t+  3.2s  client   GET http://192.168.2.200/ -> web1 via proxy1")
        );
        assert!(demo_line("test demo_haproxy ... FAILED").is_some());
        assert!(demo_line("test result: FAILED. 0 passed; 1 failed").is_some());
    }
}
