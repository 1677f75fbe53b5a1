//! Damaged copies of a valid file, for the hostile-input tests every binary
//! runs: what a reader meets when a download is cut short, a disk flips a
//! bit or the wrong file is passed. Deterministic by seed; no randomness
//! crate (SplitMix64).

/// How a copy was damaged, and whether every reader must refuse it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damaged {
    /// `empty`, `truncated to N bytes`, `N bytes flipped`, `garbage`.
    pub what: String,
    pub bytes: Vec<u8>,
    /// True for damage no valid file survives (empty, truncated, garbage);
    /// false for flipped bytes, which may land in a value and leave a
    /// readable file with other numbers.
    pub must_fail: bool,
}

/// `count` flipped-byte copies and the fixed damages (empty, truncations at
/// 1 byte, half, and 8 bytes short of the end, same-length garbage) of `valid`.
pub fn damaged(valid: &[u8], seed: u64, count: usize) -> Vec<Damaged> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let n = valid.len();
    let mut out = vec![Damaged {
        what: "empty".to_owned(),
        bytes: Vec::new(),
        must_fail: true,
    }];
    for keep in [1, n / 2, n.saturating_sub(8)] {
        if keep < n {
            out.push(Damaged {
                what: format!("truncated to {keep} of {n} bytes"),
                bytes: valid[..keep].to_vec(),
                must_fail: true,
            });
        }
    }
    out.push(Damaged {
        what: "garbage".to_owned(),
        bytes: (0..n).map(|_| next() as u8).collect(),
        must_fail: true,
    });
    for _ in 0..count {
        let mut bytes = valid.to_vec();
        let flips = 1 + (next() % 4) as usize;
        for _ in 0..flips.min(n) {
            let at = (next() % n.max(1) as u64) as usize;
            bytes[at] ^= 1 << (next() % 8);
        }
        out.push(Damaged {
            what: format!("{flips} byte(s) flipped"),
            bytes,
            must_fail: false,
        });
    }
    out
}

/// Checks what a binary did with a damaged input: never a panic (exit code
/// 101) or a crash, a refusal as one `error:` line with nothing of `outputs`
/// written, and a refusal wherever the damage leaves no valid file. Ok(true)
/// when the binary read the file (its outputs are then removed for the next try).
pub fn check_run(
    output: &std::process::Output,
    damage: &Damaged,
    outputs: &[&std::path::Path],
) -> Result<bool, String> {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let what = &damage.what;
    match output.status.code() {
        None => return Err(format!("{what}: killed by a signal:\n{stderr}")),
        Some(101) => return Err(format!("{what}: panicked:\n{stderr}")),
        _ => {}
    }
    if output.status.success() {
        if damage.must_fail {
            return Err(format!("{what}: accepted"));
        }
        for path in outputs {
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_dir_all(path);
        }
        return Ok(true);
    }
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.len() != 1 || !lines[0].starts_with("error: ") {
        return Err(format!("{what}: not one error line:\n{stderr}"));
    }
    if let Some(path) = outputs.iter().find(|p| p.exists()) {
        return Err(format!("{what}: refused but wrote {}", path.display()));
    }
    Ok(false)
}
