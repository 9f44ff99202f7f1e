// Minimal C baselines for link-bench (issue 2, item 9): the same loops the
// Swift drivers run, written plainly, so the ratio Swift/C measures the cost
// of the Swift layer and not of the kernel. Also the traffic generator.
//
//   linkloop rx-packet IF MAC SECS   TPACKET_V3 ring (64 x 1 MiB) + BPF filter, copy each frame that fits
//                                    (and is not truncated) to a pool slot
//   linkloop tx-packet IF SECS       sendmmsg, 64 frames per call, PACKET_QDISC_BYPASS
//   linkloop rx-tap NAME SECS        attach to TAP NAME, read() until EAGAIN
//   linkloop tx-tap NAME SECS        attach to TAP NAME, write() 64-byte frames
//   linkloop gen IF DSTMAC SECS      generator: sendmmsg 64-byte frames to DSTMAC on IF
// Receive is measured receiver-bound: sleep 50 ms while the generator fills
// the ring/queue, then drain it; `busy` is the time spent draining.
// Output (one line): frames=N seconds=S busy=B cpu=C
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define FRAME 64
#define BATCH 64
#define SLOT 2048
#define SLOTS 4096
#define RX_BATCH 256
// Receive is measured receiver-bound: pause PAUSE_US while the generator
// fills the ring (TPACKET_V3) or the TAP queue, then time the drain.
#define PAUSE_US 50000
#define RING_BLOCK (1u << 20)
#define RING_BLOCKS 64u

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
}

static void die(const char *what) { perror(what); exit(1); }

static void parse_mac(const char *s, uint8_t *m) {
    if (sscanf(s, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) != 6) {
        fprintf(stderr, "bad MAC %s\n", s);
        exit(2);
    }
}

// A pool like BufferPool: one arena, a stack of free slot indices.
static uint8_t *arena;
static int32_t freelist[SLOTS];
static int nfree;
static void pool_init(void) {
    arena = mmap(NULL, (size_t)SLOT * SLOTS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (arena == MAP_FAILED) die("mmap");
    for (int i = 0; i < SLOTS; i++) freelist[i] = SLOTS - 1 - i;
    nfree = SLOTS;
}

static int packet_socket(void) {
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK, 0);
    if (fd < 0) die("socket");
    return fd;
}

static void packet_bind(int fd, const char *ifname) {
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
                               .sll_ifindex = (int)if_nametoindex(ifname) };
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind");
}

static void fill_frame(uint8_t *f, const uint8_t *dst, uint32_t seq) {
    memset(f, 0, FRAME);
    memcpy(f, dst, 6);
    const uint8_t src[6] = {0x02, 0, 0xC6, 0x12, 0x09, 0x99};
    memcpy(f + 6, src, 6);
    f[12] = 0x88; f[13] = 0xB5;   // local experimental EtherType: nobody processes it
    memcpy(f + 14, &seq, 4);
}

/// busy < 0: a transmit loop, busy all the time.
static void report(long long frames, double t0, double c0, double busy) {
    double secs = now() - t0, c = cpu() - c0;
    printf("frames=%lld seconds=%.3f busy=%.4f cpu=%.3f\n", frames, secs, busy < 0 ? secs : busy, c);
}

static int rx_packet(const char *ifname, const char *mac, double secs) {
    pool_init();
    int fd = packet_socket();
    char expr[128];
    snprintf(expr, sizeof expr, "ether dst %s or ether broadcast", mac);
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) { fprintf(stderr, "filter\n"); return 1; }
    struct sock_fprog fp = { .len = prog.bf_len, .filter = (struct sock_filter *)prog.bf_insns };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fp, sizeof fp) < 0) die("filter");
    int v = TPACKET_V3;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0) die("version");
    struct tpacket_req3 req = { .tp_block_size = RING_BLOCK, .tp_block_nr = RING_BLOCKS, .tp_frame_size = 2048,
                                .tp_frame_nr = (size_t)RING_BLOCKS * RING_BLOCK / 2048, .tp_retire_blk_tov = 1 };
    if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) die("rx ring");
    uint8_t *ring = mmap(NULL, (size_t)RING_BLOCKS * RING_BLOCK, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (ring == MAP_FAILED) die("mmap ring");
    int one = 1;
    setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    packet_bind(fd, ifname);

    int32_t batch[RX_BATCH];
    long long frames = 0;
    unsigned block = 0;
    double busy = 0;
    double t0 = now(), c0 = cpu(), end = t0 + secs, t1 = t0;
    while (now() < end) {
        struct tpacket_block_desc *b = (void *)(ring + ((size_t)block * RING_BLOCK));
        if (!(__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER)) {
            // Ring drained: end of a busy period; let the generator refill it.
            busy += now() - t1;
            usleep(PAUSE_US);
            t1 = now();
            continue;
        }
        uint32_t n = b->hdr.bh1.num_pkts;
        uint8_t *f = (uint8_t *)b + b->hdr.bh1.offset_to_first_pkt;
        int nb = 0;
        for (uint32_t i = 0; i < n; i++) {
            struct tpacket3_hdr *h = (void *)f;
            struct sockaddr_ll *sll = (void *)(f + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
            // The length check is the driver's truncation check, and what
            // keeps the copy inside the slot.
            if (sll->sll_pkttype != PACKET_OUTGOING && nfree > 0
                && h->tp_snaplen <= SLOT - 64 && h->tp_snaplen >= h->tp_len) {
                int32_t s = freelist[--nfree];
                memcpy(arena + (size_t)s * SLOT + 64, f + h->tp_mac, h->tp_snaplen);
                batch[nb++] = s;
                if (nb == RX_BATCH) { frames += nb; while (nb) freelist[nfree++] = batch[--nb]; }
            }
            f += h->tp_next_offset;
        }
        frames += nb;
        while (nb) freelist[nfree++] = batch[--nb];
        __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        block = (block + 1) % RING_BLOCKS;
    }
    busy += now() - t1;
    report(frames, t0, c0, busy);
    return 0;
}

static int send_loop(int fd, const uint8_t *dst, double secs, int tap) {
    static uint8_t frames[BATCH][FRAME];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    uint32_t seq = 0;
    long long sent = 0;
    double t0 = now(), c0 = cpu(), end = t0 + secs;
    while (now() < end) {
        for (int i = 0; i < BATCH; i++) fill_frame(frames[i], dst, seq++);
        if (tap) {
            for (int i = 0; i < BATCH; i++) {
                ssize_t r = write(fd, frames[i], FRAME);
                if (r == FRAME) sent++;
                else if (r < 0 && errno != EAGAIN && errno != EINTR) die("write");
            }
            continue;
        }
        memset(msgs, 0, sizeof msgs);
        for (int i = 0; i < BATCH; i++) {
            iov[i].iov_base = frames[i];
            iov[i].iov_len = FRAME;
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int r = sendmmsg(fd, msgs, BATCH, MSG_DONTWAIT);
        if (r > 0) sent += r;
        else if (r < 0 && errno != EAGAIN && errno != ENOBUFS && errno != EINTR) die("sendmmsg");
    }
    report(sent, t0, c0, -1);
    return 0;
}

static int tap_attach(const char *name) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK);
    if (fd < 0) die("open tun");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
    return fd;
}

static int rx_tap(const char *name, double secs) {
    pool_init();
    int fd = tap_attach(name);
    int32_t batch[RX_BATCH];
    long long frames = 0;
    double busy = 0;
    double t0 = now(), c0 = cpu(), end = t0 + secs, t1 = t0;
    while (now() < end) {
        int nb = 0, empty = 0;
        while (nb < RX_BATCH && nfree > 0) {
            int32_t s = freelist[--nfree];
            ssize_t r = read(fd, arena + (size_t)s * SLOT + 64, SLOT - 64);
            if (r < 0) { freelist[nfree++] = s; empty = errno == EAGAIN; break; }
            batch[nb++] = s;
        }
        frames += nb;
        while (nb) freelist[nfree++] = batch[--nb];
        if (empty) {
            busy += now() - t1;
            usleep(PAUSE_US);
            t1 = now();
        }
    }
    busy += now() - t1;
    report(frames, t0, c0, busy);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: see the header of linkloop.c\n"); return 2; }
    const char *mode = argv[1];
    uint8_t mac[6] = {0x02, 0, 0xC6, 0x12, 0x09, 0x01};
    if (!strcmp(mode, "rx-packet") && argc == 5) return rx_packet(argv[2], argv[3], atof(argv[4]));
    if (!strcmp(mode, "rx-tap")) return rx_tap(argv[2], atof(argv[3]));
    if (!strcmp(mode, "tx-tap")) return send_loop(tap_attach(argv[2]), mac, atof(argv[3]), 1);
    if (!strcmp(mode, "tx-packet")) {
        int fd = packet_socket();
        packet_bind(fd, argv[2]);
        return send_loop(fd, mac, atof(argv[3]), 0);
    }
    if (!strcmp(mode, "gen") && argc == 5) {
        parse_mac(argv[3], mac);
        int fd = packet_socket();
        packet_bind(fd, argv[2]);
        return send_loop(fd, mac, atof(argv[4]), 0);
    }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
}
