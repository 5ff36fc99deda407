//! Learner checkpoints as safetensors: named `f32` tensors plus JSON metadata
//! (RNG state, counters, scalars). Readable from Python with `safetensors`.

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};

/// The one metadata key: its value is every entry as a JSON object with sorted keys, so equal
/// states serialise to equal bytes (safetensors writes its metadata map in hash order).
const META_KEY: &str = "acgap-state";

/// Collects named tensors and metadata, then serialises them.
#[derive(Default)]
pub struct StateWriter {
    tensors: Vec<(String, Vec<u8>, usize, Dtype)>,
    meta: BTreeMap<String, String>,
}

impl StateWriter {
    pub fn tensor(&mut self, name: impl Into<String>, data: &[f32]) -> &mut Self {
        let bytes = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.tensors
            .push((name.into(), bytes, data.len(), Dtype::F32));
        self
    }

    /// Raw bytes (e.g. a correction's own checkpoint).
    pub fn bytes(&mut self, name: impl Into<String>, data: &[u8]) -> &mut Self {
        self.tensors
            .push((name.into(), data.to_vec(), data.len(), Dtype::U8));
        self
    }

    /// Several tensors named `prefix.0`, `prefix.1`, ...
    pub fn tensors(&mut self, prefix: &str, data: &[Vec<f32>]) -> &mut Self {
        for (i, d) in data.iter().enumerate() {
            self.tensor(format!("{prefix}.{i}"), d);
        }
        self
    }

    pub fn meta(&mut self, key: &str, value: &impl serde::Serialize) -> &mut Self {
        self.meta.insert(
            key.into(),
            serde_json::to_string(value).expect("metadata serialises"),
        );
        self
    }

    pub fn finish(&self) -> Result<Vec<u8>, String> {
        let views: Vec<(&str, TensorView<'_>)> = self
            .tensors
            .iter()
            .map(|(n, b, len, dtype)| {
                (
                    n.as_str(),
                    TensorView::new(*dtype, vec![*len], b).expect("tensor view"),
                )
            })
            .collect();
        // A format marker: also keeps the header valid when there are no tensors at all
        // (safetensors cannot read back an empty file it wrote).
        let mut meta = self.meta.clone();
        meta.insert("format".into(), "acgap-state-2".into());
        let one = HashMap::from([(
            META_KEY.to_string(),
            serde_json::to_string(&meta).expect("strings serialise"),
        )]);
        safetensors::serialize(views, Some(one)).map_err(|e| e.to_string())
    }
}

/// Reads what a [`StateWriter`] wrote.
pub struct StateReader<'a> {
    st: SafeTensors<'a>,
    meta: HashMap<String, String>,
}

impl<'a> StateReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self, String> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| format!("not a checkpoint: {e}"))?;
        let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| e.to_string())?;
        let mut meta = metadata.metadata().clone().unwrap_or_default();
        // Format 2 keeps every entry under one key; format 1 (older checkpoints) did not.
        if let Some(packed) = meta.remove(META_KEY) {
            meta =
                serde_json::from_str(&packed).map_err(|e| format!("checkpoint metadata: {e}"))?;
        }
        Ok(Self { st, meta })
    }

    pub fn tensor(&self, name: &str) -> Result<Vec<f32>, String> {
        let view = self
            .st
            .tensor(name)
            .map_err(|_| format!("checkpoint has no tensor `{name}`"))?;
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }

    pub fn bytes(&self, name: &str) -> Result<Vec<u8>, String> {
        let view = self
            .st
            .tensor(name)
            .map_err(|_| format!("checkpoint has no entry `{name}`"))?;
        Ok(view.data().to_vec())
    }

    pub fn tensors(&self, prefix: &str, count: usize) -> Result<Vec<Vec<f32>>, String> {
        (0..count)
            .map(|i| self.tensor(&format!("{prefix}.{i}")))
            .collect()
    }

    pub fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, String> {
        let s = self
            .meta
            .get(key)
            .ok_or_else(|| format!("checkpoint has no `{key}`"))?;
        serde_json::from_str(s).map_err(|e| format!("checkpoint `{key}`: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_states_give_equal_bytes_and_read_back() {
        let write = || {
            let mut w = StateWriter::default();
            w.tensor("w", &[1.0, 2.0]);
            for k in ["alpha", "beta", "gamma", "delta", "epsilon", "zeta"] {
                w.meta(k, &k.len());
            }
            w.finish().unwrap()
        };
        let a = write();
        assert!(
            (0..20).all(|_| write() == a),
            "bytes differ between equal saves"
        );
        let r = StateReader::new(&a).unwrap();
        assert_eq!(r.meta::<usize>("epsilon").unwrap(), 7);
        assert_eq!(r.tensor("w").unwrap(), vec![1.0, 2.0]);
    }
}
