//! The three compute pipelines, built once when the context is made. They share one
//! pipeline layout (four storage buffers and the [`Params`] push constants), so a
//! descriptor set bound for one stage serves the others.
//!
//! Bindings: 0 the buffer a step reads, 1 the one it writes, 2 the filter taps,
//! 3 the read-back result (written by the last stage only).

use std::collections::BTreeMap;
use std::sync::Arc;

use vulkano::descriptor_set::layout::{
    DescriptorSetLayout, DescriptorSetLayoutBinding, DescriptorSetLayoutCreateInfo, DescriptorType,
};
use vulkano::device::Device;
use vulkano::pipeline::compute::ComputePipelineCreateInfo;
use vulkano::pipeline::layout::{PipelineLayoutCreateInfo, PushConstantRange};
use vulkano::pipeline::{ComputePipeline, PipelineLayout, PipelineShaderStageCreateInfo};
use vulkano::shader::{ShaderModule, ShaderModuleCreateInfo, ShaderStages, spirv};

use crate::error::{Result, vk};
use crate::plan::{Params, Stage};

/// SPIR-V compiled from `shaders/*.comp` by `build.rs`.
const ANALYSIS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/analysis.spv"));
const SYNTHESIS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/synthesis.spv"));
const COMBINE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/combine.spv"));

/// Number of storage-buffer bindings in the shared set layout.
const BINDINGS: u32 = 4;

/// The shared layout and one pipeline per stage.
pub(crate) struct Pipelines {
    pub(crate) layout: Arc<PipelineLayout>,
    analysis: Arc<ComputePipeline>,
    synthesis: Arc<ComputePipeline>,
    combine: Arc<ComputePipeline>,
}

impl Pipelines {
    pub(crate) fn new(device: &Arc<Device>) -> Result<Pipelines> {
        let layout = layout(device)?;
        Ok(Pipelines {
            analysis: pipeline(device, &layout, ANALYSIS)?,
            synthesis: pipeline(device, &layout, SYNTHESIS)?,
            combine: pipeline(device, &layout, COMBINE)?,
            layout,
        })
    }

    pub(crate) fn get(&self, stage: Stage) -> &Arc<ComputePipeline> {
        match stage {
            Stage::Analysis => &self.analysis,
            Stage::Synthesis => &self.synthesis,
            Stage::Combine => &self.combine,
        }
    }

    /// The descriptor-set layout all stages bind at set 0.
    pub(crate) fn set_layout(&self) -> &Arc<DescriptorSetLayout> {
        &self.layout.set_layouts()[0]
    }
}

fn layout(device: &Arc<Device>) -> Result<Arc<PipelineLayout>> {
    let binding = DescriptorSetLayoutBinding {
        stages: ShaderStages::COMPUTE,
        ..DescriptorSetLayoutBinding::descriptor_type(DescriptorType::StorageBuffer)
    };
    let bindings: BTreeMap<u32, DescriptorSetLayoutBinding> =
        (0..BINDINGS).map(|b| (b, binding.clone())).collect();
    let set = DescriptorSetLayout::new(
        device.clone(),
        DescriptorSetLayoutCreateInfo {
            bindings,
            ..Default::default()
        },
    )
    .map_err(vk("create the descriptor-set layout"))?;
    let push = PushConstantRange {
        stages: ShaderStages::COMPUTE,
        offset: 0,
        size: size_of::<Params>() as u32,
    };
    PipelineLayout::new(
        device.clone(),
        PipelineLayoutCreateInfo {
            set_layouts: vec![set],
            push_constant_ranges: vec![push],
            ..Default::default()
        },
    )
    .map_err(vk("create the pipeline layout"))
}

fn pipeline(
    device: &Arc<Device>,
    layout: &Arc<PipelineLayout>,
    spv: &[u8],
) -> Result<Arc<ComputePipeline>> {
    let words = spirv::bytes_to_words(spv).map_err(vk("read the SPIR-V"))?;
    // SAFETY: the words are SPIR-V produced and validated by naga in build.rs from
    // this crate's shaders; vulkano checks the module against the device features.
    let module = unsafe { ShaderModule::new(device.clone(), ShaderModuleCreateInfo::new(&words)) }
        .map_err(vk("load a shader module"))?;
    let entry = module
        .entry_point("main")
        .ok_or_else(|| crate::Error::Vulkan {
            action: "load a shader module",
            source: "no entry point 'main'".into(),
        })?;
    let stage = PipelineShaderStageCreateInfo::new(entry);
    ComputePipeline::new(
        device.clone(),
        None,
        ComputePipelineCreateInfo::stage_layout(stage, layout.clone()),
    )
    .map_err(vk("create a compute pipeline"))
}
