import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Every lspci dump fixture (all 47 are readable by libpci, see Fixtures/SOURCES.md): our
/// snapshot against what `lspci -F FILE -vvv -nn -D` prints for the same file.
@Suite("Probe: lspci dump fixtures vs lspci")
struct ProbeDumpFixtureTests {
    static let dumps = ProbeTestSupport.fixtureNames("lspci")

    @Test("fixture list is complete", .tags(.probeFixtures))
    func fixtureCount() {
        #expect(Self.dumps.count == 47)
    }

    @Test("dump equals lspci -vvv -nn -D", .tags(.probeFixtures), arguments: ProbeDumpFixtureTests.dumps)
    func dumpMatchesLspci(_ name: String) throws {
        let file = ProbeTestSupport.fixtures + "/lspci/" + name
        let snap = try Probe().snapshot(.dump(file: file))
        let r = try ProbeTestSupport.run(try ProbeLspciCompare.lspci(), ["-F", file, "-vvv", "-nn", "-D"])
        try #require(r.status == 0, "lspci failed on \(name): \(r.stderr)")
        let listed = LspciListing.parse(r.stdout)
        try #require(!listed.isEmpty, "parsed nothing from lspci for \(name)")

        // Deliberate difference: a function whose config space reads all-FF (vendor ffff,
        // powered off / D3cold) is listed by lspci as "Illegal Vendor ID" with "!!! Unknown
        // header type 7f"; we skip it and name it in the warnings instead of inventing facts.
        let dead = listed.filter { $0.vendorID == "ffff" }
        for d in dead {
            #expect(
                snap.warnings.contains { $0.address == d.address && $0.message.contains("vendor ffff") },
                "\(name): skipped \(d.address) not named in warnings")
        }
        let expected = listed.filter { $0.vendorID != "ffff" }
        #expect(
            snap.functions.map(\.address.description) == expected.map(\.address).sorted(),
            "\(name): address set")
        // Ordered by address.
        #expect(snap.functions.map(\.address) == snap.functions.map(\.address).sorted())

        let byAddress = Dictionary(expected.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for f in snap.functions {
            guard let l = byAddress[f.address.description] else { continue }
            ProbeLspciCompare.identity(f, l, context: name)
            ProbeLspciCompare.capabilities(f, l, context: name)
            // A dump has no sysfs: those facts are unknown, never guessed.
            #expect(f.driver == nil && f.iommuGroup == nil && f.numaNode == nil && f.resetMethods == nil)
            // libpci's dump method cannot size BARs.
            #expect(f.bars.allSatisfy { $0.size == nil }, "\(name) \(f.address): BAR size from a dump")
            #expect(f.configSpace.source == .dump)
        }
        #expect(snap.host == nil)
        #expect(snap.iommu.enabled == nil)
    }

    /// The comparison is only as good as the lspci parser: check that it sees, in lspci's own
    /// text, the features Fixtures/README.md lists for these captures.
    @Test("lspci text parser sees the features the fixture index lists", .tags(.probeFixtures))
    func parserIsNotVacuous() throws {
        func parse(_ name: String) throws -> [LspciFunction] {
            let r = try ProbeTestSupport.run(
                try ProbeLspciCompare.lspci(),
                ["-F", ProbeTestSupport.fixtures + "/lspci/" + name, "-vvv", "-nn", "-D"])
            return LspciListing.parse(r.stdout)
        }
        let asus = try parse("asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx")
        #expect(asus.count == 29)
        #expect(asus.filter(\.devCapFLR).count == 5)
        #expect(asus.filter(\.hasACS).count == 6)
        #expect(asus.filter { $0.serialNumber != nil }.count == 2)
        #expect(asus.first { $0.address == "0000:00:02.0" }?.sriovTotalVFs == 7)
        #expect(asus.first { $0.address == "0000:00:01.0" }?.lnkCapSpeed == "16GT/s")
        #expect(asus.first { $0.address == "0000:00:01.0" }?.lnkStaWidth == 8)
        #expect(asus.first { $0.address == "0000:00:01.0" }?.subsystemVendorID == "1043")
        #expect(try parse("pciutils-tests__cap-pci-af.lspci").contains(where: \.afFLR))
        #expect(try parse("pciutils-tests__tree-asus-p6t6.lspci").count == 53)
        let p1000 = try parse("nvidia-quadro-p1000-gp107gl-hp.lspci-xxx.extract")
        #expect(p1000.contains { $0.vendorID == "10de" && $0.classID == "0300" && !$0.devCapFLR })
    }

    /// The asus-alderlake capture has the richest set: pin a few facts by hand so that a
    /// parser bug common to lspci's text and ours cannot hide them.
    @Test("asus-alderlake: FLR, SR-IOV, ReBAR, DSN pinned", .tags(.probeFixtures))
    func alderLakePinned() throws {
        let snap = try Probe().snapshot(
            .dump(
                file: ProbeTestSupport.fixtures
                    + "/lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx"))
        #expect(snap.functions.count == 28) // 29 in lspci, minus the all-FF GL9755 at 2f:00.0
        let igpu = try #require(snap.function(at: PCIAddress("0000:00:02.0")!))
        #expect(igpu.capabilities?.sriov?.totalVFs == 7)
        #expect(igpu.capabilities?.flr == true)
        #expect(igpu.gpu?.family == "intel")
        let dgpu = try #require(snap.function(at: PCIAddress("0000:01:00.0")!))
        #expect(dgpu.vendor == "10de" && dgpu.device == "24a0")
        #expect(dgpu.capabilities?.resizableBAR == true)
        #expect(dgpu.gpu?.companions.map(\.role) == ["audio"])
        #expect(snap.functions.filter { $0.capabilities?.serialNumber != nil }.count == 2)
        #expect(!snap.functions.contains { $0.address.description == "0000:2f:00.0" })
    }

    @Test("broken-ecaps: chain reported broken, no invented capabilities", .tags(.probeFixtures))
    func brokenEcaps() throws {
        let snap = try Probe().snapshot(.dump(file: ProbeTestSupport.fixtures + "/lspci/pciutils-tests__broken-ecaps.lspci"))
        let f = try #require(snap.functions.first)
        let caps = try #require(f.capabilities)
        #expect(!caps.list.contains { $0.hasPrefix("ext:") })
        #expect(caps.extendedChainBroken)
    }

    @Test("conventional-PCI Advanced Features FLR", .tags(.probeFixtures))
    func advancedFeaturesFLR() throws {
        let snap = try Probe().snapshot(.dump(file: ProbeTestSupport.fixtures + "/lspci/pciutils-tests__cap-pci-af.lspci"))
        #expect(snap.functions.contains { $0.capabilities?.flr == true && $0.capabilities?.flrSource == "advanced-features" })
    }

    @Test("Quadro P1000 has no FLR (FLReset-), and that is a known false, not null", .tags(.probeFixtures))
    func quadroNoFLR() throws {
        let snap = try Probe().snapshot(.dump(file: ProbeTestSupport.fixtures + "/lspci/nvidia-quadro-p1000-gp107gl-hp.lspci-xxx.extract"))
        let gpu = try #require(snap.functions.first { $0.vendor == "10de" && $0.classCode.base == "03" })
        #expect(gpu.capabilities?.flr == false)
        #expect(gpu.gpu?.architecture?.value == "Pascal")
    }

    /// A dump has no sysfs paths: the upstream bridge comes from the bridges' secondary bus
    /// numbers, which is how `lspci -t` draws the same tree.
    @Test("dump: upstream bridges from bus ranges match lspci -t", .tags(.probeFixtures))
    func dumpUpstreamBridges() throws {
        let file = ProbeTestSupport.fixtures + "/lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx"
        let s = try Probe().snapshot(.dump(file: file))
        let expected = [
            "0000:01:00.0": "0000:00:01.0", "0000:01:00.1": "0000:00:01.0", "0000:02:00.0": "0000:00:06.0",
            "0000:03:00.0": "0000:00:06.2", "0000:2e:00.0": "0000:00:1c.0",
        ]
        for (child, parent) in expected {
            #expect(s.function(at: PCIAddress(child)!)?.upstreamBridge?.description == parent, "\(child)")
        }
        // Functions on the root bus have no upstream bridge.
        #expect(s.functions.filter { $0.address.bus == 0 }.allSatisfy { $0.upstreamBridge == nil })
        // lspci -t draws each of those children under its bridge ("-01.0-[01]--+-00.0").
        let lspci = try #require(ProbeTestSupport.which("lspci"))
        let tree = try ProbeTestSupport.run(lspci, ["-F", file, "-t"]).stdout
        #expect(tree.contains("-01.0-[01]--+-00.0"))
        #expect(tree.contains("-06.0-[02]----00.0"))
        #expect(tree.contains("-06.2-[03]----00.0"))
    }
}

extension Tag {
    @Tag static var probeFixtures: Self
}
