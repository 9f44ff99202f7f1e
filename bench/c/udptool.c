// udptool: the kernel-side UDP peer of rtud in tests and benchmarks. One mode
// per run, each bounded by a count and/or a time limit; one JSON object on
// stdout at the end and nothing else there (diagnostics go to stderr).
// Exit 0 on success, 1 on a content error, 2 on a usage or system error.
//
// Content format (rtud's Swift side implements the same; keep them in step):
//   payload bytes 0..7        the sequence number, unsigned 64-bit big-endian,
//                             0 for the first datagram of a run and +1 for each
//                             datagram after it
//   payload bytes 8..BYTES-1  the byte at payload index i is (seq + i) & 0xFF
//   payloads shorter than 8 bytes carry only the low BYTES bytes of the
//                             big-endian seq (most significant of them first),
//                             and nothing is checked beyond that
//   streams: send/flood --stream ID (default 0) put ID in the top 16 bits of
//                             the sequence, seq = ID << 48 | n, n = 0, 1, 2, ...
//                             counting the datagrams of that stream; recv --check
//                             tracks each stream apart
//
// Modes (all also take [--fifo PRIO] [--cpu N]: SCHED_FIFO priority, CPU pin):
//   send  --dst IP:PORT [--bind IP:PORT] --size BYTES --count N [--rate PPS] [--seconds S]
//         [--burst K] [--stream ID] [--sndbuf BYTES]
//         connect()ed kernel UDP socket; paced on an absolute schedule (spinning when the
//         wait is under 20 us) or as fast as possible; --burst K: sendmmsg of K datagrams
//         (paced per burst). ENOBUFS/EAGAIN/ICMP errors are counted and the datagram retried.
//   recv  --bind IP:PORT [--count N] [--seconds S] [--idle-timeout S] [--check] [--size BYTES]
//         [--rcvbuf BYTES] [--per-second]
//         recvmmsg until N datagrams, S seconds (default 60) or no datagram for the idle
//         timeout (default 2 s, 0 = off) after the first. --check verifies the content
//         (and the length, with --size) and counts duplicates, reordered datagrams (below
//         the highest seq already seen in their stream) and missing ones (highest seq + 1
//         - distinct seqs); a datagram with a content error is left out of the sequence
//         accounting. Payloads under 8 bytes count in stream 0, their n taken as the value
//         with those low bytes nearest the next expected one. Top-level first_seq/last_seq
//         are the raw values carried; per-stream ones are n. pps/mbps count the datagrams
//         after the first batch over the time from the first batch to the last.
//         --per-second: "intervals", datagrams per 100 ms from the first datagram.
//   echo  --bind IP:PORT [--count N] [--seconds S] [--idle-timeout S] [--rcvbuf BYTES]
//         [--sndbuf BYTES]
//         sends every datagram back unchanged; --seconds defaults to 60, idle timeout off.
//   rtt   --dst IP:PORT [--bind IP:PORT] --size BYTES --count N [--timeout-ms MS] [--warmup W]
//         W (default 100) unrecorded round trips, then N recorded ones; one datagram in
//         flight; a timeout (default 1000 ms) counts one loss and moves on.
//   flood --ifname DEV --src-mac MAC --dst-mac MAC --src IP:PORT --dst IP:PORT --size BYTES
//         [--count N] [--seconds S] [--rate PPS] [--burst K] [--ports K] [--stream ID]
//         Ethernet/IPv4/UDP frames through an AF_PACKET TPACKET_V2 TX ring with
//         PACKET_QDISC_BYPASS; --ports K cycles the destination port over dst..dst+K-1.
//         --rate with --burst K releases K frames at a time, every K / PPS seconds, so a
//         high rate sleeps between bursts instead of spinning.
//         Refuses to run in the initial network namespace.
// Destinations (and flood's source) must lie in 198.18.0.0/15 or 127.0.0.0/8
// (shared/TESTING.md); echo does not answer other sources.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <math.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAYLOAD 65507
#define RX_BATCH 64
#define RX_SLOT 65536                 // every UDP payload fits: no truncation
#define MAX_BURST 1024
#define SPIN_NS 20000                 // waits shorter than this spin instead of sleeping
#define NO_PROGRESS_NS 5000000000ull  // retrying errors for this long without progress is fatal
#define DEFAULT_SECONDS 60.0          // recv/echo without --seconds
#define INTERVAL_NS 100000000ull      // --per-second buckets
#define WIN_BITS (1u << 22)           // duplicate-detection window per stream (seqs)
#define MAX_STREAMS 64
#define SEQ_MASK ((UINT64_C(1) << 48) - 1)
#define PATTERN_LEN (256 + 8 + MAX_PAYLOAD)

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) { (void)sig; stop_flag = 1; }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(const char *prefix, const char *fmt, va_list ap) {
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

static _Noreturn void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("udptool: ", fmt, ap);
    va_end(ap);
    exit(2);
}

static _Noreturn void fail_sys(const char *what) { fail("%s: %s", what, strerror(errno)); }

static void warn(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("udptool: warning: ", fmt, ap);
    va_end(ap);
}

// ---- content ----

// pattern[j] = j & 0xFF, so payload bytes 8.. of seq are pattern + (seq & 0xFF) + 8.
static uint8_t pattern[PATTERN_LEN];
static const uint8_t *pattern_for(uint64_t seq) { return pattern + (seq & 0xFF) + 8; }

static void put_seq(uint8_t *p, uint64_t seq, size_t size) {
    size_t n = size < 8 ? size : 8;
    for (size_t k = 0; k < n; k++) p[k] = (uint8_t)(seq >> (8 * (n - 1 - k)));
}

static uint64_t get_seq(const uint8_t *p, size_t len) {
    size_t n = len < 8 ? len : 8;
    uint64_t v = 0;
    for (size_t k = 0; k < n; k++) v = v << 8 | p[k];
    return v;
}

static bool content_ok(const uint8_t *p, size_t len, uint64_t seq) {
    return len <= 8 || memcmp(p + 8, pattern_for(seq), len - 8) == 0;
}

// ---- JSON on stdout ----

static int jdepth;
static bool jfirst[8] = {true};
static void jsep(void) { if (!jfirst[jdepth]) putchar(','); jfirst[jdepth] = false; }
static void jkey(const char *k) { if (k) { jsep(); printf("\"%s\":", k); } else jsep(); }
static void jopen(const char *k, char c) { jkey(k); putchar(c); jfirst[++jdepth] = true; }
static void jclose(char c) { putchar(c); jdepth--; }
static void ju(const char *k, uint64_t v) { jkey(k); printf("%" PRIu64, v); }
static void jf(const char *k, double v, int prec) { jkey(k); printf("%.*f", prec, isfinite(v) ? v : 0.0); }
static void jb(const char *k, bool v) { jkey(k); fputs(v ? "true" : "false", stdout); }
static void jnull(const char *k) { jkey(k); fputs("null", stdout); }
static void js(const char *k, const char *s) {
    jkey(k);
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20) printf("\\u%04x", (unsigned char)*s);
        else putchar(*s);
    }
    putchar('"');
}
static void jend(void) { jclose('}'); putchar('\n'); fflush(stdout); }

static double per_sec(uint64_t v, uint64_t ns) { return ns ? (double)v * 1e9 / (double)ns : 0.0; }

// ---- options ----

enum { O_DST = 256, O_BIND, O_SRC, O_SIZE, O_COUNT, O_RATE, O_SECONDS, O_FIFO, O_CPU, O_BURST, O_IDLE,
       O_CHECK, O_RCVBUF, O_SNDBUF, O_PERSEC, O_TIMEOUT, O_IFNAME, O_SRCMAC, O_DSTMAC, O_PORTS, O_STREAM,
       O_WARMUP };
#define BIT(o) (1u << ((o) - O_DST))

static const struct option long_opts[] = {
    {"dst", required_argument, 0, O_DST},         {"bind", required_argument, 0, O_BIND},
    {"src", required_argument, 0, O_SRC},         {"size", required_argument, 0, O_SIZE},
    {"count", required_argument, 0, O_COUNT},     {"rate", required_argument, 0, O_RATE},
    {"seconds", required_argument, 0, O_SECONDS}, {"fifo", required_argument, 0, O_FIFO},
    {"cpu", required_argument, 0, O_CPU},         {"burst", required_argument, 0, O_BURST},
    {"idle-timeout", required_argument, 0, O_IDLE}, {"check", no_argument, 0, O_CHECK},
    {"rcvbuf", required_argument, 0, O_RCVBUF},   {"sndbuf", required_argument, 0, O_SNDBUF},
    {"per-second", no_argument, 0, O_PERSEC},     {"timeout-ms", required_argument, 0, O_TIMEOUT},
    {"ifname", required_argument, 0, O_IFNAME},   {"src-mac", required_argument, 0, O_SRCMAC},
    {"dst-mac", required_argument, 0, O_DSTMAC},  {"ports", required_argument, 0, O_PORTS},
    {"stream", required_argument, 0, O_STREAM},   {"warmup", required_argument, 0, O_WARMUP},
    {0, 0, 0, 0},
};

enum mode { M_SEND, M_RECV, M_ECHO, M_RTT, M_FLOOD };
static const struct { const char *name; unsigned allowed, required; } modes[] = {
    [M_SEND] = {"send", BIT(O_DST) | BIT(O_BIND) | BIT(O_SIZE) | BIT(O_COUNT) | BIT(O_RATE) | BIT(O_SECONDS)
                | BIT(O_BURST) | BIT(O_STREAM) | BIT(O_SNDBUF), BIT(O_DST) | BIT(O_SIZE) | BIT(O_COUNT)},
    [M_RECV] = {"recv", BIT(O_BIND) | BIT(O_COUNT) | BIT(O_SECONDS) | BIT(O_IDLE) | BIT(O_CHECK) | BIT(O_SIZE)
                | BIT(O_RCVBUF) | BIT(O_PERSEC), BIT(O_BIND)},
    [M_ECHO] = {"echo", BIT(O_BIND) | BIT(O_COUNT) | BIT(O_SECONDS) | BIT(O_IDLE) | BIT(O_RCVBUF) | BIT(O_SNDBUF),
                BIT(O_BIND)},
    [M_RTT] = {"rtt", BIT(O_DST) | BIT(O_BIND) | BIT(O_SIZE) | BIT(O_COUNT) | BIT(O_TIMEOUT) | BIT(O_WARMUP),
               BIT(O_DST) | BIT(O_SIZE) | BIT(O_COUNT)},
    [M_FLOOD] = {"flood", BIT(O_IFNAME) | BIT(O_SRCMAC) | BIT(O_DSTMAC) | BIT(O_SRC) | BIT(O_DST) | BIT(O_SIZE)
                 | BIT(O_COUNT) | BIT(O_SECONDS) | BIT(O_RATE) | BIT(O_BURST) | BIT(O_PORTS) | BIT(O_STREAM),
                 BIT(O_IFNAME) | BIT(O_SRCMAC) | BIT(O_DSTMAC) | BIT(O_SRC) | BIT(O_DST) | BIT(O_SIZE)},
};

static const char usage_text[] =
    "usage: udptool MODE OPTIONS   (one JSON object on stdout; exit 0 ok, 1 content error, 2 usage/system error)\n"
    "  send  --dst IP:PORT [--bind IP:PORT] --size BYTES --count N [--rate PPS] [--seconds S]\n"
    "        [--burst K] [--stream ID] [--sndbuf BYTES] [--fifo PRIO] [--cpu N]\n"
    "  recv  --bind IP:PORT [--count N] [--seconds S] [--idle-timeout S] [--check] [--size BYTES]\n"
    "        [--rcvbuf BYTES] [--per-second] [--fifo PRIO] [--cpu N]\n"
    "  echo  --bind IP:PORT [--count N] [--seconds S] [--idle-timeout S] [--rcvbuf BYTES] [--sndbuf BYTES]\n"
    "        [--fifo PRIO] [--cpu N]\n"
    "  rtt   --dst IP:PORT [--bind IP:PORT] --size BYTES --count N [--timeout-ms MS] [--warmup W]\n"
    "        [--fifo PRIO] [--cpu N]\n"
    "  flood --ifname DEV --src-mac MAC --dst-mac MAC --src IP:PORT --dst IP:PORT --size BYTES\n"
    "        [--count N] [--seconds S] [--rate PPS] [--burst K] [--ports K] [--stream ID] [--fifo PRIO]\n"
    "        [--cpu N]\n"
    "Addresses: destinations in 198.18.0.0/15 or 127.0.0.0/8. Payload format: see the top of udptool.c.\n";

static _Noreturn void usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    say("udptool: ", fmt, ap);
    va_end(ap);
    fputs(usage_text, stderr);
    exit(2);
}

struct opts {
    enum mode mode;
    unsigned given;
    struct sockaddr_in dst, bind, src;
    size_t size;
    uint64_t count;
    double rate, seconds, idle;
    int fifo, cpu, burst, ports;
    bool check, per_interval;
    uint64_t rcvbuf, sndbuf, timeout_ms, warmup, stream;
    const char *ifname;
    uint8_t src_mac[6], dst_mac[6];
};

static const char *opt_name(int id) {
    for (const struct option *o = long_opts; o->name; o++) if (o->val == id) return o->name;
    return "?";
}

static uint64_t parse_u64(const char *s, int id, uint64_t min, uint64_t max) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (!*s || *s == '-' || *s == '+' || *end || errno || v < min || v > max)
        usage_error("--%s: expected an integer in %" PRIu64 "..%" PRIu64 ", got '%s'", opt_name(id), min, max, s);
    return v;
}

static double parse_double(const char *s, int id, double min, double max) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < min || v > max)
        usage_error("--%s: expected a number in %g..%g, got '%s'", opt_name(id), min, max, s);
    return v;
}

static void parse_addr(const char *s, int id, struct sockaddr_in *a) {
    const char *colon = strrchr(s, ':');
    char host[INET_ADDRSTRLEN];
    if (!colon || colon == s || (size_t)(colon - s) >= sizeof host)
        usage_error("--%s: expected IP:PORT, got '%s'", opt_name(id), s);
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = 0;
    memset(a, 0, sizeof *a);
    a->sin_family = AF_INET;
    if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
        usage_error("--%s: '%s' is not an IPv4 address", opt_name(id), host);
    a->sin_port = htons((uint16_t)parse_u64(colon + 1, id, 0, 65535));
}

static void parse_mac(const char *s, int id, uint8_t *m) {
    int n = 0;
    if (sscanf(s, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%n", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &n) != 6
        || s[n] != 0)
        usage_error("--%s: expected a MAC like 02:00:c6:12:00:01, got '%s'", opt_name(id), s);
}

// 198.18.0.0/15 (RFC 2544 benchmarking) or loopback: the only places test traffic may go.
static bool addr_allowed(struct in_addr a) {
    uint32_t h = ntohl(a.s_addr);
    return (h & 0xFFFE0000u) == 0xC6120000u || (h >> 24) == 127;
}

static void require_allowed(const struct sockaddr_in *a, const char *what) {
    if (!addr_allowed(a->sin_addr))
        usage_error("%s %s is outside 198.18.0.0/15 and 127.0.0.0/8: test traffic goes nowhere else",
                    what, inet_ntoa(a->sin_addr));
}

static void parse_opts(int argc, char **argv, struct opts *o) {
    memset(o, 0, sizeof *o);
    o->fifo = 0;
    o->cpu = -1;
    o->burst = 1;
    o->ports = 1;
    o->idle = -1;
    o->timeout_ms = 1000;
    o->warmup = 100;
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        if (argc >= 2) { fputs(usage_text, stderr); exit(0); }
        usage_error("no mode given");
    }
    size_t nm = sizeof modes / sizeof modes[0];
    size_t m = 0;
    while (m < nm && strcmp(argv[1], modes[m].name)) m++;
    if (m == nm) usage_error("unknown mode '%s'", argv[1]);
    o->mode = (enum mode)m;
    int c, ac = argc - 1;
    char **av = argv + 1;  // av[0] is the mode, where getopt expects the program name
    opterr = 0;
    optind = 1;
    while ((c = getopt_long(ac, av, "", long_opts, NULL)) != -1) {
        if (c == '?' || c == ':') usage_error("unknown option or missing value: '%s'", av[optind - 1]);
        if (!(modes[m].allowed & BIT(c)) && c != O_FIFO && c != O_CPU)
            usage_error("%s does not take --%s", modes[m].name, opt_name(c));
        if (o->given & BIT(c)) usage_error("--%s given twice", opt_name(c));
        o->given |= BIT(c);
        switch (c) {
        case O_DST: parse_addr(optarg, c, &o->dst); break;
        case O_BIND: parse_addr(optarg, c, &o->bind); break;
        case O_SRC: parse_addr(optarg, c, &o->src); break;
        case O_SIZE: o->size = parse_u64(optarg, c, 1, MAX_PAYLOAD); break;
        case O_COUNT: o->count = parse_u64(optarg, c, 1, UINT64_MAX); break;
        case O_RATE: o->rate = parse_double(optarg, c, 0.001, 1e9); break;
        case O_SECONDS: o->seconds = parse_double(optarg, c, 0.001, 1e7); break;
        case O_FIFO: o->fifo = (int)parse_u64(optarg, c, 1, 99); break;
        case O_CPU: o->cpu = (int)parse_u64(optarg, c, 0, CPU_SETSIZE - 1); break;
        case O_BURST: o->burst = (int)parse_u64(optarg, c, 1, MAX_BURST); break;
        case O_IDLE: o->idle = parse_double(optarg, c, 0, 1e7); break;
        case O_CHECK: o->check = true; break;
        case O_RCVBUF: o->rcvbuf = parse_u64(optarg, c, 1, INT32_MAX); break;
        case O_SNDBUF: o->sndbuf = parse_u64(optarg, c, 1, INT32_MAX); break;
        case O_PERSEC: o->per_interval = true; break;
        case O_TIMEOUT: o->timeout_ms = parse_u64(optarg, c, 1, 3600000); break;
        case O_IFNAME:
            if (strlen(optarg) >= IFNAMSIZ || !*optarg) usage_error("--ifname: bad interface name '%s'", optarg);
            o->ifname = optarg;
            break;
        case O_SRCMAC: parse_mac(optarg, c, o->src_mac); break;
        case O_DSTMAC: parse_mac(optarg, c, o->dst_mac); break;
        case O_PORTS: o->ports = (int)parse_u64(optarg, c, 1, 65535); break;
        case O_STREAM: o->stream = parse_u64(optarg, c, 0, 65535); break;
        case O_WARMUP: o->warmup = parse_u64(optarg, c, 0, 10000000); break;
        }
    }
    if (optind < ac) usage_error("unexpected argument '%s'", av[optind]);
    unsigned missing = modes[m].required & ~o->given;
    for (int id = O_DST; missing; id++)
        if (missing & BIT(id)) usage_error("%s needs --%s", modes[m].name, opt_name(id));
    if (o->given & BIT(O_DST)) require_allowed(&o->dst, "--dst");
    if (o->mode == M_FLOOD) {
        require_allowed(&o->src, "--src");
        if (!(o->given & (BIT(O_COUNT) | BIT(O_SECONDS)))) usage_error("flood needs --count or --seconds");
        if (ntohs(o->dst.sin_port) + o->ports - 1 > 65535) usage_error("--ports: dst port + K - 1 exceeds 65535");
    }
    if (o->mode == M_RTT && o->count > 100000000) usage_error("rtt --count: at most 100000000");
    if ((o->mode == M_RECV || o->mode == M_ECHO) && !(o->given & BIT(O_SECONDS))) o->seconds = DEFAULT_SECONDS;
    if (o->idle < 0) o->idle = o->mode == M_RECV ? 2.0 : 0.0;
}

// ---- process and sockets ----

static void setup_process(const struct opts *o) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;  // no SA_RESTART: blocking calls return EINTR and the loop ends
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if (o->cpu >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(o->cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) < 0) fail("--cpu %d: sched_setaffinity: %s", o->cpu, strerror(errno));
    }
    if (o->fifo > 0) {
        struct sched_param sp = {.sched_priority = o->fifo};
        if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0) fail("--fifo %d: sched_setscheduler: %s", o->fifo, strerror(errno));
        if (mlockall(MCL_CURRENT | MCL_FUTURE) < 0) warn("mlockall: %s (page faults may add latency)", strerror(errno));
    }
}

static void set_buf(int fd, int force_opt, int opt, uint64_t bytes, const char *name) {
    int v = (int)bytes;
    if (setsockopt(fd, SOL_SOCKET, force_opt, &v, sizeof v) < 0 && setsockopt(fd, SOL_SOCKET, opt, &v, sizeof v) < 0)
        fail("%s %d: %s", name, v, strerror(errno));
}

static int sock_int(int fd, int level, int opt) {
    int v = 0;
    socklen_t l = sizeof v;
    getsockopt(fd, level, opt, &v, &l);
    return v;
}

static int udp_socket(const struct opts *o, bool connect_dst) {
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) fail_sys("socket");
    if (o->rcvbuf) set_buf(fd, SO_RCVBUFFORCE, SO_RCVBUF, o->rcvbuf, "--rcvbuf");
    if (o->sndbuf) set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, o->sndbuf, "--sndbuf");
    if ((o->given & BIT(O_BIND)) && bind(fd, (const struct sockaddr *)&o->bind, sizeof o->bind) < 0)
        fail("bind %s:%u: %s", inet_ntoa(o->bind.sin_addr), ntohs(o->bind.sin_port), strerror(errno));
    if (connect_dst && connect(fd, (const struct sockaddr *)&o->dst, sizeof o->dst) < 0)
        fail("connect %s:%u: %s", inet_ntoa(o->dst.sin_addr), ntohs(o->dst.sin_port), strerror(errno));
    return fd;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __asm__ volatile("pause");
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

// Waits until CLOCK_MONOTONIC reaches target: spins when less than SPIN_NS is left,
// else sleeps on the absolute time (no drift). Returns early on a signal.
static void wait_until(uint64_t target) {
    uint64_t t = now_ns();
    if (target <= t) return;
    if (target - t < SPIN_NS) {
        while (now_ns() < target && !stop_flag) cpu_relax();
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(target / 1000000000u), .tv_nsec = (long)(target % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR && !stop_flag) {}
}

static void pause_briefly(void) {
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
}

// Errors a UDP send retries: counted, then the same datagram goes again.
struct send_errors { uint64_t enobufs, eagain, econnrefused, ehostunreach, other; };

static bool retryable(int fd, int err, struct send_errors *e) {
    char drain[256];
    switch (err) {
    case EINTR: return true;
    case ENOBUFS: e->enobufs++; pause_briefly(); return true;
    case EAGAIN: e->eagain++; pause_briefly(); return true;
    case ECONNREFUSED:  // an ICMP error from an earlier datagram; drop its IP_RECVERR queue entry
    case EHOSTUNREACH:
        if (err == ECONNREFUSED) e->econnrefused++; else e->ehostunreach++;
        while (recv(fd, drain, sizeof drain, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0) {}
        pause_briefly();
        return true;
    default: return false;
    }
}

static void json_send_errors(const struct send_errors *e) {
    jopen("errors", '{');
    ju("enobufs", e->enobufs);
    ju("eagain", e->eagain);
    ju("econnrefused", e->econnrefused);
    ju("ehostunreach", e->ehostunreach);
    ju("other", e->other);
    jclose('}');
}

static void json_header(const char *mode) {
    jopen(NULL, '{');
    js("mode", mode);
}

// ---- send ----

static int mode_send(const struct opts *o) {
    int fd = udp_socket(o, true);
    int one = 1;
    // Without IP_RECVERR the kernel hides ENOBUFS from UDP senders and drops silently.
    if (setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) < 0) warn("IP_RECVERR: %s", strerror(errno));
    size_t size = o->size, k = (size_t)o->burst;
    struct mmsghdr *m = calloc(k, sizeof *m);
    struct iovec (*iov)[2] = calloc(k, sizeof *iov);
    uint8_t (*hdr)[8] = calloc(k, sizeof *hdr);
    if (!m || !iov || !hdr) fail("out of memory");
    for (size_t j = 0; j < k; j++) {
        iov[j][0].iov_base = hdr[j];
        iov[j][0].iov_len = size < 8 ? size : 8;
        iov[j][1].iov_len = size > 8 ? size - 8 : 0;
        m[j].msg_hdr.msg_iov = iov[j];
        m[j].msg_hdr.msg_iovlen = size > 8 ? 2 : 1;
    }
    uint64_t base = o->stream << 48;
    long double period = o->rate > 0 ? 1e9L / o->rate : 0;
    struct send_errors e = {0};
    uint64_t sent = 0, max_late = 0;
    uint64_t t0 = now_ns();
    uint64_t deadline = o->seconds > 0 ? t0 + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
    uint64_t last_progress = t0;
    while (sent < o->count && !stop_flag) {
        uint64_t t = now_ns();
        if (t >= deadline) break;
        if (period > 0) {
            uint64_t due = t0 + (uint64_t)llroundl((long double)sent * period);
            if (due >= deadline) { wait_until(deadline); break; }
            if (due > t) { wait_until(due); continue; }
            if (t - due > max_late) max_late = t - due;
        }
        size_t n = o->count - sent < k ? (size_t)(o->count - sent) : k;
        for (size_t j = 0; j < n; j++) {
            uint64_t seq = base | (sent + j);
            put_seq(hdr[j], seq, size);
            iov[j][1].iov_base = (void *)pattern_for(seq);
        }
        int r = k == 1 ? (sendmsg(fd, &m[0].msg_hdr, 0) >= 0 ? 1 : -1) : sendmmsg(fd, m, (unsigned)n, 0);
        if (r > 0) {
            sent += (uint64_t)r;
            last_progress = t;
        } else {
            int err = errno;
            if (!retryable(fd, err, &e)) fail("%s: %s", k == 1 ? "sendmsg" : "sendmmsg", strerror(err));
            if (now_ns() - last_progress > NO_PROGRESS_NS)
                fail("no datagram could be sent for %llu s (last error: %s)", NO_PROGRESS_NS / 1000000000ull, strerror(err));
        }
    }
    uint64_t ns = now_ns() - t0;
    json_header("send");
    ju("sent", sent);
    ju("bytes", sent * size);
    ju("size", size);
    jf("seconds", ns / 1e9, 6);
    jf("pps", per_sec(sent, ns), 1);
    jf("mbps", per_sec(sent * size, ns) * 8 / 1e6, 3);
    if (period > 0) { jf("rate", o->rate, 3); jf("max_late_us", max_late / 1e3, 1); }
    ju("burst", k);
    ju("stream", o->stream);
    json_send_errors(&e);
    jb("interrupted", stop_flag);
    jend();
    return 0;
}

// ---- receiving in batches (recv, echo) ----

struct rx {
    int fd;
    uint8_t *bufs;
    struct mmsghdr m[RX_BATCH];
    struct iovec iov[RX_BATCH];
    struct sockaddr_in from[RX_BATCH];
    uint64_t ctl[RX_BATCH][(CMSG_SPACE(sizeof(uint32_t)) + 7) / 8];
    uint64_t deadline, idle_ns, t_last;
    uint64_t limit, received;  // --count (UINT64_MAX without), datagrams so far
    bool any;
    uint32_t drops;  // SO_RXQ_OVFL: datagrams the socket dropped (receive buffer full)
    const char *stopped_by;
};

static void rx_init(struct rx *r, int fd, const struct opts *o) {
    memset(r, 0, sizeof *r);
    r->fd = fd;
    r->bufs = malloc((size_t)RX_BATCH * RX_SLOT);
    if (!r->bufs) fail("out of memory");
    for (int i = 0; i < RX_BATCH; i++) {
        r->iov[i].iov_base = r->bufs + (size_t)i * RX_SLOT;
        r->iov[i].iov_len = RX_SLOT;
        r->m[i].msg_hdr.msg_iov = &r->iov[i];
        r->m[i].msg_hdr.msg_iovlen = 1;
    }
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one) < 0) warn("SO_RXQ_OVFL: %s", strerror(errno));
    r->deadline = now_ns() + (uint64_t)(o->seconds * 1e9);
    r->idle_ns = (uint64_t)(o->idle * 1e9);
    r->limit = (o->given & BIT(O_COUNT)) ? o->count : UINT64_MAX;
}

// Receives a batch (never past the count limit); returns its size, or 0 when the run
// ends (count, time limit, idle timeout, signal), with stopped_by saying which.
static int rx_batch(struct rx *r) {
    unsigned want = r->limit - r->received < RX_BATCH ? (unsigned)(r->limit - r->received) : RX_BATCH;
    for (;;) {
        if (!want) { r->stopped_by = "count"; return 0; }
        if (stop_flag) { r->stopped_by = "signal"; return 0; }
        if (now_ns() >= r->deadline) { r->stopped_by = "seconds"; return 0; }
        for (unsigned i = 0; i < want; i++) {
            r->m[i].msg_hdr.msg_name = &r->from[i];
            r->m[i].msg_hdr.msg_namelen = sizeof r->from[i];
            r->m[i].msg_hdr.msg_control = r->ctl[i];
            r->m[i].msg_hdr.msg_controllen = sizeof r->ctl[i];
            r->m[i].msg_hdr.msg_flags = 0;
        }
        int n = recvmmsg(r->fd, r->m, want, MSG_DONTWAIT, NULL);
        uint64_t t = now_ns();
        if (n > 0) {
            for (int i = 0; i < n; i++) {
                struct msghdr *h = &r->m[i].msg_hdr;
                for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
                        uint32_t d;
                        memcpy(&d, CMSG_DATA(c), sizeof d);
                        if (d > r->drops) r->drops = d;
                    }
            }
            r->any = true;
            r->t_last = t;
            r->received += (uint64_t)n;
            return n;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) fail_sys("recvmmsg");
        uint64_t until = r->deadline;
        const char *why = "seconds";
        if (r->any && r->idle_ns && r->t_last + r->idle_ns < until) { until = r->t_last + r->idle_ns; why = "idle"; }
        if (t >= until) { r->stopped_by = why; return 0; }
        struct timespec ts = {.tv_sec = (time_t)((until - t) / 1000000000u), .tv_nsec = (long)((until - t) % 1000000000u)};
        struct pollfd p = {.fd = r->fd, .events = POLLIN};
        if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR) fail_sys("ppoll");
    }
}

// ---- sequence accounting per stream (recv --check) ----

struct stream {
    uint16_t id;
    bool any;
    uint64_t received, unique, duplicates, reordered, first, last, highest;
    uint64_t *seen;  // bit (n % WIN_BITS) set: seq n seen, for n in (highest - WIN_BITS, highest]
};
static struct stream streams[MAX_STREAMS];
static int nstreams;
static int16_t stream_slot[65536];

static struct stream *stream_get(uint16_t id) {
    if (stream_slot[id] > 0) return &streams[stream_slot[id] - 1];
    if (nstreams == MAX_STREAMS) return NULL;
    struct stream *st = &streams[nstreams];
    st->seen = calloc(WIN_BITS / 64, sizeof(uint64_t));
    if (!st->seen) fail("out of memory");
    st->id = id;
    stream_slot[id] = (int16_t)++nstreams;
    return st;
}

static bool seen_test_set(uint64_t *b, uint64_t n) {
    uint64_t i = n % WIN_BITS, bit = UINT64_C(1) << (i % 64);
    bool was = (b[i / 64] & bit) != 0;
    b[i / 64] |= bit;
    return was;
}

static void stream_track(struct stream *st, uint64_t n) {
    st->received++;
    st->last = n;
    if (!st->any) {
        st->any = true;
        st->first = st->highest = n;
        st->unique = 1;
        seen_test_set(st->seen, n);
    } else if (n > st->highest) {
        if (n - st->highest >= WIN_BITS) memset(st->seen, 0, WIN_BITS / 8);
        else for (uint64_t s = st->highest + 1; s < n; s++) st->seen[(s % WIN_BITS) / 64] &= ~(UINT64_C(1) << (s % 64));
        st->seen[(n % WIN_BITS) / 64] &= ~(UINT64_C(1) << (n % 64));
        seen_test_set(st->seen, n);
        st->highest = n;
        st->unique++;
    } else if (st->highest - n >= WIN_BITS) {
        st->unique++;  // older than the window: taken as new
        st->reordered++;
    } else if (seen_test_set(st->seen, n)) {
        st->duplicates++;
    } else {
        st->unique++;
        st->reordered++;
    }
}

static uint64_t stream_missing(const struct stream *st) {
    return st->any && st->highest + 1 > st->unique ? st->highest + 1 - st->unique : 0;
}

// A short payload carries the low bits of n only: take the n with those bits nearest
// to the next expected one.
static uint64_t extend_short(const struct stream *st, uint64_t v, unsigned bits) {
    uint64_t mod = UINT64_C(1) << bits, expect = st->any ? st->highest + 1 : 0;
    uint64_t fwd = (v - expect) & (mod - 1), back = mod - fwd;
    return fwd < mod / 2 || back > expect ? expect + fwd : expect - back;
}

// ---- recv ----

static int mode_recv(const struct opts *o) {
    int fd = udp_socket(o, false);
    static struct rx r;
    rx_init(&r, fd, o);
    memset(stream_slot, 0, sizeof stream_slot);
    uint64_t received = 0, bytes = 0, after_first = 0, after_first_bytes = 0, t_first = 0;
    uint64_t content_errors = 0, untracked = 0, first_seq = 0, last_seq = 0;
    uint64_t *iv = NULL;
    size_t niv = 0, civ = 0;
    int n;
    while ((n = rx_batch(&r)) > 0) {
        if (!received) { t_first = r.t_last; first_seq = get_seq(r.bufs, r.m[0].msg_len); }
        else { after_first += (uint64_t)n; }
        if (o->per_interval) {
            size_t idx = (size_t)((r.t_last - t_first) / INTERVAL_NS);
            if (idx >= civ) {
                size_t nc = civ ? civ : 64;
                while (nc <= idx) nc *= 2;
                iv = realloc(iv, nc * sizeof *iv);
                if (!iv) fail("out of memory");
                memset(iv + civ, 0, (nc - civ) * sizeof *iv);
                civ = nc;
            }
            iv[idx] += (uint64_t)n;
            if (idx + 1 > niv) niv = idx + 1;
        }
        for (int i = 0; i < n; i++) {
            const uint8_t *p = r.bufs + (size_t)i * RX_SLOT;
            size_t len = r.m[i].msg_len;
            received++;
            bytes += len;
            if (received > 1 && r.t_last > t_first) after_first_bytes += len;
            last_seq = get_seq(p, len);
            if (!o->check) continue;
            if ((r.m[i].msg_hdr.msg_flags & MSG_TRUNC) || ((o->given & BIT(O_SIZE)) && len != o->size)
                || !content_ok(p, len, last_seq)) {
                content_errors++;
                continue;
            }
            if (len >= 8) {
                struct stream *st = stream_get((uint16_t)(last_seq >> 48));
                if (st) stream_track(st, last_seq & SEQ_MASK); else untracked++;
            } else if (len > 0) {
                struct stream *st = stream_get(0);
                unsigned bits = len >= 6 ? 48 : 8 * (unsigned)len;
                stream_track(st, extend_short(st, last_seq & ((UINT64_C(1) << bits) - 1), bits));
            }
        }
    }
    // Throughput from the first batch to the last: the datagrams after the first batch.
    if (after_first == 0) after_first_bytes = 0;
    uint64_t ns = received ? r.t_last - t_first : 0;
    uint64_t dups = 0, reord = 0, missing = 0;
    for (int s = 0; s < nstreams; s++) {
        dups += streams[s].duplicates;
        reord += streams[s].reordered;
        missing += stream_missing(&streams[s]);
    }
    json_header("recv");
    ju("received", received);
    ju("bytes", bytes);
    jf("seconds", ns / 1e9, 6);
    jf("pps", per_sec(after_first, ns), 1);
    jf("mbps", per_sec(after_first_bytes, ns) * 8 / 1e6, 3);
    jb("checked", o->check);
    if (o->check) {
        ju("content_errors", content_errors);
        ju("duplicates", dups);
        ju("reordered", reord);
        ju("missing", missing);
    } else {
        jnull("content_errors"); jnull("duplicates"); jnull("reordered"); jnull("missing");
    }
    if (received) { ju("first_seq", first_seq); ju("last_seq", last_seq); }
    else { jnull("first_seq"); jnull("last_seq"); }
    ju("socket_drops", r.drops);
    ju("rcvbuf", (uint64_t)sock_int(fd, SOL_SOCKET, SO_RCVBUF));
    js("stopped_by", r.stopped_by);
    if (o->check) {
        jopen("streams", '[');
        for (int s = 0; s < nstreams; s++) {
            const struct stream *st = &streams[s];
            jopen(NULL, '{');
            ju("id", st->id);
            ju("received", st->received);
            ju("duplicates", st->duplicates);
            ju("reordered", st->reordered);
            ju("missing", stream_missing(st));
            ju("first_seq", st->first);
            ju("last_seq", st->last);
            ju("highest_seq", st->highest);
            jclose('}');
        }
        jclose(']');
        ju("untracked", untracked);
    }
    if (o->per_interval) {
        ju("interval_ms", INTERVAL_NS / 1000000);
        jopen("intervals", '[');
        for (size_t i = 0; i < niv; i++) ju(NULL, iv[i]);
        jclose(']');
    }
    jb("interrupted", stop_flag);
    jend();
    return content_errors ? 1 : 0;
}

// ---- echo ----

static int mode_echo(const struct opts *o) {
    int fd = udp_socket(o, false);
    static struct rx r;
    rx_init(&r, fd, o);
    struct mmsghdr out[RX_BATCH];
    struct iovec oiov[RX_BATCH];
    struct send_errors e = {0};
    uint64_t received = 0, echoed = 0, bytes = 0, refused = 0, t_first = 0;
    int n;
    while ((n = rx_batch(&r)) > 0) {
        if (!received) t_first = r.t_last;
        unsigned k = 0;
        for (int i = 0; i < n; i++) {
            received++;
            if (r.m[i].msg_hdr.msg_namelen != sizeof(struct sockaddr_in) || !addr_allowed(r.from[i].sin_addr)) {
                refused++;
                continue;
            }
            oiov[k].iov_base = r.iov[i].iov_base;
            oiov[k].iov_len = r.m[i].msg_len;
            memset(&out[k], 0, sizeof out[k]);
            out[k].msg_hdr.msg_name = &r.from[i];
            out[k].msg_hdr.msg_namelen = sizeof r.from[i];
            out[k].msg_hdr.msg_iov = &oiov[k];
            out[k].msg_hdr.msg_iovlen = 1;
            k++;
        }
        uint64_t t_try = now_ns();
        for (unsigned done = 0; done < k;) {
            int s = sendmmsg(fd, out + done, k - done, 0);
            if (s > 0) {
                for (int j = 0; j < s; j++) bytes += out[done + j].msg_hdr.msg_iov->iov_len;
                done += (unsigned)s;
                echoed += (uint64_t)s;
                t_try = now_ns();
            } else if (!retryable(fd, errno, &e) || now_ns() - t_try > NO_PROGRESS_NS || stop_flag) {
                e.other++;  // this datagram is not echoed; the server goes on
                done++;
            }
        }
    }
    uint64_t ns = received ? r.t_last - t_first : 0;
    json_header("echo");
    ju("received", received);
    ju("echoed", echoed);
    ju("bytes", bytes);
    jf("seconds", ns / 1e9, 6);
    ju("refused_sources", refused);
    ju("socket_drops", r.drops);
    json_send_errors(&e);
    js("stopped_by", r.stopped_by);
    jb("interrupted", stop_flag);
    jend();
    return 0;
}

// ---- rtt ----

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *v, uint64_t n, double p) {
    uint64_t idx = (uint64_t)ceil(p * (double)n);
    return v[idx ? idx - 1 : 0] / 1e3;
}

static int mode_rtt(const struct opts *o) {
    int fd = udp_socket(o, true);
    size_t size = o->size, hlen = size < 8 ? size : 8;
    uint8_t hdr[8], *buf = malloc(RX_SLOT);
    uint64_t *samples = malloc(o->count * sizeof *samples);
    if (!buf || !samples) fail("out of memory");
    struct iovec iov[2] = {{hdr, hlen}, {NULL, size > 8 ? size - 8 : 0}};
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = size > 8 ? 2 : 1};
    struct send_errors e = {0};
    uint64_t timeout = o->timeout_ms * 1000000u;
    uint64_t measured = 0, nsamples = 0, lost = 0, stale = 0, content_errors = 0, refused = 0;
    for (uint64_t seq = 0; seq < o->warmup + o->count && !stop_flag; seq++) {
        bool record = seq >= o->warmup;
        put_seq(hdr, seq, size);
        iov[1].iov_base = (void *)pattern_for(seq);
        uint64_t t0 = now_ns(), end = t0 + timeout;
        bool ok = false;
        while (sendmsg(fd, &mh, 0) < 0) {
            if (!retryable(fd, errno, &e)) fail_sys("sendmsg");
            if (now_ns() >= end || stop_flag) break;
        }
        for (;;) {
            uint64_t t = now_ns();
            if (t >= end || stop_flag) break;
            struct timespec ts = {.tv_sec = (time_t)((end - t) / 1000000000u), .tv_nsec = (long)((end - t) % 1000000000u)};
            struct pollfd p = {.fd = fd, .events = POLLIN};
            if (ppoll(&p, 1, &ts, NULL) <= 0) continue;
            ssize_t r = recv(fd, buf, RX_SLOT, MSG_DONTWAIT | MSG_TRUNC);
            uint64_t t1 = now_ns();
            if (r < 0) {
                if (errno == EAGAIN || errno == EINTR) continue;
                if (errno == ECONNREFUSED) { refused++; break; }  // nobody listens: this one is lost
                fail_sys("recv");
            }
            if ((size_t)r < hlen || memcmp(buf, hdr, hlen)) { stale++; continue; }  // a late echo of an earlier one
            if ((size_t)r != size || !content_ok(buf, size, seq)) content_errors++;
            ok = true;
            if (record) samples[nsamples++] = t1 - t0;
            break;
        }
        if (record && !stop_flag) measured++;
        if (record && !ok && !stop_flag) lost++;
    }
    qsort(samples, nsamples, sizeof *samples, cmp_u64);
    json_header("rtt");
    ju("count", measured);
    ju("warmup", o->warmup);
    ju("lost", lost);
    ju("size", size);
    if (nsamples) {
        double sum = 0;
        for (uint64_t i = 0; i < nsamples; i++) sum += (double)samples[i];
        jf("p50_us", pct_us(samples, nsamples, 0.50), 3);
        jf("p90_us", pct_us(samples, nsamples, 0.90), 3);
        jf("p99_us", pct_us(samples, nsamples, 0.99), 3);
        jf("max_us", samples[nsamples - 1] / 1e3, 3);
        jf("min_us", samples[0] / 1e3, 3);
        jf("mean_us", sum / (double)nsamples / 1e3, 3);
    } else {
        jnull("p50_us"); jnull("p90_us"); jnull("p99_us"); jnull("max_us"); jnull("min_us"); jnull("mean_us");
    }
    ju("timeout_ms", o->timeout_ms);
    ju("stale", stale);
    ju("refused", refused);
    ju("content_errors", content_errors);
    json_send_errors(&e);
    jb("interrupted", stop_flag);
    jend();
    return content_errors ? 1 : 0;
}

// ---- flood ----

static uint64_t csum_add(uint64_t s, const uint8_t *p, size_t len) {
    for (size_t i = 0; i + 1 < len; i += 2) s += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1) s += (uint32_t)p[len - 1] << 8;
    return s;
}

static uint16_t csum_fold(uint64_t s) {
    while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

// The initial network namespace has the fixed inode PROC_NET_INIT_INO; pid 1's
// namespace (when readable) is the other tell. Unknown counts as initial.
static bool in_initial_netns(void) {
    struct stat self, init;
    if (stat("/proc/self/ns/net", &self) < 0) return true;
    if (self.st_ino == 0xEFFFFFF9u) return true;
    return stat("/proc/1/ns/net", &init) == 0 && self.st_ino == init.st_ino && self.st_dev == init.st_dev;
}

static int mode_flood(const struct opts *o) {
    if (in_initial_netns())
        fail("flood sends raw frames: run it inside a network namespace the test created, not the initial one");
    size_t size = o->size, framelen = 14 + 20 + 8 + size;
    int fd = socket(AF_PACKET, SOCK_RAW, 0);  // protocol 0: this socket receives nothing
    if (fd < 0) fail_sys("socket(AF_PACKET)");
    int ifindex = (int)if_nametoindex(o->ifname);
    if (!ifindex) fail("--ifname %s: %s", o->ifname, strerror(errno));
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strncpy(ifr.ifr_name, o->ifname, IFNAMSIZ - 1);
    if (ioctl(fd, SIOCGIFMTU, &ifr) < 0) fail("SIOCGIFMTU %s: %s", o->ifname, strerror(errno));
    if (20 + 8 + size > (size_t)ifr.ifr_mtu)
        fail("--size %zu needs an MTU of at least %zu; %s has %d (flood does not fragment)", size, size + 28,
             o->ifname, ifr.ifr_mtu);

    // TX ring: R frames, R a multiple of 256 so slot i always carries seqs with low byte
    // i & 0xFF and its pattern bytes are written once.
    int v = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0)
        fail("TX_RING setup failed: PACKET_VERSION TPACKET_V2: %s", strerror(errno));
    int one = 1;
    bool bypass = setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) == 0;
    if (!bypass) warn("PACKET_QDISC_BYPASS: %s (frames go through the qdisc)", strerror(errno));
    size_t off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);  // where the kernel reads a TX frame's data
    unsigned fsize = 128;
    while (fsize < off + framelen) fsize *= 2;
    unsigned nframes = fsize <= 2048 ? 2048 : 256, bsize = fsize > 65536 ? fsize : 65536;
    unsigned batch = nframes / 4 < 256 ? nframes / 4 : 256;
    struct tpacket_req req = {.tp_block_size = bsize, .tp_block_nr = nframes / (bsize / fsize),
                              .tp_frame_size = fsize, .tp_frame_nr = nframes};
    if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0)
        fail("TX_RING setup failed: PACKET_TX_RING (%u frames of %u bytes in %u blocks of %u): %s%s", nframes, fsize,
             req.tp_block_nr, bsize, strerror(errno),
             errno == EPERM ? " (needs CAP_NET_RAW)" : errno == ENOMEM ? " (ring memory)" : "");
    size_t ringlen = (size_t)req.tp_block_nr * bsize;
    uint8_t *ring = mmap(NULL, ringlen, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (ring == MAP_FAILED) fail("TX_RING setup failed: mmap of %zu bytes: %s", ringlen, strerror(errno));
    set_buf(fd, SO_SNDBUFFORCE, SO_SNDBUF, 16u << 20, "SO_SNDBUF");
    struct timeval tv = {1, 0};  // a blocking send waits for completions at most this long
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex};
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) fail("bind to %s: %s", o->ifname, strerror(errno));
    sll.sll_protocol = htons(ETH_P_IP);
    sll.sll_halen = 6;
    memcpy(sll.sll_addr, o->dst_mac, 6);

    // Headers and the per-low-byte partial UDP checksums (everything but dst port and seq).
    uint8_t tmpl[14 + 20 + 8];
    uint16_t udplen = (uint16_t)(8 + size), sport = ntohs(o->src.sin_port), dport0 = ntohs(o->dst.sin_port);
    memcpy(tmpl, o->dst_mac, 6);
    memcpy(tmpl + 6, o->src_mac, 6);
    put16(tmpl + 12, ETH_P_IP);
    uint8_t *ip = tmpl + 14, *udp = ip + 20;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    put16(ip + 2, (uint16_t)(20 + udplen));
    put16(ip + 6, 0x4000);  // DF: an atomic datagram, identification 0 (RFC 6864)
    ip[8] = 64;
    ip[9] = IPPROTO_UDP;
    memcpy(ip + 12, &o->src.sin_addr, 4);
    memcpy(ip + 16, &o->dst.sin_addr, 4);
    put16(ip + 10, (uint16_t)~csum_fold(csum_add(0, ip, 20)));
    put16(udp, sport);
    put16(udp + 2, dport0);
    put16(udp + 4, udplen);
    put16(udp + 6, 0);
    uint64_t pseudo = csum_add(0, ip + 12, 8) + IPPROTO_UDP + udplen;
    uint64_t cbase[256];
    for (int lb = 0; lb < 256; lb++)
        cbase[lb] = pseudo + sport + udplen + (size > 8 ? csum_add(0, pattern + lb + 8, size - 8) : 0);
    for (unsigned i = 0; i < nframes; i++) {
        uint8_t *f = ring + (size_t)i * fsize + off;
        memcpy(f, tmpl, sizeof tmpl);
        if (size > 8) memcpy(f + sizeof tmpl + 8, pattern_for(i), size - 8);
    }

    uint64_t base = o->stream << 48, limit = (o->given & BIT(O_COUNT)) ? o->count : UINT64_MAX;
    long double period = o->rate > 0 ? 1e9L / o->rate : 0;
    uint64_t queued = 0, wrong = 0, enobufs = 0, eagain = 0, stalls = 0;
    uint64_t t0 = now_ns(), last_progress = t0;
    uint64_t deadline = (o->given & BIT(O_SECONDS)) ? t0 + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
    while (queued < limit && !stop_flag) {
        uint64_t t = now_ns();
        if (t >= deadline) break;
        uint64_t upto = limit;
        if (period > 0) {
            // Frames are due K at a time (--burst K): frame n at floor(n / K) * K periods.
            uint64_t k = (uint64_t)o->burst;
            uint64_t due = ((uint64_t)((long double)(t - t0) / (period * k)) + 1) * k;  // frames due at or before t
            if (due < upto) upto = due;
            if (queued >= upto) {
                // Here queued == due, a multiple of K: the next burst starts at frame `queued`.
                uint64_t next = t0 + (uint64_t)llroundl((long double)queued * period);
                wait_until(next < deadline ? next : deadline);
                continue;
            }
        }
        uint64_t want = upto - queued < batch ? upto - queued : batch;
        for (uint64_t j = 0; j < want; j++) {
            struct tpacket2_hdr *h = (void *)(ring + (size_t)(queued % nframes) * fsize);
            uint32_t st = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
            if (st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) break;  // ring full: send() waits for it
            if (st & TP_STATUS_WRONG_FORMAT) wrong++;
            uint8_t *u = (uint8_t *)h + off + 14 + 20, *payload = u + 8;
            uint64_t seq = base | queued;
            uint16_t dport = (uint16_t)(dport0 + queued % (uint64_t)o->ports);
            size_t hlen = size < 8 ? size : 8;
            put_seq(payload, seq, size);
            put16(u + 2, dport);
            uint16_t c = (uint16_t)~csum_fold(cbase[queued & 0xFF] + dport + csum_add(0, payload, hlen));
            put16(u + 6, c ? c : 0xFFFF);
            h->tp_len = (uint32_t)framelen;
            __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
            queued++;
            last_progress = t;
        }
        if (sendto(fd, NULL, 0, 0, (struct sockaddr *)&sll, sizeof sll) < 0) {
            if (errno == ENOBUFS) enobufs++;
            else if (errno == EAGAIN) eagain++;
            else if (errno == ETIMEDOUT) stalls++;
            else if (errno != EINTR) fail_sys("send on the TX ring");
            if (now_ns() - last_progress > NO_PROGRESS_NS) fail("TX ring made no progress for 5 s: %s", strerror(errno));
        }
    }
    // Flush what is still queued, then read the final status of every frame.
    uint64_t unsent = 0, flush_end = now_ns() + 2000000000ull;
    for (;;) {
        if (sendto(fd, NULL, 0, 0, (struct sockaddr *)&sll, sizeof sll) < 0 && errno != EINTR && errno != ENOBUFS
            && errno != EAGAIN && errno != ETIMEDOUT)
            fail_sys("send on the TX ring");
        unsent = 0;
        for (unsigned i = 0; i < nframes; i++) {
            struct tpacket2_hdr *h = (void *)(ring + (size_t)i * fsize);
            if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING))
                unsent++;
        }
        if (!unsent || now_ns() >= flush_end) break;
        pause_briefly();
    }
    for (unsigned i = 0; i < nframes; i++) {
        struct tpacket2_hdr *h = (void *)(ring + (size_t)i * fsize);
        if (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_WRONG_FORMAT) wrong++;
    }
    uint64_t ns = now_ns() - t0, sent = queued - wrong - unsent;
    json_header("flood");
    ju("sent", sent);
    ju("bytes", sent * size);
    ju("frame_bytes", sent * framelen);
    ju("size", size);
    jf("seconds", ns / 1e9, 6);
    jf("pps", per_sec(sent, ns), 1);
    jf("mbps", per_sec(sent * size, ns) * 8 / 1e6, 3);
    jf("wire_mbps", per_sec(sent * framelen, ns) * 8 / 1e6, 3);
    if (period > 0) jf("rate", o->rate, 3);
    ju("ports", (uint64_t)o->ports);
    ju("stream", o->stream);
    jopen("ring", '{');
    ju("frames", nframes);
    ju("frame_size", fsize);
    ju("batch", batch);
    jb("qdisc_bypass", bypass);
    jclose('}');
    jopen("errors", '{');
    ju("enobufs", enobufs);
    ju("eagain", eagain);
    ju("stalls", stalls);
    ju("wrong_format", wrong);
    ju("unsent", unsent);
    jclose('}');
    jb("interrupted", stop_flag);
    jend();
    munmap(ring, ringlen);
    return 0;
}

int main(int argc, char **argv) {
    struct opts o;
    parse_opts(argc, argv, &o);
    for (size_t j = 0; j < PATTERN_LEN; j++) pattern[j] = (uint8_t)j;
    setup_process(&o);
    switch (o.mode) {
    case M_SEND: return mode_send(&o);
    case M_RECV: return mode_recv(&o);
    case M_ECHO: return mode_echo(&o);
    case M_RTT: return mode_rtt(&o);
    case M_FLOOD: return mode_flood(&o);
    }
    return 2;
}
