import Testing
import Wire
@testable import Control

/// The error decoding `bytes` as a request throws, nil if it decodes.
func requestError(_ bytes: [UInt8]) -> ControlDecodeError? {
    do { _ = try ControlCodec.decodeRequest(bytes); return nil } catch { return error }
}

/// The error decoding `bytes` as a reply throws, nil if it decodes.
func replyError(_ bytes: [UInt8]) -> ControlDecodeError? {
    do { _ = try ControlCodec.decodeReply(bytes); return nil } catch { return error }
}

func isTruncation(_ error: ControlDecodeError?) -> Bool {
    if case .truncated = error { return true }
    return false
}

/// Every fixture encoded, with the decoder that takes it.
let encodedFixtures: [(bytes: [UInt8], isRequest: Bool)] =
    Fixtures.requests.enumerated().map { (ControlCodec.encode($1, requestID: UInt32($0) + 1), true) }
    + Fixtures.replies.enumerated().map { (ControlCodec.encode($1, requestID: UInt32($0) + 100), false) }

@Suite struct CodecRoundTripTests {
    @Test(arguments: Fixtures.requests)
    func request(_ request: ControlRequest) throws {
        let bytes = ControlCodec.encode(request, requestID: 0x0102_0304)
        let decoded = try ControlCodec.decodeRequest(bytes)
        #expect(decoded.requestID == 0x0102_0304)
        #expect(decoded.1 == request)
        #expect(ControlCodec.peekRequestID(bytes) == 0x0102_0304)
    }

    @Test(arguments: Fixtures.replies)
    func reply(_ reply: ControlReply) throws {
        let bytes = ControlCodec.encode(reply, requestID: 7)
        let decoded = try ControlCodec.decodeReply(bytes)
        #expect(decoded.requestID == 7)
        #expect(decoded.1 == reply)
    }

    /// The layout the comment in ControlCodec.swift promises, byte for byte.
    @Test func headerAndFieldsAreLittleEndian() {
        #expect(ControlCodec.encode(.close(id: 0x0A0B_0C0D), requestID: 0x1122_3344) == [
            0x52, 0x54, 0x55, 0x43,  // "RTUC"
            0x02, 0x00,              // version 2
            0x04, 0x00,              // type: close
            0x44, 0x33, 0x22, 0x11,  // request id
            0x0D, 0x0C, 0x0B, 0x0A,  // id
        ])
        #expect(ControlCodec.encode(.attach(name: "é"), requestID: 0).suffix(4) == [0x02, 0x00, 0xC3, 0xA9])
    }

    /// The encoder never writes what the decoder refuses: NUL is dropped and
    /// an over-long string is cut without splitting a character.
    @Test func encoderKeepsStringsDecodable() throws {
        let long = String(repeating: "é", count: 3000)  // 6000 bytes
        let (_, reply) = try ControlCodec.decodeReply(ControlCodec.encode(.error(.internalError, long), requestID: 1))
        #expect(reply == .error(.internalError, String(repeating: "é", count: 2048)))
        let odd = "a" + String(repeating: "é", count: 3000)  // a cut at 4096 would split an "é"
        let (_, cut) = try ControlCodec.decodeReply(ControlCodec.encode(.error(.internalError, odd), requestID: 1))
        #expect(cut == .error(.internalError, "a" + String(repeating: "é", count: 2047)))
        let (_, request) = try ControlCodec.decodeRequest(ControlCodec.encode(.attach(name: "a\u{0}b"), requestID: 1))
        #expect(request == .attach(name: "ab"))
    }
}

@Suite struct CodecRejectionTests {
    /// Every strict prefix of every message is a truncation, whatever field it cuts.
    @Test func everyPrefixIsTruncated() {
        for (bytes, isRequest) in encodedFixtures {
            for length in 0 ..< bytes.count {
                let prefix = Array(bytes.prefix(length))
                let error = isRequest ? requestError(prefix) : replyError(prefix)
                #expect(isTruncation(error), "prefix \(length) of \(bytes.count): \(String(describing: error))")
            }
        }
    }

    @Test func badMagic() {
        var bytes = ControlCodec.encode(.stats, requestID: 1)
        bytes[0] = 0x72  // "rTUC"
        #expect(requestError(bytes) == .badMagic(0x4355_5472))
        #expect(requestError(bytes)?.code == .badMessage)
    }

    @Test func unsupportedVersion() {
        var bytes = ControlCodec.encode(.hello(version: 3, client: "future"), requestID: 1)
        bytes[4] = 3
        #expect(requestError(bytes) == .unsupportedVersion(3))
        bytes[4] = 1   // before ATM VCs: its SocketSpec would be read wrongly, so it is refused whole
        #expect(requestError(bytes) == .unsupportedVersion(1))
        #expect(requestError(bytes)?.code == .unsupportedVersion)
        #expect(ControlCodec.peekRequestID(bytes) == 1)  // so the daemon can answer it
    }

    @Test func unknownType() {
        var bytes = ControlCodec.encode(.stats, requestID: 1)
        bytes[6] = 0x50
        #expect(requestError(bytes) == .unknownType(0x50))
        // A reply is not a request, and the reverse.
        #expect(requestError(ControlCodec.encode(.ok, requestID: 1)) == .unknownType(0x8003))
        #expect(replyError(ControlCodec.encode(.stats, requestID: 1)) == .unknownType(0x0008))
    }

    @Test func boolMustBeZeroOrOne() throws {
        // createSocket with no name, connect, reservation or VC:
        // proto@12, name?@13, bind@14..19, connect?@20, reserve?@21, persistent@22, attach@23, vc?@24
        let bytes = ControlCodec.encode(.createSocket(Fixtures.bareSpec), requestID: 1)
        #expect(bytes.count == 25)
        var bad = bytes
        bad[22] = 2
        #expect(requestError(bad) == .badBool(field: "SocketSpec.persistent", value: 2))
        bad = bytes
        bad[13] = 0xFF
        #expect(requestError(bad) == .badBool(field: "SocketSpec.name", value: 0xFF))
        bad = bytes
        bad[12] = 3
        #expect(requestError(bad) == .unknownCode(field: "SocketSpec.proto", value: 3))
        bad = bytes
        bad[24] = 2
        #expect(requestError(bad) == .badBool(field: "SocketSpec.vc", value: 2))
        // A VC announced and then missing (or half there) is a truncation.
        bad = bytes
        bad[24] = 1
        #expect(requestError(bad) == .truncated(field: "SocketSpec.vc", needed: 1, left: 0))
        #expect(requestError(bad + [0, 100]) == .truncated(field: "SocketSpec.vc", needed: 2, left: 1))
        let (_, spec) = try ControlCodec.decodeRequest(bad + [7, 0x34, 0x12])
        #expect(spec == .createSocket(SocketSpec(proto: .tcp, name: nil, bind: Fixtures.bareSpec.bind, connect: nil, reserve: nil,
                                                 persistent: false, attach: true, vc: ATMVirtualChannel(vpi: 7, vci: 0x1234))))
    }

    @Test func strings() {
        let bytes = ControlCodec.encode(.attach(name: "abc"), requestID: 1)  // length@12, text@14
        var bad = bytes
        bad[15] = 0xFF
        #expect(requestError(bad) == .invalidUTF8(field: "attach.name"))
        bad[15] = 0xED; bad[16] = 0xA0  // an incomplete surrogate encoding
        #expect(requestError(bad) == .invalidUTF8(field: "attach.name"))
        bad = bytes
        bad[15] = 0
        #expect(requestError(bad) == .nulInString(field: "attach.name"))
        // 4097 bytes announced (and present): over the limit, not truncated.
        let long = Array(bytes.prefix(12)) + [0x01, 0x10] + [UInt8](repeating: 0x61, count: 4097)
        #expect(requestError(long) == .stringTooLong(field: "attach.name", length: 4097))
    }

    /// A count of 2^32-1 with four bytes left fails before anything is allocated.
    @Test func hugeArrayCount() {
        var bytes = ControlCodec.encode(.sockets([], next: 0), requestID: 1)
        bytes.replaceSubrange(12 ..< 16, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(replyError(bytes) == .truncated(field: "sockets", needed: Int(UInt32.max), left: 4))
        // The same inside a nested array.
        var nested = ControlCodec.encode(.stats([CounterGroup(name: "g", counters: [])]), requestID: 1)
        nested.replaceSubrange(nested.count - 4 ..< nested.count, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(replyError(nested) == .truncated(field: "CounterGroup.counters", needed: Int(UInt32.max), left: 0))
    }

    @Test func trailingByte() {
        for (bytes, isRequest) in encodedFixtures {
            let longer = bytes + [0]
            #expect((isRequest ? requestError(longer) : replyError(longer)) == .trailingBytes(count: 1))
        }
    }

    @Test func tooLarge() {
        var bytes = ControlCodec.encode(.stats, requestID: 1)
        bytes += [UInt8](repeating: 0, count: ControlCodec.maxMessage + 1 - bytes.count)
        #expect(requestError(bytes) == .tooLarge(size: ControlCodec.maxMessage + 1))
        #expect(requestError(bytes)?.code == .tooLarge)
    }

    @Test func errorsDescribeTheirField() {
        #expect(ControlDecodeError.truncated(field: "SocketInfo.name", needed: 5, left: 2).description
            == "truncated at SocketInfo.name: needs 5 bytes, 2 left")
        #expect(ControlDecodeError.unsupportedVersion(2).description.contains("version 2"))
        #expect(ControlErrorCode.busy.description == "already attached")
    }
}

@Suite struct CodecFuzzTests {
    /// Mutated and random messages never crash the decoders, and whatever
    /// decodes re-encodes to the same bytes (the encoding is canonical, so a
    /// decoder that accepted something malformed would show here).
    @Test func mutationsNeverCrash() {
        var random = SeededGenerator(state: 0x5EED_C0DE)
        let header = Array(encodedFixtures[0].bytes.prefix(ControlCodec.Header.size))
        var decoded = 0
        for _ in 0 ..< 200_000 {
            var bytes = encodedFixtures.randomElement(using: &random)!.bytes
            switch random.next() % 4 {
            case 0:  // overwrite a few bytes
                for _ in 0 ... random.next() % 4 { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8.random(in: 0 ... 255, using: &random) }
            case 1:  // cut anywhere
                bytes.removeLast(Int(random.next() % UInt64(bytes.count)))
            case 2:  // insert bytes anywhere
                let at = Int(random.next() % UInt64(bytes.count + 1))
                bytes.insert(contentsOf: (0 ..< random.next() % 8).map { _ in UInt8.random(in: 0 ... 255, using: &random) }, at: at)
            default:  // a valid header and random fields (any type), or pure noise
                let type = [UInt8.random(in: 0 ... 10, using: &random), random.next() % 2 == 0 ? 0 : 0x80]
                let body = (0 ..< random.next() % 64).map { _ in UInt8.random(in: 0 ... 255, using: &random) }
                bytes = random.next() % 4 == 0 ? body : Array(header.prefix(6)) + type + [0, 0, 0, 0] + body
            }
            if let (id, request) = try? ControlCodec.decodeRequest(bytes) {
                #expect(ControlCodec.encode(request, requestID: id) == bytes)
                decoded += 1
            }
            if let (id, reply) = try? ControlCodec.decodeReply(bytes) {
                #expect(ControlCodec.encode(reply, requestID: id) == bytes)
                decoded += 1
            }
        }
        // The mutations reach past the header: a good share still decodes.
        #expect(decoded > 10_000)
    }
}

@Suite struct PageTests {
    static func socket(_ i: Int, counters: Int) -> SocketInfo {
        var s = Fixtures.socket
        s.id = UInt32(i)
        s.counters = (0 ..< counters).map { Counter(name: "counter number \($0)", value: UInt64($0)) }
        return s
    }

    /// Pages are as full as they can be without exceeding maxMessage, and together cover every item once.
    @Test func pagesFillWithoutExceeding() {
        let items = (0 ..< 600).map { Self.socket($0, counters: $0 % 13) }
        var start = 0
        var pages = 0
        while start < items.count {
            let page = ControlCodec.pageFitting(items, from: start)
            #expect(page.lowerBound == start && !page.isEmpty)
            let size = ControlCodec.encode(.sockets(Array(items[page]), next: 1), requestID: 1).count
            #expect(size <= ControlCodec.maxMessage)
            if page.upperBound < items.count {
                let over = ControlCodec.encode(.sockets(Array(items[page.lowerBound ... page.upperBound]), next: 1),
                                               requestID: 1)
                #expect(over.count > ControlCodec.maxMessage)
            }
            start = page.upperBound
            pages += 1
        }
        #expect(pages > 1)
        #expect(ControlCodec.pageFitting(items, from: items.count).isEmpty)
        #expect(ControlCodec.pageFitting(items, from: items.count + 5) == items.count ..< items.count)
    }

    @Test func oversizedItemGivesEmptyPage() {
        let huge = Self.socket(0, counters: 3000)  // ~30 bytes a counter
        #expect(ControlCodec.pageFitting([huge], from: 0).isEmpty)
        let rtus = [RTUInfo](repeating: Fixtures.rtu, count: 2000)
        let page = ControlCodec.pageFitting(rtus, from: 10)
        #expect(page.lowerBound == 10 && page.count > 100 && page.upperBound < rtus.count)
        #expect(ControlCodec.encode(.rtus(Array(rtus[page]), next: 0), requestID: 0).count <= ControlCodec.maxMessage)
    }
}
