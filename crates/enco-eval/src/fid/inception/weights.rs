//! The FID Inception's weights: the `.pth` / safetensors state_dict of pytorch-fid, its key
//! names, and the checks that every parameter is loaded.

use super::*;

/// Key rules from the PyTorch state_dict names to this module's parameter paths.
pub(super) const KEY_RULES: [(&str, &str); 2] = [(r"^Conv2d_", "conv2d_"), (r"^Mixed_", "mixed_")];

/// State_dict entries that are not part of the pool3 network.
pub(super) fn is_ignored_key(key: &str) -> bool {
    key.starts_with("fc.") || key.ends_with(".num_batches_tracked")
}

/// Maps a parameter path of [`FidInception`] back to its PyTorch state_dict key (prefixes
/// re-capitalised, BatchNorm `gamma` / `beta` back to `weight` / `bias`).
pub(super) fn official_key(path: &str) -> String {
    let key = if let Some(rest) = path.strip_prefix("conv2d_") {
        format!("Conv2d_{rest}")
    } else if let Some(rest) = path.strip_prefix("mixed_") {
        format!("Mixed_{rest}")
    } else {
        path.to_string()
    };
    if let Some(stem) = key.strip_suffix(".bn.gamma") {
        format!("{stem}.bn.weight")
    } else if let Some(stem) = key.strip_suffix(".bn.beta") {
        format!("{stem}.bn.bias")
    } else {
        key
    }
}

/// Whether the file key `key` (after remapping) was consumed under its Burn name: burn-store
/// finds BatchNorm `weight` / `bias` as alternatives of `gamma` / `beta` but still lists the
/// PyTorch names as unused.
pub(super) fn applied_under_burn_name(key: &str, applied: &HashSet<&str>) -> bool {
    let burn = if let Some(stem) = key.strip_suffix(".weight") {
        format!("{stem}.gamma")
    } else if let Some(stem) = key.strip_suffix(".bias") {
        format!("{stem}.beta")
    } else {
        return false;
    };
    applied.contains(burn.as_str())
}

pub(super) fn remapper() -> Result<KeyRemapper, FidError> {
    KeyRemapper::from_patterns(KEY_RULES.to_vec()).map_err(|e| FidError::Config(e.to_string()))
}

pub(super) fn check_result(result: ApplyResult) -> Result<(), FidError> {
    if let Some(error) = result.errors.first() {
        return Err(match error {
            ApplyError::ShapeMismatch {
                path,
                expected,
                found,
            } => FidError::WeightShape {
                key: official_key(path),
                message: format!(
                    "the network expects {:?}, the file holds {:?}",
                    expected.as_slice(),
                    found.as_slice()
                ),
            },
            other => FidError::WeightShape {
                key: String::new(),
                message: other.to_string(),
            },
        });
    }
    if let Some((path, _)) = result.missing.first() {
        return Err(FidError::MissingWeight {
            key: official_key(path),
        });
    }
    let applied: HashSet<&str> = result.applied.iter().map(String::as_str).collect();
    if let Some(key) = result
        .unused
        .iter()
        .find(|k| !is_ignored_key(k) && !applied_under_burn_name(k, &applied))
    {
        return Err(FidError::UnexpectedWeight {
            key: official_key(key),
        });
    }
    Ok(())
}

pub(super) fn check_file(path: &Path) -> Result<(), FidError> {
    if path.is_file() {
        Ok(())
    } else {
        Err(FidError::MissingWeights {
            path: path.to_path_buf(),
        })
    }
}

impl<B: EncoBackend> FidInception<B> {
    /// Builds the default network (pytorch-fid's FID settings) and loads the official
    /// `pt_inception-2015-12-05-6726825d.pth` (or any `.pth` holding the same state_dict).
    /// A missing file gives [`FidError::MissingWeights`], whose message names the download URL
    /// ([`FID_WEIGHTS_URL`](crate::fid::FID_WEIGHTS_URL)).
    pub fn load_pth(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, FidError> {
        FidInceptionConfig::new()
            .init(device)
            .load_weights_pth(path)
    }

    /// Builds the default network and loads a `.safetensors` file holding the state_dict of
    /// the `.pth` (same key names).
    pub fn load_safetensors(path: impl AsRef<Path>, device: &B::Device) -> Result<Self, FidError> {
        FidInceptionConfig::new()
            .init(device)
            .load_weights_safetensors(path)
    }

    /// Loads the weights and BatchNorm running statistics of a PyTorch `.pth` state_dict into
    /// this network. Every parameter and running statistic must be present with its exact
    /// shape; `fc.*` and `num_batches_tracked` are ignored, other extra keys are an error.
    pub fn load_weights_pth(self, path: impl AsRef<Path>) -> Result<Self, FidError> {
        let path = path.as_ref();
        check_file(path)?;
        let store = PytorchStore::from_file(path)
            .validate(false)
            .allow_partial(true)
            .remap(remapper()?);
        self.apply_store(store, path)
    }

    /// Loads the weights and BatchNorm running statistics of a `.safetensors` state_dict (the
    /// `.pth` key names) into this network, with the checks of
    /// [`load_weights_pth`](Self::load_weights_pth).
    pub fn load_weights_safetensors(self, path: impl AsRef<Path>) -> Result<Self, FidError> {
        let path = path.as_ref();
        check_file(path)?;
        let store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            .validate(false)
            .allow_partial(true)
            .remap(remapper()?);
        self.apply_store(store, path)
    }

    /// Applies the tensors of `store` (read from `path`) and checks that every parameter and
    /// running statistic was loaded and no unknown tensor was left ([`check_result`]).
    fn apply_store<S>(mut self, mut store: S, path: &Path) -> Result<Self, FidError>
    where
        S: ModuleStore,
        S::Error: std::error::Error + Send + Sync + 'static,
    {
        let result = self
            .load_from(&mut store)
            .map_err(|e| FidError::WeightFile {
                path: path.to_path_buf(),
                source: Box::new(e),
            })?;
        check_result(result)?;
        Ok(self)
    }
}
