//! Webhook SSRF (security review L3): `validate_url` refuses every internal literal range, and a
//! delivery to a DNS name that resolves to an internal address is refused before any
//! connection is made (a loopback listener on the target port sees nothing). A failed
//! delivery's `last_error` is a coarse class, not the HTTP client's cause chain.

use fn_webhook_delivery::Deliverer;
use fn_webhooks::validate_url;
use serde_json::json;
use zhibo_core::clock::now;
use zhibo_core::clock::now_ms;
use zhibo_core::webhook::{EventType, WebhookEvent};
use zhibo_e2e_tests::TestApi;

#[test]
fn validate_url_refuses_every_internal_range() {
    for host in [
        // IPv4: loopback, private, link-local (metadata), this network, shared, benchmarking,
        // reserved, broadcast, IETF protocol assignments, multicast, documentation.
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "0.0.0.0",
        "0.1.2.3",
        "100.64.0.1",
        "198.18.0.1",
        "198.19.255.254",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.0.8",
        "224.0.0.1",
        "192.0.2.1",
        // IPv6: loopback, unspecified, unique local, link-local, IPv4-mapped, NAT64,
        // IPv4-compatible, 6to4, site-local, Teredo, documentation, multicast.
        "[::1]",
        "[::]",
        "[fc00::1]",
        "[fd12:3456::1]",
        "[fe80::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:169.254.169.254]",
        "[::ffff:8.8.8.8]",
        "[64:ff9b::a9fe:a9fe]",
        "[64:ff9b::808:808]",
        "[64:ff9b:1::1]",
        "[::127.0.0.1]",
        "[::169.254.169.254]",
        "[2002:7f00:1::1]",
        "[2002:808:808::1]",
        "[fec0::1]",
        "[2001::1]",
        "[2001:db8::1]",
        "[ff02::1]",
        // Names that are loopback by definition.
        "localhost",
        "api.localhost",
    ] {
        let url = format!("https://{host}/hook");
        assert!(validate_url(&url, false).is_err(), "{url} must be refused");
    }
    for ok in [
        "https://example.com/hook",
        "https://93.184.216.34/hook",
        "https://[2606:2800:220:1:248:1893:25c8:1946]/hook",
    ] {
        assert!(validate_url(ok, false).is_ok(), "{ok} must be accepted");
    }
}

#[tokio::test]
async fn a_delivery_to_a_name_resolving_to_loopback_is_refused_before_connecting() {
    // Deployed settings: https only, public destinations only.
    let api = TestApi::start().await;
    let app = api.app.app_id.clone();
    let store = &api.state.outbox;
    // A listener on the port the URL names: any connection would wait in its backlog.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.set_nonblocking(true).expect("nonblocking");
    let port = listener.local_addr().unwrap().port();
    // A name that passed the check when it was set and resolves to loopback now (DNS
    // rebinding, `*.nip.io`): `localhost` resolves to 127.0.0.1 (and ::1) without any DNS.
    let url = format!("https://localhost:{port}/hook");
    store
        .put_webhook(&app, &url, false, now())
        .await
        .expect("store the endpoint");
    let event = WebhookEvent {
        id: WebhookEvent::new_id(now_ms()),
        kind: EventType::RoomStarted,
        created_at: now(),
        app_id: app.clone(),
        room_id: 1,
        seq: 1,
        data: json!({"live_status": 101}),
    };
    store
        .enqueue_events(&app, 1, std::slice::from_ref(&event), now_ms())
        .await
        .expect("enqueue");

    let deliverer = Deliverer::from_config(store.clone(), &api.state.config).expect("deliverer");
    let report = deliverer
        .drain_room(&app, 1, now_ms())
        .await
        .expect("drain");
    assert_eq!(report.delivered, 0, "{report:?}");

    // No packet reached the loopback port.
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a delivery connected to the loopback listener: {other:?}"),
    }
    // The attempt is recorded with a coarse reason.
    let record = store
        .get_delivery(&app, &event.id)
        .await
        .expect("read the delivery")
        .expect("a delivery record");
    let error = record.last_error.unwrap_or_default();
    assert!(
        error.contains("public address"),
        "last_error should say the host has no public address: {error:?}"
    );
}
