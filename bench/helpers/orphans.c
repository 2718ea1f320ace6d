/* Makes $BT_ORPHANS (default 1000) orphaned grandchildren that all exit at
 * the same moment: each intermediate child forks a grandchild and exits (we
 * reap it), so the grandchild is re-parented to the reaper (PID 1 or the
 * nearest subreaper); every grandchild blocks reading a pipe whose write end
 * we then close. Stamps "forked N T" and "released N T" to $BT_STAMP, then
 * pauses forever (so it is not restarted). */
#include "bt.h"
int main(void) {
    const char *e = getenv("BT_ORPHANS");
    int n = e ? atoi(e) : 1000, made = 0;
    int p[2];
    if (pipe(p) < 0) return 1;
    for (int i = 0; i < n; i++) {
        pid_t c = fork();
        if (c < 0) break;
        if (c == 0) {
            pid_t g = fork();
            if (g == 0) {
                char ch;
                close(p[1]);
                while (read(p[0], &ch, 1) < 0 && errno == EINTR) {}
                _exit(0);
            }
            _exit(g < 0 ? 1 : 0);
        }
        int st;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0) made++;
    }
    char buf[96];
    int fd = bt_open("BT_STAMP");
    int len = snprintf(buf, sizeof buf, "forked %d %lld\n", made, bt_now());
    bt_write(fd, buf, len);
    close(p[1]);
    len = snprintf(buf, sizeof buf, "released %d %lld\n", made, bt_now());
    bt_write(fd, buf, len);
    if (fd >= 0) close(fd);
    close(p[0]);
    for (;;) pause();
}
