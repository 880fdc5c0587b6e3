//! Random affine augmentation in the manner of Keras' `ImageDataGenerator` (rotation, zoom,
//! width/height shift, shear; no flips; bilinear; edge pixels repeated like `fill_mode="nearest"`).
//!
//! The random parameters are drawn on the host from the seeded generator (six numbers per image);
//! the resampling itself runs batched on the training device with `grid_sample_2d`, so in the
//! browser the images never leave the GPU for it.

#[cfg(feature = "engine")]
use burn::prelude::*;
#[cfg(feature = "engine")]
use burn::tensor::grid::affine_grid_2d;
#[cfg(feature = "engine")]
use burn::tensor::ops::{GridSampleOptions, GridSamplePaddingMode, InterpolateMode};
use serde::{Deserialize, Serialize};

use crate::rng::Rng;

/// Ranges as Keras takes them: degrees for rotation and shear (Keras' `shear_range` is an angle in
/// degrees), fractions for zoom (`1 ± zoom`, drawn separately per axis) and shifts (of the image
/// size). A range of 0 disables that transform.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AugmentConfig {
    pub rotation_degrees: f32,
    pub zoom: f32,
    pub width_shift: f32,
    pub height_shift: f32,
    pub shear_degrees: f32,
}

impl AugmentConfig {
    pub const NONE: AugmentConfig = AugmentConfig {
        rotation_degrees: 0.0,
        zoom: 0.0,
        width_shift: 0.0,
        height_shift: 0.0,
        shear_degrees: 0.0,
    };

    /// What notebooks 000 and 002 pass to `ImageDataGenerator`.
    pub fn keras_notebooks() -> Self {
        Self {
            rotation_degrees: 10.0,
            zoom: 0.1,
            width_shift: 0.1,
            height_shift: 0.1,
            shear_degrees: 0.0,
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == Self::NONE
    }

    /// Every range times `strength` (0 = no augmentation, 1 = these ranges).
    pub fn scaled(&self, strength: f32) -> Self {
        let strength = strength.clamp(0.0, 1.0);
        Self {
            rotation_degrees: self.rotation_degrees * strength,
            zoom: self.zoom * strength,
            width_shift: self.width_shift * strength,
            height_shift: self.height_shift * strength,
            shear_degrees: self.shear_degrees * strength,
        }
    }

    /// Draw one image's transform.
    pub fn sample(&self, rng: &mut Rng, side: usize) -> Affine {
        let mut symmetric = |range: f32| {
            if range > 0.0 {
                rng.uniform(-range as f64, range as f64) as f32
            } else {
                0.0
            }
        };
        Affine {
            rotation_degrees: symmetric(self.rotation_degrees),
            shear_degrees: symmetric(self.shear_degrees),
            zoom_x: 1.0 + symmetric(self.zoom),
            zoom_y: 1.0 + symmetric(self.zoom),
            shift_x: symmetric(self.width_shift) * side as f32,
            shift_y: symmetric(self.height_shift) * side as f32,
        }
    }
}

impl Default for AugmentConfig {
    /// The defaults: the notebooks' ranges plus Keras' shear of 0.1.
    fn default() -> Self {
        Self {
            shear_degrees: 0.1,
            ..Self::keras_notebooks()
        }
    }
}

/// One image's transform. Shifts are in pixels, positive moves the content right/down; a zoom
/// factor above 1 samples a larger area, so the digit shrinks (as in Keras).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Affine {
    pub rotation_degrees: f32,
    pub shear_degrees: f32,
    pub zoom_x: f32,
    pub zoom_y: f32,
    pub shift_x: f32,
    pub shift_y: f32,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        rotation_degrees: 0.0,
        shear_degrees: 0.0,
        zoom_x: 1.0,
        zoom_y: 1.0,
        shift_x: 0.0,
        shift_y: 0.0,
    };

    /// The 2x3 matrix mapping output coordinates to input coordinates in the [-1, 1] grid of
    /// `affine_grid_2d` (pixel centres at the ends, so the centre of rotation is the image
    /// centre as in Keras). Keras composes rotation · shift · shear · zoom.
    #[cfg(feature = "engine")]
    fn matrix(&self, side: usize) -> [f32; 6] {
        let (sin_r, cos_r) = self.rotation_degrees.to_radians().sin_cos();
        let (sin_s, cos_s) = self.shear_degrees.to_radians().sin_cos();
        // rotation · shear · zoom
        let a = [
            [
                cos_r * self.zoom_x,
                (-cos_r * sin_s - sin_r * cos_s) * self.zoom_y,
            ],
            [
                sin_r * self.zoom_x,
                (-sin_r * sin_s + cos_r * cos_s) * self.zoom_y,
            ],
        ];
        // Pixels to grid units; the content moves by +shift, so sampling moves by -shift,
        // inside the rotation as Keras places it.
        let unit = 2.0 / (side as f32 - 1.0);
        let (dx, dy) = (-self.shift_x * unit, -self.shift_y * unit);
        let tx = cos_r * dx - sin_r * dy;
        let ty = sin_r * dx + cos_r * dy;
        [a[0][0], a[0][1], tx, a[1][0], a[1][1], ty]
    }
}

/// Resample a batch `[batch, 1, side, side]` with one transform per image.
#[cfg(feature = "engine")]
pub fn apply(images: Tensor<4>, transforms: &[Affine]) -> Tensor<4> {
    let dims = images.dims();
    let [batch, _, side, _] = dims;
    debug_assert_eq!(batch, transforms.len());
    let matrices: Vec<f32> = transforms.iter().flat_map(|t| t.matrix(side)).collect();
    let device = images.device();
    let theta = Tensor::<3>::from_data(TensorData::new(matrices, [batch, 2, 3]), &device);
    let grid = affine_grid_2d(theta, dims);
    let options = GridSampleOptions::new(InterpolateMode::Bilinear)
        .with_padding_mode(GridSamplePaddingMode::Border)
        .with_align_corners(true);
    images.grid_sample_2d(grid, options)
}

/// Draw transforms for a batch and apply them; a no-op (no resampling) for the identity config.
#[cfg(feature = "engine")]
pub fn augment_batch(images: Tensor<4>, config: &AugmentConfig, rng: &mut Rng) -> Tensor<4> {
    if config.is_identity() {
        return images;
    }
    let [batch, _, side, _] = images.dims();
    let transforms: Vec<Affine> = (0..batch).map(|_| config.sample(rng, side)).collect();
    apply(images, &transforms)
}

/// The 2x3 matrices (six numbers an image) of `batch` transforms drawn as [`augment_batch`]
/// draws them, from the same generator state, or `None` for the identity config (which draws
/// nothing): for building the augmented batch elsewhere, e.g. in one GPU kernel.
#[cfg(feature = "engine")]
pub fn draw_matrices(
    config: &AugmentConfig,
    rng: &mut Rng,
    batch: usize,
    side: usize,
) -> Option<Vec<f32>> {
    if config.is_identity() {
        return None;
    }
    Some(
        (0..batch)
            .flat_map(|_| config.sample(rng, side).matrix(side))
            .collect(),
    )
}
