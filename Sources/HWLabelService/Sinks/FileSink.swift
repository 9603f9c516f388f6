import Foundation
import HWLabelCore
import HWLabelProbe

/// Writes the latest report, indented with sorted keys, atomically to one path.
public struct FileSink: ReportSink {
    public var name: String
    public var path: String

    public init(path: String, name: String = "file") {
        self.path = path
        self.name = name
    }

    public func deliver(_ report: Report) async throws {
        try AtomicFile.write(try report.prettyJSON(), to: path)
    }

    /// `prettyJSON()` from the canonical bytes the agent has already encoded.
    public func deliver(_ report: Report, canonical: [UInt8]) async throws {
        try AtomicFile.write(Data(PrettyJSON.format(canonical, emptyContainers: .blankLine) + [0x0A]), to: path)
    }
}
