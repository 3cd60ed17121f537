//! [`TestR2`]: the simulator's fake R2 with the few shortcuts the end-to-end tests use.
//!
//! The control plane's R2 client talks to a real S3 endpoint on a loopback socket (`sim::fake_r2`,
//! SigV4-checked, the same fake the scenarios use); tests seed and inspect objects directly and make
//! the endpoint fail for a while. `Deref` exposes the whole fake for anything else.

use std::collections::BTreeMap;
use std::ops::Deref;

use sim::fake_r2::{FakeR2, FakeR2Config, FaultWhen, R2FaultRule, R2Op};

pub struct TestR2 {
    fake: FakeR2,
}

impl TestR2 {
    /// An empty fake holding `bucket`, accepting only `access_key_id`/`secret_access_key`. It keeps
    /// wall-clock object times: freshness is computed from snapshot names, not `LastModified`.
    pub async fn start(access_key_id: &str, secret_access_key: &str, bucket: &str) -> Self {
        let fake = FakeR2::start(FakeR2Config {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            buckets: vec![bucket.into()],
            ..FakeR2Config::default()
        })
        .await
        .expect("fake r2");
        Self { fake }
    }

    pub fn put(&self, bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
        self.fake.put(bucket, key, body.into(), BTreeMap::new());
    }

    pub fn put_with_metadata(
        &self,
        bucket: &str,
        key: &str,
        body: impl Into<Vec<u8>>,
        metadata: BTreeMap<String, String>,
    ) {
        self.fake.put(bucket, key, body.into(), metadata);
    }

    pub fn get(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        self.fake.get(bucket, key).map(|o| o.bytes.to_vec())
    }

    pub fn metadata(&self, bucket: &str, key: &str) -> Option<BTreeMap<String, String>> {
        self.fake.get(bucket, key).map(|o| o.metadata)
    }

    /// The next `calls` S3 calls (each with all its retries) answer `status`; `0` clears every fault.
    pub fn fail_next(&self, calls: u32, status: u16) {
        self.fake.clear_faults();
        if calls > 0 {
            let code = if status == 503 {
                "SlowDown"
            } else {
                "InternalError"
            };
            self.fake.inject(R2FaultRule::error(
                R2Op::Any,
                FaultWhen::Times(calls),
                status,
                code,
            ));
        }
    }
}

impl Deref for TestR2 {
    type Target = FakeR2;

    fn deref(&self) -> &FakeR2 {
        &self.fake
    }
}
