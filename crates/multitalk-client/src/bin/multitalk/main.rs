//! `multitalk`: submit, watch, cancel and fetch MultiTalk jobs through the
//! gateway, on the `multitalk-client` SDK.

mod config;
mod display;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use multitalk_client::{
    AudioType, Auth, Client, Error, ErrorKind, GenerateRequest, IdempotencyKey, Job, JobStatus,
    Resolution, RetryPolicy, WaitOptions,
};
use serde::Serialize;

use crate::display::{Progress, Style};

/// Exit codes (also in `--help` and the crate's README).
mod exit {
    pub const OK: u8 = 0;
    /// Any other error: unreachable gateway, 4xx/5xx answers, I/O.
    pub const ERROR: u8 = 1;
    /// Bad usage or configuration (clap uses 2 for its own usage errors too).
    pub const USAGE: u8 = 2;
    pub const JOB_FAILED: u8 = 3;
    pub const JOB_CANCELLED: u8 = 4;
    pub const TIMEOUT: u8 = 5;
    pub const BAD_CREDENTIALS: u8 = 6;
}

const AFTER_HELP: &str = "\
Endpoint and key come from the flags, else MULTITALK_ENDPOINT and MULTITALK_API_KEY, else the
config file (--config FILE, MULTITALK_CONFIG, or ~/.config/multitalk/config.toml), holding:
    endpoint = \"http://127.0.0.1:4566/_aws/execute-api/API_ID/prod\"
    api_key = \"...\"

Inputs are S3 URLs (s3://bucket/key): the API downloads them itself and has no upload.

429 (throttled, not an exhausted quota), 409, 500, 502, 503 and 504 are retried --max-retries times,
backing off from about 10 s (--retry-base-ms or MULTITALK_RETRY_BASE_MS), doubling, ±20 %,
or after Retry-After when one is sent; a generate's retries reuse its Idempotency-Key.

Exit codes:
    0  success (for `generate --wait` and `wait`: the job completed)
    1  error (gateway unreachable, an error answer, I/O)
    2  bad usage or configuration (no endpoint, a local file instead of an s3:// URL)
    3  the job failed
    4  the job was cancelled
    5  timed out waiting for the job (--timeout)
    6  bad credentials (401/403 for the API key, or no key given)";

#[derive(Parser)]
#[command(
    name = "multitalk",
    version,
    about = "Submit, watch, cancel and fetch MeiGen-MultiTalk video jobs through the gateway",
    after_help = AFTER_HELP
)]
struct Cli {
    /// The API's invoke URL, stage included (http://HOST/_aws/execute-api/API_ID/prod).
    #[arg(long, global = true, env = "MULTITALK_ENDPOINT", value_name = "URL")]
    endpoint: Option<String>,
    /// The usage plan's API key, sent as x-api-key.
    #[arg(
        long,
        global = true,
        env = "MULTITALK_API_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    api_key: Option<String>,
    /// Config file [default: ~/.config/multitalk/config.toml].
    #[arg(long, global = true, env = "MULTITALK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Send the key as `Authorization: Bearer` (the MultiTalk API itself, no gateway).
    #[arg(long, global = true)]
    bearer: bool,
    /// Print results as JSON (one object per line) for scripts.
    #[arg(long, global = true)]
    json: bool,
    /// Seconds one HTTP request may take [default: 60].
    #[arg(long, global = true, value_name = "SECS", value_parser = seconds)]
    request_timeout: Option<Duration>,
    /// Retries of one request on 429 and 5xx, backing off from about 10 s [default: 3].
    #[arg(long, global = true, value_name = "N")]
    max_retries: Option<u32>,
    /// First back-off pause in milliseconds, doubling on each retry (±20 %)
    /// [default: 10000]. Shorter pauses are for tests.
    #[arg(
        long,
        global = true,
        env = "MULTITALK_RETRY_BASE_MS",
        value_name = "MS"
    )]
    retry_base_ms: Option<u64>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Submit a video job (POST /api/v1/generate) and, with --wait, follow it to the end.
    Generate(GenerateArgs),
    /// Show a job (GET /api/v1/jobs/ID).
    Status { job_id: String },
    /// Follow a job to the end.
    Wait {
        job_id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// List recent jobs, newest first (GET /api/v1/jobs).
    Jobs {
        /// How many [the API's default: 10].
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Cancel a pending or processing job (DELETE /api/v1/jobs/ID).
    Cancel { job_id: String },
    /// Print a completed job's presigned download URL, or fetch the video with -o.
    Download {
        job_id: String,
        /// Save the video here (fetched without the API key; a new URL is asked
        /// for if it has expired).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Seconds the URL stays valid [the API's default: 3600].
        #[arg(long, value_name = "SECS")]
        expiration: Option<u64>,
    },
    /// Check the API (GET /api/v1/health).
    Health,
}

#[derive(Args)]
struct GenerateArgs {
    /// What the person does and says.
    #[arg(long)]
    prompt: String,
    /// The face image: s3://bucket/key.
    #[arg(long, value_name = "S3_URL")]
    image: String,
    /// One speaker's audio: s3://bucket/key; repeat for more speakers (up to 5).
    #[arg(long, value_name = "S3_URL", required = true)]
    audio: Vec<String>,
    /// Sampling steps, 10-50 [the API's default: 20].
    #[arg(long)]
    steps: Option<u32>,
    /// 480p or 720p [the API's default: 480p].
    #[arg(long, value_parser = ["480p", "720p"])]
    resolution: Option<String>,
    /// With several audios: add (take turns) or para (at once) [default: add].
    #[arg(long, value_parser = ["add", "para"])]
    audio_type: Option<String>,
    /// Audio guidance, 3.0-5.0 [default: 4.0].
    #[arg(long)]
    audio_cfg: Option<f64>,
    /// Colour correction, 0-1 [default: 0.7].
    #[arg(long)]
    color_correction: Option<f64>,
    /// Reuse the Idempotency-Key of an earlier attempt of this submission
    /// (printed when a submission fails), so the gateway answers with its job
    /// instead of starting another.
    #[arg(long, value_name = "KEY")]
    idempotency_key: Option<String>,
    /// Follow the job until it completes, fails or is cancelled.
    #[arg(long)]
    wait: bool,
    #[command(flatten)]
    wait_args: WaitArgs,
}

#[derive(Args)]
struct WaitArgs {
    /// Give up waiting after this many seconds [default: 2400, above the GPU's 1800 s limit].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    timeout: Option<Duration>,
    /// Seconds between status polls [default: 5].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    poll_interval: Option<Duration>,
    /// Seconds a `cancelled` status must hold before it is believed (the GPU
    /// run may still overwrite it) [default: 60].
    #[arg(long, value_name = "SECS", value_parser = seconds)]
    cancel_grace: Option<Duration>,
}

fn seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("{s:?} is not a number of seconds ≥ 0"))
}

/// A failure on its way to an exit code.
struct Failure {
    code: u8,
    message: String,
    /// What `--json` prints.
    json: serde_json::Value,
}

impl Failure {
    fn usage(message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure {
            code: exit::USAGE,
            json: serde_json::json!({"error": {"kind": "usage", "message": message}}),
            message,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            if json {
                let mut value = failure.json;
                value["exit_code"] = failure.code.into();
                println!("{value}");
            }
            eprintln!("multitalk: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Endpoint, key and how to send it, with the config file they may come from.
struct Settings {
    endpoint: String,
    auth: Auth,
    config_path: Option<PathBuf>,
}

fn settings(cli: &Cli, needs_key: bool) -> Result<Settings, Failure> {
    let (file, config_path) = config::load(cli.config.as_deref()).map_err(Failure::usage)?;
    let where_ = match &config_path {
        Some(p) => p.display().to_string(),
        None => config::default_path()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "~/.config/multitalk/config.toml".to_owned()),
    };
    let endpoint = cli
        .endpoint
        .clone()
        .or(file.endpoint)
        .filter(|e| !e.trim().is_empty())
        .ok_or_else(|| {
            Failure::usage(format!(
                "no endpoint: pass --endpoint URL, set MULTITALK_ENDPOINT, or put endpoint = \"URL\" in {where_} \
                 (the invoke URL that `tollgate serve --example multitalk` prints)"
            ))
        })?;
    let key = cli
        .api_key
        .clone()
        .or(file.api_key)
        .filter(|k| !k.is_empty());
    let bearer = cli.bearer || file.bearer.unwrap_or(false);
    let auth = match key {
        Some(k) if bearer => Auth::Bearer(k),
        Some(k) => Auth::ApiKey(k),
        None if needs_key => {
            return Err(Failure {
                code: exit::BAD_CREDENTIALS,
                message: format!(
                    "no API key: pass --api-key KEY, set MULTITALK_API_KEY, or put api_key = \"KEY\" in {where_}"
                ),
                json: serde_json::json!({"error": {"kind": "bad_credentials", "message": "no API key"}}),
            })
        }
        None => Auth::None,
    };
    Ok(Settings {
        endpoint,
        auth,
        config_path,
    })
}

fn run(cli: Cli) -> Result<u8, Failure> {
    let needs_key = !matches!(cli.command, Command::Health);
    let settings = settings(&cli, needs_key)?;
    let mut retry = RetryPolicy::default();
    if let Some(n) = cli.max_retries {
        retry.max_retries = n;
    }
    if let Some(ms) = cli.retry_base_ms {
        retry.base = Duration::from_millis(ms);
    }
    let mut builder = Client::builder(settings.endpoint.clone())
        .auth(settings.auth.clone())
        .retry(retry.clone())
        .user_agent(concat!("multitalk-cli/", env!("CARGO_PKG_VERSION")))
        .on_retry(|event| {
            eprintln!(
                "multitalk: {}: {}; retrying in {:.1}s (retry {} of {})",
                event.operation,
                short(event.error),
                event.delay.as_secs_f64(),
                event.attempt,
                event.max_retries
            );
        });
    if let Some(t) = cli.request_timeout {
        builder = builder.timeout(t);
    }
    let client = builder.build().map_err(|e| Failure::usage(e.to_string()))?;
    let ctx = Ctx {
        client,
        json: cli.json,
        settings,
        retry,
    };
    match cli.command {
        Command::Generate(args) => ctx.generate(args),
        Command::Status { job_id } => {
            let job = ctx.client.status(&job_id).map_err(|e| ctx.fail(e))?;
            if ctx.json {
                print_json(&job);
            } else {
                display::print_job(&job);
            }
            Ok(exit::OK)
        }
        Command::Wait { job_id, wait } => ctx.wait(&job_id, &wait, Instant::now()),
        Command::Jobs { limit } => {
            let list = ctx.client.list(limit).map_err(|e| ctx.fail(e))?;
            if ctx.json {
                print_json(&list);
            } else {
                display::print_list(&list);
            }
            Ok(exit::OK)
        }
        Command::Cancel { job_id } => {
            let cancelled = ctx.client.cancel(&job_id).map_err(|e| ctx.fail(e))?;
            if ctx.json {
                print_json(&cancelled);
            } else {
                println!("job {} {}", cancelled.job_id, cancelled.status);
                eprintln!(
                    "note: the API only marks the job cancelled; a GPU run already started may still \
                     finish and overwrite that (`multitalk wait {}` watches it)",
                    cancelled.job_id
                );
            }
            Ok(exit::OK)
        }
        Command::Download {
            job_id,
            output,
            expiration,
        } => ctx.download(&job_id, output.as_deref(), expiration),
        Command::Health => {
            let health = ctx.client.health().map_err(|e| ctx.fail(e))?;
            if ctx.json {
                print_json(&health);
            } else {
                println!(
                    "{} (API {}, {})",
                    health.status.as_deref().unwrap_or("unknown"),
                    health.version.as_deref().unwrap_or("?"),
                    health.timestamp.as_deref().unwrap_or("no timestamp")
                );
                if let Some(note) = health.extra.get("note").and_then(|n| n.as_str()) {
                    println!("note: {note}");
                }
            }
            Ok(exit::OK)
        }
    }
}

struct Ctx {
    client: Client,
    json: bool,
    settings: Settings,
    retry: RetryPolicy,
}

impl Ctx {
    fn generate(&self, args: GenerateArgs) -> Result<u8, Failure> {
        check_input("--image", &args.image)?;
        for audio in &args.audio {
            check_input("--audio", audio)?;
        }
        let mut request = GenerateRequest::new(args.prompt, args.image, args.audio);
        request.options.sample_steps = args.steps;
        request.options.resolution = args.resolution.as_deref().map(|r| match r {
            "720p" => Resolution::P720,
            _ => Resolution::P480,
        });
        request.options.audio_type = args.audio_type.as_deref().map(|t| match t {
            "para" => AudioType::Para,
            _ => AudioType::Add,
        });
        request.options.audio_cfg = args.audio_cfg;
        request.options.color_correction = args.color_correction;
        request
            .validate()
            .map_err(|e| Failure::usage(e.to_string()))?;
        let key = match args.idempotency_key {
            Some(k) => IdempotencyKey::from_string(k).map_err(|e| Failure::usage(e.to_string()))?,
            None => IdempotencyKey::new(),
        };
        let started = Instant::now();
        let submitted = self.client.generate_with_key(&request, &key).map_err(|e| {
            let mut failure = self.fail(e);
            if failure.code == exit::ERROR {
                failure.message.push_str(&format!(
                    "\n  to retry this same submission (no second job if the first went through), \
                         add --idempotency-key {key}"
                ));
                failure.json["error"]["idempotency_key"] = key.as_str().into();
            }
            failure
        })?;
        if !args.wait {
            if self.json {
                print_json(&submitted);
            } else {
                println!("job {} submitted ({})", submitted.job_id, submitted.status);
                eprintln!("follow it with: multitalk wait {}", submitted.job_id);
            }
            return Ok(exit::OK);
        }
        if !self.json {
            println!("job {} submitted ({})", submitted.job_id, submitted.status);
        }
        self.wait(&submitted.job_id, &args.wait_args, started)
    }

    fn wait(&self, job_id: &str, args: &WaitArgs, started: Instant) -> Result<u8, Failure> {
        let defaults = WaitOptions::default();
        let options = WaitOptions {
            timeout: args.timeout.unwrap_or(defaults.timeout),
            poll_interval: args.poll_interval.unwrap_or(defaults.poll_interval),
            cancelled_grace: args.cancel_grace.unwrap_or(defaults.cancelled_grace),
            retry: self.retry.clone(),
        };
        let style = if self.json {
            Style::Quiet
        } else if std::io::stdout().is_terminal() {
            Style::Bar
        } else {
            Style::Lines
        };
        let mut progress = Progress::new(style, job_id, started);
        let result = self
            .client
            .wait_with(job_id, &options, |event| progress.event(event));
        progress.finish();
        let job = result.map_err(|e| self.fail(e))?;
        Ok(self.report_final(&job, started))
    }

    fn report_final(&self, job: &Job, started: Instant) -> u8 {
        let code = match job.status {
            JobStatus::Completed => exit::OK,
            JobStatus::Failed => exit::JOB_FAILED,
            JobStatus::Cancelled => exit::JOB_CANCELLED,
            _ => exit::ERROR,
        };
        if self.json {
            print_json(job);
            return code;
        }
        let elapsed = display::elapsed(started.elapsed());
        match job.status {
            JobStatus::Completed => {
                println!("job {} completed in {elapsed}", job.job_id);
                if let Some(output) = job.output() {
                    println!("  output: {output}");
                }
                println!("  fetch it: multitalk download {} -o video.mp4", job.job_id);
            }
            JobStatus::Failed => {
                println!("job {} failed after {elapsed}", job.job_id);
                let error = job.error.as_deref().unwrap_or("(no error text)");
                eprintln!("multitalk: the job failed: {}", display::tail(error, 40));
            }
            _ => println!("job {} {} after {elapsed}", job.job_id, job.status),
        }
        code
    }

    fn download(
        &self,
        job_id: &str,
        output: Option<&Path>,
        expiration: Option<u64>,
    ) -> Result<u8, Failure> {
        let Some(path) = output else {
            let url = self
                .client
                .download_url(job_id, expiration)
                .map_err(|e| self.fail(e))?;
            if self.json {
                print_json(&url);
            } else {
                println!("{}", url.download_url);
                let mut note = String::new();
                if let Some(secs) = url.expires_in {
                    note.push_str(&format!("expires in {secs}s"));
                }
                if let Some(s3) = &url.s3_uri {
                    note.push_str(&format!(
                        "{}object {s3}",
                        if note.is_empty() { "" } else { "; " }
                    ));
                }
                if !note.is_empty() {
                    eprintln!("{note}");
                }
            }
            return Ok(exit::OK);
        };
        let partial = partial_path(path);
        let result = (|| -> Result<u64, Error> {
            let mut file = std::fs::File::create(&partial)?;
            let n = self.client.download_to(job_id, expiration, &mut file)?;
            file.flush()?;
            file.sync_all()?;
            std::fs::rename(&partial, path)?;
            Ok(n)
        })();
        match result {
            Ok(bytes) => {
                if self.json {
                    println!(
                        "{}",
                        serde_json::json!({"job_id": job_id, "path": path.display().to_string(), "bytes": bytes})
                    );
                } else {
                    println!("saved {bytes} bytes to {}", path.display());
                }
                Ok(exit::OK)
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                Err(self.fail(e))
            }
        }
    }

    /// An SDK error as an exit code and a message that says what to do.
    fn fail(&self, error: Error) -> Failure {
        let json = error_json(&error);
        let code = match &error {
            Error::Timeout { .. } => exit::TIMEOUT,
            Error::InvalidRequest { .. } | Error::Config(_) => exit::USAGE,
            e if e.is_bad_credentials() => exit::BAD_CREDENTIALS,
            _ => exit::ERROR,
        };
        let message = match error.api() {
            Some(api) if api.is_bad_credentials() => {
                let source = match self.settings.auth {
                    Auth::Bearer(_) => "the MultiTalk API refused the key",
                    _ => "the gateway refused the API key",
                };
                let config = match &self.settings.config_path {
                    Some(p) => format!(", or api_key in {}", p.display()),
                    None => ", or api_key in the config file".to_owned(),
                };
                let mut m = format!(
                    "bad credentials: {source} ({api}).\n  Check --api-key, MULTITALK_API_KEY{config}."
                );
                if api.status == 403 && api.message == "Forbidden" {
                    m.push_str(
                        "\n  (API Gateway answers the same 403 for a stage that does not exist: \
                         check the stage at the end of the endpoint.)",
                    );
                }
                m
            }
            Some(api) if api.kind == ErrorKind::NoSuchRoute => format!(
                "{api}: the gateway has no such route; --endpoint should be the invoke URL with its stage, \
                 like http://127.0.0.1:4566/_aws/execute-api/API_ID/prod (it is {})",
                self.client.endpoint()
            ),
            Some(api) if api.kind == ErrorKind::QuotaExceeded => format!(
                "{api}: the usage plan's quota for this key is used up until its period resets"
            ),
            _ => match &error {
                Error::Transport { .. } => {
                    format!("{error} (endpoint {})", self.client.endpoint())
                }
                _ => error.to_string(),
            },
        };
        Failure {
            code,
            message,
            json,
        }
    }
}

/// A local path instead of an S3 URL: say what the API takes (spec §1: the
/// generate body has `image_s3_url` and `audio_s3_urls`, `s3://` only; there
/// is no upload endpoint and no base64 field).
fn check_input(flag: &str, value: &str) -> Result<(), Failure> {
    if value.starts_with("s3://") {
        return Ok(());
    }
    if Path::new(value).exists() {
        return Err(Failure::usage(format!(
            "{flag} {value}: that is a local file, and the MultiTalk API takes only s3://bucket/key URLs \
             (it downloads its inputs from S3 itself; it has no upload endpoint and no inline/base64 field). \
             Copy the file to S3 first, e.g. `aws s3 cp {value} s3://BUCKET/{name}`, and pass that URL.",
            name = Path::new(value)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "KEY".to_owned())
        )));
    }
    multitalk_client::check_s3_url(value).map_err(|m| Failure::usage(format!("{flag}: {m}")))
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

/// One line for an error in retry notices.
fn short(error: &Error) -> String {
    match error.api() {
        Some(api) => format!("{} {}", api.status, api.message),
        None => error.to_string(),
    }
}

fn error_json(error: &Error) -> serde_json::Value {
    let kind = match error {
        Error::Api(api) => match api.kind {
            ErrorKind::Unauthorized | ErrorKind::Forbidden => "bad_credentials",
            ErrorKind::NoSuchRoute => "no_such_route",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Validation => "validation",
            ErrorKind::Unprocessable => "unprocessable",
            ErrorKind::Throttled => "throttled",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::Server => "server",
            _ => "other",
        },
        Error::Transport { .. } => "transport",
        Error::InvalidResponse { .. } => "invalid_response",
        Error::InvalidRequest { .. } => "invalid_request",
        Error::Timeout { .. } => "timeout",
        Error::Download { .. } => "download",
        Error::Config(_) => "config",
        Error::Io(_) => "io",
        _ => "other",
    };
    let mut value = serde_json::json!({"error": {"kind": kind, "message": error.to_string()}});
    if let Some(api) = error.api() {
        value["error"]["status"] = api.status.into();
        value["error"]["message"] = api.message.clone().into();
        if let Some(d) = &api.detail {
            value["error"]["detail"] = d.clone().into();
        }
        if let Some(r) = &api.request_id {
            value["error"]["request_id"] = r.clone().into();
        }
        if !api.issues.is_empty() {
            value["error"]["issues"] = api
                .issues
                .iter()
                .map(|i| serde_json::json!({"loc": i.loc, "msg": i.msg, "type": i.kind}))
                .collect();
        }
    }
    if let Error::Timeout {
        job_id,
        last: Some(job),
        ..
    } = error
    {
        value["error"]["job_id"] = job_id.clone().into();
        value["error"]["last"] = serde_json::to_value(job).unwrap_or_default();
    }
    value
}

fn print_json<T: Serialize>(value: &T) {
    match serde_json::to_string(value) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("multitalk: cannot write JSON: {e}"),
    }
}
