/* gwsim: SoupBinTCP 3.0 / OUCH 4.2 order gateway simulator. Logs clients in, accepts Enter
 * Order messages, answers Accepted, and records what it received and when. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <getopt.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "proto.h"

const char *prog_name = "gwsim";

#define MAX_CLIENTS 8
#define CBUF 65536

typedef struct {
    int fd, logged_in;
    size_t have;
    uint64_t orders, next_hb, out_seq;
    uint8_t buf[CBUF];
} client_t;

static struct {
    const char *listen_addr, *user, *password, *log, *report;
    uint16_t port;
    int reject_login, cpu;
    uint64_t drop_after;
    unsigned heartbeat_ms;
} O;

static struct {
    int lfd;
    client_t cl[MAX_CLIENTS];
    FILE *logf;
    uint64_t logins_ok, logins_rejected, drops, orders, accepted, hb_in, logouts, bad_packets,
        unknown, rx_stamp_sw, rx_stamp_none, connections;
    hist_t h_f2g;
} G;

static void usage(void)
{
    printf("usage: gwsim [options]\n"
           "SoupBinTCP/OUCH 4.2 order gateway simulator.\n"
           "  --listen ADDR:PORT   address to listen on (default 127.0.0.1:31002)\n"
           "  --user NAME          accepted login user (default COLO)\n"
           "  --password PW        accepted login password (default secret)\n"
           "  --reject-login       reject every login (reason 'A', not authorized)\n"
           "  --drop-after N       close a session after its Nth order\n"
           "  --heartbeat-ms N     server heartbeat interval (default 1000)\n"
           "  --log FILE           JSON line per order received\n"
           "  --report FILE        JSON report on exit and on SIGUSR1 (default stdout on exit)\n"
           "  --cpu N              pin to CPU N\n");
}

static void parse_args(int argc, char **argv)
{
    O.listen_addr = "127.0.0.1";
    O.port = 31002;
    O.user = "COLO";
    O.password = "secret";
    O.cpu = -1;
    O.heartbeat_ms = 1000;
    enum { O_LISTEN = 256, O_USER, O_PW, O_REJECT, O_DROP, O_HB, O_LOG, O_REPORT, O_CPU, O_HELP };
    static const struct option lo[] = {
        {"listen", 1, 0, O_LISTEN}, {"user", 1, 0, O_USER},         {"password", 1, 0, O_PW},
        {"reject-login", 0, 0, O_REJECT}, {"drop-after", 1, 0, O_DROP},
        {"heartbeat-ms", 1, 0, O_HB}, {"log", 1, 0, O_LOG},         {"report", 1, 0, O_REPORT},
        {"cpu", 1, 0, O_CPU},       {"help", 0, 0, O_HELP},         {0, 0, 0, 0}};
    int c;
    static char host[64];
    opterr = 0;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case O_LISTEN: {
            const char *colon = strrchr(optarg, ':');
            if (!colon || colon == optarg || (size_t)(colon - optarg) >= sizeof host)
                usage_error("--listen: expected ADDR:PORT such as 127.0.0.1:31002, got '%s'",
                            optarg);
            memcpy(host, optarg, (size_t)(colon - optarg));
            host[colon - optarg] = 0;
            O.listen_addr = host;
            O.port = (uint16_t)opt_u64("--listen port", colon + 1, 1, 65535);
            struct in_addr a;
            if (inet_pton(AF_INET, host, &a) != 1)
                usage_error("--listen: '%s' is not an IPv4 address", host);
            break;
        }
        case O_USER: O.user = optarg; break;
        case O_PW: O.password = optarg; break;
        case O_REJECT: O.reject_login = 1; break;
        case O_DROP: O.drop_after = opt_u64("--drop-after", optarg, 1, UINT64_MAX); break;
        case O_HB: O.heartbeat_ms = (unsigned)opt_u64("--heartbeat-ms", optarg, 10, 60000); break;
        case O_LOG: O.log = optarg; break;
        case O_REPORT: O.report = optarg; break;
        case O_CPU: O.cpu = (int)opt_u64("--cpu", optarg, 0, CPU_SETSIZE - 1); break;
        case O_HELP: usage(); exit(0);
        default: usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
}

static void send_all(client_t *c, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t r = send(c->fd, p + done, n - done, MSG_NOSIGNAL);
        if (r <= 0) {
            if (r < 0 && errno == EINTR)
                continue;
            return;
        }
        done += (size_t)r;
    }
}

static void close_client(client_t *c)
{
    close(c->fd);
    c->fd = -1;
    c->logged_in = 0;
    c->have = 0;
}

/* text field trimmed of right padding equals s */
static int field_eq(const uint8_t *p, size_t n, const char *s)
{
    size_t l = n;
    while (l > 0 && p[l - 1] == ' ')
        l--;
    return strlen(s) == l && !memcmp(p, s, l);
}

static void json_text(FILE *f, const uint8_t *p, size_t n)
{
    size_t l = n;
    while (l > 0 && p[l - 1] == ' ')
        l--;
    fputc('"', f);
    for (size_t i = 0; i < l; i++)
        fputc(p[i] >= 32 && p[i] < 127 && p[i] != '"' && p[i] != '\\' ? p[i] : '?', f);
    fputc('"', f);
}

static void on_order(client_t *c, const uint8_t *o, uint64_t rx_ns)
{
    G.orders++;
    c->orders++;
    uint64_t tok_ts = 0, f2g = 0;
    int have_lat = token_decode_ts(o + 1, &tok_ts);
    if (have_lat) {
        uint64_t now = ns_since_midnight(rx_ns);
        f2g = (now + NS_PER_DAY - tok_ts) % NS_PER_DAY;
        if (f2g < 60000000000ull) /* a minute: anything larger is not a feed timestamp */
            hist_add(&G.h_f2g, f2g);
        else
            have_lat = 0;
    }
    if (G.logf) {
        FILE *f = G.logf;
        fprintf(f, "{\"rx_ns\": %" PRIu64 ", \"token\": ", rx_ns);
        json_text(f, o + 1, 14);
        fprintf(f, ", \"side\": \"%c\", \"shares\": %u, \"stock\": ", o[15], rd32(o + 16));
        json_text(f, o + 20, 8);
        fprintf(f, ", \"price\": %u, \"tif\": %u, \"firm\": ", rd32(o + 28), rd32(o + 32));
        json_text(f, o + 36, 4);
        fprintf(f, ", \"display\": \"%c\", \"capacity\": \"%c\", \"intermarket_sweep\": \"%c\", "
                   "\"min_qty\": %u, \"cross_type\": \"%c\", \"customer_type\": \"%c\"",
                o[40], o[41], o[42], rd32(o + 43), o[47], o[48]);
        if (have_lat)
            fprintf(f, ", \"feed_to_gateway_ns\": %" PRIu64, f2g);
        fprintf(f, "}\n");
    }
    /* Sequenced Data carrying OUCH Accepted */
    uint8_t a[3 + OUCH_ACCEPTED_LEN];
    wr16(a, 1 + OUCH_ACCEPTED_LEN);
    a[2] = SOUP_SEQUENCED;
    uint8_t *m = a + 3;
    m[0] = 'A';
    wr64(m + 1, ns_since_midnight(real_ns()));
    memcpy(m + 9, o + 1, 14);  /* token */
    m[23] = o[15];             /* side */
    memcpy(m + 24, o + 16, 4); /* shares */
    memcpy(m + 28, o + 20, 8); /* stock */
    memcpy(m + 36, o + 28, 4); /* price */
    memcpy(m + 40, o + 32, 4); /* time in force */
    memcpy(m + 44, o + 36, 4); /* firm */
    m[48] = o[40];             /* display */
    wr64(m + 49, G.orders);    /* order reference number */
    m[57] = o[41];             /* capacity */
    m[58] = o[42];             /* intermarket sweep */
    memcpy(m + 59, o + 43, 4); /* minimum quantity */
    m[63] = o[47];             /* cross type */
    m[64] = 'L';               /* order state: live */
    m[65] = ' ';               /* BBO weight indicator */
    send_all(c, a, sizeof a);
    G.accepted++;
    c->out_seq++;
    if (O.drop_after && c->orders >= O.drop_after) {
        G.drops++;
        fprintf(stderr, "gwsim: dropping the session after %" PRIu64 " orders (--drop-after)\n",
                c->orders);
        close_client(c);
    }
}

static void on_packet(client_t *c, const uint8_t *p, unsigned len, uint64_t rx_ns)
{
    uint8_t type = p[0];
    if (!c->logged_in) {
        if (type != SOUP_LOGIN_REQUEST || len != SOUP_LOGIN_REQUEST_LEN) {
            G.bad_packets++;
            fprintf(stderr, "gwsim: expected a login request, got type '%c' length %u; closing\n",
                    type >= 32 && type < 127 ? type : '?', len);
            close_client(c);
            return;
        }
        if (O.reject_login || !field_eq(p + 1, 6, O.user) || !field_eq(p + 7, 10, O.password)) {
            uint8_t j[4] = {0, 2, SOUP_LOGIN_REJECTED, 'A'};
            send_all(c, j, 4);
            G.logins_rejected++;
            close_client(c);
            return;
        }
        uint8_t a[3 + 30];
        wr16(a, 31);
        a[2] = SOUP_LOGIN_ACCEPTED;
        memcpy(a + 3, "GWSIM00001", 10);
        memset(a + 13, ' ', 20);
        a[32] = '1'; /* next sequence number, right-justified */
        send_all(c, a, sizeof a);
        c->logged_in = 1;
        c->out_seq = 1;
        c->next_hb = mono_ns() + (uint64_t)O.heartbeat_ms * 1000000ull;
        G.logins_ok++;
        return;
    }
    switch (type) {
    case SOUP_UNSEQUENCED:
        if (len == 1 + OUCH_ENTER_ORDER_LEN && p[1] == 'O')
            on_order(c, p + 1, rx_ns);
        else
            G.unknown++;
        break;
    case SOUP_CLIENT_HEARTBEAT: G.hb_in++; break;
    case SOUP_LOGOUT:
        G.logouts++;
        close_client(c);
        break;
    case SOUP_DEBUG: break;
    default: G.unknown++; break;
    }
}

static void on_readable(client_t *c)
{
    char ctrl[256];
    struct iovec iov = {c->buf + c->have, CBUF - c->have};
    struct msghdr mh;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctrl;
    mh.msg_controllen = sizeof ctrl;
    ssize_t r = recvmsg(c->fd, &mh, MSG_DONTWAIT);
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
        close_client(c);
        return;
    }
    if (r < 0)
        return;
    uint64_t rx = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPING) {
            struct timespec ts[3];
            memcpy(ts, CMSG_DATA(cm), sizeof ts);
            rx = (uint64_t)ts[0].tv_sec * 1000000000ull + (uint64_t)ts[0].tv_nsec;
        }
    if (rx)
        G.rx_stamp_sw++;
    else {
        G.rx_stamp_none++;
        rx = real_ns();
    }
    c->have += (size_t)r;
    size_t off = 0;
    while (c->fd >= 0 && c->have - off >= 2) {
        unsigned pl = rd16(c->buf + off);
        if (c->have - off < 2 + (size_t)pl)
            break;
        if (pl == 0)
            G.bad_packets++;
        else
            on_packet(c, c->buf + off + 2, pl, rx);
        off += 2 + (size_t)pl;
    }
    if (c->fd < 0)
        return;
    memmove(c->buf, c->buf + off, c->have - off);
    c->have -= off;
    if (c->have == CBUF) {
        G.bad_packets++;
        close_client(c);
    }
}

static void write_report(void)
{
    FILE *f = stdout;
    char tmp[4096];
    if (O.report) {
        snprintf(tmp, sizeof tmp, "%s.tmp", O.report);
        if (!(f = fopen(tmp, "w"))) {
            warnx("--report %s: %s", O.report, strerror(errno));
            return;
        }
    }
    fprintf(f,
            "{\n  \"program\": \"gwsim\",\n  \"connections\": %" PRIu64
            ",\n  \"logins_accepted\": %" PRIu64 ",\n  \"logins_rejected\": %" PRIu64
            ",\n  \"sessions_dropped\": %" PRIu64 ",\n  \"orders\": %" PRIu64
            ",\n  \"accepted_sent\": %" PRIu64 ",\n  \"client_heartbeats\": %" PRIu64
            ",\n  \"logouts\": %" PRIu64 ",\n  \"bad_packets\": %" PRIu64
            ",\n  \"unknown_messages\": %" PRIu64 ",\n  \"rx_timestamps\": {\"software\": %" PRIu64
            ", \"none\": %" PRIu64 "},\n  \"latency\": {\"feed_to_gateway\": ",
            G.connections, G.logins_ok, G.logins_rejected, G.drops, G.orders, G.accepted,
            G.hb_in, G.logouts, G.bad_packets, G.unknown, G.rx_stamp_sw, G.rx_stamp_none);
    hist_json(f, &G.h_f2g, "  ");
    fprintf(f, "}\n}\n");
    if (O.report) {
        if (fclose(f) || rename(tmp, O.report))
            warnx("--report %s: %s", O.report, strerror(errno));
    } else {
        fflush(f);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    hist_init(&G.h_f2g);
    if (O.cpu >= 0)
        pin_process(O.cpu);
    if (O.log && !(G.logf = fopen(O.log, "w")))
        usage_error("--log %s: %s", O.log, strerror(errno));
    for (int i = 0; i < MAX_CLIENTS; i++)
        G.cl[i].fd = -1;
    G.lfd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(G.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(O.port);
    inet_pton(AF_INET, O.listen_addr, &sa.sin_addr);
    if (bind(G.lfd, (struct sockaddr *)&sa, sizeof sa) || listen(G.lfd, 16))
        die("listen on %s:%u: %s", O.listen_addr, O.port, strerror(errno));
    catch_stop_and_dump();
    fprintf(stderr, "gwsim: listening on %s:%u\n", O.listen_addr, O.port);
    while (!sig_stop) {
        if (sig_dump) {
            sig_dump = 0;
            if (G.logf)
                fflush(G.logf);
            write_report();
        }
        struct pollfd pf[MAX_CLIENTS + 1];
        int map[MAX_CLIENTS + 1];
        int n = 0;
        pf[n].fd = G.lfd;
        pf[n].events = POLLIN;
        map[n++] = -1;
        for (int i = 0; i < MAX_CLIENTS; i++)
            if (G.cl[i].fd >= 0) {
                pf[n].fd = G.cl[i].fd;
                pf[n].events = POLLIN;
                map[n++] = i;
            }
        int r = poll(pf, (nfds_t)n, 50);
        if (r > 0) {
            for (int k = 0; k < n; k++) {
                if (!pf[k].revents)
                    continue;
                if (map[k] < 0) {
                    int fd = accept(G.lfd, NULL, NULL);
                    if (fd < 0)
                        continue;
                    G.connections++;
                    int slot = -1;
                    for (int i = 0; i < MAX_CLIENTS; i++)
                        if (G.cl[i].fd < 0) {
                            slot = i;
                            break;
                        }
                    if (slot < 0) {
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    int fl = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE;
                    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPING, &fl, sizeof fl);
                    memset(&G.cl[slot], 0, sizeof G.cl[slot] - CBUF);
                    G.cl[slot].fd = fd;
                } else {
                    on_readable(&G.cl[map[k]]);
                }
            }
        }
        uint64_t now = mono_ns();
        for (int i = 0; i < MAX_CLIENTS; i++) {
            client_t *c = &G.cl[i];
            if (c->fd >= 0 && c->logged_in && now >= c->next_hb) {
                uint8_t hb[3] = {0, 1, SOUP_SERVER_HEARTBEAT};
                send_all(c, hb, 3);
                c->next_hb = now + (uint64_t)O.heartbeat_ms * 1000000ull;
            }
        }
    }
    if (G.logf)
        fclose(G.logf);
    write_report();
    return 0;
}
