//! A room's item history on DynamoDB Local: `seq` stays gap-free when hundreds of writers
//! append at once, and when a writer dies between reserving its `seq` and storing its item.

use zhibo_core::table::keys;
use zhibo_e2e_tests::audience::message_item as message;
use zhibo_e2e_tests::TestApi;

/// A writer reserves room `room`'s next `seq` and dies before storing its item.
async fn abandon_next_seq(api: &TestApi, room: u64) {
    use aws_sdk_dynamodb::types::AttributeValue;
    api.state
        .table
        .client()
        .update_item()
        .table_name(api.state.table.name())
        .key(
            "pk",
            AttributeValue::S(keys::chat_pk(&api.app.app_id, room)),
        )
        .key("sk", AttributeValue::S(keys::CHAT_HEAD_SK.into()))
        .update_expression("ADD seq :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn two_hundred_concurrent_appends_get_seqs_1_to_200() {
    let api = TestApi::start().await;
    let chat = &api.state.chat;
    let app = api.app.app_id.clone();
    let now = zhibo_core::clock::now_ms();
    let appends = (0..200).map(|i| {
        let app = app.clone();
        async move {
            chat.append(&app, 7, i64::MAX / 2, |seq| {
                message(seq, now, &i.to_string())
            })
            .await
            .expect("append")
            .seq
        }
    });
    let mut seqs = futures::future::join_all(appends).await;
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=200).collect::<Vec<u64>>());
    let mut read = Vec::new();
    while read.len() < 200 {
        let page = chat.history(&app, 7, read.len() as u64, 100).await.unwrap();
        assert!(!page.is_empty(), "history stopped at {}", read.len());
        read.extend(page.into_iter().map(|i| i.seq));
    }
    assert_eq!(read, (1..=200).collect::<Vec<u64>>());
}

#[tokio::test]
async fn a_writer_that_died_leaves_a_hole_the_history_fills_once_it_is_old() {
    let api = TestApi::start().await;
    let chat = &api.state.chat;
    let app = api.app.app_id.clone();
    let now = zhibo_core::clock::now_ms();
    chat.append(&app, 9, i64::MAX / 2, |seq| {
        message(seq, now - 600_000, "first")
    })
    .await
    .unwrap();
    // A writer reserves seq 2 and dies before storing its item.
    abandon_next_seq(&api, 9).await;
    // The next item is young: the hole may still be filled by its writer, so the history
    // stops before it.
    let third = chat
        .append(&app, 9, i64::MAX / 2, |seq| message(seq, now, "third"))
        .await
        .unwrap();
    assert_eq!(third.seq, 3);
    let page = chat.history(&app, 9, 0, 100).await.unwrap();
    assert_eq!(page.iter().map(|i| i.seq).collect::<Vec<_>>(), [1]);

    // Once an item after the hole is older than HOLE_AGE_MS, the hole is filled with a
    // deleted placeholder and the history has no gap.
    let fourth = chat
        .append(&app, 10, i64::MAX / 2, |seq| message(seq, now, "x"))
        .await
        .unwrap();
    assert_eq!(fourth.seq, 1, "another room's seq is its own");
    abandon_next_seq(&api, 9).await;
    let old = now - zhibo_store::HOLE_AGE_MS - 1000;
    let fifth = chat
        .append(&app, 9, i64::MAX / 2, |seq| message(seq, old, "fifth, old"))
        .await
        .unwrap();
    assert_eq!(fifth.seq, 5);
    // seq 2 (before the young third) stays a hole while 3 is young...
    let page = chat.history(&app, 9, 0, 100).await.unwrap();
    assert_eq!(page.iter().map(|i| i.seq).collect::<Vec<_>>(), [1]);
    // ...and seq 4 (before the old fifth) is filled.
    let page = chat.history(&app, 9, 3, 100).await.unwrap();
    let got: Vec<(u64, bool)> = page.iter().map(|i| (i.seq, i.deleted)).collect();
    assert_eq!(got, [(4, true), (5, false)]);
    assert_eq!(page[0].data, serde_json::json!({}));
    // Filled once: read again, the same placeholder.
    let again = chat.history(&app, 9, 3, 100).await.unwrap();
    assert_eq!(again[0].id, page[0].id);
}
