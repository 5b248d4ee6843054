//! Float32 parity of one full EnCo iteration with the official PyTorch code.
//!
//! Every case directory (`tests/data/fixtures/enco_*`, plus the colon-separated directories of
//! `ENCO_PARITY_CASES`) holds `manifest.json` (all options), the official weights
//! (`weights_{G,D,F}.safetensors`, state_dict names) and `tensors.safetensors` (inputs,
//! intermediates, losses, gradients, parameters after one Adam step). Everything about a case
//! is read from its manifest. The test prints the worst relative error per group and case.
//!
//! Tolerances (fixture README, `docs/parity.md`): forward values 1e-5 relative to
//! max(|ref|, 1), with the updated D's scores, the cams and q/k computed from the recorded G
//! outputs (group `forward`) and from this port's own (group `forward-e2e`; q at 5e-5 there: the
//! prediction head's norm amplifies G's accepted forward differences); losses 1e-6 when computed from the recorded
//! inputs of the loss (group `losses`), 5e-6 end to end (group `losses-e2e`); gradients 1e-4 of
//! the tensor's max (of the network's max for conv biases before instance norm, whose true
//! gradient is 0); Adam on the stored gradients 1e-6.
//!
//! D's gradients are checked twice: end to end from this port's own `fake_B` (group
//! `grads-e2e`), and from the recorded `fake_B` (group `grads-D`), which leaves out G's forward
//! differences.
//!
//! Kinks: a ReLU or LeakyReLU pre-activation within rounding of zero can fall on either side in
//! two correct float32 computations, and the slope there (1 or 0.2) then moves every gradient
//! upstream of it by far more than rounding. When a gradient group misses its tolerance,
//! `parity/kinks.rs` finds these elements in G, D and the updated D, measures the exact effect of
//! flipping each, and checks whether flipping one (or two) brings the group within its unchanged
//! tolerance: the official code then took that kink's other side, and the report says which.
//! No tolerance is loosened for kinks.
//!
//! The baseline cases (`cut_64`, `fastcut_64`, `cyclegan_64`) dispatch on the manifest's
//! `model`. CUT's and FastCUT's recorded generator gradients are not the derivative of their own
//! recorded forward pass; the tensors that miss them are checked against a central difference of
//! the loss along the difference instead (`cut::check_case`, `docs/parity.md`, "Baselines").

mod common;
#[path = "parity/cut.rs"]
mod cut;
#[path = "parity/cyclegan.rs"]
mod cyclegan;
#[path = "parity/kinks.rs"]
mod kinks;

use std::path::{Path, PathBuf};

use burn::module::AutodiffModule;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use common::*;
use enco::burn;
use enco::loss::{GanLoss, GanMode, LossWeighting};
use enco::nn::{
    GeneratorOutput, HeadNorm, NLayerDiscriminator, NLayerDiscriminatorConfig, PytorchWeights,
    ResnetGeneratorConfig,
};
use enco::sampling::DagSamplerConfig;
use enco::train::{EncoConfig, EncoModel, GeneratorPass, official_adam};
use kinks::GradientMap;
use rand::SeedableRng;
use serde_json::Value;

const FORWARD_TOL: f32 = 1e-5;
const Q_E2E_TOL: f32 = 5e-5;
const LOSS_TOL: f32 = 1e-6;
const LOSS_E2E_TOL: f32 = 5e-6;
const GRAD_TOL: f32 = 1e-4;
const ADAM_TOL: f32 = 1e-6;

/// The case directories to check.
fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fixtures"))
            .expect("in-repo fixtures")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("manifest.json").is_file())
            .collect();
    dirs.sort();
    if let Some(extra) = std::env::var_os("ENCO_PARITY_CASES") {
        dirs.extend(std::env::split_paths(&extra).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs
}

/// G and D of a case's options (`netG`, `ngf`, `ndf`, the anti-aliasing flags).
fn networks(options: &Value) -> (ResnetGeneratorConfig, NLayerDiscriminatorConfig) {
    let u = |k: &str| options[k].as_u64().unwrap_or_else(|| panic!("option {k}")) as usize;
    let b = |k: &str| options[k].as_bool().unwrap_or_else(|| panic!("option {k}"));
    let s = |k: &str| options[k].as_str().unwrap_or_else(|| panic!("option {k}"));
    let n_blocks = match s("netG") {
        "resnet_9blocks" => 9,
        "resnet_6blocks" => 6,
        other => panic!("unsupported netG {other}"),
    };
    assert_eq!(s("netD"), "basic", "only the basic PatchGAN is supported");
    assert_eq!(s("normG"), "instance");
    (
        ResnetGeneratorConfig::new()
            .with_input_nc(u("input_nc"))
            .with_output_nc(u("output_nc"))
            .with_ngf(u("ngf"))
            .with_n_blocks(n_blocks)
            .with_no_antialias(b("no_antialias"))
            .with_no_antialias_up(b("no_antialias_up")),
        NLayerDiscriminatorConfig::new()
            .with_input_nc(u("output_nc"))
            .with_ndf(u("ndf"))
            .with_n_layers(u("n_layers_D"))
            .with_no_antialias(b("no_antialias")),
    )
}

/// `--nce_layers` as a list.
fn layer_list(layers: &str) -> Vec<usize> {
    layers
        .split(',')
        .map(|v| v.trim().parse().unwrap())
        .collect()
}

/// `--gan_mode`.
fn gan_mode(name: &str) -> GanMode {
    match name {
        "lsgan" => GanMode::Lsgan,
        "hinge" => GanMode::Hinge,
        "vanilla" => GanMode::Vanilla,
        other => panic!("unsupported gan_mode {other}"),
    }
}

/// The conv biases before an instance norm (true gradient 0), without their network prefix.
fn zero_grad_keys(manifest: &Value) -> Vec<String> {
    manifest["analytically_zero_grad_biases"]["max_abs_grad"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.split_once('.').map(|(_, key)| key.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks a scalar loss (on any backend) against the fixture's value of the same name.
fn check_scalar<Bk: Backend>(
    report: &mut Report,
    group: &str,
    name: &str,
    value: Tensor<Bk, 1>,
    fx: &Fixture,
    tol: f32,
) {
    report.check(group, name, &to_vec(value), &[], fx.get(name), tol, 1e-12);
}

/// Adam applied to the stored gradients `grad_<net>.*` of `module` (freshly loaded), checked
/// against the stored parameters after the step, `<net>_after.*`.
fn check_adam<M>(
    report: &mut Report,
    fx: &Fixture,
    adam: &enco::train::FusedAdamConfig,
    lr: f64,
    module: &M,
    net: &str,
) where
    M: PytorchWeights<AB> + AutodiffModule<AB>,
    M::InnerModule: PytorchWeights<B>,
{
    let grads = stored_grads(module, fx, &format!("grad_{net}."));
    let after = adam.init::<AB, M>().step(lr, module.clone(), grads);
    check_map(
        report,
        "adam",
        &params(&after.valid()),
        fx,
        &format!("{net}_after."),
        ADAM_TOL,
        &[],
        "",
    );
}

/// The D loss and `λ_GAN·L_GAN` computed from the recorded score maps (`pred_fake_Dstep`,
/// `pred_real`, `pred_fake_Gstep`): the loss formulas alone.
fn check_gan_losses(report: &mut Report, fx: &Fixture, mode: GanMode, lambda_gan: f64) {
    let dev = device();
    let recorded = |name: &str| fx.get(name).tensor::<B, 4>(&dev);
    let gan = GanLoss { mode };
    let (loss_d, _, _) = gan.discriminator_loss(recorded("pred_fake_Dstep"), recorded("pred_real"));
    check_scalar(report, "losses", "loss_D", loss_d, fx, LOSS_TOL);
    let loss_gan = gan
        .generator_loss(recorded("pred_fake_Gstep"))
        .mul_scalar(lambda_gan);
    check_scalar(report, "losses", "loss_G_GAN", loss_gan, fx, LOSS_TOL);
}

/// The case's options as an [`EncoConfig`], plus (identity phase, lr factor).
fn config_from_manifest(options: &Value) -> (EncoConfig, bool, f64) {
    let f = |k: &str| options[k].as_f64().unwrap_or_else(|| panic!("option {k}"));
    let u = |k: &str| f(k) as usize;
    let b = |k: &str| options[k].as_bool().unwrap_or_else(|| panic!("option {k}"));
    let s = |k: &str| options[k].as_str().unwrap_or_else(|| panic!("option {k}"));
    let head_norm = match s("prj_norm") {
        "BN" => HeadNorm::BatchNorm,
        "LN" => HeadNorm::LayerNorm,
        "None" => HeadNorm::None,
        other => panic!("unsupported prj_norm {other}"),
    };
    let (generator, discriminator) = networks(options);
    let config = EncoConfig::new()
        .with_generator(generator)
        .with_discriminator(discriminator)
        .with_head_nc(u("netF_nc"))
        .with_head_norm(head_norm)
        .with_nce_layers(layer_list(s("nce_layers")))
        .with_sampler(
            DagSamplerConfig::new()
                .with_num_patches(u("num_patches"))
                .with_oversample_ratio(u("oversample_ratio"))
                .with_random_ratio(f("random_ratio")),
        )
        .with_gan_mode(gan_mode(s("gan_mode")))
        .with_weighting(LossWeighting::Official)
        .with_lambda_gan(f("lambda_GAN"))
        .with_lambda_nce(f("lambda_NCE"))
        .with_lambda_idt(f("lambda_IDT"))
        .with_identity_loss(b("nce_idt"))
        .with_stop_gradient(b("stop_gradient"))
        .with_predictor(!b("no_predictor"))
        .with_lr_g(f("lr_G"))
        .with_lr_d(f("lr_D"))
        .with_lr_f(f("lr_F"))
        .with_beta1(f("beta1") as f32)
        .with_beta2(f("beta2") as f32)
        .with_adam_epsilon(f("adam_eps") as f32);
    (config, b("identity_phase"), f("lr_factor_applied"))
}

/// Parameters (or their gradients) of a module by official key, in PyTorch layout.
fn by_key<M: PytorchWeights<Bk>, Bk: Backend>(
    module: &M,
    value: impl Fn(&burn_store::TensorSnapshot) -> Option<(Vec<usize>, Vec<f32>)>,
) -> GradientMap {
    module
        .collect(None, None, true)
        .iter()
        .filter_map(|snap| {
            let key = M::official_key(&snap.full_path());
            value(snap).map(|(shape, v)| {
                if shape.len() == 2 {
                    // Burn Linear [in, out] → PyTorch [out, in].
                    let (r, c) = (shape[0], shape[1]);
                    let t = (0..c * r).map(|i| v[(i % r) * c + i / r]).collect();
                    (key, (vec![c, r], t))
                } else {
                    (key, (shape, v))
                }
            })
        })
        .collect()
}

fn params<M: PytorchWeights<Bk>, Bk: Backend>(module: &M) -> GradientMap {
    by_key(module, |snap| {
        let data = snap.to_data().ok()?;
        Some((snap.shape.to_vec(), data.convert::<f32>().into_vec().ok()?))
    })
}

fn grads<M: PytorchWeights<AB>>(module: &M, grads: &GradientsParams) -> GradientMap {
    by_key(module, |snap| {
        let id = snap.tensor_id?;
        let values = match snap.shape.len() {
            1 => grads.get::<B, 1>(id).map(to_vec),
            2 => grads.get::<B, 2>(id).map(to_vec),
            4 => grads.get::<B, 4>(id).map(to_vec),
            _ => None,
        }?;
        Some((snap.shape.to_vec(), values))
    })
}

/// Registers the stored gradients `<prefix><key>` for every parameter of `module`.
fn stored_grads<M: PytorchWeights<AB>>(module: &M, fx: &Fixture, prefix: &str) -> GradientsParams {
    let dev = device();
    let mut out = GradientsParams::new();
    for snap in module.collect(None, None, true) {
        let key = M::official_key(&snap.full_path());
        let g = fx.get(&format!("{prefix}{key}"));
        let id = snap.tensor_id.expect("parameter id");
        match g.shape.len() {
            1 => out.register::<B, 1>(id, g.tensor(&dev)),
            2 => out.register::<B, 2>(id, g.tensor::<B, 2>(&dev).transpose()),
            4 => out.register::<B, 4>(id, g.tensor(&dev)),
            r => panic!("rank {r} parameter {key}"),
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn check_map(
    report: &mut Report,
    group: &str,
    actual: &GradientMap,
    fx: &Fixture,
    prefix: &str,
    tol: f32,
    zero_grad_keys: &[String],
    annotation: &str,
) {
    let network_max = actual
        .values()
        .flat_map(|(_, v)| v.iter())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    let expected: Vec<&String> = fx
        .tensors
        .keys()
        .filter(|k| k.starts_with(prefix))
        .collect();
    for full in expected {
        let key = &full[prefix.len()..];
        match actual.get(key) {
            None => report
                .failures
                .push(format!("{group}/{key}: no such parameter or no gradient")),
            Some((shape, values)) => {
                let floor = if zero_grad_keys.iter().any(|k| k == key) {
                    network_max
                } else {
                    1e-12
                };
                report.check(
                    group,
                    &format!("{key}{annotation}"),
                    values,
                    shape,
                    fx.get(full),
                    tol,
                    floor,
                );
            }
        }
    }
}

/// Checks a gradient map at [`GRAD_TOL`]. When it misses, looks among the kinks that `kinks`
/// finds for one or two whose other side the official code took (see the module docs), and
/// checks this port's gradients with those flipped instead, at the same tolerance.
#[allow(clippy::too_many_arguments)]
fn check_gradients(
    report: &mut Report,
    group: &str,
    actual: &GradientMap,
    fx: &Fixture,
    prefix: &str,
    zero_grad: &[String],
    kinks: impl FnOnce() -> Vec<(kinks::Kink, GradientMap)>,
) {
    let error = worst_error(actual, fx, prefix, zero_grad);
    if error <= GRAD_TOL {
        check_map(report, group, actual, fx, prefix, GRAD_TOL, zero_grad, "");
        return;
    }
    let candidates = kinks();
    let side = kinks::official_side(actual, &candidates, GRAD_TOL, |m| {
        worst_error(m, fx, prefix, zero_grad)
    });
    match side {
        Some((chosen, flipped, solutions)) => {
            let after = worst_error(&flipped, fx, prefix, zero_grad);
            for i in chosen {
                report.notes.push(format!(
                    "{group} ({prefix}*): kink {}: the official code took its other side; with it \
                     flipped the worst error goes from {error:.2e} to {after:.2e} ({solutions} of \
                     {} candidates explain it)",
                    candidates[i].0,
                    candidates.len()
                ));
            }
            check_map(
                report,
                group,
                &flipped,
                fx,
                prefix,
                GRAD_TOL,
                zero_grad,
                ", kink flipped",
            );
        }
        None => {
            report.notes.push(format!(
                "{group} ({prefix}*): worst error {error:.2e}; none of the {} kinks within \
                 rounding explains it (one or two flipped)",
                candidates.len()
            ));
            for (kink, _) in &candidates {
                report.notes.push(format!("  candidate {kink}"));
            }
            check_map(report, group, actual, fx, prefix, GRAD_TOL, zero_grad, "");
        }
    }
}

/// The kinks of D's two calls in the D step (on fake_B, found on this port's and on the
/// recorded fake_B, and on real_B), each with the change of D's gradients that flipping it
/// makes when the D step runs on the recorded fake_B (`on_recorded`) or on this port's. Kinks
/// that are not within rounding of zero on that input are left out: flipping them there would
/// not be a rounding-level change.
fn discriminator_step_kinks(
    d: &NLayerDiscriminator<AB>,
    gan_mode: GanMode,
    [our_fake, recorded_fake, real_b]: [Tensor<AB, 4>; 3],
    on_recorded: bool,
) -> Vec<(kinks::Kink, GradientMap)> {
    let fake = if on_recorded {
        &recorded_fake
    } else {
        &our_fake
    };
    let fake_kinks = kinks::discriminator_kinks(d, "D(fake_B)", &our_fake, &recorded_fake);
    let real_kinks = kinks::discriminator_kinks(d, "D(real_B)", &real_b, &real_b);
    let gan = GanLoss { mode: gan_mode };
    // D's gradients of the D step, each call's rectifier inputs passed through its hook.
    let gradients = |fake_hook: kinks::Hook, real_hook: kinks::Hook| {
        let pred_fake = kinks::discriminator_forward(d, fake.clone(), fake_hook);
        let pred_real = kinks::discriminator_forward(d, real_b.clone(), real_hook);
        let (loss, _, _) = gan.discriminator_loss(pred_fake, pred_real);
        grads(d, &GradientsParams::from_grads(loss.backward(), d))
    };
    let base = gradients(&mut kinks::unchanged, &mut kinks::unchanged);
    let mut out = Vec::new();
    for kink in fake_kinks
        .into_iter()
        .filter(|k| k.flippable_on(on_recorded))
    {
        let flipped = gradients(&mut kinks::flipper(&kink), &mut kinks::unchanged);
        out.push((kink, kinks::sub_maps(&flipped, &base)));
    }
    for kink in real_kinks {
        let flipped = gradients(&mut kinks::unchanged, &mut kinks::flipper(&kink));
        out.push((kink, kinks::sub_maps(&flipped, &base)));
    }
    out
}

/// The kinks of the G step (G's ReLUs on the recorded input; the updated D's LeakyReLUs on
/// this port's fake_B and on the recorded one), each with the change of G's gradients that
/// flipping it makes.
fn generator_step_kinks(
    model: &EncoModel<AB>,
    d_after: &NLayerDiscriminator<AB>,
    config: &EncoConfig,
    [real_a, real_b, recorded_fake]: [Tensor<AB, 4>; 3],
    identity_phase: bool,
    ids: &[Vec<Vec<usize>>],
) -> Vec<(kinks::Kink, GradientMap)> {
    let frozen = EncoModel {
        generator: model.generator.clone(),
        discriminator: d_after.clone(),
        heads: model.heads.clone(),
    };
    let pass = |hook: kinks::Hook| {
        kinks::generator_pass(
            model,
            config,
            real_a.clone(),
            real_b.clone(),
            identity_phase,
            hook,
        )
    };
    let generator_gradients = |pass: &GeneratorPass<AB>| {
        let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
        let g = frozen
            .generator_losses(config, pass, real_b.clone(), Some(ids), &mut rng)
            .expect("G losses");
        let mut all = g.loss.backward();
        grads(
            &model.generator,
            &GradientsParams::from_module(&mut all, &model.generator),
        )
    };

    // G's own ReLUs: the whole G step again with the kink flipped.
    let mut g_kinks = Vec::new();
    {
        let mut hook = kinks::detector("G", FORWARD_TOL, &mut g_kinks);
        pass(&mut hook);
    }
    let mut out = Vec::new();
    let base = generator_gradients(&pass(&mut kinks::unchanged));
    for kink in g_kinks {
        let flipped = generator_gradients(&pass(&mut kinks::flipper(&kink)));
        out.push((kink, kinks::sub_maps(&flipped, &base)));
    }

    // The updated D's LeakyReLUs: the adversarial term's gradient with and without the flip.
    let our_fake = pass(&mut kinks::unchanged).fake_b.detach();
    let gan = GanLoss {
        mode: config.gan_mode,
    };
    let d_kinks = kinks::discriminator_kinks(d_after, "D_after(fake_B)", &our_fake, &recorded_fake);
    for kink in d_kinks.into_iter().filter(|k| k.flippable_on(false)) {
        let fake_b = pass(&mut kinks::unchanged).fake_b;
        let pred = kinks::discriminator_forward(d_after, fake_b.clone(), &mut kinks::unchanged);
        let flipped = kinks::discriminator_forward(d_after, fake_b, &mut kinks::flipper(&kink));
        let delta =
            (gan.generator_loss(flipped) - gan.generator_loss(pred)).mul_scalar(config.lambda_gan);
        let mut all = delta.backward();
        let delta = grads(
            &model.generator,
            &GradientsParams::from_module(&mut all, &model.generator),
        );
        out.push((kink, delta));
    }
    out
}

/// The largest relative error of a gradient map against the fixture (the floors of
/// [`check_map`]).
fn worst_error(actual: &GradientMap, fx: &Fixture, prefix: &str, zero_grad_keys: &[String]) -> f32 {
    let network_max = actual
        .values()
        .flat_map(|(_, v)| v.iter())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    actual
        .iter()
        .filter_map(|(key, (_, values))| {
            let reference = fx.tensors.get(&format!("{prefix}{key}"))?;
            let floor = if zero_grad_keys.iter().any(|k| k == key) {
                network_max
            } else {
                1e-12
            };
            Some(rel_error(values, &reference.f32, floor))
        })
        .fold(0.0, f32::max)
}

/// The G pass as the official code computed it: the recorded `fake`, `fake_B`, `idt_B` and tapped
/// features, so that what follows G (the updated D, sampling, the heads) is checked on the same
/// inputs as the official code had.
fn recorded_generator_pass(
    fx: &Fixture,
    model: &EncoModel<AB>,
    config: &EncoConfig,
    batch: usize,
) -> GeneratorPass<AB> {
    let dev = device();
    let tensor = |name: &str| fx.get(name).tensor::<AB, 4>(&dev);
    let mut layers = config.nce_layers.clone();
    layers.sort_unstable();
    layers.dedup();
    // Tap 0 is G's input; every other tap is recorded as `feat_<layer>`.
    let features = layers
        .iter()
        .map(|&l| match l {
            0 => tensor("G_input"),
            l => tensor(&format!("feat_{l}")),
        })
        .collect();
    let output = GeneratorOutput {
        output: tensor("fake"),
        features,
        layers,
    };
    let identity_phase = fx.has("idt_B");
    GeneratorPass::from_output(&model.generator, config, output, batch, identity_phase)
        .expect("recorded generator pass")
}

fn load_model(dir: &Path, config: &EncoConfig) -> EncoModel<AB> {
    let dev = device();
    let model = config.init::<AB>(&dev).expect("model");
    EncoModel {
        generator: model
            .generator
            .load_safetensors(dir.join("weights_G.safetensors"))
            .expect("weights_G"),
        discriminator: model
            .discriminator
            .load_safetensors(dir.join("weights_D.safetensors"))
            .expect("weights_D"),
        heads: model
            .heads
            .load_safetensors(dir.join("weights_F.safetensors"))
            .expect("weights_F"),
    }
}

/// Checks one case of any model: the manifest's `model` field (`cut`, `fastcut`, `cycle_gan`;
/// absent for EnCo) picks the check.
fn check_case(dir: &Path) -> Report {
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("manifest.json")).unwrap()).unwrap();
    match manifest["model"].as_str() {
        None | Some("enco") => check_enco_case(dir, &manifest),
        Some("cut" | "fastcut") => cut::check_case(dir, &manifest),
        Some("cycle_gan") => cyclegan::check_case(dir, &manifest),
        Some(other) => panic!("{}: unknown model {other}", dir.display()),
    }
}

fn check_enco_case(dir: &Path, manifest: &Value) -> Report {
    let (config, identity_phase, lr_factor) = config_from_manifest(&manifest["options"]);
    let zero_grad = zero_grad_keys(manifest);
    let fx = Fixture::open(dir.join("tensors.safetensors"));
    let dev = device();
    let mut report = Report::default();
    let model = load_model(dir, &config);

    // Forward.
    let real_a = fx.get("real_A").tensor::<AB, 4>(&dev);
    let real_b = fx.get("real_B").tensor::<AB, 4>(&dev);
    let pass = model
        .generate(&config, real_a, real_b.clone(), identity_phase)
        .expect("generator pass");
    report.check_tensor(
        "forward",
        "fake",
        pass.output.clone().inner(),
        fx.get("fake"),
        FORWARD_TOL,
    );
    report.check_tensor(
        "forward",
        "fake_B",
        pass.fake_b.clone().inner(),
        fx.get("fake_B"),
        FORWARD_TOL,
    );
    if let Some(idt) = &pass.idt_b {
        report.check_tensor(
            "forward",
            "idt_B",
            idt.clone().inner(),
            fx.get("idt_B"),
            FORWARD_TOL,
        );
    }
    let mut layers = config.nce_layers.clone();
    layers.sort_unstable();
    for (layer, feat) in layers.iter().zip(&pass.features) {
        let name = format!("feat_{layer}");
        report.check_tensor(
            "forward",
            &name,
            feat.clone().inner(),
            fx.get(&name),
            FORWARD_TOL,
        );
    }

    // D step.
    let d = model
        .discriminator_losses(&config, &pass, real_b.clone())
        .expect("D losses");
    report.check_tensor(
        "forward",
        "pred_fake_Dstep",
        d.pred_fake.clone().inner(),
        fx.get("pred_fake_Dstep"),
        FORWARD_TOL,
    );
    report.check_tensor(
        "forward",
        "pred_real",
        d.pred_real.clone().inner(),
        fx.get("pred_real"),
        FORWARD_TOL,
    );
    for (name, t) in [
        ("loss_D", &d.loss),
        ("loss_D_fake", &d.fake),
        ("loss_D_real", &d.real),
    ] {
        check_scalar(
            &mut report,
            "losses-e2e",
            name,
            t.clone(),
            &fx,
            LOSS_E2E_TOL,
        );
    }
    let grads_d = GradientsParams::from_grads(d.loss.backward(), &model.discriminator);
    let recorded_fake_b = fx.get("fake_B").tensor::<AB, 4>(&dev);
    let d_inputs = [
        pass.fake_b.clone().detach(),
        recorded_fake_b.clone(),
        real_b.clone(),
    ];
    check_gradients(
        &mut report,
        "grads-e2e",
        &grads(&model.discriminator, &grads_d),
        &fx,
        "grad_D.",
        &zero_grad,
        || {
            discriminator_step_kinks(
                &model.discriminator,
                config.gan_mode,
                d_inputs.clone(),
                false,
            )
        },
    );
    // The same D step on the recorded fake_B: D's gradients without G's forward differences.
    let mut recorded_pass = pass.clone();
    recorded_pass.fake_b = recorded_fake_b.clone();
    let d_rec = model
        .discriminator_losses(&config, &recorded_pass, real_b.clone())
        .expect("D losses");
    let grads_d = GradientsParams::from_grads(d_rec.loss.backward(), &model.discriminator);
    check_gradients(
        &mut report,
        "grads-D",
        &grads(&model.discriminator, &grads_d),
        &fx,
        "grad_D.",
        &zero_grad,
        || {
            discriminator_step_kinks(
                &model.discriminator,
                config.gan_mode,
                d_inputs.clone(),
                true,
            )
        },
    );

    // G step with the updated (stored) D, frozen; recorded ids injected.
    let d_after = model
        .discriminator
        .clone()
        .load_safetensors_bytes(fx.subset_bytes("D_after."))
        .expect("D_after");
    let frozen = EncoModel {
        generator: model.generator.clone(),
        discriminator: d_after.no_grad(),
        heads: model.heads.clone(),
    };
    let batch = fx.get("real_A").shape[0];
    let n_pairs = config.nce_layers.len() / 2;
    let ids: Vec<Vec<Vec<usize>>> = (0..n_pairs)
        .map(|i| {
            (0..batch)
                .map(|b| {
                    fx.get(&format!("ids_{i}_{b}"))
                        .i64
                        .iter()
                        .map(|&v| v as usize)
                        .collect()
                })
                .collect()
        })
        .collect();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
    let g = frozen
        .generator_losses(&config, &pass, real_b, Some(&ids), &mut rng)
        .expect("G losses");
    // The same G step on the recorded G outputs (fake_B and the tapped features): the updated D,
    // the score maps, the heads and the projections without G's forward differences.
    let recorded_pass = recorded_generator_pass(&fx, &model, &config, batch);
    let g_rec = frozen
        .generator_losses(
            &config,
            &recorded_pass,
            fx.get("real_B").tensor(&dev),
            Some(&ids),
            &mut rng,
        )
        .expect("G losses on the recorded pass");
    for (group, losses, q_tol) in [
        ("forward", &g_rec, FORWARD_TOL),
        ("forward-e2e", &g, Q_E2E_TOL),
    ] {
        report.check_tensor(
            group,
            "pred_fake_Gstep",
            losses.pred_fake.clone().inner(),
            fx.get("pred_fake_Gstep"),
            FORWARD_TOL,
        );
        for i in 0..n_pairs {
            let cam = &losses.cams[i];
            let name = format!("cam_{i}");
            let values = to_vec(cam.clone().inner());
            report.check(
                group,
                &name,
                &values,
                &cam.dims(),
                fx.get(&name),
                FORWARD_TOL,
                1.0,
            );
            for (name, t, tol) in [("q", &losses.q[i], q_tol), ("k", &losses.k[i], FORWARD_TOL)] {
                let name = format!("{name}_{i}");
                let values = to_vec(t.clone().inner());
                report.check(group, &name, &values, &t.dims(), fx.get(&name), tol, 1.0);
            }
        }
    }
    for i in 0..n_pairs {
        let name = format!("loss_pair_{i}");
        check_scalar(
            &mut report,
            "losses-e2e",
            &name,
            g.pairs[i].clone(),
            &fx,
            LOSS_E2E_TOL,
        );
        // The loss formula alone, on the recorded q and k.
        let q = fx.get(&format!("q_{i}")).tensor::<B, 2>(&dev);
        let k = fx.get(&format!("k_{i}")).tensor::<B, 2>(&dev);
        check_scalar(
            &mut report,
            "losses",
            &name,
            enco::loss::enco_pair_loss(q, k),
            &fx,
            LOSS_TOL,
        );
    }
    check_gan_losses(&mut report, &fx, config.gan_mode, config.lambda_gan);
    let recorded = |name: &str| fx.get(name).tensor::<B, 4>(&dev);
    let pairs: Vec<Tensor<B, 1>> = (0..n_pairs)
        .map(|i| Tensor::from_data([fx.get(&format!("loss_pair_{i}")).scalar()], &dev))
        .collect();
    let content = enco::loss::enco_content_loss(&pairs, config.lambda_nce);
    check_scalar(
        &mut report,
        "losses",
        "loss_EnCo",
        content.clone(),
        &fx,
        LOSS_TOL,
    );
    let identity = fx
        .has("loss_idt")
        .then(|| Tensor::<B, 1>::from_data([fx.get("loss_idt").scalar()], &dev));
    let total = config.weighting.combine(
        Tensor::from_data([fx.get("loss_G_GAN").scalar()], &dev),
        Tensor::from_data([fx.get("loss_EnCo").scalar()], &dev),
        identity,
    );
    check_scalar(&mut report, "losses", "loss_G", total, &fx, LOSS_TOL);
    if fx.has("loss_idt") {
        let real_b_host = recorded("real_B");
        let idt = recorded("idt_B");
        let loss_idt = enco::loss::identity_loss(real_b_host, idt).mul_scalar(config.lambda_idt);
        check_scalar(&mut report, "losses", "loss_idt", loss_idt, &fx, LOSS_TOL);
    }
    let mut scalars = vec![
        ("loss_G_GAN", g.gan.clone()),
        ("loss_EnCo", g.content.clone()),
        ("loss_G", g.loss.clone()),
    ];
    if let Some(idt) = &g.identity {
        scalars.push(("loss_idt", idt.clone()));
    }
    assert_eq!(
        g.identity.is_some(),
        fx.has("loss_idt"),
        "identity phase disagrees with the case"
    );
    for (name, t) in scalars {
        check_scalar(&mut report, "losses-e2e", name, t, &fx, LOSS_E2E_TOL);
    }
    let mut all = g.loss.backward();
    let grads_g = GradientsParams::from_module(&mut all, &model.generator);
    let grads_f = GradientsParams::from_module(&mut all, &model.heads);
    let grads_frozen_d = GradientsParams::from_module(&mut all, &frozen.discriminator);
    assert_eq!(
        grads_frozen_d.len(),
        0,
        "the frozen discriminator received gradients"
    );
    check_gradients(
        &mut report,
        "gradients",
        &grads(&model.generator, &grads_g),
        &fx,
        "grad_G.",
        &zero_grad,
        || {
            generator_step_kinks(
                &model,
                &frozen.discriminator,
                &config,
                [
                    fx.get("real_A").tensor(&dev),
                    fx.get("real_B").tensor(&dev),
                    recorded_fake_b,
                ],
                identity_phase,
                &ids,
            )
        },
    );
    check_map(
        &mut report,
        "gradients",
        &grads(&model.heads, &grads_f),
        &fx,
        "grad_F.",
        GRAD_TOL,
        &[],
        "",
    );

    // Adam applied to the stored gradients.
    let adam = official_adam(&config);
    let fresh = load_model(dir, &config);
    check_adam(
        &mut report,
        &fx,
        &adam,
        config.lr_g * lr_factor,
        &fresh.generator,
        "G",
    );
    check_adam(
        &mut report,
        &fx,
        &adam,
        config.lr_d * lr_factor,
        &fresh.discriminator,
        "D",
    );
    check_adam(
        &mut report,
        &fx,
        &adam,
        config.lr_f * lr_factor,
        &fresh.heads,
        "F",
    );
    report
}

/// Checks every case and fails with the list of mismatches.
fn check_cases(dirs: &[PathBuf]) {
    let mut failures = Vec::new();
    for dir in dirs {
        let report = check_case(dir);
        report.print(&format!("{} ({})", dir.display(), enco::backend::NAME));
        failures.extend(
            report
                .failures
                .iter()
                .map(|f| format!("{}: {f}", dir.display())),
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every case in the fixture directory: the EnCo cases, CycleGAN, CUT and FastCUT (whose
/// generator gradients are arbitrated by a central difference, see `cut::check_case`).
#[test]
fn one_iteration_matches_the_official_code() {
    let dirs = case_dirs();
    assert!(
        dirs.len() >= 6,
        "expected the in-repo cases, found {dirs:?}"
    );
    check_cases(&dirs);
}
