//! The keepalived.conf preprocessor and lexer: turns files into lines of tokens.
//!
//! It applies, in keepalived's order for each physical line: comments (`#`, `!`), `@id` /
//! `@^id` conditional lines, `$NAME=value` definitions (multi-line with a trailing `\`),
//! `~SEQ` / `~SEQx` / `~LST` repetition, `$NAME` / `${NAME}` substitution (recursive; a
//! multi-line value becomes several lines) and `include` (globs relative to the including
//! file). Every token keeps the span it came from; text produced by a substitution points at
//! the `$NAME` that produced it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::diag::{Diagnostic, FileId, SourceMap, Span};

/// One word of the configuration, with quotes removed and escapes resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub text: String,
    pub span: Span,
    /// Written between quotes, so `{` or `}` here are text, not block delimiters.
    pub quoted: bool,
}

impl Token {
    pub fn is_open(&self) -> bool {
        !self.quoted && self.text == "{"
    }
    pub fn is_close(&self) -> bool {
        !self.quoted && self.text == "}"
    }
}

/// Options of the preprocessor.
#[derive(Debug, Clone, Default)]
pub struct LexOptions {
    /// Selects `@id` lines; keepalived's `--config-id`, defaulting to the short host name.
    pub config_id: String,
}

/// Where each byte of a [`Mapped`] text came from: a stretch of one file (the common
/// case, costing nothing per byte), or one span per byte after a substitution.
#[derive(Debug, Clone)]
enum Origin {
    Source { file: FileId, offset: usize },
    Map(Vec<Span>),
}

/// Text with the source span of each byte, so substitutions keep positions.
#[derive(Debug, Clone)]
struct Mapped {
    text: String,
    origin: Origin,
}

impl Mapped {
    fn from_source(file: FileId, offset: usize, text: &str) -> Self {
        Mapped {
            text: text.to_string(),
            origin: Origin::Source { file, offset },
        }
    }

    fn empty() -> Self {
        Mapped {
            text: String::new(),
            origin: Origin::Map(Vec::new()),
        }
    }

    fn at(&self, i: usize) -> Span {
        origin_at(&self.origin, i)
    }

    fn slice(&self, start: usize, end: usize) -> Mapped {
        let origin = match &self.origin {
            Origin::Source { file, offset } => Origin::Source {
                file: *file,
                offset: offset + start,
            },
            Origin::Map(v) => Origin::Map(v[start..end].to_vec()),
        };
        Mapped {
            text: self.text[start..end].to_string(),
            origin,
        }
    }

    /// Drops bytes `..n` in place (no copy of the rest of the line).
    fn advance(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        self.text.drain(..n);
        match &mut self.origin {
            Origin::Source { offset, .. } => *offset += n,
            Origin::Map(v) => {
                v.drain(..n);
            }
        }
    }

    fn trim_start(mut self) -> Mapped {
        let n = self.text.len() - self.text.trim_start().len();
        self.advance(n);
        self
    }

    fn span(&self, start: usize, end: usize) -> Span {
        span_of(&self.origin, self.text.len(), start, end)
    }

    /// Appends bytes `start..end` of `other`, keeping their origins.
    fn extend_from(&mut self, other: &Mapped, start: usize, end: usize) {
        self.text.push_str(&other.text[start..end]);
        if let Origin::Map(v) = &mut self.origin {
            v.extend((start..end).map(|i| other.at(i)));
        }
    }

    /// Appends `text`, all of it coming from `span`.
    fn push_str(&mut self, text: &str, span: Span) {
        self.text.push_str(text);
        if let Origin::Map(v) = &mut self.origin {
            v.extend(std::iter::repeat_n(span, text.len()));
        }
    }
}

fn origin_at(origin: &Origin, i: usize) -> Span {
    match origin {
        Origin::Source { file, offset } => Span::new(*file, offset + i..offset + i + 1),
        Origin::Map(v) => v[i],
    }
}

/// The source span of bytes `start..end` of a text of `len` bytes from `origin` (at least
/// one byte, clamped to the text).
fn span_of(origin: &Origin, len: usize, start: usize, end: usize) -> Span {
    if len == 0 {
        return match origin {
            Origin::Source { file, offset } => Span::new(*file, *offset..*offset),
            Origin::Map(_) => Span::new(0, 0..0),
        };
    }
    let start = start.min(len - 1);
    let end = end.max(start + 1).min(len);
    origin_at(origin, start).to(origin_at(origin, end - 1))
}

const MAX_DEPTH: usize = 32;
const MAX_INCLUDE_DEPTH: usize = 16;
/// Bounds `~SEQ` / `~LST` output so that a typo like `~SEQ(i, 1, 1000000000)` cannot hang.
const MAX_REPEAT: u64 = 1 << 20;
/// Bounds all `~SEQ` / `~LST` iterations of one load, nested loops included.
const MAX_REPEAT_TOTAL: u64 = 1 << 20;
/// Bounds one line after substitution (parameters can double in size at each level).
const MAX_LINE_LEN: usize = 1 << 20;

/// Reads `path` and everything it includes into lines of tokens.
pub fn lex_file(
    path: &Path,
    opts: &LexOptions,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Vec<Token>> {
    let mut lx = Lexer::new(opts, sources, diags);
    lx.include_path(path, None, "include");
    lx.finish()
}

/// Lexes configuration text that is already in memory (`name` is used in diagnostics;
/// relative includes are resolved against `dir`).
pub fn lex_str(
    name: &str,
    text: &str,
    dir: &Path,
    opts: &LexOptions,
    sources: &mut SourceMap,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Vec<Token>> {
    let id = sources.add(name, text.to_string());
    let mut lx = Lexer::new(opts, sources, diags);
    lx.file(id, dir.to_path_buf());
    lx.finish()
}

struct Lexer<'a> {
    opts: &'a LexOptions,
    sources: &'a mut SourceMap,
    diags: &'a mut Vec<Diagnostic>,
    params: HashMap<String, Vec<String>>,
    /// A multi-line `$NAME= \` definition being read.
    pending: Option<(String, Vec<String>)>,
    dirs: Vec<PathBuf>,
    include_stack: Vec<PathBuf>,
    out: Vec<Vec<Token>>,
    chars: Vec<(usize, char)>,
    repeat_budget: u64,
    budget_reported: bool,
}

impl<'a> Lexer<'a> {
    fn new(
        opts: &'a LexOptions,
        sources: &'a mut SourceMap,
        diags: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Lexer {
            opts,
            sources,
            diags,
            params: HashMap::new(),
            pending: None,
            dirs: Vec::new(),
            include_stack: Vec::new(),
            out: Vec::new(),
            chars: Vec::new(),
            repeat_budget: MAX_REPEAT_TOTAL,
            budget_reported: false,
        }
    }

    fn finish(self) -> Vec<Vec<Token>> {
        self.out
    }

    fn include_path(&mut self, path: &Path, at: Option<Span>, how: &str) {
        let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
        if self.include_stack.contains(&canonical) {
            self.diags.push(
                Diagnostic::error(
                    "include-cycle",
                    at,
                    format!("`{}` includes itself", path.display()),
                )
                .with_label("this include is already being read"),
            );
            return;
        }
        if self.include_stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(Diagnostic::error(
                "include-depth",
                at,
                format!("includes nested more than {MAX_INCLUDE_DEPTH} deep"),
            ));
            return;
        }
        let text = match std::fs::read(path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                // keepalived's plain `include` tolerates unreadable files; the checked
                // variants and the main file do not.
                let d = if at.is_some() && how == "include" {
                    Diagnostic::warning("include-unreadable", at, "included file cannot be read")
                } else {
                    Diagnostic::error("file-unreadable", at, "configuration file cannot be read")
                };
                self.diags
                    .push(d.with_label(format!("{}: {e}", path.display())));
                return;
            }
        };
        let id = self.sources.add(path.display().to_string(), text);
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        self.include_stack.push(canonical);
        self.file(id, dir);
        self.include_stack.pop();
    }

    fn file(&mut self, id: FileId, dir: PathBuf) {
        self.dirs.push(dir);
        let text = self.sources.file(id).text.clone();
        // About one line of tokens per 20 bytes of a typical configuration.
        self.out.reserve(text.len() / 20);
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line_start = offset;
            offset += raw.len();
            let line = raw.trim_end_matches(['\n', '\r']);
            let content = strip_comment(line);
            if let Some((name, mut lines)) = self.pending.take() {
                let (body, more) = split_continuation(content);
                lines.push(body.trim().to_string());
                if more {
                    self.pending = Some((name, lines));
                } else {
                    self.params.insert(name, lines);
                }
                continue;
            }
            // Most lines need no preprocessing: tokenize them in place.
            let body = content.trim_start();
            if !body.starts_with(['@', '$', '~']) && !body.contains('$') {
                let origin = Origin::Source {
                    file: id,
                    offset: line_start + (content.len() - body.len()),
                };
                let tokens = self.tokenize(body, &origin);
                self.emit(tokens);
                continue;
            }
            let mapped = Mapped::from_source(id, line_start, content);
            self.line(mapped, 0);
        }
        if let Some((name, lines)) = self.pending.take() {
            self.params.insert(name, lines);
        }
        self.dirs.pop();
    }

    fn line(&mut self, line: Mapped, depth: usize) {
        if depth > MAX_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    "expansion-depth",
                    Some(line.span(0, line.text.len())),
                    "parameter substitution nested too deep",
                )
                .with_help("a parameter probably refers to itself"),
            );
            return;
        }
        let mut m = line.trim_start();
        if m.text.is_empty() {
            return;
        }
        // Conditional line: `@id rest` or `@^id rest`.
        if m.text.starts_with('@') {
            let word_end = m.text.find(char::is_whitespace).unwrap_or(m.text.len());
            let (negate, id) = match m.text[1..word_end].strip_prefix('^') {
                Some(id) => (true, id),
                None => (false, &m.text[1..word_end]),
            };
            if (id == self.opts.config_id) == negate {
                return;
            }
            m.advance(word_end);
            m = m.trim_start();
            if m.text.is_empty() {
                return;
            }
        }
        // Definition: `$NAME=value`, no space before `=`.
        if let Some(rest) = m.text.strip_prefix('$') {
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            if name_len > 0
                && rest[name_len..].starts_with('=')
                && !rest.as_bytes()[0].is_ascii_digit()
            {
                let name = rest[..name_len].to_string();
                let (value, more) = split_continuation(&rest[name_len + 1..]);
                let value = value.trim().to_string();
                if more {
                    let first = if value.is_empty() {
                        vec![]
                    } else {
                        vec![value]
                    };
                    self.pending = Some((name, first));
                } else {
                    self.params.insert(name, vec![value]);
                }
                return;
            }
        }
        if m.text.starts_with("~SEQ") || m.text.starts_with("~LST") {
            self.repeat(m, depth);
            return;
        }
        let Some((expanded, changed)) = self.substitute(&m, 0) else {
            return;
        };
        if changed {
            // The substituted text may hold several lines, definitions or conditionals.
            let mut start = 0;
            for (i, c) in expanded.text.char_indices() {
                if c == '\n' {
                    self.line(expanded.slice(start, i), depth + 1);
                    start = i + 1;
                }
            }
            self.line(expanded.slice(start, expanded.text.len()), depth + 1);
            return;
        }
        let tokens = self.tokenize(&m.text, &m.origin);
        self.emit(tokens);
    }

    /// A finished line: an include, or tokens for the parser.
    fn emit(&mut self, tokens: Vec<Token>) {
        if tokens.is_empty() {
            return;
        }
        if let Some(how) = [
            "include", "includer", "includem", "includew", "includeb", "includea",
        ]
        .into_iter()
        .find(|k| tokens[0].text == *k && !tokens[0].quoted)
        {
            self.include(how, &tokens);
            return;
        }
        self.out.push(tokens);
    }

    fn include(&mut self, how: &str, tokens: &[Token]) {
        // keepalived takes the rest of the line as the pattern, so `{a,b}.conf`, which the
        // tokenizer splits at its braces, is joined back from its adjacent tokens.
        let joined = tokens.get(1).map(|first| {
            let mut t = first.clone();
            for next in &tokens[2..] {
                if next.span.file != t.span.file || next.span.start != t.span.end {
                    break;
                }
                t.text.push_str(&next.text);
                t.span.end = next.span.end;
            }
            t
        });
        let Some(pattern) = joined.as_ref() else {
            self.diags.push(
                Diagnostic::error(
                    "include-missing-file",
                    Some(tokens[0].span),
                    "include without a file name",
                )
                .with_label("expected a file name or glob pattern after this"),
            );
            return;
        };
        let dir = self
            .dirs
            .last()
            .cloned()
            .unwrap_or_else(|| PathBuf::from("."));
        let full = if Path::new(&pattern.text).is_absolute() {
            PathBuf::from(&pattern.text)
        } else {
            dir.join(&pattern.text)
        };
        let full_str = full.to_string_lossy().into_owned();
        let is_glob = pattern.text.contains(['*', '?', '[', '{']);
        // keepalived globs with GLOB_BRACE: `{a,b}` is expanded before matching, and each
        // alternative's matches come in turn.
        let mut matches: Vec<PathBuf> = Vec::new();
        let mut alternatives = Vec::new();
        expand_braces(&full_str, &mut alternatives);
        if alternatives.len() > MAX_BRACE_ALTERNATIVES {
            self.diags.push(
                Diagnostic::error(
                    "include-pattern",
                    Some(pattern.span),
                    "include pattern has too many brace alternatives",
                )
                .with_label(format!("more than {MAX_BRACE_ALTERNATIVES}")),
            );
            return;
        }
        for alternative in alternatives {
            match glob::glob(&alternative) {
                Ok(paths) => {
                    let before = matches.len();
                    matches.extend(paths.filter_map(Result::ok));
                    // `includeb` / `includea`: every brace alternative must match.
                    if matches.len() == before
                        && alternative != full_str
                        && matches!(how, "includeb" | "includea")
                    {
                        self.diags.push(
                            Diagnostic::error(
                                "include-no-match",
                                Some(pattern.span),
                                "a brace alternative of the include pattern matches no file",
                            )
                            .with_label(alternative),
                        );
                    }
                }
                Err(e) => {
                    self.diags.push(
                        Diagnostic::error(
                            "include-pattern",
                            Some(pattern.span),
                            "invalid include pattern",
                        )
                        .with_label(e.to_string()),
                    );
                    return;
                }
            }
        }
        if matches.is_empty() {
            // keepalived: plain `include` ignores a pattern with no match; the checked
            // variants (`includem`, `includea`, ...) make it an error.
            let strict = matches!(how, "includem" | "includea" | "includew" | "includer");
            let msg = if is_glob {
                "include pattern matches no file"
            } else {
                "included file does not exist"
            };
            let d = if strict {
                Diagnostic::error("include-no-match", Some(pattern.span), msg)
            } else {
                Diagnostic::warning("include-no-match", Some(pattern.span), msg)
            };
            self.diags.push(d.with_label(full_str));
            return;
        }
        for path in matches {
            if path.is_dir() {
                continue;
            }
            self.include_path(&path, Some(pattern.span), how);
        }
    }

    /// `~SEQ(var, [start,] [step,] end) rest`, `~SEQx(...)`, `~LST(var, v1, v2, ...)`,
    /// `~LST({a, b}, {1, 2}, {3, 4}) rest`.
    fn repeat(&mut self, m: Mapped, depth: usize) {
        let open = m.text.find('(');
        // The `)` after the `(` (one before it is malformed, not a slice to take).
        let close = open.and_then(|o| m.text[o..].find(')').map(|c| o + c));
        let (Some(open), Some(close)) = (open, close) else {
            self.diags.push(
                Diagnostic::error(
                    "bad-repeat",
                    Some(m.span(0, m.text.len())),
                    "malformed ~SEQ/~LST",
                )
                .with_help("write `~SEQ(var, start, step, end) line` or `~LST(var, v1, v2) line`"),
            );
            return;
        };
        let head = &m.text[..open];
        let spec_span = m.span(0, close + 1);
        let args = m.text[open + 1..close].to_string();
        let rest = m.slice(close + 1, m.text.len());
        // Each item: the variable names and one value per name.
        let mut runs: Vec<(Vec<String>, Vec<String>)> = Vec::new();
        match head {
            "~SEQ" | "~SEQx" => {
                let parts: Vec<&str> = args.split(',').map(str::trim).collect();
                let parse = |s: &str| -> Option<i64> {
                    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                        Some(hex) => i64::from_str_radix(hex, 16).ok(),
                        None => s.parse().ok(),
                    }
                };
                let nums: Option<Vec<i64>> = parts[1..].iter().map(|s| parse(s)).collect();
                let (var, nums) = (parts[0], nums.unwrap_or_default());
                let (start, step, end) = match nums.as_slice() {
                    [end] => (if *end < 0 { -1 } else { 1 }, None, *end),
                    [start, end] => (*start, None, *end),
                    [start, step, end] => (*start, Some(*step), *end),
                    _ => {
                        self.diags.push(
                            Diagnostic::error("bad-repeat", Some(spec_span), "malformed ~SEQ")
                                .with_label("expected a variable and one to three integers")
                                .with_help("write `~SEQ(var, start, step, end)`"),
                        );
                        return;
                    }
                };
                let step = step.unwrap_or(if end >= start { 1 } else { -1 });
                if step == 0 || var.is_empty() {
                    self.diags.push(Diagnostic::error(
                        "bad-repeat",
                        Some(spec_span),
                        "~SEQ step must not be 0",
                    ));
                    return;
                }
                let count = ((end - start) / step).max(-1) + 1;
                if count as u64 > MAX_REPEAT {
                    self.diags.push(Diagnostic::error(
                        "bad-repeat",
                        Some(spec_span),
                        format!("~SEQ would produce {count} lines (limit {MAX_REPEAT})"),
                    ));
                    return;
                }
                let mut v = start;
                while (step > 0 && v <= end) || (step < 0 && v >= end) {
                    let text = if head == "~SEQx" {
                        format!("{v:x}")
                    } else {
                        v.to_string()
                    };
                    runs.push((vec![var.to_string()], vec![text]));
                    v += step;
                }
            }
            "~LST" => {
                let groups = split_lst(&args);
                let Some((vars, values)) = groups.split_first() else {
                    self.diags.push(Diagnostic::error(
                        "bad-repeat",
                        Some(spec_span),
                        "empty ~LST",
                    ));
                    return;
                };
                if values.is_empty() || values.iter().any(|v| v.len() != vars.len()) {
                    self.diags.push(
                        Diagnostic::error("bad-repeat", Some(spec_span), "malformed ~LST")
                            .with_label("each value group needs one value per variable")
                            .with_help(
                                "write `~LST(var, v1, v2)` or `~LST({a, b}, {1, 2}, {3, 4})`",
                            ),
                    );
                    return;
                }
                for v in values {
                    runs.push((vars.clone(), v.clone()));
                }
            }
            _ => {
                self.diags.push(
                    Diagnostic::error("bad-repeat", Some(spec_span), format!("unknown `{head}`"))
                        .with_help("the repetition forms are ~SEQ, ~SEQx and ~LST"),
                );
                return;
            }
        }
        for (vars, values) in runs {
            if self.repeat_budget == 0 {
                if !self.budget_reported {
                    self.budget_reported = true;
                    self.diags.push(
                        Diagnostic::error(
                            "bad-repeat",
                            Some(spec_span),
                            format!(
                                "~SEQ/~LST loops repeat more than {MAX_REPEAT_TOTAL} times in all"
                            ),
                        )
                        .with_label("expansion stopped here"),
                    );
                }
                return;
            }
            self.repeat_budget -= 1;
            for (var, value) in vars.iter().zip(values) {
                self.params.insert(var.clone(), vec![value]);
            }
            self.line(rest.clone(), depth + 1);
        }
    }

    /// Replaces `$NAME` (followed by whitespace or the end) and `${NAME}`; returns the text
    /// and whether anything changed. Undefined parameters are left as they are. `None`:
    /// endless recursion, reported once; the line is dropped.
    fn substitute(&mut self, m: &Mapped, depth: usize) -> Option<(Mapped, bool)> {
        if !m.text.contains('$') {
            return Some((m.clone(), false));
        }
        let bytes = m.text.as_bytes();
        let mut out = Mapped::empty();
        let mut changed = false;
        let mut i = 0;
        let mut copied = 0;
        while i < bytes.len() {
            if bytes[i] != b'$' {
                i += 1;
                continue;
            }
            let (name, args, end) = if bytes.get(i + 1) == Some(&b'{') {
                match m.text[i + 2..].find('}') {
                    Some(close) => {
                        let inner = &m.text[i + 2..i + 2 + close];
                        let mut words = inner.split_whitespace();
                        let name = words.next().unwrap_or("").to_string();
                        (name, words.map(str::to_string).collect(), i + 3 + close)
                    }
                    None => {
                        i += 1;
                        continue;
                    }
                }
            } else {
                let len = m.text[i + 1..]
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(m.text.len() - i - 1);
                let end = i + 1 + len;
                // keepalived: an unbraced name must be followed by whitespace.
                if len == 0 || bytes.get(end).is_some_and(|b| !b.is_ascii_whitespace()) {
                    i += 1;
                    continue;
                }
                (m.text[i + 1..end].to_string(), Vec::new(), end)
            };
            let span = m.span(i, end);
            if name == "_ENV" && !self.params.contains_key(&name) {
                // keepalived's `${_ENV VAR}`: the variable's value, empty when it is unset.
                let problem = match args.as_slice() {
                    [var] if std::env::var_os(var).is_none() => Some(Diagnostic::warning(
                        "env-unset",
                        Some(span),
                        format!(
                            "environment variable `{var}` is not set: `${{_ENV {var}}}` is empty"
                        ),
                    )),
                    [_] => None,
                    _ => Some(
                        Diagnostic::error(
                            "env-parameters",
                            Some(span),
                            format!("`_ENV` takes one parameter, {} given", args.len()),
                        )
                        .with_help("write `${_ENV NAME}`"),
                    ),
                };
                if let Some(d) = problem {
                    let error = d.is_error();
                    self.diags.push(d);
                    if error {
                        i = end;
                        continue;
                    }
                }
            }
            let Some(value) = self.value_of(&name, &args) else {
                i = end;
                continue;
            };
            if depth >= MAX_DEPTH {
                self.diags.push(
                    Diagnostic::error(
                        "expansion-depth",
                        Some(span),
                        format!("parameter `{name}` expands recursively without end"),
                    )
                    .with_help("a parameter probably refers to itself"),
                );
                return None;
            }
            out.extend_from(m, copied, i);
            let mut value_m = Mapped::empty();
            value_m.push_str(&value, span);
            let (expanded, _) = self.substitute(&value_m, depth + 1)?;
            out.extend_from(&expanded, 0, expanded.text.len());
            if out.text.len() > MAX_LINE_LEN {
                self.diags.push(
                    Diagnostic::error(
                        "expansion-size",
                        Some(span),
                        format!("parameter `{name}` expands to more than {MAX_LINE_LEN} bytes"),
                    )
                    .with_help("parameters that repeat each other grow exponentially"),
                );
                return None;
            }
            changed = true;
            i = end;
            copied = end;
        }
        out.extend_from(m, copied, m.text.len());
        Some((out, changed))
    }

    fn value_of(&self, name: &str, args: &[String]) -> Option<String> {
        if let Some(lines) = self.params.get(name) {
            return Some(lines.join("\n"));
        }
        match name {
            "_PWD" => Some(
                self.dirs
                    .last()
                    .map(|d| d.display().to_string())
                    .unwrap_or_default(),
            ),
            "_INSTANCE" => Some(self.opts.config_id.clone()),
            // keepalived: unset is empty.
            "_ENV" => Some(
                args.first()
                    .and_then(|name| std::env::var(name).ok())
                    .unwrap_or_default(),
            ),
            "_HASH" => Some("#".into()),
            "_BANG" => Some("!".into()),
            "_RANDOM" => {
                let min: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(0);
                let max: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(32767);
                let seed = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos() as u64)
                    .unwrap_or(0);
                Some((min + seed % (max.saturating_sub(min) + 1)).to_string())
            }
            _ => None,
        }
    }

    fn tokenize(&mut self, text_in: &str, origin: &Origin) -> Vec<Token> {
        // Most lines are a keyword and a value or two.
        let mut tokens = Vec::with_capacity(4);
        // Reused between lines: this runs once per line of the configuration.
        let mut chars = std::mem::take(&mut self.chars);
        chars.clear();
        chars.extend(text_in.char_indices());
        let mut i = 0;
        while i < chars.len() {
            let (pos, c) = chars[i];
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            if c == '{' || c == '}' {
                tokens.push(Token {
                    text: c.to_string(),
                    span: span_of(origin, text_in.len(), pos, pos + 1),
                    quoted: false,
                });
                i += 1;
                continue;
            }
            let start = pos;
            let mut text = String::new();
            let mut quote: Option<(char, usize)> = None;
            let mut quoted = false;
            while i < chars.len() {
                let (p, c) = chars[i];
                match quote {
                    None if c.is_whitespace() || c == '{' || c == '}' => break,
                    // An undefined `${NAME}` stays one word, braces included.
                    None if c == '$' && chars.get(i + 1).is_some_and(|&(_, n)| n == '{') => {
                        match chars[i..].iter().position(|&(_, x)| x == '}') {
                            Some(len) => {
                                text.extend(chars[i..=i + len].iter().map(|&(_, x)| x));
                                i += len + 1;
                                continue;
                            }
                            None => text.push(c),
                        }
                    }
                    None if c == '"' || c == '\'' => {
                        quote = Some((c, p));
                        quoted = true;
                    }
                    None => text.push(c),
                    Some((q, _)) if c == q => quote = None,
                    Some(_) if c == '\\' && i + 1 < chars.len() => {
                        i += 1;
                        i = unescape(&chars, i, &mut text);
                        continue;
                    }
                    Some(_) => text.push(c),
                }
                i += 1;
            }
            let end = chars.get(i).map_or(text_in.len(), |(p, _)| *p);
            if let Some((_, qpos)) = quote {
                self.diags.push(
                    Diagnostic::error(
                        "unterminated-quote",
                        Some(span_of(origin, text_in.len(), qpos, qpos + 1)),
                        "unterminated quoted string",
                    )
                    .with_label("this quote is never closed on its line"),
                );
            }
            tokens.push(Token {
                text,
                span: span_of(origin, text_in.len(), start, end),
                quoted,
            });
        }
        self.chars = chars;
        tokens
    }
}

/// Resolves the escape at `chars[i]` (just after a backslash) into `out`; returns the index
/// after the escape.
fn unescape(chars: &[(usize, char)], mut i: usize, out: &mut String) -> usize {
    let c = chars[i].1;
    i += 1;
    let simple = match c {
        'a' => Some('\x07'),
        'b' => Some('\x08'),
        'E' => Some('\x1b'),
        'f' => Some('\x0c'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        'v' => Some('\x0b'),
        _ => None,
    };
    if let Some(s) = simple {
        out.push(s);
        return i;
    }
    match c {
        '0'..='7' => {
            let mut v = c.to_digit(8).unwrap_or(0);
            let mut n = 1;
            while n < 3 && i < chars.len() && chars[i].1.is_digit(8) {
                v = v * 8 + chars[i].1.to_digit(8).unwrap_or(0);
                i += 1;
                n += 1;
            }
            out.push(char::from_u32(v & 0xff).unwrap_or('\0'));
        }
        'x' => {
            let mut v: u32 = 0;
            while i < chars.len() && chars[i].1.is_ascii_hexdigit() {
                v = (v << 4 | chars[i].1.to_digit(16).unwrap_or(0)) & 0xff;
                i += 1;
            }
            out.push(char::from_u32(v).unwrap_or('\0'));
        }
        'c' if i < chars.len() => {
            out.push(char::from_u32(chars[i].1.to_ascii_uppercase() as u32 ^ 0x40).unwrap_or('\0'));
            i += 1;
        }
        other => out.push(other),
    }
    i
}

/// The line up to a `#` or `!` that is outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match quote {
            Some(_) if escaped => escaped = false,
            Some(_) if c == '\\' => escaped = true,
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' || c == '!' => return &line[..i],
            None => {}
        }
    }
    line
}

/// Splits a trailing `\` (line continuation of a multi-line definition).
fn split_continuation(s: &str) -> (&str, bool) {
    let t = s.trim_end();
    match t.strip_suffix('\\') {
        Some(body) => (body, true),
        None => (s, false),
    }
}

/// `a, b, c` -> [[a], [b], [c]]; `{a, b}, {1, 2}` -> [[a, b], [1, 2]].
fn split_lst(args: &str) -> Vec<Vec<String>> {
    let mut groups = Vec::new();
    let mut rest = args.trim();
    while !rest.is_empty() {
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').unwrap_or(inner.len());
            groups.push(
                inner[..close]
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .collect(),
            );
            rest = inner.get(close + 1..).unwrap_or("").trim_start();
            rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            groups.push(vec![rest[..end].trim().to_string()]);
            rest = rest.get(end + 1..).unwrap_or("").trim_start();
        }
    }
    groups
}

/// Brace alternatives of one include pattern: `{a,b}{c,d}...` doubles with each group, and
/// one line must not make the reader glob without end.
const MAX_BRACE_ALTERNATIVES: usize = 1024;

/// glibc's GLOB_BRACE: `a{b,c{d,e}}f` is `abf`, `acdf`, `acef`, in that order. A `{` without
/// its `}` is literal. Stops adding past [`MAX_BRACE_ALTERNATIVES`] (one more is the sign).
fn expand_braces(pattern: &str, out: &mut Vec<String>) {
    if out.len() > MAX_BRACE_ALTERNATIVES {
        return;
    }
    let bytes = pattern.as_bytes();
    let Some(open) = pattern.find('{') else {
        out.push(pattern.to_string());
        return;
    };
    let mut depth = 0;
    let mut commas = Vec::new();
    let mut close = None;
    for (i, &b) in bytes.iter().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            b',' if depth == 1 => commas.push(i),
            _ => {}
        }
    }
    let Some(close) = close else {
        out.push(pattern.to_string());
        return;
    };
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    let mut bounds = vec![open];
    bounds.extend(&commas);
    bounds.push(close);
    for w in bounds.windows(2) {
        let alternative = format!("{head}{}{tail}", &pattern[w[0] + 1..w[1]]);
        expand_braces(&alternative, out);
    }
}
