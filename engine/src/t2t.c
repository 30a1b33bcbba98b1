/* t2t: reference tick-to-trade engine. MoldUDP64/ITCH 5.0 in, order books, a simple
 * strategy, inline pre-trade risk, OUCH 4.2 over SoupBinTCP out, measured with kernel
 * timestamps and TSC stage times. See engine/README.md. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/errqueue.h>
#include <linux/net_tstamp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"
#include "proto.h"

const char *prog_name = "t2t";

#define MAX_WATCH 64
#define MAX_GAPS_LISTED 16
#define ORDER_RING 65536 /* power of two */
#define RX_BUF 65536

/* ------------------------------------------------------------------ options */

typedef struct {
    uint8_t stock[8];
    uint32_t limit;
    uint8_t side; /* 'B': buy when best ask <= limit; 'S': sell when best bid >= limit */
} watch_t;

static const char *const THREAD_NAMES[] = {"t2t-hot", "t2t-session"};
enum { TH_HOT, TH_SESSION, TH_COUNT };

typedef struct {
    const char *group, *iface, *gw_host, *user, *password, *soup_session;
    const char *kill_file, *stats, *trace, *bench_file;
    uint16_t port, gw_port;
    watch_t watch[MAX_WATCH];
    unsigned nwatch;
    uint32_t order_qty, max_order_qty, max_orders_per_sec;
    int64_t max_position;
    unsigned max_symbols, max_levels;
    uint64_t max_orders; /* order-reference table slots, power of two */
    int cpu[TH_COUNT];
    int exit_on_end;
    int warm; /* rehearse the order path while the feed is idle (default on) */
    unsigned connect_timeout_ms, heartbeat_ms, bench_passes;
} opts_t;

static opts_t O;

static void usage(void)
{
    printf(
        "usage: t2t [options]\n"
        "Reference tick-to-trade engine: MoldUDP64/ITCH 5.0 in, OUCH 4.2 over SoupBinTCP out.\n"
        "Feed:\n"
        "  --group ADDR            multicast group to join (default 239.1.1.1)\n"
        "  --port N                UDP port (default 31001)\n"
        "  --iface ADDR            local address of the receiving interface (default 127.0.0.1)\n"
        "  --exit-on-end           exit when the MoldUDP64 end-of-session packet arrives\n"
        "Gateway (SoupBinTCP/OUCH 4.2):\n"
        "  --gateway HOST:PORT     order gateway (default 127.0.0.1:31002)\n"
        "  --user NAME             login user, up to 6 characters (default COLO)\n"
        "  --password PW           login password, up to 10 characters (default secret)\n"
        "  --password-file FILE    read the password from FILE instead (first line), so that\n"
        "                          it is not in the command line\n"
        "  --soup-session NAME     requested session, up to 10 characters (default: any)\n"
        "  --connect-timeout-ms N  keep trying to connect this long (default 5000)\n"
        "  --heartbeat-ms N        client heartbeat interval (default 1000)\n"
        "Strategy:\n"
        "  --buy SYMBOL:PRICE      buy --order-qty at the ask whenever the best ask changes\n"
        "                          and is at or below PRICE (repeatable)\n"
        "  --sell SYMBOL:PRICE     sell at the bid whenever the best bid changes and is at or\n"
        "                          above PRICE (repeatable)\n"
        "  --order-qty N           shares per order (default 100)\n"
        "Pre-trade risk:\n"
        "  --max-order-qty N       largest order allowed (default 1000)\n"
        "  --max-position N        largest absolute position per symbol, counting every\n"
        "                          order sent as filled (default 10000)\n"
        "  --max-orders-per-sec N  orders allowed per second (default 100)\n"
        "  --kill-file PATH        no order is sent once PATH exists (checked every 10 ms)\n"
        "Latency:\n"
        "  --no-warm               do not rehearse the order path while the feed is idle\n"
        "                          (by default it runs, without effect, on every empty poll\n"
        "                          so that a rare order finds its code and data in cache)\n"
        "Capacity (pre-allocated):\n"
        "  --max-symbols N         books (default 1024)\n"
        "  --max-levels N          price levels per side per book (default 256)\n"
        "  --max-orders N          live order references (default 1048576)\n"
        "Threads:\n"
        "  --cpu NAME=CPU          pin thread NAME (t2t-hot, t2t-session) to CPU (repeatable)\n"
        "Output:\n"
        "  --stats FILE            statistics JSON, written on exit and on SIGUSR1\n"
        "                          (default: stdout)\n"
        "  --trace FILE            JSON line per decoded message and per order (slow; tests)\n"
        "Benchmark:\n"
        "  --bench-file FILE       decode an ITCH 5.0 file into the books at full speed on\n"
        "                          this thread, print the rate as JSON and exit\n"
        "  --bench-passes N        passes over the file (default 5)\n");
}

static void parse_watch(const char *opt, const char *arg, uint8_t side)
{
    if (O.nwatch >= MAX_WATCH)
        usage_error("%s: at most %d --buy/--sell rules", opt, MAX_WATCH);
    const char *colon = strchr(arg, ':');
    char sym[16];
    if (!colon || (size_t)(colon - arg) >= sizeof sym)
        usage_error("%s: expected SYMBOL:PRICE such as AAPL:100.25, got '%s'", opt, arg);
    memcpy(sym, arg, (size_t)(colon - arg));
    sym[colon - arg] = 0;
    watch_t *w = &O.watch[O.nwatch];
    if (!stock8(sym, w->stock))
        usage_error("%s: symbol '%s' must be 1-8 characters A-Z 0-9 . -", opt, sym);
    int64_t p = parse_price4(colon + 1);
    if (p <= 0 || p > 0x7fffffff)
        usage_error("%s: price '%s' must be a positive decimal such as 100.25", opt, colon + 1);
    w->limit = (uint32_t)p;
    w->side = side;
    O.nwatch++;
}

static void parse_cpu(const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq)
        usage_error("--cpu: expected NAME=CPU with NAME one of t2t-hot, t2t-session; got '%s'",
                    arg);
    int t = -1;
    for (int i = 0; i < TH_COUNT; i++)
        if (strlen(THREAD_NAMES[i]) == (size_t)(eq - arg) &&
            !strncmp(arg, THREAD_NAMES[i], (size_t)(eq - arg)))
            t = i;
    if (t < 0)
        usage_error("--cpu: unknown thread '%.*s'; valid names: t2t-hot, t2t-session",
                    (int)(eq - arg), arg);
    O.cpu[t] = (int)opt_u64("--cpu", eq + 1, 0, CPU_SETSIZE - 1);
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed))
        die("sched_getaffinity: %s", strerror(errno));
    if (!CPU_ISSET(O.cpu[t], &allowed)) {
        char list[256] = "";
        size_t n = 0;
        for (int c = 0; c < CPU_SETSIZE && n < sizeof list - 8; c++)
            if (CPU_ISSET(c, &allowed))
                n += (size_t)snprintf(list + n, sizeof list - n, "%s%d", n ? "," : "", c);
        usage_error("--cpu %s: CPU %d is not allowed for this process (allowed CPUs: %s)", arg,
                    O.cpu[t], list);
    }
}

/* The gateway password from the first line of a file (a systemd credential, a 0600 file):
 * kept out of argv, which every user can read in /proc. */
static const char *read_password(const char *path)
{
    static char pw[16];
    FILE *f = fopen(path, "r");
    if (!f)
        usage_error("--password-file: cannot read %s: %s", path, strerror(errno));
    size_t n = fread(pw, 1, sizeof pw - 1, f);
    fclose(f);
    pw[n] = 0;
    pw[strcspn(pw, "\r\n")] = 0;
    if (strlen(pw) > 10)
        usage_error("--password-file: %s holds more than 10 characters on its first line", path);
    return pw;
}

static void parse_args(int argc, char **argv)
{
    O.group = "239.1.1.1";
    O.iface = "127.0.0.1";
    O.port = 31001;
    O.gw_host = "127.0.0.1";
    O.gw_port = 31002;
    O.user = "COLO";
    O.password = "secret";
    O.soup_session = "";
    O.order_qty = 100;
    O.max_order_qty = 1000;
    O.max_position = 10000;
    O.max_orders_per_sec = 100;
    O.max_symbols = 1024;
    O.max_levels = 256;
    O.max_orders = 1 << 20;
    O.cpu[TH_HOT] = O.cpu[TH_SESSION] = -1;
    O.connect_timeout_ms = 5000;
    O.heartbeat_ms = 1000;
    O.bench_passes = 5;
    O.warm = 1;
    enum { O_GROUP = 256, O_PORT, O_IFACE, O_EXIT_END, O_GW, O_USER, O_PW, O_PWFILE, O_SSESS, O_CTO, O_HB,
           O_BUY, O_SELL, O_QTY, O_MAXQTY, O_MAXPOS, O_MAXRATE, O_KILL, O_MAXSYM, O_MAXLVL,
           O_MAXORD, O_CPU, O_STATS, O_TRACE, O_BENCH, O_PASSES, O_NO_WARM, O_HELP };
    static const struct option lo[] = {
        {"group", 1, 0, O_GROUP},
        {"port", 1, 0, O_PORT},
        {"iface", 1, 0, O_IFACE},
        {"exit-on-end", 0, 0, O_EXIT_END},
        {"gateway", 1, 0, O_GW},
        {"user", 1, 0, O_USER},
        {"password", 1, 0, O_PW},
        {"password-file", 1, 0, O_PWFILE},
        {"soup-session", 1, 0, O_SSESS},
        {"connect-timeout-ms", 1, 0, O_CTO},
        {"heartbeat-ms", 1, 0, O_HB},
        {"buy", 1, 0, O_BUY},
        {"sell", 1, 0, O_SELL},
        {"order-qty", 1, 0, O_QTY},
        {"max-order-qty", 1, 0, O_MAXQTY},
        {"max-position", 1, 0, O_MAXPOS},
        {"max-orders-per-sec", 1, 0, O_MAXRATE},
        {"kill-file", 1, 0, O_KILL},
        {"max-symbols", 1, 0, O_MAXSYM},
        {"max-levels", 1, 0, O_MAXLVL},
        {"max-orders", 1, 0, O_MAXORD},
        {"cpu", 1, 0, O_CPU},
        {"stats", 1, 0, O_STATS},
        {"trace", 1, 0, O_TRACE},
        {"bench-file", 1, 0, O_BENCH},
        {"bench-passes", 1, 0, O_PASSES},
        {"no-warm", 0, 0, O_NO_WARM},
        {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_GROUP: O.group = optarg; break;
        case O_PORT: O.port = (uint16_t)opt_u64("--port", optarg, 1, 65535); break;
        case O_IFACE: O.iface = optarg; break;
        case O_EXIT_END: O.exit_on_end = 1; break;
        case O_GW: {
            char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg)
                usage_error("--gateway: expected HOST:PORT such as 127.0.0.1:31002, got '%s'",
                            optarg);
            *colon = 0;
            O.gw_host = optarg;
            O.gw_port = (uint16_t)opt_u64("--gateway port", colon + 1, 1, 65535);
            break;
        }
        case O_USER:
            if (!*optarg || strlen(optarg) > 6)
                usage_error("--user: expected 1 to 6 characters, got '%s'", optarg);
            O.user = optarg;
            break;
        case O_PW:
            if (strlen(optarg) > 10)
                usage_error("--password: expected at most 10 characters");
            O.password = optarg;
            break;
        case O_PWFILE: O.password = read_password(optarg); break;
        case O_SSESS:
            if (strlen(optarg) > 10)
                usage_error("--soup-session: expected at most 10 characters, got '%s'", optarg);
            O.soup_session = optarg;
            break;
        case O_CTO: O.connect_timeout_ms = (unsigned)opt_u64("--connect-timeout-ms", optarg, 1, 3600000); break;
        case O_HB: O.heartbeat_ms = (unsigned)opt_u64("--heartbeat-ms", optarg, 10, 60000); break;
        case O_BUY: parse_watch("--buy", optarg, 'B'); break;
        case O_SELL: parse_watch("--sell", optarg, 'S'); break;
        case O_QTY: O.order_qty = (uint32_t)opt_u64("--order-qty", optarg, 1, 1000000); break;
        case O_MAXQTY: O.max_order_qty = (uint32_t)opt_u64("--max-order-qty", optarg, 1, 100000000); break;
        case O_MAXPOS: O.max_position = (int64_t)opt_u64("--max-position", optarg, 0, 1000000000000ull); break;
        case O_MAXRATE: O.max_orders_per_sec = (uint32_t)opt_u64("--max-orders-per-sec", optarg, 0, 100000000); break;
        case O_KILL: O.kill_file = optarg; break;
        case O_MAXSYM: O.max_symbols = (unsigned)opt_u64("--max-symbols", optarg, 1, 65535); break;
        case O_MAXLVL: O.max_levels = (unsigned)opt_u64("--max-levels", optarg, 4, 65536); break;
        case O_MAXORD: {
            uint64_t v = opt_u64("--max-orders", optarg, 1024, 1ull << 30);
            uint64_t p = 1024;
            while (p < v)
                p <<= 1;
            O.max_orders = p;
            break;
        }
        case O_CPU: parse_cpu(optarg); break;
        case O_STATS: O.stats = optarg; break;
        case O_TRACE: O.trace = optarg; break;
        case O_NO_WARM: O.warm = 0; break;
        case O_BENCH: O.bench_file = optarg; break;
        case O_PASSES: O.bench_passes = (unsigned)opt_u64("--bench-passes", optarg, 1, 1000); break;
        case O_HELP: usage(); exit(0);
        default: usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    struct in_addr a;
    if (inet_pton(AF_INET, O.group, &a) != 1 || (ntohl(a.s_addr) >> 28) != 14)
        usage_error("--group: expected an IPv4 multicast address (224.0.0.0/4), got '%s'",
                    O.group);
    if (inet_pton(AF_INET, O.iface, &a) != 1)
        usage_error("--iface: expected an IPv4 address, got '%s'", O.iface);
}

/* ------------------------------------------------------------------ state */

typedef struct {
    uint64_t ref;
    uint32_t price, shares;
    uint16_t book;
    uint8_t side, used;
} order_t;

typedef struct {
    uint32_t price;
    uint32_t pad;
    uint64_t qty;
} level_t;

typedef struct {
    uint8_t stock[8];
    int16_t watch[2]; /* index into O.watch for buy / sell, -1 none */
    unsigned nlev[2]; /* 0 bids (ascending, best last), 1 asks (descending, best last) */
    level_t *lev[2];
    int64_t position;
} book_t;

/* --max-orders-per-sec: orders sent in the one-second TSC window that started at start */
typedef struct {
    uint64_t window_start, count;
} rate_t;

typedef struct {
    uint64_t key; /* SO_TIMESTAMPING OPT_ID of the order's last byte */
    uint64_t rx_sw, rx_hw;
} order_rec_t;

typedef struct {
    /* feed */
    counter_t packets, messages, heartbeats, end_of_session, duplicates, recv_errors,
        socket_drops;
    counter_t gap_events, gap_messages, trunc_header, trunc_message, lost_malformed,
        wrong_session, trailing_bytes, unknown_type, bad_length;
    counter_t by_type[256];
    counter_t rx_kind[3]; /* hardware, software, none */
    /* book */
    counter_t symbols, orders_live, unknown_ref, table_full, level_overflow, level_missing,
        symbols_overflow;
    /* strategy, risk, orders */
    counter_t signals, risk_ok, rj_size, rj_position, rj_rate, rj_kill, rj_session, sent,
        send_errors;
    /* session (session thread), on cache lines of their own: no false sharing with the
     * hot thread's counters */
    _Alignas(64) counter_t gw_accepted; /* (_Alignas applies to each name it declares) */
    counter_t gw_rejected, gw_other, hb_sent, hb_rcvd, soup_unknown, drops;
    counter_t tx_matched, tx_shared, tx_missing, tx_kind[3];
    _Alignas(64) char end_of_session_counters;
} stats_t;

static struct {
    /* Cache lines are grouped by who writes them: a line the hot thread writes on the order
     * path must not be one the session thread reads or writes, or each order pays a transfer
     * of the line between cores (measured: the encode stage's P99 went from 180 to 90 ns). */
    /* set up before the threads start, read-only afterwards */
    uint8_t *arena;
    size_t arena_size;
    int arena_huge, locked;
    order_t *orders;
    uint64_t omask;
    book_t *books;
    uint16_t *loc2book; /* locate -> book index + 1 */
    order_rec_t *ring;
    uint8_t *rxbuf;
    int ufd, tfd;
    uint64_t tsc_per_sec;
    tsc_cal_t cal;
    FILE *trace;
    pid_t tid[TH_COUNT];
    /* flags the session thread (or a signal) writes and the hot thread only reads */
    _Alignas(64) _Atomic int stop; /* (_Alignas applies to each name it declares) */
    _Atomic int kill, session_up;
    const char *session_state;
    char reject_reason;
    _Atomic int hot_done; /* the hot thread's last write */
    /* the hot thread's own: feed state, books with a strategy rule (for warm_order_path),
     * risk state and the order being built */
    _Alignas(64) unsigned nbooks;
    uint8_t session[10];
    int have_session;
    uint64_t expected;
    uint64_t gaps[MAX_GAPS_LISTED][2];
    unsigned ngaps;
    book_t *watched[MAX_WATCH];
    unsigned nwatched, warm_next;
    rate_t rate;
    /* where a rehearsal of the order path writes instead (see decide) */
    counter_t rehearsal_signals, rehearsal_risk_ok;
    rate_t rehearsal_rate;
    /* one OUCH Enter Order packet per strategy rule, everything but token and price filled
     * in at start (side, shares, stock and the constant fields) */
    uint8_t order_pkt[MAX_WATCH][2 + 1 + OUCH_ENTER_ORDER_LEN];
    uint64_t order_counter;
    int cur_rx_kind;
    uint64_t cur_rx_sw, cur_rx_hw, cur_seq;
    /* the gateway socket's send side, shared under send_lock (orders and heartbeats) */
    _Alignas(64) atomic_flag send_lock;
    uint64_t bytes_sent;
    _Atomic uint64_t ring_pub;
    stats_t st;
    _Alignas(64) hist_t h_t2t; /* session thread */
    _Alignas(64) hist_t h_rx2d;
    hist_t h_rx2s, h_d2o, h_decode, h_book, h_decision, h_risk, h_encode;
    /* decode-to-order by what triggered the order: a new order (A, F), or a message on an
     * order already in the book (E, C, X, D, U), which must first load that order's slot */
    hist_t h_d2o_add, h_d2o_change;
} E;

/* Every histogram, by its name in the statistics' "latency" object. */
static const struct {
    const char *name;
    hist_t *h;
} HISTS[] = {{"tick_to_trade", &E.h_t2t},
             {"rx_to_decode", &E.h_rx2d},
             {"rx_to_send_return", &E.h_rx2s},
             {"decode_to_order", &E.h_d2o},
             {"decode_to_order_add", &E.h_d2o_add},
             {"decode_to_order_change", &E.h_d2o_change},
             {"decode", &E.h_decode},
             {"book", &E.h_book},
             {"decision", &E.h_decision},
             {"risk", &E.h_risk},
             {"encode", &E.h_encode}};
#define NHISTS (sizeof HISTS / sizeof *HISTS)

/* ------------------------------------------------------------------ memory */

static void *carve(size_t *off, size_t n)
{
    size_t o = (*off + 63) & ~(size_t)63;
    *off = o + n;
    return E.arena ? E.arena + o : NULL;
}

static size_t layout(void)
{
    size_t off = 0;
    E.orders = carve(&off, O.max_orders * sizeof(order_t));
    E.books = carve(&off, O.max_symbols * sizeof(book_t));
    E.loc2book = carve(&off, 65536 * sizeof(uint16_t));
    level_t *lv = carve(&off, (size_t)O.max_symbols * 2 * O.max_levels * sizeof(level_t));
    E.ring = carve(&off, ORDER_RING * sizeof(order_rec_t));
    E.rxbuf = carve(&off, RX_BUF);
    if (E.arena)
        for (unsigned i = 0; i < O.max_symbols; i++) {
            E.books[i].lev[0] = lv + (size_t)i * 2 * O.max_levels;
            E.books[i].lev[1] = E.books[i].lev[0] + O.max_levels;
        }
    return off;
}

static void arena_setup(void)
{
    size_t need = layout();
    size_t huge = 2u << 20;
    E.arena_size = (need + huge - 1) & ~(huge - 1);
    void *p = mmap(NULL, E.arena_size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        warnx("no hugepages for the %zu MiB arena (%s): using normal pages; reserve 2 MiB "
              "hugepages (vm.nr_hugepages) to remove TLB misses",
              E.arena_size >> 20, strerror(errno));
        p = mmap(NULL, E.arena_size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (p == MAP_FAILED)
            die("mmap of %zu bytes for the arena: %s", E.arena_size, strerror(errno));
        E.arena_huge = 0;
    } else {
        E.arena_huge = 1;
    }
    E.arena = p;
    memset(E.arena, 0, E.arena_size);
    layout();
    E.omask = O.max_orders - 1;
}

static void books_reset(void)
{
    memset(E.orders, 0, O.max_orders * sizeof(order_t));
    memset(E.loc2book, 0, 65536 * sizeof(uint16_t));
    for (unsigned i = 0; i < E.nbooks; i++)
        E.books[i].nlev[0] = E.books[i].nlev[1] = 0;
    E.nbooks = 0;
    E.nwatched = E.warm_next = 0;
    atomic_store(&E.st.symbols, 0);
    atomic_store(&E.st.orders_live, 0);
}

/* ------------------------------------------------------------------ order table */

/* Identity: exchange order references rise through the day, so live orders sit in a window
 * of consecutive slots (locality for the caches, TLB and hardware prefetcher).
 * Robin Hood linear probing: an entry never sits farther from its home slot than the one it
 * would have to pass, so a lookup stops at the first entry closer to home than the probe,
 * and a deletion shifts back only the displaced entries after it, stopping at the first
 * entry at home. With plain linear probing the live window is one long cluster and each
 * deletion scanned it to its end (thousands of slots for the oldest orders). */
static inline uint64_t ohash(uint64_t ref) { return ref; }

/* How far the entry in slot i sits from its home slot. */
static inline uint64_t odist(uint64_t i) { return (i - (ohash(E.orders[i].ref) & E.omask)) & E.omask; }

static inline order_t *order_find(uint64_t ref)
{
    uint64_t i = ohash(ref) & E.omask;
    for (uint64_t d = 0;; d++) {
        order_t *o = &E.orders[i];
        if (!o->used || odist(i) < d)
            return NULL;
        if (o->ref == ref)
            return o;
        i = (i + 1) & E.omask;
    }
}

/* The slot of ref, new or (duplicate reference) existing; NULL when the table is full.
 * A new entry's fields other than ref are the caller's to fill. */
static inline order_t *order_insert(uint64_t ref)
{
    if (UNLIKELY(cnt_get(&E.st.orders_live) >= (E.omask + 1) - (E.omask + 1) / 8)) {
        cnt_inc(&E.st.table_full);
        return NULL;
    }
    uint64_t i = ohash(ref) & E.omask;
    uint64_t d = 0;
    for (;; d++, i = (i + 1) & E.omask) {
        order_t *o = &E.orders[i];
        if (!o->used)
            break;
        if (o->ref == ref)
            return o; /* duplicate reference: overwrite */
        if (odist(i) < d)
            break; /* ref is not in the table; its place is here */
    }
    order_t *placed = &E.orders[i];
    order_t carry = *placed; /* the entry ref takes the place of, if any */
    memset(placed, 0, sizeof *placed);
    placed->used = 1;
    placed->ref = ref;
    cnt_inc(&E.st.orders_live);
    /* move the displaced entries on, each taking the place of the first closer to home */
    while (carry.used) {
        i = (i + 1) & E.omask;
        d = (i - (ohash(carry.ref) & E.omask)) & E.omask;
        order_t *o = &E.orders[i];
        if (!o->used || odist(i) < d) {
            order_t next = *o;
            *o = carry;
            carry = next;
        }
    }
    return placed;
}

/* Backward-shift deletion: no tombstones, and lookups keep stopping early. */
static inline void order_erase(order_t *o)
{
    uint64_t i = (uint64_t)(o - E.orders);
    for (;;) {
        uint64_t j = (i + 1) & E.omask;
        if (!E.orders[j].used || odist(j) == 0)
            break;
        E.orders[i] = E.orders[j];
        i = j;
    }
    E.orders[i].used = 0;
    cnt_add(&E.st.orders_live, (uint64_t)-1);
}

/* ------------------------------------------------------------------ books */

static book_t *book_for(uint16_t locate, const uint8_t *stock)
{
    uint16_t b = E.loc2book[locate];
    if (b)
        return &E.books[b - 1];
    if (E.nbooks >= O.max_symbols) {
        cnt_inc(&E.st.symbols_overflow);
        return NULL;
    }
    book_t *bk = &E.books[E.nbooks++];
    E.loc2book[locate] = (uint16_t)E.nbooks;
    memcpy(bk->stock, stock, 8);
    bk->nlev[0] = bk->nlev[1] = 0;
    bk->watch[0] = bk->watch[1] = -1;
    bk->position = 0;
    for (unsigned w = 0; w < O.nwatch; w++)
        if (!memcmp(O.watch[w].stock, stock, 8))
            bk->watch[O.watch[w].side == 'B' ? 0 : 1] = (int16_t)w;
    if ((bk->watch[0] >= 0 || bk->watch[1] >= 0) && E.nwatched < MAX_WATCH)
        E.watched[E.nwatched++] = bk;
    cnt_inc(&E.st.symbols);
    return bk;
}

/* side index 0 = bids, 1 = asks; "a better than b" */
static inline int better(int s, uint32_t a, uint32_t b) { return s == 0 ? a > b : a < b; }

/* Move n levels from src to dst (overlapping). A loop, not memmove: a new or emptied best
 * level (a move of zero levels) called libc's memmove, and the orders above 500 ns spent
 * 300-900 ns in that update; without the call decode-to-order P99 went from 591-655 to
 * 311-455 ns (engine/README.md). The Makefile builds t2t with
 * -fno-tree-loop-distribute-patterns, or GCC turns this loop back into a memmove call. */
static inline void level_move(level_t *dst, const level_t *src, unsigned n)
{
    if (dst < src)
        for (unsigned k = 0; k < n; k++)
            dst[k] = src[k];
    else
        for (unsigned k = n; k-- > 0;)
            dst[k] = src[k];
}

/* Levels run from the worst (0) to the best (n - 1): the index of the last level of lv that
 * is not better than price, or -1 when every level is. */
static inline int level_find(const level_t *lv, unsigned n, int s, uint32_t price)
{
    int i = (int)n - 1;
    while (i >= 0 && better(s, lv[i].price, price))
        i--;
    return i;
}

static inline void level_add(book_t *bk, int s, uint32_t price, uint64_t qty)
{
    level_t *lv = bk->lev[s];
    unsigned n = bk->nlev[s];
    int i = level_find(lv, n, s, price);
    if (i >= 0 && lv[i].price == price) {
        lv[i].qty += qty;
        return;
    }
    unsigned pos = (unsigned)(i + 1); /* insert before the levels better than price */
    if (n == O.max_levels) {
        cnt_inc(&E.st.level_overflow);
        if (pos == 0)
            return; /* worse than every level kept: not tracked */
        level_move(lv, lv + 1, pos - 1); /* drop the worst level */
        pos--;
        n--;
    } else {
        level_move(lv + pos + 1, lv + pos, n - pos);
    }
    lv[pos].price = price;
    lv[pos].qty = qty;
    bk->nlev[s] = n + 1;
}

static inline void level_sub(book_t *bk, int s, uint32_t price, uint64_t qty)
{
    level_t *lv = bk->lev[s];
    unsigned n = bk->nlev[s];
    int i = level_find(lv, n, s, price);
    if (i < 0 || lv[i].price != price) {
        cnt_inc(&E.st.level_missing);
        return;
    }
    if (lv[i].qty > qty) {
        lv[i].qty -= qty;
        return;
    }
    level_move(lv + i, lv + i + 1, n - (unsigned)i - 1);
    bk->nlev[s] = n - 1;
}

static inline int sidx(uint8_t side) { return side == 'B' ? 0 : 1; }

/* The best price of one side of bk and the quantity there (0, 0 when the side is empty). */
static inline void top_of(const book_t *bk, int s, uint32_t *price, uint64_t *qty)
{
    unsigned n = bk->nlev[s];
    *price = n ? bk->lev[s][n - 1].price : 0;
    *qty = n ? bk->lev[s][n - 1].qty : 0;
}

/* Reduce order o by qty (executions, cancels), removing it at zero; returns its book. */
static inline book_t *order_reduce(order_t *o, uint32_t qty)
{
    book_t *bk = &E.books[o->book];
    if (qty > o->shares)
        qty = o->shares;
    level_sub(bk, sidx(o->side), o->price, qty);
    o->shares -= qty;
    if (!o->shares)
        order_erase(o);
    return bk;
}

/* A new order in book bk (NULL when book_for had none to give); returns bk, or NULL when
 * the order table is full. */
static inline book_t *order_add(book_t *bk, uint64_t ref, uint8_t side, uint32_t shares,
                                uint32_t price)
{
    if (UNLIKELY(!bk))
        return NULL;
    order_t *o = order_insert(ref);
    if (UNLIKELY(!o))
        return NULL;
    o->price = price;
    o->shares = shares;
    o->side = side;
    o->book = (uint16_t)(bk - E.books);
    level_add(bk, sidx(side), price, shares);
    return bk;
}

/* ------------------------------------------------------------------ trace (tests only) */

static void trace_stock(const uint8_t *p)
{
    int n = 8;
    while (n > 0 && p[n - 1] == ' ')
        n--;
    fprintf(E.trace, "\"%.*s\"", n, (const char *)p);
}

/* Out of line and cold: the trace is for tests, and its calls into stdio stay out of the
 * book update's code (see level_move). */
static __attribute__((cold, noinline)) void trace_msg(const uint8_t *m)
{
    FILE *f = E.trace;
    fprintf(f, "{\"seq\": %" PRIu64 ", \"type\": \"%c\", \"locate\": %u, \"tracking\": %u, "
               "\"timestamp\": %" PRIu64,
            E.cur_seq, m[0], rd16(m + 1), rd16(m + 3), rd48(m + 5));
    switch (m[0]) {
    case 'A':
    case 'F':
        fprintf(f, ", \"ref\": %" PRIu64 ", \"side\": \"%c\", \"shares\": %u, \"stock\": ",
                rd64(m + 11), m[19], rd32(m + 20));
        trace_stock(m + 24);
        fprintf(f, ", \"price\": %u", rd32(m + 32));
        if (m[0] == 'F')
            fprintf(f, ", \"attribution\": \"%.4s\"", (const char *)m + 36);
        break;
    case 'E':
    case 'C':
        fprintf(f, ", \"ref\": %" PRIu64 ", \"shares\": %u, \"match\": %" PRIu64, rd64(m + 11),
                rd32(m + 19), rd64(m + 23));
        if (m[0] == 'C')
            fprintf(f, ", \"printable\": \"%c\", \"price\": %u", m[31], rd32(m + 32));
        break;
    case 'X':
        fprintf(f, ", \"ref\": %" PRIu64 ", \"shares\": %u", rd64(m + 11), rd32(m + 19));
        break;
    case 'D': fprintf(f, ", \"ref\": %" PRIu64, rd64(m + 11)); break;
    case 'U':
        fprintf(f, ", \"ref\": %" PRIu64 ", \"new_ref\": %" PRIu64 ", \"shares\": %u, \"price\": %u",
                rd64(m + 11), rd64(m + 19), rd32(m + 27), rd32(m + 31));
        break;
    case 'R':
        fprintf(f, ", \"stock\": ");
        trace_stock(m + 11);
        fprintf(f, ", \"round_lot\": %u", rd32(m + 21));
        break;
    case 'S': fprintf(f, ", \"event\": \"%c\"", m[11]); break;
    default: break;
    }
    fprintf(f, "}\n");
}

/* ------------------------------------------------------------------ orders */

/* The order packet of each rule: an order then writes only its token and price. */
static void ouch_templates(void)
{
    for (unsigned w = 0; w < O.nwatch; w++) {
        uint8_t *p = E.order_pkt[w];
        memset(p, ' ', sizeof E.order_pkt[w]);
        wr16(p, 1 + OUCH_ENTER_ORDER_LEN);
        p[2] = SOUP_UNSEQUENCED;
        uint8_t *o = p + 3;
        o[0] = 'O';
        /* o + 1: order token, 14 characters */
        o[15] = O.watch[w].side;
        wr32(o + 16, O.order_qty);
        memcpy(o + 20, O.watch[w].stock, 8);
        /* o + 28: price */
        wr32(o + 32, 0);          /* time in force: immediate or cancel */
        memcpy(o + 36, "COLO", 4); /* firm */
        o[40] = 'Y';              /* display */
        o[41] = 'A';              /* capacity: agency */
        o[42] = 'N';              /* intermarket sweep */
        wr32(o + 43, 0);          /* minimum quantity */
        o[47] = 'N';              /* cross type */
        o[48] = 'R';              /* customer type: retail designated */
    }
}

/* Serialised writes on the gateway socket. With rx_sw/rx_hw (an order), its record for the
 * TX stamp (keyed by the offset of its last byte) is published before the bytes leave, so
 * the session thread never sees a stamp before the order it belongs to. */
static int gw_send(const uint8_t *p, size_t n, int is_order)
{
    while (atomic_flag_test_and_set_explicit(&E.send_lock, memory_order_acquire))
        ;
    if (is_order) {
        uint64_t k = atomic_load_explicit(&E.ring_pub, memory_order_relaxed);
        order_rec_t *r = &E.ring[k & (ORDER_RING - 1)];
        r->key = E.bytes_sent + n - 1;
        r->rx_sw = E.cur_rx_sw;
        r->rx_hw = E.cur_rx_hw;
        atomic_store_explicit(&E.ring_pub, k + 1, memory_order_release);
    }
    size_t done = 0;
    int ok = 1;
    while (done < n) {
        ssize_t r = send(E.tfd, p + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        ok = 0;
        break;
    }
    E.bytes_sent += done;
    atomic_flag_clear_explicit(&E.send_lock, memory_order_release);
    return ok;
}

/* Strategy, risk, encode and send for one top-of-book change. t0: decode start.
 * dry: a rehearsal for warm_order_path: the same instructions, branches and cache lines as an
 * order that passes risk, with no effect: nothing counted, recorded, reset or sent (the
 * encoded fields of the order packet are rewritten by every real order). Its counts and
 * rate window go to E.rehearsal_*, picked by data rather than by a branch, so the rehearsal
 * trains the branch predictor on the directions a real order takes. Not inlined, so the
 * rehearsal and the real order run the same copy of the code. */
static __attribute__((noinline)) void decide(book_t *bk, int s, const uint8_t *m, uint64_t t0,
                                             uint64_t t2, int dry)
{
    int w = bk->watch[s == 1 ? 0 : 1]; /* ask changes feed buy rules, bid changes sell rules */
    unsigned n = bk->nlev[s];
    if (w < 0 || !n)
        return;
    uint32_t top = bk->lev[s][n - 1].price;
    const watch_t *wt = &O.watch[w];
    int fire = wt->side == 'B' ? top <= wt->limit : top >= wt->limit;
    uint64_t t3 = tsc();
    if (!fire && !dry) {
        hist_add(&E.h_decision, tsc_to_ns(&E.cal, t3 - t2));
        return;
    }
    cnt_inc(dry ? &E.rehearsal_signals : &E.st.signals);
    /* pre-trade risk */
    uint32_t qty = O.order_qty;
    int64_t signed_qty = wt->side == 'B' ? (int64_t)qty : -(int64_t)qty;
    int64_t newpos = bk->position + signed_qty;
    if (newpos < 0)
        newpos = -newpos;
    counter_t *rejected = NULL;
    if (UNLIKELY(atomic_load_explicit(&E.kill, memory_order_relaxed)))
        rejected = &E.st.rj_kill;
    else if (UNLIKELY(!atomic_load_explicit(&E.session_up, memory_order_relaxed)))
        rejected = &E.st.rj_session;
    else if (qty > O.max_order_qty)
        rejected = &E.st.rj_size;
    else if (newpos > O.max_position)
        rejected = &E.st.rj_position;
    rate_t rate = E.rate;
    if (t3 - rate.window_start >= E.tsc_per_sec) {
        rate.window_start = t3;
        rate.count = 0;
    }
    if (!rejected && rate.count >= O.max_orders_per_sec)
        rejected = &E.st.rj_rate;
    uint64_t t4 = tsc();
    rejected = dry ? NULL : rejected; /* rehearse the encode that a passing order would run */
    if (rejected) {
        cnt_inc(rejected);
        hist_add(&E.h_decision, tsc_to_ns(&E.cal, t3 - t2));
        hist_add(&E.h_risk, tsc_to_ns(&E.cal, t4 - t3));
        return;
    }
    cnt_inc(dry ? &E.rehearsal_risk_ok : &E.st.risk_ok);
    rate.count++;
    *(dry ? &E.rehearsal_rate : &E.rate) = rate;
    /* encode OUCH 4.2 Enter Order: token and price into the rule's packet */
    uint8_t *pkt = E.order_pkt[w], *o = pkt + 3;
    token_encode(o + 1, rd48(m + ITCH_OFF_TS), E.order_counter);
    wr32(o + 28, top);
    uint64_t t5 = tsc_end();
    if (dry)
        return;
    E.order_counter++;
    int ok = gw_send(pkt, sizeof E.order_pkt[w], 1);
    /* stage times are recorded after the send, off the critical path */
    hist_add(&E.h_decision, tsc_to_ns(&E.cal, t3 - t2));
    hist_add(&E.h_risk, tsc_to_ns(&E.cal, t4 - t3));
    hist_add(&E.h_encode, tsc_to_ns(&E.cal, t5 - t4));
    uint64_t d2o = tsc_to_ns(&E.cal, t5 - t0);
    hist_add(&E.h_d2o, d2o);
    hist_add(m[0] == 'A' || m[0] == 'F' ? &E.h_d2o_add : &E.h_d2o_change, d2o);
    if (!ok) {
        cnt_inc(&E.st.send_errors);
        return;
    }
    bk->position += signed_qty;
    cnt_inc(&E.st.sent);
    if (E.cur_rx_sw) {
        uint64_t now = real_ns();
        if (now > E.cur_rx_sw)
            hist_add(&E.h_rx2s, now - E.cur_rx_sw);
    }
    if (E.trace) {
        fprintf(E.trace, "{\"order\": {\"token\": \"%.14s\", \"side\": \"%c\", \"shares\": %u, "
                         "\"stock\": ",
                (const char *)o + 1, o[15], qty);
        trace_stock(o + 20);
        fprintf(E.trace, ", \"price\": %u, \"trigger_seq\": %" PRIu64 "}}\n", top, E.cur_seq);
    }
}

/* Rehearse the order path of one watched book (round robin) while the feed is idle: orders
 * are rare (one per 2,000 messages in the benchmark), so without it their code and data are
 * cold in the caches when a signal comes, and the order pays the misses. See decide(). */
static void warm_order_path(void)
{
    static const uint8_t quiet_msg[ITCH_OFF_TS + 6];
    if (!E.nwatched)
        return;
    book_t *bk = E.watched[E.warm_next++ % E.nwatched];
    uint64_t now = tsc();
    if (bk->watch[0] >= 0)
        decide(bk, 1, quiet_msg, now, now, 1);
    if (bk->watch[1] >= 0)
        decide(bk, 0, quiet_msg, now, now, 1);
    __builtin_prefetch(&E.st.signals, 1);
    __builtin_prefetch(&E.h_d2o, 1);
}

/* ------------------------------------------------------------------ decode */

/* Start loading the order-table slot a later message will need (hides a cache miss). */
PREFETCH_INLINE void order_prefetch(uint64_t ref)
{
    uint64_t i = ohash(ref) & E.omask;
    __builtin_prefetch(&E.orders[i], 1);
    __builtin_prefetch(&E.orders[(i + 1) & E.omask], 1); /* a deletion looks at the next slot */
}

/* The lines message m will touch: its order slots, its book, the best level of each side. */
PREFETCH_INLINE void itch_prefetch(const uint8_t *m)
{
    switch (m[0]) {
    case 'U': order_prefetch(rd64(m + 19)); /* fall through */
    case 'A':
    case 'F':
    case 'E':
    case 'C':
    case 'X':
    case 'D': order_prefetch(rd64(m + 11)); break;
    default: return;
    }
    uint16_t b = E.loc2book[rd16(m + ITCH_OFF_LOCATE)];
    if (b) {
        const book_t *bk = &E.books[b - 1];
        __builtin_prefetch(bk, 1);
        for (int s = 0; s < 2; s++)
            if (bk->nlev[s])
                __builtin_prefetch(&bk->lev[s][bk->nlev[s] - 1], 1);
    }
}

/* One ITCH message of length len. timing: record stage times and run the strategy. */
static inline void itch_msg(const uint8_t *m, unsigned len, int timing)
{
    uint64_t t0 = timing ? tsc_begin() : 0;
    uint8_t type = m[0];
    unsigned want = itch_len(type);
    if (UNLIKELY(want == 0)) {
        cnt_inc(&E.st.unknown_type);
        return;
    }
    if (UNLIKELY(len != want)) {
        cnt_inc(&E.st.bad_length);
        return;
    }
    cnt_inc(&E.st.by_type[type]);
    cnt_inc(&E.st.messages);
    /* decode the fields the book needs */
    uint16_t locate = rd16(m + ITCH_OFF_LOCATE);
    uint64_t ref = 0, ref2 = 0;
    uint32_t shares = 0, price = 0;
    uint8_t side = 0;
    switch (type) {
    case 'A':
    case 'F':
        ref = rd64(m + 11);
        side = m[19];
        shares = rd32(m + 20);
        price = rd32(m + 32);
        break;
    case 'E':
    case 'C':
    case 'X':
        ref = rd64(m + 11);
        shares = rd32(m + 19);
        break;
    case 'D': ref = rd64(m + 11); break;
    case 'U':
        ref = rd64(m + 11);
        ref2 = rd64(m + 19);
        shares = rd32(m + 27);
        price = rd32(m + 31);
        break;
    default: break;
    }
    if (UNLIKELY(E.trace != NULL))
        trace_msg(m);
    uint64_t t1 = timing ? tsc() : 0;
    /* book update */
    book_t *bk = NULL;
    int s = 0;
    uint32_t top_before = 0;
    uint64_t qty_before = 0;
    switch (type) {
    case 'A':
    case 'F':
        s = sidx(side);
        bk = book_for(locate, m + 24);
        if (bk)
            top_of(bk, s, &top_before, &qty_before);
        bk = order_add(bk, ref, side, shares, price);
        break;
    case 'E':
    case 'C':
    case 'X':
    case 'D':
    case 'U': {
        order_t *o = order_find(ref);
        if (UNLIKELY(!o)) {
            cnt_inc(&E.st.unknown_ref);
            break;
        }
        s = sidx(o->side);
        top_of(&E.books[o->book], s, &top_before, &qty_before);
        if (type != 'U') {
            bk = order_reduce(o, type == 'D' ? UINT32_MAX : shares);
            break;
        }
        uint8_t oside = o->side; /* replace: the new order keeps side and book */
        bk = order_add(order_reduce(o, UINT32_MAX), ref2, oside, shares, price);
        break;
    }
    case 'R': book_for(locate, m + 11); break;
    default: break;
    }
    if (!timing)
        return;
    uint64_t t2 = tsc();
    if (bk) {
        uint32_t top;
        uint64_t q;
        top_of(bk, s, &top, &q);
        if (top != top_before || q != qty_before)
            decide(bk, s, m, t0, t2, 0);
    }
    hist_add(&E.h_decode, tsc_to_ns(&E.cal, t1 - t0));
    hist_add(&E.h_book, tsc_to_ns(&E.cal, t2 - t1));
}

static void note_gap(uint64_t from, uint64_t to)
{
    cnt_inc(&E.st.gap_events);
    cnt_add(&E.st.gap_messages, to - from + 1);
    if (E.ngaps < MAX_GAPS_LISTED) {
        E.gaps[E.ngaps][0] = from;
        E.gaps[E.ngaps][1] = to;
        E.ngaps++;
    }
}

/* Start loading the order-table slots and book lines the packet's messages will touch.
 * Called as soon as the packet is in, so the loads overlap the timestamp bookkeeping before
 * decode. */
PREFETCH_INLINE void mold_prefetch(const uint8_t *p, size_t len)
{
    if (len < MOLD_HDR)
        return;
    uint16_t count = rd16(p + 18);
    for (size_t o = MOLD_HDR, k = 0; k < count && o + 2 + 19 <= len; k++) {
        unsigned ml = rd16(p + o);
        if (ml < 19 || o + 2 + ml > len)
            break;
        itch_prefetch(p + o + 2);
        o += 2 + ml;
    }
}

static void mold_packet(const uint8_t *p, size_t len)
{
    cnt_inc(&E.st.packets);
    if (UNLIKELY(len < MOLD_HDR)) {
        cnt_inc(&E.st.trunc_header);
        return;
    }
    if (UNLIKELY(!E.have_session)) {
        memcpy(E.session, p, 10);
        E.have_session = 1;
    } else if (UNLIKELY(memcmp(E.session, p, 10))) {
        cnt_inc(&E.st.wrong_session);
        return;
    }
    uint64_t seq = rd64(p + 10);
    uint16_t count = rd16(p + 18);
    if (UNLIKELY(!E.expected))
        E.expected = seq;
    if (UNLIKELY(count == 0 || count == MOLD_END_OF_SESSION)) {
        if (seq > E.expected) {
            note_gap(E.expected, seq - 1);
            E.expected = seq;
        }
        if (count == 0) {
            cnt_inc(&E.st.heartbeats);
        } else {
            cnt_inc(&E.st.end_of_session);
            if (O.exit_on_end)
                atomic_store(&E.stop, 1);
        }
        return;
    }
    uint64_t skip = 0;
    if (UNLIKELY(seq != E.expected)) {
        if (seq > E.expected) {
            note_gap(E.expected, seq - 1);
        } else if (seq + count <= E.expected) {
            cnt_inc(&E.st.duplicates);
            return;
        } else {
            skip = E.expected - seq;
        }
    }
    size_t off = MOLD_HDR;
    for (uint16_t i = 0; i < count; i++) {
        if (UNLIKELY(off + 2 > len)) {
            cnt_inc(&E.st.trunc_message);
            cnt_add(&E.st.lost_malformed, (uint64_t)(count - i));
            off = len;
            break;
        }
        unsigned ml = rd16(p + off);
        if (UNLIKELY(ml == 0 || off + 2 + ml > len)) {
            cnt_inc(&E.st.trunc_message);
            cnt_add(&E.st.lost_malformed, (uint64_t)(count - i));
            off = len;
            break;
        }
        E.cur_seq = seq + i;
        if (LIKELY(i >= skip))
            itch_msg(p + off + 2, ml, 1);
        off += 2 + ml;
    }
    if (UNLIKELY(off != len))
        cnt_inc(&E.st.trailing_bytes);
    E.expected = seq + count;
}

/* ------------------------------------------------------------------ threads */

static void pin_self(int t)
{
    if (O.cpu[t] < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(O.cpu[t], &set);
    int r = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
    if (r)
        die("pinning %s to CPU %d: %s", THREAD_NAMES[t], O.cpu[t], strerror(r));
}

/* The first thing each thread does: take its name (until then it carries its creator's,
 * "t2t", under which a launcher pinning by name would put it on the housekeeping CPUs),
 * then publish its tid, so that "ready" means every thread runs under its own name. */
static void thread_start(int t)
{
    pthread_setname_np(pthread_self(), THREAD_NAMES[t]);
    __atomic_store_n(&E.tid[t], (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
}

static void *hot_main(void *arg)
{
    (void)arg;
    thread_start(TH_HOT);
    struct iovec iov = {E.rxbuf, RX_BUF};
    char ctrl[512];
    struct msghdr mh;
    while (!atomic_load_explicit(&E.stop, memory_order_relaxed)) {
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctrl;
        mh.msg_controllen = sizeof ctrl;
        ssize_t n = recvmsg(E.ufd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno != EAGAIN && errno != EINTR)
                cnt_inc(&E.st.recv_errors);
            if (O.warm)
                warm_order_path();
            continue;
        }
        if (!(mh.msg_flags & MSG_TRUNC))
            mold_prefetch(E.rxbuf, (size_t)n);
        E.cur_rx_sw = E.cur_rx_hw = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
                struct timespec ts[3];
                memcpy(ts, CMSG_DATA(c), sizeof ts);
                E.cur_rx_sw = (uint64_t)ts[0].tv_sec * 1000000000ull + (uint64_t)ts[0].tv_nsec;
                E.cur_rx_hw = (uint64_t)ts[2].tv_sec * 1000000000ull + (uint64_t)ts[2].tv_nsec;
            } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                uint32_t drops;
                memcpy(&drops, CMSG_DATA(c), sizeof drops);
                if (drops != cnt_get(&E.st.socket_drops))
                    atomic_store_explicit(&E.st.socket_drops, drops, memory_order_relaxed);
            }
        }
        cnt_inc(&E.st.rx_kind[E.cur_rx_hw ? 0 : E.cur_rx_sw ? 1 : 2]);
        if (E.cur_rx_sw) {
            uint64_t now = real_ns();
            if (now > E.cur_rx_sw)
                hist_add(&E.h_rx2d, now - E.cur_rx_sw);
        }
        if (mh.msg_flags & MSG_TRUNC) {
            cnt_inc(&E.st.trunc_message);
            continue;
        }
        mold_packet(E.rxbuf, (size_t)n);
    }
    atomic_store(&E.hot_done, 1);
    return NULL;
}


static void write_stats(const char *path)
{
    char tmp[4096];
    FILE *f = stdout;
    if (path) {
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        f = fopen(tmp, "w");
        if (!f) {
            warnx("--stats %s: %s", path, strerror(errno));
            return;
        }
    }
    stats_t *S = &E.st;
    char sess[11];
    memcpy(sess, E.session, 10);
    sess[10] = 0;
    fprintf(f, "{\n  \"program\": \"t2t\",\n  \"format\": 1,\n");
    fprintf(f, "  \"tsc_ghz\": %.4f,\n", E.cal.ghz);
    fprintf(f, "  \"arena\": {\"bytes\": %zu, \"hugepages\": %s},\n  \"mlockall\": %s,\n",
            E.arena_size, E.arena_huge ? "true" : "false", E.locked ? "true" : "false");
    fprintf(f, "  \"threads\": {");
    for (int t = 0; t < TH_COUNT; t++) {
        fprintf(f, "%s\"%s\": {\"tid\": %d, \"cpu\": ", t ? ", " : "", THREAD_NAMES[t], E.tid[t]);
        if (O.cpu[t] >= 0)
            fprintf(f, "%d}", O.cpu[t]);
        else
            fprintf(f, "null}");
    }
    fprintf(f, "},\n");
    fprintf(f, "  \"feed\": {\n    \"session\": \"%s\",\n", E.have_session ? sess : "");
    fprintf(f, "    \"packets\": %" PRIu64 ",\n    \"messages\": %" PRIu64 ",\n",
            cnt_get(&S->packets), cnt_get(&S->messages));
    fprintf(f, "    \"next_expected_seq\": %" PRIu64 ",\n", E.expected);
    fprintf(f, "    \"heartbeats\": %" PRIu64 ",\n    \"end_of_session\": %s,\n",
            cnt_get(&S->heartbeats), cnt_get(&S->end_of_session) ? "true" : "false");
    fprintf(f, "    \"gaps\": {\"events\": %" PRIu64 ", \"messages\": %" PRIu64 ", \"first\": [",
            cnt_get(&S->gap_events), cnt_get(&S->gap_messages));
    for (unsigned i = 0; i < E.ngaps; i++)
        fprintf(f, "%s[%" PRIu64 ", %" PRIu64 "]", i ? ", " : "", E.gaps[i][0], E.gaps[i][1]);
    fprintf(f, "]},\n    \"duplicates\": %" PRIu64 ",\n", cnt_get(&S->duplicates));
    fprintf(f, "    \"recv_errors\": %" PRIu64 ",\n", cnt_get(&S->recv_errors));
    fprintf(f, "    \"socket_drops\": %" PRIu64 ",\n", cnt_get(&S->socket_drops));
    fprintf(f, "    \"malformed\": {\"truncated_header\": %" PRIu64
               ", \"truncated_message\": %" PRIu64 ", \"messages_lost\": %" PRIu64
               ", \"wrong_session\": %" PRIu64 ", \"trailing_bytes\": %" PRIu64 "},\n",
            cnt_get(&S->trunc_header), cnt_get(&S->trunc_message), cnt_get(&S->lost_malformed),
            cnt_get(&S->wrong_session), cnt_get(&S->trailing_bytes));
    fprintf(f, "    \"itch_errors\": {\"unknown_type\": %" PRIu64 ", \"bad_length\": %" PRIu64
               "},\n",
            cnt_get(&S->unknown_type), cnt_get(&S->bad_length));
    fprintf(f, "    \"by_type\": {");
    int first = 1;
    for (const char *t = ITCH_TYPES; *t; t++) {
        uint64_t v = cnt_get(&S->by_type[(uint8_t)*t]);
        if (!v)
            continue;
        fprintf(f, "%s\"%c\": %" PRIu64, first ? "" : ", ", *t, v);
        first = 0;
    }
    fprintf(f, "}\n  },\n");
    fprintf(f, "  \"timestamps\": {\"rx\": {\"hardware\": %" PRIu64 ", \"software\": %" PRIu64
               ", \"none\": %" PRIu64 "}, \"tx\": {\"hardware\": %" PRIu64
               ", \"software\": %" PRIu64 ", \"none\": %" PRIu64 "}, \"tx_matched\": %" PRIu64
               ", \"tx_shared\": %" PRIu64 ", \"tx_missing\": %" PRIu64
               ", \"tick_to_trade_kind\": \"%s\"},\n",
            cnt_get(&S->rx_kind[0]), cnt_get(&S->rx_kind[1]), cnt_get(&S->rx_kind[2]),
            cnt_get(&S->tx_kind[0]), cnt_get(&S->tx_kind[1]), cnt_get(&S->tx_kind[2]),
            cnt_get(&S->tx_matched), cnt_get(&S->tx_shared), cnt_get(&S->tx_missing),
            cnt_get(&S->tx_kind[0]) && cnt_get(&S->rx_kind[0]) ? "hardware"
            : cnt_get(&S->tx_matched)                         ? "software"
                                                              : "none");
    fprintf(f, "  \"book\": {\"symbols\": %" PRIu64 ", \"orders_live\": %" PRIu64
               ", \"unknown_order_ref\": %" PRIu64 ", \"order_table_full\": %" PRIu64
               ", \"level_overflow\": %" PRIu64 ", \"level_missing\": %" PRIu64
               ", \"symbols_overflow\": %" PRIu64 "},\n",
            cnt_get(&S->symbols), cnt_get(&S->orders_live), cnt_get(&S->unknown_ref),
            cnt_get(&S->table_full), cnt_get(&S->level_overflow), cnt_get(&S->level_missing),
            cnt_get(&S->symbols_overflow));
    fprintf(f, "  \"strategy\": {\"rules\": %u, \"signals\": %" PRIu64
               ", \"order_path_rehearsed\": %s},\n",
            O.nwatch, cnt_get(&S->signals), O.warm ? "true" : "false");
    fprintf(f, "  \"risk\": {\"passed\": %" PRIu64 ", \"rejected\": {\"order_size\": %" PRIu64
               ", \"position\": %" PRIu64 ", \"rate\": %" PRIu64 ", \"kill_switch\": %" PRIu64
               ", \"session_down\": %" PRIu64 "}, \"kill_switch_active\": %s},\n",
            cnt_get(&S->risk_ok), cnt_get(&S->rj_size), cnt_get(&S->rj_position),
            cnt_get(&S->rj_rate), cnt_get(&S->rj_kill), cnt_get(&S->rj_session),
            atomic_load(&E.kill) ? "true" : "false");
    fprintf(f, "  \"orders\": {\"sent\": %" PRIu64 ", \"send_errors\": %" PRIu64
               ", \"accepted\": %" PRIu64 ", \"rejected\": %" PRIu64 ", \"other_replies\": %" PRIu64
               "},\n",
            cnt_get(&S->sent), cnt_get(&S->send_errors), cnt_get(&S->gw_accepted),
            cnt_get(&S->gw_rejected), cnt_get(&S->gw_other));
    fprintf(f, "  \"session\": {\"state\": \"%s\", \"reject_reason\": ", E.session_state);
    if (E.reject_reason)
        fprintf(f, "\"%c\"", E.reject_reason);
    else
        fprintf(f, "null");
    fprintf(f, ", \"heartbeats_sent\": %" PRIu64 ", \"heartbeats_received\": %" PRIu64
               ", \"unknown_packets\": %" PRIu64 ", \"drops\": %" PRIu64 "},\n",
            cnt_get(&S->hb_sent), cnt_get(&S->hb_rcvd), cnt_get(&S->soup_unknown),
            cnt_get(&S->drops));
    fprintf(f, "  \"latency\": {\n");
    for (size_t i = 0; i < NHISTS; i++) {
        fprintf(f, "    \"%s\": ", HISTS[i].name);
        hist_json(f, HISTS[i].h, "    ");
        fprintf(f, "%s\n", i + 1 < NHISTS ? "," : "");
    }
    fprintf(f, "  }\n}\n");
    if (path) {
        if (fclose(f) || rename(tmp, path))
            warnx("--stats %s: %s", path, strerror(errno));
    } else {
        fflush(f);
    }
}

/* TX timestamps from the gateway socket's error queue, matched to orders by byte offset. */
static void drain_tx_stamps(uint64_t *cursor)
{
    char ctrl[512];
    for (;;) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_control = ctrl;
        mh.msg_controllen = sizeof ctrl;
        if (recvmsg(E.tfd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        uint64_t sw = 0, hw = 0;
        int have_key = 0;
        uint32_t key = 0;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPING) {
                struct timespec ts[3];
                memcpy(ts, CMSG_DATA(c), sizeof ts);
                sw = (uint64_t)ts[0].tv_sec * 1000000000ull + (uint64_t)ts[0].tv_nsec;
                hw = (uint64_t)ts[2].tv_sec * 1000000000ull + (uint64_t)ts[2].tv_nsec;
            } else if (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) {
                struct sock_extended_err ee;
                memcpy(&ee, CMSG_DATA(c), sizeof ee);
                if (ee.ee_origin == SO_EE_ORIGIN_TIMESTAMPING && ee.ee_info == SCM_TSTAMP_SND) {
                    key = ee.ee_data;
                    have_key = 1;
                }
            }
        }
        if (!have_key)
            continue;
        uint64_t pub = atomic_load_explicit(&E.ring_pub, memory_order_acquire);
        if (pub - *cursor > ORDER_RING) {
            cnt_add(&E.st.tx_missing, pub - *cursor - ORDER_RING);
            *cursor = pub - ORDER_RING;
        }
        /* Keys are 32-bit byte offsets of an order's last byte; compare modulo 2^32. An order
         * without a stamp of its own left in the same segment as the next stamped one (TCP
         * appended it to a segment not yet sent): that stamp is its stamp too. */
        while (*cursor < pub) {
            order_rec_t *r = &E.ring[*cursor & (ORDER_RING - 1)];
            int32_t d = (int32_t)((uint32_t)r->key - key);
            if (d > 0)
                break; /* stamp of a login or heartbeat before this order */
            (*cursor)++;
            cnt_inc(&E.st.tx_kind[hw ? 0 : sw ? 1 : 2]);
            if (d < 0)
                cnt_inc(&E.st.tx_shared);
            else
                cnt_inc(&E.st.tx_matched);
            if (hw && r->rx_hw)
                hist_add(&E.h_t2t, hw - r->rx_hw);
            else if (sw && r->rx_sw)
                hist_add(&E.h_t2t, sw - r->rx_sw);
            if (d == 0)
                break;
        }
    }
}

static void session_replies(uint8_t *buf, size_t *have)
{
    for (;;) {
        ssize_t r = recv(E.tfd, buf + *have, 65536 - *have, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            if (atomic_load(&E.session_up)) {
                atomic_store(&E.session_up, 0);
                E.session_state = "dropped";
                cnt_inc(&E.st.drops);
                warnx("gateway %s:%u dropped the session (%s); no more orders are sent",
                      O.gw_host, O.gw_port, r == 0 ? "connection closed" : strerror(errno));
            }
            return;
        }
        if (r < 0)
            break;
        *have += (size_t)r;
        size_t off = 0;
        while (*have - off >= 2) {
            unsigned pl = rd16(buf + off);
            if (*have - off < 2 + (size_t)pl)
                break;
            const uint8_t *p = buf + off + 2;
            if (pl == 0) {
                cnt_inc(&E.st.soup_unknown);
            } else if (p[0] == SOUP_SEQUENCED && pl >= 2) {
                if (p[1] == 'A')
                    cnt_inc(&E.st.gw_accepted);
                else if (p[1] == 'J')
                    cnt_inc(&E.st.gw_rejected);
                else
                    cnt_inc(&E.st.gw_other);
            } else if (p[0] == SOUP_SERVER_HEARTBEAT) {
                cnt_inc(&E.st.hb_rcvd);
            } else if (p[0] == SOUP_END_OF_SESSION) {
                atomic_store(&E.session_up, 0);
                E.session_state = "ended_by_gateway";
            } else if (p[0] != SOUP_DEBUG) {
                cnt_inc(&E.st.soup_unknown);
            }
            off += 2 + (size_t)pl;
        }
        memmove(buf, buf + off, *have - off);
        *have -= off;
        if (*have == 65536) { /* a packet longer than the buffer: cannot be SoupBinTCP here */
            cnt_inc(&E.st.soup_unknown);
            *have = 0;
        }
    }
}

static void *session_main(void *arg)
{
    (void)arg;
    thread_start(TH_SESSION);
    static uint8_t buf[65536];
    size_t have = 0;
    uint64_t cursor = 0, next_hb = mono_ns() + (uint64_t)O.heartbeat_ms * 1000000ull;
    uint64_t done_at = 0;
    for (;;) {
        if (sig_stop)
            atomic_store(&E.stop, 1);
        if (sig_dump) {
            sig_dump = 0;
            drain_tx_stamps(&cursor);
            write_stats(O.stats);
        }
        if (O.kill_file && !atomic_load(&E.kill) && access(O.kill_file, F_OK) == 0) {
            atomic_store(&E.kill, 1);
            warnx("kill switch %s present: no more orders are sent", O.kill_file);
        }
        if (E.tfd >= 0) {
            struct pollfd pfd = {E.tfd, POLLIN, 0};
            poll(&pfd, 1, 10);
            drain_tx_stamps(&cursor);
            if (atomic_load(&E.session_up))
                session_replies(buf, &have);
            uint64_t now = mono_ns();
            if (atomic_load(&E.session_up) && now >= next_hb) {
                uint8_t hb[3] = {0, 1, SOUP_CLIENT_HEARTBEAT};
                if (gw_send(hb, 3, 0))
                    cnt_inc(&E.st.hb_sent);
                next_hb = now + (uint64_t)O.heartbeat_ms * 1000000ull;
            }
        } else {
            struct timespec ts = {0, 10000000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&E.hot_done)) {
            /* collect the last TX stamps and replies, for at most 2 s */
            uint64_t now = mono_ns();
            if (!done_at)
                done_at = now;
            uint64_t pub = atomic_load(&E.ring_pub);
            uint64_t answered = cnt_get(&E.st.gw_accepted) + cnt_get(&E.st.gw_rejected);
            if ((cursor >= pub && answered >= pub) || !atomic_load(&E.session_up) ||
                now - done_at > 2000000000ull) {
                if (pub > cursor)
                    cnt_add(&E.st.tx_missing, pub - cursor);
                break;
            }
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------ setup */

static void feed_socket(void)
{
    E.ufd = socket(AF_INET, SOCK_DGRAM, 0);
    if (E.ufd < 0)
        die("socket: %s", strerror(errno));
    int one = 1, rcvbuf = 16 << 20;
    setsockopt(E.ufd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (setsockopt(E.ufd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
        setsockopt(E.ufd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(O.port);
    inet_pton(AF_INET, O.group, &sa.sin_addr);
    if (bind(E.ufd, (struct sockaddr *)&sa, sizeof sa))
        die("bind %s:%u: %s", O.group, O.port, strerror(errno));
    struct ip_mreq mr;
    inet_pton(AF_INET, O.group, &mr.imr_multiaddr);
    inet_pton(AF_INET, O.iface, &mr.imr_interface);
    if (setsockopt(E.ufd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof mr))
        die("joining %s on %s: %s (is there a multicast route on that interface?)", O.group,
            O.iface, strerror(errno));
    int flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE |
                SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE;
    /* the kernel's count of datagrams dropped on this socket (full receive buffer) */
    setsockopt(E.ufd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
    if (setsockopt(E.ufd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags))
        warnx("SO_TIMESTAMPING on the feed socket: %s; tick-to-trade will not be measured",
              strerror(errno));
}

/* Connect and log in; exits 3 when the gateway refuses. */
static void gateway_login(void)
{
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", O.gw_port);
    struct addrinfo hints = {0}, *ai;
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(O.gw_host, portstr, &hints, &ai);
    if (rc)
        usage_error("--gateway %s: %s", O.gw_host, gai_strerror(rc));
    uint64_t deadline = mono_ns() + (uint64_t)O.connect_timeout_ms * 1000000ull;
    for (;;) {
        E.tfd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(E.tfd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        int err = errno;
        close(E.tfd);
        E.tfd = -1;
        if (mono_ns() > deadline) {
            E.session_state = "connect_failed";
            fprintf(stderr, "t2t: cannot connect to gateway %s:%u: %s\n", O.gw_host, O.gw_port,
                    strerror(err));
            write_stats(O.stats);
            exit(3);
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    freeaddrinfo(ai);
    int one = 1, rcvbuf = 8 << 20;
    setsockopt(E.tfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* the error queue of TX stamps shares the receive buffer: make room for bursts */
    if (setsockopt(E.tfd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf))
        setsockopt(E.tfd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    int flags = SOF_TIMESTAMPING_TX_SOFTWARE | SOF_TIMESTAMPING_TX_HARDWARE |
                SOF_TIMESTAMPING_SOFTWARE | SOF_TIMESTAMPING_RAW_HARDWARE |
                SOF_TIMESTAMPING_OPT_ID | SOF_TIMESTAMPING_OPT_TSONLY;
    if (setsockopt(E.tfd, SOL_SOCKET, SO_TIMESTAMPING, &flags, sizeof flags))
        warnx("SO_TIMESTAMPING on the gateway socket: %s; tick-to-trade will not be measured",
              strerror(errno));
    uint8_t login[2 + SOUP_LOGIN_REQUEST_LEN];
    memset(login, ' ', sizeof login);
    wr16(login, SOUP_LOGIN_REQUEST_LEN);
    login[2] = SOUP_LOGIN_REQUEST;
    memcpy(login + 3, O.user, strlen(O.user));
    memcpy(login + 9, O.password, strlen(O.password));
    memcpy(login + 19, O.soup_session, strlen(O.soup_session));
    memset(login + 29, ' ', 19);
    login[48] = '0'; /* requested sequence number 0: start from the most recent */
    if (!gw_send(login, sizeof login, 0))
        die("sending the login to gateway %s:%u: %s", O.gw_host, O.gw_port, strerror(errno));
    /* read the reply */
    uint8_t buf[256];
    size_t have = 0;
    uint64_t until = mono_ns() + 5000000000ull;
    for (;;) {
        struct pollfd pfd = {E.tfd, POLLIN, 0};
        poll(&pfd, 1, 100);
        ssize_t r = recv(E.tfd, buf + have, sizeof buf - have, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            E.session_state = "closed_during_login";
            fprintf(stderr, "t2t: gateway %s:%u closed the connection during login\n",
                    O.gw_host, O.gw_port);
            write_stats(O.stats);
            exit(3);
        }
        if (r > 0)
            have += (size_t)r;
        while (have >= 3) {
            unsigned pl = rd16(buf);
            if (have < 2 + (size_t)pl)
                break;
            uint8_t type = buf[2];
            if (type == SOUP_LOGIN_ACCEPTED) {
                E.session_state = "logged_in";
                atomic_store(&E.session_up, 1);
                return;
            }
            if (type == SOUP_LOGIN_REJECTED) {
                E.reject_reason = pl >= 2 ? (char)buf[3] : '?';
                E.session_state = "login_rejected";
                fprintf(stderr, "t2t: gateway %s:%u rejected the login of user '%s' (reason '%c': %s)\n",
                        O.gw_host, O.gw_port, O.user, E.reject_reason,
                        E.reject_reason == 'A'   ? "not authorized"
                        : E.reject_reason == 'S' ? "session not available"
                                                 : "unknown reason");
                write_stats(O.stats);
                exit(3);
            }
            memmove(buf, buf + 2 + pl, have - 2 - pl); /* heartbeat or debug: skip */
            have -= 2 + (size_t)pl;
        }
        if (mono_ns() > until) {
            E.session_state = "login_timeout";
            fprintf(stderr, "t2t: gateway %s:%u did not answer the login within 5 s\n", O.gw_host,
                    O.gw_port);
            write_stats(O.stats);
            exit(3);
        }
    }
}

static int bench(void)
{
    FILE *f = fopen(O.bench_file, "rb");
    if (!f)
        usage_error("--bench-file %s: %s", O.bench_file, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *data = malloc(sz > 0 ? (size_t)sz : 1);
    if (!data || fread(data, 1, (size_t)sz, f) != (size_t)sz)
        die("--bench-file %s: read failed", O.bench_file);
    fclose(f);
    /* index the messages once, so the timed loop is decode and book only */
    uint64_t nmsg = 0;
    for (size_t off = 0; off + 2 <= (size_t)sz;) {
        unsigned l = rd16(data + off);
        if (!l || off + 2 + l > (size_t)sz)
            die("--bench-file %s: truncated or zero-length message at byte %zu", O.bench_file, off);
        off += 2 + l;
        nmsg++;
    }
    /* wall time, and this thread's CPU time: on a shared machine the second excludes the
     * time other tasks held the CPU */
    double best = 0, total_s = 0, total_cpu = 0, best_cpu = 0;
    for (unsigned pass = 0; pass < O.bench_passes; pass++) {
        books_reset();
        uint64_t t0 = mono_ns(), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
        size_t ahead = 0;
        for (int k = 0; k < 8 && ahead < (size_t)sz; k++)
            ahead += 2 + rd16(data + ahead);
        for (size_t off = 0; off < (size_t)sz;) {
            unsigned l = rd16(data + off);
            if (ahead < (size_t)sz) {
                itch_prefetch(data + ahead + 2);
                ahead += 2 + rd16(data + ahead);
            }
            itch_msg(data + off + 2, l, 0);
            off += 2 + l;
        }
        double s = (double)(mono_ns() - t0) / 1e9;
        double c = (double)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c0) / 1e9;
        total_s += s;
        total_cpu += c;
        if ((double)nmsg / s > best)
            best = (double)nmsg / s;
        if ((double)nmsg / c > best_cpu)
            best_cpu = (double)nmsg / c;
    }
    double all = (double)nmsg * O.bench_passes;
    printf("{\"program\": \"t2t\", \"bench\": {\"file\": \"%s\", \"messages\": %" PRIu64
           ", \"passes\": %u, \"seconds\": %.6f, \"cpu_seconds\": %.6f, "
           "\"messages_per_s\": %.0f, \"best_pass_messages_per_s\": %.0f, "
           "\"messages_per_cpu_s\": %.0f, \"best_pass_messages_per_cpu_s\": %.0f, "
           "\"ns_per_message\": %.2f, \"cpu_ns_per_message\": %.2f, \"symbols\": %" PRIu64
           ", \"orders_live\": %" PRIu64 ", \"unknown_order_ref\": %" PRIu64
           ", \"hugepages\": %s}}\n",
           O.bench_file, nmsg, O.bench_passes, total_s, total_cpu, all / total_s, best,
           all / total_cpu, best_cpu, total_s * 1e9 / all, total_cpu * 1e9 / all,
           cnt_get(&E.st.symbols), cnt_get(&E.st.orders_live), cnt_get(&E.st.unknown_ref),
           E.arena_huge ? "true" : "false");
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    E.session_state = "not_connected";
    E.tfd = -1;
    E.ufd = -1;
    atomic_flag_clear(&E.send_lock);
    for (size_t i = 0; i < NHISTS; i++)
        hist_init(HISTS[i].h);
    pin_self(O.bench_file ? TH_HOT : TH_SESSION);
    E.cal = tsc_calibrate();
    E.tsc_per_sec = (uint64_t)(E.cal.ghz * 1e9);
    arena_setup();
    if (mlockall(MCL_CURRENT | MCL_FUTURE) == 0)
        E.locked = 1;
    else
        warnx("mlockall: %s; memory may be paged out (raise the memlock limit or grant "
              "CAP_IPC_LOCK)",
              strerror(errno));
    if (O.bench_file)
        return bench();
    if (O.trace && !(E.trace = fopen(O.trace, "w")))
        usage_error("--trace %s: %s", O.trace, strerror(errno));
    if (O.kill_file && access(O.kill_file, F_OK) == 0) {
        atomic_store(&E.kill, 1);
        warnx("kill switch %s present at start: no order will be sent", O.kill_file);
    }
    ouch_templates();
    feed_socket();
    gateway_login();

    catch_stop_and_dump();
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old); /* threads start with every signal blocked */

    pthread_t th[TH_COUNT];
    void *(*fn[TH_COUNT])(void *) = {hot_main, session_main};
    for (int t = 0; t < TH_COUNT; t++) {
        pthread_attr_t at;
        pthread_attr_init(&at);
        if (O.cpu[t] >= 0) {
            cpu_set_t set;
            CPU_ZERO(&set);
            CPU_SET(O.cpu[t], &set);
            pthread_attr_setaffinity_np(&at, sizeof set, &set);
        }
        /* each thread names itself (thread_start): the main thread never carries another
         * thread's name, or a launcher pinning by name would move it to that thread's CPU */
        int r = pthread_create(&th[t], &at, fn[t], NULL);
        if (r)
            die("creating thread %s: %s", THREAD_NAMES[t], strerror(r));
        pthread_attr_destroy(&at);
    }
    /* "ready" means every thread runs: wait (bounded) until each has published its tid */
    for (int waited = 0; waited < 10000; waited++) {
        if (__atomic_load_n(&E.tid[TH_HOT], __ATOMIC_ACQUIRE) &&
            __atomic_load_n(&E.tid[TH_SESSION], __ATOMIC_ACQUIRE))
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    fprintf(stderr, "t2t: ready: feed %s:%u on %s, gateway %s:%u logged in\n", O.group, O.port,
            O.iface, O.gw_host, O.gw_port);
    /* the main thread only receives signals; the session thread acts on them */
    sigset_t mine;
    sigemptyset(&mine);
    sigaddset(&mine, SIGINT);
    sigaddset(&mine, SIGTERM);
    sigaddset(&mine, SIGUSR1);
    pthread_sigmask(SIG_UNBLOCK, &mine, NULL);
    /* signal handlers run here and only set flags; the session thread acts on them */
    pthread_join(th[TH_HOT], NULL);
    pthread_join(th[TH_SESSION], NULL);
    if (atomic_load(&E.session_up)) {
        uint8_t lo[3] = {0, 1, SOUP_LOGOUT};
        gw_send(lo, 3, 0);
        E.session_state = "logged_out";
    }
    if (E.trace)
        fclose(E.trace);
    write_stats(O.stats);
    return 0;
}
