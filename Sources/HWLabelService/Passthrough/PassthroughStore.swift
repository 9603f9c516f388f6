import Foundation
import HWLabelCore
import HWLabelProbe
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Reads and writes `<config-dir>/passthrough.conf` (`PassthroughRecordsDocument`).
///
/// Reads go through `BoundedFile` (a FIFO, a device or a directory where the file is meant is
/// refused at once, and so is a file over 16 MiB). Writes are read-check-modify-write under one
/// exclusive `flock(2)` on `<config-dir>/.passthrough.lock` (`ConfigLock`: a holder stuck longer
/// than `lockTimeout` is named by pid), written to a temporary file in the same directory,
/// fsync'd and renamed over the old one (`AtomicFile`). A file that does not parse is never
/// rewritten: the error names file and line and the file stays byte-identical.
public struct PassthroughStore: Sendable {
    public let directory: String
    public var lockTimeout: Double

    public init(directory: String, lockTimeout: Double = 10) {
        self.directory = directory
        self.lockTimeout = lockTimeout
    }

    public var path: String { directory + "/passthrough.conf" }
    public var lockPath: String { directory + "/.passthrough.lock" }

    /// The records; a missing file is a document with no records (and the header, for the
    /// first write).
    public func load() throws(ConfigError) -> PassthroughRecordsDocument {
        guard let text = try ConfigFile.readTextIfPresent(path, limit: BoundedFile.Limit.labels) else {
            return PassthroughRecordsDocument()
        }
        return try PassthroughRecordsDocument.parse(text, path: path)
    }

    /// True when the file exists (whatever it holds).
    public var exists: Bool { access(path, F_OK) == 0 }

    /// The records as identities for drift checks (inventory, show, the agent): a missing file
    /// is no records; a file that cannot be read or parsed is no records and a warning naming it.
    public func recordedInstances() -> (records: [RecordedInstance], warning: String?) {
        do { return (try load().recordedInstances, nil) } catch {
            return ([], "\(error.description); passthrough records are not checked for drift until it is fixed")
        }
    }

    /// Locks, re-reads, applies `change`, writes atomically, unlocks. `change` may throw to
    /// abort without writing. A file that does not parse throws before `change` runs, and is
    /// left as it is. Returns the document as written.
    @discardableResult
    public func update<T>(_ change: (inout PassthroughRecordsDocument) throws -> T) throws -> (PassthroughRecordsDocument, T) {
        try ConfigFile.makeDirectory(directory)
        return try ConfigLock(path: lockPath, timeout: lockTimeout, command: "hwlabel passthrough").withLock {
            var doc = try load()
            let result = try change(&doc)
            try ConfigFile.writeText(doc.serialized(), to: path)
            return (doc, result)
        }
    }

}
