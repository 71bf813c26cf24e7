//! The `--json` documents checked against `schemas/*.schema.json` with the
//! `jsonschema` crate (JSON Schema draft 2020-12, as the schemas declare).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// The schema file `schemas/<name>.schema.json`.
pub fn schema_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schemas")
        .join(format!("{name}.schema.json"))
}

/// The validator of schema `name`, built once (the schema itself checked against
/// the draft's meta-schema first).
fn validator(name: &str) -> Arc<jsonschema::Validator> {
    static CACHE: Mutex<Option<HashMap<String, Arc<jsonschema::Validator>>>> = Mutex::new(None);
    let mut cache = CACHE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(v) = cache.get(name) {
        return Arc::clone(v);
    }
    let path = schema_path(name);
    let schema: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap())
        .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    if let Err(e) = jsonschema::meta::validate(&schema) {
        panic!("{}: not a valid schema: {e}", path.display());
    }
    let v = Arc::new(
        jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    );
    cache.insert(name.to_string(), Arc::clone(&v));
    v
}

/// Check that each document is one line of JSON ending in a newline, parses, and is
/// valid against schema `name`; panics listing the first invalid ones.
pub fn validate(name: &str, docs: &[(String, Vec<u8>)]) {
    let v = validator(name);
    let mut report = String::new();
    let mut bad = 0;
    for (what, doc) in docs {
        let body = doc
            .strip_suffix(b"\n")
            .unwrap_or_else(|| panic!("{what}: the document does not end in a newline"));
        assert!(
            !body.contains(&b'\n'),
            "{what}: the document is not one line"
        );
        let value = parse(body);
        let errors: Vec<String> = v
            .iter_errors(&value)
            .take(3)
            .map(|e| format!("  at {}: {e}", e.instance_path()))
            .collect();
        if !errors.is_empty() {
            bad += 1;
            if bad <= 5 {
                let _ = writeln!(report, "{what}:\n{}", errors.join("\n"));
            }
        }
    }
    assert!(
        bad == 0,
        "{name}: {bad} of {} documents not valid against the schema:\n{report}",
        docs.len()
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
    for (name, what, doc) in all {
        validate(&name, &[(what, doc)]);
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
