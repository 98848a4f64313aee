//! A JPEG decoder whose output equals libjpeg-turbo's defaults (the decoder inside
//! Pillow): the accurate integer IDCT (`jpeg_idct_islow`), "fancy" triangle chroma
//! upsampling and the fixed-point YCbCr→RGB tables. The `image` crate's decoder rounds
//! differently, which moves pixels by a few levels and breaks parity with the reference.
//!
//! Handles Huffman-coded JPEGs with 8-bit samples, one (grey) or three (YCbCr) components
//! and 1x1/2x1/1x2/2x2 luma sampling over 1x1 chroma: sequential files (one interleaved
//! scan or several, components in the order each scan header lists them) and progressive
//! files. Anything else (CMYK, RGB-coded, arithmetic, 12-bit) returns `Ok(None)` so the
//! caller can fall back to the general decoder.
//!
//! Hostile input is bounded before any per-block work: at most [`MAX_SCANS`] scans
//! (counted over the whole file first), and every buffer the decode will hold, counted
//! at its peak, must fit the caller's allocation limit.

use super::decode::RgbImage;
use crate::error::{Error, Result};

/// Most scans a file may have. libjpeg-turbo has the same kind of cap (TurboJPEG's
/// `TJPARAM_SCANLIMIT`, djpeg's `-maxscans`), and its own fuzz targets set it to 500,
/// the value adopted here. Real encoders write about 10 progressive scans (libjpeg's
/// default script) and rarely more than a few dozen, while a crafted file can repeat
/// empty refinement scans thousands of times, each of which walks every block.
pub(crate) const MAX_SCANS: usize = 500;

/// Counts what a decode did, so tests can show that a hostile file is refused before
/// any per-block work.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Work {
    /// Scans entered.
    pub scans: u64,
    /// Blocks entropy-decoded (blocks skipped after the data ran out are not counted).
    pub blocks: u64,
    /// Peak bytes held in the decoder's buffers.
    pub peak_bytes: u64,
}

/// The decoder's buffers, counted against the caller's allocation limit before each
/// allocation.
struct Budget {
    limit: u64,
    used: u64,
    peak: u64,
}

fn over_budget(need: u64, limit: u64) -> Error {
    Error::invalid(format!(
        "JPEG needs {need} bytes of decoder buffers, over the limit of {limit}"
    ))
}

impl Budget {
    fn take(&mut self, bytes: u64) -> Result<()> {
        let used = self
            .used
            .checked_add(bytes)
            .filter(|&u| u <= self.limit)
            .ok_or_else(|| over_budget(self.used.saturating_add(bytes), self.limit))?;
        self.used = used;
        self.peak = self.peak.max(used);
        Ok(())
    }

    fn vec<T: Clone>(&mut self, n: usize, fill: T) -> Result<Vec<T>> {
        let bytes = (n as u64)
            .checked_mul(std::mem::size_of::<T>() as u64)
            .ok_or_else(|| over_budget(u64::MAX, self.limit))?;
        self.take(bytes)?;
        Ok(vec![fill; n])
    }

    fn free<T>(&mut self, v: Vec<T>) {
        self.used = self
            .used
            .saturating_sub((v.len() * std::mem::size_of::<T>()) as u64);
    }
}

const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

fn corrupt(what: &str) -> Error {
    Error::invalid(format!("corrupt JPEG: {what}"))
}

/// Codes up to this many bits are decoded with one table lookup.
const LOOKUP_BITS: u32 = 9;

#[derive(Clone)]
struct Huffman {
    /// For each code length 1..=16: (first code, number of codes, offset into `values`).
    lengths: [(i32, i32, usize); 17],
    values: Vec<u8>,
    /// Indexed by the next `LOOKUP_BITS` bits: (code length, value); length 0 = longer code.
    lookup: Vec<(u8, u8)>,
}

impl Huffman {
    fn new(counts: &[u8], values: &[u8]) -> Result<Self> {
        let mut lengths = [(0, 0, 0); 17];
        let mut code = 0i32;
        let mut offset = 0usize;
        for len in 1..=16 {
            let n = counts[len - 1] as i32;
            lengths[len] = (code, n, offset);
            code = (code + n) << 1;
            offset += n as usize;
            if code > (1 << (len + 1)) {
                return Err(corrupt("bad Huffman table"));
            }
        }
        if offset != values.len() {
            return Err(corrupt("bad Huffman table size"));
        }
        let mut lookup = vec![(0u8, 0u8); 1 << LOOKUP_BITS];
        for (len, &(first, n, offset)) in lengths
            .iter()
            .enumerate()
            .take(LOOKUP_BITS as usize + 1)
            .skip(1)
        {
            for i in 0..n {
                let code = (first + i) as usize;
                let shift = LOOKUP_BITS as usize - len;
                for fill in 0..1usize << shift {
                    lookup[(code << shift) | fill] = (len as u8, values[offset + i as usize]);
                }
            }
        }
        Ok(Huffman {
            lengths,
            values: values.to_vec(),
            lookup,
        })
    }
}

struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u32,
    nbits: u32,
    /// A marker was reached: libjpeg then feeds zero bits.
    hit_marker: bool,
    /// Bits read from the data and bits consumed since the last restart: consuming more
    /// than was read is libjpeg's `insufficient_data`.
    real: u64,
    used: u64,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits {
            data,
            pos: 0,
            acc: 0,
            nbits: 0,
            hit_marker: false,
            real: 0,
            used: 0,
        }
    }

    fn fill(&mut self) {
        while self.nbits <= 24 {
            let mut byte = 0u8;
            if !self.hit_marker && self.pos < self.data.len() {
                let b = self.data[self.pos];
                if b == 0xFF {
                    match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                            self.real += 8;
                        }
                        _ => self.hit_marker = true,
                    }
                } else {
                    byte = b;
                    self.pos += 1;
                    self.real += 8;
                }
            } else {
                self.hit_marker = true;
            }
            self.acc |= (byte as u32) << (24 - self.nbits);
            self.nbits += 8;
        }
    }

    /// The data of this restart interval ran out and zero bits were fed in its place.
    /// libjpeg then leaves every later unit of the interval as it is.
    fn exhausted(&self) -> bool {
        self.used > self.real
    }

    fn bit(&mut self) -> i32 {
        if self.nbits == 0 {
            self.fill();
        }
        let b = (self.acc >> 31) as i32;
        self.acc <<= 1;
        self.nbits -= 1;
        self.used += 1;
        b
    }

    fn bits(&mut self, n: u32) -> i32 {
        if n == 0 {
            return 0;
        }
        if self.nbits < n {
            self.fill();
        }
        let v = (self.acc >> (32 - n)) as i32;
        self.acc <<= n;
        self.nbits -= n;
        self.used += n as u64;
        v
    }

    fn decode(&mut self, h: &Huffman) -> Result<u8> {
        if self.nbits < LOOKUP_BITS {
            self.fill();
        }
        let (len, value) = h.lookup[(self.acc >> (32 - LOOKUP_BITS)) as usize];
        if len > 0 {
            self.acc <<= len;
            self.nbits -= len as u32;
            self.used += len as u64;
            return Ok(value);
        }
        let mut code = 0i32;
        for len in 1..=16 {
            code = (code << 1) | self.bit();
            let (first, n, offset) = h.lengths[len];
            let d = code - first;
            if (0..n).contains(&d) {
                return h
                    .values
                    .get(offset + d as usize)
                    .copied()
                    .ok_or_else(|| corrupt("bad Huffman code"));
            }
        }
        Err(corrupt("bad Huffman code"))
    }

    /// Position of the next marker that is not a stuffed `FF 00`, and whether it is a
    /// restart marker (`FF D0`..`FF D7`).
    fn next_marker(&self) -> (usize, bool) {
        let mut p = self.pos;
        while p + 1 < self.data.len() {
            if self.data[p] == 0xFF && self.data[p + 1] != 0 && self.data[p + 1] != 0xFF {
                return (p, (0xD0..=0xD7).contains(&self.data[p + 1]));
            }
            p += 1;
        }
        (self.data.len(), false)
    }

    /// Drops buffered bits and skips a restart marker if one is next (after any garbage
    /// bytes). As in libjpeg, the out-of-data state only clears when a restart marker was
    /// actually consumed; any other marker is left for the next segment to meet.
    fn restart(&mut self) {
        self.acc = 0;
        self.nbits = 0;
        self.hit_marker = false;
        let (p, rst) = self.next_marker();
        self.pos = p;
        if rst {
            self.pos += 2;
            self.real = 0;
            self.used = 0;
        }
    }

    /// After the data ran out with no restart marker ahead, no later unit of the scan
    /// can read anything: libjpeg leaves them all untouched.
    fn dead(&self) -> bool {
        self.exhausted() && !self.next_marker().1
    }
}

fn extend(v: i32, s: u32) -> i32 {
    if s == 0 {
        0
    } else if v < (1 << (s - 1)) {
        v - (1 << s) + 1
    } else {
        v
    }
}

#[derive(Clone)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Samples per row / rows of the component's plane, padded to whole blocks.
    stride: usize,
    rows: usize,
    /// Real (unpadded) size: libjpeg's `downsampled_width/height`.
    width: usize,
    height: usize,
    plane: Vec<u8>,
    dc_table: usize,
    ac_table: usize,
    pred: i32,
    /// The quantisation table as it stood at the component's first scan: libjpeg latches
    /// it then, so a later DQT redefining the slot does not change this component.
    q: Option<[u16; 64]>,
    /// A sequential scan has decoded this component.
    scanned: bool,
}

/// libjpeg's post-IDCT range limit: `x` is masked to 10 bits then mapped to `x + 128`
/// clamped to 0..=255 (with the same wrap-around for absurd values).
#[inline]
fn idct_limit(x: i64) -> u8 {
    let m = (x & 1023) as i32;
    if m < 128 {
        (m + 128) as u8
    } else if m < 512 {
        255
    } else if m < 896 {
        0
    } else {
        (m - 896) as u8
    }
}

/// `jpeg_idct_islow` (CONST_BITS 13, PASS1_BITS 2) on dequantised coefficients.
fn idct_islow(coef: &[i16; 64], q: &[u16; 64], out: &mut [u8], stride: usize) {
    const CB: u32 = 13;
    const P1: u32 = 2;
    const F0_298: i64 = 2446;
    const F0_390: i64 = 3196;
    const F0_541: i64 = 4433;
    const F0_765: i64 = 6270;
    const F0_899: i64 = 7373;
    const F1_175: i64 = 9633;
    const F1_501: i64 = 12299;
    const F1_847: i64 = 15137;
    const F1_961: i64 = 16069;
    const F2_053: i64 = 16819;
    const F2_562: i64 = 20995;
    const F3_072: i64 = 25172;
    let descale = |x: i64, n: u32| (x + (1i64 << (n - 1))) >> n;
    let mut ws = [0i32; 64];
    for c in 0..8 {
        let dq = |r: usize| coef[r * 8 + c] as i64 * q[r * 8 + c] as i64;
        if (1..8).all(|r| coef[r * 8 + c] == 0) {
            let dc = (dq(0) << P1) as i32;
            for r in 0..8 {
                ws[r * 8 + c] = dc;
            }
            continue;
        }
        let (z2, z3) = (dq(2), dq(6));
        let z1 = (z2 + z3) * F0_541;
        let tmp2 = z1 + z3 * -F1_847;
        let tmp3 = z1 + z2 * F0_765;
        let (z2, z3) = (dq(0), dq(4));
        let tmp0 = (z2 + z3) << CB;
        let tmp1 = (z2 - z3) << CB;
        let (t10, t13, t11, t12) = (tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2);
        let (o0, o1, o2, o3) = odd(dq(7), dq(5), dq(3), dq(1));
        let n = CB - P1;
        ws[c] = descale(t10 + o3, n) as i32;
        ws[7 * 8 + c] = descale(t10 - o3, n) as i32;
        ws[8 + c] = descale(t11 + o2, n) as i32;
        ws[6 * 8 + c] = descale(t11 - o2, n) as i32;
        ws[2 * 8 + c] = descale(t12 + o1, n) as i32;
        ws[5 * 8 + c] = descale(t12 - o1, n) as i32;
        ws[3 * 8 + c] = descale(t13 + o0, n) as i32;
        ws[4 * 8 + c] = descale(t13 - o0, n) as i32;
    }
    fn odd(t0: i64, t1: i64, t2: i64, t3: i64) -> (i64, i64, i64, i64) {
        let z1 = t0 + t3;
        let z2 = t1 + t2;
        let z3 = t0 + t2;
        let z4 = t1 + t3;
        let z5 = (z3 + z4) * F1_175;
        let t0 = t0 * F0_298;
        let t1 = t1 * F2_053;
        let t2 = t2 * F3_072;
        let t3 = t3 * F1_501;
        let z1 = z1 * -F0_899;
        let z2 = z2 * -F2_562;
        let z3 = z3 * -F1_961 + z5;
        let z4 = z4 * -F0_390 + z5;
        (t0 + z1 + z3, t1 + z2 + z4, t2 + z2 + z3, t3 + z1 + z4)
    }
    for r in 0..8 {
        let w = &ws[r * 8..r * 8 + 8];
        let o = &mut out[r * stride..r * stride + 8];
        if w[1..].iter().all(|&x| x == 0) {
            let v = idct_limit(descale(w[0] as i64, P1 + 3));
            o.fill(v);
            continue;
        }
        let (z2, z3) = (w[2] as i64, w[6] as i64);
        let z1 = (z2 + z3) * F0_541;
        let tmp2 = z1 + z3 * -F1_847;
        let tmp3 = z1 + z2 * F0_765;
        let tmp0 = (w[0] as i64 + w[4] as i64) << CB;
        let tmp1 = (w[0] as i64 - w[4] as i64) << CB;
        let (t10, t13, t11, t12) = (tmp0 + tmp3, tmp0 - tmp3, tmp1 + tmp2, tmp1 - tmp2);
        let (o0, o1, o2, o3) = odd(w[7] as i64, w[5] as i64, w[3] as i64, w[1] as i64);
        let n = CB + P1 + 3;
        o[0] = idct_limit(descale(t10 + o3, n));
        o[7] = idct_limit(descale(t10 - o3, n));
        o[1] = idct_limit(descale(t11 + o2, n));
        o[6] = idct_limit(descale(t11 - o2, n));
        o[2] = idct_limit(descale(t12 + o1, n));
        o[5] = idct_limit(descale(t12 - o1, n));
        o[3] = idct_limit(descale(t13 + o0, n));
        o[4] = idct_limit(descale(t13 - o0, n));
    }
}

/// Decodes a JPEG bit-exactly like libjpeg-turbo; `Ok(None)` for features this decoder
/// leaves to the general one (CMYK, RGB-coded, arithmetic, 12-bit, odd sampling).
///
/// `max_alloc` bounds the bytes held in the decoder's buffers (coefficients, planes,
/// upsampling rows, the RGB output) at their peak; a file needing more, or with more
/// than [`MAX_SCANS`] scans, is an [`Error::InvalidInput`] before any block is decoded.
pub(crate) fn decode(data: &[u8], max_alloc: u64) -> Result<Option<RgbImage>> {
    decode_counted(data, max_alloc, &mut Work::default())
}

/// Counts the scans (SOS markers) up to EOI by walking the segment structure, skipping
/// entropy-coded data. Stops early past `MAX_SCANS` or where the structure breaks (the
/// decoder then reports the damage itself).
fn count_scans(b: &[u8]) -> usize {
    let mut scans = 0;
    let mut i = 2;
    while scans <= MAX_SCANS {
        while i + 1 < b.len() && b[i] == 0xFF && b[i + 1] == 0xFF {
            i += 1;
        }
        let Some(&[0xFF, marker]) = b.get(i..i + 2) else {
            break;
        };
        i += 2;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let Some(len) = b
            .get(i..i + 2)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        else {
            break;
        };
        i += len.max(2);
        if marker == 0xDA {
            scans += 1;
            loop {
                match b.get(i..i + 2) {
                    None => return scans,
                    Some([0xFF, 0x00]) | Some([0xFF, 0xD0..=0xD7]) => i += 2,
                    Some([0xFF, 0xFF]) => i += 1,
                    Some([0xFF, _]) => break,
                    Some(_) => i += 1,
                }
            }
        }
    }
    scans
}

/// Peak bytes the decode will hold, from the frame alone, following the order in which
/// `decode_counted` allocates and frees: progressive files keep every coefficient (and
/// its non-zero map) through all scans, then turn one component at a time into samples,
/// freeing its coefficients; sequential files hold the sample planes; both then add the
/// RGB output and one upsampled row per component. `None` when a size overflows.
fn peak_bytes(comps: &[Component], width: usize, height: usize, progressive: bool) -> Option<u64> {
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let planes: Vec<u64> = comps
        .iter()
        .map(|c| (c.stride as u64).checked_mul(c.rows as u64))
        .collect::<Option<_>>()?;
    let plane_sum = planes.iter().try_fold(0u64, |a, &p| a.checked_add(p))?;
    // Grey output is copied straight from its plane, without upsampled rows.
    let rows = comps
        .iter()
        .skip(usize::from(comps.len() == 1))
        .try_fold(0u64, |a, c| {
            a.checked_add((c.width as u64).checked_mul((hmax / c.h) as u64)?)
        })?;
    let rgb = (width as u64).checked_mul(height as u64)?.checked_mul(3)?;
    let output = plane_sum.checked_add(rgb)?.checked_add(rows)?;
    if !progressive {
        return Some(output);
    }
    // Per component: 2 bytes per coefficient plus an 8-byte map per 64-coefficient block.
    let coef = |p: u64| p.checked_mul(2)?.checked_add(p / 64 * 8);
    let mut held = planes
        .iter()
        .try_fold(0u64, |a, &p| a.checked_add(coef(p)?))?;
    let mut peak = held;
    for &p in &planes {
        held = held.checked_add(p)?;
        peak = peak.max(held);
        held -= coef(p)?;
    }
    Some(peak.max(output))
}

fn too_many_scans() -> Error {
    Error::invalid(format!(
        "JPEG has more than {MAX_SCANS} scans (the limit, against progressive-scan bombs)"
    ))
}

fn decode_counted(data: &[u8], max_alloc: u64, work: &mut Work) -> Result<Option<RgbImage>> {
    if count_scans(data) > MAX_SCANS {
        return Err(too_many_scans());
    }
    let mut budget = Budget {
        limit: max_alloc,
        used: 0,
        peak: 0,
    };
    let result = decode_inner(data, &mut budget, work);
    work.peak_bytes = budget.peak;
    result
}

fn decode_inner(data: &[u8], budget: &mut Budget, work: &mut Work) -> Result<Option<RgbImage>> {
    let mut qt = [[0u16; 64]; 4];
    let mut qt_defined = [false; 4];
    let mut dc_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut comps: Vec<Component> = Vec::new();
    let (mut width, mut height) = (0usize, 0usize);
    let mut restart_interval = 0usize;
    let mut adobe_transform: Option<u8> = None;
    let mut saw_jfif = false;
    let mut decoded = false;
    let mut progressive = false;
    let mut coefs: Vec<Vec<i16>> = Vec::new();
    let mut nonzero: Vec<Vec<u64>> = Vec::new();
    let mut i = 2;
    loop {
        while i < data.len() && data[i] == 0xFF && data.get(i + 1) == Some(&0xFF) {
            i += 1;
        }
        if i + 1 >= data.len() || data[i] != 0xFF {
            return Err(corrupt("expected a marker"));
        }
        let marker = data[i + 1];
        i += 2;
        match marker {
            0xD9 => break,
            0x01 | 0xD0..=0xD7 => continue,
            _ => {}
        }
        let len = data
            .get(i..i + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| corrupt("truncated segment"))?;
        let seg = data
            .get(i + 2..i + len.max(2))
            .ok_or_else(|| corrupt("truncated segment"))?;
        i += len.max(2);
        match marker {
            // Anything but baseline/extended sequential Huffman goes to the general decoder.
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => return Ok(None),
            0xC0..=0xC2 => {
                progressive = marker == 0xC2;
                if seg.len() < 6 || seg[0] != 8 || !comps.is_empty() {
                    return Ok(None);
                }
                height = u16::from_be_bytes([seg[1], seg[2]]) as usize;
                width = u16::from_be_bytes([seg[3], seg[4]]) as usize;
                let n = seg[5] as usize;
                if !(n == 1 || n == 3) || seg.len() < 6 + 3 * n || height == 0 || width == 0 {
                    return Ok(None);
                }
                for c in 0..n {
                    let s = &seg[6 + 3 * c..9 + 3 * c];
                    let (h, v, tq) = ((s[1] >> 4) as usize, (s[1] & 15) as usize, s[2] as usize);
                    if !(1..=2).contains(&h) || !(1..=2).contains(&v) || tq > 3 {
                        return Ok(None);
                    }
                    comps.push(Component {
                        id: s[0],
                        h,
                        v,
                        tq,
                        stride: 0,
                        rows: 0,
                        width: 0,
                        height: 0,
                        plane: Vec::new(),
                        dc_table: 0,
                        ac_table: 0,
                        pred: 0,
                        q: None,
                        scanned: false,
                    });
                }
                if n == 1 {
                    // A lone component is never subsampled.
                    comps[0].h = 1;
                    comps[0].v = 1;
                } else if comps[1..].iter().any(|c| c.h != 1 || c.v != 1) {
                    return Ok(None);
                }
                if comps
                    .iter()
                    .enumerate()
                    .any(|(k, c)| comps[..k].iter().any(|o| o.id == c.id))
                {
                    // libjpeg invents ids for duplicates; not modelled here.
                    return Ok(None);
                }
                geometry(&mut comps, width, height);
            }
            0xC4 => {
                let mut p = 0;
                while p < seg.len() {
                    let tc = seg[p] >> 4;
                    let th = (seg[p] & 15) as usize;
                    let counts = seg.get(p + 1..p + 17).ok_or_else(|| corrupt("short DHT"))?;
                    let total: usize = counts.iter().map(|&c| c as usize).sum();
                    let values = seg
                        .get(p + 17..p + 17 + total)
                        .ok_or_else(|| corrupt("short DHT"))?;
                    if th > 3 || tc > 1 {
                        return Err(corrupt("bad DHT"));
                    }
                    let table = Some(Huffman::new(counts, values)?);
                    if tc == 0 {
                        dc_tables[th] = table;
                    } else {
                        ac_tables[th] = table;
                    }
                    p += 17 + total;
                }
            }
            0xDB => {
                let mut p = 0;
                while p < seg.len() {
                    let pq = seg[p] >> 4;
                    let tq = (seg[p] & 15) as usize;
                    if tq > 3 || pq > 1 {
                        return Err(corrupt("bad DQT"));
                    }
                    for k in 0..64 {
                        let v = if pq == 0 {
                            *seg.get(p + 1 + k).ok_or_else(|| corrupt("short DQT"))? as u16
                        } else {
                            let b = seg
                                .get(p + 1 + 2 * k..p + 3 + 2 * k)
                                .ok_or_else(|| corrupt("short DQT"))?;
                            u16::from_be_bytes([b[0], b[1]])
                        };
                        qt[tq][ZIGZAG[k]] = v;
                    }
                    qt_defined[tq] = true;
                    p += 1 + 64 * (1 + pq as usize);
                }
            }
            0xDD => {
                if seg.len() < 2 {
                    return Err(corrupt("bad DRI"));
                }
                restart_interval = u16::from_be_bytes([seg[0], seg[1]]) as usize;
            }
            0xE0 if seg.starts_with(b"JFIF\0") => saw_jfif = true,
            0xEE if seg.starts_with(b"Adobe") && seg.len() >= 12 => {
                adobe_transform = Some(seg[11]);
            }
            0xDA => {
                if comps.is_empty() {
                    return Err(corrupt("scan before the frame header"));
                }
                // libjpeg's colour-space guess: RGB-coded files are left to the fallback.
                if comps.len() == 3 {
                    let rgb_ids = comps.iter().map(|c| c.id).eq([b'R', b'G', b'B']);
                    if !saw_jfif
                        && (adobe_transform == Some(0) || (adobe_transform.is_none() && rgb_ids))
                    {
                        return Ok(None);
                    }
                }
                let ns = *seg.first().ok_or_else(|| corrupt("bad SOS"))? as usize;
                if ns == 0 || ns > comps.len() || seg.len() < 1 + 2 * ns + 3 {
                    return Err(corrupt("bad SOS"));
                }
                // The scan's own component order (its Cs selectors), not the frame's.
                let mut scan = Vec::with_capacity(ns);
                for k in 0..ns {
                    let cid = seg[1 + 2 * k];
                    let t = seg[2 + 2 * k];
                    let ci = comps
                        .iter()
                        .position(|c| c.id == cid)
                        .ok_or_else(|| corrupt("scan names an unknown component"))?;
                    if scan.contains(&ci) {
                        // Also renamed by libjpeg; left to the general decoder.
                        return Ok(None);
                    }
                    comps[ci].dc_table = (t >> 4) as usize & 3;
                    comps[ci].ac_table = (t & 15) as usize & 3;
                    scan.push(ci);
                }
                let (ss, se, ahal) = (seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]);
                if !progressive && (ss != 0 || se != 63 || ahal != 0) {
                    return Ok(None);
                }
                if !progressive
                    && !decoded
                    && ns == comps.len()
                    && scan.iter().enumerate().any(|(k, &ci)| k != ci)
                {
                    // A first scan of every component makes libjpeg decode in one pass,
                    // which refuses a scan order other than the frame's.
                    return Err(corrupt("the scan lists the components out of frame order"));
                }
                if !progressive && scan.iter().any(|&ci| comps[ci].scanned) {
                    // A component coded twice sequentially: libjpeg merges the two into
                    // one coefficient buffer, which this decoder does not model.
                    return Ok(None);
                }
                if !decoded {
                    // Every buffer of the decode is counted before the first is allocated.
                    let need = peak_bytes(&comps, width, height, progressive)
                        .ok_or_else(|| over_budget(u64::MAX, budget.limit))?;
                    if need > budget.limit {
                        return Err(over_budget(need, budget.limit));
                    }
                    if progressive {
                        for c in &comps {
                            let n = c.stride * c.rows;
                            coefs.push(budget.vec(n, 0i16)?);
                            nonzero.push(budget.vec(n / 64, 0u64)?);
                        }
                    } else {
                        for c in comps.iter_mut() {
                            // An all-zero block comes out of the IDCT as 128: blocks the
                            // data never reaches stay that grey, as in libjpeg.
                            c.plane = budget.vec(c.stride * c.rows, 128u8)?;
                        }
                    }
                }
                // libjpeg latches each component's table at its first scan.
                for &ci in &scan {
                    let c = &mut comps[ci];
                    if c.q.is_none() {
                        if !qt_defined[c.tq] {
                            return Err(corrupt("missing quantisation table"));
                        }
                        c.q = Some(qt[c.tq]);
                    }
                }
                // Already refused by the count up front; kept as the decoder's own bound.
                if work.scans >= MAX_SCANS as u64 {
                    return Err(too_many_scans());
                }
                work.scans += 1;
                let used = if progressive {
                    let p = ScanParams {
                        ss: ss as usize,
                        se: se as usize,
                        ah: (ahal >> 4) as u32,
                        al: (ahal & 15) as u32,
                    };
                    decode_progressive_scan(
                        &data[i..],
                        &mut comps,
                        &mut coefs,
                        &mut nonzero,
                        &scan,
                        p,
                        &dc_tables,
                        &ac_tables,
                        restart_interval,
                        width,
                        height,
                        work,
                    )?
                } else {
                    for &ci in &scan {
                        comps[ci].scanned = true;
                    }
                    decode_scan(
                        &data[i..],
                        &mut comps,
                        &scan,
                        width,
                        height,
                        &dc_tables,
                        &ac_tables,
                        restart_interval,
                        work,
                    )?
                };
                i += used;
                decoded = true;
                // Skip to the next marker after the entropy-coded data.
                while i + 1 < data.len()
                    && !(data[i] == 0xFF
                        && data[i + 1] != 0
                        && !(0xD0..=0xD7).contains(&data[i + 1]))
                {
                    i += 1;
                }
            }
            _ => {}
        }
    }
    if !decoded {
        return Err(corrupt("no image data"));
    }
    if progressive {
        for (c, (coef, nz)) in comps.iter_mut().zip(coefs.into_iter().zip(nonzero)) {
            // A component no scan covered has no latched table: libjpeg's zeroed
            // multiplier table makes it grey, like all-zero coefficients do.
            let q = c.q.unwrap_or([0; 64]);
            c.plane = budget.vec(c.stride * c.rows, 0u8)?;
            let blocks_w = c.stride / 8;
            let mut block = [0i16; 64];
            for (b, chunk) in coef.chunks_exact(64).enumerate() {
                block.copy_from_slice(chunk);
                let (bx, by) = (b % blocks_w, b / blocks_w);
                let off = by * 8 * c.stride + bx * 8;
                idct_islow(&block, &q, &mut c.plane[off..], c.stride);
            }
            budget.free(coef);
            budget.free(nz);
        }
    }
    Ok(Some(to_rgb(&comps, width, height, budget)?))
}

/// Sizes every component's plane to whole MCUs (libjpeg's block grid) and records its
/// real size; nothing is allocated yet.
fn geometry(comps: &mut [Component], width: usize, height: usize) {
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let (mcux, mcuy) = (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax));
    for c in comps.iter_mut() {
        c.width = (width * c.h).div_ceil(hmax);
        c.height = (height * c.v).div_ceil(vmax);
        c.stride = mcux * c.h * 8;
        c.rows = mcuy * c.v * 8;
    }
}

/// The unit grid a scan walks: interleaved scans walk MCUs of the frame, each holding
/// `h x v` blocks of every component; a single-component scan walks that component's
/// real blocks one at a time. Returns (units per row, total units).
fn scan_grid(comps: &[Component], scan: &[usize], width: usize, height: usize) -> (usize, usize) {
    if scan.len() > 1 {
        let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
        let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
        let mx = width.div_ceil(8 * hmax);
        (mx, mx * height.div_ceil(8 * vmax))
    } else {
        let c = &comps[scan[0]];
        let bw = c.width.div_ceil(8);
        (bw, bw * c.height.div_ceil(8))
    }
}

#[derive(Clone, Copy)]
struct ScanParams {
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

/// One scan of a progressive JPEG into the coefficient buffers (`coefs[c]` holds 64
/// natural-order coefficients per block of component `c`, `nonzero[c]` one bit per
/// zigzag position that holds a non-zero coefficient), following libjpeg's `jdphuff.c`:
/// DC first/refine, AC first/refine with end-of-band runs.
#[allow(clippy::too_many_arguments)]
fn decode_progressive_scan(
    data: &[u8],
    comps: &mut [Component],
    coefs: &mut [Vec<i16>],
    nonzero: &mut [Vec<u64>],
    scan: &[usize],
    p: ScanParams,
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
    width: usize,
    height: usize,
    work: &mut Work,
) -> Result<usize> {
    let dc_scan = p.ss == 0;
    if p.se > 63
        || p.ss > p.se
        || p.al > 13
        || (dc_scan && p.se != 0)
        || (!dc_scan && scan.len() != 1)
    {
        return Err(corrupt("bad progressive scan parameters"));
    }
    for &ci in scan {
        let c = &comps[ci];
        if dc_scan && p.ah == 0 && dc_tables[c.dc_table].is_none() {
            return Err(corrupt("missing DC table"));
        }
        if !dc_scan && ac_tables[c.ac_table].is_none() {
            return Err(corrupt("missing AC table"));
        }
    }
    let (units_w, total) = scan_grid(comps, scan, width, height);
    let mut bits = Bits::new(data);
    let mut eobrun = 0u32;
    for &ci in scan {
        comps[ci].pred = 0;
    }
    let mut m = 0;
    while m < total {
        if restart_interval > 0 && m > 0 && m % restart_interval == 0 {
            bits.restart();
            eobrun = 0;
            for &ci in scan {
                comps[ci].pred = 0;
            }
        }
        if bits.exhausted() {
            // libjpeg leaves the rest of the interval untouched; with no restart marker
            // ahead that is the rest of the scan, so an empty scan costs nothing.
            if restart_interval == 0 || bits.dead() {
                break;
            }
            m = (m / restart_interval + 1) * restart_interval;
            continue;
        }
        let (ux, uy) = (m % units_w, m / units_w);
        for &ci in scan {
            let c = &mut comps[ci];
            let blocks_w = c.stride / 8;
            let (bh, bv) = if scan.len() > 1 { (c.h, c.v) } else { (1, 1) };
            for v in 0..bv {
                for h in 0..bh {
                    let (bx, by) = (ux * bh + h, uy * bv + v);
                    let b = by * blocks_w + bx;
                    let block = coefs[ci]
                        .get_mut(b * 64..b * 64 + 64)
                        .ok_or_else(|| corrupt("block outside the image"))?;
                    let nz = nonzero[ci]
                        .get_mut(b)
                        .ok_or_else(|| corrupt("block outside the image"))?;
                    work.blocks += 1;
                    if dc_scan {
                        if p.ah == 0 {
                            let dc = dc_tables[c.dc_table]
                                .as_ref()
                                .ok_or_else(|| corrupt("missing DC table"))?;
                            let s = bits.decode(dc)? as u32;
                            if s > 16 {
                                return Err(corrupt("bad DC size"));
                            }
                            c.pred = c.pred.wrapping_add(extend(bits.bits(s), s));
                            block[0] = (c.pred.wrapping_shl(p.al)) as i16;
                        } else if bits.bit() != 0 {
                            block[0] |= 1 << p.al;
                        }
                        continue;
                    }
                    let ac = ac_tables[c.ac_table]
                        .as_ref()
                        .ok_or_else(|| corrupt("missing AC table"))?;
                    if p.ah == 0 {
                        ac_first(&mut bits, ac, block, nz, p, &mut eobrun)?;
                    } else {
                        ac_refine(&mut bits, ac, block, nz, p, &mut eobrun)?;
                    }
                }
            }
        }
        m += 1;
    }
    Ok(bits.pos)
}

/// Records whether the coefficient at zigzag position `k` is now non-zero.
#[inline]
fn mark(nz: &mut u64, k: usize, value: i16) {
    if value != 0 {
        *nz |= 1 << k;
    } else {
        *nz &= !(1 << k);
    }
}

fn ac_first(
    bits: &mut Bits,
    ac: &Huffman,
    block: &mut [i16],
    nz: &mut u64,
    p: ScanParams,
    eobrun: &mut u32,
) -> Result<()> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(());
    }
    let mut k = p.ss;
    while k <= p.se {
        let rs = bits.decode(ac)?;
        let (r, s) = ((rs >> 4) as u32, (rs & 15) as u32);
        if s != 0 {
            k += r as usize;
            if k > 63 {
                return Err(corrupt("coefficient index out of range"));
            }
            let value = (extend(bits.bits(s), s).wrapping_shl(p.al)) as i16;
            block[ZIGZAG[k]] = value;
            mark(nz, k, value);
            k += 1;
        } else if r == 15 {
            k += 16;
        } else {
            *eobrun = (1 << r) - 1;
            if r > 0 {
                *eobrun += bits.bits(r) as u32;
            }
            break;
        }
    }
    Ok(())
}

fn ac_refine(
    bits: &mut Bits,
    ac: &Huffman,
    block: &mut [i16],
    nz: &mut u64,
    p: ScanParams,
    eobrun: &mut u32,
) -> Result<()> {
    let p1 = 1i16 << p.al;
    let m1 = (-1i16).wrapping_shl(p.al);
    // Adding p1 or m1 to a non-zero coefficient never makes it zero, so refinement
    // leaves the non-zero map as it is.
    let refine = |bits: &mut Bits, coef: &mut i16| {
        if bits.bit() != 0 && (*coef & p1) == 0 {
            *coef = if *coef >= 0 {
                coef.wrapping_add(p1)
            } else {
                coef.wrapping_add(m1)
            };
        }
    };
    let mut k = p.ss;
    if *eobrun == 0 {
        while k <= p.se {
            let rs = bits.decode(ac)?;
            let mut r = (rs >> 4) as i32;
            let s = (rs & 15) as u32;
            let mut value = 0i16;
            if s != 0 {
                value = if bits.bit() != 0 { p1 } else { m1 };
            } else if r != 15 {
                *eobrun = 1 << r;
                if r > 0 {
                    *eobrun += bits.bits(r as u32) as u32;
                }
                break;
            }
            // Skip r zero coefficients, refining the non-zero ones passed on the way.
            while k <= p.se {
                let coef = &mut block[ZIGZAG[k]];
                if *coef != 0 {
                    refine(bits, coef);
                } else {
                    r -= 1;
                    if r < 0 {
                        break;
                    }
                }
                k += 1;
            }
            if value != 0 {
                if k > 63 {
                    return Err(corrupt("coefficient index out of range"));
                }
                block[ZIGZAG[k]] = value;
                mark(nz, k, value);
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        // Inside an end-of-band run only the non-zero coefficients of the band read a
        // correction bit: visit just those, so a run over empty blocks costs O(1) each.
        if k <= p.se {
            let band = (u64::MAX << k) & (u64::MAX >> (63 - p.se));
            let mut todo = *nz & band;
            while todo != 0 {
                let j = todo.trailing_zeros() as usize;
                todo &= todo - 1;
                refine(bits, &mut block[ZIGZAG[j]]);
            }
        }
        *eobrun -= 1;
    }
    Ok(())
}

/// One sequential scan: its components in the scan header's order, each block decoded
/// and put through the IDCT with the component's latched table.
#[allow(clippy::too_many_arguments)]
fn decode_scan(
    data: &[u8],
    comps: &mut [Component],
    scan: &[usize],
    width: usize,
    height: usize,
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
    work: &mut Work,
) -> Result<usize> {
    for &ci in scan {
        let c = &comps[ci];
        if dc_tables[c.dc_table].is_none() {
            return Err(corrupt("missing DC table"));
        }
        if ac_tables[c.ac_table].is_none() {
            return Err(corrupt("missing AC table"));
        }
    }
    let (units_w, total) = scan_grid(comps, scan, width, height);
    let mut bits = Bits::new(data);
    let mut coef = [0i16; 64];
    for &ci in scan {
        comps[ci].pred = 0;
    }
    let mut m = 0;
    while m < total {
        if restart_interval > 0 && m > 0 && m % restart_interval == 0 {
            bits.restart();
            for &ci in scan {
                comps[ci].pred = 0;
            }
        }
        if bits.exhausted() {
            // libjpeg leaves the blocks of the rest of the interval at zero, i.e. grey,
            // which is what the planes start as.
            if restart_interval == 0 || bits.dead() {
                break;
            }
            m = (m / restart_interval + 1) * restart_interval;
            continue;
        }
        let (mx, my) = (m % units_w, m / units_w);
        for &ci in scan {
            let c = &mut comps[ci];
            let (Some(dc), Some(ac)) = (&dc_tables[c.dc_table], &ac_tables[c.ac_table]) else {
                return Err(corrupt("missing Huffman table"));
            };
            let q = c.q.unwrap_or([0; 64]);
            let (bh, bv) = if scan.len() > 1 { (c.h, c.v) } else { (1, 1) };
            for v in 0..bv {
                for h in 0..bh {
                    work.blocks += 1;
                    coef.fill(0);
                    let s = bits.decode(dc)? as u32;
                    if s > 16 {
                        return Err(corrupt("bad DC size"));
                    }
                    let diff = extend(bits.bits(s), s);
                    c.pred = c.pred.wrapping_add(diff);
                    coef[0] = c.pred as i16;
                    let mut k = 1;
                    while k < 64 {
                        let rs = bits.decode(ac)?;
                        let (r, s) = ((rs >> 4) as usize, (rs & 15) as u32);
                        if s != 0 {
                            k += r;
                            if k > 63 {
                                return Err(corrupt("coefficient index out of range"));
                            }
                            coef[ZIGZAG[k]] = extend(bits.bits(s), s) as i16;
                            k += 1;
                        } else if r == 15 {
                            k += 16;
                        } else {
                            break;
                        }
                    }
                    let bx = mx * bh + h;
                    let by = my * bv + v;
                    let off = by * 8 * c.stride + bx * 8;
                    if bx * 8 + 8 > c.stride || off + 7 * c.stride + 8 > c.plane.len() {
                        return Err(corrupt("block outside the image"));
                    }
                    idct_islow(&coef, &q, &mut c.plane[off..], c.stride);
                }
            }
        }
        m += 1;
    }
    Ok(bits.pos)
}

/// Output row `oy` of a component upsampled to the full sampling grid, libjpeg's
/// "fancy" way: each output sample mixes the nearest input 3:1 with its neighbour
/// (horizontally and/or vertically), with edges replicated. `out` holds
/// `c.width * hmax / c.h` samples.
fn upsample_row(c: &Component, hmax: usize, vmax: usize, oy: usize, out: &mut [u8]) {
    let (w, h) = (c.width, c.height);
    let at = |x: usize, y: usize| c.plane[y * c.stride + x] as i32;
    let (fx, fy) = (hmax / c.h, vmax / c.v);
    // The nearer input row and the one that the output row leans towards.
    let (y, ny, below) = if fy == 2 {
        let y = oy / 2;
        if oy.is_multiple_of(2) {
            (y, y.saturating_sub(1), false)
        } else {
            (y, (y + 1).min(h - 1), true)
        }
    } else {
        (oy, oy, false)
    };
    match (fx, fy) {
        (1, 1) => out[..w].copy_from_slice(&c.plane[oy * c.stride..oy * c.stride + w]),
        (2, 1) if w > 2 => {
            out[0] = at(0, y) as u8;
            out[1] = ((at(0, y) * 3 + at(1, y) + 2) >> 2) as u8;
            for x in 1..w - 1 {
                let v = at(x, y) * 3;
                out[2 * x] = ((v + at(x - 1, y) + 1) >> 2) as u8;
                out[2 * x + 1] = ((v + at(x + 1, y) + 2) >> 2) as u8;
            }
            out[2 * w - 2] = ((at(w - 1, y) * 3 + at(w - 2, y) + 1) >> 2) as u8;
            out[2 * w - 1] = at(w - 1, y) as u8;
        }
        (1, 2) => {
            let bias = if below { 2 } else { 1 };
            for (x, ov) in out[..w].iter_mut().enumerate() {
                *ov = ((at(x, y) * 3 + at(x, ny) + bias) >> 2) as u8;
            }
        }
        (2, 2) if w > 2 => {
            let col = |x: usize| at(x, y) * 3 + at(x, ny);
            out[0] = ((col(0) * 4 + 8) >> 4) as u8;
            out[1] = ((col(0) * 3 + col(1) + 7) >> 4) as u8;
            for x in 1..w - 1 {
                let this = col(x);
                out[2 * x] = ((this * 3 + col(x - 1) + 8) >> 4) as u8;
                out[2 * x + 1] = ((this * 3 + col(x + 1) + 7) >> 4) as u8;
            }
            out[2 * w - 2] = ((col(w - 1) * 3 + col(w - 2) + 8) >> 4) as u8;
            out[2 * w - 1] = ((col(w - 1) * 4 + 7) >> 4) as u8;
        }
        _ => {
            // Narrow images: plain replication, as libjpeg does below 3 columns.
            for (x, ov) in out[..w * fx].iter_mut().enumerate() {
                *ov = at(x / fx, oy / fy) as u8;
            }
        }
    }
}

fn to_rgb(
    comps: &[Component],
    width: usize,
    height: usize,
    budget: &mut Budget,
) -> Result<RgbImage> {
    let n = width
        .checked_mul(height)
        .and_then(|p| p.checked_mul(3))
        .ok_or_else(|| over_budget(u64::MAX, budget.limit))?;
    budget.take(n as u64)?;
    let mut out = Vec::with_capacity(n);
    if comps.len() == 1 {
        let c = &comps[0];
        for y in 0..height {
            for &v in &c.plane[y * c.stride..y * c.stride + width] {
                out.extend_from_slice(&[v, v, v]);
            }
        }
        return RgbImage::new(width as u32, height as u32, out);
    }
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    // One upsampled row per component, made as the output reaches it.
    let mut rows = Vec::with_capacity(3);
    for c in comps {
        rows.push(budget.vec(c.width * (hmax / c.h), 0u8)?);
    }
    // jdcolor.c's tables: 16-bit fixed point, rounded once per term.
    const SCALE: u32 = 16;
    const HALF: i64 = 1 << (SCALE - 1);
    let fix = |x: f64| (x * (1i64 << SCALE) as f64 + 0.5) as i64;
    let mut cr_r = [0i32; 256];
    let mut cb_b = [0i32; 256];
    let mut cr_g = [0i64; 256];
    let mut cb_g = [0i64; 256];
    for i in 0..256 {
        let x = i as i64 - 128;
        cr_r[i] = ((fix(1.40200) * x + HALF) >> SCALE) as i32;
        cb_b[i] = ((fix(1.77200) * x + HALF) >> SCALE) as i32;
        cr_g[i] = -fix(0.71414) * x;
        cb_g[i] = -fix(0.34414) * x + HALF;
    }
    let clamp = |v: i32| v.clamp(0, 255) as u8;
    for yy in 0..height {
        for (c, row) in comps.iter().zip(rows.iter_mut()) {
            upsample_row(c, hmax, vmax, yy, row);
        }
        let (ys, cb, cr) = (&rows[0], &rows[1], &rows[2]);
        for x in 0..width {
            let y = ys[x] as i32;
            let b = cb[x] as usize;
            let r = cr[x] as usize;
            out.push(clamp(y + cr_r[r]));
            out.push(clamp(y + ((cb_g[b] + cr_g[r]) >> SCALE) as i32));
            out.push(clamp(y + cb_b[b]));
        }
    }
    for row in rows {
        budget.free(row);
    }
    RgbImage::new(width as u32, height as u32, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A progressive file from bytes: `n` components (1x1 sampling, ids 1..=n), a DC
    /// first scan of all of them, then `refinements` AC refinement scans of component 1,
    /// every scan without entropy-coded data. The Huffman tables hold one 1-bit code.
    fn progressive_header(width: u16, height: u16, n: u8, refinements: usize, dri: u16) -> Vec<u8> {
        let mut b = vec![0xFF, 0xD8];
        b.extend_from_slice(&[0xFF, 0xDB, 0x00, 0x43, 0x00]);
        b.extend_from_slice(&[1u8; 64]);
        b.extend_from_slice(&[0xFF, 0xC2, 0x00, 8 + 3 * n, 8]);
        b.extend_from_slice(&height.to_be_bytes());
        b.extend_from_slice(&width.to_be_bytes());
        b.push(n);
        for id in 1..=n {
            b.extend_from_slice(&[id, 0x11, 0]);
        }
        for class in [0x00, 0x10] {
            b.extend_from_slice(&[0xFF, 0xC4, 0x00, 20, class, 1]);
            b.extend_from_slice(&[0u8; 15]);
            b.push(0x00);
        }
        if dri > 0 {
            b.extend_from_slice(&[0xFF, 0xDD, 0x00, 0x04]);
            b.extend_from_slice(&dri.to_be_bytes());
        }
        b.extend_from_slice(&[0xFF, 0xDA, 0x00, 6 + 2 * n, n]);
        for id in 1..=n {
            b.extend_from_slice(&[id, 0x00]);
        }
        b.extend_from_slice(&[0, 0, 0]);
        for _ in 0..refinements {
            b.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0x00, 1, 63, 0x10]);
        }
        b.extend_from_slice(&[0xFF, 0xD9]);
        b
    }

    #[test]
    fn too_many_scans_are_refused_before_any_block() {
        let file = progressive_header(8000, 8000, 1, 10_000, 0);
        assert!(file.len() < 110_000);
        let mut work = Work::default();
        let err = decode_counted(&file, u64::MAX, &mut work).unwrap_err();
        assert!(err.to_string().contains("more than 500 scans"), "{err}");
        assert_eq!(work, Work::default());
        // The cap itself: MAX_SCANS scans decode, one more does not.
        let ok = progressive_header(16, 16, 1, MAX_SCANS - 1, 0);
        assert!(decode(&ok, u64::MAX).unwrap().is_some());
        let over = progressive_header(16, 16, 1, MAX_SCANS, 0);
        assert!(decode(&over, u64::MAX).is_err());
    }

    #[test]
    fn a_64_megapixel_progressive_header_over_the_budget_is_refused_before_any_block() {
        let file = progressive_header(8000, 8000, 3, 0, 0);
        let mut work = Work::default();
        let err = decode_counted(&file, 400_000_000, &mut work).unwrap_err();
        // Coefficients (6 bytes per pixel), their non-zero maps and the first plane.
        assert!(
            err.to_string()
                .contains("needs 472000000 bytes of decoder buffers, over the limit of 400000000"),
            "{err}"
        );
        assert_eq!(work, Work::default());
    }

    /// The budget checked up front is exactly the peak the decode then holds: with that
    /// much it decodes, with one byte less it is refused before any block.
    #[test]
    fn planned_peak_equals_the_held_peak() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for name in [
            "jpeg/s420_33x17",
            "jpeg/s422_3x40",
            "jpeg/gray_29x21",
            "jpeg/s420_progressive_40x30",
            "jpeg/s444_progressive_33x17",
            "jpeg/gray_progressive_29x21",
            "jpeg/s440_patched_32x32",
            "jpeg_scans/seq_multiscan_y_crcb_444_33x17",
        ] {
            let file = std::fs::read(dir.join(format!("tests/data/{name}.jpg"))).unwrap();
            let mut work = Work::default();
            let img = decode_counted(&file, u64::MAX, &mut work).unwrap().unwrap();
            let peak = work.peak_bytes;
            assert!(peak >= img.data.len() as u64, "{name}");
            let mut again = Work::default();
            assert_eq!(
                decode_counted(&file, peak, &mut again).unwrap().unwrap(),
                img,
                "{name}"
            );
            let mut refused = Work::default();
            let err = decode_counted(&file, peak - 1, &mut refused).unwrap_err();
            assert!(err.to_string().contains("over the limit"), "{name}: {err}");
            assert_eq!(refused.blocks, 0, "{name}");
        }
    }

    /// Once a scan's data runs out with no restart marker ahead, libjpeg leaves the rest
    /// of the scan untouched: an empty scan decodes one block (from zero bits), whatever
    /// the image size or restart interval.
    #[test]
    fn empty_scans_decode_one_block_each() {
        for dri in [0, 1, 7] {
            let file = progressive_header(2048, 2048, 1, 400, dri);
            let mut work = Work::default();
            let img = decode_counted(&file, u64::MAX, &mut work).unwrap().unwrap();
            assert_eq!(work.scans, 401);
            assert_eq!(work.blocks, 401, "restart interval {dri}");
            assert!(img.data.iter().all(|&v| v == 128));
        }
    }
}
