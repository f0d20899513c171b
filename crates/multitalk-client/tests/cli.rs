//! The `multitalk` binary: a progress bar on a terminal (driven through
//! util-linux `script`'s pseudo-terminal) and plain lines in a pipe, a 429
//! retried until it succeeds, a bad key's clear message and exit code, and
//! the exit codes of failed, cancelled and timed-out jobs.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{download_stub, Reply, Stub, Upstream, KEY};

const BIN: &str = env!("CARGO_BIN_EXE_multitalk");

/// The CLI's exit codes (README, `multitalk --help`).
const OK: i32 = 0;
const USAGE: i32 = 2;
const JOB_FAILED: i32 = 3;
const JOB_CANCELLED: i32 = 4;
const TIMEOUT: i32 = 5;
const BAD_CREDENTIALS: i32 = 6;

/// A directory of its own under Cargo's scratch space.
fn scratch(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "multitalk-cli-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// Nothing from the caller's environment that the CLI reads: no
/// MULTITALK_* variables, no config file, no proxy.
fn clean_env(cmd: &mut Command) {
    for var in [
        "MULTITALK_ENDPOINT",
        "MULTITALK_API_KEY",
        "MULTITALK_CONFIG",
        "MULTITALK_RETRY_BASE_MS",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("XDG_CONFIG_HOME", scratch("config-home"));
}

/// The binary in a clean environment.
fn multitalk() -> Command {
    let mut cmd = Command::new(BIN);
    clean_env(&mut cmd);
    cmd.stdin(Stdio::null());
    cmd
}

/// Runs it, failing the test if it takes longer than `limit`.
fn run(cmd: &mut Command, limit: Duration) -> Output {
    let started = Instant::now();
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn multitalk");
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "timed out after {limit:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

/// `--endpoint URL --api-key KEY --bearer` for the reference server (which
/// reads the key as a Bearer token; a gateway would take it as x-api-key).
fn against(upstream: &Upstream) -> Vec<String> {
    vec![
        "--endpoint".into(),
        upstream.url.clone(),
        "--api-key".into(),
        KEY.into(),
        "--bearer".into(),
    ]
}

const GENERATE: [&str; 7] = [
    "generate",
    "--prompt",
    "A person speaking",
    "--image",
    "s3://in-bucket/inputs/face.png",
    "--audio",
    "s3://in-bucket/inputs/voice.wav",
];

fn job_id_of(out: &Output) -> String {
    let value: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", describe(out)));
    value["job_id"].as_str().expect("job_id").to_owned()
}

/// In a pipe: one plain line per change, no bar, no escape codes, exit 0.
#[test]
fn generate_wait_in_a_pipe_prints_plain_lines() {
    let upstream = Upstream::start(Duration::from_millis(1500));
    let out = run(
        multitalk().args(against(&upstream)).args(GENERATE).args([
            "--wait",
            "--poll-interval",
            "0.1",
        ]),
        Duration::from_secs(20),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("submitted"), "{stdout}");
    assert!(stdout.contains(": processing (30%)"), "{stdout}");
    assert!(stdout.contains(" completed in "), "{stdout}");
    assert!(stdout.contains("output: s3://"), "{stdout}");
    for (name, s) in [("stdout", &stdout), ("stderr", &stderr)] {
        assert!(!s.contains('\u{1b}'), "escape codes in {name}: {s:?}");
        assert!(!s.contains('\r'), "carriage returns in {name}: {s:?}");
        assert!(!s.contains("=>"), "a bar in {name}: {s:?}");
    }
    // One line per change, not one per poll.
    let at_30 = stdout.lines().filter(|l| l.contains("(30%)")).count();
    assert_eq!(at_30, 1, "{stdout}");
}

/// On a terminal (a pty from `script`): an indicatif bar, redrawn in place.
#[test]
fn generate_wait_on_a_terminal_draws_a_progress_bar() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "util-linux `script` is needed for the pty test"
        );
        eprintln!("skipped: no `script` (util-linux) to make a pseudo-terminal");
        return;
    }
    let upstream = Upstream::start(Duration::from_millis(2000));
    let mut words = vec![BIN.to_owned()];
    words.extend(against(&upstream));
    words.extend(GENERATE.iter().map(|s| s.to_string()));
    words.extend(["--wait", "--poll-interval", "0.1"].map(String::from));
    let line = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    // `script` runs the line with $SHELL -c on a new pty; -e passes on the
    // exit code, -f flushes as output comes, -q drops its own banner.
    let mut script = Command::new("script");
    script
        .args(["-qfec", &line, "/dev/null"])
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .stdin(Stdio::null());
    clean_env(&mut script);
    let out = run(&mut script, Duration::from_secs(20));
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let all = text(&out.stdout);
    assert!(
        all.contains("\u{1b}["),
        "no escape codes on the terminal: {all:?}"
    );
    assert!(all.contains("=>"), "no bar drawn: {all:?}");
    assert!(
        all.contains(" 30% processing"),
        "the bar did not show 30%: {all:?}"
    );
    assert!(all.contains(" completed in "), "{all:?}");
    // The bar replaces the per-change lines of a pipe.
    assert!(!all.contains(": processing (30%)"), "{all:?}");
}

/// Two 429s from the gateway (no `Retry-After`), then the answer: the CLI
/// says it is retrying, backs off (shortened by MULTITALK_RETRY_BASE_MS) and
/// succeeds with the same Idempotency-Key on every attempt.
#[test]
fn a_throttled_request_is_retried_and_succeeds() {
    let stub = Stub::scripted(vec![
        Reply::throttled(),
        Reply::throttled(),
        Reply::submitted("job-429"),
    ]);
    let started = Instant::now();
    let out = run(
        multitalk()
            .env("MULTITALK_RETRY_BASE_MS", "100")
            .env("MULTITALK_ENDPOINT", &stub.url)
            .env("MULTITALK_API_KEY", "the-key")
            .args(GENERATE),
        Duration::from_secs(15),
    );
    let took = started.elapsed();
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let stdout = text(&out.stdout);
    let stderr = text(&out.stderr);
    assert!(stdout.contains("job job-429 submitted"), "{stdout}");
    assert_eq!(
        stderr.matches("429 Too Many Requests; retrying in").count(),
        2,
        "{stderr}"
    );
    assert!(stderr.contains("(retry 2 of 3)"), "{stderr}");
    // 100 ms then 200 ms, each ±20 %.
    assert!(took >= Duration::from_millis(240), "no back-off: {took:?}");
    let seen = stub.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|r| r.header("x-api-key") == Some("the-key")));
    let key = seen[0].header("idempotency-key");
    assert!(key.is_some() && seen.iter().all(|r| r.header("idempotency-key") == key));
}

/// Throttled for ever: gives up after --max-retries with exit 1 and says to
/// retry with the same Idempotency-Key.
#[test]
fn a_request_throttled_for_ever_gives_up() {
    let stub = Stub::scripted(vec![Reply::throttled()]);
    let out = run(
        multitalk()
            .args(["--endpoint", &stub.url, "--api-key", "k"])
            .args(["--retry-base-ms", "10", "--max-retries", "1"])
            .args(GENERATE),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), 1, "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("429 Too Many Requests"), "{stderr}");
    assert!(stderr.contains("--idempotency-key "), "{stderr}");
    assert_eq!(stub.seen().len(), 2);
}

/// The gateway's 403 `Forbidden` for a bad key: its own exit code, a message
/// naming the key's sources, no retries; `--json` says the same to scripts.
#[test]
fn a_bad_key_exits_with_its_own_code_and_a_clear_message() {
    let stub = Stub::scripted(vec![Reply::forbidden()]);
    let out = run(
        multitalk()
            .args(["--endpoint", &stub.url, "--api-key", "wrong"])
            .args(["--retry-base-ms", "10", "jobs"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), BAD_CREDENTIALS, "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr
            .contains("bad credentials: the gateway refused the API key (403 Forbidden: Forbidden"),
        "{stderr}"
    );
    assert!(stderr.contains("--api-key, MULTITALK_API_KEY"), "{stderr}");
    assert!(text(&out.stdout).is_empty());
    assert_eq!(stub.seen().len(), 1, "a bad key is not retried");

    let out = run(
        multitalk()
            .args(["--endpoint", &stub.url, "--api-key", "wrong", "--json"])
            .args(["status", "some-job"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), BAD_CREDENTIALS, "{}", describe(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON error");
    assert_eq!(value["error"]["kind"], "bad_credentials");
    assert_eq!(value["error"]["status"], 403);
    assert_eq!(value["exit_code"], BAD_CREDENTIALS);
}

/// The API's own 401 `Invalid API key` (a wrong Bearer key), and no key at
/// all: the same exit code.
#[test]
fn a_wrong_or_missing_key_against_the_api_is_bad_credentials() {
    let upstream = Upstream::start(Duration::from_secs(1));
    let out = run(
        multitalk()
            .args(["--endpoint", &upstream.url, "--api-key", "nope", "--bearer"])
            .args(["status", "x"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), BAD_CREDENTIALS, "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("the MultiTalk API refused the key (401 Unauthorized: Invalid API key)"),
        "{stderr}"
    );

    let out = run(
        multitalk().args(["--endpoint", &upstream.url, "jobs"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), BAD_CREDENTIALS, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("no API key"),
        "{}",
        describe(&out)
    );
    assert_eq!(upstream.recorder.len(), 1, "no request without a key");
}

/// `cancel`, then `wait` on the cancelled job: exit 4 once the cancelled
/// status has held for --cancel-grace.
#[test]
fn cancel_then_wait_exits_cancelled() {
    let upstream = Upstream::start(Duration::from_secs(60));
    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(GENERATE)
            .arg("--json"),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let job_id = job_id_of(&out);

    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(["cancel", &job_id]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    assert!(text(&out.stdout).contains(&format!("job {job_id} cancelled")));

    let out = run(
        multitalk().args(against(&upstream)).args([
            "wait",
            &job_id,
            "--poll-interval",
            "0.1",
            "--cancel-grace",
            "0.3",
        ]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), JOB_CANCELLED, "{}", describe(&out));
    assert!(text(&out.stdout).contains(&format!("job {job_id} cancelled after")));

    // A second cancel is the API's 400: exit 1 with its detail.
    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(["cancel", &job_id]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), 1, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("400 Bad Request"),
        "{}",
        describe(&out)
    );
}

/// A job that fails: exit 3, its error on stderr; `--json` prints the job.
#[test]
fn a_failed_job_exits_3() {
    let upstream = Upstream::start(Duration::from_millis(300));
    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(["generate", "--prompt", "this will FAIL"])
            .args(["--image", "s3://b/face.png", "--audio", "s3://b/a.wav"])
            .args(["--wait", "--poll-interval", "0.1", "--json"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), JOB_FAILED, "{}", describe(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON job");
    assert_eq!(value["status"], "failed");
}

/// `wait --timeout`: exit 5 with the last status.
#[test]
fn waiting_past_the_timeout_exits_5() {
    let upstream = Upstream::start(Duration::from_secs(60));
    let out = run(
        multitalk().args(against(&upstream)).args(GENERATE).args([
            "--wait",
            "--poll-interval",
            "0.1",
            "--timeout",
            "0.5",
        ]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), TIMEOUT, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("did not finish within 0s (last status: processing)")
            || text(&out.stderr).contains("did not finish within 0s (last status: pending)"),
        "{}",
        describe(&out)
    );
}

/// Usage errors are exit 2: no endpoint, and a local file where the API
/// takes only s3:// URLs (the API has no upload).
#[test]
fn usage_errors_exit_2() {
    let out = run(multitalk().arg("health"), Duration::from_secs(15));
    assert_eq!(code(&out), USAGE, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("no endpoint"),
        "{}",
        describe(&out)
    );

    let dir = scratch("local-file");
    let image = dir.join("face.png");
    std::fs::write(&image, b"not really a png").expect("write");
    let out = run(
        multitalk()
            .args(["--endpoint", "http://127.0.0.1:9/prod", "--api-key", "k"])
            .args([
                "generate",
                "--prompt",
                "p",
                "--audio",
                "s3://b/a.wav",
                "--image",
            ])
            .arg(&image),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), USAGE, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("aws s3 cp"),
        "{}",
        describe(&out)
    );
}

/// Endpoint and key from the config file; a typo in it is a usage error.
#[test]
fn endpoint_and_key_from_the_config_file() {
    let upstream = Upstream::start(Duration::from_secs(1));
    let dir = scratch("config-file");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "endpoint = \"{}\"\napi_key = \"{KEY}\"\nbearer = true\n",
            upstream.url
        ),
    )
    .expect("write config");
    let out = run(
        multitalk()
            .env("MULTITALK_CONFIG", &config)
            .args(["jobs", "--json"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON list");
    assert!(value["jobs"].is_array());

    std::fs::write(&config, "endpoint = \"http://x/prod\"\napikey = \"k\"\n").expect("write");
    let out = run(
        multitalk().args(["--config"]).arg(&config).arg("jobs"),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), USAGE, "{}", describe(&out));
    assert!(text(&out.stderr).contains("apikey"), "{}", describe(&out));
}

/// `status`, `jobs`, `download` and `health` against the reference server.
#[test]
fn status_jobs_download_and_health() {
    let upstream = Upstream::start(Duration::from_millis(200));
    let out = run(
        multitalk().args(against(&upstream)).args(GENERATE).args([
            "--wait",
            "--poll-interval",
            "0.1",
        ]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    let listed = run(
        multitalk()
            .args(against(&upstream))
            .args(["jobs", "--json"]),
        Duration::from_secs(15),
    );
    let list: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("list");
    let job_id = list["jobs"][0]["job_id"]
        .as_str()
        .expect("a job")
        .to_owned();

    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(["status", &job_id]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    assert!(
        text(&out.stdout).contains("completed (100%)"),
        "{}",
        describe(&out)
    );

    let out = run(
        multitalk()
            .args(against(&upstream))
            .args(["download", &job_id, "--expiration", "120"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    assert!(text(&out.stdout).starts_with("http"), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("expires in 120s"),
        "{}",
        describe(&out)
    );

    let out = run(
        multitalk().args(["--endpoint", &upstream.url, "health"]),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    assert!(
        text(&out.stdout).starts_with("healthy"),
        "{}",
        describe(&out)
    );
}

/// `download -o FILE`: the video lands in FILE (through FILE.part), fetched
/// again after the first presigned URL had expired.
#[test]
fn download_saves_the_video_to_a_file() {
    let stub = download_stub();
    let dir = scratch("download");
    let file = dir.join("video.mp4");
    let out = run(
        multitalk()
            .args([
                "--endpoint",
                &stub.url,
                "--api-key",
                "k",
                "download",
                "job-1",
                "-o",
            ])
            .arg(&file),
        Duration::from_secs(15),
    );
    assert_eq!(code(&out), OK, "{}", describe(&out));
    assert_eq!(std::fs::read(&file).expect("the video"), b"fake mp4 bytes");
    assert!(!dir.join("video.mp4.part").exists());
    assert!(
        text(&out.stdout).contains("saved 14 bytes to"),
        "{}",
        describe(&out)
    );
}
