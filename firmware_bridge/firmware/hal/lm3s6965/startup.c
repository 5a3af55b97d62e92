/* Cortex-M3 vector table and reset handler: copy .data, zero .bss, call main. */
#include <stdint.h>

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
void Reset_Handler(void);
void SysTick_Handler(void);
void UART0_Handler(void);
void Fault_Handler(void);

/* 16 system exceptions, then IRQ 0..5 (IRQ 5 is UART0 on the LM3S6965). */
__attribute__((section(".vectors"), used)) static void (*const vectors[22])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler,
    Fault_Handler, 0, 0, 0, 0, Fault_Handler, Fault_Handler, 0, Fault_Handler, SysTick_Handler,
    Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, Fault_Handler, UART0_Handler,
};

void Reset_Handler(void) {
    uint32_t *src = &_sidata, *dst = &_sdata;
    while (dst < &_edata) *dst++ = *src++;
    for (dst = &_sbss; dst < &_ebss;) *dst++ = 0;
    main();
    for (;;) {
    }
}

/* A fault resets the chip: the host then sees BOOT and resynchronises, instead of a silent hang. */
void Fault_Handler(void) {
    *(volatile uint32_t *)0xE000ED0Cu = 0x05FA0004u; /* AIRCR.SYSRESETREQ */
    for (;;) {
    }
}
