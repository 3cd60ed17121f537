//! The history of a run: one JSON object per event, in the order the runner observed them.
//!
//! Kinds follow Jepsen's vocabulary for calls — `invoke`, then `ok` (it happened), `fail` (it was
//! refused) or `info` (outcome unknown: a timeout, a dropped connection) — plus `step` (the
//! scenario's own steps), `event` (fake-side and host events, reconciler passes) and `fault` (a
//! fault that fired). Each record carries the simulated time, never the wall clock.
//!
//! Normalisation makes two runs of one seed comparable byte for byte: loopback ports become
//! `<port>`, temporary paths `<tmp>` and dump sizes `<size>`; nothing measured in wall time is
//! recorded at all.

use std::path::Path;
use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Step,
    Invoke,
    Ok,
    Fail,
    Info,
    Event,
    Fault,
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub seq: usize,
    /// Simulated time (the harness clock), set by the runner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<DateTime<Utc>>,
    pub kind: Kind,
    /// Who acted: `operator`, `host/<server id>`, `reconciler`, `hetzner`, `r2`, `runner`.
    pub process: String,
    pub what: String,
    pub detail: Value,
}

/// Records of one run. The clock is read through `now` so records carry simulated time.
#[derive(Default)]
pub struct History {
    records: Vec<Record>,
    now: Option<Box<dyn Fn() -> DateTime<Utc> + Send>>,
}

/// Records kept per run; beyond it the history says it was cut (bounds memory).
pub const MAX_RECORDS: usize = 500_000;

impl History {
    pub fn with_clock(now: impl Fn() -> DateTime<Utc> + Send + 'static) -> Self {
        History {
            records: Vec::new(),
            now: Some(Box::new(now)),
        }
    }

    pub fn record(&mut self, kind: Kind, process: &str, what: &str, detail: Value) {
        if self.records.len() >= MAX_RECORDS {
            return;
        }
        let seq = self.records.len();
        self.records.push(Record {
            seq,
            at: self.now.as_ref().map(|f| f()),
            kind,
            process: process.to_owned(),
            what: what.to_owned(),
            detail,
        });
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// JSON lines, normalised (see the module doc).
    pub fn normalised_lines(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| {
                normalise(&serde_json::to_string(r).unwrap_or_else(|_| json!(null).to_string()))
            })
            .collect()
    }
}

static PORT: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"(127\.0\.0\.1|localhost):\d+").expect("valid regex"));
static TMP: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"/tmp/[A-Za-z0-9_.\-/]+").expect("valid regex"));

static SIZE: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r#""sizeBytes":\d+"#).expect("valid regex"));

/// Replaces what differs between two runs of the same seed (ports, temporary paths) or between
/// machines (the byte size of a real `pg_dump`, which depends on the Postgres version).
pub fn normalise(line: &str) -> String {
    let line = PORT.replace_all(line, "$1:<port>");
    let line = TMP.replace_all(&line, "<tmp>");
    SIZE.replace_all(&line, r#""sizeBytes":"<size>""#)
        .into_owned()
}

/// Writes `lines` to `dir/<name>.jsonl`, creating `dir`. Returns the path.
pub fn write(dir: &Path, name: &str, lines: &[String]) -> std::io::Result<std::path::PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{name}.jsonl"));
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&path, text)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_hides_ports_and_temporary_paths() {
        assert_eq!(
            normalise(r#"{"url":"http://127.0.0.1:43121/v1","disk":"/tmp/.tmpAb12/host-1"}"#),
            r#"{"url":"http://127.0.0.1:<port>/v1","disk":"<tmp>"}"#
        );
    }
}
