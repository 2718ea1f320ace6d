/* Shared bits of the benchmark helpers: CLOCK_MONOTONIC stamps appended to
 * the file named by an environment variable (one write(2) per line, O_APPEND,
 * so concurrent writers never interleave within a line). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static inline long long bt_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int bt_open(const char *var) {
    const char *p = getenv(var);
    if (!p || !*p) return -1;
    return open(p, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static inline void bt_write(int fd, const char *buf, int len) {
    if (fd < 0) return;
    while (len > 0) {
        ssize_t n = write(fd, buf, (size_t)len);
        if (n < 0) { if (errno == EINTR) continue; return; }
        buf += n; len -= (int)n;
    }
}

/* "PID T\n" to $BT_STAMP. */
static inline void bt_stamp_up(void) {
    long long t = bt_now();
    char buf[64];
    int fd = bt_open("BT_STAMP");
    int n = snprintf(buf, sizeof buf, "%d %lld\n", (int)getpid(), t);
    bt_write(fd, buf, n);
    if (fd >= 0) close(fd);
}

static inline void bt_sleep_ns(long long ns) {
    struct timespec ts = { ns / 1000000000LL, ns % 1000000000LL };
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {}
}
