/* rtuclient.h: the C interface of rtud's client library (librtuclient.so).
 *
 * An application connects to rtud's control socket, creates a UDP socket of
 * its own (optionally with a reservation) or attaches to a named one made by
 * `rtuctl socket create` or declared in rtud's configuration, and moves
 * datagrams through the socket's shared-memory rings. The daemon's RTUs do
 * the protocol work; sending and receiving here is a copy into or out of a
 * ring, and a system call only to sleep or to wake the other side.
 *
 *   char err[256];
 *   rtu_client *c = rtu_connect(NULL, "myapp", err, sizeof err);
 *   rtu_socket *s = rtu_attach(c, "video0", err, sizeof err);
 *   rtu_send(s, buf, len, NULL, -1);           // to the connected peer, blocking
 *   ssize_t n = rtu_recv(s, buf, sizeof buf, &from, 1000);
 *   rtu_close(s);
 *   rtu_disconnect(c);
 *
 * Thread safety: a client (its control connection) is used by one thread at a
 * time; a socket may be used by one sending thread and one receiving thread
 * at once. Functions that fail return NULL or a negative errno value:
 *   -EAGAIN      nothing to receive / no room to send within the timeout
 *   -EMSGSIZE    datagram larger than the socket takes (rtu_max_datagram)
 *   -ENOTCONN    no destination and the socket is not connected
 *   -EPIPE       the socket was closed (by rtu_close, by the daemon, or
 *                because the daemon went away)
 *   -ECONNREFUSED / -EHOSTUNREACH / -ENETUNREACH  an ICMP error about an
 *                earlier datagram to *from (rtu_recv), in order with the data
 *   -EINVAL      a bad argument
 * and write a readable message into err (when given) for the NULL cases.
 */
#ifndef RTUCLIENT_H
#define RTUCLIENT_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct rtu_client rtu_client;
typedef struct rtu_socket rtu_socket;

/* Timeouts are in milliseconds: 0 does not wait, a negative one waits forever. */

/* Connects to rtud (control_path NULL: $RTUD_CONTROL or /run/rtud/control.sock). */
rtu_client *rtu_connect(const char *control_path, const char *client_name, char *err, size_t errlen);
/* Closes the connection; the daemon releases the sockets it created and
 * detaches the named ones. Sockets still open become closed (-EPIPE). */
void rtu_disconnect(rtu_client *client);

/* Attaches to a named socket. */
rtu_socket *rtu_attach(rtu_client *client, const char *name, char *err, size_t errlen);

/* Creates a socket owned by this connection: bound to `bind` ("a.b.c.d:port",
 * port 0 lets rtud choose), connected to `connect` if not NULL, and reserved
 * when rate_bps > 0 (message_size bytes per message, period_ns per RTU period,
 * 0 for the default 10 ms). */
rtu_socket *rtu_open(rtu_client *client, const char *bind, const char *connect, uint64_t rate_bps,
                     uint32_t message_size, uint64_t period_ns, char *err, size_t errlen);

/* As rtu_open, on the ATM PVC vpi/vci of the interface that holds `bind`
 * (link = "atm"): the socket's datagrams travel on that VC both ways. Needs
 * a privileged client (root or [limits] privileged_group). The daemon
 * refuses (NULL, with the reason in err) when the client is not privileged,
 * the interface is not ATM, the VC is not one of its PVCs, is its peer's
 * default VC (the first configured for it, which carries ARP, ICMP and
 * unbound sockets) or already has a socket, a connected peer is not the
 * VC's, or the reservation exceeds the VC's contract in cells/s (PCR of a
 * CBR VC, SCR of a VBR one, the PCR cap of a UBR one that has it), counting
 * ceil(rate * period / (8 * message_size)) messages a period of message_size
 * bytes each. VCI 0..31 are reserved: no PVC has one. */
rtu_socket *rtu_open_vc(rtu_client *client, const char *bind, const char *connect, uint64_t rate_bps,
                        uint32_t message_size, uint64_t period_ns, uint32_t vpi, uint32_t vci,
                        char *err, size_t errlen);

/* Lets go of the socket (an owned one is destroyed in the daemon) and frees it. */
void rtu_close(rtu_socket *socket);

/* The socket's local address (as bound by the daemon). */
int rtu_local_address(const rtu_socket *socket, struct sockaddr_in *out);
/* The largest datagram rtu_send takes whole. */
size_t rtu_max_datagram(const rtu_socket *socket);

/* Queues one datagram for `to` (NULL: the connected peer). 0 on success. */
int rtu_send(rtu_socket *socket, const void *data, size_t len, const struct sockaddr_in *to, int timeout_ms);
/* Receives one datagram: its length (possibly more than `cap`, when the copy
 * was truncated), its source in *from (if not NULL). */
ssize_t rtu_recv(rtu_socket *socket, void *buf, size_t cap, struct sockaddr_in *from, int timeout_ms);

/* One datagram of a batch. */
typedef struct rtu_message {
    void *data;               /* send: the payload; receive: the buffer */
    size_t len;               /* send: its length; receive: the buffer's size, then the datagram's length */
    struct sockaddr_in addr;  /* send: the destination (sin_port 0: connected peer); receive: the source */
} rtu_message;

/* Sends up to `count` datagrams; returns how many were queued (waiting up to
 * timeout_ms for room for the first), or a negative errno. */
int rtu_send_batch(rtu_socket *socket, rtu_message *messages, unsigned count, int timeout_ms);
/* Receives up to `count` datagrams (waiting up to timeout_ms for the first);
 * returns how many, or a negative errno. */
int rtu_recv_batch(rtu_socket *socket, rtu_message *messages, unsigned count, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
