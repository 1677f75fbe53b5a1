//! A BERT encoder under Hugging Face's names for sentence embeddings:
//! all-MiniLM-L6-v2 (or any BERT checkpoint in Hugging Face's layout),
//! tokenised by the `tokenizers` crate from the model's own `tokenizer.json`,
//! mean-pooled over real tokens and L2-normalised, as sentence-transformers does.
//!
//! The model folder holds `config.json` (BERT sizes), `tokenizer.json` and
//! `model.safetensors` with Hugging Face's tensor names (`embeddings.*`,
//! `encoder.layer.{i}.*`, `pooler.dense`).

use std::path::Path;

use serde::Deserialize;
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

use crate::checkpoint;
use crate::{ModelError, Result};

/// The sizes a BERT `config.json` gives.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: i64,
    pub hidden_size: i64,
    pub num_hidden_layers: usize,
    pub num_attention_heads: i64,
    pub intermediate_size: i64,
    pub max_position_embeddings: i64,
    pub type_vocab_size: i64,
    pub layer_norm_eps: f64,
    pub hidden_act: String,
}

#[derive(Debug)]
struct Layer {
    query: nn::Linear,
    key: nn::Linear,
    value: nn::Linear,
    attention_out: nn::Linear,
    attention_norm: nn::LayerNorm,
    intermediate: nn::Linear,
    output: nn::Linear,
    output_norm: nn::LayerNorm,
}

/// A BERT encoder under Hugging Face's names.
#[derive(Debug)]
pub struct Bert {
    pub config: BertConfig,
    words: nn::Embedding,
    positions: nn::Embedding,
    token_types: nn::Embedding,
    embedding_norm: nn::LayerNorm,
    layers: Vec<Layer>,
    /// Kept so the published files load strictly; sentence embeddings do not use it.
    _pooler: nn::Linear,
}

impl Bert {
    /// Builds the encoder under `vs`.
    pub fn new(vs: &nn::Path, config: BertConfig) -> Result<Bert> {
        if config.hidden_act != "gelu" {
            return Err(ModelError::Invalid(format!(
                "BERT activation `{}` is not supported (only gelu)",
                config.hidden_act
            )));
        }
        if config.hidden_size % config.num_attention_heads != 0 {
            return Err(ModelError::Invalid(format!(
                "hidden size {} is not a multiple of {} heads",
                config.hidden_size, config.num_attention_heads
            )));
        }
        let h = config.hidden_size;
        let norm = |p: nn::Path| {
            nn::layer_norm(
                p,
                vec![h],
                nn::LayerNormConfig {
                    eps: config.layer_norm_eps,
                    ..Default::default()
                },
            )
        };
        let e = vs / "embeddings";
        let layers = (0..config.num_hidden_layers)
            .map(|i| {
                let l = vs / "encoder" / "layer" / i;
                let a = &l / "attention";
                Layer {
                    query: nn::linear(&a / "self" / "query", h, h, Default::default()),
                    key: nn::linear(&a / "self" / "key", h, h, Default::default()),
                    value: nn::linear(&a / "self" / "value", h, h, Default::default()),
                    attention_out: nn::linear(&a / "output" / "dense", h, h, Default::default()),
                    attention_norm: norm(&a / "output" / "LayerNorm"),
                    intermediate: nn::linear(
                        &l / "intermediate" / "dense",
                        h,
                        config.intermediate_size,
                        Default::default(),
                    ),
                    output: nn::linear(
                        &l / "output" / "dense",
                        config.intermediate_size,
                        h,
                        Default::default(),
                    ),
                    output_norm: norm(&l / "output" / "LayerNorm"),
                }
            })
            .collect();
        Ok(Bert {
            words: nn::embedding(
                &e / "word_embeddings",
                config.vocab_size,
                h,
                Default::default(),
            ),
            positions: nn::embedding(
                &e / "position_embeddings",
                config.max_position_embeddings,
                h,
                Default::default(),
            ),
            token_types: nn::embedding(
                &e / "token_type_embeddings",
                config.type_vocab_size,
                h,
                Default::default(),
            ),
            embedding_norm: norm(&e / "LayerNorm"),
            layers,
            _pooler: nn::linear(vs / "pooler" / "dense", h, h, Default::default()),
            config,
        })
    }

    /// The last hidden states.
    ///
    /// # Shapes
    /// `ids`, `types`, `mask`: `[B, L]` int64 → `[B, L, H]`.
    pub fn forward(&self, ids: &Tensor, types: &Tensor, mask: &Tensor) -> Tensor {
        let (b, l) = ids.size2().expect("ids are [B, L]");
        let positions = Tensor::arange(l, (Kind::Int64, ids.device())).unsqueeze(0);
        let mut x = (ids.apply(&self.words)
            + positions.apply(&self.positions)
            + types.apply(&self.token_types))
        .apply(&self.embedding_norm);
        let heads = self.config.num_attention_heads;
        let d = self.config.hidden_size / heads;
        // Keys that are padding get the most negative float, as transformers does.
        let bias: Tensor = (mask.to_kind(Kind::Float).neg() + 1.0) * f64::from(f32::MIN);
        let bias = bias.view([b, 1, 1, l]);
        let split = |t: Tensor| t.view([b, l, heads, d]).transpose(1, 2);
        for layer in &self.layers {
            let q = split(x.apply(&layer.query));
            let k = split(x.apply(&layer.key));
            let v = split(x.apply(&layer.value));
            let scores = q.matmul(&k.transpose(-1, -2)) / (d as f64).sqrt() + &bias;
            let context = scores
                .softmax(-1, Kind::Float)
                .matmul(&v)
                .transpose(1, 2)
                .contiguous()
                .view([b, l, heads * d]);
            x = (context.apply(&layer.attention_out) + &x).apply(&layer.attention_norm);
            let hidden = x.apply(&layer.intermediate).gelu("none");
            x = (hidden.apply(&layer.output) + &x).apply(&layer.output_norm);
        }
        x
    }
}

/// Mean over real tokens, then L2-normalised.
///
/// # Shapes
/// `tokens`: `[B, L, H]`, `mask`: `[B, L]` → `[B, H]`.
pub fn sentence_embeddings(tokens: &Tensor, mask: &Tensor) -> Tensor {
    let m = mask.to_kind(Kind::Float).unsqueeze(-1);
    let summed = (tokens * &m).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let counts = m
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
        .clamp_min(1e-9);
    let mean = summed / counts;
    let norm = mean
        .norm_scalaropt_dim(2.0, [1i64].as_slice(), true)
        .clamp_min(1e-12);
    mean / norm
}

/// A loaded sentence encoder: tokenizer and BERT.
#[derive(Debug)]
pub struct SentenceEncoder {
    pub tokenizer: Tokenizer,
    pub bert: Bert,
    _vs: VarStore,
    pub max_length: usize,
}

fn invalid(path: &Path, what: impl std::fmt::Display) -> ModelError {
    ModelError::Invalid(format!("{}: {what}", path.display()))
}

/// The encoder's own window in tokens: sentence-transformers'
/// `max_seq_length` (`dir/sentence_bert_config.json`) when the folder has it,
/// else the model's `max_position_embeddings` (`dir/config.json`).
pub fn window(dir: &Path) -> Result<usize> {
    let st = dir.join("sentence_bert_config.json");
    if st.exists() {
        let text = std::fs::read_to_string(&st).map_err(|e| invalid(&st, e))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| invalid(&st, format!("not JSON: {e}")))?;
        return value
            .get("max_seq_length")
            .and_then(serde_json::Value::as_u64)
            .filter(|&n| n > 0)
            .map(|n| n as usize)
            .ok_or_else(|| invalid(&st, "has no positive `max_seq_length`"));
    }
    let config_path = dir.join("config.json");
    let text = std::fs::read_to_string(&config_path).map_err(|e| invalid(&config_path, e))?;
    let config: BertConfig = serde_json::from_str(&text)
        .map_err(|e| invalid(&config_path, format!("not a BERT config: {e}")))?;
    Ok(config.max_position_embeddings as usize)
}

impl SentenceEncoder {
    /// Loads `dir/config.json`, `dir/tokenizer.json` and `dir/model.safetensors`.
    pub fn load(dir: &Path, max_length: usize, device: Device) -> Result<SentenceEncoder> {
        let config_path = dir.join("config.json");
        let text = std::fs::read_to_string(&config_path).map_err(|e| invalid(&config_path, e))?;
        let config: BertConfig = serde_json::from_str(&text)
            .map_err(|e| invalid(&config_path, format!("not a BERT config: {e}")))?;
        let tokenizer_path = dir.join("tokenizer.json");
        let mut tokenizer =
            Tokenizer::from_file(&tokenizer_path).map_err(|e| invalid(&tokenizer_path, e))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length,
                ..Default::default()
            }))
            .map_err(|e| invalid(&tokenizer_path, e))?;
        tokenizer.with_padding(Some(PaddingParams {
            strategy: PaddingStrategy::BatchLongest,
            ..Default::default()
        }));
        let vs = VarStore::new(device);
        let bert = Bert::new(&vs.root(), config)?;
        let weights = dir.join("model.safetensors");
        let (tensors, _) = checkpoint::read(&weights)?;
        // `position_ids` is a constant buffer of transformers, not a weight.
        let tensors: Vec<(String, Tensor)> = tensors
            .into_iter()
            .filter(|(n, _)| !n.ends_with("position_ids"))
            .collect();
        checkpoint::load_into(&vs, &tensors, &weights)?;
        Ok(SentenceEncoder {
            tokenizer,
            bert,
            _vs: vs,
            max_length,
        })
    }

    /// Token ids, token types and attention mask of `texts`, padded to the longest.
    ///
    /// # Shapes
    /// → three `[B, L]` int64 tensors.
    pub fn tokenize(&self, texts: &[&str]) -> Result<(Tensor, Tensor, Tensor)> {
        self.tokenize_counting(texts).map(|(t, _)| t)
    }

    /// [`tokenize`](SentenceEncoder::tokenize), and how many of `texts` were truncated.
    #[allow(clippy::type_complexity)] // the three model inputs and a count, named at the one call
    pub fn tokenize_counting(&self, texts: &[&str]) -> Result<((Tensor, Tensor, Tensor), usize)> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| ModelError::Invalid(format!("tokenizer: {e}")))?;
        let truncated = encodings
            .iter()
            .filter(|e| !e.get_overflowing().is_empty())
            .count();
        if truncated > 0 {
            tracing::debug!(
                truncated,
                max_tokens = self.max_length,
                "texts of this batch truncated to the window"
            );
        }
        let b = encodings.len() as i64;
        let l = encodings.first().map_or(0, |e| e.get_ids().len()) as i64;
        let mut ids = Vec::with_capacity((b * l) as usize);
        let mut types = Vec::with_capacity((b * l) as usize);
        let mut mask = Vec::with_capacity((b * l) as usize);
        for e in &encodings {
            ids.extend(e.get_ids().iter().map(|&v| i64::from(v)));
            types.extend(e.get_type_ids().iter().map(|&v| i64::from(v)));
            mask.extend(e.get_attention_mask().iter().map(|&v| i64::from(v)));
        }
        let make = |v: Vec<i64>| Tensor::from_slice(&v).view([b, l]);
        Ok(((make(ids), make(types), make(mask)), truncated))
    }

    /// Sentence embeddings of `texts`.
    ///
    /// # Shapes
    /// → `[B, H]` on the CPU.
    pub fn embed(&self, texts: &[&str], device: Device) -> Result<Tensor> {
        self.embed_counting(texts, device).map(|(e, _)| e)
    }

    /// [`embed`](SentenceEncoder::embed), and how many of `texts` were truncated to the window.
    pub fn embed_counting(&self, texts: &[&str], device: Device) -> Result<(Tensor, usize)> {
        let ((ids, types, mask), truncated) = self.tokenize_counting(texts)?;
        let _guard = tch::no_grad_guard();
        let (ids, types, mask) = (
            ids.to_device(device),
            types.to_device(device),
            mask.to_device(device),
        );
        let tokens = self.bert.forward(&ids, &types, &mask);
        Ok((
            sentence_embeddings(&tokens, &mask).to_device(Device::Cpu),
            truncated,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::window;

    #[test]
    fn the_window_is_sentence_transformers_then_the_position_table() {
        let dir = tempfile::tempdir().unwrap();
        let config = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 512, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
            "hidden_act": "gelu"}"#;
        std::fs::write(dir.path().join("config.json"), config).unwrap();
        assert_eq!(window(dir.path()).unwrap(), 512);
        let st = dir.path().join("sentence_bert_config.json");
        std::fs::write(&st, r#"{"max_seq_length": 256, "do_lower_case": false}"#).unwrap();
        assert_eq!(window(dir.path()).unwrap(), 256);
        std::fs::write(&st, r#"{"max_seq_length": 0}"#).unwrap();
        let err = window(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("sentence_bert_config.json") && err.contains("max_seq_length"),
            "{err}"
        );
    }
}
