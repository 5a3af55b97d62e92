#ifndef NE_DEVICE_H
#define NE_DEVICE_H
#include <stdint.h>
/* Protocol engine (PROTOCOL.md). ne_device_boot() clears all state and announces BOOT;
 * ne_device_feed() takes one received byte and answers whole frames. */
void ne_device_boot(void);
void ne_device_feed(uint8_t byte);
/* The main loop every HAL calls: boot, then feed bytes forever. */
void ne_device_main(void);
#endif
