import Foundation
import HWLabelCore
@testable import HWLabelService
import HWLabelTestSupport
import Testing

/// The agent's one retry loop (`SinkWorker` on a `RetryPolicy`), driven by a `ManualClock`: each
/// wait is asserted by its length and ends when the test advances the clock.
@Suite("Service: retries")
struct ServiceRetryTests {
    /// Fails its first `failures` attempts with `error`, then records what it got.
    final class FlakySink: ReportSink, @unchecked Sendable {
        let name = "flaky"
        let remaining: LockedBox<Int>
        let error: any Error
        let attempts = LockedBox<[UInt64]>([])
        let delivered = LockedBox<[UInt64]>([])
        init(failures: Int, error: any Error = ControllerError.status(503, retryAfter: nil)) {
            remaining = LockedBox(failures)
            self.error = error
        }
        func deliver(_ report: Report) async throws {
            attempts.withLock { $0.append(report.generation) }
            let fail = remaining.withLock { n -> Bool in
                defer { n -= 1 }
                return n > 0
            }
            if fail { throw error }
            delivered.withLock { $0.append(report.generation) }
        }
    }

    func reports(_ n: Int) -> [Report] {
        var prev: Report?
        return (1...n).map { i in
            let r = ReportBuilder.next(
                previous: prev, epoch: "e",
                scan: reporterScan((0..<i).map { reporterDevice(String(format: "0000:%02x:00.0", $0)) }),
                now: Date(timeIntervalSince1970: 1_800_000_000))
            prev = r
            return r
        }
    }

    @Test func policyBounds() {
        let p = RetryPolicy()
        #expect(p.maxAttempts == 5 && p.baseDelay == 0.5 && p.maxDelay == 30)
        for n in 1...12 {
            let d = min(30, 0.5 * pow(2, Double(n - 1)))
            let got = p.delay(afterAttempt: n)
            #expect(got >= d / 2 && got <= d, "attempt \(n): \(got)")
        }
        // Redelivery: 5 s doubling to 5 min.
        #expect((1...9).map { p.redeliveryDelay(afterFailures: $0) } == [5, 10, 20, 40, 80, 160, 300, 300, 300])
        #expect(p.redeliveryDelay(afterFailures: 10_000) == 300)
        // Retry-After is honoured up to maxDelay; permanent errors and the last attempt end the delivery.
        #expect(p.delay(afterAttempt: 1, failure: ControllerError.status(429, retryAfter: 7)) == 7)
        #expect(p.delay(afterAttempt: 1, failure: ControllerError.status(503, retryAfter: 3600)) == 30)
        #expect(p.delay(afterAttempt: 1, failure: ControllerError.status(401, retryAfter: 7)) == nil)
        #expect(p.delay(afterAttempt: 5, failure: ControllerError.timeout) == nil)
        #expect(p.delay(afterAttempt: 1, failure: CocoaError(.fileWriteOutOfSpace)) == nil)
        #expect(RetryPolicy(maxAttempts: 0).maxAttempts == 1)
    }

    @Test func aFailedDeliveryIsRetriedOnTheClockWithGrowingWaits() async throws {
        let manual = ManualClock()
        let (logger, _) = capturingLogger()
        // Two attempts per delivery, 1 s apart; redelivery 5 s doubling to 8 s.
        let policy = RetryPolicy(maxAttempts: 2, baseDelay: 1, maxDelay: 1, redeliveryBase: 5, redeliveryMax: 8)
        let sink = FlakySink(failures: 5, error: ControllerError.status(503, retryAfter: 1))
        let outcomes = LockedBox<[String]>([])
        let worker = SinkWorker(sink: sink, logger: logger, clock: manual.clock, policy: policy) { o in
            switch o {
            case .delivered(let g): outcomes.withLock { $0.append("delivered \(g)") }
            case .failed(let g, _): outcomes.withLock { $0.append("failed \(g)") }
            }
        }
        let r = reports(1)[0]
        worker.submit(r)
        // Attempt 1 fails; the next attempt of the same delivery waits Retry-After (1 s).
        try #require(await manual.waitForSleep(1))
        #expect(outcomes.current.isEmpty)
        manual.advance(by: 1)
        // Attempt 2 fails: the delivery failed, redelivery in 5 s.
        try #require(await manual.waitForSleep(5))
        #expect(outcomes.current == ["failed 1"] && sink.attempts.current == [1, 1])
        manual.advance(by: 5)
        try #require(await manual.waitForSleep(1))
        manual.advance(by: 1)
        // Second failed delivery: 10 s capped at 8.
        try #require(await manual.waitForSleep(8))
        #expect(outcomes.current == ["failed 1", "failed 1"])
        manual.advance(by: 8)
        // Attempt 5 fails, attempt 6 succeeds.
        try #require(await manual.waitForSleep(1))
        manual.advance(by: 1)
        try #require(await eventually { outcomes.current.last == "delivered 1" })
        #expect(sink.attempts.current == [1, 1, 1, 1, 1, 1] && sink.delivered.current == [1])
        #expect(manual.pending.isEmpty)
        await worker.stop()
    }

    @Test func aNewerReportSupersedesThePendingRedelivery() async throws {
        let manual = ManualClock()
        let (logger, _) = capturingLogger()
        let sink = FlakySink(failures: 1)
        let delivered = LockedBox<[UInt64]>([])
        let worker = SinkWorker(sink: sink, logger: logger, clock: manual.clock, policy: .oneAttempt) { o in
            if case .delivered(let g) = o { delivered.withLock { $0.append(g) } }
        }
        let rs = reports(2)
        worker.submit(rs[0])
        try #require(await manual.waitForSleep(5))
        worker.submit(rs[1])
        try #require(await eventually { delivered.current == [2] })
        // The old timer fires into a worker that has nothing left to send.
        manual.advance(by: 5)
        await worker.stop()
        #expect(sink.attempts.current == [1, 2] && sink.delivered.current == [2])
    }

    @Test func stopEndsThePendingRetryAndReturns() async throws {
        let manual = ManualClock()
        let (logger, _) = capturingLogger()
        let sink = FlakySink(failures: 100)
        let worker = SinkWorker(sink: sink, logger: logger, clock: manual.clock, policy: .oneAttempt) { _ in }
        worker.submit(reports(1)[0])
        try #require(await manual.waitForSleep(5))
        await worker.stop() // returns without the clock moving: the retry timer was cancelled
        #expect(manual.pending.isEmpty && sink.attempts.current == [1])
    }
}
