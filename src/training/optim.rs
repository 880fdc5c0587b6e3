//! Optimizers with Keras' semantics. Burn's RMSprop follows PyTorch (epsilon outside the square
//! root, momentum 0.9 by default), which trains the notebooks' models differently, so Keras'
//! update rule is implemented here as a Burn [`Optimizer`]. On the GPU both update each
//! parameter in one kernel (`model::gpu_optim`); elsewhere they run as Burn tensor operations.

use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, ModuleOptimizer, Optimizer, SquareAvgState,
};
use burn::prelude::*;

use super::config::OptimizerConfig;
use crate::model::gpu_optim::{self, AdamScalars};

/// Burn's Adam, with its per-parameter update fused into one kernel on the GPU (the same
/// formula and state, so a model trained on either device resumes on the other).
#[derive(Clone)]
pub struct FusedAdam {
    burn: Adam,
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        let time = state.as_ref().map_or(1, |s| s.momentum.time + 1);
        let powi = |beta: f32| beta.powi(time as i32);
        let correction = (1.0 - powi(self.beta_2)).sqrt();
        let scalars = AdamScalars {
            learning_rate: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            combined: correction / (1.0 - powi(self.beta_1)),
            epsilon: self.epsilon * correction,
        };
        let moments = state
            .as_ref()
            .map(|s| (&s.momentum.moment_1, &s.momentum.moment_2));
        match gpu_optim::adam_step(&tensor, &grad, moments, scalars) {
            Some([weights, moment_1, moment_2]) => {
                let momentum = AdaptiveMomentumState::new(time, moment_1, moment_2);
                (weights, Some(AdamState::new(momentum)))
            }
            None => self.burn.step(lr, tensor, grad, state),
        }
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

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
        let mean_square = state.as_ref().map(|s| &s.square_avg);
        let fused = gpu_optim::rmsprop_step(
            &tensor,
            &grad,
            mean_square,
            lr as f32,
            self.rho,
            self.epsilon,
        );
        if let Some([weights, square_avg]) = fused {
            return (weights, Some(SquareAvgState { square_avg }));
        }
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
        } => {
            let [beta_1, beta_2, epsilon] = [beta_1, beta_2, epsilon].map(|x| x as f32);
            let burn = AdamConfig::new()
                .with_beta_1(beta_1)
                .with_beta_2(beta_2)
                .with_epsilon(epsilon)
                .build();
            ModuleOptimizer::from(FusedAdam {
                burn,
                beta_1,
                beta_2,
                epsilon,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Three steps of the fused GPU update against Burn's Adam on the GPU, and of Keras'
    /// RMSprop on the GPU against the same steps on the CPU: weights and state.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_fused_gpu_updates_match_the_tensor_operations() {
        use burn::tensor::Distribution;
        let Some(gpu) = crate::device::shared_test_gpu() else {
            return;
        };
        let close = |name: &str, a: &Tensor<2>, b: &Tensor<2>| {
            let a = a.to_data().try_into_vec::<f32>().unwrap();
            let b = b.to_data().try_into_vec::<f32>().unwrap();
            for (i, (x, y)) in a.iter().zip(&b).enumerate() {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "{name}[{i}]: {x} vs {y}"
                );
            }
        };
        let adam = AdamConfig::new().with_epsilon(1e-7);
        let fused = FusedAdam {
            burn: adam.build(),
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        };
        let burn = adam.build();
        let rmsprop = KerasRmsProp {
            rho: 0.9,
            epsilon: 1e-7,
        };
        let cpu = Device::flex();
        let mut w = Tensor::<2>::random([7, 45], Distribution::Default, &gpu);
        let scalars = AdamScalars {
            learning_rate: 0.1,
            beta_1: 0.9,
            beta_2: 0.9,
            combined: 1.0,
            epsilon: 1.0,
        };
        assert!(
            gpu_optim::adam_step(&w, &w, None, scalars).is_some(),
            "GPU tensors take the fused kernel"
        );
        let (mut w_burn, mut w_ms, mut w_ms_cpu) =
            (w.clone(), w.clone(), w.clone().to_device(&cpu));
        let (mut state, mut state_burn, mut ms, mut ms_cpu) = (None, None, None, None);
        for step in 0..3 {
            let g = Tensor::<2>::random([7, 45], Distribution::Normal(0.0, 1.0), &gpu);
            (w, state) = fused.step(1e-2, w, g.clone(), state);
            (w_burn, state_burn) = burn.step(1e-2, w_burn, g.clone(), state_burn);
            close(&format!("adam weights {step}"), &w, &w_burn);
            let (ours, theirs) = (
                &state.as_ref().unwrap().momentum,
                &state_burn.as_ref().unwrap().momentum,
            );
            assert_eq!(ours.time, theirs.time);
            close("first moment", &ours.moment_1, &theirs.moment_1);
            close("second moment", &ours.moment_2, &theirs.moment_2);
            (w_ms, ms) = rmsprop.step(1e-2, w_ms, g.clone(), ms);
            (w_ms_cpu, ms_cpu) = rmsprop.step(1e-2, w_ms_cpu, g.to_device(&cpu), ms_cpu);
            close(
                &format!("rmsprop weights {step}"),
                &w_ms,
                &w_ms_cpu.clone().to_device(&gpu),
            );
            let [a, b] = [&ms, &ms_cpu].map(|s| s.as_ref().unwrap().square_avg.clone());
            close("mean square", &a, &b.to_device(&gpu));
        }
    }

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
