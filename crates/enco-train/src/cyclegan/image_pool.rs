//! CycleGAN's history of generated images (official `util/image_pool.py`).

use burn::prelude::*;
use burn::tensor::TensorData;
use rand::{Rng, RngExt};

/// A buffer of up to `capacity` earlier fakes that D is trained on (Shrivastava et al.).
///
/// [`ImagePool::query`] treats the batch image by image: while the pool is not full, each image
/// is stored and returned unchanged (no random number is drawn); once full, with probability
/// 0.5 a stored image, chosen uniformly, is returned and the new image takes its slot, otherwise
/// the new image is returned. Capacity 0 returns the batch itself. Images are held on the host,
/// so the pool is the same on every backend and goes into checkpoints as it is.
#[derive(Debug, Clone, Default)]
pub struct ImagePool {
    capacity: usize,
    images: Vec<TensorData>,
}

impl ImagePool {
    /// An empty pool of `capacity` images.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            images: Vec::new(),
        }
    }

    /// A pool of `capacity` holding `images` (each `[1, C, H, W]`), e.g. from a checkpoint.
    pub fn with_images(capacity: usize, images: Vec<TensorData>) -> Self {
        Self { capacity, images }
    }

    /// The stored images.
    pub fn images(&self) -> &[TensorData] {
        &self.images
    }

    /// The pool's answer for a batch of fakes (detached), drawing from `rng` as the official
    /// pool draws from Python's `random`.
    ///
    /// # Shapes
    /// - `fakes` `[B, C, H, W]`, output `[B, C, H, W]` (a stored image of another shape is
    ///   never returned)
    pub fn query<B: Backend, R: Rng + ?Sized>(
        &mut self,
        fakes: Tensor<B, 4>,
        rng: &mut R,
    ) -> Tensor<B, 4> {
        let fakes = fakes.detach();
        if self.capacity == 0 {
            return fakes;
        }
        let device = fakes.device();
        let batch = fakes.dims()[0];
        let mut out = Vec::with_capacity(batch);
        for i in 0..batch {
            let image = fakes.clone().narrow(0, i, 1);
            if self.images.len() < self.capacity {
                self.images.push(image.to_data());
                out.push(image);
            } else if rng.random::<f64>() > 0.5 {
                let slot = rng.random_range(0..self.capacity);
                if self.images[slot].shape.to_vec() != image.dims().to_vec() {
                    // An image of another size (untransformed data): the batch keeps its own.
                    self.images[slot] = image.to_data();
                    out.push(image);
                    continue;
                }
                let stored = std::mem::replace(&mut self.images[slot], image.to_data());
                out.push(Tensor::from_data(stored, &device));
            } else {
                out.push(image);
            }
        }
        Tensor::cat(out, 0)
    }
}
