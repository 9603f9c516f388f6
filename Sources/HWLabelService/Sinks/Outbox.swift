import Foundation
import HWLabelCore
import HWLabelProbe

/// The newest undelivered report of one sink, persisted in `<state-dir>/outbox/<sink>.json`.
///
/// A report is stored *before* it is sent and removed only after the controller acknowledged it
/// (or a newer one), so an outage, a crash or SIGTERM loses nothing. Only the newest report is
/// kept: a newer state supersedes older undelivered ones.
public struct Outbox: Sendable {
    public var path: String

    public init(directory: String, sink: String) {
        self.path = directory + "/" + sink + ".json"
    }

    /// The pending report; nil when there is none, or when the file cannot be read (not a
    /// regular file, over 256 MiB) or decoded: `store` then replaces it.
    public func load() -> Report? {
        guard let data = try? BoundedFile.readIfPresent(path, limit: BoundedFile.Limit.report) else { return nil }
        return try? JSONDecoder().decode(Report.self, from: Data(data))
    }

    /// Stores `report` unless the outbox already holds a newer generation of the same epoch.
    /// Returns what is now pending (the newest).
    @discardableResult
    public func store(_ report: Report) throws -> Report {
        try store(report, canonical: nil).report
    }

    /// `store` with the report's canonical bytes when the caller has them; returns what is now
    /// pending and, when that is `report`, the bytes stored.
    func store(_ report: Report, canonical: [UInt8]?) throws -> (report: Report, canonical: [UInt8]?) {
        if let pending = pendingHeader(), pending.agentEpoch == report.agentEpoch, pending.generation > report.generation,
            let newer = load()
        {
            return (newer, nil)
        }
        let dir = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try AtomicFile.makeDirectory(dir, mode: 0o700)
        // A FIFO or device here would be written in place (and block): refuse it by name.
        try BoundedFile.requireRegularOrAbsent(path)
        let bytes = try canonical ?? CanonicalJSON.encode(report)
        try AtomicFile.write(Data(bytes), to: path, mode: 0o600)
        return (report, bytes)
    }

    /// Removes the pending report if it is `report` (or older): a newer one stored meanwhile stays.
    public func acknowledge(_ report: Report) {
        guard let pending = pendingHeader() else { return }
        if pending.agentEpoch != report.agentEpoch || pending.generation <= report.generation {
            unlink(path)
        }
    }

    /// The pending report's epoch and generation, without decoding its descriptors.
    private struct Header: Decodable {
        var agentEpoch: String
        var generation: UInt64
    }

    private func pendingHeader() -> Header? {
        guard let data = try? BoundedFile.readIfPresent(path, limit: BoundedFile.Limit.report) else { return nil }
        return try? JSONDecoder().decode(Header.self, from: Data(data))
    }
}
