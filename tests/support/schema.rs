//! The `--json` documents checked against `schemas/*.schema.json` with Debian's
//! `python3-jsonschema` (JSON Schema draft 2020-12; `scripts/test.sh` installs it).
//!
//! Why not a Rust validator crate: every one (`jsonschema`, `boon`, ...) needs
//! proc-macro crates (serde's derive, `strum`, ICU's derives through `url`), and the
//! workspace builds for the host with `+crt-static` (`.cargo/config.toml`), with
//! which rustc cannot build a proc-macro. The validator runs once per batch of
//! documents.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The schema file `schemas/<name>.schema.json`.
pub fn schema_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{name}.schema.json"))
}

const CHECK: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema = json.load(open(sys.argv[1]))
Draft202012Validator.check_schema(schema)
v = Draft202012Validator(schema)
names = open(sys.argv[3], encoding="utf-8", errors="replace").read().split("\n")
bad = 0
for i, line in enumerate(open(sys.argv[2], "rb").read().split(b"\n")):
    if not line:
        continue
    doc = json.loads(line)
    errs = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errs:
        bad += 1
        if bad <= 5:
            print(names[i] + ":")
            for e in errs[:3]:
                print("  at", list(e.absolute_path), ":", e.message[:300])
print("checked", i + 1, "bad", bad)
sys.exit(1 if bad else 0)
"#;

/// Check that each document is one line of JSON ending in a newline, parses, and is
/// valid against schema `name`; panics listing the first invalid ones.
pub fn validate(name: &str, docs: &[(String, Vec<u8>)]) {
    if docs.is_empty() {
        return;
    }
    let tmp = super::TempDir::new("schema");
    let mut lines = Vec::new();
    let mut names = String::new();
    for (what, doc) in docs {
        let body = doc
            .strip_suffix(b"\n")
            .unwrap_or_else(|| panic!("{what}: the document does not end in a newline"));
        assert!(
            !body.contains(&b'\n'),
            "{what}: the document is not one line"
        );
        if let Err(e) = serde_json::from_slice::<serde_json::Value>(body) {
            panic!(
                "{what}: not JSON ({e}): {}",
                String::from_utf8_lossy(&body[..body.len().min(500)])
            );
        }
        lines.extend_from_slice(body);
        lines.push(b'\n');
        names.push_str(&what.replace('\n', " "));
        names.push('\n');
    }
    let (d, n) = (tmp.path().join("docs"), tmp.path().join("names"));
    std::fs::write(&d, &lines).unwrap();
    std::fs::write(&n, &names).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg("-c")
        .arg(CHECK)
        .arg(schema_path(name))
        .arg(&d)
        .arg(&n)
        .output()
        .expect("/usr/bin/python3 (with python3-jsonschema) is needed to check the schemas");
    assert!(
        out.status.success(),
        "{name}: documents not valid against the schema:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Documents waiting to be validated, by schema (for helpers called many times per
/// test, such as the depmod comparisons): [`validate_pending`] checks them.
static PENDING: Mutex<Vec<(String, String, Vec<u8>)>> = Mutex::new(Vec::new());

/// Keep `doc` (schema `name`) for [`validate_pending`].
pub fn defer(name: &str, what: String, doc: Vec<u8>) {
    PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push((name.to_string(), what, doc));
}

/// Validate every document kept so far (see [`defer`]).
pub fn validate_pending() {
    let all = std::mem::take(
        &mut *PENDING
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner),
    );
    let mut names: Vec<String> = all.iter().map(|(n, _, _)| n.clone()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let docs: Vec<(String, Vec<u8>)> = all
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, w, d)| (w.clone(), d.clone()))
            .collect();
        validate(&name, &docs);
    }
}

/// A document parsed (it was validated or will be).
pub fn parse(doc: &[u8]) -> serde_json::Value {
    serde_json::from_slice(doc).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}",
            String::from_utf8_lossy(&doc[..doc.len().min(500)])
        )
    })
}

/// A `bytes` value as bytes: a string, or `{"hex": ...}`.
pub fn bytes(v: &serde_json::Value) -> Vec<u8> {
    if let Some(s) = v.as_str() {
        return s.as_bytes().to_vec();
    }
    let h = v["hex"].as_str().expect("bytes: a string or {hex}");
    (0..h.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap())
        .collect()
}

/// A `bytes` value as text (lossy), for comparisons with text output.
pub fn text(v: &serde_json::Value) -> String {
    String::from_utf8_lossy(&bytes(v)).into_owned()
}
