//! Integers read from text the way `str::parse` reads them, by one routine
//! for every integer type: each `parse::<T>` is a copy of core's parser of
//! its own (about half a KiB each on a router). And [`divide`], a 64-bit
//! division by a small number without compiler-rt's 64-bit division.

/// Digits in `radix` (at most 36) after an optional `+`, as
/// `str::parse::<u64>` (or `u64::from_str_radix`) takes them; `None` when
/// there are none, one is not a digit, or the number is past `u64::MAX`.
pub fn unsigned(text: &str, radix: u8) -> Option<u64> {
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        let digit = char::from(b).to_digit(radix.into())?;
        n = n.checked_mul(radix.into())?.checked_add(digit.into())?;
    }
    Some(n)
}

/// `text` as `str::parse::<u32>` reads it.
pub fn u32(text: &str) -> Option<u32> {
    u32::try_from(unsigned(text, 10)?).ok()
}

/// `text` as `str::parse::<usize>` reads it.
pub fn usize(text: &str) -> Option<usize> {
    usize::try_from(unsigned(text, 10)?).ok()
}

/// `text` as `str::parse::<i32>` reads it: an optional `-` or `+`, digits.
pub fn i32(text: &str) -> Option<i32> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(digits) if digits.starts_with('+') => return None,
        Some(digits) => (true, digits),
        None => (false, text),
    };
    let n = i64::from(u32(digits)?);
    i32::try_from(if negative { -n } else { n }).ok()
}

/// `n / d` for `1 <= d <= 2^16` by 32-bit divisions (a 64-bit one is a
/// call into compiler-rt on 32-bit CPUs): the high half, then the low half
/// 16 bits at a time (a rest below `d`, shifted by 16, still fits).
#[inline(never)]
pub fn divide(n: u64, d: u32) -> u64 {
    let (high, low) = ((n >> 32) as u32, n as u32);
    let upper = ((high % d) << 16) | (low >> 16);
    let lower = ((upper % d) << 16) | (low & 0xffff);
    (u64::from(high / d) << 32) | u64::from(((upper / d) << 16) | (lower / d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_str_parse_reads() {
        let words = [
            "",
            "+",
            "-",
            "0",
            "-0",
            "+0",
            "7",
            "+7",
            "-7",
            "--7",
            "+-7",
            "-+7",
            "007",
            " 7",
            "7 ",
            "1e3",
            "0x10",
            "٣",
            "4294967295",
            "4294967296",
            "-2147483648",
            "-2147483649",
            "2147483647",
            "2147483648",
            "18446744073709551615",
            "18446744073709551616",
            "9223372036854775807",
            "-9223372036854775808",
            "-9223372036854775809",
            "65535",
            "65536",
            "ff",
            "FF",
            "+f",
            "g",
            "777",
            "778",
        ];
        for w in words {
            assert_eq!(unsigned(w, 10), w.parse::<u64>().ok(), "u64 {w:?}");
            assert_eq!(u32(w), w.parse::<u32>().ok(), "u32 {w:?}");
            assert_eq!(usize(w), w.parse::<usize>().ok(), "usize {w:?}");
            assert_eq!(i32(w), w.parse::<i32>().ok(), "i32 {w:?}");
            assert_eq!(unsigned(w, 16), u64::from_str_radix(w, 16).ok(), "hex {w:?}");
            assert_eq!(unsigned(w, 8), u64::from_str_radix(w, 8).ok(), "octal {w:?}");
        }
    }

    #[test]
    fn divides_as_u64_does() {
        let ns = [0, 1, 99, 100, 12_345_000, (1 << 32) - 1, 1 << 32, (1 << 48) + 7, u64::MAX - 1, u64::MAX];
        for d in [1, 3, 100, 1000, 1024, 65535, 1 << 16] {
            for n in ns {
                assert_eq!(divide(n, d), n / u64::from(d), "{n} / {d}");
            }
        }
    }
}
