/* The floor of restart latency: fork + execv + waitpid of PROGRAM, COUNT
 * times in a row, with nothing else in between. Usage: floor COUNT PROGRAM */
#include "bt.h"
extern char **environ;
int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: floor COUNT PROGRAM\n"); return 2; }
    int count = atoi(argv[1]);
    char *args[] = { argv[2], NULL };
    for (int i = 0; i < count; i++) {
        pid_t c = fork();
        if (c < 0) return 1;
        if (c == 0) { execve(argv[2], args, environ); _exit(127); }
        int st;
        while (waitpid(c, &st, 0) < 0 && errno == EINTR) {}
    }
    return 0;
}
