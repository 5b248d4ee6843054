//! Architecture facts of docs/reference.md §2–§4 (parameter counts, shapes, taps, variants), the official
//! initialisation, weight import errors, and clear errors on bad input.

mod common;
#[path = "common/pth.rs"]
mod pth;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::*;
use enco::burn;
use enco::nn::{
    EncoHeadsConfig, HeadNorm, NLayerDiscriminatorConfig, NnError, PytorchWeights,
    ResnetGeneratorConfig, gather_patches,
};
use enco::train::{EncoConfig, TrainError};

fn fixture_case() -> std::path::PathBuf {
    fixture_dir().join("enco_bn_64")
}

#[test]
fn full_size_parameter_counts_match_the_official_networks() {
    let dev = device();
    let g = ResnetGeneratorConfig::new().init::<B>(&dev);
    assert_eq!(g.num_params(), 11_378_179);
    assert_eq!(g.num_layers(), 32);
    let d = NLayerDiscriminatorConfig::new().init::<B>(&dev);
    assert_eq!(d.num_params(), 2_764_737);
    assert_eq!(d.output_size(256), Some(30));
    for (norm, count) in [
        (HeadNorm::BatchNorm, 510_976),
        (HeadNorm::LayerNorm, 512_512),
        (HeadNorm::None, 508_672),
    ] {
        let f = EncoHeadsConfig::new(vec![64, 128, 256])
            .with_norm(norm)
            .init::<B>(&dev);
        assert_eq!(f.num_params(), count, "{norm:?}");
    }
}

#[test]
fn module_counts_of_the_anti_aliasing_variants() {
    let dev = device();
    let layers = |aa: bool, aa_up: bool| {
        ResnetGeneratorConfig::new()
            .with_ngf(4)
            .with_no_antialias(aa)
            .with_no_antialias_up(aa_up)
            .init::<B>(&dev)
            .num_layers()
    };
    assert_eq!(layers(false, false), 32);
    assert_eq!(layers(true, false), 30);
    assert_eq!(layers(false, true), 30);
    assert_eq!(layers(true, true), 28);
    let d = NLayerDiscriminatorConfig::new()
        .with_ndf(4)
        .with_no_antialias(true)
        .init::<B>(&dev);
    assert_eq!(d.output_size(256), Some(30));
    let x = Tensor::<B, 4>::zeros([1, 3, 64, 64], &dev);
    assert_eq!(d.forward(x).unwrap().dims(), [1, 1, 6, 6]);
}

#[test]
fn taps_have_the_spec_shapes_and_come_back_in_ascending_order() {
    let dev = device();
    let ngf = 4;
    let g = ResnetGeneratorConfig::new().with_ngf(ngf).init::<B>(&dev);
    let x = Tensor::<B, 4>::random([2, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &dev);
    let out = g
        .forward_features(x.clone(), &[28, 3, 24, 0, 7, 18, 13])
        .unwrap();
    assert_eq!(out.layers, vec![0, 3, 7, 13, 18, 24, 28]);
    let shapes: Vec<[usize; 4]> = out.features.iter().map(|f| f.dims()).collect();
    assert_eq!(
        shapes,
        vec![
            [2, 3, 32, 32],
            [2, ngf, 32, 32],
            [2, 2 * ngf, 16, 16],
            [2, 4 * ngf, 8, 8],
            [2, 4 * ngf, 8, 8],
            [2, 2 * ngf, 16, 16],
            [2, ngf, 32, 32],
        ]
    );
    // Tap 0 is the raw input; tap 3 is post-ReLU.
    assert_eq!(to_vec(out.features[0].clone()), to_vec(x));
    assert!(to_vec(out.features[1].clone()).iter().all(|&v| v >= 0.0));
    assert_eq!(out.output.dims(), [2, 3, 32, 32]);
    let out_values = to_vec(out.output);
    assert!(out_values.iter().all(|v| v.abs() < 1.0));
    for (layer, channels) in [
        (0, 3),
        (3, ngf),
        (7, 2 * ngf),
        (13, 4 * ngf),
        (24, 2 * ngf),
        (28, ngf),
        (31, 3),
    ] {
        assert_eq!(g.channels_at(layer).unwrap(), channels, "layer {layer}");
    }
}

#[test]
fn official_initialisation_is_xavier_normal_with_zero_biases_and_seeded() {
    let dev = device();
    let g = ResnetGeneratorConfig::new().with_seed(5).init::<B>(&dev);
    let enco::nn::Layer::Conv(first) = &g.model[1] else {
        panic!("model.1 is a conv")
    };
    let w = to_vec(first.weight.val());
    let std = (w.iter().map(|v| v * v).sum::<f32>() / w.len() as f32).sqrt();
    let expected = 0.02 * (2.0f32 / (3.0 * 49.0 + 64.0 * 49.0)).sqrt(); // 4.94e-4
    assert!(
        (std / expected - 1.0).abs() < 0.05,
        "std {std} vs {expected}"
    );
    assert!(
        to_vec(first.bias.as_ref().unwrap().val())
            .iter()
            .all(|&b| b == 0.0)
    );
    let same = ResnetGeneratorConfig::new().with_seed(5).init::<B>(&dev);
    let other = ResnetGeneratorConfig::new().with_seed(6).init::<B>(&dev);
    let first_weight = |g: &enco::nn::ResnetGenerator<B>| match &g.model[1] {
        enco::nn::Layer::Conv(c) => to_vec(c.weight.val()),
        _ => unreachable!(),
    };
    assert_eq!(first_weight(&same), w);
    assert_ne!(first_weight(&other), w);
}

#[test]
fn weight_import_errors_name_the_key() {
    let dev = device();
    // Another width: shape mismatch on the first conv.
    let err = ResnetGeneratorConfig::new()
        .with_ngf(16)
        .init::<B>(&dev)
        .load_safetensors(fixture_case().join("weights_G.safetensors"))
        .unwrap_err();
    assert!(
        matches!(&err, NnError::WeightShape { key, .. } if key.starts_with("model.")),
        "{err}"
    );
    // Fewer residual blocks: the file holds blocks the network lacks.
    let err = ResnetGeneratorConfig::new()
        .with_ngf(8)
        .with_n_blocks(6)
        .init::<B>(&dev)
        .load_safetensors(fixture_case().join("weights_G.safetensors"))
        .unwrap_err();
    assert!(
        matches!(&err, NnError::WeightKeys { missing, unexpected }
            if !unexpected.is_empty()
                && missing.iter().chain(unexpected).all(|k| k.starts_with("model."))),
        "{err}"
    );
    // A discriminator file for a generator: parameters are missing.
    let err = ResnetGeneratorConfig::new()
        .with_ngf(8)
        .init::<B>(&dev)
        .load_safetensors(fixture_case().join("weights_D.safetensors"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            NnError::WeightKeys { .. } | NnError::WeightShape { .. }
        ),
        "{err}"
    );
    // LN heads from a BN file: the file lacks mlp_i.4 affine parameters.
    let err = EncoHeadsConfig::new(vec![8, 16, 32])
        .with_nc(32)
        .with_norm(HeadNorm::LayerNorm)
        .init::<B>(&dev)
        .load_safetensors(fixture_case().join("weights_F.safetensors"))
        .unwrap_err();
    assert!(
        matches!(&err, NnError::WeightKeys { missing, .. }
            if !missing.is_empty() && missing.iter().all(|k| k.starts_with("mlp_") || k.starts_with("prj_"))),
        "{err}"
    );
    let err = NLayerDiscriminatorConfig::new()
        .init::<B>(&dev)
        .load_safetensors("/nonexistent/weights.safetensors")
        .unwrap_err();
    assert!(matches!(err, NnError::WeightFile { .. }), "{err}");
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let dev = device();
    let g = ResnetGeneratorConfig::new().with_ngf(4).init::<B>(&dev);
    let input = |c, h, w| Tensor::<B, 4>::zeros([1, c, h, w], &dev);
    assert!(matches!(
        g.forward(input(1, 32, 32)),
        Err(NnError::InvalidInput { .. })
    ));
    assert!(matches!(
        g.forward(input(3, 30, 32)),
        Err(NnError::InvalidInput { .. })
    ));
    assert!(matches!(
        g.forward(input(3, 4, 4)),
        Err(NnError::InvalidInput { .. })
    ));
    assert!(matches!(
        g.forward_features(input(3, 32, 32), &[40]),
        Err(NnError::InvalidLayer { index: 40, .. })
    ));
    let d = NLayerDiscriminatorConfig::new().with_ndf(4).init::<B>(&dev);
    assert!(matches!(
        d.forward(input(1, 64, 64)),
        Err(NnError::InvalidInput { .. })
    ));
    assert!(matches!(
        d.forward(input(3, 8, 8)),
        Err(NnError::InvalidInput { .. })
    ));
    let f = EncoHeadsConfig::new(vec![4]).with_nc(8).init::<B>(&dev);
    let rows = Tensor::<B, 2>::zeros([5, 3], &dev);
    assert!(matches!(
        f.project_encoder(0, rows.clone()),
        Err(NnError::InvalidInput { .. })
    ));
    assert!(f.project_encoder(1, rows).is_err());
    let feats = Tensor::<B, 4>::zeros([2, 4, 3, 3], &dev);
    assert!(gather_patches(feats.clone(), &[vec![0, 9]]).is_err());
    assert!(gather_patches(feats.clone(), &[vec![0], vec![9]]).is_err());
    assert_eq!(
        gather_patches(feats, &[vec![0, 8], vec![1]])
            .unwrap()
            .dims(),
        [3, 4]
    );

    // Model-level configuration and input errors.
    let tiny = EncoConfig::new()
        .with_generator(ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2))
        .with_discriminator(NLayerDiscriminatorConfig::new().with_ndf(4))
        .with_head_nc(8)
        .with_nce_layers(vec![3, 7, 12, 13, 17, 21]);
    let k0 = tiny
        .clone()
        .with_sampler(enco::sampling::DagSamplerConfig::new().with_num_patches(0));
    assert!(matches!(k0.init::<B>(&dev), Err(TrainError::Sampling(_))));
    let odd = tiny.clone().with_nce_layers(vec![3, 7, 13]);
    let tap_error = |config: EncoConfig| match config.init::<B>(&dev) {
        Err(TrainError::InvalidOption { option, .. }) => option,
        other => panic!(
            "expected an invalid nce_layers, got {:?}",
            other.map(|_| ())
        ),
    };
    assert_eq!(tap_error(odd), "model.nce_layers");
    let unpaired = tiny.clone().with_nce_layers(vec![3, 24]);
    assert_eq!(tap_error(unpaired), "model.nce_layers");
    let model = tiny.init::<B>(&dev).unwrap();
    let a = Tensor::<B, 4>::zeros([1, 3, 32, 32], &dev);
    let b = Tensor::<B, 4>::zeros([2, 3, 32, 32], &dev);
    assert!(matches!(
        model.generate(&tiny, a, b, true),
        Err(TrainError::BatchMismatch { .. })
    ));
}

/// `gather_patches` returns the feature vectors at the ids, sample-major, and its gradient puts
/// each row's gradient back at its position (zero elsewhere), for one and for two elements.
#[test]
fn gathered_patches_are_the_feature_vectors_and_scatter_their_gradient() {
    let dev = device();
    // features[b, c, p] = 100·b + 10·c + p, over a 3×3 plane.
    let values: Vec<f32> = (0..2 * 4 * 9)
        .map(|i| (100 * (i / 36) + 10 * ((i / 9) % 4) + i % 9) as f32)
        .collect();
    let features =
        Tensor::<AB, 4>::from_data(TensorData::new(values, [2, 4, 3, 3]), &dev).require_grad();
    let rows = gather_patches(features.clone(), &[vec![8, 0], vec![]]).unwrap();
    let expected = [[8.0, 18.0, 28.0, 38.0], [0.0, 10.0, 20.0, 30.0]];
    assert_eq!(rows.to_data().to_vec::<f32>().unwrap(), expected.concat());
    let rows = gather_patches(features.clone(), &[vec![8, 0], vec![4]]).unwrap();
    let mut expected = expected.concat();
    expected.extend([104.0, 114.0, 124.0, 134.0]);
    assert_eq!(rows.to_data().to_vec::<f32>().unwrap(), expected);
    // d/dinput of Σ rows ⊙ weights, weights 1, 2, … row by row: row r's weights land at its
    // (b, ·, p).
    let weighted_grad = |rows: Tensor<AB, 2>, input: &Tensor<AB, 4>| {
        let weights: Vec<f32> = (1..=rows.dims()[0] * 4).map(|v| v as f32).collect();
        let weights = Tensor::<AB, 2>::from_data(TensorData::new(weights, rows.dims()), &dev);
        let grads = (rows * weights).sum().backward();
        let grad = input.grad(&grads).unwrap();
        grad.to_data().to_vec::<f32>().unwrap()
    };
    let grad = weighted_grad(rows, &features);
    let mut want = vec![0.0f32; 72];
    for (row, (b, p)) in [(0usize, 8usize), (0, 0), (1, 4)].into_iter().enumerate() {
        for c in 0..4 {
            want[b * 36 + c * 9 + p] = (row * 4 + c + 1) as f32;
        }
    }
    assert_eq!(grad, want);
    let rows = gather_patches(features.clone(), &[vec![], vec![4]]).unwrap();
    assert_eq!(
        rows.to_data().to_vec::<f32>().unwrap(),
        [104.0, 114.0, 124.0, 134.0]
    );
    // One image (its own path): repeated ids are gathered twice and their gradients add up.
    let single = Tensor::<AB, 4>::from_data(
        TensorData::new((0..36).map(|v| v as f32).collect::<Vec<_>>(), [1, 4, 3, 3]),
        &dev,
    )
    .require_grad();
    let rows = gather_patches(single.clone(), &[vec![2, 7, 2]]).unwrap();
    assert_eq!(
        rows.to_data().to_vec::<f32>().unwrap(),
        [
            2.0, 11.0, 20.0, 29.0, 7.0, 16.0, 25.0, 34.0, 2.0, 11.0, 20.0, 29.0
        ]
    );
    let grad = weighted_grad(rows, &single);
    let mut want = vec![0.0f32; 36];
    for c in 0..4 {
        // Rows 0 and 2 (weights c + 1 and c + 9) at position 2, row 1 (c + 5) at position 7.
        want[c * 9 + 2] = (2 * c + 10) as f32;
        want[c * 9 + 7] = (c + 5) as f32;
    }
    assert_eq!(grad, want);
    assert_eq!(
        gather_patches(
            Tensor::<AB, 4>::zeros([2, 4, 3, 3], &dev),
            &[vec![], vec![]]
        )
        .unwrap()
        .dims(),
        [0, 4]
    );
}

/// The official generator files: a `.pth` of the fixture's weights, with and without the
/// `module.` prefix of DataParallel checkpoints, translates G_input into the recorded output;
/// a file of another architecture is an error listing the keys.
#[test]
fn an_official_generator_file_loads_strictly_with_or_without_the_module_prefix() {
    use enco::train::load_official_generator;
    let dev = device();
    let case = fixture_case();
    let weights = Fixture::open(case.join("weights_G.safetensors"));
    let tensors = Fixture::open(case.join("tensors.safetensors"));
    let dir = std::env::temp_dir().join(format!("enco-pth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let config = ResnetGeneratorConfig::new().with_ngf(8);
    for prefix in ["", "module."] {
        let path = dir.join(format!("latest_net_G{}.pth", prefix.trim_end_matches('.')));
        let entries: Vec<(String, Vec<usize>, Vec<f32>)> = weights
            .tensors
            .iter()
            .map(|(k, t)| (format!("{prefix}{k}"), t.shape.clone(), t.f32.clone()))
            .collect();
        pth::write_pth(&path, &entries);
        let g = load_official_generator::<B>(&path, &config, &dev)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let out = g
            .forward(tensors.get("G_input").tensor::<B, 4>(&dev))
            .unwrap();
        let error = rel_error(&to_vec(out), &tensors.get("fake").f32, 1.0);
        assert!(error < 1e-5, "prefix {prefix:?}: G output off by {error}");
    }
    // Another architecture (6 blocks): strict, with the keys named.
    let path = dir.join("latest_net_G.pth");
    let err = load_official_generator::<B>(&path, &config.clone().with_n_blocks(6), &dev)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unexpected") && err.contains("model."),
        "{err}"
    );
    let err = load_official_generator::<B>(&dir.join("G.bin"), &config, &dev).unwrap_err();
    assert!(err.to_string().contains(".pth"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The parameters of a safetensors file as (key, shape, f32 values), buffers of the official
/// networks (`filt`, BatchNorm running statistics) left out.
fn safetensors_parameters(path: &std::path::Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let buffers = [
        ".filt",
        ".running_mean",
        ".running_var",
        ".num_batches_tracked",
    ];
    let mut tensors: Vec<_> = file
        .tensors()
        .into_iter()
        .filter(|(key, _)| !buffers.iter().any(|b| key.ends_with(b)))
        .map(|(key, view)| {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{key}");
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (key, view.shape().to_vec(), values)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

#[test]
fn networks_export_under_the_official_names_and_import_back() {
    let dev = device();
    let dir = std::env::temp_dir().join(format!("enco-export-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let fixture = fixture_case();
    let g = || ResnetGeneratorConfig::new().with_ngf(8);
    let d = || NLayerDiscriminatorConfig::new().with_ndf(8);
    let f = || EncoHeadsConfig::new(vec![8, 16, 32]).with_nc(32);
    let check = |name: &str, exported: &std::path::Path| {
        let official = safetensors_parameters(&fixture.join(name));
        let ours = safetensors_parameters(exported);
        let keys = |t: &[(String, Vec<usize>, Vec<f32>)]| -> Vec<String> {
            t.iter().map(|(k, _, _)| k.clone()).collect()
        };
        assert_eq!(keys(&ours), keys(&official), "{name}: the official keys");
        for ((key, shape, values), (_, official_shape, official_values)) in
            ours.iter().zip(&official)
        {
            assert_eq!(shape, official_shape, "{key}");
            assert_eq!(values, official_values, "{key}: bit for bit");
        }
    };

    let generator = g()
        .init::<B>(&dev)
        .load_safetensors(fixture.join("weights_G.safetensors"))
        .unwrap();
    let out = dir.join("net_G.safetensors");
    generator.save_safetensors(&out).unwrap();
    check("weights_G.safetensors", &out);
    // Back in through the loader of official files: the same generator.
    let again = g()
        .with_seed(99)
        .init::<B>(&dev)
        .load_safetensors(&out)
        .unwrap();
    let x = Tensor::<B, 4>::random([1, 3, 32, 32], Distribution::Uniform(-1.0, 1.0), &dev);
    assert_eq!(
        generator.forward(x.clone()).unwrap().into_data(),
        again.forward(x).unwrap().into_data()
    );

    let discriminator = d()
        .init::<B>(&dev)
        .load_safetensors(fixture.join("weights_D.safetensors"))
        .unwrap();
    let out = dir.join("net_D.safetensors");
    discriminator.save_safetensors(&out).unwrap();
    check("weights_D.safetensors", &out);
    d().with_seed(5)
        .init::<B>(&dev)
        .load_safetensors(&out)
        .unwrap();

    let heads = f()
        .init::<B>(&dev)
        .load_safetensors(fixture.join("weights_F.safetensors"))
        .unwrap();
    let out = dir.join("net_F.safetensors");
    heads.save_safetensors(&out).unwrap();
    check("weights_F.safetensors", &out);
    f().init::<B>(&dev).load_safetensors(&out).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
