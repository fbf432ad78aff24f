//! keepalived.conf: any input parses without panicking, and whatever parses cleanly prints
//! to a canonical form that parses back to the same model.

use keepalived_conf::{parse_str, print, Options, SourceMap};

/// The target's body.
pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    // `include` would read whatever files the pattern names on this machine.
    if text.contains("include") {
        return;
    }
    let mut sources = SourceMap::default();
    let loaded = parse_str("fuzz.conf", &text, &Options::default(), &mut sources);
    let printed = print::print(&loaded.config);
    let clean = !loaded.has_errors()
        && loaded
            .diagnostics
            .iter()
            .all(|d| d.code != "unknown-keyword" && d.code != "extra-argument");
    if clean {
        let again = parse_str("printed.conf", &printed, &Options::default(), &mut sources);
        assert_eq!(again.config, loaded.config, "printed:\n{printed}");
    }
}
