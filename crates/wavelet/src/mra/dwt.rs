//! The decimated-DWT multiresolution analysis, exactly as `pywt.mra(x, w,
//! level=J, transform="dwt", mode=mode)`: band j is `waverec` of the `wavedec`
//! coefficients with every other band zeroed, trimmed to N.
//!
//! Zero bands are skipped rather than filtered, so each band costs one
//! synthesis chain from its own level down.

use crate::dwt::{Band, dwt_coeff_len, dwt_into, idwt_len, upsample_add};
use crate::filters::Wavelet;
use crate::mode::Mode;

/// Scratch and lengths for the DWT MRA of one signal length.
#[derive(Debug, Clone)]
pub(crate) struct DwtMra {
    wavelet: Wavelet,
    mode: Mode,
    /// `lens[k]`: coefficients per band at level k (`lens[0] = n`).
    lens: Vec<usize>,
    /// `cd[k - 1]`: detail coefficients of level k.
    cd: Vec<Vec<f64>>,
    approx: Vec<f64>,
    next: Vec<f64>,
    /// Second synthesis buffer, kept so reconstructions do not allocate.
    spare: Vec<f64>,
    ext: Vec<f64>,
    scratch: Vec<f64>,
}

impl DwtMra {
    pub(crate) fn new(n: usize, wavelet: &Wavelet, mode: Mode, levels: usize) -> DwtMra {
        let mut lens = vec![n];
        for k in 0..levels {
            lens.push(dwt_coeff_len(lens[k], wavelet.filter_len(), mode));
        }
        DwtMra {
            wavelet: wavelet.clone(),
            mode,
            cd: lens[1..].iter().map(|&l| vec![0.0; l]).collect(),
            lens,
            approx: Vec::with_capacity(n + wavelet.filter_len()),
            next: Vec::with_capacity(n + wavelet.filter_len()),
            spare: Vec::with_capacity(n + wavelet.filter_len()),
            ext: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Writes D_1..D_J into `details` and S_J into `smooth`.
    pub(crate) fn process(&mut self, x: &[f64], details: &mut [Vec<f64>], smooth: &mut [f64]) {
        let levels = self.cd.len();
        self.approx.clear();
        self.approx.extend_from_slice(x);
        for k in 1..=levels {
            self.next.clear();
            self.next.resize(self.lens[k], 0.0);
            let (w, mode) = (&self.wavelet, self.mode);
            dwt_into(
                &self.approx,
                w,
                mode,
                &mut self.ext,
                &mut self.next,
                &mut self.cd[k - 1],
            );
            std::mem::swap(&mut self.approx, &mut self.next);
        }
        let approx = std::mem::take(&mut self.approx);
        self.reconstruct(levels, &approx, Band::Approx, smooth);
        self.approx = approx;
        for (k, detail) in details.iter_mut().enumerate() {
            let cd = std::mem::take(&mut self.cd[k]);
            self.reconstruct(k + 1, &cd, Band::Detail, detail);
            self.cd[k] = cd;
        }
    }

    /// `waverec` of a coefficient list whose only non-zero band is `c` at `level`.
    fn reconstruct(&mut self, level: usize, c: &[f64], band: Band, out: &mut [f64]) {
        let f = self.wavelet.filter_len();
        let mut cur = std::mem::take(&mut self.next);
        cur.clear();
        cur.resize(idwt_len(c.len(), f, self.mode), 0.0);
        upsample_add(
            c,
            &self.wavelet,
            band,
            self.mode,
            &mut self.scratch,
            &mut cur,
        );
        let mut next = std::mem::take(&mut self.spare);
        for k in (1..level).rev() {
            // as waverec: drop the extra sample odd lengths leave behind
            if cur.len() == self.lens[k] + 1 {
                cur.truncate(self.lens[k]);
            }
            debug_assert_eq!(cur.len(), self.lens[k]);
            next.clear();
            next.resize(idwt_len(cur.len(), f, self.mode), 0.0);
            upsample_add(
                &cur,
                &self.wavelet,
                Band::Approx,
                self.mode,
                &mut self.scratch,
                &mut next,
            );
            std::mem::swap(&mut cur, &mut next);
        }
        out.copy_from_slice(&cur[..out.len()]);
        self.next = cur;
        self.spare = next;
    }
}
