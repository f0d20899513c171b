//! The `multitalk-upstream` command: wires flags to the library and runs it.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use multitalk_upstream::{bind, UpstreamConfig};

#[derive(Parser)]
#[command(
    name = "multitalk-upstream",
    version,
    about = "Development stand-in for the MeiGen-MultiTalk job API (it does not run the model)",
    long_about = "Development stand-in for the MeiGen-MultiTalk job API (/api/v1, as api.py serves it).\n\
        It does NOT run the model: jobs go pending -> processing -> completed on a timer and \
        their outputs point nowhere. For developing and testing Tollgate.\n\n\
        Test hooks: GET/DELETE /_upstream/requests (recorded requests). Benchmarks: GET /bench."
)]
struct Cli {
    /// Address to listen on.
    #[arg(
        long,
        env = "MULTITALK_UPSTREAM_LISTEN",
        default_value = "127.0.0.1:8000"
    )]
    listen: String,
    /// Accepted bearer token (repeatable). None: any bearer token is accepted (development mode).
    #[arg(
        long = "api-key",
        env = "MULTITALK_API_KEYS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    api_keys: Vec<String>,
    /// Seconds a job takes from submission to completed (fractions allowed).
    #[arg(long, default_value_t = 20.0)]
    job_seconds: f64,
    /// Milliseconds of artificial latency before every API response.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Jobs whose prompt contains this text end failed.
    #[arg(long)]
    fail_prompts_containing: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let job_duration = Duration::try_from_secs_f64(cli.job_seconds)
        .context("--job-seconds must be a non-negative number")?;
    let config = UpstreamConfig {
        api_keys: cli
            .api_keys
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !k.is_empty())
            .collect(),
        job_duration,
        fail_prompts_containing: cli.fail_prompts_containing,
        response_delay: Duration::from_millis(cli.delay_ms),
    };
    if config.api_keys.is_empty() {
        tracing::warn!("no API keys configured: accepting any bearer token (development mode)");
    }
    let upstream = bind(cli.listen.as_str(), config)
        .await
        .with_context(|| format!("cannot listen on {}", cli.listen))?;
    let mut stdout = std::io::stdout();
    writeln!(
        stdout,
        "multitalk-upstream listening on http://{}",
        upstream.local_addr()
    )?;
    stdout.flush()?;
    upstream.run(shutdown_signal()).await?;
    Ok(())
}

/// Ctrl-C, or SIGTERM where there is one.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
