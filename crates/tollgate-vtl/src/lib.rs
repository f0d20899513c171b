//! # tollgate-vtl: API Gateway mapping templates
//!
//! API Gateway transforms request and response bodies with Apache Velocity (VTL 1.7)
//! templates. This crate parses a template once ([`Template::parse`], at save time, so that a
//! broken template is a `BadRequestException` with a line and column) and renders it many times
//! ([`Template::render`], on the data plane, never panicking).
//!
//! ```
//! use std::collections::BTreeMap;
//! use tollgate_vtl::{Params, RenderContext, Template};
//!
//! let t = Template::parse(r#"{"name": "$input.path('$.name')", "q": "$input.params('q')"}"#).unwrap();
//! let params = Params { querystring: vec![("q".into(), "x".into())], ..Params::default() };
//! let context = serde_json::json!({"stage": "prod"});
//! let stage_variables = BTreeMap::new();
//! let cx = RenderContext { body: r#"{"name": "Ann"}"#, params: &params, context: &context,
//!                          stage_variables: &stage_variables };
//! assert_eq!(t.render(&cx).unwrap().output, r#"{"name": "Ann", "q": "x"}"#);
//! ```
//!
//! ## Supported
//! - References: `$a`, `$a.b`, `$a.b()`, `${a}`, quiet `$!a`, `$a[0]`, `$a["k"]`, escaped `\$a`.
//! - Literals: `"interpolated $a"`, `'plain'`, integers, floats, `true`/`false`, lists `[1, 2]`,
//!   maps `{"k": v}`, ranges `[1..n]`.
//! - Directives: `#set`, `#if`/`#elseif`/`#else`/`#end`, `#foreach` (with `$foreach.index`,
//!   `.count`, `.hasNext`, `.first`, `.last` and `$velocityCount`), `#break`, `#stop`,
//!   `#define`, `#macro` and macro calls, `##` and `#* *#` comments, `#[[ unparsed ]]#`, `\#`.
//! - Operators: `+ - * / %`, `== != < <= > >=`, `&& || !` and their word forms
//!   (`eq ne lt le gt ge and or not`).
//! - Java methods on strings (`length`, `isEmpty`, `contains`, `startsWith`, `endsWith`,
//!   `equals`, `equalsIgnoreCase`, `indexOf`, `lastIndexOf`, `substring`, `charAt`, `concat`,
//!   `replace`, `replaceAll`, `replaceFirst`, `matches`, `split`, `toLowerCase`, `toUpperCase`,
//!   `trim`, `compareTo`), lists (`size`, `isEmpty`, `get`, `contains`, `indexOf`, `add`, `set`,
//!   `remove`, `addAll`, `clear`, `subList`) and maps (`size`, `isEmpty`, `get`, `containsKey`,
//!   `containsValue`, `put`, `putAll`, `remove`, `clear`, `keySet`, `values`, `entrySet`).
//! - API Gateway: `$input.body`, `$input.json(p)`, `$input.path(p)`, `$input.params()`,
//!   `$input.params(name)` (path, then query string, then header), `$context.*` (whatever the
//!   data plane puts in [`RenderContext::context`]), `$context.requestOverride.{header,path,
//!   querystring}.X` and `$context.responseOverride.{header.X,status}` (returned in
//!   [`Rendered::overrides`]), `$stageVariables.*`, and `$util.escapeJavaScript`, `parseJson`,
//!   `urlEncode`, `urlDecode`, `base64Encode`, `base64Decode`.
//! - Objects render as Java's `toString`: `{a=1, b=[x, y]}`; doubles as Java prints them (`1.0E10`).
//! - Whitespace as Velocity 1.7: a directive's `)` and `#else`/`#end` swallow trailing blanks and
//!   one newline; indentation before `#set` vanishes unless literal text precedes it on the line.
//!
//! ## Behaviour choices (AWS and Velocity 1.7 as checked against Velocity 1.7 itself)
//! - A reference that resolves to nothing (unset, missing property, null) renders as an empty
//!   string, as API Gateway does; stock Velocity would print the reference's text.
//! - `#set($x = <null>)` leaves `$x` unchanged (Velocity 1.7). `#if` on a bare literal other than
//!   `true` is false; on a reference it is false only for null and `false` (`""` and `0` are true).
//! - `==` compares numbers by value and other values of different kinds by their `toString`.
//! - Integer arithmetic stays integral (`5/2` is `2`); division by zero yields null.
//! - JSONPath: definite paths (`$.a.b[0]`, `$['k']`) give one value or null; other paths (`[*]`,
//!   `..`, filters) give a list of matches (Jayway's rule); evaluated with `serde_json_path`.
//! - The body is parsed as JSON at most once per render, on first use. An empty body is `{}`.
//!   A body that is not JSON makes `$input.path('$')` and `$input.json('$')` return the raw body
//!   text and every other path null/empty (AWS fails such requests; we stay lenient).
//! - `$input.json(p)` prints compact JSON (`{"a":1}`); a missing path prints nothing.
//! - `$input.params(name)` looks a header up case-insensitively if no exact name matches.
//!
//! ## Limits (each a [`RenderError`], never a panic)
//! - `#foreach`: 1,000 iterations per loop (API Gateway's limit), 1,000,000 in all per render.
//! - Nesting of blocks, macro calls, `#define`s and string interpolation: 64 deep (parsing: 64).
//! - Output, and any string a template builds: 10 MB. Lists and maps: 1,000,000 entries.
//!
//! ## Known differences
//! - From Velocity: macro arguments are passed by value (Velocity passes them by name);
//!   `#parse`, `#include` and `#evaluate` are rejected at parse time; `$foreach.parent` and
//!   Java class access (`$a.class`, static methods) are absent; a Java array (from `split`)
//!   prints as a list rather than `[Ljava.lang.String;@…`; a mutating method on JSON reached
//!   through a property chain (`$a.b.put(…)` where `$a` came from `$input.path`) changes a copy
//!   unless it is called on the variable itself (`$b.put(…)`), which is copied first.
//! - From AWS: string indexes count Unicode scalar values, not UTF-16 units; JSON integers
//!   larger than 64 bits render as doubles; Java regexes run on the `regex` crate (no
//!   look-around or back-references).

mod ast;
mod error;
mod jsonpath;
mod methods;
mod parser;
mod render;
mod util;
mod value;

use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use error::{ParseError, RenderError};
pub use render::{MAX_DEPTH, MAX_FOREACH, MAX_OUTPUT, MAX_WORK};

/// A parsed template: parse once when the integration is saved or deployed, render per request.
/// It is `Send + Sync`, so a deployment can share it between threads.
#[derive(Debug)]
pub struct Template {
    body: ast::Block,
    macros: HashMap<Box<str>, Arc<ast::Macro>>,
}

impl Template {
    /// Parses `src`; the error names the line and column of the first problem.
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        let parsed = parser::parse(src)?;
        Ok(Template {
            body: parsed.body,
            macros: parsed.macros,
        })
    }

    /// Renders the template against one request (or response).
    pub fn render(&self, cx: &RenderContext<'_>) -> Result<Rendered, RenderError> {
        let body = OnceCell::new();
        let mut r = render::Renderer::new(&self.macros, cx, &body);
        let mut output = String::with_capacity(256);
        r.run(&self.body, &mut output)?;
        Ok(Rendered {
            output,
            overrides: r.overrides,
        })
    }
}

/// The request's parameters, each list in request order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    /// Path parameters (`{id}` → `id`).
    pub path: Vec<(String, String)>,
    /// Query-string parameters (the last value of a repeated key, as API Gateway keeps).
    pub querystring: Vec<(String, String)>,
    /// Request headers.
    pub header: Vec<(String, String)>,
}

impl Params {
    /// `$input.params(name)`: path first, then query string, then header (API Gateway's order).
    pub fn lookup(&self, name: &str) -> Option<&str> {
        fn find<'p>(list: &'p [(String, String)], name: &str) -> Option<&'p str> {
            list.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        }
        find(&self.path, name)
            .or_else(|| find(&self.querystring, name))
            .or_else(|| find(&self.header, name))
            .or_else(|| {
                self.header
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.as_str())
            })
    }
}

/// What a template sees of the request: borrowed, so rendering copies nothing up front.
#[derive(Debug, Clone, Copy)]
pub struct RenderContext<'a> {
    /// The raw request (or integration response) body.
    pub body: &'a str,
    /// Path, query-string and header parameters for `$input.params`.
    pub params: &'a Params,
    /// The `$context` object as JSON (`{"requestId": …, "identity": {…}, …}`).
    pub context: &'a serde_json::Value,
    /// `$stageVariables`.
    pub stage_variables: &'a BTreeMap<String, String>,
}

/// A rendered template and the `$context` overrides it set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rendered {
    /// The transformed body.
    pub output: String,
    /// `requestOverride` / `responseOverride` values set with `#set($context.… = …)`.
    pub overrides: ContextOverrides,
}

/// The overrides a template may set; the data plane applies them after rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextOverrides {
    /// `$context.requestOverride.*` (integration request templates).
    pub request: RequestOverride,
    /// `$context.responseOverride.*` (integration response templates).
    pub response: ResponseOverride,
}

/// `$context.requestOverride`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOverride {
    /// `header.X`
    pub header: BTreeMap<String, String>,
    /// `path.X`
    pub path: BTreeMap<String, String>,
    /// `querystring.X`
    pub querystring: BTreeMap<String, String>,
}

/// `$context.responseOverride`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResponseOverride {
    /// `header.X`
    pub header: BTreeMap<String, String>,
    /// `status`, when set to a number.
    pub status: Option<u16>,
}

impl ContextOverrides {
    fn map(&self, side: value::Side, part: value::Part) -> Option<&BTreeMap<String, String>> {
        use value::{Part, Side};
        match (side, part) {
            (Side::Request, Part::Header) => Some(&self.request.header),
            (Side::Request, Part::Path) => Some(&self.request.path),
            (Side::Request, Part::Querystring) => Some(&self.request.querystring),
            (Side::Response, Part::Header) => Some(&self.response.header),
            (Side::Response, _) => None,
        }
    }

    fn map_mut(&mut self, side: value::Side, part: value::Part) -> &mut BTreeMap<String, String> {
        use value::{Part, Side};
        match (side, part) {
            (Side::Request, Part::Header) => &mut self.request.header,
            (Side::Request, Part::Path) => &mut self.request.path,
            (Side::Request, Part::Querystring) => &mut self.request.querystring,
            (Side::Response, _) => &mut self.response.header,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Template>();
    }
}
