import Foundation
import HWLabelCore

/// `hwlabel agent`'s Placement sink: every report makes Placement mirror its descriptors
/// (tombstoned devices are simply absent, so their providers are deleted or kept reserved).
public struct PlacementSink: ReportSink {
    public var name: String
    public let publisher: PlacementPublisher
    /// Root provider name; nil uses the report's host name (set it to Nova's compute-node name).
    public var hostName: String?
    /// Called with every sync result (for the agent's status and log).
    public var onResult: (@Sendable (PlacementSyncResult) -> Void)?

    public init(
        publisher: PlacementPublisher, hostName: String? = nil, name: String = "placement",
        onResult: (@Sendable (PlacementSyncResult) -> Void)? = nil
    ) {
        self.publisher = publisher
        self.hostName = hostName
        self.name = name
        self.onResult = onResult
    }

    public func deliver(_ report: Report) async throws {
        guard let host = hostName ?? report.host.hostname, !host.isEmpty else {
            throw PlacementSinkError.noHostName
        }
        let result = try await publisher.sync(hostName: host, devices: report.descriptors)
        onResult?(result)
        // Throwing makes the agent deliver the latest report again later: the retry for
        // providers that kept conflicting or failed.
        if !result.errors.isEmpty { throw PlacementSinkError.incomplete(result.errors) }
    }
}
