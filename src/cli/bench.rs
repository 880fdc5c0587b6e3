//! `digit-lab bench`: CSV parsing speed, and training / inference images per second for each
//! preset on each device. Numbers are printed as measured; nothing here is asserted.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use digit_lab::data::csv::{CsvKind, Phase, parse_csv};
use digit_lab::data::dataset::{Digits, Split};
use digit_lab::device::{ComputeDevice, DeviceKind};
use digit_lab::evaluation::predict::predict_probabilities;
use digit_lab::kernel_profile::{KernelLog, Tally};
use digit_lab::model::{DigitNet, Preset};
use digit_lab::training::Trainer;
use digit_lab::training::events::TrainEvent;

use super::DeviceArg;
use super::common::{compute_device, read_file};

#[derive(Args)]
pub struct BenchArgs {
    /// Kaggle train.csv (or .csv.gz).
    #[arg(long)]
    train: PathBuf,
    /// Devices to measure (repeat the flag for several).
    #[arg(long, value_enum, default_values = ["cpu"])]
    device: Vec<DeviceArg>,
    /// Presets to measure (default: all).
    #[arg(long = "model")]
    presets: Vec<String>,
    /// Timed training batches per preset (after 2 warm-up batches).
    #[arg(long, default_value_t = 20)]
    batches: usize,
    /// Training batch size (default: each preset's recipe).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Skip the CSV parsing measurement.
    #[arg(long)]
    no_parse: bool,
    /// On the GPU, also print kernel launches per training batch and the kernels taking most
    /// of its GPU time (CubeCL's profiler; it slows the images per second it runs under).
    #[arg(long)]
    profile: bool,
}

pub fn run(args: BenchArgs) -> Result<(), String> {
    let log = args.profile.then(KernelLog::start);
    let bytes = read_file(&args.train)?;
    let parsed = bench_parse(&bytes, !args.no_parse)?;
    let digits = Arc::new(Digits::from_csv(parsed));
    let presets = if args.presets.is_empty() {
        Preset::ALL.to_vec()
    } else {
        args.presets
            .iter()
            .map(|id| Preset::from_id(id).ok_or_else(|| format!("unknown model {id:?}")))
            .collect::<Result<_, _>>()?
    };
    for device_arg in &args.device {
        let device = compute_device(*device_arg)?;
        println!("\ndevice: {}", device.description);
        println!(
            "{:<16} {:>6} {:>18} {:>18}",
            "model", "batch", "train img/s (aug)", "inference img/s"
        );
        for preset in &presets {
            let batch_size = args.batch_size.unwrap_or(preset.recipe().batch_size);
            let log = log.as_ref().filter(|_| device.kind == DeviceKind::Gpu);
            let (train, kernels) =
                bench_training(&digits, *preset, &device, batch_size, args.batches, log)?;
            let infer = bench_inference(&digits, *preset, &device)?;
            println!(
                "{:<16} {batch_size:>6} {train:>18.0} {infer:>18.0}",
                preset.id()
            );
            if let Some(kernels) = kernels {
                let (tally, steps) = kernels;
                print!("{}", tally.report(steps, 8));
            }
        }
    }
    Ok(())
}

/// Parse twice: once timing decompression alone, once the whole parse.
fn bench_parse(bytes: &[u8], report: bool) -> Result<digit_lab::data::csv::ParsedCsv, String> {
    let started = Instant::now();
    let mut parse_started = None;
    let mut decompressed = 0;
    let parsed = parse_csv("train.csv", bytes, Some(CsvKind::Train), &mut |p| {
        if p.phase == Phase::Parsing && parse_started.is_none() {
            parse_started = Some(Instant::now());
            decompressed = p.total;
        }
    })
    .map_err(|e| e.to_string())?;
    let total = started.elapsed().as_secs_f64();
    if report {
        let parse_started = parse_started.unwrap_or(started);
        let parse = parse_started.elapsed().as_secs_f64();
        let inflate = total - parse;
        let text_mb = decompressed.max(bytes.len()) as f64 / 1e6;
        println!(
            "CSV: {} rows, {:.1} MB file, {text_mb:.1} MB of text",
            parsed.rows,
            bytes.len() as f64 / 1e6
        );
        if inflate > 0.0 && decompressed > 0 {
            println!(
                "  gunzip {inflate:.3} s ({:.0} MB/s of text)",
                text_mb / inflate
            );
        }
        println!(
            "  parse  {parse:.3} s ({:.0} MB/s)\n  total  {total:.3} s",
            text_mb / parse
        );
    }
    Ok(parsed)
}

fn bench_training(
    digits: &Arc<Digits>,
    preset: Preset,
    device: &ComputeDevice,
    batch_size: usize,
    batches: usize,
    log: Option<&KernelLog>,
) -> Result<(f64, Option<(Tally, usize)>), String> {
    let warmup = 2;
    let rows = (batches + warmup) * batch_size;
    let split = Split {
        train: (0..rows.min(digits.len())).collect(),
        validation: Vec::new(),
    };
    let mut config = preset.recipe();
    config.batch_size = batch_size;
    config.epochs = 1;
    config.validation_fraction = 0.0;
    let model =
        DigitNet::new(&preset.architecture(), &device.device, 1).map_err(|e| e.to_string())?;
    let mut trainer = Trainer::new(
        model,
        digits.clone(),
        split,
        config,
        device.device.clone(),
        device.description.clone(),
    )
    .map_err(|e| e.to_string())?;
    let mut timed_images = 0;
    let mut started = None;
    let mut at_start = None;
    let mut at_end = None;
    pollster::block_on(async {
        while let Some(event) = trainer.next_event().await {
            match event {
                TrainEvent::Batch(b) if b.batch + 1 == warmup => {
                    // The batch's loss has been read: its kernels are done and logged.
                    at_start = log.map(|log| (log.tally(), trainer.steps_queued()));
                    started = Some(Instant::now());
                }
                TrainEvent::Batch(b) if b.batch >= warmup => {
                    timed_images += b.size;
                    // The last timed batch (the epoch's end then validates, which is not timed).
                    if b.batch + 1 == warmup + batches {
                        at_end = log.map(|log| (log.tally(), trainer.steps_queued()));
                    }
                }
                TrainEvent::Epoch(_) => break,
                TrainEvent::Finished(f) => {
                    return Err(f.failure.map(|f| f.to_string()).unwrap_or_default());
                }
                _ => {}
            }
        }
        Ok(())
    })?;
    let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    // Steps are queued ahead of the batch reported, so the launches logged between the two
    // tallies belong to the steps queued between them.
    let kernels = at_start
        .zip(at_end)
        .map(|((start, s0), (end, s1))| (end.since(&start), s1 - s0));
    Ok((timed_images as f64 / seconds.max(1e-9), kernels))
}

fn bench_inference(
    digits: &Arc<Digits>,
    preset: Preset,
    device: &ComputeDevice,
) -> Result<f64, String> {
    let model =
        DigitNet::new(&preset.architecture(), &device.device, 1).map_err(|e| e.to_string())?;
    let rows: Vec<usize> = (0..5000.min(digits.len())).collect();
    let run = |rows: &[usize]| {
        pollster::block_on(predict_probabilities(
            &model,
            digits,
            rows,
            &device.device,
            500,
            None,
            &mut |_, _| {},
        ))
        .map_err(|e| e.to_string())
    };
    run(&rows[..500.min(rows.len())])?; // warm-up (kernel compilation on GPUs)
    let started = Instant::now();
    run(&rows)?;
    Ok(rows.len() as f64 / started.elapsed().as_secs_f64().max(1e-9))
}
