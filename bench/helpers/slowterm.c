/* A service that needs 1 s to shut down: on SIGTERM it sleeps $BT_TERM_MS
 * (default 1000) ms, then creates $BT_DONE/PID and exits 0. */
#include "bt.h"
static volatile sig_atomic_t term;
static void on_term(int s) { (void)s; term = 1; }
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGHUP, SIG_IGN);
    bt_stamp_up();
    while (!term) pause();
    const char *e = getenv("BT_TERM_MS");
    long long ms = e ? atoll(e) : 1000;
    bt_sleep_ns(ms * 1000000LL);
    const char *dir = getenv("BT_DONE");
    if (dir) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%d", dir, (int)getpid());
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) { bt_write(fd, "done\n", 5); fsync(fd); close(fd); }
    }
    _exit(0);
}
