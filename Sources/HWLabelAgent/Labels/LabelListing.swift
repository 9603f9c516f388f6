import HWLabelProbe

/// `hwlabel label list`: every label definition with the devices it covers now, the exported
/// forms of every label, and where other engines would over-match. Pure.
public struct LabelListing: Codable, Sendable, Hashable {
    public var definitions: [LabelDefinition]
    public var labels: [LabelSummary]
    public var errors: [Diagnostic]
    public var warnings: [Diagnostic]

    public init(labels labelSet: LabelSet, descriptors set: DescriptorSet, snapshot: Snapshot) {
        var defs: [LabelDefinition] = []
        for l in labelSet.instanceLabels {
            let hits = set.descriptors.filter { l.matches(instance: $0.instance, address: $0.address) }
            defs.append(LabelDefinition(kind: "instance", key: l.key, label: l.label.name,
                                        covers: hits.filter { $0.label?.source == "instance" && $0.label?.name == l.label.name }.map(\.address),
                                        overriddenOn: []))
        }
        for r in labelSet.rules {
            let hits = set.descriptors.filter { d in snapshot.function(at: d.address).map(r.matches) ?? false }
            let covers = hits.filter { $0.label?.source == "rule" && $0.label?.rule == r.selector }
            defs.append(LabelDefinition(kind: "rule", key: r.selector, label: r.label.name, covers: covers.map(\.address),
                                        overriddenOn: hits.filter { h in !covers.contains { $0.address == h.address } }.map(\.address)))
        }
        for d in set.descriptors where d.label?.source == "udev" {
            defs.append(LabelDefinition(kind: "udev", key: "\(LabelSet.udevProperty) on \(d.address)", label: d.label!.name,
                                        covers: [d.address], overriddenOn: []))
        }
        definitions = defs

        var warnings = set.warnings
        var summaries: [LabelSummary] = []
        let names = Set(defs.map(\.label)).sorted()
        for name in names {
            guard let label = try? HardwareLabel(validating: name) else { continue }
            let covered = set.descriptors.filter { $0.label?.name == name }
            let pairs = Set(covered.map { $0.attributes.vendor + ":" + $0.attributes.device })
            let over = set.descriptors.filter { pairs.contains($0.attributes.vendor + ":" + $0.attributes.device) && $0.label?.name != name }
            var notes: [String] = []
            if !over.isEmpty {
                let list = over.map { d in
                    "\(d.address) (\(d.attributes.vendor):\(d.attributes.device)"
                        + (d.attributes.subsystemVendor.map { " subsystem \($0):\(d.attributes.subsystemDevice ?? "?")" } ?? "")
                        + ", " + (d.label.map { "label \"\($0.name)\"" } ?? "unlabelled") + ")"
                }.joined(separator: ", ")
                notes.append("Nova aliases and KubeVirt pciVendorSelector match vendor:product only (\(pairs.sorted().joined(separator: ", "))): "
                             + "exporting \"\(name)\" there would also match \(list)")
            }
            for r in labelSet.rules where r.label == label && r.needsMoreThanVendorProduct && over.isEmpty {
                notes.append("\(r.description) uses \(r.device == nil ? "a vendor-only or class" : "subsystem or class") match that Nova aliases and KubeVirt pciVendorSelector cannot express; they select by vendor:product")
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
