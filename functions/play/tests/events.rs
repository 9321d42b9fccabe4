//! The play function through the Lambda path: its `events/play-*` fixtures (signed with the
//! fixture play key) run through `fn_play::router` over a private bucket in SeaweedFS.

use serde_json::{json, Value};
use zhibo_api::with_fallbacks;
use zhibo_core::clock::now;
use zhibo_core::signing::{SignatureError, UrlPurpose, UrlSignature};
use zhibo_test_support::lambda_event::*;
use zhibo_test_support::TestApi;

/// The play fixtures carry app `demo`'s room 1 URL signed (with the key derived from the
/// fixture play key) at the fixtures' signing time, valid for an hour: play URLs last at most
/// 7 days, so the invocations below re-sign them ([`play_request`]).
#[test]
fn play_fixtures_are_signed_with_the_fixture_play_key() {
    let at = FIXTURE_PLAY_EXPIRES - 3600;
    for name in ["play-live.apigw-v2.json", "play-replay.apigw-v2.json"] {
        let req = request(&fixture(name));
        let q = zhibo_api::query_pairs(req.uri().query());
        let param = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(
            UrlSignature::verify_stream(
                FIXTURE_PLAY_KEY,
                UrlPurpose::Play,
                "demo_1",
                param("txSecret"),
                param("txTime"),
                at
            ),
            Ok(FIXTURE_PLAY_EXPIRES),
            "{name}"
        );
        assert_eq!(
            UrlSignature::verify_stream(
                "another-play-key-0123456789",
                UrlPurpose::Play,
                "demo_1",
                param("txSecret"),
                param("txTime"),
                at
            ),
            Err(SignatureError::Mismatch),
            "{name}"
        );
    }
}

/// A play fixture with its URL re-signed for `demo_1` until `expires_at`.
fn play_request(name: &str, expires_at: i64) -> lambda_http::Request {
    let mut event: Value = serde_json::from_str(&fixture(name)).expect("fixture JSON");
    let sig = UrlSignature::sign_room(FIXTURE_PLAY_KEY, UrlPurpose::Play, "demo", 1, expires_at);
    event["rawQueryString"] = json!(sig.query());
    event["queryStringParameters"] = json!({"txSecret": sig.tx_secret, "txTime": sig.tx_time});
    request(&event.to_string())
}

#[tokio::test]
async fn play_function_serves_its_fixtures_from_a_private_bucket() {
    let bucket = format!("private{}", zhibo_core::ids::random_hex(4));
    let api = TestApi::start_with(&[
        ("PLAYBACK_MODE", "signed"),
        ("PLAY_KEY", FIXTURE_PLAY_KEY),
        ("MEDIA_BUCKET", &bucket),
    ])
    .await;
    let s3 = api.s3();
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("create the private bucket");
    let put = |key: String, body: Vec<u8>| {
        let s3 = s3.clone();
        let bucket = bucket.clone();
        async move {
            // A bucket created a moment ago may answer 500 while SeaweedFS grows its first
            // volume (seen on a loaded machine): retried, as any S3 client does.
            let mut attempt = 0;
            loop {
                attempt += 1;
                match s3
                    .put_object()
                    .bucket(&bucket)
                    .key(&key)
                    .body(body.clone().into())
                    .send()
                    .await
                {
                    Ok(_) => break,
                    Err(e) if attempt < 10 => {
                        eprintln!("put {key} (attempt {attempt}): {e}; retrying");
                        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                    }
                    Err(e) => panic!("put {key}: {e:?}"),
                }
            }
        }
    };
    let play = with_fallbacks(fn_play::router(fn_play::PlayState::new(
        (*api.state.config).clone(),
        &api.sdk,
    )));
    // The fixtures play room 1 of app `demo`: /play serves rooms that exist (and are not
    // banned), so the table gets that room.
    let demo = zhibo_core::app::App::generate("demo", now()).expect("app demo");
    assert!(api.state.apps.put_app(&demo).await.expect("put app"));
    let body: zhibo_core::room::CreateRoom =
        serde_json::from_str(&api.room_body("fixture room", 60)).expect("room body");
    let created = api
        .state
        .rooms
        .create_room("demo", body, None, &api.state.create_limits(), now())
        .await
        .expect("create demo room");
    assert_eq!(created.room.room_id, 1, "the fixtures name room 1");

    // Nothing published yet: 404 with the reason (and CORS, so a web player can show it).
    let (status, headers, body) =
        invoke_raw(&play, play_request("play-live.apigw-v2.json", now() + 600)).await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("no live stream yet"), "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");

    // The worker's objects for demo/1: a live playlist, its segments, a replay naming them.
    let segment = |i: u8| [0x47, i, i, i].repeat(47);
    let live = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:4\n\
                #EXTINF:2.000,\ns1/4.ts\n#EXTINF:2.000,\ns1/5.ts\n";
    put("live/demo/1/index.m3u8".into(), live.as_bytes().to_vec()).await;
    put("live/demo/1/s1/4.ts".into(), segment(4)).await;
    put("live/demo/1/s1/5.ts".into(), segment(5)).await;
    let replay = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:2\n\
                  #EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.000,\n../../../live/demo/1/s1/4.ts\n\
                  #EXTINF:2.000,\n../../../live/demo/1/s1/5.ts\n#EXT-X-ENDLIST\n";
    put(
        format!("replays/demo/1/{FIXTURE_REPLAY_ID}.m3u8"),
        replay.as_bytes().to_vec(),
    )
    .await;

    for (name, original, cache, url_ttl) in [
        ("play-live.apigw-v2.json", live, "private, max-age=1", 600),
        // Replays: segment URLs last as long as the play URL, at most 7 days (SigV4).
        (
            "play-replay.apigw-v2.json",
            replay,
            "private, max-age=60",
            7 * 86_400,
        ),
    ] {
        // As long as the longest play URL (7 days, with the clock window's slack on top), so
        // replay segment URLs get the 7-day SigV4 maximum.
        let expires_at = now() + zhibo_core::signing::MAX_URL_TTL_S + 200;
        let (status, headers, body) = invoke_raw(&play, play_request(name, expires_at)).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(headers["content-type"], "application/vnd.apple.mpegurl");
        assert_eq!(headers["cache-control"], cache, "{name}");
        assert_eq!(headers["access-control-allow-origin"], "*");
        let (orig, got): (Vec<&str>, Vec<&str>) =
            (original.lines().collect(), body.lines().collect());
        assert_eq!(orig.len(), got.len(), "{name}: {body}");
        let mut presigned = 0;
        for (o, g) in orig.iter().zip(&got) {
            if o.starts_with('#') {
                assert_eq!(o, g, "{name}");
                continue;
            }
            presigned += 1;
            let i = if o.ends_with("4.ts") { 4 } else { 5 };
            assert!(
                g.contains(&format!("/{bucket}/live/demo/1/s1/{i}.ts?")),
                "{name}: {g}"
            );
            assert!(
                g.contains("X-Amz-Signature=") && g.contains(&format!("X-Amz-Expires={url_ttl}")),
                "{name}: {g}"
            );
            let r = reqwest::get(*g).await.unwrap();
            assert_eq!(r.status(), 200, "{name}: presigned {g}");
            assert_eq!(r.bytes().await.unwrap().to_vec(), segment(i));
        }
        assert_eq!(presigned, 2, "{name}");
    }

    // A tampered signature is refused with the reason.
    let text = fixture("play-live.apigw-v2.json");
    let v: Value = serde_json::from_str(&text).unwrap();
    let secret = v["queryStringParameters"]["txSecret"].as_str().unwrap();
    let tampered = text.replace(secret, &format!("00{}", &secret[2..]));
    let (status, headers, body) = invoke_raw(&play, request(&tampered)).await;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("does not match"), "{body}");
    assert_eq!(headers["access-control-allow-origin"], "*");
}
