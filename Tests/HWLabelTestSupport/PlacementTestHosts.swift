import Foundation
import HWLabelCore
import HWLabelProbe

/// Builds `AssignableDevice` values for Placement tests: directly, or from a fixture's snapshot
/// (GPU and network endpoints), with the labels and readiness a test wants.
package enum PlacementTestHosts {
    package static let fixtures = URL(fileURLWithPath: ProbeTestSupport.fixtures)

    /// A device for Placement tests (`DeviceFixtures.assignable` with a label from an instance
    /// rule); the driver defaults to `nvidia` in mode `vgpu`, else `vfio-pci`.
    package static func device(
        address: String, vendor: String, device: String, label: String?, arch: String?,
        state: Readiness.State, classCode: String = "030000", mode: DeviceMode? = nil,
        physicalFunction: String? = nil, driver: String? = nil, vgpu: VGPUOffer? = nil
    ) -> AssignableDevice {
        DeviceFixtures.assignable(
            address, vendor: vendor, device: device, classCode: classCode,
            label: label.map { LabelAssignment(name: $0, source: "instance") }, state: state, arch: arch,
            physicalFunction: physicalFunction, mode: mode,
            driver: driver ?? (mode == .vgpu ? "nvidia" : "vfio-pci"), vgpu: vgpu)
    }

    /// An SR-IOV PF with its VFs enabled, offered as its VFs: `0000:<bus>:00.0` (sriov-pf, on
    /// its host driver) and `vfs` VFs `0000:<bus>:01.0…` (sriov-vf, on vfio-pci).
    package static func sriovNIC(
        bus: String, vfs: Int, label: String?, pfMode: DeviceMode = .sriovPF,
        vfState: Readiness.State = .ready
    ) -> [AssignableDevice] {
        let pfAddress = "0000:\(bus):00.0"
        var out = [
            device(
                address: pfAddress, vendor: "8086", device: "1593", label: label, arch: nil, state: .ready,
                classCode: "020000", mode: pfMode, driver: "ice")
        ]
        out[0].capacity.sriov = SRIOVCapacity(total: 8, enabled: vfs, free: vfs)
        for i in 0..<vfs {
            out.append(
                device(
                    address: String(format: "0000:\(bus):01.%x", i), vendor: "8086", device: "1889", label: label,
                    arch: nil, state: vfState, classCode: "020000", physicalFunction: pfAddress))
        }
        return out
    }

    /// A GPU on its vendor driver serving vGPU (mode `vgpu`), with `profiles` as
    /// (name, available, instances) and the type Placement gets.
    package static func vgpuCard(
        address: String, device: String = "26b9", label: String? = nil, state: Readiness.State = .ready,
        profiles: [(String, Int, Int)], published: String?
    ) -> AssignableDevice {
        let offer = VGPUOffer(
            mechanism: "nvidia-vfio", activeType: profiles.first { $0.2 > 0 }?.0,
            activeInstances: profiles.reduce(0) { $0 + $1.2 }, mixedSize: false,
            framebuffer: Sourced(48 << 30, source: "test"), slots: [],
            profiles: profiles.enumerated().map { i, p in
                VGPUProfile(id: "\(1000 + i)", name: p.0, available: p.1, instances: p.2, framebuffer: nil, basis: "test")
            },
            publishedType: published)
        return self.device(
            address: address, vendor: "10de", device: device, label: label, arch: "Ada Lovelace", state: state,
            classCode: "030200", mode: .vgpu, driver: "nvidia", vgpu: offer)
    }

    /// Devices for a fixture: the functions `DescriptorBuilder` makes descriptors of (the
    /// default policy), as `device` builds them, with the fixture's IDs, class and GPU facts.
    /// `labels` and `states` are keyed by `vvvv:dddd`; unlisted devices are unlabelled and ready.
    package static func devices(snapshot: Snapshot, labels: [String: String], states: [String: Readiness.State] = [:]) -> [AssignableDevice]
    {
        DeviceFixtures.descriptors(snapshot).descriptors.map { real in
            let key = "\(real.attributes.vendor):\(real.attributes.device)"
            return DeviceFixtures.assignable(
                real.address.description, vendor: real.attributes.vendor, device: real.attributes.device,
                classCode: real.attributes.classCode, kind: real.kind,
                label: labels[key].map { LabelAssignment(name: $0, source: "instance") }, state: states[key] ?? .ready,
                gpu: real.gpu, physicalFunction: real.physicalFunction?.description)
        }
    }

    package static func lspci(_ name: String) throws -> Snapshot {
        try Probe().snapshot(.dump(file: fixtures.appendingPathComponent("lspci/\(name)").path))
    }

    package static func sysfs(_ name: String) throws -> Snapshot {
        try Probe().snapshot(.sysfs(root: fixtures.appendingPathComponent("sysfs/\(name)/sys").path))
    }
}
