//! Provider deletions: executing entries of the deletion queue.
//!
//! Every deletion is queued first (durably, with the change that made the server unwanted); this
//! module then claims entries and calls the provider. A 404 is success. A failure keeps the entry
//! with its backoff; the reconciler retries due entries.

use tracing::{info, warn};

use super::App;
use crate::error::Result;
use crate::hetzner::ProviderError;
use crate::ids::HetznerServerId;
use crate::store::deletions::{self, DeletionRecord};

/// Result of one pass over claimed entries.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeletionPass {
    pub deleted: usize,
    pub failed: usize,
}

/// Claims and executes the pending entries of these servers now (best effort; failures stay queued).
pub async fn delete_servers_now(app: &App, servers: &[HetznerServerId]) -> DeletionPass {
    let ids: Vec<i64> = servers.iter().map(|s| s.get()).collect();
    let claim = app.new_claim();
    match deletions::deletion_claim_servers(&app.db, &ids, claim, app.now(), app.claim_ttl()).await
    {
        Ok(entries) => execute(app, claim, entries).await,
        Err(e) => {
            warn!(error = %e, "could not claim deletions; the reconciler will retry");
            DeletionPass::default()
        }
    }
}

/// Claims up to `limit` due entries and executes them (reconciler).
pub async fn delete_due(app: &App, limit: i64) -> Result<DeletionPass> {
    let claim = app.new_claim();
    let entries =
        deletions::deletion_claim_due(&app.db, claim, app.now(), app.claim_ttl(), limit).await?;
    Ok(execute(app, claim, entries).await)
}

async fn execute(app: &App, claim: uuid::Uuid, entries: Vec<DeletionRecord>) -> DeletionPass {
    let mut pass = DeletionPass::default();
    for entry in entries {
        let Ok(server) = HetznerServerId::new(entry.hetzner_server_id) else {
            continue;
        };
        let outcome = app.hetzner.delete_server(server).await;
        let now = app.now();
        let recorded = match outcome {
            Ok(()) | Err(ProviderError::NotFound) => {
                info!(server_id = %server, reason = %entry.reason, "server deleted at provider");
                pass.deleted += 1;
                deletions::deletion_mark_done(&app.db, entry.id, claim, now).await
            }
            Err(e) => {
                warn!(server_id = %server, attempts = entry.attempts + 1, error = ?e, "server delete failed; queued for retry");
                pass.failed += 1;
                deletions::deletion_mark_failed(
                    &app.db,
                    entry.id,
                    claim,
                    e.failure_code().as_str(),
                    now,
                )
                .await
            }
        };
        if let Err(e) = recorded {
            warn!(error = %e, "could not record deletion outcome; the claim will expire and it will be retried");
        }
    }
    pass
}
