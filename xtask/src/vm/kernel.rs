//! The guest kernel: Debian's cloud kernel package, downloaded once and cached.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::host::{self, env_nonempty};
use super::{io_error, Error, Result};

/// The metapackage whose dependency names the current cloud kernel image.
const METAPACKAGE: &str = "linux-image-cloud-amd64";
/// Overrides the kernel package, e.g. `linux-image-6.1.0-56-cloud-amd64`.
const PACKAGE_ENV: &str = "XTASK_VM_KERNEL_PACKAGE";
/// Written last into a cache entry, so an interrupted download is redone.
const COMPLETE_MARKER: &str = ".complete";

/// An unpacked kernel image package: the kernel to boot and its modules.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Debian package name, e.g. `linux-image-6.1.0-56-cloud-amd64`.
    pub package: String,
    /// `uname -r` of the kernel, e.g. `6.1.0-56-cloud-amd64`.
    pub release: String,
    pub vmlinuz: PathBuf,
    /// `lib/modules/<release>` of the unpacked package.
    pub modules_dir: PathBuf,
}

impl Kernel {
    /// Returns the cached kernel, downloading and unpacking it under `cache/kernel/` first if
    /// needed. Without apt metadata (offline) it falls back to the newest cached kernel.
    pub fn fetch(cache: &Path) -> Result<Kernel> {
        let kernels = cache.join("kernel");
        let package = match env_nonempty(PACKAGE_ENV) {
            Some(package) => package,
            None => match current_package() {
                Ok(package) => package,
                Err(error) => match newest_cached(&kernels) {
                    Some(package) => {
                        eprintln!("xtask: {error}; using cached {package}");
                        package
                    }
                    None => return Err(error),
                },
            },
        };
        let dir = kernels.join(&package);
        if !dir.join(COMPLETE_MARKER).is_file() {
            download(&package, &dir)?;
        }
        Self::from_unpacked(package, &dir)
    }

    fn from_unpacked(package: String, dir: &Path) -> Result<Kernel> {
        let release = package
            .strip_prefix("linux-image-")
            .ok_or_else(|| Error::Kernel {
                package: package.clone(),
                reason: "name does not start with linux-image-".into(),
            })?
            .to_string();
        let vmlinuz = dir.join("boot").join(format!("vmlinuz-{release}"));
        let modules_dir = dir.join("lib/modules").join(&release);
        for path in [&vmlinuz, &modules_dir] {
            if !path.exists() {
                return Err(Error::Kernel {
                    package,
                    reason: format!("{} is missing from the package", path.display()),
                });
            }
        }
        Ok(Kernel {
            package,
            release,
            vmlinuz,
            modules_dir,
        })
    }

    /// The `.ko` files for `names` and everything they depend on, dependencies first: the order
    /// `insmod` needs. Names may use `-` or `_`.
    pub fn modules_in_load_order(&self, names: &[&str]) -> Result<Vec<PathBuf>> {
        let mut index = BTreeMap::new();
        index_modules(&self.modules_dir, &mut index)?;
        let mut order = Vec::new();
        let mut seen = BTreeSet::new();
        for name in names {
            self.visit(&normalize(name), &index, &mut seen, &mut order)?;
        }
        Ok(order)
    }

    fn visit(
        &self,
        name: &str,
        index: &BTreeMap<String, PathBuf>,
        seen: &mut BTreeSet<String>,
        order: &mut Vec<PathBuf>,
    ) -> Result<()> {
        if !seen.insert(name.to_string()) {
            return Ok(());
        }
        let path = index.get(name).ok_or_else(|| Error::ModuleNotFound {
            name: name.to_string(),
            dir: self.modules_dir.clone(),
        })?;
        let bytes = fs::read(path).map_err(io_error(path))?;
        for dependency in module_depends(&bytes) {
            self.visit(&normalize(dependency), index, seen, order)?;
        }
        order.push(path.clone());
        Ok(())
    }
}

/// Asks apt which versioned image the metapackage currently depends on.
fn current_package() -> Result<String> {
    let lookup = || -> Result<Option<String>> {
        let out = host::output(Command::new("apt-cache").args(["depends", METAPACKAGE]))?;
        Ok(out.lines().find_map(|line| {
            let dependency = line.trim().strip_prefix("Depends:")?.trim();
            dependency
                .starts_with("linux-image-")
                .then(|| dependency.to_string())
        }))
    };
    if let Ok(Some(package)) = lookup() {
        return Ok(package);
    }
    // A fresh container often has no package lists yet.
    if host::is_root() {
        host::run(Command::new("apt-get").args(["update", "-qq"]))?;
    }
    lookup()?.ok_or_else(|| Error::Kernel {
        package: METAPACKAGE.into(),
        reason: format!(
            "apt-cache names no linux-image dependency (set {PACKAGE_ENV} to pick one)"
        ),
    })
}

fn newest_cached(kernels: &Path) -> Option<String> {
    let mut cached: Vec<(std::time::SystemTime, String)> = fs::read_dir(kernels)
        .ok()?
        .flatten()
        .filter(|entry| entry.path().join(COMPLETE_MARKER).is_file())
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((modified, entry.file_name().to_str()?.to_string()))
        })
        .collect();
    cached.sort();
    cached.pop().map(|(_, package)| package)
}

/// `apt-get download` + `dpkg -x` into `dir`, via a sibling private to this process that is
/// renamed when complete (a concurrent run that finished first wins).
fn download(package: &str, dir: &Path) -> Result<()> {
    let partial = dir.with_extension(format!("partial-{}", std::process::id()));
    if partial.exists() {
        fs::remove_dir_all(&partial).map_err(io_error(&partial))?;
    }
    fs::create_dir_all(&partial).map_err(io_error(&partial))?;
    host::run(
        Command::new("apt-get")
            .args(["download", "-q", package])
            .current_dir(&partial),
    )
    .map_err(|error| {
        let _ = fs::remove_dir_all(&partial);
        Error::Kernel {
            package: package.into(),
            reason: format!("cannot download it: {error}"),
        }
    })?;
    let deb = fs::read_dir(&partial)
        .map_err(io_error(&partial))?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .ok_or_else(|| Error::Kernel {
            package: package.into(),
            reason: "apt-get download produced no .deb".into(),
        })?;
    host::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&partial))?;
    fs::remove_file(&deb).map_err(io_error(&deb))?;
    fs::write(partial.join(COMPLETE_MARKER), package).map_err(io_error(&partial))?;
    if dir.join(COMPLETE_MARKER).is_file() {
        return fs::remove_dir_all(&partial).map_err(io_error(&partial));
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(io_error(dir))?;
    }
    fs::rename(&partial, dir).map_err(io_error(dir))
}

fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

fn index_modules(dir: &Path, index: &mut BTreeMap<String, PathBuf>) -> Result<()> {
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.is_dir() {
            index_modules(&path, index)?;
        } else if let Some(stem) = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".ko"))
        {
            index.insert(normalize(stem), path.clone());
        }
    }
    Ok(())
}

/// The `depends=` entry of a module's `.modinfo` section: NUL-separated `key=value` strings,
/// found by scanning rather than parsing ELF since the key is unique in the file.
fn module_depends(ko: &[u8]) -> Vec<&str> {
    const KEY: &[u8] = b"\0depends=";
    let Some(start) = ko.windows(KEY.len()).position(|window| window == KEY) else {
        return Vec::new();
    };
    let value = &ko[start + KEY.len()..];
    let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
    std::str::from_utf8(&value[..end])
        .unwrap_or("")
        .split(',')
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_depends_reads_the_modinfo_entry() {
        let ko = b"\x7fELF junk\0license=GPL\0depends=nf_conntrack,libcrc32c\0intree=Y\0";
        assert_eq!(module_depends(ko), ["nf_conntrack", "libcrc32c"]);
    }

    #[test]
    fn module_depends_empty_and_missing() {
        assert!(module_depends(b"\0depends=\0vermagic=6.1\0").is_empty());
        assert!(module_depends(b"no modinfo here").is_empty());
    }
}
