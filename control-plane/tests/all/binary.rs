//! The `matrix-platform` binary: usage and configuration errors, run as a real process.

use std::process::Command;

fn platform() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_matrix-platform"));
    c.env_clear();
    c
}

#[test]
fn without_a_command_it_prints_usage_and_exits_2() {
    let out = platform().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("usage: matrix-platform <serve|migrate>")
    );
    let out = platform().arg("explode").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn serve_with_an_empty_environment_names_every_missing_variable() {
    let out = platform().arg("serve").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for var in [
        "DATABASE_URL",
        "PLATFORM_PUBLIC_URL",
        "HETZNER_API_TOKEN",
        "R2_BUCKET",
        "R2_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "CUSTOMER_VPS_IMAGE_VERSION",
    ] {
        assert!(err.contains(var), "{var} not named in:\n{err}");
    }
}

#[test]
fn invalid_values_are_reported_without_echoing_them() {
    let out = platform()
        .arg("serve")
        .env(
            "DATABASE_URL",
            "postgres://u:hunter2-db-password@127.0.0.1:1/db",
        )
        .env("PLATFORM_SECRET", "short-secret")
        .env("PLATFORM_PUBLIC_URL", "ftp://nope-public")
        .env("HETZNER_API_TOKEN", "tok\"en-value")
        .env("R2_BUCKET", "Bad_Bucket")
        .env("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com")
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
        .env("CUSTOMER_VPS_IMAGE_VERSION", "has space")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for var in [
        "PLATFORM_SECRET",
        "PLATFORM_PUBLIC_URL",
        "HETZNER_API_TOKEN",
        "R2_BUCKET",
        "CUSTOMER_VPS_IMAGE_VERSION",
    ] {
        assert!(err.contains(var), "{var} not named in:\n{err}");
    }
    for value in [
        "hunter2",
        "short-secret",
        "nope-public",
        "tok\"en",
        "Bad_Bucket",
        "aws-secret-value",
        "has space",
    ] {
        assert!(!err.contains(value), "{value} echoed in:\n{err}");
    }
}

#[test]
fn an_unreachable_database_fails_without_printing_its_password() {
    let out = platform()
        .arg("migrate")
        .env(
            "DATABASE_URL",
            "postgres://u:hunter2-db-password@127.0.0.1:1/db",
        )
        .env("PLATFORM_SECRET", "0123456789abcdef-secret")
        .env("PLATFORM_PUBLIC_URL", "https://platform.example.com")
        .env("HETZNER_API_TOKEN", "token")
        .env("R2_BUCKET", "bucket")
        .env("R2_ENDPOINT", "https://acct.r2.cloudflarestorage.com")
        .env("AWS_ACCESS_KEY_ID", "AKID")
        .env("AWS_SECRET_ACCESS_KEY", "aws-secret-value")
        .env("CUSTOMER_VPS_IMAGE_VERSION", "2026.11.1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("matrix-platform:"), "{all}");
    assert!(!all.contains("hunter2"), "{all}");
}
