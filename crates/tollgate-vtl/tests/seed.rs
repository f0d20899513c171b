//! The seed guide's request template (MultiTalk), with and without `steps`.

use std::collections::BTreeMap;

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

fn render(body: &str) -> serde_json::Value {
    let t = Template::parse(SEED).expect("seed template parses");
    let params = Params::default();
    let context = serde_json::json!({});
    let sv = BTreeMap::new();
    let cx = RenderContext {
        body,
        params: &params,
        context: &context,
        stage_variables: &sv,
    };
    let out = t.render(&cx).expect("renders").output;
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn seed_template_with_steps() {
    let v = render(
        r#"{"prompt": "a cat", "image_url": "s3://b/i.png", "audio_url": "s3://b/a.wav", "steps": 40}"#,
    );
    assert_eq!(
        v,
        serde_json::json!({"prompt": "a cat", "image_s3_url": "s3://b/i.png",
            "audio_s3_urls": ["s3://b/a.wav"], "options": {"sample_steps": 40}})
    );
}

#[test]
fn seed_template_without_steps_defaults_to_20() {
    let v =
        render(r#"{"prompt": "a cat", "image_url": "s3://b/i.png", "audio_url": "s3://b/a.wav"}"#);
    assert_eq!(
        v,
        serde_json::json!({"prompt": "a cat", "image_s3_url": "s3://b/i.png",
            "audio_s3_urls": ["s3://b/a.wav"], "options": {"sample_steps": 20}})
    );
}

#[test]
fn seed_template_exact_text() {
    let t = Template::parse(SEED).unwrap();
    let params = Params::default();
    let context = serde_json::json!({});
    let sv = BTreeMap::new();
    let cx = RenderContext {
        body: r#"{"prompt": "p", "image_url": "i", "audio_url": "a"}"#,
        params: &params,
        context: &context,
        stage_variables: &sv,
    };
    // Checked against Velocity 1.7: the #set line and its newline vanish, the blanks around
    // the #if branches stay, and `#end` swallows its newline.
    assert_eq!(
        t.render(&cx).unwrap().output,
        "{\n  \"prompt\": \"p\",\n  \"image_s3_url\": \"i\",\n  \"audio_s3_urls\": [\"a\"],\n  \"options\": {\n    \"sample_steps\":  20   }\n}\n"
    );
}
