//! ImportRestApi, PutRestApi and GetExport: an API as an OpenAPI 3.0 or
//! Swagger 2.0 file, in and out. [`document`] reads files, [`import`]
//! applies one to an API, [`export`] writes a deployed API back out.

pub mod document;
mod export;
pub mod import;

use std::collections::BTreeMap;

use serde_json::{json, Value};
use tollgate_model::resource::Resource;
use tollgate_model::rest_api::{
    EndpointConfiguration, RestApi, CREATION_SEQUENCE_MEMBER, ENDPOINT_TYPES,
};
use tollgate_model::state::{ApiDefinition, RestApiDoc};
use tollgate_model::{ids, ApiError};

use self::document::{import_error, Document};
use self::import::{BasePath, Options};
use super::{check_enum, models, rest_apis, to_json, Op};
use crate::request::Reply;

pub use export::get as get_export;

/// `POST /restapis`: CreateRestApi, or ImportRestApi with `mode=import`.
pub fn create_or_import(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    if op.req.query("mode") == Some("import") {
        import_rest_api(op)
    } else {
        rest_apis::create(op)
    }
}

/// The query members both operations take.
fn options(op: &Op<'_>, replace: bool) -> Result<Options, ApiError> {
    let base_path = match op.req.query("basepath").unwrap_or("ignore") {
        "ignore" => BasePath::Ignore,
        "prepend" => BasePath::Prepend,
        "split" => BasePath::Split,
        other => {
            return Err(ApiError::bad_request(format!(
                "Invalid basepath parameter: {other}. Valid options are ignore, prepend, split"
            )))
        }
    };
    Ok(Options {
        base_path,
        fail_on_warnings: op.req.query_bool("failonwarnings"),
        ignore_documentation: op.req.query("ignore") == Some("documentation"),
        replace,
    })
}

/// `endpointConfigurationTypes`, which wins over the file's extension.
fn endpoint_override(op: &Op<'_>, api: &mut RestApi) -> Result<(), ApiError> {
    if let Some(t) = op.req.query("endpointConfigurationTypes") {
        check_enum(t, "endpointConfigurationTypes", ENDPOINT_TYPES)?;
        api.endpoint_configuration.types = vec![t.to_string()];
    }
    let endpoint = &mut api.endpoint_configuration;
    if let Some(t) = endpoint.types.first() {
        if !ENDPOINT_TYPES.contains(&t.as_str()) {
            return Err(import_error(format!(
                "Invalid endpoint configuration type: {t}. Valid options are REGIONAL,EDGE,PRIVATE"
            )));
        }
        // PRIVATE APIs take only dualstack addressing.
        if t == "PRIVATE" {
            endpoint.ip_address_type = Some("dualstack".into());
        }
    }
    Ok(())
}

/// A RestApi as AWS shows it, with the import's warnings when there are any.
fn reply_body(api: &RestApi, warnings: Vec<String>) -> Result<Value, ApiError> {
    let mut body = to_json(api)?;
    if let Some(members) = body.as_object_mut() {
        members.remove(CREATION_SEQUENCE_MEMBER);
        if !warnings.is_empty() {
            members.insert("warnings".into(), json!(warnings));
        }
    }
    Ok(body)
}

/// An API as CreateRestApi makes it: a root resource and the default models.
fn new_api(op: &Op<'_>) -> RestApiDoc {
    let state = op.state;
    let id = ids::unique(10, |id| state.rest_apis.contains_key(id));
    let root_id = ids::lower_alnum(10);
    let creation_sequence = state
        .rest_apis
        .values()
        .map(|doc| doc.api.creation_sequence)
        .max()
        .unwrap_or(0)
        + 1;
    RestApiDoc {
        api: RestApi {
            id,
            name: String::new(),
            description: None,
            created_date: op.now,
            version: None,
            binary_media_types: Vec::new(),
            minimum_compression_size: None,
            api_key_source: "HEADER".into(),
            endpoint_configuration: EndpointConfiguration::default(),
            policy: None,
            tags: Default::default(),
            disable_execute_api_endpoint: false,
            root_resource_id: root_id.clone(),
            creation_sequence,
        },
        definition: fresh_definition(&root_id),
        stages: BTreeMap::new(),
        documentation: Default::default(),
    }
}

fn fresh_definition(root_id: &str) -> ApiDefinition {
    let root = Resource {
        id: root_id.to_string(),
        parent_id: None,
        path_part: None,
        path: "/".into(),
        resource_methods: BTreeMap::new(),
    };
    ApiDefinition {
        resources: BTreeMap::from([(root_id.to_string(), root)]),
        models: models::default_models()
            .into_iter()
            .map(|m| (m.name.clone(), m))
            .collect(),
        ..ApiDefinition::default()
    }
}

/// ImportRestApi: a new API from the file, all of it or nothing.
pub fn import_rest_api(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let opts = options(op, true)?;
    let file = Document::parse(&op.req.body)?;
    let mut doc = new_api(op);
    let warnings = import::apply(&mut doc, &file, &opts)?;
    if doc.api.name.is_empty() {
        return Err(import_error("The API needs a name: info.title is missing"));
    }
    endpoint_override(op, &mut doc.api)?;
    let body = reply_body(&doc.api, warnings)?;
    op.put_api(doc);
    Ok(Reply::created(body))
}

/// PutRestApi: `merge` adds the file's definitions to the API's (same
/// path and method, same name: replaced); `overwrite` makes the API's
/// definition the file's. Stages and deployments stay.
pub fn put_rest_api(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let mode = op.req.query("mode").unwrap_or("merge");
    check_enum(mode, "mode", &["merge", "overwrite"])?;
    let overwrite = mode == "overwrite";
    let opts = options(op, overwrite)?;
    let mut doc = op.api_to_edit()?;
    let file = Document::parse(&op.req.body)?;
    if overwrite {
        doc.definition = fresh_definition(&doc.api.root_resource_id);
        doc.documentation.parts.clear();
    }
    let warnings = import::apply(&mut doc, &file, &opts)?;
    endpoint_override(op, &mut doc.api)?;
    let body = reply_body(&doc.api, warnings)?;
    op.put_api(doc);
    Ok(Reply::ok(body))
}
