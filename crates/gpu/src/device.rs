//! Device selection: which Vulkan physical device runs the pass. Hardware GPUs rank
//! discrete > integrated > virtual; a CPU-type device (Mesa's lavapipe) is taken only
//! when the policy allows it, because on the boards the pass targets it would only
//! compete with the CPU path for the same cores.

use std::fmt;

use vulkano::device::physical::{PhysicalDevice, PhysicalDeviceType};

/// Which devices may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePolicy {
    /// Only hardware GPUs (discrete, integrated, virtual).
    HardwareOnly,
    /// Hardware GPUs first, then a CPU-type device such as lavapipe.
    AllowCpu,
}

impl fmt::Display for DevicePolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DevicePolicy::HardwareOnly => "hardware GPUs only",
            DevicePolicy::AllowCpu => "hardware GPUs or a CPU device",
        })
    }
}

/// The kind of a device, as Vulkan reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// A separate GPU with its own memory.
    Discrete,
    /// A GPU sharing memory with the CPU (a Mali on an SoC).
    Integrated,
    /// A GPU passed through a hypervisor.
    Virtual,
    /// A software implementation on the CPU (lavapipe).
    Cpu,
    /// Anything else.
    Other,
}

impl DeviceKind {
    fn from_vulkan(t: PhysicalDeviceType) -> DeviceKind {
        match t {
            PhysicalDeviceType::DiscreteGpu => DeviceKind::Discrete,
            PhysicalDeviceType::IntegratedGpu => DeviceKind::Integrated,
            PhysicalDeviceType::VirtualGpu => DeviceKind::Virtual,
            PhysicalDeviceType::Cpu => DeviceKind::Cpu,
            _ => DeviceKind::Other,
        }
    }

    /// Preference under `policy`, lower first; `None` when not allowed at all.
    fn rank(self, policy: DevicePolicy) -> Option<u8> {
        match (self, policy) {
            (DeviceKind::Discrete, _) => Some(0),
            (DeviceKind::Integrated, _) => Some(1),
            (DeviceKind::Virtual, _) => Some(2),
            (DeviceKind::Cpu, DevicePolicy::AllowCpu) => Some(3),
            _ => None,
        }
    }
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DeviceKind::Discrete => "discrete GPU",
            DeviceKind::Integrated => "integrated GPU",
            DeviceKind::Virtual => "virtual GPU",
            DeviceKind::Cpu => "CPU device",
            DeviceKind::Other => "other device",
        })
    }
}

/// A device's name and kind, for logs and for the blob's `device` field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// The driver's device name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Its kind.
    pub kind: DeviceKind,
}

impl DeviceInfo {
    pub(crate) fn of(device: &PhysicalDevice) -> DeviceInfo {
        let p = device.properties();
        DeviceInfo {
            name: p.device_name.clone(),
            kind: DeviceKind::from_vulkan(p.device_type),
        }
    }
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, Vulkan)", self.name, self.kind)
    }
}

/// The index of the best allowed device, or `None`; ties keep the loader's order.
pub fn choose(devices: &[DeviceInfo], policy: DevicePolicy) -> Option<usize> {
    devices
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.kind.rank(policy).map(|r| (r, i)))
        .min()
        .map(|(_, i)| i)
}

/// The devices as one line for messages: `name (kind), ...` or `none`.
pub fn list(devices: &[DeviceInfo]) -> String {
    if devices.is_empty() {
        return "none".to_owned();
    }
    let names: Vec<String> = devices.iter().map(DeviceInfo::to_string).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(name: &str, kind: DeviceKind) -> DeviceInfo {
        DeviceInfo {
            name: name.to_owned(),
            kind,
        }
    }

    #[test]
    fn a_discrete_gpu_beats_an_integrated_one_and_both_beat_lavapipe() {
        let all = [
            device("llvmpipe", DeviceKind::Cpu),
            device("Mali-G610", DeviceKind::Integrated),
            device("RTX", DeviceKind::Discrete),
        ];
        assert_eq!(choose(&all, DevicePolicy::HardwareOnly), Some(2));
        assert_eq!(choose(&all[..2], DevicePolicy::AllowCpu), Some(1));
    }

    #[test]
    fn lavapipe_alone_is_used_only_when_allowed() {
        let only = [device("llvmpipe", DeviceKind::Cpu)];
        assert_eq!(choose(&only, DevicePolicy::HardwareOnly), None);
        assert_eq!(choose(&only, DevicePolicy::AllowCpu), Some(0));
        assert_eq!(choose(&[], DevicePolicy::AllowCpu), None);
        assert_eq!(list(&[]), "none");
    }
}
