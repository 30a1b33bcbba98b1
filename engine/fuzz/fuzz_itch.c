/* libFuzzer target: t2t's feed decoder (mold_packet: MoldUDP64 header, message blocks, ITCH
 * 5.0 messages, order table and books, strategy and risk) on arbitrary bytes taken as one
 * MoldUDP64 datagram. Built by `make fuzz` with -fsanitize=fuzzer,address,undefined; run
 * bounded by tests/integration/test_engine_fuzz.py, which also replays the inputs kept in
 * fuzz/regressions/.
 *
 * The engine is set up as main() sets it up, without sockets: buy and sell rules on AAPL (the
 * first symbol feedsim sends) so top-of-book changes reach the decision, risk and encode;
 * the session is up and the gateway socket is closed (-1), so an order's send fails and is
 * counted. Books and sequence state are reset before each input, so an input replays alone.
 * The decoder reads the fuzzer's own buffer, exactly the input's size, so AddressSanitizer
 * sees a read past the datagram. */
#define main t2t_main
#include "../src/t2t.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    static char *args[] = {"fuzz_itch",     "--buy",         "AAPL:100.25", "--sell",
                           "AAPL:100.5",    "--max-orders",  "4096",        "--max-symbols",
                           "8",             "--max-levels",  "16",          NULL};
    prog_name = "fuzz_itch";
    parse_args((int)(sizeof args / sizeof *args) - 1, args);
    E.tfd = -1;
    E.ufd = -1;
    atomic_flag_clear(&E.send_lock);
    for (size_t i = 0; i < NHISTS; i++)
        hist_init(HISTS[i].h);
    E.cal.ghz = 1.0;
    E.cal.mult = 1u << 24;
    E.tsc_per_sec = 1000000000ull;
    arena_setup();
    ouch_templates();
    atomic_store(&E.session_up, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > RX_BUF) /* more than a datagram the engine can receive */
        return 0;
    books_reset();
    E.have_session = 0; /* the input's session becomes the session */
    E.expected = 1;     /* as after sequence 0: a later one is a gap, 0 a duplicate */
    mold_packet(data, size);
    return 0;
}
