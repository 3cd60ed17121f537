//! The S3 operations the fake serves, as an [`s3s::S3`] implementation over the in-memory
//! [`Store`](super::store::Store): PutObject, GetObject, HeadObject, ListObjectsV2, DeleteObject,
//! CopyObject, and CreateBucket / HeadBucket / ListBuckets for the AWS CLI. Every other operation
//! keeps s3s's default answer, `501 NotImplemented`.
//!
//! s3s has already checked the signature, decoded any `aws-chunked` framing and run the
//! [gate](super::gate) when these run. What they add beyond storage is acting on a
//! [`FiredFault`] (lost write, truncated / corrupted / cut-off body, commit-then-reset).
//!
//! Caveats (kept simple on purpose, the product does not need them): `Content-MD5` and
//! `x-amz-checksum-*` values are accepted without verification; conditional headers
//! (`If-Match`, …), versioning, ACLs, storage classes and tagging are ignored.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use s3s::dto::{
    Bucket, CommonPrefix, CopyObjectInput, CopyObjectOutput, CopyObjectResult, CopySource,
    CreateBucketInput, CreateBucketOutput, DeleteObjectInput, DeleteObjectOutput, ETag,
    GetObjectInput, GetObjectOutput, HeadBucketInput, HeadBucketOutput, HeadObjectInput,
    HeadObjectOutput, ListBucketsInput, ListBucketsOutput, ListObjectsV2Input, ListObjectsV2Output,
    MetadataDirective, Object, PutObjectInput, PutObjectOutput, StreamingBlob, Timestamp,
};
use s3s::{S3, S3Error, S3ErrorCode, S3Request, S3Response, S3Result};

use super::Shared;
use super::faults::R2FaultEffect;
use super::gate::{DeferredError, FiredFault};
use super::store::{ListQuery, StoredObject, list_page};
use super::transport::ConnectionKill;

/// S3's largest page, and the default.
const MAX_KEYS: i32 = 1000;

pub(crate) struct Operations {
    pub(crate) shared: Arc<Shared>,
}

fn no_such_bucket() -> S3Error {
    S3Error::with_message(
        S3ErrorCode::NoSuchBucket,
        "The specified bucket does not exist",
    )
}

fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, "The specified key does not exist.")
}

fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp::from(SystemTime::from(t))
}

fn etag(object: &StoredObject) -> ETag {
    ETag::Strong(object.etag.clone())
}

fn fired<T>(req: &S3Request<T>) -> Option<R2FaultEffect> {
    req.extensions.get::<FiredFault>().map(|f| f.0.clone())
}

/// For `CommitThenReset`: closes the connection now that the write is done, and never answers.
async fn reset_after_commit<T>(extensions: &http::Extensions) -> S3Result<T> {
    match extensions.get::<ConnectionKill>() {
        Some(kill) => {
            kill.fire();
            std::future::pending().await
        }
        None => Err(S3Error::new(S3ErrorCode::InternalError)),
    }
}

/// Reads a whole request body, refusing more than `limit` bytes.
async fn read_body(body: Option<StreamingBlob>, limit: usize) -> S3Result<Bytes> {
    let Some(mut body) = body else {
        return Ok(Bytes::new());
    };
    let mut buf = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            S3Error::with_message(
                S3ErrorCode::IncompleteBody,
                format!("body read failed: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > limit {
            return Err(S3Error::new(S3ErrorCode::EntityTooLarge));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// `encoding-type=url` asks for keys and prefixes percent-encoded (the AWS CLI always does).
fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[async_trait::async_trait]
impl S3 for Operations {
    async fn put_object(
        &self,
        req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        let fault = fired(&req);
        let deferred = req.extensions.get::<DeferredError>().cloned();
        let input = req.input;
        // The body is read before any error answer (see `DeferredError`).
        let bytes = read_body(input.body, self.shared.max_object_bytes).await?;
        if let Some(DeferredError(answer)) = deferred {
            return Err(answer.to_s3_error());
        }
        if self.shared.store().bucket(&input.bucket).is_none() {
            return Err(no_such_bucket());
        }
        let metadata: BTreeMap<String, String> =
            input.metadata.unwrap_or_default().into_iter().collect();
        let object = StoredObject::new(bytes, metadata, input.content_type, self.shared.now());
        let output = PutObjectOutput {
            e_tag: Some(etag(&object)),
            ..Default::default()
        };
        if fault != Some(R2FaultEffect::LostWrite) {
            let mut store = self.shared.store();
            let bucket = store.bucket_mut(&input.bucket).ok_or_else(no_such_bucket)?;
            bucket.objects.insert(input.key, object);
        }
        if fault == Some(R2FaultEffect::CommitThenReset) {
            return reset_after_commit(&req.extensions).await;
        }
        Ok(S3Response::new(output))
    }

    async fn get_object(
        &self,
        req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        let fault = fired(&req);
        let input = &req.input;
        let object = {
            let store = self.shared.store();
            let bucket = store.bucket(&input.bucket).ok_or_else(no_such_bucket)?;
            bucket
                .objects
                .get(&input.key)
                .cloned()
                .ok_or_else(no_such_key)?
        };
        let full_len = object.bytes.len() as u64;
        let (mut body, content_range) = match input.range {
            None => (object.bytes.clone(), None),
            Some(range) => {
                let r = range
                    .check(full_len)
                    .map_err(|_| S3Error::new(S3ErrorCode::InvalidRange))?;
                let slice = object.bytes.slice(r.start as usize..r.end as usize);
                let header = format!("bytes {}-{}/{}", r.start, r.end.saturating_sub(1), full_len);
                (slice, Some(header))
            }
        };
        let mut declared_len = body.len();
        let mut cut_off = false;
        match fault {
            Some(R2FaultEffect::TruncatedBody) => {
                body = body.slice(..body.len() / 2);
                declared_len = body.len();
            }
            Some(R2FaultEffect::CorruptedBody) => {
                let mut bytes = body.to_vec();
                match bytes.get_mut(body.len() / 2) {
                    Some(b) => *b = !*b,
                    None => bytes.push(0),
                }
                body = Bytes::from(bytes);
                declared_len = body.len();
            }
            Some(R2FaultEffect::ResetMidBody) => {
                body = body.slice(..body.len() / 2);
                cut_off = true;
            }
            Some(R2FaultEffect::CommitThenReset) => {
                return reset_after_commit(&req.extensions).await;
            }
            _ => {}
        }
        let blob = if cut_off {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(body),
                Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "fake r2: reset mid-body (fault)",
                )),
            ];
            StreamingBlob::wrap(futures::stream::iter(chunks))
        } else {
            StreamingBlob::from(s3s::Body::from(body))
        };
        let output = GetObjectOutput {
            body: Some(blob),
            content_length: Some(declared_len as i64),
            content_range,
            accept_ranges: Some("bytes".to_owned()),
            content_type: object.content_type.clone(),
            e_tag: Some(etag(&object)),
            last_modified: Some(timestamp(object.last_modified)),
            metadata: Some(object.metadata.clone().into_iter().collect()),
            ..Default::default()
        };
        let mut response = S3Response::new(output);
        if input.range.is_some() {
            response.status = Some(http::StatusCode::PARTIAL_CONTENT);
        }
        Ok(response)
    }

    async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let fault = fired(&req);
        let input = &req.input;
        let object = {
            let store = self.shared.store();
            let bucket = store.bucket(&input.bucket).ok_or_else(no_such_bucket)?;
            // HEAD has no body: the SDK sees a bare 404 and reports `NotFound`.
            bucket
                .objects
                .get(&input.key)
                .cloned()
                .ok_or_else(no_such_key)?
        };
        if fault == Some(R2FaultEffect::CommitThenReset) {
            return reset_after_commit(&req.extensions).await;
        }
        Ok(S3Response::new(HeadObjectOutput {
            content_length: Some(object.bytes.len() as i64),
            accept_ranges: Some("bytes".to_owned()),
            content_type: object.content_type.clone(),
            e_tag: Some(etag(&object)),
            last_modified: Some(timestamp(object.last_modified)),
            metadata: Some(object.metadata.into_iter().collect()),
            ..Default::default()
        }))
    }

    async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let fault = fired(&req);
        let input = &req.input;
        let max_keys = input.max_keys.unwrap_or(MAX_KEYS).clamp(0, MAX_KEYS);
        let prefix = input.prefix.clone().unwrap_or_default();
        let url_encoded = input
            .encoding_type
            .as_ref()
            .is_some_and(|e| e.as_str() == "url");
        let encode = |s: &str| {
            if url_encoded {
                url_encode(s)
            } else {
                s.to_owned()
            }
        };
        let (page, objects) = {
            let store = self.shared.store();
            let bucket = store.bucket(&input.bucket).ok_or_else(no_such_bucket)?;
            let page = list_page(
                &bucket.objects,
                &ListQuery {
                    prefix: &prefix,
                    delimiter: input.delimiter.as_deref(),
                    start_after: input.start_after.as_deref(),
                    continuation_token: input.continuation_token.as_deref(),
                    max_keys: usize::try_from(max_keys).unwrap_or(0),
                },
            )
            .map_err(|_| {
                S3Error::with_message(
                    S3ErrorCode::InvalidArgument,
                    "The continuation token provided is incorrect",
                )
            })?;
            let objects: Vec<Object> = page
                .keys
                .iter()
                .filter_map(|k| {
                    let o = bucket.objects.get(k)?;
                    Some(Object {
                        key: Some(encode(k)),
                        size: Some(o.bytes.len() as i64),
                        e_tag: Some(etag(o)),
                        last_modified: Some(timestamp(o.last_modified)),
                        storage_class: Some(s3s::dto::ObjectStorageClass::from_static(
                            s3s::dto::ObjectStorageClass::STANDARD,
                        )),
                        ..Default::default()
                    })
                })
                .collect();
            (page, objects)
        };
        if fault == Some(R2FaultEffect::CommitThenReset) {
            return reset_after_commit(&req.extensions).await;
        }
        let key_count = objects.len() + page.common_prefixes.len();
        let common_prefixes: Vec<CommonPrefix> = page
            .common_prefixes
            .iter()
            .map(|p| CommonPrefix {
                prefix: Some(encode(p)),
            })
            .collect();
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket.clone()),
            prefix: Some(encode(&prefix)),
            delimiter: input.delimiter.as_deref().map(encode),
            start_after: input.start_after.as_deref().map(encode),
            encoding_type: input.encoding_type.clone(),
            max_keys: Some(max_keys),
            key_count: Some(i32::try_from(key_count).unwrap_or(i32::MAX)),
            continuation_token: input.continuation_token.clone(),
            is_truncated: Some(page.next_token.is_some()),
            next_continuation_token: page.next_token,
            contents: (!objects.is_empty()).then_some(objects),
            common_prefixes: (!common_prefixes.is_empty()).then_some(common_prefixes),
            ..Default::default()
        }))
    }

    async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let fault = fired(&req);
        let input = &req.input;
        {
            let mut store = self.shared.store();
            let bucket = store.bucket_mut(&input.bucket).ok_or_else(no_such_bucket)?;
            // S3 answers 204 whether or not the key existed.
            if fault != Some(R2FaultEffect::LostWrite) {
                bucket.objects.remove(&input.key);
            }
        }
        if fault == Some(R2FaultEffect::CommitThenReset) {
            return reset_after_commit(&req.extensions).await;
        }
        Ok(S3Response::new(DeleteObjectOutput::default()))
    }

    async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let fault = fired(&req);
        let input = &req.input;
        let CopySource::Bucket {
            bucket: src_bucket,
            key: src_key,
            ..
        } = &input.copy_source
        else {
            return Err(S3Error::with_message(
                S3ErrorCode::NotImplemented,
                "only bucket/key copy sources are supported",
            ));
        };
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == MetadataDirective::REPLACE);
        let now = self.shared.now();
        let object = {
            let mut store = self.shared.store();
            if store.bucket(&input.bucket).is_none() {
                return Err(no_such_bucket());
            }
            let source = store
                .bucket(src_bucket)
                .ok_or_else(no_such_bucket)?
                .objects
                .get(&**src_key)
                .cloned()
                .ok_or_else(no_such_key)?;
            let (metadata, content_type) = if replace {
                (
                    input
                        .metadata
                        .clone()
                        .unwrap_or_default()
                        .into_iter()
                        .collect(),
                    input.content_type.clone(),
                )
            } else {
                (source.metadata, source.content_type)
            };
            let object = StoredObject::new(source.bytes, metadata, content_type, now);
            if fault != Some(R2FaultEffect::LostWrite) {
                store
                    .bucket_mut(&input.bucket)
                    .ok_or_else(no_such_bucket)?
                    .objects
                    .insert(input.key.clone(), object.clone());
            }
            object
        };
        if fault == Some(R2FaultEffect::CommitThenReset) {
            return reset_after_commit(&req.extensions).await;
        }
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(CopyObjectResult {
                e_tag: Some(etag(&object)),
                last_modified: Some(timestamp(object.last_modified)),
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let now = self.shared.now();
        if !self.shared.store().create_bucket(&req.input.bucket, now) {
            return Err(S3Error::with_message(
                S3ErrorCode::BucketAlreadyOwnedByYou,
                "Your previous request to create the named bucket succeeded and you already own it.",
            ));
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{}", req.input.bucket)),
        }))
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        if self.shared.store().bucket(&req.input.bucket).is_none() {
            return Err(no_such_bucket());
        }
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(super::REGION.to_owned()),
            ..Default::default()
        }))
    }

    async fn list_buckets(
        &self,
        _req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let buckets: Vec<Bucket> = self
            .shared
            .store()
            .buckets
            .iter()
            .map(|(name, b)| Bucket {
                name: Some(name.clone()),
                creation_date: Some(timestamp(b.created)),
                ..Default::default()
            })
            .collect();
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            ..Default::default()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::url_encode;

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved_characters() {
        assert_eq!(url_encode("a/b-c_d.e~f"), "a/b-c_d.e~f");
        assert_eq!(url_encode("a b+c"), "a%20b%2Bc");
        assert_eq!(url_encode("é"), "%C3%A9");
    }
}
