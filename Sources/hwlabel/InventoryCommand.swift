import ArgumentParser
import Foundation
import HWLabelAgent
import HWLabelProbe

struct InventoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory",
        abstract: "One-shot audit dump of every PCI function, IOMMU group, GPU and host fact.",
        discussion: "JSON (the stable contract) is validated against schema/inventory-1.0.schema.json. Exit codes: 0 ok, 2 usage, 3 source unreadable, 4 output not written."
    )

    @OptionGroup var source: SourceOptions

    @Option(name: .long, help: "table (default on a terminal) or json (default otherwise).")
    var format: OutputFormat?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to FILE atomically instead of stdout.", valueName: "FILE"))
    var output: String?

    func run() throws {
        let snapshot = try source.snapshot()
        Diagnostics.warn(snapshot.warnings)
        let doc = InventoryDocument(snapshot: snapshot, descriptors: [], generatedAt: Date())
        let fmt = format ?? (output == nil && isatty(1) != 0 ? .table : .json)
        switch fmt {
        case .json:
            let data = try InventoryDocument.canonicalEncoder(pretty: true).encode(doc)
            try Output.emit(String(decoding: data, as: UTF8.self) + "\n", to: output)
        case .table:
            try Output.emit(TableFormatter.inventory(doc), to: output)
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
        let snapshot = try source.snapshot()
        Diagnostics.warn(snapshot.warnings)
        switch format {
        case .json:
            let data = try InventoryDocument.canonicalEncoder(pretty: true).encode(snapshot.functions)
            print(String(decoding: data, as: UTF8.self))
        case .table:
            print(tree ? TableFormatter.groups(snapshot) : TableFormatter.list(snapshot), terminator: "")
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
        let snapshot = try source.snapshot()
        let a = PCIAddress(address)!
        guard let f = snapshot.function(at: a) else {
            Diagnostics.warn(snapshot.warnings.filter { $0.address == a.description })
            Diagnostics.error("no PCI function \(a) in \(snapshot.source.kind) source \(snapshot.source.path)")
            throw ExitCode(1)
        }
        Diagnostics.warn(snapshot.warnings.filter { $0.address == a.description })
        switch format {
        case .json:
            let data = try InventoryDocument.canonicalEncoder(pretty: true).encode(f)
            print(String(decoding: data, as: UTF8.self))
        case .table:
            print(TableFormatter.show(f, snapshot: snapshot), terminator: "")
        }
    }
}
