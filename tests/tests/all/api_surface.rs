//! The API's surface: auth on every route, body limit, generic errors, secrets never leaking,
//! metrics, fleet paging and routing reasons.

use fleet_tests::platform::{HETZNER_TOKEN, Options, PLATFORM_SECRET, R2_SECRET, TestPlatform};
use reqwest::Method;
use serde_json::{Value, json};
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

const ANY_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Every platform-auth route, once.
fn platform_routes() -> Vec<(Method, String, Option<Value>)> {
    vec![
        (
            Method::POST,
            "/vps/provision".into(),
            Some(json!({"clerkUserId": "user_x", "handle": "x"})),
        ),
        (
            Method::POST,
            "/vps/recover".into(),
            Some(json!({"clerkUserId": "user_x"})),
        ),
        (Method::GET, format!("/vps/{ANY_ID}/status"), None),
        (Method::GET, format!("/vps/{ANY_ID}/events"), None),
        (Method::DELETE, format!("/vps/{ANY_ID}"), None),
        (Method::GET, "/vps/fleet".into(), None),
        (Method::GET, "/vps/route?clerkUserId=user_x".into(), None),
    ]
}

#[tokio::test]
async fn every_platform_route_answers_401_without_the_secret_with_a_generic_body() {
    let p = TestPlatform::start().await;
    for (method, path, body) in platform_routes() {
        for token in [
            None,
            Some("wrong-secret"),
            Some(&PLATFORM_SECRET[..PLATFORM_SECRET.len() - 1]),
        ] {
            let mut req = p.http.request(method.clone(), p.url(&path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = &body {
                req = req.json(b);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), 401, "{method} {path} with {token:?}");
            assert_eq!(
                r.json::<Value>().await.unwrap(),
                json!({"error": "Unauthorized"})
            );
        }
    }
    assert_eq!(p.hetzner.create_count(), 0);
}

#[tokio::test]
async fn every_platform_route_answers_503_when_no_secret_is_configured() {
    let p = TestPlatform::start_with(Options {
        platform_secret: None,
        ..Options::default()
    })
    .await;
    for (method, path, body) in platform_routes() {
        let mut req = p
            .http
            .request(method.clone(), p.url(&path))
            .bearer_auth("anything");
        if let Some(b) = &body {
            req = req.json(b);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 503, "{method} {path}");
        assert!(r.json::<Value>().await.unwrap()["error"].is_string());
    }
    // Health and metrics need no auth.
    assert_eq!(
        p.http.get(p.url("/health")).send().await.unwrap().status(),
        200
    );
    assert_eq!(
        p.http.get(p.url("/metrics")).send().await.unwrap().status(),
        200
    );
}

#[tokio::test]
async fn bodies_over_4096_bytes_are_413_before_parsing() {
    let p = TestPlatform::start().await;
    let big = json!({"clerkUserId": "user_big", "handle": "big", "pad": "x".repeat(5000)});
    let r = p
        .platform(Method::POST, "/vps/provision")
        .json(&big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Request body too large"})
    );
    // Also without a Content-Length (chunked), and on host routes.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 3000]), Ok(vec![b' '; 3000])];
    let stream = futures::stream::iter(chunks);
    let r = p
        .http
        .post(p.url("/vps/register"))
        .bearer_auth("t")
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(p.hetzner.create_count(), 0);
}

#[tokio::test]
async fn malformed_input_is_a_generic_400_and_changes_nothing() {
    let p = TestPlatform::start().await;
    let cases = [
        "not json",
        "{\"clerkUserId\": \"ab\", \"handle\": \"ok\"}",
        "{\"clerkUserId\": \"user_ok\", \"handle\": \"Bad_Handle\"}",
        "{\"clerkUserId\": \"user_ok\", \"handle\": \"ok\", \"runtimeSlot\": \"slot-\"}",
        "{\"clerkUserId\": \"user ok; drop table\", \"handle\": \"ok\"}",
        "{\"handle\": \"ok\"}",
    ];
    for body in cases {
        let r = p
            .platform(Method::POST, "/vps/provision")
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{body}");
        let text = r.text().await.unwrap();
        assert_eq!(
            text, "{\"error\":\"Invalid request\"}",
            "no parser detail leaks for {body}"
        );
    }
    assert_eq!(p.status_code("not-a-uuid").await, 400);
    let r = p
        .platform(Method::GET, "/vps/fleet?status=bogus")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM user_machines")
        .fetch_one(&p.app.db)
        .await
        .unwrap();
    assert_eq!(rows, 0);
    assert_eq!(p.hetzner.create_count(), 0);
}

#[tokio::test]
async fn provider_error_text_and_secrets_never_reach_a_client() {
    let p = TestPlatform::start().await;
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Always,
        effect: FaultEffect::Error {
            status: 422,
            code: "invalid_input".into(),
        },
    });
    let r = p.provision("user_leak", "leak").await;
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 500);
    assert_eq!(text, "{\"error\":\"Internal error\"}");
    let machine: String = sqlx::query_scalar(
        "SELECT machine_id::text FROM user_machines WHERE clerk_user_id = 'user_leak'",
    )
    .fetch_one(&p.app.db)
    .await
    .unwrap();
    let everything = [
        p.platform(Method::GET, &format!("/vps/{machine}/status"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        p.platform(Method::GET, &format!("/vps/{machine}/events"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        p.platform(Method::GET, "/vps/fleet")
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        p.http
            .get(p.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
    ]
    .join("\n");
    for needle in [
        PLATFORM_SECRET,
        HETZNER_TOKEN,
        R2_SECRET,
        "message",
        "fake hetzner",
        "registration_token",
    ] {
        assert!(!everything.contains(needle), "{needle} leaked");
    }
    assert!(
        everything.contains("\"failureCode\":\"unknown\"")
            || everything.contains("provider_unavailable")
            || everything.contains("failureCode")
    );
}

#[tokio::test]
async fn metrics_report_the_fleet_and_the_provider_calls() {
    let p = TestPlatform::start().await;
    p.running_machine("user_m1", "m1").await;
    p.provision("user_m2", "m2").await;
    p.reconcile().await;
    let text = p
        .http
        .get(p.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "matrix_machines{status=\"running\"} 1",
        "matrix_machines{status=\"provisioning\"} 1",
        "matrix_machines{status=\"failed\"} 0",
        "matrix_machines_heartbeat{health=\"ok\"} 1",
        "matrix_provider_calls_total{provider=\"hetzner\",operation=\"create_server\",outcome=\"ok\"} 2",
        "matrix_reconciler_runs_total{task=\"stale_rows\",result=\"ok\"} 1",
        "# TYPE matrix_reconciler_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn fleet_pages_and_filters_with_a_summary() {
    let p = TestPlatform::start().await;
    for i in 0..5 {
        p.running_machine(&format!("user_f{i}"), &format!("f{i}"))
            .await;
    }
    p.provision("user_f9", "f9").await;
    let page: Value = p.get_json("/vps/fleet?perPage=2&page=2").await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["machines"].as_array().unwrap().len(), 2);
    assert_eq!(page["machines"][0]["handle"], "f2");
    assert_eq!(page["summary"]["byStatus"]["running"], 5);
    assert_eq!(page["summary"]["byStatus"]["provisioning"], 1);
    let filtered: Value = p.get_json("/vps/fleet?status=provisioning").await;
    assert_eq!(filtered["total"], 1);
    assert_eq!(filtered["machines"][0]["handle"], "f9");
    let searched: Value = p.get_json("/vps/fleet?q=USER_F3").await;
    assert_eq!(searched["total"], 1);
}

#[tokio::test]
async fn route_resolution_says_where_traffic_goes_or_why_not() {
    let p = TestPlatform::start().await;
    let get = |user: &str| {
        p.platform(Method::GET, &format!("/vps/route?clerkUserId={user}"))
            .send()
    };
    let none: Value = get("user_nobody").await.unwrap().json().await.unwrap();
    assert_eq!(
        (none["routable"].clone(), none["reason"].clone()),
        (json!(false), json!("no_machine"))
    );
    p.provision("user_rt", "rt").await;
    let prov: Value = get("user_rt").await.unwrap().json().await.unwrap();
    assert_eq!(prov["reason"], "provisioning");
    let (id, server) = p.running_machine("user_rt2", "rt2").await;
    let ok: Value = get("user_rt2").await.unwrap().json().await.unwrap();
    assert_eq!(ok["routable"], true);
    assert_eq!(ok["target"]["publicIPv4"], server.ipv4.to_string());
    assert_eq!(ok["machineId"], id);
    assert_eq!(get("bad/user").await.unwrap().status(), 400);
}

#[tokio::test]
async fn events_of_an_id_that_never_existed_are_404() {
    let p = TestPlatform::start().await;
    let r = p
        .platform(Method::GET, &format!("/vps/{ANY_ID}/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_server_shuts_down_gracefully_and_releases_its_port() {
    let p = TestPlatform::start().await;
    let url = p.url("/health");
    let http = p.http.clone();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(10), p.stop())
        .await
        .expect("stops within 10 s");
    assert!(
        http.get(&url).send().await.is_err(),
        "nothing listens any more"
    );
}

#[tokio::test]
async fn a_database_outage_is_a_generic_503_and_service_returns_with_the_database() {
    let p = TestPlatform::start_with(Options {
        db_through_proxy: true,
        ..Options::default()
    })
    .await;
    let (id, _) = p.running_machine("user_dbdown", "dbdown").await;
    let proxy = p.db_proxy.as_ref().unwrap();
    proxy.set_mode(sim::proxy::ProxyMode::Down);
    let r = p
        .platform(Method::GET, &format!("/vps/{id}/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(
        r.text().await.unwrap(),
        "{\"error\":\"Service unavailable\"}"
    );
    let r = p.provision("user_dbdown2", "dbdown2").await;
    assert_eq!(r.status(), 503);
    proxy.set_mode(sim::proxy::ProxyMode::Pass);
    assert_eq!(p.status(&id).await["status"], "running");
    assert_eq!(
        p.hetzner.create_count(),
        1,
        "nothing was created while the database was down"
    );
}

#[tokio::test]
async fn a_wrong_method_or_an_unknown_route_still_gets_the_generic_json_shape() {
    let p = TestPlatform::start().await;
    let r = p
        .platform(Method::GET, "/vps/provision")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Method not allowed"})
    );
    let r = p.platform(Method::GET, "/nope").send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap(),
        json!({"error": "Not found"})
    );
}
