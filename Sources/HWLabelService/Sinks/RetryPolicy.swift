import Foundation

/// When a sink's report is tried again. `SinkWorker` runs this schedule and is the agent's only
/// retry loop: a sink's `deliver` makes one attempt and says, through `TransientFailure`, whether
/// another one soon can succeed.
///
/// - A *delivery* is up to `maxAttempts` attempts. After a transient failure attempt n waits a
///   random time in [d/2, d], d = min(maxDelay, baseDelay · 2^(n-1)), or what the failure asks
///   for (`Retry-After`), at most `maxDelay`.
/// - A delivery fails at a permanent error or after its last attempt. The newest report is then
///   delivered again after `redeliveryBase`, doubling to `redeliveryMax` while deliveries keep
///   failing, unless a newer report comes first; a success resets it.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval
    public var redeliveryBase: TimeInterval
    public var redeliveryMax: TimeInterval
    public init(
        maxAttempts: Int = 5, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 30,
        redeliveryBase: TimeInterval = 5, redeliveryMax: TimeInterval = 300
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.redeliveryBase = redeliveryBase
        self.redeliveryMax = redeliveryMax
    }

    /// One attempt per delivery: for sinks whose failures are never transient (files, NFD).
    public static let oneAttempt = RetryPolicy(maxAttempts: 1)

    /// The jittered wait after failed attempt `n` (1-based) of a delivery.
    public func delay(afterAttempt n: Int) -> TimeInterval {
        let d = min(maxDelay, baseDelay * pow(2, Double(max(0, n - 1))))
        return d / 2 + Double.random(in: 0...(d / 2))
    }

    /// The wait before attempt `n + 1` of the same delivery, or nil when the delivery has failed:
    /// `error` is permanent, or `n` was the last attempt.
    public func delay(afterAttempt n: Int, failure error: any Error) -> TimeInterval? {
        guard let transient = error as? any TransientFailure, transient.isRetryable, n < maxAttempts else { return nil }
        return transient.retryAfter.map { min($0, maxDelay) } ?? delay(afterAttempt: n)
    }

    /// The wait before the next delivery after `failures` (≥ 1) failed ones in a row.
    public func redeliveryDelay(afterFailures failures: Int) -> TimeInterval {
        let exponent = Double(min(max(0, failures - 1), 32))
        return min(redeliveryMax, redeliveryBase * pow(2, exponent))
    }
}

/// A failed attempt that may succeed if tried again soon (a timeout, a 503), and how soon the
/// other side asked for it.
public protocol TransientFailure: Error {
    var isRetryable: Bool { get }
    var retryAfter: TimeInterval? { get }
}
