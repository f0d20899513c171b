//! Tollgate as a library: configuration and the server wiring. The `tollgate`
//! binary is a thin command line over [`run`]; integration tests start the same
//! server in-process.

pub mod app;
pub mod apply;
pub mod config;
mod connection;
pub mod control_client;
pub mod cors_cli;
pub mod counters;
pub mod example;
mod front_door;
mod idempotency_store;
mod lambda;
pub mod listener;
pub mod logs_tail;
pub mod migrate;
mod observe_api;
mod prometheus;
pub mod shutdown;
pub mod tls;
pub mod usage_flush;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tollgate_control::{ControlConfig, ControlPlane};
use tollgate_gateway::{Gateway, GatewaySettings, IamCredentials, UpstreamClient};
use tollgate_store::{PostgresStore, SqliteStore, Store};

pub use config::Config;

/// A bound, loaded server ready to [`Server::run`].
pub struct Server {
    listener: std::net::TcpListener,
    public_listener: Option<std::net::TcpListener>,
    app: Arc<app::App>,
    /// Turned on when shutting down; connections watch it through `app`.
    closing: tokio::sync::watch::Sender<bool>,
    shutdown_grace: std::time::Duration,
}

/// The key Secrets Manager values are sealed with: the configured file, or
/// `{data dir}/secrets.key`, made (32 random bytes, mode 0600) on first start.
fn secrets_key(config: &Config) -> anyhow::Result<tollgate_control::sealing::SealingKey> {
    let path = config
        .secrets_key_file
        .clone()
        .unwrap_or_else(|| config.data_dir.join("secrets.key"));
    if !path.exists() && config.secrets_key_file.is_none() {
        std::fs::create_dir_all(&config.data_dir)?;
        let key: [u8; 32] = rand::random();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&path)
            .with_context(|| format!("cannot create the secrets key {}", path.display()))?;
        std::io::Write::write_all(&mut file, &key)?;
    }
    let key = std::fs::read(&path)
        .with_context(|| format!("cannot read the secrets key {}", path.display()))?;
    tollgate_control::sealing::SealingKey::new(&key)
        .with_context(|| format!("the secrets key {} must be 32 bytes", path.display()))
}

/// The configured store: the embedded one in the data directory, or PostgreSQL.
pub fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match &config.store {
        config::StoreLocation::Embedded => {
            Arc::new(SqliteStore::open(&config.data_dir).with_context(|| {
                format!("cannot open the store in {}", config.data_dir.display())
            })?)
        }
        config::StoreLocation::Postgres(url) => Arc::new(
            PostgresStore::open(url)
                .with_context(|| format!("cannot open the store {:?}", config.store))?,
        ),
    })
}

/// Binds a non-blocking listener that every worker thread can accept from.
fn listen(addr: std::net::SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener =
        std::net::TcpListener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

impl Server {
    /// Opens the store, loads the state and binds the listener.
    pub fn bind(config: &Config) -> anyhow::Result<Server> {
        let store = open_store(config)?;
        let control = ControlPlane::open(
            store,
            ControlConfig {
                account_id: config.account_id.clone(),
                region: config.region.clone(),
            },
        )
        .context("cannot load the stored state")?
        .with_sealing_key(secrets_key(config)?);
        let extra_roots = match &config.upstream_ca_file {
            Some(path) => UpstreamClient::read_ca_file(path)?,
            None => Vec::new(),
        };
        // Installed before anything records a metric.
        let _ = prometheus::handle();
        let body_budget = tollgate_http1::BodyBudget::new(config.body_budget);
        let settings = GatewaySettings {
            account_id: config.account_id.as_str().into(),
            iam: IamCredentials {
                secrets: app::admin_secrets(&config.credentials),
                region: config.region.clone(),
            },
            body_budget: body_budget.clone(),
            body_timeout: config.client_timeout,
            trusted_proxies: config.trusted_proxies.clone(),
        };
        let listener = listen(config.listen)?;
        let public_listener = config.public_listen.map(listen).transpose()?;
        let scheme = if config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let endpoint = format!("{scheme}://{}", listener.local_addr()?);
        let observe = Arc::new(
            tollgate_observe::Observatory::start(tollgate_observe::ObserveConfig {
                data_dir: &config.data_dir,
                instance: &tollgate_observe::instance_name(),
                region: &config.region,
                account_id: &config.account_id,
                public_base: &endpoint,
                client: UpstreamClient::with_extra_roots(&extra_roots)?,
                otlp_endpoint: config.otlp_endpoint.as_deref(),
                shared_store: match &config.store {
                    config::StoreLocation::Postgres(url) => Some(url),
                    config::StoreLocation::Embedded => None,
                },
                metrics_budget_bytes: config.metrics_budget,
            })
            .with_context(|| {
                format!(
                    "cannot start the log and monitoring stores in {}",
                    config.data_dir.display()
                )
            })?,
        );
        let lambda_dir = config.data_dir.join("lambda");
        let lambda = tollgate_lambda::LambdaHost::start(tollgate_lambda::HostConfig {
            data_dir: lambda_dir.clone(),
            interpreters: tollgate_lambda::Interpreters::resolve(
                &config.lambda.python,
                &config.lambda.node,
            ),
            max_workers: config.lambda.max_workers,
            idle_timeout: config.lambda.idle_timeout,
            base_env: lambda::base_environment(&config.region, &endpoint, &config.credentials),
            log_forward: Some(lambda::log_forward(&observe)),
            on_invocation: Some(lambda::invocation_observer(&observe)),
        })
        .with_context(|| format!("cannot start the Lambda host in {}", lambda_dir.display()))?;
        let mut gateway = Gateway::new(settings)
            .with_upstream_client(
                UpstreamClient::with_extra_roots(&extra_roots)?
                    .with_h2c_upstreams(&config.upstream_h2c),
            )
            .with_function_invoker(Arc::new(lambda::HostInvoker(lambda.clone())))
            .with_idempotency_store(Arc::new(
                idempotency_store::SqliteIdempotency::open(&config.data_dir).with_context(
                    || {
                        format!(
                            "cannot open the idempotency store in {}",
                            config.data_dir.display()
                        )
                    },
                )?,
            ));
        let mut control = control;
        if let Some(settings) = &config.counters {
            let shared = counters::start(settings, gateway.clock())?;
            control = control.with_usage_counts(Arc::new(counters::SharedUsage(shared.clone())));
            gateway = gateway.with_shared_counters(shared);
        }
        let gateway = Arc::new(gateway);
        let control = Arc::new(control);
        let code_root = lambda_dir.join("code");
        std::fs::create_dir_all(&code_root)
            .with_context(|| format!("cannot create {}", code_root.display()))?;
        let functions =
            lambda::FunctionSync::start(lambda.clone(), Arc::downgrade(&control), code_root);
        gateway.add_observer(observe.hub.clone());
        {
            // Every committed change recompiles what the data plane serves,
            // and keeps the Lambda host's functions and the observers in step.
            let gateway = gateway.clone();
            let observe = observe.clone();
            control.subscribe(Box::new(move |state, changes| {
                gateway.update(state, changes);
                functions.update(state, changes);
                observe.update(state);
            }));
        }
        // Changes other instances make to a shared store, applied as ours are.
        control.follow_store();
        let (closing, closing_seen) = shutdown::closing_channel();
        let tls = match &config.tls {
            Some(files) => Some(Arc::new(tls::Tls::load(&files.cert, &files.key)?)),
            None => {
                if !config.listen.ip().is_loopback() {
                    tracing::warn!(
                        listen = %config.listen,
                        "the control plane listens beyond loopback without TLS: admin requests and API keys cross the network in clear (--tls-cert, --tls-key)"
                    );
                }
                None
            }
        };
        Ok(Server {
            listener,
            public_listener,
            closing,
            shutdown_grace: config.shutdown_grace,
            app: Arc::new(
                app::App::new(
                    control,
                    gateway,
                    lambda,
                    observe,
                    &config.credentials,
                    app::ClientLimits {
                        client_timeout: config.client_timeout,
                        connections: listener::ConnectionLimit::new(config.max_connections),
                        body_budget,
                    },
                    closing_seen,
                )
                .with_tls(tls),
            ),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// What every connection shares (the example provisions through it).
    pub fn app(&self) -> Arc<app::App> {
        self.app.clone()
    }

    /// The data plane, for observers registered before serving (tests, tools).
    pub fn gateway(&self) -> Arc<Gateway> {
        self.app.gateway.clone()
    }

    /// TLS, when configured: [`tls::Tls::reload`] swaps the certificate.
    pub fn tls(&self) -> Option<Arc<tls::Tls>> {
        self.app.tls.clone()
    }

    pub fn public_addr(&self) -> Option<std::net::SocketAddr> {
        self.public_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves, on the calling (current-thread)
    /// runtime plus one more single-threaded runtime per remaining CPU; then
    /// stops accepting, lets open connections finish their requests within
    /// the grace period ([`shutdown`]), and writes the last usage counts.
    ///
    /// Thread per core: each thread accepts connections and serves them to the
    /// end, with its own upstream pool, so a request never hops between threads.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let observe = self.app.observe.clone();
        let wait_for_stop = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stopped.wait_for(|s| *s).await;
        };
        let cpus = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let mut workers = Vec::new();
        let mut handoffs = Vec::new();
        for i in 1..cpus {
            let (handoff, connections) = tokio::sync::mpsc::unbounded_channel();
            handoffs.push(handoff);
            let app = self.app.clone();
            let stopped = stopped.clone();
            let worker = std::thread::Builder::new()
                .name(format!("tollgate-worker-{i}"))
                .spawn(move || -> anyhow::Result<()> {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()?;
                    runtime.block_on(async move {
                        tokio::select! {
                            () = listener::serve_handed_over(app, connections) => {},
                            () = wait_for_stop(stopped) => {},
                        }
                    });
                    Ok(())
                })?;
            workers.push(worker);
        }
        let flusher = tokio::spawn(usage_flush::run(
            self.app.control.clone(),
            self.app.gateway.clone(),
            stopped.clone(),
        ));
        let connections = self.app.limits.connections.clone();
        let public = match self.public_listener {
            Some(listener) => {
                let app = Arc::new(self.app.data_plane_only());
                let listener = TcpListener::from_std(listener)?;
                let stop_public = wait_for_stop(self.app.closing.clone());
                Some(tokio::spawn(async move {
                    listener::serve(listener, app, stop_public, &[]).await
                }))
            }
            None => None,
        };
        listener::serve(
            TcpListener::from_std(self.listener)?,
            self.app,
            shutdown,
            &handoffs,
        )
        .await?;
        // The listeners are closed (new connections are refused); open ones
        // end as soon as they hold no request.
        let _ = self.closing.send(true);
        let open = connections.open();
        if open > 0 {
            tracing::info!(
                open,
                grace_secs = self.shutdown_grace.as_secs(),
                "shutting down: finishing requests in flight"
            );
        }
        let left = shutdown::drain(&connections, self.shutdown_grace).await;
        if left > 0 {
            tracing::warn!(
                left,
                "grace period over: closing connections with requests in flight"
            );
        }
        let _ = stop.send(true);
        drop(handoffs);
        if let Some(public) = public {
            public.await??;
        }
        let joined = tokio::task::spawn_blocking(move || {
            for worker in workers {
                match worker.join() {
                    Ok(result) => result?,
                    Err(_) => anyhow::bail!("a worker thread panicked"),
                }
            }
            Ok(())
        });
        joined.await??;
        // Counts of the last requests are written before the process exits.
        flusher.await?;
        tokio::task::spawn_blocking(move || {
            // The last requests' log lines, metrics and spans are written.
            if !observe.flush(shutdown::OBSERVERS_FLUSH_LIMIT) {
                tracing::warn!(
                    limit_secs = shutdown::OBSERVERS_FLUSH_LIMIT.as_secs(),
                    "the observers did not write everything in time: the last requests' log lines or spans may be missing"
                );
            }
            // With a shared store, the other instances get this one's last minutes.
            observe.flush_shared();
        })
        .await?;
        Ok(())
    }
}
