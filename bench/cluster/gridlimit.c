/* gridlimit: the machine's own limit for a keepalive sender (bench/README.md,
 * "Keepalive jitter against the machine's limit").
 *
 * It does nothing but what hbeat's link worker does to meet a tick
 * (src/workers/link.py, tighten_timing and run): the same scheduling policy
 * (realtime: SCHED_FIFO priority 1 and mlockall(MCL_CURRENT|MCL_FUTURE);
 * otherwise SCHED_OTHER with a 100 us fair-scheduler slice through
 * sched_setattr), 1 ns timer slack, a sleep to SPIN_NS before the tick and a
 * busy wait to the tick, on an absolute CLOCK_MONOTONIC grid (tick k due at
 * t0 + k * interval). The sleep is clock_nanosleep(TIMER_ABSTIME): no
 * Python, no poll loop, no work between the wake-up and the stamp. At each
 * tick it takes CLOCK_MONOTONIC and sends one 256-byte UDP datagram (the
 * worker's sendto) to <ip> <port> (default the loopback discard port; the
 * benchmark sends it across the lab's bridge to the capturing host, so its
 * wire times are taken as the daemons' are), and writes the stamps, in
 * nanoseconds, one per line, to stdout when it ends.
 *
 *   gridlimit <realtime 0|1> <interval_ns> <ticks> [<ip> <port>]
 *
 * Exit status 0; scheduling refusals are reported on stderr and the run goes
 * on (as the worker does).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SPIN_NS 30000LL   /* workers/link.py SPIN_NS */
#define SLICE_NS 100000ULL /* hbeat/schedslice.py SLICE_NS */

struct sched_attr_v1 {
    uint32_t size, sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime, sched_deadline, sched_period;
    uint32_t sched_util_min, sched_util_max;
};

static long long now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s <realtime 0|1> <interval_ns> <ticks> [<ip> <port>]\n",
                argv[0]);
        return 2;
    }
    int realtime = atoi(argv[1]);
    long long interval = atoll(argv[2]);
    long ticks = atol(argv[3]);
    if (interval <= 0 || ticks <= 0) {
        fprintf(stderr, "gridlimit: interval and ticks must be positive\n");
        return 2;
    }
    if (realtime) {
        struct sched_param sp = {.sched_priority = sched_get_priority_min(SCHED_FIFO)};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) != 0)
            fprintf(stderr, "gridlimit: SCHED_FIFO: %s\n", strerror(errno));
        if (mlockall(MCL_CURRENT | MCL_FUTURE) != 0)
            fprintf(stderr, "gridlimit: mlockall: %s\n", strerror(errno));
    }
    if (sched_getscheduler(0) != SCHED_FIFO) {
        struct sched_attr_v1 attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.sched_policy = SCHED_OTHER;
        attr.sched_nice = 0;
        attr.sched_runtime = SLICE_NS;
        if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
            fprintf(stderr, "gridlimit: sched_setattr (slice): %s\n", strerror(errno));
    }
    if (prctl(PR_SET_TIMERSLACK, 1) != 0)
        fprintf(stderr, "gridlimit: PR_SET_TIMERSLACK: %s\n", strerror(errno));

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(9),
                             .sin_addr = {.s_addr = htonl(INADDR_LOOPBACK)}};
    if (argc == 6) {
        if (inet_pton(AF_INET, argv[4], &to.sin_addr) != 1) {
            fprintf(stderr, "gridlimit: not an IPv4 address: %s\n", argv[4]);
            return 2;
        }
        to.sin_port = htons((uint16_t)atoi(argv[5]));
    }
    static const char payload[256] = "gridlimit";
    long long *stamps = calloc((size_t)ticks, sizeof *stamps);
    if (stamps == NULL) {
        perror("gridlimit: calloc");
        return 1;
    }
    long long t0 = (now_ns() / interval + 1) * interval;
    for (long k = 0; k < ticks; k++) {
        long long due = t0 + k * interval;
        long long wake = due - SPIN_NS;
        struct timespec ts = {.tv_sec = wake / 1000000000LL, .tv_nsec = wake % 1000000000LL};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        while (now_ns() < due)
            ;
        stamps[k] = now_ns();
        if (fd >= 0)
            (void)sendto(fd, payload, sizeof payload, MSG_DONTWAIT, (struct sockaddr *)&to,
                         sizeof to);
    }
    for (long k = 0; k < ticks; k++)
        printf("%lld\n", stamps[k]);
    return 0;
}
