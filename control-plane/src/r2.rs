//! Cloudflare R2: where each user's database snapshots live, and what the control plane reads and
//! writes there.
//!
//! - [`keys`]: the object layout (`matrixos-sync/<user>/system/...`), validated builders.
//! - [`pointer`]: the untrusted `latest` pointer, parsed into a [`SnapshotKey`].
//! - [`meta`]: `system/vps-meta.json`, the one object the control plane writes.
//! - [`client`]: the S3 client, configured for R2 (checksums, path style, timeouts: see its doc),
//!   with typed outcomes ([`LatestPointer`], [`BackupCheck`]) and a text-free [`R2Error`].
//!
//! The control plane never deletes user data in R2 (`control-plane.md` §4); `delete_object` exists for
//! simulated hosts and tests.

pub mod client;
pub mod keys;
pub mod meta;
pub mod pointer;

pub use client::{
    BackupCheck, BackupProblem, LatestPointer, ObjectInfo, ObjectSummary, R2Client, R2Config,
    R2Error, SHA256_METADATA_KEY, sha256_metadata,
};
pub use keys::KeyError;
pub use meta::VpsMeta;
pub use pointer::{PointerError, SnapshotKey};
