//! What every connection shares: the control plane, the data plane, the
//! admin secrets and the limits on what clients may take.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tollgate_aws::sigv4::Credentials;
use tollgate_control::ControlPlane;
use tollgate_gateway::Gateway;

use crate::listener::ConnectionLimit;

/// Largest control-plane request body (ImportRestApi allows 6 MB of OpenAPI).
pub const MAX_CONTROL_BODY: usize = 6 * 1024 * 1024;

/// Largest CreateFunction or UpdateFunctionCode body: a 50 MB zip, base64
/// in JSON.
pub const MAX_FUNCTION_CODE_BODY: usize = 70 * 1024 * 1024;

/// Limits on clients, from the configuration.
#[derive(Debug, Clone)]
pub struct ClientLimits {
    /// A client that makes no progress for this long is disconnected (see
    /// [`tollgate_http1::server::Limits::client_timeout`]); an h2c
    /// connection with nothing in flight for this long is shut down.
    pub client_timeout: Duration,
    /// Open client connections, every listener together.
    pub connections: Arc<ConnectionLimit>,
    /// Request bodies in memory, every connection together (the gateway
    /// takes HTTP/2 bodies from the same budget).
    pub body_budget: Arc<tollgate_http1::BodyBudget>,
}

impl ClientLimits {
    pub fn http1(&self) -> tollgate_http1::server::Limits {
        tollgate_http1::server::Limits {
            // Bodies are read up to the data plane's payload limit (the
            // control plane's is lower); longer ones are refused by each.
            max_body: tollgate_gateway::MAX_PAYLOAD
                .max(MAX_CONTROL_BODY)
                .max(MAX_FUNCTION_CODE_BODY),
            client_timeout: self.client_timeout,
            body_budget: self.body_budget.clone(),
            refusal: crate::front_door::refusal,
        }
    }
}

#[derive(Clone)]
pub struct App {
    pub control: Arc<ControlPlane>,
    pub gateway: Arc<Gateway>,
    pub lambda: Arc<tollgate_lambda::LambdaHost>,
    /// Logs (and, as they come, metrics, alarms and traces).
    pub observe: Arc<tollgate_observe::Observatory>,
    /// Admin secrets by access key id.
    pub secrets: Arc<HashMap<String, String>>,
    /// On the public listener only deployed APIs are served.
    pub data_plane_only: bool,
    pub limits: ClientLimits,
    /// Turns true when a graceful shutdown begins (see [`crate::shutdown`]).
    pub closing: tokio::sync::watch::Receiver<bool>,
    /// TLS on every listener, when configured.
    pub tls: Option<Arc<crate::tls::Tls>>,
}

impl App {
    pub fn new(
        control: Arc<ControlPlane>,
        gateway: Arc<Gateway>,
        lambda: Arc<tollgate_lambda::LambdaHost>,
        observe: Arc<tollgate_observe::Observatory>,
        credentials: &[Credentials],
        limits: ClientLimits,
        closing: tokio::sync::watch::Receiver<bool>,
    ) -> App {
        App {
            control,
            gateway,
            lambda,
            observe,
            secrets: Arc::new(admin_secrets(credentials)),
            data_plane_only: false,
            limits,
            closing,
            tls: None,
        }
    }

    /// Serves every connection over TLS.
    pub fn with_tls(self, tls: Option<Arc<crate::tls::Tls>>) -> App {
        App { tls, ..self }
    }

    /// The same application for the public, data-plane-only listener.
    pub fn data_plane_only(&self) -> App {
        App {
            secrets: Arc::new(HashMap::new()),
            data_plane_only: true,
            ..self.clone()
        }
    }
}

/// Secret access keys by access key id.
pub fn admin_secrets(credentials: &[Credentials]) -> HashMap<String, String> {
    credentials
        .iter()
        .map(|c| (c.access_key_id.clone(), c.secret_access_key.clone()))
        .collect()
}
