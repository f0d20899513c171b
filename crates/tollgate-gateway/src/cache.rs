//! The stage cache (`spec/aws-apigw.md` §7): a stage with
//! `cacheClusterEnabled` keeps integration responses in memory, bounded by
//! its `cacheClusterSize` read as bytes (0.5 GB is 536 870 912 bytes),
//! each entry for its method's `caching/ttlInSeconds`.
//!
//! - Which methods: GET by default; a method's own settings
//!   (`/~1path/METHOD/caching/enabled`) say otherwise. TTL 0 turns it off.
//! - The key: the method's cache namespace (its resource id unless set),
//!   the HTTP method, and the values of the integration's
//!   `cacheKeyParameters` (query strings, headers, path parameters).
//! - What is kept: 2xx responses whose body ends within 1 048 576 bytes
//!   (AWS's item limit); a longer body streams to the client and is not
//!   kept (AWS leaves this open).
//! - A hit has passed the key, throttle and quota checks like any request;
//!   it skips the integration.
//! - `Cache-Control: max-age=0` skips the cache and refreshes the entry,
//!   for a caller allowed to: with `requireAuthorizationForCacheControl`
//!   that is a caller Tollgate authenticated (a SigV4-signed request on an
//!   `AWS_IAM` method: Tollgate's credentials are administrators', IAM
//!   policies are not evaluated). Anyone else gets what
//!   `unauthorizedCacheControlHeaderStrategy` says: 403, or served from the
//!   cache with (`SUCCEED_WITH_RESPONSE_HEADER`, Tollgate's header name,
//!   AWS documents none) or without a warning header.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Response, StatusCode};
use http_body::{Frame, SizeHint};
use tollgate_model::stage::{MethodSetting, Stage};

use crate::response::{full, Body};
use crate::router::PathParam;

/// AWS's largest cached item.
pub const MAX_ITEM_BYTES: usize = 1_048_576;

/// The header `SUCCEED_WITH_RESPONSE_HEADER` adds (AWS does not name its own).
pub const IGNORED_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-tollgate-cache-control-ignored");

/// A cluster size's name as a byte budget.
pub fn capacity_bytes(size: Option<&str>) -> u64 {
    let gigabytes: f64 = size.and_then(|s| s.parse().ok()).unwrap_or(0.5);
    (gigabytes * 1024.0 * 1024.0 * 1024.0) as u64
}

/// One kept response.
#[derive(Debug)]
pub struct Cached {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    ttl: Duration,
}

struct PerEntryTtl;

impl moka::Expiry<String, Arc<Cached>> for PerEntryTtl {
    fn expire_after_create(
        &self,
        _: &String,
        value: &Arc<Cached>,
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// One stage's cache.
pub struct StageCache {
    entries: moka::sync::Cache<String, Arc<Cached>>,
    pub capacity_bytes: u64,
}

impl std::fmt::Debug for StageCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StageCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("entries", &self.entries.entry_count())
            .finish()
    }
}

impl StageCache {
    pub fn new(capacity_bytes: u64) -> StageCache {
        StageCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|key: &String, value: &Arc<Cached>| {
                    let headers: usize = value
                        .headers
                        .iter()
                        .map(|(k, v)| k.as_str().len() + v.len() + 32)
                        .sum();
                    (key.len() + headers + value.body.len() + 128).min(u32::MAX as usize) as u32
                })
                .expire_after(PerEntryTtl)
                .build(),
            capacity_bytes,
        }
    }

    pub fn get(&self, key: &str) -> Option<Arc<Cached>> {
        self.entries.get(key)
    }

    pub fn insert(
        &self,
        key: String,
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
        ttl: Duration,
    ) {
        self.entries.insert(
            key,
            Arc::new(Cached {
                status,
                headers,
                body,
                ttl,
            }),
        );
    }

    /// FlushStageCache.
    pub fn flush(&self) {
        self.entries.invalidate_all();
    }

    /// Bytes held (after pending evictions have run).
    #[cfg(test)]
    pub fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }
}

/// What to do with an unauthorized `Cache-Control: max-age=0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    FailWith403,
    SucceedWithResponseHeader,
    SucceedWithoutResponseHeader,
}

/// A cache key part.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeySource {
    Query(String),
    /// Lower-cased.
    Header(String),
    Path(String),
}

/// How one method uses its stage's cache.
#[derive(Debug)]
pub struct MethodCaching {
    pub cache: Arc<StageCache>,
    ttl: Duration,
    namespace: String,
    key_sources: Vec<KeySource>,
    pub require_authorization: bool,
    pub strategy: Strategy,
    /// An ANY method caches only the GETs it serves (unless set otherwise).
    only_get: bool,
}

/// Whether and how `http_method` of `resource_path` is cached on `stage`.
pub fn method_caching(
    cache: Option<&Arc<StageCache>>,
    stage: &Stage,
    resource_path: &str,
    http_method: &str,
    namespace: &str,
    key_parameters: &[String],
) -> Option<MethodCaching> {
    let cache = cache?;
    let own: Option<&MethodSetting> = stage.method_settings.get(&format!(
        "{}/{http_method}",
        resource_path.replace('/', "~1")
    ));
    let any: Option<&MethodSetting> = stage.method_settings.get("*/*");
    let setting = own.or(any);
    let (enabled, only_get) = match own {
        Some(s) => (s.caching_enabled, false),
        None => (
            http_method == "GET" || http_method == "ANY",
            http_method == "ANY",
        ),
    };
    let ttl = setting
        .map_or(300, |s| s.cache_ttl_in_seconds)
        .clamp(0, 3600);
    if !enabled || ttl == 0 {
        return None;
    }
    let key_sources = key_parameters
        .iter()
        .filter_map(|p| {
            if let Some(n) = p.strip_prefix("method.request.querystring.") {
                Some(KeySource::Query(n.to_string()))
            } else if let Some(n) = p.strip_prefix("method.request.header.") {
                Some(KeySource::Header(n.to_ascii_lowercase()))
            } else {
                p.strip_prefix("method.request.path.")
                    .map(|n| KeySource::Path(n.to_string()))
            }
        })
        .collect();
    Some(MethodCaching {
        cache: cache.clone(),
        ttl: Duration::from_secs(ttl as u64),
        namespace: namespace.to_string(),
        key_sources,
        require_authorization: setting.is_none_or(|s| s.require_authorization_for_cache_control),
        strategy: match setting.map(|s| s.unauthorized_cache_control_header_strategy.as_str()) {
            Some("FAIL_WITH_403") => Strategy::FailWith403,
            Some("SUCCEED_WITHOUT_RESPONSE_HEADER") => Strategy::SucceedWithoutResponseHeader,
            _ => Strategy::SucceedWithResponseHeader,
        },
        only_get,
    })
}

impl MethodCaching {
    /// Whether this request may use the cache at all.
    pub fn applies_to(&self, request_method: &http::Method) -> bool {
        !self.only_get || request_method == http::Method::GET
    }

    /// The request's key: namespace, method and the key parameters' values.
    pub fn key(
        &self,
        request_method: &http::Method,
        query: &[(String, String)],
        headers: &HeaderMap,
        path_params: &[PathParam],
    ) -> String {
        let mut key = format!("{}\u{0}{}", self.namespace, request_method.as_str());
        for source in &self.key_sources {
            key.push('\u{0}');
            let value = match source {
                KeySource::Query(n) => query
                    .iter()
                    .filter(|(k, _)| k == n)
                    .map(|(_, v)| v.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                KeySource::Header(n) => headers
                    .get_all(n.as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect::<Vec<_>>()
                    .join(","),
                KeySource::Path(n) => path_params
                    .iter()
                    .find(|p| p.name == *n)
                    .map(|p| p.value.clone())
                    .unwrap_or_default(),
            };
            key.push_str(&value);
        }
        key
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Whether the client asked to skip the cache (`Cache-Control: max-age=0`).
pub fn asks_for_fresh(headers: &HeaderMap) -> bool {
    headers
        .get_all(http::header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("max-age=0"))
}

/// A cached response, for the client.
pub fn respond(cached: &Cached) -> Response<Body> {
    let mut response = Response::new(full(cached.body.clone()));
    *response.status_mut() = cached.status;
    *response.headers_mut() = cached.headers.clone();
    response
}

/// Wraps a 2xx response's body so that, if it ends within the item limit,
/// it is kept under `key` as it goes to the client.
pub fn keep(
    response: Response<Body>,
    cache: Arc<StageCache>,
    key: String,
    ttl: Duration,
) -> Response<Body> {
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let status = parts.status;
    let headers = parts.headers.clone();
    let tee = Keeping {
        inner: body,
        collected: Some(BytesMut::new()),
        store: Some((cache, key, status, headers, ttl)),
    };
    Response::from_parts(parts, http_body_util::BodyExt::boxed(tee))
}

type Pending = (Arc<StageCache>, String, StatusCode, HeaderMap, Duration);

struct Keeping {
    inner: Body,
    /// None once past the item limit.
    collected: Option<BytesMut>,
    store: Option<Pending>,
}

impl http_body::Body for Keeping {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(collected)) = (frame.data_ref(), this.collected.as_mut()) {
                    if collected.len() + data.len() > MAX_ITEM_BYTES {
                        this.collected = None;
                    } else {
                        collected.extend_from_slice(data);
                    }
                }
            }
            Poll::Ready(Some(Err(_))) => this.collected = None,
            Poll::Ready(None) => {
                if let (Some(collected), Some((cache, key, status, headers, ttl))) =
                    (this.collected.take(), this.store.take())
                {
                    cache.insert(key, status, headers, collected.freeze(), ttl);
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_byte_budget_holds_under_many_keys() {
        let cache = StageCache::new(1024 * 1024);
        let body = Bytes::from(vec![b'x'; 1000]);
        for i in 0..10_000 {
            cache.insert(
                format!("k{i}"),
                StatusCode::OK,
                HeaderMap::new(),
                body.clone(),
                Duration::from_secs(300),
            );
        }
        let held = cache.weighted_size();
        assert!(held <= 1024 * 1024, "{held} bytes held");
        assert!(held > 512 * 1024, "the budget is used: {held}");
    }

    #[test]
    fn sizes_and_cache_control() {
        assert_eq!(capacity_bytes(Some("0.5")), 536_870_912);
        assert_eq!(capacity_bytes(Some("237")), 237 * 1024 * 1024 * 1024);
        let mut headers = HeaderMap::new();
        assert!(!asks_for_fresh(&headers));
        headers.insert(
            http::header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store, max-age=0"),
        );
        assert!(asks_for_fresh(&headers));
    }
}
