import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import Logging
import HWLabelTestSupport
import Testing

@Suite("Reporter: controller sink against a real HTTP server")
struct ReporterControllerTests {
    static let secret = "s3cr3t-token-DO-NOT-LOG-4f9a"
    let fast = RetryPolicy(maxAttempts: 4, baseDelay: 0.02, maxDelay: 0.1)

    func reports(_ n: Int, epoch: String = "epoch-1") -> [Report] {
        var prev: Report?
        var out: [Report] = []
        for i in 1...n {
            let r = ReportBuilder.next(
                previous: prev, epoch: epoch,
                scan: reporterScan((0..<i).map { reporterDevice(String(format: "0000:%02x:00.0", $0)) }),
                now: Date())
            out.append(r)
            prev = r
        }
        return out
    }

    func makeSink(url: String, dir: String, logger: Logger, timeout: TimeInterval = 2) throws -> ControllerSink {
        let tokenFile = dir + "/controller-token"
        if !FileManager.default.fileExists(atPath: tokenFile) {
            try (Self.secret + "\n").write(toFile: tokenFile, atomically: true, encoding: .utf8)
        }
        return try ControllerSink(
            configuration: .init(
                url: url, token: .file(tokenFile), timeout: timeout,
                connectTimeout: 0.3, retry: fast),
            outboxDirectory: dir + "/outbox", logger: logger)
    }

    /// One delivery as the agent's worker makes it: attempts on `fast` until delivered or failed.
    func deliver(_ r: Report, to sink: ControllerSink, logger: Logger) async throws {
        _ = try await SinkWorker.deliver(r, to: sink, policy: fast, clock: .system, logger: logger)
    }

    @Test(arguments: [
        [ReporterTestController.Fault.status(500), .status(503)],
        [.status(409), .status(409)],
        [.reset, .reset],
        [.slow(1.0)],
        [.garbageOK],
    ])
    func transientFaultsAreRetriedUntilDelivered(faults: [ReporterTestController.Fault]) async throws {
        let dir = reporterTempDir()
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        ctl.inject(faults)
        let (logger, lines) = capturingLogger()
        let sink = try makeSink(url: ctl.url, dir: dir, logger: logger, timeout: 0.4)
        let r = reports(1)[0]
        try await deliver(r, to: sink, logger: logger)
        await sink.shutdown()
        #expect(ctl.received.last?.report.generation == 1)
        #expect(ctl.received.last?.idempotencyKey == r.idempotencyKey)
        #expect(ctl.received.last?.authorization == "Bearer " + Self.secret)
        #expect(ctl.attempts >= faults.count + (faults == [.garbageOK] ? 0 : 1))
        #expect(sink.pending == nil)
        #expect(!lines.current.joined().contains(Self.secret))
    }

    @Test func outageThenRestartDeliversNewestAndLosesNothing() async throws {
        let dir = reporterTempDir()
        let refusing = try RefusingPort()
        defer { withExtendedLifetime(refusing) {} } // refusing until the test ends
        let (logger, lines) = capturingLogger()
        let rs = reports(3)
        // Controller down for the whole first run: every delivery fails, the outbox keeps the newest.
        let down = try makeSink(url: refusing.url, dir: dir, logger: logger)
        for r in rs {
            let failure = await #expect(throws: SinkWorker.Failure.self) { try await deliver(r, to: down, logger: logger) }
            #expect(failure?.report.generation == r.generation)
        }
        #expect(down.pending?.generation == 3)
        await down.shutdown()
        // An older report cannot replace a newer pending one.
        _ = try Outbox(directory: dir + "/outbox", sink: "controller").store(rs[0])
        #expect(Outbox(directory: dir + "/outbox", sink: "controller").load()?.generation == 3)

        // "Restart": a new sink over the same state directory; a controller answers.
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        let up = try makeSink(url: ctl.url, dir: dir, logger: logger)
        let pending = try #require(up.pending)
        try await deliver(pending, to: up, logger: logger)
        await up.shutdown()
        #expect(ctl.received.map(\.report.generation) == [3])
        #expect(ctl.received[0].report == rs[2])
        #expect(up.pending == nil)
        #expect(!lines.current.joined().contains(Self.secret))
    }

    @Test func permanentErrorsAreNotRetriedButStayPending() async throws {
        let dir = reporterTempDir()
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        ctl.inject([.status(401), .status(401)])
        let (logger, _) = capturingLogger()
        let sink = try makeSink(url: ctl.url, dir: dir, logger: logger)
        let r = reports(1)[0]
        do {
            try await sink.deliver(r)
            Issue.record("401 must throw")
        } catch let e as ControllerError {
            #expect(!e.isRetryable)
            #expect(fast.delay(afterAttempt: 1, failure: e) == nil)
            #expect(!String(describing: e).contains(Self.secret))
        }
        #expect(ctl.attempts == 1)
        #expect(sink.pending?.generation == 1)
        // The worker's delivery makes one attempt too: a permanent error ends it.
        await #expect(throws: SinkWorker.Failure.self) { try await deliver(r, to: sink, logger: logger) }
        #expect(ctl.attempts == 2)
        try await sink.deliver(r) // token fixed on the controller side
        #expect(sink.pending == nil)
        await sink.shutdown()
    }

    @Test func credentialsDirectoryTokenAndRedaction() throws {
        let dir = reporterTempDir()
        try Self.secret.write(toFile: dir + "/controller-token", atomically: true, encoding: .utf8)
        let s = try TokenSource.credential("controller-token").read(environment: ["CREDENTIALS_DIRECTORY": dir])
        #expect(s.value == Self.secret)
        #expect("\(s)" == "<redacted>" && String(reflecting: s) == "<redacted>")
        var dumped = ""
        dump(s, to: &dumped)
        #expect(!dumped.contains(Self.secret))
        #expect(throws: TokenSource.ReadError.self) { try TokenSource.credential("x").read(environment: [:]) }
    }
}
