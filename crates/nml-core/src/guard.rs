//! Before a command does any work: every file it will write is none of the
//! files it reads, and every one can be written.
//!
//! A binary lists its inputs and its outputs (every file it writes, those
//! derived from a flag's path like `X.noise.json` included, and the folders
//! it writes into) in an [`Io`] and calls [`Io::check`] before it reads data,
//! trains or writes, so a refused command leaves every file as it was.
//! Paths are compared after resolving them (symbolic links, `.` and `..`,
//! the working folder; an existing file also by device and inode, so a hard
//! link is the file it links). Writability is probed by creating and removing
//! a temporary file in the nearest folder that exists, which is what the
//! atomic writes need, whoever runs the command (root ignores permission bits,
//! a read-only mount does not).

use std::path::{Component, Path, PathBuf};

use crate::error::{CoreError, Result};

/// What a command reads and writes, checked together before any work.
#[derive(Debug, Default, Clone)]
pub struct Io {
    inputs: Vec<(String, PathBuf)>,
    trees: Vec<(String, PathBuf)>,
    files: Vec<(String, PathBuf)>,
    folders: Vec<(String, PathBuf)>,
}

impl Io {
    pub fn new() -> Io {
        Io::default()
    }

    /// A file (or folder) the command reads, named by the flag that gave it.
    pub fn input(mut self, flag: &str, path: impl AsRef<Path>) -> Io {
        self.inputs
            .push((flag.to_owned(), path.as_ref().to_path_buf()));
        self
    }

    /// A folder the command reads whole (a dataset's image tree): nothing may
    /// be written inside it.
    pub fn input_tree(mut self, flag: &str, path: impl AsRef<Path>) -> Io {
        self.trees
            .push((flag.to_owned(), path.as_ref().to_path_buf()));
        self.input(flag, path)
    }

    /// Every input of `paths`, each named by `flag`.
    pub fn inputs<P: AsRef<Path>>(mut self, flag: &str, paths: impl IntoIterator<Item = P>) -> Io {
        for p in paths {
            self = self.input(flag, p);
        }
        self
    }

    /// A file the command writes (replacing it when it exists), named by the
    /// flag its path comes from.
    pub fn output(mut self, flag: &str, path: impl AsRef<Path>) -> Io {
        self.files
            .push((flag.to_owned(), path.as_ref().to_path_buf()));
        self
    }

    /// [`Io::output`] when the flag was given.
    pub fn output_opt(self, flag: &str, path: Option<impl AsRef<Path>>) -> Io {
        match path {
            Some(p) => self.output(flag, p),
            None => self,
        }
    }

    /// A folder the command creates or writes into; the files it writes there
    /// are listed with [`Io::output`].
    pub fn folder(mut self, flag: &str, path: impl AsRef<Path>) -> Io {
        self.folders
            .push((flag.to_owned(), path.as_ref().to_path_buf()));
        self
    }

    /// Refuses, naming the flag and the path: an output that is an input, a
    /// file written twice, a file whose place holds a folder (or a folder's a
    /// file), a parent that is a file, or a folder where nothing can be written.
    pub fn check(&self) -> Result<()> {
        let inputs: Vec<(&String, &PathBuf, PathBuf)> = self
            .inputs
            .iter()
            .map(|(f, p)| (f, p, resolve(p)))
            .collect();
        let trees: Vec<(&String, PathBuf)> =
            self.trees.iter().map(|(f, p)| (f, resolve(p))).collect();
        let inside = |at: &str, resolved: &Path| -> Result<()> {
            match trees.iter().find(|(_, t)| resolved.starts_with(t)) {
                Some((flag, _)) => Err(flag_error(
                    at,
                    format!("lies inside the {flag} folder, which is read whole; write outside it"),
                )),
                None => Ok(()),
            }
        };
        let mut written: Vec<(&String, PathBuf)> = Vec::new();
        for (flag, path) in &self.folders {
            let at = format!("{flag} {}", path.display());
            let resolved = resolve(path);
            if path.exists() && !path.is_dir() {
                return Err(flag_error(&at, "exists and is not a folder"));
            }
            if let Some((input, _, _)) = inputs.iter().find(|(_, p, r)| same(path, &resolved, p, r))
            {
                return Err(flag_error(
                    &at,
                    format!("is the {input} input; write into another folder"),
                ));
            }
            inside(&at, &resolved)?;
            writable(&at, &resolved)?;
        }
        for (flag, path) in &self.files {
            let at = format!("{flag} {}", path.display());
            let resolved = resolve(path);
            if let Some((input, given, _)) =
                inputs.iter().find(|(_, p, r)| same(path, &resolved, p, r))
            {
                let what = if *input == flag {
                    format!("{} is read and would be written over", given.display())
                } else {
                    format!("{} is also the {input} input", given.display())
                };
                return Err(flag_error(
                    &at,
                    format!("{what}; write the output to another path"),
                ));
            }
            if let Some((other, _)) = written.iter().find(|(_, r)| *r == resolved) {
                return Err(flag_error(
                    &at,
                    format!("{} is also written for {other}", path.display()),
                ));
            }
            if path.is_dir() {
                return Err(flag_error(
                    &at,
                    format!(
                        "{} is a folder where a file must be written; move it away",
                        path.display()
                    ),
                ));
            }
            inside(&at, &resolved)?;
            writable(&at, &resolved)?;
            written.push((flag, resolved));
        }
        Ok(())
    }
}

fn flag_error(flag: &str, problem: impl Into<String>) -> CoreError {
    CoreError::Flag {
        flag: flag.to_owned(),
        problem: problem.into(),
    }
}

/// Whether two paths name one file: equal once resolved, or, when both
/// exist, the same device and inode (hard links).
fn same(a: &Path, a_resolved: &Path, b: &Path, b_resolved: &Path) -> bool {
    if a_resolved == b_resolved {
        return true;
    }
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.is_file() && x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// `path` made absolute, with its longest existing prefix canonicalised
/// (links followed) and the rest normalised without touching the disk.
pub fn resolve(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let parts: Vec<Component> = absolute.components().collect();
    for keep in (1..=parts.len()).rev() {
        let prefix: PathBuf = parts[..keep].iter().collect();
        if let Ok(mut out) = prefix.canonicalize() {
            for part in &parts[keep..] {
                match part {
                    Component::ParentDir => {
                        out.pop();
                    }
                    Component::CurDir => {}
                    other => out.push(other),
                }
            }
            return out;
        }
    }
    absolute
}

/// The nearest existing ancestor of `resolved` (or itself) must be a folder
/// where a file can be created.
fn writable(at: &str, resolved: &Path) -> Result<()> {
    let mut dir = resolved;
    let existing = loop {
        if std::fs::symlink_metadata(dir).is_ok() {
            break dir;
        }
        match dir.parent() {
            Some(p) => dir = p,
            None => return Ok(()),
        }
    };
    // The output itself may exist as a file: its folder is what must be writable.
    let folder = if existing == resolved && existing.is_file() {
        existing.parent().unwrap_or(existing)
    } else {
        existing
    };
    if !folder.is_dir() {
        return Err(flag_error(
            at,
            format!("{} is a file, not a folder", folder.display()),
        ));
    }
    tempfile::Builder::new()
        .prefix(".nml-write-check")
        .tempfile_in(folder)
        .map(drop)
        .map_err(|e| flag_error(at, format!("cannot write in {}: {e}", folder.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(io: Io) -> String {
        io.check().err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn an_output_that_is_an_input_is_refused_however_it_is_spelled() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("v.npy"), b"x").unwrap();
        std::fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink(d.join("v.npy"), d.join("link.npy")).unwrap();
        std::fs::hard_link(d.join("v.npy"), d.join("hard.npy")).unwrap();
        for spelled in ["v.npy", "sub/../v.npy", "./v.npy", "link.npy", "hard.npy"] {
            let io = Io::new()
                .input("--features", d.join("v.npy"))
                .output("--out", d.join(spelled));
            let err = check(io);
            assert!(
                err.contains("--out") && err.contains("also the --features input"),
                "{spelled}: {err}"
            );
        }
        let io = Io::new()
            .input("--features", d.join("v.npy"))
            .output("--out", d.join("p.parquet"));
        assert_eq!(check(io), "");
    }

    #[test]
    fn blocked_and_unwritable_outputs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), b"x").unwrap();
        std::fs::create_dir(d.join("folder")).unwrap();
        let err = check(Io::new().output("--out", d.join("folder")));
        assert!(err.contains("is a folder where a file"), "{err}");
        let err = check(Io::new().output("--out", d.join("file/x/y.parquet")));
        assert!(err.contains("is a file, not a folder"), "{err}");
        let err = check(Io::new().folder("--out", d.join("file")));
        assert!(err.contains("not a folder"), "{err}");
        let err = check(
            Io::new()
                .output("--out", d.join("a.json"))
                .output("--summary", d.join("folder/../a.json")),
        );
        assert!(err.contains("also written for --out"), "{err}");
        let err = check(Io::new().folder("--out", d).input("--train", d));
        assert!(err.contains("is the --train input"), "{err}");
        let err = check(
            Io::new()
                .input_tree("--root", d)
                .output("--out", d.join("folder/m.parquet")),
        );
        assert!(err.contains("inside the --root folder"), "{err}");
        assert_eq!(
            check(Io::new().output("--out", d.join("new/deep/x.json"))),
            ""
        );
        assert!(!d.join("new").exists(), "the check created a folder");
        let names: Vec<_> = std::fs::read_dir(d).unwrap().collect();
        assert_eq!(names.len(), 2, "the write probe left a file");
    }
}
