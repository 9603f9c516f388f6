import HWLabelCore

/// Placement's naming rules for custom traits and resource classes (each through
/// `ExportedName.placement`, the one Placement normaliser).
///
/// Placement accepts `CUSTOM_[A-Z0-9_]+` up to 255 characters for both. Nova's
/// "PCI devices in Placement" derives names the same way, so an operator who has read Nova's
/// docs recognises ours.
public enum PlacementNames {
    /// Marks every provider hwlabel created. Providers without it are never modified or deleted.
    public static let managedTrait = HardwareLabel.managedTrait
    /// The device passed every readiness check (`Readiness.State.ready`).
    public static let readyTrait = "CUSTOM_PASSTHROUGH_READY"
    /// Ready once its IOMMU group is bound to vfio-pci (`ready-after-binding`); informational.
    public static let readyAfterBindingTrait = "CUSTOM_PASSTHROUGH_READY_AFTER_BINDING"
    /// Nova deletes any provider carrying this trait that it did not create. Never set it.
    public static let forbiddenTraits: Set<String> = ["COMPUTE_MANAGED_PCI_DEVICE"]
    public static let maxLength = ExportedName.placementMaxLength

    /// `CUSTOM_HWLABEL_<LABEL>`: the trait a hardware label becomes.
    public static func labelTrait(_ label: String) -> String? { ExportedName.placement(label, prefix: HardwareLabel.placementPrefix) }
    /// `CUSTOM_GPU_ARCH_<ARCH>`: `Turing` → `CUSTOM_GPU_ARCH_TURING`.
    public static func gpuArchTrait(_ arch: String) -> String? { ExportedName.placement(arch, prefix: "CUSTOM_GPU_ARCH_") }
    /// `CUSTOM_PCI_<VVVV>_<PPPP>` in upper-case hex, as Nova names PCI resource classes.
    public static func pciResourceClass(vendor: String, device: String) -> String {
        "CUSTOM_PCI_\(vendor.uppercased())_\(device.uppercased())"
    }
    /// `CUSTOM_HWLABEL_<LABEL>` as a resource class (traits and classes are separate namespaces).
    public static func labelResourceClass(_ label: String) -> String? {
        ExportedName.placement(label, prefix: HardwareLabel.placementPrefix)
    }
    /// `CUSTOM_VGPU_<TYPE NAME>`: `GRID T4-2Q` → `CUSTOM_VGPU_GRID_T4_2Q`.
    public static func vgpuResourceClass(_ typeName: String) -> String? { ExportedName.placement(typeName, prefix: "CUSTOM_VGPU_") }

    /// The prefix of `identityTrait`.
    public static let identityTraitPrefix = HardwareLabel.identityTraitPrefix

    /// `CUSTOM_HWLABEL_DEV_<VVVV>_<DDDD>_<SVVV>_<SDDD>` (upper-case hex; the subsystem part is
    /// left out for a function without one): which card a device provider describes. Provider
    /// names follow the bus address, so when another card is put into the slot the name stays
    /// and this trait is what tells the two cards apart. The class code is left out: some
    /// GPUs switch it (display vs. 3D controller) without being another card.
    public static func identityTrait(_ identity: RecordedIdentity) -> String {
        var parts = [identity.vendor, identity.device]
        if let sv = identity.subsystemVendor, let sd = identity.subsystemDevice { parts += [sv, sd] }
        return identityTraitPrefix + parts.map { $0.uppercased() }.joined(separator: "_")
    }

    /// True for a trait `identityTrait` makes: the prefix and two or four groups of 4 hex digits.
    public static func isIdentityTrait(_ trait: String) -> Bool { HardwareLabel.isIdentityTrait(trait) }

    /// `10de:1eb8 subsystem 10de:12a2` for an identity trait (the form `RecordedIdentity`'s
    /// messages use, without the class); nil for any other trait.
    public static func identityDescription(trait: String) -> String? {
        guard isIdentityTrait(trait) else { return nil }
        let g = trait.dropFirst(identityTraitPrefix.count).split(separator: "_").map { $0.lowercased() }
        return "\(g[0]):\(g[1])" + (g.count == 4 ? " subsystem \(g[2]):\(g[3])" : "")
    }

    /// `<host>_<ADDRESS>`: the child provider's name, as Nova names its PCI providers.
    public static func deviceProviderName(host: String, address: String) -> String { "\(host)_\(address)" }

    /// True for a name Placement accepts as a custom trait or resource class.
    public static func isValidCustom(_ name: String) -> Bool {
        guard name.hasPrefix("CUSTOM_"), name.count > 7, name.count <= maxLength else { return false }
        return name.unicodeScalars.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
    }
}
