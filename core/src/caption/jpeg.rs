//! A JPEG decoder whose output equals libjpeg-turbo's defaults (the decoder inside
//! Pillow): the accurate integer IDCT (`jpeg_idct_islow`), "fancy" triangle chroma
//! upsampling and the fixed-point YCbCr→RGB tables. The `image` crate's decoder rounds
//! differently, which moves pixels by a few levels and breaks parity with the reference.
//!
//! Handles Huffman-coded JPEGs with 8-bit samples, one (grey) or three (YCbCr) components
//! and 1x1/2x1/1x2/2x2 luma sampling over 1x1 chroma: sequential files in one interleaved
//! scan, and progressive files. Anything else (CMYK, RGB-coded, arithmetic, 12-bit,
//! multi-scan sequential) returns `Ok(None)` so the caller can fall back to the general
//! decoder.

use super::decode::RgbImage;
use crate::error::{Error, Result};

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
}

impl<'a> Bits<'a> {
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
                        }
                        _ => self.hit_marker = true,
                    }
                } else {
                    byte = b;
                    self.pos += 1;
                }
            }
            self.acc |= (byte as u32) << (24 - self.nbits);
            self.nbits += 8;
        }
    }

    fn bit(&mut self) -> i32 {
        if self.nbits == 0 {
            self.fill();
        }
        let b = (self.acc >> 31) as i32;
        self.acc <<= 1;
        self.nbits -= 1;
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

    /// Drops buffered bits and skips a restart marker (`FF D0`..`FF D7`) if one is next.
    fn restart(&mut self) {
        self.acc = 0;
        self.nbits = 0;
        self.hit_marker = false;
        while self.pos + 1 < self.data.len() {
            if self.data[self.pos] == 0xFF && (0xD0..=0xD7).contains(&self.data[self.pos + 1]) {
                self.pos += 2;
                return;
            }
            if self.data[self.pos] == 0xFF && self.data[self.pos + 1] != 0 {
                return;
            }
            self.pos += 1;
        }
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
pub(crate) fn decode(data: &[u8]) -> Result<Option<RgbImage>> {
    let mut qt = [[0u16; 64]; 4];
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
                    });
                }
                if n == 1 {
                    // A lone component is never subsampled.
                    comps[0].h = 1;
                    comps[0].v = 1;
                } else if comps[1..].iter().any(|c| c.h != 1 || c.v != 1) {
                    return Ok(None);
                }
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
                if (decoded && !progressive) || comps.is_empty() {
                    // A second sequential scan means a multi-scan file: not ours.
                    return Ok(None);
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
                if !progressive && ns != comps.len() {
                    return Ok(None);
                }
                let mut scan = Vec::with_capacity(ns);
                for k in 0..ns {
                    let cid = seg[1 + 2 * k];
                    let t = seg[2 + 2 * k];
                    let ci = comps
                        .iter()
                        .position(|c| c.id == cid)
                        .ok_or_else(|| corrupt("scan names an unknown component"))?;
                    comps[ci].dc_table = (t >> 4) as usize & 3;
                    comps[ci].ac_table = (t & 15) as usize & 3;
                    scan.push(ci);
                }
                let (ss, se, ahal) = (seg[1 + 2 * ns], seg[2 + 2 * ns], seg[3 + 2 * ns]);
                if progressive {
                    if !decoded {
                        layout(&mut comps, width, height);
                        coefs = comps
                            .iter()
                            .map(|c| vec![0i16; c.stride * c.rows])
                            .collect();
                    }
                    let p = ScanParams {
                        ss: ss as usize,
                        se: se as usize,
                        ah: (ahal >> 4) as u32,
                        al: (ahal & 15) as u32,
                    };
                    i += decode_progressive_scan(
                        &data[i..],
                        &mut comps,
                        &mut coefs,
                        &scan,
                        p,
                        &dc_tables,
                        &ac_tables,
                        restart_interval,
                        width,
                        height,
                    )?;
                    decoded = true;
                    while i + 1 < data.len()
                        && !(data[i] == 0xFF
                            && data[i + 1] != 0
                            && !(0xD0..=0xD7).contains(&data[i + 1]))
                    {
                        i += 1;
                    }
                    continue;
                }
                if ss != 0 || se != 63 || ahal != 0 {
                    return Ok(None);
                }
                let used = decode_scan(
                    &data[i..],
                    &mut comps,
                    width,
                    height,
                    &qt,
                    &dc_tables,
                    &ac_tables,
                    restart_interval,
                )?;
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
        for (c, coef) in comps.iter_mut().zip(&coefs) {
            let q = &qt[c.tq];
            let blocks_w = c.stride / 8;
            let mut block = [0i16; 64];
            for (b, chunk) in coef.chunks_exact(64).enumerate() {
                block.copy_from_slice(chunk);
                let (bx, by) = (b % blocks_w, b / blocks_w);
                let off = by * 8 * c.stride + bx * 8;
                idct_islow(&block, q, &mut c.plane[off..], c.stride);
            }
        }
    }
    Ok(Some(to_rgb(&comps, width, height)?))
}

/// Sizes every component's plane to whole MCUs (libjpeg's block grid) and records its
/// real size.
fn layout(comps: &mut [Component], width: usize, height: usize) -> (usize, usize) {
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let (mcux, mcuy) = if comps.len() > 1 {
        (width.div_ceil(8 * hmax), height.div_ceil(8 * vmax))
    } else {
        (width.div_ceil(8), height.div_ceil(8))
    };
    let interleaved = comps.len() > 1;
    for c in comps.iter_mut() {
        c.width = (width * c.h).div_ceil(hmax);
        c.height = (height * c.v).div_ceil(vmax);
        let (bw, bh) = if interleaved {
            (mcux * c.h, mcuy * c.v)
        } else {
            (mcux, mcuy)
        };
        c.stride = bw * 8;
        c.rows = bh * 8;
        c.plane = vec![0u8; c.stride * c.rows];
        c.pred = 0;
    }
    (mcux, mcuy)
}

#[derive(Clone, Copy)]
struct ScanParams {
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

/// One scan of a progressive JPEG into the coefficient buffers (`coefs[c]` holds 64
/// natural-order coefficients per block of component `c`), following libjpeg's
/// `jdphuff.c`: DC first/refine, AC first/refine with end-of-band runs.
#[allow(clippy::too_many_arguments)]
fn decode_progressive_scan(
    data: &[u8],
    comps: &mut [Component],
    coefs: &mut [Vec<i16>],
    scan: &[usize],
    p: ScanParams,
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
    width: usize,
    height: usize,
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
    let hmax = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let vmax = comps.iter().map(|c| c.v).max().unwrap_or(1);
    // Interleaved scans walk MCUs; single-component scans walk that component's real blocks.
    let (units_w, total) = if scan.len() > 1 {
        let mx = width.div_ceil(8 * hmax);
        (mx, mx * height.div_ceil(8 * vmax))
    } else {
        let c = &comps[scan[0]];
        let bw = c.width.div_ceil(8);
        (bw, bw * c.height.div_ceil(8))
    };
    let mut bits = Bits {
        data,
        pos: 0,
        acc: 0,
        nbits: 0,
        hit_marker: false,
    };
    let mut eobrun = 0u32;
    for &ci in scan {
        comps[ci].pred = 0;
    }
    for m in 0..total {
        if restart_interval > 0 && m > 0 && m % restart_interval == 0 {
            bits.restart();
            eobrun = 0;
            for &ci in scan {
                comps[ci].pred = 0;
            }
        }
        let (ux, uy) = (m % units_w, m / units_w);
        for &ci in scan {
            let c = &mut comps[ci];
            let blocks_w = c.stride / 8;
            let (bh, bv) = if scan.len() > 1 { (c.h, c.v) } else { (1, 1) };
            for v in 0..bv {
                for h in 0..bh {
                    let (bx, by) = (ux * bh + h, uy * bv + v);
                    let off = (by * blocks_w + bx) * 64;
                    let block = coefs[ci]
                        .get_mut(off..off + 64)
                        .ok_or_else(|| corrupt("block outside the image"))?;
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
                        ac_first(&mut bits, ac, block, p, &mut eobrun)?;
                    } else {
                        ac_refine(&mut bits, ac, block, p, &mut eobrun)?;
                    }
                }
            }
        }
    }
    Ok(bits.pos)
}

fn ac_first(
    bits: &mut Bits,
    ac: &Huffman,
    block: &mut [i16],
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
            block[ZIGZAG[k]] = (extend(bits.bits(s), s).wrapping_shl(p.al)) as i16;
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
    p: ScanParams,
    eobrun: &mut u32,
) -> Result<()> {
    let p1 = 1i16 << p.al;
    let m1 = (-1i16).wrapping_shl(p.al);
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
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= p.se {
            let coef = &mut block[ZIGZAG[k]];
            if *coef != 0 {
                refine(bits, coef);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    data: &[u8],
    comps: &mut [Component],
    width: usize,
    height: usize,
    qt: &[[u16; 64]; 4],
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> Result<usize> {
    let interleaved = comps.len() > 1;
    let (mcux, mcuy) = layout(comps, width, height);
    let mut bits = Bits {
        data,
        pos: 0,
        acc: 0,
        nbits: 0,
        hit_marker: false,
    };
    let mut coef = [0i16; 64];
    let total = mcux * mcuy;
    for m in 0..total {
        if restart_interval > 0 && m > 0 && m % restart_interval == 0 {
            bits.restart();
            for c in comps.iter_mut() {
                c.pred = 0;
            }
        }
        let (mx, my) = (m % mcux, m / mcux);
        for c in comps.iter_mut() {
            let dc = dc_tables[c.dc_table]
                .as_ref()
                .ok_or_else(|| corrupt("missing DC table"))?;
            let ac = ac_tables[c.ac_table]
                .as_ref()
                .ok_or_else(|| corrupt("missing AC table"))?;
            let q = &qt[c.tq];
            let (bh, bv) = if interleaved { (c.h, c.v) } else { (1, 1) };
            for v in 0..bv {
                for h in 0..bh {
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
                    idct_islow(&coef, q, &mut c.plane[off..], c.stride);
                }
            }
        }
    }
    Ok(bits.pos)
}

/// Chroma plane upsampled to `2*width` x `2*height` (or as the sampling says), libjpeg's
/// "fancy" way: each output sample mixes the nearest input 3:1 with its neighbour, with
/// edges replicated.
fn upsample(c: &Component, hmax: usize, vmax: usize) -> Vec<u8> {
    let (w, h) = (c.width, c.height);
    let at = |x: usize, y: usize| c.plane[y * c.stride + x] as i32;
    let (fx, fy) = (hmax / c.h, vmax / c.v);
    let ow = w * fx;
    let oh = h * fy;
    let mut out = vec![0u8; ow * oh];
    match (fx, fy) {
        (1, 1) => {
            for y in 0..h {
                out[y * ow..y * ow + w].copy_from_slice(&c.plane[y * c.stride..y * c.stride + w]);
            }
        }
        (2, 1) if w > 2 => {
            for y in 0..h {
                let o = &mut out[y * ow..(y + 1) * ow];
                o[0] = at(0, y) as u8;
                o[1] = ((at(0, y) * 3 + at(1, y) + 2) >> 2) as u8;
                for x in 1..w - 1 {
                    let v = at(x, y) * 3;
                    o[2 * x] = ((v + at(x - 1, y) + 1) >> 2) as u8;
                    o[2 * x + 1] = ((v + at(x + 1, y) + 2) >> 2) as u8;
                }
                o[2 * w - 2] = ((at(w - 1, y) * 3 + at(w - 2, y) + 1) >> 2) as u8;
                o[2 * w - 1] = at(w - 1, y) as u8;
            }
        }
        (1, 2) => {
            for y in 0..h {
                for (v, bias) in [(0usize, 1), (1, 2)] {
                    let ny = if v == 0 {
                        y.saturating_sub(1)
                    } else {
                        (y + 1).min(h - 1)
                    };
                    let o = &mut out[(2 * y + v) * ow..(2 * y + v + 1) * ow];
                    for (x, ov) in o.iter_mut().enumerate() {
                        *ov = ((at(x, y) * 3 + at(x, ny) + bias) >> 2) as u8;
                    }
                }
            }
        }
        (2, 2) if w > 2 => {
            for y in 0..h {
                for v in 0..2 {
                    let ny = if v == 0 {
                        y.saturating_sub(1)
                    } else {
                        (y + 1).min(h - 1)
                    };
                    let col = |x: usize| at(x, y) * 3 + at(x, ny);
                    let o = &mut out[(2 * y + v) * ow..(2 * y + v + 1) * ow];
                    o[0] = ((col(0) * 4 + 8) >> 4) as u8;
                    o[1] = ((col(0) * 3 + col(1) + 7) >> 4) as u8;
                    for x in 1..w - 1 {
                        let this = col(x);
                        o[2 * x] = ((this * 3 + col(x - 1) + 8) >> 4) as u8;
                        o[2 * x + 1] = ((this * 3 + col(x + 1) + 7) >> 4) as u8;
                    }
                    o[2 * w - 2] = ((col(w - 1) * 3 + col(w - 2) + 8) >> 4) as u8;
                    o[2 * w - 1] = ((col(w - 1) * 4 + 7) >> 4) as u8;
                }
            }
        }
        _ => {
            // Narrow images: plain replication, as libjpeg does below 3 columns.
            for y in 0..oh {
                for x in 0..ow {
                    out[y * ow + x] = at(x / fx, y / fy) as u8;
                }
            }
        }
    }
    out
}

fn to_rgb(comps: &[Component], width: usize, height: usize) -> Result<RgbImage> {
    let mut out = Vec::with_capacity(width * height * 3);
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
    let y_plane = upsample(&comps[0], hmax, vmax);
    let yw = comps[0].width * (hmax / comps[0].h);
    let cb = upsample(&comps[1], hmax, vmax);
    let cr = upsample(&comps[2], hmax, vmax);
    let cw = comps[1].width * (hmax / comps[1].h);
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
        for x in 0..width {
            let y = y_plane[yy * yw + x] as i32;
            let b = cb[yy * cw + x] as usize;
            let r = cr[yy * cw + x] as usize;
            out.push(clamp(y + cr_r[r]));
            out.push(clamp(y + ((cb_g[b] + cr_g[r]) >> SCALE) as i32));
            out.push(clamp(y + cb_b[b]));
        }
    }
    RgbImage::new(width as u32, height as u32, out)
}
