//! `cargo xtask dist [--check]`: the Debian package of `ha`, built with cargo-deb from
//! `ha-cli/Cargo.toml`'s `[package.metadata.deb]`.
//!
//! 1. `cargo build --release -p ha-cli`;
//! 2. man pages (`ha man --dir`: ha.8 and one per subcommand) and bash, zsh and fish
//!    completions (`ha completions SHELL`) generated into `target/dist/` (not committed);
//! 3. `cargo deb -p ha-cli --no-build`: `/usr/sbin/ha` stripped, its debug symbols in the
//!    `ha-dbgsym` package beside it, `ha.service` installed but neither enabled nor started,
//!    `/etc/default/ha` as a conffile; into `target/dist/`.
//!
//! `--check` (root) then installs the package with `dpkg -i` on this machine, checks
//! `ha --version`, `man -w ha`, the completion files and the unit (`systemd-analyze verify`
//! where it exists; the unit must be neither enabled nor active), and purges it. `.ci/run`
//! runs it after `cargo xtask test` (not inside it: the release build and the compression of
//! the debug symbols take minutes).

use std::path::{Path, PathBuf};
use std::process::Command;

use xtask::vm::{host, workspace_root};

/// Debian packages the check needs: man-db for `man -w`, kmod for the unit's modprobe.
const CHECK_PACKAGES: &[&str] = &["man-db", "kmod"];

/// Installed files the check looks for.
const INSTALLED: &[&str] = &[
    "/usr/sbin/ha",
    "/etc/default/ha",
    "/usr/share/man/man8/ha.8.gz",
    "/usr/share/man/man8/ha-run.8.gz",
    "/usr/share/man/man8/ha-status.8.gz",
    "/usr/share/man/man8/ha-ipvs-list.8.gz",
    "/usr/share/bash-completion/completions/ha",
    "/usr/share/zsh/vendor-completions/_ha",
    "/usr/share/fish/vendor_completions.d/ha.fish",
];

pub fn main(args: &[String]) -> Result<(), String> {
    let check = match args {
        [] => false,
        [flag] if flag == "--check" => true,
        _ => return Err("usage: cargo xtask dist [--check]".into()),
    };
    let debs = build()?;
    for deb in &debs {
        println!("{}", deb.display());
    }
    if check {
        self::check(&debs)?;
    }
    Ok(())
}

/// `target/dist` of the workspace (ha-cli's cargo-deb assets name it so).
fn dist_dir() -> PathBuf {
    workspace_root().join("target/dist")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    eprintln!("+ {cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}"))
    }
}

fn output(cmd: &mut Command) -> Result<String, String> {
    eprintln!("+ {cmd:?}");
    let out = cmd
        .output()
        .map_err(|e| format!("cannot start {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed: {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Builds the package and its dbgsym package; returns their paths.
pub fn build() -> Result<Vec<PathBuf>, String> {
    let root = workspace_root();
    let has_cargo_deb = Command::new("cargo")
        .args(["deb", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_cargo_deb {
        return Err("cargo-deb is missing: cargo install --locked cargo-deb".into());
    }
    run(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "-p",
        "ha-cli",
        "--bin",
        "ha",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    let ha = target.join("release/ha");
    let dist = dist_dir();
    let _ = std::fs::remove_dir_all(&dist);
    let man = dist.join("man");
    run(Command::new(&ha).arg("man").arg("--dir").arg(&man))?;
    let completions = dist.join("completions");
    std::fs::create_dir_all(&completions).map_err(|e| format!("{}: {e}", completions.display()))?;
    for (shell, file) in [("bash", "ha"), ("zsh", "_ha"), ("fish", "ha.fish")] {
        let text = output(Command::new(&ha).args(["completions", shell]))?;
        let path = completions.join(file);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let before: Vec<PathBuf> = debs_in(&dist);
    run(Command::new("cargo").current_dir(&root).args([
        "deb",
        "-p",
        "ha-cli",
        "--no-build",
        "--output",
        dist.to_str().ok_or("target path is not UTF-8")?,
    ]))?;
    let debs: Vec<PathBuf> = debs_in(&dist)
        .into_iter()
        .filter(|d| !before.contains(d))
        .collect();
    if !debs
        .iter()
        .any(|d| d.extension().is_some_and(|e| e == "deb"))
    {
        return Err(format!("cargo deb left no .deb in {}", dist.display()));
    }
    Ok(debs)
}

fn debs_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "deb" || e == "ddeb"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Installs the package here, checks it and purges it (whatever the checks said).
pub fn check(debs: &[PathBuf]) -> Result<(), String> {
    if !host::is_root() {
        return Err("the package check installs it with dpkg: run as root".into());
    }
    host::ensure_debian_packages(CHECK_PACKAGES).map_err(|e| e.to_string())?;
    let deb = debs
        .iter()
        .find(|d| d.extension().is_some_and(|e| e == "deb"))
        .ok_or("no .deb to check")?;
    println!(
        "{}",
        output(Command::new("dpkg-deb").arg("--info").arg(deb))?
    );
    println!("{}", output(Command::new("dpkg").arg("-c").arg(deb))?);
    let was_installed = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "ha"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(" installed"));
    if was_installed {
        return Err("a package named ha is installed here already: not touching it".into());
    }
    let result = install_and_check(deb);
    let purged = run(Command::new("dpkg").args(["--purge", "ha"]));
    result?;
    purged?;
    if Path::new("/usr/sbin/ha").exists() || Path::new("/etc/default/ha").exists() {
        return Err("dpkg --purge ha left files behind".into());
    }
    println!(
        "package check: installed, checked and purged {}",
        deb.display()
    );
    Ok(())
}

fn install_and_check(deb: &Path) -> Result<(), String> {
    run(Command::new("dpkg").arg("-i").arg(deb))?;
    let version = output(Command::new("/usr/sbin/ha").arg("--version"))?;
    println!("ha --version: {}", version.trim());
    if !version.starts_with("ha ") {
        return Err(format!("ha --version said {version:?}"));
    }
    let page = output(Command::new("man").args(["-w", "ha"]))?;
    println!("man -w ha: {}", page.trim());
    for file in INSTALLED {
        if !Path::new(file).exists() {
            return Err(format!("{file} is not installed"));
        }
    }
    let unit = [
        "/usr/lib/systemd/system/ha.service",
        "/lib/systemd/system/ha.service",
    ]
    .into_iter()
    .find(|p| Path::new(p).exists())
    .ok_or("ha.service is not installed")?;
    println!("unit: {unit}");
    let text = std::fs::read_to_string(unit).map_err(|e| format!("{unit}: {e}"))?;
    for line in [
        "EnvironmentFile=-/etc/default/ha",
        "ExecStartPre=-+/sbin/modprobe ip_vs",
        "WatchdogSec=",
        "CapabilityBoundingSet=",
        "NotifyAccess=main",
        "Conflicts=keepalived.service",
    ] {
        if !text.contains(line) {
            return Err(format!("{unit} has no {line}"));
        }
    }
    // Installed, not switched on: its Conflicts= would stop a running keepalived.
    if Path::new("/etc/systemd/system/multi-user.target.wants/ha.service").exists() {
        return Err("the package enabled ha.service".into());
    }
    if Path::new("/usr/bin/systemd-analyze").exists() {
        // Checks the unit's syntax, its executables and man pages (Documentation=).
        run(Command::new("systemd-analyze").args(["verify", unit]))?;
    } else {
        println!("systemd-analyze not here: unit not verified");
    }
    Ok(())
}
