//! Errors reported by the networks and the weight loaders.

use thiserror::Error;

/// An error from building, running or loading one of the EnCo networks.
#[derive(Debug, Error)]
pub enum NnError {
    /// The input tensor does not have the shape the network expects.
    #[error("{network}: invalid input shape {got:?}: {expected}")]
    InvalidInput {
        /// The network or operator that rejected the input.
        network: &'static str,
        /// What the network expects.
        expected: String,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// A configuration value is out of its valid range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// A requested feature layer index does not exist in the generator.
    #[error(
        "feature layer {index} does not exist: the generator has {num_layers} modules (valid indices: 0 for the input, 1..{num_layers} for module outputs)"
    )]
    InvalidLayer {
        /// The index that was asked for.
        index: usize,
        /// Number of modules of the generator.
        num_layers: usize,
    },
    /// A weight file could not be read.
    #[error("cannot read weights from {}: {source}", path.display())]
    WeightFile {
        /// The file that failed (`<memory>` for bytes).
        path: std::path::PathBuf,
        /// The reader's error (an I/O error, or burn-store's).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A tensor of the weight file has another shape than the network's parameter.
    #[error("weight `{key}`: shape mismatch: {message}")]
    WeightShape {
        /// The PyTorch state_dict key.
        key: String,
        /// What was expected against what was found.
        message: String,
    },
    /// The weight file and the network do not hold the same parameters: keys the network needs
    /// are missing from the file, or the file holds keys that match no parameter. Official
    /// keys, with a `module.` prefix (DataParallel checkpoints) already removed.
    #[error(
        "the weight file does not fit the network (is the configuration the one the weights \
         were trained with?): {}{}",
        key_list("missing", missing),
        key_list("unexpected", unexpected)
    )]
    WeightKeys {
        /// Keys the network needs that the file lacks.
        missing: Vec<String>,
        /// Keys of the file that match no parameter (buffers the network does not keep are
        /// not counted).
        unexpected: Vec<String>,
    },
}

pub(crate) fn check_rank4_channels(
    network: &'static str,
    dims: [usize; 4],
    channels: usize,
) -> Result<(), NnError> {
    if dims[1] != channels {
        return Err(NnError::InvalidInput {
            network,
            expected: format!("[batch, {channels}, height, width]"),
            got: dims.to_vec(),
        });
    }
    if dims[0] == 0 || dims[2] == 0 || dims[3] == 0 {
        return Err(NnError::InvalidInput {
            network,
            expected: "non-empty batch and spatial dimensions".into(),
            got: dims.to_vec(),
        });
    }
    Ok(())
}

/// `"; 3 missing: a, b, c"`, at most eight keys named; empty when there are none.
fn key_list(what: &str, keys: &[String]) -> String {
    if keys.is_empty() {
        return String::new();
    }
    let shown: Vec<&str> = keys.iter().take(8).map(String::as_str).collect();
    let more = if keys.len() > shown.len() {
        format!(", … ({} more)", keys.len() - shown.len())
    } else {
        String::new()
    };
    format!("; {} {what}: {}{more}", keys.len(), shown.join(", "))
}
