//! `HTTP_GET` and `SSL_GET`: one request per `url`, checked for status, digest and regex.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper::{Request, Version};
use hyper_util::rt::TokioIo;
use md5::{Digest, Md5};
use regex::bytes::Regex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

use crate::config::{ConnectOptions, HttpCheck, HttpProtocol, TlsOptions, UrlCheck};
use crate::outcome::{Failure, Outcome};
use crate::Error;

/// Trusted roots used when `verify` is on and no `ca` file is configured.
const SYSTEM_CA_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// An `HTTP_GET`/`SSL_GET` checker with its regexes compiled and TLS set up.
#[derive(Debug)]
pub(crate) struct HttpChecker {
    urls: Vec<PreparedUrl>,
    virtualhost: Option<String>,
    protocol: HttpProtocol,
    tls: Option<(Arc<ClientConfig>, bool)>,
    max_body: usize,
}

#[derive(Debug)]
struct PreparedUrl {
    config: UrlCheck,
    regex: Option<Regex>,
}

impl HttpChecker {
    pub(crate) fn new(check: &str, config: &HttpCheck) -> Result<Self, Error> {
        let urls = config
            .urls
            .iter()
            .map(|url| {
                let regex = url
                    .regex
                    .as_deref()
                    .map(|r| {
                        Regex::new(r).map_err(|e| Error::BadRegex {
                            check: check.to_string(),
                            regex: r.to_string(),
                            cause: e.to_string(),
                        })
                    })
                    .transpose()?;
                Ok(PreparedUrl {
                    config: url.clone(),
                    regex,
                })
            })
            .collect::<Result<_, Error>>()?;
        let tls = config
            .tls
            .as_ref()
            .map(|tls| Ok::<_, Error>((Arc::new(client_config(check, tls)?), tls.sni)))
            .transpose()?;
        Ok(HttpChecker {
            urls,
            virtualhost: config.virtualhost.clone(),
            protocol: config.protocol,
            tls,
            max_body: if config.max_body == 0 {
                HttpCheck::DEFAULT_MAX_BODY
            } else {
                config.max_body
            },
        })
    }

    pub(crate) async fn check(&self, opts: &ConnectOptions, target: SocketAddr) -> Outcome {
        for url in &self.urls {
            if let Err(failure) = self.check_url(url, opts, target).await {
                return Outcome::Fail(failure);
            }
        }
        Outcome::Pass(None)
    }

    async fn check_url(
        &self,
        url: &PreparedUrl,
        opts: &ConnectOptions,
        target: SocketAddr,
    ) -> Result<(), Failure> {
        let host = url
            .config
            .virtualhost
            .as_deref()
            .or(self.virtualhost.as_deref());
        let stream = super::net::tcp_connect(opts, target)
            .await
            .map_err(|e| Failure::from_io(&e))?;
        // One small request, then wait for the answer: no batching wanted.
        stream.set_nodelay(true).map_err(|e| Failure::from_io(&e))?;
        match &self.tls {
            None => self.exchange(url, host, target, stream).await,
            Some((tls, sni)) => {
                let connector = TlsConnector::from(tls.clone());
                let name = match host.filter(|_| *sni) {
                    Some(host) => ServerName::try_from(host.to_string())
                        .map_err(|e| Failure::Tls(format!("virtualhost {host:?}: {e}")))?,
                    None => ServerName::IpAddress(target.ip().into()),
                };
                let stream = connector
                    .connect(name, stream)
                    .await
                    .map_err(|e| Failure::Tls(chain(&e)))?;
                self.exchange(url, host, target, stream).await
            }
        }
    }

    /// The first URL's exchange on a connected stream (for the fuzz target).
    pub(crate) async fn exchange_first<S>(&self, stream: S) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let Some(url) = self.urls.first() else {
            return Ok(());
        };
        let target = SocketAddr::from(([192, 0, 2, 1], 80));
        self.exchange(url, None, target, stream).await
    }

    async fn exchange<S>(
        &self,
        url: &PreparedUrl,
        host: Option<&str>,
        target: SocketAddr,
        stream: S,
    ) -> Result<(), Failure>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let path = &url.config.path;
        let (mut sender, conn) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|e| Failure::Protocol(chain(&e)))?;
        let host = match host {
            Some(host) => host.to_string(),
            None => target.to_string(),
        };
        let mut request = Request::get(path.as_str()).header(hyper::header::HOST, host);
        request = match self.protocol {
            HttpProtocol::Http10 => request.version(Version::HTTP_10),
            HttpProtocol::Http10Close => request
                .version(Version::HTTP_10)
                .header(hyper::header::CONNECTION, "close"),
            HttpProtocol::Http11 => request
                .version(Version::HTTP_11)
                .header(hyper::header::CONNECTION, "close"),
        };
        let request = request
            .header(
                hyper::header::USER_AGENT,
                concat!("ha-healthcheck/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| Failure::Protocol(format!("{path}: cannot build request: {e}")))?;

        let work = async {
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| Failure::Protocol(format!("{path}: {}", chain(&e))))?;
            let status = response.status().as_u16();
            let accepted = if url.config.status_code.is_empty() {
                (200..=299).contains(&status)
            } else {
                url.config
                    .status_code
                    .iter()
                    .any(|range| range.contains(&status))
            };
            if !accepted {
                return Err(Failure::HttpStatus {
                    path: path.clone(),
                    status,
                });
            }
            if url.config.digest.is_none() && url.regex.is_none() {
                return Ok(());
            }
            let mut body = response.into_body();
            let mut md5 = Md5::new();
            let mut kept = Vec::new();
            let mut length = 0usize;
            while let Some(frame) = body.frame().await {
                let frame =
                    frame.map_err(|e| Failure::Protocol(format!("{path}: body: {}", chain(&e))))?;
                if let Some(data) = frame.data_ref() {
                    length += data.len();
                    if length > self.max_body {
                        return Err(Failure::BodyTooLarge {
                            path: path.clone(),
                            limit: self.max_body,
                        });
                    }
                    md5.update(data);
                    if url.regex.is_some() {
                        kept.extend_from_slice(data);
                    }
                }
            }
            if let Some(expected) = url.config.digest {
                let actual: [u8; 16] = md5.finalize().into();
                if actual != expected {
                    return Err(Failure::DigestMismatch {
                        path: path.clone(),
                        expected: hex(&expected),
                        actual: hex(&actual),
                    });
                }
            }
            if let Some(regex) = &url.regex {
                if regex.is_match(&kept) == url.config.regex_no_match {
                    return Err(Failure::RegexMismatch {
                        path: path.clone(),
                        no_match: url.config.regex_no_match,
                    });
                }
            }
            Ok(())
        };
        // The connection future moves the bytes; it runs beside the request until the
        // answer is in. When it ends first the body is already buffered or failed.
        tokio::pin!(work);
        let mut conn = std::pin::pin!(conn);
        tokio::select! {
            result = &mut work => result,
            _ = &mut conn => work.await,
        }
    }
}

/// An error and its causes, `outer: inner: ...`: hyper's own text hides the cause.
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn client_config(check: &str, tls: &TlsOptions) -> Result<ClientConfig, Error> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::BadConfig {
            what: format!("checker {check}: TLS"),
            cause: e.to_string(),
        })?;
    let mut config = if tls.verify {
        let path = tls.ca_file.clone().unwrap_or_else(|| SYSTEM_CA_FILE.into());
        let bad = |cause: String| Error::BadCaFile {
            check: check.to_string(),
            path: path.clone(),
            cause,
        };
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(&path).map_err(|e| bad(e.to_string()))? {
            roots
                .add(cert.map_err(|e| bad(e.to_string()))?)
                .map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no certificates".into()));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider())))
            .with_no_client_auth()
    };
    config.enable_sni = tls.sni;
    Ok(config)
}

/// keepalived's default: the certificate is not verified, but the handshake signatures
/// still are, so the session is with the holder of the presented key.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
