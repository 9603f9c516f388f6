import Foundation
import HWLabelCore
import Logging
import ServiceLifecycle

/// Delivers reports to one sink from its own task, holding only the newest undelivered one.
/// After a failure it retries the newest report with backoff (5 s doubling to 5 min).
final class SinkWorker: Sendable {
    enum Outcome: Sendable {
        case delivered(UInt64)
        case failed(UInt64, String)
    }

    let sink: any ReportSink
    private let continuation: AsyncStream<Report>.Continuation
    private let task: Task<Void, Never>
    private let isNetwork: Bool

    init(sink: any ReportSink, logger: Logger, clock: @escaping @Sendable () -> Date,
         retryBase: TimeInterval = 5, retryMax: TimeInterval = 300,
         onOutcome: @escaping @Sendable (Outcome) -> Void) {
        self.sink = sink
        let network = sink is ControllerSink
        self.isNetwork = network
        let (stream, cont) = AsyncStream<Report>.makeStream(bufferingPolicy: .bufferingNewest(1))
        self.continuation = cont
        let latest = LockedBox<Report?>(nil)
        self.task = Task {
            var backoff = retryBase
            for await report in stream {
                latest.withLock { $0 = report }
                do {
                    if network {
                        try await cancelWhenGracefulShutdown { try await sink.deliver(report) }
                    } else {
                        try await sink.deliver(report)
                    }
                    backoff = retryBase
                    onOutcome(.delivered(report.generation))
                } catch {
                    if Task.isCancelled { break }
                    let message = String(describing: error)
                    logger.warning("delivery failed", metadata: ["sink": "\(sink.name)", "generation": "\(report.generation)",
                                                                 "error": "\(message)", "retry.in": "\(Int(backoff))s"])
                    onOutcome(.failed(report.generation, message))
                    let wait = backoff
                    backoff = min(retryMax, backoff * 2)
                    // Retry the newest report later unless a newer one arrives first.
                    Task {
                        try? await AgentSleep.sleep(seconds: wait)
                        if let r = latest.current, r.generation == report.generation, r.agentEpoch == report.agentEpoch {
                            cont.yield(r)
                        }
                    }
                }
            }
        }
    }

    func submit(_ report: Report) {
        continuation.yield(report)
    }

    /// Ends the worker: a file write in flight and the newest queued report complete; a
    /// network delivery is cancelled (its report is in the outbox).
    func stop() async {
        continuation.finish()
        if isNetwork { task.cancel() }
        await task.value
        if let c = sink as? ControllerSink { await c.shutdown() }
    }
}

