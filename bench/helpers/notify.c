/* A notify service: sleeps argv[1] ms (default 0), sends READY=1 to
 * $NOTIFY_SOCKET (sd_notify protocol, '@' = abstract), stamps
 * "PID T_SENT SENDTO_RESULT ERRNO" to $BT_STAMP, then pauses forever. */
#include "bt.h"
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    long long ms = argc > 1 ? atoll(argv[1]) : 0;
    if (ms > 0) bt_sleep_ns(ms * 1000000LL);
    const char *path = getenv("NOTIFY_SOCKET");
    long rc = -2, err = 0;
    if (path && *path) {
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        size_t len = strlen(path);
        if (len < sizeof sa.sun_path) {
            memcpy(sa.sun_path, path, len);
            if (sa.sun_path[0] == '@') sa.sun_path[0] = 0;
            int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (s >= 0) {
                rc = sendto(s, "READY=1", 7, 0, (struct sockaddr *)&sa,
                            (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
                err = rc < 0 ? errno : 0;
                close(s);
            }
        }
    }
    char buf[96];
    int fd = bt_open("BT_STAMP");
    int n = snprintf(buf, sizeof buf, "%d %lld %ld %ld\n", (int)getpid(), bt_now(), rc, err);
    bt_write(fd, buf, n);
    for (;;) pause();
}
