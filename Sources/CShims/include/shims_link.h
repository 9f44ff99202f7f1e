// Link-layer shims (TAP, AF_PACKET, libpcap). Owned by the Links module.
//
// Why C: TUNSETIFF and the SIOC* interface ioctls are variadic ioctl calls on
// kernel structs (struct ifreq) Swift cannot call; TPACKET_V2/V3 ring set-up
// and walking needs struct tpacket_req(3) / tpacket_block_desc /
// tpacket2_hdr / tpacket3_hdr and acquire/release ordering on the ring's
// status words; sendmmsg needs struct
// mmsghdr (_GNU_SOURCE); libpcap's headers are kept out of the Swift modules.
// Every function returns 0 (or a non-negative value) on success and -errno on
// failure, read immediately after the failing call.
#ifndef RTU_SHIMS_LINK_H
#define RTU_SHIMS_LINK_H
#include <stdint.h>
#include <stddef.h>
#include <linux/if_packet.h>

// ---- TAP --------------------------------------------------------------------

/// Opens /dev/net/tun (O_RDWR|O_NONBLOCK|O_CLOEXEC) and attaches it with
/// TUNSETIFF (IFF_TAP|IFF_NO_PI) to `name` (created if absent; "" lets the
/// kernel choose). The kernel's name is written to `name_out` (IFNAMSIZ bytes).
/// `persist` sets TUNSETPERSIST (the device outlives the descriptor).
/// Returns the descriptor or -errno.
int rtu_tap_open(const char *name, int persist, char *name_out);

// ---- Interface configuration (SIOC* ioctls on a throwaway AF_INET socket, --
// ---- in the calling thread's network namespace) ----------------------------

int rtu_if_set_up(const char *name, int up);
int rtu_if_get_mtu(const char *name);
int rtu_if_set_mtu(const char *name, int mtu);
/// Reads the interface's own MAC (SIOCGIFHWADDR) into `mac[6]`.
int rtu_if_get_hwaddr(const char *name, uint8_t *mac);
/// if_nametoindex, with -errno on failure.
int rtu_if_index(const char *name);

// ---- AF_PACKET with a TPACKET_V2 or TPACKET_V3 receive ring ------------------

/// What `rtu_packet_open` set up.
typedef struct rtu_packet_ring {
    int fd;
    int version;           // TPACKET_V2 or TPACKET_V3
    void *ring;            // mmap'd receive ring: block_count blocks of block_size
    size_t ring_bytes;
    uint32_t block_size;
    uint32_t block_count;
    uint32_t frame_size;   // TPACKET_V2: bytes per frame slot (slots are contiguous)
    uint32_t frame_count;  // TPACKET_V2: number of slots
} rtu_packet_ring;

/// Opens an AF_PACKET SOCK_RAW socket on `ifindex` in this order, so no frame
/// reaches the socket before the filter: socket(protocol 0: nothing
/// delivered) → SO_ATTACH_FILTER (if `filter` is non-NULL: a libpcap
/// expression compiled for DLT_EN10MB) → PACKET_VERSION `version` →
/// PACKET_RX_RING → mmap → PACKET_QDISC_BYPASS → PACKET_IGNORE_OUTGOING →
/// bind(ETH_P_ALL, ifindex). The socket is non-blocking.
///
/// TPACKET_V3: blocks of `block_size` filled with frames of any size, handed
/// over when full or after `retire_ms`; `frame_size` is ignored (2048 is
/// given to the kernel, which only checks it).
/// TPACKET_V2: slots of `frame_size` bytes, each handed over on its own;
/// `frame_size` must be a multiple of TPACKET_ALIGNMENT dividing `block_size`
/// (so the slots are contiguous: slot i at i × frame_size), `retire_ms` is
/// ignored. See `rtu_packet_v2_frame_size`.
///
/// On failure all is undone and -errno returned (-EINVAL also for a filter
/// that does not compile, its message in `errbuf`, 256 bytes, when non-NULL,
/// and for an unknown version or V2 geometry).
int rtu_packet_open(int ifindex, int version, uint32_t block_size, uint32_t block_count,
                    uint32_t frame_size, uint32_t retire_ms, const char *filter, char *errbuf,
                    rtu_packet_ring *out);
void rtu_packet_close(rtu_packet_ring *ring);

/// PACKET_ADD_MEMBERSHIP / PACKET_DROP_MEMBERSHIP with PACKET_MR_PROMISC.
int rtu_packet_set_promisc(int fd, int ifindex, int on);
/// PACKET_ADD_MEMBERSHIP with PACKET_MR_MULTICAST for a group MAC.
int rtu_packet_add_multicast(int fd, int ifindex, const uint8_t *mac);
/// PACKET_STATISTICS (frames queued and dropped for lack of room in the
/// ring, either version; reading resets the kernel's counts).
int rtu_packet_stats(int fd, uint64_t *packets, uint64_t *drops);

/// One sendmmsg(2) for up to `count` frames (at most 64 per call, the caller
/// loops). Returns the number of frames the kernel took (>= 0), or -errno
/// when it took none (-EAGAIN: would block).
int rtu_packet_send_batch(int fd, void *const *frames, const uint32_t *lengths, unsigned count);

/// Walking the ring, inline because it runs per frame. A block belongs to
/// user space once its status has TP_STATUS_USER (acquire load); user space
/// hands it back by storing TP_STATUS_KERNEL (release store).
static inline int rtu_block_ready(const void *block) {
    const struct tpacket_block_desc *b = (const struct tpacket_block_desc *)block;
    return (__atomic_load_n(&b->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}
static inline void rtu_block_release(void *block) {
    struct tpacket_block_desc *b = (struct tpacket_block_desc *)block;
    __atomic_store_n(&b->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}
static inline uint32_t rtu_block_packet_count(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.num_pkts;
}
/// Offset of the first frame header from the block start.
static inline uint32_t rtu_block_first_offset(const void *block) {
    return ((const struct tpacket_block_desc *)block)->hdr.bh1.offset_to_first_pkt;
}

/// Frame header accessors (tpacket3_hdr at `frame`).
static inline uint32_t rtu_frame_next_offset(const void *f) { return ((const struct tpacket3_hdr *)f)->tp_next_offset; }
static inline uint32_t rtu_frame_snaplen(const void *f) { return ((const struct tpacket3_hdr *)f)->tp_snaplen; }
static inline uint32_t rtu_frame_wirelen(const void *f) { return ((const struct tpacket3_hdr *)f)->tp_len; }
static inline uint32_t rtu_frame_mac_offset(const void *f) { return ((const struct tpacket3_hdr *)f)->tp_mac; }
/// sll_pkttype of the frame (PACKET_HOST, _BROADCAST, _MULTICAST, _OTHERHOST, _OUTGOING = 4).
/// The sockaddr_ll follows the header at TPACKET_ALIGN(sizeof(struct tpacket3_hdr)).
static inline uint8_t rtu_frame_pkttype(const void *f) {
    return ((const uint8_t *)f)[TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) + offsetof(struct sockaddr_ll, sll_pkttype)];
}

/// Walking a TPACKET_V2 ring. Each slot starts with a tpacket2_hdr whose
/// tp_status says who owns it: user space once TP_STATUS_USER is set (acquire
/// load), the kernel again once user space stores TP_STATUS_KERNEL (release
/// store, after the frame was copied out).
static inline int rtu_slot_ready(const void *slot) {
    return (__atomic_load_n(&((const struct tpacket2_hdr *)slot)->tp_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) != 0;
}
static inline void rtu_slot_release(void *slot) {
    __atomic_store_n(&((struct tpacket2_hdr *)slot)->tp_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
}
static inline uint32_t rtu_slot_snaplen(const void *s) { return ((const struct tpacket2_hdr *)s)->tp_snaplen; }
static inline uint32_t rtu_slot_wirelen(const void *s) { return ((const struct tpacket2_hdr *)s)->tp_len; }
/// Offset of the frame's first byte from the slot start.
static inline uint32_t rtu_slot_mac_offset(const void *s) { return ((const struct tpacket2_hdr *)s)->tp_mac; }
/// Bytes at the start of a slot that are not frame: the header and the sockaddr_ll after it.
static inline uint32_t rtu_slot_header_bytes(void) {
    return (uint32_t)(TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + sizeof(struct sockaddr_ll));
}
/// sll_pkttype of the frame in a slot (see rtu_frame_pkttype).
static inline uint8_t rtu_slot_pkttype(const void *s) {
    return ((const uint8_t *)s)[TPACKET_ALIGN(sizeof(struct tpacket2_hdr)) + offsetof(struct sockaddr_ll, sll_pkttype)];
}
/// Asks for the cache line at `p` ahead of use (a hint: never faults). The V2
/// walk reads one slot per 2 KiB, two per page, so the hardware prefetchers,
/// which stop at page boundaries, rarely fetch the next slot in time.
static inline void rtu_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }
/// The smallest power-of-two slot that holds a frame of `max_frame` bytes
/// whole: the kernel puts the frame's network header at
/// TPACKET_ALIGN(header bytes + 16) and the link header before it. A power
/// of two is a multiple of TPACKET_ALIGNMENT and divides every power-of-two
/// block size at least as large (so slots never straddle blocks).
static inline uint32_t rtu_packet_v2_frame_size(uint32_t max_frame) {
    uint32_t need = (uint32_t)TPACKET_ALIGN(rtu_slot_header_bytes() + 16) + max_frame;
    uint32_t size = TPACKET_ALIGNMENT;
    while (size < need && size < (1u << 30)) size <<= 1;
    return size;
}

// ---- libpcap capture files --------------------------------------------------

/// Opens a capture file for writing (pcap_open_dead(DLT_EN10MB, snaplen) +
/// pcap_dump_open). Returns an opaque handle or NULL (message in errbuf, 256 bytes).
void *rtu_pcap_open(const char *path, int snaplen, char *errbuf);
void rtu_pcap_write(void *handle, int64_t sec, int32_t usec, const void *data, uint32_t caplen, uint32_t len);
int rtu_pcap_flush(void *handle);
void rtu_pcap_close(void *handle);

// ---- Namespaces (tests, benchmarks, and rtud started outside its netns) ----

/// setns(CLONE_NEWNET) of the calling thread into /var/run/netns/<name>.
int rtu_enter_netns(const char *name);

/// clock_gettime(CLOCK_REALTIME) split into seconds and microseconds, for capture timestamps.
void rtu_realtime(int64_t *sec, int32_t *usec);

#endif
