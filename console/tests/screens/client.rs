//! The client and the refresher against a minimal fake platform.

use std::sync::Arc;
use std::time::Duration;

use control_plane::secret::Secret;
use matrix_console::client::{FleetQuery, PlatformClient};
use matrix_console::tui::fixture;
use matrix_console::tui::runtime;
use matrix_console::tui::state::{Connection, DownKind, Msg, State, update};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

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

/// What the refresher reported, kept after the message went into the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Loaded,
    Failed {
        attempt: u32,
        retry_in: Duration,
        unreachable: bool,
    },
}

/// Feeds the refresher's messages into `state` until `done` holds, failing after `limit`.
async fn until(
    rx: &mut mpsc::Receiver<Msg>,
    state: &mut State,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(Seen, &State) -> bool,
) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let msg = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("{what}: not within {limit:?}; {:?}", state.connection))
            .expect("the refresher runs");
        let seen = match &msg {
            Msg::FleetLoaded(_) => Seen::Loaded,
            Msg::FleetFailed {
                error,
                attempt,
                retry_in,
            } => Seen::Failed {
                attempt: *attempt,
                retry_in: *retry_in,
                unreachable: error.is_unreachable(),
            },
            other => panic!("the refresher sent {other:?}"),
        };
        let effects = update(state, msg, Instant::now());
        assert!(effects.is_empty(), "{effects:?}");
        if done(seen, state) {
            return;
        }
    }
}

#[tokio::test]
async fn the_refresher_rides_out_the_platform_going_away_and_coming_back() {
    let pages: crate::fake_platform::Pages = Arc::new(|page| {
        let mut r = fixture::small();
        if page > 1 {
            r.machines.clear();
        }
        r
    });
    let platform = FakePlatform::start("127.0.0.1:0".parse().unwrap(), pages.clone()).await;
    let addr = platform.addr;
    let client =
        PlatformClient::new(platform.url(), Secret::new("t"), Duration::from_secs(5)).unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let refresher = tokio::spawn(runtime::refresher(
        client,
        runtime::MIN_REFRESH,
        tx,
        Arc::new(Notify::new()),
    ));
    let mut state = State::new(false, false, None);
    let rows = fixture::small().machines.len();
    let limit = Duration::from_secs(20);

    until(&mut rx, &mut state, limit, "first load", |seen, _| {
        seen == Seen::Loaded
    })
    .await;
    assert_eq!(state.connection, Connection::Live);
    assert_eq!(state.rows().len(), rows);

    // Gone: the rows stay, the connection is down, retries back off.
    platform.stop().await;
    until(&mut rx, &mut state, limit, "second failure", |seen, _| {
        matches!(seen, Seen::Failed { attempt: 2, .. })
    })
    .await;
    match &state.connection {
        Connection::Down { kind, attempt, .. } => {
            assert_eq!(*kind, DownKind::Unreachable);
            assert_eq!(*attempt, 2);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.rows().len(), rows, "the last good fleet is kept");
    assert_eq!(state.view.len(), rows);

    // Back on the same address: live again at the next retry.
    let platform = FakePlatform::start(addr, pages).await;
    until(&mut rx, &mut state, limit, "live again", |seen, _| {
        seen == Seen::Loaded
    })
    .await;
    assert_eq!(state.connection, Connection::Live);
    assert_eq!(state.rows().len(), rows);
    refresher.abort();
    platform.stop().await;
}

#[tokio::test]
async fn failures_back_off_as_documented() {
    // Nothing listens here for long: a port we hold and hang up on.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = url::Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let hang_up = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            drop(s);
        }
    });
    let client = PlatformClient::new(url, Secret::new("t"), Duration::from_secs(5)).unwrap();
    let mut attempt = 0;
    for n in 1..=3 {
        match runtime::refresh_once(&client, &mut attempt).await {
            Msg::FleetFailed {
                error,
                attempt,
                retry_in,
            } => {
                assert!(error.is_unreachable(), "{error:?}");
                assert_eq!(attempt, n);
                assert_eq!(retry_in, runtime::backoff(n));
            }
            other => panic!("{other:?}"),
        }
    }
    hang_up.abort();
}
