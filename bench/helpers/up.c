/* An idle service: stamps "PID T_START" to $BT_STAMP, then sleeps in pause()
 * forever (SIGTERM kills it at once). */
#include "bt.h"
int main(void) {
    bt_stamp_up();
    for (;;) pause();
}
