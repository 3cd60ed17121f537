//! `system/vps-meta.json`: what the control plane records in the user's R2 prefix about the machine
//! that serves them, written after every successful registration and re-written by the reconciler.
//!
//! The shape is the upstream's, byte for byte, because other tools read it:
//! `{"version":1,"userId","machineId","hetznerServerId","imageVersion","status":"running",
//! "provisionedAt","lastSyncAt","publicIPv4","publicIPv6"?}`, with timestamps as JavaScript's
//! `toISOString()` prints them (`2026-11-24T04:00:00.000Z`) and `publicIPv6` left out when unknown.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::ids::{ClerkUserId, HetznerServerId, ImageVersion, MachineId, PublicIpv4, PublicIpv6};

/// The only layout version written so far.
pub const VPS_META_VERSION: u32 = 1;

/// The status written to `vps-meta.json`: the file is written only for a registered machine.
pub const VPS_META_STATUS_RUNNING: &str = "running";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpsMeta {
    /// Always [`VPS_META_VERSION`]; a reader refuses any other.
    #[serde(deserialize_with = "version_one")]
    pub version: u32,
    pub user_id: ClerkUserId,
    pub machine_id: MachineId,
    pub hetzner_server_id: HetznerServerId,
    pub image_version: ImageVersion,
    /// Always [`VPS_META_STATUS_RUNNING`] when written by the control plane. A plain string, as in
    /// the upstream format; readers do not act on it.
    pub status: String,
    #[serde(with = "iso_millis")]
    pub provisioned_at: DateTime<Utc>,
    /// When the control plane wrote this file.
    #[serde(with = "iso_millis")]
    pub last_sync_at: DateTime<Utc>,
    #[serde(rename = "publicIPv4")]
    pub public_ipv4: PublicIpv4,
    #[serde(
        rename = "publicIPv6",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub public_ipv6: Option<PublicIpv6>,
}

impl VpsMeta {
    /// A `running` record at layout version 1.
    #[allow(clippy::too_many_arguments)] // one argument per field of a fixed wire format
    pub fn new(
        user_id: ClerkUserId,
        machine_id: MachineId,
        hetzner_server_id: HetznerServerId,
        image_version: ImageVersion,
        provisioned_at: DateTime<Utc>,
        last_sync_at: DateTime<Utc>,
        public_ipv4: PublicIpv4,
        public_ipv6: Option<PublicIpv6>,
    ) -> Self {
        Self {
            version: VPS_META_VERSION,
            user_id,
            machine_id,
            hetzner_server_id,
            image_version,
            status: VPS_META_STATUS_RUNNING.to_owned(),
            provisioned_at,
            last_sync_at,
            public_ipv4,
            public_ipv6,
        }
    }

    /// The exact object body (compact JSON, no trailing newline).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        // Serialising this struct cannot fail: every field is a string, a number or a plain enum.
        serde_json::to_vec(self).expect("VpsMeta serialises")
    }

    pub fn from_json_bytes(body: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(body)
    }
}

fn version_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v == VPS_META_VERSION {
        Ok(v)
    } else {
        Err(serde::de::Error::custom("unsupported vps-meta version"))
    }
}

/// ISO-8601 UTC with milliseconds and `Z`, like `Date.prototype.toISOString()`.
pub mod iso_millis {
    use super::*;

    pub fn format(t: &DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    /// Accepts any RFC 3339 time (other writers may use an offset or more digits).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let raw = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&raw)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| serde::de::Error::custom("invalid timestamp"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn meta(ipv6: Option<&str>) -> VpsMeta {
        VpsMeta::new(
            ClerkUserId::parse("user_2abc").unwrap(),
            MachineId::parse("6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e").unwrap(),
            HetznerServerId::new(4242).unwrap(),
            ImageVersion::parse("2026.11.1").unwrap(),
            Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap(),
            Utc.timestamp_millis_opt(1_795_500_000_123).unwrap()
                + chrono::Duration::microseconds(456),
            PublicIpv4::parse("49.12.34.56").unwrap(),
            ipv6.map(|v| PublicIpv6::parse(v).unwrap()),
        )
    }

    #[test]
    fn vps_meta_matches_the_upstream_bytes() {
        let json = String::from_utf8(meta(Some("2a01:4f8:1c1e:abcd::1")).to_json_bytes()).unwrap();
        assert_eq!(
            json,
            r#"{"version":1,"userId":"user_2abc","machineId":"6f1c2d3e-4b5a-4c6d-8e7f-901a2b3c4d5e","hetznerServerId":4242,"imageVersion":"2026.11.1","status":"running","provisionedAt":"2026-11-24T04:00:00.000Z","lastSyncAt":"2026-11-24T06:00:00.123Z","publicIPv4":"49.12.34.56","publicIPv6":"2a01:4f8:1c1e:abcd::1"}"#
        );
    }

    #[test]
    fn vps_meta_omits_a_missing_ipv6_and_round_trips() {
        let m = meta(None);
        let json = String::from_utf8(m.to_json_bytes()).unwrap();
        assert!(!json.contains("publicIPv6"), "{json}");
        let back = VpsMeta::from_json_bytes(json.as_bytes()).unwrap();
        // Sub-millisecond precision is not part of the format.
        assert_eq!(
            back.last_sync_at,
            Utc.timestamp_millis_opt(1_795_500_000_123).unwrap()
        );
        assert_eq!(back.public_ipv6, None);
        assert!(
            VpsMeta::from_json_bytes(json.replace("\"version\":1", "\"version\":2").as_bytes())
                .is_err()
        );
    }
}
