#include "ne_kernels.h"

static int32_t sat_shl(int32_t x, int32_t s) {
    int64_t v = (int64_t)x * ((int64_t)1 << s);
    if (v > INT32_MAX) return INT32_MAX;
    if (v < INT32_MIN) return INT32_MIN;
    return (int32_t)v;
}

int32_t ne_requant(int32_t x, int32_t mult, int32_t shift) {
    int32_t ls = shift > 0 ? shift : 0;
    int32_t rs = shift > 0 ? 0 : -shift;
    int32_t a = sat_shl(x, ls);
    int32_t hm;
    if (a == INT32_MIN && mult == INT32_MIN) {
        hm = INT32_MAX;
    } else {
        int64_t ab = (int64_t)a * (int64_t)mult;
        int64_t v = ab + (ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30)));
        /* division by 2^31 truncating toward zero, without a 64-bit divide */
        hm = (int32_t)(v >= 0 ? (v >> 31) : -((-v) >> 31));
    }
    if (rs == 0) return hm;
    int32_t mask = (int32_t)(((int64_t)1 << rs) - 1);
    int32_t rem = hm & mask;
    int32_t thr = (mask >> 1) + (hm < 0 ? 1 : 0);
    return (hm >> rs) + (rem > thr ? 1 : 0);
}

static int8_t finish(const ne_layer_t *l, int32_t acc, uint32_t ch) {
    int32_t v = ne_requant(acc, ne_rd32(l->mult + 4u * ch), ne_rd32(l->shift + 4u * ch)) + l->out_offset;
    if (v < l->act_min) v = l->act_min;
    if (v > l->act_max) v = l->act_max;
    return (int8_t)v;
}

void ne_dense(const ne_layer_t *l, const int8_t *in, int8_t *out) {
    const int32_t n_in = l->in_h * l->in_w * l->in_c;
    for (int32_t o = 0; o < l->out_c; o++) {
        const int8_t *w = l->weights + (uint32_t)o * (uint32_t)n_in;
        int32_t acc = ne_rd32(l->bias + 4u * (uint32_t)o);
        for (int32_t i = 0; i < n_in; i++) acc += ((int32_t)in[i] + l->in_offset) * (int32_t)w[i];
        out[o] = finish(l, acc, (uint32_t)o);
    }
}

void ne_conv2d(const ne_layer_t *l, const int8_t *in, int8_t *out) {
    for (int32_t oy = 0; oy < l->out_h; oy++) {
        for (int32_t ox = 0; ox < l->out_w; ox++) {
            for (int32_t oc = 0; oc < l->out_c; oc++) {
                int32_t acc = ne_rd32(l->bias + 4u * (uint32_t)oc);
                for (int32_t ky = 0; ky < l->k_h; ky++) {
                    int32_t iy = oy * l->stride_h - l->pad_h + ky;
                    if (iy < 0 || iy >= l->in_h) continue; /* padding contributes (zp + offset) = 0 */
                    for (int32_t kx = 0; kx < l->k_w; kx++) {
                        int32_t ix = ox * l->stride_w - l->pad_w + kx;
                        if (ix < 0 || ix >= l->in_w) continue;
                        const int8_t *px = in + (iy * l->in_w + ix) * l->in_c;
                        const int8_t *w = l->weights + ((oc * l->k_h + ky) * l->k_w + kx) * l->in_c;
                        for (int32_t ic = 0; ic < l->in_c; ic++)
                            acc += ((int32_t)px[ic] + l->in_offset) * (int32_t)w[ic];
                    }
                }
                out[(oy * l->out_w + ox) * l->out_c + oc] = finish(l, acc, (uint32_t)oc);
            }
        }
    }
}

void ne_dwconv2d(const ne_layer_t *l, const int8_t *in, int8_t *out) {
    const int32_t mult = l->out_c / l->in_c; /* depth multiplier */
    for (int32_t oy = 0; oy < l->out_h; oy++) {
        for (int32_t ox = 0; ox < l->out_w; ox++) {
            for (int32_t oc = 0; oc < l->out_c; oc++) {
                int32_t ic = oc / mult;
                int32_t acc = ne_rd32(l->bias + 4u * (uint32_t)oc);
                for (int32_t ky = 0; ky < l->k_h; ky++) {
                    int32_t iy = oy * l->stride_h - l->pad_h + ky;
                    if (iy < 0 || iy >= l->in_h) continue;
                    for (int32_t kx = 0; kx < l->k_w; kx++) {
                        int32_t ix = ox * l->stride_w - l->pad_w + kx;
                        if (ix < 0 || ix >= l->in_w) continue;
                        acc += ((int32_t)in[(iy * l->in_w + ix) * l->in_c + ic] + l->in_offset) *
                               (int32_t)l->weights[(ky * l->k_w + kx) * l->out_c + oc];
                    }
                }
                out[(oy * l->out_w + ox) * l->out_c + oc] = finish(l, acc, (uint32_t)oc);
            }
        }
    }
}

void ne_clamp(const ne_layer_t *l, const int8_t *in, int8_t *out) {
    const int32_t n = l->in_h * l->in_w * l->in_c;
    for (int32_t i = 0; i < n; i++) {
        int32_t v = in[i];
        if (v < l->act_min) v = l->act_min;
        if (v > l->act_max) v = l->act_max;
        out[i] = (int8_t)v;
    }
}

static void pool(const ne_layer_t *l, const int8_t *in, int8_t *out, int is_max) {
    for (int32_t oy = 0; oy < l->out_h; oy++) {
        for (int32_t ox = 0; ox < l->out_w; ox++) {
            for (int32_t c = 0; c < l->in_c; c++) {
                int32_t acc = is_max ? -128 : 0, count = 0;
                for (int32_t ky = 0; ky < l->k_h; ky++) {
                    int32_t iy = oy * l->stride_h - l->pad_h + ky;
                    if (iy < 0 || iy >= l->in_h) continue;
                    for (int32_t kx = 0; kx < l->k_w; kx++) {
                        int32_t ix = ox * l->stride_w - l->pad_w + kx;
                        if (ix < 0 || ix >= l->in_w) continue;
                        int32_t v = in[(iy * l->in_w + ix) * l->in_c + c];
                        if (is_max) {
                            if (v > acc) acc = v;
                        } else {
                            acc += v;
                        }
                        count++;
                    }
                }
                if (!is_max && count > 0) /* TFLite: round half away from zero over the valid taps */
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                if (acc < l->act_min) acc = l->act_min;
                if (acc > l->act_max) acc = l->act_max;
                out[(oy * l->out_w + ox) * l->in_c + c] = (int8_t)acc;
            }
        }
    }
}

void ne_maxpool(const ne_layer_t *l, const int8_t *in, int8_t *out) { pool(l, in, out, 1); }
void ne_avgpool(const ne_layer_t *l, const int8_t *in, int8_t *out) { pool(l, in, out, 0); }

uint16_t ne_argmax(const int8_t *x, uint32_t n) {
    uint16_t best = 0;
    for (uint32_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = (uint16_t)i;
    return best;
}
