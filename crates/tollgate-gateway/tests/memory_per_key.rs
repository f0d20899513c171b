//! Heap bytes a key costs (issue #11: well under 1 KB per key): the control
//! plane's record of it and the gateway's index entry with its counters,
//! measured with a counting allocator as the difference between 20 000 and
//! 40 000 keys (so fixed costs cancel out). 652 B on 2026-12-08 (878 B
//! before the index shared the control plane's record); the bar below
//! leaves room for a field or two, not for a copy of the key.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use tollgate_gateway::fixtures::keyed_state;
use tollgate_gateway::{Gateway, GatewaySettings};
use tollgate_model::usage_plan::{QuotaSettings, ThrottleSettings};
use tollgate_model::State;

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn state(keys: usize) -> State {
    keyed_state(
        keys,
        10,
        Some(ThrottleSettings {
            burst_limit: Some(100),
            rate_limit: Some(50.0),
        }),
        Some(QuotaSettings {
            limit: 10_000,
            offset: 0,
            period: Some("DAY".into()),
        }),
    )
}

/// Live heap bytes of (the state, the gateway built from it).
fn footprint(keys: usize) -> (isize, isize) {
    let before = LIVE.load(Ordering::Relaxed);
    let s = state(keys);
    let with_state = LIVE.load(Ordering::Relaxed);
    let gateway = Gateway::new(GatewaySettings::default());
    gateway.update(&s, &[]);
    let with_gateway = LIVE.load(Ordering::Relaxed);
    let out = (with_state - before, with_gateway - with_state);
    drop(gateway);
    drop(s);
    out
}

#[test]
fn a_key_costs_well_under_a_kilobyte() {
    let (state_a, gateway_a) = footprint(20_000);
    let (state_b, gateway_b) = footprint(40_000);
    let state_per_key = (state_b - state_a) / 20_000;
    let gateway_per_key = (gateway_b - gateway_a) / 20_000;
    println!("per key: state {state_per_key} B, gateway {gateway_per_key} B");
    assert!(
        state_per_key + gateway_per_key < 768,
        "state {state_per_key} B + gateway {gateway_per_key} B per key"
    );
}
