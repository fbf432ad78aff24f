//! The IPVS test VM: the host kernel has no IPVS, so real-kernel tests boot Debian's cloud kernel
//! under qemu (TCG) with a busybox initramfs and run inside it.
//!
//! The pieces, in the order a command uses them:
//!
//! 1. [`host::ensure_packages`] installs qemu, busybox-static, cpio, ipvsadm and iproute2 when
//!    missing.
//! 2. [`Kernel::fetch`] downloads the kernel package with `apt-get download` once and caches it
//!    under `target/vm-cache`, so a fresh clone fetches it again by itself.
//! 3. [`Initramfs`] stages a root file system: busybox and its applets, iproute2's `ip` (busybox
//!    `ip` has no `netns`), `ipvsadm`, any binaries you add (with the libraries `ldd` lists),
//!    extra files, the kernel modules to load, and an init script running your payload.
//! 4. [`Vm::run`] boots it, streams the serial console to stdout and turns the guest's
//!    `XTASK-RESULT: <code>` line into the result; a timeout kills qemu.
//!
//! ```no_run
//! use xtask::vm::{self, Initramfs, Kernel, Vm};
//! # fn main() -> Result<(), vm::Error> {
//! vm::host::ensure_packages()?;
//! let cache = vm::cache_dir();
//! let kernel = Kernel::fetch(&cache)?;
//! let staging = vm::scratch_path(&cache, "example");
//! let mut guest = Initramfs::with_base(&kernel, staging.clone())?;
//! guest.set_payload("ipvsadm -Ln");
//! let initrd = guest.write_cpio(&staging.with_extension("cpio"))?;
//! let code = Vm::new(&kernel, initrd).run(|line| println!("{line}"))?;
//! assert_eq!(code, 0);
//! # Ok(()) }
//! ```

pub mod host;
mod initramfs;
mod kernel;
mod qemu;

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

pub use initramfs::{Initramfs, BASE_MODULES};
pub use kernel::Kernel;
pub use qemu::{parse_result_line, Vm, RESULT_SENTINEL};

/// Everything that can go wrong preparing or running the VM.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    #[error("`{command}` failed ({status}){}", if stderr.is_empty() { String::new() } else { format!(": {stderr}") })]
    Command {
        command: String,
        status: ExitStatus,
        stderr: String,
    },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "host packages {} are missing and only root can install them \
         (run as root, or `apt-get install` them)",
        .0.join(" ")
    )]
    PackagesMissing(Vec<String>),
    #[error("{program} not found on the host (looked in {})", dirs.join(":"))]
    ProgramNotFound { program: String, dirs: Vec<String> },
    #[error("kernel package {package}: {reason}")]
    Kernel { package: String, reason: String },
    #[error("kernel module {name} is not under {}", dir.display())]
    ModuleNotFound { name: String, dir: PathBuf },
    #[error("guest path {0:?} must be absolute and must not contain `..`")]
    GuestPath(String),
    #[error("cargo built no executable for {0}")]
    NoExecutable(String),
    #[error("guest reported no result within {0:?} (qemu killed)")]
    Timeout(Duration),
    #[error("guest payload exited with status {0}")]
    GuestFailed(i32),
    #[error("guest stopped without printing `{RESULT_SENTINEL} <code>` (qemu {0})")]
    NoResult(ExitStatus),
}

impl Error {
    /// True when the host cannot run the VM at all (as opposed to the VM or its tests failing):
    /// callers outside CI may skip, loudly, on these.
    pub fn is_environment(&self) -> bool {
        matches!(
            self,
            Error::PackagesMissing(_) | Error::ProgramNotFound { .. } | Error::Kernel { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where downloads and staged guests live: `$CARGO_TARGET_DIR/vm-cache`, else
/// `<workspace>/target/vm-cache`.
pub fn cache_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("vm-cache")
}

/// A staging path for guest `name` private to this process, under `cache/guests/`, so
/// concurrent runs sharing a target directory do not overwrite each other's initramfs.
/// Leftovers of processes that are gone are removed on the way.
pub fn scratch_path(cache: &Path, name: &str) -> PathBuf {
    let guests = cache.join("guests");
    if let Ok(entries) = std::fs::read_dir(&guests) {
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let pid = file_name
                .to_str()
                .and_then(|n| n.rsplit('-').next())
                .and_then(|tail| tail.split('.').next())
                .and_then(|pid| pid.parse::<u32>().ok());
            if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
                let path = entry.path();
                let _ = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
            }
        }
    }
    guests.join(format!("{name}-{}", std::process::id()))
}

/// The workspace root: the parent of xtask's manifest directory, which `cargo run` passes at
/// run time (the compile-time value goes stale when a build is reused from another checkout).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

pub(crate) fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}
