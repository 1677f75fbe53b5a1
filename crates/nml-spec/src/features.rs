//! `nml-features`: its arguments, and the closed sets they take (which vector
//! is the feature, which transform makes the augmented views).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::{Arch, Args, DeviceSpec, Objective, Precision, Spec, Verbosity};

/// Which vector of the backbone is the feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Embedding {
    /// The pooled vector before the head (supervised backbones; contrastive with `--embedding pooled`).
    Pooled,
    /// A contrastive image tower's projection into the joint space, as CLIP's
    /// `encode_image` (the official code probes this one).
    Projection,
}

spellings!(Embedding, "embedding", { Pooled => "pooled", Projection => "projection" });

impl Embedding {
    /// The default for a backbone: the projection for contrastive ones, else the pooled vector.
    pub fn default_for(objective: Objective) -> Embedding {
        match objective {
            Objective::Contrastive => Embedding::Projection,
            Objective::Supervised => Embedding::Pooled,
        }
    }
}

/// Which train transform makes the augmented views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AugmentKind {
    /// timm models in the official code: RandomResizedCrop + horizontal flip.
    Rrc,
    /// open_clip's train transform: RandomResizedCrop, no flip.
    RrcNoflip,
}

spellings!(AugmentKind, "augmentation", { Rrc => "rrc", RrcNoflip => "rrc-noflip" });

/// Feature tables from a frozen backbone (cached) or from a black box.
#[derive(Debug, Clone, PartialEq, Parser)]
#[command(name = "nml-features", version)]
pub struct FeaturesArgs {
    #[command(subcommand)]
    pub command: FeaturesCommand,
    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// What `nml-features` does.
#[derive(Debug, Clone, PartialEq, Subcommand)]
pub enum FeaturesCommand {
    /// Run a checkpoint over a manifest (eval mode, no grad) into a cached feature table
    Extract(ExtractArgs),
    /// Sentence embeddings of a manifest's `text` with a BERT encoder (e.g. all-MiniLM-L6-v2), cached
    Text(TextArgs),
    /// Validate external embeddings (Parquet vector column, or .npy) and label them from a manifest
    Import(ImportArgs),
}

/// `nml-features extract`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ExtractArgs {
    /// nml-pretrain output folder (or its model.safetensors)
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Manifest whose images to encode
    #[arg(long)]
    pub manifest: PathBuf,
    /// Copy the feature table here too
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache folder (entries keyed by checkpoint bytes, manifest bytes and preprocessing)
    #[arg(long, default_value = "data/cache/features")]
    pub cache: PathBuf,
    /// Comma-separated splits to encode (default: every row)
    #[arg(long)]
    pub splits: Option<String>,
    /// Images per batch
    #[arg(long, default_value_t = 256)]
    pub batch_size: usize,
    /// Resize images whose size differs from the model's input
    #[arg(long)]
    pub resize: bool,
    /// Recompute even when the cache has the entry
    #[arg(long)]
    pub force: bool,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// The checkpoint is a published weights file of this architecture
    /// (e.g. mobilenet-v2, resnet20, resnet56), not an nml-pretrain output
    #[arg(long)]
    pub arch: Option<Arch>,
    /// With --arch: input normalisation, `imagenet` (default) or `M,M,M/S,S,S`
    #[arg(long, requires = "arch")]
    pub normalize: Option<String>,
    /// With --arch: input side in pixels (default: the architecture's native one)
    #[arg(long, requires = "arch")]
    pub input_size: Option<u32>,
    #[command(flatten)]
    pub views: ViewArgs,
    /// Which vector is the feature: projection (a contrastive tower's
    /// image embedding, CLIP's encode_image; the default for contrastive
    /// backbones) or pooled (the vector before the head; the default otherwise)
    #[arg(long)]
    pub embedding: Option<Embedding>,
    /// Compute precision: fp32, bf16 (autocast; the table stays float32) or
    /// auto (bf16 on CUDA and on CPUs with AMX or AVX-512 BF16)
    #[arg(long, value_enum, default_value = "fp32")]
    pub precision: Precision,
    /// libtorch CPU threads (default: libtorch's choice); in a study, part of the step's key
    #[arg(long)]
    pub threads: Option<i32>,
}

impl ExtractArgs {
    /// Every row of `manifest` through `checkpoint` on `device`, cached in `cache`; no views.
    pub fn new(
        checkpoint: impl Into<PathBuf>,
        manifest: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
        device: DeviceSpec,
    ) -> ExtractArgs {
        ExtractArgs {
            checkpoint: checkpoint.into(),
            manifest: manifest.into(),
            out: None,
            cache: cache.into(),
            splits: None,
            batch_size: 256,
            resize: false,
            force: false,
            device,
            arch: None,
            normalize: None,
            input_size: None,
            views: ViewArgs::default(),
            embedding: None,
            precision: Precision::Fp32,
            threads: None,
        }
    }
}

/// Augmented views cached beside the eval view, for two-view tuning.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
pub struct ViewArgs {
    /// Augmented views per image besides the eval view (rows with `view` 1..K)
    #[arg(long, default_value_t = 0)]
    pub views: u32,
    /// Train transform of the views: rrc (RandomResizedCrop 0.8-1.0, bicubic,
    /// horizontal flip; the official timm recipe) or rrc-noflip (open_clip's, scale 0.9-1.0)
    #[arg(long)]
    pub augment: Option<AugmentKind>,
    /// Crop area range LO,HI (default: 0.8,1.0 for rrc, 0.9,1.0 for rrc-noflip)
    #[arg(long)]
    pub augment_scale: Option<String>,
    /// Seed of the view generators (a view is a function of seed, image and view number)
    #[arg(long, default_value_t = 0)]
    pub view_seed: u64,
    /// Only rows of this split get views (the rows heads train on; default: every row)
    #[arg(long)]
    pub view_split: Option<String>,
    /// Only rows of this domain get views (default: every domain)
    #[arg(long)]
    pub view_domain: Option<String>,
}

/// `nml-features text`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct TextArgs {
    /// Model folder: config.json, tokenizer.json, model.safetensors (Hugging Face layout)
    #[arg(long)]
    pub model: PathBuf,
    /// Manifest with a `text` column
    #[arg(long)]
    pub manifest: PathBuf,
    /// Copy the feature table here too
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cache folder
    #[arg(long, default_value = "data/cache/features")]
    pub cache: PathBuf,
    /// Comma-separated splits to encode (default: every row)
    #[arg(long)]
    pub splits: Option<String>,
    /// Texts per batch
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Tokens per text; longer texts are truncated and counted. Default: the
    /// encoder's own window, `max_seq_length` in its sentence_bert_config.json
    /// (256 for all-MiniLM-L6-v2, whose tokenizer file says 128), else its
    /// config.json's `max_position_embeddings`
    #[arg(long)]
    pub max_length: Option<usize>,
    /// Recompute even when the cache has the entry
    #[arg(long)]
    pub force: bool,
    /// Device: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    pub device: DeviceSpec,
    /// libtorch CPU threads (default: libtorch's choice); in a study, part of the step's key
    #[arg(long)]
    pub threads: Option<i32>,
}

impl TextArgs {
    /// Every row of `manifest` through the encoder in `model`, cached in `cache`.
    pub fn new(
        model: impl Into<PathBuf>,
        manifest: impl Into<PathBuf>,
        cache: impl Into<PathBuf>,
        device: DeviceSpec,
    ) -> TextArgs {
        TextArgs {
            model: model.into(),
            manifest: manifest.into(),
            out: None,
            cache: cache.into(),
            splits: None,
            batch_size: 128,
            max_length: None,
            force: false,
            device,
            threads: None,
        }
    }
}

/// `nml-features import`.
#[derive(Debug, Clone, PartialEq, clap::Args)]
pub struct ImportArgs {
    /// Parquet with `index` (+ `split`) and a vector column, or an N×D .npy
    #[arg(long)]
    pub embeddings: PathBuf,
    /// Manifest the embeddings belong to
    #[arg(long)]
    pub manifest: PathBuf,
    /// Output feature table
    #[arg(long)]
    pub out: PathBuf,
    /// Vector column of a Parquet input
    #[arg(long, default_value = "feature")]
    pub column: String,
    /// For .npy: the manifest split whose rows (in order) the array holds (default: every row)
    #[arg(long)]
    pub split: Option<String>,
}

impl Spec for FeaturesArgs {
    fn to_args(&self) -> Vec<String> {
        let args = match &self.command {
            FeaturesCommand::Extract(e) => Args::new()
                .word("extract")
                .value("--checkpoint", e.checkpoint.display())
                .value("--manifest", e.manifest.display())
                .opt("--out", e.out.as_ref().map(|p| p.display()))
                .value("--cache", e.cache.display())
                .opt("--splits", e.splits.as_ref())
                .value("--batch-size", e.batch_size)
                .switch("--resize", e.resize)
                .switch("--force", e.force)
                .value("--device", e.device)
                .opt("--arch", e.arch)
                .opt("--normalize", e.normalize.as_ref())
                .opt("--input-size", e.input_size)
                .value("--views", e.views.views)
                .opt("--augment", e.views.augment)
                .opt("--augment-scale", e.views.augment_scale.as_ref())
                .value("--view-seed", e.views.view_seed)
                .opt("--view-split", e.views.view_split.as_ref())
                .opt("--view-domain", e.views.view_domain.as_ref())
                .opt("--embedding", e.embedding)
                .value("--precision", crate::spelling(&e.precision))
                .opt("--threads", e.threads),
            FeaturesCommand::Text(t) => Args::new()
                .word("text")
                .value("--model", t.model.display())
                .value("--manifest", t.manifest.display())
                .opt("--out", t.out.as_ref().map(|p| p.display()))
                .value("--cache", t.cache.display())
                .opt("--splits", t.splits.as_ref())
                .value("--batch-size", t.batch_size)
                .opt("--max-length", t.max_length)
                .switch("--force", t.force)
                .value("--device", t.device)
                .opt("--threads", t.threads),
            FeaturesCommand::Import(i) => Args::new()
                .word("import")
                .value("--embeddings", i.embeddings.display())
                .value("--manifest", i.manifest.display())
                .value("--out", i.out.display())
                .value("--column", &i.column)
                .opt("--split", i.split.as_ref()),
        };
        args.verbosity(self.verbosity).finish()
    }
}

impl FeaturesArgs {
    /// `command` at the default verbosity (the study keeps extraction's progress in its logs).
    pub fn new(command: FeaturesCommand) -> FeaturesArgs {
        FeaturesArgs {
            command,
            verbosity: Verbosity::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_command_round_trips() {
        let mut extract = ExtractArgs::new("ckpt", "m.parquet", "cache", DeviceSpec::Cuda(1));
        extract.out = Some("f.parquet".into());
        extract.splits = Some("train,test".to_owned());
        extract.batch_size = 64;
        extract.resize = true;
        extract.force = true;
        extract.arch = Some(Arch::MobileNetV2);
        extract.normalize = Some("imagenet".to_owned());
        extract.input_size = Some(224);
        extract.views = ViewArgs {
            views: 4,
            augment: Some(AugmentKind::RrcNoflip),
            augment_scale: Some("0.5,1.0".to_owned()),
            view_seed: 9,
            view_split: Some("train".to_owned()),
            view_domain: Some("photo".to_owned()),
        };
        extract.embedding = Some(Embedding::Projection);
        extract.precision = Precision::Bf16;
        extract.threads = Some(3);
        let mut text = TextArgs::new("minilm", "sst2.parquet", "cache", DeviceSpec::Cpu);
        text.out = Some("t.parquet".into());
        text.splits = Some("test".to_owned());
        text.batch_size = 32;
        text.max_length = Some(128);
        text.threads = Some(1);
        text.force = true;
        let commands = [
            FeaturesCommand::Extract(ExtractArgs::new("c", "m", "k", DeviceSpec::Auto)),
            FeaturesCommand::Extract(extract),
            FeaturesCommand::Text(TextArgs::new("m", "s", "k", DeviceSpec::Auto)),
            FeaturesCommand::Text(text),
            FeaturesCommand::Import(ImportArgs {
                embeddings: "e.npy".into(),
                manifest: "m.parquet".into(),
                out: "o.parquet".into(),
                column: "vec".to_owned(),
                split: Some("test".to_owned()),
            }),
        ];
        for command in commands {
            for verbosity in [Verbosity::default(), Verbosity::QUIET] {
                let value = FeaturesArgs {
                    command: command.clone(),
                    verbosity,
                };
                assert_eq!(FeaturesArgs::from_args(&value.to_args()).unwrap(), value);
            }
        }
    }

    #[test]
    fn spellings_parse_back() {
        for e in [Embedding::Pooled, Embedding::Projection] {
            assert_eq!(e.name().parse::<Embedding>(), Ok(e));
        }
        for a in [AugmentKind::Rrc, AugmentKind::RrcNoflip] {
            assert_eq!(a.name().parse::<AugmentKind>(), Ok(a));
        }
        assert_eq!(
            "x".parse::<Embedding>(),
            Err("unknown embedding `x` (pooled or projection)".to_owned())
        );
        assert_eq!(
            "crop".parse::<AugmentKind>(),
            Err("unknown augmentation `crop` (rrc or rrc-noflip)".to_owned())
        );
    }
}
