//! The worker and its device: ready or not, which device, how many replacements so far.

use digit_lab::device::DeviceKind;
use digit_lab::protocol::Reply;

use super::{Feature, Incoming};

#[derive(Clone, Debug, PartialEq)]
pub struct DeviceInfo {
    pub kind: DeviceKind,
    pub description: String,
    /// Why WebGPU is not in use, when it is not.
    pub fallback_reason: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connection {
    /// The worker's code is loaded and it accepts commands.
    pub ready: bool,
    pub device: Option<DeviceInfo>,
    /// Bumped each time a fresh worker replaces one that crashed.
    pub generation: u32,
    /// After a crash the replacement worker runs on the CPU (the GPU may be what failed).
    pub force_cpu: bool,
    /// The worker's wasm memory after the latest epoch.
    pub worker_memory: Option<u64>,
}

impl Connection {
    pub fn on_gpu(&self) -> bool {
        self.device
            .as_ref()
            .is_some_and(|d| d.kind == DeviceKind::Gpu)
    }
}

impl Feature for Connection {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::WorkerReady => self.ready = true,
            Reply::WorkerCrashed { .. } => {
                self.ready = false;
                self.device = None;
                self.force_cpu = true;
                self.generation += 1;
            }
            Reply::DeviceReady {
                kind,
                description,
                fallback_reason,
            } => {
                self.device = Some(DeviceInfo {
                    kind: *kind,
                    description: description.clone(),
                    fallback_reason: fallback_reason.clone(),
                })
            }
            Reply::WorkerMemory { wasm_bytes } => self.worker_memory = Some(*wasm_bytes),
            _ => return false,
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_forgets_the_device_and_moves_to_the_cpu() {
        let mut connection = Connection::default();
        let ready = Reply::WorkerReady;
        assert!(connection.apply(&Incoming::new(&ready, None, 0.0)));
        let device = Reply::DeviceReady {
            kind: DeviceKind::Gpu,
            description: "WebGPU".into(),
            fallback_reason: None,
        };
        connection.apply(&Incoming::new(&device, None, 0.0));
        assert!(connection.on_gpu());
        let crash = Reply::WorkerCrashed {
            message: "lost".into(),
        };
        connection.apply(&Incoming::new(&crash, None, 0.0));
        assert_eq!(
            connection,
            Connection {
                ready: false,
                device: None,
                generation: 1,
                force_cpu: true,
                worker_memory: None
            }
        );
        assert!(!connection.apply(&Incoming::new(&Reply::Paused, None, 0.0)));
    }
}
