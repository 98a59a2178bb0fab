//! The one sort routine: a permutation of indices ordered by a comparison.
//! `sort_unstable` makes a copy of core's heapsort per element type (about
//! 400 bytes each on a router); this one is shared by every list pman sorts.

/// `0..len` in the order `less(a, b)` ("item `a` goes before item `b`")
/// puts them. Heapsort: O(n log n) for any input, no recursion, nothing
/// allocated but the result. Not stable: callers break ties themselves.
pub fn sorted(len: usize, less: &dyn Fn(usize, usize) -> bool) -> Vec<usize> {
    let mut order = vec![0; len];
    for (i, slot) in order.iter_mut().enumerate() {
        *slot = i;
    }
    let v = order.as_mut_slice();
    let len = v.len();
    // First the heap is built (i from len + len/2 down to len), then the
    // largest is moved to the end one at a time (i from len - 1 down to 1).
    for i in (1..len + len / 2).rev() {
        let (mut node, end) = if i < len {
            v.swap(0, i);
            (0, i)
        } else {
            (i - len, len)
        };
        let heap = &mut v[..end];
        // The item sifted down is held aside; the hole moves down instead.
        let item = heap[node];
        loop {
            let mut child = 2 * node + 1;
            if child >= heap.len() {
                break;
            }
            if child + 1 < heap.len() && less(heap[child], heap[child + 1]) {
                child += 1;
            }
            if !less(item, heap[child]) {
                break;
            }
            heap[node] = heap[child];
            node = child;
        }
        heap[node] = item;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic pseudo-random sequence (xorshift).
    fn numbers(n: usize, seed: u32, range: u32) -> Vec<u32> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x % range
            })
            .collect()
    }

    #[test]
    fn orders_as_std_does() {
        for n in [0, 1, 2, 3, 4, 5, 7, 8, 16, 17, 100, 1000, 5000] {
            for (seed, range) in [(1, 3), (7, 1000), (99, u32::MAX)] {
                let items = numbers(n, seed, range);
                // Ties broken by index, as every caller does.
                let order = sorted(n, &|a, b| (items[a], a) < (items[b], b));
                let mut expected: Vec<usize> = (0..n).collect();
                expected.sort_by_key(|&i| (items[i], i));
                assert_eq!(order, expected, "n={n} seed={seed}");
            }
        }
    }

    #[test]
    fn sorted_and_reversed_input() {
        let n = 3000;
        let up = sorted(n, &|a, b| a < b);
        assert_eq!(up, (0..n).collect::<Vec<_>>());
        let down = sorted(n, &|a, b| a > b);
        assert_eq!(down, (0..n).rev().collect::<Vec<_>>());
    }

    #[test]
    fn comparisons_grow_as_n_log_n() {
        let n = 10_000;
        let items = numbers(n, 5, u32::MAX);
        let count = std::cell::Cell::new(0u64);
        let _ = sorted(n, &|a, b| {
            count.set(count.get() + 1);
            (items[a], a) < (items[b], b)
        });
        // 2 n log2 n is about 266,000 for 10,000 items; n² would be 10^8.
        assert!(count.get() < 300_000, "{} comparisons", count.get());
    }
}
