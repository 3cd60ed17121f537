//! The client against a minimal fake platform.

use std::sync::Arc;
use std::time::Duration;

use control_plane::secret::Secret;
use matrix_console::client::{FleetQuery, PlatformClient};
use matrix_console::tui::fixture;

use crate::fake_platform::FakePlatform;

#[tokio::test]
async fn fleet_all_lists_each_machine_once_when_rows_shift_between_pages() {
    let now = fixture::generated_at();
    let specs = fixture::small_specs();
    let all: Vec<_> = specs.iter().map(|s| s.build(now)).collect();
    let total = all.len();
    // Page 1 has the first 8 (one of them twice); page 2 repeats two of page 1 (rows shifted),
    // then the rest; page 3 is empty.
    let pages = Arc::new(move |page: i64| {
        let mut r = fixture::response(match page {
            1 => {
                let mut m = all[..8].to_vec();
                m.push(all[0].clone());
                m
            }
            2 => all[6..].to_vec(),
            _ => vec![],
        });
        r.total = total as i64;
        r
    });
    let platform = FakePlatform::start("127.0.0.1:0".parse().unwrap(), pages).await;
    let client =
        PlatformClient::new(platform.url(), Secret::new("t"), Duration::from_secs(10)).unwrap();
    let fleet = client.fleet_all(&FleetQuery::default()).await.unwrap();
    let mut ids: Vec<_> = fleet.machines.iter().map(|m| m.machine_id).collect();
    assert_eq!(ids.len(), total, "{ids:?}");
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), total);
    platform.stop().await;
}

#[test]
fn a_token_that_cannot_be_a_header_is_refused_when_the_client_is_built() {
    let url = url::Url::parse("http://127.0.0.1:9").unwrap();
    for bad in ["a\nb", "tök", "a b", ""] {
        assert!(
            PlatformClient::new(url.clone(), Secret::new(bad), Duration::from_secs(1)).is_err(),
            "{bad:?}"
        );
    }
    assert!(PlatformClient::new(url, Secret::new("tok-1.2_3"), Duration::from_secs(1)).is_ok());
}
