import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe
@testable import HWLabelService

/// The NFD feature file says how devices are offered: ready devices per mode, and the vGPU
/// capacity of each published type summed over the host's cards.
@Suite struct NFDSinkTests {
    static func lines(_ devices: [AssignableDevice]) -> [String] {
        let report = ReportBuilder.next(
            previous: nil, epoch: "e", scan: reporterScan(devices), now: Date(timeIntervalSince1970: 1_800_000_000))
        return NFDSink.render(report, expiresAt: Date(timeIntervalSince1970: 1_800_000_600)).split(separator: "\n").map(String.init)
    }

    @Test func modesAndVGPUCapacity() throws {
        let l8 = "NVIDIA L40S-8Q"
        let cardA = PlacementTestHosts.vgpuCard(address: "0000:41:00.0", profiles: [(l8, 5, 1), ("NVIDIA L40S-48Q", 0, 0)], published: l8)
        let cardB = PlacementTestHosts.vgpuCard(address: "0000:42:00.0", profiles: [(l8, 3, 0), ("NVIDIA L40S-48Q", 1, 0)], published: l8)
        let broken = PlacementTestHosts.vgpuCard(address: "0000:43:00.0", state: .notReady, profiles: [(l8, 4, 0)], published: l8)
        let idle = PlacementTestHosts.vgpuCard(address: "0000:44:00.0", profiles: [("NVIDIA L40S-24Q", 2, 0)], published: nil)
        let slot = PlacementTestHosts.device(
            address: "0000:41:00.4", vendor: "10de", device: "26b9", label: nil, arch: nil, state: .ready,
            mode: .vgpuVF, physicalFunction: "0000:41:00.0", driver: "nvidia")
        let nic = PlacementTestHosts.sriovNIC(bus: "3b", vfs: 2, label: "SR-IOV NIC")
        let whole = PlacementTestHosts.device(
            address: "0000:5e:00.0", vendor: "10de", device: "1eb8", label: "Turing GPU",
            arch: "Turing", state: .ready)
        let lines = Self.lines([cardA, cardB, broken, idle, slot, whole] + nic)

        #expect(lines.contains("hwlabel.io/mode.whole-device=1"))
        #expect(lines.contains("hwlabel.io/mode.sriov-pf=1"))
        #expect(lines.contains("hwlabel.io/mode.sriov-vf=2"))
        #expect(lines.contains("hwlabel.io/mode.vgpu=3")) // the not-ready card does not count
        #expect(lines.contains("hwlabel.io/mode.vgpu-vf=1"))
        // Available instances of the published type, over the ready cards; other types and
        // the idle card's profiles are not offered, so not listed.
        #expect(lines.contains("hwlabel.io/vgpu.NVIDIA-L40S-8Q=8"))
        #expect(!lines.contains { $0.contains("L40S-48Q") || $0.contains("L40S-24Q") })
        // The existing lines are still there.
        #expect(lines.contains("hwlabel.io/label.SR-IOV-NIC=3"))
        #expect(lines.contains("hwlabel.io/label.Turing-GPU=1"))
        // Every label line is a valid Kubernetes label name under our namespace.
        for l in lines where !l.hasPrefix("#") && !l.isEmpty {
            let name = String(l.split(separator: "=")[0].dropFirst("hwlabel.io/".count))
            #expect(ExportedName.nfdLabelName(name) == name, "\(l)")
        }
    }

    @Test func aHostWithoutVGPUHasNoVGPULines() {
        let lines = Self.lines([
            PlacementTestHosts.device(
                address: "0000:5e:00.0", vendor: "10de", device: "1eb8", label: nil,
                arch: nil, state: .notReady)
        ])
        #expect(lines.contains("hwlabel.io/mode.whole-device=0"))
        #expect(!lines.contains { $0.hasPrefix("hwlabel.io/vgpu.") })
        #expect(lines.filter { $0.hasPrefix("hwlabel.io/mode.") }.count == 1)
    }
}
