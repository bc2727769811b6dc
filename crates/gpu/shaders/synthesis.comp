// One synthesis step of every band still in flight: band `first_band + y` goes from
// level k to level k − 1. The band numbered `hi_band` starts here, from its wavelet
// coefficients, with the high-pass filter; the others (the deeper details and the
// smooth, slot `levels`) carry on with the low-pass one.
//
// kind 0, MODWT: out[t] = Σ_k f[k]·c[(t + start + stride·k) mod len_in].
// kind 1, DWT: PyWavelets' "valid" upsampling convolution with the reconstruction
//   filters, out[2m + p] = Σ_{j < L/2} f[2j + p]·c[L/2 − 1 + m − j].
// kind 2, DWT periodization: the transpose of the periodic analysis with the
//   decomposition filters: out[t] = Σ_j f[j]·c[u/2] over u = (t + j − L/2) mod 2·len_in even.
#version 450

// 256 invocations along x, one output sample each (see analysis.comp); y indexes
// the band, so all bands of a level go in one dispatch.
layout(local_size_x = 256, local_size_y = 1, local_size_z = 1) in;

layout(std430, set = 0, binding = 0) readonly buffer Src { float v[]; } src;
layout(std430, set = 0, binding = 1) buffer Dst { float v[]; } dst;
layout(std430, set = 0, binding = 2) readonly buffer Taps { float v[]; } taps;

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

// `i mod len` for a tap index. Within one wrap a subtraction does it: integer
// division has no vector instruction on CPUs, so lavapipe would run it lane by lane.
// Only filters wrapping a short series several times reach the division.
uint wrap(uint i, uint len) {
    uint j = i >= len ? i - len : i;
    return j < len ? j : j % len;
}

void main() {
    uint t = gl_GlobalInvocationID.x;
    // the grid is rounded up to whole workgroups: the tail has no sample
    if (t >= pc.len_out) {
        return;
    }
    uint band = pc.first_band + gl_GlobalInvocationID.y;
    uint base = band * pc.slot;
    uint f = band == pc.hi_band ? pc.hi_off : pc.lo_off;
    float acc = 0.0;
    if (pc.kind == 0u) {
        for (uint k = 0u; k < pc.taps_len; k++) {
            acc += taps.v[f + k] * src.v[base + wrap(t + pc.start + pc.stride * k, pc.len_in)];
        }
    } else if (pc.kind == 1u) {
        uint h = pc.taps_len / 2u;
        uint m = t / 2u;
        uint p = t % 2u;
        // m ≤ len_in − h for every valid output, so the index stays in 0..len_in
        for (uint j = 0u; j < h; j++) {
            acc += taps.v[f + 2u * j + p] * src.v[base + h - 1u + m - j];
        }
    } else {
        int period = int(2u * pc.len_in);
        for (uint j = 0u; j < pc.taps_len; j++) {
            int u = int(t + j) - int(pc.taps_len / 2u);
            u = u < 0 ? u + period : u;
            u = u < period ? u : u - period;
            u = (u >= 0 && u < period) ? u : ((u % period) + period) % period;
            if ((u & 1) == 0) {
                acc += taps.v[f + j] * src.v[base + uint(u / 2)];
            }
        }
    }
    dst.v[base + t] = acc;
}
