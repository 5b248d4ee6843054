//! What a run shows a person: labelled plots (their text is rendered with the bundled font),
//! captioned sample grids at a readable size, and `report.html` (well-formed, listing every
//! sample grid newest first, every link resolving inside the run folder), rebuilt from the logs
//! alone by `regenerate_report`.

use std::path::{Path, PathBuf};

use crate::common::*;
use enco::burn::prelude::*;
use enco::data::image::{Rgb, RgbImage};
use enco::train::{
    CAPTION_HEIGHT, CONFIG_FILE, EVAL_CURVE_FILE, EVAL_LOG_FILE, EvalRecord, LOSS_CURVE_FILE,
    LOSS_LOG_FILE, LossRecord, ModelConfig, ModelKind, PANEL_HEIGHT, PLOT_WIDTH, REPORT_FILE,
    ReportState, RunLogs, SAMPLES_DIR, TITLE_HEIGHT, TrainingRun, loss_panels, plot_eval_curves,
    plot_loss_curves, regenerate_report, report_html, sample_grid,
};

fn scratch(name: &str) -> PathBuf {
    let root = std::env::temp_dir().join(format!("enco-report-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    root
}

fn dataset(root: &Path) {
    for (side, n) in [("trainA", 3u8), ("trainB", 2u8)] {
        std::fs::create_dir_all(root.join(side)).unwrap();
        for i in 0..n {
            let img = RgbImage::from_fn(36, 36, |x, y| {
                Rgb([(x * 6) as u8, (y * 7) as u8, i * 60 + 20])
            });
            img.save(root.join(side).join(format!("{i}.png"))).unwrap();
        }
    }
}

/// Pixels darker than mid-grey in a rectangle (text is drawn in black or dark grey on white).
fn dark_pixels(image: &RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
    y.flat_map(|y| x.clone().map(move |x| (x, y)))
        .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&c| c < 110))
        .count()
}

fn loss_records(n: u64, per_epoch: u64) -> Vec<LossRecord> {
    (1..=n)
        .map(|i| {
            let t = i as f32;
            LossRecord {
                iteration: i,
                epoch: ((i - 1) / per_epoch + 1) as usize,
                batch: ((i - 1) % per_epoch + 1) as usize,
                lr_factor: 1.0 - ((i - 1) / per_epoch) as f64 * 0.25,
                loss_d: 0.25 + 0.1 * (t * 0.3).sin(),
                loss_g: 2.0 - t / n as f32,
                loss_g_gan: 0.5 + 0.05 * (t * 0.7).cos(),
                loss_enco: 1.5 - t / (2 * n) as f32,
                loss_idt: if i <= n / 2 { 0.3 } else { 0.0 },
            }
        })
        .collect()
}

#[test]
fn loss_plots_carry_titles_axis_labels_and_ticks() {
    let root = scratch("plot");
    let path = root.join(LOSS_CURVE_FILE);
    plot_loss_curves(&loss_records(120, 30), Some(ModelKind::Enco), &path).unwrap();
    let plot = enco::data::load_rgb(&path).unwrap();
    let panels = loss_panels(Some(ModelKind::Enco)).len() as u32;
    assert_eq!(plot.dimensions(), (PLOT_WIDTH, panels * PANEL_HEIGHT));
    for p in 0..panels {
        let top = p * PANEL_HEIGHT;
        // The panel's title, centred in its top band.
        let title = dark_pixels(&plot, 250..750, top + 4..top + 26);
        // The y tick labels and the y axis label, left of the plotting area.
        let y_labels = dark_pixels(&plot, 0..70, top + 40..top + PANEL_HEIGHT - 50);
        // The x tick labels and "iteration", under the plotting area.
        let x_labels = dark_pixels(&plot, 100..980, top + PANEL_HEIGHT - 38..top + PANEL_HEIGHT);
        assert!(
            title > 80 && y_labels > 80 && x_labels > 80,
            "panel {p}: dark text pixels title {title}, y labels {y_labels}, x labels {x_labels}"
        );
    }
    // The margins of a plot are blank: text is where the labels go, not everywhere.
    assert_eq!(dark_pixels(&plot, 0..PLOT_WIDTH, 0..3), 0);

    // Evaluation scores: one panel per score computed.
    let evals: Vec<EvalRecord> = (1..=4)
        .map(|i| EvalRecord {
            iteration: 30 * i,
            epoch: i as usize,
            images: 8,
            fid: None,
            psnr: Some(20.0 + i as f64),
            ssim: Some(0.5 + 0.05 * i as f64),
            best: i == 4,
        })
        .collect();
    let path = root.join(EVAL_CURVE_FILE);
    plot_eval_curves(&evals, &path).unwrap();
    let plot = enco::data::load_rgb(&path).unwrap();
    assert_eq!(plot.dimensions(), (PLOT_WIDTH, 2 * PANEL_HEIGHT));
    assert!(dark_pixels(&plot, 250..750, 4..26) > 80, "PSNR panel title");
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn sample_grids_are_readable_and_captioned() {
    let dev = device();
    let small = Tensor::<B, 4>::zeros([2, 3, 32, 32], &dev);
    let wide = Tensor::<B, 4>::zeros([2, 3, 32, 48], &dev);
    let columns = |third: Tensor<B, 4>| {
        vec![
            ("real A".to_string(), small.clone()),
            ("fake B".to_string(), small.clone()),
            ("real B".to_string(), third),
        ]
    };
    let grid = sample_grid(columns(small.clone()), "iteration 12 · epoch 1").unwrap();
    // 32 px tiles are enlarged 8× to 256 px; two rows under the title and caption bands.
    let top = TITLE_HEIGHT + CAPTION_HEIGHT;
    assert_eq!(grid.dimensions(), (3 * 256, top + 2 * 256));
    // Zeros in [-1, 1] are mid-grey, and the nearest-neighbour enlargement keeps them flat.
    assert_eq!(grid.get_pixel(300, top + 300).0, [127, 127, 127]);
    assert!(dark_pixels(&grid, 0..300, 0..TITLE_HEIGHT) > 60, "title");
    for col in 0..3 {
        let centre = col * 256 + 128;
        let caption = dark_pixels(&grid, centre - 60..centre + 60, TITLE_HEIGHT..top);
        assert!(
            caption > 30,
            "caption of column {col}: {caption} dark pixels"
        );
    }
    let err = sample_grid(columns(wide), "mixed").unwrap_err();
    assert!(err.to_string().contains("column 2 (real B)"), "{err}");
    assert!(sample_grid::<B>(Vec::new(), "none").is_err());
}

/// The page parsed as XML (the report is written as well-formed, XHTML-compatible HTML5):
/// returns every `src` and `href` in document order.
fn parse_links(html: &str) -> (Vec<String>, Vec<String>) {
    let doc = roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("report.html is not well-formed: {e}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "html");
    let names: Vec<&str> = root
        .children()
        .filter(|n| n.is_element())
        .map(|n| n.tag_name().name())
        .collect();
    assert_eq!(names, ["head", "body"]);
    let attr = |name: &str| -> Vec<String> {
        doc.descendants()
            .filter_map(|n| n.attribute(name).map(str::to_string))
            .collect()
    };
    (attr("src"), attr("href"))
}

/// Every relative link of the page resolves inside the run folder (query and fragment aside).
fn assert_links_resolve(run: &Path, links: &[String]) {
    for link in links {
        if link.starts_with('#') {
            continue;
        }
        let path = link.split(['?', '#']).next().unwrap();
        assert!(
            run.join(path).exists(),
            "{link} does not resolve in {}",
            run.display()
        );
    }
}

#[test]
fn a_run_writes_a_report_listing_every_sample_and_it_regenerates_from_logs_alone() {
    let root = scratch("run");
    dataset(&root);
    let config = tiny_run(ModelConfig::Enco(tiny_enco(3)), &root, 36).with_sample_every(2);
    let out = root.join("run");
    let mut run = TrainingRun::<AB>::new(config, &out, &device()).unwrap();
    let mut live_pages = 0;
    run.run(None, |r| {
        // While training, the page written at the last sample grid reloads itself.
        if r.iteration == 3 {
            let page = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
            assert!(page.contains("http-equiv=\"refresh\""), "{page}");
            assert!(page.contains("iteration 2 "), "written at iteration 2");
            live_pages += 1;
        }
    })
    .unwrap();
    assert_eq!(live_pages, 1);

    let html = std::fs::read_to_string(out.join(REPORT_FILE)).unwrap();
    let (srcs, hrefs) = parse_links(&html);
    let mut samples: Vec<String> = std::fs::read_dir(out.join(SAMPLES_DIR))
        .unwrap()
        .map(|e| format!("{SAMPLES_DIR}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    samples.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(samples.len(), 3, "iterations 2, 4 and 6: {samples:?}");
    let listed: Vec<&String> = srcs.iter().filter(|s| s.starts_with(SAMPLES_DIR)).collect();
    assert_eq!(
        listed,
        samples.iter().collect::<Vec<_>>(),
        "every grid, newest first"
    );
    assert!(srcs.iter().any(|s| s.starts_with(LOSS_CURVE_FILE)));
    assert!(
        hrefs
            .iter()
            .any(|h| h.starts_with("checkpoints/iter_0000000006"))
    );
    assert_links_resolve(&out, &srcs);
    assert_links_resolve(&out, &hrefs);
    // The finished run's page is at rest (no reload) and shows the resolved configuration.
    assert!(!html.contains("http-equiv=\"refresh\""));
    assert!(
        html.contains("&quot;n_epochs_decay&quot;: 1"),
        "configuration shown"
    );
    // The grids are enlarged and captioned: four 256 px tiles.
    let grid = enco::data::load_rgb(&out.join(&samples[0])).unwrap();
    assert_eq!(grid.width(), 4 * 256);

    // The logs and samples alone, copied elsewhere: no plots, no checkpoints, no page.
    let copy = root.join("copied");
    std::fs::create_dir_all(copy.join(SAMPLES_DIR)).unwrap();
    for file in [CONFIG_FILE, LOSS_LOG_FILE] {
        std::fs::copy(out.join(file), copy.join(file)).unwrap();
    }
    for sample in &samples {
        std::fs::copy(out.join(sample), copy.join(sample)).unwrap();
    }
    let eval = EvalRecord {
        iteration: 6,
        epoch: 2,
        images: 4,
        fid: Some(123.5),
        psnr: None,
        ssim: None,
        best: true,
    };
    std::fs::write(
        copy.join(EVAL_LOG_FILE),
        format!("{}\n", serde_json::to_string(&eval).unwrap()),
    )
    .unwrap();
    let page = regenerate_report(&copy).unwrap();
    assert_eq!(page, copy.join(REPORT_FILE));
    for plot in [LOSS_CURVE_FILE, EVAL_CURVE_FILE] {
        let image = enco::data::load_rgb(&copy.join(plot)).unwrap();
        assert_eq!(image.width(), PLOT_WIDTH, "{plot}");
    }
    let html = std::fs::read_to_string(&page).unwrap();
    let (srcs, hrefs) = parse_links(&html);
    let listed: Vec<&String> = srcs.iter().filter(|s| s.starts_with(SAMPLES_DIR)).collect();
    assert_eq!(listed, samples.iter().collect::<Vec<_>>());
    assert!(html.contains("123.50"), "the evaluation table");
    assert!(!hrefs.iter().any(|h| h.starts_with("checkpoints/")));
    assert_links_resolve(&copy, &srcs);
    assert_links_resolve(&copy, &hrefs);

    // A folder that is no run is refused, and nothing is written into it.
    let empty = scratch("empty");
    let err = regenerate_report(&empty).unwrap_err();
    assert!(err.to_string().contains("not a run folder"), "{err}");
    assert!(std::fs::read_dir(&empty).unwrap().next().is_none());
    let _ = std::fs::remove_dir_all(&root);
    let _ = std::fs::remove_dir_all(&empty);
}

#[test]
fn pages_escape_what_they_show_and_reload_only_while_training() {
    let root = scratch("escape");
    std::fs::write(root.join(CONFIG_FILE), "{\"dataroot\": \"<b>&'x'</b>\"}").unwrap();
    let logs = RunLogs::read(&root).unwrap();
    let live = report_html(&logs, ReportState::Training);
    parse_links(&live);
    assert!(live.contains("http-equiv=\"refresh\""));
    assert!(live.contains("&lt;b&gt;&amp;&#39;x&#39;&lt;/b&gt;"));
    assert!(!live.contains("<b>&'x'"));
    let _ = std::fs::remove_dir_all(&root);
}
