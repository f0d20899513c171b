//! How the stand-in behaves: who may call it, how long a job takes, what fails.

use std::time::Duration;

/// Settings of one stand-in server, fixed at [`bind`](crate::bind).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Accepted bearer tokens. Empty is api.py's development mode: any bearer
    /// token is accepted (a missing one is still refused).
    pub api_keys: Vec<String>,
    /// How long a job takes from submission to `completed` (or `failed`); its
    /// status and progress are derived from the time elapsed against this.
    pub job_duration: Duration,
    /// Jobs whose prompt contains this text end `failed` instead of `completed`.
    pub fail_prompts_containing: Option<String>,
    /// Artificial latency before every API response, for timeout tests. The
    /// test hooks and `/bench` are answered at once.
    pub response_delay: Duration,
}

impl Default for UpstreamConfig {
    fn default() -> Self {
        UpstreamConfig {
            api_keys: Vec::new(),
            job_duration: Duration::from_secs(20),
            fail_prompts_containing: None,
            response_delay: Duration::ZERO,
        }
    }
}
