//! The host side: Debian packages, programs on PATH, running commands, shared libraries.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::{Error, Result};

/// Debian packages the VM needs on the host.
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "ipvsadm",
    "iproute2",
    // FRR's daemons, staged into the guest for the scale-out test.
    "frr",
];

/// Installs the missing [`PACKAGES`] with apt-get (running `apt-get update` first).
pub fn ensure_packages() -> Result<()> {
    ensure_debian_packages(PACKAGES)
}

/// Installs whichever of `packages` are missing with apt-get (running `apt-get update` first).
pub fn ensure_debian_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<String> = packages
        .iter()
        .filter(|package| !package_installed(package))
        .map(|package| package.to_string())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(Error::PackagesMissing(missing));
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))?;
    Ok(())
}

fn package_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|out| {
            out.status.success() && status_is_installed(&String::from_utf8_lossy(&out.stdout))
        })
}

/// Whether dpkg's `want ok status` triple says installed: the status word must be exactly
/// `installed` (`not-installed`, `config-files`, `half-configured`, ... are not).
fn status_is_installed(status: &str) -> bool {
    status.split_whitespace().nth(2) == Some("installed")
}

/// Whether this process runs as root (from `/proc/self/status`, to stay free of `unsafe`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Finds `program` in PATH and the sbin directories (which a non-root PATH often lacks).
pub fn find_program(program: &str) -> Result<PathBuf> {
    let mut dirs: Vec<String> = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|dir| !dir.is_empty())
        .map(str::to_string)
        .collect();
    for extra in ["/usr/sbin", "/sbin", "/usr/bin", "/bin"] {
        if !dirs.iter().any(|dir| dir == extra) {
            dirs.push(extra.to_string());
        }
    }
    dirs.iter()
        .map(|dir| Path::new(dir).join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| Error::ProgramNotFound {
            program: program.to_string(),
            dirs,
        })
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs a command with inherited stdio, echoing it first; fails unless it exits 0.
pub fn run(command: &mut Command) -> Result<()> {
    let description = describe(command);
    eprintln!("+ {description}");
    let status = command.status().map_err(|source| Error::Spawn {
        command: description.clone(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(Error::Command {
            command: description,
            status,
            stderr: String::new(),
        })
    }
}

/// Runs a command and returns its stdout; fails (with its stderr) unless it exits 0.
pub fn output(command: &mut Command) -> Result<String> {
    let description = describe(command);
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            command: description.clone(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(Error::Command {
            command: description,
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The shared libraries (and the dynamic loader) `ldd` lists for `binary`, as absolute host
/// paths; empty for a static binary.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(binary)
        .env("LC_ALL", "C")
        .output()
        .map_err(|source| Error::Spawn {
            command: format!("ldd {}", binary.display()),
            source,
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // ldd exits 1 for static binaries; anything else is a real failure.
        let stderr = String::from_utf8_lossy(&out.stderr);
        if stdout.contains("not a dynamic executable")
            || stderr.contains("not a dynamic executable")
        {
            return Ok(Vec::new());
        }
        return Err(Error::Command {
            command: format!("ldd {}", binary.display()),
            status: out.status,
            stderr: stderr.trim().to_string(),
        });
    }
    Ok(parse_ldd(&stdout))
}

/// Parses `ldd` output: `name => /path (0x...)` and `/lib64/ld-linux... (0x...)` lines carry a
/// library; `linux-vdso.so.1 (0x...)` lives in the kernel and is skipped.
pub fn parse_ldd(stdout: &str) -> Vec<PathBuf> {
    stdout
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.trim(),
                None => line,
            };
            let path = path.split(" (").next()?.trim();
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// The value of an environment variable when set and not empty.
pub fn env_nonempty(name: impl AsRef<OsStr>) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_statuses_as_dpkg_query_prints_them() {
        // What `dpkg-query -W -f='${Status}' P` prints, from Debian's dpkg.
        assert!(status_is_installed("install ok installed"));
        assert!(status_is_installed("hold ok installed"));
        assert!(!status_is_installed("unknown ok not-installed"));
        assert!(!status_is_installed("deinstall ok config-files"));
        assert!(!status_is_installed("install ok half-configured"));
        assert!(!status_is_installed("install ok unpacked"));
        assert!(!status_is_installed("install reinstreq half-installed"));
        assert!(!status_is_installed(""));
    }

    #[test]
    fn this_machines_dpkg_agrees() {
        // dpkg itself is installed wherever dpkg-query runs; a made-up name never is.
        if find_program("dpkg-query").is_err() {
            return;
        }
        assert!(package_installed("dpkg"));
        assert!(!package_installed("ha-no-such-package"));
    }

    #[test]
    fn parse_ldd_keeps_libraries_and_loader_skips_vdso() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                   \tlibpopt.so.0 => /lib/x86_64-linux-gnu/libpopt.so.0 (0x00007f27)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f27)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f27)\n";
        assert_eq!(
            parse_ldd(out),
            vec![
                PathBuf::from("/lib/x86_64-linux-gnu/libpopt.so.0"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
    }

    #[test]
    fn parse_ldd_of_static_binary_is_empty() {
        assert!(parse_ldd("\tnot a dynamic executable\n").is_empty());
    }
}
