//! Where `enco translate` and `enco eval checkpoint` get their generator: a checkpoint folder of
//! this project, or a generator file of the official code (`latest_net_G.pth`, or its
//! state_dict as `.safetensors`) with the flags of the architecture it was trained with.

use std::path::PathBuf;

use clap::Args;
use enco_kernels::EncoBackend;
use enco_nn::{ResnetGenerator, ResnetGeneratorConfig};
use enco_train::{load_official_generator, load_translator};

use crate::options::OptionsError;

/// The generator to translate with.
#[derive(Args, Debug, Clone)]
pub struct GeneratorSource {
    /// A checkpoint folder (OUTPUT/checkpoints/iter_N), or an official generator file
    /// (`*_net_G.pth`, `*_net_G_A.pth`, or its state_dict as .safetensors; keys with or
    /// without the `module.` prefix).
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// Use CycleGAN's inverse generator G_B (target → source); checkpoint folders only.
    #[arg(long)]
    pub inverse: bool,
    /// Official file: generator width (--ngf) [default: the official 64].
    #[arg(long, help_heading = "Official generator file")]
    pub ngf: Option<usize>,
    /// Official file: ResNet blocks (9 for resnet_9blocks, 6 for resnet_6blocks).
    #[arg(long, help_heading = "Official generator file")]
    pub n_blocks: Option<usize>,
    /// Official file: trained with --no_antialias.
    #[arg(long, help_heading = "Official generator file")]
    pub no_antialias: bool,
    /// Official file: trained with --no_antialias_up.
    #[arg(long, help_heading = "Official generator file")]
    pub no_antialias_up: bool,
}

impl GeneratorSource {
    fn network_flags_given(&self) -> bool {
        self.ngf.is_some() || self.n_blocks.is_some() || self.no_antialias || self.no_antialias_up
    }

    /// The generator's configuration for an official file: the official defaults with the
    /// given flags.
    pub fn official_config(&self) -> ResnetGeneratorConfig {
        let mut config = ResnetGeneratorConfig::new();
        if let Some(ngf) = self.ngf {
            config.ngf = ngf;
        }
        if let Some(n_blocks) = self.n_blocks {
            config.n_blocks = n_blocks;
        }
        config.no_antialias = self.no_antialias;
        config.no_antialias_up = self.no_antialias_up;
        config
    }

    /// Loads the generator.
    pub fn load<B: EncoBackend>(
        &self,
        device: &B::Device,
    ) -> Result<ResnetGenerator<B>, Box<dyn std::error::Error>> {
        if self.checkpoint.is_dir() {
            if self.network_flags_given() {
                return Err(OptionsError::Conflict(
                    "a checkpoint folder",
                    "--ngf/--n-blocks/--no-antialias/--no-antialias-up",
                    "the folder records its architecture; the flags describe official files",
                )
                .into());
            }
            return Ok(load_translator::<B>(
                &self.checkpoint,
                self.inverse,
                device,
            )?);
        }
        if self.ngf == Some(0) {
            return Err(OptionsError::Invalid {
                flag: "--ngf".into(),
                reason: "must be at least 1".into(),
            }
            .into());
        }
        if self.inverse {
            return Err(OptionsError::Conflict(
                "--inverse",
                "an official generator file",
                "load the official G_B file (latest_net_G_B.pth) instead",
            )
            .into());
        }
        Ok(load_official_generator::<B>(
            &self.checkpoint,
            &self.official_config(),
            device,
        )?)
    }
}
