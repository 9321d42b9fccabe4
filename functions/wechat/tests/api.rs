//! The WeChat-compatible endpoints end to end: real HTTP, DynamoDB Local, answers checked
//! against the shapes WeChat documents.

use serde_json::{json, Value};
use std::collections::HashSet;
use zhibo_test_support::TestApi;

/// The WeChat example of docs/api.md "WeChat-compatible endpoints" / the live-player-plugin doc,
/// with its exact field names.
const WECHAT_EXAMPLE: &str = r#"{
  "errcode": 0, "errmsg": "ok",
  "room_info": [{
    "name": "直播房间名", "roomid": 1,
    "cover_img": "http://mmbiz.qpic.cn/mmbiz_jpg/x/0?wx_fmt=jpeg",
    "live_status": 101, "start_time": 1568128900, "end_time": 1568131200,
    "anchor_name": "李四", "anchor_img": "http://mmbiz.qpic.cn/mmbiz_jpg/y/0?wx_fmt=jpeg",
    "goods": [{"cover_img": "http://mmbiz.qpic.cn/mmbiz_png/z/0?wx_fmt=png",
               "url": "pages/index/index.html", "price": 1100, "name": "fdgfgf"}]
  }],
  "total": 1
}"#;

/// Asserts `got` has exactly the keys and JSON types of `want`, recursively.
fn same_shape(want: &Value, got: &Value, at: &str) {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => {
            let wk: HashSet<_> = w.keys().collect();
            let gk: HashSet<_> = g.keys().collect();
            assert_eq!(wk, gk, "keys at {at}");
            for k in w.keys() {
                same_shape(&w[k], &g[k], &format!("{at}.{k}"));
            }
        }
        (Value::Array(w), Value::Array(g)) => {
            assert!(!g.is_empty(), "empty array at {at}");
            for (i, item) in g.iter().enumerate() {
                same_shape(&w[0], item, &format!("{at}[{i}]"));
            }
        }
        (Value::Number(_), Value::Number(_)) | (Value::String(_), Value::String(_)) => {}
        _ => panic!("type at {at}: want {want}, got {got}"),
    }
}

#[tokio::test]
async fn wechat_token_and_room_list_match_wechat_shapes() {
    let api = TestApi::start().await;
    let token_url = |secret: &str| {
        format!(
            "/cgi-bin/token?grant_type=client_credential&appid={}&secret={secret}",
            api.app.app_id
        )
    };
    // wrong secret, missing fields, wrong grant
    let r = api.raw("GET", &token_url("nope"), vec![], &[]).await;
    assert_eq!((r.status, r.json["errcode"].clone()), (401, json!(40125)));
    // L9: an unknown app gets the same answer as a wrong secret; an app id of the wrong
    // format (over DynamoDB's key size too) is refused with the reason, not a 500.
    let unknown = api
        .raw(
            "GET",
            "/cgi-bin/token?grant_type=client_credential&appid=nosuchapp1&secret=nope",
            vec![],
            &[],
        )
        .await;
    assert_eq!((unknown.status, &unknown.json), (r.status, &r.json));
    let long = format!(
        "/cgi-bin/token?grant_type=client_credential&appid={}&secret=nope",
        "a".repeat(3000)
    );
    let r = api.raw("GET", &long, vec![], &[]).await;
    assert_eq!(
        (r.status, r.json["errcode"].clone()),
        (401, json!(40013)),
        "{}",
        r.text
    );
    let r = api
        .raw(
            "GET",
            "/cgi-bin/token?grant_type=client_credential",
            vec![],
            &[],
        )
        .await;
    assert_eq!(r.json["errcode"], 41002);
    let r = api
        .raw("GET", "/cgi-bin/token?grant_type=password", vec![], &[])
        .await;
    assert_eq!(r.json["errcode"], 40002);
    // a token
    let r = api
        .raw("GET", &token_url(&api.app.app_secret), vec![], &[])
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json["expires_in"], 7200);
    let token = r.json["access_token"].as_str().unwrap().to_string();
    let url = format!("/wxa/business/getliveinfo?access_token={token}");
    let api = &api;
    let list = |body: &'static str| {
        let url = url.clone();
        async move { api.raw("POST", &url, body.as_bytes().to_vec(), &[]).await }
    };
    // no rooms: errcode 1
    let r = list(r#"{"start":0,"limit":10}"#).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["errcode"], 1);
    assert_eq!(r.json["total"], 0);
    // two rooms: WeChat's shape field for field, newest first
    api.call("POST", "/v1/rooms", &api.room_body("早", 100))
        .await;
    api.call("POST", "/v1/rooms", &api.room_body("晚", 200))
        .await;
    let r = list(r#"{"start":0,"limit":10}"#).await;
    assert_eq!(r.json["errcode"], 0, "{}", r.text);
    same_shape(&serde_json::from_str(WECHAT_EXAMPLE).unwrap(), &r.json, "$");
    assert_eq!(r.json["total"], 2);
    assert_eq!(r.json["room_info"][0]["name"], "晚");
    assert_eq!(r.json["room_info"][1]["live_status"], 102);
    let r = list(r#"{"start":1,"limit":1}"#).await;
    assert_eq!(r.json["room_info"].as_array().unwrap().len(), 1);
    assert_eq!(r.json["room_info"][0]["name"], "早");
    // bad token / body
    let r = api
        .raw(
            "POST",
            "/wxa/business/getliveinfo?access_token=bad",
            b"{}".to_vec(),
            &[],
        )
        .await;
    assert_eq!((r.status, r.json["errcode"].clone()), (401, json!(40001)));
    let r = api
        .raw("POST", "/wxa/business/getliveinfo", b"{}".to_vec(), &[])
        .await;
    assert_eq!(r.json["errcode"], 41001);
    let r = list("not json").await;
    assert_eq!((r.status, r.json["errcode"].clone()), (400, json!(47001)));
    let r = list(r#"{"start":0,"limit":500}"#).await;
    assert_eq!(r.status, 400);
    assert!(r.errmsg().starts_with("limit"));
}
