//! The route tree of one deployment: a literal segment beats `{param}`, which
//! beats `{proxy+}`; then the method, then `ANY` (`spec/aws-apigw.md` §2.1).

// FxHash: these maps are built from the configuration, never from request input.
use rustc_hash::FxHashMap as HashMap;
use std::sync::Arc;

/// One path parameter: its name, the raw (still percent-encoded) text and the decoded value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathParam {
    pub name: String,
    pub raw: String,
    pub value: String,
}

#[derive(Debug)]
struct Node<T> {
    literal: HashMap<String, Node<T>>,
    param: Option<(String, Box<Node<T>>)>,
    greedy: Option<(String, HashMap<String, Arc<T>>)>,
    methods: HashMap<String, Arc<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: HashMap::default(),
            param: None,
            greedy: None,
            methods: HashMap::default(),
        }
    }
}

/// Resources by path, each with its methods.
#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
}

/// What [`Router::find`] returns for a matched resource.
pub struct Matched<'r, T> {
    pub methods: &'r HashMap<String, Arc<T>>,
    pub params: Vec<PathParam>,
}

impl<'r, T> Matched<'r, T> {
    /// The method's own entry, else `ANY`.
    pub fn method(&self, http_method: &str) -> Option<&'r Arc<T>> {
        self.methods
            .get(http_method)
            .or_else(|| self.methods.get("ANY"))
    }
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
        }
    }
}

impl<T> Router<T> {
    /// Adds a resource path (`/api/{proxy+}`) with its methods. Paths come from
    /// validated resources, so a greedy part is always last.
    pub fn insert(&mut self, path: &str, methods: HashMap<String, Arc<T>>) {
        let mut node = &mut self.root;
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix("+}")) {
                if i + 1 == parts.len() {
                    node.greedy = Some((name.to_string(), methods));
                }
                return;
            }
            node = match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => {
                    let entry = node
                        .param
                        .get_or_insert_with(|| (name.to_string(), Box::default()));
                    &mut entry.1
                }
                None => node.literal.entry(part.to_string()).or_default(),
            };
        }
        node.methods = methods;
    }

    /// Finds the resource for a raw request path (after the stage), trailing slash ignored.
    pub fn find(&self, raw_path: &str) -> Option<Matched<'_, T>> {
        // The segments of a usual path stay on the stack (no allocation).
        const ON_STACK: usize = 16;
        let mut on_stack = [""; ON_STACK];
        let mut spilled = Vec::new();
        let mut count = 0;
        for segment in raw_path.split('/').filter(|s| !s.is_empty()) {
            if count < ON_STACK {
                on_stack[count] = segment;
            } else {
                if spilled.is_empty() {
                    spilled.extend_from_slice(&on_stack);
                }
                spilled.push(segment);
            }
            count += 1;
        }
        let segments = if count <= ON_STACK {
            &on_stack[..count]
        } else {
            &spilled[..]
        };
        let mut params = Vec::new();
        let methods = find_in(&self.root, segments, &mut params)?;
        Some(Matched { methods, params })
    }
}

/// Percent-decodes a path text, borrowing when there is nothing to decode.
fn decode(raw: &str) -> std::borrow::Cow<'_, str> {
    if raw.contains('%') {
        percent_encoding::percent_decode_str(raw).decode_utf8_lossy()
    } else {
        std::borrow::Cow::Borrowed(raw)
    }
}

fn find_in<'r, T>(
    node: &'r Node<T>,
    segments: &[&str],
    params: &mut Vec<PathParam>,
) -> Option<&'r HashMap<String, Arc<T>>> {
    let Some((first, rest)) = segments.split_first() else {
        return Some(&node.methods);
    };
    if let Some(child) = node.literal.get(decode(first).as_ref()) {
        if let Some(found) = find_in(child, rest, params) {
            return Some(found);
        }
    }
    if let Some((name, child)) = &node.param {
        let mark = params.len();
        params.push(PathParam {
            name: name.clone(),
            raw: first.to_string(),
            value: decode(first).into_owned(),
        });
        if let Some(found) = find_in(child, rest, params) {
            return Some(found);
        }
        params.truncate(mark);
    }
    if let Some((name, methods)) = &node.greedy {
        let raw = match segments {
            [only] => only.to_string(),
            _ => segments.join("/"),
        };
        params.push(PathParam {
            name: name.clone(),
            value: decode(&raw).into_owned(),
            raw,
        });
        return Some(methods);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn methods(tag: &str, names: &[&str]) -> HashMap<String, Arc<String>> {
        names
            .iter()
            .map(|m| (m.to_string(), Arc::new(tag.to_string())))
            .collect()
    }

    fn router() -> Router<String> {
        let mut r = Router::default();
        r.insert("/", methods("root", &["GET"]));
        r.insert("/api", methods("api", &["GET"]));
        r.insert("/api/{proxy+}", methods("proxy", &["ANY"]));
        r.insert("/pets", methods("pets", &["GET", "POST"]));
        r.insert("/pets/{id}", methods("pet", &["GET"]));
        r.insert("/pets/mine", methods("mine", &["GET"]));
        r.insert("/pets/{id}/toys", methods("toys", &["GET"]));
        r
    }

    fn tag(r: &Router<String>, method: &str, path: &str) -> Option<String> {
        r.find(path)
            .and_then(|m| m.method(method).map(|t| t.to_string()))
    }

    #[test]
    fn literal_beats_param_beats_greedy() {
        let r = router();
        assert_eq!(tag(&r, "GET", "/pets/mine"), Some("mine".to_string()));
        assert_eq!(tag(&r, "GET", "/pets/7"), Some("pet".to_string()));
        assert_eq!(tag(&r, "GET", "/pets/7/toys"), Some("toys".to_string()));
        assert_eq!(
            tag(&r, "DELETE", "/api/v1/jobs/1"),
            Some("proxy".to_string())
        );
        assert_eq!(tag(&r, "GET", "/"), Some("root".to_string()));
        assert_eq!(tag(&r, "GET", "/pets/"), Some("pets".to_string()));
    }

    #[test]
    fn unknown_routes_and_methods_miss() {
        let r = router();
        assert_eq!(tag(&r, "GET", "/nothing"), None);
        assert_eq!(tag(&r, "DELETE", "/pets"), None);
        assert_eq!(tag(&r, "GET", "/pets/7/toys/x"), None);
    }

    #[test]
    fn captures_parameters() {
        let r = router();
        let m = r.find("/api/v1/jobs/a%20b").map(|m| m.params);
        assert_eq!(
            m,
            Some(vec![PathParam {
                name: "proxy".into(),
                raw: "v1/jobs/a%20b".into(),
                value: "v1/jobs/a b".into()
            }])
        );
        let m = r.find("/pets/42/toys").map(|m| m.params);
        assert_eq!(m.map(|p| p[0].value.clone()), Some("42".to_string()));
    }

    #[test]
    fn long_paths_match_as_short_ones() {
        let r = router();
        for n in [1, 14, 15, 16, 17, 40] {
            let rest: Vec<String> = (0..n).map(|i| format!("s{i}")).collect();
            let path = format!("/api//{}/", rest.join("/"));
            let m = r.find(&path).map(|m| m.params);
            assert_eq!(
                m.map(|p| (p[0].raw.clone(), p[0].value.clone())),
                Some((rest.join("/"), rest.join("/"))),
                "{n} segments"
            );
        }
        let mut deep = Router::default();
        let literal: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        deep.insert(
            &format!("/{}/{{id}}", literal.join("/")),
            methods("deep", &["GET"]),
        );
        let path = format!("/{}/7", literal.join("/"));
        assert_eq!(tag(&deep, "GET", &path), Some("deep".to_string()));
        assert_eq!(
            deep.find(&path).map(|m| m.params[0].value.clone()),
            Some("7".into())
        );
    }
}
