//! Custom domain names on the data plane: the base path mappings of every
//! domain, compiled into one immutable table the front door reads with a
//! single lock-free load (DESIGN.md's hot-path rules), rebuilt when the
//! control plane changes a domain.

use rustc_hash::FxHashMap as HashMap;
use tollgate_model::domain_name::{DomainNameDoc, NO_BASE_PATH};
use tollgate_model::State;

/// Where one base path leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedTarget {
    pub api_id: String,
    /// None: the next path segment names the stage.
    pub stage: Option<String>,
}

/// One domain's mappings.
#[derive(Debug, Default)]
pub struct DomainRoutes {
    by_base_path: HashMap<String, MappedTarget>,
    /// The `(none)` mapping: every path no other mapping names.
    fallback: Option<MappedTarget>,
}

/// Domains by lower-case host name. FxHash: the keys come from the
/// configuration, and a lookup hashes only a Host that is neither an
/// execute-api host nor an address.
pub type DomainTable = HashMap<String, DomainRoutes>;

fn routes(doc: &DomainNameDoc) -> DomainRoutes {
    let mut routes = DomainRoutes::default();
    for mapping in doc.mappings.values() {
        let target = MappedTarget {
            api_id: mapping.rest_api_id.clone(),
            stage: mapping.stage.clone(),
        };
        if mapping.base_path == NO_BASE_PATH {
            routes.fallback = Some(target);
        } else {
            routes
                .by_base_path
                .insert(mapping.base_path.clone(), target);
        }
    }
    routes
}

/// The table of every domain in `state`. Wildcard domains (`*.example.com`)
/// are stored by the control plane but not routed.
pub fn compile(state: &State) -> DomainTable {
    state
        .domain_names
        .values()
        .filter(|doc| !doc.domain.domain_name.starts_with("*."))
        .map(|doc| (doc.domain.domain_name.to_ascii_lowercase(), routes(doc)))
        .collect()
}

/// What a custom domain makes of a request path: the API, the stage and
/// the resource path; None when no mapping takes it (AWS: 403 Forbidden).
pub fn route<'p>(routes: &'p DomainRoutes, path: &'p str) -> Option<(&'p str, &'p str, &'p str)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let (first, rest) = match trimmed.find('/') {
        Some(slash) => (&trimmed[..slash], &trimmed[slash..]),
        None => (trimmed, "/"),
    };
    let (target, rest) = match routes.by_base_path.get(first) {
        Some(target) => (target, rest),
        None => (routes.fallback.as_ref()?, path),
    };
    Some(match &target.stage {
        Some(stage) => (target.api_id.as_str(), stage.as_str(), rest),
        None => {
            let (stage, rest) = crate::invoke::split_stage(rest);
            (target.api_id.as_str(), stage, rest)
        }
    })
}

/// Whether a host name (port removed) could be a custom domain: not
/// `localhost`, not an IP address. Such hosts never cost a table lookup.
pub fn may_be_custom_domain(hostname: &str) -> bool {
    !(hostname.is_empty()
        || hostname.eq_ignore_ascii_case("localhost")
        || hostname.starts_with('[')
        || hostname.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use tollgate_model::domain_name::{
        BasePathMapping, DomainEndpointConfiguration, DomainName, DomainNameDoc,
    };

    use super::*;

    fn doc(name: &str, mappings: &[(&str, &str, Option<&str>)]) -> Arc<DomainNameDoc> {
        Arc::new(DomainNameDoc {
            domain: DomainName {
                domain_name: name.into(),
                certificate_name: None,
                certificate_arn: None,
                certificate_upload_date: None,
                regional_domain_name: None,
                regional_hosted_zone_id: None,
                regional_certificate_name: None,
                regional_certificate_arn: None,
                distribution_domain_name: None,
                distribution_hosted_zone_id: None,
                endpoint_configuration: DomainEndpointConfiguration {
                    types: vec!["REGIONAL".into()],
                },
                domain_name_status: "AVAILABLE".into(),
                security_policy: "TLS_1_2".into(),
                tags: Default::default(),
            },
            mappings: mappings
                .iter()
                .map(|(base, api, stage)| {
                    (
                        base.to_string(),
                        BasePathMapping {
                            base_path: base.to_string(),
                            rest_api_id: api.to_string(),
                            stage: stage.map(str::to_string),
                        },
                    )
                })
                .collect::<BTreeMap<_, _>>(),
        })
    }

    #[test]
    fn routes_by_base_path_then_the_none_mapping() {
        let mut state = State::default();
        state.domain_names.insert(
            "API.example.com".into(),
            doc(
                "API.example.com",
                &[
                    ("orders", "a1", Some("prod")),
                    ("free", "a2", None),
                    ("(none)", "a3", Some("live")),
                ],
            ),
        );
        state
            .domain_names
            .insert("*.example.com".into(), doc("*.example.com", &[]));
        let table = compile(&state);
        assert_eq!(table.len(), 1, "wildcards are not routed");
        let routes = &table["api.example.com"];
        assert_eq!(route(routes, "/orders/x/y"), Some(("a1", "prod", "/x/y")));
        assert_eq!(route(routes, "/orders"), Some(("a1", "prod", "/")));
        assert_eq!(route(routes, "/free/beta/x"), Some(("a2", "beta", "/x")));
        assert_eq!(route(routes, "/other/x"), Some(("a3", "live", "/other/x")));
        assert_eq!(route(routes, "/"), Some(("a3", "live", "/")));
        // Base paths are matched as sent (case-sensitive).
        assert_eq!(route(routes, "/Orders"), Some(("a3", "live", "/Orders")));
    }

    #[test]
    fn no_mapping_means_no_route() {
        let mut state = State::default();
        state.domain_names.insert(
            "api.example.com".into(),
            doc("api.example.com", &[("v1", "a1", Some("prod"))]),
        );
        let table = compile(&state);
        assert_eq!(route(&table["api.example.com"], "/v2/x"), None);
        assert_eq!(route(&table["api.example.com"], "/"), None);
    }

    #[test]
    fn addresses_are_never_looked_up() {
        assert!(!may_be_custom_domain("127.0.0.1"));
        assert!(!may_be_custom_domain("[::1]"));
        assert!(!may_be_custom_domain("LocalHost"));
        assert!(!may_be_custom_domain(""));
        assert!(may_be_custom_domain("api.example.com"));
    }
}
