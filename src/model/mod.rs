//! The CNN: a Burn module built from an [`Architecture`], with Keras-equivalent initialisation,
//! and a forward pass that can also hand back every layer's activation by name.
//!
//! The architectures and presets are plain data (the page reads them too); the network, its
//! initialisation and the CPU and GPU kernels need Burn and exist with the `engine` feature.

#[cfg(feature = "engine")]
mod cpu;
#[cfg(feature = "engine")]
mod gpu;
#[cfg(feature = "engine")]
mod init;
#[cfg(feature = "engine")]
mod net;
pub mod presets;
pub mod spec;

/// The optimizers' fused GPU update (used by `training::optim`).
#[cfg(feature = "engine")]
pub(crate) use gpu::optim as gpu_optim;
#[cfg(feature = "engine")]
pub(crate) use gpu::set_software_gpu;
#[cfg(feature = "engine")]
pub use gpu::{DeviceImages, cross_entropy_and_correct, seed_dropout};
#[cfg(feature = "engine")]
pub use net::{Activation, ConvRelu, Dense, DigitNet, Layer};
pub use presets::Preset;
pub use spec::{Architecture, ArchitectureError, LayerInfo, LayerSpec, NUM_CLASSES, Shape};
