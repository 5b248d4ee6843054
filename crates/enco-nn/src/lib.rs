//! The EnCo networks (docs/reference.md §1–§4 of the reference): the ResNet generator with encoder/decoder
//! feature taps, the PatchGAN discriminator, and the projection/prediction heads, built with the
//! official initialisation and able to load official PyTorch weights by their state_dict names.
//!
//! Every type is generic over the Burn backend. The convolutional networks need an
//! [`EncoBackend`] (a Burn backend with EnCo's backend extension, `enco-kernels`); the heads
//! need only a [`Backend`](burn::tensor::backend::Backend).

mod conv_chain;
mod discriminator;
mod downsample;
mod error;
mod generator;
mod head_layer;
mod head_norm;
mod heads;
mod init;
mod instance_norm;
mod layer;
mod padding;
mod patch_sample_heads;
mod resnet_block;
mod upsample;
mod weights;

pub use discriminator::{NLayerDiscriminator, NLayerDiscriminatorConfig};
pub use downsample::Downsample;
pub use error::NnError;
pub use generator::{GeneratorOutput, ResnetGenerator, ResnetGeneratorConfig};
pub use head_layer::HeadLayer;
pub use head_norm::{BatchNorm1d, HeadNorm, LayerNorm, l2_normalize};
pub use heads::{EncoHeads, EncoHeadsConfig, PredictionHead, ProjectionHead, gather_patches};
pub use init::WeightInit;
pub use instance_norm::InstanceNorm2d;
pub use layer::Layer;
pub use padding::{ReflectionPad2d, ReplicationPad2d};
pub use patch_sample_heads::{PatchSampleHeads, PatchSampleHeadsConfig, PatchSampleMlp};
pub use resnet_block::{BlockLayer, ResnetBlock};
pub use upsample::Upsample;
pub use weights::PytorchWeights;

pub use enco_kernels::{EncoAutodiffBackend, EncoBackend};
