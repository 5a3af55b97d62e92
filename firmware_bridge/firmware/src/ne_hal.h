/* The platform layer: five functions per board. See firmware_bridge/PORTING.md. */
#ifndef NE_HAL_H
#define NE_HAL_H
#include <stddef.h>
#include <stdint.h>

void hal_init(void);
/* Next received byte (0..255), or -1 when none arrived in a short while (lets the loop poll). */
int hal_getc(void);
void hal_write(const uint8_t *data, size_t n);
/* A free-running 32-bit counter at hal_clock_hz() (cycles on a chip; ns on the host build). */
uint32_t hal_cycles(void);
uint32_t hal_clock_hz(void);
/* Nonzero once after an external reset request (host build: SIGUSR1); chips reset in hardware. */
int hal_reset_pending(void);
/* Reset the whole device after the reply has drained. Must not return on a chip. */
void hal_system_reset(void);
uint8_t hal_platform_id(void);  /* 1 host, 2 qemu lm3s6965evb, 3.. real boards */
const char *hal_platform_name(void);
#endif
