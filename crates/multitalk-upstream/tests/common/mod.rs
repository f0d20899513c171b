//! Starts a stand-in on 127.0.0.1:0 and talks to it with hyper-util's client.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use multitalk_upstream::{bind, Recorder, UpstreamConfig};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const KEY: &str = "test-key";

pub struct TestServer {
    pub base: String,
    pub recorder: Arc<Recorder>,
    pub client: Client<HttpConnector, Full<Bytes>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON; `Null` when it is not JSON.
    pub json: Value,
}

/// A config with one key and the given job duration.
pub fn config(job_duration: Duration) -> UpstreamConfig {
    UpstreamConfig {
        api_keys: vec![KEY.to_owned()],
        job_duration,
        ..UpstreamConfig::default()
    }
}

pub async fn start(config: UpstreamConfig) -> TestServer {
    let upstream = bind("127.0.0.1:0", config).await.expect("bind");
    let base = format!("http://{}", upstream.local_addr());
    let recorder = upstream.recorded();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(upstream.run(async {
        let _ = stopped.await;
    }));
    TestServer {
        base,
        recorder,
        client: Client::builder(TokioExecutor::new()).build_http(),
        stop: Some(stop),
        task: Some(task),
    }
}

impl TestServer {
    /// Any request; `auth` is the whole Authorization value.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))
            .expect("request");
        let response = self.client.request(req).await.expect("response");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status: parts.status,
            headers: parts.headers,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            text,
        }
    }

    /// An authorised GET.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&bearer()), &[], None)
            .await
    }

    /// An authorised DELETE.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, Some(&bearer()), &[], None)
            .await
    }

    /// An authorised POST of JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(&bearer()),
            &[],
            Some(&body.to_string()),
        )
        .await
    }

    /// Submits a valid job and returns its id.
    pub async fn submit(&self, prompt: &str) -> String {
        let reply = self.post("/api/v1/generate", &generate_body(prompt)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["job_id"].as_str().expect("job_id").to_owned()
    }

    /// Stops the server gracefully and waits for `run` to return.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

pub fn bearer() -> String {
    format!("Bearer {KEY}")
}

pub fn generate_body(prompt: &str) -> Value {
    serde_json::json!({
        "prompt": prompt,
        "image_s3_url": "s3://in-bucket/inputs/face.png",
        "audio_s3_urls": "s3://in-bucket/inputs/voice.wav",
    })
}
