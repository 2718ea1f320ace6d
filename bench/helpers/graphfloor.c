/* The floor of a dependency graph's start: the smallest supervisor that
 * starts each service once every service it requires said READY=1, with
 * nothing else (no cgroups, no logs, no events, no restarts). It runs the
 * same service program as the supervisors measured, so the services' own
 * start-up (exec, the dynamic loader) is in the floor too.
 *
 * Usage: graphfloor GRAPH PROGRAM
 * GRAPH: one line per service in topological order, "DELAY_MS [DEP...]",
 * each DEP the 0-based line number of a service it requires. Each service
 * is PROGRAM DELAY_MS with $NOTIFY_SOCKET set; the sender of a READY=1 is
 * known by its credentials (SO_PASSCRED). Prints the CLOCK_MONOTONIC ns of
 * the last READY=1 on stdout, then pauses (the bench kills the namespace). */
#include "bt.h"
#include <spawn.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>
extern char **environ;

#define MAX_SVC 4096
#define MAX_DEPS 16

static int ndeps[MAX_SVC], deps[MAX_SVC][MAX_DEPS], pending[MAX_SVC];
static char delay[MAX_SVC][16];
static pid_t pid_of[MAX_SVC];

static void spawn(int i, const char *prog) {
    char *args[] = { (char *)prog, delay[i], NULL };
    if (posix_spawn(&pid_of[i], prog, NULL, NULL, args, environ) != 0) {
        perror("posix_spawn");
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: graphfloor GRAPH PROGRAM\n"); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { perror(argv[1]); return 1; }
    int n = 0;
    char line[512];
    while (n < MAX_SVC && fgets(line, sizeof line, f)) {
        char *save, *tok = strtok_r(line, " \n", &save);
        if (!tok) continue;
        snprintf(delay[n], sizeof delay[n], "%s", tok);
        while ((tok = strtok_r(NULL, " \n", &save)) && ndeps[n] < MAX_DEPS) {
            int d = atoi(tok);
            if (d < 0 || d >= n) { fprintf(stderr, "line %d: bad dep %d\n", n + 1, d); return 1; }
            deps[n][ndeps[n]++] = d;
        }
        pending[n] = ndeps[n];
        n++;
    }
    fclose(f);

    int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    snprintf(a.sun_path, sizeof a.sun_path, "@graphfloor-%d", (int)getpid());
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a.sun_path));
    setenv("NOTIFY_SOCKET", a.sun_path, 1);
    a.sun_path[0] = 0;
    int one = 1, rcvbuf = 1 << 22;
    if (bind(s, (struct sockaddr *)&a, alen) < 0) { perror("bind"); return 1; }
    setsockopt(s, SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);

    for (int i = 0; i < n; i++)
        if (pending[i] == 0) spawn(i, argv[2]);
    int ready = 0;
    while (ready < n) {
        char buf[256], cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec iov = { buf, sizeof buf };
        struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf };
        if (recvmsg(s, &m, 0) < 0) { if (errno == EINTR) continue; perror("recvmsg"); return 1; }
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c || c->cmsg_type != SCM_CREDENTIALS) continue;
        struct ucred cr;
        memcpy(&cr, CMSG_DATA(c), sizeof cr);
        int who = -1;
        for (int i = 0; i < n && who < 0; i++)
            if (pid_of[i] == cr.pid) who = i;
        if (who < 0) continue;
        pid_of[who] = 0; /* one READY=1 per service */
        ready++;
        for (int j = who + 1; j < n; j++)
            for (int k = 0; k < ndeps[j]; k++)
                if (deps[j][k] == who && --pending[j] == 0) spawn(j, argv[2]);
    }
    printf("%lld\n", bt_now());
    fflush(stdout);
    for (;;) pause();
}
