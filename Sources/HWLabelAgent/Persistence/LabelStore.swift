import Foundation
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
/// Writes are read-modify-write under an exclusive `flock(2)` on `<config-dir>/.labels.lock`, so
/// concurrent `hwlabel label …` processes never lose an update; the new file is written to a
/// temporary file in the same directory, fsync'd, renamed over the old one and the directory
/// fsync'd, so a crash leaves either the old or the new file. A file that does not parse is never
/// rewritten: the error names file and line and the file stays byte-identical.
public struct LabelStore: Sendable {
    public let directory: String
    public init(directory: String) { self.directory = directory }

    public var labelsPath: String { directory + "/labels.conf" }
    public var policyPath: String { directory + "/policy.conf" }
    var lockPath: String { directory + "/.labels.lock" }

    /// The current labels; a missing file is an empty set.
    public func loadDocument() throws(ConfigError) -> LabelsDocument {
        guard let text = try readIfPresent(labelsPath) else { return LabelsDocument() }
        return try LabelsDocument.parse(text, path: labelsPath)
    }

    public func loadLabels() throws(ConfigError) -> LabelSet { try loadDocument().labelSet }

    /// The policy; a missing file is the default policy.
    public func loadPolicy() throws(ConfigError) -> Policy {
        guard let text = try readIfPresent(policyPath) else { return .default }
        return try PolicyFormat.parse(text, path: policyPath)
    }

    /// Locks, re-reads, applies `change`, writes atomically, unlocks. `change` may throw to abort
    /// without writing. Returns the document as written.
    @discardableResult
    public func update<T>(_ change: (inout LabelsDocument) throws -> T) throws -> (LabelsDocument, T) {
        try makeDirectory()
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw ConfigError(path: lockPath, message: "cannot open lock file: \(errnoText())") }
        defer { close(lockFD) }   // closing releases the flock
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw ConfigError(path: lockPath, message: "cannot lock: \(errnoText())") }
        }
        var doc = try loadDocument()
        let result = try change(&doc)
        try writeAtomically(doc.serialized(), to: labelsPath)
        return (doc, result)
    }

    /// Writes `<dir>/policy.conf` with the commented template unless it exists.
    public func writePolicyTemplateIfMissing() throws {
        try makeDirectory()
        if access(policyPath, F_OK) == 0 { return }
        try writeAtomically(PolicyFormat.template, to: policyPath)
    }

    func readIfPresent(_ path: String) throws(ConfigError) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw ConfigError(path: path, message: "cannot read: \(errnoText())")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ConfigError(path: path, message: "cannot read: \(errnoText())")
            }
            if n == 0 { break }
            bytes += buf[0..<n]
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(path: path, message: "not UTF-8 text; fix or remove the file (it was left untouched)")
        }
        return text
    }

    func makeDirectory() throws(ConfigError) {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ConfigError(path: directory, message: "cannot create directory: \(error.localizedDescription)")
        }
    }

    /// temp file in the same directory → write → fsync → rename → fsync(directory).
    func writeAtomically(_ text: String, to path: String) throws(ConfigError) {
        do {
            try AtomicFile.write(Array(text.utf8), to: path)
        } catch {
            throw ConfigError(path: path, message: error.description)
        }
    }
}

func errnoText() -> String {
    let e = errno
    return "\(String(cString: strerror(e))) (errno \(e))"
}
