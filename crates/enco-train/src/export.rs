//! A checkpoint's networks written for PyTorch: one `.safetensors` file per network under the
//! official state_dict names (`enco export --pytorch DIR`).

use std::path::{Path, PathBuf};

use enco_nn::{EncoAutodiffBackend, PytorchWeights};

use crate::checkpoint::{checkpoint_config, load_checkpoint};
use crate::error::TrainError;
use crate::model_trainer::ModelTrainer;

/// Writes the networks of `checkpoint` into `out` as the official code names its files, with
/// the `.safetensors` extension: `latest_net_G`, `latest_net_D`, `latest_net_F` (EnCo, CUT,
/// FastCUT) or `latest_net_G_A`, `latest_net_G_B`, `latest_net_D_A`, `latest_net_D_B`
/// (CycleGAN). Each holds the official state_dict keys and shapes
/// ([`PytorchWeights::save_safetensors`]); returns the files written.
pub fn export_pytorch<B: EncoAutodiffBackend>(
    checkpoint: &Path,
    out: &Path,
    device: &B::Device,
) -> Result<Vec<PathBuf>, TrainError> {
    let config = checkpoint_config(checkpoint)?;
    let (trainer, _) = load_checkpoint::<B>(checkpoint, config, device)?;
    std::fs::create_dir_all(out).map_err(|e| TrainError::output(out, e))?;
    let file = |name: &str| out.join(format!("latest_net_{name}.safetensors"));
    let mut written = Vec::new();
    let mut save = |name: &str, network: &dyn Fn(&Path) -> Result<(), enco_nn::NnError>| {
        let path = file(name);
        network(&path)?;
        written.push(path);
        Ok::<_, TrainError>(())
    };
    match &trainer {
        ModelTrainer::Enco(t) => {
            save("G", &|p| t.model.generator.save_safetensors(p))?;
            save("D", &|p| t.model.discriminator.save_safetensors(p))?;
            save("F", &|p| t.model.heads.save_safetensors(p))?;
        }
        ModelTrainer::Cut(t) => {
            save("G", &|p| t.model.generator.save_safetensors(p))?;
            save("D", &|p| t.model.discriminator.save_safetensors(p))?;
            save("F", &|p| t.model.heads.save_safetensors(p))?;
        }
        ModelTrainer::CycleGan(t) => {
            save("G_A", &|p| t.model.g_a.save_safetensors(p))?;
            save("G_B", &|p| t.model.g_b.save_safetensors(p))?;
            save("D_A", &|p| t.model.d_a.save_safetensors(p))?;
            save("D_B", &|p| t.model.d_b.save_safetensors(p))?;
        }
    }
    Ok(written)
}
