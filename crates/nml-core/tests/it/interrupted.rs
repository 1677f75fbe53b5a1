//! A process killed in the middle of a write must leave no partial file:
//! the destination keeps its old content (or stays absent), and the next
//! write cleans up the dead process's temporary file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use nml_core::{AtomicFile, Manifest, Sample};

const CHILD_ENV: &str = "NML_TEST_KILLED_WRITER";

/// Not a test of its own: the body of the child process that
/// `killed_writer_leaves_no_partial_file` starts and kills. Without the
/// environment variable it returns at once.
#[test]
fn killed_writer_child() {
    let Some(target) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    let mut file = AtomicFile::create(&target).unwrap();
    file.write_all(&vec![b'x'; 1 << 20]).unwrap();
    file.flush().unwrap();
    std::fs::write(target.with_extension("ready"), b"").unwrap();
    std::thread::sleep(Duration::from_secs(120));
    file.commit().unwrap();
}

fn kill_writer_of(target: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "interrupted::killed_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, target)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let ready = target.with_extension("ready");
    let start = Instant::now();
    while !ready.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "child writer never got going"
        );
        if let Some(status) = child.try_wait().unwrap() {
            panic!("child writer exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_file(ready).unwrap();
}

fn small_manifest(label: i64) -> Manifest {
    let samples = (0..3)
        .map(|i| Sample {
            index: i,
            split: "train".into(),
            label,
            ..Sample::default()
        })
        .collect();
    Manifest::from_samples(vec!["a".into(), "b".into()], samples).unwrap()
}

#[test]
fn killed_writer_leaves_no_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("m.parquet");

    kill_writer_of(&target);
    assert!(
        !target.exists(),
        "a killed first write must not leave the destination behind"
    );
    let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(
        leftovers, 1,
        "the dead writer's temporary file is still there"
    );

    small_manifest(0).write(&target).unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "the next write removed the stale temporary"
    );

    kill_writer_of(&target);
    assert_eq!(
        Manifest::read(&target).unwrap(),
        small_manifest(0),
        "a killed rewrite keeps the old content"
    );
}

/// A destination that is a folder is refused before a temporary file exists,
/// and a rename that fails (the destination became a folder) removes its temporary.
#[test]
fn failed_writes_leave_no_temporary() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("o");
    std::fs::create_dir(&folder).unwrap();
    let err = match AtomicFile::create(&folder) {
        Ok(_) => panic!("a folder is refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("is a folder"), "{err}");
    let target = dir.path().join("late");
    let mut file = AtomicFile::create(&target).unwrap();
    file.write_all(b"x").unwrap();
    std::fs::create_dir_all(target.join("inside")).unwrap();
    assert!(file.commit().is_err());
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        left.iter().all(|n| !n.contains(".tmp-")),
        "temporaries left: {left:?}"
    );
}
