import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Identity, subsystem IDs and driver come from each function's `uevent` file when it has one
/// (one file instead of five and a readlink). That is only honest if `uevent` says what the
/// attribute files say: checked here on this machine's live sysfs and on a recorded host, and
/// garbage in `uevent` must fall back to the files with a warning naming it.
@Suite("Probe: uevent identity")
struct ProbeUeventTests {
    typealias Uevent = SysfsFunctionReader.Uevent

    /// For every function under `root` that has a `uevent`: its parsed facts against the
    /// `vendor`, `device`, `class`, `subsystem_*` files and the `driver` link. Returns how many
    /// functions were compared.
    static func compareWithAttributeFiles(root: String, context: String) throws -> Int {
        let devices = root + "/bus/pci/devices"
        var compared = 0
        for name in try FileManager.default.contentsOfDirectory(atPath: devices).sorted() {
            let d = devices + "/" + name
            guard let text = SysfsRoot.text(d + "/uevent") else { continue }
            let u = Uevent(text)
            #expect(u.malformed.isEmpty, "\(context) \(name): \(u.malformed)")
            func file(_ f: String) -> UInt64? { SysfsRoot.text(d + "/" + f).flatMap(parseHexStrict) }
            #expect(u.vendor.map(UInt64.init) == file("vendor"), "\(context) \(name): vendor")
            #expect(u.device.map(UInt64.init) == file("device"), "\(context) \(name): device")
            #expect(u.classCode.map(UInt64.init) == file("class"), "\(context) \(name): class")
            if let sv = file("subsystem_vendor") {
                #expect(u.subsystemVendor.map(UInt64.init) == sv, "\(context) \(name): subsystem vendor")
                #expect(u.subsystemDevice.map(UInt64.init) == file("subsystem_device"), "\(context) \(name): subsystem device")
            }
            let link = SysfsRoot.linkTarget(d + "/driver").map { String($0.split(separator: "/").last!) }
            #expect(u.driver == link, "\(context) \(name): driver")
            compared += 1
        }
        return compared
    }

    @Test("live sysfs: every function's uevent agrees with its attribute files", .tags(.probeLive))
    func liveUeventMatchesFiles() throws {
        let n = try Self.compareWithAttributeFiles(root: "/sys", context: "live")
        #expect(n > 0, "no PCI function with a uevent file on this host")
    }

    @Test("recorded host (procfs-renoir-e810-vega10): uevent agrees with the attribute files")
    func recordedUeventMatchesFiles() throws {
        let root = ProbeTestSupport.fixtures + "/sysfs/procfs-renoir-e810-vega10/sys"
        #expect(try Self.compareWithAttributeFiles(root: root, context: "procfs") == 3)
    }

    @Test("the kernel's format: 5-digit class, upper-case IDs, DRIVER only when bound")
    func parsesKernelFormat() {
        let u = Uevent(
            "DRIVER=xhci_hcd\nPCI_CLASS=C0330\nPCI_ID=8086:A36D\nPCI_SUBSYS_ID=1028:0869\n"
                + "PCI_SLOT_NAME=0000:00:14.0\nMODALIAS=pci:v00008086d0000A36Dsv00001028sd00000869bc0Csc03i30\n")
        #expect(u.vendor == 0x8086 && u.device == 0xa36d)
        #expect(u.classCode == 0x0c0330)
        #expect(u.subsystemVendor == 0x1028 && u.subsystemDevice == 0x0869)
        #expect(u.driver == "xhci_hcd")
        #expect(u.malformed.isEmpty)
        let unbound = Uevent("PCI_CLASS=30000\nPCI_ID=10DE:1EB8\n")
        #expect(unbound.driver == nil && unbound.classCode == 0x030000 && unbound.subsystemVendor == nil)
    }

    @Test("garbage fields are named and left unknown, the rest still parse")
    func garbageFields() {
        let u = Uevent("PCI_ID=8086\nPCI_CLASS=0x20000\nPCI_SUBSYS_ID=12345:0001\nDRIVER=../x\nNOEQUALS\nPCI_SLOT_NAME=zz\n")
        #expect(u.vendor == nil && u.device == nil && u.classCode == nil && u.subsystemVendor == nil && u.driver == nil)
        #expect(u.malformed == ["PCI_ID=8086", "PCI_CLASS=0x20000", "PCI_SUBSYS_ID=12345:0001", "DRIVER=../x"])
    }

    static func tree(uevent: String, files: [String: String] = [:], driver: String? = "e1000e")
        throws -> (TreeBuilder, Snapshot)
    {
        let t = try TreeBuilder()
        try ProbeBadInputTests.healthy(t)
        var f = ProbeBadInputTests.nic("0000:00:04.0")
        f.subsystemVendor = "8086"
        f.subsystemDevice = "0001"
        f.driver = driver
        try t.add(f)
        try t.attr("0000:00:04.0", "uevent", uevent)
        for (k, v) in files { try t.attr("0000:00:04.0", k, v) }
        return (t, try ProbeBadInputTests.scan(t))
    }

    @Test("a garbage uevent: warning names it, identity and subsystem come from the files")
    func garbageUeventFallsBackToFiles() throws {
        let (t, s) = try Self.tree(uevent: "PCI_CLASS=zz\nPCI_ID=nonsense\nPCI_SUBSYS_ID=:\n")
        defer { t.cleanup() }
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.vendor == "8086" && f.device == "1533" && f.classCode.description == "020000")
        #expect(f.subsystemVendor == "8086" && f.subsystemDevice == "0001")
        #expect(f.driver == "e1000e") // no DRIVER= line: the link
        #expect(ProbeBadInputTests.warned(s, "0000:00:04.0", file: "uevent"), "\(s.warnings)")
        #expect(f.capabilities?.flr == true)
    }

    @Test("a good uevent is used: vendor file garbage, function still read, no warning")
    func ueventPreferredOverFiles() throws {
        let (t, s) = try Self.tree(
            uevent: "DRIVER=igb\nPCI_CLASS=20000\nPCI_ID=8086:1533\nPCI_SUBSYS_ID=17AA:2233\n",
            files: ["vendor": "zz\n"])
        defer { t.cleanup() }
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.vendor == "8086" && f.device == "1533")
        #expect(f.subsystemVendor == "17aa" && f.subsystemDevice == "2233")
        #expect(f.driver == "igb")
        #expect(!s.warnings.contains { $0.address == "0000:00:04.0" })
    }

    @Test("an unreadable uevent (a directory in a broken capture): named, files used")
    func unreadableUevent() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(ProbeBadInputTests.nic("0000:00:04.0"))
        try FileManager.default.createDirectory(atPath: t.dir("0000:00:04.0") + "/uevent", withIntermediateDirectories: false)
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress("0000:00:04.0")!))
        #expect(f.vendor == "8086" && f.device == "1533")
        #expect(ProbeBadInputTests.warned(s, "0000:00:04.0", file: "uevent"), "\(s.warnings)")
    }
}
