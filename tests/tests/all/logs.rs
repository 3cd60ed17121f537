//! No log line ever contains a token, secret or credential — checked over a whole story with every
//! control-plane log at debug level captured.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use control_plane::cloud_init::parse_env_lines;
use fleet_tests::platform::{HETZNER_TOKEN, PLATFORM_SECRET, R2_SECRET, TestPlatform, start_time};
use sim::fake_hetzner::{FaultEffect, FaultOp, FaultRule, FaultWhen};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_log_line_contains_a_secret_over_a_whole_lifecycle() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("control_plane=trace,sim=debug,info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // #[tokio::test] runs every task of the test on this thread, the server's included.
    let _guard = tracing::subscriber::set_default(subscriber);

    let p = TestPlatform::start().await;
    let (id, server) = p.running_machine("user_logs", "logs").await;
    assert_eq!(p.heartbeat_as_host(&server, &id).await.status(), 200);
    // Failures on every path: a refused create, a wrong registration token, R2 down, failing deletes.
    p.hetzner.inject(FaultRule {
        op: FaultOp::CreateServer,
        when: FaultWhen::Nth(1),
        effect: FaultEffect::Error {
            status: 422,
            code: "invalid_input".into(),
        },
    });
    let _ = p.provision("user_logs2", "logs2").await;
    let _ = p
        .http
        .post(p.url("/vps/register"))
        .bearer_auth("wrong-token-value-0123")
        .body("{}")
        .send()
        .await;
    p.seed_backup("user_logs", start_time(), b"PGDMP");
    let body: serde_json::Value = p.recover("user_logs", false).await.json().await.unwrap();
    let new_id = body["machineId"].as_str().unwrap().to_owned();
    let replacement = p.servers_of(&new_id).pop().unwrap();
    p.s3.fail_next(10, 500);
    assert_eq!(p.register_as_host(&replacement).await.status(), 200);
    p.s3.fail_next(0, 500);
    p.hetzner.inject(FaultRule {
        op: FaultOp::DeleteServer,
        when: FaultWhen::Times(3),
        effect: FaultEffect::Error {
            status: 503,
            code: "unavailable".into(),
        },
    });
    assert_eq!(p.delete(&new_id).await.status(), 200);
    p.advance(Duration::from_secs(3600));
    p.reconcile().await;

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("machine registered"),
        "the capture saw the control plane's logs"
    );
    let mut secrets = vec![
        PLATFORM_SECRET.to_owned(),
        HETZNER_TOKEN.to_owned(),
        R2_SECRET.to_owned(),
        "wrong-token-value-0123".to_owned(),
    ];
    for s in [&server, &replacement] {
        let env = parse_env_lines(s.user_data.as_deref().unwrap());
        for key in [
            "MATRIX_REGISTRATION_TOKEN",
            "MATRIX_HEARTBEAT_TOKEN",
            "POSTGRES_PASSWORD",
            "AWS_SECRET_ACCESS_KEY",
        ] {
            secrets.push(env[key].clone());
        }
    }
    for secret in secrets {
        assert!(
            !logs.contains(&secret),
            "a log line contains a secret ({} chars)",
            secret.len()
        );
    }
}
