//! [`GpuContext`]: the Vulkan instance, the chosen device and queue, the pipelines
//! and the reusable buffers (unless too large to keep), made once per process.
//! [`GpuContext::mra`] is blocking; async callers run it on a blocking thread
//! (`spawn_blocking`). Passes on one context are serialised by a mutex around the
//! buffers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use vulkano::VulkanLibrary;
use vulkano::buffer::Subbuffer;
use vulkano::command_buffer::allocator::StandardCommandBufferAllocator;
use vulkano::command_buffer::{AutoCommandBufferBuilder, CommandBufferUsage, CopyBufferInfoTyped};
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::device::physical::PhysicalDevice;
use vulkano::device::{Device, DeviceCreateInfo, Queue, QueueCreateInfo, QueueFlags};
use vulkano::instance::{Instance, InstanceCreateInfo};
use vulkano::memory::allocator::StandardMemoryAllocator;
use vulkano::pipeline::PipelineBindPoint;
use vulkano::sync::{self, GpuFuture};
use waveplot_wavelet::{Mode, Mra, MraKind, Wavelet};

use crate::device::{self, DeviceInfo, DevicePolicy};
use crate::error::{Error, Result, vk};
use crate::pipelines::Pipelines;
use crate::plan::{Plan, Step};
use crate::workspace::{Allocators, Workspace};

/// Wall-clock time of one pass, split where the data crosses to and from the device.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Preparing the input on the host (extension, reference, f32) and writing the
    /// staging and tap buffers, ms.
    pub upload_ms: f64,
    /// Recording, submitting and waiting for the command buffer (the staging copy
    /// and every dispatch), ms.
    pub dispatch_ms: f64,
    /// Reading the result back and widening it to f64, ms.
    pub readback_ms: f64,
}

/// A multiresolution analysis computed on the device, and how long it took.
#[derive(Debug, Clone)]
pub struct GpuMra {
    /// Details and smooths, widened to f64, the reference level added back.
    pub mra: Mra,
    /// Where the time went.
    pub timings: Timings,
}

/// One device, its pipelines and its buffers.
pub struct GpuContext {
    info: DeviceInfo,
    device: Arc<Device>,
    queue: Arc<Queue>,
    memory: Arc<StandardMemoryAllocator>,
    commands: Arc<StandardCommandBufferAllocator>,
    sets: Arc<StandardDescriptorSetAllocator>,
    pipelines: Pipelines,
    /// `maxStorageBufferRange`: the largest buffer one binding may cover, bytes.
    max_binding: u64,
    /// `maxComputeWorkGroupCount[0]`.
    max_groups: u32,
    workspace: Mutex<Option<Workspace>>,
}

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("device", &self.info)
            .finish()
    }
}

/// The devices with a compute queue, in the loader's order, without opening any: what
/// [`GpuContext::new`] chooses from.
pub fn devices() -> Result<Vec<DeviceInfo>> {
    Ok(compute_devices()?
        .iter()
        .map(|(pd, _)| DeviceInfo::of(pd))
        .collect())
}

/// Loads Vulkan and lists the devices with a compute queue, with that queue's family.
fn compute_devices() -> Result<Vec<(Arc<PhysicalDevice>, u32)>> {
    let library = VulkanLibrary::new().map_err(|e| Error::NoLoader {
        source: Box::new(e),
    })?;
    let instance =
        Instance::new(library, InstanceCreateInfo::default()).map_err(|e| Error::NoLoader {
            source: Box::new(e),
        })?;
    Ok(instance
        .enumerate_physical_devices()
        .map_err(vk("list the devices"))?
        .filter_map(|pd| compute_family(&pd).map(|q| (pd, q)))
        .collect())
}

impl GpuContext {
    /// Loads Vulkan, picks the best device `policy` allows (discrete > integrated >
    /// virtual > CPU-type) and builds the pipelines.
    pub fn new(policy: DevicePolicy) -> Result<GpuContext> {
        let candidates = compute_devices()?;
        let infos: Vec<DeviceInfo> = candidates
            .iter()
            .map(|(pd, _)| DeviceInfo::of(pd))
            .collect();
        let chosen = device::choose(&infos, policy).ok_or_else(|| Error::NoDevice {
            policy,
            found: device::list(&infos),
        })?;
        let (physical, family) = candidates[chosen].clone();
        GpuContext::on(physical, family, infos[chosen].clone())
    }

    fn on(physical: Arc<PhysicalDevice>, family: u32, info: DeviceInfo) -> Result<GpuContext> {
        let limits = physical.properties();
        let (max_binding, max_groups) = (
            u64::from(limits.max_storage_buffer_range),
            limits.max_compute_work_group_count[0],
        );
        let create = DeviceCreateInfo {
            queue_create_infos: vec![QueueCreateInfo {
                queue_family_index: family,
                ..Default::default()
            }],
            ..Default::default()
        };
        let (device, mut queues) = Device::new(physical, create).map_err(vk("open the device"))?;
        let queue = queues.next().ok_or_else(|| Error::Vulkan {
            action: "open the device",
            source: "no queue was created".into(),
        })?;
        Ok(GpuContext {
            info,
            memory: Arc::new(StandardMemoryAllocator::new_default(device.clone())),
            commands: Arc::new(StandardCommandBufferAllocator::new(
                device.clone(),
                Default::default(),
            )),
            sets: Arc::new(StandardDescriptorSetAllocator::new(
                device.clone(),
                Default::default(),
            )),
            pipelines: Pipelines::new(&device)?,
            device,
            queue,
            max_binding,
            max_groups,
            workspace: Mutex::new(None),
        })
    }

    /// The device this context runs on.
    pub fn device(&self) -> &DeviceInfo {
        &self.info
    }

    /// The MRA of `x` (levels already capped, see [`crate::levels_used`]), as
    /// `waveplot_wavelet::MraPlan` computes it, in f32 on the device.
    pub fn mra(
        &self,
        x: &[f64],
        wavelet: &Wavelet,
        kind: MraKind,
        mode: Mode,
        levels: usize,
    ) -> Result<GpuMra> {
        let started = Instant::now();
        let plan = Plan::new(x, wavelet, kind, mode, levels);
        self.check_limits(&plan)?;
        let mut guard = self
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let allocators = Allocators {
            memory: &self.memory,
            sets: &self.sets,
            pipelines: &self.pipelines,
        };
        let ws = Workspace::fit(guard.take(), &plan, &allocators)?;
        upload(&ws, &plan)?;
        let uploaded = Instant::now();
        self.run(&ws, &plan)?;
        let dispatched = Instant::now();
        let mra = if ws.kept() {
            let mra = read_back(&ws.result, &plan, levels)?;
            *guard = Some(ws);
            mra
        } else {
            // Its work buffers go back before the result is widened to f64 beside it:
            // 72 of the 140 MB for a million candles at 8 levels.
            read_back(&ws.into_result(), &plan, levels)?
        };
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let timings = Timings {
            upload_ms: ms(started, uploaded),
            dispatch_ms: ms(uploaded, dispatched),
            readback_ms: ms(dispatched, Instant::now()),
        };
        Ok(GpuMra { mra, timings })
    }

    /// The bytes of the buffers kept for the next pass: the last pass's, when they
    /// take at most 64 MiB (a 100 000-candle window at up to 20 levels); 0 after a
    /// larger pass, whose buffers are given back.
    pub fn kept_bytes(&self) -> u64 {
        let guard = self
            .workspace
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        guard.as_ref().map_or(0, Workspace::bytes)
    }

    fn check_limits(&self, plan: &Plan) -> Result<()> {
        let largest = plan.work_len().max(plan.result_len()) as u64 * 4;
        if largest > self.max_binding {
            return Err(Error::TooLarge {
                what: "a storage buffer (bytes)",
                needed: largest,
                limit: self.max_binding,
            });
        }
        let groups = plan.steps.iter().map(|s| s.groups[0]).max().unwrap_or(0);
        if groups > self.max_groups {
            return Err(Error::TooLarge {
                what: "a dispatch (workgroups)",
                needed: u64::from(groups),
                limit: u64::from(self.max_groups),
            });
        }
        Ok(())
    }

    /// Records the staging copy and every step in one command buffer and waits for it.
    fn run(&self, ws: &Workspace, plan: &Plan) -> Result<()> {
        let mut cb = AutoCommandBufferBuilder::primary(
            self.commands.clone(),
            self.queue.queue_family_index(),
            CommandBufferUsage::OneTimeSubmit,
        )
        .map_err(vk("begin a command buffer"))?;
        let at = (plan.levels * plan.slot) as u64;
        let len = plan.input.len() as u64;
        let target = ws.work[plan.input_buffer].clone().slice(at..at + len);
        let source = ws.input.clone().slice(0..len);
        cb.copy_buffer(CopyBufferInfoTyped::buffers(source, target))
            .map_err(vk("record the upload"))?;
        for step in &plan.steps {
            self.record(&mut cb, ws, step)?;
        }
        let cb = cb.build().map_err(vk("build the command buffer"))?;
        sync::now(self.device.clone())
            .then_execute(self.queue.clone(), cb)
            .map_err(vk("submit the pass"))?
            .then_signal_fence_and_flush()
            .map_err(vk("submit the pass"))?
            .wait(None)
            .map_err(vk("wait for the pass"))
    }

    fn record<L>(
        &self,
        cb: &mut AutoCommandBufferBuilder<L>,
        ws: &Workspace,
        step: &Step,
    ) -> Result<()> {
        let layout = self.pipelines.layout.clone();
        cb.bind_pipeline_compute(self.pipelines.get(step.stage).clone())
            .map_err(vk("bind a pipeline"))?
            .bind_descriptor_sets(
                PipelineBindPoint::Compute,
                layout.clone(),
                0,
                ws.sets[step.reads].clone(),
            )
            .map_err(vk("bind the buffers"))?
            .push_constants(layout, 0, step.params)
            .map_err(vk("set the push constants"))?;
        // SAFETY: every shader guards `t < len_out` and the plan sizes each band slot
        // for the longest level, so all indices stay inside the bound buffers (whose
        // sizes `check_limits` and `Workspace::fit` guarantee); the loops are bounded
        // by the filter length.
        unsafe { cb.dispatch(step.groups) }.map_err(vk("record a dispatch"))?;
        Ok(())
    }
}

/// The first queue family that can run compute shaders.
fn compute_family(device: &PhysicalDevice) -> Option<u32> {
    device
        .queue_family_properties()
        .iter()
        .position(|q| q.queue_flags.intersects(QueueFlags::COMPUTE))
        .map(|i| i as u32)
}

fn upload(ws: &Workspace, plan: &Plan) -> Result<()> {
    let mut input = ws.input.write().map_err(vk("write the input"))?;
    input[..plan.input.len()].copy_from_slice(&plan.input);
    let mut taps = ws.taps.write().map_err(vk("write the taps"))?;
    taps[..plan.taps.len()].copy_from_slice(&plan.taps);
    Ok(())
}

/// Details then smooths, `n` floats each; the guard is dropped before returning, as
/// a live read guard would make the next submission panic inside vulkano.
fn read_back(result: &Subbuffer<[f32]>, plan: &Plan, levels: usize) -> Result<Mra> {
    let result = result.read().map_err(vk("read the result"))?;
    let n = plan.n;
    let band = |b: usize, offset: f64| -> Vec<f64> {
        result[b * n..(b + 1) * n]
            .iter()
            .map(|&v| f64::from(v) + offset)
            .collect()
    };
    let details = (0..levels).map(|b| band(b, 0.0)).collect();
    let smooths = (levels..2 * levels)
        .map(|b| band(b, plan.reference))
        .collect();
    drop(result);
    Ok(Mra {
        levels_requested: levels,
        levels_used: levels,
        details,
        smooths,
    })
}
