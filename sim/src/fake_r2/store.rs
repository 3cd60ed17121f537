//! The fake R2's state: buckets of objects in sorted maps, and the ListObjectsV2 paging rules.
//!
//! Kept free of HTTP and s3s types so that the listing rules (prefix, delimiter, start-after,
//! max-keys, continuation tokens) are unit-tested on their own.
//!
//! Continuation tokens are opaque to clients, as in S3: the hex encoding of a kind byte (`k` for an
//! object key, `p` for a common prefix) followed by the last entry of the previous page. Resuming
//! after a common prefix skips every key under it, so a rolled-up prefix is never listed twice.

use std::collections::BTreeMap;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};

/// One stored object, as the fake keeps it and as [`super::FakeR2::get`] returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub bytes: Bytes,
    /// User metadata (`x-amz-meta-<name>` headers), names lowercased without the prefix.
    pub metadata: BTreeMap<String, String>,
    pub content_type: Option<String>,
    /// Harness-clock time of the write.
    pub last_modified: DateTime<Utc>,
    /// The quoted-less hex MD5 of the body, as S3 computes it for a single PUT.
    pub etag: String,
}

impl StoredObject {
    pub fn new(
        bytes: Bytes,
        metadata: BTreeMap<String, String>,
        content_type: Option<String>,
        last_modified: DateTime<Utc>,
    ) -> Self {
        let etag = hex::encode(Md5::digest(&bytes));
        StoredObject {
            bytes,
            metadata,
            content_type,
            last_modified,
            etag,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Bucket {
    pub(crate) created: DateTime<Utc>,
    pub(crate) objects: BTreeMap<String, StoredObject>,
}

/// Every bucket, by name.
#[derive(Debug, Default)]
pub(crate) struct Store {
    pub(crate) buckets: BTreeMap<String, Bucket>,
}

impl Store {
    /// Creates `name` unless it exists; returns whether it was created.
    pub(crate) fn create_bucket(&mut self, name: &str, now: DateTime<Utc>) -> bool {
        if self.buckets.contains_key(name) {
            return false;
        }
        self.buckets.insert(
            name.to_owned(),
            Bucket {
                created: now,
                objects: BTreeMap::new(),
            },
        );
        true
    }

    pub(crate) fn bucket(&self, name: &str) -> Option<&Bucket> {
        self.buckets.get(name)
    }

    pub(crate) fn bucket_mut(&mut self, name: &str) -> Option<&mut Bucket> {
        self.buckets.get_mut(name)
    }
}

/// The parameters of one ListObjectsV2 page.
#[derive(Debug, Default, Clone)]
pub(crate) struct ListQuery<'a> {
    pub(crate) prefix: &'a str,
    pub(crate) delimiter: Option<&'a str>,
    pub(crate) start_after: Option<&'a str>,
    pub(crate) continuation_token: Option<&'a str>,
    /// Already clamped to 0..=1000 by the caller.
    pub(crate) max_keys: usize,
}

/// One ListObjectsV2 page.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ListPage {
    /// Keys of the objects listed, in order.
    pub(crate) keys: Vec<String>,
    /// Rolled-up prefixes (with a delimiter), in order.
    pub(crate) common_prefixes: Vec<String>,
    /// Set when more entries follow.
    pub(crate) next_token: Option<String>,
}

/// The continuation token does not decode: S3 answers `400 InvalidArgument`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct InvalidToken;

enum Marker {
    /// Resume after this key.
    Key(String),
    /// Resume after every key under this rolled-up prefix.
    Prefix(String),
}

fn encode_token(marker: &Marker) -> String {
    let (kind, value) = match marker {
        Marker::Key(k) => (b'k', k),
        Marker::Prefix(p) => (b'p', p),
    };
    let mut raw = vec![kind];
    raw.extend_from_slice(value.as_bytes());
    hex::encode(raw)
}

fn decode_token(token: &str) -> Result<Marker, InvalidToken> {
    let raw = hex::decode(token).map_err(|_| InvalidToken)?;
    let (&kind, rest) = raw.split_first().ok_or(InvalidToken)?;
    let value = String::from_utf8(rest.to_vec()).map_err(|_| InvalidToken)?;
    match kind {
        b'k' => Ok(Marker::Key(value)),
        b'p' => Ok(Marker::Prefix(value)),
        _ => Err(InvalidToken),
    }
}

enum Entry {
    Key(String),
    Prefix(String),
}

/// One page of `objects` for `query`. A continuation token takes precedence over `start_after`,
/// as in S3.
pub(crate) fn list_page(
    objects: &BTreeMap<String, StoredObject>,
    query: &ListQuery<'_>,
) -> Result<ListPage, InvalidToken> {
    let marker = match query.continuation_token {
        Some(token) => Some(decode_token(token)?),
        None => query.start_after.map(|s| Marker::Key(s.to_owned())),
    };
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let after = |key: &str| match &marker {
        None => true,
        Some(Marker::Key(k)) => key > k.as_str(),
        Some(Marker::Prefix(p)) => key > p.as_str() && !key.starts_with(p.as_str()),
    };

    // Entries in key order; consecutive keys under one rolled-up prefix yield it once. The walk
    // stops one entry past the page, which is all it needs to know whether more follow.
    let mut entries: Vec<Entry> = Vec::new();
    let mut last_prefix: Option<String> = None;
    for key in objects
        .keys()
        .filter(|k| k.starts_with(query.prefix) && after(k))
    {
        let rolled_up = delimiter.and_then(|d| {
            let rest = &key[query.prefix.len()..];
            rest.find(d)
                .map(|i| key[..query.prefix.len() + i + d.len()].to_owned())
        });
        match rolled_up {
            Some(p) if last_prefix.as_deref() == Some(p.as_str()) => continue,
            Some(p) => {
                last_prefix = Some(p.clone());
                entries.push(Entry::Prefix(p));
            }
            None => entries.push(Entry::Key(key.clone())),
        }
        if entries.len() > query.max_keys {
            break;
        }
    }

    let truncated = query.max_keys > 0 && entries.len() > query.max_keys;
    entries.truncate(query.max_keys);
    let next_token = if truncated {
        entries.last().map(|e| {
            encode_token(&match e {
                Entry::Key(k) => Marker::Key(k.clone()),
                Entry::Prefix(p) => Marker::Prefix(p.clone()),
            })
        })
    } else {
        None
    };
    let mut page = ListPage {
        keys: Vec::new(),
        common_prefixes: Vec::new(),
        next_token,
    };
    for entry in entries {
        match entry {
            Entry::Key(k) => page.keys.push(k),
            Entry::Prefix(p) => page.common_prefixes.push(p),
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(keys: &[&str]) -> BTreeMap<String, StoredObject> {
        keys.iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    StoredObject::new(
                        Bytes::from_static(b"x"),
                        BTreeMap::new(),
                        None,
                        DateTime::<Utc>::UNIX_EPOCH,
                    ),
                )
            })
            .collect()
    }

    fn query(max_keys: usize) -> ListQuery<'static> {
        ListQuery {
            max_keys,
            ..Default::default()
        }
    }

    /// Follows tokens to the end (bounded), collecting keys and prefixes.
    fn all_pages(
        objects: &BTreeMap<String, StoredObject>,
        q: &ListQuery<'_>,
    ) -> (Vec<String>, Vec<String>, usize) {
        let (mut keys, mut prefixes) = (Vec::new(), Vec::new());
        let mut token: Option<String> = None;
        for pages in 1..=100 {
            let page = list_page(
                objects,
                &ListQuery {
                    continuation_token: token.as_deref(),
                    ..q.clone()
                },
            )
            .unwrap();
            keys.extend(page.keys);
            prefixes.extend(page.common_prefixes);
            match page.next_token {
                Some(t) => token = Some(t),
                None => return (keys, prefixes, pages),
            }
        }
        panic!("listing did not end within 100 pages");
    }

    #[test]
    fn pages_follow_tokens_and_cover_every_key_once() {
        let objs = objects(&["a", "b", "c", "d", "e"]);
        let (keys, _, pages) = all_pages(&objs, &query(2));
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(pages, 3);
        // Exactly a full page: no token on the last one.
        let (_, _, pages) = all_pages(&objects(&["a", "b"]), &query(2));
        assert_eq!(pages, 1);
    }

    #[test]
    fn prefix_and_start_after_narrow_the_listing() {
        let objs = objects(&["x/1", "x/2", "x/3", "y/1"]);
        let page = list_page(
            &objs,
            &ListQuery {
                prefix: "x/",
                start_after: Some("x/1"),
                ..query(1000)
            },
        )
        .unwrap();
        assert_eq!(page.keys, ["x/2", "x/3"]);
        assert_eq!(page.next_token, None);
    }

    #[test]
    fn a_delimiter_rolls_up_prefixes_once_across_pages() {
        let objs = objects(&["a/1", "a/2", "a/3", "b", "c/1", "c/2", "d"]);
        let q = ListQuery {
            delimiter: Some("/"),
            ..query(1)
        };
        let (keys, prefixes, pages) = all_pages(&objs, &q);
        assert_eq!(keys, ["b", "d"]);
        assert_eq!(prefixes, ["a/", "c/"]);
        assert_eq!(pages, 4);
    }

    #[test]
    fn a_key_equal_to_the_prefix_is_an_object_not_a_rollup() {
        let objs = objects(&["p/", "p/a", "p/b/c"]);
        let q = ListQuery {
            prefix: "p/",
            delimiter: Some("/"),
            ..query(1)
        };
        let (keys, prefixes, _) = all_pages(&objs, &q);
        assert_eq!(keys, ["p/", "p/a"]);
        assert_eq!(prefixes, ["p/b/"]);
    }

    #[test]
    fn garbage_tokens_are_rejected() {
        let objs = objects(&["a"]);
        for token in ["zz", "", "78", "6bff"] {
            let q = ListQuery {
                continuation_token: Some(token),
                ..query(10)
            };
            assert_eq!(list_page(&objs, &q), Err(InvalidToken), "{token:?}");
        }
    }

    #[test]
    fn etag_is_the_md5_of_the_body() {
        let o = StoredObject::new(
            Bytes::from_static(b"abc"),
            BTreeMap::new(),
            None,
            DateTime::<Utc>::UNIX_EPOCH,
        );
        assert_eq!(o.etag, "900150983cd24fb0d6963f7d28e17f72");
    }
}
