//! Developer automation: `cargo xtask <command>`.
//!
//! - `test`: every test the project has: format, lints, the fuzz targets compiling, the
//!   workspace's tests (privileged ones, with the Debian and Python packages they need,
//!   included when run as root), 100,000 seeds of `sim`, every fuzz target for 30 s, a
//!   3-minute chaos run (as root), then the real-kernel IPVS tests in the VM. `.ci/run` calls
//!   this, then `dist --check`.
//! - `dist [--check]`: the Debian package of `ha` ([`dist`]); `--check` installs, checks and
//!   purges it (root).
//! - `chaos [--minutes N] [--seed S]`: two ha directors and keepalived in one VRID in
//!   namespaces, a seeded schedule of faults, invariants checked every 20 ms (`xtask::chaos`).
//! - `sim [--seeds N] [--start K] [--seed S]`: random VRRP clusters and fault schedules in the
//!   deterministic simulator, judged by invariants ([`xtask::sim`]); `--seed S` replays one.
//! - `fuzz [--seconds N] [TARGET...]`: the fuzz targets under libFuzzer (see `xtask::fuzz`).
//! - `vm-test [-- TEST-ARGS]`: builds `ipvs-sys`'s `kernel` tests, `ha-cli`'s `lvs_vm` tests and
//!   the `ha` binary, boots the VM and runs both test binaries there, one after the other, with
//!   `--include-ignored --test-threads=1` (plus TEST-ARGS, e.g. a test name filter).
//! - `demo [--host]`: the seed scenario (`lvs_vm`'s `demo_scenario`) as a timeline, in the VM,
//!   or with `--host` on this machine when its kernel has IPVS.
//! - `demo --scale-out`: `lvs_vm`'s three-director ECMP test as a timeline, in the VM.
//! - `demo --haproxy`: keepalived + haproxy with `ha run --vrrp`, here in namespaces
//!   ([`haproxy`]).
//! - `vm-run [--add HOST-PATH]... -- COMMAND`: runs a shell command in the VM (added binaries go
//!   to `/xtask/bin`, which is on PATH); exits with its status.
//! - `vm-shell [--add HOST-PATH]...`: an interactive shell in the VM (Ctrl-A x quits qemu).
//! - `vm-bench [-- BENCH-ARGS]`: the IPVS programming benchmark (ours vs `ipvsadm -R`) in the VM.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use xtask::vm::{self, host, Initramfs, Kernel, Vm};

mod dist;
mod haproxy;

const USAGE: &str = "usage: cargo xtask <command>

commands:
  chaos [--minutes N] [--seed S]     faults on two ha directors and keepalived in namespaces,
                                     invariants checked every 20 ms (default 3 minutes)
  demo [--host]                      the seed scenario with two ha directors, as a timeline, in
                                     the IPVS test VM (--host: here, if this kernel has IPVS)
  demo --haproxy                     keepalived + haproxy: two haproxy nodes, ha run --vrrp with
                                     process or script tracking, as a timeline (here, no VM)
  demo --scale-out                   three ha directors behind an FRR ECMP router: a director
                                     crash, a real server failure, a quorum loss (in the VM)
  test                               run every test (fmt, clippy, workspace tests, simulation,
                                     fuzzing, chaos, VM tests)
  fuzz [--seconds N] [TARGET...]     run the fuzz targets N s each (default 30), fail on a crash
  vm-test [-- TEST-ARGS]             run the real-kernel tests in the IPVS test VM: ipvs-sys's,
                                     then ha-cli's lvs_vm (the director in the lab topology)
  vm-run [--add PATH]... -- COMMAND  run a shell command in the VM, exit with its status
  vm-shell [--add PATH]...           interactive shell in the VM (Ctrl-A x quits)
  vm-bench [-- BENCH-ARGS]           IPVS programming benchmark in the VM (ours vs ipvsadm -R)
  dist [--check]                     the Debian package (cargo-deb) into target/dist/; --check
                                     (root) installs it here, checks it and purges it
  sim [--seeds N] [--start K] [--seed S]
                                     random VRRP clusters and faults in the simulator, judged
                                     by invariants (--seed S: replay one seed with its trace)

environment:
  XTASK_VM_TIMEOUT=SECONDS           kill the VM after this long (default 900)
  XTASK_VM_KERNEL_PACKAGE=NAME       kernel package to boot (default: what linux-image-cloud-amd64 depends on)
  XTASK_VM_KEEP=1                    keep the staged guest and its cpio under target/vm-cache/guests
  CI=true                            fail, instead of skipping loudly, when the VM cannot run here
                                     or cargo-fuzz is missing";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or_default();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(rest),
        Some("demo") => demo(rest),
        Some("fuzz") => xtask::fuzz::command(rest),
        Some("chaos") => xtask::chaos::main(rest),
        Some("vm-test") => vm_test(after_dashes(rest)).map_err(|e| e.to_string()),
        Some("vm-run") => vm_run(rest),
        Some("vm-shell") => vm_shell(rest),
        Some("vm-bench") => vm_bench(after_dashes(rest)).map_err(|e| e.to_string()),
        Some("sim") => xtask::sim::main(rest),
        Some("dist") => dist::main(rest),
        Some("help" | "-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The arguments after a leading `--`, or all of them.
fn after_dashes(args: &[String]) -> &[String] {
    match args.first().map(String::as_str) {
        Some("--") => &args[1..],
        _ => args,
    }
}

/// Runs a command, echoing it first, and fails with its description when it fails.
fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("+ {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{program} {}` failed: {status}", args.join(" ")))
    }
}

/// Debian packages the workspace's privileged tests use: keepalived is the reference peer of
/// the interoperability tests, iproute2 builds their namespaces; haproxy, socat and
/// busybox-static (httpd) are the keepalived + haproxy lab's ([`haproxy::PACKAGES`]);
/// prometheus brings promtool, which checks `ha run --metrics-listen`'s output, and curl scrapes
/// it; nftables brings nft(8), through which `ha run` programs keepalived's `no_accept` drop
/// rules.
const TEST_PACKAGES: &[&str] = &[
    "keepalived",
    "iproute2",
    "haproxy",
    "socat",
    "busybox-static",
    "prometheus",
    "curl",
    "nftables",
    // zebra, bfdd, bgpd for the scale-out test (announce_frr_netns).
    "frr",
];

/// Seeds `cargo xtask test` runs in the simulator.
const SIM_SEEDS: u64 = 100_000;

fn test(_args: &[String]) -> Result<(), String> {
    run("cargo", &["fmt", "--all", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "cargo",
        &["build", "-p", "vrrp-core", "--no-default-features"],
    )?;
    // The fuzz targets are their own workspace: they must keep compiling.
    run(
        "cargo",
        &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
    )?;
    if host::is_root() {
        host::ensure_debian_packages(TEST_PACKAGES).map_err(|e| e.to_string())?;
        ensure_python_module("aiosmtpd")?;
    }
    run("cargo", &["test", "--workspace"])?;
    // The Debian package is not checked here: a release build with debug info plus cargo-deb's
    // compression of the symbols costs far more than 2 minutes; .ci/run runs
    // `cargo xtask dist --check` as a step of its own.
    // 100,000 simulated clusters under faults (a release build; ~20 s once built).
    eprintln!("+ cargo xtask sim --seeds {SIM_SEEDS}");
    xtask::sim::main(&["--seeds".into(), SIM_SEEDS.to_string()])?;
    xtask::fuzz::test_step(in_ci())?;
    chaos_run(in_ci())?;
    skip_if_unavailable(vm_test(&[]), in_ci())
}

/// The 3-minute chaos run (random seed, printed): as root; otherwise skipped loudly, and a
/// failure in CI.
fn chaos_run(in_ci: bool) -> Result<(), String> {
    if host::is_root() {
        // Every fault, the bad-advert floods included (xtask/README.md, "Floods": the master
        // that went silent at a flood's start sat on a vCPU this VM's host did not run).
        eprintln!("+ cargo xtask chaos --minutes 3");
        return xtask::chaos::main(&["--minutes".into(), "3".into()]);
    }
    if in_ci {
        return Err(
            "chaos: needs root (network namespaces); under CI=true it is not skipped".into(),
        );
    }
    eprintln!("\n*** SKIPPED: the chaos run needs root (network namespaces). ***\n");
    Ok(())
}

/// Installs a Python module with pip when `python3 -c 'import M'` fails (the SMTP alert tests
/// talk to a real SMTP server, aiosmtpd).
fn ensure_python_module(module: &str) -> Result<(), String> {
    let present = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return Ok(());
    }
    run("python3", &["-m", "pip", "install", "--quiet", module])
}

/// Outside CI, a host that cannot run the VM (no root to install packages, no kernel package
/// to download) skips the VM tests loudly; in CI, and for any failure of the tests, it fails.
fn skip_if_unavailable(result: Result<(), vm::Error>, in_ci: bool) -> Result<(), String> {
    match result {
        Ok(()) => Ok(()),
        Err(error) if error.is_environment() && !in_ci => {
            eprintln!(
                "\n\
                 ************************************************************************\n\
                 * SKIPPED: the IPVS VM tests cannot run on this host:                  *\n\
                 *   {error}\n\
                 * With CI=true this is a failure. Run `cargo xtask vm-test` as root.   *\n\
                 ************************************************************************\n"
            );
            Ok(())
        }
        Err(error) => Err(format!("VM tests: {error}")),
    }
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true" || value == "1")
}

/// Prepares the host and returns the kernel to boot.
fn prepare() -> Result<(PathBuf, Kernel), vm::Error> {
    host::ensure_packages()?;
    let cache = vm::cache_dir();
    let kernel = Kernel::fetch(&cache)?;
    Ok((cache, kernel))
}

/// Packs the staged guest, boots it, echoes its console and returns its exit status. The
/// staging files are removed afterwards unless `XTASK_VM_KEEP=1`.
fn boot(kernel: &Kernel, staging: &Path, guest: Initramfs) -> Result<i32, vm::Error> {
    let keep = host::env_nonempty("XTASK_VM_KEEP").is_some_and(|v| v != "0");
    let initrd = guest.write_cpio(&staging.with_extension("cpio"))?;
    if !keep {
        let _ = std::fs::remove_dir_all(staging);
    }
    eprintln!(
        "xtask: booting {} with {}",
        kernel.package,
        initrd.display()
    );
    let result = Vm::new(kernel, initrd.clone()).run(|line| println!("{line}"));
    if !keep {
        let _ = std::fs::remove_file(&initrd);
    }
    result
}

fn vm_test(test_args: &[String]) -> Result<(), vm::Error> {
    let (cache, kernel) = prepare()?;
    let tests = cargo_executable(
        &["test", "-p", "ipvs-sys", "--test", "kernel", "--no-run"],
        "kernel",
    )?;
    let lab = LabBinaries::build()?;
    let staging = vm::scratch_path(&cache, "vm-test");
    let mut guest = Initramfs::with_base(&kernel, staging.clone())?;
    guest.add_binary(&tests, "/xtask/bin/ipvs-sys-kernel")?;
    lab.add_to(&mut guest)?;
    let args = shell_words(test_args);
    // Both binaries run even when the first fails; the first failure is the result.
    guest.set_payload(&format!(
        "export XTASK_VM=1 RUST_BACKTRACE=1\n\
         /xtask/bin/ipvs-sys-kernel --include-ignored --test-threads=1 {args}\n\
         kernel=$?\n\
         {lab_env} /xtask/bin/ha-lvs-vm --include-ignored --test-threads=1 {args}\n\
         lab=$?\n\
         if [ $kernel -ne 0 ]; then exit $kernel; fi\n\
         exit $lab\n",
        lab_env = LabBinaries::GUEST_ENV,
    ));
    match boot(&kernel, &staging, guest)? {
        0 => Ok(()),
        code => Err(vm::Error::GuestFailed(code)),
    }
}

/// `ha-cli`'s `lvs_vm` test binary and the `ha` binary it drives.
struct LabBinaries {
    tests: PathBuf,
    ha: PathBuf,
    /// The seed scenario's files (`lvs1.conf`, `lvs2.conf`), which the tests adapt.
    examples: PathBuf,
}

impl LabBinaries {
    /// How the tests find `ha` and the examples in the guest (their compiled-in paths are the
    /// host's).
    const GUEST_ENV: &'static str = "HA_BIN=/xtask/bin/ha HA_EXAMPLES_DIR=/xtask/examples";

    fn build() -> Result<LabBinaries, vm::Error> {
        let artifacts =
            cargo_executables(&["test", "-p", "ha-cli", "--test", "lvs_vm", "--no-run"])?;
        let find = |name: &str| {
            artifacts
                .iter()
                .find(|(target, _)| target == name)
                .map(|(_, path)| path.clone())
                .ok_or_else(|| vm::Error::NoExecutable(format!("{name} (cargo test -p ha-cli)")))
        };
        let examples = vm::workspace_root().join("../shared/examples");
        let examples = examples.canonicalize().map_err(|source| vm::Error::Io {
            path: examples.clone(),
            source,
        })?;
        Ok(LabBinaries {
            tests: find("lvs_vm")?,
            ha: find("ha")?,
            examples,
        })
    }

    fn add_to(&self, guest: &mut Initramfs) -> Result<(), vm::Error> {
        guest.add_binary(&self.tests, "/xtask/bin/ha-lvs-vm")?;
        guest.add_binary(&self.ha, "/xtask/bin/ha")?;
        for name in ["lvs1.conf", "lvs2.conf"] {
            let path = self.examples.join(name);
            let text = std::fs::read(&path).map_err(|source| vm::Error::Io { path, source })?;
            guest.add_file(&format!("/xtask/examples/{name}"), &text, false)?;
        }
        add_frr(guest)
    }
}

/// FRR's zebra, bfdd, bgpd and vtysh (Debian's `frr`, with their libraries), the users they
/// run as, and the scale-out example configurations, for the scale-out test in the lab.
fn add_frr(guest: &mut Initramfs) -> Result<(), vm::Error> {
    for daemon in ["zebra", "bfdd", "bgpd"] {
        let path = format!("/usr/lib/frr/{daemon}");
        guest.add_binary(Path::new(&path), &path)?;
    }
    guest.add_binary(&host::find_program("vtysh")?, "/usr/bin/vtysh")?;
    // The daemons drop to frr; vtysh talks to them as a member of frrvty.
    guest.add_file(
        "/etc/passwd",
        b"root:x:0:0:root:/root:/bin/sh\nfrr:x:100:101:FRR:/nonexistent:/bin/false\n",
        false,
    )?;
    guest.add_file(
        "/etc/group",
        b"root:x:0:\nfrr:x:101:\nfrrvty:x:102:frr,root\n",
        false,
    )?;
    // vtysh asks PAM (service frr) before it talks to the daemons: let it through.
    let permit = "/lib/x86_64-linux-gnu/security/pam_permit.so";
    guest.add_binary(Path::new(permit), permit)?;
    guest.add_file(
        "/etc/pam.d/frr",
        b"auth sufficient pam_permit.so\naccount sufficient pam_permit.so\n\
          session sufficient pam_permit.so\n",
        false,
    )?;
    guest.add_file("/etc/frr/vtysh.conf", b"", false)?;
    let dir = vm::workspace_root().join("examples/scale-out");
    for name in ["frr.conf", "frr-router.conf"] {
        let path = dir.join(name);
        let text = std::fs::read(&path).map_err(|source| vm::Error::Io { path, source })?;
        guest.add_file(&format!("/xtask/examples/scale-out/{name}"), &text, false)?;
    }
    Ok(())
}

/// The test-binary arguments that run the demo alone, its output uncaptured.
const DEMO_ARGS: &str = "demo_scenario --exact --include-ignored --nocapture --test-threads=1";

/// The scale-out demo: `lvs_vm`'s ECMP test, whose timeline is the demo (CI runs it once, as
/// a test, rather than a second copy of its lab).
const SCALE_OUT_DEMO_ARGS: &str = "ecmp_three_directors_mh_keeps_flows_rr_breaks_them --exact \
     --include-ignored --nocapture --test-threads=1";

/// `cargo xtask demo [--host | --haproxy | --scale-out]`.
fn demo(args: &[String]) -> Result<(), String> {
    let (host, test_args, minutes) = match args {
        [] => (false, DEMO_ARGS, "about a minute"),
        [flag] if flag == "--host" => (true, DEMO_ARGS, ""),
        [flag] if flag == "--haproxy" => return haproxy::demo(),
        [flag] if flag == "--scale-out" => (false, SCALE_OUT_DEMO_ARGS, "about two minutes"),
        _ => return Err("usage: cargo xtask demo [--host | --haproxy | --scale-out]".into()),
    };
    if host {
        return demo_on_host();
    }
    let (cache, kernel) = prepare().map_err(|e| e.to_string())?;
    let lab = LabBinaries::build().map_err(|e| e.to_string())?;
    let staging = vm::scratch_path(&cache, "demo");
    let mut guest = Initramfs::with_base(&kernel, staging.clone()).map_err(|e| e.to_string())?;
    lab.add_to(&mut guest).map_err(|e| e.to_string())?;
    guest.set_payload(&format!(
        "export XTASK_VM=1\n{} /xtask/bin/ha-lvs-vm {test_args}\n",
        LabBinaries::GUEST_ENV
    ));
    eprintln!(
        "xtask: the demo runs in the IPVS test VM (qemu TCG, {minutes}); \
         `cargo xtask demo --host` runs the seed scenario here when this kernel has IPVS"
    );
    let keep = host::env_nonempty("XTASK_VM_KEEP").is_some_and(|v| v != "0");
    let initrd = guest
        .write_cpio(&staging.with_extension("cpio"))
        .map_err(|e| e.to_string())?;
    if !keep {
        let _ = std::fs::remove_dir_all(&staging);
    }
    let mut blank = false;
    let result = Vm::new(&kernel, initrd.clone()).run(|line| print_demo_line(line, &mut blank));
    if !keep {
        let _ = std::fs::remove_file(&initrd);
    }
    match result.map_err(|e| e.to_string())? {
        0 => Ok(()),
        code => Err(format!("the demo failed in the VM (status {code})")),
    }
}

/// The demo directly on this machine: only where the kernel has IPVS.
fn demo_on_host() -> Result<(), String> {
    if !host::is_root() {
        return Err("demo --host needs root (network namespaces, IPVS)".into());
    }
    if !Path::new("/proc/net/ip_vs").exists() {
        let _ = Command::new("modprobe")
            .arg("ip_vs")
            .stderr(Stdio::null())
            .status();
    }
    if !Path::new("/proc/net/ip_vs").exists() {
        return Err(format!(
            "demo --host: this kernel ({}) has no IPVS: /proc/net/ip_vs is missing and \
             `modprobe ip_vs` did not load it (CONFIG_IP_VS unset or the module absent). \
             Run `cargo xtask demo` without --host: it boots a kernel with IPVS in qemu.",
            std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
        ));
    }
    let lab = LabBinaries::build().map_err(|e| e.to_string())?;
    let mut child = Command::new(&lab.tests)
        .args(DEMO_ARGS.split(' '))
        .env("HA_BIN", &lab.ha)
        .env("HA_EXAMPLES_DIR", &lab.examples)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", lab.tests.display()))?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut blank = false;
    for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
        print_demo_line(&line, &mut blank);
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("the demo failed ({status})"))
    }
}

/// Prints the demo's lines (see [`demo_line`]), one blank line at most between them.
fn print_demo_line(line: &str, previous_blank: &mut bool) {
    if let Some(line) = demo_line(line) {
        let blank = line.trim().is_empty();
        if !(blank && *previous_blank) {
            println!("{line}");
        }
        *previous_blank = blank;
    }
}

/// The demo's own output: libtest's lines of a passing run, the guest's result line and kernel
/// messages are left out; failures stay.
fn demo_line(line: &str) -> Option<&str> {
    let line = [
        "demo_scenario",
        "ecmp_three_directors_mh_keeps_flows_rr_breaks_them",
    ]
    .iter()
    .find_map(|test| line.strip_prefix(&format!("test {test} ... ")))
    .unwrap_or(line);
    let kernel_message = line.starts_with('[')
        && line
            .split_once(']')
            .is_some_and(|(stamp, _)| stamp[1..].trim().parse::<f64>().is_ok());
    let noise = kernel_message
        || line == "ok"
        || line.starts_with("running 1 test")
        || line.starts_with("test result: ok.")
        || vm::parse_result_line(line) == Some(0);
    (!noise).then_some(line)
}

fn vm_bench(bench_args: &[String]) -> Result<(), vm::Error> {
    let (cache, kernel) = prepare()?;
    let bench = cargo_executable(
        &[
            "build",
            "--release",
            "-p",
            "ipvs-sys",
            "--example",
            "ipvs_vm_bench",
        ],
        "ipvs_vm_bench",
    )?;
    let staging = vm::scratch_path(&cache, "vm-bench");
    let mut guest = Initramfs::with_base(&kernel, staging.clone())?;
    guest.add_binary(&bench, "/xtask/bin/ipvs_vm_bench")?;
    guest.set_payload(&format!(
        "export XTASK_VM=1\n/xtask/bin/ipvs_vm_bench {}\n",
        shell_words(bench_args)
    ));
    match boot(&kernel, &staging, guest)? {
        0 => Ok(()),
        code => Err(vm::Error::GuestFailed(code)),
    }
}

/// Splits `[--add PATH]... [--] REST...` into the paths and the rest.
fn added_binaries(args: &[String]) -> Result<(Vec<PathBuf>, &[String]), String> {
    let mut added = Vec::new();
    let mut index = 0;
    while let Some(arg) = args.get(index) {
        match arg.as_str() {
            "--add" => {
                let path = args.get(index + 1).ok_or("--add needs a path")?;
                added.push(PathBuf::from(path));
                index += 2;
            }
            "--" => return Ok((added, &args[index + 1..])),
            _ => break,
        }
    }
    Ok((added, &args[index..]))
}

fn guest_with(staging: &Path, kernel: &Kernel, added: &[PathBuf]) -> Result<Initramfs, vm::Error> {
    let mut guest = Initramfs::with_base(kernel, staging.to_path_buf())?;
    for path in added {
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        guest.add_binary(path, &format!("/xtask/bin/{file_name}"))?;
    }
    Ok(guest)
}

fn vm_run(args: &[String]) -> Result<(), String> {
    let (added, command) = added_binaries(args)?;
    if command.is_empty() {
        return Err("vm-run needs a command after --".into());
    }
    let (cache, kernel) = prepare().map_err(|e| e.to_string())?;
    let staging = vm::scratch_path(&cache, "vm-run");
    let mut guest = guest_with(&staging, &kernel, &added).map_err(|e| e.to_string())?;
    // Joined unquoted on purpose: `vm-run -- 'ipvsadm -Ln | head'` is a shell pipeline.
    guest.set_payload(&format!("export XTASK_VM=1\n{}\n", command.join(" ")));
    match boot(&kernel, &staging, guest).map_err(|e| e.to_string())? {
        0 => Ok(()),
        code => Err(format!("guest command exited with status {code}")),
    }
}

fn vm_shell(args: &[String]) -> Result<(), String> {
    let (added, _) = added_binaries(args)?;
    let (cache, kernel) = prepare().map_err(|e| e.to_string())?;
    let staging = vm::scratch_path(&cache, "vm-shell");
    let mut guest = guest_with(&staging, &kernel, &added).map_err(|e| e.to_string())?;
    guest.set_payload(
        "export XTASK_VM=1\n\
         echo 'xtask: IPVS test VM; exit the shell to power off (or Ctrl-A x)'\n\
         setsid cttyhack sh -l\n",
    );
    let initrd = guest
        .write_cpio(&staging.with_extension("cpio"))
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_dir_all(&staging);
    let status = Vm::new(&kernel, initrd.clone()).run_interactive();
    let _ = std::fs::remove_file(&initrd);
    status.map(drop).map_err(|e| e.to_string())
}

/// Runs `cargo ARGS --message-format=json-render-diagnostics` and returns the executable of
/// the target named `target`.
fn cargo_executable(args: &[&str], target: &str) -> Result<PathBuf, vm::Error> {
    cargo_executables(args)?
        .into_iter()
        .find(|(name, _)| name == target)
        .map(|(_, path)| path)
        .ok_or_else(|| vm::Error::NoExecutable(format!("cargo {}", args.join(" "))))
}

/// Runs `cargo ARGS --message-format=json-render-diagnostics` and returns every executable it
/// built, with its target's name.
fn cargo_executables(args: &[&str]) -> Result<Vec<(String, PathBuf)>, vm::Error> {
    // The cargo running us, unless it vanished (rustup replacing the toolchain meanwhile).
    let cargo = std::env::var("CARGO")
        .ok()
        .filter(|path| Path::new(path).is_file())
        .unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(args)
        .arg("--message-format=json-render-diagnostics")
        .current_dir(vm::workspace_root())
        .stderr(Stdio::inherit());
    eprintln!("+ cargo {}", args.join(" "));
    let stdout = host::output(&mut command)?;
    Ok(stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_string();
            let path = message["executable"].as_str()?;
            Some((name, PathBuf::from(path)))
        })
        .collect())
}

/// Quotes each argument for `sh`.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|arg| format!("'{}'", arg.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shell_words_quote_for_sh() {
        assert_eq!(
            shell_words(&strings(&["--exact", "it's"])),
            r"'--exact' 'it'\''s'"
        );
        assert_eq!(shell_words(&[]), "");
    }

    #[test]
    fn added_binaries_then_command() {
        let args = strings(&["--add", "/a/ha", "--add", "b", "--", "ha", "run"]);
        let (added, rest) = added_binaries(&args).unwrap();
        assert_eq!(added, [PathBuf::from("/a/ha"), PathBuf::from("b")]);
        assert_eq!(rest, strings(&["ha", "run"]));
        let args = strings(&["ipvsadm", "-Ln"]);
        assert_eq!(added_binaries(&args).unwrap().1, args);
        assert!(added_binaries(&strings(&["--add"])).is_err());
    }

    #[test]
    fn unavailable_vm_skips_outside_ci_only() {
        let missing = || Err(vm::Error::PackagesMissing(vec!["qemu-system-x86".into()]));
        assert!(skip_if_unavailable(missing(), false).is_ok());
        assert!(skip_if_unavailable(missing(), true).is_err());
        // Failing tests never skip.
        assert!(skip_if_unavailable(Err(vm::Error::GuestFailed(101)), false).is_err());
        assert!(skip_if_unavailable(Ok(()), true).is_ok());
    }

    #[test]
    fn demo_output_leaves_out_libtest_and_kernel_noise() {
        assert_eq!(demo_line("running 1 test"), None);
        assert_eq!(demo_line("test demo_scenario ... ok"), None);
        assert_eq!(
            demo_line("test result: ok. 1 passed; 0 failed; 6 ignored"),
            None
        );
        assert_eq!(demo_line("[    2.152304] reboot: Power down"), None);
        assert_eq!(demo_line("XTASK-RESULT: 0"), None);
        assert_eq!(
            demo_line("test demo_scenario ... == Start"),
            Some("== Start")
        );
        assert_eq!(
            demo_line("t+  3.2s  client   GET"),
            Some("t+  3.2s  client   GET")
        );
        assert_eq!(
            demo_line("test ecmp_three_directors_mh_keeps_flows_rr_breaks_them ... "),
            Some("")
        );
        // A failure shows.
        assert!(demo_line("test demo_scenario ... FAILED").is_some());
        assert!(demo_line("XTASK-RESULT: 101").is_some());
        assert!(demo_line("[lvs1] something").is_some());
    }

    #[test]
    fn after_dashes_strips_one_separator() {
        assert_eq!(after_dashes(&strings(&["--", "x"])), strings(&["x"]));
        assert_eq!(after_dashes(&strings(&["x"])), strings(&["x"]));
    }
}
