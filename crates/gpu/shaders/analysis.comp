// One analysis level of the pyramid: from the approximation V_{j-1} (band slot
// `levels` of the source buffer) to the wavelet band W_j (slot `hi_band` of the
// destination) and the next approximation V_j (slot `levels` of the destination).
//
// kind 0, MODWT: circular à trous correlation, every level as long as the input;
//   W[t] = Σ_k hi[k]·V[(t + start + stride·k) mod len_in] (taps pre-reversed on the host).
// kind 1, DWT: decimated by 2 over the mode-extended approximation,
//   cA[o] = Σ_k lo[k]·X(2o + 1 − k) with PyWavelets' extension X.
// kind 2, DWT periodization: the approximation made even by repeating its last
//   sample, then periodic: cA[o] = Σ_k lo[k]·P(L/2 + 2o − k).
#version 450

// 256 invocations: one output sample each; a multiple of every subgroup size in
// use (4 on NEON lavapipe, 8 on AVX2 lavapipe, 16 on Mali Valhall) and within every
// device's limit. No shared memory: each tap is a plain load that the caches serve.
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

int emod(int a, int m) {
    int r = a % m;
    return r < 0 ? r + m : r;
}

float at(uint base, int i) {
    return src.v[base + uint(i)];
}

// PyWavelets' extension of the `n` samples at `base`, for any index `i`.
float extended(uint base, int n, int i) {
    if (i >= 0 && i < n) {
        return at(base, i);
    }
    float first = at(base, 0);
    float last = at(base, n - 1);
    uint mode = pc.mode;
    if (mode == 0u) { // zero
        return 0.0;
    }
    if (mode == 1u || (mode == 5u && n < 2)) { // constant, or smooth of one sample
        return i < 0 ? first : last;
    }
    if ((mode == 3u || mode == 8u) && n < 2) { // whole-sample mirrors of one sample
        return first;
    }
    if (mode == 2u) { // symmetric: half-sample mirror, period 2n
        int m = emod(i, 2 * n);
        return at(base, m < n ? m : 2 * n - 1 - m);
    }
    if (mode == 7u) { // antisymmetric
        int m = emod(i, 2 * n);
        return m < n ? at(base, m) : -at(base, 2 * n - 1 - m);
    }
    if (mode == 3u) { // reflect: whole-sample mirror, period 2n - 2
        int m = emod(i, 2 * n - 2);
        return at(base, m < n ? m : 2 * n - 2 - m);
    }
    if (mode == 5u) { // smooth: the end slopes continued
        return i < 0 ? first + float(-i) * (first - at(base, 1))
                     : last + float(i - n + 1) * (last - at(base, n - 2));
    }
    if (mode == 8u) { // antireflect: point reflection, drifting each period
        int period = 2 * n - 2;
        int r = emod(i, period);
        int q = (i - r) / period;
        float b = r < n ? at(base, r) : 2.0 * last - at(base, 2 * n - 2 - r);
        return b + 2.0 * float(q) * (last - first);
    }
    return at(base, emod(i, n)); // periodic (4) and periodization (6)
}

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
    uint base = pc.levels * pc.slot;
    int n = int(pc.len_in);
    int even = n + (n & 1);
    float lo = 0.0;
    float hi = 0.0;
    for (uint k = 0u; k < pc.taps_len; k++) {
        float x;
        if (pc.kind == 0u) {
            x = src.v[base + wrap(t + pc.start + pc.stride * k, pc.len_in)];
        } else if (pc.kind == 1u) {
            x = extended(base, n, int(2u * t + 1u) - int(k));
        } else {
            int m = int(pc.taps_len / 2u + 2u * t) - int(k);
            m = m < even ? m : m - even;
            m = (m >= 0 && m < even) ? m : emod(m, even);
            x = at(base, min(m, n - 1));
        }
        lo += taps.v[pc.lo_off + k] * x;
        hi += taps.v[pc.hi_off + k] * x;
    }
    dst.v[pc.hi_band * pc.slot + t] = hi;
    dst.v[base + t] = lo;
}
