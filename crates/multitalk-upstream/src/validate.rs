//! The generate request, checked as api.py's pydantic models check it, with
//! failures in pydantic v2's error shapes (FastAPI answers them with 422).

use serde_json::{json, Map, Value};

use crate::response::ValidationIssue;

/// `MAX_AUDIO_FILES` in api.py.
pub const MAX_AUDIO_FILES: usize = 5;

/// A valid `VideoGenerationRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    pub prompt: String,
    pub image_s3_url: String,
    /// Always a list: a single string is normalised to one element.
    pub audio_s3_urls: Vec<String>,
    pub output_s3_bucket: Option<String>,
    pub output_s3_prefix: String,
    pub webhook_url: Option<String>,
    pub options: GenerationOptions,
}

/// A valid `GenerationOptions`, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationOptions {
    pub resolution: &'static str,
    pub sample_steps: i64,
    pub audio_type: &'static str,
    pub audio_cfg: f64,
    pub color_correction: f64,
}

impl Default for GenerationOptions {
    fn default() -> Self {
        GenerationOptions {
            resolution: "480p",
            sample_steps: 20,
            audio_type: "add",
            audio_cfg: 4.0,
            color_correction: 0.7,
        }
    }
}

/// FastAPI's first step, before authentication: decode the body. Returns
/// `None` for an empty body. As in FastAPI, a body whose content type is not
/// JSON is not decoded but handed on as text (and then fails as "not an object").
pub fn decode_body(content_type: Option<&str>, body: &[u8]) -> Result<Option<Value>, ApiIssues> {
    if body.is_empty() {
        return Ok(None);
    }
    if let Some(ct) = content_type {
        if !is_json_content_type(ct) {
            return Ok(Some(Value::String(
                String::from_utf8_lossy(body).into_owned(),
            )));
        }
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        // Python reports the character offset and its own wording; serde's
        // message (without its position suffix) is close enough to read.
        let pos = byte_offset(body, e.line(), e.column());
        let text = e.to_string();
        let msg = text.split(" at line ").next().unwrap_or(&text).to_owned();
        vec![ValidationIssue::new(
            "json_invalid",
            vec![json!("body"), json!(pos)],
            "JSON decode error",
            json!({}),
        )
        .with_ctx(json!({ "error": msg }))]
    })
}

/// Validation failures, in order.
pub type ApiIssues = Vec<ValidationIssue>;

fn is_json_content_type(ct: &str) -> bool {
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

/// serde's 1-based line/column to a 0-based byte offset.
fn byte_offset(body: &[u8], line: usize, column: usize) -> usize {
    let mut offset = 0;
    for (i, l) in body.split(|&b| b == b'\n').enumerate() {
        if i + 1 == line {
            return offset + column.saturating_sub(1).min(l.len());
        }
        offset += l.len() + 1;
    }
    body.len()
}

fn loc(path: &[&str]) -> Vec<Value> {
    std::iter::once("body")
        .chain(path.iter().copied())
        .map(|s| Value::String(s.to_owned()))
        .collect()
}

fn missing(path: &[&str], input: &Value) -> ValidationIssue {
    ValidationIssue::new("missing", loc(path), "Field required", input.clone())
}

fn string_type(path: &[&str], input: &Value) -> ValidationIssue {
    ValidationIssue::new(
        "string_type",
        loc(path),
        "Input should be a valid string",
        input.clone(),
    )
}

fn value_error(path: &[&str], message: String, input: &Value) -> ValidationIssue {
    // FastAPI's encoder turns the ValueError in ctx into {}.
    ValidationIssue::new(
        "value_error",
        loc(path),
        format!("Value error, {message}"),
        input.clone(),
    )
    .with_ctx(json!({ "error": {} }))
}

fn not_an_object(loc: Vec<Value>, input: &Value) -> ValidationIssue {
    ValidationIssue::new(
        "model_attributes_type",
        loc,
        "Input should be a valid dictionary or object to extract fields from",
        input.clone(),
    )
}

/// api.py's `is_valid_s3_url`: `s3://` and at least one `/` after the bucket
/// (`url.split('/', 3)` has four parts). So `s3://bucket/` passes, as there.
pub fn is_valid_s3_url(url: &str) -> bool {
    url.strip_prefix("s3://")
        .is_some_and(|rest| rest.contains('/'))
}

/// Splits `s3://bucket/key` (api.py's `parse_s3_url`).
pub fn parse_s3_url(url: &str) -> Option<(&str, &str)> {
    url.strip_prefix("s3://")?.split_once('/')
}

/// FastAPI's second step, after authentication: the body against the model.
pub fn generate_request(body: Option<&Value>) -> Result<GenerateRequest, ApiIssues> {
    let Some(body) = body else {
        return Err(vec![ValidationIssue::new(
            "missing",
            loc(&[]),
            "Field required",
            Value::Null,
        )]);
    };
    let Some(fields) = body.as_object() else {
        return Err(vec![not_an_object(loc(&[]), body)]);
    };
    let mut issues = Vec::new();

    let prompt = match fields.get("prompt") {
        None => {
            issues.push(missing(&["prompt"], body));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            issues.push(string_type(&["prompt"], other));
            None
        }
    };

    // api.py's pre-validator calls `.startswith` on whatever arrives, so a
    // non-string there is a 500; the stand-in answers the 422 pydantic meant.
    let image_s3_url = match fields.get("image_s3_url") {
        None => {
            issues.push(missing(&["image_s3_url"], body));
            None
        }
        Some(v @ Value::String(s)) => {
            if is_valid_s3_url(s) {
                Some(s.clone())
            } else {
                issues.push(value_error(
                    &["image_s3_url"],
                    format!("Invalid S3 URL format: {s}"),
                    v,
                ));
                None
            }
        }
        Some(other) => {
            issues.push(string_type(&["image_s3_url"], other));
            None
        }
    };

    let audio_s3_urls = match fields.get("audio_s3_urls") {
        None => {
            issues.push(missing(&["audio_s3_urls"], body));
            None
        }
        Some(v) => match audio_urls(v) {
            Ok(urls) => Some(urls),
            Err(mut found) => {
                issues.append(&mut found);
                None
            }
        },
    };

    let output_s3_bucket = match fields.get("output_s3_bucket") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            issues.push(string_type(&["output_s3_bucket"], other));
            None
        }
    };

    let output_s3_prefix = match fields.get("output_s3_prefix") {
        None => "outputs/".to_owned(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            issues.push(string_type(&["output_s3_prefix"], other));
            String::new()
        }
    };

    let webhook_url = match fields.get("webhook_url") {
        None | Some(Value::Null) => None,
        Some(v) => match http_url(v) {
            Ok(url) => Some(url),
            Err(issue) => {
                issues.push(issue);
                None
            }
        },
    };

    let options = match fields.get("options") {
        None => Some(GenerationOptions::default()),
        Some(Value::Object(o)) => match options(o) {
            Ok(options) => Some(options),
            Err(mut found) => {
                issues.append(&mut found);
                None
            }
        },
        Some(other) => {
            issues.push(not_an_object(loc(&["options"]), other));
            None
        }
    };

    match (prompt, image_s3_url, audio_s3_urls, options) {
        (Some(prompt), Some(image_s3_url), Some(audio_s3_urls), Some(options))
            if issues.is_empty() =>
        {
            Ok(GenerateRequest {
                prompt,
                image_s3_url,
                audio_s3_urls,
                output_s3_bucket,
                output_s3_prefix,
                webhook_url,
                options,
            })
        }
        _ => Err(issues),
    }
}

/// `Union[str, List[str]]` with api.py's two validators: every URL must be an
/// S3 URL (before), then a string becomes a list and at most five are allowed
/// (after). An empty list passes, as it does in api.py.
fn audio_urls(v: &Value) -> Result<Vec<String>, ApiIssues> {
    const FIELD: &str = "audio_s3_urls";
    match v {
        Value::String(s) if is_valid_s3_url(s) => Ok(vec![s.clone()]),
        Value::String(s) => Err(vec![value_error(
            &[FIELD],
            format!("Invalid S3 URL format: {s}"),
            v,
        )]),
        Value::Array(items) => {
            let mut urls = Vec::with_capacity(items.len());
            let mut issues = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) if is_valid_s3_url(s) => urls.push(s.to_owned()),
                    Some(s) => {
                        // The pre-validator stops at the first bad URL.
                        return Err(vec![value_error(
                            &[FIELD],
                            format!("Invalid S3 URL format: {s}"),
                            v,
                        )]);
                    }
                    None => {
                        let mut at = loc(&[FIELD, "list[str]"]);
                        at.push(json!(i));
                        issues.push(ValidationIssue::new(
                            "string_type",
                            at,
                            "Input should be a valid string",
                            item.clone(),
                        ));
                    }
                }
            }
            if !issues.is_empty() {
                issues.insert(0, string_type(&[FIELD, "str"], v));
                return Err(issues);
            }
            if urls.len() > MAX_AUDIO_FILES {
                return Err(vec![value_error(
                    &[FIELD],
                    format!("Maximum {MAX_AUDIO_FILES} audio files allowed"),
                    v,
                )]);
            }
            Ok(urls)
        }
        other => Err(vec![
            string_type(&[FIELD, "str"], other),
            ValidationIssue::new(
                "list_type",
                loc(&[FIELD, "list[str]"]),
                "Input should be a valid list",
                other.clone(),
            ),
        ]),
    }
}

/// pydantic's `HttpUrl`, roughly: an absolute http(s) URL with a host.
fn http_url(v: &Value) -> Result<String, ValidationIssue> {
    let at = loc(&["webhook_url"]);
    let Some(s) = v.as_str() else {
        return Err(ValidationIssue::new(
            "url_type",
            at,
            "URL input should be a string or URL",
            v.clone(),
        ));
    };
    let parsing = |why: &str| {
        ValidationIssue::new(
            "url_parsing",
            at.clone(),
            format!("Input should be a valid URL, {why}"),
            v.clone(),
        )
        .with_ctx(json!({ "error": why }))
    };
    let Some((scheme, rest)) = s.trim().split_once(':') else {
        return Err(parsing("relative URL without a base"));
    };
    let scheme_ok = !scheme.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok {
        return Err(parsing("relative URL without a base"));
    }
    if !matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https") {
        return Err(ValidationIssue::new(
            "url_scheme",
            at,
            "URL scheme should be 'http' or 'https'",
            v.clone(),
        )
        .with_ctx(json!({ "expected_schemes": "'http' or 'https'" })));
    }
    let authority = rest.trim_start_matches(['/', '\\']);
    let host = authority
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .rsplit('@')
        .next()
        .unwrap_or("");
    if host.is_empty() || host.starts_with(':') {
        return Err(parsing("empty host"));
    }
    Ok(s.to_owned())
}

fn options(o: &Map<String, Value>) -> Result<GenerationOptions, ApiIssues> {
    let mut out = GenerationOptions::default();
    let mut issues = Vec::new();
    let mut check = |r: Result<(), ValidationIssue>| {
        if let Err(issue) = r {
            issues.push(issue);
        }
    };
    if let Some(v) = o.get("resolution") {
        check(choice(v, "resolution", &["480p", "720p"]).map(|c| out.resolution = c));
    }
    if let Some(v) = o.get("sample_steps") {
        check(int_in(v, "sample_steps", 10, 50).map(|n| out.sample_steps = n));
    }
    if let Some(v) = o.get("audio_type") {
        check(choice(v, "audio_type", &["add", "para"]).map(|c| out.audio_type = c));
    }
    if let Some(v) = o.get("audio_cfg") {
        check(float_in(v, "audio_cfg", 3.0, 5.0).map(|n| out.audio_cfg = n));
    }
    if let Some(v) = o.get("color_correction") {
        check(float_in(v, "color_correction", 0.0, 1.0).map(|n| out.color_correction = n));
    }
    if issues.is_empty() {
        Ok(out)
    } else {
        Err(issues)
    }
}

/// A str-valued `Enum` member.
fn choice(
    v: &Value,
    name: &str,
    allowed: &[&'static str],
) -> Result<&'static str, ValidationIssue> {
    if let Some(s) = v.as_str() {
        if let Some(hit) = allowed.iter().find(|a| **a == s) {
            return Ok(hit);
        }
    }
    let expected = allowed
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(" or ");
    Err(ValidationIssue::new(
        "enum",
        loc(&["options", name]),
        format!("Input should be {expected}"),
        v.clone(),
    )
    .with_ctx(json!({ "expected": expected })))
}

/// A lax-mode `int` with `ge`/`le`: whole floats, numeric strings and bools pass.
fn int_in(v: &Value, name: &str, ge: i64, le: i64) -> Result<i64, ValidationIssue> {
    let at = loc(&["options", name]);
    let fail =
        |kind: &'static str, msg: &str| ValidationIssue::new(kind, at.clone(), msg, v.clone());
    let n = match v {
        Value::Bool(b) => i64::from(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i,
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e18 => f as i64,
            (None, Some(f)) if f.is_finite() && f.fract() != 0.0 => {
                return Err(fail(
                    "int_from_float",
                    "Input should be a valid integer, got a number with a fractional part",
                ))
            }
            _ => {
                return Err(fail(
                    "int_parsing_size",
                    "Unable to parse input string as an integer, exceeded maximum size",
                ))
            }
        },
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| {
            fail(
                "int_parsing",
                "Input should be a valid integer, unable to parse string as an integer",
            )
        })?,
        _ => return Err(fail("int_type", "Input should be a valid integer")),
    };
    if n < ge {
        return Err(ValidationIssue::new(
            "greater_than_equal",
            at,
            format!("Input should be greater than or equal to {ge}"),
            v.clone(),
        )
        .with_ctx(json!({ "ge": ge })));
    }
    if n > le {
        return Err(ValidationIssue::new(
            "less_than_equal",
            at,
            format!("Input should be less than or equal to {le}"),
            v.clone(),
        )
        .with_ctx(json!({ "le": le })));
    }
    Ok(n)
}

/// A lax-mode `float` with `ge`/`le`: ints, numeric strings and bools pass.
fn float_in(v: &Value, name: &str, ge: f64, le: f64) -> Result<f64, ValidationIssue> {
    let at = loc(&["options", name]);
    let n = match v {
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::String(s) => s.trim().parse::<f64>().map_err(|_| {
            ValidationIssue::new(
                "float_parsing",
                at.clone(),
                "Input should be a valid number, unable to parse string as a number",
                v.clone(),
            )
        })?,
        _ => {
            return Err(ValidationIssue::new(
                "float_type",
                at,
                "Input should be a valid number",
                v.clone(),
            ))
        }
    };
    // pydantic prints 3.0 as "3", as Rust's Display does.
    if n.is_nan() || n < ge {
        return Err(ValidationIssue::new(
            "greater_than_equal",
            at,
            format!("Input should be greater than or equal to {ge}"),
            v.clone(),
        )
        .with_ctx(json!({ "ge": ge })));
    }
    if n > le {
        return Err(ValidationIssue::new(
            "less_than_equal",
            at,
            format!("Input should be less than or equal to {le}"),
            v.clone(),
        )
        .with_ctx(json!({ "le": le })));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "prompt": "Two people talk",
            "image_s3_url": "s3://bucket/people.png",
            "audio_s3_urls": "s3://bucket/a.wav",
        })
    }

    fn kinds(body: Value) -> Vec<(String, &'static str)> {
        match generate_request(Some(&body)) {
            Ok(_) => Vec::new(),
            Err(issues) => issues
                .into_iter()
                .map(|i| {
                    let at: Vec<String> = i
                        .loc
                        .iter()
                        .map(|l| match l {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect();
                    (at.join("."), i.kind)
                })
                .collect(),
        }
    }

    #[test]
    fn accepts_and_normalises() {
        let request = generate_request(Some(&valid())).unwrap();
        assert_eq!(request.audio_s3_urls, ["s3://bucket/a.wav"]);
        assert_eq!(request.options, GenerationOptions::default());
        assert_eq!(request.output_s3_prefix, "outputs/");

        let mut body = valid();
        body["audio_s3_urls"] = json!(["s3://b/1.wav", "s3://b/2.wav"]);
        body["options"] = json!({"resolution": "720p", "sample_steps": "30", "audio_cfg": 3, "audio_type": "para"});
        body["webhook_url"] = json!("https://example.com/hook");
        let request = generate_request(Some(&body)).unwrap();
        assert_eq!(request.audio_s3_urls.len(), 2);
        assert_eq!(request.options.resolution, "720p");
        assert_eq!(request.options.sample_steps, 30);
        assert_eq!(request.options.audio_cfg, 3.0);
    }

    #[test]
    fn reports_every_field() {
        assert_eq!(
            kinds(json!({})),
            [
                ("body.prompt".to_owned(), "missing"),
                ("body.image_s3_url".to_owned(), "missing"),
                ("body.audio_s3_urls".to_owned(), "missing"),
            ]
        );
        let mut body = valid();
        body["prompt"] = json!(7);
        body["image_s3_url"] = json!("https://bucket/x.png");
        body["audio_s3_urls"] =
            json!(["s3://b/1", "s3://b/2", "s3://b/3", "s3://b/4", "s3://b/5", "s3://b/6"]);
        body["webhook_url"] = json!("ftp://example.com");
        body["options"] = json!({"resolution": "1080p", "sample_steps": 9, "audio_cfg": 5.5, "color_correction": "x", "audio_type": 1});
        assert_eq!(
            kinds(body),
            [
                ("body.prompt".to_owned(), "string_type"),
                ("body.image_s3_url".to_owned(), "value_error"),
                ("body.audio_s3_urls".to_owned(), "value_error"),
                ("body.webhook_url".to_owned(), "url_scheme"),
                ("body.options.resolution".to_owned(), "enum"),
                ("body.options.sample_steps".to_owned(), "greater_than_equal"),
                ("body.options.audio_type".to_owned(), "enum"),
                ("body.options.audio_cfg".to_owned(), "less_than_equal"),
                ("body.options.color_correction".to_owned(), "float_parsing"),
            ]
        );
    }

    #[test]
    fn s3_urls_as_api_py_checks_them() {
        assert!(is_valid_s3_url("s3://bucket/key.wav"));
        assert!(is_valid_s3_url("s3://bucket/"));
        assert!(!is_valid_s3_url("s3://bucket"));
        assert!(!is_valid_s3_url("https://bucket/key"));
        assert_eq!(parse_s3_url("s3://b/k/x.mp4"), Some(("b", "k/x.mp4")));
    }

    #[test]
    fn decodes_like_fastapi() {
        assert_eq!(decode_body(None, b"").unwrap(), None);
        let err = decode_body(Some("application/json"), b"{\"a\":\n x}").unwrap_err();
        assert_eq!(err[0].kind, "json_invalid");
        assert_eq!(err[0].loc, [json!("body"), json!(7)]);
        assert_eq!(
            decode_body(Some("text/plain"), b"{}").unwrap(),
            Some(json!("{}"))
        );
        assert!(decode_body(Some("application/vnd.api+json; charset=utf-8"), b"{}").is_ok());
        let msg = generate_request(Some(&json!("{}"))).unwrap_err();
        assert_eq!(msg[0].kind, "model_attributes_type");
        let missing = generate_request(None).unwrap_err();
        assert_eq!(missing[0].loc, [json!("body")]);
    }
}
