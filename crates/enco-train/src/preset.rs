//! Ready-made training configurations for the paper's data sets (docs/reference.md §0, §13, §14.8/§14.10).

use std::path::PathBuf;

use enco_data::Direction;

use crate::run::TrainingConfig;

/// A data set of the paper with the official README command's values: λ_NCE 2, λ_IDT 10,
/// TTUR 5e-5 / 2e-4 / 5e-5, 100 + 100 epochs, 20 warm-up epochs, resize 286 → crop 256, flips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DatasetPreset {
    /// AFHQ cat → dog (`trainA` cats, `trainB` dogs).
    Cat2dog,
    /// ImageNet horse → zebra (CycleGAN's `horse2zebra`).
    Horse2zebra,
    /// Cityscapes, trained label → photo (`--direction BtoA`, as the authors' runs and the
    /// segmentation metrics need; the README command itself omits it, docs/reference.md §14.10).
    Cityscapes,
}

impl DatasetPreset {
    /// Every preset.
    pub const ALL: [DatasetPreset; 3] = [Self::Cat2dog, Self::Horse2zebra, Self::Cityscapes];

    /// The preset's name as the official data sets call it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cat2dog => "cat2dog",
            Self::Horse2zebra => "horse2zebra",
            Self::Cityscapes => "cityscapes",
        }
    }

    /// The preset with this name (`cat2dog`, `horse2zebra`, `cityscapes`).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The training configuration of the README command for this data set.
    pub fn training_config(self, dataroot: impl Into<PathBuf>) -> TrainingConfig {
        let config = TrainingConfig::new(crate::EncoConfig::new().into(), dataroot.into());
        match self {
            Self::Cityscapes => config.with_direction(Direction::BtoA),
            Self::Cat2dog | Self::Horse2zebra => config,
        }
    }

    /// The paper's epoch budget instead of the README's 100 + 100: 400 epochs (200 + 200) for
    /// Cityscapes and horse → zebra, 200 (100 + 100) for cat → dog (docs/reference.md §14.8).
    pub fn paper_epochs(self, config: TrainingConfig) -> TrainingConfig {
        let half = match self {
            Self::Cat2dog => 100,
            Self::Horse2zebra | Self::Cityscapes => 200,
        };
        config.with_n_epochs(half).with_n_epochs_decay(half)
    }

    /// Where the data set comes from and how its folders must be laid out.
    pub fn data_hint(self) -> &'static str {
        match self {
            Self::Cat2dog => {
                "AFHQ (https://github.com/clovaai/stargan-v2, `bash download.sh afhq-dataset`): \
                 put afhq/train/cat in trainA, afhq/train/dog in trainB, afhq/val/cat in testA and \
                 afhq/val/dog in testB"
            }
            Self::Horse2zebra => {
                "CycleGAN's horse2zebra (https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix, \
                 `bash ./datasets/download_cyclegan_dataset.sh horse2zebra`): it already has \
                 trainA, trainB, testA and testB"
            }
            Self::Cityscapes => {
                "Cityscapes (https://www.cityscapes-dataset.com, leftImg8bit and gtFine): prepare \
                 it with the official prepare_cityscapes_dataset.py so photos are in trainA/testA \
                 and colour label maps in trainB/testB"
            }
        }
    }
}

impl std::str::FromStr for DatasetPreset {
    type Err = String;

    /// Parses `cat2dog`, `horse2zebra` or `cityscapes`; the error lists the valid names.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::from_name(name).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|p| p.name()).collect();
            format!("unknown preset {name:?} (one of: {})", names.join(", "))
        })
    }
}

impl std::fmt::Display for DatasetPreset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
