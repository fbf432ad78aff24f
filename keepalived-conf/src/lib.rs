//! keepalived.conf: read the file users already run, unchanged, into a typed [`Config`].
//!
//! The pipeline is one way: files -> [`lexer`] (comments, `include`, `$PARAM`, `@id`,
//! `~SEQ`/`~LST`) -> lines of tokens -> [`syntax`] (statement tree) -> [`parse`] (typed
//! model with keepalived's defaults) -> [`compat`] (what ha does not apply of keepalived's
//! keywords: warned about when harmless, refused otherwise) -> [`validate`] (keepalived's
//! semantic checks, plus host checks). Every step reports [`Diagnostic`]s with a span
//! instead of stopping at the first problem; [`diag::render`] prints them like rustc.
//! [`print`](mod@print) writes the canonical form and [`cross`] compares the
//! configurations of the nodes of one cluster.
//!
//! ```
//! use keepalived_conf::{self as config, Options, SourceMap};
//! let mut sources = SourceMap::default();
//! let text = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n priority 150\n}\n";
//! let loaded = config::parse_str("keepalived.conf", text, &Options::default(), &mut sources);
//! assert!(!loaded.has_errors());
//! let vi = &loaded.config.vrrp_instances[0];
//! assert_eq!((vi.virtual_router_id, vi.priority), (Some(51), 150));
//! assert_eq!(vi.advert_int, config::Timer::secs(1)); // keepalived's default
//! ```

pub mod compat;
pub mod cross;
pub mod diag;
pub mod lexer;
pub mod model;
pub mod parse;
pub mod print;
pub mod syntax;
pub mod validate;

use std::path::Path;

pub use diag::{Diagnostic, Severity, SourceMap, Span};
pub use model::*;
pub use parse::SpanIndex;

/// The README's example, compiled with the doctests so that it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// How to read a configuration.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// keepalived's `--config-id`: selects `@id` lines. [`Options::for_this_host`] uses the
    /// short host name, as keepalived does.
    pub config_id: String,
    /// Make checks that depend on this machine (interfaces, local addresses) errors rather
    /// than warnings.
    pub host_checks: bool,
    /// Run the host checks at all (off for configurations of other machines, e.g. in
    /// cross-checks and tests).
    pub check_host: bool,
}

impl Options {
    /// keepalived's defaults on this machine: config id = host name up to the first dot,
    /// host checks as warnings.
    pub fn for_this_host() -> Self {
        Options {
            config_id: short_hostname(),
            host_checks: false,
            check_host: true,
        }
    }
}

fn short_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .and_then(|h| h.trim().split('.').next().map(str::to_string))
        .unwrap_or_default()
}

/// A configuration as loaded: the model, where each part came from, and every finding.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub spans: SpanIndex,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.diagnostics.len() - self.error_count()
    }
}

/// Reads `path` (and its includes), parses and validates it.
pub fn load_file(path: &Path, opts: &Options, sources: &mut SourceMap) -> Loaded {
    let mut diags = Vec::new();
    let lex = lexer::LexOptions {
        config_id: opts.config_id.clone(),
    };
    let lines = lexer::lex_file(path, &lex, sources, &mut diags);
    finish(lines, opts, sources, diags)
}

/// Parses and validates configuration text; relative includes resolve against the
/// current directory.
pub fn parse_str(name: &str, text: &str, opts: &Options, sources: &mut SourceMap) -> Loaded {
    let mut diags = Vec::new();
    let lex = lexer::LexOptions {
        config_id: opts.config_id.clone(),
    };
    let lines = lexer::lex_str(name, text, Path::new("."), &lex, sources, &mut diags);
    finish(lines, opts, sources, diags)
}

fn finish(
    lines: Vec<Vec<lexer::Token>>,
    opts: &Options,
    sources: &SourceMap,
    mut diags: Vec<Diagnostic>,
) -> Loaded {
    let tree = syntax::build_tree(lines, &mut diags);
    let mut parser = parse::Parser {
        diags: &mut diags,
        spans: SpanIndex::default(),
        raw: Default::default(),
    };
    let config = parser.config(&tree);
    let (spans, raw) = (parser.spans, parser.raw);
    compat::check(&tree, &raw, sources, &mut diags);
    validate::validate(&config, &spans, opts, &mut diags);
    Loaded {
        config,
        spans,
        diagnostics: diags,
    }
}

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration has errors; `rendered` shows each with its place in the source.
    #[error("configuration {path} has {errors} error(s):\n{rendered}")]
    Invalid {
        path: String,
        errors: usize,
        rendered: String,
    },
}

impl Config {
    /// Loads a configuration for this host, failing on any error (warnings are allowed).
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let mut sources = SourceMap::default();
        let loaded = load_file(path, &Options::for_this_host(), &mut sources);
        if loaded.has_errors() {
            return Err(ConfigError::Invalid {
                path: path.display().to_string(),
                errors: loaded.error_count(),
                rendered: diag::render(&loaded.diagnostics, &sources, false),
            });
        }
        Ok(loaded.config)
    }
}
