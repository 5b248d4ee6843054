//! A generator scored as the official test protocol scores it (`enco eval checkpoint`): the test
//! set re-saved at the test-time size as the official `test.py` writes `real_A` and `real_B`,
//! `real_A` translated into `fake_B`, FID (and KID) of `fake_B` against `real_B`, and PSNR/SSIM
//! against paired targets when there are some.

use std::path::{Path, PathBuf};

use enco_nn::{EncoBackend, ResnetGenerator};
use serde::{Deserialize, Serialize};

use crate::error::EvalError;
use crate::fid::{
    FidInception, FidKidReport, FidReport, KidConfig, fid_and_kid_between_folders,
    fid_between_folders,
};
use crate::paired::{
    OFFICIAL_NUM_TEST, PairedScores, TestPairs, paired_scores, resave_folder, resave_test_pairs,
};
use crate::translate::translate_folder;

/// How the test set is prepared and what is scored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TestProtocol {
    /// Test-time size: every image resized to size×size (bicubic) first, as the official
    /// `test.py` does (256 for the paper's protocol); `None` keeps each image's own size.
    pub size: Option<u32>,
    /// Translate `testB` → `testA` instead of `testA` → `testB`.
    pub reverse: bool,
    /// Re-save every target image under its own name instead of the official protocol's
    /// `real_B` (one file per source image, named by the source stem, with the official
    /// overwrites when the target set is larger).
    pub keep_own_names: bool,
    /// Exact targets of the source images (same file stems): adds PSNR and SSIM.
    pub paired_target: Option<PathBuf>,
}

/// What FID is computed with.
#[derive(Debug)]
pub struct FidOptions<'a, B: burn::tensor::backend::Backend> {
    /// The FID Inception.
    pub model: &'a FidInception<B>,
    /// Images per Inception batch (pytorch-fid's default 50).
    pub batch_size: usize,
    /// Also KID, with this configuration.
    pub kid: Option<KidConfig>,
}

/// How the real sets were written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RealSets {
    /// The official protocol's sets, with their counts.
    Official(TestPairs),
    /// Every image under its own name.
    OwnNames,
}

/// FID alone, or FID and KID.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FidScores {
    /// FID and KID.
    WithKid(FidKidReport),
    /// FID.
    Fid(FidReport),
}

/// The scores of [`evaluate_with_test_protocol`] (written as `report.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestProtocolReport {
    /// `testA→testB` or `testB→testA`.
    pub direction: String,
    /// The test-time size.
    pub size: Option<u32>,
    /// How `real_A` and `real_B` were written.
    pub real_sets: RealSets,
    /// FID (and KID) of `fake_B` against `real_B`, when FID options were given.
    pub fid: Option<FidScores>,
    /// PSNR/SSIM of `fake_B` against the paired targets, when given.
    pub paired: Option<PairedScores>,
}

/// Where [`evaluate_with_test_protocol`] writes, below `output`: `real_A`, `fake_B`, `real_B`
/// and (with paired targets) `target`.
pub const TEST_PROTOCOL_FOLDERS: [&str; 4] = ["real_A", "fake_B", "real_B", "target"];

/// Scores `generator` on `dataroot/testA` (or `testB`) as the official test protocol does,
/// writing the images below `output` ([`TEST_PROTOCOL_FOLDERS`]). `progress` is called with the
/// stage (`"translate"`, `"fid"`) and (done, total) as the work advances.
pub fn evaluate_with_test_protocol<B: EncoBackend>(
    generator: &ResnetGenerator<B>,
    dataroot: &Path,
    output: &Path,
    protocol: &TestProtocol,
    fid: Option<FidOptions<'_, B>>,
    device: &B::Device,
    mut progress: impl FnMut(&str, usize, usize),
) -> Result<TestProtocolReport, EvalError> {
    let (src, tgt) = if protocol.reverse {
        ("testB", "testA")
    } else {
        ("testA", "testB")
    };
    let [real_a, fake_b, real_b, target] = TEST_PROTOCOL_FOLDERS.map(|f| output.join(f));
    let real_sets = if protocol.keep_own_names {
        resave_folder(&dataroot.join(src), &real_a, protocol.size)?;
        resave_folder(&dataroot.join(tgt), &real_b, protocol.size)?;
        RealSets::OwnNames
    } else {
        RealSets::Official(resave_test_pairs(
            &dataroot.join(src),
            &dataroot.join(tgt),
            &real_a,
            &real_b,
            protocol.size,
            OFFICIAL_NUM_TEST,
        )?)
    };
    translate_folder(generator, &real_a, &fake_b, 4, device, |done, total| {
        progress("translate", done, total)
    })?;
    let fid = match fid {
        None => None,
        Some(FidOptions {
            model,
            batch_size,
            kid: Some(kid),
        }) => Some(FidScores::WithKid(fid_and_kid_between_folders(
            &fake_b,
            &real_b,
            model,
            batch_size,
            kid,
            device,
            |done, total| progress("fid", done, total),
        )?)),
        Some(FidOptions {
            model, batch_size, ..
        }) => Some(FidScores::Fid(fid_between_folders(
            &fake_b,
            &real_b,
            model,
            batch_size,
            device,
            |done, total| progress("fid", done, total),
        )?)),
    };
    let paired = match &protocol.paired_target {
        Some(targets) => {
            resave_folder(targets, &target, protocol.size)?;
            Some(paired_scores(&fake_b, &target)?)
        }
        None => None,
    };
    Ok(TestProtocolReport {
        direction: format!("{src}→{tgt}"),
        size: protocol.size,
        real_sets,
        fid,
        paired,
    })
}
