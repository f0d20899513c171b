//! Differential test: requests signed by botocore's own `SigV4Auth` /
//! `SigV4QueryAuth` must verify, and must stop verifying after a one-byte tamper.
//!
//! Needs `python3` with botocore. Without them the test is skipped locally but
//! fails when `CI=true`, so CI cannot silently lose this coverage.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tollgate_aws::sigv4::{verify, Credentials, SigV4Error};

const AKID: &str = "AKIDBOTOCORE";
const SECRET: &str = "botocore/secret+KEY";
const REGION: &str = "eu-west-1";
const SERVICE: &str = "apigateway";
/// 2024-05-06T07:08:09Z, the clock we pin botocore to.
const SIGNED_AT: u64 = 1_714_979_289;
const TOKEN: &str = "FwoGZXIvYXdzEBYaDH+/abc=="; // has '+', '/' and '='

const SIGNER: &str = r#"
import sys, json, datetime
try:
    import botocore.auth as auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.utils import percent_encode_sequence
except ImportError as e:
    print(e, file=sys.stderr)
    sys.exit(3)
auth.get_current_datetime = lambda: datetime.datetime(2024, 5, 6, 7, 8, 9)
spec = json.load(sys.stdin)
out = []
for c in spec['cases']:
    url = c['endpoint'] + c['path']
    if c['query']:
        # Exactly how botocore's prepare_request_dict serializes query params.
        url += '?' + percent_encode_sequence([tuple(p) for p in c['query']])
    creds = Credentials(spec['akid'], spec['secret'], c.get('token'))
    req = AWSRequest(method=c['method'], url=url, data=c['body'].encode('utf-8'),
                     headers=dict(c['headers']))
    if c.get('expires'):
        signer = auth.SigV4QueryAuth(creds, spec['service'], spec['region'], expires=c['expires'])
    else:
        signer = auth.SigV4Auth(creds, spec['service'], spec['region'])
    signer.add_auth(req)
    out.append({'url': req.url, 'headers': [[k, v] for k, v in req.headers.items()]})
json.dump(out, sys.stdout)
"#;

struct Case {
    name: &'static str,
    method: &'static str,
    endpoint: &'static str,
    path: &'static str,
    query: Vec<(&'static str, &'static str)>,
    headers: Vec<(&'static str, &'static str)>,
    body: &'static str,
    token: Option<&'static str>,
    /// Some = presigned URL via SigV4QueryAuth with this X-Amz-Expires.
    expires: Option<u64>,
    /// The body is not covered by the signature (UNSIGNED-PAYLOAD).
    unsigned_body: bool,
}

fn case(name: &'static str, method: &'static str, path: &'static str) -> Case {
    Case {
        name,
        method,
        endpoint: "http://localhost:4566",
        path,
        query: vec![],
        headers: vec![],
        body: "",
        token: None,
        expires: None,
        unsigned_body: false,
    }
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            headers: vec![("Content-Type", "application/json")],
            body: r#"{"name":"pets","description":"my API"}"#,
            ..case("post json", "POST", "/restapis")
        },
        Case {
            query: vec![("embed", "methods"), ("name", "a b/c"), ("limit", "25")],
            token: Some(TOKEN),
            ..case(
                "get query with session token",
                "GET",
                "/restapis/abc123/resources",
            )
        },
        Case {
            headers: vec![
                ("Content-Type", "application/json"),
                ("X-Custom", "a   b    c"),
            ],
            body: r#"{"authorizationType":"NONE"}"#,
            token: Some(TOKEN),
            ..case(
                "put greedy path",
                "PUT",
                "/restapis/abc123/resources/%7Bproxy%2B%7D/methods/ANY",
            )
        },
        Case {
            endpoint: "https://apigateway.eu-west-1.amazonaws.com",
            ..case(
                "delete path with space",
                "DELETE",
                "/restapis/abc123/stages/prod%20stage",
            )
        },
        Case {
            query: vec![
                ("tag", "b"),
                ("tag", "a"),
                ("special", "!*'();:@&=+$,/?#[]"),
                ("unicode", "caf\u{e9} \u{2713}"),
                ("empty", ""),
            ],
            headers: vec![("Content-Type", "application/json")],
            body: "{\"op\":\"replace\",\"value\":\"\u{fc}ber \u{1F600}\"}",
            ..case("patch specials", "PATCH", "/restapis/abc123/stages/dev")
        },
        Case {
            headers: vec![("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")],
            body: "not hashed",
            unsigned_body: true,
            ..case("unsigned payload", "POST", "/restapis/abc123/deployments")
        },
        case("root", "GET", "/"),
        Case {
            query: vec![("embed", "methods"), ("position", "a/b c")],
            token: Some(TOKEN),
            expires: Some(300),
            ..case("presigned", "GET", "/restapis/abc123/resources")
        },
    ]
}

/// Runs botocore; `None` when python3/botocore are unavailable outside CI.
fn botocore_sign(cases: &[Case]) -> Option<Vec<Value>> {
    let spec = json!({
        "akid": AKID,
        "secret": SECRET,
        "region": REGION,
        "service": SERVICE,
        "cases": cases.iter().map(|c| json!({
            "method": c.method,
            "endpoint": c.endpoint,
            "path": c.path,
            "query": c.query,
            "headers": c.headers,
            "body": c.body,
            "token": c.token,
            "expires": c.expires,
        })).collect::<Vec<_>>(),
    });
    let in_ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let unavailable = |why: String| {
        assert!(!in_ci, "botocore differential test cannot run in CI: {why}");
        eprintln!("skipping botocore differential test: {why}");
        None
    };

    let child = Command::new("python3")
        .arg("-c")
        .arg(SIGNER)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => return unavailable(format!("cannot run python3: {e}")),
    };
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(spec.to_string().as_bytes())
        .expect("write signer input");
    let out = child.wait_with_output().expect("wait for python3");
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(3) {
        return unavailable(format!("botocore is not importable: {stderr}"));
    }
    assert!(out.status.success(), "botocore signer failed: {stderr}");
    let signed: Vec<Value> = serde_json::from_slice(&out.stdout).expect("signer output is JSON");
    assert_eq!(signed.len(), cases.len());
    Some(signed)
}

/// The request as our server would see it: origin-form URI, Host from the URL.
fn to_parts(method: &str, signed: &Value) -> http::request::Parts {
    let url: http::Uri = signed["url"].as_str().unwrap().parse().unwrap();
    let mut builder = http::Request::builder()
        .method(method)
        .uri(url.path_and_query().unwrap().as_str());
    let mut has_host = false;
    for pair in signed["headers"].as_array().unwrap() {
        let (name, value) = (pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
        has_host |= name.eq_ignore_ascii_case("host");
        builder = builder.header(name, value);
    }
    if !has_host {
        // botocore signs the host from the URL; the HTTP client sends it.
        builder = builder.header("Host", url.authority().unwrap().as_str());
    }
    builder.body(()).unwrap().into_parts().0
}

fn at(offset_secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(SIGNED_AT + offset_secs)
}

/// Replaces the last ASCII alphanumeric byte of `s` with a different one.
fn tamper_last_alnum(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let i = bytes
        .iter()
        .rposition(u8::is_ascii_alphanumeric)
        .expect("something to tamper with");
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

/// Replaces the first ASCII letter of `s` with a different one.
fn tamper_first_letter(s: &str) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let i = bytes
        .iter()
        .position(u8::is_ascii_alphabetic)
        .expect("something to tamper with");
    bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn botocore_signed_requests_verify_and_tampering_fails() {
    let cases = cases();
    let Some(signed) = botocore_sign(&cases) else {
        return;
    };
    let creds = Credentials {
        access_key_id: AKID.to_string(),
        secret_access_key: SECRET.to_string(),
    };
    let now = at(60);

    for (c, signed) in cases.iter().zip(&signed) {
        let name = c.name;
        let parts = to_parts(c.method, signed);
        let body = c.body.as_bytes();

        let id = verify(&parts, body, &creds, now)
            .unwrap_or_else(|e| panic!("{name}: botocore-signed request rejected: {e} ({signed})"));
        assert_eq!(id.access_key_id, AKID, "{name}");
        assert_eq!(id.region, REGION, "{name}");
        assert_eq!(id.service, SERVICE, "{name}");
        assert_eq!(id.session_token.as_deref(), c.token, "{name}");

        let reject = |parts: &http::request::Parts, body: &[u8], what: &str| {
            assert_eq!(
                verify(parts, body, &creds, now),
                Err(SigV4Error::SignatureDoesNotMatch),
                "{name}: {what} tamper was accepted"
            );
        };

        if !body.is_empty() && !c.unsigned_body {
            let mut tampered = body.to_vec();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            reject(&parts, &tampered, "body");
        }

        let path_and_query = parts.uri.path_and_query().unwrap().as_str().to_string();
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query.as_str(), ""));
        if path != "/" {
            let mut p = parts.clone();
            let uri = if query.is_empty() {
                tamper_last_alnum(path)
            } else {
                format!("{}?{query}", tamper_last_alnum(path))
            };
            p.uri = uri.parse().unwrap();
            reject(&p, body, "path");
        }
        if !query.is_empty() {
            let mut p = parts.clone();
            p.uri = format!("{path}?{}", tamper_first_letter(query))
                .parse()
                .unwrap();
            reject(&p, body, "query");
        }

        let mut p = parts.clone();
        let host = p.headers["host"].to_str().unwrap().to_string();
        p.headers
            .insert("host", tamper_first_letter(&host).parse().unwrap());
        reject(&p, body, "host header");

        let mut p = parts.clone();
        if c.expires.is_some() {
            p.uri = tamper_last_alnum(&path_and_query).parse().unwrap();
        } else {
            let auth = p.headers["authorization"].to_str().unwrap().to_string();
            p.headers
                .insert("authorization", tamper_last_alnum(&auth).parse().unwrap());
        }
        reject(&p, body, "signature");

        let wrong_secret = Credentials {
            access_key_id: AKID.to_string(),
            secret_access_key: format!("{SECRET}x"),
        };
        assert_eq!(
            verify(&parts, body, &wrong_secret, now),
            Err(SigV4Error::SignatureDoesNotMatch),
            "{name}: wrong secret"
        );

        // Time limits: ±15 min for headers, X-Amz-Expires for presigned URLs.
        let late = c.expires.map_or(15 * 60 + 1, |e| e + 1);
        let err = verify(&parts, body, &creds, at(late)).unwrap_err();
        assert_eq!(err.code(), "InvalidSignatureException", "{name}");
        assert!(
            err.message().starts_with("Signature expired"),
            "{name}: {err}"
        );
    }
}
