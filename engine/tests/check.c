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
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
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
        if (step % 10000 == 0)
            for (unsigned i = 0; i < live; i++) {
                order_t *o = order_find(refs[i]);
                CHECK(o && o->shares == shares[i], "live %" PRIu64 " lost", refs[i]);
            }
    }
    CHECK(cnt_get(&E.st.orders_live) == live, "orders_live %" PRIu64 " != %u",
          cnt_get(&E.st.orders_live), live);
}

/* Levels stay sorted worst..best, quantities add up, empty levels disappear. */
static void check_levels(void)
{
    books_reset();
    uint8_t stock[8];
    stock8("TEST", stock);
    book_t *bk = book_for(7, stock);
    CHECK(bk != NULL, "no book");
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
