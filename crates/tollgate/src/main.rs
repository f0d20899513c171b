//! The `tollgate` command line.

use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tollgate::config::{FileConfig, Overrides};
use tollgate::{Config, Server};

/// mimalloc: the request path allocates many small short-lived buffers, and the
/// system allocator was a sixth of the CPU under load (see bench/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "A self-hosted API gateway that speaks the AWS API Gateway REST API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway: control plane and data plane on one listener.
    // Boxed: the serve flags are many, the other commands' few.
    Serve(Box<ServeArgs>),
    /// Read a log group on this machine (access logs, execution logs, function logs).
    Logs {
        #[command(subcommand)]
        command: LogsCommand,
    },
    /// Converge a REST API to an OpenAPI file (ImportRestApi, or PutRestApi
    /// in overwrite mode, then CreateDeployment), printing what changes.
    Apply {
        /// The OpenAPI 3.0 or Swagger 2.0 file, JSON or YAML.
        #[arg(short = 'f', long = "file")]
        file: std::path::PathBuf,
        /// Deploy to this stage afterwards.
        #[arg(long)]
        stage: Option<String>,
        /// The API to converge [default: the one named as the file's info.title].
        #[arg(long)]
        rest_api_id: Option<String>,
        /// Tollgate's (or AWS's) API Gateway endpoint.
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL",
            default_value = "http://127.0.0.1:4566"
        )]
        endpoint_url: String,
        #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
        region: String,
        /// Print what would change without sending anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// Copy an embedded store (DATA_DIR) into PostgreSQL, for several
    /// instances sharing one configuration (`serve --store URL`).
    Migrate {
        /// The data directory of the embedded store.
        #[arg(long)]
        from: PathBuf,
        /// postgres://user@host:port/database
        #[arg(long)]
        to: String,
        /// Replace what the target already holds (else a non-empty target is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Browser access (CORS) as plain API Gateway configuration.
    Cors {
        #[command(subcommand)]
        command: CorsCommand,
    },
}

#[derive(Subcommand)]
enum CorsCommand {
    /// Make the calls the console's "Enable CORS" makes for one resource
    /// (an OPTIONS method with a MOCK integration, the header on non-proxy
    /// methods, DEFAULT_4XX/5XX gateway responses); deploy afterwards.
    Enable {
        #[arg(long)]
        rest_api_id: String,
        #[arg(long)]
        resource_id: String,
        /// Access-Control-Allow-Origin.
        #[arg(long, default_value = "*")]
        allow_origin: String,
        /// Access-Control-Allow-Methods [default: the resource's methods and OPTIONS].
        #[arg(long)]
        allow_methods: Option<String>,
        /// Access-Control-Allow-Headers.
        #[arg(
            long,
            default_value = "Content-Type,X-Amz-Date,Authorization,X-Api-Key,X-Amz-Security-Token"
        )]
        allow_headers: String,
        /// Tollgate's (or AWS's) API Gateway endpoint.
        #[arg(
            long,
            env = "AWS_ENDPOINT_URL",
            default_value = "http://127.0.0.1:4566"
        )]
        endpoint_url: String,
        #[arg(long, env = "AWS_DEFAULT_REGION", default_value = "us-east-1")]
        region: String,
        /// Print the calls without sending them.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum LogsCommand {
    /// Print a log group's recent events, and with --follow new ones as they come.
    Tail {
        /// The log group, e.g. /aws/apigateway/multitalk or /aws/lambda/NAME.
        group: String,
        /// Tollgate's data directory [default: ./.tollgate].
        #[arg(long, env = "TOLLGATE_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// How far back to start, in seconds.
        #[arg(long, default_value_t = 600)]
        since: u64,
        /// Keep printing new events.
        #[arg(long, short)]
        follow: bool,
        /// A CloudWatch Logs filter pattern.
        #[arg(long)]
        filter_pattern: Option<String>,
    },
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Configuration file (default: ./tollgate.toml when it exists).
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:4566].
    #[arg(long, env = "TOLLGATE_LISTEN")]
    listen: Option<String>,
    /// Optional second address serving only deployed APIs (no control plane).
    #[arg(long, env = "TOLLGATE_PUBLIC_LISTEN")]
    public_listen: Option<String>,
    /// Directory of the embedded store [default: ./.tollgate].
    #[arg(long, env = "TOLLGATE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Account id shown in ARNs [default: 000000000000].
    #[arg(long, env = "TOLLGATE_ACCOUNT_ID")]
    account_id: Option<String>,
    /// Region shown in ARNs [default: us-east-1].
    #[arg(long, env = "TOLLGATE_REGION")]
    region: Option<String>,
    /// PEM file of extra CA certificates trusted for https upstreams.
    #[arg(long, env = "TOLLGATE_UPSTREAM_CA_FILE")]
    upstream_ca_file: Option<PathBuf>,
    /// Provision an example on start: `multitalk` (the seed guide's API, Lambda proxy,
    /// usage plan, key, logs and alarm, in front of the reference MultiTalk server).
    #[arg(long, value_parser = ["multitalk"])]
    example: Option<String>,
    /// With --example: the MultiTalk API to put behind the gateway (default: the
    /// reference server, started alongside, whose simulated jobs take a few seconds).
    #[arg(long, env = "MULTITALK_UPSTREAM_URL")]
    upstream: Option<String>,
    /// With --upstream: the key the MultiTalk API takes (`Authorization: Bearer`).
    #[arg(long, env = "MODAL_API_KEY", hide_env_values = true)]
    upstream_key: Option<String>,
    /// OTLP/HTTP collector (http://HOST:4318) that spans of stages with tracingEnabled go to.
    #[arg(long, env = "TOLLGATE_OTLP_ENDPOINT")]
    otlp_endpoint: Option<String>,
    /// An http:// upstream (HOST:PORT) to speak h2c to; repeat, or comma-separate in the environment.
    #[arg(long, env = "TOLLGATE_UPSTREAM_H2C", value_delimiter = ',')]
    upstream_h2c: Option<Vec<String>>,
    /// A proxy (IP or CIDR) whose X-Forwarded-For names the client; repeat, or
    /// comma-separate in the environment [default: none: the peer is the client].
    #[arg(long, env = "TOLLGATE_TRUSTED_PROXY", value_delimiter = ',')]
    trusted_proxy: Option<Vec<String>>,
    /// Seconds a client may make no progress (no whole request head, no piece
    /// of a body, no part of its response taken) before it is disconnected [default: 60].
    #[arg(long, env = "TOLLGATE_CLIENT_TIMEOUT")]
    client_timeout: Option<u64>,
    /// Open client connections allowed, every listener together; more get 503 [default: 10000].
    #[arg(long, env = "TOLLGATE_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// MiB of request bodies held in memory at once, every request together;
    /// a body past it gets 503 [default: 256].
    #[arg(long, env = "TOLLGATE_BODY_BUDGET_MIB")]
    body_budget_mib: Option<usize>,
    /// MiB the in-memory metric store may hold (15 days of one-minute
    /// statistics); past it the oldest minutes are forgotten first [default: 256].
    #[arg(long, env = "TOLLGATE_METRICS_BUDGET_MIB")]
    metrics_budget_mib: Option<usize>,
    /// The Python interpreter of python3.x Lambda functions [default: python3].
    #[arg(long, env = "TOLLGATE_LAMBDA_PYTHON")]
    lambda_python: Option<String>,
    /// The Node.js of nodejs* Lambda functions [default: node].
    #[arg(long, env = "TOLLGATE_LAMBDA_NODE")]
    lambda_node: Option<String>,
    /// Lambda invocations running at once, every function together [default: 64].
    #[arg(long, env = "TOLLGATE_LAMBDA_MAX_WORKERS")]
    lambda_max_workers: Option<usize>,
    /// Seconds an idle warm Lambda worker is kept [default: 600].
    #[arg(long, env = "TOLLGATE_LAMBDA_IDLE_TIMEOUT")]
    lambda_idle_timeout: Option<u64>,
    /// File holding the 32-byte key Secrets Manager values are sealed with
    /// [default: DATA_DIR/secrets.key, made on first start].
    #[arg(long, env = "TOLLGATE_SECRETS_KEY_FILE")]
    secrets_key_file: Option<PathBuf>,
    /// Seconds open connections get to finish their requests on SIGTERM or
    /// SIGINT before the process exits anyway; a second signal exits at once [default: 30].
    #[arg(long, env = "TOLLGATE_SHUTDOWN_GRACE_SECS")]
    shutdown_grace_secs: Option<u64>,
    /// PEM certificate chain: TLS (1.2 and 1.3, ALPN h2 and http/1.1) on every
    /// listener; with --tls-key. SIGHUP reloads both files.
    #[arg(long, env = "TOLLGATE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "TOLLGATE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Where the configuration is stored: postgres://user@host:port/database,
    /// shared by every instance given the same URL [default: the embedded
    /// store in --data-dir].
    #[arg(long, env = "TOLLGATE_STORE", hide_env_values = true)]
    store: Option<String>,
    /// Admin access key id for SigV4 [default: test, loopback only].
    #[arg(long, env = "TOLLGATE_ACCESS_KEY_ID")]
    access_key_id: Option<String>,
    /// Admin secret access key for SigV4 [default: test, loopback only].
    #[arg(long, env = "TOLLGATE_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: Option<String>,
    #[command(flatten)]
    counters: tollgate::counters::CountersArgs,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOLLGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Operators' logs: text by default, one JSON object per line with
    // TOLLGATE_LOG_FORMAT=json (for log shippers).
    match std::env::var("TOLLGATE_LOG_FORMAT").as_deref() {
        Ok("json") => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok("text") | Err(_) => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        Ok(other) => {
            tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .init();
            tracing::warn!(format = %other, "TOLLGATE_LOG_FORMAT is text or json; using text");
        }
    }
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Migrate { from, to, replace } => tollgate::migrate::migrate(
            &tollgate::migrate::MigrateArgs {
                from: &from,
                to: &to,
                replace,
            },
            &mut std::io::stdout().lock(),
        ),
        Command::Apply {
            file,
            stage,
            rest_api_id,
            endpoint_url,
            region,
            dry_run,
        } => tollgate::apply::apply(
            tollgate::apply::ApplyArgs {
                endpoint: endpoint_url,
                region,
                credentials: cli_credentials(),
                file,
                rest_api_id,
                stage,
                dry_run,
            },
            &mut std::io::stdout().lock(),
        ),
        Command::Cors {
            command:
                CorsCommand::Enable {
                    rest_api_id,
                    resource_id,
                    allow_origin,
                    allow_methods,
                    allow_headers,
                    endpoint_url,
                    region,
                    dry_run,
                },
        } => tollgate::cors_cli::enable(
            tollgate::cors_cli::CorsArgs {
                endpoint: endpoint_url,
                region,
                credentials: cli_credentials(),
                rest_api_id,
                resource_id,
                allow_origin,
                allow_methods,
                allow_headers,
                dry_run,
            },
            &mut std::io::stdout().lock(),
        ),
        Command::Logs {
            command:
                LogsCommand::Tail {
                    group,
                    data_dir,
                    since,
                    follow,
                    filter_pattern,
                },
        } => {
            let data_dir =
                data_dir.unwrap_or_else(|| PathBuf::from(tollgate::config::DEFAULT_DATA_DIR));
            tollgate::logs_tail::tail(
                tollgate::logs_tail::TailArgs {
                    data_dir: &data_dir,
                    group: &group,
                    since: std::time::Duration::from_secs(since),
                    follow,
                    filter_pattern: filter_pattern.as_deref(),
                },
                &mut std::io::stdout().lock(),
            )
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let example = args.example.clone();
    let upstream = args.upstream.clone();
    let upstream_key = args.upstream_key.clone();
    let file = match &args.config {
        Some(path) => FileConfig::load(path, true)?,
        None => FileConfig::load(std::path::Path::new("tollgate.toml"), false)?,
    };
    let config = Config::resolve(
        file,
        Overrides {
            listen: args.listen,
            public_listen: args.public_listen,
            data_dir: args.data_dir,
            account_id: args.account_id,
            region: args.region,
            access_key_id: args.access_key_id,
            secret_access_key: args.secret_access_key,
            upstream_ca_file: args.upstream_ca_file,
            upstream_h2c: args.upstream_h2c,
            trusted_proxies: args.trusted_proxy,
            client_timeout: args.client_timeout,
            max_connections: args.max_connections,
            body_budget_mib: args.body_budget_mib,
            metrics_budget_mib: args.metrics_budget_mib,
            lambda_python: args.lambda_python,
            lambda_node: args.lambda_node,
            lambda_max_workers: args.lambda_max_workers,
            lambda_idle_timeout: args.lambda_idle_timeout,
            secrets_key_file: args.secrets_key_file,
            otlp_endpoint: args.otlp_endpoint,
            shutdown_grace_secs: args.shutdown_grace_secs,
            tls_cert: args.tls_cert,
            tls_key: args.tls_key,
            store: args.store,
            counters: args.counters,
        },
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let server = Server::bind(&config)?;
        // Before the ready line: a signal sent as soon as it is seen must
        // find the handlers in place.
        let signals = Signals::new();
        let reload = server.tls().map(reload_tls_on_sighup);
        let addr = server.local_addr()?;
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        // Tests and scripts wait for this line.
        let mut stdout = std::io::stdout();
        writeln!(stdout, "tollgate listening on {scheme}://{addr}")?;
        if let Some(public) = server.public_addr() {
            writeln!(stdout, "tollgate public data plane on {scheme}://{public}")?;
        }
        if let Some(reload) = reload {
            tokio::spawn(reload);
        }
        stdout.flush()?;
        tracing::info!(%addr, data_dir = %config.data_dir.display(), store = ?config.store, region = %config.region, "serving");
        if example.is_some() {
            let endpoint = format!("http://{addr}");
            let app = server.app();
            let provisioning = async {
                let result = example_multitalk(app, &endpoint, &config, upstream, upstream_key).await;
                if let Err(e) = result {
                    eprintln!("the MultiTalk example could not be set up: {e:#}");
                }
            };
            let (served, ()) = tokio::join!(server.run(shutdown_signal(signals)), provisioning);
            served?;
            tracing::info!("stopped");
            return Ok(());
        }
        server.run(shutdown_signal(signals)).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

/// `--example multitalk`: the reference upstream (unless one is named),
/// the seed's configuration, and what to try.
async fn example_multitalk(
    app: std::sync::Arc<tollgate::app::App>,
    endpoint: &str,
    config: &Config,
    upstream: Option<String>,
    upstream_key: Option<String>,
) -> anyhow::Result<()> {
    use tollgate::example::{provision_multitalk, Upstream};
    let (upstream, described) = match upstream {
        Some(url) => (
            Upstream {
                url: url.clone(),
                key: upstream_key.unwrap_or_default(),
            },
            format!("the MultiTalk API at {url}"),
        ),
        None => {
            let key = format!("{:032x}", rand::random::<u128>());
            let server = multitalk_upstream::bind(
                "127.0.0.1:0",
                multitalk_upstream::UpstreamConfig {
                    api_keys: vec![key.clone()],
                    job_duration: std::time::Duration::from_secs(6),
                    ..Default::default()
                },
            )
            .await?;
            let url = format!("http://{}", server.local_addr());
            tokio::spawn(server.run(std::future::pending()));
            (
                Upstream { url: url.clone(), key },
                format!("the reference MultiTalk server at {url} (simulated jobs: no model runs; they complete in about 6 s)"),
            )
        }
    };
    let made = provision_multitalk(
        app,
        endpoint,
        &config.data_dir,
        &config.lambda.python,
        &upstream,
    )
    .await?;
    let url = &made.invoke_url;
    let key = &made.api_key;
    let through = if made.lambda {
        "the guide's Lambda proxy"
    } else {
        "an HTTP_PROXY integration (pip could not install `requests` for the Lambda proxy)"
    };
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "MultiTalk example ready: API {} through {through}, in front of {described}",
        made.api_id
    )?;
    writeln!(out, "  invoke URL: {url}")?;
    writeln!(out, "  API key:    {key}")?;
    writeln!(out, "Try:")?;
    writeln!(out, "  curl -X POST {url}/api/v1/generate -H 'x-api-key: {key}' -H 'Content-Type: application/json' -d '{{\"prompt\": \"A person speaking\", \"image_s3_url\": \"s3://bucket/image.png\", \"audio_s3_urls\": [\"s3://bucket/audio.wav\"]}}'")?;
    writeln!(out, "  curl {url}/api/v1/jobs -H 'x-api-key: {key}'")?;
    writeln!(out, "  python3 -c 'import sys; sys.path.insert(0, \"examples/multitalk\"); from multitalk_client import MultitalkClient; c = MultitalkClient(\"{url}\", \"{key}\"); print(c.generate_video(\"A person speaking\", \"s3://bucket/image.png\", [\"s3://bucket/audio.wav\"]))'")?;
    out.flush()?;
    Ok(())
}

/// Resolves on the first SIGTERM or SIGINT (graceful shutdown begins), and
/// leaves a task that exits the process at once on the second.
async fn shutdown_signal(mut signals: Signals) {
    let (first, first_seen) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        signals.next().await;
        let _ = first.send(());
        signals.next().await;
        tracing::warn!("second signal: exiting without waiting for requests in flight");
        // 128 + SIGINT, as a shell reports an interrupted command.
        std::process::exit(130);
    });
    let _ = first_seen.await;
    tracing::info!("signal received: no new connections; finishing requests in flight");
}

/// Reloads the certificate and key on each SIGHUP; a bad file is logged and
/// the certificate in use stays. SIGHUP is caught from the call on (its
/// default would end the process).
fn reload_tls_on_sighup(
    tls: std::sync::Arc<tollgate::tls::Tls>,
) -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        {
            let Ok(mut hangups) = hangups else {
                tracing::warn!("cannot listen for SIGHUP: the certificate will not be reloaded");
                return;
            };
            while hangups.recv().await.is_some() {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate reloaded"),
                    Err(e) => tracing::error!(
                        error = format!("{e:#}"),
                        "SIGHUP: TLS certificate not reloaded; the previous one stays"
                    ),
                }
            }
        }
        #[cfg(not(unix))]
        let _ = tls;
    }
}

/// SIGTERM and SIGINT, listened for from the start (a stream made after a
/// signal would not see it).
struct Signals {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    int: Option<tokio::signal::unix::Signal>,
}

impl Signals {
    fn new() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Signals {
                term: signal(SignalKind::terminate()).ok(),
                int: signal(SignalKind::interrupt()).ok(),
            }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        {
            async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
                match s {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending().await,
                }
            }
            tokio::select! {
                () = recv(&mut self.term) => {},
                () = recv(&mut self.int) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The credentials the configuring commands sign with: the AWS CLI's
/// environment variables, else Tollgate's local defaults.
fn cli_credentials() -> tollgate_aws::sigv4::Credentials {
    tollgate_aws::sigv4::Credentials::new(
        std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "test".into()),
        std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "test".into()),
    )
}
