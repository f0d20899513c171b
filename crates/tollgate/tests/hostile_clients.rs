//! What a hostile client tried against the release build, each with the same
//! bytes: methods that require authorization, `{proxy}` values that climb out
//! of the integration's prefix, poisoned upstream connections, unknown
//! methods, bodies held before the route and key are checked, the accept
//! loop out of file descriptors, `Connection`-named headers, Host games and
//! idle h2c connections.

mod support;

use std::time::{Duration, Instant, SystemTime};

use serde_json::json;
use support::{
    exchange, get, with_body, BinaryServer, Client, Control, Reply, TestServer, Upstream,
};
use tollgate::config::Overrides;
use tollgate_aws::sigv4::{self, Credentials};

/// An API whose `/api/{proxy+}` ANY goes to `upstream` as HTTP_PROXY with an
/// injected secret, behind an API key; returns (api id, key value).
async fn proxied_api(control: Control, upstream: &Upstream) -> (String, String) {
    let (api, _) = control
        .api_with_method(
            "/api/{proxy+}",
            "ANY",
            json!({
                "authorizationType": "NONE",
                "apiKeyRequired": true,
                "requestParameters": {"method.request.path.proxy": true}
            }),
            json!({
                "type": "HTTP_PROXY",
                "httpMethod": "ANY",
                "uri": upstream.url("/api/{proxy}"),
                "requestParameters": {
                    "integration.request.path.proxy": "method.request.path.proxy",
                    "integration.request.header.Authorization": "'Bearer upstream-secret'"
                }
            }),
        )
        .await;
    control.deploy(&api, "prod").await;
    let (key, _, _) = control.key_in_plan(&api, "prod", json!({})).await;
    (api, key)
}

/// A MOCK method at `/secure` GET with `authorization` whose 200 answer shows
/// `$context.identity`.
async fn mock_api(control: Control, method: serde_json::Value) -> String {
    let (api, resource) = control
        .api_with_method(
            "/secure",
            "GET",
            method,
            json!({
                "type": "MOCK",
                "requestTemplates": {"application/json": "{\"statusCode\": 200}"}
            }),
        )
        .await;
    let base = format!("/restapis/{api}/resources/{resource}/methods/GET");
    control
        .ok("PUT", &format!("{base}/responses/200"), json!({}))
        .await;
    control
        .ok(
            "PUT",
            &format!("{base}/integration/responses/200"),
            json!({
                "responseTemplates": {"application/json":
                    "{\"caller\":\"$context.identity.caller\",\"userArn\":\"$context.identity.userArn\",\"accessKey\":\"$context.identity.accessKey\"}"}
            }),
        )
        .await;
    control.deploy(&api, "prod").await;
    api
}

/// `method path` for `api`, signed with SigV4 by `creds` for `service`.
fn signed(
    api: &str,
    method: &str,
    path: &str,
    body: &[u8],
    creds: &Credentials,
    service: &str,
) -> Vec<u8> {
    let host = format!("{api}.execute-api.localhost");
    let (mut parts, ()) = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", &host)
        .body(())
        .expect("request")
        .into_parts();
    sigv4::sign(
        &mut parts,
        body,
        creds,
        "us-east-1",
        service,
        SystemTime::now(),
    );
    let mut wire = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in &parts.headers {
        wire.push_str(&format!("{name}: {}\r\n", value.to_str().expect("ascii")));
    }
    wire.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let mut bytes = wire.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[tokio::test]
async fn aws_iam_methods_need_a_valid_signature() {
    let server = TestServer::start();
    let api = mock_api(server.control(), json!({"authorizationType": "AWS_IAM"})).await;

    let unsigned = exchange(server.addr, &get(&api, "/prod/secure", "")).await;
    assert_eq!(unsigned.status, 403);
    assert_eq!(
        unsigned.header("x-amzn-errortype"),
        Some("MissingAuthenticationTokenException")
    );
    assert_eq!(unsigned.json()["message"], "Missing Authentication Token");

    let good = Credentials::new("test", "test");
    let wrong_secret = Credentials::new("test", "not-the-secret");
    let bad = exchange(
        server.addr,
        &signed(
            &api,
            "GET",
            "/prod/secure",
            b"",
            &wrong_secret,
            "execute-api",
        ),
    )
    .await;
    assert_eq!(bad.status, 403);
    assert_eq!(
        bad.header("x-amzn-errortype"),
        Some("InvalidSignatureException")
    );
    assert!(
        bad.json()["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("The request signature we calculated does not match")),
        "{}",
        bad.text()
    );

    let unknown = exchange(
        server.addr,
        &signed(
            &api,
            "GET",
            "/prod/secure",
            b"",
            &Credentials::new("AKIDUNKNOWN", "x"),
            "execute-api",
        ),
    )
    .await;
    assert_eq!(unknown.status, 403);
    assert_eq!(
        unknown.header("x-amzn-errortype"),
        Some("UnrecognizedClientException")
    );

    let other_service = exchange(
        server.addr,
        &signed(&api, "GET", "/prod/secure", b"", &good, "apigateway"),
    )
    .await;
    assert_eq!(other_service.status, 403);
    assert!(
        other_service.text().contains("execute-api"),
        "{}",
        other_service.text()
    );

    let ok = exchange(
        server.addr,
        &signed(&api, "GET", "/prod/secure", b"", &good, "execute-api"),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(
        ok.json(),
        json!({
            "caller": "test",
            "userArn": "arn:aws:iam::000000000000:user/test",
            "accessKey": "test"
        })
    );

    // The signature covers the body: another body under the same signature fails.
    let mut tampered = signed(&api, "GET", "/prod/secure", b"signed", &good, "execute-api");
    let len = tampered.len();
    tampered[len - 6..].copy_from_slice(b"forged");
    let tampered = exchange(server.addr, &tampered).await;
    assert_eq!(tampered.status, 403, "{}", tampered.text());
}

#[tokio::test]
async fn custom_and_cognito_methods_fail_closed() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = control
        .ok("POST", "/restapis", json!({"name": "authz"}))
        .await;
    let api_id = api["id"].as_str().expect("id");
    let root = api["rootResourceId"].as_str().expect("root");
    let authorizer = control
        .ok(
            "POST",
            &format!("/restapis/{api_id}/authorizers"),
            json!({
                "name": "tokens",
                "type": "TOKEN",
                "identitySource": "method.request.header.Authorization",
                "authorizerUri": "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:auth/invocations"
            }),
        )
        .await;
    let authorizer_id = authorizer["id"].as_str().expect("authorizer id");
    control
        .put_method(
            api_id,
            root,
            "GET",
            json!({"authorizationType": "CUSTOM", "authorizerId": authorizer_id}),
            json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": upstream.url("/")}),
        )
        .await;
    control.deploy(api_id, "prod").await;
    let answer = exchange(
        server.addr,
        &get(api_id, "/prod/", "Authorization: allow\r\n"),
    )
    .await;
    assert_eq!(answer.status, 500);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("AuthorizerConfigurationException")
    );
    assert_eq!(answer.body, br#"{"message":null}"#);
    assert!(
        upstream.seen().is_empty(),
        "nothing reached the integration"
    );

    let (status, reply) = control
        .call(
            "PUT",
            &format!("/restapis/{api_id}/resources/{root}/methods/POST"),
            json!({"authorizationType": "COGNITO_USER_POOLS", "authorizerId": authorizer_id}),
        )
        .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .is_some_and(|m| m.contains("COGNITO_USER_POOLS")),
        "{reply}"
    );
}

#[tokio::test]
async fn proxy_values_never_climb_out_of_the_integration_prefix() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let key_header = format!("x-api-key: {key}\r\n");
    for (sent, expected_status) in [
        ("/prod/api/%2e%2e/admin", 403),
        ("/prod/api/v1/../../admin", 403),
        ("/prod/api/.%2E/%2e./admin", 403),
        ("/prod/api/v1%2F..%2F..%2Fadmin", 200),
        ("/prod/api/..%5Cadmin", 200),
        ("/prod/api/v1/./jobs/../jobs", 200),
    ] {
        let answer = exchange(server.addr, &get(&api, sent, &key_header)).await;
        assert_eq!(answer.status, expected_status, "{sent}: {}", answer.text());
    }
    for seen in upstream.seen() {
        let path = seen.target.split('?').next().unwrap_or_default();
        assert!(path.starts_with("/api/"), "{path}");
        assert!(!path.contains('\\'), "{path}");
        let lowered = path.to_ascii_lowercase();
        for segment in lowered.split('/') {
            let dots = segment.replace("%2e", ".");
            assert!(
                dots != "." && dots != "..",
                "a dot segment reached the upstream: {path}"
            );
        }
        assert_eq!(seen.header("authorization"), Some("Bearer upstream-secret"));
    }
    let targets: Vec<String> = upstream.seen().into_iter().map(|s| s.target).collect();
    assert_eq!(
        targets,
        [
            "/api/v1%2F..%2F..%2Fadmin",
            "/api/..%5Cadmin",
            "/api/v1/jobs"
        ]
    );
}

#[tokio::test]
async fn only_api_gateway_methods_reach_an_integration() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    for method in ["TRACE", "CONNECT", "get", "FOO", "PROPFIND"] {
        let request = format!(
            "{method} /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nx-api-key: {key}\r\n\r\n"
        );
        let answer = exchange(server.addr, request.as_bytes()).await;
        assert_eq!(answer.status, 403, "{method}");
        assert_eq!(
            answer.header("x-amzn-errortype"),
            Some("MissingAuthenticationTokenException"),
            "{method}"
        );
    }
    assert!(upstream.seen().is_empty(), "{:?}", upstream.seen());
    // The seven API Gateway methods go through ANY.
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"] {
        let request = format!(
            "{method} /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nx-api-key: {key}\r\ncontent-length: 0\r\n\r\n"
        );
        let mut client = Client::connect(server.addr).await;
        client.send(request.as_bytes()).await;
        let answer = client.answer_to(method == "HEAD").await.expect("answer");
        assert_eq!(answer.status, 200, "{method}");
    }
}

#[tokio::test]
async fn a_head_answered_with_a_body_never_answers_another_client() {
    let server = TestServer::start();
    // An upstream that answers HEAD like GET: head first, body a moment later.
    let upstream = Upstream::start(|seen| {
        if seen.method == "HEAD" {
            let poison = r#"HTTP/1.1 200 OK
content-length: 22

{"poisoned":"by-HEAD"}"#
                .replace('\n', "\r\n");
            Reply {
                pieces: vec![
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n",
                        poison.len()
                    )
                    .into_bytes(),
                    poison.into_bytes(),
                ],
                pause: Duration::from_millis(20),
            }
        } else {
            Reply::echo(seen)
        }
    })
    .await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let control = server.control();
    let (other_key, _, _) = control.key_in_plan(&api, "prod", json!({})).await;
    let mut head = Client::connect(server.addr).await;
    head.send(
        &format!(
        "HEAD /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nx-api-key: {key}\r\n\r\n"
    )
        .into_bytes(),
    )
    .await;
    assert_eq!(head.answer_to(true).await.map(|a| a.status), Some(200));
    tokio::time::sleep(Duration::from_millis(100)).await;
    for _ in 0..5 {
        let answer = exchange(
            server.addr,
            &get(
                &api,
                "/prod/api/mine",
                &format!("x-api-key: {other_key}\r\n"),
            ),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.json()["target"], "/api/mine", "{}", answer.text());
    }
}

#[tokio::test]
async fn headers_named_in_connection_and_gateway_headers_are_not_forwarded() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let answer = exchange(
        server.addr,
        &get(
            &api,
            "/prod/api/x",
            &format!(
                "x-api-key: {key}\r\nConnection: keep-alive, X-Hop-Secret\r\nX-Hop-Secret: s3cret\r\nx-amzn-requestid: forged\r\nx-amzn-apigateway-api-id: forged\r\n"
            ),
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    let seen = upstream.seen();
    let seen = seen.first().expect("one request");
    assert_eq!(seen.header("x-hop-secret"), None);
    assert_eq!(seen.header("connection"), None);
    assert_eq!(seen.header("x-amzn-requestid"), None);
    assert_eq!(seen.header("x-amzn-apigateway-api-id"), None);
    assert_eq!(
        seen.header("x-amzn-trace-id"),
        answer.header("x-amzn-trace-id"),
        "the trace id is the gateway's"
    );
}

#[tokio::test]
async fn host_must_be_there_once() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    for request in [
        format!("GET /_aws/execute-api/{api}/prod/api/x HTTP/1.1\r\nx-api-key: {key}\r\n\r\n"),
        format!(
            "GET /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nHost: other.execute-api.localhost\r\nx-api-key: {key}\r\n\r\n"
        ),
    ] {
        let mut client = Client::connect(server.addr).await;
        let answer = client.exchange(request.as_bytes()).await;
        assert_eq!(answer.status, 400, "{request}");
        assert_eq!(answer.header("x-amzn-errortype"), Some("BadRequestException"));
        assert_eq!(answer.json()["message"], "Bad Request");
        assert!(client.closed().await);
    }
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn two_api_keys_are_refused() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let answer = exchange(
        server.addr,
        &get(
            &api,
            "/prod/api/x",
            &format!("x-api-key: {key}\r\nx-api-key: {key}\r\n"),
        ),
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["message"], "Forbidden");
    assert!(upstream.seen().is_empty());
}

#[tokio::test]
async fn bodies_are_read_only_once_the_head_is_accepted() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let declared = 5 * 1024 * 1024;
    // Unknown route, then a wrong key: the answer comes at once, and no
    // 100 Continue asks for a body nobody wants.
    for (path, key_header) in [
        ("/prod/nowhere", format!("x-api-key: {key}\r\n")),
        (
            "/prod/api/x",
            "x-api-key: wrong-key-wrong-key-1234\r\n".to_string(),
        ),
    ] {
        let mut client = Client::connect(server.addr).await;
        client
            .send(
                format!(
                    "POST {path} HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\n{key_header}Content-Length: {declared}\r\nExpect: 100-continue\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
        let (status, _) = client.head().await.expect("an answer");
        assert_eq!(status, 403, "{path}");
    }
    // The right key: the go-ahead, then the body, then the answer.
    let mut client = Client::connect(server.addr).await;
    client
        .send(
            format!(
                "POST /prod/api/x HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nx-api-key: {key}\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
    let (status, _) = client.head().await.expect("100 Continue");
    assert_eq!(status, 100);
    let answer = client.exchange(b"body").await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.seen().len(), 1);
    assert_eq!(upstream.seen()[0].body, b"body");
}

/// Writes `bytes` to a connection, ignoring a server that hangs up.
async fn push(stream: &mut tokio::net::TcpStream, bytes: &[u8]) {
    use tokio::io::AsyncWriteExt;
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.write_all(bytes)).await;
}

#[tokio::test]
async fn held_uploads_do_not_take_memory() {
    let server = BinaryServer::start("", &["--body-budget-mib", "16"]);
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let before = server.rss_kib();
    let declared = 10 * 1024 * 1024;
    let sent = vec![b'x'; 9 * 1024 * 1024 + 512 * 1024];
    // Eight uploads to an unknown path with no key, held after 9.5 MiB.
    let mut held = Vec::new();
    for _ in 0..8 {
        let mut stream = tokio::net::TcpStream::connect(server.addr)
            .await
            .expect("connect");
        push(
            &mut stream,
            format!(
                "POST /prod/nowhere HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nContent-Length: {declared}\r\n\r\n"
            )
            .as_bytes(),
        )
        .await;
        push(&mut stream, &sent).await;
        held.push(stream);
    }
    let after_unknown = server.rss_kib();
    // Eight with a valid key: one body fits the 16 MiB budget, the rest are refused.
    let mut refused = 0;
    let mut keyed = Vec::new();
    for _ in 0..8 {
        let mut client = Client::connect(server.addr).await;
        client
            .send(
                format!(
                    "POST /prod/api/upload HTTP/1.1\r\nHost: {api}.execute-api.localhost\r\nx-api-key: {key}\r\nContent-Length: {declared}\r\n\r\n"
                )
                .as_bytes(),
            )
            .await;
        push(&mut client.stream, &sent[..1024 * 1024]).await;
        keyed.push(client);
    }
    for client in keyed.iter_mut() {
        if let Ok(Some((status, _))) =
            tokio::time::timeout(Duration::from_secs(2), client.head()).await
        {
            assert_eq!(status, 503);
            refused += 1;
        }
    }
    let after_keyed = server.rss_kib();
    assert!(refused >= 6, "{refused} of 8 refused by the budget");
    let grown = |kib: u64| kib.saturating_sub(before) / 1024;
    assert!(
        grown(after_unknown) < 30,
        "RSS grew by {} MiB for held uploads to an unknown path",
        grown(after_unknown)
    );
    assert!(
        grown(after_keyed) < 50,
        "RSS grew by {} MiB with a 16 MiB body budget",
        grown(after_keyed)
    );
    assert!(upstream.seen().is_empty());
    drop(held);
}

#[tokio::test]
async fn connections_over_the_limit_get_503() {
    let server = TestServer::start_with(Overrides {
        max_connections: Some(4),
        ..Overrides::default()
    });
    let mut open = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(server.addr).await;
        let answer = client
            .exchange(b"GET /_tollgate/health HTTP/1.1\r\nHost: h\r\n\r\n")
            .await;
        assert_eq!(answer.status, 200);
        open.push(client);
    }
    let mut over = Client::connect(server.addr).await;
    let answer = over.answer().await.expect("a 503");
    assert_eq!(answer.status, 503);
    assert_eq!(
        answer.header("x-amzn-errortype"),
        Some("ServiceUnavailableException")
    );
    assert!(over.closed().await);
    drop(open);
    // Places free up when connections close.
    let mut later = None;
    for _ in 0..50 {
        let mut client = Client::connect(server.addr).await;
        client
            .send(b"GET /_tollgate/health HTTP/1.1\r\nHost: h\r\n\r\n")
            .await;
        if let Some(answer) = client.answer().await {
            if answer.status == 200 {
                later = Some(answer);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(later.is_some(), "a place after the others closed");
}

#[tokio::test]
async fn running_out_of_file_descriptors_does_not_spin() {
    let server = BinaryServer::start("ulimit -n 64;", &[]);
    let mut idle = Vec::new();
    for _ in 0..70 {
        if let Ok(stream) = tokio::net::TcpStream::connect(server.addr).await {
            idle.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cpu_before = server.cpu_time();
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu = server.cpu_time() - cpu_before;
    let elapsed = started.elapsed();
    assert!(
        cpu < elapsed / 4,
        "{cpu:?} of CPU in {elapsed:?} with no descriptors left (a spinning accept loop takes all of it)"
    );
    let warnings = server
        .stderr
        .lock()
        .expect("not poisoned")
        .matches("accept failed")
        .count();
    assert!(warnings <= 2, "{warnings} accept warnings in 2.5 s");
    drop(idle);
    // Descriptors back: it serves again.
    let mut served = false;
    for _ in 0..50 {
        let mut client = Client::connect(server.addr).await;
        client
            .send(b"GET /_tollgate/health HTTP/1.1\r\nHost: h\r\n\r\n")
            .await;
        if client.answer().await.is_some_and(|a| a.status == 200) {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(served);
}

#[tokio::test]
async fn idle_h2c_connections_are_closed() {
    let server = TestServer::start_with(Overrides {
        client_timeout: Some(1),
        ..Overrides::default()
    });
    let mut client = Client::connect(server.addr).await;
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    client
        .send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await;
    let started = Instant::now();
    assert!(client.closed().await, "closed");
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(5),
        "an idle h2c connection lived {waited:?} with a 1 s client timeout"
    );
}

#[tokio::test]
async fn idle_http1_connections_follow_the_configured_timeout() {
    let server = TestServer::start_with(Overrides {
        client_timeout: Some(1),
        ..Overrides::default()
    });
    let mut client = Client::connect(server.addr).await;
    let started = Instant::now();
    assert!(client.closed().await);
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn a_body_sent_with_its_head_is_never_lost() {
    // The common case: the body arrives with the head; nothing is deferred.
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let (api, key) = proxied_api(server.control(), &upstream).await;
    let answer = exchange(
        server.addr,
        &with_body(
            "POST",
            &api,
            "/prod/api/jobs",
            &format!("x-api-key: {key}\r\n"),
            br#"{"prompt":"hi"}"#,
        ),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(upstream.seen()[0].body, br#"{"prompt":"hi"}"#);
}
