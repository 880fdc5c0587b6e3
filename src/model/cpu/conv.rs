//! 2D convolution and its gradients on plain `f32` slices (NCHW), as im2col + GEMM.
//!
//! Each worker takes a contiguous run of images. An image is processed in tiles of output rows
//! whose column matrix fits in the core's L2 cache: writing a whole 5x5 layer's columns (2.5 MB
//! per 28x28 image) and reading them back from L3 cost a third of the GEMM time. The input
//! gradient is the transposed GEMM followed by col2im, the weight gradient a GEMM against the
//! recomputed columns.

use std::ops::Range;

use gemm::{Parallelism, gemm};

use super::workers::{images_per_worker, run_workers};

/// Largest column tile, in floats (512 KB: half of a core's L2 on the machines we measured).
const COLUMN_TILE_FLOATS: usize = 128 * 1024;

/// Sizes of one convolution (no dilation, no groups; padding may differ at the two ends).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub batch: usize,
    pub in_channels: usize,
    pub in_height: usize,
    pub in_width: usize,
    pub out_channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Zero rows above and zero columns left of the input; the far ends follow from the output
    /// size.
    pub pad_begin: [usize; 2],
    pub out_height: usize,
    pub out_width: usize,
}

/// What the backward pass computes; the parts no parameter needs are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wanted {
    pub input: bool,
    pub weight: bool,
    pub bias: bool,
}

/// Gradients of one convolution, in the layouts of its input, weight and bias.
#[derive(Debug, Default)]
pub struct ConvGradients {
    pub input: Option<Vec<f32>>,
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
}

impl ConvGeometry {
    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    fn patch_len(&self) -> usize {
        self.in_channels * self.kernel[0] * self.kernel[1]
    }

    fn out_pixels(&self) -> usize {
        self.out_height * self.out_width
    }

    pub fn input_len(&self) -> usize {
        self.batch * self.in_image_len()
    }

    pub fn weight_len(&self) -> usize {
        self.out_channels * self.patch_len()
    }

    pub fn output_len(&self) -> usize {
        self.batch * self.out_image_len()
    }

    fn in_image_len(&self) -> usize {
        self.in_channels * self.in_height * self.in_width
    }

    fn out_image_len(&self) -> usize {
        self.out_channels * self.out_pixels()
    }

    /// A 1x1, stride-1, unpadded convolution reads its input directly as the column matrix.
    fn is_pointwise(&self) -> bool {
        self.kernel == [1, 1] && self.stride == [1, 1] && self.pad_begin == [0, 0]
    }

    /// Height and width of the zero-padded input plane that every kernel position reads from.
    fn padded_size(&self) -> [usize; 2] {
        let [input, out] = [
            [self.in_height, self.in_width],
            [self.out_height, self.out_width],
        ];
        [0, 1].map(|axis| {
            let read = (out[axis].max(1) - 1) * self.stride[axis] + self.kernel[axis];
            (self.pad_begin[axis] + input[axis]).max(read)
        })
    }

    fn needs_padding(&self) -> bool {
        self.padded_size() != [self.in_height, self.in_width]
    }

    /// Output rows per column tile.
    pub(super) fn tile_rows(&self) -> usize {
        let row_floats = (self.patch_len() * self.out_width).max(1);
        (COLUMN_TILE_FLOATS / row_floats).clamp(1, self.out_height.max(1))
    }

    /// The output rows of each tile, in order.
    fn tiles(&self) -> impl Iterator<Item = Range<usize>> + use<> {
        let (rows, height) = (self.tile_rows(), self.out_height);
        (0..height)
            .step_by(rows)
            .map(move |start| start..(start + rows).min(height))
    }

    fn padded_len(&self) -> usize {
        let [height, width] = self.padded_size();
        self.in_channels * height * width
    }
}

/// Forward pass: `[batch, out_channels, out_h, out_w]` from the input, weight and optional bias.
pub fn forward(
    geo: &ConvGeometry,
    input: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
) -> Vec<f32> {
    check_lengths(geo, input, weight);
    let mut output = vec![0f32; geo.output_len()];
    if output.is_empty() || input.is_empty() {
        return output;
    }
    let images_per_worker = images_per_worker(geo.batch);
    let work: Vec<_> = output
        .chunks_mut(images_per_worker * geo.out_image_len())
        .zip(input.chunks(images_per_worker * geo.in_image_len()))
        .collect();
    let pixels = geo.out_pixels();
    run_workers(work, |(outputs, inputs)| {
        let mut scratch = Scratch::new(geo, false);
        for (out, image) in outputs
            .chunks_mut(geo.out_image_len())
            .zip(inputs.chunks(geo.in_image_len()))
        {
            scratch.load(geo, image);
            for rows in geo.tiles() {
                let first = rows.start * geo.out_width;
                let (cols, cols_stride) = scratch.columns(geo, image, rows.clone());
                // out[co, p] = sum_k weight[co, k] * cols[k, p], for the tile's pixels p
                matmul(
                    geo.out_channels,
                    rows.len() * geo.out_width,
                    geo.patch_len(),
                    &mut out[first..],
                    (pixels, 1),
                    (weight, geo.patch_len(), 1),
                    (cols, cols_stride, 1),
                    false,
                );
            }
            if let Some(bias) = bias {
                for (row, b) in out.chunks_mut(pixels).zip(bias) {
                    row.iter_mut().for_each(|v| *v += b);
                }
            }
        }
    });
    output
}

/// Backward pass: the gradients `wanted` of the loss given the gradient of the output.
pub fn backward(
    geo: &ConvGeometry,
    input: &[f32],
    weight: &[f32],
    grad_output: &[f32],
    wanted: Wanted,
) -> ConvGradients {
    check_lengths(geo, input, weight);
    assert_eq!(grad_output.len(), geo.output_len(), "output gradient size");
    if geo.output_len() == 0 || geo.input_len() == 0 {
        return ConvGradients {
            input: wanted.input.then(|| vec![0f32; geo.input_len()]),
            weight: wanted.weight.then(|| vec![0f32; geo.weight_len()]),
            bias: wanted.bias.then(|| vec![0f32; geo.out_channels]),
        };
    }
    let mut grad_input = wanted.input.then(|| vec![0f32; geo.input_len()]);
    let images_per_worker = images_per_worker(geo.batch);
    let grad_input_chunks: Vec<Option<&mut [f32]>> = match grad_input.as_mut() {
        Some(g) => g
            .chunks_mut(images_per_worker * geo.in_image_len())
            .map(Some)
            .collect(),
        None => (0..geo.batch.div_ceil(images_per_worker))
            .map(|_| None)
            .collect(),
    };
    let work: Vec<_> = grad_input_chunks
        .into_iter()
        .zip(input.chunks(images_per_worker * geo.in_image_len()))
        .zip(grad_output.chunks(images_per_worker * geo.out_image_len()))
        .collect();

    // Each worker sums its images' weight and bias gradients; the partial sums are added after.
    let partials = run_workers(work, |((mut grad_inputs, inputs), grads)| {
        let mut grad_weight = wanted.weight.then(|| vec![0f32; geo.weight_len()]);
        let mut grad_bias = wanted.bias.then(|| vec![0f32; geo.out_channels]);
        let mut scratch = Scratch::new(geo, wanted.input);
        for (i, (image, grad)) in inputs
            .chunks(geo.in_image_len())
            .zip(grads.chunks(geo.out_image_len()))
            .enumerate()
        {
            if let Some(grad_weight) = grad_weight.as_mut() {
                weight_gradient(geo, &mut scratch, image, grad, grad_weight, i > 0);
            }
            if let Some(grad_bias) = grad_bias.as_mut() {
                for (b, row) in grad_bias.iter_mut().zip(grad.chunks(geo.out_pixels())) {
                    *b += row.iter().sum::<f32>();
                }
            }
            if let Some(grad_inputs) = grad_inputs.as_deref_mut() {
                let grad_image = &mut grad_inputs[i * geo.in_image_len()..][..geo.in_image_len()];
                input_gradient(geo, &mut scratch, weight, grad, grad_image);
            }
        }
        (grad_weight, grad_bias)
    });

    let mut gradients = ConvGradients {
        input: grad_input,
        ..ConvGradients::default()
    };
    for (grad_weight, grad_bias) in partials {
        add_into(&mut gradients.weight, grad_weight);
        add_into(&mut gradients.bias, grad_bias);
    }
    gradients
}

/// `grad_weight[co, k] (+)= sum_p grad[co, p] * cols[k, p]` over one image, tile by tile.
fn weight_gradient(
    geo: &ConvGeometry,
    scratch: &mut Scratch,
    image: &[f32],
    grad: &[f32],
    grad_weight: &mut [f32],
    accumulate: bool,
) {
    scratch.load(geo, image);
    for (t, rows) in geo.tiles().enumerate() {
        let first = rows.start * geo.out_width;
        let (cols, cols_stride) = scratch.columns(geo, image, rows.clone());
        matmul(
            geo.out_channels,
            geo.patch_len(),
            rows.len() * geo.out_width,
            grad_weight,
            (geo.patch_len(), 1),
            (&grad[first..], geo.out_pixels(), 1),
            (cols, 1, cols_stride),
            accumulate || t > 0,
        );
    }
}

/// The image's input gradient: `grad_cols[k, p] = sum_co weight[co, k] * grad[co, p]`, scattered
/// back onto the pixels the columns were read from.
fn input_gradient(
    geo: &ConvGeometry,
    scratch: &mut Scratch,
    weight: &[f32],
    grad: &[f32],
    grad_image: &mut [f32],
) {
    let pixels = geo.out_pixels();
    if geo.is_pointwise() {
        matmul(
            geo.in_channels,
            pixels,
            geo.out_channels,
            grad_image,
            (pixels, 1),
            (weight, 1, geo.patch_len()),
            (grad, pixels, 1),
            false,
        );
        return;
    }
    scratch.clear_gradient(geo, grad_image);
    for rows in geo.tiles() {
        let tile_pixels = rows.len() * geo.out_width;
        matmul(
            geo.patch_len(),
            tile_pixels,
            geo.out_channels,
            &mut scratch.grad_columns,
            (tile_pixels, 1),
            (weight, 1, geo.patch_len()),
            (&grad[rows.start * geo.out_width..], pixels, 1),
            false,
        );
        scratch.scatter_columns(geo, grad_image, rows);
    }
    scratch.finish_gradient(geo, grad_image);
}

fn add_into(total: &mut Option<Vec<f32>>, part: Option<Vec<f32>>) {
    match (total.as_mut(), part) {
        (Some(total), Some(part)) => total.iter_mut().zip(part).for_each(|(t, p)| *t += p),
        (None, part) => *total = part,
        (Some(_), None) => {}
    }
}

fn check_lengths(geo: &ConvGeometry, input: &[f32], weight: &[f32]) {
    assert_eq!(input.len(), geo.input_len(), "input size");
    assert_eq!(weight.len(), geo.weight_len(), "weight size");
}

/// A worker's buffers, reused for every image of its share of the batch.
struct Scratch {
    /// The current image with its zero border (unused when the convolution has no padding).
    padded: Vec<f32>,
    /// One tile of the column matrix, `[patch_len, tile pixels]` (unused for pointwise layers).
    columns: Vec<f32>,
    /// The input gradient's column tile and padded plane, when that gradient is wanted.
    grad_columns: Vec<f32>,
    grad_padded: Vec<f32>,
}

impl Scratch {
    fn new(geo: &ConvGeometry, input_gradient: bool) -> Self {
        let padded = if geo.needs_padding() {
            geo.padded_len()
        } else {
            0
        };
        let columns = if geo.is_pointwise() {
            0
        } else {
            geo.patch_len() * geo.tile_rows() * geo.out_width
        };
        let zeros = |len: usize| vec![0f32; len];
        Self {
            padded: zeros(padded),
            columns: zeros(columns),
            grad_columns: zeros(if input_gradient { columns } else { 0 }),
            grad_padded: zeros(if input_gradient { padded } else { 0 }),
        }
    }

    /// Prepares `image` for [`Scratch::columns`] (copies it inside its zero border).
    fn load(&mut self, geo: &ConvGeometry, image: &[f32]) {
        if geo.needs_padding() {
            pad(geo, image, &mut self.padded);
        }
    }

    /// The column matrix of the loaded `image` for output `rows`, and its row stride:
    /// `cols[(c, kh, kw), (oh, ow)]` is the padded image at `[c, oh * sh + kh, ow * sw + kw]`.
    fn columns<'a>(
        &'a mut self,
        geo: &ConvGeometry,
        image: &'a [f32],
        rows: Range<usize>,
    ) -> (&'a [f32], usize) {
        if geo.is_pointwise() {
            return (&image[rows.start * geo.out_width..], geo.out_pixels());
        }
        let plane = if geo.needs_padding() {
            &self.padded[..]
        } else {
            image
        };
        let tile_pixels = rows.len() * geo.out_width;
        let cols = &mut self.columns;
        // Hoisted: this loop runs once per (channel, kernel offset, output row).
        let (out_width, stride_w) = (geo.out_width, geo.stride[1]);
        let row_step = geo.stride[0] * geo.padded_size()[1];
        let span = (out_width - 1) * stride_w + 1;
        for_each_patch_row(geo, |row, offset| {
            let row = &mut cols[row * tile_pixels..][..tile_pixels];
            let mut start = offset + rows.start * row_step;
            for dst in row.chunks_exact_mut(out_width) {
                let src = &plane[start..start + span];
                if stride_w == 1 {
                    copy_short(dst, src);
                } else {
                    let src = src.iter().step_by(stride_w);
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d = *s);
                }
                start += row_step;
            }
        });
        (&self.columns[..], tile_pixels)
    }

    /// Zeroes the plane that [`Scratch::scatter_columns`] adds into.
    fn clear_gradient(&mut self, geo: &ConvGeometry, grad_image: &mut [f32]) {
        if geo.needs_padding() {
            self.grad_padded.fill(0.0);
        } else {
            grad_image.fill(0.0);
        }
    }

    /// The adjoint of [`Scratch::columns`]: adds the `grad_columns` tile of output `rows` onto
    /// the pixels those columns were read from.
    fn scatter_columns(&mut self, geo: &ConvGeometry, grad_image: &mut [f32], rows: Range<usize>) {
        let plane = if geo.needs_padding() {
            &mut self.grad_padded[..]
        } else {
            grad_image
        };
        let tile_pixels = rows.len() * geo.out_width;
        let cols = &self.grad_columns;
        let (out_width, stride_w) = (geo.out_width, geo.stride[1]);
        let row_step = geo.stride[0] * geo.padded_size()[1];
        let span = (out_width - 1) * stride_w + 1;
        for_each_patch_row(geo, |row, offset| {
            let row = &cols[row * tile_pixels..][..tile_pixels];
            let mut start = offset + rows.start * row_step;
            for src in row.chunks_exact(out_width) {
                let dst = &mut plane[start..start + span];
                if stride_w == 1 {
                    dst.iter_mut().zip(src).for_each(|(d, s)| *d += s);
                } else {
                    let dst = dst.iter_mut().step_by(stride_w);
                    dst.zip(src).for_each(|(d, s)| *d += s);
                }
                start += row_step;
            }
        });
    }

    /// Moves the gradient from the padded plane into the image (drops the border's share).
    fn finish_gradient(&self, geo: &ConvGeometry, grad_image: &mut [f32]) {
        if geo.needs_padding() {
            unpad(geo, &self.grad_padded, grad_image);
        }
    }
}

/// Copies the image into the interior of its padded plane (the border stays zero).
fn pad(geo: &ConvGeometry, image: &[f32], padded: &mut [f32]) {
    for_each_interior_row(geo, |padded_start, image_start| {
        padded[padded_start..][..geo.in_width]
            .copy_from_slice(&image[image_start..][..geo.in_width]);
    });
}

/// Copies the interior of a padded plane back into an image.
fn unpad(geo: &ConvGeometry, padded: &[f32], image: &mut [f32]) {
    for_each_interior_row(geo, |padded_start, image_start| {
        image[image_start..][..geo.in_width]
            .copy_from_slice(&padded[padded_start..][..geo.in_width]);
    });
}

fn for_each_interior_row(geo: &ConvGeometry, mut f: impl FnMut(usize, usize)) {
    let [height, width] = geo.padded_size();
    for c in 0..geo.in_channels {
        for y in 0..geo.in_height {
            let padded_start = (c * height + y + geo.pad_begin[0]) * width + geo.pad_begin[1];
            f(padded_start, (c * geo.in_height + y) * geo.in_width);
        }
    }
}

/// Calls `f(column row, offset in the padded input)` for each (channel, kernel row, kernel column).
fn for_each_patch_row(geo: &ConvGeometry, mut f: impl FnMut(usize, usize)) {
    let [kernel_h, kernel_w] = geo.kernel;
    let [height, width] = geo.padded_size();
    for c in 0..geo.in_channels {
        for kh in 0..kernel_h {
            for kw in 0..kernel_w {
                f(
                    (c * kernel_h + kh) * kernel_w + kw,
                    (c * height + kh) * width + kw,
                );
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for the short rows of a feature map: fixed-size moves inline
/// instead of a call to `memmove` per row.
#[inline(always)]
fn copy_short(dst: &mut [f32], src: &[f32]) {
    const CHUNK: usize = 8;
    let len = dst.len();
    let src = &src[..len];
    if len < CHUNK {
        dst.copy_from_slice(src);
        return;
    }
    let mut start = 0;
    while start + CHUNK <= len {
        dst[start..start + CHUNK].copy_from_slice(&src[start..start + CHUNK]);
        start += CHUNK;
    }
    if start < len {
        // One overlapping chunk covers the tail.
        dst[len - CHUNK..].copy_from_slice(&src[len - CHUNK..]);
    }
}

/// `dst = lhs x rhs` (or `dst += lhs x rhs` when `accumulate`), every matrix given as
/// `(slice, row stride, column stride)`: `dst` is m x n, `lhs` m x k, `rhs` k x n.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    (lhs, lhs_rs, lhs_cs): (&[f32], usize, usize),
    (rhs, rhs_rs, rhs_cs): (&[f32], usize, usize),
    accumulate: bool,
) {
    let extent = |rows: usize, cols: usize, rs: usize, cs: usize| {
        if rows == 0 || cols == 0 {
            0
        } else {
            (rows - 1) * rs + (cols - 1) * cs + 1
        }
    };
    // The bounds gemm will touch; checked here so that the unsafe call below stays in bounds.
    assert!(
        dst.len() >= extent(m, n, dst_rs, dst_cs),
        "matmul: dst too small"
    );
    assert!(
        lhs.len() >= extent(m, k, lhs_rs, lhs_cs),
        "matmul: lhs too small"
    );
    assert!(
        rhs.len() >= extent(k, n, rhs_rs, rhs_cs),
        "matmul: rhs too small"
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        // An empty sum: zero the m x n entries (dst may be a strided view into a larger buffer).
        if !accumulate {
            for i in 0..m {
                (0..n).for_each(|j| dst[i * dst_rs + j * dst_cs] = 0.0);
            }
        }
        return;
    }
    // SAFETY: the three matrices lie within their slices (asserted above), `dst` does not
    // overlap the inputs (it is a distinct `&mut`), and gemm computes
    // dst = alpha * dst + beta * lhs * rhs, reading dst only when `accumulate`.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}
