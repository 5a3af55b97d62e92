#include "ne_device.h"

#include <string.h>

#include "ne_cobs.h"
#include "ne_config.h"
#include "ne_crc32.h"
#include "ne_hal.h"
#include "ne_kernels.h"
#include "ne_model.h"

/* Commands (host -> device); a reply carries cmd | 0x80. */
enum { C_HELLO = 0x01, C_LOAD_BEGIN = 0x02, C_LOAD_CHUNK = 0x03, C_LOAD_END = 0x04, C_INFER = 0x05, C_RESET = 0x06 };
enum { C_BOOT = 0x7E, C_ERROR = 0x7F };
enum {
    E_BAD_CRC = 1, E_BAD_COBS = 2, E_TRUNCATED = 3, E_TOO_LONG = 4, E_BAD_LENGTH = 5, E_UNKNOWN_CMD = 6,
    E_BAD_STATE = 7, E_BLOB_TOO_LARGE = 8, E_BLOB_CRC = 9, E_BLOB_INVALID = 10, E_NO_MODEL = 11,
    E_BAD_INPUT_SIZE = 12, E_CHUNK_RANGE = 13, E_BAD_PAYLOAD = 14,
};
#define CAPS 0x017Fu /* dense conv dw relu maxpool avgpool argmax | reset; bit 7 set when a model is linked */
#define RAW_MAX (8u + NE_MAX_PAYLOAD)
#define INFO_LEN 48u

static uint8_t rx[NE_COBS_MAX(RAW_MAX) + 1u];
static uint32_t rx_len;
static int rx_overflow;
static uint8_t tx_raw[RAW_MAX];
static uint8_t tx_enc[NE_COBS_MAX(RAW_MAX) + 1u]; /* the last reply, encoded: replayed on a duplicate */
static uint32_t tx_enc_len;
static uint8_t err_enc[32];
static uint8_t blob[NE_BLOB_CAP] __attribute__((aligned(4)));
static int8_t arena[NE_ARENA_BYTES] __attribute__((aligned(4)));
static ne_model_t model;
static int model_ok, load_active;
static uint32_t load_total, load_crc;
static int have_last;
static uint8_t last_seq;
static uint32_t last_crc;

#ifdef NE_LINKED_MODEL
extern const uint8_t ne_linked_blob[];
extern const uint32_t ne_linked_blob_len;
#endif

static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v & 0xFFFFu), wr16(p + 2, v >> 16); }
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

/* Frame: seq u8 | cmd u8 | len u16 | payload | crc32 u32 (over all before it), COBS-encoded, then 0x00. */
static uint32_t build(uint8_t *raw, uint8_t seq, uint8_t cmd, uint32_t len) {
    raw[0] = seq, raw[1] = cmd;
    wr16(raw + 2, len);
    wr32(raw + 4 + len, ne_crc32_update(0, raw, 4 + len));
    return 8 + len;
}

static uint32_t encode(const uint8_t *raw, uint32_t n, uint8_t *out) {
    uint32_t m = (uint32_t)ne_cobs_encode(raw, n, out);
    out[m] = 0;
    return m + 1;
}

/* Errors about frames that never decoded are not cached: their seq byte cannot be trusted. */
static void send_link_error(uint8_t seq, uint8_t cmd, uint8_t code, uint32_t detail) {
    uint8_t raw[16];
    raw[4] = code, raw[5] = cmd;
    wr16(raw + 6, 0);
    wr32(raw + 8, detail);
    uint32_t n = build(raw, seq, C_ERROR, 8);
    hal_write(err_enc, encode(raw, n, err_enc));
}

static uint32_t reply_error(uint8_t cmd, uint8_t code, uint32_t detail) {
    uint8_t *p = tx_raw + 4;
    p[0] = code, p[1] = cmd;
    wr16(p + 2, 0);
    wr32(p + 4, detail);
    return 8;
}

static uint32_t info(uint8_t *p) {
    memset(p, 0, INFO_LEN);
    memcpy(p, "NEFW", 4);
    p[4] = NE_PROTO_VERSION, p[5] = NE_FW_MAJOR, p[6] = NE_FW_MINOR, p[7] = NE_FW_PATCH;
    wr16(p + 8, NE_MAX_PAYLOAD);
#ifdef NE_LINKED_MODEL
    wr16(p + 10, CAPS | 0x80u);
#else
    wr16(p + 10, CAPS);
#endif
    wr32(p + 12, NE_BLOB_CAP);
    wr32(p + 16, NE_ARENA_BYTES);
    wr32(p + 20, hal_clock_hz());
    p[24] = hal_platform_id();
    p[25] = (uint8_t)model_ok;
    wr16(p + 26, NE_MAX_LAYERS);
    wr32(p + 28, model_ok ? model.crc : 0);
    const char *name = hal_platform_name();
    for (int i = 0; i < 15 && name[i]; i++) p[32 + i] = (uint8_t)name[i];
    return INFO_LEN;
}

static int use_blob(const uint8_t *b, uint32_t len, uint32_t *why) {
    int r = ne_model_parse(&model, b, len, NE_ARENA_BYTES);
    *why = (uint32_t)r;
    model_ok = r == 0;
    if (model_ok) {
        model.crc = ne_crc32_update(0, b, len);
    }
    return model_ok;
}

/* Executes one well-formed request; returns the reply payload length, with tx_raw[1] = reply cmd. */
static uint32_t execute(uint8_t cmd, const uint8_t *pl, uint32_t len) {
    uint8_t *out = tx_raw + 4;
    tx_raw[1] = (uint8_t)(cmd | 0x80u);
    switch (cmd) {
    case C_HELLO:
        return info(out);
    case C_LOAD_BEGIN: {
        if (len != 8) break;
        uint32_t total = (uint32_t)ne_rd32(pl);
        model_ok = 0, load_active = 0;
        if (total > NE_BLOB_CAP || total < NE_BLOB_HEADER) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BLOB_TOO_LARGE, NE_BLOB_CAP);
        }
        load_total = total, load_crc = (uint32_t)ne_rd32(pl + 4), load_active = 1;
        wr32(out, NE_BLOB_CAP);
        return 4;
    }
    case C_LOAD_CHUNK: {
        if (len < 4) break;
        if (!load_active) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BAD_STATE, 0);
        }
        uint32_t off = (uint32_t)ne_rd32(pl), n = len - 4;
        if (off > load_total || n > load_total - off) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_CHUNK_RANGE, load_total);
        }
        memcpy(blob + off, pl + 4, n);
        wr32(out, off);
        wr16(out + 4, n);
        return 6;
    }
    case C_LOAD_END: {
        if (len != 0) break;
        if (!load_active) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BAD_STATE, 0);
        }
        load_active = 0;
        uint32_t got = ne_crc32_update(0, blob, load_total), why = 0;
        if (got != load_crc) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BLOB_CRC, got);
        }
        if (!use_blob(blob, load_total, &why)) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BLOB_INVALID, why);
        }
        wr32(out, model.crc);
        wr16(out + 4, model.n_layers);
        wr16(out + 6, 0);
        wr32(out + 8, model.in_size);
        wr32(out + 12, model.out_size);
        wr32(out + 16, model.arena_needed);
        return 20;
    }
    case C_INFER: {
        if (!model_ok) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_NO_MODEL, 0);
        }
        if (len != model.in_size) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BAD_INPUT_SIZE, model.in_size);
        }
        if (20u + model.out_size > NE_MAX_PAYLOAD) {
            tx_raw[1] = C_ERROR;
            return reply_error(cmd, E_BAD_STATE, model.out_size);
        }
        uint32_t t0 = hal_cycles();
        const int8_t *y = ne_model_run(&model, (const int8_t *)pl, arena, NE_ARENA_BYTES);
        uint32_t cycles = hal_cycles() - t0;
        uint32_t hz = hal_clock_hz();
        wr32(out, model.crc);
        wr32(out + 4, ne_crc32_update(0, pl, len)); /* proves which input this output belongs to */
        wr32(out + 8, cycles);
        wr32(out + 12, (uint32_t)(((uint64_t)cycles * 1000000u) / (hz ? hz : 1u)));
        wr16(out + 16, ne_argmax(y, model.out_size));
        wr16(out + 18, model.out_size);
        memcpy(out + 20, y, model.out_size);
        return 20 + model.out_size;
    }
    case C_RESET:
        if (len != 0) break;
        return 0;
    default:
        tx_raw[1] = C_ERROR;
        return reply_error(cmd, E_UNKNOWN_CMD, cmd);
    }
    tx_raw[1] = C_ERROR;
    return reply_error(cmd, E_BAD_PAYLOAD, len);
}

static void process(void) {
    if (rx_overflow) {
        send_link_error(0, 0, E_TOO_LONG, RAW_MAX);
        return;
    }
    if (rx_len == 0) return; /* an empty frame (two delimiters) is a no-op: hosts send one to resync */
    long n = ne_cobs_decode(rx, rx_len, rx);
    if (n < 0) {
        send_link_error(0, 0, E_BAD_COBS, rx_len);
        return;
    }
    uint8_t seq = n > 0 ? rx[0] : 0, cmd = n > 1 ? rx[1] : 0;
    if (n < 8) {
        send_link_error(seq, cmd, E_TRUNCATED, (uint32_t)n);
        return;
    }
    uint32_t len = rd16(rx + 2);
    if (8u + len > (uint32_t)n) {
        send_link_error(seq, cmd, E_TRUNCATED, (uint32_t)n);
        return;
    }
    if (8u + len < (uint32_t)n) {
        send_link_error(seq, cmd, E_BAD_LENGTH, (uint32_t)n);
        return;
    }
    uint32_t crc = ne_crc32_update(0, rx, 4 + len);
    if (crc != (uint32_t)ne_rd32(rx + 4 + len)) {
        send_link_error(seq, cmd, E_BAD_CRC, crc);
        return;
    }
    /* A retransmission of the request just answered (same seq and CRC) gets the same reply again,
     * without executing twice: this makes every command safe to retry. */
    if (have_last && seq == last_seq && crc == last_crc) {
        hal_write(tx_enc, tx_enc_len);
        return;
    }
    uint32_t plen = execute(cmd, rx + 4, len);
    uint32_t raw_n = build(tx_raw, seq, tx_raw[1], plen);
    tx_enc_len = encode(tx_raw, raw_n, tx_enc);
    have_last = 1, last_seq = seq, last_crc = crc;
    hal_write(tx_enc, tx_enc_len);
    if (cmd == C_RESET && tx_raw[1] == (C_RESET | 0x80u)) hal_system_reset();
}

void ne_device_boot(void) {
    rx_len = 0, rx_overflow = 0, have_last = 0;
    model_ok = 0, load_active = 0;
#ifdef NE_LINKED_MODEL
    uint32_t why;
    use_blob(ne_linked_blob, ne_linked_blob_len, &why);
#endif
    /* A leading delimiter ends whatever half frame the host was assembling before the reset. */
    uint8_t zero = 0;
    hal_write(&zero, 1);
    uint32_t n = build(tx_raw, 0, C_BOOT, info(tx_raw + 4));
    uint8_t enc[NE_COBS_MAX(8u + INFO_LEN) + 1u];
    hal_write(enc, encode(tx_raw, n, enc));
}

void ne_device_feed(uint8_t byte) {
    if (byte == 0) {
        process();
        rx_len = 0, rx_overflow = 0;
        return;
    }
    if (rx_len < sizeof(rx))
        rx[rx_len++] = byte;
    else
        rx_overflow = 1;
}

void ne_device_main(void) {
    hal_init();
    ne_device_boot();
    for (;;) {
        int c = hal_getc();
        if (hal_reset_pending()) {
            ne_device_boot();
            continue;
        }
        if (c >= 0) ne_device_feed((uint8_t)c);
    }
}
