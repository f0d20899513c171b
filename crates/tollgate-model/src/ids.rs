//! Identifier generation in API Gateway's formats (`spec/aws-apigw.md` §1.5).

use rand::distr::{Alphanumeric, SampleString};
use rand::Rng;

const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// `len` characters of `[a-z0-9]`: rest API ids (10), resource, deployment,
/// plan, authorizer and validator ids (6), API key ids (10).
pub fn lower_alnum(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| LOWER_ALNUM[rng.random_range(0..LOWER_ALNUM.len())] as char)
        .collect()
}

/// A generated API key value: 40 characters of `[A-Za-z0-9]`.
pub fn api_key_value() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 40)
}

/// Generates ids until `taken` says one is free.
pub fn unique(len: usize, taken: impl Fn(&str) -> bool) -> String {
    loop {
        let id = lower_alnum(len);
        if !taken(&id) {
            return id;
        }
    }
}
