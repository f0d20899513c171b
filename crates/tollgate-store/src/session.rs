//! A PostgreSQL connection for Tollgate's other shared tables (the
//! observers' logs and metrics), made the way [`crate::PostgresStore`] makes
//! its own: tokio-postgres on a small runtime of the session's own, behind a
//! synchronous call that is safe from any thread, one connection reopened
//! on the next call after it is lost, and the schema brought up to date with
//! the same migrations (one version sequence for every table Tollgate keeps
//! in the database).
//!
//! Callers are background threads (log writers, the metrics publisher) and
//! control-plane style reads (`aws logs` queries); nothing on the request
//! path calls a session.

use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedMutexGuard};
use tokio_postgres::{Client, NoTls};

use crate::postgres::{configure, migrate, pg_error, RECONNECT_PAUSE};
use crate::StoreError;

/// How long one call may take before it counts as unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// One connection to the shared database, with a runtime to drive it.
pub struct PgSession {
    /// Taken on drop and shut down in the background.
    runtime: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
}

struct Shared {
    config: tokio_postgres::Config,
    client: Arc<Mutex<Option<Client>>>,
    failed_at: std::sync::Mutex<Option<std::time::Instant>>,
}

/// The session's connection, held for the length of one call.
pub struct Connected(OwnedMutexGuard<Option<Client>>);

impl Deref for Connected {
    type Target = Client;
    fn deref(&self) -> &Client {
        // `connect` only hands out a guard holding a client.
        self.0.as_ref().expect("a connected session holds a client")
    }
}

impl DerefMut for Connected {
    fn deref_mut(&mut self) -> &mut Client {
        self.0.as_mut().expect("a connected session holds a client")
    }
}

impl PgSession {
    /// Connects to `url` and brings the schema up to date; `name` names the
    /// runtime's thread.
    pub fn open(url: &str, name: &str) -> Result<PgSession, StoreError> {
        let config = configure(url)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot start a runtime: {e}")))?;
        let session = PgSession {
            runtime: Some(runtime),
            shared: Arc::new(Shared {
                config,
                client: Arc::new(Mutex::new(None)),
                failed_at: std::sync::Mutex::new(None),
            }),
        };
        session.call(|mut client: Connected| async move { migrate(&mut client).await })?;
        Ok(session)
    }

    /// Runs `f` with the connection on the session's runtime and waits for
    /// it (at most [`CALL_TIMEOUT`]), from any thread.
    pub fn call<T, E, F, Fut>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
        F: FnOnce(Connected) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, E>> + Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Err(StoreError::Unavailable("the session is closed".into()).into());
        };
        let shared = self.shared.clone();
        let (done, result) = std::sync::mpsc::sync_channel(1);
        runtime.spawn(async move {
            let run = async {
                let client = shared.connect().await?;
                f(client).await
            };
            let outcome = match tokio::time::timeout(CALL_TIMEOUT, run).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    // The next call starts on a fresh connection.
                    if let Ok(mut guard) = shared.client.try_lock() {
                        *guard = None;
                    }
                    Err(StoreError::Unavailable(format!(
                        "no answer within {} s",
                        CALL_TIMEOUT.as_secs()
                    ))
                    .into())
                }
            };
            let _ = done.send(outcome);
        });
        result
            .recv()
            .map_err(|_| StoreError::Unavailable("the session's runtime stopped".into()))?
    }
}

impl Drop for PgSession {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Shared {
    /// The connection, (re)opened if there is none or it was lost; calls
    /// within [`RECONNECT_PAUSE`] of a failed attempt fail at once.
    async fn connect(&self) -> Result<Connected, StoreError> {
        let mut guard = self.client.clone().lock_owned().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            let paused = self
                .failed_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .is_some_and(|at| at.elapsed() < RECONNECT_PAUSE);
            if paused {
                return Err(StoreError::Unavailable(
                    "not connected (the last attempt failed just now)".into(),
                ));
            }
            let connected = self.config.connect(NoTls).await;
            *self.failed_at.lock().unwrap_or_else(|e| e.into_inner()) =
                connected.is_err().then(std::time::Instant::now);
            let (client, connection) =
                connected.map_err(|e| StoreError::Unavailable(format!("cannot connect: {e}")))?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "PostgreSQL connection lost");
                }
            });
            *guard = Some(client);
        }
        Ok(Connected(guard))
    }
}

/// A tokio-postgres error as a store error (connection trouble is
/// [`StoreError::Unavailable`]), for callers' own statements.
pub fn database_error(e: tokio_postgres::Error) -> StoreError {
    pg_error(e)
}
