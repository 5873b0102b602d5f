//! Bytes and allocations per signed request beyond the body, counted with a
//! counting global allocator. Kept out of the `signing` bench so that its atomic
//! counter does not tax the timings there.
//!
//! `cargo bench --bench allocations --all-features`
//!
//! Fails if the bytes allocated grow with the body: the body must move from the
//! request to the inner service, never be copied.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use tower::{Layer, ServiceExt};

mod support;
use support::{
    SIZES, body, inner, primitive, primitive_on_request, request, runtime, static_layer,
};

/// Counts bytes and calls; forwards everything to the system allocator.
struct Counting;

static BYTES: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        BYTES.fetch_add(layout.size(), Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        BYTES.fetch_add(new_size, Ordering::Relaxed);
        CALLS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const REQUESTS: usize = 1_000;

/// Bytes and calls allocated by `REQUESTS` runs of `f`, per run.
fn per_request(mut f: impl FnMut()) -> (usize, usize) {
    let (bytes, calls) = (BYTES.load(Ordering::SeqCst), CALLS.load(Ordering::SeqCst));
    for _ in 0..REQUESTS {
        f();
    }
    (
        (BYTES.load(Ordering::SeqCst) - bytes) / REQUESTS,
        (CALLS.load(Ordering::SeqCst) - calls) / REQUESTS,
    )
}

fn main() {
    let rt = runtime(1);
    let layer = static_layer();
    let mut by_signing = Vec::new();
    for (size, name) in [SIZES[0], SIZES[1], SIZES[3], SIZES[4]] {
        let body = body(size);
        // Warm up (first-call lazies such as the service-mismatch host check).
        rt.block_on(layer.layer(inner()).oneshot(request(&body)))
            .unwrap();
        // The request is built outside the count in both cases.
        let requests: Vec<_> = (0..REQUESTS).map(|_| request(&body)).collect();
        let mut requests = requests.into_iter();
        let (signed_bytes, signed_calls) = per_request(|| {
            let req = requests.next().unwrap();
            rt.block_on(layer.layer(inner()).oneshot(req)).unwrap();
        });
        let requests: Vec<_> = (0..REQUESTS).map(|_| request(&body)).collect();
        let mut requests = requests.into_iter();
        let (plain_bytes, plain_calls) = per_request(|| {
            let req = requests.next().unwrap();
            rt.block_on(inner().oneshot(req)).unwrap();
        });
        let (direct_bytes, direct_calls) = per_request(|| {
            std::hint::black_box(primitive(&body));
        });
        let requests: Vec<_> = (0..REQUESTS).map(|_| request(&body)).collect();
        let mut requests = requests.into_iter();
        let (on_request_bytes, on_request_calls) = per_request(|| {
            // `primitive_on_request` builds its own request; count that out.
            drop(requests.next());
            std::hint::black_box(primitive_on_request(&body));
        });
        let (build_bytes, build_calls) = per_request(|| {
            std::hint::black_box(request(&body));
        });
        println!(
            "allocations: {name:>5} body: layer {} B in {} allocations per request (beyond the request itself: {plain_bytes} B in {plain_calls} without the layer); \
             aws-sigv4 on the request {} B in {}; aws-sigv4 sign() alone {direct_bytes} B in {direct_calls}",
            signed_bytes - plain_bytes,
            signed_calls - plain_calls,
            on_request_bytes - build_bytes,
            on_request_calls - build_calls,
        );
        by_signing.push((name, signed_bytes - plain_bytes));
    }
    let (smallest, largest) = (by_signing[0].1, by_signing[by_signing.len() - 1].1);
    // A copy of an 8 MiB body would add 8 MiB; allow small variation (e.g. a
    // larger header map growth) but nothing proportional to the body.
    if largest > smallest + 4096 {
        eprintln!("the bytes allocated per request grow with the body: {by_signing:?}");
        std::process::exit(1);
    }
}
