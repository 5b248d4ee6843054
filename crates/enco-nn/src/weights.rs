//! Official PyTorch weights by their state_dict names: loading (safetensors or `.pth`) and
//! exporting (safetensors).

use std::path::Path;

use burn::prelude::*;
use burn_store::{
    ApplyError, ApplyResult, BurnToPyTorchAdapter, KeyRemapper, ModuleSnapshot, ModuleStore,
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
        let rules = KeyRemapper::from_patterns(Self::export_rules()).map_err(|e| {
            NnError::InvalidConfig(format!("an export rule is not a valid regex: {e}"))
        })?;
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
    fn load_safetensors(self, path: impl AsRef<Path>) -> Result<Self, NnError> {
        let path = existing_file(path.as_ref())?;
        let store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules())?);
        apply_official::<B, Self, _>(self, store, path)
    }

    /// Loads the official state_dict from safetensors bytes held in memory.
    fn load_safetensors_bytes(self, bytes: Vec<u8>) -> Result<Self, NnError> {
        let store = SafetensorsStore::from_bytes(Some(bytes))
            .with_from_adapter(PyTorchToBurnAdapter)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules())?);
        apply_official::<B, Self, _>(self, store, Path::new("<memory>"))
    }

    /// Loads a PyTorch `.pth` / `.pt` file holding the official state_dict (optionally nested
    /// under `top_level_key`, e.g. `"state_dict"`).
    fn load_pth(
        self,
        path: impl AsRef<Path>,
        top_level_key: Option<&str>,
    ) -> Result<Self, NnError> {
        let path = existing_file(path.as_ref())?;
        // The networks keep the official module indices (`model.1`, `model.4`, …), so burn-store's
        // renumbering of index gaps must stay off.
        let mut store = PytorchStore::from_file(path)
            .map_indices_contiguous(false)
            .skip_enum_variants(true)
            .validate(false)
            .allow_partial(true)
            .remap(remapper(Self::key_rules())?);
        if let Some(key) = top_level_key {
            store = store.with_top_level_key(key);
        }
        apply_official::<B, Self, _>(self, store, path)
    }
}

/// The module's key rules, after one that drops the `module.` prefix of checkpoints saved from
/// a `DataParallel` network (the official code's checkpoints trained on the CPU carry it on
/// every key), so keys load with or without it.
fn remapper(rules: Vec<(&'static str, &'static str)>) -> Result<KeyRemapper, NnError> {
    let mut patterns = vec![(r"^module\.", "")];
    patterns.extend(rules);
    KeyRemapper::from_patterns(patterns)
        .map_err(|e| NnError::InvalidConfig(format!("a key rule is not a valid regex: {e}")))
}

/// `path` when it is a file, else [`NnError::WeightFile`] with a not-found error.
fn existing_file(path: &Path) -> Result<&Path, NnError> {
    if path.is_file() {
        return Ok(path);
    }
    Err(NnError::WeightFile {
        path: path.to_path_buf(),
        source: Box::new(std::io::Error::from(std::io::ErrorKind::NotFound)),
    })
}

/// Applies the tensors of `store` (read from `path`) to `module` and checks that every
/// parameter was loaded and every tensor used ([`check_result`]).
fn apply_official<B, M, S>(mut module: M, mut store: S, path: &Path) -> Result<M, NnError>
where
    B: Backend,
    M: PytorchWeights<B>,
    S: ModuleStore,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let result = module
        .load_from(&mut store)
        .map_err(|e| NnError::WeightFile {
            path: path.to_path_buf(),
            source: Box::new(e),
        })?;
    check_result::<B, M>(result)?;
    Ok(module)
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

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::nn::{Linear, LinearConfig};

    use super::*;

    #[derive(Module, Debug)]
    struct BadRules<B: Backend> {
        linear: Linear<B>,
    }

    impl<B: Backend> PytorchWeights<B> for BadRules<B> {
        fn key_rules() -> Vec<(&'static str, &'static str)> {
            vec![("(unclosed", "x")]
        }
        fn export_rules() -> Vec<(&'static str, &'static str)> {
            vec![("[unclosed", "x")]
        }
    }

    #[test]
    fn invalid_key_rules_are_an_error_not_a_panic() {
        let module = BadRules::<Flex> {
            linear: LinearConfig::new(2, 2).init(&Default::default()),
        };
        let dir = std::env::temp_dir().join(format!("enco-rules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("w.safetensors");
        let err = module.save_safetensors(&path).unwrap_err();
        assert!(matches!(err, NnError::InvalidConfig(_)), "{err}");
        std::fs::write(&path, b"not read").unwrap();
        let module = BadRules::<Flex> {
            linear: LinearConfig::new(2, 2).init(&Default::default()),
        };
        let err = module.load_safetensors(&path).unwrap_err();
        assert!(err.to_string().contains("not a valid regex"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_missing_file_names_the_path() {
        let module = BadRules::<Flex> {
            linear: LinearConfig::new(2, 2).init(&Default::default()),
        };
        let err = module
            .load_pth("/nonexistent/enco/w.pth", None)
            .unwrap_err();
        assert!(
            matches!(&err, NnError::WeightFile { path, .. } if path.ends_with("w.pth")),
            "{err}"
        );
    }
}
