//! The parser's own tests, one module per block family as in `src/parse/`: keepalived's
//! defaults, every value form, and malformed values with the span, message and help of
//! their diagnostic. Snippets are complete enough that validation has nothing to say, so a
//! test sees exactly what the parser reported.

mod checkers;
mod global;
mod lvs;
mod track;
mod value_forms;
mod vrrp;

use keepalived_conf::diag::render;
use keepalived_conf::{parse_str, Config, Diagnostic, Loaded, Options, SourceMap, Span};

/// A snippet as loaded, with its source for showing findings.
pub struct Parsed {
    pub loaded: Loaded,
    sources: SourceMap,
}

/// The snippet as the parser sees it: what the compatibility check says of the keywords ha
/// does not apply, or does not know from keepalived, is left out (`tests/compat.rs` tests
/// that).
pub fn parse(text: &str) -> Parsed {
    let mut sources = SourceMap::default();
    let mut loaded = parse_str("t.conf", text, &Options::default(), &mut sources);
    loaded.diagnostics.retain(|d| {
        !matches!(
            d.code,
            "not-applied" | "accepted-not-applied" | "applied-differently" | "not-keepalived"
        )
    });
    Parsed { loaded, sources }
}

impl Parsed {
    pub fn rendered(&self) -> String {
        render(&self.loaded.diagnostics, &self.sources, false)
    }

    /// The model, after checking that nothing at all was reported.
    pub fn clean(&self) -> &Config {
        assert!(
            self.loaded.diagnostics.is_empty(),
            "expected no diagnostics:\n{}",
            self.rendered()
        );
        &self.loaded.config
    }

    pub fn config(&self) -> &Config {
        &self.loaded.config
    }

    /// The single finding, and the source text its span covers.
    pub fn only(&self) -> (&Diagnostic, &str) {
        let diags = &self.loaded.diagnostics;
        assert_eq!(
            diags.len(),
            1,
            "expected one diagnostic:\n{}",
            self.rendered()
        );
        let d = &diags[0];
        (d, self.text_at(d.span.expect("a span")))
    }

    /// `(code, is_error)` of every finding, in order.
    pub fn codes(&self) -> Vec<(&'static str, bool)> {
        self.loaded
            .diagnostics
            .iter()
            .map(|d| (d.code, d.is_error()))
            .collect()
    }

    pub fn text_at(&self, span: Span) -> &str {
        self.sources.snippet(span)
    }
}

/// A complete VRRP instance `VI_1` around `body`.
pub fn instance(body: &str) -> String {
    format!(
        "vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n \
         virtual_ipaddress {{\n 192.0.2.1\n }}\n{body}\n}}\n"
    )
}

/// A virtual server `192.0.2.1 80` around `body`, with one real server.
pub fn virtual_server(body: &str) -> String {
    format!("virtual_server 192.0.2.1 80 {{\n{body}\n real_server 10.0.0.1 80 {{\n }}\n}}\n")
}

/// Real server `10.0.0.1 80` of virtual server `192.0.2.1 80`, around `body`.
pub fn real_server(body: &str) -> String {
    format!("virtual_server 192.0.2.1 80 {{\n real_server 10.0.0.1 80 {{\n{body}\n }}\n}}\n")
}

/// A `kind` checker block around `body`, in [`real_server`].
pub fn checker(kind: &str, body: &str) -> String {
    real_server(&format!(" {kind} {{\n{body}\n }}"))
}
