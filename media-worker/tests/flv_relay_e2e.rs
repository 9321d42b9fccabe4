//! The HTTP-FLV edge relay across real workers: ffmpeg publishes to worker A; viewers ask
//! worker B, which learns from the room service (the hooks function over DynamoDB Local)
//! that A holds the live, pulls it once and fans it out. A ban ends the pull and B's viewers,
//! and B then refuses new viewers with 403 and the reason. Then the production shape: two
//! workers behind HAProxy for both RTMP and HTTP-FLV, viewers spread round robin.

mod common;

use std::time::Duration;

use common::room_api::*;
use common::*;
use zhibo_core::signing::{UrlPurpose, UrlSignature};

const PLAY_KEY: &str = "e2e-relay-play-key-0123456789";

fn flv_url(worker: &WorkerProc, app: &str, room: u64) -> String {
    flv_url_on(worker.http_port, app, room)
}

fn flv_url_on(port: u16, app: &str, room: u64) -> String {
    let name = zhibo_core::room::stream_name(app, room);
    let sig = UrlSignature::sign_room(
        PLAY_KEY,
        UrlPurpose::Play,
        app,
        room,
        zhibo_core::clock::now() + 3600,
    );
    format!("http://127.0.0.1:{port}/live/{name}.flv?{}", sig.query())
}

/// Reads from `response` until a video tag that is not a sequence header arrives; returns
/// whether that first frame is a keyframe.
async fn first_frame_is_keyframe(response: &mut reqwest::Response) -> bool {
    let mut buf = Vec::new();
    let mut pos = 13;
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(30), response.chunk())
            .await
            .expect("FLV data within 30 s")
            .expect("reading the relayed FLV")
            .expect("the relayed FLV ended early");
        buf.extend_from_slice(&chunk);
        assert_eq!(&buf[..3.min(buf.len())], &b"FLV"[..3.min(buf.len())]);
        while buf.len() >= pos + 11 {
            let size = u32::from_be_bytes([0, buf[pos + 1], buf[pos + 2], buf[pos + 3]]) as usize;
            if buf.len() < pos + 11 + size + 4 {
                break;
            }
            let body = &buf[pos + 11..pos + 11 + size];
            if buf[pos] == 9 && body.get(1) != Some(&0) {
                return body.first().is_some_and(|b| b >> 4 == 1);
            }
            pos += 11 + size + 4;
        }
    }
}

/// Reads `response` to its end (within 30 s); false if it did not end.
async fn ends(mut response: reqwest::Response) -> bool {
    let read_all = async { while let Ok(Some(_)) = response.chunk().await {} };
    tokio::time::timeout(Duration::from_secs(30), read_all)
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_on_another_worker_share_one_relay_pull_and_a_ban_ends_them() {
    let api = webhook_api(&[]).await;
    let relay_env = [("PLAY_KEY", PLAY_KEY), ("ZHIBO_HEARTBEAT_S", "1")];
    let a = hooked_worker(&api, &relay_env).await;
    let b = hooked_worker(&api, &relay_env).await;
    let c = hooked_worker(&api, &relay_env).await;
    let app = api.app.app_id.clone();
    let room = api.create_room("relay", 5).await;
    let idle_room = api.create_room("not live", 5).await;
    let _ffmpeg = publish(&push_url(&a, &app, room), 60);
    wait_for(Duration::from_secs(30), "room 101", || async {
        api_status(&api, room).await == 101
    })
    .await;

    // Not live anywhere: 404 with the reason, from B.
    let r = reqwest::get(flv_url(&b, &app, idle_room)).await.unwrap();
    assert_eq!(r.status(), 404);
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap_or_default()
            .contains("not live"),
        "{body}"
    );

    // Ten viewers on B: each starts at a keyframe.
    let url_b = flv_url(&b, &app, room);
    let mut viewers = Vec::new();
    for _ in 0..10 {
        let mut r = reqwest::get(&url_b).await.expect("GET B");
        assert_eq!(r.status(), 200);
        assert!(
            first_frame_is_keyframe(&mut r).await,
            "a relayed viewer starts at a keyframe"
        );
        viewers.push(r);
    }
    // ffprobe through B (an eleventh viewer) reads both tracks.
    let probe = ffprobe(&url_b, &["-show_streams"]);
    let codecs: Vec<&str> = probe["streams"]
        .as_array()
        .map(|s| s.iter().filter_map(|s| s["codec_name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        codecs.contains(&"h264") && codecs.contains(&"aac"),
        "ffprobe through the relay: {probe}"
    );
    // One pull: B opened one, and A has one HTTP-FLV viewer (B's pull) for all of B's.
    assert_eq!(b.metric("zhibo_flv_relay_pulls_total").await, 1.0);
    assert_eq!(b.metric("zhibo_flv_relay_active").await, 1.0);
    assert_eq!(a.metric("zhibo_flv_viewers").await, 1.0);
    assert_eq!(a.metric("zhibo_flv_viewers_total").await, 1.0);
    assert!(b.metric("zhibo_flv_viewers").await >= 10.0);

    // A pull request (the relay header) is served from a local publisher only: C has none,
    // so it answers 404 instead of relaying again.
    let r = reqwest::Client::new()
        .get(flv_url(&c, &app, room))
        .header("x-zhibo-relay", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "no relay of a relay");
    assert_eq!(c.metric("zhibo_flv_relay_pulls_total").await, 0.0);

    // Ban: A drops the publisher at its next heartbeat, the pull ends, B's viewers end.
    room_action(&api, room, "ban").await;
    for v in viewers {
        assert!(
            ends(v).await,
            "a relayed viewer's response ends with the live"
        );
    }
    wait_for(Duration::from_secs(20), "B's pull to end", || async {
        b.metric("zhibo_flv_relay_active").await == 0.0
    })
    .await;
    let r = reqwest::get(&url_b).await.unwrap();
    assert_eq!(r.status(), 403, "banned: refused on B too");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["errmsg"]
            .as_str()
            .unwrap_or_default()
            .contains("banned"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_the_load_balancer_every_viewer_plays_whichever_worker_it_reaches() {
    let api = webhook_api(&[]).await;
    let hook_url = format!("{}/internal/hooks", api.base);
    let env = [
        ("ZHIBO_HOOK_URL", hook_url.as_str()),
        ("HOOK_SECRET", zhibo_test_support::TEST_HOOK_SECRET),
        ("PLAY_KEY", PLAY_KEY),
        ("ZHIBO_HEARTBEAT_S", "1"),
    ];
    let cluster = match Cluster::start(2, &env).await {
        Ok(c) => c,
        Err(why) => {
            eprintln!("skipped: {why}");
            return;
        }
    };
    let app = api.app.app_id.clone();
    let room = api.create_room("behind the LB", 5).await;
    let name = zhibo_core::room::stream_name(&app, room);
    let push = push_url(&cluster.workers[0], &app, room);
    let query = push.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let _ffmpeg = publish(&cluster.url(&format!("{name}?{query}")), 60);
    wait_for(Duration::from_secs(30), "room 101", || async {
        api_status(&api, room).await == 101
    })
    .await;
    let mut owner = None;
    for (i, w) in cluster.workers.iter().enumerate() {
        if w.metric("zhibo_streams").await == 1.0 {
            owner = Some(i);
        }
    }
    let owner = owner.expect("one worker holds the publisher");
    let edge = &cluster.workers[1 - owner];

    // Ten viewers through the load balancer: round robin sends half to the edge worker.
    let url = flv_url_on(cluster.lb.play_port, &app, room);
    let mut viewers = Vec::new();
    for _ in 0..10 {
        let mut r = reqwest::get(&url).await.expect("GET through HAProxy");
        assert_eq!(r.status(), 200, "{}", cluster.lb.log_text());
        assert!(first_frame_is_keyframe(&mut r).await);
        viewers.push(r);
    }
    let on_owner = cluster.workers[owner].metric("zhibo_flv_viewers").await;
    let on_edge = edge.metric("zhibo_flv_viewers").await;
    // The owner's viewers include the edge's one pull.
    assert_eq!(on_owner + on_edge, 11.0, "owner {on_owner}, edge {on_edge}");
    assert!(on_edge >= 1.0, "round robin reached the edge worker");
    assert_eq!(edge.metric("zhibo_flv_relay_pulls_total").await, 1.0);
    assert_eq!(
        cluster.workers[owner]
            .metric("zhibo_flv_relay_pulls_total")
            .await,
        0.0
    );
    end_room(&api, room).await;
    for v in viewers {
        assert!(ends(v).await, "every viewer's response ends with the live");
    }
}
