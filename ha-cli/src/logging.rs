//! Where `ha`'s log events go: the global `tracing` subscriber of the binary.
//!
//! The libraries log through `tracing` with structured fields (`instance`, `real_server`, …);
//! this module writes those events as text lines, JSON lines, or native journald entries.
//!
//! Writing never blocks the thread that logs: the VRRP thread must keep its timers even when
//! stderr is a full pipe or the journal is stalled. Every event is formatted on the calling
//! thread and handed to `tracing-appender`'s lossy non-blocking writer (a bounded queue and one
//! worker thread); when the queue is full the event is dropped and counted
//! ([`LogGuard::dropped_lines`]).

use std::fmt::{self, Write as _};
use std::io::{self, IsTerminal as _, Write};
use std::os::fd::AsFd as _;
use std::os::unix::fs::MetadataExt as _;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::{MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::filter::{EnvFilter, ParseError};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{Layer, Registry};

/// journald's native protocol socket.
pub const JOURNAL_SOCKET: &str = "/run/systemd/journal/socket";

/// `SYSLOG_IDENTIFIER` of journal entries: `journalctl -t ha`.
pub const SYSLOG_IDENTIFIER: &str = "ha";

/// Events queued for the writer thread before new ones are dropped. Bounds the memory a stalled
/// writer can hold (a few MiB of lines) while absorbing bursts such as a reload's log.
pub const BUFFERED_LINES_LIMIT: usize = 8192;

/// Name of the thread that writes log lines (visible in `top -H`, `ps -L`).
const WRITER_THREAD_NAME: &str = "ha-log-writer";

/// How log events are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum LogFormat {
    /// journald when systemd connected stderr to the journal, else text.
    #[default]
    Auto,
    /// One line per event on stderr: time, level, target, fields, message.
    Text,
    /// One JSON object per line on stderr.
    Json,
    /// Native journal entries with structured fields (HA_INSTANCE=…).
    Journald,
    /// keepalived's console lines (`Tue Dec  1 23:55:10 2026: (VI_1) Entering MASTER STATE`),
    /// with keepalived's exact words for the events keepalived logs, for the greps and log
    /// parsers operators already have.
    Keepalived,
}

impl LogFormat {
    /// Resolves `Auto` for this process: journald when `JOURNAL_STREAM` names stderr.
    pub fn resolve(self) -> LogFormat {
        let journal_stream = std::env::var("JOURNAL_STREAM").ok();
        self.resolve_with(journal_stream.as_deref(), FileId::of_stderr())
    }

    /// Resolves `Auto` from the given `JOURNAL_STREAM` value and stderr's identity: journald
    /// only when they are the same file. systemd sets `JOURNAL_STREAM` for a service whose
    /// stdout or stderr is the journal; a child that inherits the variable with stderr
    /// redirected elsewhere must not send to the journal.
    pub fn resolve_with(self, journal_stream: Option<&str>, stderr: Option<FileId>) -> LogFormat {
        match self {
            LogFormat::Auto => {
                let stream = journal_stream.and_then(FileId::from_journal_stream);
                if stream.is_some() && stream == stderr {
                    LogFormat::Journald
                } else {
                    LogFormat::Text
                }
            }
            format => format,
        }
    }
}

/// The most verbose level logged (unless `RUST_LOG` says otherwise). Ordered by verbosity,
/// like `tracing`'s `LevelFilter`: `Error < Warn < Info < Debug < Trace`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    #[default]
    Info,
    Debug,
    Trace,
}

impl From<LogLevel> for LevelFilter {
    fn from(level: LogLevel) -> LevelFilter {
        match level {
            LogLevel::Error => LevelFilter::ERROR,
            LogLevel::Warn => LevelFilter::WARN,
            LogLevel::Info => LevelFilter::INFO,
            LogLevel::Debug => LevelFilter::DEBUG,
            LogLevel::Trace => LevelFilter::TRACE,
        }
    }
}

/// The device and inode that identify an open file, as in `JOURNAL_STREAM`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

impl FileId {
    /// Identity of this process's stderr, `None` if it is closed.
    pub fn of_stderr() -> Option<FileId> {
        // fstat of a duplicate: std has no fstat on a borrowed descriptor.
        let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
        let metadata = std::fs::File::from(fd).metadata().ok()?;
        Some(FileId {
            device: metadata.dev(),
            inode: metadata.ino(),
        })
    }

    /// Parses `JOURNAL_STREAM`'s `device:inode` (decimal, as systemd writes them).
    pub fn from_journal_stream(value: &str) -> Option<FileId> {
        let (device, inode) = value.split_once(':')?;
        Some(FileId {
            device: device.parse().ok()?,
            inode: inode.parse().ok()?,
        })
    }
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("a global tracing subscriber is already installed")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Keeps the writer thread of the installed subscriber. Dropping it writes out the queued
/// events (waiting about a second at most), so keep it until the process exits.
#[must_use = "dropping the guard stops the log writer"]
#[derive(Debug)]
pub struct LogGuard {
    dropped: ErrorCounter,
    _worker: WorkerGuard,
}

impl LogGuard {
    /// Events lost because the writer fell behind (its queue was full).
    pub fn dropped_lines(&self) -> u64 {
        self.dropped.dropped_lines() as u64
    }
}

/// Installs the global subscriber: `format` (`Auto` resolved, see [`LogFormat::resolve`]) on
/// stderr or the journal, events up to `level`. `RUST_LOG`, if set, takes precedence (see
/// [`env_filter`]); an invalid `RUST_LOG` is reported as a warning and `level` is used. When the
/// journal cannot be reached, text goes to stderr, with one warning saying so.
pub fn init(format: LogFormat, level: LogLevel) -> Result<LogGuard, LoggingError> {
    init_with_journal_socket(format, level, Path::new(JOURNAL_SOCKET))
}

/// [`init`] with another journal socket (tests, containers with the journal mounted elsewhere).
pub fn init_with_journal_socket(
    format: LogFormat,
    level: LogLevel,
    journal_socket: &Path,
) -> Result<LogGuard, LoggingError> {
    let rust_log = std::env::var("RUST_LOG").ok();
    let (filter, rust_log_error) = match env_filter(level, rust_log.as_deref()) {
        Ok(filter) => (filter, None),
        Err(e) => (level_filter(level), Some(e)),
    };
    let mut journal_error = None;
    let (format, (writer, guard)) = match format.resolve() {
        LogFormat::Journald => match JournalSocket::open(journal_socket) {
            Ok(socket) => (LogFormat::Journald, non_blocking(socket)),
            Err(e) => {
                journal_error = Some(e);
                (LogFormat::Text, non_blocking(io::stderr()))
            }
        },
        format => (format, non_blocking(io::stderr())),
    };
    let ansi = format == LogFormat::Text && stderr_wants_colour();
    tracing::subscriber::set_global_default(build(format, filter, writer, ansi))?;
    if let Some(error) = journal_error {
        tracing::warn!(
            socket = %journal_socket.display(),
            %error,
            "cannot reach the journal; logging text to stderr"
        );
    }
    if let (Some(error), Some(rust_log)) = (rust_log_error, rust_log) {
        tracing::warn!(rust_log, %error, "RUST_LOG ignored");
    }
    Ok(guard)
}

fn stderr_wants_colour() -> bool {
    // https://no-color.org: any non-empty NO_COLOR turns colours off.
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    io::stderr().is_terminal() && !no_color
}

/// Which events are logged: up to `level`, unless `rust_log` (the value of `RUST_LOG`) has
/// directives: they take precedence (`debug` logs everything at debug, `director=trace` adds
/// tracing for `director` while other targets stay at `level`).
pub fn env_filter(level: LogLevel, rust_log: Option<&str>) -> Result<EnvFilter, ParseError> {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        // Later directives replace earlier ones for the same target, so RUST_LOG's plain
        // level (if any) replaces `level`.
        Some(directives) => {
            EnvFilter::builder().parse(format!("{},{directives}", LevelFilter::from(level)))
        }
        None => Ok(level_filter(level)),
    }
}

fn level_filter(level: LogLevel) -> EnvFilter {
    EnvFilter::default().add_directive(LevelFilter::from(level).into())
}

/// Wraps `writer` in the lossy non-blocking writer `init` uses: each `write` call of the
/// returned writer is queued whole, as one message, for one `write_all` on `writer`'s thread
/// (so a datagram writer sends one datagram per event); a full queue drops and counts.
pub fn non_blocking<W: Write + Send + 'static>(writer: W) -> (NonBlocking, LogGuard) {
    let (non_blocking, worker) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES_LIMIT)
        .thread_name(WRITER_THREAD_NAME)
        .finish(writer);
    let dropped = non_blocking.error_counter();
    (
        non_blocking,
        LogGuard {
            dropped,
            _worker: worker,
        },
    )
}

/// A subscriber that writes `format` (`Auto` resolved for this process) to `make_writer`,
/// events up to `level`, without colours and without consulting `RUST_LOG`; install it with
/// `tracing::subscriber::with_default` or `set_global_default`. Each event is one `write` on
/// `make_writer`: a line for text and JSON, one native-protocol entry for journald. Pass a
/// writer from [`non_blocking`] for the non-blocking behaviour of [`init`].
pub fn subscriber<W>(
    format: LogFormat,
    level: LogLevel,
    make_writer: W,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    build(format.resolve(), level_filter(level), make_writer, false)
}

fn build<W>(
    format: LogFormat,
    filter: EnvFilter,
    make_writer: W,
    ansi: bool,
) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let layer: Box<dyn Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_timer(UtcTimestamp)
                .with_current_span(true)
                .with_span_list(true)
                .with_writer(make_writer),
        ),
        LogFormat::Journald => Box::new(JournaldLayer::new(make_writer)),
        LogFormat::Keepalived => Box::new(
            tracing_subscriber::fmt::layer()
                .event_format(KeepalivedFormat)
                .with_writer(make_writer),
        ),
        // Auto is resolved by the callers; text is its fallback anyway.
        LogFormat::Text | LogFormat::Auto => Box::new(
            tracing_subscriber::fmt::layer()
                .event_format(TextFormat { ansi })
                .fmt_fields(TextFields)
                .with_writer(make_writer),
        ),
    };
    Registry::default().with(layer).with(filter)
}

// ---------------------------------------------------------------------------------------------
// keepalived's console format

/// One line per event as `keepalived -l` prints it: local time in C's `ctime` form, then the
/// event's `keepalived` field (keepalived's own words) when it has one, else its message.
#[derive(Clone, Copy, Debug, Default)]
pub struct KeepalivedFormat;

impl<S, N> FormatEvent<S, N> for KeepalivedFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        #[derive(Default)]
        struct Words {
            keepalived: Option<String>,
            message: Option<String>,
        }
        impl Visit for Words {
            fn record_str(&mut self, field: &Field, value: &str) {
                match field.name() {
                    "keepalived" => self.keepalived = Some(value.to_string()),
                    "message" => self.message = Some(value.to_string()),
                    _ => {}
                }
            }
            fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
                match field.name() {
                    "keepalived" => self.keepalived = Some(format!("{value:?}")),
                    "message" => self.message = Some(format!("{value:?}")),
                    _ => {}
                }
            }
        }
        let mut words = Words::default();
        event.record(&mut words);
        let text = words.keepalived.or(words.message).unwrap_or_default();
        // `%a %b %e %H:%M:%S %Y`, as ctime(3) writes it.
        let now = chrono::Local::now().format("%a %b %e %H:%M:%S %Y");
        // One event, one line, as keepalived's own (its texts have no newlines).
        writeln!(writer, "{now}: {}", text.replace('\n', " "))
    }
}

// ---------------------------------------------------------------------------------------------
// Timestamps

/// RFC 3339 in UTC with microseconds, e.g. `2026-12-01T22:05:11.123456Z`: fixed width, so
/// lines align and sort as text.
#[derive(Clone, Copy, Debug, Default)]
pub struct UtcTimestamp;

impl FormatTime for UtcTimestamp {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write_utc_timestamp(w, time::OffsetDateTime::now_utc())
    }
}

fn write_utc_timestamp(w: &mut impl fmt::Write, t: time::OffsetDateTime) -> fmt::Result {
    write!(
        w,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

// ---------------------------------------------------------------------------------------------
// Text

/// One line per event: `<time> <LEVEL> <target>: <span fields> <event fields> <message>`,
/// fields as `key=value` (quoted when they contain spaces, `=` or `"`). Control characters,
/// newlines included, are escaped so an event is always one line.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFormat {
    /// Colour the level (a terminal).
    pub ansi: bool,
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let metadata = event.metadata();
        if self.ansi {
            writer.write_str(DIM)?;
            write_utc_timestamp(&mut writer, time::OffsetDateTime::now_utc())?;
            writer.write_str(RESET)?;
            let colour = level_colour(*metadata.level());
            write!(writer, " {colour}{:>5}{RESET} ", metadata.level())?;
        } else {
            write_utc_timestamp(&mut writer, time::OffsetDateTime::now_utc())?;
            write!(writer, " {:>5} ", metadata.level())?;
        }
        write!(writer, "{}:", metadata.target())?;
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>() {
                    if !fields.is_empty() {
                        write!(writer, " {fields}")?;
                    }
                }
            }
        }
        let mut visitor = LogfmtVisitor {
            writer: &mut writer,
            message: Some(String::new()),
            needs_space: true,
            scratch: String::new(),
            result: Ok(()),
        };
        event.record(&mut visitor);
        visitor.result?;
        let message = visitor.message.unwrap_or_default();
        if !message.is_empty() {
            writer.write_char(' ')?;
            write_escaped(&mut writer, &message)?;
        }
        writeln!(writer)
    }
}

const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn level_colour(level: Level) -> &'static str {
    match level {
        Level::ERROR => "\x1b[31m",
        Level::WARN => "\x1b[33m",
        Level::INFO => "\x1b[32m",
        Level::DEBUG => "\x1b[34m",
        Level::TRACE => "\x1b[35m",
    }
}

/// Formats span fields the way [`TextFormat`] writes event fields (`key=value`).
#[derive(Clone, Copy, Debug, Default)]
pub struct TextFields;

impl<'a> MakeVisitor<Writer<'a>> for TextFields {
    type Visitor = LogfmtVisitor<Writer<'a>>;

    fn make_visitor(&self, writer: Writer<'a>) -> Self::Visitor {
        LogfmtVisitor {
            writer,
            message: None,
            needs_space: false,
            scratch: String::new(),
            result: Ok(()),
        }
    }
}

/// Writes fields as `key=value`, separated by spaces; with `message` set, keeps the message
/// aside for the end of the line.
pub struct LogfmtVisitor<W> {
    writer: W,
    message: Option<String>,
    needs_space: bool,
    scratch: String,
    result: fmt::Result,
}

impl<W: fmt::Write> LogfmtVisitor<W> {
    fn field(&mut self, name: &str, value: &str) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if self.needs_space {
                self.writer.write_char(' ')?;
            }
            self.needs_space = true;
            write!(self.writer, "{name}=")?;
            write_logfmt_value(&mut self.writer, value)
        })();
    }
}

impl<W: fmt::Write> Visit for LogfmtVisitor<W> {
    fn record_str(&mut self, field: &Field, value: &str) {
        match &mut self.message {
            Some(message) if field.name() == "message" => message.push_str(value),
            _ => self.field(field.name(), value),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        match &mut self.message {
            Some(message) if field.name() == "message" => {
                let _ = write!(message, "{value:?}");
            }
            _ => {
                let mut text = std::mem::take(&mut self.scratch);
                text.clear();
                let _ = write!(text, "{value:?}");
                self.field(field.name(), &text);
                self.scratch = text;
            }
        }
    }
}

impl<W: fmt::Write> VisitOutput<fmt::Result> for LogfmtVisitor<W> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl<W: fmt::Write> VisitFmt for LogfmtVisitor<W> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.writer
    }
}

fn write_logfmt_value(w: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let needs_quotes = value.is_empty()
        || value
            .chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control());
    if !needs_quotes {
        return w.write_str(value);
    }
    w.write_char('"')?;
    for c in value.chars() {
        match c {
            '"' => w.write_str("\\\"")?,
            '\\' => w.write_str("\\\\")?,
            c => write_escaped_char(w, c)?,
        }
    }
    w.write_char('"')
}

fn write_escaped(w: &mut impl fmt::Write, text: &str) -> fmt::Result {
    text.chars().try_for_each(|c| write_escaped_char(w, c))
}

/// Newlines and other control characters (terminal escapes too) as visible escapes.
fn write_escaped_char(w: &mut impl fmt::Write, c: char) -> fmt::Result {
    match c {
        '\n' => w.write_str("\\n"),
        '\r' => w.write_str("\\r"),
        '\t' => w.write_str("\\t"),
        c if c.is_control() => write!(w, "\\u{{{:x}}}", u32::from(c)),
        c => w.write_char(c),
    }
}

// ---------------------------------------------------------------------------------------------
// journald

/// Formats each event as one journal entry in the native protocol
/// (<https://systemd.io/JOURNAL_NATIVE_PROTOCOL/>) and writes it with one `write` call to
/// `make_writer` (a [`JournalSocket`] behind [`non_blocking`] in `init`).
///
/// Fields: `MESSAGE`, `PRIORITY`, `SYSLOG_IDENTIFIER`, `TARGET`, `CODE_FILE`, `CODE_LINE`,
/// `MESSAGE_ID` from a `message_id` field, and every other event or span field `foo` as
/// `HA_FOO`. `tracing-journald` would send synchronously from the logging thread; this layer
/// only formats there.
pub struct JournaldLayer<W> {
    make_writer: W,
}

impl<W> JournaldLayer<W> {
    pub fn new(make_writer: W) -> Self {
        JournaldLayer { make_writer }
    }
}

/// A span's fields, already encoded as journal fields, added to its events' entries.
struct JournalSpanFields(Vec<u8>);

impl<S, W> Layer<S> for JournaldLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Vec::new();
        attrs.record(&mut JournalFieldVisitor::new(&mut fields));
        span.extensions_mut().insert(JournalSpanFields(fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut extensions = span.extensions_mut();
        if let Some(JournalSpanFields(fields)) = extensions.get_mut::<JournalSpanFields>() {
            values.record(&mut JournalFieldVisitor::new(fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let metadata = event.metadata();
        let mut entry = Vec::with_capacity(256);
        put_journal_field(
            &mut entry,
            "PRIORITY",
            syslog_priority(*metadata.level()).as_bytes(),
        );
        put_journal_field(
            &mut entry,
            "SYSLOG_IDENTIFIER",
            SYSLOG_IDENTIFIER.as_bytes(),
        );
        put_journal_field(&mut entry, "TARGET", metadata.target().as_bytes());
        if let Some(file) = metadata.file() {
            put_journal_field(&mut entry, "CODE_FILE", file.as_bytes());
        }
        if let Some(line) = metadata.line() {
            put_journal_field(&mut entry, "CODE_LINE", line.to_string().as_bytes());
        }
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(JournalSpanFields(fields)) = span.extensions().get() {
                    entry.extend_from_slice(fields);
                }
            }
        }
        event.record(&mut JournalFieldVisitor::new(&mut entry));
        // Nothing to do about a failed write: there is nowhere else to log it.
        let _ = self.make_writer.make_writer_for(metadata).write_all(&entry);
    }
}

/// syslog priority of a level: err, warning, info, debug.
fn syslog_priority(level: Level) -> &'static str {
    match level {
        Level::ERROR => "3",
        Level::WARN => "4",
        Level::INFO => "6",
        Level::DEBUG | Level::TRACE => "7",
    }
}

/// Appends `name=value\n`, or for a value with a newline the binary-safe
/// `name\n<length: u64 LE>value\n`.
fn put_journal_field(entry: &mut Vec<u8>, name: &str, value: &[u8]) {
    entry.extend_from_slice(name.as_bytes());
    put_journal_value(entry, value);
}

fn put_journal_value(entry: &mut Vec<u8>, value: &[u8]) {
    if value.contains(&b'\n') {
        entry.push(b'\n');
        entry.extend_from_slice(&(value.len() as u64).to_le_bytes());
    } else {
        entry.push(b'=');
    }
    entry.extend_from_slice(value);
    entry.push(b'\n');
}

/// The journal field of a `tracing` field `name`: `HA_` and the name uppercased, other
/// characters than ASCII letters and digits as `_` (journal field names are `[A-Z0-9_]`, at
/// most 64 characters).
pub fn journal_field_name(name: &str) -> String {
    const MAX_LEN: usize = 64;
    let mut journal_name = String::with_capacity(MAX_LEN);
    journal_name.push_str("HA_");
    journal_name.extend(
        name.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .take(MAX_LEN - 3),
    );
    journal_name
}

/// Appends each visited field to an entry: `message` as `MESSAGE`, `message_id` as
/// `MESSAGE_ID`, others as `HA_<NAME>`.
struct JournalFieldVisitor<'a> {
    entry: &'a mut Vec<u8>,
    scratch: String,
}

impl<'a> JournalFieldVisitor<'a> {
    fn new(entry: &'a mut Vec<u8>) -> Self {
        JournalFieldVisitor {
            entry,
            scratch: String::new(),
        }
    }

    fn field(&mut self, name: &str, value: &str) {
        match name {
            "message" => put_journal_field(self.entry, "MESSAGE", value.as_bytes()),
            "message_id" => put_journal_field(self.entry, "MESSAGE_ID", value.as_bytes()),
            name => put_journal_field(self.entry, &journal_field_name(name), value.as_bytes()),
        }
    }
}

impl Visit for JournalFieldVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field.name(), value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let _ = write!(text, "{value:?}");
        self.field(field.name(), &text);
        self.scratch = text;
    }
}

/// The journal's native socket as an `io::Write`: each `write` sends its buffer as one entry,
/// whole or not at all: a datagram, or for an entry too large for one, a sealed memfd passed
/// over the socket (as the protocol provides). Blocks when the journal is slow, so use it
/// behind [`non_blocking`].
#[derive(Debug)]
pub struct JournalSocket {
    socket: UnixDatagram,
    path: PathBuf,
}

impl JournalSocket {
    /// A socket sending to `path`, after checking that something receives there.
    pub fn open(path: impl Into<PathBuf>) -> io::Result<JournalSocket> {
        let path = path.into();
        // connect() fails when the path is missing or nobody is bound to it. The sending
        // socket stays unconnected and names the path on every send, so it reaches a journal
        // that was restarted and bound the path anew.
        UnixDatagram::unbound()?.connect(&path)?;
        Ok(JournalSocket {
            socket: UnixDatagram::unbound()?,
            path,
        })
    }
}

impl JournalSocket {
    /// Sends `entry` as the content of a sealed memfd: journald reads such an fd, passed with
    /// an empty datagram, as one entry. Sealing is required: the journal must not see the
    /// entry change under it.
    fn send_as_memfd(&self, entry: &[u8]) -> io::Result<()> {
        use nix::fcntl::{fcntl, FcntlArg, SealFlag};
        use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
        use std::os::fd::AsRawFd as _;

        let memfd = memfd_create(
            c"ha-journal-entry",
            MemFdCreateFlag::MFD_ALLOW_SEALING | MemFdCreateFlag::MFD_CLOEXEC,
        )?;
        let mut file = std::fs::File::from(memfd);
        file.write_all(entry)?;
        let seals = SealFlag::F_SEAL_SHRINK
            | SealFlag::F_SEAL_GROW
            | SealFlag::F_SEAL_WRITE
            | SealFlag::F_SEAL_SEAL;
        fcntl(file.as_raw_fd(), FcntlArg::F_ADD_SEALS(seals))?;
        let address = UnixAddr::new(&self.path)?;
        sendmsg(
            self.socket.as_raw_fd(),
            &[],
            &[ControlMessage::ScmRights(&[file.as_raw_fd()])],
            MsgFlags::empty(),
            Some(&address),
        )?;
        Ok(())
    }
}

impl Write for JournalSocket {
    fn write(&mut self, entry: &[u8]) -> io::Result<usize> {
        match self.socket.send_to(entry, &self.path) {
            Ok(sent) if sent == entry.len() => Ok(sent),
            // Not expected of a datagram socket; never report part of an entry as written.
            Ok(_) => Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "journal datagram sent in part",
            )),
            // Larger than the socket's send buffer (some 200 KiB by default).
            Err(e) if e.raw_os_error() == Some(nix::libc::EMSGSIZE) => {
                self.send_as_memfd(entry)?;
                Ok(entry.len())
            }
            Err(e) => Err(e),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Logs a panic (thread, message, place) through the subscriber before the default hook
/// prints it: the director then stops itself (see the `director` crate), and the journal
/// should say why.
pub fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        tracing::error!(thread = name, "panic: {info}");
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// An in-memory writer: each `write` call is kept as one record.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<Vec<u8>>>>);

    impl Captured {
        fn records(&self) -> Vec<Vec<u8>> {
            self.0.lock().unwrap().clone()
        }
        fn text(&self) -> String {
            String::from_utf8(self.records().concat()).unwrap()
        }
    }

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn capture(format: LogFormat, level: LogLevel, log: impl FnOnce()) -> Captured {
        let captured = Captured::default();
        let subscriber = subscriber(format, level, captured.clone());
        tracing::subscriber::with_default(subscriber, log);
        captured
    }

    fn capture_filtered(filter: EnvFilter, log: impl FnOnce()) -> String {
        let captured = Captured::default();
        let subscriber = build(LogFormat::Text, filter, captured.clone(), false);
        tracing::subscriber::with_default(subscriber, log);
        captured.text()
    }

    /// `2026-12-01T22:05:11.123456Z`
    fn is_utc_timestamp(s: &str) -> bool {
        let pattern = "dddd-dd-ddTdd:dd:dd.ddddddZ";
        s.len() == pattern.len()
            && s.chars().zip(pattern.chars()).all(|(c, p)| match p {
                'd' => c.is_ascii_digit(),
                p => c == p,
            })
    }

    #[test]
    fn keepalived_format_prints_keepalived_words_after_a_ctime_stamp() {
        let captured = capture(LogFormat::Keepalived, LogLevel::Info, || {
            tracing::info!(
                instance = "VI_1",
                keepalived = "(VI_1) Entering MASTER STATE",
                "(VI_1) Entering MASTER STATE (master-down timer expired)"
            );
            tracing::info!("an event keepalived does not log");
        });
        let text = captured.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        // `Tue Dec  1 23:55:10 2026: ...`: 24 characters of ctime, then ": ".
        for line in &lines {
            let (stamp, _) = line.split_at(24);
            assert_eq!(&line[24..26], ": ", "{line}");
            let words: Vec<&str> = stamp.split_whitespace().collect();
            assert_eq!(words.len(), 5, "{stamp}");
            assert!(
                words[3].len() == 8 && words[3].matches(':').count() == 2,
                "{stamp}"
            );
        }
        assert!(
            lines[0].ends_with(": (VI_1) Entering MASTER STATE"),
            "{text}"
        );
        assert!(
            lines[1].ends_with(": an event keepalived does not log"),
            "{text}"
        );
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_microseconds() {
        let t = time::Date::from_calendar_date(2026, time::Month::December, 1)
            .unwrap()
            .with_hms_micro(22, 5, 11, 123)
            .unwrap()
            .assume_utc();
        let mut text = String::new();
        write_utc_timestamp(&mut text, t).unwrap();
        assert_eq!(text, "2026-12-01T22:05:11.000123Z");
        assert!(is_utc_timestamp(&text));
        assert!(!is_utc_timestamp("2026-12-01T22:05:11.123Z"));
    }

    #[test]
    fn text_is_one_line_with_time_level_target_fields_and_message() {
        let captured = capture(LogFormat::Text, LogLevel::Info, || {
            let span = tracing::info_span!("vrrp", instance = "VI_1");
            let _entered = span.enter();
            tracing::warn!(
                target: "director::vrrp",
                priority = 100,
                reason = "advert timeout",
                "entering MASTER state"
            );
        });
        let lines = captured.records();
        assert_eq!(lines.len(), 1, "one write per event");
        let line = String::from_utf8(lines[0].clone()).unwrap();
        let (timestamp, rest) = line.split_once(' ').unwrap();
        assert!(is_utc_timestamp(timestamp), "{line:?}");
        assert_eq!(
            rest,
            " WARN director::vrrp: instance=VI_1 priority=100 reason=\"advert timeout\" \
             entering MASTER state\n"
        );
    }

    #[test]
    fn text_escapes_newlines_and_terminal_escapes() {
        let captured = capture(LogFormat::Text, LogLevel::Info, || {
            tracing::error!(
                target: "t",
                path = "a=b",
                empty = "",
                "line one\nline two \x1b[31mred"
            );
        });
        let text = captured.text();
        assert_eq!(text.lines().count(), 1, "{text:?}");
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(
            text.ends_with("ERROR t: path=\"a=b\" empty=\"\" line one\\nline two \\u{1b}[31mred\n"),
            "{text:?}"
        );
    }

    #[test]
    fn text_has_colours_only_when_asked() {
        let captured = Captured::default();
        let layer = tracing_subscriber::fmt::layer()
            .event_format(TextFormat { ansi: true })
            .fmt_fields(TextFields)
            .with_writer(captured.clone());
        let subscriber = Registry::default().with(layer);
        tracing::subscriber::with_default(subscriber, || tracing::warn!("coloured"));
        assert!(captured.text().contains("\x1b[33m WARN\x1b[0m"));

        let plain = capture(LogFormat::Text, LogLevel::Info, || tracing::warn!("plain"));
        assert!(!plain.text().contains('\x1b'));
    }

    #[test]
    fn text_below_the_level_is_not_written() {
        let captured = capture(LogFormat::Text, LogLevel::Warn, || {
            tracing::info!("not written");
            tracing::warn!("written");
        });
        let text = captured.text();
        assert!(!text.contains("not written"), "{text}");
        assert!(text.contains("written"), "{text}");
    }

    #[test]
    fn json_is_one_object_per_line_with_fields_and_spans() {
        let captured = capture(LogFormat::Json, LogLevel::Debug, || {
            let span = tracing::info_span!("check", real_server = "10.0.0.2:80");
            let _entered = span.enter();
            tracing::debug!(target: "healthcheck", failures = 3, "check failed\nsecond line");
        });
        let lines = captured.records();
        assert_eq!(lines.len(), 1);
        let line = String::from_utf8(lines[0].clone()).unwrap();
        assert!(line.ends_with('\n') && line.trim_end().lines().count() == 1);
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert!(
            is_utc_timestamp(value["timestamp"].as_str().unwrap()),
            "{line}"
        );
        assert_eq!(value["level"], "DEBUG");
        assert_eq!(value["target"], "healthcheck");
        assert_eq!(value["fields"]["message"], "check failed\nsecond line");
        assert_eq!(value["fields"]["failures"], 3);
        assert_eq!(value["span"]["name"], "check");
        assert_eq!(value["spans"][0]["real_server"], "10.0.0.2:80");
        assert_eq!(value["spans"][0]["name"], "check");
    }

    /// Parses a native-protocol entry into (name, value) pairs, in order.
    pub(crate) fn parse_journal_entry(mut entry: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut fields = Vec::new();
        while !entry.is_empty() {
            let end = entry
                .iter()
                .position(|&b| b == b'\n' || b == b'=')
                .expect("field name ends");
            let name = String::from_utf8(entry[..end].to_vec()).unwrap();
            if entry[end] == b'=' {
                let rest = &entry[end + 1..];
                let newline = rest.iter().position(|&b| b == b'\n').expect("newline");
                fields.push((name, rest[..newline].to_vec()));
                entry = &rest[newline + 1..];
            } else {
                let rest = &entry[end + 1..];
                let len = u64::from_le_bytes(rest[..8].try_into().unwrap()) as usize;
                let value = rest[8..8 + len].to_vec();
                assert_eq!(rest[8 + len], b'\n', "binary field ends with a newline");
                fields.push((name, value));
                entry = &rest[8 + len + 1..];
            }
        }
        fields
    }

    fn field<'a>(fields: &'a [(String, Vec<u8>)], name: &str) -> Vec<&'a str> {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| std::str::from_utf8(v).unwrap())
            .collect()
    }

    #[test]
    fn journald_entry_has_the_protocol_fields_and_ha_fields() {
        let captured = capture(LogFormat::Journald, LogLevel::Trace, || {
            let span = tracing::info_span!("vrrp", instance = "VI_1");
            let _entered = span.enter();
            span.record("instance", "VI_1");
            tracing::error!(
                target: "director::vrrp",
                real_server = %"10.0.0.2:80",
                message_id = "0123456789abcdef0123456789abcdef",
                "line one\nline two"
            );
        });
        let entries = captured.records();
        assert_eq!(entries.len(), 1, "one write per event");
        let fields = parse_journal_entry(&entries[0]);
        assert_eq!(field(&fields, "MESSAGE"), ["line one\nline two"]);
        assert_eq!(field(&fields, "PRIORITY"), ["3"]);
        assert_eq!(field(&fields, "SYSLOG_IDENTIFIER"), ["ha"]);
        assert_eq!(field(&fields, "TARGET"), ["director::vrrp"]);
        assert_eq!(field(&fields, "CODE_FILE"), [file!()]);
        assert!(field(&fields, "CODE_LINE")[0].parse::<u32>().unwrap() > 0);
        assert_eq!(
            field(&fields, "MESSAGE_ID"),
            ["0123456789abcdef0123456789abcdef"]
        );
        // Recorded at creation and again later: both values, like a journal field given twice.
        assert_eq!(field(&fields, "HA_INSTANCE"), ["VI_1", "VI_1"]);
        assert_eq!(field(&fields, "HA_REAL_SERVER"), ["10.0.0.2:80"]);
        // The multi-line value is in the binary-safe form; the others are KEY=value.
        let needle = b"MESSAGE\n\x11\0\0\0\0\0\0\0line one\nline two\n";
        assert!(entries[0].windows(needle.len()).any(|w| w == needle));
        assert!(entries[0]
            .windows(b"PRIORITY=3\n".len())
            .any(|w| w == b"PRIORITY=3\n"));
    }

    #[test]
    fn journald_priorities_follow_syslog() {
        let captured = capture(LogFormat::Journald, LogLevel::Trace, || {
            tracing::error!("e");
            tracing::warn!("w");
            tracing::info!("i");
            tracing::debug!("d");
            tracing::trace!("t");
        });
        let priorities: Vec<String> = captured
            .records()
            .iter()
            .map(|entry| field(&parse_journal_entry(entry), "PRIORITY")[0].to_string())
            .collect();
        assert_eq!(priorities, ["3", "4", "6", "7", "7"]);
    }

    #[test]
    fn journal_field_names_are_uppercase_alphanumerics() {
        assert_eq!(journal_field_name("instance"), "HA_INSTANCE");
        assert_eq!(journal_field_name("real_server"), "HA_REAL_SERVER");
        assert_eq!(journal_field_name("log.target"), "HA_LOG_TARGET");
        assert_eq!(journal_field_name("vérif-2"), "HA_V_RIF_2");
        assert_eq!(journal_field_name(&"x".repeat(100)).len(), 64);
    }

    #[test]
    fn auto_is_journald_only_when_journal_stream_is_stderr() {
        let stderr = Some(FileId {
            device: 8,
            inode: 1234,
        });
        let auto = LogFormat::Auto;
        assert_eq!(
            auto.resolve_with(Some("8:1234"), stderr),
            LogFormat::Journald
        );
        assert_eq!(auto.resolve_with(Some("8:1235"), stderr), LogFormat::Text);
        assert_eq!(auto.resolve_with(Some("9:1234"), stderr), LogFormat::Text);
        assert_eq!(auto.resolve_with(None, stderr), LogFormat::Text);
        assert_eq!(auto.resolve_with(Some("8:1234"), None), LogFormat::Text);
        assert_eq!(auto.resolve_with(Some("garbage"), stderr), LogFormat::Text);
        assert_eq!(auto.resolve_with(Some(""), None), LogFormat::Text);
        // An explicit format is kept, whatever the environment.
        for format in [LogFormat::Text, LogFormat::Json, LogFormat::Journald] {
            assert_eq!(format.resolve_with(Some("8:1234"), stderr), format);
            assert_eq!(format.resolve_with(None, None), format);
        }
    }

    #[test]
    fn journal_stream_parses_device_and_inode() {
        assert_eq!(
            FileId::from_journal_stream("64769:2236493"),
            Some(FileId {
                device: 64769,
                inode: 2236493
            })
        );
        assert_eq!(FileId::from_journal_stream("64769"), None);
        assert_eq!(FileId::from_journal_stream("a:b"), None);
    }

    #[test]
    fn stderr_has_an_identity() {
        // Whatever the test harness made of stderr, it is open.
        assert!(FileId::of_stderr().is_some());
    }

    #[test]
    fn levels_are_ordered_by_verbosity() {
        assert!(LogLevel::Error < LogLevel::Warn);
        assert!(LogLevel::Warn < LogLevel::Info);
        assert!(LogLevel::Info < LogLevel::Debug);
        assert!(LogLevel::Debug < LogLevel::Trace);
        assert_eq!(LogLevel::default(), LogLevel::Info);
        assert_eq!(LogFormat::default(), LogFormat::Auto);
        assert_eq!(LevelFilter::from(LogLevel::Debug), LevelFilter::DEBUG);
    }

    fn log_levels_and_targets() {
        tracing::info!(target: "director", "director info");
        tracing::debug!(target: "director", "director debug");
        tracing::info!(target: "healthcheck", "healthcheck info");
        tracing::debug!(target: "healthcheck", "healthcheck debug");
    }

    #[test]
    fn rust_log_takes_precedence_over_the_level() {
        let unset = capture_filtered(
            env_filter(LogLevel::Info, None).unwrap(),
            log_levels_and_targets,
        );
        assert!(unset.contains("director info") && !unset.contains("debug"));

        let empty = capture_filtered(
            env_filter(LogLevel::Info, Some(" ")).unwrap(),
            log_levels_and_targets,
        );
        assert_eq!(empty.lines().count(), 2, "{empty}");

        let plain_level = capture_filtered(
            env_filter(LogLevel::Info, Some("debug")).unwrap(),
            log_levels_and_targets,
        );
        assert_eq!(plain_level.lines().count(), 4, "{plain_level}");

        let quieter = capture_filtered(
            env_filter(LogLevel::Debug, Some("warn")).unwrap(),
            log_levels_and_targets,
        );
        assert_eq!(quieter, "");

        // A target named in RUST_LOG; the others stay at the level.
        let one_target = capture_filtered(
            env_filter(LogLevel::Info, Some("director=debug")).unwrap(),
            log_levels_and_targets,
        );
        assert!(one_target.contains("director debug"), "{one_target}");
        assert!(one_target.contains("healthcheck info"), "{one_target}");
        assert!(!one_target.contains("healthcheck debug"), "{one_target}");

        assert!(env_filter(LogLevel::Info, Some("director=loud")).is_err());
    }
}
