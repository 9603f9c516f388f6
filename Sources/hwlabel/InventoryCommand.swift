import ArgumentParser
import Foundation
import HWLabelService
import HWLabelCore
import HWLabelProbe

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "One-shot audit dump of every PCI function, IOMMU group, GPU and host fact.",
        discussion:
            "JSON (the stable contract) is validated against schema/inventory-1.0.schema.json. Exit codes: 0 ok, 2 usage, 3 source unreadable, 4 output not written."
    )

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: "table (default on a terminal) or json (default otherwise).")
    var format: OutputFormat?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to FILE atomically instead of stdout.", valueName: "FILE"))
    var output: String?

    func run() throws {
        let (snapshot, _, _, set) = try CommandSupport.descriptors(source)
        Diagnostics.warn(snapshot.warnings)
        CommandSupport.printDiagnostics(set.errors + set.warnings)
        var doc = InventoryDocument(
            snapshot: snapshot, descriptors: set.descriptors,
            extraWarnings: (set.errors + set.warnings).map {
                ProbeWarning(address: $0.address?.description, message: "\($0.severity.rawValue) \($0.code): \($0.message)")
            },
            generatedAt: Date())
        let fmt = format ?? (output == nil && isatty(1) != 0 ? .table : .json)
        switch fmt {
        case .json:
            try Self.emitJSON(&doc, to: output)
        case .table:
            // The digest shown at the end: hashed as the document is encoded, nothing written.
            _ = try doc.stream(pretty: false) { _ in }
            try Output.emit(Array(TableFormatter.inventory(doc).utf8), to: output)
        }
        CommandSupport.keepUntilExit(doc)
    }

    /// The indented document and a newline. A file (`-o FILE`, or standard output redirected
    /// to one) is written as the pieces are encoded, and the digest, which sorts before the
    /// functions it covers, is written over its placeholder at the end: the document is never
    /// held whole. A pipe, a terminal or a FIFO cannot be written over: the document is
    /// encoded into memory first.
    static func emitJSON(_ doc: inout InventoryDocument, to output: String?) throws {
        if let path = output, path != "-" {
            var st = stat()
            if stat(path, &st) != 0 || st.st_mode & S_IFMT == S_IFREG {
                var patch: InventoryDocument.DigestPatch?
                var failure: Error?
                do {
                    try AtomicFile.write(
                        to: path, mode: 0o644,
                        { put in
                            do {
                                patch = try doc.stream(pretty: true, to: put)
                                [UInt8(0x0a)].withUnsafeBytes(put)
                            } catch { failure = error }
                        },
                        amend: { fd in
                            guard let patch else { return EINVAL }
                            return patch.write(to: fd, at: 0)
                        })
                } catch {
                    if let failure { throw failure }
                    Diagnostics.error(error.description)
                    throw ExitCode(4)
                }
                return
            }
        } else if let start = Self.overwritableStart(1) {
            // Standard output is a regular file: stream, then write the digest in place.
            var patch: InventoryDocument.DigestPatch?
            var failure: Error?
            try Output.emit(to: nil) { put in
                do {
                    patch = try doc.stream(pretty: true, to: put)
                    [UInt8(0x0a)].withUnsafeBytes(put)
                } catch { failure = error }
            }
            if let failure { throw failure }
            if let patch {
                let e = patch.write(to: 1, at: start)
                if e != 0 {
                    Diagnostics.error("cannot write standard output: \(ErrnoText.describe(e))")
                    throw ExitCode(4)
                }
            }
            return
        }
        let encoded = try doc.encoded(pretty: true)
        try Output.emit(to: output) { put in
            encoded.write(put)
            [UInt8(0x0a)].withUnsafeBytes(put)
        }
    }

    /// Where the next write to `fd` lands when `fd` is a regular file that can be written over
    /// at an offset (not opened `O_APPEND`, where `pwrite` appends); nil otherwise.
    static func overwritableStart(_ fd: Int32) -> Int? {
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return nil }
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, flags & O_APPEND == 0 else { return nil }
        let offset = lseek(fd, 0, SEEK_CUR)
        return offset >= 0 ? Int(offset) : nil
    }
}

extension InventoryDocument.DigestPatch {
    /// Writes the digits over their placeholder in a file whose stream began at `start`;
    /// 0 or an errno.
    func write(to fd: Int32, at start: Int) -> Int32 {
        let n = hexDigits.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(start + offset)) }
        return n == hexDigits.count ? 0 : (n < 0 ? errno : EIO)
    }
}

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "One line per PCI function, like `lspci -nnk -D`, plus IOMMU group, NUMA node, driver and GPU architecture.",
        discussion: "Exit codes: 0 ok, 2 usage, 3 source unreadable."
    )

    @OptionGroup var source: SourceOptions

    @Flag(name: .long, help: "Show IOMMU groups with their members.")
    var tree = false

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let (snapshot, _, _, set) = try CommandSupport.descriptors(source)
        Diagnostics.warn(snapshot.warnings)
        CommandSupport.printDiagnostics(set.errors + set.warnings)
        switch format {
        case .json:
            try Output.emit(PrettyJSON.format(try CanonicalJSON.encode(snapshot.functions)) + [0x0a], to: nil)
        case .table:
            print(
                tree ? TableFormatter.groups(snapshot) : TableFormatter.list(snapshot, descriptors: set),
                terminator: "")
        }
    }
}

struct ShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Everything hwlabel knows about one PCI function.",
        discussion: "ADDRESS is DDDD:BB:DD.F or BB:DD.F. Exit codes: 0 ok, 1 no such function, 2 usage, 3 source unreadable."
    )

    @OptionGroup var source: SourceOptions

    @Argument(help: "The function's address.")
    var address: String

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func validate() throws {
        guard PCIAddress(address) != nil else { throw ValidationError("'\(address)' is not a PCI address (DDDD:BB:DD.F)") }
    }

    func run() throws {
        let (snapshot, _, _, set) = try CommandSupport.descriptors(source)
        let a = PCIAddress(address)!
        guard let f = snapshot.function(at: a) else {
            Diagnostics.warn(snapshot.warnings.filter { $0.address == a.description })
            Diagnostics.error("no PCI function \(a) in \(snapshot.source.kind) source \(snapshot.source.path)")
            throw ExitCode(1)
        }
        Diagnostics.warn(snapshot.warnings.filter { $0.address == a.description })
        CommandSupport.printDiagnostics((set.errors + set.warnings).filter { $0.address == a })
        let descriptor = set.descriptor(at: a)
        switch format {
        case .json:
            struct Shown: Encodable {
                let function: PCIFunction
                let descriptor: AssignableDevice?
            }
            try Output.emit(PrettyJSON.format(try CanonicalJSON.encode(Shown(function: f, descriptor: descriptor))) + [0x0a], to: nil)
        case .table:
            print(TableFormatter.show(f, snapshot: snapshot), terminator: "")
            if let d = descriptor {
                print(TableFormatter.descriptor(d), terminator: "")
            } else {
                print(
                    "\tAssignable: no (\(f.isBridge ? "bridge" : set.excluded.contains(a) ? "excluded by policy" : "class \(f.classCode.baseAndSub) is not passed through, or a GPU companion"))"
                )
            }
        }
    }
}
