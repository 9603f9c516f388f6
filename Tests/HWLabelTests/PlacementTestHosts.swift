import Foundation
import HWLabelAgent
import HWLabelProbe

/// Builds `AssignableDevice` values for Placement tests: directly, or from a fixture's snapshot
/// (GPU and network endpoints), with the labels and readiness a test wants.
enum PlacementTestHosts {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func device(address: String, vendor: String, device: String, label: String?, arch: String?,
                       state: Readiness.State, classCode: String = "030000") -> AssignableDevice {
        var gpu: GPUFacts?
        if let arch {
            gpu = GPUFacts(family: vendor == "10de" ? "nvidia" : vendor)
            gpu!.architecture = Sourced(arch, source: "test")
        }
        return AssignableDevice(
            address: PCIAddress(address)!,
            attributes: AttributeIdentity(vendor: vendor, device: device, subsystemVendor: nil, subsystemDevice: nil,
                                          classCode: classCode, revision: nil),
            instance: InstanceIdentity(id: "address:\(address)", source: "address"),
            kind: classCode.hasPrefix("02") ? "network" : "gpu", isVirtualFunction: false, physicalFunction: nil,
            names: Names(), label: label.map { LabelAssignment(name: $0, source: "instance") },
            readiness: Readiness(state: state, reasons: [], remediation: []), gpu: gpu, companions: [],
            capacity: Capacity(), iommuGroup: nil, numaNode: nil, driver: nil)
    }

    /// Descriptors for a fixture: every display/3D/accelerator/network endpoint.
    /// `labels` and `states` are keyed by `vvvv:dddd`; unlisted devices are unlabelled and ready.
    static func devices(snapshot: Snapshot, labels: [String: String], states: [String: Readiness.State] = [:]) -> [AssignableDevice] {
        snapshot.functions.compactMap { f -> AssignableDevice? in
            guard !f.isBridge, f.vendor != "ffff", f.physicalFunction == nil,
                  ["03", "12", "02"].contains(f.classCode.base) else { return nil }
            let key = "\(f.vendor):\(f.device)"
            var d = device(address: f.address.description, vendor: f.vendor, device: f.device, label: labels[key],
                           arch: f.gpu?.architecture?.value, state: states[key] ?? .ready, classCode: f.classCode.description)
            d.gpu = f.gpu
            return d
        }
    }

    static func lspci(_ name: String) throws -> Snapshot {
        try Probe().snapshot(.dump(file: fixtures.appendingPathComponent("lspci/\(name)").path))
    }

    static func sysfs(_ name: String) throws -> Snapshot {
        try Probe().snapshot(.sysfs(root: fixtures.appendingPathComponent("sysfs/\(name)/sys").path))
    }
}
