//! `digit-lab`: the native command line over the same library the browser app uses.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// The CLI is native-only; the browser front end is the `digit-lab-app` binary.
#[cfg(target_arch = "wasm32")]
fn main() {}
