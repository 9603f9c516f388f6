import Foundation
import HWLabelTestSupport
import Testing
import HWLabelProbe

/// The trees `hwlabel-treegen` writes for the benchmarks (`ScaledTrees`), read back by the probe:
/// exactly the functions asked for, VFs linked to their PFs, GPU audio functions as companions,
/// one IOMMU group per function except a GPU and its audio function.
@Suite("Probe: scaled benchmark trees")
struct ProbeScaledTreeTests {
    @Test("every shape reads back as written", arguments: ScaledTrees.Shape.allCases, [1, 2, 9, 150])
    func readsBack(shape: ScaledTrees.Shape, functions: Int) throws {
        let dir = try ProbeTestSupport.makeTemp("scaled")
        defer { ProbeTestSupport.removeTemp(dir) }
        let (tree, summary) = try ScaledTrees.write(shape, functions: functions, into: dir)
        #expect(summary.functions == functions)
        let snap = try Probe().snapshot(.sysfs(root: tree.sysRoot))
        #expect(snap.functions.count == functions)
        #expect(snap.warnings.isEmpty, "\(snap.warnings)")
        let vfs = snap.functions.filter { $0.physicalFunction != nil }
        #expect(vfs.count == summary.vfs)
        for vf in vfs {
            let pf = try #require(snap.function(at: vf.physicalFunction!))
            #expect(pf.sriov?.virtualFunctions.contains(vf.address) == true)
        }
        let companions = snap.functions.flatMap { $0.gpu?.companions ?? [] }
        #expect(companions.count == summary.audio)
        #expect(companions.allSatisfy { $0.role == "audio" })
        #expect(snap.functions.filter(\.isGPUClass).count == summary.gpus)
        #expect(snap.iommu.groups.count == summary.groups)
        #expect(snap.iommu.groups.count == functions - summary.audio)
        #expect(Set(snap.functions.map { $0.address.description.prefix(4) }).count == summary.domains)
    }

    @Test("a tree goes where it is told and refuses to overwrite one")
    func targetDirectory() throws {
        let dir = try ProbeTestSupport.makeTemp("scaled")
        defer { ProbeTestSupport.removeTemp(dir) }
        try ScaledTrees.write(.mixed, functions: 5, into: dir)
        #expect(FileManager.default.fileExists(atPath: dir + "/sys/bus/pci/devices/0000:00:00.0"))
        #expect(throws: (any Error).self) { try ScaledTrees.write(.hgx, functions: 5, into: dir) }
    }
}
