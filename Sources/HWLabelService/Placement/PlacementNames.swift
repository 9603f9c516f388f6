import HWLabelCore

/// Placement's naming rules for custom traits and resource classes.
///
/// Placement accepts `CUSTOM_[A-Z0-9_]+` up to 255 characters for both. Nova's
/// "PCI devices in Placement" derives names the same way, so an operator who has read Nova's
/// docs recognises ours.
public enum PlacementNames {
    /// Marks every provider hwlabel created. Providers without it are never modified or deleted.
    public static let managedTrait = "CUSTOM_HWLABEL_MANAGED"
    /// The device passed every readiness check (`Readiness.State.ready`).
    public static let readyTrait = "CUSTOM_PASSTHROUGH_READY"
    /// Ready once its IOMMU group is bound to vfio-pci (`ready-after-binding`); informational.
    public static let readyAfterBindingTrait = "CUSTOM_PASSTHROUGH_READY_AFTER_BINDING"
    /// Nova deletes any provider carrying this trait that it did not create. Never set it.
    public static let forbiddenTraits: Set<String> = ["COMPUTE_MANAGED_PCI_DEVICE"]
    public static let maxLength = 255

    /// Upper-cases `text`, turns every run of characters outside `[A-Z0-9_]` into one `_`,
    /// prefixes `prefix` and cuts the result to 255 characters.
    /// Returns nil when nothing usable is left (an empty or all-punctuation name).
    public static func normalised(_ text: String, prefix: String) -> String? {
        var out = ""
        var inRun = false
        for scalar in text.uppercased().unicodeScalars {
            let ok = (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9") || scalar == "_"
            if ok {
                out.unicodeScalars.append(scalar)
                inRun = false
            } else if !inRun {
                out.append("_")
                inRun = true
            }
        }
        // Same rule as `HardwareLabel.placementTrait`: no trimming, so `A (x)` → `A_X_`.
        guard out.contains(where: { $0 != "_" }) else { return nil }
        let full = prefix + out
        return full.count > maxLength ? String(full.prefix(maxLength)) : full
    }

    /// `CUSTOM_HWLABEL_<LABEL>`: the trait a hardware label becomes.
    public static func labelTrait(_ label: String) -> String? { normalised(label, prefix: "CUSTOM_HWLABEL_") }
    /// `CUSTOM_GPU_ARCH_<ARCH>`: `Turing` → `CUSTOM_GPU_ARCH_TURING`.
    public static func gpuArchTrait(_ arch: String) -> String? { normalised(arch, prefix: "CUSTOM_GPU_ARCH_") }
    /// `CUSTOM_PCI_<VVVV>_<PPPP>` in upper-case hex, as Nova names PCI resource classes.
    public static func pciResourceClass(vendor: String, device: String) -> String {
        "CUSTOM_PCI_\(vendor.uppercased())_\(device.uppercased())"
    }
    /// `CUSTOM_HWLABEL_<LABEL>` as a resource class (traits and classes are separate namespaces).
    public static func labelResourceClass(_ label: String) -> String? { normalised(label, prefix: "CUSTOM_HWLABEL_") }
    /// `CUSTOM_VGPU_<TYPE NAME>`: `GRID T4-2Q` → `CUSTOM_VGPU_GRID_T4_2Q`.
    public static func vgpuResourceClass(_ typeName: String) -> String? { normalised(typeName, prefix: "CUSTOM_VGPU_") }

    /// `<host>_<ADDRESS>`: the child provider's name, as Nova names its PCI providers.
    public static func deviceProviderName(host: String, address: String) -> String { "\(host)_\(address)" }

    /// True for a name Placement accepts as a custom trait or resource class.
    public static func isValidCustom(_ name: String) -> Bool {
        guard name.hasPrefix("CUSTOM_"), name.count > 7, name.count <= maxLength else { return false }
        return name.unicodeScalars.allSatisfy { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" }
    }
}
