/* A log flood: stamps "PID T_START", writes $BT_BYTES bytes (default 256 MiB)
 * of 100-byte lines to stdout in writes of 655 whole lines, then stamps
 * "spewed PID T_END" and sleeps in pause() (so the supervisor does not
 * restart it). */
#include "bt.h"
int main(void) {
    bt_stamp_up();
    long long total = 256LL << 20;
    const char *e = getenv("BT_BYTES");
    if (e && *e) total = atoll(e);
    static char buf[655 * 100];
    for (int i = 0; i < 655; i++) {
        memset(buf + i * 100, 'a' + i % 26, 99);
        buf[i * 100 + 99] = '\n';
    }
    long long left = total - total % 100;
    while (left > 0) {
        int n = left < (long long)sizeof buf ? (int)left : (int)sizeof buf;
        bt_write(1, buf, n);
        left -= n;
    }
    long long t = bt_now();
    char s[64];
    int fd = bt_open("BT_STAMP");
    int len = snprintf(s, sizeof s, "spewed %d %lld\n", (int)getpid(), t);
    bt_write(fd, s, len);
    for (;;) pause();
}
