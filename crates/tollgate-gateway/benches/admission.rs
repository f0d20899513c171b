//! The cost of phase 3 (API key → throttle layers → quota) per request, with
//! 10 to 100 000 keys spread over up to 1 000 usage plans.
//!
//! `cargo bench -p tollgate-gateway --bench admission`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tollgate_gateway::bench_support::admit;
use tollgate_gateway::fixtures::{key_headers, key_value, keyed_state, API, STAGE};
use tollgate_gateway::{Gateway, GatewaySettings};
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
        let gateway = Gateway::new(GatewaySettings::default());
        gateway.update(&state(keys, plans), &[]);
        let key = key_value(keys / 2);
        let headers = key_headers(Some(&key));
        group.bench_with_input(
            BenchmarkId::new("key+throttle+quota", format!("{keys} keys/{plans} plans")),
            &keys,
            |b, _| {
                b.iter(|| {
                    let admitted = admit(&gateway, API, STAGE, "GET", "/api/v1/jobs/x", &headers);
                    assert!(admitted.is_ok());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
