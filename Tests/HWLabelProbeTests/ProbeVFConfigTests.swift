import Foundation
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// SR-IOV virtual functions and dead functions: a VF's Vendor and Device ID registers read
/// ffff by specification while the rest of its config space is valid; a function that is
/// powered off or gone reads ones across its whole header.
///
/// libpci (3.9) and lspci agree with this split: in sysfs mode libpci takes the IDs from the
/// `vendor`/`device` files and its capability walk (`lib/caps.c`) follows the Status list bit
/// and the pointers without looking at the IDs, so `lspci -vvv` decodes a VF fully. Only the
/// config-space bus scan of the direct-hardware methods (`pci_generic_scan_bus`) skips a
/// function whose first dword reads ffffffff — which is why VFs are never found that way.
@Suite("Probe: VF config space and dead functions")
struct ProbeVFConfigTests {
    static let pf = "0000:3b:00.0"
    /// The TreeBuilder's SR-IOV capability says First VF Offset 0x80, stride 2: VF 1 of the
    /// PF at 3b:00.0 (routing ID 0x3b00) is at 0x3b80 = 3b:10.0, VF 2 at 3b:10.2.
    static let vfs = ["0000:3b:10.0", "0000:3b:10.2"]
    static let dead = "0000:3c:00.0"

    /// A PF with two VFs whose config reads ffff IDs but carries an Express endpoint with FLR,
    /// ACS, DSN and a link, a dead function (whole config ff) whose sysfs IDs are still there,
    /// and a function without a `config` file.
    static func tree() throws -> TreeBuilder {
        let t = try TreeBuilder()
        try t.add(ProbeTreeBuilderTests.rootPort)
        let pfCfg = ConfigSpace(
            vendor: 0x8086, device: 0x159b, classCode: 0x020000, revision: 2, flr: true,
            acs: (0x1f, 0), sriov: (total: 64, initial: 64, num: 2, vfDevice: 0x1889), ari: true)
        try t.add(
            .init(
                address: pf, vendor: "8086", device: "159b", classCode: "020000", revision: "02",
                subsystemVendor: "8086", subsystemDevice: "0003", config: pfCfg.bytes(), driver: "ice",
                parent: "0000:00:01.0",
                attributes: ["sriov_totalvfs": "64", "sriov_numvfs": "2", "sriov_vf_device": "1889"]))
        for (i, vf) in vfs.enumerated() {
            let cfg = ConfigSpace(
                vendor: 0xffff, device: 0xffff, classCode: 0x020000, revision: 2,
                subsystemVendor: 0x8086, subsystemDevice: 0x0003, pm: nil, flr: true,
                link: (4, 16, 4, 8), acs: (0x1f, 0x11), ari: true, dsn: 0x0011_22ff_fe33_4450 + UInt64(i))
            try t.add(
                .init(
                    address: vf, vendor: "8086", device: "1889", classCode: "020000", revision: "02",
                    config: cfg.bytes(), driver: "iavf", parent: "0000:00:01.0"))
        }
        try t.linkVFs(pf: pf, vfs: vfs)
        try t.add(
            .init(
                address: dead, vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                config: [UInt8](repeating: 0xff, count: 4096), parent: "0000:00:01.0"))
        try t.add(.init(address: "0000:3d:00.0", vendor: "1af4", device: "1041", classCode: "020000"))
        return t
    }

    static func lspci(_ args: [String]) throws -> ProbeTestSupport.Result {
        let r = try ProbeTestSupport.run(try ProbeLspciCompare.lspci(), args)
        try #require(r.status == 0, "lspci \(args): \(r.stderr)")
        return r
    }

    @Test("VF whose IDs read ffff: header, Express, link, FLR, ACS, DSN decoded, IDs from sysfs")
    func vfDecodedFully() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        for (i, a) in Self.vfs.enumerated() {
            let vf = try #require(snap.function(at: PCIAddress(a)!))
            #expect(vf.vendor == "8086" && vf.device == "1889", "identity comes from sysfs, not the ffff registers")
            #expect(vf.unresponsive == false)
            #expect(vf.headerType == 0)
            #expect(vf.configSpace.readableBytes == 4096 && vf.configSpace.capabilitiesReadable)
            #expect(vf.express?.portType == "endpoint")
            #expect(vf.link == LinkFacts.make(current: "16GT/s", 8, max: "16GT/s", 16, source: "config"))
            let caps = try #require(vf.capabilities, "\(a): capabilities lost")
            #expect(caps.flr && caps.flrSource == "express-devcap")
            #expect(caps.acs?.capabilities == ["SrcValid", "TransBlk", "ReqRedir", "CmpltRedir", "UpstreamFwd"])
            #expect(caps.acs?.enabled == ["SrcValid", "UpstreamFwd"])
            #expect(caps.serialNumber == "00-11-22-ff-fe-33-44-5\(i)")
            #expect(caps.ari)
            #expect(caps.list == ["msix", "express", "ext:acs", "ext:ari", "ext:dsn"])
            #expect(vf.subsystemVendor == "8086" && vf.subsystemDevice == "0003", "subsystem from config 0x2c")
            #expect(vf.physicalFunction?.description == Self.pf)
            #expect(!snap.warnings.contains { $0.address == a }, "\(snap.warnings.filter { $0.address == a })")
        }
        // The PF and a plain function answer; a function without config is unknown.
        #expect(snap.function(at: PCIAddress(Self.pf)!)?.unresponsive == false)
        #expect(snap.function(at: PCIAddress("0000:3d:00.0")!)?.unresponsive == nil)
    }

    @Test("dead function (whole header ff): unresponsive, cached IDs kept, no caps, warning names config")
    func deadFunction() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let f = try #require(snap.function(at: PCIAddress(Self.dead)!))
        #expect(f.unresponsive == true)
        #expect(f.vendor == "10de" && f.device == "2236" && f.revision == "a1", "the kernel's cached IDs")
        #expect(f.configSpace.readableBytes == 0 && f.configSpace.source == .sysfs)
        #expect(f.configSpace.whyCapabilitiesUnknown?.contains("powered off or gone") == true)
        #expect(f.capabilities == nil && f.headerType == nil && f.express == nil)
        #expect(f.subsystemVendor == nil, "no subsystem from ff bytes")
        let config = t.dir(Self.dead) + "/config"
        let configPath = t.sysRoot + "/bus/pci/devices/\(Self.dead)/config"
        #expect(
            snap.warnings.contains {
                $0.address == Self.dead && ($0.path == configPath || $0.path == config)
                    && $0.message.contains("all-FF")
            }, "\(snap.warnings)")
    }

    /// `lspci -vvv` on the same tree, through the same comparison as the real captures.
    /// Where we differ, and why:
    /// - The dead function: lspci prints it with the sysfs IDs and "!!! Unknown header type 7f"
    ///   and decodes nothing; we keep the same IDs, say `unresponsive`, and report
    ///   `readableBytes` 0 instead of 4096 (the bytes are not the function's).
    /// - Nothing else: lspci decodes the VFs' FLR, ACS, DSN and link exactly as we do.
    @Test("lspci -vvv on the tree agrees on the VFs and the dead function", .tags(.probeFixtures))
    func matchesLspci() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let r = try Self.lspci(["-A", "linux-sysfs", "-O", "sysfs.path=\(t.sysRoot)/bus/pci", "-vvv", "-nn", "-D"])
        let listed = Dictionary(LspciListing.parse(r.stdout).map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(Set(listed.keys) == Set(snap.functions.map(\.address.description)))
        for f in snap.functions {
            let l = try #require(listed[f.address.description])
            ProbeLspciCompare.identity(f, l, context: "vf-tree")
            ProbeLspciCompare.capabilities(f, l, context: "vf-tree")
        }
        for a in Self.vfs {
            let l = try #require(listed[a])
            // Not vacuous: lspci itself decoded these from the ffff-ID config.
            #expect(l.devCapFLR && l.hasACS && l.serialNumber != nil && l.lnkStaWidth == 8, "\(l)")
            #expect(l.vendorID == "8086" && l.deviceID == "1889")
        }
        let d = try #require(listed[Self.dead])
        #expect(d.unknownHeaderType && d.capabilityHeaders.isEmpty)
        #expect(snap.function(at: PCIAddress(Self.dead)!)?.configSpace.readableBytes == 0)
    }

    /// `lspci -xxxx` of the tree, read back as a dump. Without `-nn` the header lines carry
    /// names only: a VF's IDs then come from its PF's SR-IOV capability (First VF Offset,
    /// stride, VF Device ID), and the dead function, whose IDs nothing in the dump gives, is
    /// skipped with a warning naming its line. `lspci -F` on the same file differs on purpose:
    /// libpci's dump method takes IDs from the bytes only, so it lists both VFs and the dead
    /// function as `ffff:ffff` ("Illegal Vendor ID"), though it still walks the VFs' capabilities.
    @Test("dump without -nn: VF IDs from the PF's SR-IOV capability, dead function skipped by line")
    func dumpNamesOnly() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let r = try Self.lspci(["-A", "linux-sysfs", "-O", "sysfs.path=\(t.sysRoot)/bus/pci", "-xxxx"])
        let file = t.base + "/tree.lspci-xxxx"
        try r.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let snap = try Probe().snapshot(.dump(file: file))
        for a in Self.vfs {
            let vf = try #require(snap.function(at: PCIAddress(a)!), "\(snap.warnings)")
            #expect(vf.vendor == "8086" && vf.device == "1889")
            #expect(vf.unresponsive == false)
            #expect(vf.capabilities?.flr == true && vf.capabilities?.acs != nil && vf.capabilities?.serialNumber != nil)
            #expect(vf.configSpace.source == .dump && vf.configSpace.readableBytes == 4096)
        }
        #expect(snap.function(at: PCIAddress(Self.dead)!) == nil)
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let n = try #require(lines.firstIndex { $0.hasPrefix("3c:00.0 ") }) + 1
        #expect(
            snap.warnings.contains {
                $0.address == Self.dead && $0.message.contains("\(file):\(n):")
                    && $0.message.contains("vendor ffff")
            }, "\(snap.warnings)")
    }

    @Test("dump with -nn: IDs from the header lines; the dead function kept as unresponsive")
    func dumpWithNumbers() throws {
        let t = try Self.tree()
        defer { t.cleanup() }
        let r = try Self.lspci(["-A", "linux-sysfs", "-O", "sysfs.path=\(t.sysRoot)/bus/pci", "-xxxx", "-nn"])
        let file = t.base + "/tree.lspci-nnxxxx"
        try r.stdout.write(toFile: file, atomically: true, encoding: .utf8)
        let snap = try Probe().snapshot(.dump(file: file))
        let f = try #require(snap.function(at: PCIAddress(Self.dead)!), "\(snap.warnings)")
        #expect(f.unresponsive == true)
        #expect(f.vendor == "10de" && f.device == "2236" && f.classCode.description == "030200" && f.revision == "a1")
        #expect(f.capabilities == nil && f.bars.isEmpty && f.configSpace.readableBytes == 0)
        #expect(snap.warnings.contains { $0.address == Self.dead && $0.message.contains("all-FF") })
        for a in Self.vfs {
            let vf = try #require(snap.function(at: PCIAddress(a)!))
            #expect(vf.vendor == "8086" && vf.device == "1889" && vf.capabilities?.flr == true)
        }
    }

    @Test(
        "header line parsing",
        arguments: [
            (
                "2f:00.0 SD Host controller [0805]: Genesys Logic, Inc GL9755 SD Host Controller [17a0:9755] (rev 01) (prog-if 01)",
                "17a0", "9755", "080501", "01"
            ),
            (
                "0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA104 [GeForce RTX 3070 Ti Laptop GPU] [10de:24a0] (rev a1) (prog-if 00 [VGA controller])",
                "10de", "24a0", "030000", "a1"
            ),
            ("2f:00.0 SD Host controller: Genesys Logic, Inc GL9755 SD Host Controller (rev 01) (prog-if 01)", nil, nil, nil, "01"),
        ] as [(String, String?, String?, String?, String?)])
    func headerLine(_ line: String, _ vendor: String?, _ device: String?, _ cls: String?, _ rev: String?) {
        let h = DumpSanitizer.Header(line: 1, text: line[...])
        #expect(h.vendor.map { hex($0, 4) } == vendor)
        #expect(h.device.map { hex($0, 4) } == device)
        #expect(h.classCode.map { ClassCode(value: $0).description } == cls)
        #expect(h.revision.map { hex($0, 2) } == rev)
    }

    /// The real capture with a dead function (GL9755 in D3cold, `lspci -vvxxxx` without
    /// `-nn`): no IDs in the dump, so it is skipped and the warning names its line. No public
    /// capture with enabled VFs exists in `fixtures/real` (the Iris Xe there has Number of VFs 0).
    @Test("asus-alderlake: the all-FF GL9755 is named by its line", .tags(.probeFixtures))
    func realDeadFunction() throws {
        let file = ProbeTestSupport.fixtures + "/lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx"
        let snap = try Probe().snapshot(.dump(file: file))
        #expect(snap.function(at: PCIAddress("0000:2f:00.0")!) == nil)
        #expect(
            snap.warnings.contains {
                $0.address == "0000:2f:00.0" && $0.message.contains("\(file):5063:")
                    && $0.message.contains("whole header")
            }, "\(snap.warnings)")
        #expect(snap.functions.allSatisfy { $0.unresponsive == false })
    }
}
