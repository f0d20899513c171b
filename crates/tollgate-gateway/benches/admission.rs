//! The cost of phase 3 (API key → throttle layers → quota) per request, with
//! 10 to 100 000 keys spread over up to 1 000 usage plans.
//!
//! Two benchmarks per size:
//! - `key+throttle+quota`: every iteration presents the same key, so its
//!   index entry, bucket and counters stay in the CPU's caches (a client
//!   hammering one key);
//! - `key+throttle+quota, next key`: every iteration presents the next key
//!   of all of them, in a fixed shuffled order, so consecutive requests touch
//!   different entries, buckets and counters, as with many clients. With
//!   100 000 keys these no longer fit in the caches.
//!
//! `cargo bench -p tollgate-gateway --bench admission`

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use tollgate_gateway::bench_support::admit;
use tollgate_gateway::fixtures::{key_headers, key_value, keyed_state, shuffled, API, STAGE};
use tollgate_gateway::{Gateway, GatewaySettings};
use tollgate_model::usage_plan::{QuotaSettings, ThrottleSettings};
use tollgate_model::State;

const SIZES: [(usize, usize); 3] = [(10, 10), (1_000, 100), (100_000, 1_000)];

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

fn gateway(keys: usize, plans: usize) -> Gateway {
    let gateway = Gateway::new(GatewaySettings::default());
    gateway.update(&state(keys, plans), &[]);
    gateway
}

/// One warm key.
fn one_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    for (keys, plans) in SIZES {
        let gateway = gateway(keys, plans);
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

/// The next key of all of them on every iteration.
fn next_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    for (keys, plans) in SIZES {
        let gateway = gateway(keys, plans);
        // Every key's request headers, built before measuring, in the order
        // they are presented.
        let headers: Vec<_> = shuffled(keys)
            .into_iter()
            .map(|i| key_headers(Some(&key_value(i))))
            .collect();
        let mut next = 0;
        group.bench_with_input(
            BenchmarkId::new(
                "key+throttle+quota, next key",
                format!("{keys} keys/{plans} plans"),
            ),
            &keys,
            |b, _| {
                b.iter(|| {
                    let h = &headers[next];
                    next += 1;
                    if next == headers.len() {
                        next = 0;
                    }
                    let admitted = admit(&gateway, API, STAGE, "GET", "/api/v1/jobs/x", h);
                    assert!(admitted.is_ok());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, one_key, next_key);
criterion_main!(benches);
