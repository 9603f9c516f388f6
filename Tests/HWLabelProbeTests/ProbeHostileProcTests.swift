import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Issue 12, `--proc-root` and the host-level sysfs files: a FIFO in a captured `/proc` hung
/// the run; CRLF tables parsed to nothing. Every file is bounded, non-blocking and named when
/// refused; `\r\n` ends a line in every table.
@Suite("Probe: hostile proc roots and host files")
struct ProbeHostileProcTests {
    static func snapshot(_ t: TreeBuilder, _ proc: String) throws -> Snapshot {
        try Probe().snapshot(.sysfs(root: t.sysRoot, paths: HostPaths(sys: t.sysRoot, proc: proc, dev: nil, etc: nil)))
    }

    static let procFiles = [
        "self/mountinfo", "swaps", "net/route", "net/ipv6_route", "net/if_inet6", "cpuinfo",
        "cmdline", "sys/kernel/hostname", "sys/kernel/random/boot_id", "sys/kernel/osrelease",
    ]

    /// Today's hang: `--proc-root` with a FIFO for any of these blocked the run in open(2).
    @Test("a FIFO in --proc-root: named in a warning, inventory exits 0 in time", arguments: procFiles)
    func fifoInProc(_ file: String) throws {
        let (t, proc) = try ProbeUsageTests.hostTree()
        defer { t.cleanup() }
        for f in ["cpuinfo", "cmdline", "sys/kernel/hostname", "sys/kernel/random/boot_id", "sys/kernel/osrelease"] {
            try t.procFile(f, f == "cpuinfo" ? "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n\n" : "x\n")
        }
        let p = proc + "/" + file
        unlink(p)
        #expect(mkfifo(p, 0o644) == 0)
        let r = try ProbeHostileSysfsTests.hwlabel([
            "inventory", "--sysfs-root", t.sysRoot, "--proc-root", proc,
            "--format", "json",
        ])
        #expect(!r.timedOut && !r.signalled && r.status == 0, "rc \(r.status): \(r.stderr.suffix(300))")
        #expect(ProbeHostileSysfsTests.runWarned(r, address: nil, file: file, "FIFO"), "\(r.warnings)")
        #expect(r.addresses.contains(ProbeUsageTests.nvme))
        if r.status == 0 { try SchemaValidator.validate(r.stdout, label: "FIFO in proc") }
    }

    @Test("a procfs table over its limit is refused by name, not cut short")
    func oversizedTable() throws {
        let (t, proc) = try ProbeUsageTests.hostTree()
        defer { t.cleanup() }
        let big = String(repeating: "x", count: SysfsRoot.Limit.procTable + 1)
        try big.write(toFile: proc + "/swaps", atomically: false, encoding: .utf8)
        let s = try Self.snapshot(t, proc)
        #expect(s.warnings.contains { $0.path == proc + "/swaps" && $0.message.contains("over the limit") }, "\(s.warnings)")
        #expect(ProbeUsageTests.uses(s, ProbeUsageTests.nvme, "mounted").count == 3)
    }

    /// Today: CRLF tables came back as one line each (Swift's "\r\n" is one Character) and
    /// every mount, swap and route was silently missing.
    @Test("CRLF procfs tables give the same host facts as LF ones")
    func crlfProc() throws {
        let (t, proc) = try ProbeUsageTests.hostTree()
        defer { t.cleanup() }
        try t.procFile("cpuinfo", "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n\nprocessor\t: 1\n")
        let lf = try Self.snapshot(t, proc)
        #expect(lf.host?.hostUses?.isEmpty == false && lf.host?.cpuVendor == "GenuineIntel")
        for f in ["self/mountinfo", "swaps", "net/route", "net/ipv6_route", "net/if_inet6", "cpuinfo"] {
            let p = proc + "/" + f
            let text = try String(contentsOfFile: p, encoding: .utf8)
            try text.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: p, atomically: false, encoding: .utf8)
        }
        let crlf = try Self.snapshot(t, proc)
        #expect(crlf.host == lf.host)
        #expect(crlf.warnings == lf.warnings)
    }

    @Test("CRLF parsers: mountinfo, swaps, routes, uevent, creatable_vgpu_types")
    func crlfParsers() {
        let mounts = "22 1 259:2 / / rw,relatime - ext4 /dev/nvme0n1p2 rw\n23 22 0:21 / /tmp rw - tmpfs tmpfs rw\n"
        #expect(MountTable.parseMountInfo(mounts.replacingOccurrences(of: "\n", with: "\r\n")) == MountTable.parseMountInfo(mounts))
        #expect(MountTable.parseMountInfo(mounts).count == 2)
        let swaps = "Filename\tType\tSize\tUsed\tPriority\n/dev/nvme0n1p4 partition 1 0 -2\n"
        #expect(MountTable.parseSwaps(swaps.replacingOccurrences(of: "\n", with: "\r\n")) == MountTable.parseSwaps(swaps))
        let route =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\neth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
        #expect(ProcNet.parseIPv4Routes(route.replacingOccurrences(of: "\n", with: "\r\n"))["eth0"]?.first?.isDefault == true)
        let u = SysfsFunctionReader.Uevent("PCI_CLASS=20000\r\nPCI_ID=8086:1533\r\nDRIVER=igb\r\n")
        #expect(u.vendor == 0x8086 && u.device == 0x1533 && u.classCode == 0x20000 && u.driver == "igb" && u.malformed.isEmpty)
        #expect(TextLines.split("a\r\nb\n\r\nc") == ["a", "b", "c"])
        #expect(TextLines.split("a\r\n\r\nb", keepEmpty: true) == ["a", "", "b"])
    }

    @Test("FIFOs among host-level sysfs files (slots, module parameters): named, no hang")
    func hostSysfsFiles() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.slot("3", address: "0000:00:03")
        try t.sysFile("module/kvm_intel/parameters/nested", "Y\n")
        for p in [t.sysRoot + "/bus/pci/slots/3/address", t.sysRoot + "/module/kvm_intel/parameters/nested"] {
            unlink(p)
            #expect(mkfifo(p, 0o644) == 0)
        }
        let r = try ProbeHostileSysfsTests.hwlabel(["inventory", "--sysfs-root", t.sysRoot, "--format", "json"])
        #expect(!r.timedOut && r.status == 0, "\(r.stderr.suffix(300))")
        #expect(ProbeHostileSysfsTests.runWarned(r, address: nil, file: "slots/3/address", "FIFO"), "\(r.warnings)")
        #expect(ProbeHostileSysfsTests.runWarned(r, address: nil, file: "parameters/nested", "FIFO"), "\(r.warnings)")
    }
}
