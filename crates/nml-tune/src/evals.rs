//! `--eval NAME=PATH[:SPLIT[:DOMAIN]]`: the specs parsed and checked before
//! any table is read, then the tables' eval views.

use std::path::PathBuf;

use nml_tune::train::load;

use crate::select_rows;

/// One `--eval NAME=PATH[:SPLIT[:DOMAIN]]`: every part present is non-empty.
pub(crate) struct EvalSpec<'a> {
    pub(crate) name: &'a str,
    pub(crate) path: PathBuf,
    split: &'a str,
    domain: Option<&'a str>,
}

impl<'a> EvalSpec<'a> {
    pub(crate) fn parse(spec: &'a str) -> anyhow::Result<EvalSpec<'a>> {
        let bad = |why: &str| {
            anyhow::format_err!("--eval `{spec}`: {why} (expected NAME=PATH[:SPLIT[:DOMAIN]])")
        };
        let (name, rest) = spec.split_once('=').ok_or_else(|| bad("no `=`"))?;
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        let parts: Vec<&str> = rest.split(':').collect();
        if parts.len() > 3 {
            return Err(bad(&format!(
                "{} `:`-separated parts after the name, at most 3",
                parts.len()
            )));
        }
        let what = ["path", "split", "domain"];
        if let Some(k) = parts.iter().position(|p| p.is_empty()) {
            return Err(bad(&format!("the {} is empty", what[k])));
        }
        Ok(EvalSpec {
            name,
            path: PathBuf::from(parts[0]),
            split: parts.get(1).copied().unwrap_or("test"),
            domain: parts.get(2).copied(),
        })
    }
}

/// Every `--eval` spec parsed, names distinct, before any table is read.
pub(crate) fn parse_evals(specs: &[String]) -> anyhow::Result<Vec<EvalSpec<'_>>> {
    let parsed = specs
        .iter()
        .map(|s| EvalSpec::parse(s))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for (i, spec) in parsed.iter().enumerate() {
        if parsed[..i].iter().any(|p| p.name == spec.name) {
            anyhow::bail!("--eval: the name `{}` is used twice", spec.name);
        }
    }
    Ok(parsed)
}

/// Parsed `--eval` specs as eval-view tables.
pub(crate) fn eval_tables(
    parsed: Vec<EvalSpec<'_>>,
) -> anyhow::Result<Vec<(String, PathBuf, nml_core::FeatureTable)>> {
    let mut evals = Vec::new();
    for spec in parsed {
        let split = spec.split;
        let table = select_rows(
            load(&spec.path)?,
            (split != "all").then_some(split),
            spec.domain,
        )
        .eval_view();
        evals.push((spec.name.to_owned(), spec.path, table));
    }
    Ok(evals)
}
