//! Local time from a POSIX `TZ` string, as OpenWrt keeps it in /etc/TZ
//! (`CET-1CEST,M3.5.0,M10.5.0/3`), for the daemon log's timestamps. Pure;
//! it replaces libc's `localtime_r`, whose zoneinfo code is big for what a
//! log line needs.

// Days and offsets are i32 (cheap on 32-bit routers); only instants are i64.
const DAY: i32 = 86400;
const HOUR: i32 = 3600;

/// A time zone: the standard offset and, when it has one, summer time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Zone {
    /// Seconds east of UTC (POSIX writes them west: `CET-1` is +3600).
    std_offset: i32,
    dst: Option<Dst>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dst {
    offset: i32,
    /// When summer time starts, in local standard time.
    start: Rule,
    /// When it ends, in local summer time.
    end: Rule,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rule {
    date: Date,
    /// Seconds after local midnight (may be negative or past 24 h).
    time: i32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Date {
    /// `Jn`: day 1..=365, February 29 never counted.
    Julian(i32),
    /// `n`: day 0..=365, February 29 counted.
    Zero(i32),
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (5 = last) of month `m`.
    Month { month: i32, week: i32, weekday: i32 },
}

/// Without a rule, summer time follows the US rules, as in musl and glibc.
const DEFAULT_START: Rule = Rule { date: Date::Month { month: 3, week: 2, weekday: 0 }, time: 2 * HOUR };
const DEFAULT_END: Rule = Rule { date: Date::Month { month: 11, week: 1, weekday: 0 }, time: 2 * HOUR };

impl Zone {
    /// Parses `std offset [dst [offset] [,start[/time],end[/time]]]`; names
    /// are letters or `<...>` (`<+03>-3`). `None` for anything else, such as
    /// a zoneinfo name (`Europe/Berlin`, `:UTC`).
    pub fn parse(text: &[u8]) -> Option<Zone> {
        let mut p = Parser { text: text.trim_ascii(), at: 0 };
        p.name()?;
        let std_offset = -p.offset()?;
        if p.done() {
            return Some(Zone { std_offset, dst: None });
        }
        p.name()?;
        let offset = if matches!(p.peek(), Some(b'0'..=b'9' | b'+' | b'-')) {
            -p.offset()?
        } else {
            std_offset + HOUR
        };
        let (start, end) = if p.eat(b',') {
            let start = p.rule()?;
            if !p.eat(b',') {
                return None;
            }
            (start, p.rule()?)
        } else {
            (DEFAULT_START, DEFAULT_END)
        };
        p.done().then_some(Zone { std_offset, dst: Some(Dst { offset, start, end }) })
    }

    /// Seconds to add to UTC at `utc` (seconds since the epoch).
    pub fn offset_at(&self, utc: i64) -> i32 {
        let Some(dst) = self.dst else { return self.std_offset };
        let (year, _, _) = civil_from_days(day_of(utc + i64::from(self.std_offset)));
        let start = dst.start.at(year) - i64::from(self.std_offset);
        let end = dst.end.at(year) - i64::from(dst.offset);
        let summer = if start < end {
            start <= utc && utc < end
        } else {
            // Southern hemisphere: summer spans the new year.
            !(end <= utc && utc < start)
        };
        if summer {
            dst.offset
        } else {
            self.std_offset
        }
    }
}

impl Rule {
    /// The rule's moment in `year`, as seconds since the epoch of that
    /// local wall-clock time.
    fn at(&self, year: i32) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        let day = match self.date {
            Date::Julian(n) => jan1 + n - 1 + i32::from(is_leap(year) && n >= 60),
            Date::Zero(n) => jan1 + n,
            Date::Month { month, week, weekday } => {
                let first = days_from_civil(year, month, 1);
                let next = if month == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, month + 1, 1)
                };
                // 1970-01-01 was a Thursday (weekday 4).
                let mut day = first + (weekday - (first + 4)).rem_euclid(7) + 7 * (week - 1);
                while day >= next {
                    day -= 7;
                }
                day
            }
        };
        i64::from(day) * i64::from(DAY) + i64::from(self.time)
    }
}

struct Parser<'a> {
    text: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn done(&self) -> bool {
        self.at == self.text.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        self.at += usize::from(hit);
        hit
    }

    /// A zone name: three or more letters, or `<...>` with at least three
    /// letters, digits or signs inside.
    fn name(&mut self) -> Option<()> {
        let quoted = self.eat(b'<');
        let start = self.at;
        while let Some(c) = self.peek() {
            let ok = c.is_ascii_alphabetic() || quoted && (c.is_ascii_digit() || c == b'+' || c == b'-');
            if !ok {
                break;
            }
            self.at += 1;
        }
        let long_enough = self.at - start >= 3;
        (long_enough && (!quoted || self.eat(b'>'))).then_some(())
    }

    /// One to three digits.
    fn number(&mut self) -> Option<i32> {
        let start = self.at;
        let mut n = 0;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            if self.at - start == 3 {
                return None;
            }
            n = n * 10 + i32::from(c - b'0');
            self.at += 1;
        }
        (self.at > start).then_some(n)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds; hours up to 167 (as rule times allow).
    fn offset(&mut self) -> Option<i32> {
        let negative = self.eat(b'-');
        if !negative {
            self.eat(b'+');
        }
        let hours = self.number()?;
        let mut seconds = hours * HOUR;
        if self.eat(b':') {
            seconds += self.below_60()? * 60;
            if self.eat(b':') {
                seconds += self.below_60()?;
            }
        }
        (hours <= 167).then_some(if negative { -seconds } else { seconds })
    }

    fn below_60(&mut self) -> Option<i32> {
        self.number().filter(|&n| n < 60)
    }

    /// `Jn`, `n` or `Mm.w.d`, then an optional `/time` (default 02:00).
    fn rule(&mut self) -> Option<Rule> {
        let date = if self.eat(b'J') {
            Date::Julian(self.number().filter(|n| (1..=365).contains(n))?)
        } else if self.eat(b'M') {
            let month = self.number().filter(|m| (1..=12).contains(m))?;
            self.eat(b'.').then_some(())?;
            let week = self.number().filter(|w| (1..=5).contains(w))?;
            self.eat(b'.').then_some(())?;
            let weekday = self.number().filter(|d| *d <= 6)?;
            Date::Month { month, week, weekday }
        } else {
            Date::Zero(self.number().filter(|n| *n <= 365)?)
        };
        let time = if self.eat(b'/') { self.offset()? } else { 2 * HOUR };
        Some(Rule { date, time })
    }
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days since 1970-01-01 of a date (proleptic Gregorian; H. Hinnant's
/// algorithm).
fn days_from_civil(year: i32, month: i32, day: i32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) of a day number since 1970-01-01.
fn civil_from_days(days: i32) -> (i32, i32, i32) {
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i32::from(month <= 2), month, day)
}

/// The day number (since 1970-01-01) of an instant.
fn day_of(seconds: i64) -> i32 {
    // 86400 = 128 * 675, and floor division by each in turn is floor
    // division by both: no 64-bit division (a compiler-rt call on 32-bit CPUs).
    ((seconds >> 7) as i32).div_euclid(DAY / 128)
}

/// A wall-clock time split as (year, month, day, hour, minute, second).
pub fn civil(seconds: i64) -> (i32, i32, i32, i32, i32, i32) {
    let days = day_of(seconds);
    let (year, month, day) = civil_from_days(days);
    let s = (seconds - i64::from(days) * i64::from(DAY)) as i32;
    (year, month, day, s / HOUR, s / 60 % 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seconds since the epoch of a UTC date and time.
    fn utc(year: i32, month: i32, day: i32, hour: i32, minute: i32) -> i64 {
        i64::from(days_from_civil(year, month, day)) * 86400 + i64::from(hour * HOUR + minute * 60)
    }

    /// The local wall-clock time at `t` in `zone`, as text.
    fn local(zone: &str, t: i64) -> String {
        let zone = Zone::parse(zone.as_bytes()).unwrap_or_else(|| panic!("{zone:?} does not parse"));
        let (y, mo, d, h, mi, s) = civil(t + i64::from(zone.offset_at(t)));
        format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
    }

    #[test]
    fn day_numbers_are_floor_division_by_a_day() {
        let mut seconds = -70_000_000_000i64;
        while seconds < 70_000_000_000 {
            for s in [seconds - 1, seconds, seconds + 1, seconds + 86_399] {
                assert_eq!(i64::from(day_of(s)), s.div_euclid(86400), "{s}");
            }
            seconds += 86_400 * 97 + 12_345;
        }
    }

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(civil(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil(951_782_400), (2000, 2, 29, 0, 0, 0));
        assert_eq!(civil(4_107_542_399), (2100, 2, 28, 23, 59, 59));
        assert_eq!(civil(-1), (1969, 12, 31, 23, 59, 59));
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn offsets_are_west_positive_as_posix_writes_them() {
        assert_eq!(Zone::parse(b"UTC0").map(|z| z.offset_at(0)), Some(0));
        assert_eq!(Zone::parse(b"CET-1").map(|z| z.offset_at(0)), Some(3600));
        assert_eq!(Zone::parse(b"EST5").map(|z| z.offset_at(0)), Some(-5 * 3600));
        assert_eq!(Zone::parse(b"<+0530>-5:30").map(|z| z.offset_at(0)), Some(19800));
        assert_eq!(Zone::parse(b"<-03>3").map(|z| z.offset_at(0)), Some(-3 * 3600));
        assert_eq!(Zone::parse(b"NST+3:30:15\n").map(|z| z.offset_at(0)), Some(-12615));
    }

    #[test]
    fn what_is_not_a_posix_tz_string_is_refused() {
        for text in [
            "",
            "UTC",
            ":UTC",
            "Europe/Berlin",
            ":Europe/Berlin",
            "CE-1",
            "<+03",
            "CET-1CEST,M3.5.0",
            "CET-1CEST,M13.5.0,M10.5.0/3",
            "CET-1CEST,M3.6.0,M10.5.0",
            "CET-1CEST,M3.5.7,M10.5.0",
            "CET-1CEST,M3.5.0,M10.5.0/3 junk",
            "CET-1CEST,J0,J100",
            "EST5:60",
            "XYZ999",
        ] {
            assert_eq!(Zone::parse(text.as_bytes()), None, "{text:?}");
        }
    }

    #[test]
    fn central_europe_switches_on_the_last_sundays_of_march_and_october() {
        let cet = "CET-1CEST,M3.5.0,M10.5.0/3";
        // 2026: summer time from 2026-03-29 01:00 UTC to 2026-10-25 01:00 UTC.
        assert_eq!(local(cet, utc(2026, 1, 15, 12, 0)), "2026-01-15 13:00:00");
        assert_eq!(local(cet, utc(2026, 3, 29, 0, 59)), "2026-03-29 01:59:00");
        assert_eq!(local(cet, utc(2026, 3, 29, 1, 0)), "2026-03-29 03:00:00");
        assert_eq!(local(cet, utc(2026, 7, 1, 12, 0)), "2026-07-01 14:00:00");
        assert_eq!(local(cet, utc(2026, 10, 25, 0, 59)), "2026-10-25 02:59:00");
        assert_eq!(local(cet, utc(2026, 10, 25, 1, 0)), "2026-10-25 02:00:00");
        // 2027: March 28 and October 31 (a month with five Sundays).
        assert_eq!(local(cet, utc(2027, 3, 28, 1, 0)), "2027-03-28 03:00:00");
        assert_eq!(local(cet, utc(2027, 10, 31, 0, 59)), "2027-10-31 02:59:00");
        assert_eq!(local(cet, utc(2027, 10, 31, 1, 0)), "2027-10-31 02:00:00");
        // Around the new year: standard time on both sides.
        assert_eq!(local(cet, utc(2026, 12, 31, 23, 30)), "2027-01-01 00:30:00");
    }

    #[test]
    fn us_rules_and_the_default_rule_agree() {
        let explicit = "EST5EDT,M3.2.0,M11.1.0";
        // 2026: second Sunday of March is the 8th, first Sunday of November the 1st.
        for zone in [explicit, "EST5EDT"] {
            assert_eq!(local(zone, utc(2026, 3, 8, 6, 59)), "2026-03-08 01:59:00");
            assert_eq!(local(zone, utc(2026, 3, 8, 7, 0)), "2026-03-08 03:00:00");
            assert_eq!(local(zone, utc(2026, 11, 1, 5, 59)), "2026-11-01 01:59:00");
            assert_eq!(local(zone, utc(2026, 11, 1, 6, 0)), "2026-11-01 01:00:00");
        }
    }

    #[test]
    fn southern_summer_spans_the_new_year() {
        let sydney = "AEST-10AEDT,M10.1.0,M4.1.0/3";
        // 2026: summer time ends 2026-04-05 03:00 local (16:00 UTC the day
        // before) and starts 2026-10-04 02:00 local (16:00 UTC the day before).
        assert_eq!(local(sydney, utc(2026, 1, 10, 0, 0)), "2026-01-10 11:00:00");
        assert_eq!(local(sydney, utc(2026, 4, 4, 15, 59)), "2026-04-05 02:59:00");
        assert_eq!(local(sydney, utc(2026, 4, 4, 16, 0)), "2026-04-05 02:00:00");
        assert_eq!(local(sydney, utc(2026, 10, 3, 15, 59)), "2026-10-04 01:59:00");
        assert_eq!(local(sydney, utc(2026, 10, 3, 16, 0)), "2026-10-04 03:00:00");
        assert_eq!(local(sydney, utc(2026, 12, 31, 14, 0)), "2027-01-01 01:00:00");
    }

    #[test]
    fn julian_and_zero_based_days_and_odd_times() {
        // J60 is March 1 in every year; 59 (zero-based) is March 1 only in
        // common years and February 29 in leap years.
        let julian = "AAA0BBB,J60/0,J300/0";
        assert_eq!(local(julian, utc(2028, 2, 29, 23, 59)), "2028-02-29 23:59:00");
        assert_eq!(local(julian, utc(2028, 3, 1, 0, 0)), "2028-03-01 01:00:00");
        let zero = "AAA0BBB,59/0,300/0";
        assert_eq!(local(zero, utc(2028, 2, 28, 23, 59)), "2028-02-28 23:59:00");
        assert_eq!(local(zero, utc(2028, 2, 29, 0, 0)), "2028-02-29 01:00:00");
        // Negative and past-midnight rule times (e.g. Greenland, Israel).
        let odd = "<-02>2<-01>,M3.5.0/-1,M10.5.0/25";
        // 2026-03-29 is the last Sunday of March: -1 h is 23:00 the day before.
        assert_eq!(local(odd, utc(2026, 3, 29, 0, 59)), "2026-03-28 22:59:00");
        assert_eq!(local(odd, utc(2026, 3, 29, 1, 0)), "2026-03-29 00:00:00");
        // 2026-10-25 25:00 local summer time is 2026-10-26 02:00 UTC.
        assert_eq!(local(odd, utc(2026, 10, 26, 1, 59)), "2026-10-26 00:59:00");
        assert_eq!(local(odd, utc(2026, 10, 26, 2, 0)), "2026-10-26 00:00:00");
    }
}
