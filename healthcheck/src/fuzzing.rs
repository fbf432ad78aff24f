//! Entry points for the fuzz targets (`fuzz/`) and their regression tests: what the checkers
//! make of the bytes a server sends, without sockets. Not part of the API.

use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::{DnsCheck, HttpCheck, SmtpCheck};
use crate::outcome::Failure;
use crate::Error;

/// `SMTP_CHECK`'s exchange: the server's side comes from `read`, the checker's lines go to
/// `write`.
pub async fn smtp_dialogue<R, W>(config: &SmtpCheck, read: R, write: W) -> Result<(), Failure>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    crate::checkers::smtp::dialogue(config, read, write).await
}

/// `HTTP_GET`'s exchange for the first URL of `config` on `stream` (TLS options are ignored:
/// the stream carries the plain HTTP).
pub async fn http_exchange<S>(config: &HttpCheck, stream: S) -> Result<Result<(), Failure>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let config = HttpCheck {
        tls: None,
        ..config.clone()
    };
    let checker = crate::checkers::http::HttpChecker::new("fuzz", &config)?;
    Ok(checker.exchange_first(stream).await)
}

/// `DNS_CHECK`'s verdict on a datagram received for query `id`; `None` when the datagram is
/// not the answer to that query (the checker keeps waiting).
pub fn dns_answer(
    config: &DnsCheck,
    id: u16,
    datagram: &[u8],
) -> Result<Option<Result<(), Failure>>, Error> {
    let checker = crate::checkers::dns::DnsChecker::new("fuzz", config)?;
    Ok(checker.read_answer(datagram, id))
}

/// `PING_CHECK`: whether a datagram from the ICMP socket is the reply to echo request
/// `ident`/`seq` (`raw`: a raw socket, which delivers IPv4 headers).
pub fn icmp_reply(datagram: &[u8], raw: bool, v6: bool, ident: u16, seq: u16) -> bool {
    crate::checkers::ping::is_reply_datagram(datagram, raw, v6, ident, seq)
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::{DnsType, UrlCheck};

    /// A server that answers the request with `response`, then closes.
    fn server(response: &[u8]) -> tokio::io::DuplexStream {
        let (client, mut server) = tokio::io::duplex(4096);
        let response = response.to_vec();
        tokio::spawn(async move {
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if server.read(&mut byte).await.unwrap_or(0) == 0 {
                    return;
                }
                request.push(byte[0]);
            }
            let _ = server.write_all(&response).await;
        });
        client
    }

    #[tokio::test]
    async fn smtp_dialogue_follows_the_replies() {
        let config = SmtpCheck::default();
        let good = b"220 mx ESMTP\r\n250-mx\r\n250 8BITMIME\r\n221 bye\r\n";
        let ok = smtp_dialogue(&config, &good[..], tokio::io::sink()).await;
        assert_eq!(ok, Ok(()));
        let bad = b"220 mx\r\n554 no\r\n";
        let failed = smtp_dialogue(&config, &bad[..], tokio::io::sink()).await;
        assert!(matches!(failed, Err(Failure::Smtp { stage: "HELO", .. })));
    }

    #[tokio::test]
    async fn http_exchange_reads_the_response() {
        let config = HttpCheck {
            urls: vec![UrlCheck {
                path: "/".into(),
                ..UrlCheck::default()
            }],
            ..HttpCheck::default()
        };
        let ok = server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi");
        assert_eq!(http_exchange(&config, ok).await.unwrap(), Ok(()));
        let missing = server(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        assert!(matches!(
            http_exchange(&config, missing).await.unwrap(),
            Err(Failure::HttpStatus { status: 404, .. })
        ));
    }

    #[test]
    fn dns_answer_ignores_other_queries() {
        let config = DnsCheck {
            record_type: DnsType::A,
            name: "example.com".into(),
        };
        // Header only: id 0x1234, a response, no answers.
        let answer = [0x12, 0x34, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(matches!(
            dns_answer(&config, 0x1234, &answer).unwrap(),
            Some(Err(Failure::Dns(_)))
        ));
        assert_eq!(dns_answer(&config, 0x1235, &answer).unwrap(), None);
    }

    #[test]
    fn icmp_reply_skips_the_ipv4_header_of_raw_sockets() {
        let reply = [0u8, 0, 0, 0, 0x12, 0x34, 0, 1];
        assert!(icmp_reply(&reply, false, false, 0x9999, 1));
        let mut raw = vec![0x45; 1];
        raw.extend_from_slice(&[0; 19]);
        raw.extend_from_slice(&reply);
        assert!(icmp_reply(&raw, true, false, 0x1234, 1));
        assert!(!icmp_reply(&raw, true, false, 0x1235, 1));
    }
}
