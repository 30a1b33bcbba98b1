/* feedsim: synthetic or replayed NASDAQ TotalView-ITCH 5.0 over MoldUDP64 multicast.
 * Reports what it sent as JSON; can also write the session as an ITCH file. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "proto.h"

const char *prog_name = "feedsim";

#define MAX_DROPS 64
#define MAX_SYMBOLS 64
#define LIVE_CAP 65536

static const char *const SYMBOL_NAMES[] = {
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "AVGO", "COST", "NFLX", "AMD",
    "PEP",  "ADBE", "CSCO", "INTC", "QCOM", "TXN",  "AMGN", "INTU", "ISRG", "HON",  "SBUX",
};

typedef struct {
    const char *group, *iface, *replay, *write_file, *dump, *report;
    char session[10];
    uint16_t port;
    uint64_t messages, rate, speed; /* speed 0 = maximum */
    unsigned symbols, max_packet, malformed, burst, end_repeats, fuzz;
    uint64_t seed;
    uint64_t drops[MAX_DROPS];
    unsigned ndrops;
    int keep_ts, cpu;
} opts_t;

typedef struct {
    uint64_t ref;
    uint32_t shares, price;
    uint16_t locate;
    uint8_t side;
} live_t;

typedef struct {
    uint8_t stock[8];
    uint32_t mid;
} sym_t;

static struct {
    opts_t o;
    uint64_t rng;       /* the session's messages: the same seed gives the same messages */
    uint64_t burst_rng; /* when bursts start: depends on pacing, so kept off the messages' */
    sym_t sym[MAX_SYMBOLS];
    live_t live[LIVE_CAP];
    unsigned nlive;
    uint64_t next_ref, match, gen_count;
    /* message source */
    uint8_t *file;
    size_t file_len, file_pos;
    /* output */
    int fd;
    struct sockaddr_in dst;
    FILE *dumpf;
    uint64_t seq; /* next MoldUDP64 sequence number */
    uint64_t sent_msgs, sent_pkts, dropped_msgs, send_errors, malformed_msgs, malformed_lost;
    uint64_t by_type[256];
    uint64_t mal_kind[4];
    uint64_t first_ts, last_ts;
} g;

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) { (void)sig; stop_flag = 1; }

static uint64_t rnd(void) { return xorshift(&g.rng); }
static unsigned rndn(unsigned n) { return (unsigned)(rnd() % n); }

static void usage(void)
{
    printf(
        "usage: feedsim [options]\n"
        "Sends a NASDAQ TotalView-ITCH 5.0 session as MoldUDP64 multicast and reports what it sent.\n"
        "  --group ADDR          multicast group (default 239.1.1.1)\n"
        "  --port N              UDP port (default 31001)\n"
        "  --iface ADDR          local address of the sending interface (default 127.0.0.1)\n"
        "  --session NAME        MoldUDP64 session, up to 10 characters (default COLOTUNE01)\n"
        "  --messages N          synthetic messages to generate (default 100000)\n"
        "  --symbols N           synthetic symbols, 1..%d (default 8)\n"
        "  --rate N              messages per second at 1x speed (default 50000)\n"
        "  --speed S             1, 10, 20, any multiplier, or max (default 1)\n"
        "  --replay FILE         replay an ITCH 5.0 file (2-byte length + message) instead\n"
        "  --keep-timestamps     replay: keep the file's timestamps (default: stamp send time)\n"
        "  --write-file FILE     write the synthetic session as an ITCH 5.0 file and exit\n"
        "  --dump FILE           write every ITCH message sent, in the ITCH file layout\n"
        "  --drop-seq N          build but do not send the packet holding sequence N (repeatable)\n"
        "  --malformed N         also send N malformed packets of each kind\n"
        "  --fuzz N              send N randomly damaged packets before the end of session\n"
        "  --max-packet BYTES    MoldUDP64 payload limit, 64..65000 (default 1400)\n"
        "  --burst N             packets per burst, 0 for none (default 20)\n"
        "  --end-repeats N       end-of-session packets to send (default 3)\n"
        "  --seed N              random seed (default 1)\n"
        "  --cpu N               pin to CPU N\n"
        "  --report FILE         write the JSON report to FILE (default stdout)\n",
        MAX_SYMBOLS);
}

static void parse_args(int argc, char **argv)
{
    opts_t *o = &g.o;
    memset(o, 0, sizeof *o);
    o->group = "239.1.1.1";
    o->iface = "127.0.0.1";
    memcpy(o->session, "COLOTUNE01", 10);
    o->port = 31001;
    o->messages = 100000;
    o->symbols = 8;
    o->rate = 50000;
    o->speed = 1;
    o->max_packet = 1400;
    o->burst = 20;
    o->end_repeats = 3;
    o->seed = 1;
    o->cpu = -1;
    enum { O_GROUP = 256, O_PORT, O_IFACE, O_SESSION, O_MESSAGES, O_SYMBOLS, O_RATE, O_SPEED,
           O_REPLAY, O_KEEPTS, O_WRITE, O_DUMP, O_DROP, O_MAL, O_MAXPKT, O_BURST, O_ENDREP,
           O_SEED, O_CPU, O_REPORT, O_FUZZ, O_HELP };
    static const struct option lo[] = {
        {"group", 1, 0, O_GROUP},         {"port", 1, 0, O_PORT},
        {"iface", 1, 0, O_IFACE},         {"session", 1, 0, O_SESSION},
        {"messages", 1, 0, O_MESSAGES},   {"symbols", 1, 0, O_SYMBOLS},
        {"rate", 1, 0, O_RATE},           {"speed", 1, 0, O_SPEED},
        {"replay", 1, 0, O_REPLAY},       {"keep-timestamps", 0, 0, O_KEEPTS},
        {"write-file", 1, 0, O_WRITE},    {"dump", 1, 0, O_DUMP},
        {"drop-seq", 1, 0, O_DROP},       {"malformed", 1, 0, O_MAL},
        {"max-packet", 1, 0, O_MAXPKT},   {"burst", 1, 0, O_BURST},
        {"end-repeats", 1, 0, O_ENDREP},  {"seed", 1, 0, O_SEED},
        {"cpu", 1, 0, O_CPU},             {"report", 1, 0, O_REPORT},
        {"fuzz", 1, 0, O_FUZZ},           {"help", 0, 0, O_HELP},
        {0, 0, 0, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_GROUP: o->group = optarg; break;
        case O_PORT: o->port = (uint16_t)opt_u64("--port", optarg, 1, 65535); break;
        case O_IFACE: o->iface = optarg; break;
        case O_SESSION: {
            size_t n = strlen(optarg);
            if (n == 0 || n > 10)
                usage_error("--session: expected 1 to 10 characters, got '%s'", optarg);
            memset(o->session, ' ', 10);
            memcpy(o->session, optarg, n);
            break;
        }
        case O_MESSAGES: o->messages = opt_u64("--messages", optarg, 1, 1000000000000ull); break;
        case O_SYMBOLS: o->symbols = (unsigned)opt_u64("--symbols", optarg, 1, MAX_SYMBOLS); break;
        case O_RATE: o->rate = opt_u64("--rate", optarg, 1, 1000000000ull); break;
        case O_SPEED:
            o->speed = strcmp(optarg, "max") == 0 ? 0 : opt_u64("--speed", optarg, 1, 100000);
            break;
        case O_REPLAY: o->replay = optarg; break;
        case O_KEEPTS: o->keep_ts = 1; break;
        case O_WRITE: o->write_file = optarg; break;
        case O_DUMP: o->dump = optarg; break;
        case O_DROP:
            if (o->ndrops >= MAX_DROPS)
                usage_error("--drop-seq: at most %d may be given", MAX_DROPS);
            o->drops[o->ndrops++] = opt_u64("--drop-seq", optarg, 1, UINT64_MAX - 1);
            break;
        case O_MAL: o->malformed = (unsigned)opt_u64("--malformed", optarg, 0, 10000); break;
        case O_MAXPKT: o->max_packet = (unsigned)opt_u64("--max-packet", optarg, 64, 65000); break;
        case O_BURST: o->burst = (unsigned)opt_u64("--burst", optarg, 0, 100000); break;
        case O_ENDREP: o->end_repeats = (unsigned)opt_u64("--end-repeats", optarg, 0, 100); break;
        case O_SEED: o->seed = opt_u64("--seed", optarg, 1, UINT64_MAX); break;
        case O_CPU: o->cpu = (int)opt_u64("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
        case O_REPORT: o->report = optarg; break;
        case O_FUZZ: o->fuzz = (unsigned)opt_u64("--fuzz", optarg, 0, 10000000); break;
        case O_HELP: usage(); exit(0);
        default:
            usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (o->replay && o->write_file)
        usage_error("--replay and --write-file cannot be combined");
    if (o->replay && o->malformed)
        usage_error("--malformed works with the synthetic session only, not with --replay");
    struct in_addr a;
    if (inet_pton(AF_INET, o->group, &a) != 1 || (ntohl(a.s_addr) >> 28) != 14)
        usage_error("--group: expected an IPv4 multicast address (224.0.0.0/4), got '%s'",
                    o->group);
    if (inet_pton(AF_INET, o->iface, &a) != 1)
        usage_error("--iface: expected an IPv4 address, got '%s'", o->iface);
}

/* ---- synthetic message generation ---- */

static void hdr(uint8_t *m, uint8_t type, uint16_t locate, uint64_t ts)
{
    m[0] = type;
    wr16(m + ITCH_OFF_LOCATE, locate);
    wr16(m + ITCH_OFF_TRACKING, (uint16_t)(g.gen_count & 0xffff));
    wr48(m + ITCH_OFF_TS, ts);
}

static void fill_alpha(uint8_t *p, size_t n, const char *s)
{
    size_t l = strlen(s);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i < l ? s[i] : ' ');
}

/* One message of any non-order type, with plausible fields. */
static unsigned gen_other(uint8_t *m, uint8_t type, uint16_t loc, uint64_t ts)
{
    unsigned len = itch_len(type);
    memset(m, 0, len);
    hdr(m, type, loc, ts);
    const uint8_t *st = g.sym[loc - 1].stock;
    switch (type) {
    case 'S': m[11] = 'O'; break;
    case 'R':
        memcpy(m + 11, st, 8);
        m[19] = 'Q'; m[20] = 'N'; wr32(m + 21, 100); m[25] = 'N'; m[26] = 'C';
        fill_alpha(m + 27, 2, "Z"); m[29] = 'P'; m[30] = 'N'; m[31] = ' '; m[32] = '1';
        m[33] = 'N'; wr32(m + 34, 0); m[38] = 'N';
        break;
    case 'H': memcpy(m + 11, st, 8); m[19] = 'T'; m[20] = ' '; fill_alpha(m + 21, 4, ""); break;
    case 'Y': memcpy(m + 11, st, 8); m[19] = '0'; break;
    case 'L': fill_alpha(m + 11, 4, "MPID"); memcpy(m + 15, st, 8); m[23] = 'Y'; m[24] = 'N';
        m[25] = 'A'; break;
    case 'V': wr64(m + 11, 38000000000ull); wr64(m + 19, 35000000000ull);
        wr64(m + 27, 32000000000ull); break;
    case 'W': m[11] = '1'; break;
    case 'K': memcpy(m + 11, st, 8); wr32(m + 19, 34200); m[23] = 'A'; wr32(m + 24, 1000000);
        break;
    case 'J': memcpy(m + 11, st, 8); wr32(m + 19, g.sym[loc - 1].mid);
        wr32(m + 23, g.sym[loc - 1].mid + 50000); wr32(m + 27, g.sym[loc - 1].mid - 50000);
        wr32(m + 31, 1); break;
    case 'h': memcpy(m + 11, st, 8); m[19] = 'Q'; m[20] = 'H'; break;
    case 'P': wr64(m + 11, 0); m[19] = 'B'; wr32(m + 20, 100); memcpy(m + 24, st, 8);
        wr32(m + 32, g.sym[loc - 1].mid); wr64(m + 36, ++g.match); break;
    case 'Q': wr64(m + 11, 10000); memcpy(m + 19, st, 8); wr32(m + 27, g.sym[loc - 1].mid);
        wr64(m + 31, ++g.match); m[39] = 'O'; break;
    case 'B': wr64(m + 11, g.match ? g.match : 1); break;
    case 'I': wr64(m + 11, 5000); wr64(m + 19, 1200); m[27] = 'B'; memcpy(m + 28, st, 8);
        wr32(m + 36, g.sym[loc - 1].mid); wr32(m + 40, g.sym[loc - 1].mid);
        wr32(m + 44, g.sym[loc - 1].mid); m[48] = 'O'; m[49] = 'L'; break;
    case 'N': memcpy(m + 11, st, 8); m[19] = 'B'; break;
    case 'O': memcpy(m + 11, st, 8); m[19] = 'Y'; for (int i = 0; i < 5; i++)
            wr32(m + 20 + 4 * i, g.sym[loc - 1].mid);
        wr64(m + 40, 1000); break;
    default: break;
    }
    return len;
}

static unsigned gen_order_msg(uint8_t *m, uint64_t ts)
{
    unsigned r = rndn(100);
    if (g.nlive < 64 || (g.nlive < LIVE_CAP - 1 && r < 50)) {
        /* add: A mostly, F sometimes */
        uint16_t loc = (uint16_t)(1 + rndn(g.o.symbols));
        sym_t *s = &g.sym[loc - 1];
        if (rndn(100) == 0) { /* mid walks one tick */
            if (rndn(2) && s->mid > 20000)
                s->mid -= 100;
            else
                s->mid += 100;
        }
        uint8_t side = rndn(2) ? 'B' : 'S';
        uint32_t off = 100u * (1 + rndn(10));
        uint32_t price = side == 'B' ? s->mid - off : s->mid + off;
        uint32_t shares = 100u * (1 + rndn(10));
        uint8_t type = rndn(10) == 0 ? 'F' : 'A';
        hdr(m, type, loc, ts);
        uint64_t ref = ++g.next_ref;
        wr64(m + 11, ref);
        m[19] = side;
        wr32(m + 20, shares);
        memcpy(m + 24, s->stock, 8);
        wr32(m + 32, price);
        if (type == 'F')
            fill_alpha(m + 36, 4, "COLO");
        live_t *l = &g.live[g.nlive++];
        l->ref = ref; l->shares = shares; l->price = price; l->locate = loc; l->side = side;
        return itch_len(type);
    }
    unsigned i = rndn(g.nlive);
    live_t *l = &g.live[i];
    if (r < 62) { /* execute part or all */
        uint32_t ex = l->shares > 100 && rndn(2) ? 100 : l->shares;
        uint8_t type = rndn(4) == 0 ? 'C' : 'E';
        hdr(m, type, l->locate, ts);
        wr64(m + 11, l->ref);
        wr32(m + 19, ex);
        wr64(m + 23, ++g.match);
        if (type == 'C') {
            m[31] = 'Y';
            wr32(m + 32, l->price);
        }
        l->shares -= ex;
        if (!l->shares)
            g.live[i] = g.live[--g.nlive];
        return itch_len(type);
    }
    if (r < 74 && l->shares > 100) { /* partial cancel */
        hdr(m, 'X', l->locate, ts);
        wr64(m + 11, l->ref);
        wr32(m + 19, 100);
        l->shares -= 100;
        return itch_len('X');
    }
    if (r < 88) { /* replace at a new price */
        hdr(m, 'U', l->locate, ts);
        wr64(m + 11, l->ref);
        uint64_t nref = ++g.next_ref;
        wr64(m + 19, nref);
        sym_t *s = &g.sym[l->locate - 1];
        uint32_t off = 100u * (1 + rndn(10));
        uint32_t price = l->side == 'B' ? s->mid - off : s->mid + off;
        uint32_t shares = 100u * (1 + rndn(10));
        wr32(m + 27, shares);
        wr32(m + 31, price);
        l->ref = nref; l->shares = shares; l->price = price;
        return itch_len('U');
    }
    hdr(m, 'D', l->locate, ts);
    wr64(m + 11, l->ref);
    g.live[i] = g.live[--g.nlive];
    return itch_len('D');
}

/* Next synthetic message into m; returns its length, 0 at the end of the session. */
static const char PROLOGUE_PER_SYMBOL[] = "RHYLKJh";
static const char PROLOGUE_GLOBAL[] = "VW";
static const char SESSION_OTHERS[] = "PQBINO";

static unsigned gen_next(uint8_t *m, uint64_t ts)
{
    uint64_t k = g.gen_count;
    if (k >= g.o.messages)
        return 0;
    unsigned n = g.o.symbols, len;
    uint64_t pro = 1 + (uint64_t)n * (sizeof PROLOGUE_PER_SYMBOL - 1) + (sizeof PROLOGUE_GLOBAL - 1);
    if (k == 0)
        len = gen_other(m, 'S', 1, ts);
    else if (k < 1 + (uint64_t)n * (sizeof PROLOGUE_PER_SYMBOL - 1)) {
        uint64_t j = k - 1;
        len = gen_other(m, (uint8_t)PROLOGUE_PER_SYMBOL[j / n], (uint16_t)(1 + j % n), ts);
    } else if (k < pro)
        len = gen_other(m, (uint8_t)PROLOGUE_GLOBAL[k - pro + 2], 1, ts);
    else if (k == g.o.messages - 1) {
        len = gen_other(m, 'S', 1, ts);
        m[11] = 'C';
    } else if (rndn(200) == 0)
        len = gen_other(m, (uint8_t)SESSION_OTHERS[rndn(sizeof SESSION_OTHERS - 1)],
                        (uint16_t)(1 + rndn(n)), ts);
    else
        len = gen_order_msg(m, ts);
    g.gen_count++;
    return len;
}

/* Next replayed message; returns its length, 0 at the end of the file. */
static unsigned replay_next(uint8_t *m)
{
    if (g.file_pos + 2 > g.file_len)
        return 0;
    unsigned len = rd16(g.file + g.file_pos);
    if (len == 0 || g.file_pos + 2 + len > g.file_len)
        die("%s: truncated or zero-length message at byte %zu", g.o.replay, g.file_pos);
    memcpy(m, g.file + g.file_pos + 2, len);
    g.file_pos += 2 + len;
    g.gen_count++;
    return len;
}

static void load_replay(void)
{
    FILE *f = fopen(g.o.replay, "rb");
    if (!f)
        die("--replay %s: %s", g.o.replay, strerror(errno));
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    if (sz <= 0)
        die("--replay %s: empty file", g.o.replay);
    g.file = malloc((size_t)sz);
    if (!g.file || fread(g.file, 1, (size_t)sz, f) != (size_t)sz)
        die("--replay %s: read failed", g.o.replay);
    fclose(f);
    g.file_len = (size_t)sz;
}

/* ---- sending ---- */

static uint8_t pkt[65536];

static void send_raw(const uint8_t *p, size_t n)
{
    for (int tries = 0; tries < 1000; tries++) {
        ssize_t r = sendto(g.fd, p, n, 0, (struct sockaddr *)&g.dst, sizeof g.dst);
        if (r == (ssize_t)n) {
            g.sent_pkts++;
            return;
        }
        if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR))
            continue;
        break;
    }
    g.send_errors++;
}

static int is_dropped(uint64_t first, uint64_t count)
{
    for (unsigned i = 0; i < g.o.ndrops; i++)
        if (g.o.drops[i] >= first && g.o.drops[i] < first + count)
            return 1;
    return 0;
}

static void mold_header(uint64_t seq, uint16_t count)
{
    memcpy(pkt, g.o.session, 10);
    wr64(pkt + 10, seq);
    wr16(pkt + 18, count);
}

/* A packet of one message of len bytes, zero but for its type: counted as malformed. */
static void send_malformed_message(uint8_t type, uint16_t len)
{
    mold_header(g.seq, 1);
    wr16(pkt + MOLD_HDR, len);
    memset(pkt + MOLD_HDR + 2, 0, len);
    pkt[MOLD_HDR + 2] = type;
    send_raw(pkt, MOLD_HDR + 2 + len);
    g.malformed_msgs++;
    g.seq += 1;
}

/* Malformed packets of four kinds; see the README. */
static void send_malformed(unsigned kind)
{
    uint8_t m[64];
    size_t n;
    switch (kind) {
    case 0: /* truncated header */
        memcpy(pkt, g.o.session, 7);
        send_raw(pkt, 7);
        break;
    case 1: /* count says 3; one complete RPII message then a length running past the end */
        mold_header(g.seq, 3);
        n = MOLD_HDR;
        gen_other(m, 'N', 1, ns_since_midnight(real_ns()));
        wr16(pkt + n, 20);
        memcpy(pkt + n + 2, m, 20);
        n += 22;
        wr16(pkt + n, 36);
        memcpy(pkt + n + 2, "A\0\1", 3);
        n += 5;
        send_raw(pkt, n);
        if (g.dumpf) {
            fputc(0, g.dumpf); fputc(20, g.dumpf);
            fwrite(m, 1, 20, g.dumpf);
        }
        g.sent_msgs++;
        g.by_type['N']++;
        g.malformed_lost += 2;
        g.seq += 3;
        break;
    case 2: send_malformed_message('z', 12); break; /* unknown message type */
    case 3: send_malformed_message('A', 20); break; /* known type with the wrong length */
    default: break;
    }
    g.mal_kind[kind]++;
}

static void write_report(double elapsed)
{
    FILE *f = stdout;
    if (g.o.report && !(f = fopen(g.o.report, "w")))
        die("--report %s: %s", g.o.report, strerror(errno));
    char sess[11];
    memcpy(sess, g.o.session, 10);
    sess[10] = 0;
    fprintf(f, "{\n  \"program\": \"feedsim\",\n  \"session\": \"%s\",\n", sess);
    fprintf(f, "  \"source\": \"%s\",\n", g.o.replay ? "replay" : "synthetic");
    if (g.o.speed)
        fprintf(f, "  \"speed\": %" PRIu64 ",\n", g.o.speed);
    else
        fprintf(f, "  \"speed\": \"max\",\n");
    fprintf(f, "  \"rate_at_1x\": %" PRIu64 ",\n", g.o.rate);
    fprintf(f, "  \"first_seq\": 1,\n  \"last_seq\": %" PRIu64 ",\n", g.seq - 1);
    fprintf(f, "  \"messages_sent\": %" PRIu64 ",\n", g.sent_msgs);
    fprintf(f, "  \"packets_sent\": %" PRIu64 ",\n", g.sent_pkts);
    fprintf(f, "  \"messages_dropped\": %" PRIu64 ",\n", g.dropped_msgs);
    fprintf(f, "  \"dropped_seqs\": [");
    for (unsigned i = 0; i < g.o.ndrops; i++)
        fprintf(f, "%s%" PRIu64, i ? ", " : "", g.o.drops[i]);
    fprintf(f, "],\n  \"malformed_packets\": {\"truncated_header\": %" PRIu64
               ", \"truncated_message\": %" PRIu64 ", \"unknown_type\": %" PRIu64
               ", \"bad_length\": %" PRIu64 "},\n",
            g.mal_kind[0], g.mal_kind[1], g.mal_kind[2], g.mal_kind[3]);
    fprintf(f, "  \"malformed_messages\": %" PRIu64 ",\n", g.malformed_msgs);
    fprintf(f, "  \"messages_lost_in_malformed\": %" PRIu64 ",\n", g.malformed_lost);
    fprintf(f, "  \"send_errors\": %" PRIu64 ",\n", g.send_errors);
    fprintf(f, "  \"fuzz_packets\": %u,\n", g.o.fuzz);
    fprintf(f, "  \"by_type\": {");
    int first = 1;
    for (const char *t = ITCH_TYPES; *t; t++) {
        if (!g.by_type[(uint8_t)*t])
            continue;
        fprintf(f, "%s\"%c\": %" PRIu64, first ? "" : ", ", *t, g.by_type[(uint8_t)*t]);
        first = 0;
    }
    fprintf(f, "},\n  \"elapsed_s\": %.6f,\n", elapsed);
    fprintf(f, "  \"messages_per_s\": %.0f\n}\n", elapsed > 0 ? (double)g.sent_msgs / elapsed : 0.0);
    if (f != stdout)
        fclose(f);
    else
        fflush(f);
}

static void write_file_mode(void)
{
    FILE *f = fopen(g.o.write_file, "wb");
    if (!f)
        die("--write-file %s: %s", g.o.write_file, strerror(errno));
    uint8_t m[64];
    uint64_t ts0 = 34200000000000ull; /* 09:30:00 */
    unsigned len;
    while ((len = gen_next(m, ts0 + g.gen_count * (1000000000ull / g.o.rate))) != 0) {
        fputc(0, f);
        fputc((int)len, f);
        fwrite(m, 1, len, f);
        g.by_type[m[0]]++;
        g.sent_msgs++;
    }
    if (fclose(f))
        die("--write-file %s: %s", g.o.write_file, strerror(errno));
    g.seq = g.sent_msgs + 1;
    write_report(0);
}

/* When message m, the index-th of the session (from 0), is due on the monotonic clock for a
 * session started at t_start: a replayed message at its timestamp's distance from the first
 * one's (replay_ts0) divided by the speed, a generated one ns_per_msg after the previous. */
static inline uint64_t due_ns(const uint8_t *m, uint64_t index, uint64_t t_start,
                              uint64_t replay_ts0, double ns_per_msg)
{
    if (g.o.replay) {
        uint64_t ts = rd48(m + ITCH_OFF_TS);
        return t_start + (ts > replay_ts0 ? (ts - replay_ts0) / g.o.speed : 0);
    }
    return t_start + (uint64_t)((double)index * ns_per_msg);
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    g.rng = g.o.seed * 0x9E3779B97F4A7C15ull | 1;
    g.burst_rng = g.o.seed * 0xD1B54A32D192ED03ull | 1;
    for (unsigned i = 0; i < g.o.symbols; i++) {
        char name[16];
        if (i < sizeof SYMBOL_NAMES / sizeof *SYMBOL_NAMES)
            snprintf(name, sizeof name, "%s", SYMBOL_NAMES[i]);
        else
            snprintf(name, sizeof name, "SYM%03u", i % 1000u);
        stock8(name, g.sym[i].stock);
        g.sym[i].mid = 1000000; /* 100.0000 */
    }
    if (g.o.cpu >= 0)
        pin_process(g.o.cpu);
    if (g.o.write_file) {
        write_file_mode();
        return 0;
    }
    if (g.o.replay)
        load_replay();
    if (g.o.dump && !(g.dumpf = fopen(g.o.dump, "wb")))
        die("--dump %s: %s", g.o.dump, strerror(errno));

    g.fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (g.fd < 0)
        die("socket: %s", strerror(errno));
    struct in_addr ifa;
    inet_pton(AF_INET, g.o.iface, &ifa);
    if (setsockopt(g.fd, IPPROTO_IP, IP_MULTICAST_IF, &ifa, sizeof ifa))
        die("IP_MULTICAST_IF %s: %s", g.o.iface, strerror(errno));
    int one = 1, ttl = 1, sndbuf = 4 << 20;
    setsockopt(g.fd, IPPROTO_IP, IP_MULTICAST_LOOP, &one, sizeof one);
    setsockopt(g.fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
    setsockopt(g.fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    g.dst.sin_family = AF_INET;
    g.dst.sin_port = htons(g.o.port);
    inet_pton(AF_INET, g.o.group, &g.dst.sin_addr);

    signal(SIGINT, on_stop);
    signal(SIGTERM, on_stop);

    /* a heartbeat first, so receivers learn the session */
    g.seq = 1;
    mold_header(g.seq, 0);
    send_raw(pkt, MOLD_HDR);

    uint8_t m[65536];
    unsigned pending = 0; /* message held over from the previous packet */
    uint64_t t_start = mono_ns();
    double ns_per_msg = g.o.speed ? 1e9 / ((double)g.o.rate * (double)g.o.speed) : 0.0;
    uint64_t burst_left = 0;
    uint64_t total_est = g.o.replay ? 0 : g.o.messages;
    unsigned mal_total = g.o.malformed * 4, mal_done = 0;
    uint64_t replay_ts0 = 0;
    for (;;) {
        if (stop_flag)
            break;
        /* malformed packets, spread through the session */
        if (mal_done < mal_total && total_est &&
            g.gen_count >= (total_est / (mal_total + 1)) * (mal_done + 1)) {
            send_malformed(mal_done % 4);
            mal_done++;
            continue;
        }
        if (!pending) {
            pending = g.o.replay ? replay_next(m) : gen_next(m, 0);
            if (!pending)
                break;
        }
        /* pacing: wait until the first message of the packet is due */
        if (g.o.speed && !burst_left) {
            if (g.o.replay && !replay_ts0) {
                uint64_t ts = rd48(m + ITCH_OFF_TS);
                replay_ts0 = ts ? ts : 1;
            }
            uint64_t due = due_ns(m, g.seq - 1, t_start, replay_ts0, ns_per_msg);
            while (mono_ns() < due && !stop_flag)
                ;
            if (g.o.burst && xorshift(&g.burst_rng) % 200 == 0)
                burst_left = g.o.burst;
        }
        if (burst_left)
            burst_left--;
        /* fill the packet with due messages */
        size_t n = MOLD_HDR;
        uint16_t count = 0;
        uint64_t now_rt = real_ns();
        uint64_t first_seq = g.seq;
        uint64_t now_m = mono_ns();
        size_t offs[2048];
        for (;;) {
            if (n + 2 + pending > g.o.max_packet || count >= 2048)
                break;
            if (!g.o.replay || !g.o.keep_ts)
                wr48(m + ITCH_OFF_TS, ns_since_midnight(now_rt));
            wr16(pkt + n, (uint16_t)pending);
            memcpy(pkt + n + 2, m, pending);
            offs[count++] = n;
            n += 2 + pending;
            pending = g.o.replay ? replay_next(m) : gen_next(m, 0);
            if (!pending)
                break;
            if (g.o.speed && !burst_left &&
                due_ns(m, g.seq - 1 + count, t_start, replay_ts0, ns_per_msg) > now_m)
                break;
        }
        mold_header(first_seq, count);
        g.seq += count;
        if (is_dropped(first_seq, count)) {
            g.dropped_msgs += count;
        } else {
            send_raw(pkt, n);
            g.sent_msgs += count;
            for (uint16_t i = 0; i < count; i++) {
                const uint8_t *p = pkt + offs[i];
                unsigned l = rd16(p);
                g.by_type[p[2]]++;
                if (g.dumpf)
                    fwrite(p, 1, 2 + l, g.dumpf);
            }
        }
        if (!pending)
            break;
    }
    double elapsed = (double)(mono_ns() - t_start) / 1e9;
    /* randomly damaged packets: a valid packet mutated, or random bytes */
    for (unsigned i = 0; i < g.o.fuzz && !stop_flag; i++) {
        size_t n;
        if (rndn(2)) {
            uint8_t mm[64];
            unsigned cnt = 1 + rndn(4);
            mold_header(rndn(4) ? g.seq : rnd() % (g.seq + 10), (uint16_t)cnt);
            n = MOLD_HDR;
            for (unsigned k = 0; k < cnt; k++) {
                const char *types = ITCH_TYPES;
                unsigned l = gen_other(mm, (uint8_t)types[rndn(sizeof ITCH_TYPES - 1)],
                                       (uint16_t)(1 + rndn(g.o.symbols)), 0);
                wr16(pkt + n, (uint16_t)l);
                memcpy(pkt + n + 2, mm, l);
                n += 2 + l;
            }
            unsigned flips = rndn(6);
            for (unsigned k = 0; k < flips; k++)
                pkt[rndn((unsigned)n)] ^= (uint8_t)(1u << rndn(8));
            if (rndn(2))
                n = rndn((unsigned)n + 1);
        } else {
            n = rndn(300);
            for (size_t k = 0; k < n; k++)
                pkt[k] = (uint8_t)rnd();
            if (n >= 10 && rndn(2))
                memcpy(pkt, g.o.session, 10);
        }
        send_raw(pkt, n);
    }
    for (unsigned i = 0; i < g.o.end_repeats; i++) {
        mold_header(g.seq, MOLD_END_OF_SESSION);
        send_raw(pkt, MOLD_HDR);
    }
    if (g.dumpf && fclose(g.dumpf))
        die("--dump %s: %s", g.o.dump, strerror(errno));
    write_report(elapsed);
    return 0;
}
