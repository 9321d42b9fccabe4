//! The rooms API end to end: real HTTP, real signatures, DynamoDB Local.

use futures::future::join_all;
use serde_json::json;
use std::collections::HashSet;
use zhibo_core::clock::now;
use zhibo_core::LiveStatus;
use zhibo_test_support::{TestApi, TEST_PUSH_KEY};

#[tokio::test]
async fn create_get_list_patch_status_delete() {
    let api = TestApi::start().await;
    // GIVEN a created room
    let r = api
        .call("POST", "/v1/rooms", &api.room_body("第一场", 60))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let room = r.json.clone();
    let id = room["room_id"].as_u64().unwrap();
    assert!(id > 0);
    assert_eq!(room["live_status"], 102);
    assert_eq!(room["stream_name"], format!("{}_{id}", api.app.app_id));
    assert_eq!(room["goods"][0]["price"], 1100);

    // THEN it reads back identically and is listed
    let got = api.call("GET", &format!("/v1/rooms/{id}"), "").await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json, room);
    let list = api.call("GET", "/v1/rooms?start=0&limit=10", "").await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json["total"], 1);
    assert_eq!(list.json["rooms"][0], room);
    let by_status = api.call("GET", "/v1/rooms?live_status=102", "").await;
    assert_eq!(by_status.json["total"], 1);
    let none_live = api.call("GET", "/v1/rooms?live_status=101", "").await;
    assert_eq!(none_live.json, json!({"total": 0, "rooms": []}));

    // WHEN patched, the change is stored and other fields are kept
    let p = api
        .call(
            "PATCH",
            &format!("/v1/rooms/{id}"),
            r#"{"name":"改名","close_comment":true}"#,
        )
        .await;
    assert_eq!(p.status, 200, "{}", p.text);
    assert_eq!(p.json["name"], "改名");
    assert_eq!(p.json["close_comment"], true);
    assert_eq!(p.json["anchor_name"], room["anchor_name"]);
    assert_eq!(
        api.call("GET", &format!("/v1/rooms/{id}"), "").await.json["name"],
        "改名"
    );

    // status with ETag and 304
    let st = api.call("GET", &format!("/v1/rooms/{id}/status"), "").await;
    assert_eq!(st.status, 200);
    assert_eq!(st.json["room_id"], id);
    assert_eq!(st.json["live_status"], 102);
    assert!(st.json["updated_at"].as_i64().unwrap() >= room["created_at"].as_i64().unwrap());
    let etag = st.headers["etag"].to_str().unwrap().to_string();
    let again = api
        .call_with(
            "GET",
            &format!("/v1/rooms/{id}/status"),
            b"",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(again.status, 304);
    assert_eq!(again.headers["etag"].to_str().unwrap(), etag);
    // a status change changes the ETag (it covers exactly what the body shows)
    let ended = api
        .call(
            "POST",
            &format!("/v1/rooms/{id}/actions"),
            r#"{"action":"end"}"#,
        )
        .await;
    assert_eq!(ended.status, 200, "{}", ended.text);
    let changed = api
        .call_with(
            "GET",
            &format!("/v1/rooms/{id}/status"),
            b"",
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(changed.status, 200);

    // delete, then it is gone and the total drops
    let d = api.call("DELETE", &format!("/v1/rooms/{id}"), "").await;
    assert_eq!(d.status, 204, "{}", d.text);
    let gone = api.call("GET", &format!("/v1/rooms/{id}"), "").await;
    assert_eq!(gone.status, 404);
    assert!(gone.errmsg().contains(&id.to_string()));
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 0);
    assert_eq!(
        api.call("DELETE", &format!("/v1/rooms/{id}"), "")
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn paging_and_ordering_across_250_rooms() {
    let api = TestApi::start_with(&[("MAX_LIVES_PER_DAY", "1000")]).await;
    // GIVEN 250 rooms created in a shuffled order of start times
    let mut offsets: Vec<i64> = (0..250).map(|i| 600 + i * 37).collect();
    use rand::seq::SliceRandom;
    offsets.shuffle(&mut rand::thread_rng());
    for chunk in offsets.chunks(25) {
        let bodies: Vec<String> = chunk
            .iter()
            .map(|o| api.room_body(&format!("r{o}"), *o))
            .collect();
        let replies = join_all(bodies.iter().map(|b| api.call("POST", "/v1/rooms", b))).await;
        for r in replies {
            assert_eq!(r.status, 201, "{}", r.text);
        }
    }
    // WHEN read in pages of 100, 100, 50 and past the end
    let mut seen = Vec::new();
    for (start, expect) in [(0, 100), (100, 100), (200, 50), (250, 0), (1000, 0)] {
        let r = api
            .call("GET", &format!("/v1/rooms?start={start}&limit=100"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["total"], 250);
        let rooms = r.json["rooms"].as_array().unwrap();
        assert_eq!(rooms.len(), expect, "page at {start}");
        seen.extend(rooms.iter().map(|r| r["start_time"].as_i64().unwrap()));
    }
    // THEN every room appears once, newest start_time first
    assert_eq!(seen.len(), 250);
    assert!(
        seen.windows(2).all(|w| w[0] > w[1]),
        "not strictly descending"
    );
    // odd page sizes line up with the full order
    let small = api.call("GET", "/v1/rooms?start=7&limit=3", "").await;
    let got: Vec<i64> = small.json["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["start_time"].as_i64().unwrap())
        .collect();
    assert_eq!(got, seen[7..10].to_vec());
    // default limit is 10; the status filter pages the same way
    assert_eq!(
        api.call("GET", "/v1/rooms", "").await.json["rooms"]
            .as_array()
            .unwrap()
            .len(),
        10
    );
    let f = api
        .call("GET", "/v1/rooms?live_status=102&start=240&limit=100", "")
        .await;
    assert_eq!(f.json["total"], 250);
    assert_eq!(f.json["rooms"].as_array().unwrap().len(), 10);
}

#[tokio::test]
async fn lives_per_day_quota_is_never_over_admitted_under_concurrency() {
    let api = TestApi::start_with(&[
        ("MAX_LIVES_PER_DAY", "5"),
        ("QUOTA_UTC_OFFSET_MINUTES", "0"),
    ])
    .await;
    // GIVEN 20 concurrent creates for the same day (tomorrow, UTC, 10:00)
    let day_start = (now() / 86_400 + 1) * 86_400;
    let body = |i: i64| {
        json!({"name": format!("q{i}"), "anchor_name": "a", "start_time": day_start + 36_000 + i,
               "end_time": day_start + 36_000 + i + 600})
        .to_string()
    };
    let bodies: Vec<String> = (0..20).map(body).collect();
    let replies = join_all(bodies.iter().map(|b| api.call("POST", "/v1/rooms", b))).await;
    // THEN exactly 5 are admitted and 15 get 429 naming the quota
    let ok = replies.iter().filter(|r| r.status == 201).count();
    let limited: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        ok,
        5,
        "{:?}",
        replies
            .iter()
            .map(|r| (r.status, r.text.clone()))
            .collect::<Vec<_>>()
    );
    assert_eq!(limited.len(), 15);
    assert!(
        limited[0].errmsg().contains("at most 5 lives"),
        "{}",
        limited[0].errmsg()
    );
    assert_eq!(limited[0].json["errcode"], 42900);
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 5);
    // another day still has room
    let other = json!({"name": "d2", "anchor_name": "a", "start_time": day_start + 86_400 + 10, "end_time": day_start + 86_400 + 700}).to_string();
    assert_eq!(api.call("POST", "/v1/rooms", &other).await.status, 201);
    // deleting a not-started room frees its slot
    let first = replies.iter().find(|r| r.status == 201).unwrap();
    let id = first.json["room_id"].as_u64().unwrap();
    assert_eq!(
        api.call("DELETE", &format!("/v1/rooms/{id}"), "")
            .await
            .status,
        204
    );
    assert_eq!(api.call("POST", "/v1/rooms", &body(100)).await.status, 201);
    assert_eq!(api.call("POST", "/v1/rooms", &body(101)).await.status, 429);
    // moving a room's start to a full day is refused, to a free day allowed
    let id2 = api.call("POST", "/v1/rooms", &other).await.json["room_id"]
        .as_u64()
        .unwrap();
    let to_full =
        json!({"start_time": day_start + 40_000, "end_time": day_start + 41_000}).to_string();
    assert_eq!(
        api.call("PATCH", &format!("/v1/rooms/{id2}"), &to_full)
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn concurrent_lives_quota_is_atomic() {
    let api = TestApi::start_with(&[("MAX_CONCURRENT_LIVES", "2")]).await;
    let mut rooms = Vec::new();
    for i in 0..6 {
        let r = api
            .call("POST", "/v1/rooms", &api.room_body(&format!("c{i}"), 60))
            .await;
        let id = r.json["room_id"].as_u64().unwrap();
        rooms.push(
            api.state
                .rooms
                .get_room(&api.app.app_id, id)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // WHEN six rooms try to go live at once with a quota of two
    let store = &api.state.lifecycle;
    let results = join_all(
        rooms
            .iter()
            .map(|r| store.set_live_status(r, LiveStatus::Live, 2, now())),
    )
    .await;
    // THEN exactly two are live, the others are refused by the quota, and counts agree
    let live = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(live, 2, "{results:?}");
    assert!(results
        .iter()
        .filter_map(|r| r.as_ref().err())
        .all(|e| matches!(e, zhibo_store::StoreError::ConcurrentLives { max: 2 })));
    let listed = api.call("GET", "/v1/rooms?live_status=101", "").await;
    assert_eq!(listed.json["total"], 2);
    assert_eq!(listed.json["rooms"].as_array().unwrap().len(), 2);
    assert_eq!(
        api.call("GET", "/v1/rooms?live_status=102", "").await.json["total"],
        4
    );
}

#[tokio::test]
async fn idempotent_create_retried_concurrently_makes_one_room() {
    let api = TestApi::start().await;
    let body = api.room_body("idem", 120);
    // WHEN the same create is sent 5 times at once with one key
    let replies = join_all((0..5).map(|_| {
        api.call_with(
            "POST",
            "/v1/rooms",
            body.as_bytes(),
            &[("idempotency-key", "order-42")],
        )
    }))
    .await;
    // THEN all answer 201 with the same room, and only one exists
    let ids: HashSet<u64> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 201, "{}", r.text);
            r.json["room_id"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 1);
    assert!(
        replies
            .iter()
            .filter(|r| r.headers.contains_key("idempotent-replayed"))
            .count()
            >= 4
    );
    // a later retry also gets it; the same key with another body is refused
    let later = api
        .call_with(
            "POST",
            "/v1/rooms",
            body.as_bytes(),
            &[("idempotency-key", "order-42")],
        )
        .await;
    assert_eq!(later.json["room_id"].as_u64(), ids.iter().next().copied());
    let other = api.room_body("other", 120);
    let clash = api
        .call_with(
            "POST",
            "/v1/rooms",
            other.as_bytes(),
            &[("idempotency-key", "order-42")],
        )
        .await;
    assert_eq!(clash.status, 409);
    assert!(clash.errmsg().contains("Idempotency-Key"));
    // without a key, two creates make two rooms
    api.call("POST", "/v1/rooms", &body).await;
    api.call("POST", "/v1/rooms", &body).await;
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 3);
}

#[tokio::test]
async fn bad_signatures_are_refused_with_401() {
    let api = TestApi::start().await;
    let path = "/v1/rooms?limit=5";
    let ok = api.sign_headers("GET", path, b"", now(), "nonce-ok-1");
    assert_eq!(api.raw("GET", path, vec![], &ok).await.status, 200);

    type Case = (&'static str, Vec<(String, String)>, &'static str);
    let cases: Vec<Case> = vec![
        ("no headers", vec![], "missing header x-zhibo-app"),
        ("replayed nonce", ok.clone(), "already used"),
        (
            "expired",
            api.sign_headers("GET", path, b"", now() - 301, "nonce-old-1"),
            "away from server time",
        ),
        (
            "future",
            api.sign_headers("GET", path, b"", now() + 400, "nonce-fut-1"),
            "away from server time",
        ),
        (
            "signed other query",
            api.sign_headers("GET", "/v1/rooms?limit=6", b"", now(), "nonce-q-01"),
            "does not match",
        ),
        (
            "short nonce",
            api.sign_headers("GET", path, b"", now(), "short"),
            "X-Zhibo-Nonce",
        ),
        (
            "bad timestamp",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-ts-1");
                h[1].1 = "yesterday".into();
                h
            },
            "unix seconds",
        ),
        (
            "unknown app",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-app-1");
                h[0].1 = "nosuchapp".into();
                h
            },
            // L9: the same answer as a wrong signature.
            "signature does not match, or X-Zhibo-App names no app",
        ),
        (
            "app id over DynamoDB's key size",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-app-2");
                h[0].1 = "a".repeat(3000);
                h
            },
            "must be an app id",
        ),
        (
            "i64::MIN timestamp",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-ts-2");
                h[1].1 = i64::MIN.to_string();
                h
            },
            "away from server time",
        ),
        (
            "wrong signature",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-sig-1");
                h[3].1 = "0".repeat(64);
                h
            },
            "signature does not match, or X-Zhibo-App names no app",
        ),
        (
            "missing signature",
            {
                let mut h = api.sign_headers("GET", path, b"", now(), "nonce-sig-2");
                h.pop();
                h
            },
            "missing header x-zhibo-signature",
        ),
    ];
    for (name, hs, needle) in cases {
        let r = api.raw("GET", path, vec![], &hs).await;
        assert_eq!(r.status, 401, "{name}: {}", r.text);
        assert!(r.errmsg().contains(needle), "{name}: {}", r.errmsg());
    }
    // a tampered body fails too
    let body = api.room_body("x", 60);
    let hs = api.sign_headers("POST", "/v1/rooms", body.as_bytes(), now(), "nonce-body-1");
    let tampered = body.replace("\"x\"", "\"y\"");
    let r = api
        .raw("POST", "/v1/rooms", tampered.into_bytes(), &hs)
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 0);
}

#[tokio::test]
async fn bad_input_names_the_field() {
    let api = TestApi::start().await;
    let t = now();
    let cases: Vec<(String, u16, &str)> = vec![
        ("{\"name\":".into(), 400, "not valid JSON"),
        ("".into(), 400, "empty"),
        ("[1,2]".into(), 400, "must be a JSON object"),
        (json!({"name": 5, "anchor_name": "a", "start_time": t + 10, "end_time": t + 20}).to_string(), 400, "name: invalid type"),
        (json!({"name": "n", "anchor_name": "a", "start_time": "soon", "end_time": t + 20}).to_string(), 400, "start_time: invalid type"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10}).to_string(), 400, "missing field `end_time`"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10, "end_time": t + 20, "colour": 1}).to_string(), 400, "unknown field `colour`"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10, "end_time": t + 10}).to_string(), 400, "end_time: must be after start_time"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10, "end_time": t + 10 + 43_201}).to_string(), 400, "end_time: a live lasts at most 12 h"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t - 100, "end_time": t + 20}).to_string(), 400, "start_time: must be at least 0 s after now"),
        (json!({"name": "", "anchor_name": "a", "start_time": t + 10, "end_time": t + 20}).to_string(), 400, "name: must be 1-64"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10, "end_time": t + 20, "goods": [{"cover_img": "", "url": "p", "price": "1", "name": "g"}]}).to_string(), 400, "goods[0].price: invalid type"),
        (json!({"name": "n", "anchor_name": "a", "start_time": t + 10, "end_time": t + 20, "goods": vec![json!({"cover_img": "", "url": "p", "price": 1, "name": "g"}); 101]}).to_string(), 400, "goods: at most 100"),
    ];
    for (body, status, needle) in cases {
        let r = api.call("POST", "/v1/rooms", &body).await;
        assert_eq!(r.status, status, "{body}: {}", r.text);
        assert!(r.errmsg().contains(needle), "{body}: {}", r.errmsg());
        assert!(r.json["errcode"].as_i64().unwrap() >= 40000);
    }
    // over 64 KiB: 413, even unsigned
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(70_000));
    let r = api.call("POST", "/v1/rooms", &big).await;
    assert_eq!(r.status, 413, "{}", r.text);
    assert_eq!(r.json["errcode"], 41300);
    // query and path errors
    for (path, needle) in [
        ("/v1/rooms?limit=101", "limit: "),
        // L1: a repeated key is refused, not read as its first occurrence.
        (
            "/v1/rooms?limit=10&limit=100",
            "limit: appears more than once",
        ),
        ("/v1/rooms?limit=0", "limit: "),
        ("/v1/rooms?start=-1", "start: "),
        ("/v1/rooms?live_status=100", "live_status: "),
        ("/v1/rooms/abc", "room_id: "),
        ("/v1/rooms/0", "room_id: "),
    ] {
        let r = api.call("GET", path, "").await;
        assert_eq!(r.status, 400, "{path}: {}", r.text);
        assert!(r.errmsg().starts_with(needle), "{path}: {}", r.errmsg());
    }
    assert_eq!(api.call("GET", "/v1/rooms/999", "").await.status, 404);
    assert_eq!(
        api.call("PATCH", "/v1/rooms/999", r#"{"name":"x"}"#)
            .await
            .status,
        404
    );
    let r = api.call("GET", "/v1/nothing", "").await;
    assert_eq!((r.status, r.json["errcode"].clone()), (404, json!(40400)));
    let r = api.call("PUT", "/v1/rooms", "").await;
    assert_eq!((r.status, r.json["errcode"].clone()), (405, json!(40500)));
    // nothing above created a room
    assert_eq!(api.call("GET", "/v1/rooms", "").await.json["total"], 0);
}

#[tokio::test]
async fn a_live_room_cannot_be_deleted_or_edited() {
    let api = TestApi::start().await;
    let id = api.create_room("live", 60).await;
    api.set_status(id, LiveStatus::Live).await;
    let d = api.call("DELETE", &format!("/v1/rooms/{id}"), "").await;
    assert_eq!(d.status, 409, "{}", d.text);
    assert!(d.errmsg().contains("live"));
    let p = api
        .call("PATCH", &format!("/v1/rooms/{id}"), r#"{"name":"x"}"#)
        .await;
    assert_eq!(p.status, 409);
    let st = api.call("GET", &format!("/v1/rooms/{id}/status"), "").await;
    assert_eq!(st.json["live_status"], 101);
    // ended rooms can be deleted; their times can no longer change
    api.set_status(id, LiveStatus::Ended).await;
    let p = api
        .call(
            "PATCH",
            &format!("/v1/rooms/{id}"),
            &json!({"start_time": now() + 50}).to_string(),
        )
        .await;
    assert_eq!(p.status, 409);
    assert_eq!(
        api.call("DELETE", &format!("/v1/rooms/{id}"), "")
            .await
            .status,
        204
    );
    let counts = api.call("GET", "/v1/rooms?live_status=103", "").await;
    assert_eq!(counts.json["total"], 0);
}

#[tokio::test]
async fn push_url_is_signed_as_the_worker_checks_it() {
    use zhibo_core::signing::{UrlPurpose, UrlSignature};
    let api = TestApi::start().await;
    let id = api.create_room("push", 60).await;
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{id}/push-url"),
            r#"{"expires_in":600}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let stream_name = format!("{}_{id}", api.app.app_id);
    let server = r.json["server"].as_str().unwrap();
    let key = r.json["stream_key"].as_str().unwrap();
    assert_eq!(server, "rtmp://ingest.example.com:1935/live/");
    assert_eq!(
        r.json["push_url"].as_str().unwrap(),
        format!("{server}{key}")
    );
    let (name, query) = key.split_once('?').unwrap();
    assert_eq!(name, stream_name);
    let param = |p: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(&format!("{p}=")))
            .map(str::to_string)
    };
    let expires_at = r.json["expires_at"].as_i64().unwrap();
    assert!((expires_at - now() - 600).abs() <= 2);
    let t = param("txTime").unwrap();
    assert_eq!(
        t,
        format!("{expires_at:08X}"),
        "txTime is the 8 uppercase hex digits of the expiry"
    );
    let verified = UrlSignature::verify_stream(
        TEST_PUSH_KEY,
        UrlPurpose::Push,
        name,
        param("txSecret").as_deref(),
        Some(&t),
        now(),
    );
    assert_eq!(verified.ok(), Some(expires_at));
    // Signed with the app's derived key, not the master key.
    assert!(UrlSignature::verify(
        TEST_PUSH_KEY,
        name,
        param("txSecret").as_deref(),
        Some(&t),
        now()
    )
    .is_err());
    // By default (and at most) valid until the room's end_time + 1 h.
    let end_time = api.call("GET", &format!("/v1/rooms/{id}"), "").await.json["end_time"]
        .as_i64()
        .expect("end_time");
    for body in ["", r#"{"expires_in":604800}"#] {
        let r = api
            .call("POST", &format!("/v1/rooms/{id}/push-url"), body)
            .await;
        assert_eq!(r.status, 200, "{body}: {}", r.text);
        assert_eq!(
            r.json["expires_at"].as_i64(),
            Some(end_time + 3600),
            "{body}"
        );
    }
    for body in [
        r#"{"expires_in":604801}"#,
        r#"{"expires_in":5}"#,
        r#"{"expires_in":"soon"}"#,
        r#"{"ttl":60}"#,
    ] {
        let r = api
            .call("POST", &format!("/v1/rooms/{id}/push-url"), body)
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(
            r.errmsg().contains("expires_in") || r.errmsg().contains("ttl"),
            "{}",
            r.text
        );
    }
    let r = api.call("POST", "/v1/rooms/999999/push-url", "").await;
    assert_eq!(r.status, 404);

    // A room still live after its end_time + 1 h (a live may run 12 h): no push URL can be
    // valid any more, and the refusal says what to do.
    let late = api.create_room("late", 60).await;
    let old = api.stored_room(late).await;
    let mut moved = old.clone();
    moved.start_time = now() - 3 * 3600;
    moved.end_time = now() - 3600 - 30;
    api.state
        .rooms
        .replace_room(&old, &moved, &api.state.create_limits())
        .await
        .expect("move the room's times back");
    api.set_status(late, LiveStatus::Live).await;
    let r = api
        .call("POST", &format!("/v1/rooms/{late}/push-url"), "")
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(
        r.errmsg().contains("end_time + 1 h") && r.errmsg().contains("create a new room"),
        "{}",
        r.text
    );

    api.set_status(id, zhibo_core::LiveStatus::Banned).await;
    let r = api
        .call("POST", &format!("/v1/rooms/{id}/push-url"), "")
        .await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("banned"));
}

/// docs/api.md "Push URLs": by default valid until the room's end_time + 1 h; `expires_in`
/// shortens it; never later than that nor more than 7 days ahead; none within a minute of it.
#[test]
fn push_url_expiry_defaults_to_end_time_plus_an_hour_within_the_caps() {
    use fn_rooms::push_url_expiry;
    let now = 1_800_000_000;
    let week = 7 * 24 * 3600;
    // A room ending in 2 h: until end_time + 1 h, however long `expires_in` asks for.
    let end = now + 7200;
    assert_eq!(push_url_expiry(end, None, now), Some(end + 3600));
    assert_eq!(push_url_expiry(end, Some(600), now), Some(now + 600));
    assert_eq!(push_url_expiry(end, Some(week), now), Some(end + 3600));
    // Ended 30 min ago: still until end_time + 1 h (a late reconnect is not locked out).
    let end = now - 1800;
    assert_eq!(push_url_expiry(end, None, now), Some(now + 1800));
    // Scheduled 10 days ahead: at most 7 days from now.
    let end = now + 10 * 24 * 3600;
    assert_eq!(push_url_expiry(end, None, now), Some(now + week));
    assert_eq!(push_url_expiry(end, Some(60), now), Some(now + 60));
    assert_eq!(push_url_expiry(i64::MAX, None, now), Some(now + week));
    // end_time + 1 h less than a minute away, or past: none.
    assert_eq!(push_url_expiry(now - 3600 + 59, None, now), None);
    assert_eq!(push_url_expiry(now - 3600 + 60, None, now), Some(now + 60));
    assert_eq!(push_url_expiry(now - 7200, Some(60), now), None);
    assert_eq!(push_url_expiry(i64::MIN, None, now), None);
}
