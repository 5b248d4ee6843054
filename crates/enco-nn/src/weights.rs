//! Official PyTorch weights by their state_dict names: loading (safetensors or `.pth`) and
//! exporting (safetensors).

use std::path::Path;

use burn::prelude::*;
use burn_store::{
    ApplyError, ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot,
    PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};
use enco_kernels::EncoBackend;

use crate::discriminator::NLayerDiscriminator;
use crate::error::NnError;
use crate::generator::ResnetGenerator;
use crate::heads::EncoHeads;
use crate::patch_sample_heads::PatchSampleHeads;

/// State_dict entries of the official networks that are constants or never-used statistics:
/// the blur/upsample `filt` buffers and BatchNorm running statistics (docs/reference.md §1.8, §2).
const IGNORED_BUFFERS: [&str; 4] = [
    ".filt",
    ".running_mean",
    ".running_var",
    ".num_batches_tracked",
];

/// A network that can take the weights of its official PyTorch counterpart.
///
/// Keys are the official state_dict names (`model.12.conv_block.1.weight`, `mlp_0.0.weight`);
/// Linear weights are transposed from PyTorch's `[out, in]`. Every parameter must be present
/// with its exact shape, and every tensor of the file must be a parameter or a known buffer:
/// anything else is an error naming the keys ([`NnError::WeightKeys`]). Keys may carry the
/// `module.` prefix of a `DataParallel` checkpoint.
pub trait PytorchWeights<B: Backend>: Module<B> + ModuleSnapshot<B> + Sized {
    /// Regex rules from official keys to this module's parameter paths.
    fn key_rules() -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Maps one of this module's parameter paths back to the official key.
    fn official_key(path: &str) -> String {
        path.to_string()
    }

    /// Regex rules from this module's parameter paths to the official keys (the inverse of
    /// [`PytorchWeights::key_rules`]).
    fn export_rules() -> Vec<(&'static str, &'static str)> {
        Vec::new()
    }

    /// Writes the parameters as a `.safetensors` file under the official state_dict names,
    /// Linear weights transposed back to PyTorch's `[out, in]`: PyTorch reads it with
    /// `safetensors.torch.load_file(path)` and `net.load_state_dict(state, strict=False)`
    /// (the constant `filt` buffers of the blur and upsampling layers and the BatchNorm running
    /// statistics, which the official networks create themselves, are not written). The file is
    /// written through a temporary file and a rename.
    fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<(), NnError> {
        let path = path.as_ref();
        let tmp = path.with_extension("safetensors.tmp");
        let failed = |e: Box<dyn std::error::Error + Send + Sync>| NnError::WeightFile {
            path: path.to_path_buf(),
            source: e,
        };
        let rules = KeyRemapper::from_patterns(Self::export_rules())
            .expect("static key rules are valid regexes");
        let mut store = SafetensorsStore::from_file(&tmp)
            .with_to_adapter(BurnToPyTorchAdapter)
            .skip_enum_variants(true)
            .overwrite(true)
            .remap(rules);
        self.save_into(&mut store)
            .map_err(|e| failed(Box::new(e)))?;
        std::fs::rename(&tmp, path).map_err(|e| failed(Box::new(e)))
    }

    /// Loads a `.safetensors` file holding the official state_dict.
    fn load_safetensors(mut self, path: impl AsRef<Path>) -> Result<Self, NnError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(NnError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
            });
        }
        let mut store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules()));
        let result = self
            .load_from(&mut store)
            .map_err(|e| NnError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        check_result::<B, Self>(result)?;
        Ok(self)
    }

    /// Loads the official state_dict from safetensors bytes held in memory.
    fn load_safetensors_bytes(mut self, bytes: Vec<u8>) -> Result<Self, NnError> {
        let mut store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules()));
        let result = self
            .load_from(&mut store)
            .map_err(|e| NnError::WeightFile {
                path: "<memory>".into(),
                source: Box::new(e),
            })?;
        check_result::<B, Self>(result)?;
        Ok(self)
    }

    /// Loads a PyTorch `.pth` / `.pt` file holding the official state_dict (optionally nested
    /// under `top_level_key`, e.g. `"state_dict"`).
    fn load_pth(
        mut self,
        path: impl AsRef<Path>,
        top_level_key: Option<&str>,
    ) -> Result<Self, NnError> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(NnError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
            });
        }
        // The networks keep the official module indices (`model.1`, `model.4`, …), so burn-store's
        // renumbering of index gaps must stay off.
        let mut store = PytorchStore::from_file(path)
            .map_indices_contiguous(false)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules()));
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        let result = self
            .load_from(&mut store)
            .map_err(|e| NnError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        check_result::<B, Self>(result)?;
        Ok(self)
    }
}

/// The module's key rules, after one that drops the `module.` prefix of checkpoints saved from
/// a `DataParallel` network (the official code's checkpoints trained on the CPU carry it on
/// every key), so keys load with or without it.
fn remapper(rules: Vec<(&'static str, &'static str)>) -> KeyRemapper {
    let mut patterns = vec![(r"^module\.", "")];
    patterns.extend(rules);
    KeyRemapper::from_patterns(patterns).expect("static key rules are valid regexes")
}

fn check_result<B: Backend, M: PytorchWeights<B>>(result: ApplyResult) -> Result<(), NnError> {
    if let Some(error) = result.errors.first() {
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => NnError::WeightShape {
                key: M::official_key(path),
                message: format!(
                    "the network expects {:?}, the file holds {:?}",
                    expected.as_slice(),
                    found.as_slice()
                ),
            },
            other => NnError::WeightShape {
                key: String::new(),
                message: other.to_string(),
            },
        });
    }
    let missing: Vec<String> = result
        .missing
        .iter()
        .map(|(path, _)| M::official_key(path))
        .collect();
    let unexpected: Vec<String> = result
        .unused
        .iter()
        .filter(|k| !IGNORED_BUFFERS.iter().any(|b| k.ends_with(b)))
        .map(|k| M::official_key(k))
        .collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(NnError::WeightKeys {
            missing,
            unexpected,
        });
    }
    Ok(())
}

impl<B: EncoBackend> PytorchWeights<B> for ResnetGenerator<B> {}

impl<B: EncoBackend> PytorchWeights<B> for NLayerDiscriminator<B> {}

impl<B: Backend> PytorchWeights<B> for EncoHeads<B> {
    fn key_rules() -> Vec<(&'static str, &'static str)> {
        vec![
            (r"^mlp_(\d+)\.", "mlp.$1.layers."),
            (r"^prj_(\d+)\.", "prj.$1.layers."),
        ]
    }

    fn export_rules() -> Vec<(&'static str, &'static str)> {
        vec![
            (r"^mlp\.(\d+)\.layers\.", "mlp_$1."),
            (r"^prj\.(\d+)\.layers\.", "prj_$1."),
        ]
    }

    fn official_key(path: &str) -> String {
        let mut parts: Vec<&str> = path.split('.').collect();
        if parts.len() > 2 && (parts[0] == "mlp" || parts[0] == "prj") && parts[2] == "layers" {
            let head = format!("{}_{}", parts[0], parts[1]);
            parts.drain(0..3);
            format!("{head}.{}", parts.join("."))
        } else {
            path.to_string()
        }
    }
}

impl<B: Backend> PytorchWeights<B> for PatchSampleHeads<B> {
    fn key_rules() -> Vec<(&'static str, &'static str)> {
        vec![(r"^mlp_(\d+)\.", "mlp.$1.layers.")]
    }

    fn export_rules() -> Vec<(&'static str, &'static str)> {
        vec![(r"^mlp\.(\d+)\.layers\.", "mlp_$1.")]
    }

    fn official_key(path: &str) -> String {
        EncoHeads::<B>::official_key(path)
    }
}
