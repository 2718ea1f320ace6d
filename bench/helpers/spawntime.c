/* Wall time of commands run one at a time, from their parent: CLOCK_MONOTONIC
 * right before fork and right after waitpid, nothing else in between.
 * Usage: spawntime LOG CMD0 [ARG...] [:: CMD1 [ARG...]]...  (each CMD an
 * absolute path). Reads a schedule from stdin first, one command index per
 * line; then runs each scheduled command in turn (stdin /dev/null, stdout and
 * stderr appended to LOG) and prints "INDEX NS WAITSTATUS" per run. */
#include "bt.h"
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: spawntime LOG CMD [ARG...] [:: CMD [ARG...]]...\n"); return 2; }
    char **cmds[64];
    int ncmd = 0;
    cmds[ncmd++] = &argv[2];
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "::") == 0) {
            argv[i] = NULL;
            if (i + 1 >= argc || ncmd == 64) { fprintf(stderr, "spawntime: bad command list\n"); return 2; }
            cmds[ncmd++] = &argv[i + 1];
        }
    }
    static int plan[1 << 16];
    int n = 0, k;
    while (n < (int)(sizeof plan / sizeof plan[0]) && scanf("%d", &k) == 1) {
        if (k < 0 || k >= ncmd) { fprintf(stderr, "spawntime: no command %d\n", k); return 2; }
        plan[n++] = k;
    }
    int logfd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) { perror("spawntime: open"); return 1; }
    for (int i = 0; i < n; i++) {
        char **c = cmds[plan[i]];
        long long t0 = bt_now();
        pid_t p = fork();
        if (p < 0) { perror("spawntime: fork"); return 1; }
        if (p == 0) {
            dup2(nullfd, 0);
            dup2(logfd, 1);
            dup2(logfd, 2);
            execve(c[0], c, environ);
            _exit(127);
        }
        int st;
        while (waitpid(p, &st, 0) < 0 && errno == EINTR) {}
        long long t1 = bt_now();
        printf("%d %lld %d\n", plan[i], t1 - t0, st);
    }
    return 0;
}
