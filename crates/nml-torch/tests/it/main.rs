//! Integration tests of nml-torch: a real libtorch op, device choice, seeding,
//! and the guarantee that `libtorch_cuda` is linked whenever libtorch ships it.

use std::path::Path;

use nml_torch::{cuda_linked, cuda_shipped, resolve_device, DeviceSpec, TorchError};
use tch::{Cuda, Device, Kind, Tensor};

fn close(a: &Tensor, b: &Tensor, tol: f64) -> bool {
    f64::try_from((a - b).abs().max()).unwrap() < tol
}

#[test]
fn matmul_and_svd_run_in_libtorch() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0]).reshape([2, 2]);
    let b = Tensor::from_slice(&[5.0f32, 6.0, 7.0, 8.0]).reshape([2, 2]);
    let expected = Tensor::from_slice(&[19.0f32, 22.0, 43.0, 50.0]).reshape([2, 2]);
    assert!(close(&a.matmul(&b), &expected, 1e-5));

    // A = Q diag(3, 2, 1) R with Q, R orthogonal has singular values 3, 2, 1.
    let (q, r) = {
        let _rng = nml_torch::rng_lock();
        nml_torch::seed(1);
        let q = Tensor::linalg_qr(
            &Tensor::randn([3, 3], (Kind::Double, Device::Cpu)),
            "reduced",
        )
        .0;
        let r = Tensor::linalg_qr(
            &Tensor::randn([3, 3], (Kind::Double, Device::Cpu)),
            "reduced",
        )
        .0;
        (q, r)
    };
    let sigma = Tensor::from_slice(&[3.0f64, 2.0, 1.0]);
    let m = q.matmul(&sigma.diag(0)).matmul(&r);
    let (u, s, vh) = nml_torch::svd(&m);
    assert!(close(&s, &sigma, 1e-10), "singular values {s:?}");
    assert!(
        close(&u.matmul(&s.diag(0)).matmul(&vh), &m, 1e-10),
        "U S Vh must rebuild the matrix"
    );
    assert!(close(&nml_torch::svdvals(&m), &sigma, 1e-10));
}

#[test]
fn libtorch_cuda_is_linked_whenever_libtorch_ships_it() {
    let dir = nml_torch::loaded_libtorch_dir()
        .expect("libtorch_cpu.so must be mapped into the test process");
    if dir.join("libtorch_cuda.so").exists() {
        assert!(cuda_shipped());
        assert!(
            cuda_linked(),
            "{} ships libtorch_cuda.so but it is not loaded: the --no-as-needed link args are missing",
            dir.display()
        );
    }
    // On a machine with an NVIDIA driver, a CUDA build must see the GPU.
    if cuda_shipped() && Path::new("/dev/nvidiactl").exists() {
        assert!(
            Cuda::is_available(),
            "an NVIDIA device is present but libtorch reports no CUDA"
        );
    }
}

#[test]
fn device_requests_resolve_or_fail_loudly() {
    assert_eq!(resolve_device(DeviceSpec::Cpu).unwrap(), Device::Cpu);
    let auto = resolve_device(DeviceSpec::Auto).unwrap();
    assert_eq!(auto.is_cuda(), Cuda::is_available());
    match resolve_device(DeviceSpec::Cuda(64)) {
        Err(TorchError::CudaUnavailable {
            requested: 64,
            reason,
        }) => {
            assert!(!Cuda::is_available());
            assert!(!reason.is_empty());
        }
        Err(TorchError::NoSuchDevice {
            requested: 64,
            count,
        }) => assert!(count < 64),
        other => panic!("cuda:64 must be refused, got {other:?}"),
    }
}

#[test]
fn seeding_makes_draws_repeatable() {
    let _rng = nml_torch::rng_lock();
    nml_torch::seed(42);
    let a = Tensor::randn([16], (Kind::Float, Device::Cpu));
    nml_torch::seed(42);
    let b = Tensor::randn([16], (Kind::Float, Device::Cpu));
    nml_torch::seed(43);
    let c = Tensor::randn([16], (Kind::Float, Device::Cpu));
    assert!(a.equal(&b));
    assert!(!a.equal(&c));
}

#[test]
fn autocast_type_can_be_set_to_bfloat16() {
    // The setting is per thread and needs no GPU; this checks the FFI declaration.
    nml_torch::set_cuda_autocast_bf16();
    assert!(nml_torch::cuda_autocast_is_bf16());
    assert!(!nml_torch::cuda_autocast_enabled());
    if Cuda::is_available() {
        let x = Tensor::ones([4, 4], (Kind::Float, Device::Cuda(0)));
        let y = nml_torch::autocast(true, || {
            assert!(nml_torch::cuda_autocast_enabled());
            x.matmul(&x)
        });
        assert_eq!(y.kind(), Kind::BFloat16, "matmul under bf16 autocast");
        assert!(
            !nml_torch::cuda_autocast_enabled(),
            "the scope restores the previous state"
        );
    } else {
        let x = Tensor::ones([4, 4], (Kind::Float, Device::Cpu));
        assert_eq!(
            nml_torch::autocast(true, || x.matmul(&x)).kind(),
            Kind::Float,
            "no autocast without CUDA"
        );
    }
}

#[test]
fn the_doctor_refuses_what_it_cannot_check_in_one_line() {
    use nml_core::refusal::{check_refusals, Refusal};
    let dir = std::env::temp_dir().join(format!("nml-doctor-refusals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        Refusal::new("an unknown device", ["--device", "tpu"], &["--device"]),
        Refusal::new(
            "a CUDA device that is not here",
            ["--device", "cuda:63"],
            &["cuda"],
        ),
        Refusal::new("an empty check", ["--size", "0"], &["--size"]),
        Refusal::new("an unknown flag", ["--bogus"], &["--bogus"]),
    ];
    let result = check_refusals(Path::new(env!("CARGO_BIN_EXE_nml-doctor")), &dir, &cases);
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(why) = result {
        panic!("{why}");
    }
}

#[test]
fn cpu_autocast_computes_products_in_bfloat16_and_restores_the_state() {
    let x = Tensor::randn([64, 64], (Kind::Float, Device::Cpu));
    let w = Tensor::randn([8, 3, 3, 3], (Kind::Float, Device::Cpu));
    let img = Tensor::randn([2, 3, 16, 16], (Kind::Float, Device::Cpu));
    let exact = x.matmul(&x);
    let (y, conv, sum) = nml_torch::autocast_on(Device::Cpu, nml_torch::Compute::Bf16, || {
        assert!(nml_torch::cpu_autocast_enabled());
        (
            x.matmul(&x),
            img.conv2d(&w, None::<Tensor>, [1, 1], [1, 1], [1, 1], 1),
            x.sum(Kind::Float),
        )
    });
    assert!(
        !nml_torch::cpu_autocast_enabled(),
        "the scope restores the previous state"
    );
    assert_eq!((y.kind(), conv.kind()), (Kind::BFloat16, Kind::BFloat16));
    assert_eq!(sum.kind(), Kind::Float, "reductions stay float32");
    // bfloat16 keeps 8 bits of mantissa: relative error about 2^-8 per input.
    let err = (y.to_kind(Kind::Float) - &exact)
        .abs()
        .max()
        .double_value(&[]);
    let scale = exact.abs().max().double_value(&[]);
    assert!(err / scale < 0.02, "bf16 matmul off by {err} of {scale}");
    let fp32 = nml_torch::autocast_on(Device::Cpu, nml_torch::Compute::Fp32, || x.matmul(&x));
    assert_eq!(fp32.kind(), Kind::Float);
    assert!(fp32.equal(&exact));
}

#[test]
fn auto_precision_follows_the_cpus_bfloat16_instructions() {
    let flags = nml_torch::cpu_bf16_flags();
    let expected = if flags.is_empty() {
        nml_torch::Compute::Fp32
    } else {
        nml_torch::Compute::Bf16
    };
    assert_eq!(
        nml_torch::resolve_precision(nml_torch::Precision::Auto, Device::Cpu),
        expected,
        "{flags:?}"
    );
    assert_eq!(
        nml_torch::resolve_precision(nml_torch::Precision::Fp32, Device::Cpu),
        nml_torch::Compute::Fp32
    );
}

/// `x * 1` for a float32 subnormal `x`, computed by libtorch on this thread.
fn subnormal_times_one() -> f32 {
    let x = f32::MIN_POSITIVE / 4.0;
    assert!(x.is_subnormal());
    let product = Tensor::from_slice(&[x]) * Tensor::from_slice(&[1.0f32]);
    f32::try_from(product).unwrap()
}

#[test]
fn denormals_are_flushed_on_this_thread_and_its_children_only_when_asked() {
    use nml_torch::{denormals, Denormals};
    // Own threads: the mode is per thread and the test harness shares its workers.
    std::thread::spawn(|| {
        let _threads = nml_torch::rng_lock();
        tch::set_num_threads(1);
        assert!(denormals::set(Denormals::Keep));
        assert_eq!(denormals::current(), Denormals::Keep);
        assert!(
            subnormal_times_one().is_subnormal(),
            "IEEE gradual underflow"
        );
        assert!(denormals::set(Denormals::Flush));
        assert_eq!(denormals::current(), Denormals::Flush);
        assert_eq!(subnormal_times_one(), 0.0, "flushed to zero");
        // A thread started from a flushed thread (as libtorch's pool is) flushes too.
        let child = std::thread::spawn(|| (denormals::current(), subnormal_times_one()));
        assert_eq!(child.join().unwrap(), (Denormals::Flush, 0.0));
        assert!(denormals::set(Denormals::Keep));
        assert!(subnormal_times_one().is_subnormal());
    })
    .join()
    .unwrap();
}
