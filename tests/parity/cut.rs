//! Parity of one CUT or FastCUT iteration (fixtures `cut_64`, `fastcut_64`; manifest `model`
//! `cut` / `fastcut`), at the tolerances of the EnCo cases.

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
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
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
    if worst_error(&ours, &fx, "grad_G.", &zero_grad) > GRAD_TOL {
        // Diagnostics of the open mismatch (docs/parity.md, "Baselines"): per layer, the norms
        // and cosine of this port's and the recorded gradient, and how far the recording is from
        // this port's gradient without the part that reaches G through the target images, in
        // units of that part.
        let without_targets = {
            let fresh = model
                .generate(&config, recorded("real_A"), recorded("real_B"), flipped)
                .expect("G pass");
            let mut detached = fresh.clone();
            detached.fake_b = detached.fake_b.detach();
            detached.idt_b = detached.idt_b.map(|t| t.detach());
            let nce = frozen
                .generator_losses(
                    &config,
                    &detached,
                    recorded("real_A"),
                    recorded("real_B"),
                    Some(&ids),
                    &mut rand::rngs::StdRng::seed_from_u64(0),
                )
                .expect("G losses");
            let gan = frozen
                .generator_losses(
                    &config,
                    &fresh,
                    recorded("real_A"),
                    recorded("real_B"),
                    Some(&ids),
                    &mut rand::rngs::StdRng::seed_from_u64(0),
                )
                .expect("G losses")
                .gan;
            let mut all = (nce.loss - nce.gan + gan).backward();
            grads(
                &model.generator,
                &GradientsParams::from_module(&mut all, &model.generator),
            )
        };
        // Central difference of this port's loss in model.30.bias[0] (the last convolution,
        // which only the training forward uses) against its autodiff and the recording.
        let loss_at = |delta: f32| {
            let mut shifted = load_model(dir, &config);
            let last_conv = shifted
                .generator
                .model
                .iter_mut()
                .rev()
                .find_map(|l| match l {
                    enco::nn::Layer::Conv(conv) => Some(conv),
                    _ => None,
                })
                .expect("a last convolution");
            let bias = last_conv.bias.as_ref().expect("bias").val();
            let mut bump = vec![0.0f32; bias.dims()[0]];
            bump[0] = delta;
            let bump = Tensor::<AB, 1>::from_data(
                burn::tensor::TensorData::new(bump, [bias.dims()[0]]),
                &dev,
            );
            last_conv.bias = Some(burn::module::Param::from_tensor((bias + bump).detach()));
            let shifted = CutModel {
                generator: shifted.generator,
                discriminator: frozen.discriminator.clone(),
                heads: shifted.heads,
            };
            let p = shifted
                .generate(&config, recorded("real_A"), recorded("real_B"), flipped)
                .expect("G pass");
            let l = shifted
                .generator_losses(
                    &config,
                    &p,
                    recorded("real_A"),
                    recorded("real_B"),
                    Some(&ids),
                    &mut rand::rngs::StdRng::seed_from_u64(0),
                )
                .expect("G losses");
            f64::from(to_vec(l.loss.inner())[0])
        };
        let eps = 1e-2f32;
        let difference = (loss_at(eps) - loss_at(-eps)) / (2.0 * f64::from(eps));
        report.notes.push(format!(
            "grad_G.model.30.bias[0]: central difference {difference:.3}, autodiff {:.3}, recorded {:.3}",
            ours["model.30.bias"].1[0],
            fx.get("grad_G.model.30.bias").f32[0]
        ));
        for key in [
            "model.1.weight",
            "model.8.weight",
            "model.16.conv_block.5.weight",
            "model.30.weight",
        ] {
            let (Some((_, o)), Some((_, w))) = (ours.get(key), without_targets.get(key)) else {
                continue;
            };
            let r = &fx.get(&format!("grad_G.{key}")).f32;
            let norm = |v: &mut dyn Iterator<Item = f32>| v.map(|x| x * x).sum::<f32>().sqrt();
            let (n_ours, n_ref) = (norm(&mut o.iter().copied()), norm(&mut r.iter().copied()));
            let cosine = o.iter().zip(r).map(|(a, b)| a * b).sum::<f32>() / (n_ours * n_ref);
            let n_part = norm(&mut o.iter().zip(w).map(|(a, b)| a - b));
            let n_rest = norm(&mut r.iter().zip(w).map(|(a, b)| a - b));
            report.notes.push(format!(
                "grad_G.{key}: |ours| {n_ours:.3}, |recorded| {n_ref:.3}, cosine {cosine:.3}; \
                 |recorded − (ours − through-target part)| / |that part| = {:.3}",
                n_rest / n_part
            ));
        }
    }
    check_gradients(
        &mut report,
        "gradients",
        &ours,
        &fx,
        "grad_G.",
        &zero_grad,
        Vec::new,
    );
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
