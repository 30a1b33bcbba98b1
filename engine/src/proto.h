/* Wire formats: NASDAQ TotalView-ITCH 5.0, MoldUDP64, SoupBinTCP 3.0, OUCH 4.2. */
#ifndef COLOTUNE_PROTO_H
#define COLOTUNE_PROTO_H

#include <stdint.h>
#include <string.h>

/* ---- ITCH 5.0: length of every message type, type byte included (spec section 1-4) ---- */
static inline unsigned itch_len(uint8_t type)
{
    switch (type) {
    case 'S': return 12; /* System Event */
    case 'R': return 39; /* Stock Directory */
    case 'H': return 25; /* Stock Trading Action */
    case 'Y': return 20; /* Reg SHO Short Sale Price Test Restricted Indicator */
    case 'L': return 26; /* Market Participant Position */
    case 'V': return 35; /* MWCB Decline Level */
    case 'W': return 12; /* MWCB Status */
    case 'K': return 28; /* IPO Quoting Period Update */
    case 'J': return 35; /* LULD Auction Collar */
    case 'h': return 21; /* Operational Halt */
    case 'A': return 36; /* Add Order, no MPID attribution */
    case 'F': return 40; /* Add Order with MPID attribution */
    case 'E': return 31; /* Order Executed */
    case 'C': return 36; /* Order Executed With Price */
    case 'X': return 23; /* Order Cancel */
    case 'D': return 19; /* Order Delete */
    case 'U': return 35; /* Order Replace */
    case 'P': return 44; /* Trade (non-cross) */
    case 'Q': return 40; /* Cross Trade */
    case 'B': return 19; /* Broken Trade */
    case 'I': return 50; /* Net Order Imbalance Indicator (NOII) */
    case 'N': return 20; /* Retail Price Improvement Indicator (RPII) */
    case 'O': return 48; /* Direct Listing with Capital Raise Price Discovery */
    default: return 0;
    }
}
#define ITCH_TYPES "SRHYLVWKJhAFECXDUPQBINO"

/* Common header: type(1) stock locate(2) tracking number(2) timestamp(6) */
#define ITCH_OFF_LOCATE 1
#define ITCH_OFF_TRACKING 3
#define ITCH_OFF_TS 5
#define ITCH_OFF_BODY 11
/* A/F: order ref(8)@11 side(1)@19 shares(4)@20 stock(8)@24 price(4)@32 [attribution(4)@36] */
/* E: ref@11 executed shares(4)@19 match(8)@23; C: + printable(1)@31 price(4)@32 */
/* X: ref@11 cancelled shares(4)@19; D: ref@11 */
/* U: original ref@11 new ref@19 shares(4)@27 price(4)@31 */
/* R: stock(8)@11 ... */

/* ---- MoldUDP64 ---- */
#define MOLD_HDR 20 /* session(10) sequence(8) count(2) */
#define MOLD_END_OF_SESSION 0xFFFF

/* ---- SoupBinTCP 3.0: length(2, excludes itself) type(1) payload ---- */
#define SOUP_LOGIN_REQUEST 'L'   /* user(6) password(10) session(10) sequence(20) */
#define SOUP_LOGIN_ACCEPTED 'A'  /* session(10) sequence(20) */
#define SOUP_LOGIN_REJECTED 'J'  /* reason(1): 'A' not authorized, 'S' session not available */
#define SOUP_SEQUENCED 'S'
#define SOUP_UNSEQUENCED 'U'
#define SOUP_SERVER_HEARTBEAT 'H'
#define SOUP_CLIENT_HEARTBEAT 'R'
#define SOUP_LOGOUT 'O'
#define SOUP_END_OF_SESSION 'Z'
#define SOUP_DEBUG '+'
#define SOUP_LOGIN_REQUEST_LEN 47

/* ---- OUCH 4.2 ---- */
#define OUCH_ENTER_ORDER_LEN 49 /* type 'O' */
/* 'O'(1) token(14)@1 side(1)@15 shares(4)@16 stock(8)@20 price(4)@28 tif(4)@32 firm(4)@36
 * display(1)@40 capacity(1)@41 intermarket sweep(1)@42 min qty(4)@43 cross type(1)@47
 * customer type(1)@48 */
#define OUCH_ACCEPTED_LEN 66 /* type 'A' */
/* 'A'(1) timestamp(8)@1 token(14)@9 side(1)@23 shares(4)@24 stock(8)@28 price(4)@36 tif(4)@40
 * firm(4)@44 display(1)@48 order ref(8)@49 capacity(1)@57 ISE(1)@58 min qty(4)@59
 * cross type(1)@63 order state(1)@64 BBO weight(1)@65 */
#define OUCH_REJECTED_LEN 24 /* 'J' timestamp(8) token(14) reason(1) */

/* The 8 hex digits of x as ASCII, most significant first in memory, without a loop or a
 * table: each nibble is moved into a byte of its own, then a nibble n becomes '0' + n, plus
 * 7 more ('A' - '0' - 10) where n >= 10 (n + 6 carries into bit 4 exactly then). */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "hex8 assumes a little-endian machine"
#endif
static inline uint64_t hex8(uint32_t x)
{
    uint64_t v = x;
    v = ((v & 0xFFFF0000ull) << 16) | (v & 0x0000FFFFull);
    v = ((v & 0x0000FF000000FF00ull) << 8) | (v & 0x000000FF000000FFull);
    v = ((v & 0x00F000F000F000F0ull) << 4) | (v & 0x000F000F000F000Full);
    uint64_t letters = ((v + 0x0606060606060606ull) >> 4) & 0x0101010101010101ull;
    v += 0x3030303030303030ull + letters * 7;
    return __builtin_bswap64(v); /* nibble 7 into the first byte in memory */
}

/* Order token: ITCH timestamp of the triggering message (48 bits as 12 upper-case hex digits,
 * cheap to encode) followed by an order counter (base 36, 2 characters): unique unless more
 * than 1296 orders come from messages stamped with the same nanosecond. The gateway
 * simulator derives feed-to-gateway latency from it. */
static inline void token_encode(uint8_t out[14], uint64_t itch_ts, uint64_t counter)
{
    static const char b36[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    uint64_t high = hex8((uint32_t)(itch_ts >> 16)), low = hex8((uint32_t)itch_ts & 0xFFFF);
    memcpy(out, &high, 8);
    memcpy(out + 8, (const uint8_t *)&low + 4, 4); /* the 4 digits of the low 16 bits */
    counter %= 36 * 36;
    out[12] = (uint8_t)b36[counter / 36];
    out[13] = (uint8_t)b36[counter % 36];
}
static inline int token_decode_ts(const uint8_t tok[14], uint64_t *ts)
{
    uint64_t v = 0;
    for (int i = 0; i < 12; i++) {
        uint8_t c = tok[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'A' && c <= 'F')
            d = (unsigned)(c - 'A') + 10;
        else
            return 0;
        v = (v << 4) | d;
    }
    *ts = v;
    return 1;
}

#endif
