/* A notify service: sleeps argv[1] ms (default 0), sends READY=1 to
 * $NOTIFY_SOCKET (sd_notify protocol, '@' = abstract), stamps
 * "PID T_SENT SENDTO_RESULT ERRNO" to $BT_STAMP, then pauses forever.
 *
 * Built without libc where the bench knows the syscall convention (x86_64,
 * aarch64; `-nostdlib`, see bench.py): glibc's start-up probes the CPU's
 * caches with cpuid, and in a VM every cpuid is an exit to the hypervisor:
 * about 0.5 ms of CPU per process on the bench machine, which the graph
 * scenario (1000 of these on 2 cores) would measure instead of the
 * supervisor. Elsewhere this is the same program on libc. */
#if defined(BT_NOLIBC) && (defined(__x86_64__) || defined(__aarch64__))
typedef unsigned long u64;
typedef long i64;

#if defined(__x86_64__)
enum { SYS_write = 1, SYS_open = 2, SYS_close = 3, SYS_socket = 41, SYS_sendto = 44,
       SYS_getpid = 39, SYS_pause = 34, SYS_clock_gettime = 228, SYS_clock_nanosleep = 230,
       SYS_exit = 60 };
static i64 sc6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
    register i64 r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
    i64 ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
__asm__(".global _start\n_start:\n xor %rbp,%rbp\n mov %rsp,%rdi\n and $-16,%rsp\n call bt_main\n hlt\n");
#else
enum { SYS_write = 64, SYS_openat = 56, SYS_close = 57, SYS_socket = 198, SYS_sendto = 206,
       SYS_getpid = 172, SYS_ppoll = 73, SYS_clock_gettime = 113, SYS_clock_nanosleep = 115,
       SYS_exit = 93 };
static i64 sc6(i64 n, i64 a, i64 b, i64 c, i64 d, i64 e, i64 f) {
    register i64 x8 __asm__("x8") = n, x0 __asm__("x0") = a, x1 __asm__("x1") = b,
        x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e, x5 __asm__("x5") = f;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}
__asm__(".global _start\n_start:\n mov x0, sp\n bl bt_main\n");
#endif
/* What the compiler may call for struct copies and zeroing. */
void *memset(void *d, int c, unsigned long n) {
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}
void *memcpy(void *d, const void *s, unsigned long n) {
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--) *p++ = *q++;
    return d;
}
#define sc3(n, a, b, c) sc6(n, (i64)(a), (i64)(b), (i64)(c), 0, 0, 0)

struct ts { i64 sec, nsec; };

static i64 now_ns(void) {
    struct ts t;
    sc3(SYS_clock_gettime, 1 /* CLOCK_MONOTONIC */, &t, 0);
    return t.sec * 1000000000L + t.nsec;
}

static const char *env(char **envp, const char *name) {
    for (; *envp; envp++) {
        const char *e = *envp, *n = name;
        while (*n && *e == *n) e++, n++;
        if (!*n && *e == '=') return e + 1;
    }
    return 0;
}

static int put_num(char *p, i64 v) {
    char tmp[24];
    int n = 0, len = 0;
    u64 u = v < 0 ? (u64)(-v) : (u64)v;
    if (v < 0) p[len++] = '-';
    do tmp[n++] = (char)('0' + u % 10); while ((u /= 10));
    while (n) p[len++] = tmp[--n];
    return len;
}

void bt_main(i64 *sp) {
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1), **envp = argv + argc + 1;
    i64 ms = 0;
    if (argc > 1)
        for (const char *a = argv[1]; *a >= '0' && *a <= '9'; a++) ms = ms * 10 + (*a - '0');
    if (ms > 0) {
        struct ts t = { ms / 1000, (ms % 1000) * 1000000 };
        while (sc6(SYS_clock_nanosleep, 1, 0, (i64)&t, (i64)&t, 0, 0) == -4 /* EINTR */) {}
    }
    const char *path = env(envp, "NOTIFY_SOCKET");
    i64 rc = -2, err = 0;
    if (path && *path) {
        struct { unsigned short family; char path[108]; } sa = { 1 /* AF_UNIX */, {0} };
        int len = 0;
        while (path[len] && len < 107) sa.path[len] = path[len], len++;
        if (sa.path[0] == '@') sa.path[0] = 0;
        i64 s = sc3(SYS_socket, 1, 2 | 02000000 /* SOCK_DGRAM | SOCK_CLOEXEC */, 0);
        if (s >= 0) {
            rc = sc6(SYS_sendto, s, (i64)"READY=1", 7, 0, (i64)&sa, 2 + len);
            if (rc < 0) err = -rc, rc = -1;
            sc3(SYS_close, s, 0, 0);
        }
    }
    const char *stamp = env(envp, "BT_STAMP");
    if (stamp && *stamp) {
        char buf[96];
        int n = put_num(buf, sc3(SYS_getpid, 0, 0, 0));
        buf[n++] = ' ';
        n += put_num(buf + n, now_ns());
        buf[n++] = ' ';
        n += put_num(buf + n, rc);
        buf[n++] = ' ';
        n += put_num(buf + n, err);
        buf[n++] = '\n';
        const i64 flags = 01 | 02000 | 0100 | 02000000; /* O_WRONLY|O_APPEND|O_CREAT|O_CLOEXEC */
#if defined(__x86_64__)
        i64 fd = sc3(SYS_open, stamp, flags, 0644);
#else
        i64 fd = sc6(SYS_openat, -100 /* AT_FDCWD */, (i64)stamp, flags, 0644, 0, 0);
#endif
        if (fd >= 0) {
            sc3(SYS_write, fd, buf, n); /* one line, O_APPEND: never interleaved */
            sc3(SYS_close, fd, 0, 0);
        }
    }
    for (;;) {
#if defined(__x86_64__)
        sc3(SYS_pause, 0, 0, 0);
#else
        sc6(SYS_ppoll, 0, 0, 0, 0, 0, 0);
#endif
    }
}
#else
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
#endif
