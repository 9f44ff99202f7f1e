/* rtu_echo: the C example of rtud's client library (include/rtuclient.h,
 * librtuclient.so). It connects to rtud, opens a UDP socket of its own or
 * attaches to a named one, and sends every datagram back to where it came
 * from, in batches: what arrived since the last wait is received with one
 * call and queued back with as few calls as the TX ring's room allows.
 *
 *   rtu_echo [--control PATH] (--attach NAME | --bind A.B.C.D:PORT
 *            [--rate BITS_PER_S --message-size BYTES [--period-ms MS]])
 *            [--count N] [--seconds S]
 *
 * It prints {"ready":true} once the socket is open, and at the end one JSON
 * line: how many datagrams it echoed and how many ICMP errors it saw.
 * Exit status: 0 after N datagrams or S seconds, 1 when rtud refused or
 * closed the socket, 2 on a usage error.
 *
 * Build (from the repository, after `swift build`):
 *   gcc -O2 -Wall -I include -o rtu_echo examples/c/rtu_echo.c \
 *       -L .build/debug -lrtuclient -Wl,-rpath,$PWD/.build/debug
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rtuclient.h"

#define BATCH 32
#define SLOT 65536      /* every UDP payload fits: nothing is truncated */
#define WAIT_MS 200     /* longest single wait, so --seconds is kept */

static void usage(const char *why) {
    fprintf(stderr, "rtu_echo: %s\n"
            "usage: rtu_echo [--control PATH] (--attach NAME | --bind A.B.C.D:PORT\n"
            "                [--rate BITS_PER_S --message-size BYTES [--period-ms MS]]) [--count N] [--seconds S]\n",
            why);
    exit(2);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A whole non-negative decimal number, or a usage error naming the option. */
static unsigned long long number(const char *option, const char *text) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') {
        char why[128];
        snprintf(why, sizeof why, "%s %s: expected a whole number", option, text);
        usage(why);
    }
    return v;
}

int main(int argc, char **argv) {
    const char *control = NULL, *attach = NULL, *bind = NULL;
    unsigned long long rate = 0, message_size = 0, period_ms = 0, count = 0;
    double seconds = 60;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage("every option takes a value");
        const char *v = argv[++i];
        if (!strcmp(a, "--control")) control = v;
        else if (!strcmp(a, "--attach")) attach = v;
        else if (!strcmp(a, "--bind")) bind = v;
        else if (!strcmp(a, "--rate")) rate = number(a, v);
        else if (!strcmp(a, "--message-size")) message_size = number(a, v);
        else if (!strcmp(a, "--period-ms")) period_ms = number(a, v);
        else if (!strcmp(a, "--count")) count = number(a, v);
        else if (!strcmp(a, "--seconds")) seconds = (double)number(a, v);
        else usage("unknown option");
    }
    if ((attach == NULL) == (bind == NULL)) usage("give --attach NAME or --bind ADDRESS:PORT");
    if ((rate == 0) != (message_size == 0)) usage("--rate and --message-size go together");
    if (attach && rate) usage("a named socket brings its own reservation: --rate goes with --bind");
    if (message_size > 65507) usage("--message-size: 1 to 65507 bytes");

    char err[512];
    rtu_client *client = rtu_connect(control, "rtu_echo", err, sizeof err);
    if (!client) {
        fprintf(stderr, "rtu_echo: %s\n", err);
        return 1;
    }
    rtu_socket *sock = attach ? rtu_attach(client, attach, err, sizeof err)
                              : rtu_open(client, bind, NULL, rate, (uint32_t)message_size, period_ms * 1000000u,
                                         err, sizeof err);
    if (!sock) {
        fprintf(stderr, "rtu_echo: %s\n", err);
        rtu_disconnect(client);
        return 1;
    }
    struct sockaddr_in local = {0};
    char local_text[INET_ADDRSTRLEN] = "?";
    if (rtu_local_address(sock, &local) == 0) inet_ntop(AF_INET, &local.sin_addr, local_text, sizeof local_text);
    printf("{\"ready\":true}\n");
    fflush(stdout);

    static unsigned char slots[BATCH][SLOT];
    rtu_message batch[BATCH];
    unsigned long long echoed = 0, icmp_errors = 0, batches = 0;
    int status = 0;
    const double end = now_s() + seconds;
    while ((count == 0 || echoed < count) && now_s() < end) {
        for (int i = 0; i < BATCH; i++) batch[i] = (rtu_message){.data = slots[i], .len = SLOT};
        int n = rtu_recv_batch(sock, batch, BATCH, WAIT_MS);
        if (n == -EAGAIN) continue;
        if (n == -ECONNREFUSED || n == -EHOSTUNREACH || n == -ENETUNREACH) {
            icmp_errors++;  /* about an earlier echo; the data goes on */
            continue;
        }
        if (n < 0) {
            fprintf(stderr, "rtu_echo: receive: %s\n", strerror(-n));
            status = 1;
            break;
        }
        batches++;
        /* Each message goes back to its source (batch[i].addr); a partial
         * send leaves the rest for the next call, which waits for room. */
        int sent = 0;
        while (sent < n) {
            int r = rtu_send_batch(sock, batch + sent, (unsigned)(n - sent), WAIT_MS);
            if (r == -EAGAIN) continue;
            if (r < 0) {
                fprintf(stderr, "rtu_echo: send: %s\n", strerror(-r));
                status = 1;
                break;
            }
            sent += r;
        }
        echoed += (unsigned long long)sent;
        if (status) break;
    }
    printf("{\"mode\":\"echo\",\"local\":\"%s:%u\",\"echoed\":%llu,\"batches\":%llu,\"icmp_errors\":%llu}\n", local_text,
           (unsigned)ntohs(local.sin_port), echoed, batches, icmp_errors);
    rtu_close(sock);
    rtu_disconnect(client);
    return status;
}
