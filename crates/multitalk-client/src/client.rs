//! The client: one blocking HTTP agent, the endpoint, the credentials, and
//! the calls of the job API.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::error::{ApiError, Error};
use crate::retry::RetryPolicy;
use crate::types::{
    Cancelled, DownloadUrl, GenerateRequest, Health, Job, JobList, JobStatus, Submitted,
};

/// Time limit of one HTTP exchange. API Gateway gives up on an integration
/// after 29 s and the guide's Lambda proxy after 30 s.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The largest API response read (a failed job's `error` can hold the
/// model's whole stderr).
const MAX_RESPONSE: u64 = 32 * 1024 * 1024;

/// How many times [`Client::download_to`] asks for a fresh URL when the
/// presigned one has expired.
const DOWNLOAD_URL_ATTEMPTS: u32 = 3;

/// How requests are authenticated.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `x-api-key: KEY`: an API Gateway usage-plan key (the default).
    ApiKey(String),
    /// `Authorization: Bearer KEY`: the MultiTalk API itself, without a
    /// gateway in front.
    Bearer(String),
    /// No credentials (`GET /api/v1/health` needs none on the API itself).
    None,
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.write_str(match self {
            Auth::ApiKey(_) => "ApiKey(***)",
            Auth::Bearer(_) => "Bearer(***)",
            Auth::None => "None",
        })
    }
}

/// The `Idempotency-Key` of one logical submission: a fresh UUID v4 per
/// submission, reused by every retry of it so that the gateway (which keeps
/// the first response for a key) never starts a second GPU job for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// A new random (version 4) UUID.
    pub fn new() -> Self {
        let mut v: u128 = rand::random();
        v = (v & !(0xf << 76)) | (0x4 << 76);
        v = (v & !(0x3 << 62)) | (0x2 << 62);
        let h = format!("{v:032x}");
        IdempotencyKey(format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        ))
    }

    /// A key chosen by the caller (to retry a submission from another
    /// process): 1 to 255 visible ASCII characters.
    pub fn from_string(key: impl Into<String>) -> Result<Self, Error> {
        let key = key.into();
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Error::invalid(
                "Idempotency-Key",
                "must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for IdempotencyKey {
    fn default() -> Self {
        IdempotencyKey::new()
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A retry about to happen, for [`ClientBuilder::on_retry`].
#[derive(Debug)]
pub struct RetryEvent<'a> {
    /// `generate`, `status`, `list`, `cancel`, `download_url`, `health`.
    pub operation: &'static str,
    /// 1 for the first retry.
    pub attempt: u32,
    pub max_retries: u32,
    pub delay: Duration,
    pub error: &'a Error,
}

type RetryHook = Arc<dyn Fn(&RetryEvent<'_>) + Send + Sync>;

/// Builds a [`Client`].
pub struct ClientBuilder {
    endpoint: String,
    auth: Auth,
    timeout: Duration,
    retry: RetryPolicy,
    user_agent: String,
    proxy_from_env: bool,
    on_retry: Option<RetryHook>,
}

impl ClientBuilder {
    /// How requests are authenticated (default: none).
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// `x-api-key: KEY`.
    pub fn api_key(self, key: impl Into<String>) -> Self {
        self.auth(Auth::ApiKey(key.into()))
    }

    /// Time limit of one HTTP exchange (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Back-off of single calls on 429/5xx (default [`RetryPolicy::default`]).
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// Whether `HTTPS_PROXY`/`HTTP_PROXY`/`ALL_PROXY` (with `NO_PROXY`) are
    /// used (default: yes).
    pub fn proxy_from_env(mut self, yes: bool) -> Self {
        self.proxy_from_env = yes;
        self
    }

    /// Called before each retry of a single call (to tell a user why it waits).
    pub fn on_retry(mut self, hook: impl Fn(&RetryEvent<'_>) + Send + Sync + 'static) -> Self {
        self.on_retry = Some(Arc::new(hook));
        self
    }

    pub fn build(self) -> Result<Client, Error> {
        let endpoint = normalise_endpoint(&self.endpoint)?;
        let agent = |timeout: Option<Duration>| -> ureq::Agent {
            let proxy = if self.proxy_from_env {
                ureq::Proxy::try_from_env()
            } else {
                None
            };
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_global(timeout)
                .timeout_connect(Some(Duration::from_secs(30)))
                .user_agent(self.user_agent.as_str())
                .proxy(proxy)
                .build()
                .into()
        };
        Ok(Client {
            api: agent(Some(self.timeout)),
            // Downloads take as long as they take; a stalled one still ends.
            download: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(Duration::from_secs(30)))
                .timeout_recv_response(Some(self.timeout))
                .timeout_per_call(None)
                .user_agent(self.user_agent.as_str())
                .proxy(if self.proxy_from_env {
                    ureq::Proxy::try_from_env()
                } else {
                    None
                })
                .build()
                .into(),
            endpoint,
            auth: self.auth,
            retry: self.retry,
            on_retry: self.on_retry,
        })
    }
}

/// The endpoint without trailing slashes (and without a trailing `/api/v1`,
/// which every path adds).
fn normalise_endpoint(endpoint: &str) -> Result<String, Error> {
    let trimmed = endpoint.trim();
    let lower = trimmed.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(Error::Config(format!(
            "the endpoint {trimmed:?} is not an http:// or https:// URL (it is the API's invoke URL, \
             like http://127.0.0.1:4566/_aws/execute-api/API_ID/prod)"
        )));
    }
    let mut base = trimmed.trim_end_matches('/');
    if let Some(stripped) = base.strip_suffix("/api/v1") {
        base = stripped.trim_end_matches('/');
    }
    if base.contains('?') || base.contains('#') {
        return Err(Error::Config(format!(
            "the endpoint {trimmed:?} has a query or fragment; give the invoke URL alone"
        )));
    }
    Ok(base.to_owned())
}

/// A client of the MultiTalk job API through an API Gateway invoke URL (or
/// the API itself with [`Auth::Bearer`]). Blocking; cheap to clone.
#[derive(Clone)]
pub struct Client {
    api: ureq::Agent,
    download: ureq::Agent,
    endpoint: String,
    auth: Auth,
    retry: RetryPolicy,
    on_retry: Option<RetryHook>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("auth", &self.auth)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// One HTTP answer.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn error(&self) -> Error {
        ApiError::from_response(
            self.status,
            self.headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &self.body,
        )
        .into()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Post,
    Delete,
}

impl Client {
    /// A client sending `x-api-key: api_key` to `endpoint` (the invoke URL,
    /// stage included: `http://127.0.0.1:4566/_aws/execute-api/API_ID/prod`).
    pub fn new(endpoint: impl Into<String>, api_key: impl Into<String>) -> Result<Client, Error> {
        Client::builder(endpoint).api_key(api_key).build()
    }

    pub fn builder(endpoint: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            endpoint: endpoint.into(),
            auth: Auth::None,
            timeout: DEFAULT_REQUEST_TIMEOUT,
            retry: RetryPolicy::default(),
            user_agent: concat!("multitalk-client/", env!("CARGO_PKG_VERSION")).to_owned(),
            proxy_from_env: true,
            on_retry: None,
        }
    }

    /// The endpoint, normalised.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.retry
    }

    /// `POST /api/v1/generate` with a fresh `Idempotency-Key`, retried (with
    /// the same key) on 429, 409 and 5xx. Validates the request first.
    pub fn generate(&self, request: &GenerateRequest) -> Result<Submitted, Error> {
        self.generate_with_key(request, &IdempotencyKey::new())
    }

    /// `POST /api/v1/generate` with the caller's key: a retry of an earlier
    /// submission passes that submission's key.
    pub fn generate_with_key(
        &self,
        request: &GenerateRequest,
        key: &IdempotencyKey,
    ) -> Result<Submitted, Error> {
        request.validate()?;
        let body = serde_json::to_vec(request)
            .map_err(|e| Error::invalid("request", format!("cannot be encoded: {e}")))?;
        self.call(
            "generate",
            Method::Post,
            "/api/v1/generate".to_owned(),
            Some((&body, key)),
            &self.retry,
        )
    }

    /// `GET /api/v1/jobs/{job_id}`.
    pub fn status(&self, job_id: &str) -> Result<Job, Error> {
        self.status_with(job_id, &self.retry)
    }

    fn status_with(&self, job_id: &str, retry: &RetryPolicy) -> Result<Job, Error> {
        let path = format!("/api/v1/jobs/{}", job_path(job_id)?);
        self.call("status", Method::Get, path, None, retry)
    }

    /// `GET /api/v1/jobs?limit=N` (the API's default limit is 10).
    pub fn list(&self, limit: Option<u32>) -> Result<JobList, Error> {
        let path = match limit {
            Some(n) => format!("/api/v1/jobs?limit={n}"),
            None => "/api/v1/jobs".to_owned(),
        };
        self.call("list", Method::Get, path, None, &self.retry)
    }

    /// `DELETE /api/v1/jobs/{job_id}`. On the real API this only marks the
    /// job: the GPU run goes on and may later overwrite the status.
    pub fn cancel(&self, job_id: &str) -> Result<Cancelled, Error> {
        let path = format!("/api/v1/jobs/{}", job_path(job_id)?);
        self.call("cancel", Method::Delete, path, None, &self.retry)
    }

    /// `GET /api/v1/jobs/{job_id}/download?expiration=SECS` (the API's
    /// default is 3600). 400 until the job has completed.
    pub fn download_url(
        &self,
        job_id: &str,
        expiration: Option<u64>,
    ) -> Result<DownloadUrl, Error> {
        let mut path = format!("/api/v1/jobs/{}/download", job_path(job_id)?);
        if let Some(secs) = expiration {
            path.push_str(&format!("?expiration={secs}"));
        }
        self.call("download_url", Method::Get, path, None, &self.retry)
    }

    /// `GET /api/v1/health`.
    pub fn health(&self) -> Result<Health, Error> {
        self.call(
            "health",
            Method::Get,
            "/api/v1/health".to_owned(),
            None,
            &self.retry,
        )
    }

    /// Polls a job until it is completed or failed (or has stayed cancelled
    /// for [`WaitOptions::cancelled_grace`]), or until the deadline.
    /// Returns the last [`Job`] seen, whatever its final status;
    /// [`Error::Timeout`] at the deadline.
    pub fn wait(&self, job_id: &str, options: &WaitOptions) -> Result<Job, Error> {
        self.wait_with(job_id, options, |_| {})
    }

    /// [`wait`](Self::wait), telling `on_event` of every poll and pause.
    pub fn wait_with(
        &self,
        job_id: &str,
        options: &WaitOptions,
        mut on_event: impl FnMut(&WaitEvent<'_>),
    ) -> Result<Job, Error> {
        let start = Instant::now();
        // A timeout too large for the clock is no deadline at all.
        let deadline = start.checked_add(options.timeout);
        let single = RetryPolicy {
            max_retries: 0,
            ..options.retry.clone()
        };
        let mut failures: u32 = 0;
        let mut last: Option<Job> = None;
        let mut cancelled_since: Option<Instant> = None;
        loop {
            let pause = match self.status_with(job_id, &single) {
                Ok(job) => {
                    failures = 0;
                    let now = Instant::now();
                    on_event(&WaitEvent::Polled {
                        job: &job,
                        elapsed: now - start,
                    });
                    match job.status {
                        JobStatus::Completed | JobStatus::Failed => return Ok(job),
                        JobStatus::Cancelled => {
                            let since = *cancelled_since.get_or_insert(now);
                            let held = now - since;
                            if held >= options.cancelled_grace || deadline.is_some_and(|d| now >= d)
                            {
                                return Ok(job);
                            }
                            let remaining = options.cancelled_grace.saturating_sub(held);
                            on_event(&WaitEvent::CancelledNotFinal {
                                job: &job,
                                remaining,
                            });
                            last = Some(job);
                            options.poll_interval.min(remaining)
                        }
                        _ => {
                            cancelled_since = None;
                            last = Some(job);
                            options.poll_interval
                        }
                    }
                }
                Err(error) if error.is_transient() => {
                    let delay = options.retry.delay_for(failures, &error);
                    failures = failures.saturating_add(1);
                    on_event(&WaitEvent::Retrying {
                        error: &error,
                        delay,
                        elapsed: start.elapsed(),
                    });
                    delay
                }
                Err(error) => return Err(error),
            };
            let now = Instant::now();
            let left = match deadline {
                Some(d) => d.saturating_duration_since(now),
                None => Duration::MAX,
            };
            if left.is_zero() {
                if let Some(job) = last.take_if(|j| j.status == JobStatus::Cancelled) {
                    return Ok(job);
                }
                return Err(Error::Timeout {
                    job_id: job_id.to_owned(),
                    waited: now - start,
                    last: last.map(Box::new),
                });
            }
            // Sleep to the deadline at most, then poll one last time.
            thread::sleep(pause.min(left));
        }
    }

    /// Fetches the job's video into `out`: asks for a presigned URL, GETs it
    /// without the API's credentials, and asks for a new URL when S3 says
    /// the old one has expired. Returns the bytes written.
    pub fn download_to(
        &self,
        job_id: &str,
        expiration: Option<u64>,
        out: &mut dyn Write,
    ) -> Result<u64, Error> {
        let mut last_error = None;
        for _ in 0..DOWNLOAD_URL_ATTEMPTS {
            let url = self.download_url(job_id, expiration)?;
            match self.fetch_presigned(&url.download_url, out) {
                Err(FetchError::Expired(message)) => {
                    last_error = Some(Error::Download {
                        status: 403,
                        message,
                    })
                }
                Err(FetchError::Other(e)) => return Err(e),
                Ok(n) => return Ok(n),
            }
        }
        Err(last_error.unwrap_or_else(|| Error::Download {
            status: 403,
            message: "the download URL kept expiring".to_owned(),
        }))
    }

    /// GETs a presigned URL: no `x-api-key`, no `Authorization` (S3 refuses
    /// a second form of authentication).
    fn fetch_presigned(&self, url: &str, out: &mut dyn Write) -> Result<u64, FetchError> {
        let response = self
            .download
            .get(url)
            .call()
            .map_err(|e| FetchError::Other(transport(e)))?;
        let status = response.status().as_u16();
        let (_, body) = response.into_parts();
        if (200..300).contains(&status) {
            let mut reader = body.into_reader();
            return std::io::copy(&mut reader, out).map_err(|e| FetchError::Other(Error::Io(e)));
        }
        let mut text = String::new();
        let _ = body
            .into_with_config()
            .limit(64 * 1024)
            .reader()
            .read_to_string(&mut text);
        let message = s3_message(&text).unwrap_or_else(|| text.trim().to_owned());
        let expired = matches!(status, 400 | 403)
            && (message.to_ascii_lowercase().contains("expired")
                || text.contains("<Code>ExpiredToken</Code>"));
        if expired {
            Err(FetchError::Expired(message))
        } else {
            Err(FetchError::Other(Error::Download { status, message }))
        }
    }

    fn call<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: String,
        body: Option<(&[u8], &IdempotencyKey)>,
        retry: &RetryPolicy,
    ) -> Result<T, Error> {
        let url = format!("{}{path}", self.endpoint);
        let mut attempt: u32 = 0;
        loop {
            let error = match self.send(method, &url, body) {
                Ok(answer) if (200..300).contains(&answer.status) => {
                    return serde_json::from_slice(&answer.body).map_err(|e| {
                        Error::InvalidResponse {
                            operation,
                            status: answer.status,
                            reason: e.to_string(),
                            body: String::from_utf8_lossy(&answer.body)
                                .chars()
                                .take(500)
                                .collect(),
                        }
                    });
                }
                Ok(answer) => answer.error(),
                Err(e) => e,
            };
            if !error.is_retryable() || attempt >= retry.max_retries {
                return Err(error);
            }
            let delay = retry.delay_for(attempt, &error);
            attempt += 1;
            if let Some(hook) = &self.on_retry {
                hook(&RetryEvent {
                    operation,
                    attempt,
                    max_retries: retry.max_retries,
                    delay,
                    error: &error,
                });
            }
            thread::sleep(delay);
        }
    }

    fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(&[u8], &IdempotencyKey)>,
    ) -> Result<Answer, Error> {
        let mut builder = ureq::http::Request::builder()
            .method(match method {
                Method::Get => "GET",
                Method::Post => "POST",
                Method::Delete => "DELETE",
            })
            .uri(url)
            .header("Accept", "application/json");
        match &self.auth {
            Auth::ApiKey(key) => builder = builder.header("x-api-key", key.as_str()),
            Auth::Bearer(key) => builder = builder.header("Authorization", format!("Bearer {key}")),
            Auth::None => {}
        }
        let payload: &[u8] = match body {
            Some((bytes, key)) => {
                // Sent as `Content-Type`, not lowercased: the guide's Lambda
                // proxy reads `headers.get('Content-Type')`, case-sensitively,
                // and API Gateway passes the client's spelling on to it.
                builder =
                    ureq_proto::client::header_raw(builder, "Content-Type", b"application/json")
                        .header("Idempotency-Key", key.as_str());
                bytes
            }
            None => &[],
        };
        let request = builder.body(payload).map_err(|e| {
            Error::Config(format!(
                "cannot build the request to {url}: {e} (is the API key plain ASCII?)"
            ))
        })?;
        let response = self.api.run(request).map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        let (_, mut body) = response.into_parts();
        let body = body
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(transport)?;
        Ok(Answer {
            status,
            headers,
            body,
        })
    }
}

enum FetchError {
    Expired(String),
    Other(Error),
}

/// `<Message>…</Message>` of an S3 error document.
fn s3_message(xml: &str) -> Option<String> {
    let start = xml.find("<Message>")? + "<Message>".len();
    let end = xml[start..].find("</Message>")? + start;
    Some(xml[start..end].to_owned())
}

/// A job id as one path segment: unreserved characters kept, the rest
/// percent-encoded (an id with `/` must not reach another route).
fn job_path(job_id: &str) -> Result<String, Error> {
    if job_id.is_empty() {
        return Err(Error::invalid("job_id", "is empty"));
    }
    let mut out = String::with_capacity(job_id.len());
    for b in job_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(out)
}

fn transport(e: ureq::Error) -> Error {
    let connect = match &e {
        ureq::Error::HostNotFound | ureq::Error::ConnectionFailed => true,
        ureq::Error::Io(io) => matches!(
            io.kind(),
            std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
        ),
        ureq::Error::Timeout(t) => {
            matches!(t, ureq::Timeout::Connect | ureq::Timeout::Resolve)
        }
        _ => false,
    };
    let message = match &e {
        ureq::Error::Timeout(t) => format!("the request timed out ({t})"),
        ureq::Error::HostNotFound => "the endpoint's host name does not resolve".to_owned(),
        other => other.to_string(),
    };
    Error::Transport { message, connect }
}

/// What [`Client::wait`] reports as it goes.
#[derive(Debug)]
pub enum WaitEvent<'a> {
    /// A status answer.
    Polled { job: &'a Job, elapsed: Duration },
    /// A cancelled job being watched in case the GPU run overwrites it.
    CancelledNotFinal { job: &'a Job, remaining: Duration },
    /// A transient error (429, 5xx, no connection); polling resumes after `delay`.
    Retrying {
        error: &'a Error,
        delay: Duration,
        elapsed: Duration,
    },
}

/// How [`Client::wait`] polls.
#[derive(Debug, Clone, PartialEq)]
pub struct WaitOptions {
    /// Overall deadline. The default, 40 minutes, is above the GPU function's
    /// 1 800 s timeout (spec §1, "Lifecycle").
    pub timeout: Duration,
    /// Pause between polls of a running job (default 5 s). `progress` stays
    /// at 30 for minutes while the model runs; that is not a stall.
    pub poll_interval: Duration,
    /// How long a `cancelled` status must hold before it is believed
    /// (default 60 s): on the real API a cancelled job's GPU run goes on and
    /// may overwrite it with completed or failed.
    pub cancelled_grace: Duration,
    /// Back-off on 429/5xx/no connection while polling (`max_retries` is not
    /// used: polling rides them out until the deadline).
    pub retry: RetryPolicy,
}

impl Default for WaitOptions {
    fn default() -> Self {
        WaitOptions {
            timeout: Duration::from_secs(2400),
            poll_interval: Duration::from_secs(5),
            cancelled_grace: Duration::from_secs(60),
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_keys_are_uuid_v4() {
        let key = IdempotencyKey::new();
        let s = key.as_str();
        assert_eq!(s.len(), 36);
        assert_eq!(s.as_bytes()[14], b'4');
        assert!(matches!(s.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        assert_ne!(IdempotencyKey::new(), key);
        assert!(IdempotencyKey::from_string("abc-123").is_ok());
        assert!(IdempotencyKey::from_string("").is_err());
        assert!(IdempotencyKey::from_string("has space").is_err());
    }

    #[test]
    fn endpoints_are_normalised() {
        let n = |e: &str| normalise_endpoint(e).unwrap();
        assert_eq!(
            n("http://h:1/_aws/execute-api/a/prod/"),
            "http://h:1/_aws/execute-api/a/prod"
        );
        assert_eq!(
            n("https://x.execute-api.us-east-1.amazonaws.com/prod/api/v1/"),
            "https://x.execute-api.us-east-1.amazonaws.com/prod"
        );
        assert!(normalise_endpoint("127.0.0.1:4566").is_err());
        assert!(normalise_endpoint("http://h/prod?x=1").is_err());
    }

    #[test]
    fn job_ids_stay_one_segment() {
        assert_eq!(job_path("ab-12_x.y~").unwrap(), "ab-12_x.y~");
        assert_eq!(job_path("../health").unwrap(), "..%2Fhealth");
        assert_eq!(job_path("a b?c").unwrap(), "a%20b%3Fc");
        assert!(job_path("").is_err());
    }

    #[test]
    fn s3_messages() {
        let xml = "<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
        assert_eq!(s3_message(xml).as_deref(), Some("Request has expired"));
        assert_eq!(s3_message("nope"), None);
    }
}
