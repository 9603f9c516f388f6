import ArgumentParser
import Foundation
import HWLabelCore
import HWLabelProbe
import HWLabelService

/// `hwlabel passthrough …`: make devices assignable (bind them, with their whole IOMMU group,
/// to VFIO), give them back, and show which are.
struct PassthroughCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "passthrough",
        abstract: "Make devices assignable: bind them (and their IOMMU group) to vfio-pci, or give them back.",
        discussion: """
            enable plans the target's whole IOMMU group: the device and its companions go to \
            vfio-pci, or to the VFIO variant driver modules.alias prefers for it; bridges and \
            functions on drivers VFIO accepts stay. It refuses, naming every cause and writing \
            nothing, when the IOMMU is off, a member is the boot VGA or console, the host uses a \
            member (mount, swap, an up interface, open DRM or nvidia nodes), a VM holds it, a PF \
            has VFs enabled or a GPU runs vGPU instances, a member on a host driver was not named \
            (see --whole-group), or a function is dead. Writes: modprobe (when the driver is not \
            registered), driver_override, unbind, drivers_probe, then the driver link is checked; \
            when any function fails, every function changed is put back. Exit codes: 0 done (or \
            planned, with --dry-run), 1 refused or failed, 2 usage, 3 source unreadable.
            """,
        subcommands: [PassthroughEnableCommand.self, PassthroughDisableCommand.self, PassthroughStatusCommand.self]
    )
}

struct PassthroughOptions: ParsableArguments {
    @OptionGroup var source: SourceOptions

    @Option(
        name: .customLong("modules-root"),
        help: ArgumentHelp("Where the kernel's modules live (modules.alias is read from DIR/<release>/).", valueName: "DIR"))
    var modulesRoot: String = "/lib/modules"

    @Flag(name: .customLong("dry-run"), help: "Show the plan and the writes; write nothing.")
    var dryRun = false

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    @Option(name: .long, help: ArgumentHelp("Every device with this hardware label (repeatable).", valueName: "L"))
    var label: [String] = []

    @Argument(help: ArgumentHelp("Addresses (DDDD:BB:DD.F) or instance ids (dsn:…, slot:…).", valueName: "TARGET"))
    var targets: [String] = []

    func validate() throws {
        if targets.isEmpty && label.isEmpty { throw ValidationError("name at least one TARGET or --label") }
        if !dryRun && (source.sysfsRoot != nil || source.pciDump != nil) {
            throw ValidationError("--sysfs-root and --pci-dump describe another machine: only --dry-run is possible")
        }
    }

    var parsedTargets: [PassthroughTarget] {
        targets.map(PassthroughTarget.init(parsing:)) + label.map(PassthroughTarget.label)
    }

    /// The sysfs root writes go to (and the driver links are read from).
    var sysRoot: String { source.sysfsRoot ?? "/sys" }

    func run(_ verb: PassthroughRunner.Verb, wholeGroup: Bool) throws {
        let (snapshot, _, _, set) = try CommandSupport.descriptors(source)
        Diagnostics.warn(snapshot.warnings)
        var aliases = VFIOModuleAliases.none
        if snapshot.source.kind != "dump" {
            let proc = source.sysfsRoot == nil ? "/proc" : source.procRoot
            let (read, warnings) = Probe().vfioAliases(modulesRoot: modulesRoot, proc: proc)
            aliases = read
            Diagnostics.warn(warnings)
        }
        let planner = PassthroughPlanner(snapshot: snapshot, descriptors: set, aliases: aliases)
        let report = PassthroughRunner.run(
            verb, targets: parsedTargets, planner: planner, options: .init(wholeGroup: wholeGroup),
            dryRun: dryRun, executor: PassthroughExecutor(host: SysfsPassthroughHost(sysRoot: sysRoot)))
        let view = PassthroughView(verb: verb, report: report, dryRun: dryRun)
        switch format {
        case .json: print(try CommandSupport.json(view), terminator: "")
        case .table: print(view.table(), terminator: "")
        }
        if !view.succeeded { throw ExitCode(1) }
    }
}

struct PassthroughEnableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable",
        abstract: "Bind devices, with their companions and IOMMU group, to vfio-pci (or their VFIO variant driver).",
        discussion:
            "Exit codes: 0 done (or planned, with --dry-run), 1 refused (nothing written) or failed (rolled back), 2 usage, 3 source unreadable."
    )
    @OptionGroup var options: PassthroughOptions
    @Flag(name: .customLong("whole-group"), help: "Hand over every member of the IOMMU group, named or not.")
    var wholeGroup = false

    func run() throws { try options.run(.enable, wholeGroup: wholeGroup) }
}

struct PassthroughDisableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Give devices and their companions back to the host: clear the override and let the native driver probe.",
        discussion: "Exit codes: 0 done (or planned, with --dry-run), 1 refused or failed, 2 usage, 3 source unreadable."
    )
    @OptionGroup var options: PassthroughOptions

    func run() throws { try options.run(.disable, wholeGroup: false) }
}

struct PassthroughStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Functions on a VFIO driver or with a driver override, and whether their IOMMU group is viable.",
        discussion: "Exit codes: 0 ok, 2 usage, 3 source unreadable."
    )
    @OptionGroup var source: SourceOptions
    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    struct Entry: Encodable {
        var address: String
        var driver: String?
        var driverOverride: String?
        var iommuGroup: Int?
        /// Every member of the group is a bridge, unbound, on a VFIO driver or on one VFIO accepts.
        var groupViable: Bool?
        var name: String?
    }

    func run() throws {
        let snapshot = try source.snapshot()
        Diagnostics.warn(snapshot.warnings)
        let entries: [Entry] = snapshot.functions.compactMap { f in
            let onVFIO = f.driver.map(VGPUCapacity.isVFIODriver) ?? false
            let overridden = f.driverOverride.map { !$0.isEmpty } ?? false
            guard onVFIO || overridden else { return nil }
            let members = f.iommuGroup.map { g in snapshot.functions.filter { $0.iommuGroup == g } }
            return Entry(
                address: f.address.description, driver: f.driver, driverOverride: f.driverOverride,
                iommuGroup: f.iommuGroup, groupViable: members.map { $0.allSatisfy(ReadinessEvaluator.keepsGroupViable) },
                name: f.names.device)
        }
        switch format {
        case .json:
            print(try CommandSupport.json(entries), terminator: "")
        case .table:
            if entries.isEmpty { print("no function is on a VFIO driver or has a driver override") }
            for e in entries {
                let group =
                    e.iommuGroup.map { "group \($0)" + (e.groupViable == false ? " (not viable: a member is on a host driver)" : "") }
                    ?? "no group"
                print("\(e.address)  \(e.driver ?? "no driver")  override \(e.driverOverride ?? "none")  \(group)  \(e.name ?? "")")
            }
        }
    }
}

/// What `enable`/`disable` print: the plan per function (from which driver to which, and
/// why), the writes, and what happened; or the refusals.
struct PassthroughView: Encodable {
    struct Function: Encodable {
        var address: String
        var iommuGroup: Int?
        var role: String
        var from: String?
        var to: String?
        var changes: Bool
        var reason: String
        var outcome: String?
    }
    struct Refusal: Encodable {
        var kind: String
        var address: String?
        var holder: String
        var wayOut: String
    }
    var verb: String
    var dryRun: Bool
    /// `refused`, `planned` (dry run), `done`, `failed`.
    var result: String
    var functions: [Function] = []
    var operations: [String] = []
    var refusals: [Refusal] = []

    var succeeded: Bool { result == "done" || result == "planned" }

    init(verb: PassthroughRunner.Verb, report: PassthroughRunner.Report, dryRun: Bool) {
        self.verb = verb.rawValue
        self.dryRun = dryRun
        func functions(_ plan: PassthroughPlan, _ outcomes: [PassthroughExecutor.FunctionResult]?) -> [Function] {
            plan.functions.enumerated().map { i, f in
                Function(
                    address: f.address.description, iommuGroup: f.group, role: f.role.rawValue, from: f.currentDriver,
                    to: f.intendedDriver, changes: f.changes, reason: f.reason,
                    outcome: outcomes.map { Self.text($0[i].outcome) })
            }
        }
        switch report {
        case .refused(let r):
            result = "refused"
            refusals = r.map { Refusal(kind: $0.kind.rawValue, address: $0.address?.description, holder: $0.holder, wayOut: $0.wayOut) }
        case .dryRun(let plan, let ops):
            result = "planned"
            self.functions = functions(plan, nil)
            operations = ops.map(\.description)
        case .ran(let plan, let r):
            result = r.succeeded ? "done" : "failed"
            self.functions = functions(plan, r.functions)
        }
    }

    static func text(_ o: PassthroughExecutor.Outcome) -> String {
        switch o {
        case .unchanged: "unchanged"
        case .done(let d): "now on \(d ?? "no driver")"
        case .untouched: "not reached"
        case .failed(let why, let back): "failed: \(why)" + (back ? "; put back as it was" : "")
        case .rolledBack(let d): "put back on \(d ?? "no driver")"
        case .rollbackFailed(let why): "could not be put back: \(why)"
        }
    }

    func table() -> String {
        var out = ""
        if result == "refused" {
            out += "\(verb)\(dryRun ? " (dry run)" : "") refused, nothing written:\n"
            for r in refusals {
                out += "  \(r.address ?? "-")  \(r.kind): \(r.holder)\n      way out: \(r.wayOut)\n"
            }
            return out
        }
        out += "\(verb)\(dryRun ? " (dry run, nothing written)" : ""): \(result)\n"
        for f in functions {
            let arrow = f.changes ? "\(f.from ?? "no driver") -> \(f.to ?? "native driver")" : "stays on \(f.from ?? "no driver")"
            out += "  \(f.address)  group \(f.iommuGroup.map(String.init) ?? "-")  \(f.role)  \(arrow)\n      \(f.reason)\n"
            if let o = f.outcome { out += "      \(o)\n" }
        }
        if dryRun {
            out += operations.isEmpty ? "nothing to write\n" : "would write:\n" + operations.map { "  \($0)\n" }.joined()
        }
        return out
    }
}
