import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Bad input (issue 2): the scan finishes, the function is kept with that fact null (or
/// skipped when its identity is unreadable), and a warning names the address and the file.
@Suite("Probe: bad input")
struct ProbeBadInputTests {
    /// A healthy neighbour: every bad-input tree also holds it, and it must come through intact.
    static func healthy(_ t: TreeBuilder) throws {
        let cfg = ConfigSpace(
            vendor: 0x1af4, device: 0x1041, classCode: 0x020000, subsystemVendor: 0x1af4,
            subsystemDevice: 0x1100, express: nil)
        try t.add(
            .init(
                address: "0000:00:03.0", vendor: "1af4", device: "1041", classCode: "020000",
                config: cfg.bytes(), driver: "virtio-pci"))
    }

    static func nic(_ address: String, config: [UInt8]? = nil, attributes: [String: String] = [:]) -> TreeBuilder.Function {
        .init(
            address: address, vendor: "8086", device: "1533", classCode: "020000", revision: "03",
            config: config ?? ConfigSpace(vendor: 0x8086, device: 0x1533, classCode: 0x020000, revision: 3, flr: true).bytes(),
            attributes: attributes)
    }

    static func scan(_ t: TreeBuilder, sourceLocation: SourceLocation = #_sourceLocation) throws -> Snapshot {
        let s = try Probe().snapshot(.sysfs(root: t.sysRoot))
        let ok = try #require(s.function(at: PCIAddress("0000:00:03.0")!), sourceLocation: sourceLocation)
        #expect(ok.vendor == "1af4" && ok.driver == "virtio-pci", sourceLocation: sourceLocation)
        return s
    }

    static func warned(_ s: Snapshot, _ address: String, file: String) -> Bool {
        s.warnings.contains { $0.address == address && ($0.path ?? "").hasSuffix("/" + file) && $0.description.contains(address) }
    }

    enum Garbage: String, CaseIterable, Sendable { case vendor, device, classTrailingJunk }

    @Test("garbage identity attribute: function skipped, named with its file", arguments: Garbage.allCases)
    func garbageIdentity(_ g: Garbage) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0"))
        let (file, value) =
            switch g {
            case .vendor: ("vendor", "zz\n")
            case .device: ("device", "0x10de0x\n")
            case .classTrailingJunk: ("class", "0x020000 junk\n")
            }
        try t.attr("0000:00:04.0", file, value)
        let s = try Self.scan(t)
        #expect(s.function(at: PCIAddress("0000:00:04.0")!) == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: file), "\(s.warnings)")
    }

    @Test("garbage optional attributes: kept, fact null, warning names the file")
    func garbageOptional() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0", attributes: ["sriov_totalvfs": "lots", "boot_vga": "maybe"]))
        try t.attr("0000:00:04.0", "numa_node", "abc\n")
        try t.attr("0000:00:04.0", "subsystem_vendor", "0x8086\u{0}junk\n")
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.numaNode == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: "numa_node"))
        #expect(f.bootVGA == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: "boot_vga"))
        #expect(f.sriov?.totalVFs == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: "sriov_totalvfs"))
        #expect(Self.warned(s, "0000:00:04.0", file: "subsystem_vendor"))
        // The rest of the function is intact.
        #expect(f.capabilities?.flr == true)
    }

    @Test("config shorter than the header (40 bytes): kept, capabilities unknown, warned")
    func shortConfig() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        let full = ConfigSpace(vendor: 0x8086, device: 0x1533, classCode: 0x020000, flr: true).bytes()
        try t.add(Self.nic("0000:00:04.0", config: Array(full.prefix(40))))
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.vendor == "8086" && f.revision == "03")
        #expect(f.capabilities == nil)
        #expect(!f.configSpace.capabilitiesReadable)
        #expect(f.configSpace.readableBytes < 64)
        #expect(Self.warned(s, "0000:00:04.0", file: "config"), "\(s.warnings)")
    }

    @Test("64-byte config (non-root read): capabilities null, never 'no FLR'")
    func nonRootConfig() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        let full = ConfigSpace(
            vendor: 0x8086, device: 0x1533, classCode: 0x020000, subsystemVendor: 0x8086,
            subsystemDevice: 0x0001, flr: true
        ).bytes()
        try t.add(Self.nic("0000:00:04.0", config: Array(full.prefix(64))))
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.configSpace.readableBytes == 64)
        #expect(f.capabilities == nil)
        #expect(f.subsystemVendor == "8086") // the header is still read
        #expect(f.express == nil && f.link == nil)
    }

    enum Chain: String, CaseIterable, Sendable { case loop, pointerBelow100 }

    @Test("broken extended-capability chain is flagged, earlier caps kept", arguments: Chain.allCases)
    func brokenChain(_ c: Chain) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        var cfg = ConfigSpace(
            vendor: 0x8086, device: 0x1533, classCode: 0x020000, flr: true, aer: true,
            acs: (0x1f, 0x1f), dsn: 0x0102_0304_0506_0708)
        cfg.chainFault = c == .loop ? .loop : .pointerBelow100
        try t.add(Self.nic("0000:00:04.0", config: cfg.bytes()))
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        let caps = try #require(f.capabilities)
        #expect(caps.extendedChainBroken)
        #expect(caps.aer)
        #expect(caps.acs != nil)
        #expect(caps.serialNumber == "01-02-03-04-05-06-07-08")
        #expect(caps.flr)
        // A sane chain is not flagged.
        let t2 = try TreeBuilder()
        defer { t2.cleanup() }
        cfg.chainFault = nil
        try t2.add(Self.nic("0000:00:04.0", config: cfg.bytes()))
        let ok = try Probe().snapshot(.sysfs(root: t2.sysRoot))
        #expect(ok.functions.first?.capabilities?.extendedChainBroken == false)
    }

    @Test("all-FF config (powered off): kept with sysfs identity, config facts unknown, warned")
    func allOnesConfig() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0", config: [UInt8](repeating: 0xff, count: 4096)))
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.vendor == "8086") // the kernel's cached IDs
        #expect(f.capabilities == nil)
        #expect(!f.configSpace.capabilitiesReadable)
        #expect(f.headerType == nil && f.express == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: "config"), "\(s.warnings)")
    }

    @Test("all-FF identity (vendor ffff in sysfs): skipped and named")
    func allOnesIdentity() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(
            .init(
                address: "0000:00:04.0", vendor: "ffff", device: "ffff", classCode: "ffffff", revision: "ff",
                config: [UInt8](repeating: 0xff, count: 256)))
        let s = try Self.scan(t)
        #expect(s.function(at: PCIAddress("0000:00:04.0")!) == nil)
        #expect(Self.warned(s, "0000:00:04.0", file: "vendor"))
    }

    @Test("dangling iommu_group and driver links: names read with readlink")
    func danglingLinks() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        var nic = Self.nic("0000:00:04.0")
        nic.iommuGroup = 12
        nic.danglingGroup = true
        try t.add(nic)
        try t.symlink("sys/bus/pci/drivers/igb", at: t.relativeDir("0000:00:04.0") + "/driver")
        #expect(SysfsRoot.resolve(t.dir("0000:00:04.0") + "/driver") == nil)
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.iommuGroup == 12)
        #expect(f.driver == "igb")
        // Groups rebuilt from links when the capture lacks kernel/iommu_groups.
        #expect(s.iommu.groups.map(\.number) == [12])
    }

    @Test("function vanishing after enumeration: directory gone → skipped and named")
    func vanishedDirectory() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0"))
        // Hot-unplug between `ls devices/` and the reads: the link stays, its target is gone.
        try FileManager.default.removeItem(atPath: t.dir("0000:00:04.0"))
        let s = try Self.scan(t)
        #expect(s.function(at: PCIAddress("0000:00:04.0")!) == nil)
        // The function's directory is opened once; the warning names it (the link is dangling).
        #expect(Self.warned(s, "0000:00:04.0", file: "0000:00:04.0"), "\(s.warnings)")
        #expect(s.warnings.contains { $0.address == "0000:00:04.0" && $0.message.contains("No such file or directory") })
    }

    @Test("function losing its config mid-scan: kept with identity, config facts unknown")
    func vanishedConfig() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0"))
        t.remove("0000:00:04.0", "config")
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.capabilities == nil && f.configSpace.readableBytes == 0)
        #expect(Self.warned(s, "0000:00:04.0", file: "config"))
    }

    @Test("no resource file: BARs unknown, capabilities still read")
    func noResource() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.add(Self.nic("0000:00:04.0"))
        t.remove("0000:00:04.0", "resource")
        let s = try Self.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.capabilities?.flr == true)
        #expect(Self.warned(s, "0000:00:04.0", file: "resource"))
    }

    @Test("non-address entries in devices/ are named and skipped; libpci does not abort")
    func nonAddressEntry() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try Self.healthy(t)
        try t.mkdir("sys/bus/pci/devices/README")
        try t.mkdir("sys/bus/pci/devices/0000:00:1f.2.bak")
        try t.mkdir("sys/bus/pci/devices/0000:00:20.0") // device 0x20 > 31
        let s = try Self.scan(t)
        #expect(s.functions.count == 1)
        for n in ["README", "0000:00:1f.2.bak", "0000:00:20.0"] {
            #expect(s.warnings.contains { $0.address == n && ($0.path ?? "").hasSuffix("/" + n) }, "\(n)")
        }
    }

    @Test("sysfs root that does not exist: ProbeError.sysfsRootMissing")
    func missingRoot() throws {
        #expect(throws: ProbeError.sysfsRootMissing("/nonexistent-hwlabel/sys/bus/pci/devices")) {
            try Probe().snapshot(.sysfs(root: "/nonexistent-hwlabel/sys"))
        }
    }

    @Test("sysfs root that does not exist: CLI exits 3 with the path")
    func missingRootCLI() throws {
        let r = try ProbeTestSupport.run(
            try ProbeTestSupport.hwlabelBinary(),
            ["inventory", "--format", "json", "--sysfs-root", "/nonexistent-hwlabel/sys"])
        #expect(r.status == 3)
        #expect(r.stderr.contains("/nonexistent-hwlabel/sys/bus/pci/devices"))
        #expect(r.stdout.isEmpty)
    }

    @Test("unreadable dump: ProbeError.dumpUnreadable, CLI exits 3")
    func missingDump() throws {
        #expect(throws: ProbeError.self) { try Probe().snapshot(.dump(file: "/nonexistent-hwlabel.lspci")) }
        let r = try ProbeTestSupport.run(
            try ProbeTestSupport.hwlabelBinary(),
            ["list", "--pci-dump", "/nonexistent-hwlabel.lspci"])
        #expect(r.status == 3)
    }

    // MARK: dumps

    enum DumpFault: String, CaseIterable, Sendable { case trailingJunk, overlongLine, noFinalNewline, badHexByte }

    /// libpci's dump reader aborts the whole file on these; we drop the line, warn with the
    /// line number and device, and read the rest.
    @Test("malformed dump line: dropped with a warning, the rest still read", arguments: DumpFault.allCases)
    func malformedDump(_ fault: DumpFault) throws {
        let src = ProbeTestSupport.fixtures + "/lspci/pciutils-tests__tree-fsl-p2020.lspci"
        let original = try String(contentsOfFile: src, encoding: .utf8)
        let good = try Probe().snapshot(.dump(file: src))
        var lines = original.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        // The second device's header line and its `10:` hex line.
        let headers = lines.indices.filter { PCIAddress(lines[$0].split(separator: " ").first ?? "") != nil }
        try #require(headers.count >= 2)
        let device = PCIAddress(lines[headers[1]].split(separator: " ")[0])!.description
        let hexLine = try #require(lines.indices.first { $0 > headers[1] && lines[$0].hasPrefix("10: ") })
        var expectLine: Int?
        switch fault {
        case .trailingJunk: lines[hexLine] += " junk"; expectLine = hexLine + 1
        case .overlongLine: lines.insert(String(repeating: "x", count: 300), at: hexLine); expectLine = hexLine + 1
        case .badHexByte: lines[hexLine] = "10: zz" + lines[hexLine].dropFirst(6); expectLine = hexLine + 1
        case .noFinalNewline: break
        }
        let dir = try ProbeTestSupport.makeTemp("dump")
        defer { ProbeTestSupport.removeTemp(dir) }
        let file = dir + "/bad.lspci"
        let text = lines.joined(separator: "\n") + (fault == .noFinalNewline ? "" : "\n")
        try text.write(toFile: file, atomically: true, encoding: .utf8)

        let s = try Probe().snapshot(.dump(file: file))
        #expect(s.functions.map(\.address) == good.functions.map(\.address))
        if let n = expectLine {
            #expect(s.warnings.contains { $0.address == device && $0.message.contains("\(file):\(n)") }, "\(s.warnings)")
        } else {
            // A missing final newline is harmless once fixed up: no facts lost.
            #expect(s.functions == good.functions)
        }
        // The CLI reads it too (libpci never exits the process).
        let r = try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), ["list", "--pci-dump", file])
        #expect(r.status == 0, "\(r.stderr)")
    }

    @Test("the NFD tree that aborts lspci: CLI exits 0 and names 00:1f.2")
    func nfdThroughCLI() throws {
        let root = ProbeTestSupport.fixtures + "/sysfs/nfd-xeon-c620-rootfs-1/sys"
        let r = try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), ["list", "--sysfs-root", root])
        #expect(r.status == 0)
        #expect(r.stderr.contains("0000:00:1f.2"))
        #expect(r.stdout.components(separatedBy: "\n").filter { $0.hasPrefix("0000:") }.count == 10)
    }
}
