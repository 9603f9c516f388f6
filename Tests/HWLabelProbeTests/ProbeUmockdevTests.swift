import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// umockdev recordings through the live-host path: `umockdev-run --device X -- hwlabel
/// inventory --format json` (libudev enumerates the testbed, libpci reads its `/sys`) against
/// `umockdev-run --device X -- lspci -nn -k -D -vvv` in the same testbed.
@Suite("Probe: umockdev recordings through the live path")
struct ProbeUmockdevTests {
    static let recordings = ProbeTestSupport.fixtureNames("umockdev")

    /// The part of the inventory JSON these tests read.
    struct Doc: Decodable {
        var source: SnapshotSource
        var functions: [PCIFunction]
        var warnings: [ProbeWarning]
    }

    static func umockdevRun() throws -> String {
        guard let p = ProbeTestSupport.which("umockdev-run") else {
            throw ProbeTestSupport.SupportError("umockdev-run not found: apt-get install umockdev")
        }
        return p
    }

    @Test("recording list is complete", .tags(.probeFixtures))
    func count() { #expect(Self.recordings.count == 6) }

    @Test("hwlabel inventory under umockdev equals lspci under umockdev", .tags(.probeFixtures), arguments: ProbeUmockdevTests.recordings)
    func recordingMatchesLspci(_ name: String) throws {
        let file = ProbeTestSupport.fixtures + "/umockdev/" + name
        let run = try Self.umockdevRun()
        let bin = try ProbeTestSupport.hwlabelBinary()
        let ours = try ProbeTestSupport.run(run, ["--device", file, "--", bin, "inventory", "--format", "json"])
        try #require(ours.status == 0, "hwlabel under umockdev exited \(ours.status): \(ours.stderr)")
        let doc = try JSONDecoder().decode(Doc.self, from: ours.stdoutData)
        let theirs = try ProbeTestSupport.run(
            run,
            [
                "--device", file, "--", try ProbeLspciCompare.lspci(),
                "-nn", "-k", "-D", "-vvv",
            ])
        try #require(theirs.status == 0, "lspci under umockdev: \(theirs.stderr)")
        let listed = LspciListing.parse(theirs.stdout)
        try #require(!listed.isEmpty)
        #expect(doc.source.kind == "live")
        // The testbed replaces /sys entirely: exactly the recorded functions, none of this VM's.
        #expect(doc.functions.map(\.address.description) == listed.map(\.address).sorted(), "\(name): address set")
        let byAddress = Dictionary(uniqueKeysWithValues: listed.map { ($0.address, $0) })
        for f in doc.functions {
            let l = try #require(byAddress[f.address.description])
            ProbeLspciCompare.identity(f, l, context: name)
            if let d = l.driver {
                #expect(f.driver == d, "\(name) \(f.address): driver")
            }
            // Only 64 config bytes are recorded: lspci says <access denied>, and we must say
            // "capabilities not readable" (null), never "no FLR" (false).
            #expect(l.capabilitiesDenied)
            #expect(f.configSpace.readableBytes == 64)
            #expect(!f.configSpace.capabilitiesReadable)
            #expect(f.capabilities == nil)
        }
        // And the raw JSON says so in words a reader without our types sees.
        let raw = try JSONSerialization.jsonObject(with: ours.stdoutData) as! [String: Any]
        for fn in raw["functions"] as! [[String: Any]] {
            let cs = fn["configSpace"] as! [String: Any]
            #expect(cs["capabilitiesReadable"] as? Bool == false)
            #expect(fn["capabilities"] is NSNull)
        }
    }

    /// fido2: the xHCI's `iommu_group` link points at group 14, which the testbed does not
    /// hold (umockdev creates no link targets). readlink still names the group.
    @Test("fido2: dangling iommu_group under umockdev still names group 14", .tags(.probeFixtures))
    func fido2DanglingGroup() throws {
        let file = ProbeTestSupport.fixtures + "/umockdev/umockdev-repo__fido2.umockdev"
        let ours = try ProbeTestSupport.run(
            try Self.umockdevRun(),
            [
                "--device", file, "--", try ProbeTestSupport.hwlabelBinary(),
                "inventory", "--format", "json",
            ])
        try #require(ours.status == 0, "\(ours.stderr)")
        let doc = try JSONDecoder().decode(Doc.self, from: ours.stdoutData)
        let xhci = try #require(doc.functions.first { $0.address.description == "0000:05:00.3" })
        #expect(xhci.iommuGroup == 14)
        #expect(xhci.vendor == "1022" && xhci.device == "15e0")
    }
}
