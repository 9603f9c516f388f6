import ArgumentParser
import Foundation
import Glibc
import HWLabelCore
import HWLabelProbe
import HWLabelService

/// `hwlabel diff OLD NEW`: what changed between two inventories (`InventoryDiff` says what is
/// compared and how devices are matched).
struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "What changed between two inventories: devices added, removed, moved, changed.",
        discussion: """
            OLD and NEW are documents `hwlabel inventory --format json` wrote (schema 1.x; `-` \
            reads one of them from standard input). Devices are matched by instance id: a card \
            with a serial number in another slot has moved; a device whose instance id changed \
            is removed and added, even at the same address. Compared per device: identity, \
            driver, PCIe link, readiness and its reasons, mode, label, usage, VM binding (mode, \
            usage and binding only when both documents are schema 1.1 or later); and the driver \
            of every function that is no device's. Table: one line per difference, nothing when \
            there is none. Exit codes: 0 identical, 1 different, 2 usage error or an input that \
            cannot be read as an inventory.
            """
    )

    @Argument(help: ArgumentHelp("The earlier inventory.", valueName: "OLD"))
    var old: String

    @Argument(help: ArgumentHelp("The later inventory.", valueName: "NEW"))
    var new: String

    @Option(name: .long, help: "table (default) or json.")
    var format: OutputFormat = .table

    func validate() throws {
        if old == "-" && new == "-" { throw ValidationError("only one of OLD and NEW can be standard input (-)") }
    }

    func run() throws {
        let a = try Self.load(old), b = try Self.load(new)
        let diff = InventoryDiff(old: a, new: b)
        if !diff.notCompared.isEmpty {
            let older = [a, b].filter { $0.schemaVersion == "1.0" }.map(\.name).joined(separator: " and ")
            FileStandardError.write(
                "hwlabel: note: \(older) is schema 1.0, which records no "
                    + diff.notCompared.map(\.rawValue).joined(separator: ", ") + ": not compared\n")
        }
        switch format {
        case .json:
            try Output.emit(PrettyJSON.format(try CanonicalJSON.encode(diff)) + [0x0a], to: nil)
        case .table:
            try Output.emit(Array(diff.table().utf8), to: nil)
        }
        if !diff.identical { throw ExitCode(1) }
    }

    /// Reads and decodes one inventory; anything that is not one exits 2 naming the file.
    static func load(_ path: String) throws -> InventoryDiff.Input {
        let name = path == "-" ? "standard input" : path
        func fail(_ message: String) -> ExitCode {
            Diagnostics.error("\(name): \(message)")
            return ExitCode(2)
        }
        let data: Data
        switch read(path) {
        case .success(let d): data = d
        case .failure(let e): throw fail(e.message)
        }
        do {
            let doc = try JSONDecoder().decode(DiffDocument.self, from: data)
            if let note = doc.versionNote {
                FileStandardError.write("hwlabel: note: \(name): \(note)\n")
            }
            return InventoryDiff.Input(
                name: name, schemaVersion: doc.schemaVersion, digest: doc.digest,
                descriptors: doc.descriptors, functions: doc.functions)
        } catch let e as NotAnInventory {
            throw fail("not an hwlabel inventory: \(e.message)")
        } catch let e as DecodingError {
            throw fail(describe(e, in: data))
        } catch {
            throw fail("not valid JSON: \(error)")
        }
    }

    struct ReadError: Error { var message: String }

    /// The whole file (or standard input, or a pipe such as `<(hwlabel inventory --format json)`).
    static func read(_ path: String) -> Result<Data, ReadError> {
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure(ReadError(message: ErrnoText.describe(errno))) }
        defer { if fd != 0 { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(ReadError(message: ErrnoText.describe(errno)))
            }
            if n == 0 { break }
            bytes += buffer[0..<n]
        }
        return .success(Data(bytes))
    }

    /// A decoding error as `where: what`: a key path for a wrong or missing member
    /// (`descriptors[3].readiness.state`), a line and column for a syntax error.
    static func describe(_ error: DecodingError, in data: Data) -> String {
        func path(_ p: [CodingKey]) -> String {
            var s = ""
            for k in p {
                if let i = k.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + k.stringValue }
            }
            return s.isEmpty ? "top level" : s
        }
        switch error {
        case .dataCorrupted(let c) where c.codingPath.isEmpty:
            // JSONDecoder says only "not valid JSON"; JSONSerialization names the offset.
            do {
                _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
                return syntax(c.debugDescription, in: data)
            } catch {
                return syntax(((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String) ?? "\(error)", in: data)
            }
        case .dataCorrupted(let c):
            return "\(path(c.codingPath)): \(c.debugDescription)"
        case .keyNotFound(let key, let c):
            return "\(path(c.codingPath)): missing key \"\(key.stringValue)\""
        case .typeMismatch(let type, let c), .valueNotFound(let type, let c):
            return "\(path(c.codingPath)): expected \(type), \(c.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    /// Foundation names a byte offset ("… around character 15."), or none at the end of the
    /// input; the message names a line and a column instead, as editors do.
    static func syntax(_ text: String, in data: Data) -> String {
        var offset = data.count, reason = text
        for marker in [" around character ", " starting from character "] {
            guard let r = text.range(of: marker) else { continue }
            reason = String(text[..<r.lowerBound])
            if let n = Int(text[r.upperBound...].prefix(while: \.isNumber)) { offset = min(n, data.count) }
            break
        }
        if reason.hasSuffix(".") { reason.removeLast() }
        if reason.contains("UTF-8") { reason = "not UTF-8 text" }
        if let first = reason.first { reason = first.lowercased() + reason.dropFirst() }
        var line = 1, column = 1
        for byte in data.prefix(offset) {
            if byte == UInt8(ascii: "\n") { line += 1; column = 1 } else if byte & 0xC0 != 0x80 { column += 1 }
        }
        return "not valid JSON at line \(line), column \(column): \(reason)"
    }
}

/// Why a JSON document is not an inventory (its top level says so before anything is decoded).
struct NotAnInventory: Error { var message: String }

/// The members of an inventory document `diff` compares, read from any schema 1.x document:
/// members another minor version added or dropped are ignored, and descriptors of schema 1.0
/// decode with the defaults `AssignableDevice` gives them.
struct DiffDocument: Decodable {
    var schemaVersion: String
    var digest: String?
    var descriptors: [AssignableDevice]
    var functions: [PCIFunction]

    private enum CodingKeys: String, CodingKey { case schemaVersion, digest, descriptors, functions }

    init(from decoder: Decoder) throws {
        guard let c = try? decoder.container(keyedBy: CodingKeys.self) else {
            throw NotAnInventory(message: "the top level is not a JSON object")
        }
        guard let version = try? c.decode(String.self, forKey: .schemaVersion) else {
            throw NotAnInventory(message: "no \"schemaVersion\" string (write one with `hwlabel inventory --format json`)")
        }
        let parts = version.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0] == "1", Int(parts[1]) != nil else {
            throw NotAnInventory(message: "schema \(version) is not one this hwlabel reads (1.x)")
        }
        for key in [CodingKeys.descriptors, .functions] where !c.contains(key) {
            throw NotAnInventory(message: "no \"\(key.stringValue)\" member")
        }
        schemaVersion = version
        digest = try c.decodeIfPresent(String.self, forKey: .digest)
        descriptors = try c.decode([AssignableDevice].self, forKey: .descriptors)
        functions = try c.decode([PCIFunction].self, forKey: .functions)
    }

    /// A minor version newer than this hwlabel writes: its new members are not compared.
    var versionNote: String? {
        let minor = Int(schemaVersion.split(separator: ".")[1])!
        let current = Int(InventoryDocument.currentSchemaVersion.split(separator: ".")[1])!
        return minor > current
            ? "schema \(schemaVersion) is newer than this hwlabel's 1.\(current); members added since are not compared"
            : nil
    }
}
