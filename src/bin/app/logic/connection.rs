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

/// Replacement workers per tab: a worker that keeps crashing (its wasm cannot load, a bug
/// the replayed files trigger) is not restarted forever.
pub const MAX_RESTARTS: u32 = 3;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Connection {
    /// The worker's code is loaded and it accepts commands.
    pub ready: bool,
    pub device: Option<DeviceInfo>,
    /// Bumped each time a fresh worker replaces one (after a crash, or to move to the CPU).
    pub generation: u32,
    /// Workers started to replace one that crashed.
    pub restarts: u32,
    /// A crash came after [`MAX_RESTARTS`] replacements: no further worker is started.
    pub gave_up: bool,
    /// The next worker runs on the CPU: the user asked, or the GPU itself failed.
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

    /// Whether a crashed worker gets a replacement (else the page asks for a reload).
    pub fn may_restart(&self) -> bool {
        self.restarts < MAX_RESTARTS
    }

    /// The user wants the CPU: the worker is replaced by one that does not try WebGPU.
    pub fn switch_to_cpu(&mut self) {
        self.force_cpu = true;
        self.replace_worker();
    }

    /// The page replaces the worker (to move to the CPU, or to stop a parse it cannot
    /// interrupt otherwise); the device choice stays.
    pub fn replace_worker(&mut self) {
        self.ready = false;
        self.device = None;
        self.generation += 1;
    }
}

/// Whether a crash looks like the GPU's own failure (a lost device, a driver or shader error),
/// or happened before any device was ready (initialising WebGPU may be what trapped).
fn gpu_failed(device: Option<&DeviceInfo>, message: &str) -> bool {
    let message = message.to_lowercase();
    match device {
        None => true,
        Some(d) if d.kind == DeviceKind::Gpu => [
            "device",
            "gpu",
            "wgpu",
            "adapter",
            "shader",
            "buffer",
            "queue",
            "out of memory",
        ]
        .iter()
        .any(|word| message.contains(word)),
        Some(_) => false,
    }
}

impl Feature for Connection {
    fn apply(&mut self, incoming: &Incoming) -> bool {
        match incoming.reply {
            Reply::WorkerReady => self.ready = true,
            Reply::WorkerCrashed { message } => {
                if gpu_failed(self.device.as_ref(), message) {
                    self.force_cpu = true;
                }
                if self.may_restart() {
                    self.restarts += 1;
                    self.replace_worker();
                } else {
                    self.ready = false;
                    self.device = None;
                    self.gave_up = true;
                }
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

    fn on(kind: DeviceKind) -> Connection {
        let mut connection = Connection::default();
        connection.apply(&Incoming::new(&Reply::WorkerReady, None, 0.0));
        let device = Reply::DeviceReady {
            kind,
            description: format!("{kind:?}"),
            fallback_reason: None,
        };
        connection.apply(&Incoming::new(&device, None, 0.0));
        connection
    }

    fn crash(connection: &mut Connection, message: &str) {
        let crash = Reply::WorkerCrashed {
            message: message.into(),
        };
        assert!(connection.apply(&Incoming::new(&crash, None, 0.0)));
    }

    #[test]
    fn a_lost_gpu_moves_to_the_cpu_but_another_crash_keeps_the_gpu() {
        let mut connection = on(DeviceKind::Gpu);
        assert!(connection.on_gpu());
        crash(&mut connection, "RuntimeError: unreachable executed");
        assert_eq!(
            (
                connection.ready,
                connection.generation,
                connection.force_cpu
            ),
            (false, 1, false),
            "a plain panic is not the GPU's fault: the next worker tries WebGPU again"
        );
        assert_eq!(connection.device, None);
        let mut connection = on(DeviceKind::Gpu);
        crash(&mut connection, "Parent device is lost");
        assert!(connection.force_cpu);
        // A crash before any device was ready may be WebGPU's initialisation itself.
        let mut connection = Connection::default();
        crash(&mut connection, "the worker failed to start");
        assert!(connection.force_cpu);
        assert!(!connection.apply(&Incoming::new(&Reply::Paused, None, 0.0)));
    }

    #[test]
    fn restarts_are_bounded() {
        let mut connection = on(DeviceKind::Cpu);
        for expected in 1..=MAX_RESTARTS {
            assert!(connection.may_restart());
            crash(&mut connection, "unreachable");
            assert_eq!(connection.generation, expected);
        }
        assert!(!connection.may_restart() && !connection.gave_up);
        crash(&mut connection, "unreachable");
        assert_eq!(
            connection.generation, MAX_RESTARTS,
            "no further replacement"
        );
        assert!(connection.gave_up);
    }

    #[test]
    fn switching_to_the_cpu_replaces_the_worker() {
        let mut connection = on(DeviceKind::Gpu);
        connection.switch_to_cpu();
        assert!(connection.force_cpu && !connection.ready && connection.device.is_none());
        assert_eq!((connection.generation, connection.restarts), (1, 0));
    }
}
