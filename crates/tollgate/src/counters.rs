//! Where usage plans are counted: in this process (the default) or in Redis,
//! shared by every instance (`--counters redis://…`, issue #18). The
//! options, their validation and the wiring live here so the rest of the
//! configuration changes by one field.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tollgate_gateway::shared_counters::{
    FailurePolicy, SharedCounters, SharedSettings, DEFAULT_GRANT_MAX, DEFAULT_TIMEOUT,
};

/// The default key prefix: instances that share configuration and this
/// prefix share counters.
pub const DEFAULT_PREFIX: &str = "tollgate:";

/// `[counters]` in `tollgate.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountersFile {
    pub url: Option<String>,
    pub failure: Option<String>,
    pub instances: Option<u32>,
    pub share: Option<f64>,
    pub prefix: Option<String>,
    pub timeout_ms: Option<u64>,
    pub grant: Option<u32>,
}

/// The counters' command-line flags (and environment).
#[derive(Debug, Default, Clone, clap::Args)]
pub struct CountersArgs {
    /// Count usage plans (throttles, quotas, in-flight limits) in Redis,
    /// shared by every instance given the same URL and prefix, e.g.
    /// redis://127.0.0.1:6379/0 [default: in this process].
    #[arg(long = "counters", env = "TOLLGATE_COUNTERS")]
    pub url: Option<String>,
    /// While Redis cannot be reached: `closed` answers keyed requests 503;
    /// `local` enforces this instance's share of every limit [default: closed].
    #[arg(long = "counters-failure", env = "TOLLGATE_COUNTERS_FAILURE", value_parser = ["closed", "local"])]
    pub failure: Option<String>,
    /// Instances sharing the counters: each one's share under `local` is
    /// 1/N of every limit [default: 1].
    #[arg(long, env = "TOLLGATE_INSTANCES")]
    pub instances: Option<u32>,
    /// This instance's share of every limit under `local` (0 < share ≤ 1),
    /// instead of 1/--instances.
    #[arg(long = "counters-share", env = "TOLLGATE_COUNTERS_SHARE")]
    pub share: Option<f64>,
    /// Prefix of every Redis key [default: tollgate:].
    #[arg(long = "counters-prefix", env = "TOLLGATE_COUNTERS_PREFIX")]
    pub prefix: Option<String>,
    /// Longest wait for Redis on a request, in milliseconds [default: 50].
    #[arg(long = "counters-timeout-ms", env = "TOLLGATE_COUNTERS_TIMEOUT_MS")]
    pub timeout_ms: Option<u64>,
    /// Most units of a key one round trip to Redis may set aside for this
    /// instance to admit without asking, where the plan has room to spare
    /// (1: every request asks) [default: 32].
    #[arg(long = "counters-grant", env = "TOLLGATE_COUNTERS_GRANT")]
    pub grant: Option<u32>,
}

/// Validated: None counts in this process.
pub fn resolve(file: CountersFile, args: CountersArgs) -> anyhow::Result<Option<SharedSettings>> {
    let Some(url) = args.url.or(file.url) else {
        return Ok(None);
    };
    if !(url.starts_with("redis://")
        || url.starts_with("rediss://")
        || url.starts_with("redis+unix://")
        || url.starts_with("unix://"))
    {
        bail!("invalid --counters {url:?}: expected redis://host:port/db");
    }
    redis_url_check(&url)?;
    let failure = match args.failure.or(file.failure).as_deref() {
        None | Some("closed") => FailurePolicy::Closed,
        Some("local") => FailurePolicy::Local,
        Some(other) => bail!("invalid --counters-failure {other:?}: expected closed or local"),
    };
    let instances = args.instances.or(file.instances).unwrap_or(1);
    if instances == 0 {
        bail!("--instances must be at least 1");
    }
    let share = args
        .share
        .or(file.share)
        .unwrap_or(1.0 / f64::from(instances));
    if !(share > 0.0 && share <= 1.0) {
        bail!("invalid --counters-share {share}: expected 0 < share ≤ 1");
    }
    let prefix = args
        .prefix
        .or(file.prefix)
        .unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    let timeout = args
        .timeout_ms
        .or(file.timeout_ms)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() || timeout > Duration::from_secs(5) {
        bail!("invalid --counters-timeout-ms: expected 1 to 5000");
    }
    let grant_max = args.grant.or(file.grant).unwrap_or(DEFAULT_GRANT_MAX);
    if !(1..=1000).contains(&grant_max) {
        bail!("invalid --counters-grant {grant_max}: expected 1 to 1000");
    }
    Ok(Some(SharedSettings {
        url,
        prefix,
        failure,
        share,
        timeout,
        grant_max,
    }))
}

/// Parses the URL as the Redis client will, so a typo fails at start-up.
fn redis_url_check(url: &str) -> anyhow::Result<()> {
    tollgate_gateway::shared_counters::check_url(url)
        .with_context(|| format!("invalid --counters {url:?}"))
}

/// Starts the shared counters (inside the runtime); Redis need not be up yet.
pub fn start(
    settings: &SharedSettings,
    clock: Arc<dyn tollgate_gateway::clock::Clock>,
) -> anyhow::Result<Arc<SharedCounters>> {
    let counters = SharedCounters::start(settings.clone(), clock)
        .context("cannot set up the shared counters")?;
    tracing::info!(
        prefix = %settings.prefix,
        failure = ?settings.failure,
        share = settings.share,
        grant = settings.grant_max,
        "usage plans are counted in Redis, shared with every instance on the same prefix"
    );
    Ok(counters)
}

/// GetUsage's and UpdateUsage's reads of the shared counters.
pub struct SharedUsage(pub Arc<SharedCounters>);

impl tollgate_control::UsageCounts for SharedUsage {
    fn used_on_days(
        &self,
        plan_id: &str,
        key_id: &str,
        first: i64,
        last: i64,
    ) -> Result<Vec<i64>, String> {
        self.0
            .used_on_days_blocking(plan_id, key_id, first..=last)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(url: &str) -> CountersArgs {
        CountersArgs {
            url: Some(url.into()),
            ..CountersArgs::default()
        }
    }

    #[test]
    fn embedded_by_default_and_validated_when_shared() -> anyhow::Result<()> {
        assert!(resolve(CountersFile::default(), CountersArgs::default())?.is_none());
        let s = resolve(
            CountersFile::default(),
            CountersArgs {
                instances: Some(4),
                failure: Some("local".into()),
                ..args("redis://127.0.0.1:6379/3")
            },
        )?
        .context("shared")?;
        assert_eq!(s.share, 0.25);
        assert_eq!(s.failure, FailurePolicy::Local);
        assert_eq!(s.prefix, DEFAULT_PREFIX);
        assert_eq!(s.timeout, DEFAULT_TIMEOUT);
        assert_eq!(s.grant_max, DEFAULT_GRANT_MAX);
        for grant in [0, 1001] {
            assert!(resolve(
                CountersFile::default(),
                CountersArgs {
                    grant: Some(grant),
                    ..args("redis://127.0.0.1/0")
                }
            )
            .is_err());
        }
        assert!(resolve(CountersFile::default(), args("http://x")).is_err());
        assert!(resolve(
            CountersFile::default(),
            CountersArgs {
                share: Some(1.5),
                ..args("redis://127.0.0.1/0")
            }
        )
        .is_err());
        let file: CountersFile = toml::from_str("url = \"redis://h:1/2\"\nfailure = \"local\"")?;
        let s = resolve(file, CountersArgs::default())?.context("from the file")?;
        assert_eq!(s.url, "redis://h:1/2");
        Ok(())
    }
}
