//! Property tests: random templates and random bodies never panic the parser or the renderer.
//! `PROPTEST_CASES` raises the case count for long fuzzing runs.

use std::collections::BTreeMap;

use proptest::prelude::*;
use tollgate_vtl::{Params, RenderContext, Template};

fn render_any(src: &str, body: &str) {
    if let Ok(t) = Template::parse(src) {
        let params = Params {
            path: vec![("id".into(), "1".into())],
            querystring: vec![("q".into(), "x".into())],
            header: vec![("h".into(), "y".into())],
        };
        let context = serde_json::json!({"stage": "s", "identity": {"sourceIp": "1.2.3.4"}});
        let sv = BTreeMap::from([("k".to_string(), "v".to_string())]);
        let cx = RenderContext {
            body,
            params: &params,
            context: &context,
            stage_variables: &sv,
        };
        let _ = t.render(&cx);
    }
}

/// Fragments that VTL gives meaning to, so random sequences reach deep into the grammar.
const PIECES: &[&str] = &[
    "$a",
    "$!a",
    "${a}",
    "$a.b",
    "$a.b()",
    "$a[0]",
    "$a[\"k\"]",
    "$input.path('$')",
    "$input.json('$.x')",
    "$input.params()",
    "$input.params('q')",
    "$util.escapeJavaScript($a)",
    "$util.parseJson($input.body)",
    "$context.stage",
    "$stageVariables.k",
    "#set($a = ",
    "#set($a.b = ",
    "#if(",
    "#elseif(",
    "#else",
    "#end",
    "#foreach($i in ",
    "#break",
    "#stop",
    "#define($d)",
    "#macro(m $x)",
    "#m(1)",
    "## c\n",
    "#* c *#",
    "\\$a",
    "\\#if",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "[1..5]",
    "\"s $a\"",
    "'s'",
    "1",
    "-2",
    "3.5",
    "true",
    "false",
    "==",
    "!=",
    "<",
    "&&",
    "||",
    "!",
    "+",
    "-",
    "*",
    "/",
    "%",
    ",",
    ":",
    "\n",
    "  ",
    "x",
    "#",
    "$",
    ".size()",
    ".add($a)",
    ".put('k', $a)",
    ".keySet()",
    ".substring(1)",
    ".split(',')",
    "$foreach.hasNext",
    "$velocityCount",
    "#[[raw]]#",
    "$l",
    "#set($l = [1, 2])",
    "#set($m = {'a': $l})",
    "#set($context.responseOverride.status = ",
    "$context.requestOverride.header.h",
];

fn template() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..40).prop_map(|p| p.concat())
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,200}", body in "\\PC{0,50}") {
        render_any(&src, &body);
    }

    #[test]
    fn grammar_fragments_never_panic(src in template(), body in prop::sample::select(vec![
        "", "{}", "[1,2]", "{\"a\": {\"b\": [1, \"x\", null]}, \"x\": 1}", "not json", "\"s\"", "3",
    ])) {
        render_any(&src, body);
    }

    #[test]
    fn parse_errors_point_inside_the_template(src in template()) {
        if let Err(e) = Template::parse(&src) {
            let lines = src.split('\n').count();
            prop_assert!(e.line >= 1 && e.line <= lines, "{e} for {src:?}");
            prop_assert!(e.column >= 1, "{e}");
        }
    }
}
