//! The cost of phase 3 (API key → throttle layers → quota) per request, with
//! 10 to 100 000 keys spread over up to 1 000 usage plans.
//!
//! `cargo bench -p tollgate-gateway --bench admission`

use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderValue};
use tollgate_gateway::admission::admit;
use tollgate_gateway::context::RequestContext;
use tollgate_gateway::fixtures::{key_value, keyed_state, API, STAGE};
use tollgate_gateway::integration::MethodRequest;
use tollgate_gateway::Gateway;
use tollgate_model::usage_plan::{QuotaSettings, ThrottleSettings};
use tollgate_model::State;

/// Limits far above what the benchmark sends: every request is admitted.
fn state(keys: usize, plans: usize) -> State {
    keyed_state(
        keys,
        plans,
        Some(ThrottleSettings {
            burst_limit: Some(i64::MAX / 4),
            rate_limit: Some(1e12),
        }),
        Some(QuotaSettings {
            limit: i64::MAX / 4,
            offset: 0,
            period: Some("DAY".into()),
        }),
    )
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    for (keys, plans) in [(10, 10), (1_000, 100), (100_000, 1_000)] {
        let gateway = Gateway::new("000000000000");
        gateway.update(&state(keys, plans), &[]);
        let stage = gateway.stage(API, STAGE).expect("deployed");
        let matched = stage.router.find("/api/v1/jobs/x").expect("routed");
        let method = matched.method("GET").expect("method").clone();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-api-key",
            HeaderValue::from_str(&key_value(keys / 2)).expect("ascii"),
        );
        let request = MethodRequest {
            method: http::Method::GET,
            headers,
            raw_query: None,
            query: vec![],
            path_params: vec![],
            body: Bytes::new(),
        };
        let peer: SocketAddr = ([127, 0, 0, 1], 1).into();
        let mut cx = RequestContext::new("r".into(), peer, "GET", "HTTP/1.1");
        group.bench_with_input(
            BenchmarkId::new("key+throttle+quota", format!("{keys} keys/{plans} plans")),
            &keys,
            |b, _| {
                b.iter(|| {
                    let admitted = admit(&gateway, &stage, &method, &request, &mut cx);
                    assert!(admitted.is_ok());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
