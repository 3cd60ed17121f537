//! The gate every signed request passes before its operation runs: s3s's access hook
//! ([`S3Access::check`]), which s3s calls after it has verified the SigV4 signature and resolved
//! the operation, and before it reads the body.
//!
//! Authentication is [`KeyAuth`]'s; s3s verifies the signature with the secret it returns.
//!
//! Order: note the operation for the log → reject unsigned requests (403 AccessDenied) → the R2
//! compatibility mode ([`R2Compat`], 501 NotImplemented) → fault rules. A request with a bad
//! signature never gets here: s3s answers it with 403 `SignatureDoesNotMatch` (or
//! `InvalidAccessKeyId` / `NotSignedUp` for an unknown key), so it neither counts for nor
//! triggers a fault.
//!
//! Effects that act inside an operation (lost write, body corruption, commit-then-reset) are
//! handed over as a [`FiredFault`] request extension, which s3s passes on to the operation. So are
//! error answers to a PutObject ([`DeferredError`]): the operation reads the body before answering.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::path::S3Path;
use s3s::{S3Error, S3ErrorCode, S3Result};

use super::faults::{R2FaultEffect, R2Op};
use super::transport::{ConnectionKill, RequestNote};
use super::{R2Compat, Shared};

/// The fault that fired on a request, for the operation to act on.
#[derive(Clone, Debug)]
pub(crate) struct FiredFault(pub(crate) R2FaultEffect);

/// An error answer, as data (an `S3Error` is not `Clone`).
#[derive(Clone, Debug)]
pub(crate) struct ErrorAnswer {
    status: u16,
    code: String,
    message: String,
}

impl ErrorAnswer {
    pub(crate) fn to_s3_error(&self) -> S3Error {
        let code =
            S3ErrorCode::from_bytes(self.code.as_bytes()).unwrap_or(S3ErrorCode::InternalError);
        let mut err = S3Error::with_message(code, self.message.clone());
        err.set_status_code(
            http::StatusCode::from_u16(self.status)
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR),
        );
        err
    }
}

/// An error the gate chose for a PutObject, whose body is still unread when the gate runs. Answered
/// at once, hyper would close the connection while the client is still sending, and the client
/// could see a reset instead of the answer; so the operation reads (drains) the body, then answers
/// this.
#[derive(Clone, Debug)]
pub(crate) struct DeferredError(pub(crate) ErrorAnswer);

/// The one access key the fake accepts. Unlike s3s's `SimpleAuth` (`NotSignedUp`), an unknown
/// key gets S3's own answer, `403 InvalidAccessKeyId`.
pub(crate) struct KeyAuth {
    pub(crate) access_key_id: String,
    pub(crate) secret_access_key: String,
}

#[async_trait::async_trait]
impl S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == self.access_key_id {
            Ok(SecretKey::from(self.secret_access_key.as_str()))
        } else {
            Err(S3Error::with_message(
                S3ErrorCode::InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records.",
            ))
        }
    }
}

pub(crate) struct Gate {
    pub(crate) shared: Arc<Shared>,
}

#[async_trait::async_trait]
impl S3Access for Gate {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op_name = cx.s3_op().name().to_owned();
        let (bucket, key) = match cx.s3_path() {
            S3Path::Root => (None, None),
            S3Path::Bucket { bucket } => (Some(bucket.to_string()), None),
            S3Path::Object { bucket, key } => (Some(bucket.to_string()), Some(key.to_string())),
        };
        let note = cx.extensions_mut().get::<RequestNote>().cloned();
        if let Some(note) = &note {
            note.update(|n| {
                n.op = Some(op_name.clone());
                n.bucket = bucket.clone();
                n.key = key.clone();
            });
        }

        if cx.credentials().is_none() {
            return Err(S3Error::with_message(
                S3ErrorCode::AccessDenied,
                "Signature is required",
            ));
        }

        let op = R2Op::from_s3s_name(&op_name);
        let defer = op == Some(R2Op::PutObject);
        if let Some(reason) = self.shared.compat().rejects(cx.headers()) {
            if let Some(note) = &note {
                note.update(|n| n.fault = Some(format!("compat {reason}")));
            }
            let answer = ErrorAnswer {
                status: 501,
                code: "NotImplemented".into(),
                message: format!("{reason} is not implemented"),
            };
            return answer_with(cx, answer, defer);
        }

        // A listing is matched by its `prefix` parameter, everything else by its object key.
        let fault_key = match op {
            Some(R2Op::ListObjectsV2) => Some(list_prefix(cx.uri().query())),
            _ => key,
        };
        let invocation = cx
            .headers()
            .get("amz-sdk-invocation-id")
            .and_then(|v| v.to_str().ok());
        let Some(effect) = self
            .shared
            .faults()
            .decide(op, fault_key.as_deref(), invocation)
        else {
            return Ok(());
        };
        tracing::debug!(op = %op_name, fault = %effect.label(), "fake r2: fault fired");
        if let Some(note) = &note {
            note.update(|n| n.fault = Some(effect.label()));
        }
        match effect {
            R2FaultEffect::Error { status, code } => {
                let answer = ErrorAnswer {
                    status,
                    code,
                    message: "injected fault".into(),
                };
                answer_with(cx, answer, defer)
            }
            R2FaultEffect::Latency(delay) => {
                tokio::time::sleep(delay).await;
                Ok(())
            }
            R2FaultEffect::Reset => match cx.extensions_mut().get::<ConnectionKill>() {
                Some(kill) => {
                    kill.fire();
                    // The connection task drops this future together with the connection.
                    std::future::pending().await
                }
                None => Err(S3Error::new(S3ErrorCode::InternalError)),
            },
            effect @ (R2FaultEffect::CommitThenReset
            | R2FaultEffect::LostWrite
            | R2FaultEffect::TruncatedBody
            | R2FaultEffect::CorruptedBody
            | R2FaultEffect::ResetMidBody) => {
                cx.extensions_mut().insert(FiredFault(effect));
                Ok(())
            }
        }
    }
}

/// Answers `answer` now, or (`defer`) after the operation has read the request body.
fn answer_with(cx: &mut S3AccessContext<'_>, answer: ErrorAnswer, defer: bool) -> S3Result<()> {
    if defer {
        cx.extensions_mut().insert(DeferredError(answer));
        Ok(())
    } else {
        Err(answer.to_s3_error())
    }
}

/// The decoded `prefix` query parameter of a listing ("" when absent).
fn list_prefix(query: Option<&str>) -> String {
    query
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "prefix")
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default()
}

impl R2Compat {
    /// Why old or current R2 would refuse a request with these headers, if it would.
    pub(crate) fn rejects(self, headers: &http::HeaderMap) -> Option<&'static str> {
        let content_sha256 = headers
            .get("x-amz-content-sha256")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let signed_streaming = content_sha256.starts_with("STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
        match self {
            R2Compat::Permissive => None,
            R2Compat::NoSignedStreaming => {
                signed_streaming.then_some("signed aws-chunked streaming upload")
            }
            R2Compat::OldR2 => {
                let checksum_header = headers.keys().any(|name| {
                    let name = name.as_str();
                    name.starts_with("x-amz-checksum-")
                        || name == "x-amz-sdk-checksum-algorithm"
                        || name == "x-amz-trailer"
                });
                let aws_chunked = content_sha256.starts_with("STREAMING-")
                    || headers
                        .get_all(http::header::CONTENT_ENCODING)
                        .iter()
                        .any(|v| v.to_str().is_ok_and(|v| v.contains("aws-chunked")));
                if checksum_header {
                    Some("x-amz-checksum")
                } else if aws_chunked {
                    Some("aws-chunked upload")
                } else {
                    None
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    http::HeaderName::from_static(k),
                    http::HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn compat_modes_reject_what_each_r2_generation_rejects() {
        let plain = headers(&[("x-amz-content-sha256", "abc")]);
        let crc = headers(&[("x-amz-checksum-crc32", "AAAAAA==")]);
        let get_mode = headers(&[("x-amz-checksum-mode", "ENABLED")]);
        let unsigned_trailer = headers(&[
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
            ("content-encoding", "aws-chunked"),
        ]);
        let signed = headers(&[(
            "x-amz-content-sha256",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        )]);
        for h in [&plain, &crc, &get_mode, &unsigned_trailer, &signed] {
            assert_eq!(R2Compat::Permissive.rejects(h), None);
        }
        assert_eq!(R2Compat::NoSignedStreaming.rejects(&plain), None);
        assert_eq!(R2Compat::NoSignedStreaming.rejects(&crc), None);
        assert_eq!(R2Compat::NoSignedStreaming.rejects(&unsigned_trailer), None);
        assert!(R2Compat::NoSignedStreaming.rejects(&signed).is_some());
        assert_eq!(R2Compat::OldR2.rejects(&plain), None);
        for h in [&crc, &get_mode, &unsigned_trailer, &signed] {
            assert!(R2Compat::OldR2.rejects(h).is_some(), "{h:?}");
        }
    }

    #[test]
    fn listing_prefixes_are_decoded_from_the_query() {
        assert_eq!(list_prefix(Some("list-type=2&prefix=a%2Fb%20c")), "a/b c");
        assert_eq!(list_prefix(Some("list-type=2")), "");
        assert_eq!(list_prefix(None), "");
    }
}
