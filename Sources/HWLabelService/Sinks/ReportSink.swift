import HWLabelCore
/// Where reports go. Implemented by the controller (HTTP), file and NFD sinks, and by fakes in tests.
///
/// `deliver` is called with every new report, and again with the latest report after a failure.
/// It throws when the report did not reach its destination; a sink that keeps an outbox has
/// persisted the report before it throws.
public protocol ReportSink: Sendable {
    var name: String { get }
    func deliver(_ report: Report) async throws
    /// `deliver` for a caller that has the report's canonical bytes (`Report.canonicalJSON()`)
    /// already: a sink that writes JSON need not encode the report again.
    func deliver(_ report: Report, canonical: [UInt8]) async throws
}

extension ReportSink {
    public func deliver(_ report: Report, canonical: [UInt8]) async throws { try await deliver(report) }
}
