//! CPU time of the calling thread, so a figure can be given per CPU-second as well as per
//! wall-second: on a shared 2-core machine the two differ whenever another process (a
//! compiler, the registry, the other benchmark contender) takes the core away.
//!
//! Read from `/proc/thread-self/schedstat` (first field: nanoseconds this thread ran, the
//! counter `CLOCK_THREAD_CPUTIME_ID` reports) rather than by calling `clock_gettime`, because
//! the workspace forbids `unsafe` and this avoids a dependency for one number. The kernel
//! updates the counter of a running thread at scheduler ticks, so a reading can lag by one tick
//! (≤ 4 ms); over runs of a second or more that is below the noise. Only read at the start and
//! end of a run, never per call.

use std::time::Duration;

/// CPU time the calling thread has used so far, or `None` where the kernel does not say.
pub fn thread_cpu_time() -> Option<Duration> {
    parse_schedstat(&std::fs::read_to_string("/proc/thread-self/schedstat").ok()?)
}

/// The run time in a schedstat line: `<ns on CPU> <ns waiting> <timeslices>`.
pub fn parse_schedstat(text: &str) -> Option<Duration> {
    let nanos: u64 = text.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// CPU time used by the calling thread between two readings.
pub fn elapsed(start: Option<Duration>) -> Option<Duration> {
    Some(thread_cpu_time()?.saturating_sub(start?))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schedstat_run_time_is_the_first_field() {
        assert_eq!(
            parse_schedstat("539362164 462855 33\n"),
            Some(Duration::from_nanos(539_362_164))
        );
        assert_eq!(parse_schedstat(""), None);
        assert_eq!(parse_schedstat("x 1 2"), None);
    }

    #[test]
    fn readings_never_go_backwards() {
        let Some(first) = thread_cpu_time() else {
            eprintln!("SKIPPED: no /proc/thread-self/schedstat here");
            return;
        };
        let second = thread_cpu_time().unwrap();
        assert!(second >= first, "{first:?} then {second:?}");
    }
}
