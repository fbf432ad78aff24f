//! `HTTP_GET` against a server that answers the request with the input (after the first
//! byte, which picks the check's options: protocol, `status_code`, `digest`, `regex`,
//! `regex_no_match`, a small body limit).
//!
//! No panic, no hang; and a check that passes agrees with the response as httparse reads it
//! (where it reads it whole): the final status (after any 1xx) is one the check accepts, and
//! with a `digest`, a body of known length (`Content-Length`, or up to the end without one)
//! has that MD5 and fits the limit.

use std::cell::RefCell;
use std::ops::RangeInclusive;

use healthcheck::config::{HttpCheck, HttpProtocol, UrlCheck};
use healthcheck::fuzzing::http_exchange;
use healthcheck::Failure;
use md5::{Digest, Md5};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The body whose MD5 is the `digest` when the options ask for one.
pub const DIGEST_BODY: &[u8] = b"OK\n";

thread_local! {
    static RUNTIME: RefCell<Option<tokio::runtime::Runtime>> = const { RefCell::new(None) };
}

/// The target's body.
pub fn run(data: &[u8]) {
    let Some((&options, response)) = data.split_first() else {
        return;
    };
    let url = UrlCheck {
        path: "/".into(),
        digest: (options & 8 != 0).then(|| Md5::digest(DIGEST_BODY).into()),
        status_code: if options & 4 != 0 {
            vec![200..=200, 300..=399]
        } else {
            Vec::new()
        },
        regex: (options & 16 != 0).then(|| "^(OK|ok)".to_string()),
        regex_no_match: options & 32 != 0,
        virtualhost: None,
        // regex_options, offsets and tls_compliant as keepalived's defaults.
        ..UrlCheck::default()
    };
    let config = HttpCheck {
        urls: vec![url.clone()],
        protocol: match options & 3 {
            0 => HttpProtocol::Http10,
            1 => HttpProtocol::Http10Close,
            _ => HttpProtocol::Http11,
        },
        max_body: if options & 64 != 0 { 8 } else { 0 },
        ..HttpCheck::default()
    };
    let verdict = RUNTIME.with(|cell| {
        let mut cell = cell.borrow_mut();
        let runtime = cell.get_or_insert_with(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("a current-thread runtime")
        });
        runtime.block_on(async {
            let (client, mut server) = tokio::io::duplex(64 * 1024);
            let response = response.to_vec();
            tokio::spawn(async move {
                // The response comes after the request, as from a real server.
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
            http_exchange(&config, client).await
        })
    });
    let verdict = verdict.expect("the options make a valid checker");
    let accepted = |status: u16| accepts(&url.status_code, status);
    match &verdict {
        Ok(()) => {
            if let Some(reading) = read_response(response) {
                assert!(accepted(reading.status), "passed with {}", reading.status);
                if let (Some(digest), Some(body)) = (url.digest, reading.body) {
                    assert_eq!(<[u8; 16]>::from(Md5::digest(body)), digest, "passed");
                    if config.max_body != 0 {
                        assert!(body.len() <= config.max_body, "passed a larger body");
                    }
                }
            }
        }
        Err(Failure::HttpStatus { status, .. }) => {
            assert!(!accepted(*status), "refused {status}");
            if let Some(reading) = read_response(response) {
                assert_eq!(reading.status, *status);
            }
        }
        Err(_) => {}
    }
}

fn accepts(ranges: &[RangeInclusive<u16>], status: u16) -> bool {
    if ranges.is_empty() {
        (200..=299).contains(&status)
    } else {
        ranges.iter().any(|r| r.contains(&status))
    }
}

/// A response as httparse reads it.
struct Reading<'a> {
    status: u16,
    /// The body, when its length is known from the headers (or the end of the input).
    body: Option<&'a [u8]>,
}

/// The final response (1xx ones skipped, as hyper does); `None` when httparse cannot read it
/// whole.
fn read_response(mut bytes: &[u8]) -> Option<Reading<'_>> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 100];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(len) = response.parse(bytes).ok()? else {
            return None;
        };
        let status = response.code?;
        let rest = &bytes[len..];
        if (100..=199).contains(&status) && status != 101 {
            bytes = rest;
            continue;
        }
        let named = |name: &str| {
            response
                .headers
                .iter()
                .filter(|h| h.name.eq_ignore_ascii_case(name))
                .collect::<Vec<_>>()
        };
        let chunked = !named("transfer-encoding").is_empty();
        let lengths = named("content-length");
        let body = match (chunked, lengths.as_slice()) {
            (false, []) if status == 200 => Some(rest),
            (false, [one]) if status == 200 => std::str::from_utf8(one.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok())
                .and_then(|n| rest.get(..n)),
            _ => None,
        };
        return Some(Reading { status, body });
    }
}
