//! Differential test: renders `differential/corpus.vtl` with this crate and with Apache
//! Velocity 1.7 (Debian's `velocity` package, run by `differential/Runner.java` in one JVM for
//! the whole corpus) and requires identical output.
//!
//! The reference is configured as API Gateway behaves: null references render as "".
//! Install it with `tests/differential/install.sh`. Without it the test is skipped, except
//! under `CI=true`, where a missing reference is a failure.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use tollgate_vtl::{Params, RenderContext, Template};

const JARS: [&str; 3] = [
    "/usr/share/java/velocity.jar",
    "/usr/share/java/commons-collections3.jar",
    "/usr/share/java/commons-lang.jar",
];

struct Case {
    name: String,
    body: String,
    template: String,
}

fn corpus() -> Vec<Case> {
    let text = include_str!("differential/corpus.vtl");
    let mut cases: Vec<Case> = Vec::new();
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.strip_prefix("=== ") {
            cases.push(Case {
                name: name.trim().to_string(),
                body: String::new(),
                template: String::new(),
            });
        } else if let Some(case) = cases.last_mut() {
            match line.strip_prefix("@body ") {
                Some(body) if case.template.is_empty() => case.body = body.trim_end().to_string(),
                _ => case.template.push_str(line),
            }
        }
    }
    for c in &mut cases {
        if c.template.ends_with('\n') {
            c.template.pop();
        }
    }
    cases
}

/// Whether the reference is installed; under CI its absence fails the test.
fn reference_available() -> bool {
    let java = Command::new("java")
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let jars = JARS.iter().all(|j| Path::new(j).exists());
    if java && jars {
        return true;
    }
    let msg = "reference Velocity 1.7 not installed (java and /usr/share/java/velocity.jar); \
               run crates/tollgate-vtl/tests/differential/install.sh";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    false
}

/// Renders every case with Velocity 1.7 in one JVM: `Ok(output)` or `Err(exception name)`.
fn reference_outputs(cases: &[Case]) -> Vec<Result<String, String>> {
    let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential/Runner.java");
    let mut child = Command::new("java")
        .arg("-Dfile.encoding=UTF-8")
        .arg("-cp")
        .arg(JARS.join(":"))
        .arg(&runner)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start java");
    let mut input = Vec::new();
    for c in cases {
        for chunk in [&c.body, &c.template] {
            input.extend_from_slice(format!("{}\n", chunk.len()).as_bytes());
            input.extend_from_slice(chunk.as_bytes());
        }
    }
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("run java");
    writer.join().expect("writer thread").expect("write cases");
    assert!(
        out.status.success(),
        "reference runner failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut results = Vec::new();
    let mut rest = &out.stdout[..];
    while !rest.is_empty() {
        let nl = rest.iter().position(|b| *b == b'\n').expect("header line");
        let header = std::str::from_utf8(&rest[..nl]).expect("utf-8 header");
        let (status, len) = header.split_once(' ').expect("status and length");
        let len: usize = len.parse().expect("length");
        let text = String::from_utf8(rest[nl + 1..nl + 1 + len].to_vec()).expect("utf-8 output");
        results.push(if status == "OK" { Ok(text) } else { Err(text) });
        rest = &rest[nl + 1 + len..];
    }
    results
}

/// The same bindings Runner.java provides.
fn ours(case: &Case) -> Result<String, String> {
    let t = Template::parse(&case.template).map_err(|e| format!("parse: {e}"))?;
    let params = Params::default();
    let context = serde_json::json!({
        "stage": "test", "httpMethod": "POST", "requestId": "req-1",
        "identity": {"sourceIp": "127.0.0.1"}
    });
    let sv = BTreeMap::from([("env".to_string(), "dev".to_string())]);
    let cx = RenderContext {
        body: &case.body,
        params: &params,
        context: &context,
        stage_variables: &sv,
    };
    t.render(&cx)
        .map(|r| r.output)
        .map_err(|e| format!("render: {e}"))
}

#[test]
fn corpus_matches_velocity_1_7() {
    let cases = corpus();
    assert!(cases.len() >= 50, "corpus has {} cases", cases.len());
    if !reference_available() {
        return;
    }
    let expected = reference_outputs(&cases);
    assert_eq!(expected.len(), cases.len(), "one result per case");
    let mut failures = Vec::new();
    for (case, want) in cases.iter().zip(&expected) {
        let got = ours(case);
        let same = match (&got, want) {
            (Ok(g), Ok(w)) => g == w,
            (Err(_), Err(_)) => true,
            _ => false,
        };
        if !same {
            failures.push(format!(
                "--- {}\n  velocity: {:?}\n  ours:     {:?}",
                case.name, want, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    eprintln!("{} cases match Velocity 1.7", cases.len());
}
