//! The buffers a pass uses, kept between requests and grown when a longer series or
//! more levels arrive, so a steady stream of same-sized windows allocates nothing
//! after the first. A workspace larger than [`KEEP_BYTES`] is not kept: it gets
//! memory of its own (not a share of the allocator's pooled blocks, which are never
//! given back) and is dropped after its pass. The two descriptor sets (read A / write
//! B and read B / write A) are rebuilt only when the buffers are.

use std::sync::Arc;

use vulkano::buffer::{Buffer, BufferCreateInfo, BufferUsage, Subbuffer};
use vulkano::descriptor_set::allocator::StandardDescriptorSetAllocator;
use vulkano::descriptor_set::{DescriptorSet, WriteDescriptorSet};
use vulkano::memory::allocator::{
    AllocationCreateInfo, MemoryAllocatePreference, MemoryTypeFilter, StandardMemoryAllocator,
};

use crate::error::{Result, vk};
use crate::pipelines::Pipelines;
use crate::plan::Plan;

/// The largest workspace kept between passes, bytes. A 100 000-candle window takes
/// about 14 MB at 8 levels and 33 MB at 20; a million candles at 8 levels 140 MB,
/// which a process that analysed them once would otherwise hold for good (on lavapipe
/// the device's memory is the process's), and hold while it stores that window's blob
/// and records its scenes, its busiest moment.
pub(crate) const KEEP_BYTES: u64 = 64 << 20;

/// Capacities in floats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Sizes {
    work: usize,
    input: usize,
    taps: usize,
    result: usize,
}

impl Sizes {
    fn of(plan: &Plan) -> Sizes {
        Sizes {
            work: plan.work_len(),
            input: plan.input.len(),
            taps: plan.taps.len(),
            result: plan.result_len(),
        }
    }

    fn covers(&self, other: &Sizes) -> bool {
        self.work >= other.work
            && self.input >= other.input
            && self.taps >= other.taps
            && self.result >= other.result
    }

    /// The bytes of the buffers of these sizes (two work buffers).
    fn bytes(&self) -> u64 {
        (2 * self.work + self.input + self.taps + self.result) as u64 * 4
    }

    fn max(&self, other: &Sizes) -> Sizes {
        Sizes {
            work: self.work.max(other.work),
            input: self.input.max(other.input),
            taps: self.taps.max(other.taps),
            result: self.result.max(other.result),
        }
    }
}

/// Device buffers and the descriptor sets over them.
pub(crate) struct Workspace {
    sizes: Sizes,
    /// Work buffers A and B (device memory).
    pub(crate) work: [Subbuffer<[f32]>; 2],
    /// Host-written staging buffer the input is copied from.
    pub(crate) input: Subbuffer<[f32]>,
    /// Host-written filter taps.
    pub(crate) taps: Subbuffer<[f32]>,
    /// Host-read result: details then smooths.
    pub(crate) result: Subbuffer<[f32]>,
    /// `sets[r]` binds buffer r as the source and the other as the destination.
    pub(crate) sets: [Arc<DescriptorSet>; 2],
}

/// What buffers and sets are made with.
pub(crate) struct Allocators<'a> {
    pub(crate) memory: &'a Arc<StandardMemoryAllocator>,
    pub(crate) sets: &'a Arc<StandardDescriptorSetAllocator>,
    pub(crate) pipelines: &'a Pipelines,
}

impl Workspace {
    /// `current` if it is large enough for `plan`, else a larger one (large enough
    /// for both, unless that would be too large to keep).
    pub(crate) fn fit(
        current: Option<Workspace>,
        plan: &Plan,
        a: &Allocators,
    ) -> Result<Workspace> {
        let need = Sizes::of(plan);
        match current {
            Some(ws) if ws.sizes.covers(&need) => Ok(ws),
            Some(ws) if ws.sizes.max(&need).bytes() <= KEEP_BYTES => {
                Workspace::new(ws.sizes.max(&need), a)
            }
            _ => Workspace::new(need, a),
        }
    }

    /// Whether it is small enough to keep for the next pass ([`KEEP_BYTES`]).
    pub(crate) fn kept(&self) -> bool {
        self.bytes() <= KEEP_BYTES
    }

    /// The bytes of its buffers.
    pub(crate) fn bytes(&self) -> u64 {
        self.sizes.bytes()
    }

    /// Its result buffer, the others dropped (given back when they have memory of
    /// their own).
    pub(crate) fn into_result(self) -> Subbuffer<[f32]> {
        self.result
    }

    fn new(sizes: Sizes, a: &Allocators) -> Result<Workspace> {
        let own = sizes.bytes() > KEEP_BYTES;
        let buffer = |usage, filter, len| buffer(a.memory, usage, filter, len, own);
        let device_only = MemoryTypeFilter::PREFER_DEVICE;
        let upload = MemoryTypeFilter::PREFER_DEVICE | MemoryTypeFilter::HOST_SEQUENTIAL_WRITE;
        let download = MemoryTypeFilter::PREFER_HOST | MemoryTypeFilter::HOST_RANDOM_ACCESS;
        let storage = BufferUsage::STORAGE_BUFFER;
        let work_usage = storage | BufferUsage::TRANSFER_DST;
        let work = [
            buffer(work_usage, device_only, sizes.work)?,
            buffer(work_usage, device_only, sizes.work)?,
        ];
        let input = buffer(BufferUsage::TRANSFER_SRC, upload, sizes.input)?;
        let taps = buffer(storage, upload, sizes.taps)?;
        let result = buffer(storage, download, sizes.result)?;
        let set = |from: usize| {
            let writes = [
                WriteDescriptorSet::buffer(0, work[from].clone()),
                WriteDescriptorSet::buffer(1, work[1 - from].clone()),
                WriteDescriptorSet::buffer(2, taps.clone()),
                WriteDescriptorSet::buffer(3, result.clone()),
            ];
            let layout = a.pipelines.set_layout().clone();
            DescriptorSet::new(a.sets.clone(), layout, writes, [])
                .map_err(vk("create a descriptor set"))
        };
        let sets = [set(0)?, set(1)?];
        Ok(Workspace {
            sizes,
            work,
            input,
            taps,
            result,
            sets,
        })
    }
}

/// A buffer of `len` floats; with `own`, in memory of its own, given back to the
/// device when the buffer is dropped.
fn buffer(
    memory: &Arc<StandardMemoryAllocator>,
    usage: BufferUsage,
    filter: MemoryTypeFilter,
    len: usize,
    own: bool,
) -> Result<Subbuffer<[f32]>> {
    let allocate_preference = if own {
        MemoryAllocatePreference::AlwaysAllocate
    } else {
        MemoryAllocatePreference::Unknown
    };
    Buffer::new_slice::<f32>(
        memory.clone(),
        BufferCreateInfo {
            usage,
            ..Default::default()
        },
        AllocationCreateInfo {
            memory_type_filter: filter,
            allocate_preference,
            ..Default::default()
        },
        len.max(1) as u64,
    )
    .map_err(vk("allocate a buffer"))
}
