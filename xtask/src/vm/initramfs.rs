//! Staging and packing the guest's root file system (an uncompressed cpio "newc" archive, which
//! the kernel unpacks into its rootfs; skipping compression keeps the build fast).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};

use super::host::{self, find_program, shared_libraries};
use super::kernel::Kernel;
use super::qemu::RESULT_SENTINEL;
use super::{io_error, Error, Result};

/// Modules every guest loads: IPVS with all its schedulers and the SIP persistence engine (the guest cannot autoload them:
/// there is no modules.dep), veth and bridge for namespace topologies, dummy for the
/// director's announce interface (`ha_announce`). Their dependencies
/// (libcrc32c, nf_defrag_*, nf_conntrack, ...) come first automatically.
pub const BASE_MODULES: &[&str] = &[
    "ip_vs",
    "ip_vs_rr",
    "ip_vs_wrr",
    "ip_vs_lc",
    "ip_vs_wlc",
    "ip_vs_fo",
    "ip_vs_ovf",
    "ip_vs_lblc",
    "ip_vs_lblcr",
    "ip_vs_dh",
    "ip_vs_sh",
    "ip_vs_mh",
    "ip_vs_sed",
    "ip_vs_nq",
    "ip_vs_pe_sip",
    "veth",
    "bridge",
    "dummy",
];

/// Busybox applets not linked because a real tool replaces them.
const REPLACED_APPLETS: &[&str] = &["ip"];

/// Sourced by init before the payload and by login shells. Debian's static busybox runs its
/// own applets before searching PATH, so the real tools need functions naming their path.
const PROFILE: &str = "export PATH=/xtask/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\n\
                       ip() { /sbin/ip \"$@\"; }\n";

/// A guest root file system being staged in a host directory.
#[derive(Debug)]
pub struct Initramfs {
    root: PathBuf,
    /// Guest paths of the modules to `insmod`, in order.
    modules: Vec<String>,
    payload: String,
}

impl Initramfs {
    /// An empty staging directory at `root` (cleared if it exists).
    pub fn empty(root: PathBuf) -> Result<Self> {
        if root.exists() {
            fs::remove_dir_all(&root).map_err(io_error(&root))?;
        }
        for dir in [
            "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "run", "tmp", "root",
            "etc", "xtask",
        ] {
            let path = root.join(dir);
            fs::create_dir_all(&path).map_err(io_error(&path))?;
        }
        let var = root.join("var");
        fs::create_dir_all(&var).map_err(io_error(&var))?;
        // iproute2 keeps named namespaces in /var/run/netns or /run/netns depending on the build.
        symlink("../run", var.join("run")).map_err(io_error(&var))?;
        fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")
            .map_err(io_error(&root))?;
        fs::write(root.join("etc/group"), "root:x:0:\n").map_err(io_error(&root))?;
        fs::write(root.join("etc/profile"), PROFILE).map_err(io_error(&root))?;
        Ok(Initramfs {
            root,
            modules: Vec::new(),
            payload: String::from("true\n"),
        })
    }

    /// The usual guest: busybox with its applets, iproute2's `ip`, `ipvsadm`, and
    /// [`BASE_MODULES`] loaded at boot.
    pub fn with_base(kernel: &Kernel, root: PathBuf) -> Result<Self> {
        let mut guest = Self::empty(root)?;
        guest.add_busybox()?;
        guest.add_binary(&find_program("ip")?, "/sbin/ip")?;
        guest.add_binary(&find_program("ipvsadm")?, "/sbin/ipvsadm")?;
        guest.add_modules(kernel, BASE_MODULES)?;
        Ok(guest)
    }

    /// The host directory being staged.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn add_busybox(&mut self) -> Result<()> {
        let busybox = find_program("busybox")?;
        self.add_binary(&busybox, "/bin/busybox")?;
        let applets = host::output(Command::new(&busybox).arg("--list-full"))?;
        for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
            let name = applet.rsplit('/').next().unwrap_or(applet);
            if REPLACED_APPLETS.contains(&name) || applet.contains("..") {
                continue;
            }
            let link = self.root.join(applet);
            if link.symlink_metadata().is_ok() {
                continue;
            }
            if let Some(parent) = link.parent() {
                fs::create_dir_all(parent).map_err(io_error(parent))?;
            }
            symlink("/bin/busybox", &link).map_err(io_error(&link))?;
        }
        Ok(())
    }

    /// Copies a host binary to `guest_path`, with the shared libraries `ldd` lists at the same
    /// paths as on the host (so the dynamic loader finds them).
    pub fn add_binary(&mut self, host_path: &Path, guest_path: &str) -> Result<()> {
        self.copy(host_path, guest_path)?;
        for library in shared_libraries(host_path)? {
            let guest = library.to_string_lossy().into_owned();
            if !self.guest(&guest)?.exists() {
                self.copy(&library, &guest)?;
            }
        }
        Ok(())
    }

    /// Writes a file into the guest; `executable` sets mode 0755, else 0644.
    pub fn add_file(&mut self, guest_path: &str, contents: &[u8], executable: bool) -> Result<()> {
        self.write_file(guest_path, contents, executable)
    }

    fn write_file(&self, guest_path: &str, contents: &[u8], executable: bool) -> Result<()> {
        let path = self.guest(guest_path)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        fs::write(&path, contents).map_err(io_error(&path))?;
        let mode = if executable { 0o755 } else { 0o644 };
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).map_err(io_error(&path))
    }

    /// Copies `names` and their dependencies into `/lib/modules/<release>/` and loads them at
    /// boot, before the payload, in dependency order.
    pub fn add_modules(&mut self, kernel: &Kernel, names: &[&str]) -> Result<()> {
        for module in kernel.modules_in_load_order(names)? {
            let relative = module
                .strip_prefix(&kernel.modules_dir)
                .expect("modules are indexed under modules_dir");
            let guest = format!("/lib/modules/{}/{}", kernel.release, relative.display());
            if !self.modules.contains(&guest) {
                self.copy(&module, &guest)?;
                self.modules.push(guest);
            }
        }
        Ok(())
    }

    /// The shell script init runs once the system is up; its exit status is the guest's
    /// result. It runs as root in `/root`, in the initial network namespace.
    pub fn set_payload(&mut self, script: &str) {
        self.payload = script.to_string();
    }

    /// Writes `/init` and packs the staged tree into `output` (a cpio newc archive).
    pub fn write_cpio(&self, output: &Path) -> Result<PathBuf> {
        self.write_file("/init", init_script(&self.modules).as_bytes(), true)?;
        let payload = format!(". /etc/profile\n{}", self.payload);
        self.write_file("/xtask/payload.sh", payload.as_bytes(), true)?;

        let mut entries = Vec::new();
        list_tree(&self.root, Path::new(""), &mut entries)?;
        let archive = fs::File::create(output).map_err(io_error(output))?;
        let mut cpio = Command::new(find_program("cpio")?)
            .args(["--create", "--format=newc", "--owner=0:0", "--quiet"])
            .current_dir(&self.root)
            .stdin(Stdio::piped())
            .stdout(archive)
            .spawn()
            .map_err(|source| Error::Spawn {
                command: "cpio --create".into(),
                source,
            })?;
        {
            let mut stdin = cpio.stdin.take().expect("stdin is piped");
            for entry in &entries {
                writeln!(stdin, "{}", entry.display()).map_err(io_error(output))?;
            }
        }
        let status = cpio.wait().map_err(io_error(output))?;
        if !status.success() {
            return Err(Error::Command {
                command: "cpio --create".into(),
                status,
                stderr: String::new(),
            });
        }
        Ok(output.to_path_buf())
    }

    fn guest(&self, guest_path: &str) -> Result<PathBuf> {
        let path = Path::new(guest_path);
        if !path.is_absolute()
            || path
                .components()
                .any(|component| matches!(component, Component::ParentDir))
        {
            return Err(Error::GuestPath(guest_path.to_string()));
        }
        Ok(self.root.join(path.strip_prefix("/").expect("absolute")))
    }

    fn copy(&mut self, host_path: &Path, guest_path: &str) -> Result<()> {
        let path = self.guest(guest_path)?;
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        // fs::copy follows symlinks: the guest gets the library under the name ldd printed.
        fs::copy(host_path, &path).map_err(io_error(host_path))?;
        Ok(())
    }
}

/// Every path under `dir`, parents before their children, relative to the staging root.
fn list_tree(root: &Path, relative: &Path, entries: &mut Vec<PathBuf>) -> Result<()> {
    let dir = root.join(relative);
    let mut children: Vec<PathBuf> = fs::read_dir(&dir)
        .map_err(io_error(&dir))?
        .map(|entry| entry.map(|entry| relative.join(entry.file_name())))
        .collect::<Result<_, _>>()
        .map_err(io_error(&dir))?;
    children.sort();
    for child in children {
        entries.push(child.clone());
        let full = root.join(&child);
        if full.symlink_metadata().map_err(io_error(&full))?.is_dir() {
            list_tree(root, &child, entries)?;
        }
    }
    Ok(())
}

fn init_script(modules: &[String]) -> String {
    let mut script = String::from(
        "#!/bin/sh\n\
         # Generated by xtask::vm::Initramfs: mount, load modules, run the payload, report.\n\
         . /etc/profile\n\
         mount -t proc proc /proc\n\
         mount -t sysfs sysfs /sys\n\
         mount -t devtmpfs devtmpfs /dev\n\
         mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts\n\
         mount -t tmpfs tmpfs /run && mkdir -p /run/netns\n\
         fail() { echo \"xtask-init: $*\"; echo \"",
    );
    script.push_str(RESULT_SENTINEL);
    script.push_str(
        " 125\"; poweroff -f; }\n\
         for module in",
    );
    for module in modules {
        script.push(' ');
        script.push_str(module);
    }
    script.push_str(
        "; do\n    insmod \"$module\" || fail \"insmod $module failed\"\n\
         done\n\
         ip link set lo up || fail 'cannot bring up lo'\n\
         hostname xtask-vm\n\
         cd /root\n\
         sh /xtask/payload.sh\n\
         code=$?\n\
         sync\n\
         echo \"",
    );
    script.push_str(RESULT_SENTINEL);
    script.push_str(
        " $code\"\n\
         poweroff -f\n",
    );
    script
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_script_loads_modules_in_order_and_reports() {
        let script = init_script(&["/lib/modules/r/a.ko".into(), "/lib/modules/r/b.ko".into()]);
        assert!(script.contains("for module in /lib/modules/r/a.ko /lib/modules/r/b.ko; do"));
        assert!(script.contains("echo \"XTASK-RESULT: $code\""));
        assert!(script.ends_with("poweroff -f\n"));
    }

    #[test]
    fn guest_paths_must_be_absolute_and_stay_inside() {
        let root =
            std::env::temp_dir().join(format!("xtask-initramfs-test-{}", std::process::id()));
        let guest = Initramfs::empty(root.clone()).unwrap();
        assert!(matches!(guest.guest("bin/x"), Err(Error::GuestPath(_))));
        assert!(matches!(
            guest.guest("/bin/../../x"),
            Err(Error::GuestPath(_))
        ));
        assert_eq!(guest.guest("/bin/x").unwrap(), root.join("bin/x"));
        fs::remove_dir_all(root).unwrap();
    }
}
