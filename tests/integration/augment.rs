//! Augmentation properties on the device (Burn's CPU backend here; the same code runs on WebGPU).

use burn::prelude::*;
use digit_lab::augment::{Affine, AugmentConfig, apply, augment_batch};
use digit_lab::device;
use digit_lab::rng::Rng;

fn image_with(points: &[(usize, usize, f32)]) -> Vec<f32> {
    let mut pixels = vec![0.0; 28 * 28];
    for &(x, y, v) in points {
        pixels[y * 28 + x] = v;
    }
    pixels
}

fn to_tensor(images: &[Vec<f32>], device: &Device) -> Tensor<4> {
    let flat: Vec<f32> = images.concat();
    Tensor::from_data(TensorData::new(flat, [images.len(), 1, 28, 28]), device)
}

fn read(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

#[test]
fn zero_ranges_give_the_identity() {
    let cpu = device::cpu();
    let mut rng = Rng::new(1);
    let mut noise = Rng::new(2);
    let images: Vec<Vec<f32>> = (0..4)
        .map(|_| (0..784).map(|_| noise.next_f64() as f32).collect())
        .collect();
    let input = to_tensor(&images, &cpu.device);
    // The config shortcut skips resampling entirely...
    let same = read(augment_batch(input.clone(), &AugmentConfig::NONE, &mut rng));
    assert_eq!(same, images.concat());
    // ...and resampling with identity transforms reproduces every pixel.
    let resampled = read(apply(input, &[Affine::IDENTITY; 4]));
    let worst = resampled
        .iter()
        .zip(images.concat())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(worst < 1e-5, "identity resampling moved values by {worst}");
}

#[test]
fn a_known_shift_moves_a_known_pixel() {
    let cpu = device::cpu();
    let input = to_tensor(&[image_with(&[(10, 12, 1.0)])], &cpu.device);
    let shift = Affine {
        shift_x: 3.0,
        shift_y: -2.0,
        ..Affine::IDENTITY
    };
    let out = read(apply(input, &[shift]));
    let at = |x: usize, y: usize| out[y * 28 + x];
    assert!((at(13, 10) - 1.0).abs() < 1e-5, "moved right 3, up 2");
    assert!(at(10, 12).abs() < 1e-5, "and left its old place");
    assert!((out.iter().sum::<f32>() - 1.0).abs() < 1e-4);
}

#[test]
fn rotation_turns_about_the_centre_and_zoom_above_one_shrinks() {
    let cpu = device::cpu();
    // A pixel 6 to the right of the centre (13.5, 13.5), straddling two pixels vertically.
    let input = to_tensor(&[image_with(&[(20, 13, 0.5), (20, 14, 0.5)])], &cpu.device);
    let quarter = Affine {
        rotation_degrees: 90.0,
        ..Affine::IDENTITY
    };
    let out = read(apply(input.clone(), &[quarter]));
    let (mut cx, mut cy, mut total) = (0.0, 0.0, 0.0);
    for (i, &v) in out.iter().enumerate() {
        cx += v * (i % 28) as f32;
        cy += v * (i / 28) as f32;
        total += v;
    }
    let (cx, cy) = (cx / total, cy / total);
    // A quarter turn keeps the distance to the centre: 6.5 px, now above or below it.
    assert!((cx - 13.5).abs() < 0.1, "x {cx}");
    assert!(((cy - 13.5).abs() - 6.5).abs() < 0.1, "y {cy}");

    let zoom_out = Affine {
        zoom_x: 2.0,
        zoom_y: 2.0,
        ..Affine::IDENTITY
    };
    let out = read(apply(input, &[zoom_out]));
    let mass_x: f32 = out
        .iter()
        .enumerate()
        .map(|(i, v)| v * (i % 28) as f32)
        .sum::<f32>()
        / out.iter().sum::<f32>();
    // Sampling twice as far from the centre halves distances: 6.5 px becomes 3.25 px.
    assert!(
        (mass_x - 16.75).abs() < 0.6,
        "halfway to the centre: {mass_x}"
    );
}

#[test]
fn random_batches_are_seeded_and_stay_in_range() {
    let cpu = device::cpu();
    let images: Vec<Vec<f32>> = (0..8)
        .map(|i| image_with(&[(14, 14, 1.0), (i + 5, 9, 0.7)]))
        .collect();
    let input = to_tensor(&images, &cpu.device);
    let config = AugmentConfig::default();
    let a = read(augment_batch(input.clone(), &config, &mut Rng::new(5)));
    let b = read(augment_batch(input.clone(), &config, &mut Rng::new(5)));
    let c = read(augment_batch(input, &config, &mut Rng::new(6)));
    assert_eq!(a, b);
    assert_ne!(a, c);
    assert!(a.iter().all(|v| (-1e-6..=1.0 + 1e-6).contains(v)));
}
