// Small helpers for building frames in lent buffers. (Wire has its own,
// internal to it; these are the Stack's.)

extension UnsafeRawBufferPointer {
    /// The bytes in `range` as a buffer of their own (index 0 = `range.lowerBound`).
    @inline(__always)
    func slice(_ range: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[range]) }
}

extension UnsafeMutableRawBufferPointer {
    @inline(__always)
    func slice(_ range: Range<Int>) -> UnsafeMutableRawBufferPointer { UnsafeMutableRawBufferPointer(rebasing: self[range]) }

    /// Copies `source` to `offset` (caller has checked the room).
    @inline(__always)
    func copy(_ source: UnsafeRawBufferPointer, to offset: Int) {
        guard source.count > 0 else { return }
        UnsafeMutableRawBufferPointer(rebasing: self[offset ..< offset + source.count]).copyMemory(from: source)
    }
}
