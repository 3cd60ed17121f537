//! Reading a host's bootstrap out of its cloud-init `user_data`, as the host's shell would source
//! `/opt/matrix/env/host.env` and `r2.env`. Only what a host needs is kept; secrets stay [`Secret`]s.

use control_plane::cloud_init::parse_env_lines;
use control_plane::secret::Secret;

use super::HostError;

/// Everything a host learns from its cloud-init.
#[derive(Debug, Clone)]
pub struct HostEnv {
    pub machine_id: String,
    pub clerk_user_id: String,
    pub handle: String,
    pub runtime_slot: String,
    pub image_version: String,
    pub register_url: String,
    pub heartbeat_url: String,
    pub boot_failure_url: String,
    pub registration_token: Secret,
    pub heartbeat_token: Secret,
    pub heartbeat_interval_seconds: u64,
    pub postgres_password: Secret,
    pub r2_endpoint: String,
    pub r2_bucket: String,
    pub r2_prefix: String,
    pub r2_access_key_id: String,
    pub r2_secret_access_key: Secret,
}

impl HostEnv {
    pub fn parse(user_data: &str) -> Result<Self, HostError> {
        if !user_data.starts_with("#cloud-config") {
            return Err(HostError::Bootstrap("not a #cloud-config document".into()));
        }
        let env = parse_env_lines(user_data);
        let get = |k: &str| {
            env.get(k)
                .cloned()
                .ok_or_else(|| HostError::Bootstrap(format!("{k} missing")))
        };
        Ok(Self {
            machine_id: get("MATRIX_MACHINE_ID")?,
            clerk_user_id: get("MATRIX_USER_ID")?,
            handle: get("MATRIX_HANDLE")?,
            runtime_slot: get("MATRIX_RUNTIME_SLOT")?,
            image_version: get("MATRIX_IMAGE_VERSION")?,
            register_url: get("MATRIX_REGISTER_URL")?,
            heartbeat_url: get("MATRIX_HEARTBEAT_URL")?,
            boot_failure_url: get("MATRIX_BOOT_FAILURE_URL")?,
            registration_token: Secret::new(get("MATRIX_REGISTRATION_TOKEN")?),
            heartbeat_token: Secret::new(get("MATRIX_HEARTBEAT_TOKEN")?),
            heartbeat_interval_seconds: get("MATRIX_HEARTBEAT_INTERVAL_SECONDS")?
                .parse()
                .map_err(|_| HostError::Bootstrap("MATRIX_HEARTBEAT_INTERVAL_SECONDS".into()))?,
            postgres_password: Secret::new(get("POSTGRES_PASSWORD")?),
            r2_endpoint: get("R2_ENDPOINT")?,
            r2_bucket: get("R2_BUCKET")?,
            r2_prefix: get("R2_PREFIX")?,
            r2_access_key_id: get("AWS_ACCESS_KEY_ID")?,
            r2_secret_access_key: Secret::new(get("AWS_SECRET_ACCESS_KEY")?),
        })
    }
}
