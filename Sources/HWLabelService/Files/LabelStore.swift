import Foundation
import HWLabelCore
import HWLabelProbe
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads and writes `<config-dir>/labels.conf` and `<config-dir>/policy.conf`.
///
/// Reads go through `BoundedFile`: a FIFO, a device or a directory where a file is meant is
/// refused at once with a message naming it, and so is a file over its limit (16 MiB for
/// `labels.conf`, 1 MiB for `policy.conf`).
///
/// Writes are read-check-modify-write under one exclusive `flock(2)` on
/// `<config-dir>/.labels.lock`, so concurrent `hwlabel label …` processes never lose an update
/// and a check made in `update`'s closure (a rule conflict) sees the file it changes. The holder
/// writes its pid into the lock file; a lock held longer than `lockTimeout` fails with a message
/// naming the lock file and that pid instead of waiting forever. The new file is written to a
/// temporary file in the same directory, fsync'd, renamed over the old one and the directory
/// fsync'd, so a crash leaves either the old or the new file. A file that does not parse is never
/// rewritten: the error names file and line and the file stays byte-identical.
public struct LabelStore: Sendable {
    public let directory: String
    /// How long `update` waits for another process's lock before failing.
    public var lockTimeout: Double
    public init(directory: String, lockTimeout: Double = 10) {
        self.directory = directory
        self.lockTimeout = lockTimeout
    }

    public var labelsPath: String { directory + "/labels.conf" }
    public var policyPath: String { directory + "/policy.conf" }
    public var lockPath: String { directory + "/.labels.lock" }

    /// The current labels; a missing file is an empty set.
    public func loadDocument() throws(ConfigError) -> LabelsDocument {
        guard let text = try ConfigFile.readTextIfPresent(labelsPath, limit: BoundedFile.Limit.labels) else { return LabelsDocument() }
        return try LabelsDocument.parse(text, path: labelsPath)
    }

    public func loadLabels() throws(ConfigError) -> LabelSet { try loadDocument().labelSet }

    /// The policy; a missing file is the default policy.
    public func loadPolicy() throws(ConfigError) -> Policy {
        guard let text = try ConfigFile.readTextIfPresent(policyPath, limit: BoundedFile.Limit.config) else { return .default }
        return try PolicyFormat.parse(text, path: policyPath)
    }

    /// Locks, re-reads, applies `change`, writes atomically, unlocks. `change` may throw to abort
    /// without writing; it runs under the lock, so a check it makes holds for the write.
    /// Returns the document as written.
    @discardableResult
    public func update<T>(_ change: (inout LabelsDocument) throws -> T) throws -> (LabelsDocument, T) {
        try withLock {
            var doc = try loadDocument()
            let result = try change(&doc)
            try ConfigFile.writeText(doc.serialized(), to: labelsPath)
            return (doc, result)
        }
    }

    /// Runs `body` holding the exclusive lock on `<dir>/.labels.lock` (created if missing).
    /// Waits at most `lockTimeout` seconds for another holder, then throws a `ConfigError` that
    /// names the lock file and the holder's pid (`ConfigLock`).
    public func withLock<T>(_ body: () throws -> T) throws -> T {
        try ConfigFile.makeDirectory(directory)
        return try ConfigLock(path: lockPath, timeout: lockTimeout, command: "hwlabel label").withLock(body)
    }

    /// Writes `<dir>/policy.conf` with the commented template unless it exists (under the lock).
    public func writePolicyTemplateIfMissing() throws {
        try withLock {
            if access(policyPath, F_OK) == 0 { return }
            try ConfigFile.writeText(PolicyFormat.template, to: policyPath)
        }
    }

}
