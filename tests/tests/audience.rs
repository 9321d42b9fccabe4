//! Audience interaction on the real functions over DynamoDB Local: viewer tokens, issued by the
//! customer's backend through the signed API, bound to one room and one user.

use zhibo_core::audience::token::{verify, Role, TokenError};
use zhibo_e2e_tests::TestApi;

const VIEWER_KEY: &str = "viewer-token-key-0123456789";

async fn api() -> TestApi {
    TestApi::start_with(&[
        ("VIEWER_TOKEN_KEY", VIEWER_KEY),
        ("REALTIME_WS_URL", "ws://127.0.0.1:18080/event/realtime"),
        ("REALTIME_HTTP_URL", "http://127.0.0.1:18080/event"),
    ])
    .await
}

#[tokio::test]
async fn a_viewer_token_is_bound_to_its_room_and_user() {
    let api = api().await;
    let room = api.create_room("chat", 60).await;
    let other = api.create_room("other", 60).await;
    let body = r#"{"user_id": "u-42", "nickname": "小明", "avatar": "https://example.com/a.png", "ttl_s": 600}"#;
    let r = api
        .call("POST", &format!("/v1/rooms/{room}/viewer-tokens"), body)
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let token = r.json["token"].as_str().unwrap().to_string();
    let now = zhibo_core::clock::now();
    let exp = r.json["expires_at"].as_i64().unwrap();
    assert!((now + 590..=now + 610).contains(&exp), "{}", r.text);
    let rt = &r.json["realtime"];
    assert_eq!(rt["ws"], "ws://127.0.0.1:18080/event/realtime");
    assert_eq!(rt["http"], "http://127.0.0.1:18080/event");
    assert_eq!(rt["channel"], format!("/zhibo/{}/{room}", api.app.app_id));
    assert_eq!(rt["authorization"]["host"], "127.0.0.1:18080");
    assert_eq!(rt["authorization"]["Authorization"], token.as_str());

    // Verified without the database: this room and user, not the other room.
    let claims = verify(VIEWER_KEY, &token, now, Some((&api.app.app_id, room))).unwrap();
    assert_eq!(claims.user_id, "u-42");
    assert_eq!(claims.nickname, "小明");
    assert_eq!(claims.role, Role::Viewer);
    assert_eq!(
        verify(VIEWER_KEY, &token, now, Some((&api.app.app_id, other))),
        Err(TokenError::OtherRoom)
    );
    assert!(matches!(
        verify(VIEWER_KEY, &token, exp + 1, None),
        Err(TokenError::Expired { .. })
    ));
    assert!(!r.text.contains(VIEWER_KEY));
}

#[tokio::test]
async fn viewer_tokens_are_refused_with_the_reason() {
    let api = api().await;
    let room = api.create_room("chat", 60).await;
    let path = format!("/v1/rooms/{room}/viewer-tokens");
    for (body, field) in [
        (r#"{"user_id": ""}"#, "user_id"),
        (r#"{"user_id": "u", "ttl_s": 86401}"#, "ttl_s"),
        (r#"{"user_id": "u", "ttl_s": 10}"#, "ttl_s"),
        (
            r#"{"user_id": "u", "avatar": "http://example.com/a.png"}"#,
            "avatar",
        ),
        (r#"{"user_id": "u", "role": "admin"}"#, "role"),
        (r#"{"user_id": "u", "extra": 1}"#, "extra"),
    ] {
        let r = api.call("POST", &path, body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text);
        assert!(r.errmsg().contains(field), "{body}: {}", r.text);
    }
    // Unsigned: 401.
    let r = api
        .raw("POST", &path, br#"{"user_id": "u"}"#.to_vec(), &[])
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    // No such room (or another tenant's): 404.
    let r = api
        .call(
            "POST",
            "/v1/rooms/999999/viewer-tokens",
            r#"{"user_id": "u"}"#,
        )
        .await;
    assert_eq!(r.status, 404, "{}", r.text);
    // Banned: 409 with the reason.
    let r = api
        .call(
            "POST",
            &format!("/v1/rooms/{room}/actions"),
            r#"{"action": "ban"}"#,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.call("POST", &path, r#"{"user_id": "u"}"#).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.errmsg().contains("banned"), "{}", r.text);

    // A deployment without VIEWER_TOKEN_KEY says what to set.
    let bare = TestApi::start().await;
    let room = bare.create_room("no chat", 60).await;
    let r = bare
        .call(
            "POST",
            &format!("/v1/rooms/{room}/viewer-tokens"),
            r#"{"user_id": "u"}"#,
        )
        .await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert!(r.errmsg().contains("VIEWER_TOKEN_KEY"), "{}", r.text);
}

mod messages {

    use serde_json::{json, Value};
    use zhibo_core::hooks::HookEventKind::Publish;
    use zhibo_e2e_tests::audience::{start_with_realtime, RealtimeClient};
    use zhibo_e2e_tests::TestApi;

    type Socket = RealtimeClient;

    /// The AppSync Events stand-in on a free port, and an API that publishes to it.
    async fn stack() -> (TestApi, String) {
        stack_with(&[]).await
    }

    /// [`stack`] with more configuration (and the API's base, for the tests' own requests).
    async fn stack_with(extra: &[(&str, &str)]) -> (TestApi, String) {
        let api = start_with_realtime(extra).await;
        let base = api.base.clone();
        (api, base)
    }

    async fn grant(api: &TestApi, room: u64, user: &str) -> Value {
        api.viewer_grant(room, user).await
    }

    /// Connects and subscribes exactly as the docs say, with the grant's `realtime` block.
    async fn subscribe(grant: &Value) -> Socket {
        RealtimeClient::subscribe(grant).await
    }

    /// The next frame other than keep-alives.
    async fn next(ws: &mut Socket) -> Value {
        ws.frame().await
    }

    async fn post(
        api: &TestApi,
        room: u64,
        token: &str,
        body: &str,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let r = api
            .http
            .post(format!("{}/v1/rooms/{room}/messages", api.base))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let json = r.json().await.unwrap_or(Value::Null);
        (status, json, headers)
    }

    async fn go_live(api: &TestApi, room: u64) {
        let s = format!("0199a0b1c2d3-{room:04}");
        let r = api.hook(&api.hook_event(Publish, room, &s, 0)).await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    #[tokio::test]
    async fn three_subscribers_get_every_message_in_seq_order_and_the_history_keeps_them() {
        let (api, _host) = stack().await;
        let room = api.create_room("chat", 60).await;
        go_live(&api, room).await;
        let mut clients = Vec::new();
        for i in 0..3 {
            clients.push(subscribe(&grant(&api, room, &format!("watcher-{i}")).await).await);
        }
        // Three posters, five messages each (within each one's burst), in turn.
        let posters: Vec<String> = {
            let mut v = Vec::new();
            for i in 0..3 {
                v.push(
                    grant(&api, room, &format!("poster-{i}")).await["token"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                );
            }
            v
        };
        for n in 0..15 {
            let token = &posters[n % 3];
            let (status, body, headers) = post(
                &api,
                room,
                token,
                &json!({"text": format!("hello {n}")}).to_string(),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "published");
            assert_eq!(body["seq"], n as u64 + 1);
            assert_eq!(headers["access-control-allow-origin"], "*");
        }
        for (i, ws) in clients.iter_mut().enumerate() {
            for want in 1..=15u64 {
                let f = next(ws).await;
                assert_eq!(f["type"], "data", "{f}");
                let item: Value = serde_json::from_str(f["event"].as_str().unwrap()).unwrap();
                assert_eq!(item["seq"], want, "client {i}");
                assert_eq!(item["type"], "message");
                assert_eq!(item["data"]["text"], format!("hello {}", want - 1));
                assert_eq!(
                    item["user"]["user_id"],
                    format!("poster-{}", (want - 1) % 3)
                );
                assert!(item["offset_ms"].as_i64().unwrap() >= 0);
            }
        }
        // The history: the same items, paged by after_seq.
        let r = api
            .call(
                "GET",
                &format!("/v1/rooms/{room}/messages?after_seq=10&limit=3"),
                "",
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let seqs: Vec<u64> = r.json["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [11, 12, 13]);
        assert_eq!(r.json["next_after_seq"], 13);
    }

    #[tokio::test]
    async fn viewers_are_refused_with_the_reason() {
        // One message back every 10 minutes: the burst then the 429 do not depend on timing.
        let (api, _host) = stack_with(&[("USER_MESSAGE_INTERVAL_MS", "600000")]).await;
        let room = api.create_room("chat", 60).await;
        let other = api.create_room("other", 60).await;
        let token = grant(&api, room, "u1").await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let hello = r#"{"text": "hello"}"#;

        // Not live yet: 409.
        let (status, body, _) = post(&api, room, &token, hello).await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["errmsg"].as_str().unwrap().contains("not live"),
            "{body}"
        );
        go_live(&api, room).await;
        go_live(&api, other).await;

        // A token for room A on room B: 403; tampered or missing: 401.
        let (status, body, headers) = post(&api, other, &token, hello).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["errmsg"].as_str().unwrap().contains("not room"),
            "{body}"
        );
        assert_eq!(headers["access-control-allow-origin"], "*");
        let tampered = token.replacen("zv1.", "zv1.x", 1);
        let (status, _, _) = post(&api, room, &tampered, hello).await;
        assert_eq!(status, 401);
        let r = api
            .http
            .post(format!("{}/v1/rooms/{room}/messages", api.base))
            .body(hello)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        // Bad text: 400 naming the field.
        for bad in [
            r#"{"text": ""}"#,
            r#"{"text": 5}"#,
            r#"{"text": "x", "extra": 1}"#,
        ] {
            let (status, body, _) = post(&api, room, &token, bad).await;
            assert_eq!(status, 400, "{bad}: {body}");
        }
        let long = json!({"text": "字".repeat(201)}).to_string();
        let (status, body, _) = post(&api, room, &token, &long).await;
        assert_eq!(status, 400, "{body}");

        // The per-user limit (a fresh user): a burst of 5, then 429 with Retry-After.
        let token = grant(&api, room, "burst").await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let burst_started = std::time::Instant::now();
        for _ in 0..5 {
            let (status, body, _) = post(&api, room, &token, hello).await;
            assert_eq!(status, 200, "{body}");
        }
        let (status, body, headers) = post(&api, room, &token, hello).await;
        assert_eq!(status, 429, "{body}");
        let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        // The first token comes back 600 s after the burst's first post took it (however slow
        // the posts were on a busy machine).
        let earliest = 600 - burst_started.elapsed().as_secs().min(600) - 1;
        assert!((earliest..=600).contains(&retry), "Retry-After {retry}");
        assert!(
            body["errmsg"].as_str().unwrap().contains("too fast"),
            "{body}"
        );
        // Another user is not slowed by it.
        let token2 = grant(&api, room, "u2").await["token"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(post(&api, room, &token2, hello).await.0, 200);

        // close_comment (set before the live, as rooms are not edited during one): 403.
        let closed = api.create_room("closed", 60).await;
        let r = api
            .call(
                "PATCH",
                &format!("/v1/rooms/{closed}"),
                r#"{"close_comment": true}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        go_live(&api, closed).await;
        let t = grant(&api, closed, "u3").await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let (status, body, _) = post(&api, closed, &t, hello).await;
        assert_eq!(status, 403, "{body}");
        assert!(
            body["errmsg"].as_str().unwrap().contains("close_comment"),
            "{body}"
        );

        // The CORS preflight.
        let r = api
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/v1/rooms/{room}/messages", api.base),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
        assert!(r.headers()["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization"));
    }

    /// Concurrent posts (as concurrent Lambdas would make them) get distinct `seq`s with no gap.
    #[tokio::test]
    async fn concurrent_posts_get_a_gap_free_seq() {
        let (api, _host) = stack().await;
        let room = api.create_room("busy", 60).await;
        go_live(&api, room).await;
        let mut tokens = Vec::new();
        for i in 0..24 {
            tokens.push(
                grant(&api, room, &format!("c{i}")).await["token"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let posts = tokens
            .iter()
            .map(|t| post(&api, room, t, r#"{"text": "same time"}"#));
        let mut seqs: Vec<u64> = futures::future::join_all(posts)
            .await
            .into_iter()
            .map(|(status, body, _)| {
                assert_eq!(status, 200, "{body}");
                body["seq"].as_u64().unwrap()
            })
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=24).collect::<Vec<u64>>());
        let r = api
            .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
            .await;
        assert_eq!(r.json["items"].as_array().unwrap().len(), 24, "{}", r.text);
    }

    /// Blocked words (with their usual disguises) are rejected and never delivered; a muted
    /// user is refused until unmuted; a deleted message is emptied in the history and
    /// announced on the channel.
    #[tokio::test]
    async fn moderation_rejects_blocked_words_mutes_and_deletes() {
        let (api, _host) = stack().await;
        let room = api.create_room("moderated", 60).await;
        go_live(&api, room).await;
        let r = api
            .call(
                "PUT",
                "/v1/moderation",
                r#"{"blocked_words": ["加微信", "spam"]}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let r = api.call("GET", "/v1/moderation", "").await;
        assert_eq!(r.json["blocked_words"], json!(["加微信", "spam"]));
        for (bad, why) in [
            (r#"{"blocked_words": ["ok", " ... "]}"#, "blocked_words[1]"),
            (
                r#"{"blocked_words": [], "review_url": "ftp://example.com/review"}"#,
                "review_url",
            ),
            (r#"{"words": []}"#, "words"),
        ] {
            let r = api.call("PUT", "/v1/moderation", bad).await;
            assert_eq!(r.status, 400, "{bad}: {}", r.text);
            assert!(r.errmsg().contains(why), "{bad}: {}", r.text);
        }

        let mut watcher = subscribe(&grant(&api, room, "watcher").await).await;
        let mut posters = Vec::new();
        for i in 0..3 {
            posters.push(
                grant(&api, room, &format!("p{i}")).await["token"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        for (i, text) in ["快来 加 ★ 微 · 信", "ＳＰＡＭ", "s.p a-m!"]
            .iter()
            .enumerate()
        {
            let (status, body, _) =
                post(&api, room, &posters[i], &json!({"text": text}).to_string()).await;
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["status"], "rejected", "{text}: {body}");
            assert!(
                body["reason"].as_str().unwrap().contains("blocks"),
                "{body}"
            );
            assert!(body["seq"].is_null());
        }
        let (status, body, _) =
            post(&api, room, &posters[0], r#"{"text": "微信支付很方便"}"#).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("published")),
            "{body}"
        );
        assert_eq!(body["seq"], 1, "rejected texts took no seq");
        let id = body["id"].as_str().unwrap().to_string();
        let first = next(&mut watcher).await;
        let item: Value = serde_json::from_str(first["event"].as_str().unwrap()).unwrap();
        assert_eq!(item["seq"], 1, "only the clean text was delivered");

        // Mute p1: refused with the reason; unmute: accepted again.
        let moderate = |body: Value| {
            let api = &api;
            async move {
                api.call(
                    "POST",
                    &format!("/v1/rooms/{room}/moderation"),
                    &body.to_string(),
                )
                .await
            }
        };
        let r = moderate(json!({"action": "mute", "user_id": "p1"})).await;
        assert_eq!(
            (r.status, r.json["changed"].as_bool()),
            (200, Some(true)),
            "{}",
            r.text
        );
        let (status, body, _) = post(&api, room, &posters[1], r#"{"text": "hi"}"#).await;
        assert_eq!(status, 403, "{body}");
        assert!(body["errmsg"].as_str().unwrap().contains("muted"), "{body}");
        let r = moderate(json!({"action": "unmute", "user_id": "p1"})).await;
        assert_eq!(r.json["changed"], true);
        let (status, _, _) = post(&api, room, &posters[1], r#"{"text": "hi again"}"#).await;
        assert_eq!(status, 200);
        let _ = next(&mut watcher).await; // seq 2

        // Delete message 1: emptied in the history, announced as message.deleted (seq 3).
        let r = moderate(json!({"action": "delete_message", "message_id": id})).await;
        assert_eq!(
            (r.status, r.json["changed"].as_bool()),
            (200, Some(true)),
            "{}",
            r.text
        );
        let f = next(&mut watcher).await;
        let notice: Value = serde_json::from_str(f["event"].as_str().unwrap()).unwrap();
        assert_eq!(notice["type"], "message.deleted", "{notice}");
        assert_eq!(notice["seq"], 3);
        assert_eq!(notice["data"]["message_id"], id.as_str());
        let r = moderate(json!({"action": "delete_message", "message_id": id})).await;
        assert_eq!(r.json["changed"], false, "deleting twice changes nothing");
        let r = api
            .call("GET", &format!("/v1/rooms/{room}/messages"), "")
            .await;
        let items = r.json["items"].as_array().unwrap();
        assert_eq!(items[0]["deleted"], true, "{}", r.text);
        assert_eq!(items[0]["data"], json!({}));
        assert!(
            !r.text.contains("微信支付"),
            "the deleted text is gone: {}",
            r.text
        );
        for (bad, why) in [
            (
                json!({"action": "delete_message", "message_id": "m99_abc"}),
                "not in room",
            ),
            (
                json!({"action": "delete_message", "message_id": "nope"}),
                "message_id",
            ),
            (json!({"action": "ban_user", "user_id": "p1"}), "action"),
            (json!({"action": "mute"}), "user_id"),
        ] {
            let r = moderate(bad.clone()).await;
            assert!(r.status == 400 || r.status == 404, "{bad}: {}", r.text);
            assert!(r.errmsg().contains(why), "{bad}: {}", r.text);
        }
    }

    /// 20 viewers x 50 concurrent like batches: the exact total, at most one `likes` item per
    /// second on the channel, one counter write per batch.
    #[tokio::test]
    async fn likes_add_up_exactly_with_at_most_one_item_per_second() {
        let (api, _host) = stack().await;
        let room = api.create_room("likes", 60).await;
        go_live(&api, room).await;
        let mut watcher = subscribe(&grant(&api, room, "watcher").await).await;
        let mut tokens = Vec::new();
        for i in 0..20 {
            tokens.push(
                grant(&api, room, &format!("fan{i}")).await["token"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            );
        }
        let mut want = 0u64;
        let mut batches = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            for j in 0..50u64 {
                let count = (i as u64 * 7 + j * 13) % 100 + 1;
                want += count;
                let (http, base) = (api.http.clone(), api.base.clone());
                batches.push(async move {
                    let r = http
                        .post(format!("{base}/v1/rooms/{room}/likes"))
                        .header("authorization", format!("Bearer {t}"))
                        .body(json!({"count": count}).to_string())
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
                });
            }
        }
        futures::future::join_all(batches).await;
        let r = api
            .call("GET", &format!("/v1/rooms/{room}/stats"), "")
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["likes"], want, "{}", r.text);

        // The likes items: at most one per second, none above the final total (clients show the
        // largest total seen: the items of two seconds may be sequenced out of order under load).
        let r = api
            .call("GET", &format!("/v1/rooms/{room}/messages?limit=100"), "")
            .await;
        let items = r.json["items"].as_array().unwrap();
        assert!(!items.is_empty());
        let mut seconds = std::collections::HashSet::new();
        for item in items {
            assert_eq!(item["type"], "likes");
            assert!(
                seconds.insert(item["at_ms"].as_i64().unwrap() / 1000),
                "two likes items in one second: {}",
                r.text
            );
            let total = item["data"]["total"].as_u64().unwrap();
            assert!(total > 0 && total <= want, "{}", r.text);
        }
        let f = next(&mut watcher).await;
        let first: Value = serde_json::from_str(f["event"].as_str().unwrap()).unwrap();
        assert_eq!(first["type"], "likes");

        // Refusals: count out of range; close_like.
        let (status, body, _) = {
            let r = api
                .http
                .post(format!("{}/v1/rooms/{room}/likes", api.base))
                .header("authorization", format!("Bearer {}", tokens[0]))
                .body(r#"{"count": 101}"#)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.text().await.unwrap(), ())
        };
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("count"), "{body}");
        let closed = api.create_room("no likes", 60).await;
        let r = api
            .call(
                "PATCH",
                &format!("/v1/rooms/{closed}"),
                r#"{"close_like": true}"#,
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        go_live(&api, closed).await;
        let t = grant(&api, closed, "fan").await["token"]
            .as_str()
            .unwrap()
            .to_string();
        let r = api
            .http
            .post(format!("{}/v1/rooms/{closed}/likes", api.base))
            .header("authorization", format!("Bearer {t}"))
            .body(r#"{"count": 1}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(r.text().await.unwrap().contains("close_like"));
    }
}
