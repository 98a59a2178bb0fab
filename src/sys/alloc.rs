//! pman's heap. Small blocks come from one-page slabs, one size class per
//! slab; a slab that empties is unmapped at once, so what loading a big
//! config used goes back to the system. Larger blocks
//! get a mapping of their own: munmapped on free, resized with mremap.
//! No lock: pman has no threads, and a forked child only execs. The static
//! musl build also answers C's `malloc` family with it (musl's passwd and
//! group lookups), which replaces zig's bigger allocator.

use libc::c_long;
use std::alloc::{GlobalAlloc, Layout};
use std::cell::UnsafeCell;
use std::ptr::{self, null_mut};

// Mappings are made with raw calls: musl's mmap/mremap/munmap wrappers
// add checks and a wait for other threads that this heap has no use for.
// mmap2 (offset in pages) is the call 32-bit kernels have; offsets are 0.
#[cfg(target_pointer_width = "32")]
const SYS_MMAP: c_long = libc::SYS_mmap2;
#[cfg(target_pointer_width = "64")]
const SYS_MMAP: c_long = libc::SYS_mmap;

/// Slab size, and the granule of every mapping. OpenWrt kernels use 4 KiB
/// pages; with larger pages each mapping only wastes the rest of its page.
const PAGE: usize = 4096;
/// A slab starts with its header; blocks follow, 16-byte aligned.
const HEADER: usize = 32;
/// Block sizes: each fills a slab's 4064 bytes with little left over.
/// Every class in use holds at least a page, mostly empty while the daemon
/// is small, so there are few classes; fewer than these nine costs more
/// at 1,000 programs than it saves at 10 (`bench/memory.sh`).
const CLASSES: [u16; 9] = [16, 32, 48, 64, 128, 256, 448, 1008, 2032];
const MAX_SMALL: usize = 2032;
/// Alignment of every slab block, and of C `malloc`.
const ALIGN: usize = 16;
/// `class` of a C block with a mapping of its own ([`Mapped`]).
#[cfg_attr(not(all(target_env = "musl", target_feature = "crt-static")), allow(dead_code))]
const MAPPED: u32 = u32::MAX;
/// Where such a C block starts in its mapping: after the [`Mapped`] header.
const C_OFFSET: usize = 16;

/// The header of a slab page.
#[repr(C)]
struct Slab {
    /// Index into `CLASSES` (same place as `Mapped::class`).
    class: u32,
    /// Blocks handed out and not yet freed.
    used: u16,
    /// Offset of the first block never handed out.
    bump: u16,
    free: *mut Free,
    /// The class's list of slabs with room.
    next: *mut Slab,
    prev: *mut Slab,
}

/// The header of a C block with a mapping of its own (C's `free` has no size).
#[repr(C)]
struct Mapped {
    class: u32,
    len: usize,
}

/// A freed block, linked into its slab's free list.
struct Free {
    next: *mut Free,
}

const _: () = assert!(std::mem::size_of::<Slab>() <= HEADER && HEADER % ALIGN == 0);
const _: () = assert!(std::mem::size_of::<Mapped>() <= C_OFFSET);
const _: () = assert!(CLASSES[CLASSES.len() - 1] as usize == MAX_SMALL && HEADER + MAX_SMALL <= PAGE);

/// The smallest class that holds `size` (`CLASSES.len()` when none does).
fn class_of(size: usize) -> usize {
    CLASSES.iter().take_while(|&&c| (c as usize) < size).count()
}

fn class_size(class: usize) -> usize {
    CLASSES.get(class).map_or(PAGE, |&c| c as usize)
}

/// True when blocks of this layout get a mapping of their own.
fn own_mapping(size: usize, align: usize) -> bool {
    size > MAX_SMALL || align > ALIGN
}

/// `n` rounded up to whole pages (saturating: an impossible size fails in mmap).
fn pages(n: usize) -> usize {
    n.saturating_add(PAGE - 1) & !(PAGE - 1)
}

/// The page `p` lies in: a slab's or a mapped C block's header.
fn page_of(p: *mut u8) -> *mut Slab {
    p.wrapping_sub(p as usize % PAGE).cast()
}

/// The slabs and the bytes mapped; one per process ([`Allocator`]), or
/// one per unit test.
struct Heap {
    /// Per class, the slabs with room (a slab that fills up leaves the list).
    partial: [*mut Slab; CLASSES.len()],
    /// Bytes currently mapped, slabs and own mappings.
    mapped: usize,
}

impl Heap {
    const fn new() -> Heap {
        Heap { partial: [null_mut(); CLASSES.len()], mapped: 0 }
    }

    unsafe fn map(&mut self, len: usize) -> *mut u8 {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
        let prot = libc::PROT_READ | libc::PROT_WRITE;
        let p = libc::syscall(
            SYS_MMAP,
            null_mut::<u8>(),
            len,
            c_long::from(prot),
            c_long::from(flags),
            -1 as c_long,
            0 as c_long,
        ) as *mut libc::c_void;
        if p == libc::MAP_FAILED {
            return null_mut();
        }
        self.mapped += len;
        p.cast()
    }

    unsafe fn unmap(&mut self, p: *mut u8, len: usize) {
        if len > 0 && libc::syscall(libc::SYS_munmap, p, len) == 0 {
            self.mapped -= len;
        }
    }

    /// `mremap` that may move; null when the kernel refuses (`p` stays valid).
    unsafe fn remap(&mut self, p: *mut u8, old_len: usize, new_len: usize) -> *mut u8 {
        let q = libc::syscall(libc::SYS_mremap, p, old_len, new_len, c_long::from(libc::MREMAP_MAYMOVE))
            as *mut libc::c_void;
        if q == libc::MAP_FAILED {
            return null_mut();
        }
        self.mapped = self.mapped - old_len + new_len;
        q.cast()
    }

    /// A page-aligned mapping of `pages(size)` bytes aligned to `align`
    /// (larger alignments: map more, unmap the ends).
    unsafe fn map_aligned(&mut self, size: usize, align: usize) -> *mut u8 {
        let len = pages(size);
        if align <= PAGE {
            return self.map(len);
        }
        let base = self.map(len.saturating_add(align));
        if base.is_null() {
            return base;
        }
        let head = (align - base as usize % align) % align;
        let p = base.add(head);
        self.unmap(base, head);
        self.unmap(p.add(len), align - head);
        p
    }

    unsafe fn alloc(&mut self, layout: Layout) -> *mut u8 {
        if own_mapping(layout.size(), layout.align()) {
            self.map_aligned(layout.size(), layout.align())
        } else {
            self.small(class_of(layout.size()))
        }
    }

    unsafe fn alloc_zeroed(&mut self, layout: Layout) -> *mut u8 {
        if own_mapping(layout.size(), layout.align()) {
            // Fresh anonymous pages are zero already.
            return self.alloc(layout);
        }
        let p = self.alloc(layout);
        if !p.is_null() {
            ptr::write_bytes(p, 0, layout.size());
        }
        p
    }

    unsafe fn dealloc(&mut self, p: *mut u8, layout: Layout) {
        if own_mapping(layout.size(), layout.align()) {
            self.unmap(p, pages(layout.size()));
        } else {
            self.free_small(p);
        }
    }

    unsafe fn realloc(&mut self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (old_size, align) = (layout.size(), layout.align());
        let (was_mapped, is_mapped) = (own_mapping(old_size, align), own_mapping(new_size, align));
        if !was_mapped && !is_mapped && class_of(old_size) == class_of(new_size) {
            return p;
        }
        // mremap keeps page alignment only.
        if was_mapped && is_mapped && align <= PAGE {
            return self.remap(p, pages(old_size), pages(new_size));
        }
        let q = self.alloc(Layout::from_size_align_unchecked(new_size, align));
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, old_size.min(new_size));
            self.dealloc(p, layout);
        }
        q
    }

    /// A block of `CLASSES[class]` bytes from the first slab with room.
    unsafe fn small(&mut self, class: usize) -> *mut u8 {
        let size = class_size(class);
        let mut slab = self.partial[class];
        if slab.is_null() {
            slab = self.map(PAGE).cast::<Slab>();
            if slab.is_null() {
                return null_mut();
            }
            let fresh = Slab {
                class: class as u32,
                used: 0,
                bump: HEADER as u16,
                free: null_mut(),
                next: null_mut(),
                prev: null_mut(),
            };
            slab.write(fresh);
            self.partial[class] = slab;
        }
        let s = &mut *slab;
        let block = if s.free.is_null() {
            let block = slab.cast::<u8>().add(s.bump as usize);
            s.bump += size as u16;
            block
        } else {
            let block = s.free;
            s.free = (*block).next;
            block.cast::<u8>()
        };
        s.used += 1;
        if full(s, size) {
            self.unlink(slab);
        }
        block
    }

    unsafe fn free_small(&mut self, p: *mut u8) {
        let slab = page_of(p);
        let s = &mut *slab;
        let class = s.class as usize;
        let was_full = full(s, class_size(class));
        let block = p.cast::<Free>();
        (*block).next = s.free;
        s.free = block;
        s.used -= 1;
        if was_full {
            self.push(slab);
        }
        if s.used == 0 {
            self.unlink(slab);
            self.unmap(slab.cast(), PAGE);
        }
    }

    unsafe fn push(&mut self, slab: *mut Slab) {
        let class = (*slab).class as usize;
        let head = self.partial[class];
        (*slab).next = head;
        (*slab).prev = null_mut();
        if !head.is_null() {
            (*head).prev = slab;
        }
        self.partial[class] = slab;
    }

    unsafe fn unlink(&mut self, slab: *mut Slab) {
        let s = &mut *slab;
        if s.prev.is_null() {
            self.partial[s.class as usize] = s.next;
        } else {
            (*s.prev).next = s.next;
        }
        if !s.next.is_null() {
            (*s.next).prev = s.prev;
        }
        s.next = null_mut();
        s.prev = null_mut();
    }
}

/// C's allocator, for the static musl build (`c_abi`); the unit tests run
/// it everywhere.
#[cfg_attr(not(all(target_env = "musl", target_feature = "crt-static")), allow(dead_code))]
impl Heap {
    /// C `malloc`: 16-aligned; `malloc(0)` is a unique small block.
    unsafe fn malloc(&mut self, n: usize) -> *mut u8 {
        if n <= MAX_SMALL {
            return self.small(class_of(n));
        }
        let len = pages(n.saturating_add(C_OFFSET));
        let base = self.map(len);
        if base.is_null() {
            return base;
        }
        base.cast::<Mapped>().write(Mapped { class: MAPPED, len });
        base.add(C_OFFSET)
    }

    unsafe fn free(&mut self, p: *mut u8) {
        if p.is_null() {
            return;
        }
        let page = page_of(p);
        if (*page).class == MAPPED {
            self.unmap(page.cast(), (*page.cast::<Mapped>()).len);
        } else {
            self.free_small(p);
        }
    }

    unsafe fn calloc(&mut self, count: usize, size: usize) -> *mut u8 {
        let Some(n) = count.checked_mul(size) else {
            *libc::__errno_location() = libc::ENOMEM;
            return null_mut();
        };
        let p = self.malloc(n);
        if !p.is_null() && n <= MAX_SMALL {
            ptr::write_bytes(p, 0, n);
        }
        p
    }

    unsafe fn c_realloc(&mut self, p: *mut u8, n: usize) -> *mut u8 {
        if p.is_null() {
            return self.malloc(n);
        }
        let page = page_of(p);
        let class = (*page).class;
        let old_size = if class == MAPPED {
            let len = (*page.cast::<Mapped>()).len;
            if n > MAX_SMALL {
                let new_len = pages(n.saturating_add(C_OFFSET));
                let moved = self.remap(page.cast(), len, new_len);
                if moved.is_null() {
                    return moved;
                }
                (*moved.cast::<Mapped>()).len = new_len;
                return moved.add(C_OFFSET);
            }
            len - C_OFFSET
        } else {
            if class_of(n) == class as usize {
                return p;
            }
            class_size(class as usize)
        };
        let q = self.malloc(n);
        if !q.is_null() {
            ptr::copy_nonoverlapping(p, q, old_size.min(n));
            self.free(p);
        }
        q
    }
}

/// True when a slab of `size` blocks has no block left to hand out.
fn full(s: &Slab, size: usize) -> bool {
    s.free.is_null() && s.bump as usize + size > PAGE
}

struct Global(UnsafeCell<Heap>);

// SAFETY: pman is single-threaded (one poll loop, no threads), so the heap
// is never reached from two threads.
unsafe impl Sync for Global {}

static HEAP: Global = Global(UnsafeCell::new(Heap::new()));

fn heap() -> *mut Heap {
    HEAP.0.get()
}

/// pman's global allocator (`#[global_allocator]` in main.rs): for a
/// single-threaded process only.
pub struct Allocator;

// SAFETY: the heap hands out distinct, live blocks of the asked size and
// alignment until they are freed; see `Heap`.
unsafe impl GlobalAlloc for Allocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        (*heap()).alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        (*heap()).alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        (*heap()).dealloc(p, layout)
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        (*heap()).realloc(p, layout, new_size)
    }
}

/// C's allocator for the static musl build: these override zig's weak
/// ones, so musl's own allocations share pman's heap.
#[cfg(all(target_env = "musl", target_feature = "crt-static"))]
mod c_abi {
    use super::heap;
    use libc::{c_void, size_t};

    #[no_mangle]
    unsafe extern "C" fn malloc(n: size_t) -> *mut c_void {
        (*heap()).malloc(n).cast()
    }

    #[no_mangle]
    unsafe extern "C" fn calloc(count: size_t, size: size_t) -> *mut c_void {
        (*heap()).calloc(count, size).cast()
    }

    #[no_mangle]
    unsafe extern "C" fn realloc(p: *mut c_void, n: size_t) -> *mut c_void {
        (*heap()).c_realloc(p.cast(), n).cast()
    }

    #[no_mangle]
    unsafe extern "C" fn free(p: *mut c_void) {
        (*heap()).free(p.cast())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    unsafe fn fill(p: *mut u8, len: usize, seed: u8) {
        for i in 0..len {
            *p.add(i) = seed.wrapping_add(i as u8);
        }
    }

    unsafe fn holds(p: *const u8, len: usize, seed: u8) -> bool {
        (0..len).all(|i| *p.add(i) == seed.wrapping_add(i as u8))
    }

    /// Nothing stays mapped once everything is freed.
    fn settled(heap: &Heap) -> bool {
        heap.mapped == 0
    }

    #[test]
    fn classes_fit_a_slab_and_keep_blocks_aligned() {
        for &c in &CLASSES {
            assert_eq!(c as usize % ALIGN, 0);
            assert!(HEADER + c as usize <= PAGE);
        }
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(16), 0);
        assert_eq!(class_of(17), 1);
        assert_eq!(class_of(MAX_SMALL), CLASSES.len() - 1);
        assert_eq!(class_of(MAX_SMALL + 1), CLASSES.len());
    }

    #[test]
    fn small_blocks_are_distinct_aligned_and_keep_their_bytes() {
        let mut heap = Heap::new();
        unsafe {
            let mut blocks = Vec::new();
            for round in 0..3 {
                for size in (1..=MAX_SMALL).step_by(7) {
                    let p = heap.alloc(layout(size, 8));
                    assert!(!p.is_null());
                    assert_eq!(p as usize % ALIGN, 0);
                    fill(p, size, (size + round) as u8);
                    blocks.push((p, size, (size + round) as u8));
                }
            }
            for &(p, size, seed) in &blocks {
                assert!(holds(p, size, seed), "block of {size} bytes overwritten");
            }
            // Free every other block, then reuse the holes.
            for &(p, size, _) in blocks.iter().step_by(2) {
                heap.dealloc(p, layout(size, 8));
            }
            for &(p, size, seed) in blocks.iter().skip(1).step_by(2) {
                assert!(holds(p, size, seed));
            }
            let mut again = Vec::new();
            for &(_, size, _) in blocks.iter().step_by(2) {
                let p = heap.alloc(layout(size, 8));
                fill(p, size, 0xa5);
                again.push((p, size));
            }
            for &(p, size, seed) in blocks.iter().skip(1).step_by(2) {
                assert!(holds(p, size, seed), "a reused hole overlapped a live block");
                heap.dealloc(p, layout(size, 8));
            }
            for &(p, size) in &again {
                assert!(holds(p, size, 0xa5));
                heap.dealloc(p, layout(size, 8));
            }
        }
        assert!(settled(&heap), "{} bytes still mapped", heap.mapped);
    }

    #[test]
    fn emptied_slabs_go_back_to_the_system() {
        let mut heap = Heap::new();
        unsafe {
            let blocks: Vec<*mut u8> = (0..10_000).map(|_| heap.alloc(layout(24, 8))).collect();
            assert!(heap.mapped >= 10_000 * 32);
            for &p in &blocks {
                heap.dealloc(p, layout(24, 8));
            }
            assert_eq!(heap.mapped, 0);
            // Blocks freed in between are handed out again first.
            let a = heap.alloc(layout(24, 8));
            let b = heap.alloc(layout(24, 8));
            heap.dealloc(a, layout(24, 8));
            assert_eq!(heap.alloc(layout(24, 8)), a);
            assert_eq!(heap.mapped, PAGE);
            heap.dealloc(a, layout(24, 8));
            heap.dealloc(b, layout(24, 8));
        }
    }

    #[test]
    fn large_blocks_are_mapped_and_unmapped() {
        let mut heap = Heap::new();
        unsafe {
            let p = heap.alloc(layout(100_000, 8));
            assert_eq!(p as usize % PAGE, 0);
            assert_eq!(heap.mapped, pages(100_000));
            fill(p, 100_000, 3);
            assert!(holds(p, 100_000, 3));
            heap.dealloc(p, layout(100_000, 8));
            assert_eq!(heap.mapped, 0);
            let z = heap.alloc_zeroed(layout(5000, 8));
            assert!((0..5000).all(|i| *z.add(i) == 0));
            heap.dealloc(z, layout(5000, 8));
            assert_eq!(heap.mapped, 0);
        }
    }

    #[test]
    fn zeroed_small_blocks_are_zero_even_when_reused() {
        let mut heap = Heap::new();
        unsafe {
            let p = heap.alloc(layout(200, 8));
            ptr::write_bytes(p, 0xff, 200);
            heap.dealloc(p, layout(200, 8));
            let keep = heap.alloc(layout(200, 8)); // the slab stays alive
            let z = heap.alloc_zeroed(layout(200, 8));
            assert!((0..200).all(|i| *z.add(i) == 0));
            heap.dealloc(z, layout(200, 8));
            heap.dealloc(keep, layout(200, 8));
        }
    }

    #[test]
    fn realloc_keeps_contents_growing_and_shrinking() {
        let mut heap = Heap::new();
        unsafe {
            let mut size = 1;
            let mut p = heap.alloc(layout(size, 1));
            fill(p, size, 7);
            while size < 1 << 20 {
                let next = size * 2 + 1;
                p = heap.realloc(p, layout(size, 1), next);
                assert!(!p.is_null());
                assert!(holds(p, size, 7), "lost contents growing {size} -> {next}");
                fill(p, next, 7);
                size = next;
            }
            assert_eq!(heap.mapped, pages(size), "the small slabs were given back on the way");
            for next in [300_000, 5000, 2032, 100, 1] {
                p = heap.realloc(p, layout(size, 1), next);
                assert!(holds(p, next, 7), "lost contents shrinking {size} -> {next}");
                size = next;
            }
            heap.dealloc(p, layout(size, 1));
        }
        assert!(settled(&heap));
    }

    #[test]
    fn realloc_within_a_class_stays_in_place() {
        let mut heap = Heap::new();
        unsafe {
            let p = heap.alloc(layout(40, 8));
            assert_eq!(heap.realloc(p, layout(40, 8), 48), p);
            heap.dealloc(p, layout(48, 8));
        }
    }

    #[test]
    fn any_power_of_two_alignment_is_honoured() {
        let mut heap = Heap::new();
        unsafe {
            for shift in 0..17 {
                let align = 1usize << shift;
                for size in [1, 24, 100, 2032, 3000, 5000, 70_000] {
                    let p = heap.alloc(layout(size, align));
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    fill(p, size, 1);
                    let q = heap.realloc(p, layout(size, align), size * 3);
                    assert_eq!(q as usize % align, 0, "realloc to {} align {align}", size * 3);
                    assert!(holds(q, size, 1));
                    heap.dealloc(q, layout(size * 3, align));
                }
            }
        }
        assert!(settled(&heap), "{} bytes still mapped", heap.mapped);
    }

    #[test]
    fn c_malloc_free_realloc_and_calloc() {
        let mut heap = Heap::new();
        unsafe {
            let zero = heap.malloc(0);
            assert!(!zero.is_null());
            heap.free(zero);
            heap.free(null_mut());

            let mut p = heap.c_realloc(null_mut(), 10);
            fill(p, 10, 9);
            let mut size = 10;
            for next in [100, 3000, 10_000, 1_000_000, 50_000, 1500, 20] {
                p = heap.c_realloc(p, next);
                assert!(!p.is_null());
                assert_eq!(p as usize % ALIGN, 0);
                assert!(holds(p, size.min(next), 9), "lost contents {size} -> {next}");
                fill(p, next, 9);
                size = next;
            }
            heap.free(p);

            let big = heap.malloc(9000);
            let small = heap.malloc(700);
            fill(big, 9000, 4);
            fill(small, 700, 5);
            assert!(holds(big, 9000, 4) && holds(small, 700, 5));
            heap.free(big);
            heap.free(small);

            let z = heap.calloc(100, 30);
            assert!((0..3000).all(|i| *z.add(i) == 0));
            heap.free(z);
            assert!(heap.calloc(usize::MAX / 2, 3).is_null());
            assert!(heap.malloc(usize::MAX - 10).is_null());
        }
        assert!(settled(&heap), "{} bytes still mapped", heap.mapped);
    }

    #[test]
    fn a_config_sized_peak_is_given_back() {
        // Like loading a config: many short-lived strings and vectors, a
        // few kept. Afterwards only the kept ones' slabs stay mapped.
        let mut heap = Heap::new();
        unsafe {
            let mut kept = Vec::new();
            let mut temporary = Vec::new();
            for i in 0..20_000usize {
                let size = 8 + i % 300;
                let p = heap.alloc(layout(size, 8));
                if i % 1000 == 0 {
                    kept.push((p, size));
                } else {
                    temporary.push((p, size));
                }
            }
            let peak = heap.mapped;
            for &(p, size) in &temporary {
                heap.dealloc(p, layout(size, 8));
            }
            assert!(heap.mapped <= kept.len() * PAGE, "{} of {peak} bytes kept", heap.mapped);
            for &(p, size) in &kept {
                heap.dealloc(p, layout(size, 8));
            }
        }
        assert!(settled(&heap));
    }
}
