//! Compiles `shaders/*.comp` (GLSL 450) to SPIR-V with naga, a pure-Rust compiler, so
//! building needs no C++ toolchain and no shader tools. naga's two safety polyfills
//! are turned off: zero-initialising workgroup memory (the shaders use none) and
//! bounding every loop with a counter (all loops here run a fixed number of taps);
//! on lavapipe they made a filter shader about 3× slower.

use std::path::Path;

use naga::back::spv;
use naga::front::glsl;
use naga::valid::{Capabilities, ValidationFlags, Validator};

const SHADERS: [&str; 3] = ["analysis", "synthesis", "combine"];

fn main() {
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    for name in SHADERS {
        let path = format!("shaders/{name}.comp");
        println!("cargo::rerun-if-changed={path}");
        let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        let words = compile(&path, &source);
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let target = Path::new(&out_dir).join(format!("{name}.spv"));
        std::fs::write(&target, bytes)
            .unwrap_or_else(|e| panic!("write {}: {e}", target.display()));
    }
}

fn compile(path: &str, source: &str) -> Vec<u32> {
    let options = glsl::Options::from(naga::ShaderStage::Compute);
    let module = glsl::Frontend::default()
        .parse(&options, source)
        .unwrap_or_else(|e| panic!("{path}:\n{}", e.emit_to_string(source)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{path}: {}", e.emit_to_string(source)));
    let spv_options = spv::Options {
        lang_version: (1, 0),
        zero_initialize_workgroup_memory: spv::ZeroInitializeWorkgroupMemoryMode::None,
        force_loop_bounding: false,
        ..Default::default()
    };
    spv::write_vec(&module, &info, &spv_options, None)
        .unwrap_or_else(|e| panic!("{path}: SPIR-V output: {e}"))
}
