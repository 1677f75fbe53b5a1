//! NMTune's regularisers, exactly as the official code computes them
//! (PAPER.md §3), on one batch of tuned features `z` (and frozen `f`).

use tch::{Kind, Tensor};

/// Consistency: MSE between the L2-normalised `z` and the L2-normalised frozen
/// feature (detached), averaged over all elements (so it scales as 1/D).
///
/// # Shapes
/// `z`, `f`: `[B, D]` → scalar.
pub fn consistency(z: &Tensor, f: &Tensor) -> Tensor {
    let zn = normalize(z);
    let fnorm = normalize(&f.detach());
    zn.mse_loss(&fnorm, tch::Reduction::Mean)
}

/// Covariance: Σ_{i≠j} C_ij² / D with C the unbiased batch covariance of `z`.
///
/// # Shapes
/// `z`: `[B, D]` → scalar.
pub fn covariance(z: &Tensor) -> Tensor {
    let d = z.size()[1];
    let centred = z - z.mean_dim([0i64].as_slice(), true, Kind::Float);
    off_diagonal_sq(&centred) / d as f64
}

/// Σ_{i≠j} C_ij² for C = ZᵀZ/(N − 1) of centred rows `Z` (`[…, N, D]` → `[…]`).
///
/// ‖ZᵀZ‖²_F = ‖ZZᵀ‖²_F (both are Σσ⁴), so with fewer rows than dimensions the
/// N×N product stands in for the D×D one (N²D instead of ND² multiply-adds, 8×
/// fewer at a batch of 64 and D = 512); the diagonal is C_jj = Σ_i Z_ij²/(N − 1).
pub(crate) fn off_diagonal_sq(centred: &Tensor) -> Tensor {
    let size = centred.size();
    let (n, d) = (size[size.len() - 2], size[size.len() - 1]);
    let last_two = [-2i64, -1].as_slice();
    let product = if n < d {
        centred.matmul(&centred.transpose(-2, -1))
    } else {
        centred.transpose(-2, -1).matmul(centred)
    };
    let all = product
        .square()
        .sum_dim_intlist(last_two, false, Kind::Float);
    let diagonal = centred
        .square()
        .sum_dim_intlist([-2i64].as_slice(), false, Kind::Float)
        .square()
        .sum_dim_intlist([-1i64].as_slice(), false, Kind::Float);
    (all - diagonal) / ((n - 1) * (n - 1)) as f64
}

/// Dominant singular values: −(1/k) Σ_{i≤k} σ_i/Σσ of the uncentred, unnormalised `z`.
/// An SVD that fails (a diverged, non-finite `z`) is an error with libtorch's reason.
///
/// # Shapes
/// `z`: `[B, D]` → scalar.
pub fn dominant_sv(z: &Tensor, k: i64) -> Result<Tensor, String> {
    // `svd(some, compute_uv = true)`: singular values alone have no backward in libtorch.
    let (_, s, _) = nml_torch::try_svd(z)?;
    let p = &s / s.sum(Kind::Float);
    let k = k.min(s.size()[0]);
    Ok(-p.narrow(0, 0, k).sum(Kind::Float) / k as f64)
}

/// [`dominant_sv`] for a stack of heads: each head's −(1/k) Σ_{i≤k} σ_i/Σσ of its uncentred z (`[G, N, D]` → `[G]`). A failed
/// batched decomposition is redone head by head; a head whose own fails gets 0 and its reason.
pub(crate) fn dominant_sv_per_head(z: &Tensor, topk: &[i64]) -> (Tensor, Vec<Option<String>>) {
    let g = topk.len();
    let (s, failed) = match nml_torch::try_svd(z) {
        Ok((_, s, _)) => (s, vec![None; g]),
        Err(_) => {
            let mut failed = vec![None; g];
            let rows: Vec<Tensor> = (0..g)
                .map(|i| match nml_torch::try_svd(&z.get(i as i64)) {
                    Ok((_, s, _)) => s,
                    Err(e) => {
                        failed[i] = Some(e);
                        let r = z.size()[1].min(z.size()[2]);
                        Tensor::ones([r], (Kind::Float, z.device()))
                    }
                })
                .collect();
            (Tensor::stack(&rows, 0), failed)
        }
    };
    let r = s.size()[1];
    let p = &s / s.sum_dim_intlist([1i64].as_slice(), true, Kind::Float);
    let ks: Vec<i64> = topk.iter().map(|&k| k.min(r)).collect();
    let mask: Vec<f32> = ks
        .iter()
        .flat_map(|&k| (0..r).map(move |i| if i < k { 1.0 } else { 0.0 }))
        .collect();
    let mask = Tensor::from_slice(&mask)
        .view([g as i64, r])
        .to_device(z.device());
    let k = Tensor::from_slice(&ks.iter().map(|&k| k as f32).collect::<Vec<f32>>())
        .to_device(z.device());
    let sv = -(p * mask).sum_dim_intlist([1i64].as_slice(), false, Kind::Float) / k;
    (sv, failed)
}

/// Rows scaled to unit L2 norm over the last dimension (PyTorch's `F.normalize`, eps 1e-12).
pub(crate) fn normalize(x: &Tensor) -> Tensor {
    let norm = x
        .norm_scalaropt_dim(2, [-1i64].as_slice(), true)
        .clamp_min(1e-12);
    x / norm
}
