//! `target = "host"`: a fault in the user's current host — its dump fails, its upload fails, or it
//! hangs (no register, heartbeat or backup until cleared).

use serde::{Deserialize, Serialize};

use crate::host::HostFault;
use crate::scenario::format::check_user;
use crate::scenario::run::Run;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostFaultName {
    DumpFails,
    UploadFails,
    Hang,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostFaultSpec {
    pub user: String,
    pub fault: HostFaultName,
}

impl HostFaultSpec {
    pub fn validate(&self) -> Result<(), String> {
        check_user(&self.user)
    }

    pub async fn apply(&self, run: &mut Run<'_>) -> anyhow::Result<()> {
        let host = run.host_of_user(&self.user).await?;
        host.inject(match self.fault {
            HostFaultName::DumpFails => HostFault::DumpFails,
            HostFaultName::UploadFails => HostFault::UploadFails,
            HostFaultName::Hang => HostFault::Hang,
        });
        Ok(())
    }
}
