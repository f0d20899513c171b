//! A whole request served from the stage cache, against the same request
//! proxied to a loopback upstream, in the same run: `Gateway::handle` from
//! the parsed request to the last byte of the response body (resolve, route,
//! API key, throttle, quota, cache lookup, method response, the outcome
//! record), with no client connection around it.
//!
//! - `cache hit, next job`: 10 000 job ids (`GET /api/v1/jobs/{id}`, the job
//!   id a cache key parameter), each fetched once before measuring; every
//!   iteration asks for the next id in a fixed shuffled order with the next
//!   of 1 000 API keys, so every request is a hit on a different entry. The
//!   upstream's request count is checked: no measured request reached it.
//! - `proxied (cache off), next job`: the same requests on a stage without a
//!   cache, through the upstream client to a loopback server (1 KB answer).
//!
//! Issue 16's bar: a hit in under 20 µs of gateway CPU.
//!
//! `cargo bench -p tollgate-gateway --bench cache`

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tollgate_gateway::fixtures::{key_value, keyed_state, shuffled, API, STAGE};
use tollgate_gateway::invoke::InvokeTarget;
use tollgate_gateway::{Gateway, GatewaySettings};
use tollgate_http1::RequestBody;
use tollgate_model::stage::MethodSetting;

const JOBS: usize = 10_000;
const KEYS: usize = 1_000;

/// A keep-alive HTTP/1.1 server answering every request with the same 1 KB
/// JSON job, counting the requests.
async fn upstream(count: Arc<AtomicU64>) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    let body = format!(
        "{{\"job_id\":\"j\",\"status\":\"processing\",\"progress\":30,\"pad\":\"{}\"}}",
        "x".repeat(960)
    );
    let answer = Bytes::from(format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    ));
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (count, answer) = (count.clone(), answer.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                let mut filled = 0;
                loop {
                    // GETs without bodies: a request ends at its blank line.
                    while let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
                        count.fetch_add(1, Ordering::Relaxed);
                        if stream.write_all(&answer).await.is_err() {
                            return;
                        }
                        buf.copy_within(end + 4..filled, 0);
                        filled -= end + 4;
                    }
                    match stream.read(&mut buf[filled..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => filled += n,
                    }
                }
            });
        }
    });
    addr
}

/// The fixture's API (HTTP_PROXY on `/api/{proxy+}`, 1 000 keys in one plan
/// with no limits) in front of `upstream`, with the job path a cache key
/// parameter; with `cached`, a stage cache and caching on for every method.
fn gateway(upstream: SocketAddr, cached: bool) -> Gateway {
    let mut state = keyed_state(KEYS, 1, None, None);
    let doc = state.rest_apis.get_mut(API).expect("the fixture's API");
    let doc = Arc::make_mut(doc);
    let stage = doc.stages.get_mut(STAGE).expect("the fixture's stage");
    if cached {
        stage.cache_cluster_enabled = true;
        stage.cache_cluster_size = Some("0.5".into());
        stage.method_settings.insert(
            "*/*".into(),
            MethodSetting {
                caching_enabled: true,
                cache_ttl_in_seconds: 3600,
                // Far above what the loop sends (the default is 10 000/s).
                throttling_burst_limit: 1_000_000_000,
                throttling_rate_limit: 1e12,
                ..MethodSetting::default()
            },
        );
    }
    for deployments in state.deployments.values_mut() {
        for deployment in deployments.values_mut() {
            let deployment = Arc::make_mut(deployment);
            for resource in deployment.definition.resources.values_mut() {
                for method in resource.resource_methods.values_mut() {
                    if let Some(integration) = method.method_integration.as_mut() {
                        integration.uri = Some(format!("http://{upstream}/{{proxy}}"));
                        integration.cache_key_parameters = vec!["method.request.path.proxy".into()];
                    }
                }
            }
        }
    }
    let gateway = Gateway::new(GatewaySettings::default());
    gateway.update(&state, &[]);
    gateway
}

/// One request to its end: the status, after the whole body was read.
async fn get(gateway: &Gateway, job: usize, key: usize) -> u16 {
    let path = format!("/api/v1/jobs/job-{job:08}");
    let request = http::Request::builder()
        .method("GET")
        .uri(format!("/prod{path}"))
        .header("host", "127.0.0.1:4566")
        .header("x-api-key", key_value(key))
        .body(RequestBody::Buffered(Some(Bytes::new())))
        .expect("a valid request");
    let target = InvokeTarget {
        api_id: API.into(),
        stage: STAGE.into(),
        path,
        domain_name: "127.0.0.1".into(),
        port: 4566,
        public: false,
    };
    let peer: SocketAddr = ([127, 0, 0, 1], 40000).into();
    let response = gateway
        .handle(target, request, None, peer, "bench-request".into())
        .await;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    status
}

fn cache_hits(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let count = Arc::new(AtomicU64::new(0));
    let addr = runtime.block_on(upstream(count.clone()));
    let order = shuffled(JOBS);
    let mut group = c.benchmark_group("cache");

    let cached = gateway(addr, true);
    runtime.block_on(async {
        for (i, &job) in order.iter().enumerate() {
            assert_eq!(get(&cached, job, i % KEYS).await, 200, "warming job {job}");
        }
    });
    let warmed = count.load(Ordering::Relaxed);
    assert_eq!(
        warmed, JOBS as u64,
        "one upstream request per job fills the cache"
    );
    let mut next = 0;
    group.bench_function("cache hit, next job", |b| {
        b.iter(|| {
            let status = runtime.block_on(get(&cached, order[next], next % KEYS));
            assert_eq!(status, 200);
            next = (next + 1) % JOBS;
        })
    });
    assert_eq!(
        count.load(Ordering::Relaxed),
        warmed,
        "every measured request was answered from the cache"
    );

    let proxied = gateway(addr, false);
    let mut next = 0;
    group.bench_function("proxied (cache off), next job", |b| {
        b.iter(|| {
            let status = runtime.block_on(get(&proxied, order[next], next % KEYS));
            assert_eq!(status, 200);
            next = (next + 1) % JOBS;
        })
    });
    assert!(
        count.load(Ordering::Relaxed) > warmed,
        "the uncached requests reached the upstream"
    );
    group.finish();
}

criterion_group!(benches, cache_hits);
criterion_main!(benches);
