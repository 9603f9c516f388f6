/// A fact together with where it came from, so operators can judge it.
public struct Sourced<Value: Codable & Sendable & Hashable>: Codable, Sendable, Hashable {
    public var value: Value
    /// `catalog@<version>`, `name-heuristic`, `driver-file:<path>`, `bar`, …
    public var source: String
    public init(_ value: Value, source: String) {
        self.value = value
        self.source = source
    }
}

/// GPU attributes for display (class 03) and processing-accelerator (class 12) functions.
public struct GPUFacts: Codable, Sendable, Hashable {
    /// `nvidia`, `amd`, `intel`, or the lowercase vendor ID when unknown.
    public var family: String
    /// `Turing`, `Ampere`, `Hopper`, `RDNA3`, `CDNA2`, …; null when neither the name nor the catalog says.
    @Nullable public var architecture: Sourced<String>?
    /// Chip codename from the pci.ids name (`TU104GL`, `GA104`, `Navi 31`).
    @Nullable public var chip: String?
    /// Largest prefetchable memory BAR: a lower bound on device memory, not VRAM.
    @Nullable public var apertureBytes: UInt64?
    /// Device memory, only where a driver file states it (amdgpu `mem_info_vram_total`, NVIDIA
    /// `/proc/driver/nvidia/gpus/<BDF>/information`).
    @Nullable public var vramBytes: Sourced<UInt64>?
    /// `drm/cardN`
    public var drmCards: [String]
    /// `drm/renderDN`
    public var drmRenderNodes: [String]
    /// Other functions in the same slot (HDA audio, USB, UCSI) that must travel with the GPU.
    public var companions: [Companion]
    /// NVIDIA SR-IOV vGPU (Ada and later): `nvidia/creatable_vgpu_types` on this VF.
    @Nullable public var creatableVGPUTypes: [VGPUType]?
    /// NVIDIA SR-IOV vGPU: `nvidia/current_vgpu_type` on this VF (null or "0" when none).
    @Nullable public var currentVGPUType: String?

    public init(family: String) {
        self.family = family
        drmCards = []
        drmRenderNodes = []
        companions = []
    }
}

public struct Companion: Codable, Sendable, Hashable {
    public var address: PCIAddress
    /// `audio`, `usb`, `ucsi` (serial bus 0c80), or `other`.
    public var role: String
    public var classCode: String
    public init(address: PCIAddress, role: String, classCode: String) {
        self.address = address
        self.role = role
        self.classCode = classCode
    }
}

/// One line of NVIDIA's `creatable_vgpu_types`: `ID : Name`.
public struct VGPUType: Codable, Sendable, Hashable {
    public var id: String
    public var name: String
    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }
}
