//! Placeholder until the logging branch lands: text to stderr through a non-blocking writer.

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Auto,
    Text,
    Json,
    Journald,
}

#[derive(Debug, thiserror::Error)]
#[error("logging: {0}")]
pub struct LoggingError(String);

pub struct LogGuard {
    _guard: tracing_appender::non_blocking::WorkerGuard,
    counter: tracing_appender::non_blocking::ErrorCounter,
}

impl LogGuard {
    pub fn dropped_lines(&self) -> u64 {
        self.counter.dropped_lines() as u64
    }
}

pub fn init(_format: LogFormat, level: LogLevel) -> Result<LogGuard, LoggingError> {
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .finish(std::io::stderr());
    let counter = writer.error_counter();
    let level = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_max_level(level)
        .with_ansi(false)
        .try_init()
        .map_err(|e| LoggingError(e.to_string()))?;
    Ok(LogGuard {
        _guard: guard,
        counter,
    })
}

/// Logs a panic (thread, message, place) before the default hook prints it.
pub fn log_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("unnamed");
        tracing::error!(thread = name, "panic: {info}");
        default(info);
    }));
}
