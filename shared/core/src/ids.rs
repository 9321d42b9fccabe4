//! Random identifiers (nonces, secrets, tokens, request ids) from the OS CSPRNG.

use rand::RngCore;

/// `n` random bytes as lowercase hex (2n characters).
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// Session ids and replay ids: 13 hex digits of the start time in milliseconds followed by 6
/// random hex digits, so they sort by time and never collide between workers.
pub fn time_ordered_id(unix_ms: i64) -> String {
    format!("{:013x}{}", unix_ms.max(0), &random_hex(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_time() {
        let a = time_ordered_id(1_700_000_000_000);
        let b = time_ordered_id(1_700_000_000_001);
        assert_eq!(a.len(), 19);
        assert!(a < b);
    }
}
