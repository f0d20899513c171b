//! Logs and metrics of two "instances" (two stores opened on one PostgreSQL
//! database) seen as one: a group made by one is listed by the other, lines
//! of both are filtered by either, and metrics published by one are merged
//! into the other's reads. Needs PostgreSQL on 127.0.0.1:5432 (trust auth):
//! skipped without it, failed without it under CI=true.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tollgate_observe::logs::store::{Filter, StreamBatch};
use tollgate_observe::logs::LogStore;
use tollgate_observe::metrics::shared::SharedMetrics;
use tollgate_observe::metrics::store::{MetricKey, MetricStore, Sample};
use tollgate_store::tokio_postgres::{self, NoTls};

struct TestDb {
    admin: String,
    name: String,
    url: String,
}

fn run(admin: &str, sql: String) -> Result<(), tokio_postgres::Error> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = admin
            .parse::<tokio_postgres::Config>()?
            .connect_timeout(Duration::from_secs(3))
            .connect(NoTls)
            .await?;
        tokio::spawn(connection);
        client.batch_execute(&sql).await
    })
}

impl TestDb {
    fn create() -> Option<TestDb> {
        let admins = match std::env::var(tollgate_store::PG_TEST_URL_VAR) {
            Ok(url) => vec![url],
            Err(_) => vec![
                "postgres://root@127.0.0.1:5432/test".to_string(),
                "postgres://postgres@127.0.0.1:5432/test".to_string(),
            ],
        };
        let name = format!(
            "tollgate_obs_{}_{}",
            std::process::id(),
            rand::random::<u32>()
        );
        let mut last = None;
        for admin in admins {
            match run(&admin, format!("CREATE DATABASE {name}")) {
                Ok(()) => {
                    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
                    let url = format!("{base}/{name}");
                    return Some(TestDb { admin, name, url });
                }
                Err(e) => last = Some(e),
            }
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is required under CI=true: {last:?}"
        );
        eprintln!("skipping: no PostgreSQL on 127.0.0.1:5432 ({last:?})");
        None
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = run(
            &self.admin,
            format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

#[test]
fn two_instances_share_logs_and_metrics() {
    let Some(db) = TestDb::create() else { return };
    let a = LogStore::shared(&db.url).expect("instance A's logs");
    let b = LogStore::shared(&db.url).expect("instance B's logs");
    a.create_group("/shared", 1, &Default::default())
        .expect("made on A");
    assert_eq!(b.group("/shared").expect("seen on B").name, "/shared");
    assert!(b.create_group("/shared", 2, &Default::default()).is_err());
    let batch = |stream: &str, from: i64| StreamBatch {
        group: "/shared".into(),
        stream: stream.into(),
        events: (from..from + 3)
            .map(|t| (t, format!("{stream} {t}")))
            .collect(),
    };
    a.append_batches(&[batch("host-a", 10)], 100)
        .expect("A writes");
    b.append_batches(&[batch("host-b", 11)], 100)
        .expect("B writes");
    for store in [&a, &b] {
        let found = store
            .filter(&Filter {
                group: "/shared",
                streams: None,
                stream_prefix: None,
                start_ms: None,
                end_ms: None,
                pattern: None,
                after: None,
                limit: 100,
            })
            .expect("filtered");
        let mut lines: Vec<_> = found.events.iter().map(|e| e.message.clone()).collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "host-a 10",
                "host-a 11",
                "host-a 12",
                "host-b 11",
                "host-b 12",
                "host-b 13"
            ]
        );
        let streams = store.streams("/shared", "", false, false).expect("streams");
        assert_eq!(
            streams.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            ["host-a", "host-b"]
        );
    }
    assert_eq!(
        a.group("/shared").expect("group").stored_bytes,
        6 * (9 + 26)
    );

    let key = MetricKey::new(
        "AWS/ApiGateway",
        "Count",
        vec![("ApiName".into(), "x".into())],
    );
    let now = tollgate_observe::logs::writer::now_ms();
    let (ma, mb) = (
        Arc::new(MetricStore::default()),
        Arc::new(MetricStore::default()),
    );
    let pa = SharedMetrics::start(&db.url, "a", &ma).expect("A shares");
    let _pb = SharedMetrics::start(&db.url, "b", &mb).expect("B shares");
    for (store, n) in [(&ma, 3), (&mb, 4)] {
        for _ in 0..n {
            store
                .record(&key, now, Sample::Value(1.0), Some("Count"))
                .expect("recorded");
        }
    }
    pa.publish_now();
    let sum = |store: &MetricStore| {
        let (periods, _) = store.periods(&key, now - 60_000, now + 60_000, 300_000);
        periods.iter().map(|(_, s)| s.sum).sum::<f64>()
    };
    let deadline = Instant::now() + Duration::from_secs(15);
    while sum(&ma) != 7.0 || sum(&mb) != 7.0 {
        assert!(
            Instant::now() < deadline,
            "A sees {}, B sees {}; want 7 on both",
            sum(&ma),
            sum(&mb)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(mb.keys(Some("AWS/ApiGateway"), None, &[], None), vec![key]);
}
