//! The interactive console's test binary (the CLI's is `tests/all.rs`): whole screens rendered on
//! ratatui's `TestBackend` and compared with reviewed snapshots (in `tests/snapshots/`), key
//! scripts that assert the effects emitted, sorting and filtering on the fixture fleet, and one
//! end-to-end recovery driven through the console's state machine against a simulated fleet.

#[path = "screens/support.rs"]
mod support;

#[path = "screens/client.rs"]
mod client;
#[path = "screens/e2e.rs"]
mod e2e;
#[path = "screens/fake_platform.rs"]
mod fake_platform;
#[path = "screens/filtering.rs"]
mod filtering;
#[path = "screens/scripts.rs"]
mod scripts;
#[path = "screens/snapshots.rs"]
mod snapshots;
#[path = "screens/sorting.rs"]
mod sorting;
