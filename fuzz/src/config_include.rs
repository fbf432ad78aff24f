//! keepalived.conf with includes: the input is up to four files separated by NUL bytes
//! (`main`, `one`, `two`, `three`), written to a scratch directory that also holds a
//! subdirectory `four`, and `main` is loaded as `ha` loads a configuration file.
//!
//! No panic; loading is deterministic; every diagnostic's spans lie within their file on
//! character boundaries, and the diagnostics render; a configuration that loads cleanly prints
//! to one file (its includes flattened) that parses to the same model.
//!
//! The includes must stay in the scratch directory: inputs with `/` or `\` (escapes in quotes
//! can spell any byte) are skipped, and so are inputs with `..`, or with any `.` when they use
//! `$` (a substitution could assemble `..`). `${_RANDOM}` makes loading non-deterministic:
//! skipped too.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use keepalived_conf::diag::render;
use keepalived_conf::{load_file, parse_str, print, Loaded, Options, SourceMap};

const FILES: [&str; 4] = ["main", "one", "two", "three"];

thread_local! {
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

const SCRATCH_PREFIX: &str = "ha-fuzz-include-";

/// Removes the scratch directories of processes that are gone (they cannot clean up: libFuzzer
/// ends with `exit`).
fn remove_dead_scratch(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SCRATCH_PREFIX))
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A directory of this thread's own, created once.
fn scratch() -> PathBuf {
    SCRATCH.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                static NEXT: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                // Memory, where there is a tmpfs: the files are rewritten at every input.
                let shm = Path::new("/dev/shm");
                let base = if shm.is_dir() {
                    shm.to_path_buf()
                } else {
                    std::env::temp_dir()
                };
                remove_dead_scratch(&base);
                let dir = base
                    .join(format!("{SCRATCH_PREFIX}{}-{n}", std::process::id()))
                    .join("conf");
                std::fs::create_dir_all(dir.join("four")).expect("scratch directory");
                dir
            })
            .clone()
    })
}

fn escapes(data: &[u8]) -> bool {
    data.iter().any(|&b| b == b'/' || b == b'\\')
        || data.windows(2).any(|w| w == b"..")
        || (data.contains(&b'$') && data.contains(&b'.'))
        || data.windows(7).any(|w| w == b"_RANDOM")
}

fn opts() -> Options {
    Options {
        config_id: "fuzz".into(),
        host_checks: false,
        check_host: false,
    }
}

/// The target's body.
pub fn run(data: &[u8]) {
    if escapes(data) {
        return;
    }
    let dir = scratch();
    let mut parts = data.splitn(FILES.len(), |&b| b == 0);
    for name in FILES {
        let text = parts.next().unwrap_or_default();
        std::fs::write(dir.join(name), text).expect("scratch file");
    }
    let main = dir.join("main");
    let (loaded, sources) = load(&main);
    let (again, _) = load(&main);
    assert_eq!(again.config, loaded.config, "loading is deterministic");
    assert_eq!(again.diagnostics, loaded.diagnostics);

    for d in &loaded.diagnostics {
        let spans = d
            .span
            .iter()
            .chain(d.secondary.iter().map(|(span, _)| span));
        for span in spans {
            assert!(span.file < sources.len(), "{d:?}");
            let text = &sources.file(span.file).text;
            assert!(
                span.start <= span.end && text.get(span.range()).is_some(),
                "span {span:?} outside its file or inside a character: {d:?}"
            );
        }
    }
    let _ = render(&loaded.diagnostics, &sources, false);

    let clean = !loaded.has_errors()
        && loaded
            .diagnostics
            .iter()
            .all(|d| d.code != "unknown-keyword" && d.code != "extra-argument");
    if clean {
        let printed = print::print(&loaded.config);
        let mut sources = SourceMap::default();
        let flat = parse_str("printed.conf", &printed, &opts(), &mut sources);
        assert_eq!(flat.config, loaded.config, "printed:\n{printed}");
    }
}

fn load(path: &Path) -> (Loaded, SourceMap) {
    let mut sources = SourceMap::default();
    let loaded = load_file(path, &opts(), &mut sources);
    (loaded, sources)
}
