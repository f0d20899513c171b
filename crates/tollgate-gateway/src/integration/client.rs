//! The pooled upstream HTTP client and the header rules at the boundary:
//! hop-by-hop headers are dropped, and integration response headers that API
//! Gateway reserves are renamed `x-amzn-Remapped-*`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use thread_local::ThreadLocal;

use super::h1::{self, ThreadPool, UpstreamBody, UpstreamRequest};
use super::h2c::{self, H2cConnections};
use crate::error::GatewayError;

/// Headers that describe one connection, never forwarded either way.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The name a reserved integration response header gets instead of passing
/// as it is (AWS renames these, spec §2.2 known issues); None for the rest.
fn remapped(name: &str) -> Option<HeaderName> {
    macro_rules! renamed {
        ($new:literal) => {
            Some(const { HeaderName::from_static($new) })
        };
    }
    match name {
        "authorization" => renamed!("x-amzn-remapped-authorization"),
        "content-md5" => renamed!("x-amzn-remapped-content-md5"),
        "date" => renamed!("x-amzn-remapped-date"),
        "expect" => renamed!("x-amzn-remapped-expect"),
        "host" => renamed!("x-amzn-remapped-host"),
        "max-forwards" => renamed!("x-amzn-remapped-max-forwards"),
        "server" => renamed!("x-amzn-remapped-server"),
        "user-agent" => renamed!("x-amzn-remapped-user-agent"),
        "via" => renamed!("x-amzn-remapped-via"),
        "www-authenticate" => renamed!("x-amzn-remapped-www-authenticate"),
        "x-amzn-requestid" => renamed!("x-amzn-remapped-x-amzn-requestid"),
        "x-amz-apigw-id" => renamed!("x-amzn-remapped-x-amz-apigw-id"),
        _ => None,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("cannot read CA certificates from {path}: {reason}")]
    CaFile { path: String, reason: String },
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// Pooled HTTP/1.1 client for `http://` and `https://` upstreams (rustls,
/// Mozilla's roots plus any configured CA certificates).
///
/// One pool per worker thread, and each request drives its own connection
/// ([`h1`]): proxying never hops between threads or tasks (measured: thread
/// hops cost more than a third of the throughput on 2 cores).
#[derive(Clone)]
pub struct UpstreamClient {
    tls: Arc<rustls::ClientConfig>,
    pools: Arc<ThreadLocal<ThreadPool>>,
    /// Authorities (`host:port`) spoken to in h2c rather than HTTP/1.1.
    h2c_authorities: Arc<HashSet<String>>,
    h2c: Arc<ThreadLocal<H2cConnections>>,
}

impl Default for UpstreamClient {
    fn default() -> Self {
        match Self::with_extra_roots(&[]) {
            Ok(client) => client,
            Err(e) => {
                // Cannot happen with the bundled provider and roots; stay up, without TLS roots.
                tracing::error!(error = %e, "upstream TLS setup failed: https upstreams will fail");
                Self::build(
                    rustls::ClientConfig::builder()
                        .with_root_certificates(rustls::RootCertStore::empty())
                        .with_no_client_auth(),
                )
            }
        }
    }
}

impl UpstreamClient {
    fn build(tls: rustls::ClientConfig) -> UpstreamClient {
        UpstreamClient {
            tls: Arc::new(tls),
            pools: Arc::new(ThreadLocal::new()),
            h2c_authorities: Arc::new(HashSet::new()),
            h2c: Arc::new(ThreadLocal::new()),
        }
    }

    /// Speaks h2c (HTTP/2 with prior knowledge) to these `http://` upstreams,
    /// each named as its integration URIs write it (`host:port`).
    pub fn with_h2c_upstreams(mut self, authorities: &[String]) -> UpstreamClient {
        self.h2c_authorities = Arc::new(authorities.iter().cloned().collect());
        self
    }

    /// Trusts Mozilla's roots and `extra` (DER certificates, e.g. a private CA).
    pub fn with_extra_roots(
        extra: &[CertificateDer<'static>],
    ) -> Result<UpstreamClient, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        for cert in extra {
            roots.add(cert.clone())?;
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(Self::build(tls))
    }

    /// Reads PEM certificates from `path` for [`UpstreamClient::with_extra_roots`].
    pub fn read_ca_file(
        path: &std::path::Path,
    ) -> Result<Vec<CertificateDer<'static>>, TlsSetupError> {
        let err = |reason: String| TlsSetupError::CaFile {
            path: path.display().to_string(),
            reason,
        };
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| err(e.to_string()))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| err(e.to_string()))?;
        if certs.is_empty() {
            return Err(err("no certificates found".into()));
        }
        Ok(certs)
    }
}

impl UpstreamClient {
    /// Sends `request`, failing with INTEGRATION_TIMEOUT after `timeout` and
    /// INTEGRATION_FAILURE when the upstream cannot be reached.
    pub async fn send(
        &self,
        request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<Response<UpstreamBody>, GatewayError> {
        let origin = &request.target.origin;
        let h2c = !origin.https
            && !self.h2c_authorities.is_empty()
            && self.h2c_authorities.contains(&origin.authority);
        let exchange = async {
            if h2c {
                // Boxed to keep the HTTP/1.1 path's future small.
                Box::pin(h2c::send(&self.h2c, request)).await
            } else {
                h1::send(&self.pools, &self.tls, request).await
            }
        };
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(GatewayError::IntegrationTimeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "integration request failed");
                Err(GatewayError::IntegrationFailure)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// Client headers as the upstream gets them: without hop-by-hop ones, those
/// the client's `Connection` header names (RFC 9110 §7.6.1), Host and
/// Content-Length (the client sets those anew).
pub fn forwardable_request_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len() + 4);
    for (name, value) in headers {
        let n = name.as_str();
        if !(HOP_BY_HOP.contains(&n) || n == "host" || n == "content-length") {
            out.append(name.clone(), value.clone());
        }
    }
    remove_connection_options(headers, &mut out);
    out
}

/// Removes from `out` the headers that `headers`' `Connection` fields name.
pub fn remove_connection_options(headers: &HeaderMap, out: &mut HeaderMap) {
    for value in headers.get_all(http::header::CONNECTION) {
        for token in value.as_bytes().split(|b| *b == b',') {
            let token = token.trim_ascii();
            if token.is_empty() {
                continue;
            }
            if let Ok(name) = HeaderName::from_bytes(token) {
                out.remove(name);
            }
        }
    }
}

/// The name an integration response header reaches the client under: none
/// for hop-by-hop headers, `x-amzn-Remapped-*` for those AWS reserves.
///
/// `Connection` itself passes, so that the integration can remove the
/// headers it names before it drops it.
pub fn client_response_header(name: HeaderName) -> Option<HeaderName> {
    let n = name.as_str();
    if n != "connection" && HOP_BY_HOP.contains(&n) {
        return None;
    }
    Some(remapped(n).unwrap_or(name))
}

/// Sets a header from a mapped string value, ignoring values HTTP cannot carry.
pub fn set_header(headers: &mut HeaderMap, name: &str, value: &str) {
    if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::from_str(value)) {
        headers.insert(n, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integration::h1::apply_header_rule;

    #[test]
    fn remaps_and_drops_headers() {
        let mut h = HeaderMap::new();
        h.insert("server", HeaderValue::from_static("uvicorn"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let out = apply_header_rule(h, client_response_header);
        assert_eq!(
            out.get("x-amzn-remapped-server").map(|v| v.as_bytes()),
            Some(&b"uvicorn"[..])
        );
        assert!(out.get("connection").is_some(), "left for its options");
        assert!(out.get("server").is_none());
        assert!(out.get("content-type").is_some());

        let mut h = HeaderMap::new();
        h.append("set-cookie", HeaderValue::from_static("a=1"));
        h.append("via", HeaderValue::from_static("1.1 a"));
        h.append("set-cookie", HeaderValue::from_static("b=2"));
        h.append("via", HeaderValue::from_static("1.1 b"));
        h.append("transfer-encoding", HeaderValue::from_static("chunked"));
        let out = apply_header_rule(h, client_response_header);
        let all = |n: &str| -> Vec<&[u8]> { out.get_all(n).iter().map(|v| v.as_bytes()).collect() };
        assert_eq!(all("set-cookie"), [&b"a=1"[..], b"b=2"]);
        assert_eq!(all("x-amzn-remapped-via"), [&b"1.1 a"[..], b"1.1 b"]);
        assert_eq!(out.len(), 4);
    }
}
