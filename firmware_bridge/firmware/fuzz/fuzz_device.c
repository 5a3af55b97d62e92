/* A self-contained fuzzer for the protocol engine and the blob validator, built with gcc and
 * AddressSanitizer + UndefinedBehaviorSanitizer (make fuzz). It feeds the device random bytes,
 * mutated frames, and LOADs of mutated (but correctly CRC'd) model blobs followed by INFERs, so
 * every corrupt blob reaches the validator and, if accepted, the kernels. Any out-of-bounds access,
 * overflow or hang aborts. Deterministic from its seed.
 *   ne_fuzz ITERATIONS SEED [seed_blob]     (libFuzzer/AFL++ are not used: neither is packaged here) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ne_cobs.h"
#include "ne_config.h"
#include "ne_crc32.h"
#include "ne_device.h"
#include "ne_hal.h"

static uint64_t state;
static unsigned long replies;
static uint32_t rnd(void) {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return (uint32_t)(state >> 11);
}

void hal_init(void) {}
int hal_getc(void) { return -1; }
void hal_write(const uint8_t *d, size_t n) {
    (void)d;
    replies += n;
}
uint32_t hal_cycles(void) { return 0; }
uint32_t hal_clock_hz(void) { return 1000000u; }
int hal_reset_pending(void) { return 0; }
void hal_system_reset(void) { ne_device_boot(); }
uint8_t hal_platform_id(void) { return 99; }
const char *hal_platform_name(void) { return "fuzz"; }

static uint8_t raw[8 + NE_MAX_PAYLOAD + 64], enc[2 * (8 + NE_MAX_PAYLOAD) + 64];

static void feed(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) ne_device_feed(p[i]);
}

static void frame(uint8_t seq, uint8_t cmd, const uint8_t *pl, uint32_t len, int mutate) {
    raw[0] = seq, raw[1] = cmd, raw[2] = (uint8_t)len, raw[3] = (uint8_t)(len >> 8);
    memcpy(raw + 4, pl, len);
    uint32_t c = ne_crc32_update(0, raw, 4 + len);
    memcpy(raw + 4 + len, &c, 4);
    size_t n = ne_cobs_encode(raw, 8 + len, enc);
    if (mutate)
        for (int k = (int)(rnd() % 4); k >= 0; k--) enc[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
    enc[n++] = 0;
    feed(enc, n);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 10000;
    state = argc > 2 ? strtoull(argv[2], 0, 10) * 2654435761ull + 1 : 1;
    static uint8_t seed_blob[NE_BLOB_CAP], blob[NE_BLOB_CAP], buf[4096];
    size_t seed_len = 0;
    if (argc > 3) {
        FILE *f = fopen(argv[3], "rb");
        if (!f) return 2;
        seed_len = fread(seed_blob, 1, sizeof(seed_blob), f);
        fclose(f);
    }
    ne_device_boot();
    uint32_t in_size = seed_len >= 22 ? (uint32_t)seed_blob[16] * seed_blob[18] * seed_blob[20] : 64;
    for (long it = 0; it < iters; it++) {
        uint8_t seq = (uint8_t)rnd();
        switch (rnd() % 5) {
        case 0: { /* raw garbage, zeros included */
            size_t n = rnd() % sizeof(buf);
            for (size_t i = 0; i < n; i++) buf[i] = (rnd() % 8) ? (uint8_t)rnd() : 0;
            feed(buf, n);
            break;
        }
        case 1: { /* any command, random payload, sometimes mutated */
            uint32_t n = rnd() % (NE_MAX_PAYLOAD + 1);
            for (uint32_t i = 0; i < n; i++) buf[i] = (uint8_t)rnd();
            frame(seq, (uint8_t)(rnd() % 10), buf, n, rnd() % 2);
            break;
        }
        case 2:
        case 3: { /* LOAD a mutated blob with a correct CRC, then INFER */
            if (!seed_len) break;
            size_t n = seed_len;
            memcpy(blob, seed_blob, n);
            for (int k = (int)(rnd() % 6); k >= 0; k--) blob[rnd() % n] = (uint8_t)rnd();
            if (rnd() % 8 == 0) n = rnd() % (seed_len + 1);
            uint8_t pl[8 + NE_MAX_PAYLOAD];
            uint32_t total = (uint32_t)n, c = ne_crc32_update(0, blob, n);
            memcpy(pl, &total, 4), memcpy(pl + 4, &c, 4);
            frame(seq++, 0x02, pl, 8, 0);
            for (uint32_t off = 0; off < n; off += NE_MAX_PAYLOAD - 4) {
                uint32_t len = (uint32_t)(n - off < NE_MAX_PAYLOAD - 4 ? n - off : NE_MAX_PAYLOAD - 4);
                memcpy(pl, &off, 4), memcpy(pl + 4, blob + off, len);
                frame(seq++, 0x03, pl, 4 + len, 0);
            }
            frame(seq++, 0x04, pl, 0, 0);
            uint32_t m = (rnd() % 4) ? in_size : rnd() % NE_MAX_PAYLOAD;
            if (m > NE_MAX_PAYLOAD) m = NE_MAX_PAYLOAD;
            for (uint32_t i = 0; i < m; i++) pl[i] = (uint8_t)rnd();
            frame(seq, 0x05, pl, m, 0);
            break;
        }
        default: /* a valid request twice (replay path) */
            frame(seq, 0x01, buf, 0, 0);
            frame(seq, 0x01, buf, 0, 0);
        }
    }
    printf("fuzz: %ld iterations, %lu reply bytes, no fault\n", iters, replies);
    return 0;
}
