//! Idempotent submissions, beyond AWS (`draft-ietf-httpapi-idempotency-key-header`):
//! on a stage whose stage variable `tollgateIdempotency` is `true`, a POST or
//! PATCH carrying an `Idempotency-Key` is run once. The first response
//! (status, headers, body) is kept for 24 hours, scoped to the API key (or
//! its absence), the method and the resource, and replayed for repeats with
//! the header `Idempotent-Replayed: true`. A repeat while the first is still
//! in flight gets 409; a repeat with another body, 422. A 5xx or a failed
//! integration is not kept, so the client may retry. The records live in a
//! store that survives restarts ([`IdempotencyStore`], SQLite in the binary);
//! an in-flight record left by a crash expires after [`IN_FLIGHT_EXPIRY_MS`].

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use http::{HeaderMap, Response, StatusCode};
use http_body_util::BodyExt;

use crate::error::{ErrorKind, GatewayError};
use crate::response::{full, Body};

/// The stage variable that turns it on.
pub const STAGE_VARIABLE: &str = "tollgateIdempotency";
pub const HEADER: http::HeaderName = http::HeaderName::from_static("idempotency-key");
pub const REPLAYED: http::HeaderName = http::HeaderName::from_static("idempotent-replayed");
/// How long a response is kept.
pub const KEEP_MS: i64 = 24 * 3_600_000;
/// An in-flight record older than this (past the longest integration
/// timeout) was left by a crash: a repeat proceeds.
pub const IN_FLIGHT_EXPIRY_MS: i64 = 10 * 60_000;
/// Largest response kept (API Gateway's payload limit).
const MAX_KEPT_BODY: usize = 10 * 1024 * 1024;
/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

/// A kept response.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// What the store says of a new request.
#[derive(Debug, Clone, PartialEq)]
pub enum Begin {
    /// First of its key: run it (it is now recorded in flight).
    Proceed,
    /// Done before with the same body: here is its response.
    Replay(StoredResponse),
    /// The first is still running.
    InFlight,
    /// Done or running with another body.
    Mismatch,
}

pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, String>> + Send + 'a>>;

/// Where idempotency records live. Durable: a replay must hold after a
/// restart or a `kill -9`.
pub trait IdempotencyStore: Send + Sync {
    /// Records `scope` in flight with `fingerprint` unless it is known.
    fn begin<'a>(
        &'a self,
        scope: &'a str,
        fingerprint: &'a str,
        now_ms: i64,
    ) -> StoreFuture<'a, Begin>;
    /// Keeps the response of `scope`.
    fn complete<'a>(
        &'a self,
        scope: &'a str,
        response: StoredResponse,
        now_ms: i64,
    ) -> StoreFuture<'a, ()>;
    /// Forgets `scope` (it failed: a retry may run).
    fn abandon<'a>(&'a self, scope: &'a str) -> StoreFuture<'a, ()>;
}

/// The request's key, if it carries a usable one (a structured-field
/// string `"…"` or a bare token).
pub fn key_of(headers: &HeaderMap) -> Result<Option<String>, GatewayError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(bad_key("more than one Idempotency-Key"));
    }
    let text = value
        .to_str()
        .map_err(|_| bad_key("Idempotency-Key is not ASCII"))?
        .trim();
    let text = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text);
    if text.is_empty() || text.len() > MAX_KEY_LEN || text.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad_key(
            "Idempotency-Key must be 1 to 255 printable characters",
        ));
    }
    Ok(Some(text.to_string()))
}

fn bad_key(why: &str) -> GatewayError {
    ErrorKind::BadIdempotencyKey.because(why)
}

/// The scope a key is unique in.
pub fn scope(
    api_id: &str,
    stage: &str,
    api_key_id: Option<&str>,
    method: &str,
    resource: &str,
    key: &str,
) -> String {
    format!(
        "{api_id}\u{0}{stage}\u{0}{}\u{0}{method}\u{0}{resource}\u{0}{key}",
        api_key_id.unwrap_or("-")
    )
}

/// The body's fingerprint (a repeat must send the same body).
pub fn fingerprint(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

/// A kept response, as the client gets it again.
pub fn replay(stored: &StoredResponse) -> Response<Body> {
    let mut response = Response::new(full(stored.body.clone()));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    for (k, v) in &stored.headers {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::try_from(k.as_str()),
            http::HeaderValue::from_str(v),
        ) {
            response.headers_mut().append(n, v);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED, http::HeaderValue::from_static("true"));
    response
}

/// Reads the integration's whole response, keeps it (unless it is a 5xx,
/// which is abandoned) and hands it on.
pub async fn keep(
    store: &dyn IdempotencyStore,
    scope: &str,
    response: Response<Body>,
    now_ms: i64,
) -> Result<Response<Body>, GatewayError> {
    let (parts, body) = response.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_KEPT_BODY);
    let bytes = match limited.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) => {
            let _ = store.abandon(scope).await;
            return Err(ErrorKind::IntegrationFailure.because(format_args!(
                "reading the response to keep it for Idempotency-Key: {e}"
            )));
        }
    };
    if parts.status.is_server_error() {
        let _ = store.abandon(scope).await;
    } else {
        let stored = StoredResponse {
            status: parts.status.as_u16(),
            headers: parts
                .headers
                .iter()
                .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
                .collect(),
            body: bytes.clone(),
        };
        if let Err(e) = store.complete(scope, stored, now_ms).await {
            tracing::error!(error = %e, "an idempotent response could not be kept: a repeat will run again");
        }
    }
    Ok(Response::from_parts(parts, full(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_as_the_draft_writes_them() {
        let mut h = HeaderMap::new();
        assert_eq!(key_of(&h).ok(), Some(None));
        h.insert(
            HEADER,
            http::HeaderValue::from_static("\"8e03978e-40d5-43e8-bc93-6894a57f9324\""),
        );
        assert_eq!(
            key_of(&h).ok().flatten().as_deref(),
            Some("8e03978e-40d5-43e8-bc93-6894a57f9324")
        );
        h.insert(HEADER, http::HeaderValue::from_static("plain-token"));
        assert_eq!(key_of(&h).ok().flatten().as_deref(), Some("plain-token"));
        h.insert(HEADER, http::HeaderValue::from_static("\"\""));
        assert!(key_of(&h).is_err());
        h.insert(HEADER, http::HeaderValue::from_static("a"));
        h.append(HEADER, http::HeaderValue::from_static("b"));
        assert!(key_of(&h).is_err());
        assert_ne!(fingerprint(b"a"), fingerprint(b"b"));
    }
}
