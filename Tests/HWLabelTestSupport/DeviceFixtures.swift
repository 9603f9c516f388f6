import Foundation
import HWLabelProbe
@testable import HWLabelCore

/// Small builders for agent tests: snapshots made of `PCIFunction` values, so every readiness
/// input can be set exactly.
package enum DeviceFixtures {
    package static func addr(_ s: String) -> PCIAddress { PCIAddress(s)! }

    /// An endpoint with readable config space and an FLR reset, bound to `driver`, in `group`.
    package static func function(
        _ address: String, _ vendor: String, _ device: String, class cls: UInt32,
        subsystem: (String, String)? = nil, driver: String? = "vfio-pci", group: Int? = 1,
        serial: String? = nil, slot: String? = nil, upstream: String? = nil
    ) -> PCIFunction {
        var f = PCIFunction(address: addr(address), vendor: vendor, device: device, classCode: ClassCode(value: cls))
        f.subsystemVendor = subsystem?.0
        f.subsystemDevice = subsystem?.1
        f.driver = driver
        f.iommuGroup = group
        f.headerType = 0
        f.configSpace = ConfigSpaceAccess(readableBytes: 4096, source: .sysfs)
        var caps = CapabilityFacts()
        caps.flr = true
        caps.serialNumber = serial
        f.capabilities = caps
        f.resetMethods = ["flr", "bus"]
        f.bootVGA = false
        f.physicalSlot = slot
        f.upstreamBridge = upstream.map(addr)
        if f.isGPUClass { f.gpu = GPUFacts(family: vendor == "10de" ? "nvidia" : vendor) }
        return f
    }

    /// A healthy KVM host: IOMMU with interrupt remapping, no ACS override, nested off.
    package static var host: HostFacts {
        var h = HostFacts()
        h.cpuVendor = "GenuineIntel"
        h.interruptRemapping = true
        h.unsafeInterruptsAllowed = false
        h.nestedVirtualization = false
        h.rootFilesystemDevices = []
        h.defaultRouteDevices = []
        h.vfioAvailable = true
        // Every process was seen and none holds a device: usage is known to be free.
        h.deviceHolders = []
        h.unreadableProcesses = 0
        h.hostUses = []
        return h
    }

    /// Groups are derived from the functions' `iommuGroup`.
    package static func snapshot(_ functions: [PCIFunction], host: HostFacts? = DeviceFixtures.host, iommu: Bool? = true) -> Snapshot {
        var byGroup: [Int: [PCIAddress]] = [:]
        for f in functions { if let g = f.iommuGroup { byGroup[g, default: []].append(f.address) } }
        let groups = byGroup.keys.sorted().map { IOMMUGroup(number: $0, type: "DMA", devices: byGroup[$0]!.sorted()) }
        return Snapshot(
            source: SnapshotSource(kind: "sysfs", path: "/test"), host: host,
            iommu: IOMMUFacts(enabled: iommu, units: iommu == true ? ["dmar0"] : [], groups: iommu == true ? groups : []),
            functions: functions.sorted { $0.address < $1.address }, warnings: [])
    }

    // The three Turing boards of the issue.
    package static let t4 = function(
        "0000:3b:00.0", "10de", "1eb8", class: 0x030200, subsystem: ("10de", "12a2"), group: 10, serial: "11-22-33-44-55-66-77-01")
    package static let rtx6000 = function(
        "0000:5e:00.0", "10de", "1e30", class: 0x030000, subsystem: ("10de", "13d9"), group: 20, serial: "11-22-33-44-55-66-77-02")
    package static let rtx8000 = function(
        "0000:af:00.0", "10de", "1e30", class: 0x030000, subsystem: ("10de", "13d8"), group: 30, serial: "11-22-33-44-55-66-77-03")

    package static func label(_ s: String) -> HardwareLabel { try! HardwareLabel(validating: s) }

    /// The one builder of `AssignableDevice` values for tests that start from a descriptor
    /// rather than a snapshot (a snapshot goes through `descriptors`, the real builder).
    /// `kind` defaults to what `DescriptorBuilder` names the class; `mode` to whole device, or
    /// `sriov-vf` with a `physicalFunction`; `arch` gives it GPU facts with that architecture
    /// (or sets it on `gpu`); usage is free unless `usage` says otherwise.
    package static func assignable(
        _ address: String, vendor: String = "10de", device: String = "1e30", subsystem: (String, String)? = nil,
        classCode: String = "030000", revision: String? = nil, kind: String? = nil, instance: String? = nil,
        label: LabelAssignment? = nil, state: Readiness.State = .ready, arch: String? = nil, gpu: GPUFacts? = nil,
        physicalFunction: String? = nil, mode: DeviceMode? = nil, driver: String? = "vfio-pci", iommuGroup: Int? = nil,
        capacity: Capacity = Capacity(), usage: DeviceUsage = DeviceUsage(state: .free), vgpu: VGPUOffer? = nil
    ) -> AssignableDevice {
        let function = PCIFunction(
            address: addr(address), vendor: vendor, device: device,
            classCode: ClassCode(value: UInt32(classCode, radix: 16)!))
        var facts = gpu
        if let arch {
            if facts == nil { facts = GPUFacts(family: vendor == "10de" ? "nvidia" : vendor) }
            facts!.architecture = Sourced(arch, source: "test")
        }
        let pf = physicalFunction.map(addr)
        return AssignableDevice(
            address: function.address,
            attributes: AttributeIdentity(
                vendor: vendor, device: device, subsystemVendor: subsystem?.0,
                subsystemDevice: subsystem?.1, classCode: classCode, revision: revision),
            instance: InstanceIdentity(id: instance ?? "address:\(address)", source: "address"),
            kind: kind ?? DescriptorBuilder.kind(function), isVirtualFunction: pf != nil, physicalFunction: pf,
            names: Names(), label: label, readiness: Readiness(state: state, reasons: [], remediation: []),
            gpu: facts, companions: [], capacity: capacity, iommuGroup: iommuGroup, numaNode: nil, driver: driver,
            mode: mode, usage: usage, vgpu: vgpu)
    }

    package static func descriptors(_ snap: Snapshot, _ labels: LabelSet = LabelSet(), _ policy: Policy = .default) -> DescriptorSet {
        DescriptorBuilder().descriptors(snapshot: snap, labels: labels, policy: policy)
    }
}
