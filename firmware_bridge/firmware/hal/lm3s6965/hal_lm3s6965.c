/* HAL for the TI Stellaris LM3S6965 (QEMU -M lm3s6965evb): UART0 with an RX interrupt feeding a
 * ring buffer, SysTick as the clock. The core sleeps (WFI) while no byte is waiting, which on a chip
 * saves power and under QEMU leaves the emulator's I/O thread free: polling the UART register in a
 * tight loop made each round trip about 20 ms there. */
#include <stdint.h>

#include "ne_device.h"
#include "ne_hal.h"

#define REG(a) (*(volatile uint32_t *)(a))
#define SYSCTL_RIS REG(0x400FE050u)
#define SYSCTL_RCC REG(0x400FE060u)
#define SYSCTL_RCGC1 REG(0x400FE104u)
#define SYSCTL_RCGC2 REG(0x400FE108u)
#define UART0_DR REG(0x4000C000u)
#define UART0_FR REG(0x4000C018u)
#define UART0_IBRD REG(0x4000C024u)
#define UART0_FBRD REG(0x4000C028u)
#define UART0_LCRH REG(0x4000C02Cu)
#define UART0_CTL REG(0x4000C030u)
#define UART0_IM REG(0x4000C038u)
#define UART0_ICR REG(0x4000C044u)
#define NVIC_ISER0 REG(0xE000E100u)
#define RX_RING 1024u /* a power of two; holds a whole frame and a retransmission */
#define FR_RXFE (1u << 4)
#define FR_TXFF (1u << 5)
#define FR_BUSY (1u << 3)
#define SYST_CSR REG(0xE000E010u)
#define SYST_RVR REG(0xE000E014u)
#define SYST_CVR REG(0xE000E018u)
#define SCB_AIRCR REG(0xE000ED0Cu)

static volatile uint32_t systick_wraps;
static uint32_t clock_hz;
static uint8_t rx_ring[RX_RING];
static volatile uint32_t rx_head, rx_tail; /* head: written by the ISR; tail: by hal_getc */

void SysTick_Handler(void) { systick_wraps++; }

void UART0_Handler(void) {
    while (!(UART0_FR & FR_RXFE)) {
        uint8_t b = (uint8_t)(UART0_DR & 0xFFu);
        if (rx_head - rx_tail < RX_RING) rx_ring[rx_head++ & (RX_RING - 1u)] = b; /* full: drop (CRC catches it) */
    }
    UART0_ICR = (1u << 4) | (1u << 6);
}

void hal_init(void) {
    /* PLL on, SYSDIV=3: 50 MHz (400 MHz PLL / 2 / 4), the usual LM3S6965 setting. */
    uint32_t rcc = SYSCTL_RCC;
    rcc &= ~((0xFu << 23) | (1u << 13) | (1u << 11));
    rcc |= (3u << 23) | (1u << 22);
    SYSCTL_RCC = rcc;
    for (uint32_t i = 0; i < 100000u && !(SYSCTL_RIS & (1u << 6)); i++) {
    }
    clock_hz = 50000000u;
    SYSCTL_RCGC1 |= 1u; /* UART0 clock */
    SYSCTL_RCGC2 |= 1u; /* GPIOA (UART0 pins on a real board) */
    UART0_CTL = 0;
    UART0_IBRD = 27, UART0_FBRD = 8;   /* 115200 baud at 50 MHz */
    UART0_LCRH = (3u << 5) | (1u << 4); /* 8N1, FIFOs on */
    UART0_IM = (1u << 4) | (1u << 6); /* RX and RX-timeout interrupts */
    UART0_CTL = (1u << 0) | (1u << 8) | (1u << 9);
    NVIC_ISER0 = 1u << 5;
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u; /* processor clock, interrupt on wrap, enable */
}

int hal_getc(void) {
    if (rx_head == rx_tail) {
        /* Masked check-then-sleep: an interrupt that arrives in between still ends the WFI. */
        __asm volatile("cpsid i" ::: "memory");
        if (rx_head == rx_tail) __asm volatile("wfi" ::: "memory");
        __asm volatile("cpsie i" ::: "memory");
    }
    if (rx_head == rx_tail) return -1; /* woken by SysTick */
    return rx_ring[rx_tail++ & (RX_RING - 1u)];
}

void hal_write(const uint8_t *data, size_t n) {
    for (size_t i = 0; i < n; i++) {
        while (UART0_FR & FR_TXFF) {
        }
        UART0_DR = data[i];
    }
}

uint32_t hal_cycles(void) {
    uint32_t w, v;
    do { /* re-read if SysTick wrapped between the two reads */
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return (w << 24) | (0x00FFFFFFu - v);
}
uint32_t hal_clock_hz(void) { return clock_hz; }
int hal_reset_pending(void) { return 0; }

void hal_system_reset(void) {
    while (UART0_FR & FR_BUSY) {
    }
    SCB_AIRCR = 0x05FA0004u;
    for (;;) {
    }
}
uint8_t hal_platform_id(void) { return 2; }
const char *hal_platform_name(void) { return "lm3s6965"; }

int main(void) {
    ne_device_main();
    return 0;
}
