//! Viridis, the perceptual colormap the notebooks use for activation grids, as a degree-6
//! polynomial fit (max error about 1/255), so no 256-entry table is needed.

const COEFFICIENTS: [[f32; 3]; 7] = [
    [0.277_727_33, 0.005_407_345, 0.334_099_8],
    [0.105_093_04, 1.404_613_5, 1.384_590_2],
    [-0.330_861_83, 0.214_847_56, 0.095_095_165],
    [-4.634_230_5, -5.799_101, -19.332_441],
    [6.228_27, 14.179_933, 56.690_55],
    [4.776_385, -13.745_145, -65.353_03],
    [-5.435_456, 4.645_852_6, 26.312_435],
];

/// Colour of `value` in 0..=255 (0 = dark purple, 255 = yellow).
pub fn viridis(value: u8) -> [u8; 3] {
    let t = value as f32 / 255.0;
    let mut rgb = [0u8; 3];
    for (channel, out) in rgb.iter_mut().enumerate() {
        let v = COEFFICIENTS
            .iter()
            .rev()
            .fold(0.0, |acc, c| acc * t + c[channel]);
        *out = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_viridis_endpoints_and_midpoint() {
        let close = |a: [u8; 3], b: [u8; 3]| a.iter().zip(b).all(|(x, y)| x.abs_diff(y) <= 5);
        assert!(close(viridis(0), [68, 1, 84]), "{:?}", viridis(0));
        assert!(close(viridis(128), [33, 145, 140]), "{:?}", viridis(128));
        assert!(close(viridis(255), [253, 231, 37]), "{:?}", viridis(255));
    }
}
