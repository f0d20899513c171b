//! Ready-made states for benchmarks and tests: one deployed API whose
//! `/api/{proxy+}` ANY method requires an API key, and keys spread over plans.
//! Not part of the gateway's API.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tollgate_model::api_key::ApiKey;
use tollgate_model::deployment::{Deployment, DeploymentDoc};
use tollgate_model::integration::Integration;
use tollgate_model::method::Method;
use tollgate_model::resource::Resource;
use tollgate_model::rest_api::{EndpointConfiguration, RestApi};
use tollgate_model::state::{ApiDefinition, RestApiDoc};
use tollgate_model::usage_plan::{
    ApiStage, QuotaSettings, ThrottleSettings, UsagePlan, UsagePlanDoc,
};
use tollgate_model::State;

pub const API: &str = "benchapi01";
pub const STAGE: &str = "prod";

/// The value of key number `i`.
pub fn key_value(i: usize) -> String {
    format!("bench-key-value-{i:024}")
}

/// `keys` keys spread over `plans` plans, each plan with `throttle` and `quota`.
pub fn keyed_state(
    keys: usize,
    plans: usize,
    throttle: Option<ThrottleSettings>,
    quota: Option<QuotaSettings>,
) -> State {
    let method = Method {
        http_method: "ANY".into(),
        authorization_type: "NONE".into(),
        authorizer_id: None,
        api_key_required: true,
        request_validator_id: None,
        operation_name: None,
        request_parameters: BTreeMap::new(),
        request_models: BTreeMap::new(),
        authorization_scopes: vec![],
        method_responses: BTreeMap::new(),
        method_integration: Some(Integration {
            integration_type: "HTTP_PROXY".into(),
            http_method: Some("ANY".into()),
            uri: Some("http://127.0.0.1:9/{proxy}".into()),
            connection_type: None,
            connection_id: None,
            credentials: None,
            request_parameters: BTreeMap::new(),
            request_templates: BTreeMap::new(),
            passthrough_behavior: "WHEN_NO_MATCH".into(),
            content_handling: None,
            timeout_in_millis: 29_000,
            cache_namespace: "p".into(),
            cache_key_parameters: vec![],
            integration_responses: BTreeMap::new(),
            tls_config: None,
        }),
    };
    let resources = BTreeMap::from([(
        "p".to_string(),
        Resource {
            id: "p".into(),
            parent_id: None,
            path_part: Some("{proxy+}".into()),
            path: "/api/{proxy+}".into(),
            resource_methods: BTreeMap::from([("ANY".to_string(), method)]),
        },
    )]);
    let api = RestApi {
        id: API.into(),
        name: "bench".into(),
        description: None,
        created_date: 0,
        version: None,
        binary_media_types: vec![],
        minimum_compression_size: None,
        api_key_source: "HEADER".into(),
        endpoint_configuration: EndpointConfiguration::default(),
        policy: None,
        tags: Default::default(),
        disable_execute_api_endpoint: false,
        root_resource_id: "p".into(),
        creation_sequence: 0,
    };
    let definition = ApiDefinition {
        resources,
        ..ApiDefinition::default()
    };
    let mut stage = crate::compile::test_invoke_stage();
    stage.stage_name = STAGE.into();
    stage.deployment_id = "d1".into();
    let mut s = State::default();
    s.rest_apis.insert(
        API.into(),
        Arc::new(RestApiDoc {
            api: api.clone(),
            definition: definition.clone(),
            stages: BTreeMap::from([(STAGE.to_string(), stage)]),
            documentation: Default::default(),
        }),
    );
    s.deployments.entry(API.into()).or_default().insert(
        "d1".into(),
        Arc::new(DeploymentDoc {
            deployment: Deployment {
                id: "d1".into(),
                description: None,
                created_date: 0,
                api_summary: BTreeMap::new(),
            },
            api,
            definition,
        }),
    );
    let mut plan_keys: Vec<BTreeSet<String>> = vec![BTreeSet::new(); plans];
    for i in 0..keys {
        let id = format!("k{i:09}");
        plan_keys[i % plans].insert(id.clone());
        s.api_keys.insert(
            id.clone(),
            Arc::new(ApiKey {
                id,
                value: key_value(i).into(),
                name: None,
                customer_id: None,
                description: None,
                enabled: true,
                created_date: 0,
                last_updated_date: 0,
                stage_keys: vec![],
                tags: Default::default(),
            }),
        );
    }
    for (p, key_ids) in plan_keys.into_iter().enumerate() {
        let id = format!("plan{p:05}");
        s.usage_plans.insert(
            id.clone(),
            Arc::new(UsagePlanDoc {
                plan: UsagePlan {
                    id,
                    name: "p".into(),
                    description: None,
                    api_stages: vec![ApiStage {
                        api_id: API.into(),
                        stage: STAGE.into(),
                        throttle: BTreeMap::new(),
                    }],
                    throttle: throttle.clone(),
                    quota: quota.clone(),
                    product_code: None,
                    tags: Default::default(),
                },
                key_ids,
                created_date: 0,
            }),
        );
    }
    s.account.throttle_settings.burst_limit = i64::MAX / 4;
    s.account.throttle_settings.rate_limit = 1e12;
    s
}

/// Request headers with `x-api-key: key` (none when `None`).
pub fn key_headers(key: Option<&str>) -> http::HeaderMap {
    let mut headers = http::HeaderMap::new();
    if let Some(k) = key.and_then(|k| http::HeaderValue::from_str(k).ok()) {
        headers.insert("x-api-key", k);
    }
    headers
}

/// The id of the authorizer [`with_token_authorizer`] adds.
pub const AUTHORIZER: &str = "authz1";

/// Puts the API's method behind a TOKEN Lambda authorizer reading the
/// `Authorization` header, its answers cached for `ttl_seconds`, run by
/// function `function`.
pub fn with_token_authorizer(state: &mut State, function: &str, ttl_seconds: i64) {
    let authorizer = tollgate_model::authorizer::Authorizer {
        id: AUTHORIZER.into(),
        name: "bench".into(),
        authorizer_type: "TOKEN".into(),
        provider_arns: vec![],
        auth_type: Some("custom".into()),
        authorizer_uri: Some(format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/arn:aws:lambda:us-east-1:000000000000:function:{function}/invocations"
        )),
        authorizer_credentials: None,
        identity_source: Some("method.request.header.Authorization".into()),
        identity_validation_expression: None,
        authorizer_result_ttl_in_seconds: ttl_seconds,
    };
    let protect = |definition: &mut ApiDefinition| {
        definition
            .authorizers
            .insert(AUTHORIZER.into(), authorizer.clone());
        for resource in definition.resources.values_mut() {
            for method in resource.resource_methods.values_mut() {
                method.authorization_type = "CUSTOM".into();
                method.authorizer_id = Some(AUTHORIZER.into());
            }
        }
    };
    for doc in state.rest_apis.values_mut() {
        protect(&mut Arc::make_mut(doc).definition);
    }
    for deployments in state.deployments.values_mut() {
        for doc in deployments.values_mut() {
            protect(&mut Arc::make_mut(doc).definition);
        }
    }
}

/// A Lambda authorizer's answer allowing every method of the fixture's API.
pub fn allow_all_answer(principal: &str) -> String {
    serde_json::json!({
        "principalId": principal,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": format!("arn:aws:execute-api:*:*:{API}/{STAGE}/*"),
            }],
        },
        "context": {"tenant": principal},
    })
    .to_string()
}

/// 0..n in a fixed shuffled order (xorshift64 and Fisher–Yates): keys are
/// created, and so allocated, in index order, and walking them in that order
/// would let the hardware prefetcher hide the misses a real mix of clients
/// causes.
pub fn shuffled(n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in (1..n).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        order.swap(i, (x % (i as u64 + 1)) as usize);
    }
    order
}
