//! `model.json` of both objectives through its one type.

use super::*;

fn supervised() -> ModelInfo {
    ModelInfo {
        arch: Arch::Small,
        classes: 10,
        class_names: (0..10).map(|c| format!("c{c}")).collect(),
        input_size: 32,
        feature_dim: Arch::Small.feature_dim(),
        normalize: Normalize {
            mean: [0.5; 3],
            std: [0.25; 3],
        },
        seed: 3,
        train_manifest: "noisy.parquet".to_owned(),
        train_manifest_hash: "ab".to_owned(),
        noise: Some(crate::noise::tests::summary()),
        key: "k".to_owned(),
        record: Record::Supervised {
            config: TrainConfig::new(Arch::Small, 2),
            metrics: vec![EpochMetrics {
                epoch: 1,
                lr: 0.1,
                train_loss: 1.5,
                train_acc_noisy: 0.4,
                train_acc_clean: 0.45,
                test_acc: Some(0.5),
                images_per_sec: 900.0,
                seconds: 2.0,
            }],
        },
    }
}

fn contrastive() -> ModelInfo {
    ModelInfo {
        classes: 128,
        noise: None,
        record: Record::Contrastive {
            config: ContrastiveConfig::new(Arch::Small, 2),
            metrics: vec![ContrastiveMetrics {
                epoch: 1,
                lr: 1e-3,
                train_loss: 3.0,
                train_retrieval_acc: 0.3,
                test_acc: None,
                temperature: 0.07,
                images_per_sec: 800.0,
                seconds: 2.5,
            }],
            embed_dim: 128,
            vocab_size: 40,
            truncated_captions: 0,
        },
        ..supervised()
    }
}

#[test]
fn both_objectives_round_trip_with_their_own_fields() {
    for info in [supervised(), contrastive()] {
        let json = serde_json::to_value(&info).unwrap();
        assert_eq!(json["format"], info.format());
        assert_eq!(serde_json::from_value::<ModelInfo>(json).unwrap(), info);
    }
    let json = serde_json::to_value(supervised()).unwrap();
    assert!(json.get("objective").is_none() && json.get("embed_dim").is_none());
    assert_eq!(json["config"]["epochs"], 2);
    let json = serde_json::to_value(contrastive()).unwrap();
    assert_eq!(json["objective"], "contrastive");
    assert_eq!(json["vocab_size"], 40);
}

#[test]
fn the_last_epoch_reads_either_objective() {
    let s = supervised().last_epoch().unwrap();
    assert_eq!(
        (s.test_acc, s.train_acc_seen, s.train_acc_clean),
        (Some(0.5), 0.4, Some(0.45))
    );
    let c = contrastive().last_epoch().unwrap();
    assert_eq!(
        (c.test_acc, c.train_acc_seen, c.train_acc_clean),
        (None, 0.3, None)
    );
}

#[test]
fn a_contrastive_file_without_its_fields_is_refused() {
    let mut json = serde_json::to_value(contrastive()).unwrap();
    json.as_object_mut().unwrap().remove("vocab_size");
    let err = serde_json::from_value::<ModelInfo>(json).unwrap_err();
    assert!(err.to_string().contains("vocab_size"), "{err}");
}
