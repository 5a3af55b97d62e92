#ifndef NE_MODEL_H
#define NE_MODEL_H
#include <stdint.h>
#include "ne_config.h"

/* Model blob, little-endian (see firmware_bridge/blob.py for the authoritative description). */
#define NE_BLOB_MAGIC 0x424D454Eu /* "NEMB" */
#define NE_BLOB_VERSION 1u
#define NE_BLOB_HEADER 48u
#define NE_LAYER_HEADER 72u

enum {
    NE_L_DENSE = 1,
    NE_L_CONV2D = 2,
    NE_L_DWCONV2D = 3,
    NE_L_RELU = 4,
    NE_L_MAXPOOL = 5,
    NE_L_AVGPOOL = 6,
};

typedef struct {
    uint8_t type;
    int32_t in_h, in_w, in_c, out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t in_offset, out_offset, act_min, act_max;
    const uint8_t *bias, *mult, *shift; /* int32 arrays of out_c, possibly unaligned: read with ne_rd32 */
    const int8_t *weights;
} ne_layer_t;

typedef struct {
    uint16_t n_layers;
    uint32_t in_size, out_size, arena_needed, size, crc;
    ne_layer_t layers[NE_MAX_LAYERS];
} ne_model_t;

int32_t ne_rd32(const uint8_t *p);
/* 0 when the blob is valid and fits an arena of arena_bytes; else a nonzero reason code
 * (1 magic/version, 2 size, 3 layer record, 4 shapes, 5 arena, 6 too many layers). */
int ne_model_parse(ne_model_t *m, const uint8_t *blob, uint32_t len, uint32_t arena_bytes);
/* Runs the model; returns a pointer (inside arena) to the int8 output of out_size bytes. */
const int8_t *ne_model_run(const ne_model_t *m, const int8_t *in, int8_t *arena, uint32_t arena_bytes);
#endif
