//! Atomic file writes: write a temporary sibling, flush it to disk, then rename.
//!
//! A reader never sees a half-written file: until [`AtomicFile::commit`]
//! returns, the destination holds either nothing or its previous content.
//! An error or a panic drops the temporary file; a killed process leaves a
//! `.NAME.tmp-PID-N` sibling that the next write to the same path removes.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::error::{CoreError, Result};

/// A file being written that appears at its final path only on [`commit`](Self::commit).
#[derive(Debug)]
pub struct AtomicFile {
    final_path: PathBuf,
    tmp_path: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path`, creating its parent folders if needed.
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let final_path = path.as_ref().to_path_buf();
        let file_name = final_path
            .file_name()
            .ok_or_else(|| CoreError::invalid(&final_path, "not a file path"))?
            .to_string_lossy()
            .into_owned();
        if final_path.is_dir() {
            return Err(CoreError::invalid(
                &final_path,
                "is a folder; expected a file path to write",
            ));
        }
        let parent = match final_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent)
            .map_err(|e| CoreError::io(&parent, "cannot create folder", e))?;
        remove_stale_temporaries(&parent, &file_name);
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let tmp_path = parent.join(format!(
            ".{file_name}{TMP_MARKER}{}-{n}",
            std::process::id()
        ));
        let file = File::create(&tmp_path)
            .map_err(|e| CoreError::io(&tmp_path, "cannot create temporary file", e))?;
        Ok(AtomicFile {
            final_path,
            tmp_path,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// The destination path.
    pub fn path(&self) -> &Path {
        &self.final_path
    }

    /// Flushes, syncs and renames the temporary file onto the destination.
    pub fn commit(mut self) -> Result<()> {
        let writer = self.writer.take().expect("writer is present until commit");
        let file = writer
            .into_inner()
            .map_err(|e| CoreError::io(&self.tmp_path, "cannot flush", e.into_error()))?;
        file.sync_all()
            .map_err(|e| CoreError::io(&self.tmp_path, "cannot sync", e))?;
        drop(file);
        fs::rename(&self.tmp_path, &self.final_path).map_err(|e| {
            // Nothing is left behind when the rename fails.
            let _ = fs::remove_file(&self.tmp_path);
            CoreError::io(
                &self.final_path,
                "cannot rename temporary file into place",
                e,
            )
        })?;
        if let Some(parent) = self
            .final_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            // Persist the rename itself; failure here only weakens crash safety.
            if let Ok(dir) = File::open(parent) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writer
            .as_mut()
            .expect("writer is present until commit")
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer
            .as_mut()
            .expect("writer is present until commit")
            .flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: impl AsRef<Path>, bytes: &[u8]) -> Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|e| CoreError::io(&file.tmp_path, "cannot write", e))?;
    file.commit()
}

/// Writes `value` as pretty JSON (with a final newline) to `path` atomically.
pub fn write_json_atomic<T: Serialize + ?Sized>(path: impl AsRef<Path>, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

const TMP_MARKER: &str = ".tmp-";

/// Removes the `.NAME.tmp-PID-N` leftovers of dead processes in `dir` and in
/// each folder directly inside it (a cache's entries), whatever file they were
/// writing: a killed writer of an entry nobody writes again leaves them otherwise.
pub fn remove_dead_temporaries_under(dir: &Path) {
    remove_temporaries(dir, None);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_temporaries(&entry.path(), None);
        }
    }
}

/// Removes `.NAME.tmp-PID-N` leftovers of processes that no longer run.
fn remove_stale_temporaries(dir: &Path, file_name: &str) {
    remove_temporaries(dir, Some(file_name));
}

/// Dead writers' temporaries in `dir`: of `file_name`, or of any file.
fn remove_temporaries(dir: &Path, file_name: Option<&str>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let rest = match file_name {
            Some(f) => name.strip_prefix(&format!(".{f}{TMP_MARKER}")),
            None => name
                .strip_prefix('.')
                .and_then(|n| n.rsplit_once(TMP_MARKER))
                .map(|(_, rest)| rest),
        };
        let Some(rest) = rest else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !process_alive(pid) {
            tracing::debug!(path = %entry.path().display(), "removing stale temporary file");
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        // Without /proc we cannot tell; keeping a stray file is the safe side.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_publishes_and_drop_discards() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/out.txt");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!path.exists(), "destination must not exist before commit");
        f.commit().unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");

        let mut g = AtomicFile::create(&path).unwrap();
        g.write_all(b"half").unwrap();
        drop(g);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"hello",
            "an abandoned write keeps the old content"
        );
        let leftovers: Vec<_> = fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "only the committed file remains");
    }

    #[test]
    fn stale_temporaries_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // PID 0 is never a user process, so this temporary is stale by construction.
        let stale = dir.path().join(".out.bin.tmp-0-7");
        let unrelated = dir.path().join(".other.bin.tmp-0-7");
        fs::write(&stale, b"junk").unwrap();
        fs::write(&unrelated, b"junk").unwrap();
        write_atomic(dir.path().join("out.bin"), b"ok").unwrap();
        assert!(!stale.exists());
        assert!(
            unrelated.exists(),
            "only temporaries of the same destination are touched"
        );
    }

    #[test]
    fn a_cache_sweep_removes_dead_temporaries_of_any_entry() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("abc");
        fs::create_dir(&entry).unwrap();
        let dead = entry.join(".features.parquet.tmp-0-3");
        let alive = entry.join(format!(".features.parquet.tmp-{}-4", std::process::id()));
        let top = dir.path().join(".x.json.tmp-0-1");
        let data = entry.join("features.parquet");
        for p in [&dead, &alive, &top, &data] {
            fs::write(p, b"x").unwrap();
        }
        remove_dead_temporaries_under(dir.path());
        assert!(!dead.exists() && !top.exists());
        assert!(alive.exists(), "a live writer's temporary was removed");
        assert!(data.exists());
    }
}
