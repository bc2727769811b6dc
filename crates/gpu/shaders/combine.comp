// The last step: crops the padding off every band (MODWT over an extended window)
// and lays out details D1..DJ then smooths S1..SJ, each `len_out` long, in the
// read-back buffer. S_J is synthesised; S_j = S_{j+1} + D_{j+1} below it.
#version 450

// 256 invocations, one time sample each, every band in a loop (see analysis.comp).
layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { float v[]; } src;
layout(std430, set = 0, binding = 3) buffer Out { float v[]; } result;

layout(push_constant) uniform Params {
    uint len_in;
    uint len_out;
    uint slot;
    uint first_band;
    uint hi_band;
    uint start;
    uint stride;
    uint taps_len;
    uint lo_off;
    uint hi_off;
    uint kind;
    uint mode;
    uint crop;
    uint levels;
} pc;

void main() {
    uint t = gl_GlobalInvocationID.x;
    // the grid is rounded up to whole workgroups: the tail has no sample
    if (t >= pc.len_out) {
        return;
    }
    uint n = pc.len_out;
    uint j_max = pc.levels;
    uint at = pc.crop + t;
    for (uint b = 0u; b < j_max; b++) {
        result.v[b * n + t] = src.v[b * pc.slot + at];
    }
    float s = src.v[j_max * pc.slot + at];
    result.v[(2u * j_max - 1u) * n + t] = s;
    for (uint b = j_max - 1u; b > 0u; b--) {
        s += src.v[b * pc.slot + at];
        result.v[(j_max + b - 1u) * n + t] = s;
    }
}
