#ifndef NE_COBS_H
#define NE_COBS_H
#include <stddef.h>
#include <stdint.h>
/* Consistent Overhead Byte Stuffing (Cheshire & Baker 1999), canonical form:
 * at most 1 + n/254 bytes of overhead and no 0x00 in the output, so 0x00 can delimit frames. */
#define NE_COBS_MAX(n) ((n) + (n) / 254u + 1u)
size_t ne_cobs_encode(const uint8_t *in, size_t n, uint8_t *out);
/* Returns the decoded length, or -1 on a malformed block. Safe in place (out == in). */
long ne_cobs_decode(const uint8_t *in, size_t n, uint8_t *out);
#endif
