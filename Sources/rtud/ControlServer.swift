import Config
import Control
import Glibc
import Node
import RTUScheduler
import SharedRings
import Stack
import UserUDP
import Wire

/// One connected client: its peer credentials and what it holds.
final class ClientSession {
    let connection: ControlConnection
    let pid: Int32
    let uid: UInt32
    let privileged: Bool
    var greeted = false
    var name = ""
    /// Sockets this client created or attached (ids).
    var held: Set<UInt32> = []

    init(connection: ControlConnection, pid: Int32, uid: UInt32, privileged: Bool) {
        self.connection = connection
        self.pid = pid
        self.uid = uid
        self.privileged = privileged
    }
}

/// A socket of the daemon: a node socket, the shared memory its client maps,
/// and who may use it.
final class DaemonSocket {
    let spec: SocketSpec
    let udp: UDPSocket
    let region: SocketRegion
    let ownerUID: UInt32
    /// Outlives the connection that made it (named sockets made by rtuctl or declared).
    let persistent: Bool
    /// The client attached to it, at most one (its rings are single-producer single-consumer).
    weak var holder: ClientSession?
    /// The connection that created it, when not persistent: it counts the
    /// socket in its `held` set (and its limit) until the socket goes, even
    /// unattached or deleted by another client.
    weak var creator: ClientSession?

    /// The node socket's id and name (the spec's name, else the node's "udpN").
    var id: UInt32 { UInt32(udp.id) }
    var name: String { udp.name }

    init(spec: SocketSpec, udp: UDPSocket, region: SocketRegion, ownerUID: UInt32, persistent: Bool) {
        self.spec = spec
        self.udp = udp
        self.region = region
        self.ownerUID = ownerUID
        self.persistent = persistent
    }
}

/// A refusal with its code and the words for the client.
struct Refusal: Error {
    let code: ControlErrorCode
    let message: String
    init(_ code: ControlErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// The control plane (ARCHITECTURE.md, "Applications"): accepts clients on
/// the control socket, checks their credentials, and creates, attaches,
/// closes and lists sockets for them. Runs on the daemon's control thread
/// only. Whatever a client sends, it gets a typed reply or is disconnected;
/// when it goes, what it held is released.
final class ControlServer {
    /// Bytes of each ring of a client socket: room for three largest datagrams.
    static let ringBytes = 1 << 18
    /// A reserved socket's rings hold at least this long of its rate, so an
    /// application that the machine's load keeps off the CPU for a while
    /// loses nothing the RTUs delivered (up to `maxRingBytes`).
    static let ringSeconds = 0.2
    static let maxRingBytes = 1 << 24

    /// Ring bytes for a socket reserving `bitsPerSecond` (nil: best effort).
    static func ringCapacity(bitsPerSecond: UInt64?) -> Int {
        let wanted = Int(min(Double(maxRingBytes), Double(bitsPerSecond ?? 0) / 8 * ringSeconds))
        var capacity = ringBytes
        while capacity < wanted { capacity <<= 1 }
        return capacity
    }
    static let daemonVersion = "rtud 0.5"
    /// Most entries a listing reply is chosen from: about what a 64 KiB
    /// message holds (a page ends sooner when they are larger), so a page
    /// costs the same however many sockets and RTUs exist, and listing them
    /// all stays linear in their number.
    static let listingChunk = 512

    unowned let daemon: Daemon
    let node: Node
    var limits: LimitsConfig
    private let listener: ControlListener
    private let privilegedGID: gid_t?
    private var clients: [ClientSession] = []
    private var sockets: [UInt32: DaemonSocket] = [:]
    private var byName: [String: UInt32] = [:]
    /// Ring violations the ports had counted at the last sweep, and when the
    /// last look at every socket was.
    private var violationsSeen: UInt64 = 0
    private var lastFullSweep = Instant(nanoseconds: 0)
    let counters = ServerCounters()

    final class ServerCounters {
        var accepted: UInt64 = 0
        var requests: UInt64 = 0
        var errors: UInt64 = 0
        var badMessages: UInt64 = 0
        var disconnectedSlow: UInt64 = 0
        var socketsCreated: UInt64 = 0
        var socketsClosed: UInt64 = 0
        var ringViolations: UInt64 = 0
        var released: UInt64 = 0

        var list: [Counter] {
            [Counter(name: "clients_accepted", value: accepted), Counter(name: "requests", value: requests),
             Counter(name: "error_replies", value: errors), Counter(name: "bad_messages", value: badMessages),
             Counter(name: "clients_disconnected_not_reading", value: disconnectedSlow),
             Counter(name: "sockets_created", value: socketsCreated), Counter(name: "sockets_closed", value: socketsClosed),
             Counter(name: "ring_violations", value: ringViolations),
             Counter(name: "sockets_released_on_disconnect", value: released)]
        }
    }

    init(daemon: Daemon, node: Node, config: RtudConfig) throws {
        self.daemon = daemon
        self.node = node
        limits = config.limits
        var group: gid_t?
        if let name = config.daemon.controlGroup {
            guard let g = getgrnam(name) else { throw Refusal(.invalidArgument, "control_group \(name): no such group") }
            group = g.pointee.gr_gid
        }
        if let name = config.limits.privilegedGroup {
            guard let g = getgrnam(name) else { throw Refusal(.invalidArgument, "privileged_group \(name): no such group") }
            privilegedGID = g.pointee.gr_gid
        } else {
            privilegedGID = nil
        }
        let path = config.daemon.controlSocket
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            // /run/rtud exists under systemd (RuntimeDirectory); make it when run by hand.
            let dir = String(path[..<slash])
            if mkdir(dir, 0o755) != 0 && errno != EEXIST {
                throw Refusal(.internalError, "control socket directory \(dir): \(String(cString: strerror(errno)))")
            }
        }
        listener = try ControlListener(path: path, mode: config.daemon.controlSocketMode, group: group)
    }

    func close() {
        for client in clients { disconnect(client, why: nil) }
        destroy(Array(sockets.values), notify: nil)
        listener.close()
    }

    // MARK: - Polling

    /// The listener, then each client, in the order `service` expects them.
    func pollDescriptors() -> [pollfd] {
        [pollfd(fd: listener.descriptor, events: Int16(POLLIN), revents: 0)]
            + clients.map { pollfd(fd: $0.connection.descriptor, events: Int16(POLLIN), revents: 0) }
    }

    func service(_ fds: [pollfd]) {
        let current = clients
        for (i, client) in current.enumerated() where i + 1 < fds.count && fds[i + 1].revents != 0 {
            serve(client)
        }
        if fds.first.map({ $0.revents & Int16(POLLIN) != 0 }) == true { acceptClients() }
    }

    private func acceptClients() {
        while true {
            let accepted: ControlConnection?
            do { accepted = try listener.accept() } catch {
                daemon.log.warning("control socket: accept: \(error)")
                return
            }
            guard let connection = accepted else { return }
            counters.accepted += 1
            // A client that stops reading its replies is dropped, never waited for.
            connection.sendTimeoutMs = 20
            guard let credentials = connection.peerCredentials() else { continue }
            let privileged = isPrivileged(uid: credentials.uid, gid: credentials.gid)
            clients.append(ClientSession(connection: connection, pid: credentials.pid, uid: credentials.uid,
                                         privileged: privileged))
            daemon.log.debug("client pid \(credentials.pid) uid \(credentials.uid) connected\(privileged ? " (privileged)" : "")")
        }
    }

    /// Root, or a member of `limits.privileged_group` (supplementary groups included).
    private func isPrivileged(uid: UInt32, gid: UInt32) -> Bool {
        if uid == 0 { return true }
        guard let group = privilegedGID else { return false }
        if gid == group { return true }
        guard let pw = getpwuid(uid) else { return false }
        var count: Int32 = 64
        var groups = [gid_t](repeating: 0, count: 64)
        if getgrouplist(pw.pointee.pw_name, gid, &groups, &count) < 0 { return false }
        return groups.prefix(Int(count)).contains(group)
    }

    /// Reads what the client sent (all of it: the descriptor is level-triggered).
    private func serve(_ client: ClientSession) {
        while true {
            let message: ReceivedMessage
            do {
                switch try client.connection.receiveNonBlocking() {
                case .message(let m): message = m
                case .wouldBlock: return
                case .closed:
                    disconnect(client, why: nil)
                    return
                }
            } catch {
                disconnect(client, why: "\(error)")
                return
            }
            for fd in message.descriptors { Glibc.close(fd) }   // clients have nothing to give us
            counters.requests += 1
            if message.truncated {
                counters.badMessages += 1
                reply(client, .error(.tooLarge, "message over \(ControlCodec.maxMessage) bytes or with descriptors; dropped"),
                      id: 0)
                continue
            }
            let decoded: (requestID: UInt32, request: ControlRequest)
            do throws(ControlDecodeError) {
                let (id, request) = try ControlCodec.decodeRequest(message.bytes)
                decoded = (id, request)
            } catch {
                counters.badMessages += 1
                reply(client, .error(error.code, "\(error)"), id: ControlCodec.peekRequestID(message.bytes) ?? 0)
                continue
            }
            handle(decoded.request, id: decoded.requestID, from: client)
            if !clients.contains(where: { $0 === client }) { return }
        }
    }

    private func reply(_ client: ClientSession, _ r: ControlReply, id: UInt32, descriptors: [Int32] = []) {
        if case .error = r { counters.errors += 1 }
        do { try client.connection.send(ControlCodec.encode(r, requestID: id), descriptors: descriptors) } catch {
            // A client that does not read its replies loses its connection, not the daemon its thread.
            counters.disconnectedSlow += 1
            disconnect(client, why: "reply not delivered: \(error)")
        }
    }

    // MARK: - Requests

    private func handle(_ request: ControlRequest, id: UInt32, from client: ClientSession) {
        if case let .hello(version, name) = request {
            guard version == ControlCodec.version else {
                reply(client, .error(.unsupportedVersion,
                                     "protocol version \(version) is not supported; this daemon speaks \(ControlCodec.version)"), id: id)
                return
            }
            client.greeted = true
            client.name = name
            reply(client, .hello(version: ControlCodec.version, daemon: Self.daemonVersion, pid: UInt32(getpid())), id: id)
            return
        }
        guard client.greeted else {
            reply(client, .error(.helloFirst, "say hello first (protocol version \(ControlCodec.version))"), id: id)
            return
        }
        do {
            switch request {
            case .hello:
                break
            case let .createSocket(spec):
                let socket = try create(spec, owner: client.uid, privileged: client.privileged, declared: false, by: client)
                if spec.attach {
                    attach(socket, to: client, id: id)
                } else {
                    reply(client, .socket(info(socket)), id: id)
                }
            case let .attach(name):
                let socket = try self.socket(named: name, for: client, hint: " (rtuctl socket list shows them)")
                if let holder = socket.holder, holder !== client {
                    throw Refusal(.busy, "socket \(name) is attached to pid \(holder.pid)")
                }
                attach(socket, to: client, id: id)
            case let .close(number):
                guard client.held.contains(number), let socket = sockets[number] else {
                    throw Refusal(.notFound, "this connection holds no socket \(number)")
                }
                client.held.remove(number)
                if socket.persistent {
                    socket.holder = nil
                } else {
                    destroy(socket, notify: nil)
                }
                reply(client, .ok, id: id)
            case let .delete(name):
                let socket = try self.socket(named: name, for: client)
                destroy(socket, notify: (.notFound, "socket \(name) was deleted"))
                reply(client, .ok, id: id)
            case let .listSockets(cursor):
                let ids = sockets.values.filter { $0.id >= cursor && (client.privileged || $0.ownerUID == client.uid) }
                    .map(\.id).sorted()
                let candidates = ids.prefix(Self.listingChunk + 1).compactMap { sockets[$0] }.map(info)
                let (page, next) = try Self.page(of: candidates, "socket", ControlCodec.pageFitting)
                reply(client, .sockets(page, next: next), id: id)
            case let .listRTUs(cursor):
                let (page, next) = try Self.page(of: rtuInfos(from: cursor, limit: Self.listingChunk + 1), "RTU",
                                                 ControlCodec.pageFitting)
                reply(client, .rtus(page, next: next), id: id)
            case .stats:
                var groups = node.counters().map { port, counters in
                    CounterGroup(name: port, counters: counters.map { Counter(name: $0.0, value: $0.1) })
                }
                groups.append(CounterGroup(name: "control", counters: counters.list))
                reply(client, .stats(groups), id: id)
            case .status:
                reply(client, .status(status()), id: id)
            }
        } catch let refusal as Refusal {
            reply(client, .error(refusal.code, refusal.message), id: id)
        } catch {
            reply(client, .error(.internalError, "\(error)"), id: id)
        }
    }

    /// The socket named `name`, if `client` may use it: it owns it, or is privileged.
    private func socket(named name: String, for client: ClientSession, hint: String = "") throws -> DaemonSocket {
        guard let number = byName[name], let socket = sockets[number] else {
            throw Refusal(.notFound, "no socket named \(name)\(hint)")
        }
        guard client.privileged || socket.ownerUID == client.uid else {
            throw Refusal(.permissionDenied, "socket \(name) belongs to uid \(socket.ownerUID)")
        }
        return socket
    }

    /// The first page of `candidates` (up to `listingChunk + 1`, from the
    /// cursor on) that fits one reply, and the cursor of the next page: the
    /// first candidate left out, or 0 when none is.
    private static func page<Item: ListedItem>(of candidates: [Item], _ what: String,
                                               _ fitting: ([Item], Int) -> Range<Int>) throws -> ([Item], next: UInt32) {
        let page = fitting(Array(candidates.prefix(listingChunk)), 0)
        if page.isEmpty && !candidates.isEmpty { throw Refusal(.internalError, "\(what) \(candidates[0].name) does not fit a message") }
        return (Array(candidates[page]), page.upperBound < candidates.count ? candidates[page.upperBound].id : 0)
    }

    private func attach(_ socket: DaemonSocket, to client: ClientSession, id: UInt32) {
        socket.holder = client
        client.held.insert(socket.id)
        reply(client, .socket(info(socket)), id: id, descriptors: socket.region.descriptors)
    }

    // MARK: - Sockets

    /// Creates a socket: checks names, privileges and limits, then binds,
    /// connects and reserves through the node. Nothing is left behind when
    /// any step is refused.
    @discardableResult
    func create(_ spec: SocketSpec, owner: UInt32, privileged: Bool, declared: Bool,
                by client: ClientSession?) throws -> DaemonSocket {
        guard spec.proto == .udp else { throw Refusal(.invalidArgument, "only UDP sockets so far (TCP is the next issue)") }
        if let name = spec.name {
            guard DeclaredSocket.isValidName(name) else {
                throw Refusal(.invalidArgument, "socket name \(name): 1 to 32 of a-z 0-9 _ -")
            }
            guard byName[name] == nil else { throw Refusal(.nameInUse, "a socket named \(name) exists") }
        } else if spec.persistent {
            throw Refusal(.invalidArgument, "a persistent socket needs a name (clients attach to it by name)")
        }
        if !privileged {
            guard limits.allowUserSockets else {
                throw Refusal(.permissionDenied, "only root or group \(limits.privilegedGroup ?? "root") may create sockets ([limits] allow_user_sockets = false)")
            }
            guard spec.bind.port == 0 || spec.bind.port >= 1024 else {
                throw Refusal(.permissionDenied, "port \(spec.bind.port) is privileged (below 1024): needs root or group \(limits.privilegedGroup ?? "root")")
            }
            // A dedicated VC is a reservation on the line that the
            // administrator configured (a CBR VC's PCR is held whether used
            // or not), and one socket holds it whole: like a reservation
            // beyond user_reservation_limit, only a privileged client takes one.
            if let vc = spec.vc {
                throw Refusal(.permissionDenied, "binding a socket to VC \(vc) needs root or group \(limits.privilegedGroup ?? "root") "
                              + "([limits] privileged_group): a dedicated VC is a reservation of the line")
            }
            if let r = spec.reserve {
                let held = sockets.values.filter { $0.ownerUID == owner }.compactMap { $0.spec.reserve?.rateBitsPerSecond }.reduce(0, +)
                guard held + r.rateBitsPerSecond <= limits.userReservationLimit.bitsPerSecond else {
                    throw Refusal(.limitExceeded, "uid \(owner) would reserve \(held + r.rateBitsPerSecond) bit/s in all, over [limits] user_reservation_limit = \(limits.userReservationLimit)")
                }
            }
        }
        if let client {
            guard client.held.count < limits.maxSocketsPerClient else {
                throw Refusal(.limitExceeded, "this connection holds \(client.held.count) sockets ([limits] max_sockets_per_client)")
            }
        }
        guard sockets.count < limits.maxSockets else {
            throw Refusal(.limitExceeded, "rtud has \(sockets.count) sockets ([limits] max_sockets)")
        }
        var reservation: UDPReservation?
        if let r = spec.reserve {
            guard r.messageSize >= 1 && r.messageSize <= 65_507 else {
                throw Refusal(.invalidArgument, "message size \(r.messageSize): 1 to 65507 bytes")
            }
            reservation = UDPReservation(bitsPerSecond: r.rateBitsPerSecond, messageSize: Int(r.messageSize),
                                         period: r.periodNanoseconds == 0 ? nil : Int64(r.periodNanoseconds))
        }
        let region: SocketRegion
        let ring = Self.ringCapacity(bitsPerSecond: spec.reserve?.rateBitsPerSecond)
        do { region = try SocketRegion.create(name: spec.name ?? "rtud-socket", rxCapacity: ring, txCapacity: ring) } catch {
            throw Refusal(.internalError, "shared memory: \(error)")
        }
        let udp: UDPSocket
        do { udp = try node.openUDP(name: spec.name, region: region) } catch { throw refusal(error) }
        do throws(NodeError) {
            try node.bind(udp, to: spec.bind)
            if let peer = spec.connect { try node.connect(udp, to: peer) }
            if let reservation { try node.reserve(udp, reservation) }
            if let vc = spec.vc { try node.bindVC(udp, to: vc) }
        } catch {
            node.close(udp)
            throw refusal(error)
        }
        let socket = DaemonSocket(spec: spec, udp: udp, region: region, ownerUID: owner, persistent: spec.persistent || declared)
        sockets[socket.id] = socket
        if let name = spec.name { byName[name] = socket.id }
        if let client, !socket.persistent {
            client.held.insert(socket.id)
            socket.creator = client
        }
        counters.socketsCreated += 1
        daemon.log.debug("socket \(socket.name) (#\(socket.id)) bound to \(udp.local.map { "\($0)" } ?? "?")\(reservation.map { ", reserved \($0)" } ?? "")\(spec.vc.map { ", on VC \($0)" } ?? "")")
        return socket
    }

    private func refusal(_ error: NodeError) -> Refusal {
        switch error {
        case .addressInUse: return Refusal(.addressInUse, error.description)
        case .noInterface: return Refusal(.invalidArgument, "\(error.description) (rtuctl status lists the interfaces)")
        // The code says "admission refused" (clients print it); the message is the reason alone.
        case let .admissionRefused(why): return Refusal(.admissionRefused, why)
        case .reservation: return Refusal(.invalidArgument, "reservation: \(error.description)")
        case .tooManySockets, .noEphemeralPort: return Refusal(.limitExceeded, error.description)
        case .notATM, .vcPeerMismatch: return Refusal(.invalidArgument, error.description)
        case .noSuchVC: return Refusal(.notFound, error.description)
        case .vcIsDefault: return Refusal(.invalidArgument, error.description)
        case .vcInUse: return Refusal(.addressInUse, error.description)
        case .vcContractExceeded: return Refusal(.admissionRefused, error.description)
        default: return Refusal(.internalError, error.description)
        }
    }

    /// Takes a socket down: out of the node (its RTUs, reservation and
    /// demux entry), out of the tables; the holder is told why when `notify` says.
    private func destroy(_ socket: DaemonSocket, notify: (ControlErrorCode, String)?) {
        destroy([socket], notify: notify)
    }

    /// As `destroy(_:notify:)` for each, with one wait for the cores for all
    /// of them (`Node.close(_:)`).
    private func destroy(_ gone: [DaemonSocket], notify: (ControlErrorCode, String)?) {
        node.close(gone.map(\.udp))
        for socket in gone {
            socket.region.markClosed()
            sockets[socket.id] = nil
            if byName[socket.name] == socket.id { byName[socket.name] = nil }
            counters.socketsClosed += 1
            socket.creator?.held.remove(socket.id)
            if let holder = socket.holder {
                holder.held.remove(socket.id)
                if let (code, message) = notify { reply(holder, .socketClosed(id: socket.id, code, message), id: 0) }
            }
        }
    }

    private func disconnect(_ client: ClientSession, why: String?) {
        guard let index = clients.firstIndex(where: { $0 === client }) else { return }
        clients.remove(at: index)
        var gone: [DaemonSocket] = []
        for number in client.held {
            guard let socket = sockets[number] else { continue }
            counters.released += 1
            if socket.persistent { socket.holder = nil } else { gone.append(socket) }
        }
        destroy(gone, notify: nil)
        client.held.removeAll()
        daemon.log.debug("client pid \(client.pid) disconnected\(why.map { ": \($0)" } ?? "")")
    }

    /// Closes sockets whose client corrupted their rings (the core stopped
    /// using them). Runs after every request; looking at each socket then
    /// would make every request cost O(sockets), so it looks only when a
    /// port counted a new violation, and once a second regardless (the
    /// count and the socket's flag are separate stores).
    func sweep() {
        let counted = node.ports.reduce(0) { $0 + $1.udp.counters.ringViolations.load(ordering: .acquiring) }
        let now = Daemon.now()
        guard counted != violationsSeen || (now - lastFullSweep).nanoseconds >= 1_000_000_000 else { return }
        violationsSeen = counted
        lastFullSweep = now
        for socket in sockets.values {
            guard let violation = socket.udp.ringViolation else { continue }
            counters.ringViolations += 1
            daemon.log.warning("socket \(socket.name): closed: its client broke the shared ring (\(violation))")
            destroy(socket, notify: (.ringViolation, "the socket's shared memory held what no correct client writes: \(violation); the socket is closed"))
        }
    }

    // MARK: - Declared sockets

    func declare(_ d: DeclaredSocket) {
        var spec = SocketSpec(proto: d.proto == .udp ? .udp : .tcp, name: d.name, bind: d.bind, connect: d.connect,
                              reserve: nil, persistent: true, attach: false, vc: d.vc)
        if let r = d.reserve {
            spec.reserve = ReservationSpec(rateBitsPerSecond: r.rate.bitsPerSecond, messageSize: UInt32(r.messageSize),
                                           periodNanoseconds: UInt64(r.period.nanoseconds))
        }
        do {
            let socket = try create(spec, owner: 0, privileged: true, declared: true, by: nil)
            daemon.log.info("socket \(d.name): declared, bound to \(socket.udp.local.map { "\($0)" } ?? "?")\(socket.udp.reservation.map { ", reserved \($0)" } ?? "")\(d.vc.map { ", on VC \($0)" } ?? "")")
        } catch let refusal as Refusal {
            daemon.log.error("socket \(d.name): refused: \(refusal.message)")
        } catch {
            daemon.log.error("socket \(d.name): refused: \(error)")
        }
    }

    func undeclare(_ name: String) {
        guard let number = byName[name], let socket = sockets[number] else { return }
        destroy(socket, notify: (.notFound, "socket \(name) was removed from the configuration"))
        daemon.log.info("socket \(name): removed")
    }

    // MARK: - Inspection

    private func info(_ s: DaemonSocket) -> SocketInfo {
        let u = s.udp
        var counters = u.counters.snapshot.map { Counter(name: $0.0, value: $0.1) }
        counters.append(Counter(name: "dropped_channel_full", value: u.channel.droppedFull.load(ordering: .relaxed)))
        return SocketInfo(id: s.id, name: s.name, proto: s.spec.proto, local: u.local ?? s.spec.bind, remote: u.remote,
                          reserve: s.spec.reserve, ownerUID: s.ownerUID, persistent: s.persistent,
                          attached: s.holder != nil,
                          interface: node.ports.first { $0.interface.address == u.local?.address }?.name ?? node.ports[0].name,
                          counters: counters, vc: node.vc(of: u))
    }

    private func rtuInfos(from first: UInt32, limit: Int) -> [RTUInfo] {
        node.runtime.entries(from: RTUID(rawValue: first), limit: limit).map { e in
            let kind: RTUKindCode = e.spec.map { $0.kind == .periodic ? .periodic : .reactive } ?? .bestEffort
            let s = e.stats
            return RTUInfo(id: e.id.rawValue, name: s.name, owner: e.spec?.owner ?? "", core: Int32(daemon.config.daemon.rtCores[e.core]),
                           kind: kind, periodNs: e.spec?.period ?? 0, budgetNs: e.spec?.budget ?? 0,
                           batch: UInt32(e.spec?.batch ?? 0), invocations: s.invocations + s.bestEffortInvocations,
                           overruns: s.overruns, deadlineMisses: s.deadlineMisses,
                           latenessP50Ns: s.latenessP50, latenessP99Ns: s.latenessP99, latenessMaxNs: s.latenessMax,
                           executionP50Ns: s.executionP50, executionP99Ns: s.executionP99, executionMaxNs: s.executionMax)
        }
    }

    private func status() -> DaemonStatus {
        let policies = node.runtime.effectivePolicies
        let cores = (0..<node.runtime.coreCount).map { i -> CoreInfo in
            let c = node.runtime.coreStatistics(i)
            return CoreInfo(cpu: Int32(daemon.config.daemon.rtCores[i]), realtime: policies.indices.contains(i) && policies[i] == .fifo,
                            admittedPPB: c.admittedUtilizationPPB, measuredPPB: c.measuredUtilizationPPB,
                            rtus: UInt32(node.runtime.model.rtus(onCore: i).count))
        }
        let interfaces = zip(daemon.config.interfaces, node.ports).map { config, port in
            InterfaceInfo(name: port.name, driver: config.driver.rawValue + (config.device.map { " (\($0))" } ?? ""),
                          address: "\(config.address)", mac: "\(config.mac)", mtu: UInt32(config.mtu), link: config.link.rawValue)
        }
        return DaemonStatus(version: Self.daemonVersion, pid: UInt32(getpid()),
                            uptimeNs: (Daemon.now() - daemon.started).nanoseconds,
                            realtime: !cores.isEmpty && cores.allSatisfy(\.realtime), interfaces: interfaces, cores: cores,
                            sockets: UInt32(sockets.count), clients: UInt32(clients.count))
    }
}

/// What a paged listing holds: an item the cursor counts by id, named in a refusal.
protocol ListedItem {
    var id: UInt32 { get }
    var name: String { get }
}

extension SocketInfo: ListedItem {}
extension RTUInfo: ListedItem {}
