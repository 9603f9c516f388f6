import HWLabelProbe

/// `hwlabel label suggest`: groups the devices present by GPU architecture (`Turing GPU`) or,
/// for NICs, NVMe and accelerators without one, by model name; proposes the rules. Pure.
public struct LabelSuggestion: Codable, Sendable, Hashable {
    public var label: String
    /// `gpu-architecture` or `model`.
    public var basis: String
    public var devices: [PCIAddress]
    public var rules: [LabelRule]
    /// `hwlabel label rule add …` commands that would create it.
    public var commands: [String]
}

public struct LabelSuggester: Sendable {
    public init() {}

    public func suggestions(for set: DescriptorSet) -> [LabelSuggestion] {
        var groups: [String: (basis: String, devices: [AssignableDevice])] = [:]
        for d in set.descriptors {
            if let arch = d.gpu?.architecture?.value, let l = Self.sanitize(arch + " GPU") {
                groups[l, default: ("gpu-architecture", [])].devices.append(d)
            } else if ["network", "nvme", "accelerator", "crypto"].contains(d.kind), !d.isVirtualFunction,
                let model = d.names.device, let l = Self.sanitize(model)
            {
                groups[l, default: ("model", [])].devices.append(d)
            }
        }
        var out: [LabelSuggestion] = []
        for (label, g) in groups.sorted(by: { $0.key < $1.key }) {
            guard let hl = try? HardwareLabel(validating: label) else { continue }
            let inGroup = Set(g.devices.map(\.address))
            var rules: [LabelRule] = []
            for d in g.devices {
                let a = d.attributes
                // Subsystem precision only where a device with the same vendor:device is outside
                // the group (the RTX 6000 / RTX 8000 case).
                let clash = set.descriptors.contains { o in
                    !inGroup.contains(o.address) && o.attributes.vendor == a.vendor && o.attributes.device == a.device
                }
                let rule =
                    clash && a.subsystemVendor != nil
                    ? try? LabelRule(
                        vendor: a.vendor, device: a.device, subsystemVendor: a.subsystemVendor,
                        subsystemDevice: a.subsystemDevice, label: hl)
                    : try? LabelRule(vendor: a.vendor, device: a.device, label: hl)
                if let rule, !rules.contains(rule) { rules.append(rule) }
            }
            let commands = rules.map { r in
                var c = "hwlabel label rule add --vendor \(r.vendor)"
                if let dev = r.device { c += " --device \(dev)" }
                if let sv = r.subsystemVendor, let sd = r.subsystemDevice { c += " --subsystem \(sv):\(sd)" }
                return c + " " + shellQuote(label)
            }
            out.append(
                LabelSuggestion(
                    label: label, basis: g.basis, devices: g.devices.map(\.address).sorted(),
                    rules: rules, commands: commands))
        }
        return out
    }

    /// Keeps what a label allows, collapses the rest to spaces, trims to 63 and to alphanumeric ends.
    static func sanitize(_ text: String) -> String? {
        ExportedName.trimmedToAlphanumericEnds(
            ExportedName.collapsingRuns(text, keeping: HardwareLabel.allowed, into: " ", afterReplacement: .absorbed),
            maxLength: HardwareLabel.maxLength)
    }
}

/// Single-quotes for a POSIX shell.
public func shellQuote(_ s: String) -> String {
    if !s.isEmpty, s.unicodeScalars.allSatisfy({ HardwareLabel.isAlnum($0) || "-_./:=".unicodeScalars.contains($0) }) { return s }
    return "'" + s.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}
