//! `nml-tune predict`: a saved head applied to new features. Every check
//! (the head, the table's dimension, classes and source, finite values, the
//! output path) passes before the predictions file is written.

use anyhow::Context;
use nml_tune::saved;

use nml_spec::tune::PredictArgs;

pub fn run(a: &PredictArgs) -> anyhow::Result<()> {
    nml_torch::configure_threads(None);
    nml_core::guard::Io::new()
        .input("--features", &a.features)
        .input("--head", &a.head)
        .input("--head", a.head.join("head.json"))
        .input("--head", a.head.join("head.safetensors"))
        .output("--out", &a.out)
        .check()?;
    let device = nml_torch::resolve_device(a.device)?;
    let (record, _vs, head) = saved::load(&a.head, device)?;
    let is_npy = a
        .features
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    let (index, split, dim, values) = if is_npy {
        let (n, dim, values) = nml_features::npy::read_matrix(&a.features)?;
        (
            (0..n as i64).collect::<Vec<_>>(),
            vec![String::new(); n],
            dim,
            values,
        )
    } else {
        let table = nml_core::FeatureTable::read(&a.features)?.eval_view();
        if let Some(names) = &table.class_names {
            if *names != record.class_names {
                anyhow::bail!(
                    "{}: its classes ({}) are not the head's ({}, {})",
                    a.features.display(),
                    names.len(),
                    record.class_names.len(),
                    a.head.join("head.json").display()
                );
            }
        }
        match (saved::source_hash(&table), &record.source_hash) {
            (Some(theirs), Some(ours)) if theirs != *ours => {
                if !a.allow_other_source {
                    anyhow::bail!(
                        "{}: features of another backbone or embedding source than the head was trained on ({} against {}); --allow-other-source applies it anyway",
                        a.features.display(),
                        &theirs[..theirs.len().min(12)],
                        &ours[..ours.len().min(12)]
                    );
                }
                tracing::warn!(features = %a.features.display(), "features of another source than the head's (--allow-other-source)");
            }
            _ => {}
        }
        (table.index, table.split, table.dim, table.features)
    };
    if dim != record.dim {
        anyhow::bail!(
            "{}: {dim}-dimensional features, the head takes {}",
            a.features.display(),
            record.dim
        );
    }
    if index.is_empty() {
        anyhow::bail!("{}: no rows", a.features.display());
    }
    let predictions = saved::predict(&head, &values, dim, device)
        .with_context(|| a.features.display().to_string())?;
    saved::write_predictions(
        &a.out,
        &index,
        &split,
        &record,
        &predictions,
        a.tuned_features,
    )?;
    tracing::info!(out = %a.out.display(), rows = index.len(), "predictions written");
    Ok(())
}
