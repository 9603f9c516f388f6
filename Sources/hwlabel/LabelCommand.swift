import ArgumentParser
import Foundation
import HWLabelService
import HWLabelCore
import HWLabelProbe

/// `hwlabel label …`: hardware labels in `<config-dir>/labels.conf`.
struct LabelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "label",
        abstract: "Hardware labels: one per device, set on an instance or by attribute rule.",
        discussion: """
            Labels live in <config-dir>/labels.conf (commented, human-readable, written atomically \
            under a lock). Precedence: device label > udev HWLABEL_LABEL > rule. Exit codes: 0 ok, \
            2 usage or input error (bad label, corrupt labels.conf, conflicting rule, a label whose \
            exported names collide with another's), 3 hardware source unreadable.
            """,
        subcommands: [
            LabelSetCommand.self, LabelRuleCommand.self, LabelRemoveCommand.self,
            LabelListCommand.self, LabelSuggestCommand.self,
        ]
    )
}

struct RuleSelectorOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Vendor ID (4 hex digits).", valueName: "VVVV")) var vendor: String
    @Option(help: ArgumentHelp("Device ID.", valueName: "DDDD")) var device: String?
    @Option(help: ArgumentHelp("Subsystem vendor and device IDs (needs --device).", valueName: "SVVV:SDDD")) var subsystem: String?
    @Option(name: .customLong("class"), help: ArgumentHelp("Class prefix: 2, 4 or 6 hex digits (03, 0302).", valueName: "CC[SS[PP]]"))
    var classPrefix: String?
}

struct LabelSetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Label one device: by address (stored under its stable instance id) or by instance id (dsn:…, slot:…).",
        discussion: """
            The identity of the card at the target (vendor, device, subsystem, class) is recorded \
            with the label: when another card is put at that instance, the label is not applied to \
            it and `inventory` and `show` warn (drift). An instance id with no device present now is \
            stored without an identity. A label whose Placement trait or Kubernetes value is that of \
            a different label in labels.conf ("Turing GPU", "turing gpu") is refused (exit 2).
            """)

    @OptionGroup var source: SourceOptions
    @Argument(help: ArgumentHelp("PCI address (0000:3b:00.0) or instance id (dsn:…, slot:…, path:…, address:…).", valueName: "ADDRESS|ID"))
    var target: String
    @Argument(help: "The label, e.g. \"Turing GPU\" (quote it).") var label: String

    func run() throws {
        let l = try CommandSupport.inputErrors { try HardwareLabel(validating: label) }
        let key: String
        let identity: RecordedIdentity?
        if PCIAddress(target) != nil {
            // Store the stable id, so the label follows the card through renumbering and (with a
            // serial number) slot moves.
            let (_, _, _, set) = try CommandSupport.descriptors(source)
            guard let d = set.descriptor(matching: target) else {
                Diagnostics.error("no assignable device at \(target); to label it anyway use address:\(target)")
                throw ExitCode(2)
            }
            key = d.instance.id
            identity = RecordedIdentity(d.attributes)
            if d.instance.source == "address" {
                FileStandardError.write(
                    "hwlabel: warning: \(target) has no serial number, slot or upstream path: the label follows the address\n")
            }
        } else {
            guard isValidInstanceKey(target) else {
                Diagnostics.error("'\(target)' is neither a PCI address nor an instance id (dsn:, slot:, path:, address:)")
                throw ExitCode(2)
            }
            key = target
            identity = try presentIdentity(at: target)
        }
        let k = key
        _ = try CommandSupport.inputErrors {
            try CommandSupport.store(source).update { doc in
                doc.setInstanceLabel(key: k, label: l, identity: identity)
                // Checked on the document as written, under the lock: the line this one replaces
                // is gone, and a concurrent `label` command cannot slip a colliding label in.
                if let t = l.reservedTrait { throw LabelError.conflict(Self.reserved(l, t)) }
                if let c = doc.exportCollision(for: l) { throw LabelError.conflict(c.description + "; nothing saved") }
            }
        }
        print(
            "device \(key)\(identity.map { " " + $0.fields } ?? "") = \(l.name)   (trait \(l.placementTrait), k8s \(l.kubernetesValue))")
    }

    /// Why a label that exports as one of hwlabel's own traits is refused.
    static func reserved(_ l: HardwareLabel, _ trait: String) -> String {
        "label \"\(l.name)\" would be the Placement trait \(trait), which hwlabel sets itself (on every provider it manages, or to name a card); choose another name; nothing saved"
    }

    /// The identity of the assignable device whose instance id is `key` (or at the address an
    /// `address:` key names); nil, said on stderr, when none is present or the source cannot be read.
    func presentIdentity(at key: String) throws -> RecordedIdentity? {
        let snapshot: Snapshot
        do { snapshot = try Probe().snapshot(source.source) } catch {
            FileStandardError.write(
                "hwlabel: warning: cannot read the hardware (\(error.description)): \(key) is labelled without a recorded identity, "
                    + "so the label applies to whatever card is there\n")
            return nil
        }
        let policy = try CommandSupport.inputErrors { try CommandSupport.store(source).loadPolicy() }
        let set = DescriptorBuilder().descriptors(snapshot: snapshot, labels: LabelSet(), policy: policy)
        guard let d = set.descriptor(matching: key) else {
            FileStandardError.write(
                "hwlabel: warning: no assignable device is \(key) now: the label is stored without a recorded identity, "
                    + "so it applies to whatever card is there; `hwlabel label set` again once the card is in to record it\n")
            return nil
        }
        return RecordedIdentity(d.attributes)
    }
}

struct LabelRuleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rule", abstract: "Attribute rules: label every device whose IDs match.",
        subcommands: [LabelRuleAddCommand.self])
}

struct LabelRuleAddCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add (or replace, same selector) a rule: --vendor V [--device D] [--subsystem SV:SD] [--class C] LABEL.",
        discussion: """
            A rule that would give a present device a different label than another rule is refused (exit 2) unless --force. \
            A label whose Placement trait or Kubernetes value is that of a different label in labels.conf \
            ("Turing GPU", "turing gpu") is refused (exit 2), --force or not.
            """)

    @OptionGroup var source: SourceOptions
    @OptionGroup var selector: RuleSelectorOptions
    @Flag(help: "Save the rule even if it conflicts with another rule on a present device.") var force = false
    @Argument(help: "The label.") var label: String

    func run() throws {
        let rule = try CommandSupport.rule(
            vendor: selector.vendor, device: selector.device, subsystem: selector.subsystem,
            classPrefix: selector.classPrefix, label: label)
        let snapshot = try source.snapshot()
        let st = CommandSupport.store(source)
        // The conflict check reads labels.conf under the same lock as the write: two
        // conflicting `rule add`s run at once save one rule, not both.
        let (trial, after) = try CommandSupport.inputErrors {
            try st.update { doc -> (LabelSet, DescriptorSet) in
                var written = doc
                written.addRule(rule)
                if let t = rule.label.reservedTrait { throw LabelError.conflict(LabelSetCommand.reserved(rule.label, t)) }
                if let c = written.exportCollision(for: rule.label) { throw LabelError.conflict(c.description + "; nothing saved") }
                var trial = doc.labelSet
                trial.addRule(rule)
                let after = DescriptorBuilder().descriptors(snapshot: snapshot, labels: trial, policy: try st.loadPolicy())
                let conflicts = after.errors.filter { $0.code == "rule-conflict" && $0.message.contains(rule.description) }
                if !conflicts.isEmpty && !force { throw RuleConflict(diagnostics: conflicts) }
                doc.addRule(rule)
                return (trial, after)
            }.1
        }
        let covered = after.descriptors.filter { $0.label?.rule == rule.selector }.map { "\($0.address)" }
        print("\(rule.description): covers \(covered.isEmpty ? "no present device" : covered.joined(separator: ", "))")
        CommandSupport.printDiagnostics(
            LabelListing(labels: trial, descriptors: after, snapshot: snapshot).warnings
                .filter { $0.code == "export-overmatch" && $0.message.contains("\"\(rule.label.name)\"") })
    }
}

/// `rule add` refused: the rule would give a present device a second label.
struct RuleConflict: Error {
    var diagnostics: [Diagnostic]
}

struct LabelRemoveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rm",
        abstract: "Remove a device's label (ADDRESS|ID) or a rule (--vendor … selector, label not needed).")

    @OptionGroup var source: SourceOptions
    @Argument(help: ArgumentHelp("PCI address or instance id whose label to remove.", valueName: "ADDRESS|ID")) var target: String?
    @Option(help: ArgumentHelp("Rule to remove: vendor ID.", valueName: "VVVV")) var vendor: String?
    @Option(help: ArgumentHelp("Rule to remove: device ID.", valueName: "DDDD")) var device: String?
    @Option(help: ArgumentHelp("Rule to remove: subsystem.", valueName: "SVVV:SDDD")) var subsystem: String?
    @Option(name: .customLong("class"), help: ArgumentHelp("Rule to remove: class prefix.", valueName: "CC[SS[PP]]")) var classPrefix:
        String?

    func run() throws {
        let st = CommandSupport.store(source)
        if let vendor {
            guard target == nil else { Diagnostics.error("give a device or a rule selector, not both"); throw ExitCode(2) }
            let rule = try CommandSupport.rule(vendor: vendor, device: device, subsystem: subsystem, classPrefix: classPrefix, label: "x")
            let (_, n) = try CommandSupport.inputErrors { try st.update { $0.removeRules(matchingSelectorOf: rule) } }
            guard n > 0 else { Diagnostics.error("no rule \(rule.selector) in \(st.labelsPath)"); throw ExitCode(2) }
            print("removed rule \(rule.selector)")
            return
        }
        guard let target else { Diagnostics.error("give ADDRESS|ID or --vendor …"); throw ExitCode(2) }
        var keys: Set<String> = [target]
        if let a = PCIAddress(target) {
            keys.formUnion(["\(a)", "address:\(a)"])
            if let (_, _, _, set) = try? CommandSupport.descriptors(source), let d = set.descriptor(at: a) { keys.insert(d.instance.id) }
        }
        let k = keys
        let (_, n) = try CommandSupport.inputErrors { try st.update { $0.removeInstanceLabels(keys: k) } }
        guard n > 0 else { Diagnostics.error("no label on \(target) in \(st.labelsPath)"); throw ExitCode(2) }
        print("removed \(n) label\(n == 1 ? "" : "s") on \(target)")
    }
}

struct LabelListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "Every label and rule with the devices it covers now, exported forms and warnings.",
        discussion: "Exit codes: 0 ok (even with warnings), 1 a rule conflict exists, 2 input error.")

    @OptionGroup var source: SourceOptions
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let (snapshot, labels, _, set) = try CommandSupport.descriptors(source)
        let listing = LabelListing(labels: labels, descriptors: set, snapshot: snapshot)
        if format == .json { print(try CommandSupport.json(listing), terminator: "") } else { print(Self.table(listing), terminator: "") }
        if !listing.errors.isEmpty { throw ExitCode(1) }
    }

    static func table(_ l: LabelListing) -> String {
        var out = "DEFINITIONS\n"
        if l.definitions.isEmpty { out += "  (none)\n" }
        for d in l.definitions {
            out += "  \(d.kind)\(String(repeating: " ", count: max(0, 9 - d.kind.utf8.count))) \(d.key) = \(d.label)\n"
            out += "            covers: \(d.covers.isEmpty ? "no present device" : d.covers.map(\.description).joined(separator: ", "))\n"
            if !d.overriddenOn.isEmpty {
                out +=
                    "            matches but not applied (device label, udev or conflict): \(d.overriddenOn.map(\.description).joined(separator: ", "))\n"
            }
        }
        out += "LABELS\n"
        for s in l.labels {
            out += "  \(s.label)\n    Placement trait: \(s.exported.placementTrait)\n    Kubernetes value: \(s.exported.kubernetesValue)\n"
            out += "    devices: \(s.devices.isEmpty ? "none present" : s.devices.map(\.description).joined(separator: ", "))\n"
            for w in s.warnings { out += "    warning: \(w)\n" }
        }
        for e in l.errors { out += "error: \(e.message)\n" }
        for w in l.warnings where w.code != "export-overmatch" { out += "warning: \(w.message)\n" }
        return out
    }
}

struct LabelSuggestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "suggest",
        abstract: "Group the devices present by GPU architecture or model and print the commands that would label them.")

    @OptionGroup var source: SourceOptions
    @Option(help: "table or json.") var format: OutputFormat = .table

    func run() throws {
        let (_, _, _, set) = try CommandSupport.descriptors(source)
        let suggestions = LabelSuggester().suggestions(for: set)
        if format == .json { print(try CommandSupport.json(suggestions), terminator: ""); return }
        if suggestions.isEmpty { print("no suggestions: no GPU with a known architecture and no NIC/NVMe/accelerator model present") }
        for s in suggestions {
            print("# \(s.label) (\(s.basis)): \(s.devices.map(\.description).joined(separator: ", "))")
            for c in s.commands { print(c) }
        }
    }
}
