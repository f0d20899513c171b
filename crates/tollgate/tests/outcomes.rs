//! Every way a request ends hands exactly one outcome record to the
//! observers, with the status, error type and latencies the client saw, and
//! the request id it was given; and what a request holds (its in-flight
//! count) it holds until its response has ended.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{exchange, get, with_body, Client, Control, Reply, TestServer, Upstream};
use tollgate_gateway::outcome::{Ending, Outcome};

/// Sends `request`, then returns the response and the one outcome of it.
async fn outcome_of(server: &TestServer, request: &[u8]) -> (support::Answer, Outcome) {
    let answer = exchange(server.addr, request).await;
    let request_id = answer.request_id();
    assert!(!request_id.is_empty(), "no x-amzn-RequestId");
    let outcomes = server.recorder.of(&request_id).await;
    assert_eq!(outcomes.len(), 1, "exactly one outcome: {outcomes:?}");
    let outcome = outcomes.into_iter().next().expect("one");
    assert_eq!(outcome.status, answer.status);
    (answer, outcome)
}

/// `/api/{proxy+}` ANY to `uri` as HTTP_PROXY, keyed, with a plan; returns
/// (api, key).
async fn keyed_proxy(
    control: Control,
    uri: &str,
    plan: serde_json::Value,
    timeout_ms: u64,
) -> (String, String) {
    let (api, _) = control
        .api_with_method(
            "/api/{proxy+}",
            "ANY",
            json!({"authorizationType": "NONE", "apiKeyRequired": true}),
            json!({
                "type": "HTTP_PROXY",
                "httpMethod": "ANY",
                "uri": uri,
                "timeoutInMillis": timeout_ms,
            }),
        )
        .await;
    control.deploy(&api, "prod").await;
    let (key, _, _) = control.key_in_plan(&api, "prod", plan).await;
    (api, key)
}

fn key(k: &str) -> String {
    format!("x-api-key: {k}\r\n")
}

#[tokio::test]
async fn requests_refused_before_the_integration() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let (api, k) = keyed_proxy(
        control,
        &upstream.url("/{proxy}"),
        json!({
            "throttle": {"burstLimit": 1, "rateLimit": 0.001},
        }),
        29_000,
    )
    .await;

    let (_, o) = outcome_of(&server, &get(&api, "/nostage/x", "")).await;
    assert_eq!((o.status, o.error_type), (403, Some("DEFAULT_4XX")));
    assert_eq!(o.error_code, Some("ForbiddenException"));
    assert!(o.resource_path.is_empty() && o.integration_latency.is_none());

    let (_, o) = outcome_of(&server, &get(&api, "/prod/nothing", "")).await;
    assert_eq!(
        (o.status, o.error_type),
        (403, Some("MISSING_AUTHENTICATION_TOKEN"))
    );

    let (_, o) = outcome_of(&server, &get(&api, "/prod/api/x", "")).await;
    assert_eq!((o.status, o.error_type), (403, Some("INVALID_API_KEY")));
    assert_eq!(&*o.resource_path, "/api/{proxy+}");
    assert!(o.cause.is_some(), "the reason is recorded");
    assert!(o.api_key_id.is_none());

    let (a, o) = outcome_of(&server, &get(&api, "/prod/api/x", &key(&k))).await;
    assert_eq!(a.status, 200);
    assert!(o.error_type.is_none() && o.api_key_id.is_some());
    let (_, o) = outcome_of(&server, &get(&api, "/prod/api/x", &key(&k))).await;
    assert_eq!((o.status, o.error_type), (429, Some("THROTTLED")));
    assert_eq!(o.error_code, Some("TooManyRequestsException"));

    let oversized = format!(
        "POST /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\n{}Content-Length: {}\r\n\r\n",
        key(&k),
        11 * 1024 * 1024
    );
    let (_, o) = outcome_of(&server, oversized.as_bytes()).await;
    assert_eq!((o.status, o.error_type), (413, Some("REQUEST_TOO_LARGE")));
    assert_eq!(
        upstream.seen().len(),
        1,
        "only the admitted request went upstream"
    );
}

#[tokio::test]
async fn quota_and_request_mapping_refusals_and_what_they_count() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    // An HTTP (non-proxy) integration that takes only JSON (NEVER passthrough).
    let (api, resource) = control
        .api_with_method(
            "/jobs",
            "POST",
            json!({"authorizationType": "NONE", "apiKeyRequired": true}),
            json!({
                "type": "HTTP",
                "httpMethod": "POST",
                "uri": upstream.url("/jobs"),
                "passthroughBehavior": "NEVER",
                "requestTemplates": {"application/json": "$input.json('$')"}
            }),
        )
        .await;
    let base = format!("/restapis/{api}/resources/{resource}/methods/POST");
    control
        .ok("PUT", &format!("{base}/responses/200"), json!({}))
        .await;
    control
        .ok(
            "PUT",
            &format!("{base}/integration/responses/200"),
            json!({}),
        )
        .await;
    control.deploy(&api, "prod").await;
    let (k, _, _) = control
        .key_in_plan(
            &api,
            "prod",
            json!({"quota": {"limit": 1, "period": "DAY"}}),
        )
        .await;
    let extra = format!("{}Content-Type: text/plain\r\n", key(&k));
    let (_, o) = outcome_of(
        &server,
        &with_body("POST", &api, "/prod/jobs", &extra, b"hi"),
    )
    .await;
    assert_eq!(
        (o.status, o.error_type),
        (415, Some("UNSUPPORTED_MEDIA_TYPE"))
    );
    assert_eq!(o.bytes_in, 2);
    // The 415 was not counted: the quota of one still admits a request.
    let extra = format!("{}Content-Type: application/json\r\n", key(&k));
    let (_, o) = outcome_of(
        &server,
        &with_body("POST", &api, "/prod/jobs", &extra, b"{}"),
    )
    .await;
    assert_eq!((o.status, o.error_type), (200, None));
    assert!(o.integration_latency.is_some());
    let (_, o) = outcome_of(
        &server,
        &with_body("POST", &api, "/prod/jobs", &extra, b"{}"),
    )
    .await;
    assert_eq!((o.status, o.error_type), (429, Some("QUOTA_EXCEEDED")));
    assert_eq!(o.error_code, Some("LimitExceededException"));
}

#[tokio::test]
async fn requests_that_reach_their_integration() {
    let server = TestServer::start();
    let slow = Upstream::start(|_| Reply {
        pieces: vec![Vec::new(), Reply::json(200, "{}").pieces.remove(0)],
        pause: Duration::from_millis(800),
    })
    .await;
    let upstream = Upstream::echo().await;
    let control = server.control();

    let (api, k) = keyed_proxy(control, &upstream.url("/{proxy}"), json!({}), 29_000).await;
    let (a, o) = outcome_of(&server, &get(&api, "/prod/api/x?y=1", &key(&k))).await;
    assert_eq!((o.status, o.error_type), (200, None));
    assert_eq!(o.bytes_out, a.body.len() as u64);
    assert_eq!(o.ending, Ending::Completed);
    let integration = o.integration_latency.expect("integration latency");
    assert!(
        integration <= o.latency,
        "{integration:?} > {:?}",
        o.latency
    );
    assert_eq!(o.trace_id, a.header("x-amzn-trace-id").unwrap_or_default());
    assert_eq!(o.http_method, "GET");
    assert_eq!(o.path, "/api/x");
    assert_eq!(o.source_ip, "127.0.0.1");

    let (api, k) = keyed_proxy(control, &slow.url("/{proxy}"), json!({}), 100).await;
    let (a, o) = outcome_of(&server, &get(&api, "/prod/api/x", &key(&k))).await;
    assert_eq!((a.status, o.error_type), (504, Some("INTEGRATION_TIMEOUT")));
    let waited = o.integration_latency.expect("integration latency");
    assert!(waited >= Duration::from_millis(100), "{waited:?}");

    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let refused = format!("http://{}/{{proxy}}", closed.local_addr().expect("addr"));
    drop(closed);
    let (api, k) = keyed_proxy(control, &refused, json!({}), 29_000).await;
    let (a, o) = outcome_of(&server, &get(&api, "/prod/api/x", &key(&k))).await;
    assert_eq!((a.status, o.error_type), (500, Some("INTEGRATION_FAILURE")));
    assert!(o.cause.is_some(), "the connection error is recorded");
    assert!(!a.text().contains("refused"), "never shown to the client");

    // MOCK.
    let (api, resource) = control
        .api_with_method(
            "/mock",
            "GET",
            json!({"authorizationType": "NONE"}),
            json!({"type": "MOCK", "requestTemplates": {"application/json": "{\"statusCode\": 201}"}}),
        )
        .await;
    let base = format!("/restapis/{api}/resources/{resource}/methods/GET");
    control
        .ok("PUT", &format!("{base}/responses/201"), json!({}))
        .await;
    control
        .ok(
            "PUT",
            &format!("{base}/integration/responses/201"),
            json!({"selectionPattern": "201", "responseTemplates": {"application/json": "{\"mocked\":true}"}}),
        )
        .await;
    control.deploy(&api, "prod").await;
    let (a, o) = outcome_of(&server, &get(&api, "/prod/mock", "")).await;
    assert_eq!((a.status, o.error_type), (201, None));
    assert_eq!(a.json(), json!({"mocked": true}));
    assert_eq!(o.bytes_out, a.body.len() as u64);
}

/// An upstream that streams `pieces` chunks of `hello` `pause` apart.
async fn streaming_upstream(pieces: usize, pause: Duration) -> Upstream {
    Upstream::start(move |_| {
        let mut out = vec![b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n".to_vec()];
        out.extend((0..pieces).map(|_| b"5\r\nhello\r\n".to_vec()));
        out.push(b"0\r\n\r\n".to_vec());
        Reply { pieces: out, pause }
    })
    .await
}

#[tokio::test]
async fn a_client_gone_in_the_middle_of_a_streamed_body() {
    let server = TestServer::start();
    let upstream = streaming_upstream(20, Duration::from_millis(100)).await;
    let (api, k) = keyed_proxy(
        server.control(),
        &upstream.url("/{proxy}"),
        json!({}),
        29_000,
    )
    .await;
    let mut client = Client::connect(server.addr).await;
    client.send(&get(&api, "/prod/api/stream", &key(&k))).await;
    let (status, headers) = client.head().await.expect("head");
    assert_eq!(status, 200);
    let request_id = headers
        .iter()
        .find(|(n, _)| n == "x-amzn-requestid")
        .map(|(_, v)| v.clone())
        .expect("request id");
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(
        server
            .recorder
            .all()
            .iter()
            .all(|o| o.request_id != request_id),
        "no outcome while the body is still being sent"
    );
    drop(client);
    let outcomes = server.recorder.of(&request_id).await;
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0].ending, Ending::ClientGone);
    assert!(outcomes[0].bytes_out < 100, "{}", outcomes[0].bytes_out);
}

#[tokio::test]
async fn concurrency_holds_for_the_whole_of_a_streamed_response() {
    let server = TestServer::start();
    let upstream = streaming_upstream(8, Duration::from_millis(100)).await;
    let (api, k) = keyed_proxy(
        server.control(),
        &upstream.url("/{proxy}"),
        json!({"tags": {"tollgate:concurrency": "1"}}),
        29_000,
    )
    .await;
    let mut first = Client::connect(server.addr).await;
    first.send(&get(&api, "/prod/api/slow", &key(&k))).await;
    let (status, _) = first.head().await.expect("head");
    assert_eq!(status, 200);
    // The first body is still streaming: a second request of the key waits its turn.
    let second = exchange(server.addr, &get(&api, "/prod/api/other", &key(&k))).await;
    assert_eq!(second.status, 429, "{}", second.text());
    // Read the first body to its end.
    let mut rest = Vec::new();
    loop {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 1024];
        let n = first.stream.read(&mut chunk).await.expect("read");
        rest.extend_from_slice(&chunk[..n]);
        if n == 0 || rest.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
    // Admitted right after (the outcome, and with it the in-flight count, ends
    // as the last byte goes out).
    let mut admitted = false;
    for _ in 0..50 {
        let third = exchange(server.addr, &get(&api, "/prod/api/again", &key(&k))).await;
        if third.status == 200 {
            admitted = true;
            break;
        }
        assert_eq!(third.status, 429);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(admitted, "admitted once the first body ended");
}
