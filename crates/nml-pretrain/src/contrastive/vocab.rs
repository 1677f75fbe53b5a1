//! The text side's words: a word-level vocabulary built from the training
//! captions (most frequent first, after `<pad>` and `<unk>`) and captions as
//! padded token ids.

use std::collections::HashMap;
use std::path::Path;

use nml_core::Manifest;
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::{PretrainError, Result};

/// Token id of padding.
pub const PAD: i64 = 0;
/// Token id of a word outside the vocabulary.
pub const UNK: i64 = 1;

/// Words of a caption: lower case, split at anything not alphanumeric.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// A word-level vocabulary: id 0 pads, id 1 is any unknown word.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vocab {
    pub words: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, i64>,
}

impl Vocab {
    /// The `max` most frequent words of `captions` (ties by spelling), after `<pad>` and `<unk>`.
    pub fn build<'a>(captions: impl Iterator<Item = &'a str>, max: usize) -> Vocab {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for c in captions {
            for w in words(c) {
                *counts.entry(w).or_default() += 1;
            }
        }
        let mut ranked: Vec<(String, u64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let mut list = vec!["<pad>".to_owned(), "<unk>".to_owned()];
        list.extend(
            ranked
                .into_iter()
                .take(max.saturating_sub(2))
                .map(|(w, _)| w),
        );
        Vocab::from_words(list)
    }

    /// A vocabulary from its word list (as saved in `text.safetensors`).
    pub fn from_words(words: Vec<String>) -> Vocab {
        let index = words
            .iter()
            .enumerate()
            .map(|(i, w)| (w.clone(), i as i64))
            .collect();
        Vocab { words, index }
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Token ids of `text`, padded to `context`; also whether it was truncated.
    pub fn encode(&self, text: &str, context: usize) -> (Vec<i64>, bool) {
        let mut ids: Vec<i64> = words(text)
            .map(|w| self.index.get(&w).copied().unwrap_or(UNK))
            .collect();
        let truncated = ids.len() > context;
        ids.resize(context, PAD);
        (ids, truncated)
    }
}

/// Token ids `[N, context]` of the captions of `rows`; errors name the file
/// and row of a missing or empty caption; counts truncated ones.
pub(crate) fn tokenize_rows(
    manifest: &Manifest,
    rows: &[usize],
    vocab: &Vocab,
    context: usize,
    path: &Path,
) -> Result<(Tensor, usize)> {
    let text = manifest.text.as_ref().ok_or_else(|| {
        PretrainError::Data(format!(
            "{}: no `text` column: contrastive pre-training needs an image–text manifest \
             (nml-data synth writes captions; `nml-data import parquet --caption-template` makes them from class names)",
            path.display()
        ))
    })?;
    let mut ids = Vec::with_capacity(rows.len() * context);
    let mut truncated = 0;
    for &r in rows {
        if words(&text[r]).next().is_none() {
            return Err(PretrainError::Data(format!(
                "{}: row {r} (index {}) has an empty caption",
                path.display(),
                manifest.index[r]
            )));
        }
        let (t, cut) = vocab.encode(&text[r], context);
        truncated += usize::from(cut);
        ids.extend(t);
    }
    let tensor = Tensor::from_slice(&ids).view([rows.len() as i64, context as i64]);
    Ok((tensor, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_ranks_words_and_encodes_with_padding_and_truncation() {
        let captions = ["a Red star", "a red-yellow star", "a blue circle"];
        let vocab = Vocab::build(captions.iter().copied(), 100);
        assert_eq!(&vocab.words[..4], &["<pad>", "<unk>", "a", "red"]);
        let (ids, cut) = vocab.encode("A red zebra", 5);
        assert_eq!(ids[..3], [2, 3, UNK]);
        assert_eq!(ids[3..], [PAD, PAD]);
        assert!(!cut);
        let (ids, cut) = vocab.encode("a red star a red star", 4);
        assert_eq!(ids.len(), 4);
        assert!(cut);
        assert_eq!(Vocab::build(captions.iter().copied(), 4).len(), 4);
    }
}
