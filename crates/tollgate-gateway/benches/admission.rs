//! The cost of phase 3 (API key → throttle layers → quota) per request, with
//! 10 to 100 000 keys spread over up to 1 000 usage plans.
//!
//! `cargo bench -p tollgate-gateway --bench admission`

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderValue};
use tollgate_gateway::admission::admit;
use tollgate_gateway::context::RequestContext;
use tollgate_gateway::integration::MethodRequest;
use tollgate_gateway::Gateway;
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

const API: &str = "benchapi01";
const STAGE: &str = "prod";

fn key_value(i: usize) -> String {
    format!("bench-key-value-{i:024}")
}

/// One API with `/api/{proxy+}` ANY (key required), deployed to `prod`, and
/// `keys` keys spread over `plans` plans on that stage.
fn state(keys: usize, plans: usize) -> State {
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
    };
    let definition = ApiDefinition {
        resources,
        ..ApiDefinition::default()
    };
    let mut stage = tollgate_gateway::compile::test_invoke_stage();
    stage.stage_name = STAGE.into();
    stage.deployment_id = "d1".into();
    let mut s = State::default();
    s.rest_apis.insert(
        API.into(),
        Arc::new(RestApiDoc {
            api: api.clone(),
            definition: definition.clone(),
            stages: BTreeMap::from([(STAGE.to_string(), stage)]),
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
                value: key_value(i),
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
                    // Limits far above what the benchmark sends: every request is admitted.
                    throttle: Some(ThrottleSettings {
                        burst_limit: Some(i64::MAX / 4),
                        rate_limit: Some(1e12),
                    }),
                    quota: Some(QuotaSettings {
                        limit: i64::MAX / 4,
                        offset: 0,
                        period: Some("DAY".into()),
                    }),
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

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("admission");
    for (keys, plans) in [(10, 10), (1_000, 100), (100_000, 1_000)] {
        let gateway = Gateway::new("000000000000");
        gateway.update(&state(keys, plans), &[]);
        let stage = gateway.stage(API, STAGE).expect("deployed");
        let matched = stage.router.find("/api/v1/jobs/x").expect("routed");
        let method = matched.method("GET").expect("method").clone();
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-api-key",
            HeaderValue::from_str(&key_value(keys / 2)).expect("ascii"),
        );
        let request = MethodRequest {
            method: http::Method::GET,
            headers,
            raw_query: None,
            query: vec![],
            path_params: vec![],
            body: Bytes::new(),
        };
        let peer: SocketAddr = ([127, 0, 0, 1], 1).into();
        let mut cx = RequestContext::new("r".into(), peer, "GET", "HTTP/1.1");
        group.bench_with_input(
            BenchmarkId::new("key+throttle+quota", format!("{keys} keys/{plans} plans")),
            &keys,
            |b, _| {
                b.iter(|| {
                    let admitted = admit(&gateway, &stage, &method, &request, &mut cx);
                    assert!(admitted.is_ok());
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
