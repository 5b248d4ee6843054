//! The `enco` command end to end: every ablation row of the paper's Tables 2–4 as a two-iteration
//! run on small networks, config files, errors that write nothing, and official generator files.

use std::path::Path;
use std::process::{Command, Output};

mod common;

use common::{SMALL_NETWORKS as NETWORKS, TAPS, data, stderr, workdir};

fn enco(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_enco"))
        .args(args)
        .output()
        .expect("the enco binary runs")
}

/// [`NETWORKS`], two iterations.
fn small() -> Vec<&'static str> {
    let mut args = NETWORKS.to_vec();
    args.extend(["--max-iterations", "2"]);
    args
}

/// `enco train --model MODEL` on `root` into `out` with [`small`] networks, less the flags in
/// `skip` (with their values) and the heads' flags for CycleGAN, which has none.
fn model_args<'a>(model: &'a str, root: &'a Path, out: &'a Path, skip: &[&str]) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--model",
        model,
        "--dataroot",
        root.to_str().unwrap(),
    ];
    args.extend(["--output", out.to_str().unwrap()]);
    let networks = small();
    let mut rest = networks.into_iter();
    while let Some(flag) = rest.next() {
        let headless = model == "cyclegan" && (flag == "--head-nc" || flag == "--num-patches");
        if headless || skip.contains(&flag) {
            rest.next();
            continue;
        }
        args.push(flag);
    }
    args
}

fn training_json(run: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(run.join("training.json")).unwrap()).unwrap()
}

#[test]
fn every_ablation_row_runs_from_the_command_line() {
    let dir = workdir("cli", "ablations");
    let root = data(&dir, 2);
    // (paper row, flags, a field of training.json that must show it)
    let rows: &[(&str, &[&str], &str, serde_json::Value)] = &[
        (
            "t2-A",
            &["--nce-layers", "7,17"],
            "/model/Enco/nce_layers",
            serde_json::json!([7, 17]),
        ),
        (
            "t2-B",
            &["--nce-layers", "7,12,13,17"],
            "/model/Enco/nce_layers",
            serde_json::json!([7, 12, 13, 17]),
        ),
        (
            "t2-D",
            &["--sampling", "uniform"],
            "/model/Enco/sampler/oversample_ratio",
            1.into(),
        ),
        (
            "t3-A",
            &["--no-predictor"],
            "/model/Enco/predictor",
            false.into(),
        ),
        (
            "t3-B",
            &["--prj-norm", "none"],
            "/model/Enco/head_norm",
            "None".into(),
        ),
        (
            "t3-C",
            &["--no-stop-gradient"],
            "/model/Enco/stop_gradient",
            false.into(),
        ),
        (
            "t3-D",
            &["--content-loss", "patchnce", "--sampling", "uniform"],
            "/model/Enco/content_loss",
            "PatchNce".into(),
        ),
        (
            "t3-E",
            &["--content-loss", "patchnce"],
            "/model/Enco/sampler/random_ratio",
            0.5.into(),
        ),
        (
            "t4-mild",
            &["--random-ratio", "0.25"],
            "/model/Enco/sampler/random_ratio",
            0.25.into(),
        ),
        (
            "t4-heavy",
            &["--random-ratio", "0"],
            "/model/Enco/sampler/random_ratio",
            0.0.into(),
        ),
        (
            "t4-small",
            &["--oversample-ratio", "2"],
            "/model/Enco/sampler/oversample_ratio",
            2.into(),
        ),
        (
            "t4-large",
            &["--oversample-ratio", "8"],
            "/model/Enco/sampler/oversample_ratio",
            8.into(),
        ),
        (
            "paper-ln",
            &["--prj-norm", "ln"],
            "/model/Enco/head_norm",
            "LayerNorm".into(),
        ),
    ];
    for (row, flags, pointer, expected) in rows {
        let out = dir.join(row);
        let mut args = vec!["train", "--dataroot", root.to_str().unwrap()];
        args.extend(["--output", out.to_str().unwrap()]);
        args.extend(small());
        if !flags.contains(&"--nce-layers") {
            args.extend(TAPS);
        }
        args.extend(flags.iter());
        let result = enco(&args);
        assert!(result.status.success(), "{row}: {}", stderr(&result));
        assert!(
            !stderr(&result).contains("checkpoint written"),
            "no event logs without -v"
        );
        let config = training_json(&out);
        assert_eq!(config.pointer(pointer), Some(expected), "{row}");
        let log = std::fs::read_to_string(out.join("losses.jsonl")).unwrap();
        assert_eq!(log.lines().count(), 2, "{row}");
    }
    // Table 3 row C's baseline and the other models, with their own tap lists.
    for (model, extra) in [
        ("cut", &["--nce-layers", "0,4,8"][..]),
        ("cyclegan", &[][..]),
    ] {
        let out = dir.join(model);
        let mut args = model_args(model, &root, &out, &[]);
        args.extend(extra);
        let result = enco(&args);
        assert!(result.status.success(), "{model}: {}", stderr(&result));
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_config_file_round_trips_and_flags_override_it() {
    let dir = workdir("cli", "config");
    let root = data(&dir, 2);
    let mut args = vec![
        "config",
        "--preset",
        "cityscapes",
        "--dataroot",
        root.to_str().unwrap(),
    ];
    args.extend(NETWORKS);
    args.extend(TAPS);
    args.extend(["--prj-norm", "ln"]);
    let printed = enco(&args);
    assert!(printed.status.success(), "{}", stderr(&printed));
    let file = dir.join("run.json");
    std::fs::write(&file, &printed.stdout).unwrap();
    let out = dir.join("run");
    let result = enco(&[
        "train",
        "--config",
        file.to_str().unwrap(),
        "--direction",
        "AtoB",
        "--output",
        out.to_str().unwrap(),
        "--max-iterations",
        "1",
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let saved = training_json(&out);
    let mut expected: serde_json::Value = serde_json::from_slice(&printed.stdout).unwrap();
    expected["direction"] = "AtoB".into();
    assert_eq!(saved, expected);
    // The resolved configuration is printed at the start.
    assert!(stderr(&result).contains("\"LayerNorm\""));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_options_are_one_error_naming_the_flag_and_write_nothing() {
    let dir = workdir("cli", "errors");
    let root = data(&dir, 2);
    let cases: &[(&[&str], &str)] = &[
        // Taps 3 (4 channels) and 24 (the 3-channel output) cannot pair.
        (&["--nce-layers", "3,24"], "--nce-layers"),
        (&["--nce-layers", "3,7,12"], "--nce-layers"),
        (&["--nce-layers", "3,99"], "--nce-layers"),
        (&["--crop-size", "64"], "--crop-size"),
        (&["--num-patches", "0"], "--num-patches"),
        (&["--ngf", "0"], "--ngf"),
        (&["--model", "cut", "--prj-norm", "ln"], "--prj-norm"),
        (&["--eval-every", "5"], "--fid-weights"),
        (
            &["--eval-every", "5", "--fid-weights", "/nonexistent/w.pth"],
            "--fid-weights",
        ),
        (
            &["--paper-epochs", "--preset", "cat2dog", "--n-epochs", "3"],
            "--paper-epochs",
        ),
    ];
    for (i, (flags, flag)) in cases.iter().enumerate() {
        let out = dir.join(format!("run{i}"));
        let mut args = vec!["train", "--dataroot", root.to_str().unwrap()];
        args.extend(["--output", out.to_str().unwrap()]);
        args.extend(small());
        if !flags.contains(&"--nce-layers") && !flags.contains(&"cut") {
            args.extend(TAPS);
        }
        args.extend(flags.iter());
        let result = enco(&args);
        assert!(!result.status.success(), "{flags:?} succeeded");
        let message = stderr(&result);
        assert!(message.contains(flag), "{flags:?}: {message}");
        assert!(!out.exists(), "{flags:?} wrote {}", out.display());
    }
    let result = enco(&["train", "--output", dir.join("x").to_str().unwrap()]);
    assert!(
        stderr(&result).contains("--dataroot"),
        "{}",
        stderr(&result)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An official generator state_dict, with and without the `module.` prefix, translates as the
/// same network; the wrong architecture is an error naming keys.
#[test]
fn official_generator_files_translate_with_or_without_the_module_prefix() {
    let dir = workdir("cli", "official");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data/fixtures/enco_bn_64/weights_G.safetensors");
    let bytes = std::fs::read(&fixture).unwrap();
    let weights = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let prefixed: Vec<(String, safetensors::tensor::TensorView)> = weights
        .tensors()
        .into_iter()
        .map(|(name, view)| (format!("module.{name}"), view))
        .collect();
    let with_prefix = dir.join("latest_net_G.safetensors");
    std::fs::write(
        &with_prefix,
        safetensors::serialize(prefixed, None).unwrap(),
    )
    .unwrap();
    let image = dir.join("cat.png");
    enco_data::save_rgb(
        &enco_data::image::RgbImage::from_fn(64, 48, |x, y| {
            enco_data::image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
        }),
        &image,
    )
    .unwrap();
    for (name, file) in [
        ("plain", fixture.as_path()),
        ("prefixed", with_prefix.as_path()),
    ] {
        let result = enco(&[
            "translate",
            "--checkpoint",
            file.to_str().unwrap(),
            "--ngf",
            "8",
            "--input",
            image.to_str().unwrap(),
            "--output",
            dir.join(name).to_str().unwrap(),
        ]);
        assert!(result.status.success(), "{name}: {}", stderr(&result));
    }
    let plain = enco_data::load_rgb(&dir.join("plain/cat.png")).unwrap();
    let prefixed = enco_data::load_rgb(&dir.join("prefixed/cat.png")).unwrap();
    assert_eq!(plain.dimensions(), (64, 48));
    assert_eq!(plain, prefixed);
    // The default width (64) does not fit these weights: an error naming a key.
    let result = enco(&[
        "translate",
        "--checkpoint",
        with_prefix.to_str().unwrap(),
        "--input",
        image.to_str().unwrap(),
        "--output",
        dir.join("wrong").to_str().unwrap(),
    ]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("model.1.weight"),
        "{}",
        stderr(&result)
    );
    // A zero width is an error, not a panic.
    let result = enco(&[
        "translate",
        "--checkpoint",
        with_prefix.to_str().unwrap(),
        "--ngf",
        "0",
        "--input",
        image.to_str().unwrap(),
        "--output",
        dir.join("zero").to_str().unwrap(),
    ]);
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    let message = stderr(&result);
    assert!(message.contains("--ngf: must be at least 1"), "{message}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_cyclegan_run_shows_its_own_visuals_and_enco_report_rebuilds_the_page() {
    let dir = workdir("cli", "report");
    let root = data(&dir, 2);
    let out = dir.join("run");
    let mut args = model_args("cyclegan", &root, &out, &["--sample-every"]);
    args.extend(["--sample-every", "2", "-v"]);
    let result = enco(&args);
    assert!(result.status.success(), "{}", stderr(&result));
    let log = stderr(&result);
    assert!(log.contains("report.html"), "{log}");
    // -v: the run's events as log lines.
    for event in [
        "backend chosen",
        "run started",
        "checkpoint written",
        "run ended",
    ] {
        assert!(log.contains(event), "{event}: {log}");
    }
    // real A, fake B, rec A, idt B | real B, fake A, rec B, idt A: 8 tiles of 32 px × 8.
    let grid = enco_data::load_rgb(&out.join("samples/iter_0000000002.png")).unwrap();
    assert_eq!(grid.width(), 8 * 256);

    // From the logs alone: the page and the plot are written anew.
    for file in ["report.html", "loss_curve.png"] {
        std::fs::remove_file(out.join(file)).unwrap();
    }
    let result = enco(&["report", out.to_str().unwrap()]);
    assert!(result.status.success(), "{}", stderr(&result));
    let printed = String::from_utf8_lossy(&result.stdout).trim().to_string();
    assert_eq!(Path::new(&printed), out.join("report.html"));
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("samples/iter_0000000002.png"));
    assert!(page.contains("cycle loss"), "CycleGAN's own loss names");
    assert!(out.join("loss_curve.png").is_file());

    // The official test protocol on the run's generator, with the paired targets.
    let checkpoint = out.join("checkpoints/iter_0000000002");

    // Exported for PyTorch, G_A translates as the checkpoint does.
    let exported = dir.join("pytorch");
    let result = enco(&[
        "export",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--pytorch",
        exported.to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let files = String::from_utf8_lossy(&result.stdout).to_string();
    for net in ["G_A", "G_B", "D_A", "D_B"] {
        let file = exported.join(format!("latest_net_{net}.safetensors"));
        assert!(
            file.is_file() && files.contains(file.to_str().unwrap()),
            "{net}: {files}"
        );
    }
    let g_a = exported.join("latest_net_G_A.safetensors");
    let test_a = root.join("testA");
    let mut translations = Vec::new();
    for (name, source) in [
        (
            "from-checkpoint",
            vec!["--checkpoint", checkpoint.to_str().unwrap()],
        ),
        (
            "from-export",
            vec![
                "--checkpoint",
                g_a.to_str().unwrap(),
                "--ngf",
                "4",
                "--n-blocks",
                "2",
            ],
        ),
    ] {
        let target = dir.join(name);
        let mut args = vec!["translate"];
        args.extend(source);
        args.extend(["--input", test_a.to_str().unwrap()]);
        args.extend(["--output", target.to_str().unwrap()]);
        let result = enco(&args);
        assert!(result.status.success(), "{name}: {}", stderr(&result));
        translations.push(target);
    }
    for entry in std::fs::read_dir(&translations[0]).unwrap() {
        let name = entry.unwrap().file_name();
        assert_eq!(
            std::fs::read(translations[0].join(&name)).unwrap(),
            std::fs::read(translations[1].join(&name)).unwrap(),
            "{name:?}: the exported generator translates identically"
        );
    }
    let scored = dir.join("eval");
    let result = enco(&[
        "eval",
        "checkpoint",
        "--checkpoint",
        checkpoint.to_str().unwrap(),
        "--dataroot",
        root.to_str().unwrap(),
        "--output",
        scored.to_str().unwrap(),
        "--size",
        "32",
        "--no-fid",
        "--paired-target",
        root.join("testB").to_str().unwrap(),
    ]);
    assert!(result.status.success(), "{}", stderr(&result));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(scored.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(report.pointer("/real_sets/official/items"), Some(&2.into()));
    assert_eq!(report.pointer("/paired/pairs"), Some(&2.into()));
    assert_eq!(report["direction"], "testA→testB");
    assert!(
        report["checkpoint"]
            .as_str()
            .unwrap()
            .ends_with("iter_0000000002")
    );

    let result = enco(&["report", root.to_str().unwrap()]);
    assert!(!result.status.success());
    assert!(
        stderr(&result).contains("not a run folder"),
        "{}",
        stderr(&result)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
