#ifndef NE_KERNELS_H
#define NE_KERNELS_H
#include <stdint.h>
#include "ne_model.h"

/* Requantisation in the TFLite-Micro / CMSIS-NN convention:
 *   y = RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(sat32(x << max(shift,0)), mult), max(-shift,0))
 * which computes round(x * mult * 2^(shift-31)) with ties away from zero in the high-mul step and
 * ties upward (towards +inf) in the power-of-two division. reference.py is the bit-exact oracle. */
int32_t ne_requant(int32_t x, int32_t mult, int32_t shift);

void ne_dense(const ne_layer_t *l, const int8_t *in, int8_t *out);
void ne_conv2d(const ne_layer_t *l, const int8_t *in, int8_t *out);
void ne_dwconv2d(const ne_layer_t *l, const int8_t *in, int8_t *out);
void ne_clamp(const ne_layer_t *l, const int8_t *in, int8_t *out); /* ReLU / ReLU6 as a clamp */
void ne_maxpool(const ne_layer_t *l, const int8_t *in, int8_t *out);
void ne_avgpool(const ne_layer_t *l, const int8_t *in, int8_t *out);
/* Softmax is monotonic, so its argmax is the argmax of the int8 logits; ties go to the lowest index. */
uint16_t ne_argmax(const int8_t *x, uint32_t n);
#endif
