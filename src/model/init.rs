//! Keras' kernel initialisers, drawn on the host from our seeded generator so that a seed gives
//! the same starting weights on every backend.

use super::spec::Init;
use crate::rng::Rng;

/// Keras scales a truncated normal's stddev by this so that the truncated distribution keeps the
/// intended variance (`VarianceScaling`, `distribution="truncated_normal"`).
const TRUNCATED_NORMAL_STD_FIX: f64 = 0.879_625_661_034_239_8;

/// `count` weights for a layer with the given fans (for a conv: `fan_in = in·k·k`,
/// `fan_out = out·k·k`, `count = in·out·k·k`).
pub(super) fn kernel(
    init: Init,
    fan_in: usize,
    fan_out: usize,
    count: usize,
    rng: &mut Rng,
) -> Vec<f32> {
    match init {
        Init::GlorotUniform => {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            (0..count)
                .map(|_| rng.uniform(-limit, limit) as f32)
                .collect()
        }
        Init::HeNormal => {
            let std = (2.0 / fan_in as f64).sqrt() / TRUNCATED_NORMAL_STD_FIX;
            (0..count)
                .map(|_| (rng.truncated_normal() * std) as f32)
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glorot_stays_in_its_limit_and_he_has_keras_variance() {
        let mut rng = Rng::new(1);
        let glorot = kernel(Init::GlorotUniform, 800, 1600, 50_000, &mut rng);
        assert_eq!(glorot.len(), 50_000);
        let limit = (6.0f32 / 2400.0).sqrt();
        assert!(glorot.iter().all(|w| w.abs() <= limit));
        let he = kernel(Init::HeNormal, 288, 64, 288 * 64, &mut rng);
        let var = he.iter().map(|w| (w * w) as f64).sum::<f64>() / he.len() as f64;
        let expected = 2.0 / 288.0;
        assert!((var / expected - 1.0).abs() < 0.05, "{var} vs {expected}");
    }
}
