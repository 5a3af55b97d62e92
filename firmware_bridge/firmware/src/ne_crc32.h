#ifndef NE_CRC32_H
#define NE_CRC32_H
#include <stddef.h>
#include <stdint.h>
/* CRC-32/ISO-HDLC (zlib's crc32): reflected poly 0xEDB88320, init and xorout 0xFFFFFFFF.
 * ne_crc32_update(0, ...) starts a new CRC; feed the previous result to continue one. */
uint32_t ne_crc32_update(uint32_t crc, const uint8_t *data, size_t n);
#endif
