//! Shared helpers of the fixture tests: the backend under test, fixture reading, comparisons.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::TensorData;
use enco::burn;
use safetensors::{Dtype, SafeTensors};

/// Backend under test (selected by the crate features).
pub type B = enco::backend::Backend;
/// Autodiff backend under test.
pub type AB = enco::backend::TrainBackend;

pub fn device() -> burn::tensor::Device<B> {
    enco::backend::default_device()
}

/// Directory of the in-repo fixtures, or `ENCO_FIXTURE_DIR` when set.
pub fn fixture_dir() -> PathBuf {
    match std::env::var_os("ENCO_FIXTURE_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures"),
    }
}

/// A host copy of one tensor of a fixture file.
#[derive(Debug, Clone)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub f32: Vec<f32>,
    pub i64: Vec<i64>,
}

impl HostTensor {
    pub fn tensor<Bk: Backend, const D: usize>(&self, device: &Bk::Device) -> Tensor<Bk, D> {
        Tensor::from_data(
            TensorData::new(self.f32.clone(), self.shape.clone()),
            device,
        )
    }
    pub fn scalar(&self) -> f32 {
        assert_eq!(self.f32.len(), 1, "not a scalar: {:?}", self.shape);
        self.f32[0]
    }
}

/// All tensors of a safetensors file, by name.
pub struct Fixture {
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub tensors: BTreeMap<String, HostTensor>,
}

impl Fixture {
    pub fn open(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
        let st = SafeTensors::deserialize(&bytes).expect("valid safetensors");
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let (f32v, i64v) = match view.dtype() {
                Dtype::F32 => (
                    data.chunks_exact(4)
                        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                        .collect(),
                    Vec::new(),
                ),
                Dtype::F64 => (
                    data.chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32)
                        .collect(),
                    Vec::new(),
                ),
                Dtype::I64 => {
                    let v: Vec<i64> = data
                        .chunks_exact(8)
                        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                        .collect();
                    (v.iter().map(|&x| x as f32).collect(), v)
                }
                other => panic!("unexpected dtype {other:?} for {name}"),
            };
            tensors.insert(
                name.to_string(),
                HostTensor {
                    shape: view.shape().to_vec(),
                    f32: f32v,
                    i64: i64v,
                },
            );
        }
        Self {
            path,
            bytes,
            tensors,
        }
    }

    pub fn get(&self, name: &str) -> &HostTensor {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("{} lacks tensor `{name}`", self.path.display()))
    }

    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// The tensors whose names start with `prefix`, renamed without it, as safetensors bytes.
    pub fn subset_bytes(&self, prefix: &str) -> Vec<u8> {
        let st = SafeTensors::deserialize(&self.bytes).unwrap();
        let views: Vec<(String, safetensors::tensor::TensorView)> = st
            .tensors()
            .into_iter()
            .filter_map(|(name, view)| name.strip_prefix(prefix).map(|n| (n.to_string(), view)))
            .collect();
        safetensors::serialize(views, None).unwrap()
    }
}

/// Largest |a − b| relative to max(max |reference|, floor).
pub fn rel_error(actual: &[f32], reference: &[f32], floor: f32) -> f32 {
    assert_eq!(actual.len(), reference.len(), "length mismatch");
    let scale = reference.iter().fold(floor, |m, v| m.max(v.abs()));
    let err = actual
        .iter()
        .zip(reference)
        .fold(0.0f32, |m, (a, r)| m.max((a - r).abs()));
    if err.is_nan() || actual.iter().any(|v| !v.is_finite()) {
        return f32::INFINITY;
    }
    err / scale
}

pub fn to_vec<Bk: Backend, const D: usize>(t: Tensor<Bk, D>) -> Vec<f32> {
    t.into_data().convert::<f32>().into_vec().unwrap()
}

/// Records the worst relative error per group and every failure.
#[derive(Default)]
pub struct Report {
    pub worst: BTreeMap<String, (f32, String)>,
    pub failures: Vec<String>,
    pub compared: usize,
    /// Explanations printed with the report (e.g. the kinks whose side was chosen).
    pub notes: Vec<String>,
}

impl Report {
    /// Compares `actual` with `reference` (shapes must match) at relative tolerance `tol`.
    #[allow(clippy::too_many_arguments)]
    pub fn check(
        &mut self,
        group: &str,
        name: &str,
        actual: &[f32],
        actual_shape: &[usize],
        reference: &HostTensor,
        tol: f32,
        floor: f32,
    ) {
        self.compared += 1;
        if actual_shape != reference.shape.as_slice() {
            self.failures.push(format!(
                "{group}/{name}: shape {actual_shape:?}, reference {:?}",
                reference.shape
            ));
            return;
        }
        let err = rel_error(actual, &reference.f32, floor);
        let entry = self
            .worst
            .entry(group.to_string())
            .or_insert((0.0, String::new()));
        if err > entry.0 || entry.1.is_empty() {
            *entry = (err, name.to_string());
        }
        if err > tol || !err.is_finite() {
            let scale = reference.f32.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let head: Vec<String> = actual
                .iter()
                .zip(&reference.f32)
                .take(4)
                .map(|(a, r)| format!("{a:.6e}/{r:.6e}"))
                .collect();
            self.failures.push(format!(
                "{group}/{name}: max rel error {err:.3e} > {tol:.0e} (reference max |x| {scale:.3e}; \
                 first actual/reference: {})",
                head.join(", ")
            ));
        }
    }

    pub fn check_tensor<Bk: Backend, const D: usize>(
        &mut self,
        group: &str,
        name: &str,
        actual: Tensor<Bk, D>,
        reference: &HostTensor,
        tol: f32,
    ) {
        let shape = actual.dims().to_vec();
        let values = to_vec(actual);
        self.check(group, name, &values, &shape, reference, tol, 1.0);
    }

    pub fn print(&self, title: &str) {
        println!("== {title}: {} tensors compared", self.compared);
        for (group, (err, name)) in &self.worst {
            println!("   {group:<10} worst rel error {err:.3e}  ({name})");
        }
        for note in &self.notes {
            println!("   {note}");
        }
    }

    pub fn assert_ok(&self, title: &str) {
        self.print(title);
        assert!(
            self.failures.is_empty(),
            "{title}: {} mismatches:\n{}",
            self.failures.len(),
            self.failures.join("\n")
        );
    }
}

/// EnCo with tiny networks for loop tests: ngf = ndf = 4, 2 residual blocks (25 modules; taps
/// 3, 7, 12 | 13, 17, 21), 16-wide heads, K = 16.
pub fn tiny_enco(seed: u64) -> enco::train::EncoConfig {
    use enco::nn::{NLayerDiscriminatorConfig, ResnetGeneratorConfig};
    enco::train::EncoConfig::new()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(16)
        .with_nce_layers(vec![3, 7, 12, 13, 17, 21])
        .with_sampler(enco::sampling::DagSamplerConfig::new().with_num_patches(16))
        .with_seed(seed)
}

/// Every parameter of a run's networks, in visiting order.
pub fn run_weights(run: &enco::train::TrainingRun<AB>) -> Vec<f32> {
    use burn::module::{ModuleVisitor, Param};
    struct Collect(Vec<f32>);
    impl ModuleVisitor<AB> for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            self.0.extend(to_vec(param.val().inner()));
        }
    }
    let mut c = Collect(Vec::new());
    run.trainer.visit(&mut c);
    c.0
}

/// A training run of `model` on `root` for loop tests: resize to `load_size`, 32 px crops with
/// flips, 1 + 1 epochs without warm-up, a checkpoint every 2 iterations, 2 batches prefetched.
pub fn tiny_run(
    model: enco::train::ModelConfig,
    root: &std::path::Path,
    load_size: u32,
) -> enco::train::TrainingConfig {
    use enco::data::{Preprocess, Transform};
    enco::train::TrainingConfig::new(model, root.to_path_buf())
        .with_transform(Transform {
            preprocess: Preprocess::ResizeAndCrop,
            load_size,
            crop_size: 32,
            flip: true,
        })
        .with_n_epochs(1)
        .with_n_epochs_decay(1)
        .with_warmup_epochs(0)
        .with_checkpoint_every(2)
        .with_prefetch(2)
}

/// Unpaired image folders for loop tests: `a` images in `trainA` and `b` in `trainB`, 40×36
/// gradients that differ by image and domain, in `<tmp>/enco-<suite>-<pid>-<name>` (fresh).
pub fn image_folders(suite: &str, name: &str, a: u8, b: u8) -> PathBuf {
    use enco::data::image::{Rgb, RgbImage};
    let root = std::env::temp_dir().join(format!("enco-{suite}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    for (side, n) in [("trainA", a), ("trainB", b)] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        for i in 0..n {
            let img = RgbImage::from_fn(40, 36, |x, y| {
                Rgb([
                    (x * 6) as u8,
                    (y * 7) as u8,
                    i * 60 + if side == "trainA" { 0 } else { 30 },
                ])
            });
            img.save(root.join(side).join(format!("{i}.png"))).unwrap();
        }
    }
    root
}
