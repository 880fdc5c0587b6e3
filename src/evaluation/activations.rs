//! Per-layer feature maps of one image, normalised for display like the notebooks' grids.

use burn::prelude::*;
use burn::tensor::Transaction;

use crate::data::csv::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::model::{Architecture, DigitNet};
use crate::protocol::LayerMaps;

/// The notebooks' normalisation: `(x - mean) / std * 64 + 128`, clipped to 0..255. A constant
/// map (e.g. a dead ReLU) has no contrast to show and becomes 0.
pub fn normalize_map(values: &[f32]) -> Vec<u8> {
    let n = values.len().max(1) as f32;
    let mean = values.iter().sum::<f32>() / n;
    let variance = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let std = variance.sqrt();
    if std.is_nan() || std <= 1e-12 {
        return vec![0; values.len()];
    }
    values
        .iter()
        .map(|v| ((v - mean) / std * 64.0 + 128.0).clamp(0.0, 255.0) as u8)
        .collect()
}

/// Run one 28x28 image through an inference-mode model and return the maps of every layer that
/// has them (convolution, pooling, batch norm, dropout), read with a single async transaction.
pub async fn feature_maps(
    model: &DigitNet,
    architecture: &Architecture,
    pixels: &[u8],
    device: &Device,
) -> Result<Vec<LayerMaps>, String> {
    if pixels.len() != IMAGE_PIXELS {
        return Err(format!(
            "an image has {IMAGE_PIXELS} pixels, got {}",
            pixels.len()
        ));
    }
    let summary = architecture.summary().map_err(|e| e.to_string())?;
    let values: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    let input = Tensor::<4>::from_data(
        TensorData::new(values, [1, 1, IMAGE_SIDE, IMAGE_SIDE]),
        device,
    );
    let (_, activations) = model.forward_with_activations(input);
    let mut shown = Vec::new();
    let mut transaction = Transaction::default();
    for (activation, info) in activations.into_iter().zip(&summary) {
        if info.spec.has_feature_maps(&info.output) {
            transaction = transaction.register(activation.values);
            shown.push(info);
        }
    }
    let data = transaction
        .execute_async()
        .await
        .map_err(|e| format!("reading activations from the device failed: {e:?}"))?;
    shown
        .into_iter()
        .zip(data)
        .map(|(info, data)| {
            let [_, count, height, width] = data.shape().as_slice() else {
                return Err(format!("{}: unexpected activation shape", info.name));
            };
            let (count, height, width) = (*count, *height, *width);
            let floats = data.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
            let values = floats
                .chunks(height * width)
                .flat_map(normalize_map)
                .collect();
            Ok(LayerMaps {
                name: info.name.clone(),
                shape: info.output.describe(),
                count,
                height,
                width,
                values,
            })
        })
        .collect()
}

/// A kernel as an image: its weights stretched to 0..255 (lowest black, highest white), so
/// each filter's pattern shows whatever its scale. A constant kernel is mid-grey.
pub fn normalize_filter(weights: &[f32]) -> Vec<u8> {
    let (low, high) = weights
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &w| (lo.min(w), hi.max(w)));
    let range = high - low;
    if !range.is_finite() || range <= 1e-12 {
        return vec![128; weights.len()];
    }
    weights
        .iter()
        .map(|w| ((w - low) / range * 255.0).round().clamp(0.0, 255.0) as u8)
        .collect()
}

/// The first convolution's filters as images (one per filter, its input channels averaged:
/// the first layer sees the one grey channel); `None` for a model without a convolution.
pub async fn first_layer_filters(model: &DigitNet) -> Result<Option<LayerMaps>, String> {
    let Some((name, weights)) = model.first_conv_weights() else {
        return Ok(None);
    };
    let [count, channels, height, width] = weights.dims();
    let data = weights
        .into_data_async()
        .await
        .map_err(|e| format!("reading the filters from the device failed: {e:?}"))?;
    let floats = data.try_into_vec::<f32>().map_err(|e| format!("{e:?}"))?;
    let size = height * width;
    let values = floats
        .chunks(channels * size)
        .flat_map(|filter| {
            let mean: Vec<f32> = (0..size)
                .map(|i| (0..channels).map(|c| filter[c * size + i]).sum::<f32>() / channels as f32)
                .collect();
            normalize_filter(&mean)
        })
        .collect();
    Ok(Some(LayerMaps {
        name: name.to_string(),
        shape: format!("{count} filters of {height}×{width}"),
        count,
        height,
        width,
        values,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_stretch_to_the_full_grey_range() {
        assert_eq!(normalize_filter(&[-0.5, 0.0, 0.5]), vec![0, 128, 255]);
        assert_eq!(normalize_filter(&[2.0, 3.0]), vec![0, 255]);
        assert_eq!(normalize_filter(&[0.1; 4]), vec![128; 4]);
        assert_eq!(normalize_filter(&[f32::NAN, 1.0]), vec![128; 2]);
    }

    #[test]
    fn the_first_layers_filters_are_its_kernels() {
        let device = crate::device::cpu().device;
        let preset = crate::model::Preset::Tiny;
        let net = DigitNet::new(&preset.architecture(), &device, 7).unwrap();
        let (name, weights) = net.first_conv_weights().unwrap();
        let [count, channels, k, _] = weights.dims();
        assert_eq!(channels, 1);
        let kernels = weights.into_data().try_into_vec::<f32>().unwrap();
        let maps = pollster::block_on(first_layer_filters(&net))
            .unwrap()
            .unwrap();
        assert_eq!(
            (maps.name.as_str(), maps.count, maps.height, maps.width),
            (name, count, k, k)
        );
        assert_eq!(maps.values.len(), count * k * k);
        // Each filter is its own kernel stretched: the same order of weights.
        for (kernel, image) in kernels.chunks(k * k).zip(maps.values.chunks(k * k)) {
            assert_eq!(image, normalize_filter(kernel).as_slice());
            let lowest = kernel
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap()
                .0;
            assert_eq!(image[lowest], 0);
        }
    }

    #[test]
    fn normalisation_centres_on_128_with_64_per_std() {
        let map = normalize_map(&[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(map[2], 128);
        let std = 2f32.sqrt();
        assert_eq!(map[4], (2.0 / std * 64.0 + 128.0) as u8);
        assert!(map[0] < map[1] && map[1] < map[2]);
        assert_eq!(normalize_map(&[5.0; 9]), vec![0; 9]);
        assert_eq!(
            normalize_map(&[-100.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])[0],
            0
        );
    }
}
