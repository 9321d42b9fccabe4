//! The S3Event JSON S3 would send, made from one filer metadata event: pure functions.

use std::fmt::Write as _;

use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

/// The S3Event JSON S3 would send for the filer metadata event `ev` (one record,
/// `ObjectCreated:Put`, or `ObjectCreated:CompleteMultipartUpload` for a multipart upload), if
/// `ev` creates or overwrites a file of `bucket` whose key starts with `prefix` and ends with
/// `suffix`; `None` for deletions, directories and other keys.
pub fn s3_event_from_filer_event(
    bucket: &str,
    prefix: &str,
    suffix: &str,
    ev: &Value,
) -> Option<Value> {
    let notification = ev.get("eventNotification")?;
    let entry = notification.get("newEntry").filter(|e| e.is_object())?;
    if entry
        .get("isDirectory")
        .and_then(Value::as_bool)
        .unwrap_or(false)
    {
        return None;
    }
    let name = entry
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())?;
    // newParentPath is where the entry is now (it differs from `directory` for a rename)
    let directory = notification
        .get("newParentPath")
        .and_then(Value::as_str)
        .filter(|p| !p.is_empty())
        .or_else(|| ev.get("directory").and_then(Value::as_str))?;
    let key = object_key(bucket, directory, name)?;
    if !key.starts_with(prefix) || !key.ends_with(suffix) {
        return None;
    }
    let ts_ns = ev.get("tsNs").and_then(json_u64)?;
    let size = entry
        .pointer("/attributes/fileSize")
        .and_then(json_u64)
        .unwrap_or(0);
    let event_name = if entry.pointer("/extended/X-Seaweedfs-Upload-Id").is_some() {
        "ObjectCreated:CompleteMultipartUpload"
    } else {
        "ObjectCreated:Put"
    };
    Some(json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": event_time(ts_ns),
            "eventName": event_name,
            "userIdentity": { "principalId": "seaweedfs" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "zhibo-local-seaweedfs",
                "bucket": {
                    "name": bucket,
                    "ownerIdentity": { "principalId": "seaweedfs" },
                    "arn": format!("arn:aws:s3:::{bucket}"),
                },
                "object": {
                    "key": s3_notification_key(&key),
                    "size": size,
                    "eTag": entry_etag(entry).unwrap_or_default(),
                    "sequencer": format!("{ts_ns:016X}"),
                },
            },
        }],
    }))
}

/// The key of file `name` in filer folder `directory`, if that is in `/buckets/{bucket}`.
fn object_key(bucket: &str, directory: &str, name: &str) -> Option<String> {
    let below_bucket = directory.strip_prefix("/buckets/")?.strip_prefix(bucket)?;
    if below_bucket.is_empty() || below_bucket == "/" {
        return Some(name.to_owned());
    }
    let folder = below_bucket.strip_prefix('/')?.trim_end_matches('/');
    Some(format!("{folder}/{name}"))
}

/// The object's ETag as S3 reports it (lowercase hex MD5, `{hex}-{parts}` after a multipart
/// upload): the one the S3 gateway recorded, else the filer's MD5, else that of its only chunk.
fn entry_etag(entry: &Value) -> Option<String> {
    let recorded = entry
        .pointer("/extended/Seaweed-X-Amz-ETag")
        .and_then(Value::as_str)
        .and_then(base64_decode)
        .and_then(|bytes| String::from_utf8(bytes).ok());
    if let Some(recorded) = recorded {
        let etag = recorded.trim().trim_matches('"');
        if !etag.is_empty() && etag.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Some(etag.to_ascii_lowercase());
        }
    }
    if let Some(md5) = entry
        .pointer("/attributes/md5")
        .and_then(Value::as_str)
        .and_then(md5_hex)
    {
        return Some(md5);
    }
    // one chunk holds the whole file: its eTag is the file's MD5 (not so for several chunks)
    match entry.get("chunks").and_then(Value::as_array)?.as_slice() {
        [chunk]
            if !chunk
                .get("isChunkManifest")
                .and_then(Value::as_bool)
                .unwrap_or(false) =>
        {
            chunk.get("eTag").and_then(Value::as_str).and_then(md5_hex)
        }
        _ => None,
    }
}

/// An MD5 given as base64 (as the filer stores it) or hex, in lowercase hex.
fn md5_hex(text: &str) -> Option<String> {
    let text = text.trim();
    if let Some(bytes) = base64_decode(text).filter(|b| b.len() == 16) {
        let mut hex = String::with_capacity(32);
        for b in bytes {
            let _ = write!(hex, "{b:02x}");
        }
        return Some(hex);
    }
    (text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| text.to_ascii_lowercase())
}

/// Base64 as the decoder accepts it: padded or not, trailing bits ignored.
const BASE64_CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
/// Standard base64 alphabet (`+`, `/`).
const BASE64_STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, BASE64_CONFIG);
/// URL-safe base64 alphabet (`-`, `_`).
const BASE64_URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, BASE64_CONFIG);

/// Decodes base64 (standard or URL-safe alphabet, padding optional).
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    BASE64_STANDARD
        .decode(text)
        .or_else(|_| BASE64_URL_SAFE.decode(text))
        .ok()
}

/// What S3 notifications percent-encode in keys: `encodeURIComponent`'s set (all but
/// alphanumerics and `-_.!~*'()`), but `/` kept; a space is left for [`s3_notification_key`]
/// to write as `+`.
const S3_NOTIFICATION_KEY_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')')
    .remove(b'/')
    .remove(b' ');

/// A key URL-encoded as in S3 notifications: `encodeURIComponent`'s set, but `/` kept and
/// spaces as `+`.
fn s3_notification_key(key: &str) -> String {
    // `+` itself is encoded (`%2B`), so every `+` in the result is a space
    utf8_percent_encode(key, S3_NOTIFICATION_KEY_SET)
        .to_string()
        .replace(' ', "+")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds truncated).
const EVENT_TIME_FORMAT: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a unix time in nanoseconds.
fn event_time(ts_ns: u64) -> String {
    // every u64 of nanoseconds is a time before 2555: neither step fails
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ts_ns))
        .ok()
        .and_then(|t| t.format(EVENT_TIME_FORMAT).ok())
        .unwrap_or_default()
}

/// A JSON number or a string of digits (protobuf's JSON writes 64-bit integers as strings).
pub(super) fn json_u64(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seaweedfs::test_support::*;
    use crate::seaweedfs::{PLAYLIST_SUFFIX, REPLAYS_PREFIX};
    use aws_lambda_events::s3::S3Event;

    fn convert(sample: &str) -> Option<Value> {
        let ev: Value = serde_json::from_str(sample).unwrap();
        s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev)
    }

    // ------------------------------------------------------------ conversion

    #[test]
    fn seaweedfs_new_playlist_is_one_put_record() {
        let record = only_record(convert(NEW_M3U8).unwrap());
        assert_eq!(
            record,
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-23T16:28:29.092Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": { "principalId": "seaweedfs" },
                "requestParameters": { "sourceIPAddress": "127.0.0.1" },
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "zhibo-local-seaweedfs",
                    "bucket": {
                        "name": "hls",
                        "ownerIdentity": { "principalId": "seaweedfs" },
                        "arn": "arn:aws:s3:::hls",
                    },
                    "object": {
                        "key": "replays/capt/1/r1.m3u8",
                        "size": 25,
                        "eTag": "a851a86fab1df8abd853a646bfae0d1e",
                        "sequencer": "18EAB973F1F42DA6",
                    },
                },
            })
        );
        let parsed: S3Event = serde_json::from_value(convert(NEW_M3U8).unwrap()).unwrap();
        let rec = &parsed.records[0];
        assert_eq!(
            rec.event_time.timestamp_nanos_opt(),
            Some(1_795_451_309_092_000_000)
        );
        assert_eq!(rec.s3.object.size, Some(25));
        assert_eq!(rec.s3.bucket.name.as_deref(), Some("hls"));
        assert_eq!(
            fn_replay_indexer::decode_event_key(rec.s3.object.key.as_deref().unwrap()).as_deref(),
            Some("replays/capt/1/r1.m3u8")
        );
    }

    #[test]
    fn seaweedfs_directory_json_and_delete_are_not_announced() {
        assert_eq!(convert(DIRECTORY_CREATED), None);
        assert_eq!(convert(JSON_BESIDE), None);
        assert_eq!(convert(DELETED), None);
    }

    #[test]
    fn seaweedfs_overwrite_is_a_put_with_the_new_size_and_etag() {
        let record = only_record(convert(OVERWRITTEN).unwrap());
        assert_eq!(record["eventName"], "ObjectCreated:Put");
        assert_eq!(record["s3"]["object"]["key"], "replays/capt/1/r1.m3u8");
        assert_eq!(record["s3"]["object"]["size"], 40);
        assert_eq!(
            record["s3"]["object"]["eTag"],
            "b065e2fc5e299c259b46cd72a70baf4c"
        );
    }

    #[test]
    fn seaweedfs_key_is_url_encoded_as_s3_does() {
        let record = only_record(convert(NON_ASCII_KEY).unwrap());
        let key = record["s3"]["object"]["key"].as_str().unwrap();
        assert_eq!(key, "replays/capt/2/my+replay+%C3%A9.m3u8");
        assert_eq!(
            fn_replay_indexer::decode_event_key(key).as_deref(),
            Some("replays/capt/2/my replay é.m3u8")
        );
        assert_eq!(
            s3_notification_key("a/b+c%d&e=f?g#h(i)*~!'.m3u8"),
            "a/b%2Bc%25d%26e%3Df%3Fg%23h(i)*~!'.m3u8"
        );
    }

    #[test]
    fn seaweedfs_multipart_upload_has_the_multipart_etag() {
        let record = only_record(convert(MULTIPART).unwrap());
        assert_eq!(record["eventName"], "ObjectCreated:CompleteMultipartUpload");
        assert_eq!(record["s3"]["object"]["size"], 5_242_980);
        assert_eq!(
            record["s3"]["object"]["eTag"],
            "16cafe8d6b8c1c55c3d339c8d69326c6-2"
        );
    }

    #[test]
    fn seaweedfs_etag_falls_back_to_md5_then_the_only_chunk() {
        let mut ev: Value = serde_json::from_str(NEW_M3U8).unwrap();
        let entry = ev.pointer_mut("/eventNotification/newEntry").unwrap();
        entry["extended"] = json!({});
        let from_md5 = s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev);
        assert_eq!(
            from_md5.unwrap()["Records"][0]["s3"]["object"]["eTag"],
            "a851a86fab1df8abd853a646bfae0d1e"
        );
        let entry = ev.pointer_mut("/eventNotification/newEntry").unwrap();
        entry["attributes"]["md5"] = json!("");
        let from_chunk = s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev);
        assert_eq!(
            from_chunk.unwrap()["Records"][0]["s3"]["object"]["eTag"],
            "a851a86fab1df8abd853a646bfae0d1e"
        );
        // several chunks and no MD5: no ETag rather than a part's
        let mut multipart: Value = serde_json::from_str(MULTIPART).unwrap();
        let entry = multipart
            .pointer_mut("/eventNotification/newEntry")
            .unwrap();
        entry["extended"] = json!({});
        let record = only_record(
            s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &multipart).unwrap(),
        );
        assert_eq!(record["s3"]["object"]["eTag"], "");
    }

    #[test]
    fn seaweedfs_size_as_number_and_other_buckets() {
        let mut ev: Value = serde_json::from_str(NEW_M3U8).unwrap();
        ev["eventNotification"]["newEntry"]["attributes"]["fileSize"] = json!(25);
        ev["tsNs"] = json!(1_795_451_309_092_253_094_u64);
        let record = only_record(
            s3_event_from_filer_event(BUCKET, REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev).unwrap(),
        );
        assert_eq!(record["s3"]["object"]["size"], 25);
        assert_eq!(record["s3"]["object"]["sequencer"], "18EAB973F1F42DA6");
        // another bucket whose name starts the same, another prefix, not an event at all
        assert_eq!(
            s3_event_from_filer_event("hl", REPLAYS_PREFIX, PLAYLIST_SUFFIX, &ev),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "live/", PLAYLIST_SUFFIX, &ev),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "", "", &json!({"tsNs": "1"})),
            None
        );
        assert_eq!(
            s3_event_from_filer_event(BUCKET, "", "", &json!([1, 2])),
            None
        );
    }

    #[test]
    fn seaweedfs_helpers() {
        assert_eq!(base64_decode("TWFu").unwrap(), b"Man");
        assert_eq!(base64_decode("TWE=").unwrap(), b"Ma");
        assert_eq!(base64_decode("TQ").unwrap(), b"M");
        assert_eq!(base64_decode("T"), None);
        assert_eq!(base64_decode("T@==").as_deref(), None);
        // URL-safe alphabet; trailing bits not zero (`R` = 010001) are ignored
        assert_eq!(base64_decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64_decode("+/8=").unwrap(), [0xfb, 0xff]);
        assert_eq!(base64_decode("TR").unwrap(), b"M");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(
            md5_hex("A851A86FAB1DF8ABD853A646BFAE0D1E").as_deref(),
            Some("a851a86fab1df8abd853a646bfae0d1e")
        );
        assert_eq!(md5_hex("TWFu"), None);
        assert_eq!(event_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(event_time(1_999_999_999), "1970-01-01T00:00:01.999Z");
        assert_eq!(
            object_key("hls", "/buckets/hls", "a.m3u8").as_deref(),
            Some("a.m3u8")
        );
        assert_eq!(object_key("hls", "/buckets/hlsx/a", "b"), None);
        assert_eq!(object_key("hls", "/elsewhere/hls/a", "b"), None);
    }

    /// The crates' encodings give what the hand-written code they replaced gave.
    #[test]
    fn seaweedfs_encodings_match_the_former_hand_written_ones() {
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        use rand::{Rng, SeedableRng};

        /// The former `s3_notification_key`.
        fn key_by_hand(key: &str) -> String {
            let mut out = String::new();
            for b in key.bytes() {
                match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' => out.push(char::from(b)),
                    b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')' | b'/' => {
                        out.push(char::from(b));
                    }
                    b' ' => out.push('+'),
                    _ => {
                        let _ = write!(out, "%{b:02X}");
                    }
                }
            }
            out
        }
        /// The former `event_time`.
        fn event_time_by_hand(ts_ns: u64) -> String {
            let secs = i64::try_from(ts_ns / 1_000_000_000).unwrap();
            let millis = ts_ns % 1_000_000_000 / 1_000_000;
            let whole = zhibo_core::table::iso8601_utc(secs);
            format!("{}.{millis:03}Z", whole.strip_suffix('Z').unwrap())
        }

        let ascii: String = (0u8..128).map(char::from).collect();
        assert_eq!(s3_notification_key(&ascii), key_by_hand(&ascii));
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let len = rng.gen_range(0..24);
            let key: String = (0..len)
                .map(|_| match rng.gen_range(0..4) {
                    0 => char::from(rng.gen_range(0u8..128)),
                    1 => ' ',
                    _ => rng.gen::<char>(),
                })
                .collect();
            assert_eq!(s3_notification_key(&key), key_by_hand(&key), "{key:?}");

            let bytes: Vec<u8> = (0..rng.gen_range(0..40)).map(|_| rng.gen()).collect();
            for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
                let text = engine.encode(&bytes);
                assert_eq!(base64_decode(&text).as_ref(), Some(&bytes), "{text}");
            }

            for ts_ns in [
                rng.gen::<u64>(),
                rng.gen_range(0..4_000_000_000_000_000_000),
            ] {
                assert_eq!(event_time(ts_ns), event_time_by_hand(ts_ns), "{ts_ns}");
            }
        }
        assert_eq!(event_time(u64::MAX), event_time_by_hand(u64::MAX));
    }
}
