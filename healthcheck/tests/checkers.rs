//! Each checker against a real server on loopback: pass, each failure kind, timeouts,
//! and bad input (garbage, truncation, huge bodies) giving a failure with a reason.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use healthcheck::config::*;
use healthcheck::{Checker, Failure, Outcome, WeightChange};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

fn checker(kind: CheckKind, timeout_ms: u64) -> Checker {
    let mut config = CheckerConfig::new("test", kind);
    config.timing.connect_timeout = Duration::from_millis(timeout_ms);
    Checker::new("test", Arc::new(config)).unwrap()
}

fn fail(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Fail(f) => f,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A port on 127.0.0.1 where nothing listens.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

// ---------------------------------------------------------------- TCP_CHECK

#[tokio::test]
async fn tcp_check_passes_on_a_listener_and_reports_refused_on_a_closed_port() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let check = checker(CheckKind::Tcp, 1000);
    assert_eq!(
        check.run(listener.local_addr().unwrap()).await,
        Outcome::Pass(None)
    );
    assert_eq!(fail(check.run(closed_port().await).await), Failure::Refused);
}

#[tokio::test]
async fn tcp_check_honours_connect_port_and_connect_ip() {
    let listener = TcpListener::bind("127.0.0.2:0").await.unwrap();
    let mut config = CheckerConfig::new("test", CheckKind::Tcp);
    config.connect.connect_ip = Some("127.0.0.2".parse().unwrap());
    config.connect.connect_port = Some(listener.local_addr().unwrap().port());
    config.connect.bindto = Some("127.0.0.3".parse().unwrap());
    let check = Checker::new("test", Arc::new(config)).unwrap();
    let accept = tokio::spawn(async move { listener.accept().await.unwrap().1 });
    // The real server's own address is closed; the check goes to connect_ip:connect_port.
    assert_eq!(check.run(closed_port().await).await, Outcome::Pass(None));
    assert_eq!(
        accept.await.unwrap().ip().to_string(),
        "127.0.0.3",
        "bindto sets the source"
    );
}

#[tokio::test]
async fn tcp_check_reset_on_close_leaves_no_time_wait_but_a_reset() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        stream.read(&mut [0u8; 16]).await
    });
    let mut config = CheckerConfig::new("test", CheckKind::Tcp);
    config.connect.reset_on_close = true;
    let check = Checker::new("test", Arc::new(config)).unwrap();
    assert_eq!(check.run(addr).await, Outcome::Pass(None));
    let read = server.await.unwrap();
    assert_eq!(
        read.unwrap_err().kind(),
        std::io::ErrorKind::ConnectionReset
    );
}

/// SO_MARK and SO_BINDTODEVICE need CAP_NET_ADMIN / CAP_NET_RAW.
fn require_root(test: &str) -> bool {
    if nix::unistd::Uid::effective().is_root() {
        return true;
    }
    testkit::skip(test, "needs root");
    false
}

#[tokio::test]
async fn tcp_check_applies_bind_if_and_fwmark() {
    if !require_root("tcp_check_applies_bind_if_and_fwmark") {
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = CheckerConfig::new("test", CheckKind::Tcp);
    config.connect.bind_if = Some("lo".into());
    config.connect.fwmark = Some(0x42);
    let check = Checker::new("test", Arc::new(config.clone())).unwrap();
    assert_eq!(
        check.run(listener.local_addr().unwrap()).await,
        Outcome::Pass(None)
    );
    config.connect.bind_if = Some("nosuchdev0".into());
    let check = Checker::new("test", Arc::new(config)).unwrap();
    assert!(matches!(
        fail(check.run(listener.local_addr().unwrap()).await),
        Failure::Io(text) if text.contains("No such device")
    ));
}

#[tokio::test]
async fn tcp_check_times_out_when_the_syn_is_dropped() {
    // A listener whose accept queue is full drops further SYNs: the connect hangs.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        if let Ok(Ok(s)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            fillers.push(s);
        }
    }
    let check = checker(CheckKind::Tcp, 300);
    assert_eq!(
        fail(check.run(addr).await),
        Failure::Timeout(Duration::from_millis(300))
    );
}

// ---------------------------------------------------------------- HTTP_GET

/// An HTTP server that answers every connection with `response` and records each request head.
async fn http_server(response: Vec<u8>) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = requests.clone();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let response = response.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let head = read_head(&mut stream).await;
                seen.lock().unwrap().push(head);
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (addr, requests)
}

async fn read_head<S: tokio::io::AsyncRead + Unpin>(stream: &mut S) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

fn response(status: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.0 {status}\r\nContent-Length: {}\r\nContent-Type: text/plain\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn http(urls: Vec<UrlCheck>) -> CheckKind {
    CheckKind::Http(HttpCheck {
        urls,
        ..Default::default()
    })
}

fn url(path: &str) -> UrlCheck {
    UrlCheck {
        path: path.into(),
        ..Default::default()
    }
}

fn md5_of(body: &str) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(body.as_bytes()).into()
}

#[tokio::test]
async fn http_get_passes_on_200_and_sends_host_and_protocol() {
    let (addr, requests) = http_server(response("200 OK", "healthy")).await;
    assert_eq!(
        checker(http(vec![url("/health")]), 1000).run(addr).await,
        Outcome::Pass(None)
    );
    let head = requests.lock().unwrap()[0].clone();
    assert!(head.starts_with("GET /health HTTP/1.0\r\n"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("host: {addr}\r\n")),
        "{head}"
    );
}

#[tokio::test]
async fn http_get_virtualhost_and_http_protocol_1_1_are_sent() {
    let (addr, requests) = http_server(response("200 OK", "ok")).await;
    let mut u = url("/a");
    u.virtualhost = Some("www.example.test".into());
    let kind = CheckKind::Http(HttpCheck {
        urls: vec![u, url("/b")],
        virtualhost: Some("default.example.test".into()),
        protocol: HttpProtocol::Http11,
        ..Default::default()
    });
    assert_eq!(checker(kind, 1000).run(addr).await, Outcome::Pass(None));
    let heads = requests.lock().unwrap().clone();
    assert!(heads[0].starts_with("GET /a HTTP/1.1\r\n"), "{}", heads[0]);
    assert!(heads[0]
        .to_ascii_lowercase()
        .contains("host: www.example.test\r\n"));
    assert!(heads[0]
        .to_ascii_lowercase()
        .contains("connection: close\r\n"));
    assert!(
        heads[1]
            .to_ascii_lowercase()
            .contains("host: default.example.test\r\n"),
        "{}",
        heads[1]
    );
}

#[tokio::test]
async fn http_get_1_0c_sends_connection_close() {
    let (addr, requests) = http_server(response("200 OK", "ok")).await;
    let kind = CheckKind::Http(HttpCheck {
        urls: vec![url("/")],
        protocol: HttpProtocol::Http10Close,
        ..Default::default()
    });
    assert_eq!(checker(kind, 1000).run(addr).await, Outcome::Pass(None));
    let head = requests.lock().unwrap()[0].to_ascii_lowercase();
    assert!(
        head.starts_with("get / http/1.0\r\n") && head.contains("connection: close\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn http_get_reports_status_503_and_accepts_configured_status_ranges() {
    let (addr, _) = http_server(response("503 Service Unavailable", "busy")).await;
    assert_eq!(
        fail(checker(http(vec![url("/")]), 1000).run(addr).await),
        Failure::HttpStatus {
            path: "/".into(),
            status: 503
        }
    );
    let mut u = url("/");
    u.status_code = vec![200..=200, 500..=503];
    assert_eq!(
        checker(http(vec![u]), 1000).run(addr).await,
        Outcome::Pass(None)
    );
}

#[tokio::test]
async fn http_get_checks_the_body_digest() {
    let (addr, _) = http_server(response("200 OK", "expected body")).await;
    let mut good = url("/");
    good.digest = Some(md5_of("expected body"));
    assert_eq!(
        checker(http(vec![good]), 1000).run(addr).await,
        Outcome::Pass(None)
    );
    let mut bad = url("/");
    bad.digest = Some(md5_of("other body"));
    match fail(checker(http(vec![bad]), 1000).run(addr).await) {
        Failure::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected.len(), 32);
            assert_ne!(expected, actual);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn http_get_digest_covers_a_chunked_body() {
    let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n".to_vec();
    let (addr, _) = http_server(chunked).await;
    let mut u = url("/");
    u.digest = Some(md5_of("hello world"));
    let kind = CheckKind::Http(HttpCheck {
        urls: vec![u],
        protocol: HttpProtocol::Http11,
        ..Default::default()
    });
    assert_eq!(checker(kind, 1000).run(addr).await, Outcome::Pass(None));
}

#[tokio::test]
async fn http_get_regex_and_regex_no_match() {
    let (addr, _) = http_server(response("200 OK", "status: green")).await;
    let with_regex = |regex: &str, no_match: bool| {
        let mut u = url("/");
        u.regex = Some(regex.into());
        u.regex_no_match = no_match;
        checker(http(vec![u]), 1000)
    };
    assert_eq!(
        with_regex("status: (green|yellow)", false).run(addr).await,
        Outcome::Pass(None)
    );
    assert_eq!(
        fail(with_regex("red", false).run(addr).await),
        Failure::RegexMismatch {
            path: "/".into(),
            no_match: false
        }
    );
    assert_eq!(with_regex("red", true).run(addr).await, Outcome::Pass(None));
    assert_eq!(
        fail(with_regex("green", true).run(addr).await),
        Failure::RegexMismatch {
            path: "/".into(),
            no_match: true
        }
    );
}

#[tokio::test]
async fn http_get_every_url_must_pass() {
    let (addr, _) = http_server(response("200 OK", "x")).await;
    let mut bad = url("/second");
    bad.digest = Some([0; 16]);
    assert!(matches!(
        fail(checker(http(vec![url("/first"), bad]), 1000).run(addr).await),
        Failure::DigestMismatch { path, .. } if path == "/second"
    ));
}

#[test]
fn http_get_bad_regex_is_a_config_error() {
    let mut u = url("/");
    u.regex = Some("(unclosed".into());
    let config = Arc::new(CheckerConfig::new("HTTP_GET#0", http(vec![u])));
    let err = Checker::new("rs1 [HTTP_GET#0]", config).unwrap_err();
    assert!(
        err.to_string().contains("rs1 [HTTP_GET#0]") && err.to_string().contains("(unclosed"),
        "{err}"
    );
}

#[tokio::test]
async fn http_get_garbage_response_is_a_protocol_failure() {
    let (addr, _) = http_server(b"\x00\x01garbage that is not HTTP\r\n\r\n".to_vec()).await;
    assert!(matches!(
        fail(checker(http(vec![url("/")]), 1000).run(addr).await),
        Failure::Protocol(_)
    ));
    let (addr, _) = http_server(b"HTTP/1.0 2".to_vec()).await;
    assert!(matches!(
        fail(checker(http(vec![url("/")]), 1000).run(addr).await),
        Failure::Protocol(_)
    ));
}

#[tokio::test]
async fn http_get_huge_body_is_refused_past_the_limit() {
    let body = "x".repeat(3 << 20);
    let (addr, _) = http_server(response("200 OK", &body)).await;
    let mut u = url("/");
    u.digest = Some(md5_of(&body));
    assert_eq!(
        fail(checker(http(vec![u]), 5000).run(addr).await),
        Failure::BodyTooLarge {
            path: "/".into(),
            limit: HttpCheck::DEFAULT_MAX_BODY
        }
    );
}

#[tokio::test]
async fn http_get_times_out_on_a_server_that_never_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            held.push(listener.accept().await.unwrap());
        }
    });
    assert_eq!(
        fail(checker(http(vec![url("/")]), 300).run(addr).await),
        Failure::Timeout(Duration::from_millis(300))
    );
}

#[tokio::test]
async fn http_get_truncated_body_fails() {
    // Content-Length promises more than is sent before the close.
    let (addr, _) =
        http_server(b"HTTP/1.0 200 OK\r\nContent-Length: 100\r\n\r\nshort".to_vec()).await;
    let mut u = url("/");
    u.digest = Some(md5_of("short"));
    assert!(matches!(
        fail(checker(http(vec![u]), 1000).run(addr).await),
        Failure::Protocol(_)
    ));
}

// ---------------------------------------------------------------- SSL_GET

struct TlsServer {
    addr: SocketAddr,
    sni: Arc<Mutex<Vec<Option<String>>>>,
    ca_file: tempfile::NamedTempFile,
}

/// A TLS server with a freshly generated self-signed certificate for `www.example.test`,
/// answering HTTP 200 "secure" and recording the SNI of each connection.
async fn tls_server() -> TlsServer {
    let cert = rcgen::generate_simple_self_signed(vec!["www.example.test".to_string()]).unwrap();
    let mut ca_file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut ca_file, cert.cert.pem().as_bytes()).unwrap();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let sni = Arc::new(Mutex::new(Vec::new()));
    let seen = sni.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let config = config.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                let acceptor = tokio_rustls::LazyConfigAcceptor::new(
                    rustls::server::Acceptor::default(),
                    stream,
                );
                let Ok(start) = acceptor.await else { return };
                seen.lock()
                    .unwrap()
                    .push(start.client_hello().server_name().map(str::to_string));
                let Ok(mut tls) = start.into_stream(config).await else {
                    return;
                };
                read_head(&mut tls).await;
                let _ = tls.write_all(&response("200 OK", "secure")).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    TlsServer { addr, sni, ca_file }
}

fn ssl(virtualhost: Option<&str>, tls: TlsOptions) -> CheckKind {
    let mut u = url("/");
    u.digest = Some(md5_of("secure"));
    CheckKind::Http(HttpCheck {
        urls: vec![u],
        virtualhost: virtualhost.map(str::to_string),
        tls: Some(tls),
        ..Default::default()
    })
}

#[tokio::test]
async fn ssl_get_passes_without_verification_and_sends_sni() {
    let server = tls_server().await;
    let kind = ssl(
        Some("www.example.test"),
        TlsOptions {
            sni: true,
            ..Default::default()
        },
    );
    assert_eq!(
        checker(kind, 2000).run(server.addr).await,
        Outcome::Pass(None)
    );
    assert_eq!(
        server.sni.lock().unwrap()[0].as_deref(),
        Some("www.example.test")
    );
    // Without a virtualhost there is no name to send.
    let kind = ssl(
        None,
        TlsOptions {
            sni: true,
            ..Default::default()
        },
    );
    assert_eq!(
        checker(kind, 2000).run(server.addr).await,
        Outcome::Pass(None)
    );
    assert_eq!(server.sni.lock().unwrap()[1], None);
}

#[tokio::test]
async fn ssl_get_with_verification_accepts_the_right_ca_and_name_only() {
    let server = tls_server().await;
    let verify = TlsOptions {
        verify: true,
        ca_file: Some(server.ca_file.path().into()),
        sni: true,
    };
    let kind = ssl(Some("www.example.test"), verify.clone());
    assert_eq!(
        checker(kind, 2000).run(server.addr).await,
        Outcome::Pass(None)
    );
    let kind = ssl(Some("wrong.example.test"), verify);
    assert!(matches!(
        fail(checker(kind, 2000).run(server.addr).await),
        Failure::Tls(_)
    ));
}

#[tokio::test]
async fn ssl_get_against_a_plain_http_server_is_a_tls_failure() {
    // A plain server that speaks first, as soon as the ClientHello arrives.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let _ = stream.read(&mut [0u8; 512]).await;
        let _ = stream
            .write_all(&response("400 Bad Request", "plain"))
            .await;
    });
    let kind = ssl(
        Some("www.example.test"),
        TlsOptions {
            sni: true,
            ..Default::default()
        },
    );
    assert!(matches!(
        fail(checker(kind, 2000).run(addr).await),
        Failure::Tls(_)
    ));
}

#[test]
fn ssl_get_missing_ca_file_is_a_config_error() {
    let tls = TlsOptions {
        verify: true,
        ca_file: Some("/nonexistent/ca.pem".into()),
        sni: true,
    };
    let err = Checker::new(
        "x",
        Arc::new(CheckerConfig::new("SSL_GET#0", ssl(None, tls))),
    )
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

// ---------------------------------------------------------------- UDP_CHECK

/// A UDP responder answering every datagram with `reply` (or staying silent on `None`).
async fn udp_responder(reply: Option<Vec<u8>>) -> (SocketAddr, Arc<Mutex<Vec<Vec<u8>>>>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        loop {
            let (len, from) = socket.recv_from(&mut buf).await.unwrap();
            seen.lock().unwrap().push(buf[..len].to_vec());
            if let Some(reply) = &reply {
                socket.send_to(reply, from).await.unwrap();
            }
        }
    });
    (addr, received)
}

fn udp(payload: &str, require_reply: Option<&str>) -> CheckKind {
    CheckKind::Udp(UdpCheck {
        payload: HexPattern::parse_bytes(payload).unwrap(),
        require_reply: require_reply.map(|p| HexPattern::parse(p).unwrap()),
    })
}

#[tokio::test]
async fn udp_check_sends_the_payload_and_matches_the_reply_with_wildcards() {
    let (addr, received) = udp_responder(Some(vec![0xde, 0xad, 0xbe, 0xef, 0x99])).await;
    assert_eq!(
        checker(udp("0102ff", Some("deXdbeeX")), 1000)
            .run(addr)
            .await,
        Outcome::Pass(None)
    );
    assert_eq!(received.lock().unwrap()[0], [0x01, 0x02, 0xff]);
    assert!(matches!(
        fail(checker(udp("01", Some("dead00")), 1000).run(addr).await),
        Failure::UdpReply(_)
    ));
}

#[tokio::test]
async fn udp_check_closed_port_is_refused_and_silence_fails_only_with_require_reply() {
    let closed = {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        s.local_addr().unwrap()
    };
    assert_eq!(
        fail(checker(udp("01", Some("01")), 1000).run(closed).await),
        Failure::Refused
    );
    let (silent, _) = udp_responder(None).await;
    assert!(matches!(
        fail(checker(udp("01", Some("01")), 300).run(silent).await),
        Failure::UdpReply(_)
    ));
    assert_eq!(
        checker(udp("01", None), 300).run(silent).await,
        Outcome::Pass(None)
    );
}

#[test]
fn hex_patterns_reject_bad_digits_odd_lengths_and_wildcard_payloads() {
    assert!(HexPattern::parse("0g").is_err());
    assert!(HexPattern::parse("012").is_err());
    assert!(HexPattern::parse_bytes("0X").is_err());
    assert_eq!(HexPattern::parse_bytes("de ad").unwrap(), [0xde, 0xad]);
    let p = HexPattern::parse("XXff").unwrap();
    assert!(
        p.matches(&[0x12, 0xff])
            && p.matches(&[0x00, 0xff, 0x01])
            && !p.matches(&[0xff])
            && !p.matches(&[1, 2])
    );
}

// ---------------------------------------------------------------- DNS_CHECK

mod dns_server {
    use super::*;
    use hickory_proto::op::{Message, MessageType, ResponseCode};
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record};
    use hickory_proto::serialize::binary::BinEncodable;

    #[derive(Clone, Copy)]
    pub enum Behaviour {
        Answer,
        NxDomain,
        Empty,
        Truncated,
        Garbage,
    }

    pub async fn start(behaviour: Behaviour) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                let query = Message::from_vec(&buf[..len]).unwrap();
                let mut answer = Message::new();
                answer
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .add_queries(query.queries().to_vec());
                let q = &query.queries()[0];
                match behaviour {
                    Behaviour::Answer | Behaviour::Truncated => {
                        answer.add_answer(Record::from_rdata(
                            q.name().clone(),
                            60,
                            RData::A(A::new(192, 0, 2, 1)),
                        ));
                    }
                    Behaviour::NxDomain => {
                        answer.set_response_code(ResponseCode::NXDomain);
                    }
                    Behaviour::Empty | Behaviour::Garbage => {}
                }
                let mut bytes = answer.to_bytes().unwrap();
                match behaviour {
                    Behaviour::Truncated => bytes.truncate(bytes.len() - 3),
                    Behaviour::Garbage => bytes = vec![0xff; 7],
                    _ => {}
                }
                socket.send_to(&bytes, from).await.unwrap();
            }
        });
        addr
    }
}

fn dns(record_type: DnsType, name: &str) -> CheckKind {
    CheckKind::Dns(DnsCheck {
        record_type,
        name: name.into(),
    })
}

#[tokio::test]
async fn dns_check_passes_when_the_answer_has_the_asked_type() {
    let addr = dns_server::start(dns_server::Behaviour::Answer).await;
    assert_eq!(
        checker(dns(DnsType::A, "www.example.test"), 1000)
            .run(addr)
            .await,
        Outcome::Pass(None)
    );
    // The server answers A to an AAAA query: no record of the asked type.
    assert!(matches!(
        fail(
            checker(dns(DnsType::Aaaa, "www.example.test"), 1000)
                .run(addr)
                .await
        ),
        Failure::Dns(_)
    ));
}

#[tokio::test]
async fn dns_check_fails_on_nxdomain_empty_truncated_and_garbage_answers() {
    for (behaviour, expect) in [
        (dns_server::Behaviour::NxDomain, "rcode"),
        (dns_server::Behaviour::Empty, "no A record"),
        (dns_server::Behaviour::Truncated, "malformed"),
    ] {
        let addr = dns_server::start(behaviour).await;
        match fail(
            checker(dns(DnsType::A, "www.example.test"), 1000)
                .run(addr)
                .await,
        ) {
            Failure::Dns(text) => assert!(text.contains(expect), "{text}"),
            other => panic!("{other:?}"),
        }
    }
    // Seven bytes of 0xff: not even a header; a Dns failure, no panic, no hang.
    let addr = dns_server::start(dns_server::Behaviour::Garbage).await;
    assert!(matches!(
        fail(checker(dns(DnsType::A, "x.test"), 1000).run(addr).await),
        Failure::Dns(_)
    ));
}

#[test]
fn dns_type_keywords_parse() {
    assert_eq!("aaaa".parse::<DnsType>().unwrap(), DnsType::Aaaa);
    assert!("PTR"
        .parse::<DnsType>()
        .unwrap_err()
        .to_string()
        .contains("PTR"));
}

// ---------------------------------------------------------------- SMTP_CHECK

/// An SMTP-speaking listener: `banner`, then `helo_reply` to HELO and 221 to QUIT.
async fn smtp_server(
    banner: &'static str,
    helo_reply: &'static str,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen = seen.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut read = tokio::io::BufReader::new(read);
                write.write_all(banner.as_bytes()).await.unwrap();
                let mut line = String::new();
                while tokio::io::AsyncBufReadExt::read_line(&mut read, &mut line)
                    .await
                    .unwrap_or(0)
                    > 0
                {
                    seen.lock().unwrap().push(line.trim_end().to_string());
                    let reply = if line.starts_with("HELO") {
                        helo_reply
                    } else {
                        "221 bye\r\n"
                    };
                    let _ = write.write_all(reply.as_bytes()).await;
                    line.clear();
                }
            });
        }
    });
    (addr, lines)
}

#[tokio::test]
async fn smtp_check_passes_banner_helo_quit_including_multiline_replies() {
    let (addr, lines) = smtp_server(
        "220-mail.example.test ESMTP\r\n220 ready\r\n",
        "250 hello\r\n",
    )
    .await;
    let kind = CheckKind::Smtp(SmtpCheck {
        helo_name: "director.test".into(),
    });
    assert_eq!(checker(kind, 1000).run(addr).await, Outcome::Pass(None));
    assert_eq!(*lines.lock().unwrap(), ["HELO director.test", "QUIT"]);
}

#[tokio::test]
async fn smtp_check_fails_on_a_refusing_banner_a_bad_helo_reply_and_garbage() {
    let kind = || {
        CheckKind::Smtp(SmtpCheck {
            helo_name: "d".into(),
        })
    };
    let (addr, _) = smtp_server("554 no service\r\n", "250 ok\r\n").await;
    assert!(matches!(
        fail(checker(kind(), 1000).run(addr).await),
        Failure::Smtp {
            stage: "banner",
            ..
        }
    ));
    let (addr, _) = smtp_server("220 ok\r\n", "501 bad helo\r\n").await;
    assert!(matches!(
        fail(checker(kind(), 1000).run(addr).await),
        Failure::Smtp { stage: "HELO", .. }
    ));
    let (addr, _) = smtp_server("\x00\x01 not smtp\r\n", "250 ok\r\n").await;
    assert!(matches!(
        fail(checker(kind(), 1000).run(addr).await),
        Failure::Smtp {
            stage: "banner",
            ..
        }
    ));
}

// ---------------------------------------------------------------- PING_CHECK

#[tokio::test]
async fn ping_check_gets_echo_replies_from_loopback_v4_and_v6() {
    let check = checker(CheckKind::Ping, 1000);
    assert_eq!(
        check.run("127.0.0.1:0".parse().unwrap()).await,
        Outcome::Pass(None)
    );
    assert_eq!(
        check.run("[::1]:0".parse().unwrap()).await,
        Outcome::Pass(None)
    );
}

// ---------------------------------------------------------------- MISC_CHECK

fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

fn misc(path: String, dynamic: bool, user: Option<&str>) -> CheckKind {
    CheckKind::Misc(MiscCheck {
        path,
        timeout: None,
        dynamic,
        user: user.map(str::to_string),
    })
}

const ANY: &str = "127.0.0.1:0";

#[tokio::test]
async fn misc_check_exit_codes_give_up_down_and_dynamic_weights() {
    let dir = tempfile::tempdir().unwrap();
    let ok = script(&dir, "ok", "exit 0");
    let down = script(&dir, "down", "exit 1");
    let weight = script(&dir, "weight", "exit 7");
    let args = script(
        &dir,
        "args",
        r#"[ "$1" = "a b" ] && [ "$2" = c ] && exit 0; exit 3"#,
    );
    let any = ANY.parse().unwrap();
    assert_eq!(
        checker(misc(ok, false, None), 2000).run(any).await,
        Outcome::Pass(None)
    );
    assert_eq!(
        fail(
            checker(misc(down.clone(), false, None), 2000)
                .run(any)
                .await
        ),
        Failure::ScriptExit(1)
    );
    assert_eq!(
        fail(checker(misc(down, true, None), 2000).run(any).await),
        Failure::ScriptExit(1)
    );
    assert_eq!(
        fail(
            checker(misc(weight.clone(), false, None), 2000)
                .run(any)
                .await
        ),
        Failure::ScriptExit(7)
    );
    assert_eq!(
        checker(misc(weight, true, None), 2000).run(any).await,
        Outcome::Pass(Some(WeightChange::Set(5))),
        "misc_dynamic: exit 7 sets weight 5"
    );
    assert_eq!(
        checker(misc(format!("{args} 'a b' c"), false, None), 2000)
            .run(any)
            .await,
        Outcome::Pass(None),
        "argv split without a shell"
    );
}

/// The pid the script wrote to `path`, waiting for it (the script may be slow to start on a
/// loaded machine) up to 30 s.
async fn written_pid(path: &std::path::Path) -> i32 {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(pid) = std::fs::read_to_string(path)
            .ok()
            .and_then(|text| text.trim().parse().ok())
        {
            return pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no pid in {} after 30 s",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits up to 10 s for `pid` to be gone or a zombie (reaped by init at most); returns its
/// last `/proc/PID/stat`, empty when gone.
async fn gone_or_zombie(pid: i32) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let state = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if state.is_empty() || state.contains(") Z ") || std::time::Instant::now() >= deadline {
            return state;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn misc_check_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let slow = script(
        &dir,
        "slow",
        &format!("sleep 30 &\necho $! > {}\nwait", pid_file.display()),
    );
    let started = std::time::Instant::now();
    // Long enough for the script to start its child even on a loaded machine.
    let outcome = checker(misc(slow, false, None), 3_000)
        .run(ANY.parse().unwrap())
        .await;
    assert_eq!(
        fail(outcome),
        Failure::Timeout(Duration::from_millis(3_000))
    );
    // Well before the child's 30 s: the check did not wait for it.
    assert!(started.elapsed() < Duration::from_secs(25));
    let child = written_pid(&pid_file).await;
    // The background sleep was in the script's group: killed too (a zombie at most, reaped by init).
    let state = gone_or_zombie(child).await;
    assert!(
        state.is_empty() || state.contains(") Z "),
        "child {child} still running: {state}"
    );
}

#[tokio::test]
async fn misc_check_dropped_while_running_kills_the_script_group() {
    // What happens to a running script when the engine drops the check (reload, shutdown).
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let slow = script(
        &dir,
        "slow",
        &format!("sleep 30 &\necho $! > {}\nwait", pid_file.display()),
    );
    let check = checker(misc(slow, false, None), 60_000);
    let run = check.run(ANY.parse().unwrap());
    // Dropped once the script has started its child, however long that takes.
    let child = tokio::select! {
        outcome = run => panic!("the 30 s script finished: {outcome:?}"),
        child = written_pid(&pid_file) => child,
    };
    let state = gone_or_zombie(child).await;
    assert!(
        state.is_empty() || state.contains(") Z "),
        "child {child} still running: {state}"
    );
}

#[tokio::test]
async fn misc_check_missing_program_and_signals_are_failures() {
    let dir = tempfile::tempdir().unwrap();
    let any = ANY.parse().unwrap();
    assert!(matches!(
        fail(
            checker(misc("/nonexistent/check".into(), false, None), 1000)
                .run(any)
                .await
        ),
        Failure::ScriptSpawn(_)
    ));
    let killer = script(&dir, "killer", "kill -TERM $$");
    assert_eq!(
        fail(checker(misc(killer, false, None), 1000).run(any).await),
        Failure::ScriptSignal(15)
    );
}

#[tokio::test]
async fn misc_check_runs_as_script_user() {
    // Needs root to switch user.
    if !require_root("misc_check_runs_as_script_user") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = dir.path().join("uid");
    let whoami = script(&dir, "whoami", &format!("id -u > {}", out.display()));
    let check = checker(misc(whoami, false, Some("nobody")), 2000);
    assert_eq!(check.run(ANY.parse().unwrap()).await, Outcome::Pass(None));
    let nobody = nix::unistd::User::from_name("nobody").unwrap().unwrap().uid;
    assert_eq!(
        std::fs::read_to_string(out).unwrap().trim(),
        nobody.to_string()
    );
}

#[test]
fn misc_check_unknown_user_and_empty_path_are_config_errors() {
    let err = Checker::new(
        "c",
        Arc::new(CheckerConfig::new(
            "M",
            misc("/bin/true".into(), false, Some("no-such-user-x")),
        )),
    )
    .unwrap_err();
    assert!(err.to_string().contains("no-such-user-x"), "{err}");
    assert!(Checker::new(
        "c",
        Arc::new(CheckerConfig::new("M", misc("  ".into(), false, None)))
    )
    .is_err());
}

// ---------------------------------------------------------------- FILE_CHECK

#[tokio::test]
async fn file_check_reads_state_and_weight_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weight");
    let file = |weight: i32, reverse: bool| {
        checker(
            CheckKind::File(FileCheck {
                path: path.clone(),
                weight,
                reverse,
            }),
            1000,
        )
    };
    let any: SocketAddr = ANY.parse().unwrap();
    std::fs::write(&path, "0\n").unwrap();
    assert_eq!(file(0, false).run(any).await, Outcome::Pass(None));
    std::fs::write(&path, "1\n").unwrap();
    assert!(matches!(
        fail(file(0, false).run(any).await),
        Failure::File(_)
    ));
    std::fs::write(&path, "3").unwrap();
    assert_eq!(
        file(2, false).run(any).await,
        Outcome::Pass(Some(WeightChange::Offset(6)))
    );
    assert_eq!(
        file(2, true).run(any).await,
        Outcome::Pass(Some(WeightChange::Offset(-6)))
    );
    std::fs::write(&path, "not a number").unwrap();
    assert!(matches!(
        fail(file(2, false).run(any).await),
        Failure::File(_)
    ));
    std::fs::remove_file(&path).unwrap();
    assert!(
        matches!(fail(file(2, false).run(any).await), Failure::File(text) if text.contains("weight"))
    );
}

#[test]
fn digest_and_status_code_values_parse_like_keepalived_config() {
    assert_eq!(
        UrlCheck::parse_digest("9e107d9d372bb6826bd81d3542a419d6").unwrap(),
        md5_of("The quick brown fox jumps over the lazy dog")
    );
    assert!(UrlCheck::parse_digest("9e10").is_err());
    assert_eq!(
        UrlCheck::parse_status_codes("200-299 301,302").unwrap(),
        vec![200..=299, 301..=301, 302..=302]
    );
    assert!(UrlCheck::parse_status_codes("299-200").is_err());
    assert!(UrlCheck::parse_status_codes("abc").is_err());
    assert!(UrlCheck::parse_status_codes("700").is_err());
}

#[tokio::test]
async fn tcp_and_http_checks_work_over_ipv6_loopback() {
    let listener = TcpListener::bind("[::1]:0").await.unwrap();
    assert_eq!(
        checker(CheckKind::Tcp, 1000)
            .run(listener.local_addr().unwrap())
            .await,
        Outcome::Pass(None)
    );
    let listener = TcpListener::bind("[::1]:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let head = read_head(&mut stream).await;
        // The Host header carries the bracketed IPv6 literal.
        let status = if head
            .to_ascii_lowercase()
            .contains(&format!("host: {addr}\r\n"))
        {
            "200 OK"
        } else {
            "400 Bad"
        };
        stream.write_all(&response(status, "v6")).await.unwrap();
    });
    assert_eq!(
        checker(http(vec![url("/")]), 1000).run(addr).await,
        Outcome::Pass(None)
    );
}
