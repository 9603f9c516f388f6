import HWLabelProbe

/// Derives each function's mode from how it is configured now. Pure.
///
/// - A PF with VFs enabled whose VFs (or itself) expose vGPU types on the vendor driver serves
///   vGPU: the PF is `vgpu`, its VFs `vgpu-vf`.
/// - Any other PF with VFs enabled is `sriov-pf`, its VFs `sriov-vf`.
/// - A GPU on its vendor driver with mdev types is `vgpu`.
/// - Everything else is `whole-device` (a VF whose PF is not in the snapshot stays `sriov-vf`).
public struct ModeResolver: Sendable {
    public private(set) var modes: [PCIAddress: DeviceMode] = [:]
    /// vGPU mechanism of each `vgpu` card.
    public private(set) var mechanisms: [PCIAddress: String] = [:]
    /// PF → its VFs present in the snapshot, in VF-index order.
    public private(set) var children: [PCIAddress: [PCIAddress]] = [:]

    public init(snapshot: Snapshot) {
        for f in snapshot.functions {
            let listed = f.sriov?.virtualFunctions ?? []
            let enabled = !listed.isEmpty || (f.sriov?.numVFs ?? 0) > 0
            let vfs = listed.compactMap { snapshot.function(at: $0) }
            if let mechanism = VGPUCapacity.mechanism(f, vfs: vfs) {
                modes[f.address] = .vgpu
                mechanisms[f.address] = mechanism
                for v in vfs { modes[v.address] = .vgpuVF }
            } else if enabled {
                modes[f.address] = .sriovPF
                for v in vfs { modes[v.address] = .sriovVF }
            }
            if !listed.isEmpty { children[f.address] = listed }
        }
        for f in snapshot.functions where f.physicalFunction != nil && modes[f.address] == nil {
            // A VF whose PF is absent from the snapshot (a partial capture).
            let vendorVGPU = f.gpu?.creatableVGPUTypes != nil || f.gpu?.currentVGPUType != nil
            modes[f.address] = vendorVGPU ? .vgpuVF : .sriovVF
        }
    }

    public func mode(_ a: PCIAddress) -> DeviceMode { modes[a] ?? .wholeDevice }

    /// What cannot be offered while `f` is offered as it is: a PF's VFs, a VF's PF, a vGPU
    /// card's slots.
    public func excludes(_ f: PCIFunction) -> [PCIAddress] {
        if let vfs = children[f.address], mode(f.address) != .wholeDevice { return vfs }
        if let pf = f.physicalFunction { return [pf] }
        return []
    }
}
