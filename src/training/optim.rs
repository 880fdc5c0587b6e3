//! Optimizers with Keras' semantics. Burn's RMSprop follows PyTorch (epsilon outside the square
//! root, momentum 0.9 by default), which trains the notebooks' models differently, so Keras'
//! update rule is implemented here as a Burn [`Optimizer`].

use burn::optim::{AdamConfig, ModuleOptimizer, Optimizer, SquareAvgState};
use burn::prelude::*;

use super::config::OptimizerConfig;

#[derive(Clone, Debug)]
pub struct KerasRmsProp {
    rho: f32,
    epsilon: f32,
}

impl Optimizer for KerasRmsProp {
    /// The moving average of squared gradients (Keras' zero-initialised "velocity"); Burn's own
    /// RMSprop state type holds exactly that.
    type State<const D: usize> = SquareAvgState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let fresh = grad.clone().square().mul_scalar(1.0 - self.rho);
        let mean_square = match state {
            Some(state) => state.square_avg.mul_scalar(self.rho).add(fresh),
            None => fresh,
        };
        let step = grad
            .div(mean_square.clone().add_scalar(self.epsilon).sqrt())
            .mul_scalar(lr);
        (
            tensor.sub(step),
            Some(SquareAvgState {
                square_avg: mean_square,
            }),
        )
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.to_device(device)
    }
}

/// A whole-module optimizer for a configuration.
pub fn build(config: &OptimizerConfig) -> ModuleOptimizer {
    match *config {
        OptimizerConfig::RmsProp { rho, epsilon } => ModuleOptimizer::from(KerasRmsProp {
            rho: rho as f32,
            epsilon: epsilon as f32,
        }),
        OptimizerConfig::Adam {
            beta_1,
            beta_2,
            epsilon,
        } => AdamConfig::new()
            .with_beta_1(beta_1 as f32)
            .with_beta_2(beta_2 as f32)
            .with_epsilon(epsilon as f32)
            .init(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two steps on one weight, against Keras' formula computed by hand.
    #[test]
    fn rmsprop_follows_keras_with_epsilon_inside_the_root() {
        let device = Device::flex();
        let optimizer = KerasRmsProp {
            rho: 0.9,
            epsilon: 1e-7,
        };
        let w = Tensor::<1>::from_floats([1.0], &device);
        let g = Tensor::<1>::from_floats([0.5], &device);
        let (w, state) = optimizer.step(0.01, w, g.clone(), None);
        // ms = 0.1 * 0.25 = 0.025; w = 1 - 0.01 * 0.5 / sqrt(0.025 + 1e-7)
        let ms1 = 0.1 * 0.25;
        let w1 = 1.0 - 0.01 * 0.5 / (ms1 + 1e-7f64).sqrt();
        let got: f32 = w.clone().into_scalar();
        assert!((got as f64 - w1).abs() < 1e-6, "{got} vs {w1}");
        let (w, _) = optimizer.step(0.01, w, g, state);
        let ms2 = 0.9 * ms1 + 0.1 * 0.25;
        let w2 = w1 - 0.01 * 0.5 / (ms2 + 1e-7f64).sqrt();
        let got: f32 = w.into_scalar();
        assert!((got as f64 - w2).abs() < 1e-6, "{got} vs {w2}");
    }
}
