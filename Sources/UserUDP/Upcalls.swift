import RTUScheduler
import Stack

extension UpcallContext {
    /// The invocation's start as the stack's time type.
    @inlinable public var instant: Instant { Instant(nanoseconds: UInt64(now)) }
}

/// A socket's input RTU: takes at most its batch of frames from the socket's
/// channel, checking `shouldYield` every few frames (rule 5 of the hot path).
public final class UDPInputUpcall: Upcall {
    let layer: UDPLayer
    let socket: UDPSocket
    /// Frames between `shouldYield` checks (a clock read each).
    static let chunk = 8

    public init(layer: UDPLayer, socket: UDPSocket) {
        self.layer = layer
        self.socket = socket
    }

    public override func run(context: inout UpcallContext) -> UpcallOutcome {
        let now = context.instant
        var done = 0
        while done < context.batch {
            let n = layer.input(socket, limit: min(Self.chunk, context.batch - done), now: now)
            done += n
            if n == 0 { return .done }
            if context.shouldYield { break }
        }
        return socket.channel.isEmpty ? .done : .moreWork
    }
}

/// A socket's output RTU. Reserved: periodic, sends what the reserved rate
/// allows since the last release and never more (so it returns `.done` even
/// when the application queued more: the excess waits for the next period).
/// Best-effort: released by the application's send (in process) or by the
/// TX data doorbell (a client in another process), drains its batch.
public final class UDPOutputUpcall: Upcall {
    let layer: UDPLayer
    let socket: UDPSocket
    /// The reservation this RTU paces (fixed for its life: a new reservation
    /// is a new RTU), or nil for best-effort.
    let reservation: UDPReservation?
    let depth: Int64
    /// Whether this RTU is released by the TX ring's data doorbell, which the
    /// daemon watches: a best-effort socket whose client is another process.
    /// (An in-process sender releases the RTU through `outputTrigger`, and a
    /// reserved socket's RTU is periodic: arming would only cost their
    /// senders a write(2).)
    let armsDoorbell: Bool

    public init(layer: UDPLayer, socket: UDPSocket, reservation: UDPReservation?, batch: Int) {
        self.layer = layer
        self.socket = socket
        self.reservation = reservation
        depth = Int64(max(1, batch) * (reservation?.messageSize ?? 0))
        armsDoorbell = reservation == nil && socket.region != nil
    }

    public override func run(context: inout UpcallContext) -> UpcallOutcome {
        let pacing = reservation.map {
            UDPLayer.Pacing(release: context.release, bitsPerSecond: $0.bitsPerSecond, depth: depth)
        }
        let (_, more) = layer.output(socket, limit: context.batch, now: context.instant, pacing: pacing)
        guard pacing == nil else { return .done }
        if more { return .moreWork }
        // Found empty: the client rings the doorbell on its next publish.
        // What arrived before the request was seen is taken now instead.
        if armsDoorbell && !socket.broken && socket.tx.armForData() { return .moreWork }
        return .done
    }
}
