/* Build-time capacities. Every buffer in the firmware is static: no malloc anywhere.
 * Override with -D on the compiler line (the Makefile passes BLOB_CAP=..., ARENA=...). */
#ifndef NE_CONFIG_H
#define NE_CONFIG_H

#define NE_FW_MAJOR 0
#define NE_FW_MINOR 1
#define NE_FW_PATCH 0
#define NE_PROTO_VERSION 1

#ifndef NE_MAX_PAYLOAD
#define NE_MAX_PAYLOAD 1024u /* largest frame payload, both directions */
#endif
#ifndef NE_BLOB_CAP
#define NE_BLOB_CAP (32u * 1024u) /* model blob buffer (RAM) */
#endif
#ifndef NE_ARENA_BYTES
#define NE_ARENA_BYTES (8u * 1024u) /* activation ping-pong buffers */
#endif
#ifndef NE_MAX_LAYERS
#define NE_MAX_LAYERS 16u
#endif

#endif
