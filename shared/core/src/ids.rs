//! Random identifiers (nonces, secrets, tokens, request ids) from the OS CSPRNG.

use rand::RngCore;

/// `n` random bytes as lowercase hex (2n characters).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}
