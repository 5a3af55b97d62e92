#include "ne_cobs.h"

size_t ne_cobs_encode(const uint8_t *in, size_t n, uint8_t *out) {
    size_t r = 0, w = 1, code_at = 0;
    uint8_t code = 1;
    while (r < n) {
        if (in[r] == 0) {
            out[code_at] = code;
            code_at = w++;
            code = 1;
            r++;
        } else {
            out[w++] = in[r++];
            code++;
            if (code == 0xFF && r < n) { /* a full block: no implied zero after it */
                out[code_at] = code;
                code_at = w++;
                code = 1;
            }
        }
    }
    out[code_at] = code;
    return w;
}

long ne_cobs_decode(const uint8_t *in, size_t n, uint8_t *out) {
    size_t r = 0, w = 0;
    while (r < n) {
        uint8_t code = in[r++];
        if (code == 0 || r + (size_t)code - 1u > n) return -1;
        for (uint8_t i = 1; i < code; i++) {
            uint8_t b = in[r++];
            if (b == 0) return -1;
            out[w++] = b;
        }
        if (code != 0xFF && r < n) out[w++] = 0;
    }
    return (long)w;
}
