//! Every signature zhibo makes or checks, as pure functions (the caller passes `now`).
//!
//! | what | algorithm |
//! |---|---|
//! | management API requests | HMAC-SHA256(app_secret, `METHOD\nPATH\nCANONICAL_QUERY\nTIMESTAMP\nNONCE\nhex(SHA256(body))`), ±300 s |
//! | push / play URLs (Tencent-compatible) | `txTime` = exactly 8 uppercase hex digits of the expiry (≤ 7 days ahead), `txSecret` = hex MD5(app key + stream_name + txTime); app key = hex HMAC-SHA256(master, `push`/`play` + `\0` + app_id) |
//! | webhooks and worker hooks | `Zhibo-Signature: t={unix},v1={hex HMAC-SHA256(secret, t + "." + body)}`, ±300 s (hooks ±60 s) |
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
/// The furthest ahead a push or play URL's expiry may be (7 days); a later `txTime` is refused.
pub const MAX_URL_TTL_S: i64 = 7 * 86_400;

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
    /// The timestamp is outside the clock window (±300 s; ±60 s for worker hooks).
    #[error("timestamp {ts} is more than {window_s} s away from server time {now}; check the client clock")]
    OutsideWindow {
        /// The signed timestamp.
        ts: i64,
        /// Server time.
        now: i64,
        /// The window, seconds.
        window_s: i64,
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
        if !within_window(self.timestamp, now) {
            return Err(SignatureError::OutsideWindow {
                ts: self.timestamp,
                now,
                window_s: CLOCK_WINDOW_S,
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

/// Whether `ts` is within ±[`CLOCK_WINDOW_S`] of `now` (no overflow for any input).
pub fn within_window(ts: i64, now: i64) -> bool {
    now.abs_diff(ts) <= CLOCK_WINDOW_S.unsigned_abs()
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

/// What a push or play URL key signs for: the two master keys are never used directly, and
/// an app's push key never verifies a play URL (or the other way round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPurpose {
    /// RTMP push URLs (`PUSH_KEY`).
    Push,
    /// Signed playback URLs (`PLAY_KEY`).
    Play,
}

impl UrlPurpose {
    fn label(self) -> &'static str {
        match self {
            UrlPurpose::Push => "push",
            UrlPurpose::Play => "play",
        }
    }
}

/// The key one app's push or play URLs are signed with: lowercase hex
/// HMAC-SHA256(master, `"push\0" + app_id`) (or `"play\0" + app_id`). One tenant's key or
/// URLs never sign for another tenant's streams; the master key never leaves the deployment.
pub fn app_url_key(master: &str, purpose: UrlPurpose, app_id: &str) -> String {
    let mut msg = Vec::with_capacity(5 + app_id.len());
    msg.extend_from_slice(purpose.label().as_bytes());
    msg.push(0);
    msg.extend_from_slice(app_id.as_bytes());
    hmac_hex(master.as_bytes(), &msg)
}

const STREAM_NAME_FORMAT: &str =
    "stream name (expected {app_id}_{room_id}, the room id in decimal without leading zeros or sign)";

/// Length of `txTime`: exactly 8 uppercase hex digits (Tencent's format; valid until 2106).
pub const TX_TIME_LEN: usize = 8;

/// A Tencent-compatible URL signature: `txSecret` and `txTime` query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlSignature {
    /// Lowercase hex MD5(key + stream_name + tx_time).
    pub tx_secret: String,
    /// Exactly 8 uppercase hex digits of the expiry unix time.
    pub tx_time: String,
}

impl UrlSignature {
    /// Signs `stream_name` with `key` until `expires_at` (unix seconds, clamped to what 8 hex
    /// digits hold).
    pub fn sign(key: &str, stream_name: &str, expires_at: i64) -> UrlSignature {
        let tx_time = format!("{:08X}", expires_at.clamp(0, i64::from(u32::MAX)));
        let tx_secret = hex::encode(Md5::digest(
            format!("{key}{stream_name}{tx_time}").as_bytes(),
        ));
        UrlSignature { tx_secret, tx_time }
    }

    /// Signs room `room_id` of `app_id` (its stream name) with the app's key derived from
    /// `master` for `purpose` ([`app_url_key`]).
    pub fn sign_room(
        master: &str,
        purpose: UrlPurpose,
        app_id: &str,
        room_id: crate::room::RoomId,
        expires_at: i64,
    ) -> UrlSignature {
        UrlSignature::sign(
            &app_url_key(master, purpose, app_id),
            &crate::room::stream_name(app_id, room_id),
            expires_at,
        )
    }

    /// The query string `txSecret=..&txTime=..`.
    pub fn query(&self) -> String {
        format!("txSecret={}&txTime={}", self.tx_secret, self.tx_time)
    }

    /// Verifies a URL for `stream_name` as it was sent (e.g. from the RTMP stream key):
    /// the name must be canonical `{app_id}_{room_id}` (no `demo_07`, `demo_+7`), and the
    /// signature must be made with that app's key derived from `master` for `purpose`.
    /// Returns the expiry time.
    pub fn verify_stream(
        master: &str,
        purpose: UrlPurpose,
        stream_name: &str,
        tx_secret: Option<&str>,
        tx_time: Option<&str>,
        now: i64,
    ) -> Result<i64, SignatureError> {
        let (app_id, _) = crate::room::parse_stream_name(stream_name)
            .ok_or(SignatureError::Malformed(STREAM_NAME_FORMAT))?;
        UrlSignature::verify(
            &app_url_key(master, purpose, app_id),
            stream_name,
            tx_secret,
            tx_time,
            now,
        )
    }

    /// Verifies `tx_secret`/`tx_time` for `stream_name` with `key`; returns the expiry time.
    /// `tx_time` must be exactly 8 uppercase hex digits, at most [`MAX_URL_TTL_S`] (plus the
    /// clock window) ahead of `now`; `stream_name` must be canonical. Anything else is
    /// refused as malformed before hashing, so no digits can move between the name and
    /// `txTime`.
    pub fn verify(
        key: &str,
        stream_name: &str,
        tx_secret: Option<&str>,
        tx_time: Option<&str>,
        now: i64,
    ) -> Result<i64, SignatureError> {
        let tx_secret = tx_secret.ok_or(SignatureError::Missing("txSecret"))?;
        let tx_time = tx_time.ok_or(SignatureError::Missing("txTime"))?;
        if tx_time.len() != TX_TIME_LEN
            || !tx_time
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
        {
            return Err(SignatureError::Malformed(
                "txTime (exactly 8 uppercase hex digits of the expiry unix time)",
            ));
        }
        let expires_at = i64::from_str_radix(tx_time, 16)
            .map_err(|_| SignatureError::Malformed("txTime (hex unix time)"))?;
        if expires_at.saturating_sub(now) > MAX_URL_TTL_S + CLOCK_WINDOW_S {
            return Err(SignatureError::Malformed(
                "txTime (the expiry is more than 7 days ahead; request a new URL)",
            ));
        }
        if crate::room::parse_stream_name(stream_name).is_none() {
            return Err(SignatureError::Malformed(STREAM_NAME_FORMAT));
        }
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

    /// Verifies a `Zhibo-Signature` header against `body` within ±[`CLOCK_WINDOW_S`]. Several
    /// `v1=` values are accepted (any may match), so a secret can be rotated with both
    /// signatures sent for a while.
    pub fn verify(
        secret: &[u8],
        header: Option<&str>,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        BodySignature::verify_within(secret, header, body, now, CLOCK_WINDOW_S)
    }

    /// [`BodySignature::verify`] with a narrower clock window of `window_s` seconds.
    pub fn verify_within(
        secret: &[u8],
        header: Option<&str>,
        body: &[u8],
        now: i64,
        window_s: i64,
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
        if now.abs_diff(t) > window_s.unsigned_abs() {
            return Err(SignatureError::OutsideWindow {
                ts: t,
                now,
                window_s,
            });
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
                now: now + 301,
                window_s: CLOCK_WINDOW_S,
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
            "demo_12345",
            0x5B7C_3C00,
        );
        assert_eq!(s.tx_time, "5B7C3C00");
        assert_eq!(
            s.tx_secret,
            hex::encode(Md5::digest(
                b"69e0daf7234b01f257a7adb9f807ae9fdemo_123455B7C3C00"
            ))
        );
        assert_eq!(
            UrlSignature::verify(
                "69e0daf7234b01f257a7adb9f807ae9f",
                "demo_12345",
                Some(&s.tx_secret),
                Some(&s.tx_time),
                0x5B7C_3C00 - 1
            ),
            Ok(0x5B7C_3C00)
        );
        assert_eq!(
            UrlSignature::verify(
                "69e0daf7234b01f257a7adb9f807ae9f",
                "demo_12345",
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
            UrlSignature::verify(
                "k",
                "demo_12345",
                Some(&s.tx_secret),
                Some(&s.tx_time),
                0x5B7C_3C00
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            UrlSignature::verify("k", "demo_1", Some("x"), Some("zz"), 0),
            Err(SignatureError::Malformed(
                "txTime (exactly 8 uppercase hex digits of the expiry unix time)"
            ))
        );
        assert_eq!(
            UrlSignature::verify("k", "demo_1", None, Some("1"), 0),
            Err(SignatureError::Missing("txSecret"))
        );
    }

    const K: &str = "push-key-for-tests-0123";
    const NOW: i64 = 1_800_000_000;

    /// H1: a room's digits moved into `txTime` (or a leading `0` / `+` on the room) must not
    /// verify for another stream: `demo_17` + `69A1B2C3` == `demo_1` + `769A1B2C3` as MD5 input.
    #[test]
    fn moved_digits_do_not_open_another_stream() {
        let s = UrlSignature::sign(K, "demo_17", NOW + 600);
        assert_eq!(s.tx_time.len(), 8);
        assert_eq!(
            UrlSignature::verify(K, "demo_17", Some(&s.tx_secret), Some(&s.tx_time), NOW),
            Ok(NOW + 600)
        );
        let moved = format!("7{}", s.tx_time);
        assert!(matches!(
            UrlSignature::verify(K, "demo_1", Some(&s.tx_secret), Some(&moved), NOW),
            Err(SignatureError::Malformed(_))
        ));
        // Room 10's URL with its trailing 0 moved keeps the original expiry.
        let s10 = UrlSignature::sign(K, "demo_10", NOW + 600);
        let shifted = format!("0{}", s10.tx_time);
        assert!(matches!(
            UrlSignature::verify(K, "demo_1", Some(&s10.tx_secret), Some(&shifted), NOW),
            Err(SignatureError::Malformed(_))
        ));
    }

    #[test]
    fn tx_time_is_exactly_eight_uppercase_hex_digits_and_capped() {
        let name = "demo_7";
        let s = UrlSignature::sign(K, name, NOW + 600);
        let v = |secret: &str, t: &str, now: i64| {
            UrlSignature::verify(K, name, Some(secret), Some(t), now)
        };
        // Nine characters (a leading zero), lowercase, short, empty, signs.
        for t in [
            format!("0{}", s.tx_time),
            s.tx_time.to_lowercase(),
            s.tx_time[1..].to_string(),
            String::new(),
            format!("+{}", &s.tx_time[1..]),
        ] {
            let forged = hex::encode(Md5::digest(format!("{K}{name}{t}").as_bytes()));
            assert!(
                matches!(v(&forged, &t, NOW), Err(SignatureError::Malformed(_))),
                "txTime {t:?} must be refused as malformed"
            );
        }
        // An expiry beyond now + 7 days (+ the clock window) is refused even when signed.
        let far = UrlSignature::sign(K, name, NOW + MAX_URL_TTL_S + CLOCK_WINDOW_S + 1);
        assert!(matches!(
            v(&far.tx_secret, &far.tx_time, NOW),
            Err(SignatureError::Malformed(_))
        ));
        let edge = UrlSignature::sign(K, name, NOW + MAX_URL_TTL_S);
        assert!(v(&edge.tx_secret, &edge.tx_time, NOW).is_ok());
    }

    #[test]
    fn non_canonical_stream_names_are_refused() {
        for name in ["demo_07", "demo_+7", "demo_7 ", "Demo_7", "demo_0"] {
            let s = UrlSignature::sign(K, name, NOW + 600);
            assert!(
                matches!(
                    UrlSignature::verify(K, name, Some(&s.tx_secret), Some(&s.tx_time), NOW),
                    Err(SignatureError::Malformed(_))
                ),
                "{name:?} must be refused"
            );
        }
    }

    proptest::proptest! {
        /// No other split of `stream_name + txTime` verifies: move 1..=8 characters between
        /// the room id and `txTime` in either direction.
        #[test]
        fn no_other_split_verifies(room in 1u64..10_000_000_000, ttl in 1i64..MAX_URL_TTL_S) {
            let name = format!("demo_{room}");
            let s = UrlSignature::sign(K, &name, NOW + ttl);
            let joined = format!("{name}{}", s.tx_time);
            let split_at = name.len();
            for cut in split_at.saturating_sub(12)..=(split_at + 8).min(joined.len()) {
                if cut == split_at {
                    continue;
                }
                let (n, t) = joined.split_at(cut);
                proptest::prop_assert!(
                    UrlSignature::verify(K, n, Some(&s.tx_secret), Some(t), NOW).is_err(),
                    "{n:?} + {t:?} verified"
                );
            }
        }
    }

    /// The derivation documented in the README ("Push and play URLs"), checked there with
    /// Python's hmac/hashlib.
    #[test]
    fn per_app_url_keys_readme_vector() {
        let master = "zhibo-example-push-key-0123456789";
        let key = app_url_key(master, UrlPurpose::Push, "demo");
        assert_eq!(
            key,
            "88d3b21e1871e2bfbf055f21cb945194b7d04180214390c3126fe0e7155b9683"
        );
        assert_eq!(
            app_url_key(
                "zhibo-example-play-key-0123456789",
                UrlPurpose::Play,
                "demo"
            ),
            "679ee4dca762366084a137c0aaeebad209a7777597d7d39376d41b015022b673"
        );
        let s = UrlSignature::sign_room(master, UrlPurpose::Push, "demo", 1, 1_767_229_200);
        assert_eq!(s.tx_time, "6955C710");
        assert_eq!(s.tx_secret, "0470694a3ef14116a351e647998b5a9b");
        assert_eq!(s, UrlSignature::sign(&key, "demo_1", 1_767_229_200));
    }

    /// One app's URLs and key never verify another app's stream, and a push URL is not a
    /// play URL.
    #[test]
    fn app_keys_do_not_cross_tenants_or_purposes() {
        let master = "master-key-0123456789abcdef";
        let a = UrlSignature::sign_room(master, UrlPurpose::Push, "appa", 7, NOW + 600);
        let v = |purpose, name: &str, s: &UrlSignature| {
            UrlSignature::verify_stream(
                master,
                purpose,
                name,
                Some(&s.tx_secret),
                Some(&s.tx_time),
                NOW,
            )
        };
        assert_eq!(v(UrlPurpose::Push, "appa_7", &a), Ok(NOW + 600));
        assert_eq!(
            v(UrlPurpose::Push, "appb_7", &a),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v(UrlPurpose::Play, "appa_7", &a),
            Err(SignatureError::Mismatch)
        );
        // App A's derived key signing app B's stream name.
        let key_a = app_url_key(master, UrlPurpose::Push, "appa");
        let forged = UrlSignature::sign(&key_a, "appb_7", NOW + 600);
        assert_eq!(
            v(UrlPurpose::Push, "appb_7", &forged),
            Err(SignatureError::Mismatch)
        );
        // The master key itself signs nothing.
        let with_master = UrlSignature::sign(master, "appa_7", NOW + 600);
        assert_eq!(
            v(UrlPurpose::Push, "appa_7", &with_master),
            Err(SignatureError::Mismatch)
        );
        assert!(matches!(
            v(UrlPurpose::Push, "appa_07", &a),
            Err(SignatureError::Malformed(_))
        ));
    }

    /// L2: `i64::MIN` (or MAX) timestamps are refused, never an overflow panic.
    #[test]
    fn extreme_timestamps_are_refused_without_panic() {
        let mut r = readme_request();
        for ts in [i64::MIN, i64::MAX] {
            r.timestamp = ts;
            let sig = r.sign(README_SECRET.as_bytes());
            for now in [0, 1_767_225_600] {
                assert!(matches!(
                    r.verify(README_SECRET.as_bytes(), &sig, now),
                    Err(SignatureError::OutsideWindow { .. })
                ));
            }
            let h = BodySignature::header(b"whsec", ts, b"{}");
            assert!(matches!(
                BodySignature::verify(b"whsec", Some(&h), b"{}", 1_767_225_600),
                Err(SignatureError::OutsideWindow { .. })
            ));
        }
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
