import Foundation
@testable import HWLabelProbe
import HWLabelTestSupport
import Testing

/// A group's members: from the functions' `iommu_group` links when every listed function was
/// scanned and names its group, else from the group's `devices` directory, so that a member
/// the scan had to skip still keeps its group from looking viable.
@Suite("Probe: IOMMU group members")
struct ProbeIOMMUGroupTests {
    static func tree() throws -> TreeBuilder {
        let t = try TreeBuilder()
        try ProbeBadInputTests.healthy(t)
        try t.group(1, add: "0000:00:03.0")
        for a in ["0000:00:04.0", "0000:00:04.1"] { try t.add(ProbeBadInputTests.nic(a, attributes: [:]).with(group: 5)) }
        try t.add(ProbeBadInputTests.nic("0000:00:05.0").with(group: 6))
        return t
    }

    static func members(_ s: Snapshot) -> [Int: [String]] {
        Dictionary(uniqueKeysWithValues: s.iommu.groups.map { ($0.number, $0.devices.map(\.description)) })
    }

    @Test("every function scanned: the links give the same members as the groups' directories")
    func fromLinks() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let s = try ProbeBadInputTests.scan(t)
        #expect(Self.members(s) == [1: ["0000:00:03.0"], 5: ["0000:00:04.0", "0000:00:04.1"], 6: ["0000:00:05.0"]])
        // The same as the directories say, read without the scan.
        var warnings: [ProbeWarning] = []
        let fromDirectories = IOMMUReader(root: SysfsRoot(t.sysRoot)).read(functions: [], complete: false, warnings: &warnings)
        #expect(fromDirectories.groups == s.iommu.groups)
    }

    @Test("a member the scan skipped (garbage vendor) still sits in its group: the directory is read")
    func skippedMemberKept() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        try t.add(ProbeBadInputTests.nic("0000:00:04.2").with(group: 5))
        try t.attr("0000:00:04.2", "vendor", "zz\n")
        let s = try ProbeBadInputTests.scan(t)
        #expect(s.function(at: PCIAddress("0000:00:04.2")!) == nil)
        #expect(Self.members(s)[5] == ["0000:00:04.0", "0000:00:04.1", "0000:00:04.2"])
    }

    @Test("a function whose iommu_group is not a link (a flattened capture): the directories are read")
    func unnamedGroupFallsBack() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        try t.add(ProbeBadInputTests.nic("0000:00:06.0").with(group: 7))
        let link = t.dir("0000:00:06.0") + "/iommu_group"
        try FileManager.default.removeItem(atPath: link)
        try FileManager.default.createDirectory(atPath: link, withIntermediateDirectories: false)
        let s = try ProbeBadInputTests.scan(t)
        #expect(s.function(at: PCIAddress("0000:00:06.0")!)?.iommuGroup == nil)
        #expect(Self.members(s)[7] == ["0000:00:06.0"])
        #expect(Self.members(s)[5] == ["0000:00:04.0", "0000:00:04.1"])
    }
}

extension TreeBuilder.Function {
    func with(group: Int) -> Self {
        var f = self
        f.iommuGroup = group
        return f
    }
}
