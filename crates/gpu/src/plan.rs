//! The host side of one pass, computed without touching the device: how the input is
//! prepared (extended, shifted by a reference level, narrowed to f32), the band
//! layout of the two work buffers, the filter taps and every dispatch in order.
//!
//! # Buffers
//!
//! Two work buffers, A and B, each hold `levels + 1` slots of `slot` floats: slot
//! `j − 1` carries band D_j (first its coefficients W_j, then its partial synthesis)
//! and slot `levels` the approximation / smooth. Each step reads one buffer and
//! writes the other. Level j's coefficients land in buffer `X_j` (A when `levels − j`
//! is even), which is exactly the buffer synthesis step j reads, so no band is copied
//! and none is overwritten before it is used.

use vulkano::buffer::BufferContents;
use waveplot_wavelet::{Mode, MraKind, Wavelet, dwt_coeff_len};

/// Invocations per workgroup along x in every shader (`local_size_x`).
pub(crate) const WORKGROUP: u32 = 256;

/// The push constants every shader declares, in its order.
#[derive(BufferContents, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub(crate) struct Params {
    pub(crate) len_in: u32,
    pub(crate) len_out: u32,
    pub(crate) slot: u32,
    pub(crate) first_band: u32,
    pub(crate) hi_band: u32,
    pub(crate) start: u32,
    pub(crate) stride: u32,
    pub(crate) taps_len: u32,
    pub(crate) lo_off: u32,
    pub(crate) hi_off: u32,
    pub(crate) kind: u32,
    pub(crate) mode: u32,
    pub(crate) crop: u32,
    pub(crate) levels: u32,
}

/// Which shader a step runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    Analysis,
    Synthesis,
    Combine,
}

/// One dispatch: its shader, the buffer it reads (0 = A, 1 = B), constants and grid.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub(crate) stage: Stage,
    pub(crate) reads: usize,
    pub(crate) params: Params,
    pub(crate) groups: [u32; 3],
}

/// Everything the device needs for one series.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Samples per band in the result.
    pub(crate) n: usize,
    /// Levels computed.
    pub(crate) levels: usize,
    /// Floats per band slot.
    pub(crate) slot: usize,
    /// Subtracted before upload and added back to the smooths.
    pub(crate) reference: f64,
    /// The samples to upload (extended for the padded MODWT), minus the reference.
    pub(crate) input: Vec<f32>,
    /// The buffer (0 = A, 1 = B) the input goes to, at slot `levels`.
    pub(crate) input_buffer: usize,
    /// Analysis low, analysis high, synthesis low, synthesis high; `taps_len` each.
    pub(crate) taps: Vec<f32>,
    pub(crate) steps: Vec<Step>,
}

/// Host-side constants shared by all steps of a pass.
struct Shape {
    kind: u32,
    mode: u32,
    levels: usize,
    slot: usize,
    taps_len: usize,
    /// `lens[k]`: samples per band at level k.
    lens: Vec<usize>,
}

impl Plan {
    /// Plans the MRA of `x` with `levels` levels (already capped by the caller).
    pub(crate) fn new(x: &[f64], w: &Wavelet, kind: MraKind, mode: Mode, levels: usize) -> Plan {
        let l = w.filter_len();
        let circular = matches!(mode, Mode::Periodization | Mode::Periodic);
        let (samples, crop, shape) = match kind {
            MraKind::Modwt => {
                let pad = if circular {
                    0
                } else {
                    ((1 << levels) - 1) * (l - 1) + 1
                };
                let mut ext = Vec::with_capacity(x.len() + 2 * pad);
                extend(mode, x, pad, &mut ext);
                let m = ext.len();
                (ext, pad, Shape::new(0, 0, levels, vec![m; levels + 1], l))
            }
            MraKind::Dwt => {
                let mut lens = vec![x.len()];
                for k in 0..levels {
                    lens.push(dwt_coeff_len(lens[k], l, mode));
                }
                let code = if mode == Mode::Periodization { 2 } else { 1 };
                (
                    x.to_vec(),
                    0,
                    Shape::new(code, mode_code(mode), levels, lens, l),
                )
            }
        };
        let reference = reference_level(kind, mode, x);
        let steps = shape.steps(x.len(), crop);
        Plan {
            n: x.len(),
            levels,
            slot: shape.slot,
            reference,
            input: samples.iter().map(|&v| (v - reference) as f32).collect(),
            input_buffer: shape.buffer_of(0),
            taps: taps(w, kind, mode),
            steps,
        }
    }

    /// Floats in each work buffer.
    pub(crate) fn work_len(&self) -> usize {
        (self.levels + 1) * self.slot
    }

    /// Floats read back: details then smooths, `n` each.
    pub(crate) fn result_len(&self) -> usize {
        2 * self.levels * self.n
    }
}

impl Shape {
    fn new(kind: u32, mode: u32, levels: usize, lens: Vec<usize>, taps_len: usize) -> Shape {
        let slot = lens.iter().copied().max().unwrap_or(0);
        Shape {
            kind,
            mode,
            levels,
            slot,
            taps_len,
            lens,
        }
    }

    /// The buffer holding level j's coefficients (`X_j` in the module docs).
    fn buffer_of(&self, j: usize) -> usize {
        (self.levels - j) % 2
    }

    fn steps(&self, n: usize, crop: usize) -> Vec<Step> {
        let mut steps: Vec<Step> = (1..=self.levels).map(|j| self.analysis(j)).collect();
        steps.extend((1..=self.levels).rev().map(|k| self.synthesis(k)));
        let params = Params {
            len_out: n as u32,
            crop: crop as u32,
            ..self.base()
        };
        steps.push(Step {
            stage: Stage::Combine,
            reads: self.buffer_of(0),
            params,
            groups: [groups(n), 1, 1],
        });
        steps
    }

    fn base(&self) -> Params {
        Params {
            slot: self.slot as u32,
            taps_len: self.taps_len as u32,
            kind: self.kind,
            mode: self.mode,
            levels: self.levels as u32,
            ..Params::default()
        }
    }

    /// Level j: V_{j−1} → W_j, V_j. The MODWT advances its filter by `s·L/2`.
    fn analysis(&self, j: usize) -> Step {
        let s = 1i64 << (j - 1);
        let l = self.taps_len as i64;
        let params = Params {
            len_in: self.lens[j - 1] as u32,
            len_out: self.lens[j] as u32,
            hi_band: (j - 1) as u32,
            start: self.circular_start(s * (l / 2) - s * (l - 1)),
            stride: s as u32,
            lo_off: 0,
            hi_off: self.taps_len as u32,
            ..self.base()
        };
        Step {
            stage: Stage::Analysis,
            reads: self.buffer_of(j - 1),
            params,
            groups: [groups(self.lens[j]), 1, 1],
        }
    }

    /// Step k: every band at level k (details D_k..D_J and the smooth) to level k − 1.
    fn synthesis(&self, k: usize) -> Step {
        let s = 1i64 << (k - 1);
        let l = self.taps_len as i64;
        let bands = self.levels - k + 2;
        let params = Params {
            len_in: self.lens[k] as u32,
            len_out: self.lens[k - 1] as u32,
            first_band: (k - 1) as u32,
            hi_band: (k - 1) as u32,
            start: self.circular_start(-s * (l / 2)),
            stride: s as u32,
            lo_off: 2 * self.taps_len as u32,
            hi_off: 3 * self.taps_len as u32,
            ..self.base()
        };
        Step {
            stage: Stage::Synthesis,
            reads: self.buffer_of(k),
            params,
            groups: [groups(self.lens[k - 1]), bands as u32, 1],
        }
    }

    /// A MODWT filter offset reduced into `0..slot`, so the shader's index
    /// `(t + start + stride·k) mod len` stays in unsigned arithmetic.
    fn circular_start(&self, start: i64) -> u32 {
        start.rem_euclid(self.slot as i64) as u32
    }
}

/// Workgroups covering `len` outputs; the shaders skip the rounded-up tail.
fn groups(len: usize) -> u32 {
    (len as u32).div_ceil(WORKGROUP)
}

/// `[analysis lo, analysis hi, synthesis lo, synthesis hi]` in the order each
/// shader reads them.
fn taps(w: &Wavelet, kind: MraKind, mode: Mode) -> Vec<f32> {
    let narrow = |f: &[f64], scale: f64, reverse: bool| -> Vec<f32> {
        let mut v: Vec<f32> = f.iter().map(|c| (c * scale) as f32).collect();
        if reverse {
            v.reverse();
        }
        v
    };
    let parts = match kind {
        // the MODWT filters are the DWT's divided by √2
        MraKind::Modwt => {
            let s = std::f64::consts::FRAC_1_SQRT_2;
            [
                narrow(w.dec_lo(), s, true),
                narrow(w.dec_hi(), s, true),
                narrow(w.dec_lo(), s, false),
                narrow(w.dec_hi(), s, false),
            ]
        }
        // periodization synthesis is the transpose of its analysis: decomposition taps
        MraKind::Dwt if mode == Mode::Periodization => {
            let d = [
                narrow(w.dec_lo(), 1.0, false),
                narrow(w.dec_hi(), 1.0, false),
            ];
            [d[0].clone(), d[1].clone(), d[0].clone(), d[1].clone()]
        }
        MraKind::Dwt => [
            narrow(w.dec_lo(), 1.0, false),
            narrow(w.dec_hi(), 1.0, false),
            narrow(w.rec_lo(), 1.0, false),
            narrow(w.rec_hi(), 1.0, false),
        ],
    };
    parts.concat()
}

/// The level subtracted before the f32 narrowing: the first sample, unless the DWT
/// extends with values that do not follow a shift of the signal (zero,
/// antisymmetric), where subtracting would change the result.
fn reference_level(kind: MraKind, mode: Mode, x: &[f64]) -> f64 {
    match (kind, mode) {
        (MraKind::Dwt, Mode::Zero | Mode::Antisymmetric) => 0.0,
        _ => x[0],
    }
}

/// The shader's code for a mode (see `extended` in `shaders/analysis.comp`).
fn mode_code(mode: Mode) -> u32 {
    Mode::ALL.iter().position(|&m| m == mode).unwrap_or(0) as u32
}

/// `x` extended by `pad` samples on each side with PyWavelets' rule for `mode`, in
/// f64. The reference library keeps its `Mode::extend` private, so the rule is
/// restated here; the agreement tests run every mode through both paths.
fn extend(mode: Mode, x: &[f64], pad: usize, out: &mut Vec<f64>) {
    let n = x.len() as i64;
    out.extend((-(pad as i64)..0).map(|i| outside(mode, x, i)));
    out.extend_from_slice(x);
    out.extend((n..n + pad as i64).map(|i| outside(mode, x, i)));
}

/// The extended value at `i` outside `0..x.len()`, as `waveplot_wavelet::Mode`.
fn outside(mode: Mode, x: &[f64], i: i64) -> f64 {
    let n = x.len() as i64;
    let (first, last) = (x[0], x[x.len() - 1]);
    let at = |k: i64| x[k as usize];
    match mode {
        Mode::Zero => 0.0,
        Mode::Constant => edge(first, last, i),
        Mode::Smooth if n < 2 => edge(first, last, i),
        Mode::Reflect | Mode::Antireflect if n < 2 => first,
        Mode::Symmetric => {
            let m = i.rem_euclid(2 * n);
            at(if m < n { m } else { 2 * n - 1 - m })
        }
        Mode::Antisymmetric => {
            let m = i.rem_euclid(2 * n);
            if m < n { at(m) } else { -at(2 * n - 1 - m) }
        }
        Mode::Reflect => {
            let m = i.rem_euclid(2 * n - 2);
            at(if m < n { m } else { 2 * n - 2 - m })
        }
        Mode::Periodic | Mode::Periodization => at(i.rem_euclid(n)),
        Mode::Smooth if i < 0 => first + (-i) as f64 * (first - x[1]),
        Mode::Smooth => last + (i - n + 1) as f64 * (last - x[x.len() - 2]),
        Mode::Antireflect => {
            let period = 2 * n - 2;
            let (q, r) = (i.div_euclid(period), i.rem_euclid(period));
            let base = if r < n {
                at(r)
            } else {
                2.0 * last - at(2 * n - 2 - r)
            };
            base + 2.0 * q as f64 * (last - first)
        }
    }
}

fn edge(first: f64, last: f64, i: i64) -> f64 {
    if i < 0 { first } else { last }
}
