import Foundation
import HWLabelCore
import HWLabelProbe
import HWLabelService
import HWLabelTestSupport
import Logging
import Testing

/// The agent keeps a `ReportSummary` of its last report instead of the report: the next report
/// built from the summary must be the one built from the report.
@Suite("Reporter: report summary")
struct ReporterSummaryTests {
    let epoch = "5f1c0c43-8a4e-4c1e-9d0e-3f1f9c1a2b3c"
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func summaryHoldsEveryDescriptorsInstanceAddressAndIdentity() {
        let gpu = reporterDevice("0000:3b:00.0", arch: "turing", instance: "slot:7")
        var nic = reporterDevice("0000:01:00.0")
        nic.attributes.subsystemVendor = nil
        nic.attributes.subsystemDevice = nil
        let r = ReportBuilder.next(previous: nil, epoch: epoch, scan: reporterScan([gpu, nic]), now: t0)
        let s = ReportSummary(r)
        #expect(s.descriptorCount == 2)
        #expect(s.descriptors.map(\.instanceId) == r.descriptors.map(\.instance.id))
        #expect(s.descriptors.map(\.address) == [nic.address, gpu.address])
        #expect(s.descriptors.map(\.identity) == r.descriptors.map { RecordedIdentity($0.attributes) })
        #expect(s.descriptors[0].identity.subsystemVendor == nil)
        #expect(s.generation == r.generation && s.digest == r.digest && s.agentEpoch == epoch)
    }

    @Test func nextFromSummaryEqualsNextFromReport() throws {
        let a = reporterDevice("0000:01:00.0"), b = reporterDevice("0000:02:00.0", label: "fast")
        let c = reporterDevice("0000:03:00.0", instance: "slot:3")
        var moved = reporterDevice("0000:03:00.0", instance: "slot:3")
        moved.attributes.device = "2331"
        let scans = [
            reporterScan([a, b, c]),
            reporterScan([a, b, c]), // unchanged: same generation
            reporterScan([a, moved], present: [a.address, b.address, c.address]), // driver change, identity change
            reporterScan([a, b, moved]),
            reporterScan([]),
        ]
        var report: Report?
        var summary: ReportSummary?
        for (i, scan) in scans.enumerated() {
            let now = t0.addingTimeInterval(Double(i) * 60)
            let fromReport = ReportBuilder.next(previous: report, epoch: epoch, scan: scan, now: now)
            let fromSummary = ReportBuilder.next(summary: summary, epoch: epoch, scan: scan, now: now)
            #expect(fromSummary.report == fromReport, "scan \(i)")
            #expect(fromSummary.summary == ReportSummary(fromReport), "scan \(i)")
            // The digest and canonical bytes assembled from one encoding of the content are the
            // ones a full encoding gives.
            #expect(fromSummary.report.digest == ReportBuilder.digest(of: fromReport), "scan \(i)")
            #expect(try fromSummary.canonical == CanonicalJSON.encode(fromReport), "scan \(i)")
            report = fromReport
            summary = fromSummary.summary
        }
        #expect(report?.generation == 4)
        #expect(report?.tombstones.map(\.reason).contains(.identityChanged) == true)
    }

    @Test func fileSinkWritesTheSameBytesFromCanonicalBytes() async throws {
        let dir = reporterTempDir()
        let r = ReportBuilder.next(
            summary: nil, epoch: epoch, scan: reporterScan([reporterDevice("0000:01:00.0", label: "fast")]), now: t0)
        try await FileSink(path: dir + "/a.json").deliver(r.report)
        try await FileSink(path: dir + "/b.json").deliver(r.report, canonical: r.canonical)
        let a = try Data(contentsOf: URL(fileURLWithPath: dir + "/a.json"))
        #expect(!a.isEmpty)
        #expect(try Data(contentsOf: URL(fileURLWithPath: dir + "/b.json")) == a)
    }

    @Test func controllerSinkPostsAndAcknowledgesTheCanonicalBytes() async throws {
        let dir = reporterTempDir()
        let ctl = ReporterTestController()
        try await ctl.start()
        defer { Task { await ctl.stop() } }
        let sink = try ControllerSink(
            configuration: .init(url: ctl.url, timeout: 2, connectTimeout: 0.3, retry: RetryPolicy(maxAttempts: 1)),
            outboxDirectory: dir + "/outbox", logger: Logger(label: "test"))
        let first = ReportBuilder.next(
            summary: nil, epoch: epoch, scan: reporterScan([reporterDevice("0000:01:00.0")]), now: t0)
        let second = ReportBuilder.next(
            summary: first.summary, epoch: epoch, scan: reporterScan([reporterDevice("0000:02:00.0")]), now: t0)
        // An older report handed over after a newer one is pending sends the newer one.
        try sink.outbox.store(second.report)
        try await sink.deliver(first.report, canonical: first.canonical)
        try await sink.deliver(second.report, canonical: second.canonical)
        await sink.shutdown()
        #expect(ctl.received.map(\.report) == [second.report, second.report])
        #expect(sink.pending == nil)
    }
}
