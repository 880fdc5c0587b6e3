//! Picking where tensors live: the GPU through wgpu (WebGPU in a browser; Vulkan, Metal or DX12
//! natively) or Burn's pure-Rust CPU backend (`flex`), with a description for the user.

#[cfg(feature = "engine")]
use burn::prelude::Device;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceKind {
    Gpu,
    Cpu,
}

#[cfg(feature = "engine")]
#[derive(Clone, Debug)]
pub struct ComputeDevice {
    pub device: Device,
    pub kind: DeviceKind,
    /// e.g. "WebGPU: google swiftshader" or "CPU (Burn flex)".
    pub description: String,
}

#[cfg(feature = "engine")]
pub fn cpu() -> ComputeDevice {
    ComputeDevice {
        device: Device::flex(),
        kind: DeviceKind::Cpu,
        description: "CPU (Burn flex)".into(),
    }
}

/// Acquire the GPU through wgpu. Call once per process: a second initialisation fails, so keep
/// and clone the returned device.
#[cfg(feature = "engine")]
pub async fn gpu() -> Result<ComputeDevice, String> {
    let (device, setup) = Device::wgpu_options()
        .init_with_setup_async()
        .await
        .map_err(|e| {
            let detail = e.to_string();
            if detail.contains("No suitable graphics adapter") || detail.contains("No adapter") {
                "no WebGPU/GPU adapter is available here".to_string()
            } else {
                format!("the GPU could not be initialised ({detail})")
            }
        })?;
    let info = setup.adapter.get_info();
    // WebGPU reports no device type, so the software rasterisers are also known by name.
    let names = format!("{} {} {}", info.name, info.driver, info.driver_info).to_lowercase();
    let software = info.device_type == burn::backend::wgpu::wgpu::DeviceType::Cpu
        || ["llvmpipe", "lavapipe", "swiftshader"]
            .iter()
            .any(|name| names.contains(name));
    crate::model::set_software_gpu(software);
    let details: Vec<&str> = [&info.name, &info.driver, &info.driver_info]
        .into_iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let description = match details.is_empty() {
        true => format!("{:?}", setup.backend),
        false => format!("{:?}: {}", setup.backend, details.join(" / ")),
    };
    Ok(ComputeDevice {
        device,
        kind: DeviceKind::Gpu,
        description,
    })
}

/// The wgpu device for tests, initialised once per test binary (a second initialisation fails);
/// `None` without an adapter unless DIGIT_LAB_REQUIRE_VULKAN is set, as the README's test
/// command sets it.
#[cfg(all(test, feature = "engine", not(target_arch = "wasm32")))]
pub fn shared_test_gpu() -> Option<Device> {
    static GPU: std::sync::OnceLock<Option<Device>> = std::sync::OnceLock::new();
    GPU.get_or_init(|| match pollster::block_on(gpu()) {
        Ok(gpu) => Some(gpu.device),
        Err(reason) if std::env::var_os("DIGIT_LAB_REQUIRE_VULKAN").is_none() => {
            eprintln!("skipped: {reason}");
            None
        }
        Err(reason) => panic!("DIGIT_LAB_REQUIRE_VULKAN is set but {reason}"),
    })
    .clone()
}
