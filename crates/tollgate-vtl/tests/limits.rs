//! Errors and limits: bad templates fail at parse time with a position, runaway templates
//! stop with an error, and nothing panics.

use std::collections::BTreeMap;

use tollgate_vtl::{Params, RenderContext, RenderError, Template};

fn render(src: &str) -> Result<String, RenderError> {
    let t = Template::parse(src).unwrap_or_else(|e| panic!("{e}"));
    let params = Params::default();
    let context = serde_json::json!({});
    let sv = BTreeMap::new();
    let cx = RenderContext {
        body: "{}",
        params: &params,
        context: &context,
        stage_variables: &sv,
    };
    t.render(&cx).map(|r| r.output)
}

#[test]
fn parse_errors_carry_line_and_column() {
    let e = Template::parse("ok\n  #if($a == )x#end").unwrap_err();
    assert_eq!((e.line, e.column), (2, 13), "{e}");
    assert!(e.to_string().starts_with("line 2, column 13: "), "{e}");

    let e = Template::parse("#foreach($a in $b)\nno end").unwrap_err();
    assert_eq!((e.line, e.column), (1, 1), "{e}");
    let e = Template::parse("a\nb #end").unwrap_err();
    assert_eq!((e.line, e.column), (2, 3), "{e}");
    assert!(Template::parse("#set($a = \"unterminated)").is_err());
    assert!(Template::parse("#* never closed").is_err());
    assert!(Template::parse("#else").is_err());
    assert!(Template::parse("#include('x')").is_err());
    assert!(Template::parse("#set($a.b() = 1)").is_err());
}

#[test]
fn deep_nesting_is_a_parse_error_not_a_crash() {
    let deep = "#if(true)".repeat(10_000) + &"#end".repeat(10_000);
    assert!(Template::parse(&deep).is_err());
    let parens = format!("#set($a = {}1{})", "(".repeat(10_000), ")".repeat(10_000));
    assert!(Template::parse(&parens).is_err());
    let chain = format!("#set($a = 1{})", " + 1".repeat(100_000));
    assert!(Template::parse(&chain).is_err());
    let lists = format!("#set($a = {}{})", "[".repeat(10_000), "]".repeat(10_000));
    assert!(Template::parse(&lists).is_err());
}

#[test]
fn foreach_is_limited_to_1000_iterations() {
    assert_eq!(
        render("#foreach($i in [1..1000])#end done").unwrap(),
        " done"
    );
    assert_eq!(
        render("#foreach($i in [1..1001])#end"),
        Err(RenderError::LoopLimit { limit: 1000 })
    );
    assert_eq!(
        render("#foreach($i in [1..2000000000])#end"),
        Err(RenderError::LoopLimit { limit: 1000 })
    );
    // A list that grows while it is walked is still bounded.
    assert!(render("#set($l = [1])#foreach($i in $l)$l.add($i)#end").is_ok());
}

#[test]
fn nested_loops_are_bounded_in_total() {
    let t =
        "#foreach($a in [1..1000])#foreach($b in [1..1000])#foreach($c in [1..1000])#end#end#end";
    assert_eq!(render(t), Err(RenderError::WorkLimit { limit: 1_000_000 }));
}

#[test]
fn recursion_is_bounded() {
    assert_eq!(
        render("#macro(r $n)#r($n)#end#r(1)"),
        Err(RenderError::DepthLimit { limit: 64 })
    );
    assert_eq!(
        render("#define($d)$d#end$d"),
        Err(RenderError::DepthLimit { limit: 64 })
    );
}

#[test]
fn output_is_limited_to_10_mb() {
    let t = "#set($s = \"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\")\
             #foreach($a in [1..1000])#foreach($b in [1..200])$s#end#end";
    assert_eq!(
        render(t),
        Err(RenderError::OutputLimit {
            limit: 10 * 1024 * 1024
        })
    );
    // Doubling a string in a loop stops at the limit instead of exhausting memory.
    let t = "#set($s = \"x\")#foreach($i in [1..100])#set($s = \"$s$s\")#end";
    assert!(matches!(render(t), Err(RenderError::OutputLimit { .. })));
    let t = "#set($s = \"x\")#foreach($i in [1..100])#set($s = $s + $s)#end";
    assert!(matches!(render(t), Err(RenderError::OutputLimit { .. })));
    let t = "#set($l = [1])#foreach($i in [1..100])$l.addAll($l)#end";
    assert!(render(t).is_err());
}

#[test]
fn throwing_methods_are_errors() {
    assert!(matches!(
        render("#set($l = [1])$l.get(5)"),
        Err(RenderError::Method { .. })
    ));
    assert!(matches!(
        render("$util.parseJson('{bad')"),
        Err(RenderError::Method { .. })
    ));
    assert!(matches!(
        render("$util.base64Decode('***')"),
        Err(RenderError::Method { .. })
    ));
    assert!(matches!(
        render("#set($s = 'abc')$s.substring(5)"),
        Err(RenderError::Method { .. })
    ));
    assert!(matches!(
        render("#set($s = 'abc')$s.replaceAll('(', 'x')"),
        Err(RenderError::Method { .. })
    ));
    assert!(matches!(
        render("$input.path('$[?(')"),
        Err(RenderError::Method { .. })
    ));
}

#[test]
fn self_containing_list_prints_without_looping() {
    let out = render("#set($l = [1])$l.add($l)$l.size()").unwrap();
    assert_eq!(out, "true2");
    assert!(render("#set($l = [1])$l.add($l)$l").is_ok());
}
