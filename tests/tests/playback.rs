//! Playback URLs on the local stack: `GET /v1/rooms/{id}/play-urls` in both modes, and signed
//! playback (`/play/...`) serving a *private* SeaweedFS bucket (no anonymous read): the
//! playlist comes back with only its URIs changed, each a presigned URL that plays, while the
//! objects themselves refuse anonymous reads. Tampered, expired, missing and misdirected
//! signatures are refused with the reason, CORS headers included.

use serde_json::Value;
use zhibo_core::clock::now;
use zhibo_core::signing::{app_url_key, UrlPurpose, UrlSignature};
use zhibo_e2e_tests::TestApi;

const PLAY_KEY: &str = "play-key-for-tests-0123";

struct Private {
    api: TestApi,
    bucket: String,
}

async fn signed_api() -> Private {
    let bucket = format!("private{}", zhibo_core::ids::random_hex(4));
    let api = TestApi::start_with(&[
        ("PLAYBACK_MODE", "signed"),
        ("API_BASE_URL", "https://api.example.com"),
        ("PLAY_KEY", PLAY_KEY),
        ("PLAY_URL_TTL_S", "900"),
        ("MEDIA_BUCKET", &bucket),
    ])
    .await;
    api.s3()
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the private bucket");
    Private { api, bucket }
}

async fn put(api: &TestApi, bucket: &str, key: &str, body: Vec<u8>) {
    api.s3()
        .put_object()
        .bucket(bucket)
        .key(key)
        .body(body.into())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

fn live_playlist() -> String {
    "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4\n\
     #EXT-X-PROGRAM-DATE-TIME:2026-11-23T10:00:00.000Z\n#EXTINF:2.000,\ns1/4.ts\n\
     #EXTINF:2.000,\ns1/5.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:1.600,\ns2/0.ts\n"
        .to_string()
}

fn segment(i: u8) -> Vec<u8> {
    [0x47, i, i, i].repeat(47)
}

async fn get(url: &str) -> (u16, reqwest::header::HeaderMap, String) {
    let r = reqwest::get(url).await.expect("GET");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap_or_default())
}

/// The API's own URL for a `https://api.example.com/play/...` URL.
fn local(api: &TestApi, url: &str) -> String {
    format!(
        "{}{}",
        api.base,
        url.trim_start_matches("https://api.example.com")
    )
}

#[tokio::test]
async fn signed_playback_serves_a_private_bucket_through_presigned_segment_urls() {
    let Private { api, bucket } = signed_api().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("private", 5).await;
    let base = format!("live/{app}/{room}");
    put(
        &api,
        &bucket,
        &format!("{base}/index.m3u8"),
        live_playlist().into_bytes(),
    )
    .await;
    for (i, key) in ["s1/4.ts", "s1/5.ts", "s2/0.ts"].iter().enumerate() {
        put(&api, &bucket, &format!("{base}/{key}"), segment(i as u8)).await;
    }

    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["mode"], "signed");
    let hls = r.json["hls"].as_str().unwrap();
    assert!(
        hls.starts_with(&format!(
            "https://api.example.com/play/{app}/{room}/index.m3u8?txSecret="
        )),
        "{hls}"
    );
    let expires = r.json["expires_at"].as_i64().unwrap();
    assert!((expires - now() - 900).abs() <= 5, "{expires}");

    let (status, headers, body) = get(&local(&api, hls)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
    assert_eq!(headers["cache-control"], "private, max-age=1");
    assert_eq!(headers["access-control-allow-origin"], "*");
    // Only the URI lines changed, each into a presigned URL of the object it named.
    let original = live_playlist();
    let (orig, got): (Vec<&str>, Vec<&str>) = (original.lines().collect(), body.lines().collect());
    assert_eq!(orig.len(), got.len(), "{body}");
    let mut signed = 0;
    for (o, g) in orig.iter().zip(&got) {
        if o.starts_with('#') {
            assert_eq!(o, g);
            continue;
        }
        signed += 1;
        let key = format!("{base}/{o}");
        assert!(g.contains(&format!("/{bucket}/{key}?")), "{g}");
        assert!(
            g.contains("X-Amz-Signature=") && g.contains("X-Amz-Expires=600"),
            "{g}"
        );
        let i = ["s1/4.ts", "s1/5.ts", "s2/0.ts"]
            .iter()
            .position(|k| k == o)
            .unwrap();
        let r = reqwest::get(*g).await.unwrap();
        assert_eq!(r.status(), 200, "presigned {g}");
        assert_eq!(r.bytes().await.unwrap().to_vec(), segment(i as u8));
        // The bucket itself is private: the same object without a signature is refused.
        let endpoint = std::env::var("ZHIBO_S3_ENDPOINT").unwrap();
        let anon = reqwest::get(format!("{endpoint}/{bucket}/{key}"))
            .await
            .unwrap();
        assert_eq!(anon.status(), 403, "anonymous read of the private bucket");
    }
    assert_eq!(signed, 3);
    // Preflight.
    let pre = api
        .http
        .request(reqwest::Method::OPTIONS, local(&api, hls))
        .send()
        .await
        .unwrap();
    assert_eq!(pre.status(), 204);
    assert_eq!(pre.headers()["access-control-allow-origin"], "*");
}

#[tokio::test]
async fn bad_playback_signatures_are_refused_with_the_reason() {
    let Private { api, bucket } = signed_api().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("refusals", 5).await;
    let other = api.create_room("other", 5).await;
    put(
        &api,
        &bucket,
        &format!("live/{app}/{room}/index.m3u8"),
        live_playlist().into_bytes(),
    )
    .await;
    let name = zhibo_core::room::stream_name(&app, room);
    let good = UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, &app, room, now() + 60);
    let path = format!("/play/{app}/{room}/index.m3u8");
    let tampered = format!(
        "txSecret={}&txTime={}",
        good.tx_secret.replace(&good.tx_secret[..2], "00"),
        good.tx_time
    );
    let expired =
        UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, &app, room, now() - 5).query();
    let wrong_key = UrlSignature::sign("another-key-0123456789", &name, now() + 60).query();
    let for_other_room =
        UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, &app, other, now() + 60).query();
    // Another app's derived key over this app's stream name, the master key itself, and a
    // push URL's signature: none opens the room.
    let other_app_key = UrlSignature::sign(
        &app_url_key(PLAY_KEY, UrlPurpose::Play, "othr1"),
        &name,
        now() + 60,
    )
    .query();
    let master_key = UrlSignature::sign(PLAY_KEY, &name, now() + 60).query();
    let push_sig =
        UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Push, &app, room, now() + 60).query();
    for (query, needle) in [
        (tampered.as_str(), "does not match"),
        (expired.as_str(), "expired"),
        (wrong_key.as_str(), "does not match"),
        (for_other_room.as_str(), "does not match"),
        (other_app_key.as_str(), "does not match"),
        (master_key.as_str(), "does not match"),
        (push_sig.as_str(), "does not match"),
        ("", "missing txSecret"),
        ("txSecret=abc", "missing txTime"),
        ("txSecret=abc&txTime=zz", "malformed txTime"),
    ] {
        let (status, headers, body) = get(&format!("{}{path}?{query}", api.base)).await;
        assert_eq!(status, 401, "{query}: {body}");
        assert_eq!(headers["access-control-allow-origin"], "*", "{query}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let msg = v["errmsg"].as_str().unwrap();
        assert!(msg.contains(needle), "{query}: {msg} lacks {needle}");
    }
    // The good one works; an unknown room or replay is 404, a room not live yet too.
    let (status, _, body) = get(&format!("{}{path}?{}", api.base, good.query())).await;
    assert_eq!(status, 200, "{body}");
    let other_sig = UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, &app, other, now() + 60);
    let (status, _, body) = get(&format!(
        "{}/play/{app}/{other}/index.m3u8?{}",
        api.base,
        other_sig.query()
    ))
    .await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no live stream yet"), "{body}");
    let (status, _, body) = get(&format!(
        "{}/play/{app}/{room}/replays/0199a.m3u8?{}",
        api.base,
        good.query()
    ))
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _, _) = get(&format!(
        "{}/play/{app}/{room}/replays/x.ts?{}",
        api.base,
        good.query()
    ))
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = get(&format!("{}/play/Bad%20App/{room}/index.m3u8", api.base)).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn signed_replays_get_segment_urls_that_last_as_long_as_the_play_url() {
    let Private { api, bucket } = signed_api().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("replay", 5).await;
    let replay = "0199aabbccddeeff001";
    let text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\n../../../live/{app}/{room}/s1/0.ts\n#EXT-X-ENDLIST\n"
    );
    put(
        &api,
        &bucket,
        &format!("replays/{app}/{room}/{replay}.m3u8"),
        text.into_bytes(),
    )
    .await;
    put(
        &api,
        &bucket,
        &format!("live/{app}/{room}/s1/0.ts"),
        segment(9),
    )
    .await;
    let sig = UrlSignature::sign_room(PLAY_KEY, UrlPurpose::Play, &app, room, now() + 7200);
    let (status, headers, body) = get(&format!(
        "{}/play/{app}/{room}/replays/{replay}.m3u8?{}",
        api.base,
        sig.query()
    ))
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "private, max-age=60");
    let url = body.lines().find(|l| !l.starts_with('#')).unwrap();
    let secs: i64 = url
        .split("X-Amz-Expires=")
        .nth(1)
        .and_then(|r| r.split('&').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!((7190..=7200).contains(&secs), "{url}");
    assert!(body.ends_with("#EXT-X-ENDLIST\n"));
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().to_vec(), segment(9));
}

#[tokio::test]
async fn public_mode_hands_out_bucket_urls_and_no_signed_playback() {
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let room = api.create_room("public", 5).await;
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["mode"], "public");
    assert_eq!(r.json["expires_at"], Value::Null);
    let endpoint = std::env::var("ZHIBO_S3_ENDPOINT").unwrap();
    let bucket = std::env::var("MEDIA_BUCKET").unwrap_or_else(|_| "hls".into());
    assert_eq!(
        r.json["hls"],
        format!("{endpoint}/{bucket}/live/{app}/{room}/index.m3u8")
    );
    let (status, headers, body) = get(&format!("{}/play/{app}/{room}/index.m3u8", api.base)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("PLAYBACK_MODE=public"), "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
    // A banned room is not handed out; unknown rooms are 404.
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action":"ban"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("banned"), "{}", r.text);
    let r = api.call("GET", "/v1/rooms/424242/play-urls", "").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn without_api_base_url_signed_urls_point_at_the_host_that_was_asked() {
    let api = TestApi::start_with(&[("PLAYBACK_MODE", "signed"), ("PLAY_KEY", PLAY_KEY)]).await;
    let room = api.create_room("host", 5).await;
    let host = api.base.trim_start_matches("http://");
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/play-urls"), "")
        .await;
    let hls = r.json["hls"].as_str().unwrap();
    assert!(
        hls.starts_with(&format!(
            "https://{host}/play/{}/{room}/index.m3u8?",
            api.app.app_id
        )),
        "{hls}"
    );
    let r = api
        .call_with(
            "GET",
            &format!("/v1/rooms/{room}/play-urls"),
            b"",
            &[("x-forwarded-proto", "http")],
        )
        .await;
    let hls = r.json["hls"].as_str().unwrap();
    assert!(hls.starts_with(&format!("{}/play/", api.base)), "{hls}");
    // ...and that URL is answered by this API (404: nothing published yet, not a refusal).
    let (status, _, body) = get(hls).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no live stream yet"), "{body}");
}

/// H1: room 10's play URL with its last digit moved into `txTime` (`{app}_1` + `0` + T is
/// the MD5 input of `{app}_10` + T) does not open room 1, and `/play/{app}/010/...` is not
/// room 10's URL.
#[tokio::test]
async fn a_play_url_opens_exactly_one_room() {
    let Private { api, bucket } = signed_api().await;
    let app = api.app.app_id.clone();
    let mut rooms = Vec::new();
    for i in 0..10 {
        rooms.push(api.create_room(&format!("room {i}"), 5).await);
    }
    assert_eq!((rooms[0], rooms[9]), (1, 10), "room ids are sequential");
    for room in [1, 10] {
        put(
            &api,
            &bucket,
            &format!("live/{app}/{room}/index.m3u8"),
            live_playlist().into_bytes(),
        )
        .await;
    }
    let r = api.call("GET", "/v1/rooms/10/play-urls", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let (_, query) = r.json["hls"].as_str().unwrap().split_once('?').unwrap();
    let (status, _, body) = get(&format!("{}/play/{app}/10/index.m3u8?{query}", api.base)).await;
    assert_eq!(status, 200, "the genuine URL plays: {body}");
    let moved = query.replace("txTime=", "txTime=0");
    for (path, query) in [
        (format!("/play/{app}/1/index.m3u8"), moved.as_str()),
        (format!("/play/{app}/010/index.m3u8"), query),
    ] {
        let (status, _, body) = get(&format!("{}{path}?{query}", api.base)).await;
        assert_eq!(status, 401, "{path}?{query} must be refused: {body}");
    }
}
