/* Shared code of the engine programs: big-endian wire access, clocks, TSC,
 * log-linear latency histograms, option parsing. Header only. */
#ifndef COLOTUNE_COMMON_H
#define COLOTUNE_COMMON_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define UNUSED __attribute__((unused))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
/* For functions that only prefetch (and their callers that only call them): GCC 12's
 * interprocedural analysis takes such a function for one without side effects and deletes
 * every call to it, so the prefetches vanish from the binary without a warning. Inlined
 * before that analysis, they stay (tests/integration/test_engine_check.py counts them in
 * the disassembly). */
#define PREFETCH_INLINE static inline __attribute__((always_inline))

/* ---- big-endian wire access ---- */
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t rd48(const uint8_t *p)
{
    return ((uint64_t)rd16(p) << 32) | rd32(p + 2);
}
static inline uint64_t rd64(const uint8_t *p) { return ((uint64_t)rd32(p) << 32) | rd32(p + 4); }
static inline void wr16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
static inline void wr48(uint8_t *p, uint64_t v)
{
    wr16(p, (uint16_t)(v >> 32));
    wr32(p + 2, (uint32_t)v);
}
static inline void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)(v >> 32));
    wr32(p + 4, (uint32_t)v);
}

/* ---- xorshift64: a fast, reproducible random sequence per state ---- */
static inline uint64_t xorshift(uint64_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    return *state;
}

/* ---- clocks ---- */
static inline uint64_t now_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint64_t mono_ns(void) { return now_ns(CLOCK_MONOTONIC); }
static inline uint64_t real_ns(void) { return now_ns(CLOCK_REALTIME); }
#define NS_PER_DAY 86400000000000ull
/* Nanoseconds since midnight UTC, the ITCH timestamp's unit. */
static inline uint64_t ns_since_midnight(uint64_t realtime_ns) { return realtime_ns % NS_PER_DAY; }

/* ---- TSC ---- */
#if defined(__x86_64__) || defined(__i386__)
static inline uint64_t tsc(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
/* The ends of a measured interval (Intel's "How to Benchmark Code Execution Times"): the
 * CPU executes rdtsc out of order, so a plain read at the start can be taken while earlier
 * work (the previous message's loads) is still in flight and counted in, and one at the
 * end before the measured work is done. tsc_begin waits for earlier instructions (lfence
 * before rdtsc); tsc_end waits for the measured ones (rdtscp) and keeps later ones out. */
static inline uint64_t tsc_begin(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("lfence\n\trdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t tsc_end(void)
{
    uint32_t lo, hi, aux;
    __asm__ __volatile__("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi), "=c"(aux)::"memory");
    return ((uint64_t)hi << 32) | lo;
}
#else
static inline uint64_t tsc(void) { return mono_ns(); }
static inline uint64_t tsc_begin(void) { return mono_ns(); }
static inline uint64_t tsc_end(void) { return mono_ns(); }
#endif

/* cycles -> ns as (cycles * mult) >> 24 */
typedef struct {
    uint64_t mult;
    double ghz;
} tsc_cal_t;

static inline tsc_cal_t tsc_calibrate(void)
{
    tsc_cal_t c;
    uint64_t n0 = mono_ns(), t0 = tsc();
    uint64_t n1;
    do {
        n1 = mono_ns();
    } while (n1 - n0 < 50000000ull);
    uint64_t t1 = tsc();
    c.ghz = (double)(t1 - t0) / (double)(n1 - n0);
    if (c.ghz <= 0.0)
        c.ghz = 1.0;
    c.mult = (uint64_t)((double)(1u << 24) / c.ghz);
    return c;
}
static inline uint64_t tsc_to_ns(const tsc_cal_t *c, uint64_t cycles)
{
    return (cycles * c->mult) >> 24;
}

/* ---- relaxed counters: written by one thread, read by another for reports ---- */
typedef _Atomic uint64_t counter_t;
static inline void cnt_add(counter_t *c, uint64_t v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v,
                          memory_order_relaxed);
}
static inline void cnt_inc(counter_t *c) { cnt_add(c, 1); }
static inline uint64_t cnt_get(counter_t *c) { return atomic_load_explicit(c, memory_order_relaxed); }

/* ---- log-linear histogram of nanosecond values (about 3 % resolution) ----
 * Values below 64 get their own bucket; above, 32 buckets per power of two. */
#define HIST_SUB 32
#define HIST_BUCKETS (64 + 58 * HIST_SUB)
typedef struct {
    counter_t count, sum, min, max;
    counter_t b[HIST_BUCKETS];
} hist_t;

static inline unsigned hist_index(uint64_t v)
{
    if (v < 64)
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - 5u;
    unsigned idx = 64u + (msb - 6u) * HIST_SUB + (unsigned)((v >> shift) - HIST_SUB);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}
static inline uint64_t hist_lower(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned o = (idx - 64) / HIST_SUB, s = (idx - 64) % HIST_SUB;
    return (uint64_t)(HIST_SUB + s) << (o + 1);
}
static inline uint64_t hist_upper(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned o = (idx - 64) / HIST_SUB;
    return hist_lower(idx) + ((uint64_t)1 << (o + 1)) - 1;
}
static inline void hist_init(hist_t *h)
{
    memset((void *)h, 0, sizeof *h);
    atomic_store(&h->min, UINT64_MAX);
}
static inline void hist_add(hist_t *h, uint64_t v)
{
    cnt_inc(&h->count);
    cnt_add(&h->sum, v);
    if (v < cnt_get(&h->min))
        atomic_store_explicit(&h->min, v, memory_order_relaxed);
    if (v > cnt_get(&h->max))
        atomic_store_explicit(&h->max, v, memory_order_relaxed);
    cnt_inc(&h->b[hist_index(v)]);
}
/* Percentile as the upper bound of the bucket holding it, clamped to [min, max]. */
static inline uint64_t hist_pct(hist_t *h, double pct)
{
    uint64_t n = cnt_get(&h->count);
    if (n == 0)
        return 0;
    uint64_t rank = (uint64_t)((pct / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    uint64_t acc = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        acc += cnt_get(&h->b[i]);
        if (acc >= rank) {
            uint64_t v = hist_upper(i);
            if (v > cnt_get(&h->max))
                v = cnt_get(&h->max);
            if (v < cnt_get(&h->min))
                v = cnt_get(&h->min);
            return v;
        }
    }
    return cnt_get(&h->max);
}
static inline void hist_json(FILE *f, hist_t *h, const char *indent)
{
    uint64_t n = cnt_get(&h->count);
    fprintf(f, "{\"unit\": \"ns\", \"count\": %" PRIu64, n);
    if (n) {
        fprintf(f,
                ", \"min\": %" PRIu64 ", \"mean\": %.1f, \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
                ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64 ", \"p9999\": %" PRIu64
                ", \"max\": %" PRIu64,
                cnt_get(&h->min), (double)cnt_get(&h->sum) / (double)n, hist_pct(h, 50),
                hist_pct(h, 90), hist_pct(h, 99), hist_pct(h, 99.9), hist_pct(h, 99.99),
                cnt_get(&h->max));
    } else {
        fprintf(f, ", \"min\": null, \"mean\": null, \"p50\": null, \"p90\": null, \"p99\": null"
                   ", \"p999\": null, \"p9999\": null, \"max\": null");
    }
    fprintf(f, ",\n%s \"buckets\": [", indent);
    int first = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        uint64_t c = cnt_get(&h->b[i]);
        if (!c)
            continue;
        fprintf(f, "%s[%" PRIu64 ", %" PRIu64 ", %" PRIu64 "]", first ? "" : ", ", hist_lower(i),
                hist_upper(i), c);
        first = 0;
    }
    fprintf(f, "]}");
}

/* ---- diagnostics and option parsing ---- */
extern const char *prog_name;

/* One line on stderr: "PROG: " then kind ("" or "warning: ") then the message. */
static inline void __attribute__((format(printf, 2, 0)))
say(const char *kind, const char *fmt, va_list ap)
{
    fprintf(stderr, "%s: %s", prog_name, kind);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
}
static inline void __attribute__((format(printf, 1, 2), noreturn)) usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: run '%s --help' for the valid options\n", prog_name, prog_name);
    exit(2);
}
static inline void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("", fmt, ap);
    va_end(ap);
    exit(1);
}
static inline void __attribute__((format(printf, 1, 2))) warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("warning: ", fmt, ap);
    va_end(ap);
}

#ifdef _GNU_SOURCE
#include <sched.h>
#include <signal.h>

/* SIGINT and SIGTERM ask a program to stop, SIGUSR1 to write its report now: flags for its
 * main loop, set by catch_stop_and_dump's handler. */
static volatile sig_atomic_t sig_stop UNUSED, sig_dump UNUSED;
static inline void on_signal(int s)
{
    if (s == SIGUSR1)
        sig_dump = 1;
    else
        sig_stop = 1;
}
static inline void catch_stop_and_dump(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

/* --cpu N for a whole program: pin the calling process, or exit 2 naming the CPU. */
static inline void pin_process(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set))
        usage_error("--cpu %d: CPU not allowed here (%s)", cpu, strerror(errno));
}
#endif

/* Unsigned integer option in [lo, hi]; exits 2 with the option's name otherwise. */
static inline uint64_t opt_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        usage_error("%s: expected an integer in %" PRIu64 "..%" PRIu64 ", got '%s'", opt, lo, hi,
                    s ? s : "");
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        usage_error("%s: expected an integer in %" PRIu64 "..%" PRIu64 ", got '%s'", opt, lo, hi,
                    s);
    return (uint64_t)v;
}
/* Price "123.4567" -> 1234567 (ITCH/OUCH four implied decimals). Returns -1 when invalid. */
static inline int64_t parse_price4(const char *s)
{
    int64_t whole = 0, frac = 0;
    int nd = 0, seen = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        whole = whole * 10 + (*p++ - '0');
        seen = 1;
        if (whole > 200000)
            return -1;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9' && nd < 4) {
            frac = frac * 10 + (*p++ - '0');
            nd++;
            seen = 1;
        }
    }
    if (*p || !seen)
        return -1;
    while (nd++ < 4)
        frac *= 10;
    return whole * 10000 + frac;
}
/* Space-padded, upper-case 8-byte ITCH/OUCH stock field from a symbol; 0 when invalid. */
static inline int stock8(const char *sym, uint8_t out[8])
{
    size_t n = strlen(sym);
    if (n == 0 || n > 8)
        return 0;
    for (size_t i = 0; i < 8; i++) {
        char c = i < n ? sym[i] : ' ';
        if (i < n && !((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return 0;
        out[i] = (uint8_t)c;
    }
    return 1;
}

#endif
