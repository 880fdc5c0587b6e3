//! The real wgpu code path natively: Vulkan on a GPU, or mesa's lavapipe on the CPU (installed by
//! scripts/setup.sh). Without any adapter this test reports why and passes, unless
//! DIGIT_LAB_REQUIRE_VULKAN is set (the README's test command sets it).

use crate::common;

use std::sync::Arc;

use digit_lab::augment::AugmentConfig;
use digit_lab::device;
use digit_lab::model::{DigitNet, Preset};
use digit_lab::training::Trainer;
use digit_lab::training::events::TrainEvent;

#[test]
fn training_steps_run_on_wgpu_and_the_loss_falls() {
    let gpu = match pollster::block_on(device::gpu()) {
        Ok(gpu) => gpu,
        Err(reason) if std::env::var_os("DIGIT_LAB_REQUIRE_VULKAN").is_none() => {
            eprintln!("skipped: {reason}");
            return;
        }
        Err(reason) => panic!("DIGIT_LAB_REQUIRE_VULKAN is set but {reason}"),
    };
    eprintln!("wgpu adapter: {}", gpu.description);
    let digits = Arc::new(common::train_digits(320));
    let mut config = Preset::Small.recipe();
    config.epochs = 1;
    config.validation_fraction = 0.0;
    config.augmentation = AugmentConfig::default();
    let split = digits.split(0.0, 1);
    let model = DigitNet::new(&Preset::Small.architecture(), &gpu.device, 1).unwrap();
    let mut trainer =
        Trainer::new(model, digits, split, config, gpu.device, gpu.description).unwrap();
    let mut losses = Vec::new();
    pollster::block_on(async {
        while let Some(event) = trainer.next_event().await {
            if let TrainEvent::Batch(b) = event {
                assert_eq!(b.batch, losses.len(), "batches are reported in order, once");
                // The next batch's step is already queued when a batch is reported, so the
                // device never waits for the host between batches (none after the last).
                assert_eq!(trainer.steps_queued(), (b.batch + 2).min(10));
                losses.push(b.loss);
            }
        }
    });
    assert_eq!(losses.len(), 10);
    assert!(losses.iter().all(|l| l.is_finite()));
    let (first, last) = (
        losses[..3].iter().sum::<f64>(),
        losses[7..].iter().sum::<f64>(),
    );
    assert!(last < first, "losses {losses:?}");
}
