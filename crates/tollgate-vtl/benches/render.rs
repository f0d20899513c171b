//! Renders per second for the seed template and a 50-line template.
//! `CARGO_TARGET_DIR=/work/target-vtl cargo bench -p tollgate-vtl --bench render`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_vtl::{Params, RenderContext, Template};

const SEED: &str = r#"#set($inputRoot = $input.path('$'))
{
  "prompt": "$inputRoot.prompt",
  "image_s3_url": "$inputRoot.image_url",
  "audio_s3_urls": ["$inputRoot.audio_url"],
  "options": {
    "sample_steps": #if($inputRoot.steps) $inputRoot.steps #else 20 #end
  }
}
"#;

const SEED_BODY: &str = r#"{"prompt": "A woman is talking in a studio", "image_url": "s3://bucket/in/face.png", "audio_url": "s3://bucket/in/voice.wav", "steps": 40}"#;

/// 50 lines: parameters, a loop over the body, string methods, escaping and overrides.
const FIFTY: &str = r##"#set($inputRoot = $input.path('$'))
#set($allParams = $input.params())
{
  "requestId": "$context.requestId",
  "stage": "$context.stage",
  "sourceIp": "$context.identity.sourceIp",
  "version": "$stageVariables.version",
  "user": "$util.escapeJavaScript($inputRoot.user.name)",
  "email": "$inputRoot.user.email.toLowerCase()",
  "country": "$inputRoot.user.address.country",
  "items": [
#foreach($item in $inputRoot.items)
    {
      "sku": "$item.sku",
      "qty": $item.qty,
      "price": $item.price,
      "total": #set($t = $item.qty * $item.price)$t,
      "tags": "$item.tags",
      "first": $foreach.first
    }#if($foreach.hasNext),#end

#end
  ],
  "count": $inputRoot.items.size(),
#if($inputRoot.coupon)
  "coupon": "$inputRoot.coupon.trim().toUpperCase()",
#else
  "coupon": null,
#end
  "params": {
#foreach($type in $allParams.keySet())
    #set($params = $allParams.get($type))
    "$type": {
#foreach($name in $params.keySet())
      "$name": "$util.escapeJavaScript($params.get($name))"#if($foreach.hasNext),#end

#end
    }#if($foreach.hasNext),#end

#end
  },
  "note": "$util.urlEncode($inputRoot.note)",
  "raw": $input.json('$.user'),
  "missing": "$inputRoot.nothing.here"
}
#set($context.responseOverride.header.X-Total = "$inputRoot.items.size()")
#if($inputRoot.items.size() > 2)
#set($context.responseOverride.status = 202)
#end
"##;

const FIFTY_BODY: &str = r#"{"user": {"name": "Zoë \"Z\" Brien", "email": "Ann@Example.COM", "address": {"country": "IE"}},
 "items": [{"sku": "a-1", "qty": 2, "price": 9.5, "tags": ["x", "y"]},
           {"sku": "b-2", "qty": 1, "price": 20, "tags": []},
           {"sku": "c-3", "qty": 5, "price": 1.25, "tags": ["z"]}],
 "coupon": " spring ", "note": "hello world & more"}"#;

fn bench(c: &mut Criterion) {
    let params = Params {
        path: vec![("id".into(), "42".into())],
        querystring: vec![("q".into(), "search term".into())],
        header: vec![
            ("Accept".into(), "application/json".into()),
            ("User-Agent".into(), "bench".into()),
        ],
    };
    let context = serde_json::json!({"requestId": "r-1", "stage": "prod", "identity": {"sourceIp": "192.0.2.1"}});
    let sv = BTreeMap::from([("version".to_string(), "v1".to_string())]);

    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(1));
    for (name, src, body) in [
        ("seed", SEED, SEED_BODY),
        ("fifty_lines", FIFTY, FIFTY_BODY),
    ] {
        let t = Template::parse(src).expect("parses");
        let cx = RenderContext {
            body,
            params: &params,
            context: &context,
            stage_variables: &sv,
        };
        let out = t.render(&cx).expect("renders");
        assert!(
            serde_json::from_str::<serde_json::Value>(&out.output).is_ok(),
            "{}",
            out.output
        );
        g.bench_function(name, |b| {
            b.iter(|| t.render(black_box(&cx)).expect("renders"))
        });
    }
    g.finish();
    c.bench_function("parse/seed", |b| {
        b.iter(|| Template::parse(black_box(SEED)))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
