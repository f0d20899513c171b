//! CreateDomainName, GetDomainName(s), UpdateDomainName, DeleteDomainName.
//!
//! Nothing is provisioned: no CloudFront distribution, no regional endpoint,
//! no certificate. The names AWS would give them (`d-….execute-api.{region}
//! .amazonaws.com`, `d….cloudfront.net`) are made up and shown so scripts
//! that read them work; the ARNs are checked for form and region and stored.
//! Tollgate does not terminate TLS for custom domains: the data plane routes
//! on the `Host` header of whatever reaches its listener.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use tollgate_model::domain_name::{DomainEndpointConfiguration, DomainName, DomainNameDoc};
use tollgate_model::patch::PatchOp;
use tollgate_model::{ids, ApiError, Change, Tags};

use super::{check_enum, patch_input, required, to_json, Op};
use crate::pagination::page;
use crate::request::Reply;

const SECURITY_POLICIES: &[&str] = &["TLS_1_0", "TLS_1_2"];
const DOMAIN_ENDPOINT_TYPES: &[&str] = &["REGIONAL", "EDGE", "PRIVATE"];
/// CloudFront's hosted zone, the same for every edge-optimized domain.
const DISTRIBUTION_HOSTED_ZONE_ID: &str = "Z2FDTNDATAQYW2";

pub(super) fn not_found() -> ApiError {
    ApiError::not_found("Invalid domain name identifier specified")
}

/// The domain named by `{domain_name}`.
pub(super) fn domain<'s>(op: &'s Op<'_>) -> Result<&'s Arc<DomainNameDoc>, ApiError> {
    op.state
        .domain_names
        .get(op.param("domain_name"))
        .ok_or_else(not_found)
}

/// A host name: dot-separated labels of letters, digits and inner hyphens,
/// at least two, 253 characters at most; `*.` may lead (a wildcard domain).
fn valid_host_name(name: &str) -> bool {
    let name = name.strip_prefix("*.").unwrap_or(name);
    let labels: Vec<&str> = name.split('.').collect();
    name.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// Route 53's hosted zone of API Gateway's regional endpoints, where known.
fn regional_hosted_zone(region: &str) -> Option<&'static str> {
    Some(match region {
        "us-east-1" => "Z1UJRXOUMOOFQ8",
        "us-east-2" => "ZOJJZC49E0EPZ",
        "us-west-1" => "Z2MUQ32089INYE",
        "us-west-2" => "Z2OJLYMUO9EFXC",
        "eu-west-1" => "ZLY8HYME6SFDD",
        "eu-central-1" => "Z1U9ULNL0V5AJ3",
        _ => return None,
    })
}

/// An ACM certificate ARN in `region`: `arn:{partition}:acm:{region}:{account}:certificate/{id}`.
fn check_certificate_arn(arn: &str, region: &str) -> Result<(), ApiError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let well_formed = matches!(parts.as_slice(), ["arn", partition, "acm", _, account, resource]
        if !partition.is_empty() && !account.is_empty()
            && resource.strip_prefix("certificate/").is_some_and(|id| !id.is_empty()));
    if !well_formed {
        return Err(ApiError::bad_request(format!(
            "Invalid certificate ARN: {arn}"
        )));
    }
    if parts[3] != region {
        return Err(ApiError::bad_request(format!(
            "Invalid certificate ARN: {arn}. Certificate must be in '{region}'."
        )));
    }
    Ok(())
}

/// The certificate members of a domain, checked against its endpoint type.
fn check_certificates(domain: &DomainName, region: &str) -> Result<(), ApiError> {
    let edge = domain
        .endpoint_configuration
        .types
        .iter()
        .any(|t| t == "EDGE");
    let (active, other) = if edge {
        ("EDGE", "REGIONAL")
    } else {
        ("REGIONAL", "EDGE")
    };
    let (own, foreign, own_region) = if edge {
        (
            &domain.certificate_arn,
            &domain.regional_certificate_arn,
            "us-east-1",
        )
    } else {
        (
            &domain.regional_certificate_arn,
            &domain.certificate_arn,
            region,
        )
    };
    if foreign.is_some() {
        return Err(ApiError::bad_request(format!(
            "Cannot import certificates for {other} while {active} is active."
        )));
    }
    match own {
        // Edge-optimized certificates live in us-east-1, CloudFront's region.
        Some(arn) => check_certificate_arn(arn, own_region),
        None => Err(ApiError::bad_request(format!(
            "A certificate ARN is required for a domain name with a {active} endpoint."
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateInput {
    domain_name: Option<String>,
    certificate_name: Option<String>,
    certificate_arn: Option<String>,
    certificate_body: Option<String>,
    regional_certificate_name: Option<String>,
    regional_certificate_arn: Option<String>,
    endpoint_configuration: Option<EndpointInput>,
    security_policy: Option<String>,
    #[serde(default)]
    tags: Tags,
}

#[derive(Deserialize)]
struct EndpointInput {
    #[serde(default)]
    types: Vec<String>,
}

pub fn create(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input: CreateInput = op.req.json()?;
    let name = required(&input.domain_name, "domainName")?.to_string();
    let types = input
        .endpoint_configuration
        .map(|e| e.types)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| vec!["EDGE".into()]);
    for (i, t) in types.iter().enumerate() {
        check_enum(
            t,
            &format!(
                "createDomainNameInput.endpointConfiguration.types.{}.member",
                i + 1
            ),
            DOMAIN_ENDPOINT_TYPES,
        )?;
    }
    if types.len() != 1 {
        return Err(ApiError::bad_request(
            "Cannot create a domain name with more than one endpoint type.",
        ));
    }
    if types[0] == "PRIVATE" {
        return Err(ApiError::bad_request(
            "Private custom domain names are not supported by Tollgate.",
        ));
    }
    let security_policy = input.security_policy.unwrap_or_else(|| "TLS_1_2".into());
    check_enum(
        &security_policy,
        "createDomainNameInput.securityPolicy",
        SECURITY_POLICIES,
    )?;
    if !valid_host_name(&name) {
        return Err(ApiError::bad_request(format!(
            "Invalid domain name specified: {name}"
        )));
    }
    if input.certificate_body.is_some() {
        return Err(ApiError::bad_request(
            "Uploaded certificates are not supported by Tollgate: give certificateArn.",
        ));
    }
    // Host names are case-insensitive: `API.example.com` is taken by `api.example.com`.
    if op
        .state
        .domain_names
        .keys()
        .any(|n| n.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::bad_request(
            "The domain name you provided already exists.",
        ));
    }
    let edge = types[0] == "EDGE";
    let region = op.config.region.clone();
    let domain = DomainName {
        domain_name: name.clone(),
        certificate_name: input.certificate_name.filter(|_| edge),
        certificate_arn: input.certificate_arn,
        certificate_upload_date: edge.then_some(op.now),
        regional_domain_name: (!edge).then(|| {
            format!(
                "d-{}.execute-api.{region}.amazonaws.com",
                ids::lower_alnum(10)
            )
        }),
        regional_hosted_zone_id: if edge {
            None
        } else {
            regional_hosted_zone(&region).map(str::to_string)
        },
        regional_certificate_name: input.regional_certificate_name.filter(|_| !edge),
        regional_certificate_arn: input.regional_certificate_arn,
        distribution_domain_name: edge.then(|| format!("d{}.cloudfront.net", ids::lower_alnum(13))),
        distribution_hosted_zone_id: edge.then(|| DISTRIBUTION_HOSTED_ZONE_ID.to_string()),
        endpoint_configuration: DomainEndpointConfiguration { types },
        domain_name_status: "AVAILABLE".into(),
        security_policy,
        tags: input.tags,
    };
    check_certificates(&domain, &region)?;
    let body = to_json(&domain)?;
    let doc = DomainNameDoc {
        domain,
        mappings: BTreeMap::new(),
    };
    op.changes
        .push(Change::DomainName(name, Some(Arc::new(doc))));
    Ok(Reply::created(body))
}

pub fn get(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    Ok(Reply::ok(to_json(&domain(op)?.domain)?))
}

pub fn list(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let items = op
        .state
        .domain_names
        .iter()
        .map(|(name, d)| Ok((name.clone(), to_json(&d.domain)?)))
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(Reply::ok(page(op.req, items)?))
}

const UPDATE_PATHS: &[&str] = &[
    "/certificateName",
    "/certificateArn",
    "/regionalCertificateName",
    "/regionalCertificateArn",
    "/securityPolicy",
];

pub fn update(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let input = patch_input(op, "updateDomainNameInput")?;
    let mut doc = domain(op)?.as_ref().clone();
    let d = &mut doc.domain;
    for patch in &input.patch_operations {
        if patch.op != PatchOp::Replace || !UPDATE_PATHS.contains(&patch.path.as_str()) {
            return Err(patch.unsupported_among(UPDATE_PATHS));
        }
        let value = patch.value.clone().filter(|v| !v.is_empty());
        match patch.path.as_str() {
            "/certificateName" => d.certificate_name = value,
            "/certificateArn" => d.certificate_arn = value,
            "/regionalCertificateName" => d.regional_certificate_name = value,
            "/regionalCertificateArn" => d.regional_certificate_arn = value,
            _ => {
                let policy = value.unwrap_or_default();
                check_enum(
                    &policy,
                    "updateDomainNameInput.securityPolicy",
                    SECURITY_POLICIES,
                )?;
                d.security_policy = policy;
            }
        }
    }
    check_certificates(d, &op.config.region)?;
    let body = to_json(d)?;
    let name = d.domain_name.clone();
    op.changes
        .push(Change::DomainName(name, Some(Arc::new(doc))));
    Ok(Reply::ok(body))
}

/// Deletes the domain and its base path mappings.
pub fn delete(op: &mut Op<'_>) -> Result<Reply, ApiError> {
    let name = domain(op)?.domain.domain_name.clone();
    op.changes.push(Change::DomainName(name, None));
    Ok(Reply::accepted())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_are_checked() {
        assert!(valid_host_name("api.example.com"));
        assert!(valid_host_name("*.example.com"));
        assert!(valid_host_name("a-b.example.com"));
        assert!(!valid_host_name("localhost"));
        assert!(!valid_host_name("-a.example.com"));
        assert!(!valid_host_name("a..example.com"));
        assert!(!valid_host_name("../etc.example.com"));
        assert!(!valid_host_name("api.example.com:443"));
        assert!(!valid_host_name(&format!("{}.com", "a".repeat(64))));
        assert!(!valid_host_name(&format!("{}com", "abc.".repeat(70))));
    }

    #[test]
    fn certificate_arns_are_checked_for_form_and_region() {
        let arn = "arn:aws:acm:us-east-1:111122223333:certificate/abc";
        assert!(check_certificate_arn(arn, "us-east-1").is_ok());
        let e = check_certificate_arn(arn, "eu-west-1").unwrap_err();
        assert_eq!(
            e.message,
            format!("Invalid certificate ARN: {arn}. Certificate must be in 'eu-west-1'.")
        );
        assert!(check_certificate_arn("arn:aws:iam::1:server-certificate/x", "us-east-1").is_err());
        assert!(check_certificate_arn("not-an-arn", "us-east-1").is_err());
    }
}
