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
            when any function fails, every function changed is put back. enable records each \
            device (instance id, identity, previous driver, group) in <config-dir>/passthrough.conf; \
            apply binds recorded devices again at boot and hotplug, only while the card at the \
            recorded instance has the recorded identity; disable restores the recorded driver and \
            removes the record. Exit codes: 0 done (or planned, with --dry-run), 1 refused, failed \
            or drifted, 2 usage or unreadable passthrough.conf, 3 source unreadable.
            """,
        subcommands: [
            PassthroughEnableCommand.self, PassthroughDisableCommand.self, PassthroughApplyCommand.self,
            PassthroughStatusCommand.self,
        ]
    )
}

/// What every passthrough command that may write takes: the source, where modules.alias lives,
/// `--dry-run` and the output format. Writes go to the live host only: a captured tree or a dump
/// is another machine.
struct PassthroughWriteOptions: ParsableArguments {
    @OptionGroup var source: SourceOptions

    @Option(
        name: .customLong("modules-root"),
        help: ArgumentHelp("Where the kernel's modules live (modules.alias is read from DIR/<release>/).", valueName: "DIR"))
    var modulesRoot: String = "/lib/modules"

    @Flag(name: .customLong("dry-run"), help: "Show the plan and the writes; write nothing.")
    var dryRun = false

    @Option(name: .long, help: "table or json.")
    var format: OutputFormat = .table

    func validate() throws {
        if !dryRun && (source.sysfsRoot != nil || source.pciDump != nil) {
            throw ValidationError("--sysfs-root and --pci-dump describe another machine: only --dry-run is possible")
        }
    }

    /// The sysfs root writes go to (and the driver links are read from).
    var sysRoot: String { source.sysfsRoot ?? "/sys" }

    var executor: PassthroughExecutor { PassthroughExecutor(host: SysfsPassthroughHost(sysRoot: sysRoot)) }

    /// The planner over the source, with the VFIO variant drivers of `modules.alias`.
    func planner() throws -> PassthroughPlanner {
        let (snapshot, _, _, set) = try CommandSupport.descriptors(source)
        Diagnostics.warn(snapshot.warnings)
        var aliases = VFIOModuleAliases.none
        if snapshot.source.kind != "dump" {
            let proc = source.sysfsRoot == nil ? "/proc" : source.procRoot
            let (read, warnings) = Probe().vfioAliases(modulesRoot: modulesRoot, proc: proc)
            aliases = read
            Diagnostics.warn(warnings)
        }
        return PassthroughPlanner(snapshot: snapshot, descriptors: set, aliases: aliases)
    }
}

struct PassthroughOptions: ParsableArguments {
    @OptionGroup var common: PassthroughWriteOptions

    @Option(name: .long, help: ArgumentHelp("Every device with this hardware label (repeatable).", valueName: "L"))
    var label: [String] = []

    @Argument(help: ArgumentHelp("Addresses (DDDD:BB:DD.F) or instance ids (dsn:…, slot:…).", valueName: "TARGET"))
    var targets: [String] = []

    func validate() throws {
        if targets.isEmpty && label.isEmpty { throw ValidationError("name at least one TARGET or --label") }
        try common.validate()
    }

    var parsedTargets: [PassthroughTarget] {
        targets.map(PassthroughTarget.init(parsing:)) + label.map(PassthroughTarget.label)
    }

    func run(_ verb: PassthroughRunner.Verb, wholeGroup: Bool) throws {
        let dryRun = common.dryRun
        let planner = try common.planner()
        let store = PassthroughStore(directory: common.source.configDir)
        let (report, change) = try CommandSupport.inputErrors {
            try PassthroughRunner.run(
                verb, targets: parsedTargets, planner: planner, options: .init(wholeGroup: wholeGroup),
                dryRun: dryRun, executor: common.executor, store: store)
        }
        var view = PassthroughView(verb: verb, report: report, dryRun: dryRun)
        view.recorded = change.recorded
        view.recordsRemoved = change.removed
        view.recordError = change.error
        view.recordsPath = store.path
        switch common.format {
        case .json: print(try CommandSupport.json(view), terminator: "")
        case .table: print(view.table(), terminator: "")
        }
        if let e = change.error { Diagnostics.error(e) }
        if !view.succeeded || change.error != nil { throw ExitCode(1) }
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
        abstract:
            "Give devices and their companions back to the host: to the driver recorded at enable, else the native driver; remove the record.",
        discussion: "Exit codes: 0 done (or planned, with --dry-run), 1 refused or failed, 2 usage, 3 source unreadable."
    )
    @OptionGroup var options: PassthroughOptions

    func run() throws { try options.run(.disable, wholeGroup: false) }
}

struct PassthroughStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Functions on a VFIO driver or with a driver override, whether their IOMMU group is viable, and the devices recorded in passthrough.conf with their state now.",
        discussion: """
            A recorded device is found by its recorded instance id and is: bound (on a VFIO driver), \
            not-bound (apply would bind it), absent, or drift (another card is at its instance: \
            apply does not bind it). Exit codes: 0 ok, 2 usage, 3 source unreadable.
            """
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

    /// One device of passthrough.conf, and where and how it is now.
    struct Record: Encodable {
        var key: String
        var identity: RecordedIdentity
        var recordedAddress: String
        var driver: String
        var previousDriver: String?
        /// Where the recorded instance is now (nil: absent).
        var address: String?
        /// `bound`, `not-bound`, `absent`, `drift`.
        var state: String
        var currentDriver: String?
        var drift: IdentityDrift?
    }

    struct View: Encodable {
        var functions: [Entry]
        var records: [Record]
        var recordsFile: String
        var recordsError: String?
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
        let store = PassthroughStore(directory: source.configDir)
        var records: [Record] = []
        var recordsError: String?
        do {
            let locator = PassthroughRecordLocator(snapshot: snapshot)
            records = try store.load().records.map { r in
                var e = Record(
                    key: r.key, identity: r.identity, recordedAddress: r.address.description, driver: r.driver,
                    previousDriver: r.previousDriver, state: "absent")
                switch locator.state(r) {
                case .absent: break
                case .bound(let a, let d): (e.address, e.state, e.currentDriver) = (a.description, "bound", d)
                case .notBound(let a, let d): (e.address, e.state, e.currentDriver) = (a.description, "not-bound", d)
                case .drift(let a, let d):
                    (e.address, e.state, e.drift) = (a.description, "drift", d)
                    e.currentDriver = snapshot.function(at: a)?.driver
                }
                return e
            }
        } catch {
            recordsError = error.description
            FileStandardError.write("hwlabel: warning: \(error.description)\n")
        }
        let view = View(functions: entries, records: records, recordsFile: store.path, recordsError: recordsError)
        switch format {
        case .json:
            print(try CommandSupport.json(view), terminator: "")
        case .table:
            if entries.isEmpty { print("no function is on a VFIO driver or has a driver override") }
            for e in entries {
                let group =
                    e.iommuGroup.map { "group \($0)" + (e.groupViable == false ? " (not viable: a member is on a host driver)" : "") }
                    ?? "no group"
                print("\(e.address)  \(e.driver ?? "no driver")  override \(e.driverOverride ?? "none")  \(group)  \(e.name ?? "")")
            }
            guard recordsError == nil else { return }
            print(records.isEmpty ? "no device recorded in \(store.path)" : "recorded in \(store.path):")
            for r in records {
                let now: String =
                    switch r.state {
                    case "bound": "at \(r.address ?? "?"), bound to \(r.currentDriver ?? "?")"
                    case "not-bound":
                        "at \(r.address ?? "?"), not bound (on \(r.currentDriver ?? "no driver")); `hwlabel passthrough apply` would bind it"
                    case "drift": "drift: another card at \(r.address ?? "?"), not bound"
                    default: "absent"
                    }
                print("  \(r.key)  \(r.identity)  recorded at \(r.recordedAddress)  \(now)")
                if let d = r.drift { print("      \(d)") }
            }
        }
    }
}

struct PassthroughApplyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply",
        abstract: "Bind the devices recorded in passthrough.conf to VFIO again (at boot, and from the udev rule at add).",
        discussion: """
            Each recorded device (all, or those at the ADDRESSes given: the udev rule passes the \
            kernel name of the device being added) is found by its recorded instance id, and its \
            identity (vendor, device, subsystem, class) is checked before anything is written: \
            another card there is not bound, and the drift is reported. Otherwise enable is \
            planned for it with its recorded group members and run; a device already on VFIO \
            is left as it is. Without passthrough.conf, or when no record's address or vendor and \
            device ID match the ADDRESSes, it exits 0 without scanning. Exit codes: 0 done, \
            nothing to do, or planned (--dry-run), 1 drift, refused or failed, 2 usage or \
            unreadable passthrough.conf, 3 source unreadable.
            """
    )
    @OptionGroup var common: PassthroughWriteOptions

    @Argument(help: ArgumentHelp("Only the recorded devices at these addresses (DDDD:BB:DD.F).", valueName: "ADDRESS"))
    var addresses: [String] = []

    func validate() throws {
        for a in addresses where PCIAddress(a) == nil { throw ValidationError("'\(a)' is not a PCI address DDDD:BB:DD.F") }
        try common.validate()
    }

    struct Entry: Encodable {
        var key: String
        var identity: RecordedIdentity
        var recordedAddress: String
        var address: String?
        /// `absent`, `drift`, or the plan's result: `refused`, `planned`, `done`, `failed`.
        var result: String
        var drift: IdentityDrift?
        var plan: PassthroughView?
    }

    struct View: Encodable {
        var dryRun: Bool
        var scanned: Bool
        var entries: [Entry]
    }

    func run() throws {
        let store = PassthroughStore(directory: common.source.configDir)
        // udev runs this for every PCI device added: no file, nothing to do, and quickly.
        guard store.exists else { return }
        let doc = try CommandSupport.inputErrors { try store.load() }
        let dryRun = common.dryRun
        let report = try PassthroughApply.run(
            records: doc.records, addresses: addresses.compactMap { PCIAddress($0) }, sysRoot: common.sysRoot, dryRun: dryRun,
            executor: common.executor
        ) { try common.planner() }
        let entries = report.entries.map { e -> Entry in
            var out = Entry(
                key: e.record.key, identity: e.record.identity, recordedAddress: e.record.address.description,
                address: e.address?.description, result: "absent")
            switch e.outcome {
            case .absent: break
            case .drift(let d): (out.result, out.drift) = ("drift", d)
            case .refused(let r): out.plan = PassthroughView(verb: .enable, report: .refused(r), dryRun: dryRun)
            case .planned(let p, let ops): out.plan = PassthroughView(verb: .enable, report: .dryRun(p, ops), dryRun: dryRun)
            case .ran(let p, let r): out.plan = PassthroughView(verb: .enable, report: .ran(p, r), dryRun: dryRun)
            }
            if let p = out.plan { out.result = p.result }
            return out
        }
        let view = View(dryRun: dryRun, scanned: report.scanned, entries: entries)
        switch common.format {
        case .json: print(try CommandSupport.json(view), terminator: "")
        case .table:
            if entries.isEmpty && addresses.isEmpty { print("no device recorded in \(store.path)") }
            for e in entries {
                print("\(e.key)  \(e.identity)  recorded at \(e.recordedAddress): \(e.address.map { "now at \($0)" } ?? "absent")")
                if let d = e.drift { print("  drift, not bound: \(d)") }
                if let p = e.plan {
                    print(
                        p.table().split(separator: "\n", omittingEmptySubsequences: false).map { $0.isEmpty ? "" : "  " + $0 }.joined(
                            separator: "\n"), terminator: "")
                }
            }
        }
        for e in entries { if let d = e.drift { Diagnostics.error(d.description) } }
        if !report.succeeded { throw ExitCode(1) }
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
    /// Instance ids recorded in (enable) or removed from (disable) passthrough.conf.
    var recorded: [String] = []
    var recordsRemoved: [String] = []
    var recordError: String?
    var recordsPath: String?

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
        let file = recordsPath ?? "passthrough.conf"
        if !recorded.isEmpty { out += "recorded in \(file): \(recorded.joined(separator: ", "))\n" }
        if !recordsRemoved.isEmpty {
            out += "\(dryRun ? "would remove" : "removed") from \(file): \(recordsRemoved.joined(separator: ", "))\n"
        }
        return out
    }
}
