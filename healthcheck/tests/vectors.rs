//! Bad server answers kept as files (`tests/data/`): each one served over loopback must
//! give a failure with a reason, quickly: never a pass, a panic or a hang.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use healthcheck::config::*;
use healthcheck::{Checker, Failure, Outcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

const TIMEOUT: Duration = Duration::from_secs(2);

fn vectors(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no vectors in {}", dir.display());
    files
}

fn checker(kind: CheckKind) -> Checker {
    let mut config = CheckerConfig::new("vector", kind);
    config.timing.connect_timeout = TIMEOUT;
    Checker::new("vector", Arc::new(config)).unwrap()
}

/// Serves `bytes` to the first connection once its request head is in, then closes.
async fn serve_http_once(bytes: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let _ = stream.write_all(&bytes).await;
        let _ = stream.shutdown().await;
    });
    addr
}

#[tokio::test]
async fn every_invalid_http_response_vector_fails_with_a_reason_before_the_timeout() {
    for (name, bytes) in vectors("http") {
        let addr = serve_http_once(bytes).await;
        let kind = CheckKind::Http(HttpCheck {
            urls: vec![UrlCheck {
                path: "/".into(),
                // A digest makes the checker read the body too.
                digest: Some([0; 16]),
                ..Default::default()
            }],
            protocol: HttpProtocol::Http11,
            ..Default::default()
        });
        let started = Instant::now();
        let outcome = checker(kind).run(addr).await;
        match outcome {
            Outcome::Fail(Failure::Timeout(_)) => panic!("{name}: hung until the timeout"),
            Outcome::Fail(failure) => {
                assert!(!failure.to_string().is_empty());
                eprintln!("{name}: {failure}");
            }
            Outcome::Pass(_) => panic!("{name}: passed"),
        }
        assert!(started.elapsed() < TIMEOUT, "{name}");
    }
}

/// Answers one query with `bytes`, its first two bytes replaced by the query's ID.
async fn serve_dns_once(mut bytes: Vec<u8>) -> SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 512];
        let (len, from) = socket.recv_from(&mut buf).await.unwrap();
        if bytes.len() >= 2 && len >= 2 {
            bytes[..2].copy_from_slice(&buf[..2]);
        }
        socket.send_to(&bytes, from).await.unwrap();
    });
    addr
}

#[tokio::test]
async fn dns_vectors_valid_passes_and_every_invalid_one_fails_as_malformed() {
    for (name, bytes) in vectors("dns") {
        let addr = serve_dns_once(bytes).await;
        let kind = CheckKind::Dns(DnsCheck {
            record_type: DnsType::A,
            name: "www.example.test".into(),
        });
        let outcome = checker(kind).run(addr).await;
        if name.starts_with("valid-") {
            assert_eq!(outcome, Outcome::Pass(None), "{name}");
            continue;
        }
        match outcome {
            Outcome::Fail(Failure::Dns(reason)) => {
                assert!(reason.contains("malformed"), "{name}: {reason}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_megabyte_of_headers_is_a_protocol_failure() {
    let mut bytes = b"HTTP/1.1 200 OK\r\n".to_vec();
    for n in 0..16_384 {
        bytes.extend_from_slice(format!("X-Filler-{n}: {}\r\n", "y".repeat(48)).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    let addr = serve_http_once(bytes).await;
    let kind = CheckKind::Http(HttpCheck {
        urls: vec![UrlCheck {
            path: "/".into(),
            ..Default::default()
        }],
        ..Default::default()
    });
    assert!(matches!(
        checker(kind).run(addr).await,
        Outcome::Fail(Failure::Protocol(_))
    ));
}
