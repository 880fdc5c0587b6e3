//! 2x2 max pooling with stride 2 on plain `f32` slices (NCHW), remembering which of the four
//! pixels won so that the backward pass is a single scatter. Sizes round down, as Keras'
//! "valid" pooling does: an odd last row or column is dropped.

use super::workers::{images_per_worker, run_workers};

/// An NCHW input's sizes; the output is half the size (rounded down) in each direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    pub batch: usize,
    pub channels: usize,
    pub in_height: usize,
    pub in_width: usize,
}

impl PoolGeometry {
    pub fn input_shape(&self) -> [usize; 4] {
        [self.batch, self.channels, self.in_height, self.in_width]
    }

    pub fn output_shape(&self) -> [usize; 4] {
        [
            self.batch,
            self.channels,
            self.out_height(),
            self.out_width(),
        ]
    }

    pub fn out_height(&self) -> usize {
        self.in_height / 2
    }

    pub fn out_width(&self) -> usize {
        self.in_width / 2
    }

    fn planes(&self) -> usize {
        self.batch * self.channels
    }

    fn in_plane(&self) -> usize {
        self.in_height * self.in_width
    }

    fn out_plane(&self) -> usize {
        self.out_height() * self.out_width()
    }
}

/// Pooled values and, per output, the winner's offset in its window (`2 * dy + dx`).
#[derive(Debug)]
pub struct Pooled {
    pub values: Vec<f32>,
    pub winners: Vec<u8>,
}

pub fn forward(geo: &PoolGeometry, input: &[f32]) -> Pooled {
    assert_eq!(input.len(), geo.planes() * geo.in_plane(), "input size");
    let len = geo.planes() * geo.out_plane();
    let mut pooled = Pooled {
        values: vec![0f32; len],
        winners: vec![0u8; len],
    };
    if len == 0 {
        return pooled;
    }
    let per_worker = images_per_worker(geo.planes());
    let work: Vec<_> = pooled
        .values
        .chunks_mut(per_worker * geo.out_plane())
        .zip(pooled.winners.chunks_mut(per_worker * geo.out_plane()))
        .zip(input.chunks(per_worker * geo.in_plane()))
        .collect();
    let (width, out_width) = (geo.in_width, geo.out_width());
    run_workers(work, |((values, winners), input)| {
        let outputs = values
            .chunks_exact_mut(out_width)
            .zip(winners.chunks_exact_mut(out_width));
        // Output row `r` of the worker's planes reads input rows 2r and 2r + 1 of the same plane.
        for (r, (values, winners)) in outputs.enumerate() {
            let (plane, oh) = (r / geo.out_height(), r % geo.out_height());
            let top = &input[plane * geo.in_plane() + 2 * oh * width..][..width];
            let bottom = &input[plane * geo.in_plane() + (2 * oh + 1) * width..][..width];
            for (ow, (value, winner)) in values.iter_mut().zip(winners.iter_mut()).enumerate() {
                let window = [
                    top[2 * ow],
                    top[2 * ow + 1],
                    bottom[2 * ow],
                    bottom[2 * ow + 1],
                ];
                let mut best = 0;
                for (i, v) in window.iter().enumerate().skip(1) {
                    if *v > window[best] {
                        best = i;
                    }
                }
                *value = window[best];
                *winner = best as u8;
            }
        }
    });
    pooled
}

/// The input gradient: each output's gradient goes to the pixel that won its window.
pub fn backward(geo: &PoolGeometry, winners: &[u8], grad_output: &[f32]) -> Vec<f32> {
    let len = geo.planes() * geo.out_plane();
    assert_eq!(winners.len(), len, "winners size");
    assert_eq!(grad_output.len(), len, "output gradient size");
    let mut grad_input = vec![0f32; geo.planes() * geo.in_plane()];
    if len == 0 {
        return grad_input;
    }
    let per_worker = images_per_worker(geo.planes());
    let work: Vec<_> = grad_input
        .chunks_mut(per_worker * geo.in_plane())
        .zip(winners.chunks(per_worker * geo.out_plane()))
        .zip(grad_output.chunks(per_worker * geo.out_plane()))
        .collect();
    let (width, out_width) = (geo.in_width, geo.out_width());
    run_workers(work, |((grad_input, winners), grads)| {
        let rows = winners
            .chunks_exact(out_width)
            .zip(grads.chunks_exact(out_width));
        for (r, (winners, grads)) in rows.enumerate() {
            let (plane, oh) = (r / geo.out_height(), r % geo.out_height());
            let top = plane * geo.in_plane() + 2 * oh * width;
            for (ow, (winner, grad)) in winners.iter().zip(grads).enumerate() {
                let (dy, dx) = (usize::from(winner / 2), usize::from(winner % 2));
                grad_input[top + dy * width + 2 * ow + dx] = *grad;
            }
        }
    });
    grad_input
}
