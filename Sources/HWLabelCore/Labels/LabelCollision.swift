/// Two different labels that other engines would see as one: both export to the same Placement
/// trait (`ExportedName.placement` upper-cases and collapses punctuation, so "Turing GPU",
/// "turing gpu" and "Turing-GPU" are all `CUSTOM_HWLABEL_TURING_GPU`) or to the same Kubernetes
/// label value (`Turing GPU` and `Turing(GPU` are both `Turing_GPU`). A flavor or a node
/// selector asking for one would get devices carrying the other, so `hwlabel label set` and
/// `label rule add` refuse a new label that collides with a different one already in
/// labels.conf, and a hand-edited file that holds such a pair loads with a `label-collision`
/// warning naming both (`LabelSet.exportCollisions`).
public struct LabelCollision: Sendable, Hashable, CustomStringConvertible {
    public enum Form: String, Sendable, Hashable, CaseIterable {
        case placementTrait = "Placement trait"
        case kubernetesValue = "Kubernetes label value"
    }

    /// The label being added.
    public var label: HardwareLabel
    /// The different label already defined.
    public var existing: HardwareLabel
    /// Where `existing` is defined: `device slot:3`, `rule vendor=10de device=1eb8`.
    public var definition: String
    /// The forms both export to (at least one).
    public var forms: [Form]
    /// The shared exported name, one per entry of `forms`.
    public var exportedNames: [String]

    public init(label: HardwareLabel, existing: HardwareLabel, definition: String, forms: [Form], exportedNames: [String]) {
        self.label = label
        self.existing = existing
        self.definition = definition
        self.forms = forms
        self.exportedNames = exportedNames
    }

    /// `Placement trait CUSTOM_HWLABEL_TURING_GPU`, `… and Kubernetes label value Turing_GPU`.
    public var sharedNames: String {
        zip(forms, exportedNames).map { "\($0.rawValue) \($1)" }.joined(separator: " and ")
    }

    public var description: String {
        "label \"\(label.name)\" collides with label \"\(existing.name)\" (\(definition)): both export as \(sharedNames), "
            + "which Placement and Kubernetes cannot tell apart; use \"\(existing.name)\" itself, or a name that differs "
            + "in more than case, spaces and punctuation"
    }

    /// The forms `a` and `b` share; empty when they are the same label or export apart.
    static func shared(_ a: HardwareLabel, _ b: HardwareLabel) -> (forms: [Form], names: [String]) {
        guard a != b else { return ([], []) }
        var forms: [Form] = [], names: [String] = []
        let trait = a.placementTrait
        if trait == b.placementTrait {
            forms.append(.placementTrait)
            names.append(trait)
        }
        let value = a.kubernetesValue
        if value == b.kubernetesValue {
            forms.append(.kubernetesValue)
            names.append(value)
        }
        return (forms, names)
    }
}

extension LabelsDocument {
    /// The first label in the file (in line order) that is not `label` but exports to one of
    /// its names, or nil. Call it on the document as it would be written (after the new line
    /// replaced the one it replaces), under the store's lock, so the check holds for the write.
    public func exportCollision(for label: HardwareLabel) -> LabelCollision? {
        var checked: Set<String> = [label.name]
        for line in lines {
            let other: HardwareLabel, definition: String
            switch line {
            case .text: continue
            case let .instance(i): (other, definition) = (i.label, "device \(i.key)")
            case let .rule(r): (other, definition) = (r.label, "rule \(r.selector)")
            }
            // Each distinct name is normalised once: a file may hold 100,000s of lines.
            guard checked.insert(other.name).inserted else { continue }
            let (forms, names) = LabelCollision.shared(label, other)
            if !forms.isEmpty {
                return LabelCollision(label: label, existing: other, definition: definition, forms: forms, exportedNames: names)
            }
        }
        return nil
    }
}

extension LabelSet {
    /// One `label-collision` warning for each label that exports to a name an earlier,
    /// different label already exports to (instance labels first, then rules, each in file
    /// order). Such a file is still used as written, every device keeps its label, because
    /// refusing it would stop every device being reported over a naming clash; the warning
    /// names both labels, where each is defined, and the shared name. Linear in the number of
    /// distinct labels.
    public func exportCollisions() -> [Diagnostic] {
        var first: [String: String] = [:] // label name → its first definition
        var order: [HardwareLabel] = []
        for l in instanceLabels where first[l.label.name] == nil {
            first[l.label.name] = "device \(l.key)"
            order.append(l.label)
        }
        for r in rules where first[r.label.name] == nil {
            first[r.label.name] = "rule \(r.selector)"
            order.append(r.label)
        }
        guard order.count > 1 else { return [] }
        var byTrait: [String: HardwareLabel] = [:], byValue: [String: HardwareLabel] = [:]
        var out: [Diagnostic] = []
        for label in order {
            let trait = label.placementTrait, value = label.kubernetesValue
            // The earlier labels this one collides with, each once with every form they share.
            var owners: [HardwareLabel] = []
            if let o = byTrait[trait] { owners.append(o) } else { byTrait[trait] = label }
            if let o = byValue[value] { if !owners.contains(o) { owners.append(o) } } else { byValue[value] = label }
            for owner in owners {
                let (forms, names) = LabelCollision.shared(label, owner)
                let c = LabelCollision(
                    label: label, existing: owner, definition: first[owner.name] ?? "", forms: forms, exportedNames: names)
                out.append(
                    Diagnostic(
                        code: "label-collision",
                        message: "labels \"\(owner.name)\" (\(first[owner.name] ?? "")) and \"\(label.name)\" "
                            + "(\(first[label.name] ?? "")) in labels.conf both export as \(c.sharedNames): Placement and "
                            + "Kubernetes cannot tell them apart; give both the same label, or rename one with `hwlabel label`"))
            }
        }
        return out
    }
}
