//! An OpenAPI 3.0 or Swagger 2.0 file as the importer reads it: parsed from
//! JSON or YAML, its flavour, and its local `$ref`s followed with a bound.

use serde_json::{Map, Value};
use tollgate_model::ApiError;

/// Which of the two formats API Gateway imports a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    Oas30,
    Swagger2,
}

/// A parsed definition.
pub struct Document {
    pub root: Value,
    pub flavor: Flavor,
}

/// How many `$ref` hops one lookup may take: a cycle (`A → B → A`) ends
/// here with an error instead of looping.
const MAX_REF_HOPS: usize = 16;

/// AWS's answer to a body that is not an OpenAPI or Swagger document.
pub fn unreadable() -> ApiError {
    ApiError::bad_request("Unable to build importer with provided input.")
}

/// Parses `body` as JSON, or as YAML when it does not start like JSON.
/// Both parsers bound nesting (128 levels), and the YAML one refuses alias
/// expansion past a fixed budget, so a "billion laughs" file is an error.
pub fn parse_value(body: &[u8]) -> Result<Value, ApiError> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    match first {
        None => Err(unreadable()),
        Some(b'{') => serde_json::from_slice(body).map_err(|_| unreadable()),
        Some(_) => serde_norway::from_slice(body).map_err(|_| unreadable()),
    }
}

impl Document {
    pub fn parse(body: &[u8]) -> Result<Document, ApiError> {
        let root = parse_value(body)?;
        let version = |key: &str| root.get(key).and_then(Value::as_str).map(str::to_string);
        let flavor = match (version("openapi"), version("swagger")) {
            (Some(v), _) if v.starts_with("3.") => Flavor::Oas30,
            (_, Some(v)) if v == "2.0" => Flavor::Swagger2,
            _ => return Err(unreadable()),
        };
        if !root.get("paths").is_none_or(Value::is_object) {
            return Err(unreadable());
        }
        Ok(Document { root, flavor })
    }

    /// The prefix of a reference to a schema (`#/components/schemas/`).
    pub fn schema_ref_prefix(&self) -> &'static str {
        match self.flavor {
            Flavor::Oas30 => "#/components/schemas/",
            Flavor::Swagger2 => "#/definitions/",
        }
    }

    fn section(&self, oas30: &[&str], swagger: &[&str]) -> Option<&Map<String, Value>> {
        let keys = match self.flavor {
            Flavor::Oas30 => oas30,
            Flavor::Swagger2 => swagger,
        };
        keys.iter()
            .try_fold(&self.root, |v, k| v.get(k))
            .and_then(Value::as_object)
    }

    /// The schemas models are made from.
    pub fn schemas(&self) -> Option<&Map<String, Value>> {
        self.section(&["components", "schemas"], &["definitions"])
    }

    pub fn security_schemes(&self) -> Option<&Map<String, Value>> {
        self.section(&["components", "securitySchemes"], &["securityDefinitions"])
    }

    /// `value`, or what its local `$ref` points at, followed up to
    /// [`MAX_REF_HOPS`] times.
    pub fn resolve<'a>(&'a self, mut value: &'a Value) -> Result<&'a Value, ApiError> {
        for _ in 0..MAX_REF_HOPS {
            let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
                return Ok(value);
            };
            let pointer = reference.strip_prefix('#').ok_or_else(|| {
                import_error(format!("Only local references are supported: {reference}"))
            })?;
            value = self
                .root
                .pointer(pointer)
                .ok_or_else(|| import_error(format!("Unresolvable reference: {reference}")))?;
        }
        Err(import_error("Too many nested references (a $ref cycle?)"))
    }

    /// The base path the file declares: Swagger's `basePath`, or the path
    /// of OpenAPI's first server URL (`https://host/v1` → `/v1`).
    pub fn base_path(&self) -> Option<String> {
        let raw = match self.flavor {
            Flavor::Swagger2 => self.root.get("basePath")?.as_str()?.to_string(),
            Flavor::Oas30 => {
                let url = self.root.get("servers")?.get(0)?.get("url")?.as_str()?;
                let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
                let path = if url.contains("://") {
                    after_scheme.find('/').map_or("", |i| &after_scheme[i..])
                } else {
                    after_scheme
                };
                // `{basePath}` server variables take their default.
                let variables = self.root.get("servers")?.get(0)?.get("variables");
                substitute_variables(path, variables)
            }
        };
        let trimmed = raw.trim_matches('/');
        (!trimmed.is_empty()).then(|| format!("/{trimmed}"))
    }

    /// Where `x-amazon-apigateway-endpoint-configuration` sits: top level in
    /// Swagger, on the first server in OpenAPI 3 (either is read).
    pub fn endpoint_configuration(&self) -> Option<&Value> {
        const KEY: &str = "x-amazon-apigateway-endpoint-configuration";
        self.root.get(KEY).or_else(|| {
            self.root
                .get("servers")?
                .as_array()?
                .iter()
                .find_map(|s| s.get(KEY))
        })
    }
}

fn substitute_variables(path: &str, variables: Option<&Value>) -> String {
    let mut out = path.to_string();
    if let Some(vars) = variables.and_then(Value::as_object) {
        for (name, var) in vars {
            if let Some(default) = var.get("default").and_then(Value::as_str) {
                out = out.replace(&format!("{{{name}}}"), default);
            }
        }
    }
    out
}

/// An import that cannot go on, in AWS's wording.
pub fn import_error(detail: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("Errors found during import:\n\t{detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_json_and_yaml_alike() -> Result<(), ApiError> {
        let json = br#"{"openapi":"3.0.1","info":{"title":"t"},"paths":{"/a":{}}}"#;
        let yaml = b"openapi: 3.0.1\ninfo:\n  title: t\npaths:\n  /a: {}\n";
        let a = Document::parse(json)?;
        let b = Document::parse(yaml)?;
        assert_eq!(a.root, b.root);
        assert_eq!(b.flavor, Flavor::Oas30);
        Ok(())
    }

    #[test]
    fn yaml_numeric_keys_read_as_strings() -> Result<(), ApiError> {
        let yaml = b"swagger: '2.0'\npaths:\n  /a:\n    get:\n      responses:\n        200:\n          description: ok\n";
        let doc = Document::parse(yaml)?;
        assert!(doc.root.pointer("/paths/~1a/get/responses/200").is_some());
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_openapi() {
        for body in [
            &b""[..],
            b"{}",
            b"[1,2]",
            b"{\"openapi\":\"2.0\"}",
            b"a: [",
            b"{\"swagger\":\"2.0\",\"paths\":[]}",
        ] {
            let e = Document::parse(body).err();
            assert_eq!(
                e.map(|e| e.message),
                Some("Unable to build importer with provided input.".to_string())
            );
        }
    }

    #[test]
    fn yaml_alias_bomb_is_refused() {
        let mut bomb = String::from("openapi: 3.0.1\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        assert!(Document::parse(bomb.as_bytes()).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let deep = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        assert!(parse_value(deep.as_bytes()).is_err());
        let deep_yaml = format!(
            "openapi: 3.0.1\nx: {}1{}\n",
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert!(parse_value(deep_yaml.as_bytes()).is_err());
    }

    #[test]
    fn ref_cycles_end() -> Result<(), ApiError> {
        let doc = Document::parse(
            br##"{"openapi":"3.0.1","paths":{},"components":{"parameters":{"A":{"$ref":"#/components/parameters/B"},"B":{"$ref":"#/components/parameters/A"}}}}"##,
        )?;
        let start = serde_json::json!({"$ref": "#/components/parameters/A"});
        let e = doc.resolve(&start).err().map(|e| e.message);
        assert_eq!(
            e.as_deref(),
            Some("Errors found during import:\n\tToo many nested references (a $ref cycle?)")
        );
        Ok(())
    }

    #[test]
    fn base_paths() -> Result<(), ApiError> {
        let oas = Document::parse(
            br#"{"openapi":"3.0.1","paths":{},"servers":[{"url":"https://x.example.com/{basePath}","variables":{"basePath":{"default":"/v1/api"}}}]}"#,
        )?;
        assert_eq!(oas.base_path().as_deref(), Some("/v1/api"));
        let sw = Document::parse(br#"{"swagger":"2.0","paths":{},"basePath":"/prod"}"#)?;
        assert_eq!(sw.base_path().as_deref(), Some("/prod"));
        Ok(())
    }
}
