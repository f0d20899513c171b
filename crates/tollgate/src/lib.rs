//! Tollgate as a library: configuration and the server wiring. The `tollgate`
//! binary is a thin command line over [`run`]; integration tests start the same
//! server in-process.

pub mod config;
pub mod server;
pub mod usage_flush;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tollgate_control::{ControlConfig, ControlPlane};
use tollgate_gateway::{Gateway, UpstreamClient};
use tollgate_store::SqliteStore;

pub use config::Config;

/// A bound, loaded server ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
    public_listener: Option<TcpListener>,
    app: Arc<server::App>,
}

impl Server {
    /// Opens the store, loads the state and binds the listener.
    pub async fn bind(config: &Config) -> anyhow::Result<Server> {
        let store = SqliteStore::open(&config.data_dir)
            .with_context(|| format!("cannot open the store in {}", config.data_dir.display()))?;
        let control = ControlPlane::open(
            Arc::new(store),
            ControlConfig {
                account_id: config.account_id.clone(),
                region: config.region.clone(),
            },
        )
        .context("cannot load the stored state")?;
        let extra_roots = match &config.upstream_ca_file {
            Some(path) => UpstreamClient::read_ca_file(path)?,
            None => Vec::new(),
        };
        let gateway = Arc::new(
            Gateway::new(&config.account_id)
                .with_upstream_client(UpstreamClient::with_extra_roots(&extra_roots)?),
        );
        {
            // Every committed change recompiles what the data plane serves.
            let gateway = gateway.clone();
            control.subscribe(Box::new(move |state, changes| {
                gateway.update(state, changes)
            }));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let public_listener = match config.public_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr}"))?,
            ),
            None => None,
        };
        Ok(Server {
            listener,
            public_listener,
            app: Arc::new(server::App::new(
                Arc::new(control),
                gateway,
                &config.credentials,
            )),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    pub fn public_addr(&self) -> Option<std::net::SocketAddr> {
        self.public_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let flusher = tokio::spawn(usage_flush::run(
            self.app.control.clone(),
            self.app.gateway.clone(),
            stopped.clone(),
        ));
        let public = self.public_listener.map(|listener| {
            let app = Arc::new(self.app.data_plane_only());
            let mut stopped = stopped.clone();
            tokio::spawn(server::serve(listener, app, async move {
                let _ = stopped.wait_for(|s| *s).await;
            }))
        });
        server::serve(self.listener, self.app, shutdown).await?;
        let _ = stop.send(true);
        if let Some(public) = public {
            public.await??;
        }
        // Counts of the last requests are written before the process exits.
        flusher.await?;
        Ok(())
    }
}
