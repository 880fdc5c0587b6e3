//! Splitting a batch over the CPU's threads (rayon natively; one thread in the browser, where
//! the training worker is itself the background thread).

/// Images per worker: the batch split evenly over the CPU's threads.
pub fn images_per_worker(batch: usize) -> usize {
    batch.div_ceil(worker_count()).max(1)
}

#[cfg(not(target_arch = "wasm32"))]
fn worker_count() -> usize {
    rayon::current_num_threads()
}

#[cfg(target_arch = "wasm32")]
fn worker_count() -> usize {
    1
}

#[cfg(not(target_arch = "wasm32"))]
pub fn run_workers<T: Send, R: Send>(work: Vec<T>, f: impl Fn(T) -> R + Sync + Send) -> Vec<R> {
    use rayon::prelude::*;
    work.into_par_iter().map(f).collect()
}

#[cfg(target_arch = "wasm32")]
pub fn run_workers<T, R>(work: Vec<T>, f: impl Fn(T) -> R) -> Vec<R> {
    work.into_iter().map(f).collect()
}
