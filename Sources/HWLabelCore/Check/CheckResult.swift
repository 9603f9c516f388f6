import HWLabelProbe

/// The answer to a `CheckRequest` on this host, now.
public struct CheckResult: Codable, Sendable, Hashable {
    public var schemaVersion: String = "1.0"
    public var fits: Bool
    public var nestedRequested: Bool
    /// The host's nested-virtualization state (`kvm_intel`/`kvm_amd` `nested`); null when unknown.
    @Nullable public var hostNestedVirtualization: Bool?
    /// Set when nested virtualization was asked together with a passthrough or vGPU device and the
    /// policy does not allow it.
    @Nullable public var refusal: NestedRefusal?
    public var parts: [PartResult]
    /// Distinct devices that would serve the request (companions listed with their device).
    public var devices: [ServingDevice]
    /// Commands that would bind the serving devices (and what travels with them) to vfio-pci.
    public var bindingCommands: [String]
}

public struct NestedRefusal: Codable, Sendable, Hashable {
    public static let message = "Virtualization is not supported on a virtual machine with a PCI passthrough device."
    public static let resolutions = [
        "Remove the PCI passthrough or vGPU device from the VM and enable nested hardware virtualization.",
        "Keep the PCI passthrough or vGPU device and leave nested hardware virtualization off.",
        "Split the workload into two VMs: one with nested hardware virtualization, one with the PCI passthrough or vGPU device.",
    ]
    public var message: String = Self.message
    public var resolutions: [String] = Self.resolutions
    /// How the operator can allow it on KVM.
    public var policyHint: String = "to allow it on this host (KVM can, with caveats), set allowNestedWithPassthrough = true in policy.conf"
    public init() {}
}

public struct PartResult: Codable, Sendable, Hashable {
    /// `devices`, `vgpu` or `nested`.
    public var kind: String
    /// The request part in words: `2 × label "Turing GPU"`.
    public var request: String
    public var satisfied: Bool
    /// Devices that would serve this part.
    public var devices: [PCIAddress]
    /// Why the part is not (fully) met.
    public var unmet: [String]
}

public struct ServingDevice: Codable, Sendable, Hashable {
    public var address: PCIAddress
    public var instance: String
    /// The request part it serves.
    public var serves: String
    @Nullable public var label: String?
    public var readiness: Readiness.State
    public var companions: [PCIAddress]
    /// For vGPU parts: the mdev type id or NVIDIA vGPU type id that would be created.
    @Nullable public var vgpuType: String?
}
