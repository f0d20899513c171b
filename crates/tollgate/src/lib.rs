//! Tollgate as a library: configuration and the server wiring. The `tollgate`
//! binary is a thin command line over [`run`]; integration tests start the same
//! server in-process.

pub mod config;
pub mod server;

use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tollgate_control::{ControlConfig, ControlPlane};
use tollgate_gateway::Gateway;
use tollgate_store::SqliteStore;

pub use config::Config;

/// A bound, loaded server ready to [`Server::run`].
pub struct Server {
    listener: TcpListener,
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
        let gateway = Arc::new(Gateway::new(&config.account_id));
        {
            // Every committed change recompiles what the data plane serves.
            let gateway = gateway.clone();
            control.subscribe(Box::new(move |state| gateway.update(state)));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        Ok(Server {
            listener,
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

    /// Serves until `shutdown` resolves.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
        server::serve(self.listener, self.app, shutdown).await?;
        Ok(())
    }
}
