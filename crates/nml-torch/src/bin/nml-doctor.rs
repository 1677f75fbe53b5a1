//! `nml-doctor`: reports what the libtorch runtime can do here and runs one
//! matmul and one SVD on the chosen device, comparing them with the CPU, and
//! says what `--precision auto` computes in (with one bfloat16 matmul).

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;
use nml_core::logging::{self, Verbosity};
use nml_torch::DeviceSpec;
use tch::{Device, Kind, Tensor};

/// Report the libtorch runtime (paths, CUDA) and check that a matmul and an SVD run.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Device to test: auto, cpu, cuda or cuda:N
    #[arg(long, default_value = "auto")]
    device: DeviceSpec,
    /// Fail unless CUDA is linked and usable
    #[arg(long)]
    require_cuda: bool,
    /// Side of the square matrices used for the check
    #[arg(long, default_value_t = 256)]
    size: i64,
    #[command(flatten)]
    verbosity: Verbosity,
}

fn main() -> ExitCode {
    let args: Args = logging::parse_args();
    logging::init(args.verbosity);
    logging::exit_code(run(&args))
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.size < 1 {
        bail!(
            "--size {}: the check needs matrices of side 1 or more",
            args.size
        );
    }
    nml_torch::configure_threads(None);
    let info = nml_torch::runtime_info();
    let mut out = String::new();
    out.push_str(&format!("{info}\n"));
    if args.require_cuda && !(info.cuda_linked && info.cuda_available) {
        print(&out);
        bail!(
            "--require-cuda: cuda linked = {}, cuda available = {}",
            info.cuda_linked,
            info.cuda_available
        );
    }
    let device =
        nml_torch::resolve_device(args.device).context("cannot use the requested device")?;
    nml_torch::seed(0);
    let n = args.size;
    let a = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let b = Tensor::randn([n, n], (Kind::Float, Device::Cpu));
    let reference = a.matmul(&b);
    let sv_reference = nml_torch::svdvals(&a);
    let (ad, bd) = (a.to_device(device), b.to_device(device));
    let start = Instant::now();
    let product = ad.matmul(&bd).to_device(Device::Cpu);
    let matmul_ms = start.elapsed().as_secs_f64() * 1e3;
    let start = Instant::now();
    let sv = nml_torch::svdvals(&ad).to_device(Device::Cpu);
    let svd_ms = start.elapsed().as_secs_f64() * 1e3;
    let rel = |x: &Tensor, y: &Tensor| -> f64 {
        f64::try_from((x - y).norm() / y.norm()).unwrap_or(f64::NAN)
    };
    let (matmul_err, svd_err) = (rel(&product, &reference), rel(&sv, &sv_reference));
    out.push_str(&format!("device             {device:?}\n"));
    out.push_str(&format!(
        "matmul {n}x{n}      {matmul_ms:.2} ms, rel. error vs cpu {matmul_err:.2e}\n"
    ));
    out.push_str(&format!(
        "svdvals {n}x{n}     {svd_ms:.2} ms, rel. error vs cpu {svd_err:.2e}\n"
    ));
    let compute = nml_torch::resolve_precision(nml_torch::Precision::Auto, device);
    let why = if device.is_cuda() {
        "CUDA".to_owned()
    } else {
        match nml_torch::cpu_bf16_flags().as_slice() {
            [] => "no AMX or AVX-512 BF16 on this CPU".to_owned(),
            flags => format!("CPU with {}", flags.join(", ")),
        }
    };
    out.push_str(&format!("precision auto     {compute} ({why})\n"));
    let start = Instant::now();
    let half = nml_torch::autocast_on(device, nml_torch::Compute::Bf16, || ad.matmul(&bd))
        .to_kind(Kind::Float)
        .to_device(Device::Cpu);
    let bf16_ms = start.elapsed().as_secs_f64() * 1e3;
    let bf16_err = rel(&half, &reference);
    out.push_str(&format!(
        "matmul bf16 {n}x{n} {bf16_ms:.2} ms, rel. error vs cpu fp32 {bf16_err:.2e}\n"
    ));
    print(&out);
    // TF32 matmuls on GPUs are accurate to about 1e-3; anything worse is a wrong result.
    // bfloat16 keeps 8 mantissa bits: about 4e-3 relative error per product.
    if !(matmul_err < 1e-2 && svd_err < 1e-3 && bf16_err < 3e-2) {
        bail!("results on {device:?} disagree with the CPU reference");
    }
    Ok(())
}

#[allow(clippy::print_stdout)] // the report is this binary's output
fn print(text: &str) {
    print!("{text}");
}
