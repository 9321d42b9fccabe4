//! The live-status lifecycle through the real HTTP path on DynamoDB Local: worker hooks
//! (`/internal/hooks`), operator actions, the sweeper's timers, and convergence of duplicated
//! and shuffled hook deliveries.

use rand::seq::SliceRandom;
use rand::Rng;
use std::time::Duration;
use zhibo_core::hooks::HookEventKind::{Heartbeat, Publish, Unpublish};
use zhibo_core::hooks::UnpublishReason::{Dropped, Stopped};
use zhibo_core::ids::time_ordered_id;
use zhibo_core::signing::BodySignature;
use zhibo_core::LiveStatus;
use zhibo_e2e_tests::{TestApi, TEST_HOOK_SECRET};

async fn status(api: &TestApi, room: u64) -> u16 {
    let r = api
        .call("GET", &format!("/v1/rooms/{room}/status"), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json["live_status"].as_u64().expect("live_status") as u16
}

async fn action(api: &TestApi, room: u64, action: &str) -> zhibo_e2e_tests::Reply {
    api.call(
        "POST",
        &format!("/v1/rooms/{room}/actions"),
        &format!(r#"{{"action":"{action}"}}"#),
    )
    .await
}

/// Waits (generously) until the room's status is `want`.
async fn eventually_status(api: &TestApi, room: u64, want: u16) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let got = status(api, room).await;
        if got == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "room {room} stayed {got}, expected {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn session(ms_offset: i64) -> String {
    time_ordered_id(zhibo_core::clock::now_ms() + ms_offset)
}

#[tokio::test]
async fn publish_heartbeat_unpublish_drive_101_and_106() {
    let api = TestApi::start().await;
    let room = api.create_room("live", 5).await;
    let s = session(0);
    let r = api.hook(&api.hook_event(Publish, room, &s, 0)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["allow"], true);
    assert_eq!(status(&api, room).await, 101);
    // A retried publish of the same session gets the same answer and changes nothing.
    let r = api.hook(&api.hook_event(Publish, room, &s, 0)).await;
    assert_eq!(r.json["allow"], true);
    let r = api.hook(&api.hook_event(Heartbeat, room, &s, 1)).await;
    assert_eq!((r.status, &r.json["allow"]), (200, &true.into()));
    let stored = api.stored_room(room).await;
    assert_eq!(stored.lifecycle.session_seq, 1);
    assert!(stored.lifecycle.session_open);
    let r = api.hook(&api.hook_event(Unpublish, room, &s, 2)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&api, room).await, 106);
    // A late heartbeat of the ended session is stale: refused, status unchanged.
    let r = api.hook(&api.hook_event(Heartbeat, room, &s, 1)).await;
    assert_eq!(r.json["allow"], false);
    assert_eq!(status(&api, room).await, 106);
    // Republishing within the window goes live again.
    let s2 = session(1);
    let r = api.hook(&api.hook_event(Publish, room, &s2, 0)).await;
    assert_eq!(r.json["allow"], true, "{}", r.text);
    assert_eq!(status(&api, room).await, 101);
    // The old session's unpublish, arriving late, does not end the new one.
    let r = api.hook(&api.hook_event(Unpublish, room, &s, 3)).await;
    assert_eq!(r.status, 200);
    assert_eq!(status(&api, room).await, 101);
    // A heartbeat of the superseded session is told to stop.
    let r = api.hook(&api.hook_event(Heartbeat, room, &s, 4)).await;
    assert_eq!(r.status, 403);
    assert!(r.json["reason"]
        .as_str()
        .unwrap_or("")
        .contains("superseded"));
    let counts = &api.state.rooms;
    assert_eq!(
        counts
            .room_count(&api.app.app_id, Some(LiveStatus::Live))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn hooks_refuse_bad_signatures_and_bodies() {
    let api = TestApi::start().await;
    let room = api.create_room("sig", 5).await;
    let event = api.hook_event(Publish, room, &session(0), 0);
    let body = serde_json::to_vec(&event).unwrap();
    let post = |sig: Option<String>, body: Vec<u8>| {
        let mut hs = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(sig) = sig {
            hs.push(("Zhibo-Signature".to_string(), sig));
        }
        let api = &api;
        async move { api.raw("POST", "/internal/hooks", body, &hs).await }
    };
    let now = zhibo_core::clock::now();
    let cases = [
        (None, "missing"),
        (
            Some(BodySignature::header(
                b"wrong-secret-0123456789",
                now,
                &body,
            )),
            "does not match",
        ),
        (
            Some(BodySignature::header(
                TEST_HOOK_SECRET.as_bytes(),
                now - 61,
                &body,
            )),
            "60 s",
        ),
        (Some("t=abc,v1=00".to_string()), "Zhibo-Signature"),
    ];
    for (sig, needle) in cases {
        let r = post(sig, body.clone()).await;
        assert_eq!(r.status, 401, "{}", r.text);
        assert!(r.errmsg().contains(needle), "{needle}: {}", r.errmsg());
    }
    // A tampered body under a valid signature of the original.
    let sig = BodySignature::header(TEST_HOOK_SECRET.as_bytes(), now, &body);
    let mut tampered = body.clone();
    let at = tampered.len() / 2;
    tampered[at] ^= 0x01;
    assert_eq!(post(Some(sig), tampered).await.status, 401);
    assert_eq!(status(&api, room).await, 102);

    // Well signed but wrong: names the field.
    let mut wrong = event.clone();
    wrong.stream_name = "someone_else_1".into();
    let r = api.hook(&wrong).await;
    assert_eq!(r.status, 400);
    assert!(r.errmsg().starts_with("stream_name"), "{}", r.errmsg());
    let raw = br#"{"event":"publish"}"#.to_vec();
    let sig = BodySignature::header(TEST_HOOK_SECRET.as_bytes(), now, &raw);
    let r = post(Some(sig), raw).await;
    assert_eq!(r.status, 400);
    assert!(r.errmsg().contains("missing field"), "{}", r.errmsg());
    // `reason` is "stopped" or "dropped", and only on an unpublish.
    let mut unpublish =
        serde_json::to_value(api.hook_event(Unpublish, room, &session(0), 1)).unwrap();
    for bad in ["finished", "Stopped", ""] {
        unpublish["reason"] = bad.into();
        let raw = serde_json::to_vec(&unpublish).unwrap();
        let sig = BodySignature::header(TEST_HOOK_SECRET.as_bytes(), now, &raw);
        let r = post(Some(sig), raw).await;
        assert_eq!(r.status, 400, "{bad:?}: {}", r.text);
        assert!(
            r.errmsg().starts_with("reason") && r.errmsg().contains("stopped"),
            "{bad:?}: {}",
            r.errmsg()
        );
    }
    for kind in [Publish, Heartbeat] {
        let mut e = api.hook_event(kind, room, &session(0), 0);
        e.reason = Some(Stopped);
        let r = api.hook(&e).await;
        assert_eq!(r.status, 400, "{kind:?}: {}", r.text);
        assert!(
            r.errmsg().starts_with("reason") && r.errmsg().contains("unpublish"),
            "{kind:?}: {}",
            r.errmsg()
        );
    }
    assert_eq!(status(&api, room).await, 102);
    // Unknown room: publish refused, unpublish acknowledged (nothing to retry).
    let r = api
        .hook(&api.hook_event(Publish, room + 100, &session(0), 0))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.json["reason"]
        .as_str()
        .unwrap()
        .contains("does not exist"));
    let r = api
        .hook(&api.hook_event(Unpublish, room + 100, &session(0), 1))
        .await;
    assert_eq!(r.status, 200);
}

/// L4: a hook signed more than 60 s ago (or at `i64::MIN`) is refused, and a captured hook
/// replayed verbatim within the window changes nothing: after the session's unpublish, its
/// publish and heartbeat are refused and the stored room (its version) does not move.
#[tokio::test]
async fn replayed_hooks_have_no_effect() {
    let api = TestApi::start().await;
    let room = api.create_room("replay", 5).await;
    let s = session(0);
    let signed = |event: &zhibo_core::hooks::HookEvent, t: i64| {
        let body = serde_json::to_vec(event).unwrap();
        let sig = BodySignature::header(TEST_HOOK_SECRET.as_bytes(), t, &body);
        (body, sig)
    };
    let send = |(body, sig): (Vec<u8>, String)| {
        let api = &api;
        async move {
            api.raw(
                "POST",
                "/internal/hooks",
                body,
                &[
                    ("content-type".into(), "application/json".into()),
                    ("Zhibo-Signature".into(), sig),
                ],
            )
            .await
        }
    };
    let now = zhibo_core::clock::now();
    let publish = signed(&api.hook_event(Publish, room, &s, 0), now);
    for t in [now - 61, now + 61, i64::MIN] {
        let r = send(signed(&api.hook_event(Publish, room, &s, 0), t)).await;
        assert_eq!(r.status, 401, "t={t}: {}", r.text);
        assert!(r.errmsg().contains("60 s"), "{}", r.errmsg());
    }
    assert_eq!(status(&api, room).await, 102);
    let heartbeat = signed(&api.hook_event(Heartbeat, room, &s, 1), now);
    let unpublish = signed(&api.hook_event(Unpublish, room, &s, 2), now);
    assert_eq!(send(publish.clone()).await.status, 200);
    assert_eq!(send(heartbeat.clone()).await.status, 200);
    assert_eq!(send(unpublish.clone()).await.status, 200);
    assert_eq!(status(&api, room).await, 106);
    let before = api.stored_room(room).await;
    for (name, captured) in [
        ("publish", publish),
        ("heartbeat", heartbeat),
        ("unpublish", unpublish),
    ] {
        let r = send(captured).await;
        assert!(
            r.status == 403 || (name == "unpublish" && r.status == 200),
            "replayed {name}: {} {}",
            r.status,
            r.text
        );
    }
    let after = api.stored_room(room).await;
    assert_eq!(
        (after.live_status, after.version),
        (before.live_status, before.version),
        "replays changed the room"
    );
}

#[tokio::test]
async fn actions_pause_resume_ban_end() {
    let api = TestApi::start().await;
    let room = api.create_room("actions", 5).await;
    // Not started: pause and resume make no sense.
    for a in ["pause", "resume"] {
        let r = action(&api, room, a).await;
        assert_eq!(r.status, 409, "{a}: {}", r.text);
        assert!(r.errmsg().contains("102"), "{}", r.errmsg());
    }
    let r = action(&api, room, "jump").await;
    assert_eq!(r.status, 400);
    assert!(r.errmsg().starts_with("action"), "{}", r.errmsg());
    assert_eq!(action(&api, room + 99, "end").await.status, 404);

    let s = session(0);
    assert_eq!(
        api.hook(&api.hook_event(Publish, room, &s, 0)).await.status,
        200
    );
    let r = action(&api, room, "pause").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["live_status"], 105);
    assert_eq!(r.json["previous_status"], 101);
    assert_eq!(r.json["changed"], true);
    assert_eq!(action(&api, room, "pause").await.json["changed"], false);
    // The next heartbeat drops the publisher; a republish is refused until resume.
    let r = api.hook(&api.hook_event(Heartbeat, room, &s, 1)).await;
    assert_eq!(r.status, 403);
    assert!(r.json["reason"].as_str().unwrap().contains("paused"));
    api.hook(&api.hook_event(Unpublish, room, &s, 2)).await;
    let r = api
        .hook(&api.hook_event(Publish, room, &session(1), 0))
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(status(&api, room).await, 105);
    // Resume: the publisher is gone, so the room waits for it in 106.
    let r = action(&api, room, "resume").await;
    assert_eq!(r.json["live_status"], 106, "{}", r.text);
    let s2 = session(2);
    assert_eq!(
        api.hook(&api.hook_event(Publish, room, &s2, 0))
            .await
            .status,
        200
    );
    assert_eq!(status(&api, room).await, 101);
    // Pause and resume before the worker's heartbeat: the publisher never left, back to 101.
    action(&api, room, "pause").await;
    let r = action(&api, room, "resume").await;
    assert_eq!(r.json["live_status"], 101, "{}", r.text);
    // Ban: dropped at the next heartbeat, never again.
    let r = action(&api, room, "ban").await;
    assert_eq!(r.json["live_status"], 104);
    let r = api.hook(&api.hook_event(Heartbeat, room, &s2, 1)).await;
    assert_eq!(r.status, 403);
    assert!(r.json["reason"].as_str().unwrap().contains("banned"));
    let r = api
        .hook(&api.hook_event(Publish, room, &session(3), 0))
        .await;
    assert_eq!(r.status, 403);
    for a in ["pause", "resume", "end"] {
        assert_eq!(action(&api, room, a).await.status, 409, "{a}");
    }
    assert_eq!(action(&api, room, "ban").await.json["changed"], false);

    // End a live room; it can never publish again.
    let room2 = api.create_room("end", 5).await;
    api.hook(&api.hook_event(Publish, room2, &session(4), 0))
        .await;
    let r = action(&api, room2, "end").await;
    assert_eq!(r.json["live_status"], 103);
    let r = api
        .hook(&api.hook_event(Publish, room2, &session(5), 0))
        .await;
    assert_eq!(r.status, 403);
    assert!(r.json["reason"].as_str().unwrap().contains("ended"));
    // The live counts follow.
    assert_eq!(
        api.state
            .rooms
            .room_count(&api.app.app_id, Some(LiveStatus::Live))
            .await
            .unwrap(),
        0
    );
}

#[tokio::test]
async fn concurrent_live_quota_refuses_the_publish() {
    let api = TestApi::start_with(&[("MAX_CONCURRENT_LIVES", "1")]).await;
    let a = api.create_room("a", 5).await;
    let b = api.create_room("b", 5).await;
    assert_eq!(
        api.hook(&api.hook_event(Publish, a, &session(0), 0))
            .await
            .status,
        200
    );
    let r = api.hook(&api.hook_event(Publish, b, &session(1), 0)).await;
    assert_eq!(r.status, 403);
    assert!(
        r.json["reason"].as_str().unwrap().contains("quota"),
        "{}",
        r.text
    );
    assert_eq!(status(&api, b).await, 102);
    // Once a is no longer live, b may go.
    action(&api, a, "end").await;
    assert_eq!(
        api.hook(&api.hook_event(Publish, b, &session(2), 0))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn sweeper_fires_the_timers() {
    let api = TestApi::start_with(&[("ABNORMAL_TIMEOUT_S", "2"), ("WORKER_SILENCE_S", "2")]).await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(200));
    // 106 for the abnormal timeout → 103.
    let abnormal = api.create_room("abnormal", 5).await;
    let s = session(0);
    api.hook(&api.hook_event(Publish, abnormal, &s, 0)).await;
    api.hook(&api.hook_event(Unpublish, abnormal, &s, 1)).await;
    assert_eq!(status(&api, abnormal).await, 106);
    eventually_status(&api, abnormal, 103).await;
    // A live room whose worker goes silent → 106; its heartbeat brings it back.
    let silent = api.create_room("silent", 5).await;
    let s = session(1);
    api.hook(&api.hook_event(Publish, silent, &s, 0)).await;
    eventually_status(&api, silent, 106).await;
    let r = api.hook(&api.hook_event(Heartbeat, silent, &s, 1)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(status(&api, silent).await, 101);
    // Still 102 when end_time passes → 107.
    let now = zhibo_core::clock::now();
    let body = serde_json::json!({
        "name": "expires", "cover_img": "", "anchor_name": "a", "anchor_img": "",
        "start_time": now + 1, "end_time": now + 3,
    });
    let r = api.call("POST", "/v1/rooms", &body.to_string()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let expiring = r.json["room_id"].as_u64().unwrap();
    eventually_status(&api, expiring, 107).await;
    let r = api
        .hook(&api.hook_event(Publish, expiring, &session(2), 0))
        .await;
    assert_eq!(r.status, 403);
    // Ended, banned and expired rooms leave the sweeper's work list.
    let due = api
        .state
        .lifecycle
        .rooms_due(
            zhibo_core::table::keys::due_shard(&api.app.app_id, expiring),
            zhibo_core::clock::now_ms() + 86_400_000,
            100,
        )
        .await
        .unwrap();
    assert!(!due.iter().any(|(_, r)| *r == expiring || *r == abnormal));
}

#[tokio::test]
async fn the_12_hour_limit_ends_a_live() {
    let api = TestApi::start_with(&[("MAX_LIVE_S", "2")]).await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(200));
    let room = api.create_room("long", 5).await;
    let s = session(0);
    api.hook(&api.hook_event(Publish, room, &s, 0)).await;
    // Heartbeats keep coming; the live still ends at the limit and the next one drops it.
    let mut seq = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.hook(&api.hook_event(Heartbeat, room, &s, seq)).await;
        seq += 1;
        if r.status == 403 {
            assert!(
                r.json["reason"].as_str().unwrap().contains("ended"),
                "{}",
                r.text
            );
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never ended");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(status(&api, room).await, 103);
}

/// The hook history of a few publish sessions of one room: each publishes (seq 0), beats
/// (1..k) and maybe unpublishes; a later session starts before or after the previous ended.
fn history(rng: &mut impl Rng, api: &TestApi, room: u64) -> Vec<zhibo_core::hooks::HookEvent> {
    let mut events = Vec::new();
    let base = zhibo_core::clock::now_ms();
    let sessions = rng.gen_range(1..=3);
    for i in 0..sessions {
        let s = time_ordered_id(base + i as i64 * 10);
        events.push(api.hook_event(Publish, room, &s, 0));
        let beats = rng.gen_range(0..3);
        for b in 1..=beats {
            events.push(api.hook_event(Heartbeat, room, &s, b));
        }
        if i + 1 < sessions || rng.gen_bool(0.5) {
            events.push(api.hook_event(Unpublish, room, &s, beats + 1));
        }
    }
    events
}

#[tokio::test]
async fn duplicated_and_shuffled_hooks_converge() {
    let api = TestApi::start().await;
    let mut rng = rand::thread_rng();
    for case in 0..12 {
        let a = api.create_room(&format!("ordered{case}"), 5).await;
        let b = api.create_room(&format!("shuffled{case}"), 5).await;
        let events = history(&mut rng, &api, a);
        for e in &events {
            api.hook(e).await;
        }
        // The same events for room b, duplicated, shuffled, some sent concurrently.
        let mut shuffled: Vec<_> = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.room_id = b;
                e.stream_name = zhibo_core::room::stream_name(&api.app.app_id, b);
                e
            })
            .collect();
        let dups: Vec<_> = shuffled
            .iter()
            .filter(|_| rng.gen_bool(0.4))
            .cloned()
            .collect();
        shuffled.extend(dups);
        shuffled.shuffle(&mut rng);
        for chunk in shuffled.chunks(3) {
            futures::future::join_all(chunk.iter().map(|e| api.hook(e))).await;
        }
        let (ra, rb) = (api.stored_room(a).await, api.stored_room(b).await);
        let view = |r: &zhibo_core::room::Room| {
            (
                r.live_status,
                r.lifecycle.session_id.clone(),
                r.lifecycle.session_seq,
                r.lifecycle.session_open,
            )
        };
        assert_eq!(view(&ra), view(&rb), "case {case}: {events:?}");
    }
}

/// A webhook receiver that verifies every delivery and records the events.
struct Receiver {
    events: std::sync::Arc<std::sync::Mutex<Vec<zhibo_core::webhook::WebhookEvent>>>,
}

async fn start_receiver(secret: String) -> (Receiver, String) {
    use axum::{body::Bytes, extract::State, http::HeaderMap, routing::post, Router};
    type Events = std::sync::Arc<std::sync::Mutex<Vec<zhibo_core::webhook::WebhookEvent>>>;
    let events: Events = Default::default();
    let secret = std::sync::Arc::new(secret);
    let app = Router::new()
        .route(
            "/hook",
            post(
                |State((events, secret)): State<(Events, std::sync::Arc<String>)>,
                 headers: HeaderMap,
                 body: Bytes| async move {
                    let sig = headers.get("zhibo-signature").and_then(|v| v.to_str().ok());
                    match zhibo_core::webhook::verify(&secret, sig, &body, zhibo_core::clock::now())
                    {
                        Ok(e) => {
                            events.lock().unwrap().push(e);
                            axum::http::StatusCode::OK
                        }
                        Err(_) => axum::http::StatusCode::UNAUTHORIZED,
                    }
                },
            ),
        )
        .with_state((events.clone(), secret));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (Receiver { events }, url)
}

impl Receiver {
    /// `(seq, type, previous_status, live_status, reason)` of a room's events, waiting until
    /// there are `n` of them.
    async fn room_events(&self, room: u64, n: usize) -> Vec<(u64, String, u64, u64, String)> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let got: Vec<_> = self
                .events
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.room_id == room)
                .map(|e| {
                    (
                        e.seq,
                        e.kind.as_str().to_string(),
                        e.data["previous_status"].as_u64().unwrap_or(0),
                        e.data["live_status"].as_u64().unwrap_or(0),
                        e.data["reason"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect();
            if got.len() >= n || tokio::time::Instant::now() > deadline {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn ev(seq: u64, t: &str, from: u64, to: u64, reason: &str) -> (u64, String, u64, u64, String) {
    (seq, t.to_string(), from, to, reason.to_string())
}

#[tokio::test]
async fn every_transition_emits_exactly_its_events() {
    let api = TestApi::start_with(&[
        ("ABNORMAL_TIMEOUT_S", "2"),
        ("WEBHOOK_ALLOW_HTTP", "1"),
        ("WEBHOOK_RETRY_BASE_MS", "100"),
    ])
    .await;
    let _sweeper = api.spawn_sweeper(Duration::from_millis(200));
    let _delivery = api.spawn_delivery(Duration::from_millis(100));
    let r = api
        .call(
            "PUT",
            "/v1/webhook",
            r#"{"url":"http://127.0.0.1:1/placeholder"}"#,
        )
        .await;
    let secret = r.json["secret"].as_str().unwrap().to_string();
    let (rx, url) = start_receiver(secret).await;
    let r = api
        .call("PUT", "/v1/webhook", &format!(r#"{{"url":"{url}"}}"#))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // One room through start, drop, republish, pause, resume, end.
    let a = api.create_room("a", 5).await;
    let (s1, s2) = (session(0), session(1));
    api.hook(&api.hook_event(Publish, a, &s1, 0)).await;
    api.hook(&api.hook_event(Heartbeat, a, &s1, 1)).await; // no event
    api.hook(&api.hook_event(Publish, a, &s1, 0)).await; // retried: no event
    let stop = |mut e: zhibo_core::hooks::HookEvent, reason| {
        e.reason = Some(reason);
        e
    };
    // The encoder stopped cleanly: room.abnormal says "stopped".
    api.hook(&stop(api.hook_event(Unpublish, a, &s1, 2), Stopped))
        .await;
    // duplicate (even one saying otherwise): no event, the first reason stands
    api.hook(&stop(api.hook_event(Unpublish, a, &s1, 2), Dropped))
        .await;
    api.hook(&api.hook_event(Publish, a, &s2, 0)).await;
    action(&api, a, "pause").await;
    action(&api, a, "pause").await; // in effect already: no event
    api.hook(&api.hook_event(Unpublish, a, &s2, 1)).await; // recorded, no status change
    action(&api, a, "resume").await;
    action(&api, a, "end").await;
    assert_eq!(
        rx.room_events(a, 6).await,
        [
            ev(1, "room.started", 102, 101, "publish"),
            ev(2, "room.abnormal", 101, 106, "stopped"),
            ev(3, "room.started", 106, 101, "publish"),
            ev(4, "room.paused", 101, 105, "pause"),
            ev(5, "room.resumed", 105, 106, "resume"),
            ev(6, "room.ended", 106, 103, "end"),
        ]
    );
    // Banned while live.
    let b = api.create_room("b", 5).await;
    api.hook(&api.hook_event(Publish, b, &session(2), 0)).await;
    action(&api, b, "ban").await;
    // Abnormal for the whole window → ended by the sweeper.
    let c = api.create_room("c", 5).await;
    let s3 = session(3);
    api.hook(&api.hook_event(Publish, c, &s3, 0)).await;
    // The connection dropped.
    api.hook(&stop(api.hook_event(Unpublish, c, &s3, 1), Dropped))
        .await;
    // An unpublish without reason (from a worker older than the field) counts as dropped.
    let old = api.create_room("e", 5).await;
    let s4 = session(4);
    api.hook(&api.hook_event(Publish, old, &s4, 0)).await;
    api.hook(&api.hook_event(Unpublish, old, &s4, 1)).await;
    // Never started before end_time → expired.
    let now = zhibo_core::clock::now();
    let body = serde_json::json!({
        "name": "d", "cover_img": "", "anchor_name": "a", "anchor_img": "",
        "start_time": now + 1, "end_time": now + 3,
    });
    let d = api.call("POST", "/v1/rooms", &body.to_string()).await.json["room_id"]
        .as_u64()
        .unwrap();
    assert_eq!(
        rx.room_events(b, 2).await,
        [
            ev(1, "room.started", 102, 101, "publish"),
            ev(2, "room.banned", 101, 104, "ban"),
        ]
    );
    assert_eq!(
        rx.room_events(c, 3).await,
        [
            ev(1, "room.started", 102, 101, "publish"),
            ev(2, "room.abnormal", 101, 106, "dropped"),
            ev(3, "room.ended", 106, 103, "abnormal_timeout"),
        ]
    );
    // (Then ended by the abnormal timeout, as c.)
    let got = rx.room_events(old, 2).await;
    assert_eq!(
        got.get(..2),
        Some(
            &[
                ev(1, "room.started", 102, 101, "publish"),
                ev(2, "room.abnormal", 101, 106, "dropped"),
            ][..]
        ),
        "{got:?}"
    );
    assert_eq!(
        rx.room_events(d, 1).await,
        [ev(1, "room.expired", 102, 107, "end_time_passed")]
    );
    // Nothing more arrives for a (no duplicates, no stray events).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(rx.room_events(a, 0).await.len(), 6);
    // Every event id is unique.
    let ids: std::collections::HashSet<_> = rx
        .events
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(ids.len(), rx.events.lock().unwrap().len());
}

/// The edge relay's lookup: a live room's worker `origin` (from its hooks), 403 with the reason
/// for a paused room, 404 otherwise; only for signed callers; a malformed `origin` is refused.
#[tokio::test]
async fn locate_names_the_worker_holding_a_live() {
    let api = TestApi::start().await;
    let room = api.create_room("locate", 5).await;
    let name = zhibo_core::room::stream_name(&api.app.app_id, room);
    let r = api.locate(&name).await;
    assert_eq!(r.status, 404, "{}", r.text);
    assert_eq!(r.json["live"], false);
    assert!(
        r.json["reason"].as_str().unwrap().contains("not live"),
        "{}",
        r.text
    );
    let r = api.locate(&format!("{}_999999", api.app.app_id)).await;
    assert_eq!(r.status, 404);
    assert!(r.json["reason"]
        .as_str()
        .unwrap()
        .contains("does not exist"));

    // Live from a worker that does not relay: nothing to pull from.
    let s = session(0);
    let r = api.hook(&api.hook_event(Publish, room, &s, 0)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = api.locate(&name).await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["reason"]
            .as_str()
            .unwrap()
            .contains("ZHIBO_RELAY_URL"),
        "{}",
        r.text
    );

    // A heartbeat with an origin: the room now names it.
    let mut beat = api.hook_event(Heartbeat, room, &s, 1);
    beat.worker_id = "worker-a".into();
    beat.origin = Some("http://10.0.1.7:9090".into());
    assert_eq!(api.hook(&beat).await.status, 200);
    let r = api.locate(&name).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["live"], true);
    assert_eq!(r.json["origin"], "http://10.0.1.7:9090");
    assert_eq!(r.json["worker_id"], "worker-a");

    // Malformed origins are refused with what is wrong.
    for bad in [
        "http://10.0.1.7:9090/live",
        "http://user:pw@10.0.1.7:9090",
        "file:///etc/passwd",
        "http://10.0.1.7:9090?x=1",
    ] {
        let mut beat = api.hook_event(Heartbeat, room, &s, 2);
        beat.origin = Some(bad.into());
        let r = api.hook(&beat).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text);
        assert!(r.errmsg().contains("origin"), "{bad}: {}", r.text);
    }

    // Paused: refused with the reason, no origin given out.
    assert_eq!(action(&api, room, "pause").await.status, 200);
    let r = api.locate(&name).await;
    assert_eq!(r.status, 403);
    assert!(
        r.json["reason"].as_str().unwrap().contains("paused"),
        "{}",
        r.text
    );
    assert!(
        r.json.get("origin").is_none_or(|o| o.is_null()),
        "{}",
        r.text
    );

    // Unsigned or badly signed: 401; a body that is not a locate request: 400.
    let body =
        serde_json::to_vec(&serde_json::json!({"stream_name": name, "worker_id": "x"})).unwrap();
    let r = api
        .raw("POST", "/internal/hooks/locate", body.clone(), &[])
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let sig = BodySignature::header(b"wrong-secret-0123456789", zhibo_core::clock::now(), &body);
    let r = api
        .raw(
            "POST",
            "/internal/hooks/locate",
            body,
            &[("Zhibo-Signature".to_string(), sig)],
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let body = br#"{"stream_name": "x", "extra": 1}"#.to_vec();
    let sig = BodySignature::header(TEST_HOOK_SECRET.as_bytes(), zhibo_core::clock::now(), &body);
    let r = api
        .raw(
            "POST",
            "/internal/hooks/locate",
            body,
            &[("Zhibo-Signature".to_string(), sig)],
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text);
}
