import HWLabelProbe

/// Every label source the agent knows: instance labels and attribute rules (from `labels.conf`).
/// The udev property `HWLABEL_LABEL` comes with the snapshot.
///
/// Precedence, highest first: instance label (set on this device with `hwlabel label set`) >
/// udev `HWLABEL_LABEL` (a host-local rule on this one function) > attribute rule. Two rules that
/// give one device different labels are an error naming both; the device then gets no rule label.
public struct LabelSet: Codable, Sendable, Hashable {
    public var instanceLabels: [InstanceLabel]
    public var rules: [LabelRule]
    public init(instanceLabels: [InstanceLabel] = [], rules: [LabelRule] = []) {
        self.instanceLabels = instanceLabels
        self.rules = rules
    }

    /// The udev property a rule may set (see udev-rules/).
    public static let udevProperty = "HWLABEL_LABEL"

    public struct Resolution: Sendable, Hashable {
        public var assignment: LabelAssignment?
        public var diagnostics: [Diagnostic]
    }

    /// The one label a function carries, and any conflicts or invalid labels met on the way.
    public func resolve(_ f: PCIFunction, instance: InstanceIdentity) -> Resolution {
        resolve(
            f, instance: instance, instanceHits: instanceLabels.filter { $0.matches(instance: instance, address: f.address) },
            ruleHits: rules.filter { $0.matches(f) })
    }

    /// The decision itself, over the instance labels and rules that match (in file order):
    /// `LabelResolver` finds those through its indexes.
    func resolve(_ f: PCIFunction, instance: InstanceIdentity, instanceHits: [InstanceLabel], ruleHits hits: [LabelRule]) -> Resolution {
        var diagnostics: [Diagnostic] = []
        // 1. Instance label: a stable-id key beats an address key (the card may have moved). A
        //    label given to another card (its recorded identity differs) is not applied:
        //    `DescriptorBuilder` reports the drift.
        let fitting = instanceHits.filter { $0.fits(f) }
        if let hit = fitting.first(where: \.isStableKey) ?? fitting.first {
            return Resolution(
                assignment: LabelAssignment(name: hit.label.name, source: "instance", rule: nil),
                diagnostics: diagnostics)
        }
        // 2. udev property.
        if let raw = f.properties[Self.udevProperty] {
            do {
                let l = try HardwareLabel(validating: raw)
                return Resolution(
                    assignment: LabelAssignment(name: l.name, source: "udev", rule: nil),
                    diagnostics: diagnostics)
            } catch {
                diagnostics.append(
                    Diagnostic(
                        code: "invalid-udev-label", address: f.address,
                        message: "\(f.address): udev \(Self.udevProperty): \(error.description); ignored"))
            }
        }
        // 3. Rules: all matching rules must agree.
        guard let first = hits.first else { return Resolution(assignment: nil, diagnostics: diagnostics) }
        if let other = hits.first(where: { $0.label != first.label }) {
            diagnostics.append(
                Diagnostic(
                    code: "rule-conflict", severity: .error, address: f.address,
                    message: "\(f.address) (\(f.vendor):\(f.device)): \(first.description) and \(other.description) "
                        + "give it different labels; it gets neither until one rule is removed or narrowed "
                        + "(or set a label on the device itself)"))
            return Resolution(assignment: nil, diagnostics: diagnostics)
        }
        return Resolution(
            assignment: LabelAssignment(name: first.label.name, source: "rule", rule: first.selector),
            diagnostics: diagnostics)
    }

    /// Adds or replaces the label on one instance key.
    public mutating func setInstanceLabel(key: String, label: HardwareLabel, identity: RecordedIdentity? = nil) {
        instanceLabels.removeAll { $0.key == key }
        instanceLabels.append(InstanceLabel(key: key, label: label, identity: identity))
    }

    /// Adds a rule, replacing one with the same selector.
    public mutating func addRule(_ rule: LabelRule) {
        rules.removeAll { $0.sameSelector(as: rule) }
        rules.append(rule)
    }
}

/// An error or warning the agent found while building descriptors or reading labels.
public struct Diagnostic: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Severity: String, Codable, Sendable, Hashable { case error, warning }
    /// `rule-conflict`, `invalid-udev-label`, `export-overmatch`, `unknown-address`, …
    public var code: String
    public var severity: Severity
    @Nullable public var address: PCIAddress?
    public var message: String
    public init(code: String, severity: Severity = .warning, address: PCIAddress? = nil, message: String) {
        self.code = code
        self.severity = severity
        self.address = address
        self.message = message
    }
    public var description: String { "\(severity.rawValue): \(message)" }
}
