//! Runs the compatibility suite in `tests/compat/` (pytest, the real `aws` CLI
//! and boto3) against the `tollgate` binary this build produced.

use std::path::PathBuf;
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn aws_cli_and_boto3_drive_tollgate() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let has = |modules: &str| {
        Command::new("python3")
            .args(["-c", &format!("import {modules}")])
            .status()
            .is_ok_and(|s| s.success())
    };
    // The image has boto3 and the aws CLI but not pytest, nor the
    // Prometheus client whose parser reads `/metrics`, nor OpenTelemetry's
    // protobuf classes the OTLP receiver decodes spans with; PyPI is reachable.
    for (module, package) in [
        ("pytest", "pytest"),
        ("prometheus_client", "prometheus_client"),
        ("opentelemetry.proto", "opentelemetry-proto"),
    ] {
        if !has(module) {
            let _ = Command::new("python3")
                .args(["-m", "pip", "install", "--quiet", package])
                .status();
        }
    }
    let has_pytest = has("pytest, boto3");
    if !has_pytest {
        assert!(
            !in_ci,
            "python3 with pytest and boto3 is required under CI=true (pip install pytest boto3 awscli)"
        );
        eprintln!("skipping the compatibility suite: python3 with pytest and boto3 not found");
        return;
    }
    pytest(&["tests/compat"], &[]);
}

/// The control-plane files again with every server on PostgreSQL (a fresh
/// database per server, made and dropped by the suite's conftest): both
/// stores answer the same. A missing PostgreSQL skips them, except under
/// CI=true, where it fails.
#[test]
fn control_plane_suite_on_postgres() {
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let has_pytest = Command::new("python3")
        .args(["-c", "import pytest, boto3"])
        .status()
        .is_ok_and(|s| s.success());
    if !has_pytest {
        assert!(
            !in_ci,
            "python3 with pytest and boto3 is required under CI=true"
        );
        eprintln!("skipping the PostgreSQL suite: python3 with pytest and boto3 not found");
        return;
    }
    pytest(
        &[
            "tests/compat/test_operations.py",
            "tests/compat/test_persistence.py",
        ],
        &[("TOLLGATE_TEST_STORE", "postgres")],
    );
}

/// One suite at a time: two at once on a 2-core machine would slow the
/// timing-sensitive files (Lambda timeouts, throttling) past their margins.
static ONE_SUITE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pytest(paths: &[&str], env: &[(&str, &str)]) {
    // A suite that failed (panicked) in another test leaves nothing to protect.
    let _turn = ONE_SUITE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let status = Command::new("python3")
        .args(["-m", "pytest"])
        .args(paths)
        .args(["-q", "-p", "no:cacheprovider"])
        .current_dir(workspace_root())
        .env("TOLLGATE_BIN", env!("CARGO_BIN_EXE_tollgate"))
        .envs(env.iter().copied())
        .status();
    assert!(
        status.as_ref().is_ok_and(|s| s.success()),
        "compatibility suite {paths:?} failed: {status:?}"
    );
}
