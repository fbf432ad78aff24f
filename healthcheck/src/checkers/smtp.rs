//! `SMTP_CHECK`: banner 220, `HELO` 250, `QUIT` 221.

use std::net::SocketAddr;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use crate::config::{ConnectOptions, SmtpCheck};
use crate::outcome::{Failure, Outcome};

/// Longest reply accepted (RFC 5321 allows 512 octets a line; multi-line replies are rare).
const MAX_REPLY: u64 = 4096;

pub(crate) async fn check(
    config: &SmtpCheck,
    opts: &ConnectOptions,
    target: SocketAddr,
) -> Outcome {
    match exchange(config, opts, target).await {
        Ok(()) => Outcome::Pass(None),
        Err(failure) => Outcome::Fail(failure),
    }
}

async fn exchange(
    config: &SmtpCheck,
    opts: &ConnectOptions,
    target: SocketAddr,
) -> Result<(), Failure> {
    let stream = super::net::tcp_connect(opts, target)
        .await
        .map_err(|e| Failure::from_io(&e))?;
    // One small request, then wait for the answer: no batching wanted.
    stream.set_nodelay(true).map_err(|e| Failure::from_io(&e))?;
    let (read, write) = stream.into_split();
    dialogue(config, read, write).await
}

/// The exchange on a connected stream: banner, `HELO`, `QUIT`.
pub(crate) async fn dialogue<R, W>(config: &SmtpCheck, read: R, mut write: W) -> Result<(), Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut read = BufReader::new(read);
    expect(&mut read, "banner", 220).await?;
    let helo = format!("HELO {}\r\n", config.helo_name);
    write
        .write_all(helo.as_bytes())
        .await
        .map_err(|e| Failure::from_io(&e))?;
    expect(&mut read, "HELO", 250).await?;
    write
        .write_all(b"QUIT\r\n")
        .await
        .map_err(|e| Failure::from_io(&e))?;
    expect(&mut read, "QUIT", 221).await
}

/// Reads one (possibly multi-line) reply and checks its code.
async fn expect<R: AsyncRead + Unpin>(
    read: &mut BufReader<R>,
    stage: &'static str,
    code: u16,
) -> Result<(), Failure> {
    let mut reply = String::new();
    // Bytes of this reply as received (the text kept is lossy UTF-8, which can be longer).
    let mut received = 0u64;
    loop {
        let mut line = Vec::new();
        let len = (&mut *read)
            .take(MAX_REPLY)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if len == 0 {
            return Err(Failure::Smtp {
                stage,
                reply: format!("{reply}<connection closed>"),
            });
        }
        reply.push_str(&line);
        received += len as u64;
        if received > MAX_REPLY {
            return Err(Failure::Smtp {
                stage,
                reply: "reply too long".into(),
            });
        }
        // "250-..." continues a multi-line reply, "250 ..." (or a bare code) ends it.
        let bytes = line.as_bytes();
        if bytes.len() < 3 || !bytes[..3].iter().all(u8::is_ascii_digit) {
            return Err(Failure::Smtp { stage, reply });
        }
        if bytes.get(3) == Some(&b'-') {
            reply.push('\n');
            continue;
        }
        return if line[..3].parse::<u16>().ok() == Some(code) {
            Ok(())
        } else {
            Err(Failure::Smtp { stage, reply })
        };
    }
}
