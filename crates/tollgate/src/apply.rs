//! `tollgate apply -f api.yaml [--stage prod] [--dry-run]`: converges a
//! gateway's API to an OpenAPI file with plain API Gateway calls (so the
//! same command works against AWS): ImportRestApi when no API has the file's
//! `info.title` (or `--rest-api-id`), else PutRestApi in overwrite mode, then
//! CreateDeployment to the stage. It prints what changes, method by method,
//! before sending anything; `--dry-run` stops there.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use serde_json::{json, Value};
use tollgate_aws::sigv4::Credentials;

use crate::control_client::{CallBody, ControlClient};

/// ImportRestApi's own limit on a definition (the control plane's 6 MB).
const MAX_FILE_BYTES: u64 = 6 * 1024 * 1024;

pub struct ApplyArgs {
    pub endpoint: String,
    pub region: String,
    pub credentials: Credentials,
    pub file: PathBuf,
    /// The API to converge; by default the one named as the file's `info.title`.
    pub rest_api_id: Option<String>,
    /// Deploy to this stage afterwards.
    pub stage: Option<String>,
    pub dry_run: bool,
}

/// A method of a resource path, as `GET /pets/{id}`.
type MethodAt = (String, String);

/// The methods an OpenAPI document defines.
fn file_methods(doc: &Value) -> BTreeSet<MethodAt> {
    const OPERATIONS: [&str; 8] = [
        "get",
        "put",
        "post",
        "delete",
        "options",
        "head",
        "patch",
        "x-amazon-apigateway-any-method",
    ];
    let mut methods = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for op in OPERATIONS {
            if item.get(op).is_some() {
                let method = match op {
                    "x-amazon-apigateway-any-method" => "ANY".to_string(),
                    other => other.to_ascii_uppercase(),
                };
                methods.insert((path.clone(), method));
            }
        }
    }
    methods
}

/// The methods of an API's resources as GetResources lists them.
fn live_methods(resources: &[Value]) -> BTreeSet<MethodAt> {
    let mut methods = BTreeSet::new();
    for resource in resources {
        let path = resource["path"].as_str().unwrap_or_default();
        for method in resource["resourceMethods"]
            .as_object()
            .into_iter()
            .flatten()
        {
            methods.insert((path.to_string(), method.0.clone()));
        }
    }
    methods
}

/// Every item of a paged list (`item`, `position`).
fn list_all(client: &ControlClient, path: &str) -> anyhow::Result<Vec<Value>> {
    let mut items = Vec::new();
    let mut position: Option<String> = None;
    loop {
        let separator = if path.contains('?') { '&' } else { '?' };
        let query = match &position {
            Some(p) => format!("{path}{separator}limit=500&position={p}"),
            None => format!("{path}{separator}limit=500"),
        };
        let (status, page) = client.send(&http::Method::GET, &query, &CallBody::None)?;
        if status != 200 {
            bail!("GET {path}: {status} {}", message(&page));
        }
        items.extend(page["item"].as_array().cloned().unwrap_or_default());
        match page["position"].as_str() {
            Some(p) if !p.is_empty() => position = Some(p.to_string()),
            _ => return Ok(items),
        }
    }
}

/// An error answer's message, as API Gateway words it.
fn message(answer: &Value) -> String {
    answer["message"]
        .as_str()
        .or_else(|| answer["Message"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| answer.to_string())
}

/// Which API the file converges, if it exists yet.
fn find_api(
    client: &ControlClient,
    args: &ApplyArgs,
    title: &str,
) -> anyhow::Result<Option<Value>> {
    if let Some(id) = &args.rest_api_id {
        let (status, api) = client.send(
            &http::Method::GET,
            &format!("/restapis/{id}"),
            &CallBody::None,
        )?;
        if status != 200 {
            bail!("REST API {id}: {status} {}", message(&api));
        }
        return Ok(Some(api));
    }
    let mut named: Vec<Value> = list_all(client, "/restapis")?
        .into_iter()
        .filter(|api| api["name"].as_str() == Some(title))
        .collect();
    match named.len() {
        0 => Ok(None),
        1 => Ok(named.pop()),
        n => bail!("{n} REST APIs are named {title:?}: choose one with --rest-api-id"),
    }
}

pub fn apply(args: ApplyArgs, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let size = std::fs::metadata(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?
        .len();
    if size > MAX_FILE_BYTES {
        bail!(
            "{} is {size} bytes; API Gateway imports at most 6 MB",
            args.file.display()
        );
    }
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let doc = tollgate_control::parse_openapi_document(&bytes)
        .map_err(|e| anyhow!("{}: {}", args.file.display(), e.message))?;
    let title = doc["info"]["title"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if title.is_empty() && args.rest_api_id.is_none() {
        bail!(
            "{} has no info.title: name the API with --rest-api-id",
            args.file.display()
        );
    }
    let client = ControlClient::new(&args.endpoint, &args.region, args.credentials.clone())?;
    let existing = find_api(&client, &args, &title)?;
    let wanted = file_methods(&doc);
    let current = match &existing {
        Some(api) => {
            let id = api["id"].as_str().unwrap_or_default();
            live_methods(&list_all(
                &client,
                &format!("/restapis/{id}/resources?embed=methods"),
            )?)
        }
        None => BTreeSet::new(),
    };
    match &existing {
        Some(api) => writeln!(
            out,
            "REST API {} ({}): overwritten from {}",
            api["id"].as_str().unwrap_or_default(),
            api["name"].as_str().unwrap_or_default(),
            args.file.display()
        )?,
        None => writeln!(
            out,
            "REST API {title:?}: created from {}",
            args.file.display()
        )?,
    }
    for (path, method) in wanted.difference(&current) {
        writeln!(out, "+ {method} {path}")?;
    }
    for (path, method) in current.difference(&wanted) {
        writeln!(out, "- {method} {path}")?;
    }
    for (path, method) in wanted.intersection(&current) {
        writeln!(out, "~ {method} {path} (replaced by the file's)")?;
    }
    if let Some(stage) = &args.stage {
        writeln!(out, "then deployed to stage {stage}")?;
    }
    if args.dry_run {
        writeln!(out, "dry run: nothing sent")?;
        return Ok(());
    }

    let content_type = if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        "application/json"
    } else {
        "application/yaml"
    };
    let body = CallBody::Raw {
        content_type: content_type.into(),
        bytes: Bytes::from(bytes),
    };
    let (status, api) = match &existing {
        Some(api) => {
            let id = api["id"].as_str().unwrap_or_default();
            client.send(
                &http::Method::PUT,
                &format!("/restapis/{id}?mode=overwrite"),
                &body,
            )?
        }
        None => client.send(&http::Method::POST, "/restapis?mode=import", &body)?,
    };
    if !(200..300).contains(&status) {
        bail!(
            "the gateway refused {}: {status} {}",
            args.file.display(),
            message(&api)
        );
    }
    for warning in api["warnings"].as_array().into_iter().flatten() {
        writeln!(out, "warning: {}", warning.as_str().unwrap_or_default())?;
    }
    let id = api["id"].as_str().unwrap_or_default().to_string();
    writeln!(out, "applied: REST API {id}")?;
    if let Some(stage) = &args.stage {
        let (status, deployment) = client.send(
            &http::Method::POST,
            &format!("/restapis/{id}/deployments"),
            &CallBody::Json(json!({"stageName": stage, "description": "tollgate apply"})),
        )?;
        if !(200..300).contains(&status) {
            bail!(
                "deploying {id} to {stage}: {status} {}",
                message(&deployment)
            );
        }
        writeln!(
            out,
            "deployed: {} to stage {stage}",
            deployment["id"].as_str().unwrap_or_default()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_of_a_file_and_of_an_api() {
        let doc = json!({"paths": {
            "/pets": {"get": {}, "post": {}, "parameters": []},
            "/pets/{id}": {"x-amazon-apigateway-any-method": {}},
        }});
        let wanted = file_methods(&doc);
        let at = |p: &str, m: &str| (p.to_string(), m.to_string());
        assert_eq!(
            wanted,
            BTreeSet::from([
                at("/pets", "GET"),
                at("/pets", "POST"),
                at("/pets/{id}", "ANY")
            ])
        );
        let live = live_methods(&[
            json!({"path": "/", "resourceMethods": {}}),
            json!({"path": "/pets", "resourceMethods": {"GET": {}, "DELETE": {}}}),
        ]);
        assert_eq!(
            live,
            BTreeSet::from([at("/pets", "DELETE"), at("/pets", "GET")])
        );
    }
}
