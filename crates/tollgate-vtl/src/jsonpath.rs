//! JSONPath for `$input.path` and `$input.json`.
//!
//! API Gateway uses Jayway JsonPath: a *definite* path (only names and indexes) yields one
//! value or nothing, any other path (wildcards, filters, slices, `..`) yields a list of matches.
//! Definite paths are walked directly (fast, and lenient about names RFC 9535 would reject,
//! such as `$.content-type`); the rest go through `serde_json_path`.

use serde_json::Value as Json;
use serde_json_path::JsonPath;

/// A JSONPath compiled once, at parse time when the template passes a literal.
#[derive(Debug)]
pub(crate) enum CompiledPath {
    /// Names and indexes only.
    Definite(Vec<Step>),
    /// Anything else.
    Query(Box<JsonPath>),
}

/// One step of a definite path.
#[derive(Debug)]
pub(crate) enum Step {
    Name(Box<str>),
    /// An array index; negative counts from the end, as in Jayway.
    Index(i64),
}

/// What a path found.
pub(crate) enum Found<'a> {
    /// A definite path: the value, or `None` when it is absent.
    One(Option<&'a Json>),
    /// An indefinite path: every match, in document order.
    Many(Vec<&'a Json>),
}

impl CompiledPath {
    /// Compiles `path`; a path without a leading `$` is taken as relative to the root.
    pub(crate) fn compile(path: &str) -> Result<CompiledPath, String> {
        let path = path.trim();
        let full;
        let path = if path.starts_with('$') {
            path
        } else {
            full = if path.starts_with('[') {
                format!("${path}")
            } else {
                format!("$.{path}")
            };
            full.as_str()
        };
        if let Some(steps) = definite_steps(path) {
            return Ok(CompiledPath::Definite(steps));
        }
        JsonPath::parse(path)
            .map(|p| CompiledPath::Query(Box::new(p)))
            .map_err(|e| format!("invalid JSONPath {path:?}: {e}"))
    }

    /// Runs the path against `root`.
    pub(crate) fn find<'a>(&self, root: &'a Json) -> Found<'a> {
        match self {
            CompiledPath::Definite(steps) => {
                let mut cur = root;
                for step in steps {
                    let next = match (step, cur) {
                        (Step::Name(n), Json::Object(m)) => m.get(&**n),
                        (Step::Index(i), Json::Array(a)) => {
                            let idx = if *i < 0 { a.len() as i64 + i } else { *i };
                            usize::try_from(idx).ok().and_then(|i| a.get(i))
                        }
                        _ => None,
                    };
                    match next {
                        Some(v) => cur = v,
                        None => return Found::One(None),
                    }
                }
                Found::One(Some(cur))
            }
            CompiledPath::Query(p) => Found::Many(p.query(root).all()),
        }
    }
}

/// Parses `$`, `$.a.b`, `$['a']`, `$.a[0]` into steps; `None` for anything richer.
fn definite_steps(path: &str) -> Option<Vec<Step>> {
    let rest = path.strip_prefix('$')?;
    let b = rest.as_bytes();
    let mut steps = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && !matches!(b[j], b'.' | b'[') {
                    if matches!(b[j], b'*' | b'?' | b'(' | b')' | b',' | b'\'' | b'"' | b' ') {
                        return None;
                    }
                    j += 1;
                }
                if j == start {
                    return None; // `..` or a trailing dot
                }
                steps.push(Step::Name(rest[start..j].into()));
                i = j;
            }
            b'[' => {
                let close = rest[i..].find(']')? + i;
                let inner = rest[i + 1..close].trim();
                let quoted = inner.len() >= 2
                    && ((inner.starts_with('\'') && inner.ends_with('\''))
                        || (inner.starts_with('"') && inner.ends_with('"')));
                if quoted {
                    let name = &inner[1..inner.len() - 1];
                    if name.contains(['\'', '"', ',', '\\']) {
                        return None;
                    }
                    steps.push(Step::Name(name.into()));
                } else {
                    steps.push(Step::Index(inner.parse().ok()?));
                }
                i = close + 1;
            }
            _ => return None,
        }
    }
    Some(steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(path: &str, v: &Json) -> Option<Json> {
        match CompiledPath::compile(path).unwrap().find(v) {
            Found::One(x) => x.cloned(),
            Found::Many(_) => panic!("expected a definite path"),
        }
    }

    #[test]
    fn definite_paths() {
        let v = json!({"a": {"b-c": [1, 2, 3]}, "x y": 1});
        assert_eq!(one("$", &v), Some(v.clone()));
        assert_eq!(one("$.a.b-c[1]", &v), Some(json!(2)));
        assert_eq!(one("$['a']['b-c'][-1]", &v), Some(json!(3)));
        assert_eq!(one("a.b-c[0]", &v), Some(json!(1)));
        assert_eq!(one("$.missing.deeper", &v), None);
        assert_eq!(one("$['x y']", &v), Some(json!(1)));
    }

    #[test]
    fn indefinite_paths_list_matches() {
        let v = json!({"items": [{"id": 1}, {"id": 2}]});
        match CompiledPath::compile("$.items[*].id").unwrap().find(&v) {
            Found::Many(m) => assert_eq!(m, vec![&json!(1), &json!(2)]),
            Found::One(_) => panic!("expected a list"),
        }
        assert!(CompiledPath::compile("$.a[?(").is_err());
    }
}
