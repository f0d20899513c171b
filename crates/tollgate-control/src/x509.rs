//! A self-signed X.509 certificate (ECDSA P-256, SHA-256), DER-encoded by
//! hand: GenerateClientCertificate needs one PEM certificate, not a TLS stack.

use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use tollgate_model::time::Date;

const ECDSA_WITH_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const COMMON_NAME: &[u8] = &[0x55, 0x04, 0x03];

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// UTCTime until 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
fn time(epoch_seconds: i64) -> Vec<u8> {
    let d = Date::from_epoch_seconds(epoch_seconds);
    let s = epoch_seconds.rem_euclid(86_400);
    let hms = format!("{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60);
    if d.year < 2050 {
        let text = format!("{:02}{:02}{:02}{hms}", d.year % 100, d.month, d.day);
        tlv(0x17, text.as_bytes())
    } else {
        let text = format!("{:04}{:02}{:02}{hms}", d.year, d.month, d.day);
        tlv(0x18, text.as_bytes())
    }
}

fn name(common_name: &str) -> Vec<u8> {
    let attribute = seq(&[&tlv(0x06, COMMON_NAME), &tlv(0x0c, common_name.as_bytes())]);
    seq(&[&tlv(0x31, &attribute)])
}

fn bit_string(bytes: &[u8]) -> Vec<u8> {
    tlv(0x03, &[&[0u8][..], bytes].concat())
}

/// A PEM certificate for `common_name`, valid from `not_before` to
/// `not_after` (epoch seconds). Its private key is not kept: Tollgate does
/// not present client certificates to backends.
pub fn self_signed_pem(common_name: &str, not_before: i64, not_after: i64) -> Option<String> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).ok()?;
    let key =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).ok()?;
    let mut serial = [0u8; 16];
    rng.fill(&mut serial).ok()?;
    serial[0] = (serial[0] & 0x7f) | 0x01; // positive, and no leading zero byte
    let algorithm = seq(&[&tlv(0x06, ECDSA_WITH_SHA256)]);
    let subject = name(common_name);
    let public_key = seq(&[
        &seq(&[&tlv(0x06, EC_PUBLIC_KEY), &tlv(0x06, PRIME256V1)]),
        &bit_string(key.public_key().as_ref()),
    ]);
    let tbs = seq(&[
        &tlv(0xa0, &tlv(0x02, &[2])), // version 3
        &tlv(0x02, &serial),
        &algorithm,
        &subject, // issuer: self-signed
        &seq(&[&time(not_before), &time(not_after)]),
        &subject,
        &public_key,
    ]);
    let signature = key.sign(&rng, &tbs).ok()?;
    let der = seq(&[&tbs, &algorithm, &bit_string(signature.as_ref())]);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).ok()?);
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    Some(pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_long_form_past_127() {
        assert_eq!(tlv(0x04, &[0; 3]), [0x04, 3, 0, 0, 0]);
        assert_eq!(&tlv(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(&tlv(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }

    #[test]
    fn times_are_utc_until_2050() {
        // 2026-12-07 19:30:05 UTC
        assert_eq!(time(1_796_671_805), tlv(0x17, b"261207193005Z"));
        // 2050-01-01 00:00:00 UTC
        assert_eq!(time(2_524_608_000), tlv(0x18, b"20500101000000Z"));
    }

    #[test]
    fn makes_a_pem_certificate() {
        let pem = self_signed_pem("test", 0, 86_400).unwrap_or_default();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\nMII"), "{pem}");
        assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    }
}
