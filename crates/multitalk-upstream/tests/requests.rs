//! What api.py answers before a job is involved: health, auth, validation, routing.

mod common;

use std::time::Duration;

use common::{bearer, config, generate_body, start};
use http::{Method, StatusCode};
use multitalk_upstream::UpstreamConfig;
use serde_json::{json, Value};

#[tokio::test]
async fn health_needs_no_key_and_admits_it_is_a_stand_in() {
    let server = start(config(Duration::ZERO)).await;
    let reply = server
        .send(Method::GET, "/api/v1/health", None, &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json["status"], "healthy");
    assert_eq!(reply.json["version"], "v1");
    assert!(reply.json["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(reply.json["note"]
        .as_str()
        .unwrap()
        .contains("does not run the model"));
    assert_eq!(reply.headers["content-type"], "application/json");
}

#[tokio::test]
async fn bearer_auth_as_fastapi_does_it() {
    let server = start(config(Duration::ZERO)).await;
    let list = "/api/v1/jobs";

    let missing = server.send(Method::GET, list, None, &[], None).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    assert_eq!(missing.json, json!({"detail": "Not authenticated"}));

    let wrong = server
        .send(Method::GET, list, Some("Bearer wrong"), &[], None)
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.json, json!({"detail": "Invalid API key"}));
    assert_eq!(wrong.headers["www-authenticate"], "Bearer");

    let basic = server
        .send(Method::GET, list, Some("Basic dXNlcjpwdw=="), &[], None)
        .await;
    assert_eq!(basic.status, StatusCode::FORBIDDEN);
    assert_eq!(
        basic.json,
        json!({"detail": "Invalid authentication credentials"})
    );

    let right = server
        .send(Method::GET, list, Some(&bearer()), &[], None)
        .await;
    assert_eq!(right.status, StatusCode::OK);

    // Auth is checked before the body's fields, but after JSON decoding.
    let body = json!({"prompt": 1}).to_string();
    let no_key = server
        .send(Method::POST, "/api/v1/generate", None, &[], Some(&body))
        .await;
    assert_eq!(no_key.status, StatusCode::FORBIDDEN);
    let broken = server
        .send(Method::POST, "/api/v1/generate", None, &[], Some("{nope"))
        .await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(broken.json["detail"][0]["type"], "json_invalid");
    assert_eq!(broken.json["detail"][0]["loc"], json!(["body", 1]));
}

#[tokio::test]
async fn development_mode_accepts_any_bearer() {
    let server = start(UpstreamConfig::default()).await;
    let any = server
        .send(
            Method::GET,
            "/api/v1/jobs",
            Some("Bearer whatever"),
            &[],
            None,
        )
        .await;
    assert_eq!(any.status, StatusCode::OK);
    let missing = server
        .send(Method::GET, "/api/v1/jobs", None, &[], None)
        .await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
}

/// `(loc joined with '.', type, msg)` of each 422 entry.
fn issues(reply: &common::Reply) -> Vec<(String, String, String)> {
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.text
    );
    reply.json["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|issue| {
            let loc: Vec<String> = issue["loc"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| match l {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            (
                loc.join("."),
                issue["type"].as_str().unwrap().to_owned(),
                issue["msg"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn issue(loc: &str, kind: &str, msg: &str) -> (String, String, String) {
    (loc.to_owned(), kind.to_owned(), msg.to_owned())
}

#[tokio::test]
async fn invalid_generate_requests_are_422() {
    let server = start(config(Duration::ZERO)).await;
    let generate = "/api/v1/generate";

    let empty = server.post(generate, &json!({})).await;
    assert_eq!(
        issues(&empty),
        [
            issue("body.prompt", "missing", "Field required"),
            issue("body.image_s3_url", "missing", "Field required"),
            issue("body.audio_s3_urls", "missing", "Field required"),
        ]
    );

    let no_body = server
        .send(Method::POST, generate, Some(&bearer()), &[], None)
        .await;
    assert_eq!(
        issues(&no_body),
        [issue("body", "missing", "Field required")]
    );

    let mut body = generate_body("x");
    body["image_s3_url"] = json!("https://bucket/face.png");
    body["audio_s3_urls"] =
        json!(["s3://b/1", "s3://b/2", "s3://b/3", "s3://b/4", "s3://b/5", "s3://b/6"]);
    let bad_urls = server.post(generate, &body).await;
    assert_eq!(
        issues(&bad_urls),
        [
            issue(
                "body.image_s3_url",
                "value_error",
                "Value error, Invalid S3 URL format: https://bucket/face.png"
            ),
            issue(
                "body.audio_s3_urls",
                "value_error",
                "Value error, Maximum 5 audio files allowed"
            ),
        ]
    );
    assert_eq!(
        bad_urls.json["detail"][0]["input"],
        "https://bucket/face.png"
    );

    let mut body = generate_body("x");
    body["audio_s3_urls"] = json!("s3://bucket-only");
    body["webhook_url"] = json!("not a url");
    body["options"] = json!({"resolution": "1080p", "sample_steps": 60, "audio_type": "solo", "audio_cfg": 2.5, "color_correction": 1.5});
    let bad_options = server.post(generate, &body).await;
    assert_eq!(
        issues(&bad_options),
        [
            issue(
                "body.audio_s3_urls",
                "value_error",
                "Value error, Invalid S3 URL format: s3://bucket-only"
            ),
            issue(
                "body.webhook_url",
                "url_parsing",
                "Input should be a valid URL, relative URL without a base"
            ),
            issue(
                "body.options.resolution",
                "enum",
                "Input should be '480p' or '720p'"
            ),
            issue(
                "body.options.sample_steps",
                "less_than_equal",
                "Input should be less than or equal to 50"
            ),
            issue(
                "body.options.audio_type",
                "enum",
                "Input should be 'add' or 'para'"
            ),
            issue(
                "body.options.audio_cfg",
                "greater_than_equal",
                "Input should be greater than or equal to 3"
            ),
            issue(
                "body.options.color_correction",
                "less_than_equal",
                "Input should be less than or equal to 1"
            ),
        ]
    );
    assert_eq!(bad_options.json["detail"][3]["ctx"], json!({"le": 50}));

    let not_object = server.post(generate, &json!(["a"])).await;
    assert_eq!(issues(&not_object)[0].1, "model_attributes_type");

    // A list of URLs and every option at its bound are fine.
    let mut body = generate_body("x");
    body["audio_s3_urls"] = json!(["s3://b/1.wav", "s3://b/2.wav"]);
    body["options"] = json!({"resolution": "720p", "sample_steps": 10, "audio_type": "para", "audio_cfg": 5, "color_correction": 0});
    body["webhook_url"] = json!("https://hooks.example.com/done");
    let ok = server.post(generate, &body).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let server = start(config(Duration::ZERO)).await;
    let auth = Some(bearer());
    let auth = auth.as_deref();

    let missing = server.send(Method::GET, "/nope", auth, &[], None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json, json!({"detail": "Not Found"}));
    let missing = server
        .send(Method::GET, "/api/v1/jobs/a/b/c", auth, &[], None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    for (method, path) in [
        (Method::GET, "/api/v1/generate"),
        (Method::PUT, "/api/v1/jobs/some-id"),
        (Method::POST, "/api/v1/health"),
        (Method::DELETE, "/api/v1/jobs"),
    ] {
        let reply = server.send(method.clone(), path, auth, &[], None).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}"
        );
        assert_eq!(reply.json, json!({"detail": "Method Not Allowed"}));
        assert!(reply.headers.contains_key("allow"));
    }

    let root = server.send(Method::GET, "/", None, &[], None).await;
    assert_eq!(root.status, StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(root.headers["location"], "/api/v1/docs");
    let docs = server
        .send(Method::GET, "/api/v1/docs", None, &[], None)
        .await;
    assert!(docs.text.contains("stand-in"));
}
