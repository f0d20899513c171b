//! Usage-plan counters shared in Redis: two gateways compiled from one
//! configuration, each with its own connection (as two instances), enforce
//! one plan together. Needs Redis on 127.0.0.1:6379 (each test keys its
//! entries under a random prefix and deletes them) and, for the outage
//! tests, `redis-server` to start a private one. Under CI=true a missing
//! Redis fails these tests instead of skipping them.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_gateway::bench_support::admit_shared;
use tollgate_gateway::clock::SystemClock;
use tollgate_gateway::error::ErrorKind;
use tollgate_gateway::fixtures::{key_headers, key_value, keyed_state, API, STAGE};
use tollgate_gateway::shared_counters::{
    FailurePolicy, SharedCounters, SharedSettings, DEFAULT_GRANT_MAX, GRANT_TTL,
};
use tollgate_gateway::{Gateway, GatewaySettings};
use tollgate_model::usage_plan::{QuotaSettings, ThrottleSettings};
use tollgate_model::State;

const SYSTEM_REDIS: &str = "127.0.0.1:6379";

/// The system Redis, or None (the test is skipped) when it is not there
/// outside CI.
fn system_redis() -> Option<String> {
    if TcpStream::connect_timeout(
        &SYSTEM_REDIS.parse().expect("address"),
        Duration::from_millis(500),
    )
    .is_ok()
    {
        return Some(format!("redis://{SYSTEM_REDIS}/0"));
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true: Redis must run on {SYSTEM_REDIS}"
    );
    eprintln!("skipped: no Redis on {SYSTEM_REDIS}");
    None
}

fn random_prefix() -> String {
    format!("tollgate-test:{:016x}:", rand::random::<u64>())
}

/// Deletes every entry under `prefix`.
async fn clean(url: &str, prefix: &str) {
    let Ok(client) = redis::Client::open(url) else {
        return;
    };
    let Ok(mut conn) = client.get_multiplexed_async_connection().await else {
        return;
    };
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap_or_default();
    if !keys.is_empty() {
        let _: Result<i64, _> = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await;
    }
}

async fn get_count(url: &str, key: &str) -> i64 {
    let client = redis::Client::open(url).expect("url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("GET")
        .arg(key)
        .query_async::<Option<i64>>(&mut conn)
        .await
        .expect("GET")
        .unwrap_or(0)
}

/// A generous timeout: the accuracy tests must not see false outages on a
/// loaded machine (the outage tests kill Redis: refused at once).
const TIMEOUT: Duration = Duration::from_millis(1000);

fn instance(state: &State, url: &str, prefix: &str, failure: FailurePolicy) -> Arc<Gateway> {
    instance_granting(state, url, prefix, failure, DEFAULT_GRANT_MAX)
}

/// One of two instances; `grant_max` 1: every request asks Redis.
fn instance_granting(
    state: &State,
    url: &str,
    prefix: &str,
    failure: FailurePolicy,
    grant_max: u32,
) -> Arc<Gateway> {
    let clock = Arc::new(SystemClock::default());
    let counters = SharedCounters::start(
        SharedSettings {
            url: url.into(),
            prefix: prefix.into(),
            failure,
            share: 0.5,
            timeout: TIMEOUT,
            grant_max,
        },
        clock.clone(),
    )
    .expect("counters");
    let gateway =
        Gateway::with_clock(GatewaySettings::default(), clock).with_shared_counters(counters);
    gateway.update(state, &[]);
    Arc::new(gateway)
}

async fn request(gateway: &Gateway, key: usize) -> Result<(), ErrorKind> {
    admit_shared(
        gateway,
        API,
        STAGE,
        "GET",
        "/api/v1/jobs",
        &key_headers(Some(&key_value(key))),
    )
    .await
    .map(drop)
}

fn quota(limit: i64) -> Option<QuotaSettings> {
    Some(QuotaSettings {
        limit,
        offset: 0,
        period: Some("DAY".into()),
    })
}

fn today() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64 / 86_400)
        .unwrap_or(0)
}

/// One key in one plan with a plan throttle of `burst` and `rate`.
fn throttled_state(burst: u32, rate: f64) -> State {
    keyed_state(
        1,
        1,
        Some(ThrottleSettings {
            burst_limit: Some(i64::from(burst)),
            rate_limit: Some(rate),
        }),
        None,
    )
}

/// Eight clients sending key 0 for `length`, each alternating between the
/// two instances and pausing `pause` between requests: (admitted, sent,
/// seconds it took). Every refusal must be a throttle.
async fn flood(
    a: &Arc<Gateway>,
    b: &Arc<Gateway>,
    length: Duration,
    pause: Duration,
) -> (u32, u64, f64) {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for client in 0..8u64 {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let (mut admitted, mut sent) = (0u32, 0u64);
            while start.elapsed() < length {
                let gateway = if (client + sent) % 2 == 0 { &a } else { &b };
                sent += 1;
                match request(gateway, 0).await {
                    Ok(()) => admitted += 1,
                    Err(e) => assert_eq!(e, ErrorKind::Throttled),
                }
                tokio::time::sleep(pause).await;
            }
            (admitted, sent)
        }));
    }
    let (mut admitted, mut n) = (0u32, 0u64);
    for t in tasks {
        let (a, s) = t.await.expect("client");
        admitted += a;
        n += s;
    }
    (admitted, n, start.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_quota_holds_exactly_across_instances() {
    let Some(url) = system_redis() else { return };
    let prefix = random_prefix();
    let keys = 8;
    let state = keyed_state(keys, 2, None, quota(100));
    let a = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let b = instance(&state, &url, &prefix, FailurePolicy::Closed);
    // 150 requests per key, round-robin over the two instances, 16 at once.
    let mut tasks = Vec::new();
    for worker in 0..16usize {
        let (a, b) = (a.clone(), b.clone());
        tasks.push(tokio::spawn(async move {
            let mut results = Vec::new();
            for i in 0..(150 * keys / 16) {
                let n = worker * (150 * keys / 16) + i;
                let gateway = if n % 2 == 0 { &a } else { &b };
                results.push((n % keys, request(gateway, n % keys).await));
            }
            results
        }));
    }
    let mut admitted = vec![0; keys];
    for t in tasks {
        for (key, result) in t.await.expect("task") {
            match result {
                Ok(()) => admitted[key] += 1,
                Err(e) => assert_eq!(e, ErrorKind::QuotaExceeded),
            }
        }
    }
    assert_eq!(admitted, vec![100; keys]);
    // The day's counts GetUsage reads agree.
    let counters = a.shared_counters().expect("shared");
    for k in 0..keys {
        let plan = format!("plan{:05}", k % 2);
        let used = counters
            .used_on_days(&plan, &format!("k{k:09}"), today()..=today())
            .await
            .expect("read");
        assert_eq!(used, vec![100], "key {k}");
    }
    clean(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_throttle_holds_across_instances() {
    let Some(url) = system_redis() else { return };
    let prefix = random_prefix();
    let (burst, rate) = (10u32, 20.0);
    let state = throttled_state(burst, rate);
    let a = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let b = instance(&state, &url, &prefix, FailurePolicy::Closed);
    // A flood for 1.5 s from 8 clients, each alternating between the
    // instances (far above the rate even on a loaded machine): the burst,
    // then the rate, in total.
    let (admitted, n, elapsed) = flood(
        &a,
        &b,
        Duration::from_millis(1500),
        Duration::from_micros(500),
    )
    .await;
    let expected = f64::from(burst) + rate * elapsed;
    // Never more than the bucket gives (the enforcement); fewer only when
    // every client paused long enough for the bucket to fill (a loaded
    // machine): unloaded runs admit within 2 of `expected`.
    assert!(
        f64::from(admitted) <= expected + 2.0,
        "admitted {admitted} of {n}, at most {expected:.1} expected"
    );
    assert!(
        admitted >= burst,
        "admitted {admitted} of {n}, at least the burst {burst}"
    );
    // The flood was refused mostly without a round trip (empty-bucket hints).
    let trips = a.shared_counters().map_or(0, |c| c.round_trips())
        + b.shared_counters().map_or(0, |c| c.round_trips());
    assert!(trips < n, "{trips} round trips for {n} requests");
    eprintln!("throttle: {admitted} admitted of {n} (expected {expected:.1}), {trips} round trips");
    clean(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grants_keep_most_requests_off_redis_and_the_quota_exact() {
    let Some(url) = system_redis() else { return };
    let prefix = random_prefix();
    let limit = 10_000;
    let state = keyed_state(2, 1, None, quota(limit));
    let a = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let b = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let mut admitted = 0;
    for i in 0..(limit + 2_000) {
        match request(if i % 2 == 0 { &a } else { &b }, 0).await {
            Ok(()) => admitted += 1,
            Err(e) => assert_eq!(e, ErrorKind::QuotaExceeded),
        }
    }
    // Never more than the quota, and no unit left stranded on one instance.
    assert_eq!(admitted, limit);
    let (ca, cb) = (
        a.shared_counters().expect("shared"),
        b.shared_counters().expect("shared"),
    );
    let trips = ca.round_trips() + cb.round_trips();
    let granted = ca.granted_requests() + cb.granted_requests();
    eprintln!("grants: {admitted} admitted, {granted} from grants, {trips} round trips");
    assert!(
        trips * 8 < limit as u64,
        "{trips} round trips for {limit} admitted"
    );
    let used = ca
        .used_on_days("plan00000", "k000000000", today()..=today())
        .await
        .expect("read");
    assert_eq!(used, vec![limit]);

    // A key's first request takes a grant (counted at once in Redis); what
    // it leaves unused is given back after GRANT_TTL.
    assert_eq!(request(&a, 1).await, Ok(()));
    let day = format!("{prefix}plan00000:k000000001:d:{}", today());
    let counted = get_count(&url, &day).await;
    assert_eq!(counted, i64::from(DEFAULT_GRANT_MAX));
    let deadline = Instant::now() + GRANT_TTL + Duration::from_secs(3);
    while get_count(&url, &day).await != 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get_count(&url, &day).await, 1);
    clean(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fast_throttle_with_grants_never_admits_more_than_the_bucket() {
    let Some(url) = system_redis() else { return };
    let prefix = random_prefix();
    let (burst, rate) = (400u32, 2_000.0);
    let state = throttled_state(burst, rate);
    let a = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let b = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let (admitted, n, elapsed) = flood(
        &a,
        &b,
        Duration::from_millis(1000),
        Duration::from_micros(100),
    )
    .await;
    let most = f64::from(burst) + rate * elapsed;
    // Granted tokens are taken from the one bucket in Redis: the cluster
    // never admits more than it gives.
    assert!(
        f64::from(admitted) <= most + 2.0,
        "admitted {admitted} of {n}, at most {most:.1}"
    );
    assert!(admitted >= burst, "admitted {admitted} of {n}");
    let granted = a.shared_counters().map_or(0, |c| c.granted_requests())
        + b.shared_counters().map_or(0, |c| c.granted_requests());
    assert!(granted > 0, "no request was admitted from a grant");
    eprintln!(
        "fast throttle: {admitted} admitted of {n} (at most {most:.1}), {granted} from grants"
    );
    clean(&url, &prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_flight_limits_are_shared() {
    let Some(url) = system_redis() else { return };
    let prefix = random_prefix();
    let mut state = keyed_state(1, 1, None, None);
    for doc in state.usage_plans.values_mut() {
        Arc::make_mut(doc)
            .plan
            .tags
            .insert("tollgate:concurrency".into(), "3".into());
    }
    let a = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let b = instance(&state, &url, &prefix, FailurePolicy::Closed);
    let headers = key_headers(Some(&key_value(0)));
    let mut held = Vec::new();
    for (i, g) in [&a, &b, &a].into_iter().enumerate() {
        let admission = admit_shared(g, API, STAGE, "GET", "/api/x", &headers).await;
        assert!(admission.is_ok(), "request {i}");
        held.push(admission);
    }
    assert_eq!(
        admit_shared(&b, API, STAGE, "GET", "/api/x", &headers)
            .await
            .map(drop),
        Err(ErrorKind::Throttled)
    );
    // One ends (its release is sent in the background).
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match admit_shared(&b, API, STAGE, "GET", "/api/x", &headers).await {
            Ok(admission) => {
                drop(admission);
                break;
            }
            Err(e) => {
                assert_eq!(e, ErrorKind::Throttled);
                assert!(Instant::now() < deadline, "the slot was never released");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(held);
    clean(&url, &prefix).await;
}

/// A private Redis on a free loopback port, to stop and start.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn start() -> Option<PrivateRedis> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let mut redis = PrivateRedis { port, child: None };
        if !redis.restart() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true: redis-server must be installed"
            );
            eprintln!("skipped: cannot start redis-server");
            return None;
        }
        Some(redis)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts it (again); true once it answers.
    fn restart(&mut self) -> bool {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let Ok(child) = child else { return false };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Requests until one is answered otherwise than `while_err`, for at most `limit`.
async fn until_answer_changes(gateway: &Gateway, limit: Duration) -> Result<(), ErrorKind> {
    let deadline = Instant::now() + limit;
    loop {
        let r = request(gateway, 0).await;
        if r.is_ok() || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closed_policy_answers_503_while_redis_is_down_then_recovers() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let prefix = random_prefix();
    let state = keyed_state(1, 1, None, quota(1000));
    // Every request asks Redis (no grant): what the policy does is seen at once.
    let a = instance_granting(&state, &redis.url(), &prefix, FailurePolicy::Closed, 1);
    let b = instance_granting(&state, &redis.url(), &prefix, FailurePolicy::Closed, 1);
    for i in 0..10 {
        assert_eq!(request(if i % 2 == 0 { &a } else { &b }, 0).await, Ok(()));
    }
    redis.stop();
    // Every keyed request is refused with 503 (Overloaded), and fast.
    for g in [&a, &b, &a, &b] {
        let started = Instant::now();
        assert_eq!(request(g, 0).await, Err(ErrorKind::Overloaded));
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "a dead Redis held a request {:?}",
            started.elapsed()
        );
    }
    let counters = a.shared_counters().expect("shared");
    assert!(counters.is_down());
    assert_eq!(counters.outages(), 1);
    // Many more refusals, still one outage.
    for _ in 0..50 {
        assert_eq!(request(&a, 0).await, Err(ErrorKind::Overloaded));
    }
    assert_eq!(counters.outages(), 1);
    assert!(redis.restart(), "redis-server restarted");
    for g in [&a, &b] {
        assert_eq!(
            until_answer_changes(g, Duration::from_secs(5)).await,
            Ok(())
        );
    }
    // Counting resumed (in a Redis that lost everything: 10 + 2 are gone, 2 now).
    let day = format!("{prefix}plan00000:k000000000:d:{}", today());
    assert_eq!(get_count(&redis.url(), &day).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_policy_enforces_each_instances_share_then_sends_its_counts() {
    let Some(mut redis) = PrivateRedis::start() else {
        return;
    };
    let prefix = random_prefix();
    let state = keyed_state(1, 1, None, quota(100));
    // Every request asks Redis (no grant): the shares are exact.
    let a = instance_granting(&state, &redis.url(), &prefix, FailurePolicy::Local, 1);
    let b = instance_granting(&state, &redis.url(), &prefix, FailurePolicy::Local, 1);
    for i in 0..40 {
        assert_eq!(request(if i % 2 == 0 { &a } else { &b }, 0).await, Ok(()));
    }
    redis.stop();
    // 60 left when Redis went away: each of the two instances may use 30.
    let mut admitted = [0, 0];
    for i in 0..100 {
        let g = if i % 2 == 0 { &a } else { &b };
        match request(g, 0).await {
            Ok(()) => admitted[i % 2] += 1,
            Err(e) => assert_eq!(e, ErrorKind::QuotaExceeded),
        }
    }
    assert_eq!(admitted, [30, 30]);
    // Redis comes back empty (no persistence): the requests admitted while
    // it was down are sent to it, and counting resumes there.
    assert!(redis.restart(), "redis-server restarted");
    let day = format!("{prefix}plan00000:k000000000:d:{}", today());
    let deadline = Instant::now() + Duration::from_secs(5);
    while get_count(&redis.url(), &day).await < 60 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get_count(&redis.url(), &day).await, 60);
    for g in [&a, &b] {
        let counters = g.shared_counters().expect("shared");
        let deadline = Instant::now() + Duration::from_secs(5);
        while counters.is_down() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!counters.is_down());
    }
    // The quota (rebuilt from the day counts) has 40 left.
    let mut more = 0;
    for i in 0..60 {
        if request(if i % 2 == 0 { &a } else { &b }, 0).await.is_ok() {
            more += 1;
        }
    }
    assert_eq!(more, 40);
}
