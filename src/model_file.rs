//! The saved-model format: one safetensors file whose `__metadata__` holds a JSON header
//! (format name and version, model kind, full configuration, training summary) and a
//! checksum of every tensor, so a model is self-describing and a corrupted or foreign file is
//! refused with a clear error. Writes are atomic (temp file + rename).
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

pub const FORMAT: &str = "strongid-model";
/// 2: the checksum covers the header JSON too (version 1, still read, covered the tensors only).
pub const FORMAT_VERSION: u32 = 2;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    pub format: String,
    pub format_version: u32,
    pub strongid_version: String,
    /// Model kind, e.g. "tmi-flow".
    pub kind: String,
    /// Everything needed to rebuild the architecture (and to refit it: training settings).
    pub config: serde_json::Value,
    /// What the fit did: epochs, losses, time, data shape.
    pub training: serde_json::Value,
    /// The fit-time certificate (`certificate::Certificate`) of a fit with several restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<serde_json::Value>,
    /// What `--generator auto` did beyond one fit (`noisy_refit::AutoRefit`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_refit: Option<serde_json::Value>,
    /// FNV-1a of the header JSON (with this field empty) and the tensors, filled in by `save`. It lives inside the one metadata entry
    /// because safetensors writes a metadata map in hash order: one key keeps files byte-stable.
    #[serde(default)]
    pub checksum: String,
}

impl Header {
    pub fn new(kind: &str, config: serde_json::Value, training: serde_json::Value) -> Header {
        Header {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            strongid_version: env!("CARGO_PKG_VERSION").into(),
            kind: kind.into(),
            config,
            training,
            certificate: None,
            auto_refit: None,
            checksum: String::new(),
        }
    }
}

/// FNV-1a (64-bit) over `prefix` (the header JSON), then names, shapes and bytes of the tensors
/// in name order: detects any bit flip in anything that changes what the model computes.
fn checksum<'a>(prefix: &[u8], tensors: impl Iterator<Item = (&'a str, &'a [usize], &'a [u8])>) -> String {
    let mut h = crate::io::Fnv1a::new();
    h.eat(prefix);
    for (name, shape, data) in tensors {
        h.eat(name.as_bytes());
        for s in shape {
            h.eat(&(*s as u64).to_le_bytes());
        }
        h.eat(data);
    }
    h.hex()
}

/// Save parameters (stored as f32, the training precision) with the header.
pub fn save(path: &Path, header: &Header, params: &[(String, Matrix)]) -> Result<()> {
    let bytes = to_bytes(header, params).map_err(|msg| Error::model(path, msg))?;
    crate::io::atomic_write(path, |w| w.write_all(&bytes))
}

/// The bytes `save` writes (what Python pickles).
pub fn to_bytes(header: &Header, params: &[(String, Matrix)]) -> std::result::Result<Vec<u8>, String> {
    let mut sorted: Vec<(String, Vec<usize>, Vec<u8>)> = params
        .iter()
        .map(|(name, m)| (name.clone(), vec![m.rows, m.cols], m.data.iter().flat_map(|v| (*v as f32).to_le_bytes()).collect()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let blank = Header { checksum: String::new(), ..header.clone() };
    let blank_json = serde_json::to_string(&blank).expect("header serializes");
    let sum = checksum(blank_json.as_bytes(), sorted.iter().map(|(n, s, d)| (n.as_str(), s.as_slice(), d.as_slice())));
    let views: Vec<(String, TensorView)> = sorted
        .iter()
        .map(|(n, s, d)| (n.clone(), TensorView::new(Dtype::F32, s.clone(), d).expect("shape matches data")))
        .collect();
    let stored = Header { checksum: sum, ..blank };
    let meta = HashMap::from([("strongid".to_string(), serde_json::to_string(&stored).expect("header serializes"))]);
    safetensors::serialize(views, &Some(meta)).map_err(|e| format!("cannot serialize: {e}"))
}

/// Load and verify a model file: format, version, checksum. Returns the header and tensors.
pub fn load(path: &Path) -> Result<(Header, HashMap<String, Matrix>)> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes(&bytes, path)
}

/// `load` from bytes; `path` names them in errors.
pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<(Header, HashMap<String, Matrix>)> {
    let bad = |msg: String| Error::model(path, msg);
    let (_, metadata) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| bad(format!("not a strongid model file (unreadable safetensors header: {e:?})")))?;
    let meta = metadata.metadata().clone().unwrap_or_default();
    let header_json = meta.get("strongid").ok_or_else(|| bad("not a strongid model file (no strongid header)".into()))?;
    let probe: serde_json::Value = serde_json::from_str(header_json).map_err(|e| bad(format!("corrupted header: {e}")))?;
    if probe.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
        return Err(bad("not a strongid model file (wrong format name)".into()));
    }
    let version = probe.get("format_version").and_then(|v| v.as_u64());
    if version != Some(u64::from(FORMAT_VERSION)) && version != Some(1) {
        return Err(bad(format!(
            "model format version {} is not supported by this strongid ({}, format version {FORMAT_VERSION}); refit or use the matching strongid",
            version.map_or("unknown".to_string(), |v| v.to_string()),
            env!("CARGO_PKG_VERSION")
        )));
    }
    let header: Header = serde_json::from_value(probe).map_err(|e| bad(format!("corrupted header: {e}")))?;
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| bad(format!("corrupted or truncated tensor data: {e:?}")))?;
    let mut tensors = st.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    // The header as stored, its checksum field emptied (it is serialised last, so the last
    // occurrence is the field itself); version 1 files covered the tensors only.
    let prefix = if version == Some(1) {
        String::new()
    } else {
        let field = format!("\"checksum\":\"{}\"", header.checksum);
        match header_json.rfind(&field) {
            Some(at) => format!("{}\"checksum\":\"\"{}", &header_json[..at], &header_json[at + field.len()..]),
            None => return Err(bad("corrupted header: no checksum field".into())),
        }
    };
    let sum = checksum(prefix.as_bytes(), tensors.iter().map(|(n, v)| (n.as_str(), v.shape(), v.data())));
    if header.checksum != sum {
        return Err(bad("checksum mismatch: the file is corrupted".into()));
    }
    let mut out = HashMap::new();
    for (name, view) in tensors {
        if view.dtype() != Dtype::F32 || view.shape().len() != 2 {
            return Err(bad(format!("tensor {name}: expected a 2-D float32 tensor")));
        }
        let data: Vec<f64> = view.data().chunks_exact(4).map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]]))).collect();
        out.insert(name, Matrix::new(view.shape()[0], view.shape()[1], data));
    }
    Ok((header, out))
}
