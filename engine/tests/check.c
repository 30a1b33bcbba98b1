/* Unit checks of t2t's pure parts: order table, price levels, histograms, order token.
 * Built and run by `make check` (optimised and under ASan/UBSan). Exit 0 when all pass. */
#define main t2t_main
#include "../src/t2t.c"
#undef main

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check.c:%d: %s: ", __LINE__, #cond);                                  \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void) { return xorshift(&rng); }

/* The Robin Hood invariant lookups and deletions stop early on: an entry away from home
 * follows an entry at most one step closer to its own home. */
static void check_robin_hood(void)
{
    for (uint64_t i = 0; i <= E.omask; i++) {
        if (!E.orders[i].used || odist(i) == 0)
            continue;
        uint64_t prev = (i - 1) & E.omask;
        CHECK(E.orders[prev].used && odist(prev) + 1 >= odist(i),
              "slot %" PRIu64 " (%" PRIu64 " from home) follows slot %" PRIu64 " (%" PRIu64
              " from home)", i, odist(i), prev, E.orders[prev].used ? odist(prev) : 0);
    }
}

/* Random inserts and erases against a plain array; every live reference must be found with
 * its data, every erased one must be gone, whatever the probing and backward shifts did. */
static void check_order_table(int sequential)
{
    enum { N = 3000 };
    static uint64_t refs[N];
    static uint32_t shares[N];
    unsigned live = 0;
    uint64_t next_ref = 1;
    books_reset();
    for (int step = 0; step < 200000; step++) {
        if (live < N && (live == 0 || next_rand() % 2)) {
            uint64_t ref = sequential ? next_ref++ : (next_rand() | 1);
            int dup = 0;
            for (unsigned i = 0; i < live; i++)
                dup |= refs[i] == ref;
            if (dup)
                continue;
            order_t *o = order_insert(ref);
            CHECK(o != NULL, "insert of %" PRIu64 " failed with %u live", ref, live);
            if (!o)
                return;
            o->shares = (uint32_t)(ref * 7);
            refs[live] = ref;
            shares[live++] = (uint32_t)(ref * 7);
        } else {
            unsigned i = (unsigned)(next_rand() % live);
            order_t *o = order_find(refs[i]);
            CHECK(o && o->shares == shares[i], "live %" PRIu64 " not found", refs[i]);
            if (!o)
                return;
            order_erase(o);
            CHECK(order_find(refs[i]) == NULL, "erased %" PRIu64 " still found", refs[i]);
            refs[i] = refs[--live];
            shares[i] = shares[live];
        }
        if (step % 10000 == 0) {
            for (unsigned i = 0; i < live; i++) {
                order_t *o = order_find(refs[i]);
                CHECK(o && o->shares == shares[i], "live %" PRIu64 " lost", refs[i]);
            }
            check_robin_hood();
        }
    }
    CHECK(cnt_get(&E.st.orders_live) == live, "orders_live %" PRIu64 " != %u",
          cnt_get(&E.st.orders_live), live);
}

/* An empty table of books holding one, for sym at locate. */
static book_t *only_book(const char *sym, uint16_t locate)
{
    books_reset();
    uint8_t stock[8];
    stock8(sym, stock);
    book_t *bk = book_for(locate, stock);
    CHECK(bk != NULL, "no book");
    return bk;
}

/* Levels stay sorted worst..best, quantities add up, empty levels disappear. */
static void check_levels(void)
{
    book_t *bk = only_book("TEST", 7);
    static uint64_t ref_qty[2][64];
    memset(ref_qty, 0, sizeof ref_qty);
    for (int step = 0; step < 100000; step++) {
        int s = (int)(next_rand() % 2);
        uint32_t p = (uint32_t)(next_rand() % 64);
        uint64_t q = 1 + next_rand() % 500;
        if (next_rand() % 2 || ref_qty[s][p] == 0) {
            level_add(bk, s, 1000 + p, q);
            ref_qty[s][p] += q;
        } else {
            if (q > ref_qty[s][p])
                q = ref_qty[s][p];
            level_sub(bk, s, 1000 + p, q);
            ref_qty[s][p] -= q;
        }
    }
    for (int s = 0; s < 2; s++) {
        unsigned n = 0;
        for (int p = 0; p < 64; p++)
            n += ref_qty[s][p] != 0;
        CHECK(bk->nlev[s] == n, "side %d: %u levels, want %u", s, bk->nlev[s], n);
        for (unsigned i = 0; i < bk->nlev[s]; i++) {
            level_t *lv = &bk->lev[s][i];
            CHECK(lv->qty == ref_qty[s][lv->price - 1000], "side %d price %u", s, lv->price);
            if (i)
                CHECK(better(s, lv->price, bk->lev[s][i - 1].price), "side %d unsorted at %u",
                      s, i);
        }
    }
    CHECK(cnt_get(&E.st.level_missing) == 0, "level_missing %" PRIu64,
          cnt_get(&E.st.level_missing));
}

/* A full side keeps its best --max-levels: a better level pushes out the worst, a worse one
 * is not tracked; both counted as level_overflow. */
static void check_level_overflow(void)
{
    book_t *bk = only_book("FULL", 8);
    unsigned keep = O.max_levels;
    O.max_levels = 4;
    uint64_t overflow = cnt_get(&E.st.level_overflow);
    for (uint32_t p = 1010; p >= 1007; p--) /* asks, worst first */
        level_add(bk, 1, p, 100);
    level_add(bk, 1, 1005, 100); /* new best: 1010 goes */
    level_add(bk, 1, 1006, 100); /* between: 1009 goes */
    level_add(bk, 1, 1020, 100); /* worse than all: not kept */
    static const uint32_t want[4] = {1008, 1007, 1006, 1005};
    CHECK(bk->nlev[1] == 4, "%u ask levels", bk->nlev[1]);
    for (unsigned i = 0; i < 4; i++)
        CHECK(bk->lev[1][i].price == want[i] && bk->lev[1][i].qty == 100, "ask %u: %u x %" PRIu64,
              i, bk->lev[1][i].price, bk->lev[1][i].qty);
    CHECK(cnt_get(&E.st.level_overflow) - overflow == 3, "level_overflow +%" PRIu64,
          cnt_get(&E.st.level_overflow) - overflow);
    O.max_levels = keep;
}

static void check_histogram(void)
{
    for (uint64_t v = 0; v < (1ull << 20); v += 1 + v / 64) {
        unsigned i = hist_index(v);
        CHECK(hist_lower(i) <= v && v <= hist_upper(i), "value %" PRIu64 " bucket %u", v, i);
        if (v >= 64)
            CHECK((double)(hist_upper(i) - hist_lower(i)) <= (double)v / 16.0,
                  "bucket of %" PRIu64 " too wide", v);
    }
    CHECK(hist_index(UINT64_MAX) == HIST_BUCKETS - 1, "top bucket");
    static hist_t h;
    hist_init(&h);
    for (uint64_t v = 1; v <= 1000; v++)
        hist_add(&h, v);
    CHECK(cnt_get(&h.count) == 1000 && cnt_get(&h.min) == 1 && cnt_get(&h.max) == 1000, "stats");
    uint64_t p50 = hist_pct(&h, 50), p99 = hist_pct(&h, 99);
    CHECK(p50 >= 500 && p50 <= 500 * 1.04, "p50 %" PRIu64, p50);
    CHECK(p99 >= 990 && p99 <= 1000, "p99 %" PRIu64, p99);
    CHECK(hist_pct(&h, 100) == 1000, "p100");
}

static void check_token(void)
{
    uint8_t tok[14];
    uint64_t tss[] = {0, 1, 34200000000000ull, NS_PER_DAY - 1, (1ull << 48) - 1};
    for (size_t i = 0; i < sizeof tss / sizeof *tss; i++) {
        token_encode(tok, tss[i], i * 977);
        uint64_t back = 0;
        CHECK(token_decode_ts(tok, &back) && back == tss[i], "token ts %" PRIu64, tss[i]);
        for (int k = 0; k < 14; k++)
            CHECK((tok[k] >= '0' && tok[k] <= '9') || (tok[k] >= 'A' && tok[k] <= 'Z'),
                  "token character %d", k);
    }
    /* against printf's hex digits and a base-36 reference, over random timestamps */
    uint64_t seq = 0x9E3779B97F4A7C15ull; /* its own sequence: the table checks keep theirs */
    for (unsigned i = 0; i < 200000; i++) {
        uint64_t ts = xorshift(&seq) & ((1ull << 48) - 1), counter = xorshift(&seq) % 5000;
        token_encode(tok, ts, counter);
        char want[16];
        snprintf(want, sizeof want, "%012" PRIX64, ts);
        const char *b36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
        want[12] = b36[counter % 1296 / 36];
        want[13] = b36[counter % 36];
        CHECK(memcmp(tok, want, 14) == 0, "token %.14s for ts %" PRIx64 " counter %" PRIu64
              ", want %.14s", (const char *)tok, ts, counter, want);
    }
}

static void check_itch_lengths(void)
{
    /* ITCH 5.0 specification, section 4: lengths including the type byte */
    static const struct {
        char type;
        unsigned len;
    } spec[] = {{'S', 12}, {'R', 39}, {'H', 25}, {'Y', 20}, {'L', 26}, {'V', 35}, {'W', 12},
                {'K', 28}, {'J', 35}, {'h', 21}, {'A', 36}, {'F', 40}, {'E', 31}, {'C', 36},
                {'X', 23}, {'D', 19}, {'U', 35}, {'P', 44}, {'Q', 40}, {'B', 19}, {'I', 50},
                {'N', 20}, {'O', 48}};
    for (size_t i = 0; i < sizeof spec / sizeof *spec; i++)
        CHECK(itch_len((uint8_t)spec[i].type) == spec[i].len, "type %c", spec[i].type);
    CHECK(itch_len('z') == 0 && itch_len(0) == 0, "unknown types have no length");
    CHECK(strlen(ITCH_TYPES) == sizeof spec / sizeof *spec, "ITCH_TYPES lists every type");
}

static void snapshot(uint64_t *v)
{
    v[0] = E.order_counter;
    v[1] = E.rate.count;
    v[2] = E.rate.window_start;
    v[3] = E.bytes_sent;
    v[4] = atomic_load(&E.ring_pub);
    v[5] = cnt_get(&E.h_d2o.count) + cnt_get(&E.h_decision.count) + cnt_get(&E.h_risk.count) +
           cnt_get(&E.h_encode.count);
}

/* The idle rehearsal of the order path runs the encode (the packet's fields change) but
 * counts, records, sends and resets nothing; the next real order is the first. */
static void check_order_path_rehearsal(void)
{
    books_reset();
    memset(&O.watch[0], 0, sizeof O.watch[0]);
    stock8("TEST", O.watch[0].stock);
    O.watch[0].side = 'B';
    O.watch[0].limit = 2000;
    O.nwatch = 1;
    O.order_qty = 100;
    O.max_order_qty = 1000;
    O.max_position = 10000;
    O.max_orders_per_sec = 100;
    E.cal.mult = 1u << 24;
    E.tsc_per_sec = 1000000000ull;
    ouch_templates();
    warm_order_path(); /* no watched book yet: nothing to do */
    uint8_t stock[8];
    stock8("TEST", stock);
    book_t *bk = book_for(9, stock);
    level_add(bk, 1, 1500, 300); /* best ask 0.1500, under the buy limit */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0, "socketpair: %s", strerror(errno));
    E.tfd = sv[0];
    atomic_store(&E.session_up, 1);
    static stats_t st_before;
    uint64_t before[6], after[6];
    memcpy(&st_before, &E.st, sizeof st_before);
    snapshot(before);
    for (int k = 0; k < 1000; k++)
        warm_order_path();
    atomic_store(&E.kill, 1); /* a rehearsal would be rejected: still nothing counted */
    warm_order_path();
    atomic_store(&E.kill, 0);
    snapshot(after);
    CHECK(memcmp(&st_before, &E.st, sizeof st_before) == 0, "the rehearsal changed a counter");
    CHECK(memcmp(before, after, sizeof before) == 0, "the rehearsal changed the order state");
    CHECK(bk->position == 0, "position %" PRId64, bk->position);
    const uint8_t *o = E.order_pkt[0] + 3;
    CHECK(o[15] == 'B' && rd32(o + 16) == 100 && memcmp(o + 20, stock, 8) == 0,
          "the rule's order packet: side, shares or stock wrong");
    CHECK(rd32(o + 28) == 1500, "the rehearsal did not encode the order");
    uint8_t buf[256];
    CHECK(recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN,
          "the rehearsal sent bytes");
    /* a real signal: sent, counted, the first order's token */
    uint8_t msg[ITCH_OFF_TS + 6] = {0};
    uint64_t now = tsc();
    decide(bk, 1, msg, now, now, 0);
    ssize_t n = recv(sv[1], buf, sizeof buf, MSG_DONTWAIT);
    CHECK(n == (ssize_t)sizeof E.order_pkt[0], "order of %zd bytes", n);
    CHECK(n > 0 && buf[3] == 'O' && buf[3 + 13] == '0' && buf[3 + 14] == '0',
          "first order's token does not end in 00");
    CHECK(cnt_get(&E.st.sent) == 1 && cnt_get(&E.st.signals) == 1 && E.rate.count == 1 &&
              bk->position == 100 && E.order_counter == 1,
          "real order: sent %" PRIu64 " signals %" PRIu64 " rate %" PRIu64 " position %" PRId64,
          cnt_get(&E.st.sent), cnt_get(&E.st.signals), E.rate.count, bk->position);
    close(sv[0]);
    close(sv[1]);
    E.tfd = -1;
    O.nwatch = 0;
}

int main(void)
{
    prog_name = "check";
    O.max_orders = 4096;
    O.max_symbols = 4;
    O.max_levels = 256;
    O.cpu[TH_HOT] = O.cpu[TH_SESSION] = -1;
    arena_setup();
    check_order_table(1);
    check_order_table(0);
    check_levels();
    check_level_overflow();
    check_order_path_rehearsal();
    check_histogram();
    check_token();
    check_itch_lengths();
    if (failures) {
        fprintf(stderr, "check: %d failure(s)\n", failures);
        return 1;
    }
    printf("check: all passed\n");
    return 0;
}
