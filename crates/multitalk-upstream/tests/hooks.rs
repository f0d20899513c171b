//! The parts that are not api.py: the request recorder, /bench, h2c,
//! the artificial delay and shutdown.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{bearer, config, start};
use http::{Method, Request, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

#[tokio::test]
async fn the_recorder_sees_what_arrived() {
    let server = start(config(Duration::from_secs(60))).await;
    let body =
        json!({"prompt": "hi", "image_s3_url": "s3://b/i.png", "audio_s3_urls": "s3://b/a.wav"})
            .to_string();
    server
        .send(
            Method::POST,
            "/api/v1/generate?trace=1",
            Some(&bearer()),
            &[("x-trace", "abc")],
            Some(&body),
        )
        .await;
    server.send(Method::GET, "/nope", None, &[], None).await;

    // In process.
    let recorded = server.recorder.requests();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0].method, Method::POST);
    assert_eq!(recorded[0].path_and_query(), "/api/v1/generate?trace=1");
    assert_eq!(recorded[0].header("x-trace"), Some("abc"));
    assert_eq!(recorded[0].header("authorization"), Some(bearer().as_str()));
    assert_eq!(recorded[0].body, body.as_bytes());
    assert_eq!(recorded[0].body_json().unwrap()["prompt"], "hi");
    assert_eq!(recorded[1].path_and_query(), "/nope");

    // Over HTTP; the hook itself is not recorded.
    let hook = server
        .send(Method::GET, "/_upstream/requests", None, &[], None)
        .await;
    assert_eq!(hook.status, StatusCode::OK);
    let list = hook.json.as_array().unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0]["method"], "POST");
    assert_eq!(list[0]["path"], "/api/v1/generate?trace=1");
    assert_eq!(list[0]["headers"]["x-trace"], "abc");
    assert_eq!(list[0]["body"], body.as_str());
    assert_eq!(list[0]["version"], "HTTP/1.1");
    let first_seq = list[0]["seq"].as_u64().unwrap();
    let since = server
        .send(
            Method::GET,
            &format!("/_upstream/requests?since={first_seq}"),
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(since.json.as_array().unwrap().len(), 1);
    assert_eq!(since.json[0]["path"], "/nope");

    let cleared = server
        .send(Method::DELETE, "/_upstream/requests", None, &[], None)
        .await;
    assert_eq!(cleared.json, json!({"cleared": 2}));
    let empty = server
        .send(Method::GET, "/_upstream/requests", None, &[], None)
        .await;
    assert_eq!(empty.json, json!([]));
    assert!(server.recorder.is_empty());
}

#[tokio::test]
async fn bench_is_fixed_open_and_unrecorded() {
    let server = start(config(Duration::ZERO)).await;
    for _ in 0..3 {
        let reply = server.send(Method::GET, "/bench", None, &[], None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.text, r#"{"ok":true}"#);
    }
    assert!(server.recorder.is_empty());
}

#[tokio::test]
async fn speaks_h2c() {
    let server = start(config(Duration::ZERO)).await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let req = Request::get(format!("{}/api/v1/health", server.base))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = client.request(req).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(body.starts_with(b"{\"status\":\"healthy\""));
    assert_eq!(server.recorder.last().unwrap().version, Version::HTTP_2);
}

#[tokio::test]
async fn the_delay_holds_api_responses_only() {
    let mut cfg = config(Duration::ZERO);
    cfg.response_delay = Duration::from_millis(150);
    let server = start(cfg).await;
    let started = Instant::now();
    let reply = server
        .send(Method::GET, "/api/v1/health", None, &[], None)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Recorded on arrival, before the delay.
    assert_eq!(server.recorder.len(), 1);

    let mut cfg = config(Duration::ZERO);
    cfg.response_delay = Duration::from_secs(60);
    let slow = start(cfg).await;
    let bench = tokio::time::timeout(
        Duration::from_secs(5),
        slow.send(Method::GET, "/bench", None, &[], None),
    )
    .await
    .expect("/bench is not delayed");
    assert_eq!(bench.status, StatusCode::OK);
    let held = tokio::time::timeout(
        Duration::from_millis(100),
        slow.send(Method::GET, "/api/v1/health", None, &[], None),
    )
    .await;
    assert!(held.is_err(), "the API response should still be held");
}

#[tokio::test]
async fn shutdown_closes_idle_keep_alive_connections() {
    let server = start(config(Duration::ZERO)).await;
    // Leaves a pooled keep-alive connection open.
    let reply = server.get("/api/v1/jobs").await;
    assert_eq!(reply.status, StatusCode::OK);
    let base = server.base.clone();
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("run returns promptly")
        .expect("run succeeds");
    let addr = base.trim_start_matches("http://");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
