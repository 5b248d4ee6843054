//! Parity of one CUT or FastCUT iteration (fixtures `cut_64`, `fastcut_64`; manifest `model`
//! `cut` / `fastcut`), at the tolerances of the EnCo cases; G's gradients that miss the
//! recording are arbitrated by a central difference of the loss
//! ([`check_generator_gradients`]).

use super::*;
use enco::nn::PatchSampleHeads;
use enco::train::{CutConfig, CutModel, CutVariant};

/// The case's options as a [`CutConfig`].
fn cut_config(options: &Value) -> CutConfig {
    let f = |k: &str| options[k].as_f64().unwrap_or_else(|| panic!("option {k}"));
    let u = |k: &str| f(k) as usize;
    let b = |k: &str| options[k].as_bool().unwrap_or_else(|| panic!("option {k}"));
    let s = |k: &str| options[k].as_str().unwrap_or_else(|| panic!("option {k}"));
    assert_eq!(s("netF"), "mlp_sample", "CUT's heads are mlp_sample");
    let variant = match s("model") {
        "cut" => CutVariant::Cut,
        "fastcut" => CutVariant::FastCut,
        other => panic!("not a CUT model: {other}"),
    };
    let (generator, discriminator) = networks(options);
    CutConfig::new()
        .with_variant(variant)
        .with_generator(generator)
        .with_discriminator(discriminator)
        .with_head_nc(u("netF_nc"))
        .with_nce_layers(layer_list(s("nce_layers")))
        .with_num_patches(u("num_patches"))
        .with_nce_t(f("nce_T"))
        .with_lambda_gan(f("lambda_GAN"))
        .with_lambda_nce(f("lambda_NCE"))
        .with_nce_idt(b("nce_idt"))
        .with_flip_equivariance(b("flip_equivariance"))
        .with_negatives_from_minibatch(b("nce_includes_all_negatives_from_minibatch"))
        .with_gan_mode(gan_mode(s("gan_mode")))
        .with_lr(f("lr"))
        .with_beta1(f("beta1") as f32)
        .with_beta2(f("beta2") as f32)
}

fn load_model(dir: &Path, config: &CutConfig) -> CutModel<AB> {
    let model = config.init::<AB>(&device()).expect("CUT model");
    CutModel {
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

pub fn check_case(dir: &Path, manifest: &Value) -> Report {
    let config = cut_config(&manifest["options"]);
    let lr_factor = manifest["options"]["lr_factor_applied"].as_f64().unwrap();
    let flipped = manifest["flip"]["flipped"].as_bool().unwrap();
    let zero_grad = zero_grad_keys(manifest);
    let fx = Fixture::open(dir.join("tensors.safetensors"));
    let dev = device();
    let mut report = Report::default();
    let model = load_model(dir, &config);
    let recorded = |name: &str| fx.get(name).tensor::<AB, 4>(&dev);
    let real_a = recorded("real_A");
    let real_b = recorded("real_B");
    let batch = real_a.dims()[0];
    let terms: Vec<&str> = if config.nce_idt {
        vec!["NCE", "NCE_Y"]
    } else {
        vec!["NCE"]
    };

    // Forward.
    let pass = model
        .generate(&config, real_a.clone(), real_b.clone(), flipped)
        .expect("G pass");
    let fwd = |report: &mut Report, group: &str, name: &str, t: Tensor<AB, 4>| {
        report.check_tensor(group, name, t.inner(), fx.get(name), FORWARD_TOL)
    };
    fwd(&mut report, "forward", "G_input", pass.input.clone());
    fwd(&mut report, "forward", "fake_B", pass.fake_b.clone());
    if let Some(idt) = &pass.idt_b {
        fwd(&mut report, "forward", "idt_B", idt.clone());
    }
    // The encoder features of each term's source and target (the recorded target).
    for (t, (src, tgt)) in terms
        .iter()
        .zip([("real_A", "fake_B"), ("real_B", "idt_B")])
    {
        let feat_k = model
            .generator
            .encode(recorded(src), &config.nce_layers)
            .unwrap();
        let feat_q = model
            .generator
            .encode(recorded(tgt), &config.nce_layers)
            .unwrap();
        for (j, &l) in config.nce_layers.iter().enumerate() {
            if l == 0 {
                continue;
            }
            fwd(
                &mut report,
                "forward",
                &format!("{t}.feat_k.L{l}"),
                feat_k[j].clone(),
            );
            fwd(
                &mut report,
                "forward",
                &format!("{t}.feat_q.L{l}"),
                feat_q[j].clone(),
            );
            let flipped_name = format!("{t}.feat_q_flipped.L{l}");
            if fx.has(&flipped_name) {
                fwd(
                    &mut report,
                    "forward",
                    &flipped_name,
                    feat_q[j].clone().flip([3]),
                );
            }
        }
    }

    // D step, end to end and on the recorded fake_B.
    let d = model
        .discriminator_losses(&config, &pass, real_b.clone())
        .expect("D losses");
    fwd(
        &mut report,
        "forward-e2e",
        "pred_fake_Dstep",
        d.pred_fake.clone(),
    );
    fwd(&mut report, "forward", "pred_real", d.pred_real.clone());
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
    check_gradients(
        &mut report,
        "grads-e2e",
        &grads(&model.discriminator, &grads_d),
        &fx,
        "grad_D.",
        &zero_grad,
        Vec::new,
    );
    let mut recorded_pass = pass.clone();
    recorded_pass.fake_b = recorded("fake_B");
    recorded_pass.idt_b = pass.idt_b.as_ref().map(|_| recorded("idt_B"));
    let d_rec = model
        .discriminator_losses(&config, &recorded_pass, real_b.clone())
        .expect("D losses");
    fwd(
        &mut report,
        "forward",
        "pred_fake_Dstep",
        d_rec.pred_fake.clone(),
    );
    let grads_d = GradientsParams::from_grads(d_rec.loss.backward(), &model.discriminator);
    check_gradients(
        &mut report,
        "grads-D",
        &grads(&model.discriminator, &grads_d),
        &fx,
        "grad_D.",
        &zero_grad,
        Vec::new,
    );

    // G step with the updated (stored) D, frozen; the recorded ids injected.
    let d_after = model
        .discriminator
        .clone()
        .load_safetensors_bytes(fx.subset_bytes("D_after."))
        .expect("D_after");
    let frozen = CutModel {
        generator: model.generator.clone(),
        discriminator: d_after.no_grad(),
        heads: model.heads.clone(),
    };
    let ids: Vec<Vec<Vec<usize>>> = terms
        .iter()
        .map(|t| {
            config
                .nce_layers
                .iter()
                .map(|l| {
                    let name = format!("{t}.ids.L{l}");
                    fx.get(&name).i64.iter().map(|&v| v as usize).collect()
                })
                .collect()
        })
        .collect();
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(0);
    let g = frozen
        .generator_losses(
            &config,
            &pass,
            real_a.clone(),
            real_b.clone(),
            Some(&ids),
            &mut rng,
        )
        .expect("G losses");
    let g_rec = frozen
        .generator_losses(
            &config,
            &recorded_pass,
            real_a,
            real_b,
            Some(&ids),
            &mut rng,
        )
        .expect("G losses on the recorded pass");
    for (group, losses) in [("forward", &g_rec), ("forward-e2e", &g)] {
        if let Some(pred) = &losses.pred_fake {
            fwd(&mut report, group, "pred_fake_Gstep", pred.clone());
        }
        let nce_terms = std::iter::once(&losses.nce).chain(losses.nce_y.as_ref());
        for (t, term) in terms.iter().zip(nce_terms) {
            for (j, l) in config.nce_layers.iter().enumerate() {
                for (kind, x) in [("q", &term.q[j]), ("k", &term.k[j])] {
                    let name = format!("{t}.{kind}.L{l}");
                    let values = to_vec(x.clone().inner());
                    report.check(
                        group,
                        &name,
                        &values,
                        &x.dims(),
                        fx.get(&name),
                        FORWARD_TOL,
                        1.0,
                    );
                }
            }
        }
    }

    // Losses from the recorded inputs of each formula.
    let groups = if config.negatives_from_minibatch {
        1
    } else {
        batch
    };
    let mut layer_sum = Vec::new();
    for t in &terms {
        let mut sum = 0.0f32;
        for l in &config.nce_layers {
            let q = fx.get(&format!("{t}.q.L{l}")).tensor::<B, 2>(&dev);
            let k = fx.get(&format!("{t}.k.L{l}")).tensor::<B, 2>(&dev);
            let name = format!("{t}.patch_loss.L{l}");
            let patch = enco::loss::patch_nce_loss(q, k, groups, config.nce_t);
            report.check(
                "losses",
                &name,
                &to_vec(patch.clone()),
                &patch.dims(),
                fx.get(&name),
                LOSS_TOL,
                1.0,
            );
            let recorded_patch = fx.get(&name).tensor::<B, 1>(&dev);
            let name = format!("{t}.layer_loss.L{l}");
            let layer = recorded_patch.mul_scalar(config.lambda_nce).mean();
            check_scalar(&mut report, "losses", &name, layer, &fx, LOSS_TOL);
            sum += fx.get(&name).scalar();
        }
        let name = if *t == "NCE" {
            "loss_NCE"
        } else {
            "loss_NCE_Y"
        };
        let total =
            Tensor::<B, 1>::from_data([sum], &dev).div_scalar(config.nce_layers.len() as f64);
        check_scalar(&mut report, "losses", name, total, &fx, LOSS_TOL);
        layer_sum.push(fx.get(name).scalar());
    }
    check_gan_losses(&mut report, &fx, config.gan_mode, config.lambda_gan);
    let scalar = |v: f32| Tensor::<B, 1>::from_data([v], &dev);
    let total = match layer_sum.as_slice() {
        [nce, nce_y] => {
            scalar(fx.get("loss_G_GAN").scalar()) + (scalar(*nce) + scalar(*nce_y)).mul_scalar(0.5)
        }
        [nce] => scalar(fx.get("loss_G_GAN").scalar()) + scalar(*nce),
        _ => unreachable!(),
    };
    check_scalar(&mut report, "losses", "loss_G", total, &fx, LOSS_TOL);

    // The same losses end to end.
    let nce_terms: Vec<_> = std::iter::once(&g.nce).chain(g.nce_y.as_ref()).collect();
    for (t, term) in terms.iter().zip(&nce_terms) {
        for (j, l) in config.nce_layers.iter().enumerate() {
            let name = format!("{t}.patch_loss.L{l}");
            let patch = term.patch_losses[j].clone();
            // Per-patch values: forward tensors of the end-to-end pass, at its tolerance.
            report.check(
                "forward-e2e",
                &name,
                &to_vec(patch.clone().inner()),
                &patch.dims(),
                fx.get(&name),
                FORWARD_TOL,
                1.0,
            );
            let name = format!("{t}.layer_loss.L{l}");
            check_scalar(
                &mut report,
                "losses-e2e",
                &name,
                term.layer_losses[j].clone(),
                &fx,
                LOSS_E2E_TOL,
            );
        }
        let name = if *t == "NCE" {
            "loss_NCE"
        } else {
            "loss_NCE_Y"
        };
        check_scalar(
            &mut report,
            "losses-e2e",
            name,
            term.loss.clone(),
            &fx,
            LOSS_E2E_TOL,
        );
    }
    check_scalar(
        &mut report,
        "losses-e2e",
        "loss_G_GAN",
        g.gan.clone(),
        &fx,
        LOSS_E2E_TOL,
    );
    check_scalar(
        &mut report,
        "losses-e2e",
        "loss_G",
        g.loss.clone(),
        &fx,
        LOSS_E2E_TOL,
    );

    // Gradients of the G step: G through the updated D and the q side, F through q only.
    let mut all = g.loss.backward();
    let grads_g = GradientsParams::from_module(&mut all, &model.generator);
    let grads_f = GradientsParams::from_module(&mut all, &model.heads);
    let grads_frozen_d = GradientsParams::from_module(&mut all, &frozen.discriminator);
    assert_eq!(
        grads_frozen_d.len(),
        0,
        "the frozen discriminator received gradients"
    );
    let ours = grads(&model.generator, &grads_g);
    // This port's loss with G's parameters moved by `step` (official keys and layout), on the
    // recorded inputs, ids and updated D.
    let weights = Fixture::open(dir.join("weights_G.safetensors"));
    let loss_at = |step: &GradientMap| {
        let moved = load_model(dir, &config);
        let generator = moved
            .generator
            .load_safetensors_bytes(shifted_weights(&weights, step))
            .expect("moved weights_G");
        let moved = CutModel {
            generator,
            discriminator: frozen.discriminator.clone(),
            heads: moved.heads,
        };
        let pass = moved
            .generate(&config, recorded("real_A"), recorded("real_B"), flipped)
            .expect("G pass");
        let losses = moved
            .generator_losses(
                &config,
                &pass,
                recorded("real_A"),
                recorded("real_B"),
                Some(&ids),
                &mut rand::rngs::ChaCha8Rng::seed_from_u64(0),
            )
            .expect("G losses");
        f64::from(to_vec(losses.loss.inner())[0])
    };
    check_generator_gradients(&mut report, &ours, &fx, &zero_grad, loss_at);
    check_map(
        &mut report,
        "gradients",
        &grads::<PatchSampleHeads<AB>>(&model.heads, &grads_f),
        &fx,
        "grad_F.",
        GRAD_TOL,
        &[],
        "",
    );

    // Adam on the stored gradients, one learning rate for the three networks.
    let adam = enco::train::FusedAdamConfig::new()
        .with_beta_1(config.beta1)
        .with_beta_2(config.beta2)
        .with_epsilon(config.adam_epsilon);
    let lr = config.lr * lr_factor;
    let fresh = load_model(dir, &config);
    check_adam(&mut report, &fx, &adam, lr, &fresh.generator, "G");
    check_adam(&mut report, &fx, &adam, lr, &fresh.discriminator, "D");
    check_adam(&mut report, &fx, &adam, lr, &fresh.heads, "F");
    report
}

/// `weights` (a PyTorch state dict) with `step` added to the tensors it names.
fn shifted_weights(weights: &Fixture, step: &GradientMap) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(&weights.bytes).expect("weights");
    let data: Vec<(String, Vec<usize>, safetensors::Dtype, Vec<u8>)> = st
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let bytes = match step.get(&name) {
                Some((_, delta)) => weights
                    .get(&name)
                    .f32
                    .iter()
                    .zip(delta)
                    .flat_map(|(w, d)| (w + d).to_le_bytes())
                    .collect(),
                None => view.data().to_vec(),
            };
            (name, view.shape().to_vec(), view.dtype(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = data
        .iter()
        .map(|(name, shape, dtype, bytes)| {
            let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .expect("tensor view");
            (name.clone(), view)
        })
        .collect();
    safetensors::serialize(views, None).expect("serialise")
}

/// G's gradients of a CUT or FastCUT step. Every tensor within [`GRAD_TOL`] of the recording
/// passes as usual. The tensors that miss are arbitrated by the loss itself: along the unit
/// direction `u` of (recorded − this port's gradient) over those tensors, a central difference of
/// this port's loss (whose every forward value matches the recording) must agree with this
/// port's directional derivative to [`ARBITRATION_TOL`] of |recorded − ours|. Then the recorded
/// gradient is not the derivative of the recorded forward along `u` (docs/parity.md,
/// "Baselines"), and the note says so with the three numbers; otherwise the tensors fail.
fn check_generator_gradients(
    report: &mut Report,
    ours: &GradientMap,
    fx: &Fixture,
    zero_grad: &[String],
    loss_at: impl Fn(&GradientMap) -> f64,
) {
    let prefix = "grad_G.";
    let (matching, missing): (GradientMap, GradientMap) = ours
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .partition(|(key, entry)| {
            let single = GradientMap::from([(key.clone(), entry.clone())]);
            worst_error(&single, fx, prefix, zero_grad) <= GRAD_TOL
        });
    // Every recorded tensor is checked: the matching ones here, the others below.
    let network_max = ours
        .values()
        .flat_map(|(_, v)| v.iter())
        .fold(0.0f32, |m, v| m.max(v.abs()));
    for (full, reference) in fx.tensors.range(prefix.to_string()..) {
        let Some(key) = full.strip_prefix(prefix) else {
            break;
        };
        if let Some((shape, values)) = matching.get(key) {
            let floor = if zero_grad.iter().any(|k| k == key) {
                network_max
            } else {
                1e-12
            };
            report.check("gradients", key, values, shape, reference, GRAD_TOL, floor);
        } else if !missing.contains_key(key) {
            report
                .failures
                .push(format!("gradients/{key}: no such parameter or no gradient"));
        }
    }
    if missing.is_empty() {
        return;
    }
    let difference: GradientMap = missing
        .iter()
        .map(|(key, (shape, values))| {
            let recorded = &fx.get(&format!("{prefix}{key}")).f32;
            let d = recorded.iter().zip(values).map(|(r, o)| r - o).collect();
            (key.clone(), (shape.clone(), d))
        })
        .collect();
    let dot = |a: &GradientMap, b: &GradientMap| -> f64 {
        a.iter()
            .map(|(key, (_, x))| {
                x.iter()
                    .zip(&b[key].1)
                    .map(|(x, y)| f64::from(*x) * f64::from(*y))
                    .sum::<f64>()
            })
            .sum()
    };
    let norm = dot(&difference, &difference).sqrt();
    let scaled = |factor: f64| -> GradientMap {
        difference
            .iter()
            .map(|(key, (shape, d))| {
                let v = d.iter().map(|x| (f64::from(*x) * factor) as f32).collect();
                (key.clone(), (shape.clone(), v))
            })
            .collect()
    };
    let ours_along = dot(&missing, &scaled(1.0 / norm));
    let recorded_along = ours_along + norm;
    // Richardson-extrapolated central difference (steps h and h/2 along the unit direction).
    let quotient = |h: f64| (loss_at(&scaled(h / norm)) - loss_at(&scaled(-h / norm))) / (2.0 * h);
    let h = 1e-3;
    let difference_quotient = (4.0 * quotient(h / 2.0) - quotient(h)) / 3.0;
    let disagreement = ((difference_quotient - ours_along) / norm).abs();
    let worst = worst_error(&missing, fx, prefix, zero_grad);
    let summary = format!(
        "{} of {} tensors miss the recording (worst {worst:.2e}); along (recorded − ours) the \
         loss changes at {difference_quotient:.4} per unit by central difference, this port's \
         gradient says {ours_along:.4}, the recording {recorded_along:.4}",
        missing.len(),
        missing.len() + matching.len()
    );
    if disagreement <= ARBITRATION_TOL {
        report.notes.push(format!(
            "gradients (grad_G.*): {summary}: the recorded gradient is not the derivative of the \
             recorded forward, this port's is (off by {disagreement:.1e} of the difference)"
        ));
        let entry = report
            .worst
            .entry("gradients (central difference)".into())
            .or_insert((0.0, String::new()));
        if disagreement as f32 >= entry.0 {
            *entry = (disagreement as f32, "grad_G along (recorded − ours)".into());
        }
        report.compared += 1;
    } else {
        report.failures.push(format!(
            "gradients/grad_G.*: {summary}: the difference quotient confirms neither (off by \
             {disagreement:.1e} of the difference)"
        ));
    }
}

/// How far a central difference may be from this port's directional derivative, as a fraction of
/// |recorded − ours|, for [`check_generator_gradients`] to side with this port.
const ARBITRATION_TOL: f64 = 0.02;
