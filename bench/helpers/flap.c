/* The restart-latency service: records CLOCK_MONOTONIC at start and right
 * before exit, as "PID T_START T_EXIT\n" appended to $BT_STAMP, then exits
 * with $BT_EXIT (default 0); with $BT_CWD set, the line ends with the last part
 * of the working directory (the service's name under s6). Latency of a restart = next T_START - T_EXIT. */
#include "bt.h"
int main(void) {
    long long t0 = bt_now();
    const char *e = getenv("BT_EXIT");
    int code = e ? atoi(e) : 0;
    int fd = bt_open("BT_STAMP");
    char buf[96];
    long long t1 = bt_now();
    int n = snprintf(buf, sizeof buf, "%d %lld %lld\n", (int)getpid(), t0, t1);
    if (getenv("BT_CWD")) { /* name the service: the last part of the cwd */
        char cwd[1024];
        if (getcwd(cwd, sizeof cwd)) {
            char *b = strrchr(cwd, '/');
            n = snprintf(buf, sizeof buf, "%d %lld %lld %s\n", (int)getpid(), t0, t1, b ? b + 1 : cwd);
        }
    }
    bt_write(fd, buf, n);
    _exit(code);
}
