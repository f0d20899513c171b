//! The SDK against the reference MultiTalk server and against a stub that
//! answers as API Gateway does (429 without `Retry-After`, 403 `Forbidden`).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{download_stub, Reply, Stub, Upstream, KEY};
use multitalk_client::{
    Auth, Client, Error, ErrorKind, GenerateRequest, JobStatus, RetryPolicy, WaitEvent, WaitOptions,
};

fn request(prompt: &str) -> GenerateRequest {
    GenerateRequest::new(
        prompt,
        "s3://in-bucket/inputs/face.png",
        ["s3://in-bucket/inputs/voice.wav"],
    )
}

/// A fast policy: `base`, doubling, no jitter.
fn fast(base_ms: u64, max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        base: Duration::from_millis(base_ms),
        max_retries,
        jitter: 0.0,
        ..RetryPolicy::default()
    }
}

fn upstream_client(upstream: &Upstream) -> Client {
    Client::builder(&upstream.url)
        .auth(Auth::Bearer(KEY.to_owned()))
        .proxy_from_env(false)
        .retry(fast(50, 2))
        .build()
        .expect("client")
}

fn stub_client(stub: &Stub, retry: RetryPolicy) -> Client {
    Client::builder(&stub.url)
        .api_key("the-key")
        .proxy_from_env(false)
        .retry(retry)
        .build()
        .expect("client")
}

fn quick_wait(timeout: Duration) -> WaitOptions {
    WaitOptions {
        timeout,
        poll_interval: Duration::from_millis(100),
        cancelled_grace: Duration::from_millis(300),
        retry: fast(50, 0),
    }
}

/// Submit, watch progress go 0 → 10 → 30 → 100, list, download URL, health.
#[test]
fn generate_wait_list_and_download_against_the_reference_server() {
    let upstream = Upstream::start(Duration::from_millis(1500));
    let client = upstream_client(&upstream);

    assert_eq!(
        client.health().expect("health").status.as_deref(),
        Some("healthy")
    );

    let submitted = client
        .generate(&request("A person speaking"))
        .expect("generate");
    assert_eq!(submitted.status, JobStatus::Pending);

    let mut seen = Vec::new();
    let job = client
        .wait_with(
            &submitted.job_id,
            &quick_wait(Duration::from_secs(15)),
            |e| {
                if let WaitEvent::Polled { job, .. } = e {
                    seen.push((job.status.clone(), job.progress));
                }
            },
        )
        .expect("wait");
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(job.progress, Some(100));
    assert!(
        job.output().is_some_and(|o| o.starts_with("s3://")),
        "{job:?}"
    );
    assert!(
        seen.contains(&(JobStatus::Processing, Some(30))),
        "polled through processing at 30%: {seen:?}"
    );

    let list = client.list(Some(5)).expect("list");
    assert_eq!(
        list.jobs.first().map(|j| j.job_id.as_str()),
        Some(submitted.job_id.as_str())
    );

    let url = client
        .download_url(&job.job_id, Some(60))
        .expect("download url");
    assert_eq!(url.expires_in, Some(60));
    assert!(url.download_url.starts_with("http"), "{url:?}");

    // The generate carried a UUID Idempotency-Key and the Bearer key.
    let posts: Vec<_> = upstream
        .recorder
        .requests()
        .into_iter()
        .filter(|r| r.method.as_str() == "POST")
        .collect();
    assert_eq!(posts.len(), 1);
    let key = posts[0].header("idempotency-key").expect("Idempotency-Key");
    assert_eq!(key.len(), 36, "{key}");
    assert_eq!(posts[0].header("authorization"), Some("Bearer test-key"));
}

/// A failed job is returned (not an error) with its error text.
#[test]
fn a_failed_job_is_a_job_not_an_error() {
    let upstream = Upstream::start(Duration::from_millis(400));
    let client = upstream_client(&upstream);
    let submitted = client.generate(&request("please FAIL")).expect("generate");
    let job = client
        .wait(&submitted.job_id, &quick_wait(Duration::from_secs(10)))
        .expect("wait");
    assert_eq!(job.status, JobStatus::Failed);
    assert!(job.error.is_some_and(|e| e.contains("Simulated failure")));
}

/// Cancel, then `wait` holds the cancelled status for the grace period and
/// returns it; a second cancel is the API's 400 with its nested detail.
#[test]
fn cancel_and_wait_for_a_cancelled_job() {
    let upstream = Upstream::start(Duration::from_secs(60));
    let client = upstream_client(&upstream);
    let submitted = client.generate(&request("cancel me")).expect("generate");
    let cancelled = client.cancel(&submitted.job_id).expect("cancel");
    assert_eq!(cancelled.status, JobStatus::Cancelled);

    let started = Instant::now();
    let mut held = 0;
    let job = client
        .wait_with(
            &submitted.job_id,
            &quick_wait(Duration::from_secs(10)),
            |e| {
                if let WaitEvent::CancelledNotFinal { .. } = e {
                    held += 1;
                }
            },
        )
        .expect("wait");
    assert_eq!(job.status, JobStatus::Cancelled);
    assert!(held >= 1, "cancelled was not taken as final at once");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let again = client.cancel(&submitted.job_id).expect_err("second cancel");
    let api = again.api().expect("an API error");
    assert_eq!(api.kind, ErrorKind::BadRequest);
    assert!(
        api.detail
            .as_deref()
            .is_some_and(|d| d.contains("cancelled")),
        "{api}"
    );
}

/// `wait` gives up at its deadline with the last job seen.
#[test]
fn wait_times_out_with_the_last_status() {
    let upstream = Upstream::start(Duration::from_secs(60));
    let client = upstream_client(&upstream);
    let submitted = client.generate(&request("slow")).expect("generate");
    let started = Instant::now();
    let error = client
        .wait(&submitted.job_id, &quick_wait(Duration::from_millis(400)))
        .expect_err("timeout");
    assert!(started.elapsed() < Duration::from_secs(3));
    match error {
        Error::Timeout { job_id, last, .. } => {
            assert_eq!(job_id, submitted.job_id);
            assert!(last.is_some_and(|j| !j.status.is_final()));
        }
        other => panic!("expected a timeout, got {other:?}"),
    }
}

/// A wrong Bearer key: the API's 401 `Invalid API key` is bad credentials
/// and is not retried.
#[test]
fn a_wrong_key_on_the_api_is_bad_credentials() {
    let upstream = Upstream::start(Duration::from_secs(1));
    let client = Client::builder(&upstream.url)
        .auth(Auth::Bearer("wrong".to_owned()))
        .proxy_from_env(false)
        .retry(fast(50, 3))
        .build()
        .expect("client");
    let error = client.list(None).expect_err("401");
    assert!(error.is_bad_credentials(), "{error:?}");
    let api = error.api().expect("an API error");
    assert_eq!((api.status, api.message.as_str()), (401, "Invalid API key"));
    assert_eq!(upstream.recorder.len(), 1, "not retried");
}

/// API Gateway's 403 `{"message":"Forbidden"}` for an unknown `x-api-key`:
/// bad credentials, not retried.
#[test]
fn the_gateways_forbidden_is_bad_credentials_and_not_retried() {
    let stub = Stub::scripted(vec![Reply::forbidden()]);
    let client = stub_client(&stub, fast(10, 3));
    let error = client.status("job-1").expect_err("403");
    assert!(error.is_bad_credentials(), "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(error.api().map(|a| a.kind), Some(ErrorKind::Forbidden));
    assert_eq!(stub.seen().len(), 1);
    assert_eq!(stub.seen()[0].header("x-api-key"), Some("the-key"));
}

/// Two 429s without `Retry-After`, then success: retried with exponential
/// back-off, and every attempt of the submission carries the same
/// `Idempotency-Key` (so the gateway never starts a second job).
#[test]
fn a_throttled_generate_is_retried_with_backoff_and_the_same_key() {
    let stub = Stub::scripted(vec![
        Reply::throttled(),
        Reply::throttled(),
        Reply::submitted("job-1"),
    ]);
    let delays = Arc::new(Mutex::new(Vec::new()));
    let client = Client::builder(&stub.url)
        .api_key("the-key")
        .proxy_from_env(false)
        .retry(fast(100, 3))
        .on_retry({
            let delays = delays.clone();
            move |e| {
                assert_eq!(e.operation, "generate");
                assert_eq!(e.error.api().map(|a| a.kind), Some(ErrorKind::Throttled));
                delays.lock().expect("delays").push(e.delay);
            }
        })
        .build()
        .expect("client");
    let started = Instant::now();
    let submitted = client
        .generate(&request("hi"))
        .expect("generate after 429s");
    let took = started.elapsed();
    assert_eq!(submitted.job_id, "job-1");
    assert_eq!(
        *delays.lock().expect("delays"),
        vec![Duration::from_millis(100), Duration::from_millis(200)],
        "exponential back-off"
    );
    assert!(
        took >= Duration::from_millis(300),
        "slept the back-off: {took:?}"
    );
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    let keys: Vec<_> = seen.iter().map(|r| r.header("idempotency-key")).collect();
    assert!(keys[0].is_some());
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
}

/// The default policy starts at about 10 s, but a `Retry-After: 1` wins.
#[test]
fn retry_after_is_honoured_over_the_backoff() {
    let stub = Stub::scripted(vec![
        Reply::text(503, "Service Unavailable").header("Retry-After", "1"),
        Reply::job("job-1", "processing", 30),
    ]);
    let client = stub_client(&stub, RetryPolicy::default());
    let started = Instant::now();
    let job = client.status("job-1").expect("status after 503");
    let took = started.elapsed();
    assert_eq!(job.progress, Some(30));
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "waited {took:?}"
    );
}

/// Throttled for ever: gives up after `max_retries` with the 429.
#[test]
fn retries_stop_after_max_retries() {
    let stub = Stub::scripted(vec![Reply::throttled()]);
    let client = stub_client(&stub, fast(10, 2));
    let error = client.list(None).expect_err("still throttled");
    assert_eq!(error.api().map(|a| a.kind), Some(ErrorKind::Throttled));
    assert_eq!(stub.seen().len(), 3, "one call and two retries");
}

/// The usage plan's quota (`Limit Exceeded`) will not reset in seconds: not retried.
#[test]
fn an_exhausted_quota_is_not_retried() {
    let stub = Stub::scripted(vec![Reply::json(429, r#"{"message":"Limit Exceeded"}"#)]);
    let client = stub_client(&stub, fast(10, 3));
    let error = client.list(None).expect_err("quota");
    assert_eq!(error.api().map(|a| a.kind), Some(ErrorKind::QuotaExceeded));
    assert_eq!(stub.seen().len(), 1);
}

/// `wait` rides out a 429, a plain-text 502 and a nested 500 between polls,
/// and sees a job stuck at 30 % through to `completed`.
#[test]
fn wait_rides_out_throttling_and_server_errors() {
    let stub = Stub::scripted(vec![
        Reply::job("job-1", "processing", 30),
        Reply::throttled(),
        Reply::text(502, "<html><body>Bad Gateway</body></html>"),
        Reply::json(
            500,
            r#"{"error":"Internal server error","detail":"HTTPConnectionPool: Max retries exceeded"}"#,
        ),
        Reply::job("job-1", "processing", 30),
        Reply::job("job-1", "completed", 100),
    ]);
    let client = stub_client(&stub, fast(10, 0));
    let mut retried = Vec::new();
    let job = client
        .wait_with("job-1", &quick_wait(Duration::from_secs(10)), |e| {
            if let WaitEvent::Retrying { error, .. } = e {
                retried.push(error.api().map(|a| a.status));
            }
        })
        .expect("wait");
    assert_eq!(job.status, JobStatus::Completed);
    assert_eq!(retried, vec![Some(429), Some(502), Some(500)]);
    assert_eq!(stub.seen().len(), 6);
}

/// The error shapes of the API and the proxy, end to end.
#[test]
fn error_bodies_of_every_shape_are_read() {
    let stub = Stub::scripted(vec![
        Reply::json(
            404,
            r#"{"detail":{"error":"Job not found","detail":"No job with ID x","request_id":"x"}}"#,
        ),
        Reply::json(
            422,
            r#"{"detail":[{"type":"missing","loc":["body","prompt"],"msg":"Field required","input":{}}]}"#,
        ),
        Reply::text(500, "Internal Server Error"),
    ]);
    let client = stub_client(&stub, RetryPolicy::none());
    let e = client.status("x").expect_err("404");
    assert_eq!(
        e.to_string(),
        "404 Not Found: Job not found (No job with ID x) [request id x]"
    );
    let e = client.list(None).expect_err("422");
    let api = e.api().expect("api error");
    assert_eq!(api.kind, ErrorKind::Validation);
    assert_eq!(api.issues[0].loc, "body.prompt");
    let e = client.health().expect_err("500");
    assert_eq!(
        e.api().map(|a| a.message.as_str()),
        Some("Internal Server Error")
    );
}

/// `download_to`: the presigned URL is fetched without the API key, and a
/// new one is asked for when S3 says the first has expired.
#[test]
fn download_refetches_an_expired_url_and_sends_no_credentials_to_s3() {
    let stub = download_stub();
    let client = stub_client(&stub, RetryPolicy::none());
    let mut out = Vec::new();
    let n = client
        .download_to("job-1", None, &mut out)
        .expect("download");
    assert_eq!((n, out.as_slice()), (14, b"fake mp4 bytes".as_slice()));
    let seen = stub.seen();
    let paths: Vec<_> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    for r in &seen {
        let to_s3 = r.path.starts_with("/s3/");
        assert_eq!(r.header("x-api-key").is_some(), !to_s3, "{r:?}");
        assert!(r.header("authorization").is_none(), "{r:?}");
    }
}
