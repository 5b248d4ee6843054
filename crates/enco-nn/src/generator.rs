//! The ResNet generator with feature taps (docs/reference.md §2).

use burn::nn::{Relu, Tanh};
use burn::prelude::*;
use enco_kernels::EncoBackend;

use crate::conv_chain::forward_chained;
use crate::downsample::Downsample;
use crate::error::{NnError, check_rank4_channels};
use crate::init::{WeightInit, conv_transpose2d, conv2d};
use crate::instance_norm::InstanceNorm2d;
use crate::layer::Layer;
use crate::padding::ReflectionPad2d;
use crate::resnet_block::ResnetBlock;
use crate::upsample::Upsample;

/// Configuration of the official `ResnetGenerator` (`resnet_9blocks`, instance norm, no
/// dropout), docs/reference.md §2.
#[derive(Config, Debug)]
pub struct ResnetGeneratorConfig {
    /// Input image channels.
    #[config(default = 3)]
    pub input_nc: usize,
    /// Output image channels.
    #[config(default = 3)]
    pub output_nc: usize,
    /// Width of the first stage (`ngf`); the residual trunk has `4·ngf` channels.
    #[config(default = 64)]
    pub ngf: usize,
    /// Number of residual blocks (9 for `resnet_9blocks`, 6 for `resnet_6blocks`).
    #[config(default = 9)]
    pub n_blocks: usize,
    /// `--no_antialias`: strided 3×3 convolutions instead of conv + blur downsampling (§2.2).
    #[config(default = false)]
    pub no_antialias: bool,
    /// `--no_antialias_up`: transposed convolutions instead of upsample + conv (§2.2).
    #[config(default = false)]
    pub no_antialias_up: bool,
    /// Seed of the official initialisation (§4.2).
    #[config(default = 0)]
    pub seed: u64,
}

/// The official ResNet generator. `model[l]` is module `l` of the official `nn.Sequential`
/// (32 modules with the default flags), so `model.<l>.*` are the PyTorch state_dict keys.
#[derive(Module, Debug)]
pub struct ResnetGenerator<B: EncoBackend> {
    /// The modules, indexed as in the official code.
    pub model: Vec<Layer<B>>,
    /// Input channels expected by `model[1]`.
    pub input_nc: usize,
}

impl ResnetGeneratorConfig {
    /// Checks that every width is at least 1 (`input_nc`, `output_nc`, `ngf`).
    pub fn validate(&self) -> Result<(), NnError> {
        for (name, value) in [
            ("input_nc", self.input_nc),
            ("output_nc", self.output_nc),
            ("ngf", self.ngf),
        ] {
            if value == 0 {
                return Err(NnError::InvalidConfig(format!(
                    "generator {name} must be at least 1"
                )));
            }
        }
        Ok(())
    }

    /// Builds the generator with the official initialisation drawn from `self.seed`.
    ///
    /// # Panics
    /// If the configuration does not pass [`ResnetGeneratorConfig::validate`] (a width of 0 has
    /// no initialisation); the models' `init` functions check it and return the error.
    pub fn init<B: EncoBackend>(&self, device: &B::Device) -> ResnetGenerator<B> {
        self.init_with(&mut WeightInit::official(self.seed), device)
    }

    /// Builds the generator drawing its weights from `weights`.
    ///
    /// # Panics
    /// As [`ResnetGeneratorConfig::init`].
    pub fn init_with<B: EncoBackend>(
        &self,
        weights: &mut WeightInit,
        device: &B::Device,
    ) -> ResnetGenerator<B> {
        let ngf = self.ngf;
        let norm = || Layer::InstanceNorm(InstanceNorm2d::default());
        let mut model = vec![
            Layer::ReflectionPad(ReflectionPad2d::new(3)),
            Layer::Conv(conv2d(self.input_nc, ngf, 7, 1, 0, true, weights, device)),
            norm(),
            Layer::Relu(Relu),
        ];
        for i in 0..2 {
            let c = ngf << i;
            if self.no_antialias {
                model.push(Layer::Conv(conv2d(
                    c,
                    2 * c,
                    3,
                    2,
                    1,
                    true,
                    weights,
                    device,
                )));
                model.extend([norm(), Layer::Relu(Relu)]);
            } else {
                model.push(Layer::Conv(conv2d(
                    c,
                    2 * c,
                    3,
                    1,
                    1,
                    true,
                    weights,
                    device,
                )));
                model.extend([norm(), Layer::Relu(Relu), Layer::Downsample(Downsample)]);
            }
        }
        for _ in 0..self.n_blocks {
            model.push(Layer::ResnetBlock(ResnetBlock::new(
                4 * ngf,
                weights,
                device,
            )));
        }
        for i in 0..2 {
            let c = ngf << (2 - i);
            if self.no_antialias_up {
                model.push(Layer::ConvTranspose(conv_transpose2d(
                    c,
                    c / 2,
                    3,
                    2,
                    1,
                    1,
                    true,
                    weights,
                    device,
                )));
                model.extend([norm(), Layer::Relu(Relu)]);
            } else {
                model.push(Layer::Upsample(Upsample));
                model.push(Layer::Conv(conv2d(
                    c,
                    c / 2,
                    3,
                    1,
                    1,
                    true,
                    weights,
                    device,
                )));
                model.extend([norm(), Layer::Relu(Relu)]);
            }
        }
        model.push(Layer::ReflectionPad(ReflectionPad2d::new(3)));
        model.push(Layer::Conv(conv2d(
            ngf,
            self.output_nc,
            7,
            1,
            0,
            true,
            weights,
            device,
        )));
        model.push(Layer::Tanh(Tanh));
        ResnetGenerator {
            model,
            input_nc: self.input_nc,
        }
    }
}

/// The generator's output and the features it tapped.
#[derive(Debug, Clone)]
pub struct GeneratorOutput<B: EncoBackend> {
    /// The translated image, `[B, output_nc, H, W]` in (−1, 1).
    pub output: Tensor<B, 4>,
    /// The tapped features in ascending layer order (docs/reference.md §2.1).
    pub features: Vec<Tensor<B, 4>>,
    /// The layer index of each feature.
    pub layers: Vec<usize>,
}

impl<B: EncoBackend> ResnetGenerator<B> {
    /// Number of modules (32 for the default anti-aliased generator).
    pub fn num_layers(&self) -> usize {
        self.model.len()
    }

    /// Translates a batch of images.
    ///
    /// # Shapes
    /// - input `[B, input_nc, H, W]`, H and W multiples of 4 and at least 8
    /// - output `[B, output_nc, H, W]`
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>, NnError> {
        Ok(self.forward_features(x, &[])?.output)
    }

    /// Runs the whole network once and returns the output and the features at `layers`
    /// (docs/reference.md §2.1): index 0 is the raw input, index `l` the output of module `l`. Features come
    /// back in ascending index order, whatever the order of `layers`; duplicates are dropped.
    ///
    /// # Shapes
    /// - input `[B, input_nc, H, W]`, H and W multiples of 4 and at least 8
    /// - `output` `[B, output_nc, H, W]`
    /// - `features` one `[B, C_l, H_l, W_l]` per distinct entry `l` of `layers`, ascending:
    ///   `C_l` is [`ResnetGenerator::channels_at`]`(l)`, `H_l × W_l` is H × W, H/2 × W/2 or
    ///   H/4 × W/4 by the stage of module `l`, (H + 6) × (W + 6) after the last reflection pad
    pub fn forward_features(
        &self,
        x: Tensor<B, 4>,
        layers: &[usize],
    ) -> Result<GeneratorOutput<B>, NnError> {
        self.check_input(x.dims())?;
        let mut wanted: Vec<usize> = layers.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        if let Some(&index) = wanted.iter().find(|&&l| l >= self.model.len()) {
            return Err(NnError::InvalidLayer {
                index,
                num_layers: self.model.len(),
            });
        }
        let mut features = Vec::with_capacity(wanted.len());
        if wanted.first() == Some(&0) {
            features.push(x.clone());
        }
        let tapped = |i: usize| i != 0 && wanted.binary_search(&i).is_ok();
        let output = forward_chained(&self.model, x, tapped, |h| features.push(h));
        Ok(GeneratorOutput {
            output,
            features,
            layers: wanted,
        })
    }

    /// CUT's encoder pass, `G(x, nce_layers, encode_only=True)` (official
    /// `models/networks.py`, `ResnetGenerator.forward`): the features at `layers` (0 = the
    /// input itself, `l` = the output of module `l`) in ascending order, running the network
    /// only up to the last of them.
    ///
    /// # Shapes
    /// - input `[B, input_nc, H, W]`, features `[B, C_l, H_l, W_l]`
    pub fn encode(&self, x: Tensor<B, 4>, layers: &[usize]) -> Result<Vec<Tensor<B, 4>>, NnError> {
        self.check_input(x.dims())?;
        let mut wanted: Vec<usize> = layers.to_vec();
        wanted.sort_unstable();
        wanted.dedup();
        let Some(&last) = wanted.last() else {
            return Ok(Vec::new());
        };
        if last >= self.model.len() {
            return Err(NnError::InvalidLayer {
                index: last,
                num_layers: self.model.len(),
            });
        }
        let mut features = Vec::with_capacity(wanted.len());
        if wanted[0] == 0 {
            features.push(x.clone());
        }
        let tapped = |i: usize| i != 0 && wanted.binary_search(&i).is_ok();
        forward_chained(&self.model[..=last], x, tapped, |h| features.push(h));
        Ok(features)
    }

    fn check_input(&self, dims: [usize; 4]) -> Result<(), NnError> {
        check_rank4_channels("ResnetGenerator", dims, self.input_nc)?;
        let [_, _, h, w] = dims;
        if h % 4 != 0 || w % 4 != 0 || h < 8 || w < 8 {
            return Err(NnError::InvalidInput {
                network: "ResnetGenerator",
                expected: "height and width multiples of 4 and at least 8 (pad or crop the image)"
                    .into(),
                got: dims.to_vec(),
            });
        }
        Ok(())
    }
}

impl<B: EncoBackend> ResnetGenerator<B> {
    /// Channel count of tap `index` (0 = the input), read from the weights of the preceding
    /// convolutions.
    pub fn channels_at(&self, index: usize) -> Result<usize, NnError> {
        if index >= self.model.len() {
            return Err(NnError::InvalidLayer {
                index,
                num_layers: self.model.len(),
            });
        }
        let mut channels = self.input_nc;
        if index == 0 {
            return Ok(channels);
        }
        for layer in &self.model[..=index] {
            match layer {
                Layer::Conv(conv) => channels = conv.weight.shape().dims::<4>()[0],
                Layer::ConvTranspose(conv) => channels = conv.weight.shape().dims::<4>()[1],
                _ => {}
            }
        }
        Ok(channels)
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;

    use super::*;
    use crate::NLayerDiscriminatorConfig;

    #[test]
    fn widths_of_zero_are_errors_not_panics() {
        let err = ResnetGeneratorConfig::new()
            .with_ngf(0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("ngf"), "{err}");
        let err = NLayerDiscriminatorConfig::new()
            .with_ndf(0)
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("ndf"), "{err}");
        assert!(ResnetGeneratorConfig::new().validate().is_ok());
    }

    #[test]
    fn a_small_generator_keeps_the_image_size_and_has_the_official_module_count() {
        let config = ResnetGeneratorConfig::new().with_ngf(4).with_n_blocks(2);
        let generator = config.init::<Flex>(&Default::default());
        // pad, conv, norm, relu, 2 × (conv, norm, relu, blur), 2 blocks, 2 × (upsample, conv,
        // norm, relu), pad, conv, tanh.
        assert_eq!(generator.model.len(), 4 + 8 + 2 + 8 + 3);
        let x = Tensor::<Flex, 4>::zeros([1, 3, 32, 32], &Default::default());
        assert_eq!(generator.forward(x).unwrap().dims(), [1, 3, 32, 32]);
        let wrong = Tensor::<Flex, 4>::zeros([1, 1, 32, 32], &Default::default());
        assert!(generator.forward(wrong).is_err());
    }
}
