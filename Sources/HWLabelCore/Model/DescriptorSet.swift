import HWLabelProbe

/// What `DescriptorBuilder` returns: descriptors sorted by address, plus what went wrong while
/// labelling them (rule conflicts are errors; invalid udev labels, identity collisions are warnings).
public struct DescriptorSet: Codable, Sendable, Hashable {
    public var descriptors: [AssignableDevice]
    /// Functions the policy file excluded, so a report can say why they are absent.
    public var excluded: [PCIAddress]
    public var errors: [Diagnostic]
    public var warnings: [Diagnostic]
    public init(descriptors: [AssignableDevice], excluded: [PCIAddress] = [], errors: [Diagnostic] = [], warnings: [Diagnostic] = []) {
        self.descriptors = descriptors
        self.excluded = excluded
        self.errors = errors
        self.warnings = warnings
    }

    public func descriptor(at address: PCIAddress) -> AssignableDevice? {
        descriptors.first { $0.address == address }
    }

    /// Finds a descriptor by instance id (`dsn:…`) or address text (`0000:3b:00.0`, `3b:00.0`, `address:…`).
    public func descriptor(matching key: String) -> AssignableDevice? {
        if let d = descriptors.first(where: { $0.instance.id == key }) { return d }
        let text = key.hasPrefix("address:") ? String(key.dropFirst("address:".count)) : key
        if let a = PCIAddress(text) { return descriptor(at: a) }
        return nil
    }
}
