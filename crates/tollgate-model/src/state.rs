//! The whole control-plane state, and the changes operations make to it.
//!
//! Operations never mutate [`State`] directly: they read it and return a list of
//! [`Change`]s. The store writes the list in one transaction and only then is it
//! applied in memory, so a failed call leaves nothing half-written.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api_key::ApiKey;
use crate::authorizer::Authorizer;
use crate::deployment::DeploymentDoc;
use crate::gateway_response::GatewayResponse;
use crate::iam::{ManagedPolicy, Role};
use crate::lambda::{CodeId, FunctionDoc};
use crate::model_schema::Model;
use crate::request_validator::RequestValidator;
use crate::resource::Resource;
use crate::rest_api::RestApi;
use crate::secrets::Secret;
use crate::stage::Stage;
use crate::usage_plan::{UsageKey, UsagePlanDoc};

/// Everything a deployment freezes: the API's resources and the objects they refer to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ApiDefinition {
    pub resources: BTreeMap<String, Resource>,
    /// Keyed by model name.
    #[serde(default)]
    pub models: BTreeMap<String, Model>,
    #[serde(default)]
    pub request_validators: BTreeMap<String, RequestValidator>,
    #[serde(default)]
    pub authorizers: BTreeMap<String, Authorizer>,
    /// Only the customised ones; the rest are [`GatewayResponse::default_for`].
    #[serde(default)]
    pub gateway_responses: BTreeMap<String, GatewayResponse>,
}

/// One REST API as stored: its settings, its working definition and its stages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestApiDoc {
    pub api: RestApi,
    pub definition: ApiDefinition,
    #[serde(default)]
    pub stages: BTreeMap<String, Stage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountThrottle {
    pub burst_limit: i64,
    pub rate_limit: f64,
}

/// GetAccount's answer; the throttle is the account-wide default bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudwatch_role_arn: Option<String>,
    pub throttle_settings: AccountThrottle,
    #[serde(default)]
    pub features: Vec<String>,
    pub api_key_version: String,
}

impl Default for Account {
    fn default() -> Self {
        Account {
            cloudwatch_role_arn: None,
            throttle_settings: AccountThrottle {
                burst_limit: 5000,
                rate_limit: 10000.0,
            },
            features: vec!["UsagePlans".into()],
            api_key_version: "4".into(),
        }
    }
}

/// The control plane's state, loaded from the store at start-up.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub rest_apis: BTreeMap<String, Arc<RestApiDoc>>,
    /// api id → deployment id → deployment.
    pub deployments: BTreeMap<String, BTreeMap<String, Arc<DeploymentDoc>>>,
    pub api_keys: BTreeMap<String, Arc<ApiKey>>,
    pub usage_plans: BTreeMap<String, Arc<UsagePlanDoc>>,
    pub account: Account,
    /// Requests counted per plan, key and day.
    pub usage: BTreeMap<UsageKey, i64>,
    /// UpdateUsage overrides: requests added to (or, negative, taken from) the
    /// period starting on the key's day, so that `remaining` is what was set.
    pub usage_adjustments: BTreeMap<UsageKey, i64>,
    /// Lambda functions by name.
    pub functions: BTreeMap<String, Arc<FunctionDoc>>,
    /// The code zips the store holds (their bytes stay in the store).
    pub code: std::collections::BTreeSet<CodeId>,
    /// IAM roles by name.
    pub roles: BTreeMap<String, Arc<Role>>,
    /// IAM managed policies by ARN.
    pub policies: BTreeMap<String, Arc<ManagedPolicy>>,
    /// Secrets Manager secrets by name.
    pub secrets: BTreeMap<String, Arc<Secret>>,
}

/// One write to the state. `None` deletes.
#[derive(Debug, Clone)]
pub enum Change {
    RestApi(String, Option<Arc<RestApiDoc>>),
    Deployment {
        api_id: String,
        deployment_id: String,
        doc: Option<Arc<DeploymentDoc>>,
    },
    ApiKey(String, Option<Arc<ApiKey>>),
    UsagePlan(String, Option<Arc<UsagePlanDoc>>),
    Account(Account),
    /// Sets a usage counter (None removes it).
    Usage(UsageKey, Option<i64>),
    /// Sets a period's usage adjustment (None removes it).
    UsageAdjustment(UsageKey, Option<i64>),
    Function(String, Option<Arc<FunctionDoc>>),
    /// A function's code zip, kept by the store apart from the documents.
    Code(CodeId, Option<Arc<Vec<u8>>>),
    Role(String, Option<Arc<Role>>),
    Policy(String, Option<Arc<ManagedPolicy>>),
    Secret(String, Option<Arc<Secret>>),
}

impl State {
    /// Applies changes that the store has already made durable.
    pub fn apply(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::RestApi(id, Some(doc)) => {
                    self.rest_apis.insert(id.clone(), doc.clone());
                }
                Change::RestApi(id, None) => {
                    self.rest_apis.remove(id);
                }
                Change::Deployment {
                    api_id,
                    deployment_id,
                    doc: Some(doc),
                } => {
                    self.deployments
                        .entry(api_id.clone())
                        .or_default()
                        .insert(deployment_id.clone(), doc.clone());
                }
                Change::Deployment {
                    api_id,
                    deployment_id,
                    doc: None,
                } => {
                    if let Some(deps) = self.deployments.get_mut(api_id) {
                        deps.remove(deployment_id);
                        if deps.is_empty() {
                            self.deployments.remove(api_id);
                        }
                    }
                }
                Change::ApiKey(id, Some(key)) => {
                    self.api_keys.insert(id.clone(), key.clone());
                }
                Change::ApiKey(id, None) => {
                    self.api_keys.remove(id);
                }
                Change::UsagePlan(id, Some(plan)) => {
                    self.usage_plans.insert(id.clone(), plan.clone());
                }
                Change::UsagePlan(id, None) => {
                    self.usage_plans.remove(id);
                }
                Change::Account(account) => self.account = account.clone(),
                Change::Usage(key, Some(used)) => {
                    self.usage.insert(key.clone(), *used);
                }
                Change::Usage(key, None) => {
                    self.usage.remove(key);
                }
                Change::UsageAdjustment(key, Some(extra)) => {
                    self.usage_adjustments.insert(key.clone(), *extra);
                }
                Change::UsageAdjustment(key, None) => {
                    self.usage_adjustments.remove(key);
                }
                Change::Function(name, Some(doc)) => {
                    self.functions.insert(name.clone(), doc.clone());
                }
                Change::Function(name, None) => {
                    self.functions.remove(name);
                }
                Change::Code(id, Some(_)) => {
                    self.code.insert(id.clone());
                }
                Change::Code(id, None) => {
                    self.code.remove(id);
                }
                Change::Role(name, Some(role)) => {
                    self.roles.insert(name.clone(), role.clone());
                }
                Change::Role(name, None) => {
                    self.roles.remove(name);
                }
                Change::Policy(arn, Some(policy)) => {
                    self.policies.insert(arn.clone(), policy.clone());
                }
                Change::Policy(arn, None) => {
                    self.policies.remove(arn);
                }
                Change::Secret(name, Some(secret)) => {
                    self.secrets.insert(name.clone(), secret.clone());
                }
                Change::Secret(name, None) => {
                    self.secrets.remove(name);
                }
            }
        }
    }
}
