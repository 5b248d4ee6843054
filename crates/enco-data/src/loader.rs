//! Batches decoded off the training thread (prefetch).

use std::sync::mpsc::{Receiver, sync_channel};
use std::thread::JoinHandle;

use burn::tensor::TensorData;
use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use crate::dataset::UnpairedDataset;
use crate::error::DataError;
use crate::transform::Transform;

/// One batch, tensors `[B, 3, H, W]` in [−1, 1].
#[derive(Debug, Clone)]
pub struct UnpairedBatch {
    /// Source-domain images.
    pub a: TensorData,
    /// Target-domain images.
    pub b: TensorData,
    /// Files of `a`.
    pub a_paths: Vec<std::path::PathBuf>,
    /// Files of `b`.
    pub b_paths: Vec<std::path::PathBuf>,
}

/// The batches of one epoch, loaded and decoded by a worker thread while the caller trains.
///
/// The epoch order is a shuffle (training) or the data set order, `drop_last` as the official
/// loader; everything random (order, B draws, crops, flips) comes from a [`ChaCha8Rng`] seeded with
/// `seed`, so an epoch is reproducible, and resuming at batch k of an epoch skips the first k
/// batches of the same stream.
pub struct EpochLoader {
    receiver: Receiver<Result<UnpairedBatch, DataError>>,
    worker: Option<JoinHandle<()>>,
    batches: usize,
}

impl EpochLoader {
    /// Starts loading the epoch; `prefetch` batches are kept ready ahead of the consumer.
    pub fn start(
        dataset: UnpairedDataset,
        transform: Transform,
        batch_size: usize,
        shuffle: bool,
        seed: u64,
        prefetch: usize,
    ) -> Result<Self, DataError> {
        transform.validate()?;
        if batch_size == 0 {
            return Err(DataError::Config("batch size must be at least 1".into()));
        }
        let batches = dataset.len() / batch_size;
        let (sender, receiver) = sync_channel(prefetch.max(1));
        let worker = std::thread::spawn(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut order: Vec<usize> = (0..dataset.len()).collect();
            if shuffle {
                order.shuffle(&mut rng);
            }
            for chunk in order.chunks_exact(batch_size) {
                let batch = load_batch(&dataset, &transform, chunk, &mut rng);
                let failed = batch.is_err();
                if sender.send(batch).is_err() || failed {
                    return;
                }
            }
        });
        Ok(Self {
            receiver,
            worker: Some(worker),
            batches,
        })
    }

    /// Number of batches of the epoch (`floor(len / batch_size)`).
    pub fn num_batches(&self) -> usize {
        self.batches
    }
}

impl Iterator for EpochLoader {
    type Item = Result<UnpairedBatch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.receiver.recv() {
            Ok(batch) => Some(batch),
            Err(_) => {
                if let Some(worker) = self.worker.take() {
                    let _ = worker.join();
                }
                None
            }
        }
    }
}

fn load_batch(
    dataset: &UnpairedDataset,
    transform: &Transform,
    indices: &[usize],
    rng: &mut ChaCha8Rng,
) -> Result<UnpairedBatch, DataError> {
    let samples = indices
        .iter()
        .map(|&i| dataset.get(i, transform, rng))
        .collect::<Result<Vec<_>, _>>()?;
    let stack =
        |pick: &dyn Fn(&crate::dataset::UnpairedSample) -> (&TensorData, &std::path::Path)| {
            let (first, _) = pick(&samples[0]);
            let shape = first.shape.clone();
            let mut values = Vec::new();
            for s in &samples {
                let (data, path) = pick(s);
                if data.shape != shape {
                    let size = |d: &TensorData| (d.shape[2] as u32, d.shape[1] as u32);
                    return Err(DataError::BatchSize {
                        first: size(first),
                        other: size(data),
                        path: path.to_path_buf(),
                    });
                }
                values.extend(data.to_vec::<f32>().expect("f32 image data"));
            }
            let mut dims = vec![samples.len()];
            dims.extend(shape.iter().copied());
            Ok(TensorData::new(values, dims))
        };
    Ok(UnpairedBatch {
        a: stack(&|s| (&s.a, s.a_path.as_path()))?,
        b: stack(&|s| (&s.b, s.b_path.as_path()))?,
        a_paths: samples.iter().map(|s| s.a_path.clone()).collect(),
        b_paths: samples.iter().map(|s| s.b_path.clone()).collect(),
    })
}
