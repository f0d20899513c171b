//! The whole control-plane state, and the changes operations make to it.
//!
//! Operations never mutate [`State`] directly: they read it and return a list of
//! [`Change`]s. The store writes the list in one transaction and only then is it
//! applied in memory, so a failed call leaves nothing half-written.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::api_key::ApiKey;
use crate::authorizer::Authorizer;
use crate::client_certificate::ClientCertificate;
use crate::deployment::DeploymentDoc;
use crate::documentation::Documentation;
use crate::domain_name::DomainNameDoc;
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
use crate::vpc_link::VpcLink;

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
    #[serde(default, skip_serializing_if = "Documentation::is_empty")]
    pub documentation: Documentation,
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
    /// Hashes of the API keys' values, kept by [`State::apply`] and the
    /// store's loader: CreateApiKey's duplicate check without reading every key.
    pub api_key_values: ValueHashes,
    /// VPC links by id.
    pub vpc_links: BTreeMap<String, Arc<VpcLink>>,
    /// Client certificates by id.
    pub client_certificates: BTreeMap<String, Arc<ClientCertificate>>,
    /// Custom domain names (with their base path mappings) by name.
    pub domain_names: BTreeMap<String, Arc<DomainNameDoc>>,
}

/// How many API keys have a value of each hash.
#[derive(Debug, Clone, Default)]
pub struct ValueHashes {
    counts: HashMap<u64, u32>,
    /// Values counted (the keys a check can trust the counts for).
    total: usize,
}

impl ValueHashes {
    fn hash(value: &str) -> u64 {
        // SipHash with fixed keys: the same on every run, no allocation.
        let mut h = std::hash::DefaultHasher::new();
        value.hash(&mut h);
        h.finish()
    }

    pub fn add(&mut self, value: &str) {
        *self.counts.entry(Self::hash(value)).or_default() += 1;
        self.total += 1;
    }

    pub fn remove(&mut self, value: &str) {
        let h = Self::hash(value);
        if let Some(n) = self.counts.get_mut(&h) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&h);
            }
            self.total -= 1;
        }
    }
}

impl State {
    /// Whether an API key has `value`. Reads only the keys whose value has
    /// the same hash (none, almost always), or every key when the hashes do
    /// not cover them all (a state built by hand).
    pub fn api_key_value_taken(&self, value: &str) -> bool {
        let hashes = &self.api_key_values;
        if hashes.total == self.api_keys.len()
            && !hashes.counts.contains_key(&ValueHashes::hash(value))
        {
            return false;
        }
        self.api_keys.values().any(|k| *k.value == *value)
    }
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
    /// A plan with its keys (`key_ids`): the store writes its key list
    /// whole, so keys joining or leaving one by one are [`Change::UsagePlanKey`].
    UsagePlan(String, Option<Arc<UsagePlanDoc>>),
    /// One key joins (`member`) or leaves a plan, without rewriting the plan.
    UsagePlanKey {
        plan_id: String,
        key_id: String,
        member: bool,
    },
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
    VpcLink(String, Option<Arc<VpcLink>>),
    ClientCertificate(String, Option<Arc<ClientCertificate>>),
    /// A domain name with all its base path mappings.
    DomainName(String, Option<Arc<DomainNameDoc>>),
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
                    if let Some(old) = self.api_keys.insert(id.clone(), key.clone()) {
                        self.api_key_values.remove(&old.value);
                    }
                    self.api_key_values.add(&key.value);
                }
                Change::ApiKey(id, None) => {
                    if let Some(old) = self.api_keys.remove(id) {
                        self.api_key_values.remove(&old.value);
                    }
                }
                Change::UsagePlan(id, Some(plan)) => {
                    self.usage_plans.insert(id.clone(), plan.clone());
                }
                Change::UsagePlan(id, None) => {
                    self.usage_plans.remove(id);
                }
                Change::UsagePlanKey {
                    plan_id,
                    key_id,
                    member,
                } => {
                    if let Some(doc) = self.usage_plans.get_mut(plan_id) {
                        // In place unless someone still holds the document
                        // (then it is copied, as a whole-plan change would).
                        let doc = Arc::make_mut(doc);
                        if *member {
                            doc.key_ids.insert(key_id.clone());
                        } else {
                            doc.key_ids.remove(key_id);
                        }
                    }
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
                Change::VpcLink(id, Some(link)) => {
                    self.vpc_links.insert(id.clone(), link.clone());
                }
                Change::VpcLink(id, None) => {
                    self.vpc_links.remove(id);
                }
                Change::ClientCertificate(id, Some(cert)) => {
                    self.client_certificates.insert(id.clone(), cert.clone());
                }
                Change::ClientCertificate(id, None) => {
                    self.client_certificates.remove(id);
                }
                Change::DomainName(name, Some(doc)) => {
                    self.domain_names.insert(name.clone(), doc.clone());
                }
                Change::DomainName(name, None) => {
                    self.domain_names.remove(name);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::usage_plan::UsagePlan;

    fn key(id: &str, value: &str) -> Change {
        Change::ApiKey(
            id.into(),
            Some(Arc::new(ApiKey {
                id: id.into(),
                value: value.into(),
                name: None,
                customer_id: None,
                description: None,
                enabled: true,
                created_date: 0,
                last_updated_date: 0,
                stage_keys: vec![],
                tags: Default::default(),
            })),
        )
    }

    #[test]
    fn key_values_are_found_without_reading_every_key() {
        let mut s = State::default();
        s.apply(&[key("a", "value-a"), key("b", "value-b")]);
        assert!(s.api_key_value_taken("value-a"));
        assert!(!s.api_key_value_taken("value-c"));
        // Replaced, then deleted.
        s.apply(&[key("a", "value-a2")]);
        assert!(!s.api_key_value_taken("value-a"));
        assert!(s.api_key_value_taken("value-a2"));
        s.apply(&[Change::ApiKey("b".into(), None)]);
        assert!(!s.api_key_value_taken("value-b"));
        assert_eq!(s.api_key_values.total, 1);
        // A key put in by hand, past the hashes: still found.
        let mut by_hand = s.clone();
        if let Change::ApiKey(id, Some(k)) = key("h", "value-h") {
            by_hand.api_keys.insert(id, k);
        }
        assert!(by_hand.api_key_value_taken("value-h"));
    }

    #[test]
    fn keys_join_and_leave_a_plan_in_place() {
        let mut s = State::default();
        let doc = UsagePlanDoc {
            plan: UsagePlan {
                id: "p".into(),
                name: "p".into(),
                description: None,
                api_stages: vec![],
                throttle: None,
                quota: None,
                product_code: None,
                tags: Default::default(),
            },
            key_ids: BTreeSet::new(),
            created_date: 0,
        };
        s.apply(&[Change::UsagePlan("p".into(), Some(Arc::new(doc)))]);
        let before = Arc::as_ptr(&s.usage_plans["p"]);
        let member = |key_id: &str, member| Change::UsagePlanKey {
            plan_id: "p".into(),
            key_id: key_id.into(),
            member,
        };
        s.apply(&[member("k1", true), member("k2", true), member("k1", false)]);
        assert_eq!(
            s.usage_plans["p"].key_ids.iter().collect::<Vec<_>>(),
            ["k2"]
        );
        assert_eq!(Arc::as_ptr(&s.usage_plans["p"]), before, "not copied");
        // A plan deleted meanwhile: nothing to do.
        s.apply(&[Change::UsagePlanKey {
            plan_id: "gone".into(),
            key_id: "k".into(),
            member: true,
        }]);
        assert!(!s.usage_plans.contains_key("gone"));
    }
}
