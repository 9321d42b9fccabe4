//! Every signature zhibo makes or checks, as pure functions (the caller passes `now`).
//!
//! | what | algorithm |
//! |---|---|
//! | management API requests | HMAC-SHA256(app_secret, `METHOD\nPATH\nCANONICAL_QUERY\nTIMESTAMP\nNONCE\nhex(SHA256(body))`), ±300 s |
//! | push / play URLs (Tencent-compatible) | `txTime` = uppercase hex expiry, `txSecret` = hex MD5(key + stream_name + txTime) |
//! | webhooks and worker hooks | `Zhibo-Signature: t={unix},v1={hex HMAC-SHA256(secret, t + "." + body)}`, ±300 s |
//!
//! All comparisons are constant-time.

use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// How far a signed timestamp may be from now, in seconds.
pub const CLOCK_WINDOW_S: i64 = 300;
/// How long a request nonce is remembered, in seconds.
pub const NONCE_TTL_S: i64 = 600;

/// Header names of the management API signature.
pub mod headers {
    /// The app id.
    pub const APP: &str = "x-zhibo-app";
    /// Unix seconds.
    pub const TIMESTAMP: &str = "x-zhibo-timestamp";
    /// 8–64 visible ASCII characters, unique per request.
    pub const NONCE: &str = "x-zhibo-nonce";
    /// Lowercase hex HMAC-SHA256.
    pub const SIGNATURE: &str = "x-zhibo-signature";
    /// Webhook and worker-hook signature header.
    pub const ZHIBO_SIGNATURE: &str = "zhibo-signature";
}

/// Why a signature was refused. The message tells the caller what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header or parameter is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A header or parameter is not in the expected format.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The timestamp is outside the ±300 s window.
    #[error("timestamp {ts} is more than {CLOCK_WINDOW_S} s away from server time {now}; check the client clock")]
    OutsideWindow {
        /// The signed timestamp.
        ts: i64,
        /// Server time.
        now: i64,
    },
    /// The URL's expiry time has passed.
    #[error("signature expired at {expires_at} (server time {now}); request a new URL")]
    Expired {
        /// Expiry (unix seconds).
        expires_at: i64,
        /// Server time.
        now: i64,
    },
    /// The signature does not match.
    #[error("signature does not match; see the README's signing section for the string to sign")]
    Mismatch,
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Encodes `s` per RFC 3986 (unreserved characters kept, all else `%XX` uppercase).
pub fn rfc3986_encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

/// The canonical form of a raw query string: pairs percent-decoded (`+` is kept as a literal
/// plus), sorted by key then value, re-encoded per RFC 3986 and joined as `k=v&k=v`.
/// An empty or absent query gives the empty string.
pub fn canonical_query(raw: Option<&str>) -> String {
    let raw = raw.unwrap_or("");
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                percent_decode_str(k).decode_utf8_lossy().into_owned(),
                percent_decode_str(v).decode_utf8_lossy().into_owned(),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", rfc3986_encode(k), rfc3986_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The inputs of a management API request signature.
#[derive(Debug, Clone, Copy)]
pub struct RequestToSign<'a> {
    /// Uppercase HTTP method.
    pub method: &'a str,
    /// The request path as sent, e.g. `/v1/rooms/7`.
    pub path: &'a str,
    /// The raw query string (without `?`), if any.
    pub query: Option<&'a str>,
    /// Unix seconds, as sent in `X-Zhibo-Timestamp`.
    pub timestamp: i64,
    /// `X-Zhibo-Nonce`.
    pub nonce: &'a str,
    /// The raw body bytes.
    pub body: &'a [u8],
}

impl RequestToSign<'_> {
    /// The exact string that is signed.
    pub fn string_to_sign(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method.to_ascii_uppercase(),
            self.path,
            canonical_query(self.query),
            self.timestamp,
            self.nonce,
            hex::encode(Sha256::digest(self.body))
        )
    }

    /// Lowercase hex HMAC-SHA256 of [`Self::string_to_sign`] with `secret`.
    pub fn sign(&self, secret: &[u8]) -> String {
        hmac_hex(secret, self.string_to_sign().as_bytes())
    }

    /// Checks `signature` (hex) and the ±300 s window against `now`. Nonce replay is checked
    /// by the caller, after this succeeds.
    pub fn verify(&self, secret: &[u8], signature: &str, now: i64) -> Result<(), SignatureError> {
        if (now - self.timestamp).abs() > CLOCK_WINDOW_S {
            return Err(SignatureError::OutsideWindow {
                ts: self.timestamp,
                now,
            });
        }
        let expected = self.sign(secret);
        if constant_time_eq(
            expected.as_bytes(),
            signature.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

/// Checks a nonce's format: 8–64 visible ASCII characters.
pub fn validate_nonce(nonce: &str) -> Result<(), SignatureError> {
    let ok = (8..=64).contains(&nonce.len()) && nonce.bytes().all(|b| (0x21..=0x7e).contains(&b));
    if ok {
        Ok(())
    } else {
        Err(SignatureError::Malformed(
            "X-Zhibo-Nonce (8-64 visible ASCII characters)",
        ))
    }
}

/// Lowercase hex HMAC-SHA256.
pub fn hmac_hex(secret: &[u8], msg: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => unreachable_hmac(),
    };
    mac.update(msg);
    hex::encode(mac.finalize().into_bytes())
}

#[cold]
fn unreachable_hmac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-key-size MACs, never for HMAC.
    unreachable!("HMAC accepts keys of any length")
}

/// Constant-time byte comparison (length differences return false without early exit on content).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// A Tencent-compatible URL signature: `txSecret` and `txTime` query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSignature {
    /// Lowercase hex MD5(key + stream_name + tx_time).
    pub tx_secret: String,
    /// Uppercase hex of the expiry unix time.
    pub tx_time: String,
}

impl UrlSignature {
    /// Signs `stream_name` with `key` until `expires_at` (unix seconds).
    pub fn sign(key: &str, stream_name: &str, expires_at: i64) -> UrlSignature {
        let tx_time = format!("{:X}", expires_at.max(0));
        let tx_secret = hex::encode(Md5::digest(
            format!("{key}{stream_name}{tx_time}").as_bytes(),
        ));
        UrlSignature { tx_secret, tx_time }
    }

    /// The query string `txSecret=..&txTime=..`.
    pub fn query(&self) -> String {
        format!("txSecret={}&txTime={}", self.tx_secret, self.tx_time)
    }

    /// Verifies `tx_secret`/`tx_time` for `stream_name`; returns the expiry time.
    pub fn verify(
        key: &str,
        stream_name: &str,
        tx_secret: Option<&str>,
        tx_time: Option<&str>,
        now: i64,
    ) -> Result<i64, SignatureError> {
        let tx_secret = tx_secret.ok_or(SignatureError::Missing("txSecret"))?;
        let tx_time = tx_time.ok_or(SignatureError::Missing("txTime"))?;
        if tx_time.is_empty() || tx_time.len() > 15 {
            return Err(SignatureError::Malformed("txTime (hex unix time)"));
        }
        let expires_at = i64::from_str_radix(tx_time, 16)
            .map_err(|_| SignatureError::Malformed("txTime (hex unix time)"))?;
        let expected = hex::encode(Md5::digest(
            format!("{key}{stream_name}{tx_time}").as_bytes(),
        ));
        if !constant_time_eq(
            expected.as_bytes(),
            tx_secret.to_ascii_lowercase().as_bytes(),
        ) {
            return Err(SignatureError::Mismatch);
        }
        if expires_at < now {
            return Err(SignatureError::Expired { expires_at, now });
        }
        Ok(expires_at)
    }
}

/// The `Zhibo-Signature` header of webhooks and worker hooks.
pub struct BodySignature;

impl BodySignature {
    /// `t={t},v1={hex HMAC-SHA256(secret, t + "." + body)}`.
    pub fn header(secret: &[u8], t: i64, body: &[u8]) -> String {
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        format!("t={t},v1={}", hmac_hex(secret, &msg))
    }

    /// Verifies a `Zhibo-Signature` header against `body`. Several `v1=` values are accepted
    /// (any may match), so a secret can be rotated with both signatures sent for a while.
    pub fn verify(
        secret: &[u8],
        header: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let header = header.ok_or(SignatureError::Missing("Zhibo-Signature"))?;
        let mut t = None;
        let mut sigs = Vec::new();
        for part in header.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v.parse::<i64>().ok(),
                Some(("v1", v)) => sigs.push(v),
                _ => {}
            }
        }
        let t = t.ok_or(SignatureError::Malformed("Zhibo-Signature (t=...)"))?;
        if sigs.is_empty() {
            return Err(SignatureError::Malformed("Zhibo-Signature (v1=...)"));
        }
        if (now - t).abs() > CLOCK_WINDOW_S {
            return Err(SignatureError::OutsideWindow { ts: t, now });
        }
        let mut msg = format!("{t}.").into_bytes();
        msg.extend_from_slice(body);
        let expected = hmac_hex(secret, &msg);
        let mut ok = false;
        for s in sigs {
            ok |= constant_time_eq(expected.as_bytes(), s.as_bytes());
        }
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed vector documented in the README ("Signing a request"); also checked there
    /// with an independent Python implementation.
    const README_SECRET: &str = "zhibo-example-secret-0123456789abcdef";

    fn readme_request() -> RequestToSign<'static> {
        RequestToSign {
            method: "POST",
            path: "/v1/rooms",
            query: Some("b=2&a=hello%20world&a=%E7%9B%B4"),
            timestamp: 1_767_225_600,
            nonce: "n0nce-0001",
            body: br#"{"name":"demo"}"#,
        }
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(None), "");
        assert_eq!(canonical_query(Some("")), "");
        assert_eq!(
            canonical_query(Some("limit=10&start=0&live_status=101")),
            "limit=10&live_status=101&start=0"
        );
        // Same key sorted by value; space and non-ASCII percent-encoded; '+' is literal.
        assert_eq!(
            canonical_query(Some("b=2&a=z&a=hello%20world&c=1+1&d")),
            "a=hello%20world&a=z&b=2&c=1%2B1&d="
        );
        assert_eq!(canonical_query(Some("k=%e7%9b%b4")), "k=%E7%9B%B4");
    }

    #[test]
    fn readme_vector() {
        let r = readme_request();
        assert_eq!(r.string_to_sign(), README_STRING_TO_SIGN);
        let sig = r.sign(README_SECRET.as_bytes());
        assert_eq!(sig, README_SIGNATURE);
        assert_eq!(
            r.verify(README_SECRET.as_bytes(), &sig, 1_767_225_600 + 299),
            Ok(())
        );
    }

    /// The string to sign and signature shown in the README; pinned so a change to the
    /// algorithm breaks this test (and the README must change with it).
    const README_STRING_TO_SIGN: &str = "POST\n/v1/rooms\na=hello%20world&a=%E7%9B%B4&b=2\n1767225600\nn0nce-0001\nd7d234f759ec34fd6298b7e32318614760070aaef9f4e92ced928324b49a0602";
    const README_SIGNATURE: &str =
        "02dac749808a457f3d389a9229f1a4a31c8aa8e2a0fa75ba947d92b204ea6e00";

    #[test]
    fn verify_rejects_tamper_and_window() {
        let r = readme_request();
        let secret = README_SECRET.as_bytes();
        let sig = r.sign(secret);
        let now = r.timestamp;
        assert_eq!(r.verify(secret, &sig.to_uppercase(), now), Ok(()));
        assert_eq!(
            r.verify(secret, &sig, now + 301),
            Err(SignatureError::OutsideWindow {
                ts: r.timestamp,
                now: now + 301
            })
        );
        assert!(r.verify(secret, &sig, now - 301).is_err());
        let mut tampered = r;
        tampered.body = br#"{"name":"demo!"}"#;
        assert_eq!(
            tampered.verify(secret, &sig, now),
            Err(SignatureError::Mismatch)
        );
        let mut other_path = r;
        other_path.path = "/v1/rooms/1";
        assert_eq!(
            other_path.verify(secret, &sig, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            r.verify(b"another-secret", &sig, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(r.verify(secret, "", now), Err(SignatureError::Mismatch));
    }

    #[test]
    fn nonce_format() {
        assert!(validate_nonce("abcdefgh").is_ok());
        assert!(validate_nonce("abcdefg").is_err());
        assert!(validate_nonce(&"a".repeat(65)).is_err());
        assert!(validate_nonce("abcd efgh").is_err());
        assert!(validate_nonce("abcdéfgh").is_err());
    }

    #[test]
    fn tencent_url_signature_vector() {
        // txSecret is MD5 over key + stream name + uppercase-hex expiry, exactly as Tencent's.
        let s = UrlSignature::sign(
            "69e0daf7234b01f257a7adb9f807ae9f",
            "12345_abcde",
            0x5B7C_3C00,
        );
        assert_eq!(s.tx_time, "5B7C3C00");
        assert_eq!(
            s.tx_secret,
            hex::encode(Md5::digest(
                b"69e0daf7234b01f257a7adb9f807ae9f12345_abcde5B7C3C00"
            ))
        );
        assert_eq!(
            UrlSignature::verify(
                "69e0daf7234b01f257a7adb9f807ae9f",
                "12345_abcde",
                Some(&s.tx_secret),
                Some(&s.tx_time),
                0x5B7C_3C00 - 1
            ),
            Ok(0x5B7C_3C00)
        );
        assert_eq!(
            UrlSignature::verify(
                "69e0daf7234b01f257a7adb9f807ae9f",
                "12345_abcde",
                Some(&s.tx_secret),
                Some(&s.tx_time),
                0x5B7C_3C00 + 1
            ),
            Err(SignatureError::Expired {
                expires_at: 0x5B7C_3C00,
                now: 0x5B7C_3C00 + 1
            })
        );
        assert_eq!(
            UrlSignature::verify("k", "12345_abcde", Some(&s.tx_secret), Some(&s.tx_time), 0),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            UrlSignature::verify("k", "s", Some("x"), Some("zz"), 0),
            Err(SignatureError::Malformed("txTime (hex unix time)"))
        );
        assert_eq!(
            UrlSignature::verify("k", "s", None, Some("1"), 0),
            Err(SignatureError::Missing("txSecret"))
        );
    }

    #[test]
    fn body_signature_round_trip_and_rejections() {
        let body = br#"{"id":"evt_1"}"#;
        let h = BodySignature::header(b"whsec", 1_700_000_000, body);
        assert!(h.starts_with("t=1700000000,v1="));
        assert_eq!(
            BodySignature::verify(b"whsec", Some(&h), body, 1_700_000_100),
            Ok(())
        );
        // Rotation: an extra v1 for another secret is tolerated.
        let rotated = format!("{h},v1={}", "0".repeat(64));
        assert_eq!(
            BodySignature::verify(b"whsec", Some(&rotated), body, 1_700_000_000),
            Ok(())
        );
        assert_eq!(
            BodySignature::verify(b"whsec", Some(&h), b"{}", 1_700_000_000),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            BodySignature::verify(b"whsec", Some(&h), body, 1_700_000_301),
            Err(SignatureError::OutsideWindow { .. })
        ));
        assert_eq!(
            BodySignature::verify(b"whsec", None, body, 0),
            Err(SignatureError::Missing("Zhibo-Signature"))
        );
        assert!(BodySignature::verify(b"whsec", Some("v1=ab"), body, 0).is_err());
    }
}
