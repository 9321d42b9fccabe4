//! The production shape on one machine: three workers behind HAProxy (TCP, round robin, health
//! checks on `/healthz`), as ECS tasks are behind the NLB in AWS. Successive publishes through
//! the load balancer land on different workers, and each room's live playlist reaches the bucket.

mod common;

use std::time::Duration;

use common::*;
use zhibo_core::object_keys;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn successive_publishes_through_the_load_balancer_spread_over_the_workers() {
    let cluster = match Cluster::start(3, &[]).await {
        Ok(c) => c,
        Err(why) => {
            eprintln!("SKIPPED cluster_e2e: {why}");
            return;
        }
    };
    let mut holders = Vec::new();
    for round in 0..3 {
        let room = unique_room();
        let stream = zhibo_core::room::stream_name(APP, room);
        let before = cluster.metric("zhibo_publishes_total").await;
        let ffmpeg = publish(&cluster.push_url(APP, room), 4);
        let (ok, stderr) = finish(ffmpeg, Duration::from_secs(60)).await;
        assert!(
            ok,
            "round {round}: ffmpeg through HAProxy failed: {stderr}\n{}",
            cluster.logs()
        );
        // Which worker took it, by its counters and by its log: exactly one, the same.
        let after = cluster.metric("zhibo_publishes_total").await;
        let counted: Vec<usize> = (0..after.len()).filter(|&i| after[i] > before[i]).collect();
        let logged = cluster.publishers_of(&stream);
        assert_eq!(
            counted.len(),
            1,
            "round {round}: one worker must count the publish (before {before:?}, after {after:?})\n{}",
            cluster.logs()
        );
        assert_eq!(
            logged, counted,
            "round {round}: the worker logging the publish of {stream} is the one counting it"
        );
        holders.push(counted[0]);
        let key = object_keys::live_playlist(APP, room);
        wait_for(
            Duration::from_secs(30),
            &format!("{key} in the bucket"),
            || {
                let key = key.clone();
                async move { get_text(&key).await.is_some_and(|t| t.contains("#EXTINF")) }
            },
        )
        .await;
    }
    let mut distinct = holders.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        3,
        "round robin: three successive publishes go to three workers, got workers {holders:?}\n{}",
        cluster.logs()
    );
}
