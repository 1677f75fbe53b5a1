//! Round trips of `nml-tune`'s arguments through their command line.

use super::*;

fn round_trips(value: TuneArgs) {
    assert_eq!(TuneArgs::from_args(&value.to_args()).unwrap(), value);
}

#[test]
fn training_round_trips() {
    let evals = vec![
        "id=f.parquet:test:photo".to_owned(),
        "sketch=f.parquet:test:sketch".to_owned(),
    ];
    round_trips(TuneArgs::new(
        "f.parquet",
        Method::Lp,
        evals.clone(),
        "tune/lp",
    ));
    let mut full = TuneArgs::new("f.parquet", Method::Nmtune, evals.clone(), "tune/n");
    full.two_view = true;
    full.train_split = "all".to_owned();
    full.train_domain = Some("photo".to_owned());
    full.train_labels = Some("noisy.parquet".into());
    full.val_fraction = Some(0.1);
    full.grids = vec!["lr=1e-3,1e-2".to_owned(), "wd=0,1e-4".to_owned()];
    full.epochs = 5;
    full.batch_size = 32;
    full.lr = Some(0.5);
    full.wd = 0.0;
    full.mse_weight = Some(0.0);
    full.cov_weight = Some(0.04);
    full.svd_weight = Some(-0.001);
    full.svd_topk = Some(3);
    full.no_residual = true;
    full.seeds = "1,2,3".to_owned();
    full.device = DeviceSpec::Cuda(2);
    full.threads = Some(4);
    full.denormals = Denormals::Keep;
    full.verbosity = Verbosity::QUIET;
    round_trips(full);
    let mut val_split = TuneArgs::new("f.parquet", Method::Mlp, evals.clone(), "tune/m");
    val_split.val_split = Some("val".to_owned());
    round_trips(val_split);
    let mut encoder = TuneArgs::new("unused", Method::Nmtune, evals, "tune/e");
    encoder.train = None;
    encoder.encoder = Some("backbone".into());
    encoder.manifest = Some("m.parquet".into());
    encoder.encoder_args = EncoderArgs {
        augment: AugmentKind::RrcNoflip,
        augment_scale: Some("0.5,1".to_owned()),
        resize: true,
        embedding: Some(Embedding::Pooled),
        arch: Some(Arch::MobileNetV2),
        normalize: Some("imagenet".to_owned()),
        input_size: Some(224),
    };
    round_trips(encoder);
}

#[test]
fn subcommands_round_trip() {
    let empty = TuneArgs {
        command: None,
        train: None,
        evals: Vec::new(),
        method: None,
        out: None,
        ..TuneArgs::new("x", Method::Lp, Vec::new(), "y")
    };
    let predict = PredictArgs {
        head: "tune/heads/nmtune-seed1".into(),
        features: "f.npy".into(),
        out: "p.parquet".into(),
        tuned_features: true,
        allow_other_source: true,
        device: DeviceSpec::Cpu,
        verbosity: Verbosity::QUIET,
    };
    let fit = FitArgs {
        embeddings: Some("e.npy".into()),
        labels: Some("l.txt".into()),
        features: None,
        method: Protocol::Auto,
        no_refit: true,
        val_fraction: 0.2,
        grids: vec!["lr=1e-3".to_owned()],
        epochs: 3,
        seeds: "1,2".to_owned(),
        device: DeviceSpec::Auto,
        denormals: Denormals::Keep,
        out: "fit".into(),
        verbosity: Verbosity::default(),
    };
    let table = FitArgs {
        embeddings: None,
        labels: None,
        features: Some("f.parquet".into()),
        ..fit.clone()
    };
    for command in [
        TuneCommand::Predict(predict),
        TuneCommand::Fit(fit),
        TuneCommand::Fit(table),
    ] {
        // The verbosity flags are global: a subcommand's are the top level's too.
        let verbosity = match &command {
            TuneCommand::Predict(p) => p.verbosity,
            TuneCommand::Fit(f) => f.verbosity,
        };
        round_trips(TuneArgs {
            command: Some(command),
            verbosity,
            ..empty.clone()
        });
    }
}

#[test]
fn knn_and_auto_round_trip() {
    let mut knn = TuneArgs::new(
        "f.parquet",
        Protocol::Knn,
        vec!["a=f.parquet".to_owned()],
        "o",
    );
    knn.knn_k = vec![5, 50];
    round_trips(knn.clone());
    knn.knn_k = KNN_KS.to_vec();
    round_trips(knn);
    let mut auto = TuneArgs::new(
        "f.parquet",
        Protocol::Auto,
        vec!["a=f.parquet".to_owned()],
        "o",
    );
    auto.val_fraction = Some(0.1);
    auto.no_refit = true;
    round_trips(auto);
    // A head's command line does not name k.
    let lp = TuneArgs::new("f.parquet", Method::Lp, vec!["a=f.parquet".to_owned()], "o");
    assert!(!lp.to_args().contains(&"--knn-k".to_owned()));
    for p in Protocol::ALL {
        assert_eq!(p.name().parse::<Protocol>(), Ok(*p));
        assert_eq!(p.head().map(Protocol::from), p.head().map(|_| *p));
    }
}

#[test]
fn method_spellings_parse_back() {
    for m in Method::ALL {
        assert_eq!(m.name().parse::<Method>(), Ok(*m));
    }
    assert!("NMTune".parse::<Method>().is_err());
}
