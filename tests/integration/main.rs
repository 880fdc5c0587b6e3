//! Native integration tests, in one binary so the Burn stack is linked once.

mod augment;
mod cli;
mod common;
mod csv_adversarial;
mod csv_real_data;
mod ensemble;
mod session;
mod training;
mod untrusted;
mod wgpu;
