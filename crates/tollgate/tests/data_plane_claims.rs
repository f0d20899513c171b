//! What the README claims of the data plane, each shown through the real
//! server: the account and stage throttle layers, tokens handed back when a
//! later layer refuses, method-before-ANY, passthrough behaviours, DEFAULT_4XX
//! and DEFAULT_5XX overrides, CONVERT_TO_TEXT, and keys disabled or deleted.

mod support;

use serde_json::json;
use support::{exchange, get, with_body, Control, Reply, TestServer, Upstream};

fn key(k: &str) -> String {
    format!("x-api-key: {k}\r\n")
}

/// `/api/{proxy+}` ANY to the upstream, keyed or not; returns the api id.
async fn proxy_api(control: Control, upstream: &Upstream, keyed: bool) -> String {
    let (api, _) = control
        .api_with_method(
            "/api/{proxy+}",
            "ANY",
            json!({"authorizationType": "NONE", "apiKeyRequired": keyed}),
            json!({"type": "HTTP_PROXY", "httpMethod": "ANY", "uri": upstream.url("/{proxy}")}),
        )
        .await;
    control.deploy(&api, "prod").await;
    api
}

async fn statuses(server: &TestServer, request: &[u8], n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(exchange(server.addr, request).await.status);
    }
    out
}

#[tokio::test]
async fn the_account_throttle_is_a_layer_of_its_own_and_update_account_sets_it() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = proxy_api(control, &upstream, false).await;
    control
        .ok(
            "PATCH",
            "/account",
            json!({"patchOperations": [
                {"op": "replace", "path": "/throttle/burstLimit", "value": "2"},
                {"op": "replace", "path": "/throttle/rateLimit", "value": "0.001"}
            ]}),
        )
        .await;
    let account = control.ok("GET", "/account", serde_json::Value::Null).await;
    assert_eq!(account["throttleSettings"]["burstLimit"], 2);
    let request = get(&api, "/prod/api/x", "");
    assert_eq!(statuses(&server, &request, 3).await, [200, 200, 429]);
    control
        .ok(
            "PATCH",
            "/account",
            json!({"patchOperations": [
                {"op": "replace", "path": "/throttle/burstLimit", "value": "5000"},
                {"op": "replace", "path": "/throttle/rateLimit", "value": "10000"}
            ]}),
        )
        .await;
    assert_eq!(statuses(&server, &request, 3).await, [200, 200, 200]);
}

#[tokio::test]
async fn the_stage_throttle_applies_to_every_caller_of_a_method() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = proxy_api(control, &upstream, false).await;
    control
        .ok(
            "PATCH",
            &format!("/restapis/{api}/stages/prod"),
            json!({"patchOperations": [
                {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "1"},
                {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.001"}
            ]}),
        )
        .await;
    let request = get(&api, "/prod/api/x", "");
    assert_eq!(statuses(&server, &request, 2).await, [200, 429]);
    let answer = exchange(server.addr, &request).await;
    assert_eq!(answer.json()["message"], "Too Many Requests");
}

#[tokio::test]
async fn a_quota_refusal_hands_the_throttle_tokens_back() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = proxy_api(control, &upstream, true).await;
    let (k, _, plan) = control
        .key_in_plan(
            &api,
            "prod",
            json!({
                "throttle": {"burstLimit": 2, "rateLimit": 0.001},
                "quota": {"limit": 1, "period": "DAY"}
            }),
        )
        .await;
    let request = get(&api, "/prod/api/x", &key(&k));
    // The first takes a token and the quota; the second takes a token, is
    // refused by the quota, and gives the token back.
    assert_eq!(statuses(&server, &request, 2).await, [200, 429]);
    control
        .ok(
            "PATCH",
            &format!("/usageplans/{plan}"),
            json!({"patchOperations": [{"op": "replace", "path": "/quota/limit", "value": "10"}]}),
        )
        .await;
    // One token is left of the burst of two: one more is admitted, then the throttle refuses.
    let answers = [
        exchange(server.addr, &request).await,
        exchange(server.addr, &request).await,
    ];
    assert_eq!(answers[0].status, 200, "{}", answers[0].text());
    assert_eq!(answers[1].status, 429);
    assert_eq!(answers[1].json()["message"], "Too Many Requests");
}

/// A MOCK integration answering `status`, with its method and integration responses.
async fn mock_method(control: Control, api: &str, resource: &str, http_method: &str, status: u16) {
    control
        .put_method(
            api,
            resource,
            http_method,
            json!({"authorizationType": "NONE"}),
            json!({"type": "MOCK", "requestTemplates": {"application/json": format!("{{\"statusCode\": {status}}}")}}),
        )
        .await;
    let base = format!("/restapis/{api}/resources/{resource}/methods/{http_method}");
    control
        .ok("PUT", &format!("{base}/responses/{status}"), json!({}))
        .await;
    control
        .ok(
            "PUT",
            &format!("{base}/integration/responses/{status}"),
            json!({"responseTemplates": {"application/json": format!("{{\"method\":\"{http_method}\"}}")}}),
        )
        .await;
}

#[tokio::test]
async fn a_method_of_its_own_beats_any() {
    let server = TestServer::start();
    let control = server.control();
    let created = control.ok("POST", "/restapis", json!({"name": "m"})).await;
    let api = created["id"].as_str().expect("id").to_string();
    let root = created["rootResourceId"]
        .as_str()
        .expect("root")
        .to_string();
    mock_method(control, &api, &root, "ANY", 202).await;
    mock_method(control, &api, &root, "GET", 201).await;
    control.deploy(&api, "prod").await;
    let got = exchange(server.addr, &get(&api, "/prod/", "")).await;
    assert_eq!(
        (got.status, got.json()["method"].clone()),
        (201, json!("GET"))
    );
    let posted = exchange(server.addr, &with_body("POST", &api, "/prod/", "", b"")).await;
    assert_eq!(
        (posted.status, posted.json()["method"].clone()),
        (202, json!("ANY"))
    );
}

/// An HTTP (non-proxy) POST integration with `passthrough` and `templates`.
async fn mapped_api(
    control: Control,
    upstream: &Upstream,
    passthrough: &str,
    templates: serde_json::Value,
    extra: serde_json::Value,
) -> String {
    let mut integration = json!({
        "type": "HTTP",
        "httpMethod": "POST",
        "uri": upstream.url("/in"),
        "passthroughBehavior": passthrough,
        "requestTemplates": templates,
    });
    if let (Some(i), Some(e)) = (integration.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            i.insert(k.clone(), v.clone());
        }
    }
    let (api, resource) = control
        .api_with_method(
            "/in",
            "POST",
            json!({"authorizationType": "NONE"}),
            integration,
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
    api
}

#[tokio::test]
async fn passthrough_behaviours() {
    let server = TestServer::start();
    let upstream = Upstream::start(|_| Reply::json(200, "{}")).await;
    let control = server.control();
    let json_template = json!({"application/json": "{\"wrapped\": $input.json('$')}"});
    let text = "Content-Type: text/plain\r\n";

    let api = mapped_api(
        control,
        &upstream,
        "WHEN_NO_MATCH",
        json_template.clone(),
        json!({}),
    )
    .await;
    let answer = exchange(
        server.addr,
        &with_body("POST", &api, "/prod/in", text, b"raw text"),
    )
    .await;
    assert_eq!(answer.status, 200);
    let api = mapped_api(
        control,
        &upstream,
        "WHEN_NO_TEMPLATES",
        json_template.clone(),
        json!({}),
    )
    .await;
    let answer = exchange(
        server.addr,
        &with_body("POST", &api, "/prod/in", text, b"refused"),
    )
    .await;
    assert_eq!(answer.status, 415);
    assert_eq!(answer.json()["message"], "Unsupported Media Type");
    let api = mapped_api(
        control,
        &upstream,
        "WHEN_NO_TEMPLATES",
        json!({}),
        json!({}),
    )
    .await;
    let answer = exchange(
        server.addr,
        &with_body("POST", &api, "/prod/in", text, b"no templates"),
    )
    .await;
    assert_eq!(answer.status, 200);
    // A matching template still renders.
    let api = mapped_api(control, &upstream, "NEVER", json_template, json!({})).await;
    let json_type = "Content-Type: application/json\r\n";
    let answer = exchange(
        server.addr,
        &with_body("POST", &api, "/prod/in", json_type, b"{\"a\":1}"),
    )
    .await;
    assert_eq!(answer.status, 200);

    let bodies: Vec<String> = upstream
        .seen()
        .iter()
        .map(|s| String::from_utf8_lossy(&s.body).into_owned())
        .collect();
    assert_eq!(
        bodies,
        ["raw text", "no templates", "{\"wrapped\": {\"a\":1}}"]
    );
}

#[tokio::test]
async fn convert_to_text_base64_encodes_a_binary_payload() {
    let server = TestServer::start();
    let upstream = Upstream::start(|_| Reply::json(200, "{}")).await;
    let control = server.control();
    let api = mapped_api(
        control,
        &upstream,
        "WHEN_NO_MATCH",
        json!({}),
        json!({"contentHandling": "CONVERT_TO_TEXT"}),
    )
    .await;
    control
        .ok(
            "PATCH",
            &format!("/restapis/{api}"),
            json!({"patchOperations": [{"op": "add", "path": "/binaryMediaTypes/application~1octet-stream"}]}),
        )
        .await;
    control.deploy(&api, "prod").await;
    let payload = [0u8, 159, 146, 150, 255];
    let answer = exchange(
        server.addr,
        &with_body(
            "POST",
            &api,
            "/prod/in",
            "Content-Type: application/octet-stream\r\n",
            &payload,
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(upstream.seen()[0].body, b"AJ+Slv8=");
}

#[tokio::test]
async fn default_4xx_and_5xx_overrides_apply_to_every_type_of_their_class() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = proxy_api(control, &upstream, true).await;
    control
        .ok(
            "PUT",
            &format!("/restapis/{api}/gatewayresponses/DEFAULT_4XX"),
            json!({
                "responseParameters": {"gatewayresponse.header.Access-Control-Allow-Origin": "'*'"},
                "responseTemplates": {"application/json": "{\"error\":$context.error.messageString,\"type\":\"$context.error.responseType\"}"}
            }),
        )
        .await;
    control
        .ok(
            "PUT",
            &format!("/restapis/{api}/gatewayresponses/DEFAULT_5XX"),
            json!({"statusCode": "503", "responseTemplates": {"application/json": "{\"down\":true}"}}),
        )
        .await;
    control.deploy(&api, "prod").await;
    // INVALID_API_KEY and MISSING_AUTHENTICATION_TOKEN are 4XX: both customised.
    for (path, kind) in [
        ("/prod/api/x", "INVALID_API_KEY"),
        ("/prod/nowhere", "MISSING_AUTHENTICATION_TOKEN"),
    ] {
        let answer = exchange(server.addr, &get(&api, path, "")).await;
        assert_eq!(answer.status, 403, "{path}");
        assert_eq!(answer.header("access-control-allow-origin"), Some("*"));
        assert_eq!(answer.json()["type"], kind);
    }
    // An integration failure is 5XX: its status and body are the override's.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let down = format!("http://{}/", closed.local_addr().expect("addr"));
    drop(closed);
    let (down_api, _) = control
        .api_with_method(
            "/x",
            "GET",
            json!({"authorizationType": "NONE"}),
            json!({"type": "HTTP_PROXY", "httpMethod": "GET", "uri": down}),
        )
        .await;
    control
        .ok(
            "PUT",
            &format!("/restapis/{down_api}/gatewayresponses/DEFAULT_5XX"),
            json!({"statusCode": "503", "responseTemplates": {"application/json": "{\"down\":true}"}}),
        )
        .await;
    control.deploy(&down_api, "prod").await;
    let answer = exchange(server.addr, &get(&down_api, "/prod/x", "")).await;
    assert_eq!(answer.status, 503);
    assert_eq!(answer.json(), json!({"down": true}));
}

#[tokio::test]
async fn disabled_and_deleted_keys_are_refused_on_the_next_request() {
    let server = TestServer::start();
    let upstream = Upstream::echo().await;
    let control = server.control();
    let api = proxy_api(control, &upstream, true).await;
    let (k, key_id, _) = control.key_in_plan(&api, "prod", json!({})).await;
    let request = get(&api, "/prod/api/x", &key(&k));
    assert_eq!(exchange(server.addr, &request).await.status, 200);
    let enabled = |value: &str| json!({"patchOperations": [{"op": "replace", "path": "/enabled", "value": value}]});
    control
        .ok("PATCH", &format!("/apikeys/{key_id}"), enabled("false"))
        .await;
    assert_eq!(exchange(server.addr, &request).await.status, 403);
    control
        .ok("PATCH", &format!("/apikeys/{key_id}"), enabled("true"))
        .await;
    assert_eq!(exchange(server.addr, &request).await.status, 200);
    control
        .ok(
            "DELETE",
            &format!("/apikeys/{key_id}"),
            serde_json::Value::Null,
        )
        .await;
    assert_eq!(exchange(server.addr, &request).await.status, 403);
}
