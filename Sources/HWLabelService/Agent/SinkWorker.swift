import Foundation
import HWLabelCore
import Logging
import ServiceLifecycle

/// Delivers reports to one sink from its own task, holding only the newest undelivered one, and
/// retries on the sink's `RetryPolicy`: the agent's one retry loop (sinks make one attempt per
/// `deliver`). Retries are timers inside the worker's task group, so `stop` waits for them.
final class SinkWorker: Sendable {
    enum Outcome: Sendable {
        case delivered(UInt64)
        case failed(UInt64, String)
    }

    /// What wakes the worker: a newer report, or the redelivery timer set after failure `n`.
    private enum Wake: Sendable {
        case submitted
        case redeliver(Int)
    }

    /// A report to deliver, with its canonical bytes when the agent has them (no second encoding).
    struct Submission: Sendable {
        var report: Report
        var canonical: [UInt8]?
    }

    let sink: any ReportSink
    private let continuation: AsyncStream<Wake>.Continuation
    private let newest: LockedBox<Submission?>
    private let task: Task<Void, Never>
    private let isNetwork: Bool

    /// `policy` nil: the controller sink's own, one attempt per delivery for the others.
    init(
        sink: any ReportSink, logger: Logger, clock: AgentClock, policy: RetryPolicy? = nil,
        onOutcome: @escaping @Sendable (Outcome) -> Void
    ) {
        self.sink = sink
        let controller = sink as? ControllerSink
        let network = controller != nil
        let policy = policy ?? controller?.configuration.retry ?? .oneAttempt
        self.isNetwork = network
        let (stream, cont) = AsyncStream<Wake>.makeStream()
        self.continuation = cont
        let newest = LockedBox<Submission?>(nil)
        self.newest = newest
        self.task = Task {
            await withDiscardingTaskGroup { group in
                var failures = 0
                var failed: Report?
                for await wake in stream {
                    var report = newest.withLock { r in
                        defer { r = nil }; return r
                    }
                    if case .redeliver(let n) = wake {
                        // A delivery since then (or a newer failure's timer) supersedes this one.
                        guard n == failures else { continue }
                        report = report ?? failed.map { Submission(report: $0, canonical: nil) }
                    }
                    guard let first = report else { continue }
                    report = nil
                    do {
                        let sent = try await Self.deliver(
                            first.report, canonical: first.canonical, to: sink, policy: policy, clock: clock,
                            logger: logger, network: network,
                            newer: {
                                newest.withLock { r in
                                    defer { r = nil }; return r
                                }
                            })
                        failures = 0
                        failed = nil
                        onOutcome(.delivered(sent.generation))
                    } catch let error as Failure {
                        if Task.isCancelled { break }
                        failures += 1
                        failed = error.report
                        let wait = policy.redeliveryDelay(afterFailures: failures)
                        logger.warning(
                            "delivery failed",
                            metadata: [
                                "sink": "\(sink.name)", "generation": "\(error.report.generation)",
                                "error": "\(error.message)", "retry.in": "\(Int(wait))s",
                            ])
                        onOutcome(.failed(error.report.generation, error.message))
                        group.addTask { [n = failures] in
                            do { try await clock.sleep(wait) } catch { return }
                            cont.yield(.redeliver(n))
                        }
                    } catch {
                        break // cancelled between attempts
                    }
                }
                group.cancelAll()
            }
        }
    }

    /// A delivery that failed: the report it ended with, and why.
    struct Failure: Error {
        var report: Report
        var message: String
    }

    /// One delivery: attempts `report` (or a newer one `newer` hands over between attempts) until
    /// it is delivered, a failure is permanent, or `policy.maxAttempts` attempts have failed.
    /// Returns the report delivered; throws `Failure`, or `CancellationError` when cancelled
    /// while waiting between attempts.
    static func deliver(
        _ report: Report, canonical: [UInt8]? = nil, to sink: any ReportSink, policy: RetryPolicy, clock: AgentClock,
        logger: Logger, network: Bool = false,
        newer: @Sendable () -> Submission? = { nil }
    ) async throws -> Report {
        var report = report
        var canonical = canonical
        var attempt = 0
        while true {
            attempt += 1
            do {
                if network {
                    try await cancelWhenGracefulShutdown { [report, canonical] in
                        if let canonical { try await sink.deliver(report, canonical: canonical) } else { try await sink.deliver(report) }
                    }
                } else if let canonical {
                    try await sink.deliver(report, canonical: canonical)
                } else {
                    try await sink.deliver(report)
                }
                return report
            } catch {
                let message = String(describing: error)
                guard !Task.isCancelled, let wait = policy.delay(afterAttempt: attempt, failure: error) else {
                    throw Failure(report: report, message: message)
                }
                logger.info(
                    "delivery failed; retrying",
                    metadata: [
                        "sink": "\(sink.name)", "generation": "\(report.generation)", "attempt": "\(attempt)",
                        "error": "\(message)", "retry.in": "\(String(format: "%.2f", wait))s",
                    ])
                try await clock.sleep(wait)
                if let n = newer() { (report, canonical) = (n.report, n.canonical) }
            }
        }
    }

    /// Queues `report` (with its canonical bytes, when the caller has them) in place of any
    /// undelivered one.
    func submit(_ report: Report, canonical: [UInt8]? = nil) {
        newest.withLock { $0 = Submission(report: report, canonical: canonical) }
        continuation.yield(.submitted)
    }

    /// Ends the worker: a file write in flight and the newest queued report complete; a
    /// network delivery is cancelled (its report is in the outbox); retry timers are dropped.
    func stop() async {
        continuation.finish()
        if isNetwork { task.cancel() }
        await task.value
        if let c = sink as? ControllerSink { await c.shutdown() }
    }
}
