/* floor: what this machine costs the engine before the engine does anything.
 * (1) Interruptions of one CPU: a loop that only reads the TSC, pinned there, counts every
 *     gap between two reads of at least 250 ns, 1 us, 10 us, 100 us (interrupts, and on a
 *     virtual machine the hypervisor taking the CPU, which the guest's /proc/interrupts
 *     never shows). The field's sysjitter measures the same way.
 * (2) Memory: the time of one dependent load (pointer chasing in a random cycle, one cache
 *     line per step) in buffers of 1, 4 and 32 MiB, on hugepages when there are any:
 *     what an order-table lookup that misses the caches waits.
 * (3) Working sets: one load of a random line of a 256 KiB, 1 MiB or 32 MiB buffer, each
 *     after --ws-every-us spent polling an empty UDP socket the way t2t-hot waits for the
 *     next packet: the distribution of what a message pays for one line of a working set
 *     of that size touched at that pace (the order table: one random line per message),
 *     whatever evicts it meanwhile (the kernel, another hyperthread of the core, the
 *     hypervisor).
 * Prints one JSON object. See engine/README.md. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

const char *prog_name = "floor";

static const uint64_t GAP_NS[] = {250, 1000, 10000, 100000};
#define NGAPS (sizeof GAP_NS / sizeof *GAP_NS)
static const unsigned MEM_MIB[] = {1, 4, 32};
#define NMEM (sizeof MEM_MIB / sizeof *MEM_MIB)
static const unsigned WS_KIB[] = {256, 1024, 32768};
#define NWS (sizeof WS_KIB / sizeof *WS_KIB)

static struct {
    int cpu;
    unsigned ms, ws_every_us, ws_samples;
} O = {-1, 2000, 20, 50000};

static void usage(void)
{
    printf("usage: floor [--cpu N] [--ms N] [--ws-every-us N] [--ws-samples N]\n"
           "Interruptions of one CPU and memory load times, as JSON on stdout.\n"
           "  --cpu N            pin to CPU N (default: where it starts)\n"
           "  --ms N             how long to watch for interruptions, 10..600000 (default 2000)\n"
           "  --ws-every-us N    idle time before each working-set load, 1..10000 (default 20)\n"
           "  --ws-samples N     working-set loads per buffer, 1000..1000000 (default 50000)\n");
}

static void parse_args(int argc, char **argv)
{
    enum { O_CPU = 256, O_MS, O_WS_EVERY, O_WS_SAMPLES, O_HELP };
    static const struct option lo[] = {{"cpu", 1, 0, O_CPU},
                                       {"ms", 1, 0, O_MS},
                                       {"ws-every-us", 1, 0, O_WS_EVERY},
                                       {"ws-samples", 1, 0, O_WS_SAMPLES},
                                       {"help", 0, 0, O_HELP},
                                       {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_CPU: O.cpu = (int)opt_u64("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
        case O_MS: O.ms = (unsigned)opt_u64("--ms", optarg, 10, 600000); break;
        case O_WS_EVERY:
            O.ws_every_us = (unsigned)opt_u64("--ws-every-us", optarg, 1, 10000);
            break;
        case O_WS_SAMPLES:
            O.ws_samples = (unsigned)opt_u64("--ws-samples", optarg, 1000, 1000000);
            break;
        case O_HELP: usage(); exit(0);
        default: usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
}

/* A buffer of size bytes, on hugepages when there are any (*huge says which). */
static uint8_t *buffer(size_t size, int *huge)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    *huge = p != MAP_FAILED;
    if (p == MAP_FAILED)
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
    if (p == MAP_FAILED)
        die("mmap of %zu bytes: %s", size, strerror(errno));
    return p;
}

/* Dependent loads through a random cycle over a buffer of mib MiB; ns per load. */
static double load_ns(const tsc_cal_t *cal, unsigned mib, int *huge)
{
    size_t size = (size_t)mib << 20, lines = size / 64;
    uint8_t *buf = buffer(size, huge);
    size_t *order = malloc(lines * sizeof *order);
    if (!order)
        die("out of memory");
    uint64_t rng = 88172645463325252ull;
    for (size_t i = 0; i < lines; i++)
        order[i] = i;
    for (size_t i = lines - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)(xorshift(&rng) % (i + 1)), t = order[i];
        order[i] = order[j], order[j] = t;
    }
    for (size_t i = 0; i < lines; i++)
        *(uint8_t **)(buf + order[i] * 64) = buf + order[(i + 1) % lines] * 64;
    free(order);
    uint8_t *q = buf;
    for (size_t i = 0; i < lines; i++) /* one lap to settle caches and TLB */
        q = *(uint8_t **)q;
    size_t steps = 4000000;
    uint64_t t0 = tsc_begin();
    for (size_t i = 0; i < steps; i++)
        q = *(uint8_t **)q;
    uint64_t t1 = tsc_end();
    if (!q)
        die("broken cycle");
    munmap(buf, size);
    return (double)tsc_to_ns(cal, t1 - t0) / (double)steps;
}

/* One load of a random line of a buffer of kib KiB after each O.ws_every_us of polling an
 * empty socket, O.ws_samples times, into h (ns, the timer's own cost included: timer_ns). */
static void working_set(const tsc_cal_t *cal, int fd, unsigned kib, hist_t *h, int *huge)
{
    size_t size = (size_t)kib << 10, lines = size / 64;
    volatile uint8_t *buf = buffer(size, huge);
    for (size_t i = 0; i < size; i += 64) /* every line written once: no page left unbacked */
        buf[i] = (uint8_t)i;
    uint64_t idle = (uint64_t)((double)O.ws_every_us * 1e3 * cal->ghz), rng = 2463534242ull;
    uint8_t scratch[64];
    hist_init(h);
    for (unsigned k = 0; k < O.ws_samples; k++) {
        uint64_t start = tsc();
        while (tsc() - start < idle)
            (void)recv(fd, scratch, sizeof scratch, MSG_DONTWAIT);
        size_t line = (size_t)(xorshift(&rng) % lines);
        __asm__ volatile("" : "+r"(line)); /* the address is ready before the clock starts */
        uint64_t t0 = tsc_begin();
        (void)buf[line * 64]; /* volatile: the load happens */
        uint64_t t1 = tsc_end();
        hist_add(h, tsc_to_ns(cal, t1 - t0));
    }
    munmap((void *)buf, size);
}

/* What a timed load costs with no load: the timer's own share of working_set's numbers. */
static uint64_t timer_ns(const tsc_cal_t *cal)
{
    hist_t *h = malloc(sizeof *h);
    if (!h)
        die("out of memory");
    hist_init(h);
    for (int k = 0; k < 100000; k++) {
        uint64_t t0 = tsc_begin();
        uint64_t t1 = tsc_end();
        hist_add(h, tsc_to_ns(cal, t1 - t0));
    }
    uint64_t ns = hist_pct(h, 50);
    free(h);
    return ns;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    /* the socket the working-set measurement polls, like t2t-hot's feed socket */
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in lo = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || bind(fd, (struct sockaddr *)&lo, sizeof lo))
        die("a UDP socket on the loopback to poll: %s", strerror(errno));
    if (O.cpu >= 0)
        pin_process(O.cpu);
    tsc_cal_t cal = tsc_calibrate();
    uint64_t count[NGAPS] = {0}, longest = 0, reads = 0;
    uint64_t gap_cycles[NGAPS];
    for (size_t k = 0; k < NGAPS; k++)
        gap_cycles[k] = (uint64_t)((double)GAP_NS[k] * cal.ghz);
    uint64_t start = tsc(), end = start + (uint64_t)((double)O.ms * 1e6 * cal.ghz);
    for (uint64_t prev = start; prev < end; reads++) {
        uint64_t now = tsc(), gap = now - prev;
        if (UNLIKELY(gap >= gap_cycles[0])) {
            for (size_t k = 0; k < NGAPS; k++)
                count[k] += gap >= gap_cycles[k];
            if (gap > longest)
                longest = gap;
        }
        prev = now;
    }
    double seconds = (double)O.ms / 1000.0;
    printf("{\"program\": \"floor\", \"cpu\": %d, \"tsc_ghz\": %.4f, \"seconds\": %.3f, "
           "\"reads\": %" PRIu64 ", \"interruptions_per_s\": {",
           O.cpu >= 0 ? O.cpu : sched_getcpu(), cal.ghz, seconds, reads);
    for (size_t k = 0; k < NGAPS; k++)
        printf("%s\"%" PRIu64 "\": %.1f", k ? ", " : "", GAP_NS[k], (double)count[k] / seconds);
    printf("}, \"longest_ns\": %" PRIu64 ", \"dependent_load_ns\": [", tsc_to_ns(&cal, longest));
    for (size_t k = 0; k < NMEM; k++) {
        int huge = 0;
        double ns = load_ns(&cal, MEM_MIB[k], &huge);
        printf("%s{\"mib\": %u, \"ns\": %.1f, \"hugepages\": %s}", k ? ", " : "", MEM_MIB[k], ns,
               huge ? "true" : "false");
    }
    printf("], \"working_set\": {\"every_us\": %u, \"samples\": %u, \"timer_ns\": %" PRIu64
           ", \"buffers\": [",
           O.ws_every_us, O.ws_samples, timer_ns(&cal));
    hist_t *h = malloc(sizeof *h);
    if (!h)
        die("out of memory");
    for (size_t k = 0; k < NWS; k++) {
        int huge = 0;
        working_set(&cal, fd, WS_KIB[k], h, &huge);
        printf("%s{\"kib\": %u, \"hugepages\": %s, \"p50\": %" PRIu64 ", \"p90\": %" PRIu64
               ", \"p99\": %" PRIu64 ", \"p999\": %" PRIu64 "}",
               k ? ", " : "", WS_KIB[k], huge ? "true" : "false", hist_pct(h, 50),
               hist_pct(h, 90), hist_pct(h, 99), hist_pct(h, 99.9));
    }
    free(h);
    close(fd);
    printf("]}}\n");
    return 0;
}
