/* Host HAL: the firmware core as a POSIX process that serves a pseudo-terminal, as a board serves
 * its USB-serial port. It prints "pty: /dev/pts/N" on stdout, then answers frames on that pty.
 * SIGUSR1 resets it (state cleared, BOOT announced), as a reset button would. */
#define _XOPEN_SOURCE 600
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "ne_device.h"
#include "ne_hal.h"

static int master_fd = -1, slave_fd = -1;
static volatile sig_atomic_t reset_flag;
static uint8_t in_buf[4096];
static ssize_t in_len, in_pos;

static void on_usr1(int sig) {
    (void)sig;
    reset_flag = 1;
}

void hal_init(void) {
    master_fd = posix_openpt(O_RDWR | O_NOCTTY);
    if (master_fd < 0 || grantpt(master_fd) || unlockpt(master_fd)) {
        perror("pty");
        exit(1);
    }
    const char *name = ptsname(master_fd);
    /* Hold the slave open ourselves: raw mode sticks, and a host that disconnects does not hang us up. */
    slave_fd = open(name, O_RDWR | O_NOCTTY);
    struct termios t;
    if (slave_fd < 0 || tcgetattr(slave_fd, &t)) {
        perror("pty slave");
        exit(1);
    }
    cfmakeraw(&t);
    tcsetattr(slave_fd, TCSANOW, &t);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1; /* no SA_RESTART: a blocked poll() returns so the loop sees the reset */
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    printf("pty: %s\n", name);
    fflush(stdout);
}

int hal_getc(void) {
    if (in_pos < in_len) return in_buf[in_pos++];
    struct pollfd p = {master_fd, POLLIN, 0};
    int r = poll(&p, 1, 100);
    if (r <= 0) return -1;
    ssize_t n = read(master_fd, in_buf, sizeof(in_buf));
    if (n <= 0) {
        if (n < 0 && errno != EINTR && errno != EAGAIN) usleep(10000);
        return -1;
    }
    in_len = n, in_pos = 1;
    return in_buf[0];
}

void hal_write(const uint8_t *data, size_t n) {
    while (n > 0) {
        ssize_t w = write(master_fd, data, n);
        if (w < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return;
        }
        data += w, n -= (size_t)w;
    }
}

uint32_t hal_cycles(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec);
}
uint32_t hal_clock_hz(void) { return 1000000000u; } /* the "cycle" counter counts nanoseconds */

int hal_reset_pending(void) {
    if (!reset_flag) return 0;
    reset_flag = 0;
    in_len = in_pos = 0; /* a reset loses what the UART had buffered */
    return 1;
}
void hal_system_reset(void) { reset_flag = 1; }
uint8_t hal_platform_id(void) { return 1; }
const char *hal_platform_name(void) { return "host-posix"; }

int main(void) {
    ne_device_main();
    return 0;
}
