//! Parses arbitrary bytes as a template and renders whatever parses: neither may panic.
//! Run with `cargo fuzz run parse_render` (nightly), or see the crate README for stable.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use tollgate_vtl::{Params, RenderContext, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    // The first line, if any, is the body; the rest is the template.
    let (body, template) = src.split_once('\n').unwrap_or(("{}", src));
    if let Ok(t) = Template::parse(template) {
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
});
