//! Secrets from the OS random source, kept only as hashes, compared in constant time.

use sha2::{Digest, Sha256};

/// Fills `buf` from the operating system's random source.
pub fn os_random(buf: &mut [u8]) -> Result<(), crate::Error> {
    getrandom::getrandom(buf)
        .map_err(|e| crate::Error::Internal(format!("the OS random source failed: {e}")))
}

/// A new bearer token: 256 random bits, hex, with a prefix that tells what it is.
pub fn new_token(prefix: &str) -> Result<String, crate::Error> {
    let mut raw = [0u8; 32];
    os_random(&mut raw)?;
    Ok(format!("{prefix}{}", hex::encode(raw)))
}

/// How a high-entropy token is stored: SHA-256, hex. (Passwords, which are guessable, use
/// Argon2id instead.)
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Equality whose time does not depend on where the inputs differ.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token("t_").expect("rng");
        let b = new_token("t_").expect("rng");
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 64);
        assert_eq!(token_hash(&a).len(), 64);
        assert!(ct_eq(token_hash(&a).as_bytes(), token_hash(&a).as_bytes()));
        assert!(!ct_eq(token_hash(&a).as_bytes(), token_hash(&b).as_bytes()));
        assert!(!ct_eq(b"ab", b"abc"));
    }
}
