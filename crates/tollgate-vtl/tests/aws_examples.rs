//! Cases from the AWS developer guide (DG page slugs under
//! docs.aws.amazon.com/apigateway/latest/developerguide/<slug>.html) and spec/aws-apigw.md §6,
//! with the outputs AWS documents.

use std::collections::BTreeMap;

use serde_json::json;
use tollgate_vtl::{Params, RenderContext, Rendered, Template};

fn params() -> Params {
    Params {
        path: vec![("petId".into(), "42".into())],
        querystring: vec![
            ("type".into(), "dog".into()),
            ("q".into(), "a \"b\"".into()),
        ],
        header: vec![
            ("Accept".into(), "application/json".into()),
            ("header1".into(), "h1".into()),
        ],
    }
}

fn context() -> serde_json::Value {
    json!({
        "stage": "prod", "requestId": "abcdefg-000-000-0000-abcdefg", "apiId": "abcd1234",
        "resourcePath": "/", "resourceId": "efg567", "httpMethod": "GET",
        "identity": {"sourceIp": "192.0.2.1", "userAgent": "curl/7.84.0",
                     "accountId": "111122223333", "apiKey": "MyTestKey",
                     "caller": "ABCD-0000-12345", "user": "ABCD-0000-12345",
                     "userArn": "arn:aws:sts::111122223333:assumed-role/Admin/carlos-salazar"}
    })
}

fn render_with(template: &str, body: &str, params: &Params) -> Rendered {
    let t = Template::parse(template).unwrap_or_else(|e| panic!("{e}"));
    let context = context();
    let sv = BTreeMap::from([("version".to_string(), "v1".to_string())]);
    let cx = RenderContext {
        body,
        params,
        context: &context,
        stage_variables: &sv,
    };
    t.render(&cx).unwrap_or_else(|e| panic!("{e}"))
}

fn render(template: &str, body: &str) -> String {
    render_with(template, body, &params()).output
}

fn as_json(s: &str) -> serde_json::Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}):\n{s}"))
}

/// DG api-gateway-mapping-variable-examples, example 1: pass $context variables.
#[test]
fn dg_context_variables() {
    let t = r#"{
    "stage" : "$context.stage",
    "request_id" : "$context.requestId",
    "api_id" : "$context.apiId",
    "resource_path" : "$context.resourcePath",
    "resource_id" : "$context.resourceId",
    "http_method" : "$context.httpMethod",
    "source_ip" : "$context.identity.sourceIp",
    "user-agent" : "$context.identity.userAgent",
    "account_id" : "$context.identity.accountId",
    "api_key" : "$context.identity.apiKey",
    "caller" : "$context.identity.caller",
    "user" : "$context.identity.user",
    "user_arn" : "$context.identity.userArn"
}"#;
    assert_eq!(
        as_json(&render(t, "")),
        json!({"stage": "prod", "request_id": "abcdefg-000-000-0000-abcdefg", "api_id": "abcd1234",
            "resource_path": "/", "resource_id": "efg567", "http_method": "GET",
            "source_ip": "192.0.2.1", "user-agent": "curl/7.84.0", "account_id": "111122223333",
            "api_key": "MyTestKey", "caller": "ABCD-0000-12345", "user": "ABCD-0000-12345",
            "user_arn": "arn:aws:sts::111122223333:assumed-role/Admin/carlos-salazar"})
    );
}

/// DG api-gateway-mapping-variable-examples, example 2: all parameters through $input.params().
#[test]
fn dg_all_params_loop() {
    let t = r#"#set($allParams = $input.params())
{
  "params" : {
    #foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type" : {
      #foreach($paramName in $params.keySet())
      "$paramName" : "$util.escapeJavaScript($params.get($paramName))"
      #if($foreach.hasNext),#end
      #end
    }
    #if($foreach.hasNext),#end
    #end
  }
}"#;
    assert_eq!(
        as_json(&render(t, "")),
        json!({"params": {"path": {"petId": "42"},
            "querystring": {"type": "dog", "q": "a \"b\""},
            "header": {"Accept": "application/json", "header1": "h1"}}})
    );
}

/// Observed AWS output (api-gateway-payload-parse README): parameter maps print as Java maps.
#[test]
fn params_render_as_java_maps() {
    let p = Params {
        path: vec![("path".into(), "users".into())],
        querystring: vec![
            ("fields".into(), "id".into()),
            ("anotherKey".into(), "aParam%2CanotherParam".into()),
        ],
        header: vec![],
    };
    let t = r#"{"all-params" : "$input.params()", "path-params" : "$input.params().path", "header-param-names" : "$input.params().header.keySet()", "content-type-value" : "$input.params().header.get('Content-Type')"}"#;
    assert_eq!(
        render_with(t, "", &p).output,
        r#"{"all-params" : "{path={path=users}, querystring={fields=id, anotherKey=aParam%2CanotherParam}, header={}}", "path-params" : "{path=users}", "header-param-names" : "[]", "content-type-value" : ""}"#
    );
}

/// DG models-mappings-examples: the PetStore output mapping.
#[test]
fn dg_pet_store_output_mapping() {
    let t = r#"#set($inputRoot = $input.path('$'))
[
#foreach($elem in $inputRoot)
  {
    "description" : "Item $elem.id is a $elem.type.",
    "askingPrice" : $elem.price
  }#if($foreach.hasNext),#end

#end
]"#;
    let body = r#"[{"id": 1, "type": "dog", "price": 249.99}, {"id": 2, "type": "cat", "price": 124.99}, {"id": 3, "type": "fish", "price": 0.99}]"#;
    assert_eq!(
        as_json(&render(t, body)),
        json!([{"description": "Item 1 is a dog.", "askingPrice": 249.99},
               {"description": "Item 2 is a cat.", "askingPrice": 124.99},
               {"description": "Item 3 is a fish.", "askingPrice": 0.99}])
    );
}

/// DG models-mappings-examples: the photo album input mapping, with an indefinite JSONPath.
#[test]
fn dg_photos_mapping() {
    let t = r#"#set($inputRoot = $input.path('$'))
{
  "photos": [
#foreach($elem in $inputRoot.photos.photo)
    {
      "id": "$elem.id",
      "photographedBy": "$elem.owner",
      "title": "$elem.title",
      "ispublic": $elem.ispublic,
      "isfriend": $elem.isfriend,
      "isfamily": $elem.isfamily
    }#if($foreach.hasNext),#end

#end
  ]
}"#;
    let body = r#"{"photos": {"page": 1, "pages": "1234", "perpage": 100, "total": "123398",
        "photo": [{"id": "12345678901", "owner": "23456789@A12", "photographer_first_name": "Saanvi",
                   "title": "Sample photo 1", "ispublic": true, "isfriend": false, "isfamily": false},
                  {"id": "23456789012", "owner": "34567890@B23", "title": "Sample photo 2",
                   "ispublic": false, "isfriend": false, "isfamily": false}]}}"#;
    assert_eq!(
        as_json(&render(t, body)),
        json!({"photos": [
            {"id": "12345678901", "photographedBy": "23456789@A12", "title": "Sample photo 1",
             "ispublic": true, "isfriend": false, "isfamily": false},
            {"id": "23456789012", "photographedBy": "34567890@B23", "title": "Sample photo 2",
             "ispublic": false, "isfriend": false, "isfamily": false}]})
    );
    assert_eq!(
        render("$input.json('$.photos.photo[*].id')", body),
        r#"["12345678901","23456789012"]"#
    );
}

/// DG api-gateway-mapping-template-reference: $input.json / $input.path / $input.params(x).
#[test]
fn dg_input_functions() {
    let body = r#"{"name": "Ann", "things": {"a": {"n": 1}, "b": {"n": 2}}}"#;
    let t = r#"{"name": "$input.params('petId')", "body": $input.json('$.things'), "n": $input.path('$.things.b.n'), "type": "$input.params('type')", "h": "$input.params('header1')", "none": "$input.params('nope')"}"#;
    assert_eq!(
        as_json(&render(t, body)),
        json!({"name": "42", "body": {"a": {"n": 1}, "b": {"n": 2}}, "n": 2, "type": "dog", "h": "h1", "none": ""})
    );
}

/// DG api-gateway-mapping-template-reference: escapeJavaScript turns `'` into `\'`.
#[test]
fn dg_escape_javascript() {
    assert_eq!(
        render(r#"$util.escapeJavaScript('It''s a "test"')"#, ""),
        r#"It\'s a \"test\""#
    );
}

/// DG api-gateway-mapping-template-reference: parseJson returns an object.
#[test]
fn dg_parse_json() {
    let body = r#"{"example": "{\"property1\":\"value1\",\"property2\":\"value2\"}"}"#;
    let t = r#"#set($example = $util.parseJson($input.path('$.example')))
{"test": "$example.property1"}"#;
    assert_eq!(as_json(&render(t, body)), json!({"test": "value1"}));
}

/// DG api-gateway-mapping-template-reference: urlEncode/urlDecode/base64Encode/base64Decode.
#[test]
fn dg_encoding_functions() {
    assert_eq!(
        render(
            r#"$util.urlEncode("a b/c") $util.urlDecode("a+b%2Fc") $util.base64Encode("hi") $util.base64Decode("aGk=")"#,
            ""
        ),
        "a+b%2Fc a b/c aGk= hi"
    );
}

/// DG apigateway-override-request-response-parameters: overriding status and headers.
#[test]
fn dg_overrides() {
    let t = r#"#set($context.responseOverride.status = 400)
#set($context.responseOverride.header.Foo = "bar")
#set($context.requestOverride.header.header3 = $input.params('header1'))
#set($context.requestOverride.querystring.q2 = "x")
#set($context.requestOverride.path.petId = "7")
status=$context.responseOverride.status h3=$context.requestOverride.header.header3"#;
    let r = render_with(t, "", &params());
    assert_eq!(r.output, "status=400 h3=h1");
    assert_eq!(r.overrides.response.status, Some(400));
    assert_eq!(
        r.overrides.response.header.get("Foo").map(String::as_str),
        Some("bar")
    );
    assert_eq!(
        r.overrides
            .request
            .header
            .get("header3")
            .map(String::as_str),
        Some("h1")
    );
    assert_eq!(
        r.overrides
            .request
            .querystring
            .get("q2")
            .map(String::as_str),
        Some("x")
    );
    assert_eq!(
        r.overrides.request.path.get("petId").map(String::as_str),
        Some("7")
    );
}

/// spec §6.1: stage variables by dot and by index; $input.body is `{}` when empty.
#[test]
fn spec_stage_variables_and_body() {
    assert_eq!(
        render(
            "$stageVariables.version $stageVariables['version'] [$stageVariables.nope] $input.body",
            ""
        ),
        "v1 v1 [] {}"
    );
    assert_eq!(render("$input.body", "raw text"), "raw text");
}

/// A body that is not JSON: `$input.path('$')` and `$input.json('$')` give the raw text.
#[test]
fn invalid_json_body_is_lenient() {
    assert_eq!(
        render(
            "[$input.path('$')][$input.json('$')][$input.path('$.a')][$input.json('$.a')]",
            "not json"
        ),
        "[not json][not json][][]"
    );
}

/// spec §6.1: null renders empty, including missing JSON members and missing paths.
#[test]
fn null_renders_empty() {
    assert_eq!(
        render(
            "[$x][$input.path('$.nope')][$input.json('$.nope')][$context.nope.deeper]",
            "{}"
        ),
        "[][][][]"
    );
}
