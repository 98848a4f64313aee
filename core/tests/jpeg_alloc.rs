//! The libjpeg-exact decoder's buffers stay inside the decode allocation limit
//! (`max_pixels * 8 + 64 MiB`, the limit the `image` decoder gets). Alone in its test
//! binary: the counting allocator sees every allocation of the process.

use sociallens::caption::{decode_rgb, DecodeOptions};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;

static HELD: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = HELD.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        HELD.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// A 4096x3072 three-component 4:4:4 progressive header with one empty DC scan. Before
/// the decoder counted its buffers it held ~189 MB for it (coefficients, planes, three
/// upsampled copies and the RGB output at once) against a 168 MB limit; it now holds the
/// coefficients and one plane at its peak (~93 MB).
#[test]
fn progressive_decode_stays_inside_the_allocation_limit() {
    let (w, h) = (4096u16, 3072u16);
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xDB, 0x00, 0x43, 0x00];
    b.extend_from_slice(&[1u8; 64]);
    b.extend_from_slice(&[0xFF, 0xC2, 0x00, 17, 8]);
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&[3, 1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0]);
    b.extend_from_slice(&[0xFF, 0xC4, 0x00, 20, 0x00, 1]);
    b.extend_from_slice(&[0u8; 16]);
    b.extend_from_slice(&[0xFF, 0xDA, 0x00, 12, 3, 1, 0, 2, 0, 3, 0, 0, 0, 0]);
    b.extend_from_slice(&[0xFF, 0xD9]);

    let mut opts = DecodeOptions::default();
    opts.limits.max_pixels = w as u64 * h as u64;
    let limit = opts.limits.max_pixels * 8 + (64 << 20);
    let before = HELD.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let img = decode_rgb(&b, &opts).unwrap();
    let peak = (PEAK.load(Ordering::SeqCst) - before) as u64;
    assert_eq!((img.width, img.height), (4096, 3072));
    assert!(img.data.iter().all(|&v| v == 128));
    eprintln!("peak {peak} bytes, limit {limit}");
    assert!(peak <= limit, "peak {peak} bytes over the limit of {limit}");
}
