//! Sealing secret values at rest: AES-256-GCM with the gateway's secrets
//! key, a fresh random nonce per value, and the secret's ARN and version id
//! as associated data (a sealed value moved to another secret or version
//! does not open).

use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};

/// The key secret values are sealed with. Its `Debug` shows nothing of it.
pub struct SealingKey(LessSafeKey);

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealingError {
    #[error("a secrets key is 32 bytes")]
    BadKey,
    #[error("the sealed value does not open with this key")]
    WrongKey,
}

impl SealingKey {
    pub fn new(key: &[u8]) -> Result<SealingKey, SealingError> {
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| SealingError::BadKey)?;
        Ok(SealingKey(LessSafeKey::new(key)))
    }

    /// Base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> String {
        let nonce_bytes: [u8; NONCE_LEN] = rand::random();
        let mut sealed = plaintext.to_vec();
        // Sealing in place fails only for inputs beyond GCM's length limit
        // (64 GiB), far past Secrets Manager's 64 KB.
        let _ = self.0.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce_bytes),
            Aad::from(context.as_bytes()),
            &mut sealed,
        );
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        base64::engine::general_purpose::STANDARD.encode(out)
    }

    pub fn open(&self, sealed: &str, context: &str) -> Result<Vec<u8>, SealingError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| SealingError::WrongKey)?;
        if bytes.len() < NONCE_LEN {
            return Err(SealingError::WrongKey);
        }
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SealingError::WrongKey)?;
        let mut buffer = rest.to_vec();
        let opened = self
            .0
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| SealingError::WrongKey)?;
        Ok(opened.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_only_in_its_context() {
        let key = SealingKey::new(&[7u8; 32]).expect("key");
        let sealed = key.seal(b"modal-api-key", "arn:a/v1");
        assert!(!sealed.contains("modal"));
        assert_eq!(
            key.open(&sealed, "arn:a/v1").ok(),
            Some(b"modal-api-key".to_vec())
        );
        assert_eq!(key.open(&sealed, "arn:b/v1"), Err(SealingError::WrongKey));
        let other = SealingKey::new(&[8u8; 32]).expect("key");
        assert_eq!(other.open(&sealed, "arn:a/v1"), Err(SealingError::WrongKey));
        assert!(SealingKey::new(&[1u8; 16]).is_err());
        assert!(format!("{key:?}").contains("redacted"));
    }
}
