/* An s6 fifodir subscriber: FIFO... are fifos it creates in services' event/
 * directories (named ftrig1:@ + 31 characters), where s6-supervise writes one byte per event
 * (s, u, U, d, D, x, ...). Records "T_RECV INDEX CHAR" per byte, written to
 * OUT on SIGTERM. Usage: fifolisten OUT FIFO... */
#include "bt.h"
#include <poll.h>
static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }
int main(int argc, char **argv) {
    if (argc < 3) return 2;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    int n = argc - 2;
    struct pollfd *fds = calloc((size_t)n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        /* Made under another name, opened, then renamed into place: s6
         * unlinks a matching fifo that it finds with no reader. */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", argv[i + 2]);
        unlink(tmp);
        if (mkfifo(tmp, 0622) < 0) { perror(tmp); return 1; }
        fds[i].fd = open(tmp, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fds[i].fd < 0) { perror(tmp); return 1; }
        open(tmp, O_WRONLY | O_NONBLOCK | O_CLOEXEC); /* keep a writer: no POLLHUP */
        if (rename(tmp, argv[i + 2]) < 0) { perror(argv[i + 2]); return 1; }
        fds[i].events = POLLIN;
    }
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    while (!stop) {
        int r = poll(fds, (nfds_t)n, -1);
        if (r < 0) { if (errno == EINTR) continue; break; }
        long long t = bt_now();
        for (int i = 0; i < n; i++) {
            if (!(fds[i].revents & POLLIN)) continue;
            char b[256];
            ssize_t k = read(fds[i].fd, b, sizeof b);
            for (ssize_t j = 0; j < k; j++) {
                if (len + 64 > cap) { cap *= 2; out = realloc(out, cap); if (!out) return 3; }
                len += (size_t)snprintf(out + len, 64, "%lld %d %c\n", t, i, b[j]);
            }
        }
    }
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) { bt_write(fd, out, (int)len); close(fd); }
    return 0;
}
