import Foundation

/// Request counts by kind, for the sync result and the benchmark.
public final class PlacementRequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var _reads = 0
    private var _writes = 0
    public init() {}
    public func record(method: String) {
        lock.lock(); defer { lock.unlock() }
        if method == "GET" || method == "HEAD" { _reads += 1 } else { _writes += 1 }
    }
    public var reads: Int { lock.lock(); defer { lock.unlock() }; return _reads }
    public var writes: Int { lock.lock(); defer { lock.unlock() }; return _writes }
}
