//! The pooled upstream HTTP client and the header rules at the boundary:
//! hop-by-hop headers are dropped, and integration response headers that API
//! Gateway reserves are renamed `x-amzn-Remapped-*`.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use thread_local::ThreadLocal;

use super::pool::{self, ThreadPool};
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

/// Integration response headers AWS renames rather than passes (spec §2.2,
/// known issues), with their new names.
const REMAPPED: &[(&str, &str)] = &[
    ("authorization", "x-amzn-remapped-authorization"),
    ("content-md5", "x-amzn-remapped-content-md5"),
    ("date", "x-amzn-remapped-date"),
    ("expect", "x-amzn-remapped-expect"),
    ("host", "x-amzn-remapped-host"),
    ("max-forwards", "x-amzn-remapped-max-forwards"),
    ("server", "x-amzn-remapped-server"),
    ("user-agent", "x-amzn-remapped-user-agent"),
    ("via", "x-amzn-remapped-via"),
    ("www-authenticate", "x-amzn-remapped-www-authenticate"),
    ("x-amzn-requestid", "x-amzn-remapped-x-amzn-requestid"),
    ("x-amz-apigw-id", "x-amzn-remapped-x-amz-apigw-id"),
];

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
/// One pool per worker thread: a request then uses connections whose tasks
/// run on its own thread, so proxying never hops between threads (measured:
/// the hops cost more than a third of the throughput on 2 cores).
#[derive(Clone)]
pub struct UpstreamClient {
    tls: Arc<rustls::ClientConfig>,
    pools: Arc<ThreadLocal<ThreadPool>>,
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
        }
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
        request: Request<Full<Bytes>>,
        timeout: Duration,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(timeout, pool::send(&self.pools, &self.tls, request)).await {
            Err(_) => Err(GatewayError::IntegrationTimeout),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "integration request failed");
                Err(GatewayError::IntegrationFailure)
            }
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// Client headers as the upstream gets them: without hop-by-hop ones, Host
/// and Content-Length (the client sets those anew).
pub fn forwardable_request_headers(headers: &HeaderMap) -> HeaderMap {
    let mut out = headers.clone();
    let drop: Vec<HeaderName> = out
        .keys()
        .filter(|n| {
            let n = n.as_str();
            HOP_BY_HOP.contains(&n) || n == "host" || n == "content-length"
        })
        .cloned()
        .collect();
    for name in drop {
        out.remove(name);
    }
    out
}

/// Integration response headers as the client gets them, changed in place:
/// hop-by-hop headers dropped, reserved ones renamed.
pub fn client_response_headers(mut headers: HeaderMap) -> HeaderMap {
    let touched: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            HOP_BY_HOP.contains(&n) || REMAPPED.iter().any(|(r, _)| *r == n)
        })
        .cloned()
        .collect();
    for name in touched {
        let values: Vec<HeaderValue> = headers.get_all(&name).iter().cloned().collect();
        headers.remove(&name);
        if let Some((_, renamed)) = REMAPPED.iter().find(|(r, _)| *r == name.as_str()) {
            let renamed = HeaderName::from_static(renamed);
            for v in values {
                headers.append(renamed.clone(), v);
            }
        }
    }
    headers
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

    #[test]
    fn remaps_and_drops_headers() {
        let mut h = HeaderMap::new();
        h.insert("server", HeaderValue::from_static("uvicorn"));
        h.insert("connection", HeaderValue::from_static("keep-alive"));
        h.insert("content-type", HeaderValue::from_static("application/json"));
        let out = client_response_headers(h);
        assert_eq!(
            out.get("x-amzn-remapped-server").map(|v| v.as_bytes()),
            Some(&b"uvicorn"[..])
        );
        assert!(out.get("connection").is_none());
        assert!(out.get("server").is_none());
        assert!(out.get("content-type").is_some());
    }
}
