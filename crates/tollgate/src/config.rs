//! Typed configuration: `tollgate.toml`, then `TOLLGATE_*` environment variables,
//! then command-line flags, each overriding the one before. Validated once at
//! start-up; nothing reads the environment later.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::Deserialize;
use tollgate_aws::sigv4::Credentials;
use tollgate_gateway::upstream::Origin;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:4566";
pub const DEFAULT_DATA_DIR: &str = ".tollgate";
pub const DEFAULT_ACCOUNT_ID: &str = "000000000000";
pub const DEFAULT_REGION: &str = "us-east-1";
/// The well-known local-emulator pair; accepted only on loopback.
pub const DEFAULT_ACCESS_KEY_ID: &str = "test";
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "test";

/// `tollgate.toml`. Every member is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    /// A second listener serving only invoked APIs (execute-api), for the public side.
    pub public_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// PEM file of extra CA certificates trusted for https upstreams.
    pub upstream_ca_file: Option<PathBuf>,
    /// `http://` upstreams (`host:port`, as integration URIs write them)
    /// spoken to in h2c with prior knowledge rather than HTTP/1.1.
    #[serde(default)]
    pub upstream_h2c: Vec<String>,
    /// Proxies (CIDR ranges) whose `X-Forwarded-For` gives the client's address.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    #[serde(default)]
    pub credentials: Vec<CredentialEntry>,
    /// Seconds a client may make no progress before it is disconnected.
    pub client_timeout: Option<u64>,
    /// Open client connections allowed, every listener together.
    pub max_connections: Option<usize>,
    /// MiB of request bodies held in memory at once, every request together.
    pub body_budget_mib: Option<usize>,
    /// MiB the in-memory metric store (15 days of one-minute statistics) may hold.
    pub metrics_budget_mib: Option<usize>,
    /// The Python interpreter of python3.x Lambda functions.
    pub lambda_python: Option<String>,
    /// The Node.js of nodejs* Lambda functions.
    pub lambda_node: Option<String>,
    /// Lambda invocations running at once, every function together.
    pub lambda_max_workers: Option<usize>,
    /// Seconds a warm Lambda worker may stay idle before it is stopped.
    pub lambda_idle_timeout: Option<u64>,
    /// The 32-byte key Secrets Manager values are sealed with.
    pub secrets_key_file: Option<PathBuf>,
    /// OTLP/HTTP collector spans of traced stages are exported to.
    pub otlp_endpoint: Option<String>,
    /// Seconds open connections get to finish on SIGTERM or SIGINT.
    pub shutdown_grace_secs: Option<u64>,
    /// PEM certificate chain and private key: TLS on every listener.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where the configuration lives: a `postgres://` URL shared by several
    /// instances; absent, the embedded store in the data directory.
    pub store: Option<String>,
    /// `[counters]`: usage plans counted in Redis (see `counters.rs`).
    #[serde(default)]
    pub counters: crate::counters::CountersFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialEntry {
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// Values given on the command line or in the environment (clap merges those two).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_listen: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub upstream_ca_file: Option<PathBuf>,
    /// Replaces the file's list when given.
    pub upstream_h2c: Option<Vec<String>>,
    /// Replaces the file's list when given.
    pub trusted_proxies: Option<Vec<String>>,
    pub client_timeout: Option<u64>,
    pub max_connections: Option<usize>,
    pub body_budget_mib: Option<usize>,
    pub metrics_budget_mib: Option<usize>,
    pub lambda_python: Option<String>,
    pub lambda_node: Option<String>,
    pub lambda_max_workers: Option<usize>,
    pub lambda_idle_timeout: Option<u64>,
    pub secrets_key_file: Option<PathBuf>,
    pub otlp_endpoint: Option<String>,
    pub shutdown_grace_secs: Option<u64>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub store: Option<String>,
    pub counters: crate::counters::CountersArgs,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Data-plane-only listener; control-plane paths get 403 there.
    pub public_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    pub account_id: String,
    pub region: String,
    /// Admin credentials the control plane accepts (SigV4).
    pub credentials: Vec<Credentials>,
    pub upstream_ca_file: Option<PathBuf>,
    pub upstream_h2c: Vec<String>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<tollgate_gateway::cidr::Cidr>,
    /// A client that makes no progress for this long is disconnected.
    pub client_timeout: Duration,
    pub max_connections: usize,
    /// Bytes of request bodies held in memory at once.
    pub body_budget: usize,
    /// Bytes the metric store may hold before it forgets the oldest minutes.
    pub metrics_budget: usize,
    pub lambda: LambdaConfig,
    /// None: `{data_dir}/secrets.key`, made on first start.
    pub secrets_key_file: Option<PathBuf>,
    /// `http(s)://host:port` of an OTLP/HTTP collector; none: spans are not exported.
    pub otlp_endpoint: Option<String>,
    /// How long open connections get to finish when shutting down.
    pub shutdown_grace: Duration,
    /// TLS on every listener; none: plain HTTP.
    pub tls: Option<TlsFiles>,
    /// Where the control-plane configuration is stored.
    pub store: StoreLocation,
    /// Usage plans counted in Redis, shared; none: in this process.
    pub counters: Option<tollgate_gateway::shared_counters::SharedSettings>,
}

/// Where the control-plane configuration is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// SQLite in the data directory: one instance.
    Embedded,
    /// PostgreSQL at this URL, shared by every instance given the same one.
    Postgres(String),
}

impl StoreLocation {
    /// `postgres://…` or `postgresql://…`; `embedded` (or `sqlite`) for the default.
    pub fn parse(text: &str) -> anyhow::Result<StoreLocation> {
        if text == "embedded" || text == "sqlite" {
            return Ok(StoreLocation::Embedded);
        }
        if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
            bail!("invalid store {:?}: expected a postgres://user@host:port/database URL, or `embedded`", redact(text));
        }
        tollgate_store::PostgresStore::check_url(text)
            .map_err(|e| anyhow::anyhow!("invalid store URL {:?}: {e}", redact(text)))?;
        Ok(StoreLocation::Postgres(text.to_string()))
    }
}

/// Logs and errors show a store URL without its password.
impl std::fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreLocation::Embedded => f.write_str("embedded"),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => format!("{user}@{host}"),
        },
        None => authority.to_string(),
    };
    match path {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// The PEM files of the listeners' certificate chain and its key.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// How Lambda functions run.
#[derive(Debug, Clone)]
pub struct LambdaConfig {
    /// Command or path of the Python interpreter (python3.x runtimes).
    pub python: String,
    /// Command or path of Node.js (nodejs* runtimes).
    pub node: String,
    pub max_workers: usize,
    pub idle_timeout: Duration,
}

/// nginx's default for its client header and body timeouts.
pub const DEFAULT_CLIENT_TIMEOUT_SECS: u64 = 60;
/// Open client connections by default: well within what one process may
/// hold, each costing a few kilobytes while idle.
pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// MiB of request bodies in memory at once by default: room for a few
/// dozen at API Gateway's 10 MB payload limit.
pub const DEFAULT_BODY_BUDGET_MIB: usize = 256;
/// The metric store's default budget (as `tollgate_observe`'s).
pub const DEFAULT_METRICS_BUDGET_MIB: usize =
    tollgate_observe::metrics::store::DEFAULT_BUDGET_BYTES >> 20;
/// Lambda invocations at once: each is a process of its runtime.
pub const DEFAULT_LAMBDA_MAX_WORKERS: usize = 64;
/// How long a warm Lambda worker is kept idle (Lambda keeps them minutes).
pub const DEFAULT_LAMBDA_IDLE_SECS: u64 = 600;

impl FileConfig {
    /// Reads `path`; a missing file is an empty configuration only when `required` is false.
    pub fn load(path: &Path, required: bool) -> anyhow::Result<FileConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("invalid configuration file {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                Ok(FileConfig::default())
            }
            Err(e) => {
                Err(e).with_context(|| format!("cannot read configuration file {}", path.display()))
            }
        }
    }
}

impl Config {
    /// Merges the file with the overrides and validates the result.
    pub fn resolve(file: FileConfig, overrides: Overrides) -> anyhow::Result<Config> {
        let listen_text = overrides
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("invalid listen address {listen_text:?}: expected IP:PORT, e.g. 127.0.0.1:4566")
        })?;
        let public_listen = overrides
            .public_listen
            .or(file.public_listen)
            .map(|text| {
                text.parse::<SocketAddr>().with_context(|| {
                    format!("invalid public listen address {text:?}: expected IP:PORT")
                })
            })
            .transpose()?;
        let account_id = overrides
            .account_id
            .or(file.account_id)
            .unwrap_or_else(|| DEFAULT_ACCOUNT_ID.to_string());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("invalid account id {account_id:?}: expected 12 digits");
        }
        let region = overrides
            .region
            .or(file.region)
            .unwrap_or_else(|| DEFAULT_REGION.to_string());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("invalid region {region:?}: expected something like us-east-1");
        }
        let credentials = match (overrides.access_key_id, overrides.secret_access_key) {
            (Some(id), Some(secret)) => vec![Credentials::new(id, secret)],
            (Some(_), None) | (None, Some(_)) => {
                bail!("set both the access key id and the secret access key, or neither")
            }
            (None, None) if !file.credentials.is_empty() => file
                .credentials
                .into_iter()
                .map(|c| Credentials::new(c.access_key_id, c.secret_access_key))
                .collect(),
            (None, None) => vec![Credentials::new(
                DEFAULT_ACCESS_KEY_ID,
                DEFAULT_SECRET_ACCESS_KEY,
            )],
        };
        if credentials
            .iter()
            .any(|c| c.access_key_id.is_empty() || c.secret_access_key.is_empty())
        {
            bail!("credentials must not be empty");
        }
        let uses_default = credentials.iter().any(|c| {
            c.access_key_id == DEFAULT_ACCESS_KEY_ID
                && c.secret_access_key == DEFAULT_SECRET_ACCESS_KEY
        });
        if uses_default && !listen.ip().is_loopback() {
            bail!(
                "refusing to listen on {listen} with the default test/test credentials: \
                 set --access-key-id/--secret-access-key (or TOLLGATE_ACCESS_KEY_ID/TOLLGATE_SECRET_ACCESS_KEY, \
                 or [[credentials]] in tollgate.toml), or listen on a loopback address"
            );
        }
        Ok(Config {
            listen,
            public_listen,
            data_dir: overrides
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            account_id,
            region,
            credentials,
            upstream_ca_file: overrides.upstream_ca_file.or(file.upstream_ca_file),
            upstream_h2c: upstream_h2c(overrides.upstream_h2c.unwrap_or(file.upstream_h2c))?,
            trusted_proxies: overrides
                .trusted_proxies
                .unwrap_or(file.trusted_proxies)
                .iter()
                .map(|p| {
                    tollgate_gateway::cidr::Cidr::parse(p)
                        .map_err(|e| anyhow::anyhow!("invalid --trusted-proxy: {e}"))
                })
                .collect::<anyhow::Result<_>>()?,
            client_timeout: client_timeout(
                overrides
                    .client_timeout
                    .or(file.client_timeout)
                    .unwrap_or(DEFAULT_CLIENT_TIMEOUT_SECS),
            )?,
            max_connections: max_connections(
                overrides
                    .max_connections
                    .or(file.max_connections)
                    .unwrap_or(DEFAULT_MAX_CONNECTIONS),
            )?,
            body_budget: body_budget(
                overrides
                    .body_budget_mib
                    .or(file.body_budget_mib)
                    .unwrap_or(DEFAULT_BODY_BUDGET_MIB),
            )?,
            metrics_budget: metrics_budget(
                overrides
                    .metrics_budget_mib
                    .or(file.metrics_budget_mib)
                    .unwrap_or(DEFAULT_METRICS_BUDGET_MIB),
            )?,
            lambda: LambdaConfig {
                python: overrides
                    .lambda_python
                    .or(file.lambda_python)
                    .unwrap_or_else(|| "python3".into()),
                node: overrides
                    .lambda_node
                    .or(file.lambda_node)
                    .unwrap_or_else(|| "node".into()),
                max_workers: match overrides.lambda_max_workers.or(file.lambda_max_workers) {
                    Some(0) => bail!("invalid lambda max workers 0: expected at least 1"),
                    Some(n) => n,
                    None => DEFAULT_LAMBDA_MAX_WORKERS,
                },
                idle_timeout: Duration::from_secs(
                    overrides
                        .lambda_idle_timeout
                        .or(file.lambda_idle_timeout)
                        .unwrap_or(DEFAULT_LAMBDA_IDLE_SECS),
                ),
            },
            secrets_key_file: overrides.secrets_key_file.or(file.secrets_key_file),
            otlp_endpoint: otlp_endpoint(overrides.otlp_endpoint.or(file.otlp_endpoint))?,
            shutdown_grace: shutdown_grace(
                overrides
                    .shutdown_grace_secs
                    .or(file.shutdown_grace_secs)
                    .unwrap_or(crate::shutdown::DEFAULT_GRACE_SECS),
            )?,
            tls: match (
                overrides.tls_cert.or(file.tls_cert),
                overrides.tls_key.or(file.tls_key),
            ) {
                (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
                (None, None) => None,
                _ => bail!("--tls-cert and --tls-key go together: give both or neither"),
            },
            store: match overrides.store.or(file.store) {
                Some(text) => StoreLocation::parse(&text)?,
                None => StoreLocation::Embedded,
            },
            counters: crate::counters::resolve(file.counters, overrides.counters)?,
        })
    }
}

fn client_timeout(secs: u64) -> anyhow::Result<Duration> {
    if !(1..=3600).contains(&secs) {
        bail!("invalid client timeout {secs}: expected 1 to 3600 seconds");
    }
    Ok(Duration::from_secs(secs))
}

fn shutdown_grace(secs: u64) -> anyhow::Result<Duration> {
    if secs > 3600 {
        bail!("invalid shutdown grace {secs}: expected 0 to 3600 seconds");
    }
    Ok(Duration::from_secs(secs))
}

fn max_connections(n: usize) -> anyhow::Result<usize> {
    if n == 0 {
        bail!("invalid max connections 0: expected at least 1");
    }
    Ok(n)
}

fn body_budget(mib: usize) -> anyhow::Result<usize> {
    // At least one body at the payload limit must fit.
    if !(16..=1024 * 1024).contains(&mib) {
        bail!("invalid body budget {mib} MiB: expected 16 to 1048576");
    }
    Ok(mib * 1024 * 1024)
}

fn metrics_budget(mib: usize) -> anyhow::Result<usize> {
    // Below a few MiB a busy stage's current minute alone would not fit.
    if !(8..=1024 * 1024).contains(&mib) {
        bail!("invalid metrics budget {mib} MiB: expected 8 to 1048576");
    }
    Ok(mib << 20)
}

/// Checks each h2c upstream is a `host:port` authority.
/// An OTLP endpoint must be an `http://` or `https://` URL.
fn otlp_endpoint(endpoint: Option<String>) -> anyhow::Result<Option<String>> {
    match endpoint {
        Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
            anyhow::bail!("otlp_endpoint must be an http:// or https:// URL, not {url}")
        }
        other => Ok(other.filter(|u| !u.is_empty())),
    }
}

fn upstream_h2c(authorities: Vec<String>) -> anyhow::Result<Vec<String>> {
    for authority in &authorities {
        // The integration URI's own rules for an authority, plus a port written out.
        let valid = Origin::parse(false, authority)
            .is_some_and(|origin| authority.ends_with(&format!(":{}", origin.port)));
        if !valid {
            bail!("invalid h2c upstream {authority:?}: expected HOST:PORT as the integration URI writes it, e.g. 127.0.0.1:8000");
        }
    }
    Ok(authorities)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_local() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.account_id, "000000000000");
        assert_eq!(c.credentials[0].access_key_id, "test");
        assert!(c.upstream_h2c.is_empty());
        Ok(())
    }

    #[test]
    fn trusted_proxies_are_cidrs_and_none_by_default() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert!(c.trusted_proxies.is_empty());
        let file: FileConfig = toml::from_str(r#"trusted_proxies = ["10.0.0.0/8", "::1"]"#)?;
        let c = Config::resolve(file, Overrides::default())?;
        assert!(c.trusted_proxies[0].contains("10.9.9.9".parse()?));
        assert!(c.trusted_proxies[1].contains("::1".parse()?));
        let overrides = Overrides {
            trusted_proxies: Some(vec!["10.0.0.0/33".into()]),
            ..Overrides::default()
        };
        assert!(Config::resolve(FileConfig::default(), overrides).is_err());
        Ok(())
    }

    #[test]
    fn h2c_upstreams_are_host_port_and_flags_replace_the_file() -> anyhow::Result<()> {
        let file: FileConfig =
            toml::from_str(r#"upstream_h2c = ["127.0.0.1:8000", "gpu.local:9000"]"#)?;
        let c = Config::resolve(file, Overrides::default())?;
        assert_eq!(c.upstream_h2c, ["127.0.0.1:8000", "gpu.local:9000"]);
        let file: FileConfig = toml::from_str(r#"upstream_h2c = ["a:1"]"#)?;
        let overrides = Overrides {
            upstream_h2c: Some(vec!["b:2".into()]),
            ..Overrides::default()
        };
        assert_eq!(Config::resolve(file, overrides)?.upstream_h2c, ["b:2"]);
        for bad in ["http://a:1", "a", "a:0", ":80", "a:port"] {
            let overrides = Overrides {
                upstream_h2c: Some(vec![bad.into()]),
                ..Overrides::default()
            };
            let err = Config::resolve(FileConfig::default(), overrides)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.is_some_and(|e| e.contains("invalid h2c upstream")),
                "{bad}"
            );
        }
        Ok(())
    }

    #[test]
    fn the_metrics_budget_defaults_to_the_stores_and_is_checked() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert_eq!(
            c.metrics_budget,
            tollgate_observe::metrics::store::DEFAULT_BUDGET_BYTES
        );
        let file: FileConfig = toml::from_str("metrics_budget_mib = 64")?;
        assert_eq!(
            Config::resolve(file, Overrides::default())?.metrics_budget,
            64 << 20
        );
        for bad in [0, 7, 1024 * 1024 + 1] {
            let overrides = Overrides {
                metrics_budget_mib: Some(bad),
                ..Overrides::default()
            };
            let err = Config::resolve(FileConfig::default(), overrides)
                .err()
                .map(|e| e.to_string());
            assert!(
                err.is_some_and(|e| e.contains("invalid metrics budget")),
                "{bad}"
            );
        }
        Ok(())
    }

    #[test]
    fn refuses_default_credentials_off_loopback() {
        let overrides = Overrides {
            listen: Some("0.0.0.0:4566".into()),
            ..Overrides::default()
        };
        let err = Config::resolve(FileConfig::default(), overrides.clone())
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("default test/test")));
        let with_creds = Overrides {
            access_key_id: Some("AKIDADMIN".into()),
            secret_access_key: Some("s3cret".into()),
            ..overrides
        };
        assert!(Config::resolve(FileConfig::default(), with_creds).is_ok());
    }

    #[test]
    fn overrides_beat_the_file() -> anyhow::Result<()> {
        let file: FileConfig = toml::from_str(
            "listen = \"127.0.0.1:9000\"\nregion = \"eu-west-1\"\n[[credentials]]\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n",
        )?;
        let c = Config::resolve(
            file,
            Overrides {
                listen: Some("127.0.0.1:9001".into()),
                ..Overrides::default()
            },
        )?;
        assert_eq!(c.listen.port(), 9001);
        assert_eq!(c.region, "eu-west-1");
        assert_eq!(c.credentials[0].access_key_id, "a");
        Ok(())
    }

    #[test]
    fn rejects_bad_values() {
        for o in [
            Overrides {
                listen: Some("localhost".into()),
                ..Overrides::default()
            },
            Overrides {
                account_id: Some("123".into()),
                ..Overrides::default()
            },
            Overrides {
                region: Some("US EAST".into()),
                ..Overrides::default()
            },
            Overrides {
                access_key_id: Some("x".into()),
                ..Overrides::default()
            },
        ] {
            assert!(Config::resolve(FileConfig::default(), o).is_err());
        }
        assert!(toml::from_str::<FileConfig>("listne = \"x\"").is_err());
    }

    #[test]
    fn store_is_embedded_unless_a_postgres_url_is_given() -> anyhow::Result<()> {
        let c = Config::resolve(FileConfig::default(), Overrides::default())?;
        assert_eq!(c.store, StoreLocation::Embedded);
        let file: FileConfig = toml::from_str(r#"store = "postgres://u@127.0.0.1:5432/db""#)?;
        let c = Config::resolve(file, Overrides::default())?;
        assert_eq!(
            c.store,
            StoreLocation::Postgres("postgres://u@127.0.0.1:5432/db".into())
        );
        for bad in ["mysql://x/y", "postgres://u@h:notaport/db", "/var/lib/x"] {
            let overrides = Overrides {
                store: Some(bad.into()),
                ..Overrides::default()
            };
            assert!(
                Config::resolve(FileConfig::default(), overrides).is_err(),
                "{bad}"
            );
        }
        let shown = format!("{:?}", StoreLocation::parse("postgres://u:hunter2@h/db")?);
        assert_eq!(shown, "postgres://u:***@h/db");
        Ok(())
    }
}
