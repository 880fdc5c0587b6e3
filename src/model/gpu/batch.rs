//! The training set kept on the GPU and each batch gathered and augmented there in one launch:
//! per batch only the row numbers and six numbers per image travel to the device, instead of
//! every pixel as floats plus the ~20 launches of Burn's affine grid and resampling.

use burn::backend::Wgpu;
use burn::backend::wgpu::CubeTensor;
use burn::prelude::*;
use cubecl::prelude::{CubeCount, CubeDim};

use super::{batch_kernels, empty_like, on_cpu_device};
use crate::data::csv::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::data::dataset::Digits;

/// Every image of a set as bytes on the GPU (four pixels to a word): 33 MB for Kaggle's
/// train.csv.
#[derive(Clone, Debug)]
pub struct DeviceImages {
    pixels: CubeTensor,
    rows: usize,
    device: Device,
}

impl DeviceImages {
    /// Uploads `digits`' pixels to `device`, or `None` where the device is not the GPU (the
    /// CPU path gathers on the host, where the data already is) or the set is empty.
    pub fn upload(digits: &Digits, device: &Device) -> Option<Self> {
        if on_cpu_device(device) || digits.is_empty() {
            return None;
        }
        let bytes = digits.pixels();
        let words: Vec<i32> = bytes
            .chunks(4)
            .map(|c| {
                let mut word = [0u8; 4];
                word[..c.len()].copy_from_slice(c);
                i32::from_le_bytes(word)
            })
            .collect();
        let len = words.len();
        let tensor = Tensor::<1, Int>::from_data(TensorData::new(words, [len]), device);
        let pixels = tensor.try_into_primitive::<Wgpu>().ok()?;
        Some(Self {
            pixels,
            rows: digits.len(),
            device: device.clone(),
        })
    }

    /// The images of `rows` as `[rows, 1, 28, 28]` floats in `[0, 1]`, each resampled through
    /// its 2x3 matrix of `matrices` (six numbers an image, as `augment::matrices` draws them)
    /// or copied as they are when `matrices` is `None`. `None` for a row outside the set.
    pub fn batch(&self, rows: &[usize], matrices: Option<&[f32]>) -> Option<Tensor<4>> {
        if rows.is_empty() || rows.iter().any(|&r| r >= self.rows) {
            return None;
        }
        if matrices.is_some_and(|m| m.len() != rows.len() * 6) {
            return None;
        }
        let device = &self.device;
        let row_words: Vec<i32> = rows.iter().map(|&r| r as i32).collect();
        let row_tensor =
            Tensor::<1, Int>::from_data(TensorData::new(row_words, [rows.len()]), device)
                .try_into_primitive::<Wgpu>()
                .ok()?;
        // A one-value placeholder when nothing is resampled: the kernel never reads it.
        let theta_values = matrices.map_or_else(|| vec![0.0], <[f32]>::to_vec);
        let theta_len = theta_values.len();
        let theta = Tensor::<1>::from_data(TensorData::new(theta_values, [theta_len]), device)
            .try_into_primitive::<Wgpu>()
            .ok()?;
        let out = empty_like(&self.pixels, vec![rows.len(), 1, IMAGE_SIDE, IMAGE_SIDE]);
        let total = rows.len() * IMAGE_PIXELS;
        const UNITS: u32 = 256;
        // SAFETY: the kernel guards its writes by `total`, the output's size; it reads rows
        // below `self.rows` (checked above) and six matrix values per image (checked above).
        unsafe {
            batch_kernels::gather_augment::launch_unchecked(
                &self.pixels.client,
                CubeCount::Static((total as u32).div_ceil(UNITS), 1, 1),
                CubeDim::new_1d(UNITS),
                self.pixels.clone().into_buffer_arg(),
                row_tensor.into_buffer_arg(),
                theta.into_buffer_arg(),
                out.clone().into_buffer_arg(),
                total,
                IMAGE_SIDE,
                matrices.is_some(),
            );
        }
        Some(Tensor::from_primitive::<Wgpu>(out))
    }
}
