/* A command that exits 0 at once on SIGTERM: installs a handler that
 * _exit(0)s, then stamps "PID T_START" to $BT_STAMP and pause()s forever. */
#include "bt.h"
static void on_term(int s) { (void)s; _exit(0); }
int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    bt_stamp_up();
    for (;;) pause();
}
