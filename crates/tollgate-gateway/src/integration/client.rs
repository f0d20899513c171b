//! The pooled upstream HTTP client: HTTP/1.1 (plain or TLS) or h2c, with a
//! deadline. Transport only: what headers cross, and how, is the caller's
//! (the integrations').

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use http::Response;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use thread_local::ThreadLocal;

use super::h1::{self, ThreadPool, UpstreamBody, UpstreamRequest};
use super::h2c::{self, H2cConnections};

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

/// Why an upstream exchange failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no response within {0:?}")]
    TimedOut(Duration),
    #[error("{0}")]
    Failed(#[from] std::io::Error),
}

impl UpstreamClient {
    /// Sends `request`, giving up after `timeout` (until the response head).
    pub async fn send(
        &self,
        request: UpstreamRequest,
        timeout: Duration,
    ) -> Result<Response<UpstreamBody>, UpstreamError> {
        let origin = &request.target.origin;
        let h2c = !origin.https
            && !self.h2c_authorities.is_empty()
            && self.h2c_authorities.contains(&origin.authority);
        // Pinned where it is made: passed to `timeout` by value, the
        // exchange's future (kilobytes) would be copied twice per request.
        let exchange = std::pin::pin!(async {
            if h2c {
                // Boxed to keep the HTTP/1.1 path's future small.
                Box::pin(h2c::send(&self.h2c, request)).await
            } else {
                h1::send(&self.pools, &self.tls, request).await
            }
        });
        match tokio::time::timeout(timeout, exchange).await {
            Err(_) => Err(UpstreamError::TimedOut(timeout)),
            Ok(result) => Ok(result?),
        }
    }
}
