/* flood: send UDP datagrams as fast as asked (or as fast as it can), with sendmmsg.
 *
 * Part of the attack phase of the cluster benchmarks (bench/cluster/attack.py
 * compiles it with gcc at bench time and runs it in the lab's third namespace).
 *
 *     flood DEST_IP PORT RATE SECONDS PAYLOADS
 *
 * PAYLOADS is a file of records, each a 2-byte big-endian length then that
 * many bytes; the flooder sends them round-robin. RATE is datagrams per
 * second (0: no pacing, as fast as the kernel takes them). Pacing is by
 * batch: before each sendmmsg of up to BATCH datagrams the flooder sleeps
 * until the batch is due on an absolute CLOCK_MONOTONIC schedule. On exit it
 * prints `sent N failed F seconds S` (S measured, not asked).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define MAX_PAYLOADS 8192
#define MAX_LEN 65507

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t) {
    struct timespec ts;
    ts.tv_sec = (time_t)t;
    ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
    }
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s DEST_IP PORT RATE SECONDS PAYLOADS\n", argv[0]);
        return 2;
    }
    struct sockaddr_in dst;
    memset(&dst, 0, sizeof dst);
    dst.sin_family = AF_INET;
    dst.sin_port = htons((uint16_t)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &dst.sin_addr) != 1) {
        fprintf(stderr, "flood: bad address %s\n", argv[1]);
        return 2;
    }
    double rate = atof(argv[3]);
    double seconds = atof(argv[4]);

    FILE *f = fopen(argv[5], "rb");
    if (f == NULL) {
        perror(argv[5]);
        return 2;
    }
    static struct iovec iov[MAX_PAYLOADS];
    size_t n = 0;
    unsigned char hdr[2];
    while (n < MAX_PAYLOADS && fread(hdr, 1, 2, f) == 2) {
        size_t len = ((size_t)hdr[0] << 8) | hdr[1];
        if (len > MAX_LEN) {
            fprintf(stderr, "flood: record %zu too long\n", n);
            return 2;
        }
        void *buf = malloc(len ? len : 1);
        if (buf == NULL || fread(buf, 1, len, f) != len) {
            fprintf(stderr, "flood: record %zu cut short\n", n);
            return 2;
        }
        iov[n].iov_base = buf;
        iov[n].iov_len = len;
        n++;
    }
    fclose(f);
    if (n == 0) {
        fprintf(stderr, "flood: no payloads in %s\n", argv[5]);
        return 2;
    }

    int s = socket(AF_INET, SOCK_DGRAM, 0);
    if (s < 0) {
        perror("socket");
        return 1;
    }
    int one = 1, sndbuf = 4 << 20;
    setsockopt(s, SOL_SOCKET, SO_BROADCAST, &one, sizeof one);
    setsockopt(s, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

    static struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        msgs[i].msg_hdr.msg_name = &dst;
        msgs[i].msg_hdr.msg_namelen = sizeof dst;
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    unsigned long long sent = 0, failed = 0;
    size_t next = 0;
    double start = now_s(), end = start + seconds, t = start;
    while (t < end) {
        int batch = BATCH;
        if (rate > 0) {
            double due = start + (double)(sent + failed) / rate;
            if (due > t) {
                sleep_until(due < end ? due : end);
                t = now_s();
                if (t >= end) {
                    break;
                }
            }
            /* At low rates send smaller batches, so the flow is not bursty. */
            double per_ms = rate / 1000.0;
            if (per_ms < BATCH) {
                batch = per_ms < 1 ? 1 : (int)per_ms;
            }
        }
        for (int i = 0; i < batch; i++) {
            msgs[i].msg_hdr.msg_iov = &iov[next];
            next = next + 1 == n ? 0 : next + 1;
        }
        int r = sendmmsg(s, msgs, (unsigned)batch, 0);
        if (r < 0) {
            failed += (unsigned long long)batch;
        } else {
            sent += (unsigned long long)r;
            failed += (unsigned long long)(batch - r);
        }
        t = now_s();
    }
    printf("sent %llu failed %llu seconds %.6f\n", sent, failed, now_s() - start);
    return 0;
}
