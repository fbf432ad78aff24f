//! Real-kernel IPVS tests. The host kernel has no IPVS, so these are `#[ignore]`d and run in
//! the test VM by `cargo xtask vm-test` (as root, with `--include-ignored --test-threads=1`).

use std::process::Command;

const NEEDS_VM: &str = "needs an IPVS kernel: run by cargo xtask vm-test";

/// Runs `ipvsadm ARGS` and returns its stdout, panicking with its stderr on failure.
fn ipvsadm(args: &[&str]) -> String {
    let out = Command::new("ipvsadm")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ipvsadm: {e} ({NEEDS_VM})"));
    assert!(
        out.status.success(),
        "ipvsadm {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("ipvsadm prints UTF-8")
}

#[test]
#[ignore = "needs an IPVS kernel: run by cargo xtask vm-test"]
fn kernel_has_ipvs_and_ipvsadm_reads_it() {
    let listing = ipvsadm(&["-Ln"]);
    assert!(
        listing.starts_with("IP Virtual Server version 1.2.1"),
        "unexpected ipvsadm -Ln output:\n{listing}"
    );
}
