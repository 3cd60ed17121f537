//! `system/vps-meta.json`: the machine metadata the control plane keeps in the user's R2 prefix.

use super::App;
use crate::error::{Error, Result};
use crate::r2::VpsMeta;
use crate::store::machines::{self, Machine};

/// Writes vps-meta.json for a running machine and records when.
pub async fn write_vps_meta(app: &App, m: &Machine) -> Result<()> {
    let (Some(server), Some(ipv4)) = (m.hetzner_server_id, m.public_ipv4) else {
        return Err(Error::internal(
            "vps-meta for a machine without server or address",
        ));
    };
    let now = app.now();
    let meta = VpsMeta {
        version: 1,
        user_id: m.clerk_user_id.clone(),
        machine_id: m.machine_id,
        hetzner_server_id: server,
        image_version: m.image_version.clone(),
        status: "running".to_owned(),
        provisioned_at: m.provisioned_at,
        last_sync_at: now,
        public_ipv4: ipv4,
        public_ipv6: m.public_ipv6,
    };
    app.r2
        .put_vps_meta(&m.clerk_user_id, &meta)
        .await
        .map_err(|e| {
            Error::unavailable(format!("vps-meta write: {e}"))
                .with_code(crate::status::FailureCode::R2Unavailable)
        })?;
    machines::machine_mark_vps_meta(&app.db, m.machine_id, Some(now)).await
}
