//! Importers: CIFAR binary files and ImageFolder trees built here, and the
//! real shared/data tables when this checkout has them.

use std::path::Path;
use std::process::Command;

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use nml_data::import::{self, folder::FolderOptions};

/// A CIFAR record: label bytes, then pixel value `seed + channel` on every pixel of that plane.
fn record(labels: &[u8], seed: u8) -> Vec<u8> {
    let mut r = labels.to_vec();
    for channel in 0..3u8 {
        r.extend(std::iter::repeat_n(seed.wrapping_add(channel * 50), 1024));
    }
    r
}

#[test]
fn cifar10_binary_files_become_a_manifest_in_original_order() {
    let dir = tempfile::tempdir().unwrap();
    for b in 1..=5u8 {
        let bytes: Vec<u8> = (0..3u8)
            .flat_map(|i| record(&[(b + i) % 10], b * 10 + i))
            .collect();
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    std::fs::write(
        dir.path().join("test_batch.bin"),
        [record(&[9], 1), record(&[0], 2)].concat(),
    )
    .unwrap();
    let m = import::cifar::import(dir.path()).unwrap();
    assert_eq!(m.len(), 17);
    assert_eq!(m.rows_in_split("train").len(), 15);
    assert_eq!(m.class_names[0], "airplane");
    assert_eq!(
        &m.index[12..17],
        &[12, 13, 14, 0, 1],
        "index counts within each split"
    );
    assert_eq!(m.label[3], 2, "batch 2, record 0 has label 2");
    let img = nml_data::decode_rgb(&m.image.as_ref().unwrap()[3]).unwrap();
    assert_eq!(
        img.get_pixel(5, 7).0,
        [20, 70, 120],
        "planes become RGB pixels"
    );

    std::fs::write(dir.path().join("test_batch.bin"), vec![0u8; 3000]).unwrap();
    let err = import::cifar::import(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("test_batch.bin")
            && err.contains("not a positive multiple of the 3073-byte record"),
        "{err}"
    );
    std::fs::write(dir.path().join("test_batch.bin"), record(&[10], 0)).unwrap();
    let err = import::cifar::import(dir.path()).unwrap_err().to_string();
    assert!(
        err.contains("record 0: label 10 is out of range for 10 classes"),
        "{err}"
    );
}

#[test]
fn cifar100_keeps_fine_and_coarse_labels() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("train.bin"),
        [record(&[3, 57], 0), record(&[19, 99], 1)].concat(),
    )
    .unwrap();
    std::fs::write(dir.path().join("test.bin"), record(&[0, 4], 2)).unwrap();
    let m = import::cifar::import(dir.path()).unwrap();
    assert_eq!(m.num_classes(), 100);
    assert_eq!(m.label, vec![57, 99, 4]);
    let coarse = m
        .extra
        .iter()
        .find(|(f, _)| f.name() == "coarse_label")
        .unwrap()
        .1
        .clone();
    assert_eq!(
        coarse.as_primitive::<Int64Type>().values().to_vec(),
        vec![3, 19, 0]
    );
    let missing = tempfile::tempdir().unwrap();
    assert!(import::cifar::import(missing.path())
        .unwrap_err()
        .to_string()
        .contains("no CIFAR binary files"));
}

fn write_image(path: &Path, colour: [u8; 3], jpeg: bool) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let img = image::RgbImage::from_pixel(12, 12, image::Rgb(colour));
    let format = if jpeg {
        image::ImageFormat::Jpeg
    } else {
        image::ImageFormat::Png
    };
    img.save_with_format(path, format).unwrap();
}

#[test]
fn image_folders_with_domains_import_with_stratified_splits() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    for domain in ["photo", "sketch"] {
        for (c, class) in ["cat", "dog"].iter().enumerate() {
            for i in 0..10 {
                let jpeg = i % 2 == 0;
                let name = format!("{i:02}.{}", if jpeg { "jpg" } else { "png" });
                write_image(
                    &root.join(domain).join(class).join(name),
                    [c as u8 * 200, 50, i * 20],
                    jpeg,
                );
            }
        }
    }
    std::fs::write(root.join("photo/cat/notes.txt"), "not an image").unwrap();
    let options = FolderOptions {
        split: "train".into(),
        test_fraction: Some(0.3),
        seed: 1,
    };
    let m = import::folder::import(&root, &options).unwrap();
    assert_eq!(m.len(), 40);
    assert_eq!(m.class_names, ["cat", "dog"]);
    for domain in ["photo", "sketch"] {
        for class in 0..2 {
            let test = (0..m.len())
                .filter(|&r| {
                    m.domain.as_ref().unwrap()[r] == domain
                        && m.label[r] == class
                        && m.split[r] == "test"
                })
                .count();
            assert_eq!(
                test, 3,
                "round(0.3 * 10) test rows in every ({domain}, {class}) group"
            );
        }
    }
    let formats: std::collections::HashSet<_> =
        m.image_format.as_ref().unwrap().iter().cloned().collect();
    assert_eq!(formats, ["jpeg".to_owned(), "png".to_owned()].into());
    assert_eq!(
        import::folder::import(&root, &options).unwrap(),
        m,
        "the split is seeded"
    );

    std::fs::write(root.join("photo/cat/bad.png"), b"GIF89a not really").unwrap();
    let err = import::folder::import(&root, &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.png") && err.contains("not a PNG or JPEG"),
        "{err}"
    );
    let empty = dir.path().join("empty/cls");
    std::fs::create_dir_all(&empty).unwrap();
    let err = import::folder::import(&dir.path().join("empty"), &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no PNG or JPEG images"), "{err}");
}

#[test]
fn max_per_class_keeps_the_first_rows_of_each_split_and_class() {
    let dir = tempfile::tempdir().unwrap();
    // Train labels 1,2,3, 2,3,4, 3,4,5, ...: classes repeat across batches.
    for b in 1..=5u8 {
        let bytes: Vec<u8> = (0..3u8)
            .flat_map(|i| record(&[(b + i) % 10], b * 10 + i))
            .collect();
        std::fs::write(dir.path().join(format!("data_batch_{b}.bin")), bytes).unwrap();
    }
    std::fs::write(
        dir.path().join("test_batch.bin"),
        [record(&[9], 1), record(&[9], 2), record(&[0], 3)].concat(),
    )
    .unwrap();
    let m = import::cifar::import(dir.path()).unwrap();
    let one = import::max_per_class(&m, 1);
    let mut groups = std::collections::BTreeSet::new();
    for r in 0..one.len() {
        assert!(
            groups.insert((one.split[r].clone(), one.label[r])),
            "group kept twice"
        );
    }
    // Train classes 1..=7 once each, test classes 9 and 0.
    assert_eq!(one.rows_in_split("train").len(), 7);
    assert_eq!(one.rows_in_split("test").len(), 2);
    // The first row of class 3 is train index 2 (batch 1, third record).
    let r3 = (0..one.len())
        .find(|&r| one.split[r] == "train" && one.label[r] == 3)
        .unwrap();
    assert_eq!(one.index[r3], 2);
    assert_eq!(one.metadata["nml.max_per_class"], "1");

    let mut captioned = one.clone();
    import::caption_from_classes(&mut captioned, "a photo of a {}").unwrap();
    let text = captioned.text.as_ref().unwrap();
    assert_eq!(text[r3], format!("a photo of a {}", one.label_name[r3]));
    assert!(import::caption_from_classes(&mut captioned, "a {}")
        .unwrap_err()
        .contains("already has a `text` column"));
    assert!(import::caption_from_classes(&mut one.clone(), "a photo")
        .unwrap_err()
        .contains("no `{}`"));
    assert_eq!(import::max_per_class(&m, 100).len(), m.len());
}

#[test]
fn shared_cifar10_and_pacs_import_from_the_command_line() {
    let Some(data) = nml_core::shared_data() else {
        eprintln!("skipped: ../shared/data is absent (set NML_SHARED_DATA to run this test)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for (name, rows, classes) in [("cifar10", 60_000, 10), ("pacs", 9_991, 7)] {
        let out = dir.path().join(format!("{name}.parquet"));
        let status = Command::new(env!("CARGO_BIN_EXE_nml-data"))
            .args(["import", "parquet", "--input"])
            .arg(data.join(format!("{name}.parquet")))
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(
            status.status.success(),
            "{}",
            String::from_utf8_lossy(&status.stderr)
        );
        let m =
            nml_core::Manifest::read_with(&out, nml_core::ReadOptions::without_images()).unwrap();
        assert_eq!((m.len(), m.num_classes()), (rows, classes), "{name}");
        assert!(m.metadata.contains_key("nml.source_hash"));
        assert!(out
            .with_extension("contact")
            .join(format!("{name}-test.png"))
            .exists());
    }
    let pacs = nml_core::Manifest::read_with(
        dir.path().join("pacs.parquet"),
        nml_core::ReadOptions::without_images(),
    )
    .unwrap();
    let domains: std::collections::BTreeSet<_> = pacs.domain.unwrap().into_iter().collect();
    assert_eq!(domains.len(), 4);

    // A stratified subset keeps the CIFAR-10N columns.
    let out = dir.path().join("cifar10-small.parquet");
    let status = Command::new(env!("CARGO_BIN_EXE_nml-data"))
        .args(["import", "parquet", "--max-per-class", "3", "--input"])
        .arg(data.join("cifar10.parquet"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(status.status.success());
    let m = nml_core::Manifest::read(&out).unwrap();
    assert_eq!(m.len(), 60, "3 per class and split");
    assert!(m.extra.iter().any(|(f, _)| f.name() == "worse_label"));
}
