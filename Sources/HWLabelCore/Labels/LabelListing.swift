import HWLabelProbe

/// `hwlabel label list`: every label definition with the devices it covers now, the exported
/// forms of every label, and where other engines would over-match. Pure.
public struct LabelListing: Codable, Sendable, Hashable {
    public var definitions: [LabelDefinition]
    public var labels: [LabelSummary]
    public var errors: [Diagnostic]
    public var warnings: [Diagnostic]

    /// Linear in the number of labels and rules: descriptors are indexed once by address,
    /// vendor and label name, and rules by label name, so a labels.conf of 300,000 rules with as
    /// many distinct labels does not compare every label with every rule (that made `label list`
    /// quadratic: 63 s at 16,000 rules).
    public init(labels labelSet: LabelSet, descriptors set: DescriptorSet, snapshot: Snapshot) {
        // The present descriptors with their functions, by vendor: a rule looks only at its vendor's.
        var byVendor: [String: [(AssignableDevice, PCIFunction)]] = [:]
        var byLabel: [String: [AssignableDevice]] = [:]
        var byPair: [String: [AssignableDevice]] = [:]
        for d in set.descriptors {
            if let f = snapshot.function(at: d.address) { byVendor[f.vendor, default: []].append((d, f)) }
            if let name = d.label?.name { byLabel[name, default: []].append(d) }
            byPair[d.attributes.vendor + ":" + d.attributes.device, default: []].append(d)
        }
        var defs: [LabelDefinition] = []
        defs.reserveCapacity(labelSet.instanceLabels.count + labelSet.rules.count)
        var byInstance: [String: [Int]] = [:], byAddress: [PCIAddress: [Int]] = [:]
        for (i, d) in set.descriptors.enumerated() {
            byInstance[d.instance.id, default: []].append(i)
            byAddress[d.address, default: []].append(i)
        }
        for l in labelSet.instanceLabels {
            // What `InstanceLabel.matches` accepts: the instance id, `address:A` or a bare address.
            var at: Set<Int> = []
            at.formUnion(byInstance[l.key] ?? [])
            let bare = l.key.hasPrefix("address:") ? l.key.dropFirst("address:".count) : Substring(l.key)
            if let a = PCIAddress(bare) { at.formUnion(byAddress[a] ?? []) }
            let hits = at.sorted().map { set.descriptors[$0] }
            defs.append(
                LabelDefinition(
                    kind: "instance", key: l.key, label: l.label.name,
                    covers: hits.filter { $0.label?.source == "instance" && $0.label?.name == l.label.name }.map(\.address),
                    overriddenOn: []))
        }
        var rulesByLabel: [String: [LabelRule]] = [:]
        for r in labelSet.rules {
            rulesByLabel[r.label.name, default: []].append(r)
            let candidates = byVendor[r.vendor] ?? []
            var covers: [PCIAddress] = [], overridden: [PCIAddress] = []
            if !candidates.isEmpty {
                let selector = r.selector
                for (d, f) in candidates where r.matches(f) {
                    if d.label?.source == "rule" && d.label?.rule == selector {
                        covers.append(d.address)
                    } else {
                        overridden.append(d.address)
                    }
                }
            }
            defs.append(
                LabelDefinition(
                    kind: "rule", key: r.selector, label: r.label.name, covers: covers,
                    overriddenOn: overridden))
        }
        for d in set.descriptors where d.label?.source == "udev" {
            defs.append(
                LabelDefinition(
                    kind: "udev", key: "\(LabelSet.udevProperty) on \(d.address)", label: d.label!.name,
                    covers: [d.address], overriddenOn: []))
        }
        definitions = defs

        var warnings = set.warnings
        var summaries: [LabelSummary] = []
        let names = Set(defs.map(\.label)).sorted()
        summaries.reserveCapacity(names.count)
        for name in names {
            guard let label = try? HardwareLabel(validating: name) else { continue }
            let covered = byLabel[name] ?? []
            let pairs = Set(covered.map { $0.attributes.vendor + ":" + $0.attributes.device })
            let over = pairs.sorted().flatMap { byPair[$0] ?? [] }.filter { $0.label?.name != name }.sorted { $0.address < $1.address }
            var notes: [String] = []
            if !over.isEmpty {
                let list = over.map { d in
                    "\(d.address) (\(d.attributes.vendor):\(d.attributes.device)"
                        + (d.attributes.subsystemVendor.map { " subsystem \($0):\(d.attributes.subsystemDevice ?? "?")" } ?? "")
                        + ", " + (d.label.map { "label \"\($0.name)\"" } ?? "unlabelled") + ")"
                }.joined(separator: ", ")
                notes.append(
                    "Nova aliases and KubeVirt pciVendorSelector match vendor:product only (\(pairs.sorted().joined(separator: ", "))): "
                        + "exporting \"\(name)\" there would also match \(list)")
            }
            for r in rulesByLabel[name] ?? [] where r.needsMoreThanVendorProduct && over.isEmpty {
                notes.append(
                    "\(r.description) uses \(r.device == nil ? "a vendor-only or class" : "subsystem or class") match that Nova aliases and KubeVirt pciVendorSelector cannot express; they select by vendor:product"
                )
            }
            for n in notes { warnings.append(Diagnostic(code: "export-overmatch", message: "label \"\(name)\": " + n)) }
            summaries.append(LabelSummary(label: name, exported: ExportedForms(label), devices: covered.map(\.address), warnings: notes))
        }
        labels = summaries
        errors = set.errors
        self.warnings = warnings
    }
}

public struct LabelDefinition: Codable, Sendable, Hashable {
    /// `instance`, `rule` or `udev`.
    public var kind: String
    /// Instance key (`dsn:…`, address) or rule selector (`vendor=10de device=1eb8`).
    public var key: String
    public var label: String
    /// Present devices that carry the label because of this definition.
    public var covers: [PCIAddress]
    /// Present devices the rule matches but whose label comes from elsewhere (instance label,
    /// udev) or is withheld by a rule conflict.
    public var overriddenOn: [PCIAddress]
}

public struct LabelSummary: Codable, Sendable, Hashable {
    public var label: String
    public var exported: ExportedForms
    public var devices: [PCIAddress]
    public var warnings: [String]
}
