// The field encodings of ControlCodec (its header comment describes them)
// and each message type's fields in wire order. An optional is read as its
// presence bool (`r.bool(field) ? … : nil`).
import Wire

/// A value that is a run of fields inside a message (a struct of a message,
/// or an array element).
protocol ControlField {
    func encode(to w: inout ControlWriter)
    init(from r: inout ControlReader) throws(ControlDecodeError)
}

/// Appends fields to a message under construction.
struct ControlWriter {
    var bytes: [UInt8] = []

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

    /// Writes what the decoder accepts whatever `value` holds: NUL bytes are
    /// dropped and the text is cut at a character boundary to `maxString`
    /// bytes. The daemon's strings come from decoded requests or a validated
    /// configuration, so neither happens in practice.
    mutating func string(_ value: String) {
        var utf8 = value.utf8.filter { $0 != 0 }
        if utf8.count > ControlCodec.maxString {
            var cut = ControlCodec.maxString
            while cut > 0, utf8[cut] & 0xC0 == 0x80 { cut -= 1 }  // not inside a multi-byte character
            utf8.removeSubrange(cut...)
        }
        integer(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    mutating func address(_ value: SocketAddress) {
        integer(value.address.rawValue)
        integer(value.port)
    }

    /// An ATM VC: VPI as a u8, VCI as a u16 (the widths of the UNI cell header).
    mutating func channel(_ value: ATMVirtualChannel) {
        integer(value.vpi)
        integer(value.vci)
    }

    mutating func optional<T>(_ value: T?, _ write: (inout ControlWriter, T) -> Void) {
        bool(value != nil)
        if let value { write(&self, value) }
    }

    mutating func array<T: ControlField>(_ values: [T]) {
        integer(UInt32(values.count))
        for v in values { v.encode(to: &self) }
    }
}

/// Reads fields from a received message. Every read checks the bytes left
/// first; `field` names what was being read, for the error.
struct ControlReader {
    private let bytes: UnsafeRawBufferPointer
    private var offset: Int
    private(set) var type: UInt16
    private(set) var requestID: UInt32

    /// Checks the size and the header, and leaves the reader at the first field.
    init(message bytes: UnsafeRawBufferPointer) throws(ControlDecodeError) {
        guard bytes.count <= ControlCodec.maxMessage else { throw .tooLarge(size: bytes.count) }
        self.bytes = bytes
        offset = 0
        type = 0
        requestID = 0
        let magic: UInt32 = try integer("header.magic")
        guard magic == ControlCodec.magic else { throw .badMagic(magic) }
        let version: UInt16 = try integer("header.version")
        guard version == ControlCodec.version else { throw .unsupportedVersion(version) }
        type = try integer("header.type")
        requestID = try integer("header.requestID")
    }

    /// The next `count` bytes.
    private mutating func take(_ count: Int, _ field: StaticString) throws(ControlDecodeError) -> UnsafeRawBufferPointer {
        let left = bytes.count - offset
        guard count <= left else { throw .truncated(field: "\(field)", needed: count, left: left) }
        defer { offset += count }
        return bytes.slice(offset ..< offset + count)
    }

    mutating func integer<T: FixedWidthInteger>(_ field: StaticString) throws(ControlDecodeError) -> T {
        T(littleEndian: try take(MemoryLayout<T>.size, field).loadUnaligned(as: T.self))
    }

    mutating func bool(_ field: StaticString) throws(ControlDecodeError) -> Bool {
        let value: UInt8 = try integer(field)
        guard value <= 1 else { throw .badBool(field: "\(field)", value: value) }
        return value == 1
    }

    /// A protocol, kind or error code: its raw integer, which must name a case.
    mutating func code<T: RawRepresentable>(_ field: StaticString) throws(ControlDecodeError) -> T
        where T.RawValue: FixedWidthInteger & UnsignedInteger {
        let raw: T.RawValue = try integer(field)
        guard let value = T(rawValue: raw) else { throw .unknownCode(field: "\(field)", value: UInt16(raw)) }
        return value
    }

    mutating func string(_ field: StaticString) throws(ControlDecodeError) -> String {
        let length = Int(try integer(field) as UInt16)
        guard length <= ControlCodec.maxString else { throw .stringTooLong(field: "\(field)", length: length) }
        let utf8 = try take(length, field)
        guard !utf8.contains(0) else { throw .nulInString(field: "\(field)") }
        guard let text = String(validating: utf8, as: UTF8.self) else { throw .invalidUTF8(field: "\(field)") }
        return text
    }

    mutating func address(_ field: StaticString) throws(ControlDecodeError) -> SocketAddress {
        SocketAddress(address: IPv4Address(rawValue: try integer(field)), port: try integer(field))
    }

    /// Every VPI and VCI value is a channel; whether it is a configured PVC is the daemon's question.
    mutating func channel(_ field: StaticString) throws(ControlDecodeError) -> ATMVirtualChannel {
        ATMVirtualChannel(vpi: try integer(field), vci: try integer(field))
    }

    /// Checks the count against the bytes left before decoding any element
    /// (every element takes at least one byte), so a hostile count cannot
    /// make the decoder allocate or loop beyond the message's size.
    mutating func array<T: ControlField>(_ field: StaticString) throws(ControlDecodeError) -> [T] {
        let count = Int(try integer(field) as UInt32)
        let left = bytes.count - offset
        guard count <= left else { throw .truncated(field: "\(field)", needed: count, left: left) }
        var values: [T] = []
        for _ in 0 ..< count { values.append(try T(from: &self)) }
        return values
    }

    /// Throws unless every byte was read.
    func finish() throws(ControlDecodeError) {
        guard offset == bytes.count else { throw .trailingBytes(count: bytes.count - offset) }
    }
}

extension ReservationSpec: ControlField {
    func encode(to w: inout ControlWriter) {
        w.integer(rateBitsPerSecond)
        w.integer(messageSize)
        w.integer(periodNanoseconds)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(rateBitsPerSecond: try r.integer("ReservationSpec.rateBitsPerSecond"),
                  messageSize: try r.integer("ReservationSpec.messageSize"),
                  periodNanoseconds: try r.integer("ReservationSpec.periodNanoseconds"))
    }
}

extension SocketSpec: ControlField {
    func encode(to w: inout ControlWriter) {
        w.integer(proto.rawValue)
        w.optional(name) { $0.string($1) }
        w.address(bind)
        w.optional(connect) { $0.address($1) }
        w.optional(reserve) { $1.encode(to: &$0) }
        w.bool(persistent)
        w.bool(attach)
        w.optional(vc) { $0.channel($1) }
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(proto: try r.code("SocketSpec.proto"),
                  name: try r.bool("SocketSpec.name") ? try r.string("SocketSpec.name") : nil,
                  bind: try r.address("SocketSpec.bind"),
                  connect: try r.bool("SocketSpec.connect") ? try r.address("SocketSpec.connect") : nil,
                  reserve: try r.bool("SocketSpec.reserve") ? try ReservationSpec(from: &r) : nil,
                  persistent: try r.bool("SocketSpec.persistent"),
                  attach: try r.bool("SocketSpec.attach"),
                  vc: try r.bool("SocketSpec.vc") ? try r.channel("SocketSpec.vc") : nil)
    }
}

extension SocketInfo: ControlField {
    func encode(to w: inout ControlWriter) {
        w.integer(id)
        w.string(name)
        w.integer(proto.rawValue)
        w.address(local)
        w.optional(remote) { $0.address($1) }
        w.optional(reserve) { $1.encode(to: &$0) }
        w.integer(ownerUID)
        w.bool(persistent)
        w.bool(attached)
        w.string(interface)
        w.array(counters)
        w.optional(vc) { $0.channel($1) }
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(id: try r.integer("SocketInfo.id"),
                  name: try r.string("SocketInfo.name"),
                  proto: try r.code("SocketInfo.proto"),
                  local: try r.address("SocketInfo.local"),
                  remote: try r.bool("SocketInfo.remote") ? try r.address("SocketInfo.remote") : nil,
                  reserve: try r.bool("SocketInfo.reserve") ? try ReservationSpec(from: &r) : nil,
                  ownerUID: try r.integer("SocketInfo.ownerUID"),
                  persistent: try r.bool("SocketInfo.persistent"),
                  attached: try r.bool("SocketInfo.attached"),
                  interface: try r.string("SocketInfo.interface"),
                  counters: try r.array("SocketInfo.counters"),
                  vc: try r.bool("SocketInfo.vc") ? try r.channel("SocketInfo.vc") : nil)
    }
}

extension Counter: ControlField {
    func encode(to w: inout ControlWriter) {
        w.string(name)
        w.integer(value)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(name: try r.string("Counter.name"), value: try r.integer("Counter.value"))
    }
}

extension CounterGroup: ControlField {
    func encode(to w: inout ControlWriter) {
        w.string(name)
        w.array(counters)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(name: try r.string("CounterGroup.name"), counters: try r.array("CounterGroup.counters"))
    }
}

extension RTUInfo: ControlField {
    func encode(to w: inout ControlWriter) {
        w.integer(id)
        w.string(name)
        w.string(owner)
        w.integer(core)
        w.integer(kind.rawValue)
        w.integer(periodNs)
        w.integer(budgetNs)
        w.integer(batch)
        w.integer(invocations)
        w.integer(overruns)
        w.integer(deadlineMisses)
        for v in [latenessP50Ns, latenessP99Ns, latenessMaxNs, executionP50Ns, executionP99Ns, executionMaxNs] {
            w.integer(v)
        }
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(id: try r.integer("RTUInfo.id"), name: try r.string("RTUInfo.name"),
                  owner: try r.string("RTUInfo.owner"), core: try r.integer("RTUInfo.core"),
                  kind: try r.code("RTUInfo.kind"), periodNs: try r.integer("RTUInfo.periodNs"),
                  budgetNs: try r.integer("RTUInfo.budgetNs"), batch: try r.integer("RTUInfo.batch"),
                  invocations: try r.integer("RTUInfo.invocations"), overruns: try r.integer("RTUInfo.overruns"),
                  deadlineMisses: try r.integer("RTUInfo.deadlineMisses"),
                  latenessP50Ns: try r.integer("RTUInfo.latenessP50Ns"),
                  latenessP99Ns: try r.integer("RTUInfo.latenessP99Ns"),
                  latenessMaxNs: try r.integer("RTUInfo.latenessMaxNs"),
                  executionP50Ns: try r.integer("RTUInfo.executionP50Ns"),
                  executionP99Ns: try r.integer("RTUInfo.executionP99Ns"),
                  executionMaxNs: try r.integer("RTUInfo.executionMaxNs"))
    }
}

extension InterfaceInfo: ControlField {
    func encode(to w: inout ControlWriter) {
        for text in [name, driver, address, mac] { w.string(text) }
        w.integer(mtu)
        w.string(link)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(name: try r.string("InterfaceInfo.name"), driver: try r.string("InterfaceInfo.driver"),
                  address: try r.string("InterfaceInfo.address"), mac: try r.string("InterfaceInfo.mac"),
                  mtu: try r.integer("InterfaceInfo.mtu"), link: try r.string("InterfaceInfo.link"))
    }
}

extension CoreInfo: ControlField {
    func encode(to w: inout ControlWriter) {
        w.integer(cpu)
        w.bool(realtime)
        w.integer(admittedPPB)
        w.integer(measuredPPB)
        w.integer(rtus)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(cpu: try r.integer("CoreInfo.cpu"), realtime: try r.bool("CoreInfo.realtime"),
                  admittedPPB: try r.integer("CoreInfo.admittedPPB"), measuredPPB: try r.integer("CoreInfo.measuredPPB"),
                  rtus: try r.integer("CoreInfo.rtus"))
    }
}

extension DaemonStatus: ControlField {
    func encode(to w: inout ControlWriter) {
        w.string(version)
        w.integer(pid)
        w.integer(uptimeNs)
        w.bool(realtime)
        w.array(interfaces)
        w.array(cores)
        w.integer(sockets)
        w.integer(clients)
    }

    init(from r: inout ControlReader) throws(ControlDecodeError) {
        self.init(version: try r.string("DaemonStatus.version"), pid: try r.integer("DaemonStatus.pid"),
                  uptimeNs: try r.integer("DaemonStatus.uptimeNs"), realtime: try r.bool("DaemonStatus.realtime"),
                  interfaces: try r.array("DaemonStatus.interfaces"), cores: try r.array("DaemonStatus.cores"),
                  sockets: try r.integer("DaemonStatus.sockets"), clients: try r.integer("DaemonStatus.clients"))
    }
}
