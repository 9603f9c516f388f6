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
            let encoded = try doc.encoded(pretty: true)
            try Output.emit(to: output) { put in
                encoded.write(put)
                [UInt8(0x0a)].withUnsafeBytes(put)
            }
        case .table:
            _ = try doc.encoded(pretty: false) // fills the digest shown at the end
            try Output.emit(Array(TableFormatter.inventory(doc).utf8), to: output)
        }
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
