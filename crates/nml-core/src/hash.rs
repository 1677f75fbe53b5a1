//! Content hashes (blake3) that later stages use as cache keys.
//!
//! A key covers everything that determines an output: input file bytes,
//! the stage config as canonical JSON (object keys sorted, so field order in
//! code never changes a key) and a domain string naming the stage.
//! Parts are length-prefixed, so two different part lists never collide by
//! concatenation.

use std::fmt;
use std::fs::File;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::{CoreError, Result};

/// A 256-bit blake3 digest, shown as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The full 64-character hex form.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The first 16 hex characters: enough for folder names of a cache.
    pub fn short(&self) -> String {
        self.to_hex()[..16].to_owned()
    }

    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.short())
    }
}

impl FromStr for ContentHash {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        blake3::Hash::from_hex(s)
            .map(|h| ContentHash(*h.as_bytes()))
            .map_err(|e| format!("invalid content hash `{s}`: {e}"))
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Hashes a byte slice.
pub fn hash_bytes(bytes: &[u8]) -> ContentHash {
    ContentHash(*blake3::hash(bytes).as_bytes())
}

/// Hashes a file's bytes, streaming it from disk.
pub fn hash_file(path: impl AsRef<Path>) -> Result<ContentHash> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| CoreError::io(path, "cannot open for hashing", e))?;
    let mut hasher = blake3::Hasher::new();
    hasher
        .update_reader(file)
        .map_err(|e| CoreError::io(path, "cannot read for hashing", e))?;
    Ok(ContentHash(*hasher.finalize().as_bytes()))
}

/// Serialises `value` to JSON with every object's keys sorted.
pub fn canonical_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    let value = sort_keys(serde_json::to_value(value)?);
    Ok(serde_json::to_string(&value)?)
}

/// Hashes the canonical JSON form of `value`.
pub fn hash_json<T: Serialize + ?Sized>(value: &T) -> Result<ContentHash> {
    Ok(hash_bytes(canonical_json(value)?.as_bytes()))
}

fn sort_keys(value: Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k, sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sort_keys).collect()),
        other => other,
    }
}

/// Builds a cache key from named parts.
///
/// ```text
/// let key = KeyBuilder::new("nml-features/extract")
///     .hash("checkpoint", hash_file(ckpt)?)
///     .hash("manifest", hash_file(manifest)?)
///     .json("preprocess", &config)?
///     .finish();
/// ```
#[derive(Debug, Clone)]
pub struct KeyBuilder {
    hasher: blake3::Hasher,
}

impl KeyBuilder {
    /// Starts a key for one kind of output; `domain` keeps keys of different stages apart.
    pub fn new(domain: &str) -> Self {
        let mut builder = KeyBuilder {
            hasher: blake3::Hasher::new(),
        };
        builder.push(b"domain", domain.as_bytes());
        builder
    }

    /// Adds raw bytes under `name`.
    pub fn bytes(mut self, name: &str, bytes: &[u8]) -> Self {
        self.push(name.as_bytes(), bytes);
        self
    }

    /// Adds a string under `name`.
    pub fn str(self, name: &str, value: &str) -> Self {
        self.bytes(name, value.as_bytes())
    }

    /// Adds another content hash (of a file, a config…) under `name`.
    pub fn hash(self, name: &str, hash: ContentHash) -> Self {
        self.bytes(name, hash.as_bytes())
    }

    /// Adds the canonical JSON of `value` under `name`.
    pub fn json<T: Serialize + ?Sized>(self, name: &str, value: &T) -> Result<Self> {
        Ok(self.bytes(name, canonical_json(value)?.as_bytes()))
    }

    /// The finished key.
    pub fn finish(&self) -> ContentHash {
        ContentHash(*self.hasher.finalize().as_bytes())
    }

    fn push(&mut self, name: &[u8], bytes: &[u8]) {
        for part in [name, bytes] {
            self.hasher.update(&(part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn json_hash_ignores_key_order_but_not_values() {
        let a: HashMap<&str, f64> = [("lr", 0.01), ("wd", 1e-4), ("epochs", 30.0)].into();
        let b: HashMap<&str, f64> = [("epochs", 30.0), ("wd", 1e-4), ("lr", 0.01)].into();
        let c: HashMap<&str, f64> = [("epochs", 30.0), ("wd", 1e-4), ("lr", 0.02)].into();
        assert_eq!(hash_json(&a).unwrap(), hash_json(&b).unwrap());
        assert_ne!(hash_json(&a).unwrap(), hash_json(&c).unwrap());
        assert_eq!(
            canonical_json(&a).unwrap(),
            r#"{"epochs":30.0,"lr":0.01,"wd":0.0001}"#
        );
    }

    #[test]
    fn key_parts_are_framed() {
        let ab_c = KeyBuilder::new("t").str("x", "ab").str("y", "c").finish();
        let a_bc = KeyBuilder::new("t").str("x", "a").str("y", "bc").finish();
        assert_ne!(ab_c, a_bc);
        let other_domain = KeyBuilder::new("u").str("x", "ab").str("y", "c").finish();
        assert_ne!(ab_c, other_domain);
    }

    #[test]
    fn hex_round_trips_and_file_hash_matches_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"nml").unwrap();
        let h = hash_file(&path).unwrap();
        assert_eq!(h, hash_bytes(b"nml"));
        assert_eq!(h.to_hex().parse::<ContentHash>().unwrap(), h);
        assert_eq!(h.short().len(), 16);
        let err = hash_file(dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing") && err.contains("cannot open"),
            "{err}"
        );
    }
}
