//! Every route of every function, end to end over real HTTP, given random bytes.

use zhibo_e2e_tests::TestApi;

#[tokio::test]
async fn random_bytes_at_every_route_never_crash() {
    use rand::{Rng, SeedableRng};
    let api = TestApi::start().await;
    let id = api
        .call("POST", "/v1/rooms", &api.room_body("fuzz", 60))
        .await
        .json["room_id"]
        .as_u64()
        .unwrap();
    let routes = [
        ("POST", "/v1/rooms".to_string()),
        ("GET", "/v1/rooms".to_string()),
        ("GET", format!("/v1/rooms/{id}")),
        ("PATCH", format!("/v1/rooms/{id}")),
        ("DELETE", "/v1/rooms/424242".to_string()),
        ("GET", format!("/v1/rooms/{id}/status")),
        ("POST", format!("/v1/rooms/{id}/push-url")),
        ("POST", format!("/v1/rooms/{id}/actions")),
        ("GET", format!("/v1/rooms/{id}/replays")),
        ("GET", "/cgi-bin/token".to_string()),
        ("POST", "/wxa/business/getliveinfo".to_string()),
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    for round in 0..40 {
        for (method, path) in &routes {
            let len = rng.gen_range(0..2048);
            let body: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
            let q: String = (0..rng.gen_range(0..40))
                .map(|_| (rng.gen_range(0x21u8..0x7f)) as char)
                .filter(|c| !"#%".contains(*c))
                .collect();
            let p = format!("{path}?{q}");
            // signed (so the handler body is reached) and unsigned
            let signed = api.call_with(method, &p, &body, &[]).await;
            let unsigned = api.raw(method, &p, body.clone(), &[]).await;
            for r in [signed, unsigned] {
                assert!(
                    r.status < 500,
                    "round {round} {method} {p}: {} {}",
                    r.status,
                    r.text
                );
                assert!(
                    r.json.is_object() || r.status == 204 || r.status == 304,
                    "non-JSON answer: {}",
                    r.text
                );
            }
        }
    }
    // the server is still up and the room intact
    assert_eq!(
        api.call("GET", &format!("/v1/rooms/{id}"), "").await.json["name"],
        "fuzz"
    );
}
