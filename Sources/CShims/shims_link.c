// Link-layer shims; see include/shims_link.h for why each exists.
#define _GNU_SOURCE
#include "shims_link.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <pcap/pcap.h>

#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif

// ---- TAP ---------------------------------------------------------------------

int rtu_tap_open(const char *name, int persist, char *name_out) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
    if (name) strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); return -e; }
    if (persist && ioctl(fd, TUNSETPERSIST, 1) < 0) { int e = errno; close(fd); return -e; }
    if (name_out) { memcpy(name_out, ifr.ifr_name, IFNAMSIZ); name_out[IFNAMSIZ - 1] = 0; }
    return fd;
}

// ---- Interface configuration -------------------------------------------------

/// Runs one SIOC* ioctl on a throwaway datagram socket (the ioctls need some socket).
static int if_ioctl(unsigned long request, struct ifreq *ifr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    int r = ioctl(s, request, ifr) < 0 ? -errno : 0;
    close(s);
    return r;
}

static void ifr_named(struct ifreq *ifr, const char *name) {
    memset(ifr, 0, sizeof *ifr);
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
}

int rtu_if_set_up(const char *name, int up) {
    struct ifreq ifr;
    ifr_named(&ifr, name);
    int r = if_ioctl(SIOCGIFFLAGS, &ifr);
    if (r < 0) return r;
    if (up) ifr.ifr_flags |= IFF_UP; else ifr.ifr_flags &= ~IFF_UP;
    return if_ioctl(SIOCSIFFLAGS, &ifr);
}

int rtu_if_get_mtu(const char *name) {
    struct ifreq ifr;
    ifr_named(&ifr, name);
    int r = if_ioctl(SIOCGIFMTU, &ifr);
    return r < 0 ? r : ifr.ifr_mtu;
}

int rtu_if_set_mtu(const char *name, int mtu) {
    struct ifreq ifr;
    ifr_named(&ifr, name);
    ifr.ifr_mtu = mtu;
    return if_ioctl(SIOCSIFMTU, &ifr);
}

int rtu_if_get_hwaddr(const char *name, uint8_t *mac) {
    struct ifreq ifr;
    ifr_named(&ifr, name);
    int r = if_ioctl(SIOCGIFHWADDR, &ifr);
    if (r == 0) memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
    return r;
}

int rtu_if_index(const char *name) {
    unsigned i = if_nametoindex(name);
    return i == 0 ? -errno : (int)i;
}

// ---- AF_PACKET ---------------------------------------------------------------

/// Compiles `expr` with libpcap for Ethernet and attaches it as a classic BPF
/// socket filter. libpcap's compiler is the reference for these expressions;
/// the program is copied by the kernel, so it is freed at once.
static int attach_filter(int fd, const char *expr, char *errbuf) {
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    if (!p) return -ENOMEM;
    struct bpf_program prog;
    if (pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) != 0) {
        if (errbuf) snprintf(errbuf, 256, "%s", pcap_geterr(p));
        pcap_close(p);
        return -EINVAL;
    }
    struct sock_fprog fprog = {
        .len = (unsigned short)prog.bf_len,
        .filter = (struct sock_filter *)prog.bf_insns,
    };
    int r = setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0 ? -errno : 0;
    pcap_freecode(&prog);
    pcap_close(p);
    return r;
}

int rtu_packet_open(int ifindex, int version, uint32_t block_size, uint32_t block_count,
                    uint32_t frame_size, uint32_t retire_ms, const char *filter, char *errbuf,
                    rtu_packet_ring *out) {
    if (version != TPACKET_V2 && version != TPACKET_V3) return -EINVAL;
    if (version == TPACKET_V3) frame_size = 2048;
    // V2 slots must tile each block exactly, so slot i is at i × frame_size.
    if (frame_size == 0 || frame_size % TPACKET_ALIGNMENT != 0 || block_size % frame_size != 0) return -EINVAL;
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    int r = 0;
    void *ring = MAP_FAILED;
    size_t bytes = (size_t)block_size * block_count;
    unsigned frames = (unsigned)(bytes / frame_size);
    if (filter && (r = attach_filter(fd, filter, errbuf)) < 0) goto fail;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) { r = -errno; goto fail; }
    if (version == TPACKET_V3) {
        struct tpacket_req3 req;
        memset(&req, 0, sizeof req);
        req.tp_block_size = block_size;
        req.tp_block_nr = block_count;
        req.tp_frame_size = frame_size;
        req.tp_frame_nr = frames;
        req.tp_retire_blk_tov = retire_ms;
        if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { r = -errno; goto fail; }
    } else {
        struct tpacket_req req = { .tp_block_size = block_size, .tp_block_nr = block_count,
                                   .tp_frame_size = frame_size, .tp_frame_nr = frames };
        if (setsockopt(fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof req) < 0) { r = -errno; goto fail; }
    }
    ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_LOCKED | MAP_POPULATE, fd, 0);
    if (ring == MAP_FAILED) // MAP_LOCKED needs RLIMIT_MEMLOCK or CAP_IPC_LOCK; the ring works without.
        ring = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (ring == MAP_FAILED) { r = -errno; goto fail; }
    int one = 1;
    // Both are optimisations with fallbacks: the BPF filter and the pkttype
    // check in the ring walk also keep our own transmissions out.
    (void)setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one);
    (void)setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex;
    if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) { r = -errno; goto fail; }
    out->fd = fd;
    out->version = version;
    out->ring = ring;
    out->ring_bytes = bytes;
    out->block_size = block_size;
    out->block_count = block_count;
    out->frame_size = frame_size;
    out->frame_count = frames;
    return 0;
fail:
    if (ring != MAP_FAILED) munmap(ring, bytes);
    close(fd);
    return r;
}

void rtu_packet_close(rtu_packet_ring *r) {
    if (r->ring) munmap(r->ring, r->ring_bytes);
    if (r->fd >= 0) close(r->fd);
    r->ring = NULL;
    r->fd = -1;
}

static int membership(int fd, int ifindex, int type, const uint8_t *mac, int add) {
    struct packet_mreq m;
    memset(&m, 0, sizeof m);
    m.mr_ifindex = ifindex;
    m.mr_type = (unsigned short)type;
    if (mac) { m.mr_alen = 6; memcpy(m.mr_address, mac, 6); }
    int opt = add ? PACKET_ADD_MEMBERSHIP : PACKET_DROP_MEMBERSHIP;
    return setsockopt(fd, SOL_PACKET, opt, &m, sizeof m) < 0 ? -errno : 0;
}

int rtu_packet_set_promisc(int fd, int ifindex, int on) {
    return membership(fd, ifindex, PACKET_MR_PROMISC, NULL, on);
}

int rtu_packet_add_multicast(int fd, int ifindex, const uint8_t *mac) {
    return membership(fd, ifindex, PACKET_MR_MULTICAST, mac, 1);
}

int rtu_packet_stats(int fd, uint64_t *packets, uint64_t *drops) {
    // The kernel copies struct tpacket_stats (V2) or the larger tpacket_stats_v3,
    // whose first two fields are the same, and never more than `len`.
    struct tpacket_stats_v3 st;
    memset(&st, 0, sizeof st);
    socklen_t len = sizeof st;
    if (getsockopt(fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0) return -errno;
    *packets = st.tp_packets;
    *drops = st.tp_drops;
    return 0;
}

int rtu_packet_send_batch(int fd, void *const *frames, const uint32_t *lengths, unsigned count) {
    enum { MAX = 64 };
    struct mmsghdr msgs[MAX];
    struct iovec iov[MAX];
    if (count > MAX) count = MAX;
    memset(msgs, 0, sizeof(struct mmsghdr) * count);
    for (unsigned i = 0; i < count; i++) {
        iov[i].iov_base = frames[i];
        iov[i].iov_len = lengths[i];
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n;
    do { n = sendmmsg(fd, msgs, count, MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

// ---- libpcap capture files -----------------------------------------------------

typedef struct { pcap_t *p; pcap_dumper_t *d; } rtu_pcap;

void *rtu_pcap_open(const char *path, int snaplen, char *errbuf) {
    pcap_t *p = pcap_open_dead(DLT_EN10MB, snaplen);
    if (!p) { if (errbuf) snprintf(errbuf, 256, "pcap_open_dead failed"); return NULL; }
    pcap_dumper_t *d = pcap_dump_open(p, path);
    if (!d) {
        if (errbuf) snprintf(errbuf, 256, "%s", pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    rtu_pcap *h = malloc(sizeof *h);
    if (!h) { pcap_dump_close(d); pcap_close(p); return NULL; }
    h->p = p;
    h->d = d;
    return h;
}

void rtu_pcap_write(void *handle, int64_t sec, int32_t usec, const void *data, uint32_t caplen, uint32_t len) {
    rtu_pcap *h = handle;
    struct pcap_pkthdr hdr;
    hdr.ts.tv_sec = (time_t)sec;
    hdr.ts.tv_usec = usec;
    hdr.caplen = caplen;
    hdr.len = len;
    pcap_dump((u_char *)h->d, &hdr, data);
}

int rtu_pcap_flush(void *handle) {
    return pcap_dump_flush(((rtu_pcap *)handle)->d) == 0 ? 0 : -EIO;
}

void rtu_pcap_close(void *handle) {
    rtu_pcap *h = handle;
    if (!h) return;
    pcap_dump_close(h->d);
    pcap_close(h->p);
    free(h);
}

// ---- Namespaces ----------------------------------------------------------------

int rtu_enter_netns(const char *name) {
    char path[256];
    snprintf(path, sizeof path, "/var/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -errno;
    int r = setns(fd, CLONE_NEWNET) < 0 ? -errno : 0;
    close(fd);
    return r;
}

void rtu_realtime(int64_t *sec, int32_t *usec) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    *sec = ts.tv_sec;
    *usec = (int32_t)(ts.tv_nsec / 1000);
}
