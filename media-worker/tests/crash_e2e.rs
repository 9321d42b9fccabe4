//! `kill -9` of the worker holding a live (docs/api.md "Many workers, one room"): the room
//! service sees its heartbeats stop (106), the abnormal window ends the live (103), and the
//! sweeper closes the replay from what the bucket holds. Every segment that reached the bucket
//! is in it, and `replay.ready` is delivered once. Shortened windows: silence 3 s, abnormal 5 s.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::room_api::*;
use common::*;

#[tokio::test]
async fn a_killed_workers_replay_is_completed_from_the_journal() {
    let api = webhook_api(&[("WORKER_SILENCE_S", "3"), ("ABNORMAL_TIMEOUT_S", "5")]).await;
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let _indexer = api.spawn_replay_indexer();
    let _sweeper = api.spawn_sweeper(Duration::from_millis(500));
    let rx = api.register_webhook().await;
    let mut worker = hooked_worker(
        &api,
        &[
            ("ZHIBO_HEARTBEAT_S", "1"),
            ("ZHIBO_RECONNECT_WINDOW_S", "5"),
        ],
    )
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("crash e2e", 5).await;
    let url = push_url(&worker, &app, room);

    let ffmpeg = publish(&url, 60);
    let live = format!("live/{app}/{room}/index.m3u8");
    wait_for(Duration::from_secs(40), "five segments live", || async {
        get_text(&live)
            .await
            .is_some_and(|t| t.matches(".ts\n").count() >= 5)
    })
    .await;
    assert_eq!(api_status(&api, room).await, 101);
    let pid = worker.pid().expect("the worker runs");
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(
        !worker.wait_exit(Duration::from_secs(10)).await,
        "killed, not exited"
    );
    let _ = finish(ffmpeg, Duration::from_secs(20)).await;
    let uploaded = segments_in_bucket(&api, &app, room).await;
    assert!(uploaded.len() >= 5, "{uploaded:?}");
    let text = get_text(&live).await.expect("the live playlist");
    assert!(
        !text.contains("#EXT-X-ENDLIST"),
        "a dead worker wrote no end: {text}"
    );

    // 106 when the heartbeats stop, 103 when the window ends, then the replay from the journal.
    let list = wait_for_one_replay(&api, room, Duration::from_secs(60)).await;
    assert_eq!(api_status(&api, room).await, 103);
    let replay_id = list["replays"][0]["replay_id"]
        .as_str()
        .unwrap()
        .to_string();
    let replay = get_text(&format!("replays/{app}/{room}/{replay_id}.m3u8"))
        .await
        .expect("the replay playlist");
    let in_replay: BTreeSet<String> = replay
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .map(|l| l.trim_start_matches("../../../").to_string())
        .collect();
    assert_eq!(
        in_replay, uploaded,
        "every segment that reached the bucket, and only those"
    );
    assert!(replay.ends_with("#EXT-X-ENDLIST\n"));
    assert!(get_text(&live).await.unwrap().contains("#EXT-X-ENDLIST"));

    wait_for(Duration::from_secs(30), "replay.ready", || async {
        rx.types(room).contains(&"replay.ready".to_string())
    })
    .await;
    // A few more sweeps: still exactly one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let types = rx.types(room);
    assert_eq!(
        types.iter().filter(|t| *t == "replay.ready").count(),
        1,
        "{types:?}"
    );
    assert!(types.contains(&"room.abnormal".to_string()), "{types:?}");
    assert!(types.contains(&"room.ended".to_string()), "{types:?}");
}

/// `end` while the publisher is away (106): the replay closes at once, from the bucket, not when
/// the worker's reconnect window (60 s here) passes.
#[tokio::test]
async fn ending_a_waiting_live_closes_its_replay_at_once() {
    let api = webhook_api(&[]).await;
    let _delivery = api.spawn_delivery(Duration::from_millis(200));
    let _indexer = api.spawn_replay_indexer();
    let rx = api.register_webhook().await;
    let worker = hooked_worker(&api, &[("ZHIBO_RECONNECT_WINDOW_S", "60")]).await;
    let app = api.app.app_id.clone();
    let room = api.create_room("end e2e", 5).await;
    let (ok, err) = finish(
        publish(&push_url(&worker, &app, room), 8),
        Duration::from_secs(40),
    )
    .await;
    assert!(ok, "publish failed: {err}");
    wait_for(
        Duration::from_secs(20),
        "106 after the publisher left",
        || async { api_status(&api, room).await == 106 },
    )
    .await;
    end_room(&api, room).await;
    let list = wait_for_one_replay(&api, room, Duration::from_secs(30)).await;
    assert!(
        !worker.log_text().contains("replay closed"),
        "closed by the end action, not by the worker's 60-s window"
    );
    let uploaded = segments_in_bucket(&api, &app, room).await;
    assert_eq!(
        list["replays"][0]["segments"].as_u64().unwrap() as usize,
        uploaded.len()
    );
    wait_for(Duration::from_secs(30), "replay.ready", || async {
        rx.types(room).contains(&"replay.ready".to_string())
    })
    .await;
}

/// `end` while the encoder publishes: the next heartbeat's answer drops the publisher and says
/// the live is over, so the worker closes the replay at once instead of waiting for its
/// reconnect window (60 s here).
#[tokio::test]
async fn ending_a_publishing_live_closes_its_replay_when_the_publisher_is_dropped() {
    let api = webhook_api(&[]).await;
    let _indexer = api.spawn_replay_indexer();
    let worker = hooked_worker(
        &api,
        &[
            ("ZHIBO_HEARTBEAT_S", "1"),
            ("ZHIBO_RECONNECT_WINDOW_S", "60"),
        ],
    )
    .await;
    let app = api.app.app_id.clone();
    let room = api.create_room("end while live", 5).await;
    let ffmpeg = publish(&push_url(&worker, &app, room), 60);
    let live = format!("live/{app}/{room}/index.m3u8");
    wait_for(Duration::from_secs(40), "three segments live", || async {
        get_text(&live)
            .await
            .is_some_and(|t| t.matches(".ts\n").count() >= 3)
    })
    .await;
    end_room(&api, room).await;
    let _ = finish(ffmpeg, Duration::from_secs(30)).await;
    let list = wait_for_one_replay(&api, room, Duration::from_secs(30)).await;
    assert!(
        worker.log_text().contains("replay closed"),
        "the worker closed it when the hook said the live is over: {}",
        worker.log_text()
    );
    let uploaded = segments_in_bucket(&api, &app, room).await;
    assert_eq!(
        list["replays"][0]["segments"].as_u64().unwrap() as usize,
        uploaded.len()
    );
    assert!(get_text(&live).await.unwrap().contains("#EXT-X-ENDLIST"));
}
