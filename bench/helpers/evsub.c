/* An event subscriber that timestamps arrival: runs CMD... with its stdout on
 * a pipe and records "T_RECV LINE" for every line (T_RECV = CLOCK_MONOTONIC
 * when read(2) returned it), kept in memory and written to OUT when CMD's
 * output ends or on SIGTERM. Usage: evsub OUT CMD [ARG...] */
#include "bt.h"
static volatile sig_atomic_t stop;
static void on_term(int s) { (void)s; stop = 1; }
static char *out; static size_t olen, ocap;
static void put(const char *s, size_t n) {
    if (olen + n > ocap) {
        ocap = (olen + n) * 2 + 65536;
        out = realloc(out, ocap);
        if (!out) _exit(3);
    }
    memcpy(out + olen, s, n); olen += n;
}
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: evsub OUT CMD [ARG...]\n"); return 2; }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;           /* no SA_RESTART: read() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    int p[2];
    if (pipe(p) < 0) return 1;
    pid_t c = fork();
    if (c == 0) {
        dup2(p[1], 1); close(p[0]); close(p[1]);
        execvp(argv[2], argv + 2); _exit(127);
    }
    close(p[1]);
    static char buf[1 << 16];
    char line[1 << 16]; size_t ll = 0;
    while (!stop) {
        ssize_t n = read(p[0], buf, sizeof buf);
        if (n < 0) { if (errno == EINTR) continue; break; }
        if (n == 0) break;
        long long t = bt_now();
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                char head[32];
                int h = snprintf(head, sizeof head, "%lld ", t);
                put(head, (size_t)h); put(line, ll); put("\n", 1); ll = 0;
            } else if (ll < sizeof line) line[ll++] = buf[i];
        }
    }
    kill(c, SIGTERM);
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd >= 0) { bt_write(fd, out ? out : "", (int)olen); close(fd); }
    waitpid(c, NULL, 0);
    return 0;
}
