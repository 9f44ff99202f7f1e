// Big-endian field access for the views (public: the demux and the transport
// layers read header fields the same way). Every caller has checked
// its offsets against the length it validated in its initialiser, so these do
// no checking of their own (the standard library's bounds checks on raw
// buffers are debug-only as well).
//
// `slice`, `copy` and `readOnly` are public: the layers above build frames in
// lent buffers with them too (one definition for the whole stack).

extension UnsafeRawBufferPointer {
    @inlinable @inline(__always)
    public func readU8(_ offset: Int) -> UInt8 { load(fromByteOffset: offset, as: UInt8.self) }

    @inlinable @inline(__always)
    public func readU16(_ offset: Int) -> UInt16 { UInt16(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt16.self)) }

    @inlinable @inline(__always)
    public func readU32(_ offset: Int) -> UInt32 { UInt32(bigEndian: loadUnaligned(fromByteOffset: offset, as: UInt32.self)) }

    /// The bytes in `range` as a buffer of their own (index 0 = `range.lowerBound`).
    @inlinable @inline(__always)
    public func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[range]) }
}

extension UnsafeMutableRawBufferPointer {
    @inlinable @inline(__always)
    public func writeU8(_ offset: Int, _ value: UInt8) { storeBytes(of: value, toByteOffset: offset, as: UInt8.self) }

    @inlinable @inline(__always)
    public func writeU16(_ offset: Int, _ value: UInt16) { storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt16.self) }

    @inlinable @inline(__always)
    public func writeU32(_ offset: Int, _ value: UInt32) { storeBytes(of: value.bigEndian, toByteOffset: offset, as: UInt32.self) }

    @inlinable @inline(__always)
    public func slice(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: self[range]) }

    @inlinable @inline(__always)
    public var readOnly: UnsafeRawBufferPointer { UnsafeRawBufferPointer(self) }

    /// Copies `source` to `offset` (caller has checked the room).
    @inlinable @inline(__always)
    public func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        guard source.count > 0 else { return }
        UnsafeMutableRawBufferPointer(rebasing: self[offset ..< offset &+ source.count]).copyMemory(from: source)
    }
}
