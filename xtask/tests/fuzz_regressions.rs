//! Every fuzz target's body on every file of its seed corpus (`fuzz/corpus/<target>/`) and its
//! regression inputs (`fuzz/regressions/<target>/`, the inputs that once crashed it): a plain
//! `cargo test` keeps a fixed finding fixed, without cargo-fuzz or libFuzzer.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

#[test]
fn every_target_has_its_body_and_a_seed_corpus() {
    let mut on_disk: Vec<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = ha_fuzz::TARGETS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    assert_eq!(
        listed, on_disk,
        "ha_fuzz::TARGETS lists fuzz/fuzz_targets/*.rs, sorted"
    );
    for name in &listed {
        assert!(
            !files(&fuzz_dir().join("corpus").join(name)).is_empty(),
            "fuzz/corpus/{name}/ holds no seed"
        );
    }
}

#[test]
fn seeds_and_regression_inputs_pass() {
    let mut failures = Vec::new();
    let mut count = 0;
    for (name, body) in ha_fuzz::TARGETS {
        for dir in ["corpus", "regressions"] {
            for file in files(&fuzz_dir().join(dir).join(name)) {
                let data = std::fs::read(&file).expect("readable input");
                count += 1;
                if catch_unwind(AssertUnwindSafe(|| body(&data))).is_err() {
                    failures.push(format!("{name}: {}", file.display()));
                }
            }
        }
    }
    assert!(count > 0);
    assert!(
        failures.is_empty(),
        "inputs that fail their target (the panics are above):\n{}",
        failures.join("\n")
    );
}
