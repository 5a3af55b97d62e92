#include "ne_model.h"

#include <string.h>

#include "ne_kernels.h"

int32_t ne_rd32(const uint8_t *p) {
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
    return (int32_t)v;
}
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }

static int dims_ok(int32_t v) { return v >= 1 && v <= 4096; }

int ne_model_parse(ne_model_t *m, const uint8_t *blob, uint32_t len, uint32_t arena_bytes) {
    memset(m, 0, sizeof(*m));
    if (len < NE_BLOB_HEADER || (uint32_t)ne_rd32(blob) != NE_BLOB_MAGIC || rd16(blob + 4) != NE_BLOB_VERSION)
        return 1;
    uint32_t n_layers = rd16(blob + 6), total = (uint32_t)ne_rd32(blob + 8);
    if (total != len) return 2;
    if (n_layers == 0 || n_layers > NE_MAX_LAYERS) return 6;
    uint64_t in64 = (uint64_t)rd16(blob + 16) * rd16(blob + 18) * rd16(blob + 20);
    if (in64 == 0 || in64 > arena_bytes) return 5;
    uint32_t in_size = (uint32_t)in64;
    uint32_t prev = in_size, half_needed = in_size, off = NE_BLOB_HEADER;
    for (uint32_t i = 0; i < n_layers; i++) {
        if (off + NE_LAYER_HEADER > len) return 3;
        const uint8_t *r = blob + off;
        uint32_t size = (uint32_t)ne_rd32(r + 4);
        if (size < NE_LAYER_HEADER || (size & 3u) || size > len - off) return 3;
        ne_layer_t *l = &m->layers[i];
        int32_t p[16];
        for (int k = 0; k < 16; k++) p[k] = ne_rd32(r + 8 + 4 * k);
        l->type = r[0];
        l->in_h = p[0], l->in_w = p[1], l->in_c = p[2], l->out_h = p[3], l->out_w = p[4], l->out_c = p[5];
        l->k_h = p[6], l->k_w = p[7], l->stride_h = p[8], l->stride_w = p[9], l->pad_h = p[10], l->pad_w = p[11];
        l->in_offset = p[12], l->out_offset = p[13], l->act_min = p[14], l->act_max = p[15];
        if (!dims_ok(l->in_h) || !dims_ok(l->in_w) || !dims_ok(l->in_c) || !dims_ok(l->out_h) ||
            !dims_ok(l->out_w) || !dims_ok(l->out_c) || l->act_min < -128 || l->act_max > 127 ||
            l->act_min > l->act_max)
            return 4;
        /* 64-bit products: a corrupt blob must not overflow anything before it is rejected. */
        uint64_t n_in64 = (uint64_t)l->in_h * (uint64_t)l->in_w * (uint64_t)l->in_c;
        uint64_t n_out64 = (uint64_t)l->out_h * (uint64_t)l->out_w * (uint64_t)l->out_c;
        if (n_in64 > arena_bytes || n_out64 > arena_bytes) return 5;
        uint32_t n_in = (uint32_t)n_in64, n_out = (uint32_t)n_out64;
        if (n_in != prev) return 4;
        uint64_t n_w = 0, taps = 0;
        int has_params = 1;
        switch (l->type) {
        case NE_L_DENSE:
            if (l->out_h != 1 || l->out_w != 1) return 4;
            n_w = (uint64_t)l->out_c * n_in;
            taps = n_in;
            break;
        case NE_L_CONV2D:
        case NE_L_DWCONV2D:
            if (!dims_ok(l->k_h) || !dims_ok(l->k_w) || !dims_ok(l->stride_h) || !dims_ok(l->stride_w) ||
                l->pad_h < 0 || l->pad_w < 0 || l->pad_h >= l->k_h || l->pad_w >= l->k_w)
                return 4;
            if (l->type == NE_L_CONV2D) {
                taps = (uint64_t)l->k_h * (uint64_t)l->k_w * (uint64_t)l->in_c;
                n_w = (uint64_t)l->out_c * taps;
            } else {
                if (l->out_c % l->in_c) return 4;
                taps = (uint64_t)l->k_h * (uint64_t)l->k_w;
                n_w = taps * (uint64_t)l->out_c;
            }
            break;
        case NE_L_RELU:
            has_params = 0;
            if (n_out != n_in) return 4;
            break;
        case NE_L_MAXPOOL:
        case NE_L_AVGPOOL:
            has_params = 0;
            if (!dims_ok(l->k_h) || !dims_ok(l->k_w) || !dims_ok(l->stride_h) || !dims_ok(l->stride_w) ||
                l->pad_h < 0 || l->pad_w < 0 || l->pad_h >= l->k_h || l->pad_w >= l->k_w || l->out_c != l->in_c ||
                (uint64_t)l->k_h * (uint64_t)l->k_w > 65536u) /* an average's int32 sum cannot overflow */
                return 4;
            break;
        default:
            return 3;
        }
        uint64_t need = NE_LAYER_HEADER;
        if (has_params) {
            need += 12u * (uint64_t)l->out_c + ((n_w + 3u) & ~(uint64_t)3u);
            if (need != size) return 3;
            l->bias = r + NE_LAYER_HEADER;
            l->mult = l->bias + 4u * (uint32_t)l->out_c;
            l->shift = l->mult + 4u * (uint32_t)l->out_c;
            l->weights = (const int8_t *)(l->shift + 4u * (uint32_t)l->out_c);
            /* The int32 accumulator cannot overflow: |x + in_offset| <= 256, |w| <= 128 per tap. */
            if (l->in_offset < -127 || l->in_offset > 128 || l->out_offset < -128 || l->out_offset > 127) return 4;
            for (int32_t c = 0; c < l->out_c; c++) {
                int32_t b = ne_rd32(l->bias + 4u * (uint32_t)c), sh = ne_rd32(l->shift + 4u * (uint32_t)c);
                uint64_t mag = b < 0 ? (uint64_t)(-(int64_t)b) : (uint64_t)b;
                if (sh < -31 || sh > 30 || taps * 256u * 128u + mag >= 0x80000000ull) return 4;
            }
        }
        if (need != size) return 3;
        if (n_out > half_needed) half_needed = n_out;
        prev = n_out;
        off += size;
    }
    if (off != len) return 2;
    m->n_layers = (uint16_t)n_layers;
    m->in_size = in_size;
    m->out_size = prev;
    m->arena_needed = 2u * ((half_needed + 3u) & ~3u);
    m->size = len;
    if (m->arena_needed > arena_bytes) return 5;
    return 0;
}

const int8_t *ne_model_run(const ne_model_t *m, const int8_t *in, int8_t *arena, uint32_t arena_bytes) {
    int8_t *buf[2] = {arena, arena + arena_bytes / 2u};
    memcpy(buf[0], in, m->in_size);
    int cur = 0;
    for (uint32_t i = 0; i < m->n_layers; i++) {
        const ne_layer_t *l = &m->layers[i];
        const int8_t *src = buf[cur];
        int8_t *dst = buf[cur ^ 1];
        switch (l->type) {
        case NE_L_DENSE: ne_dense(l, src, dst); break;
        case NE_L_CONV2D: ne_conv2d(l, src, dst); break;
        case NE_L_DWCONV2D: ne_dwconv2d(l, src, dst); break;
        case NE_L_RELU: ne_clamp(l, src, dst); break;
        case NE_L_MAXPOOL: ne_maxpool(l, src, dst); break;
        case NE_L_AVGPOOL: ne_avgpool(l, src, dst); break;
        default: break;
        }
        cur ^= 1;
    }
    return buf[cur];
}
