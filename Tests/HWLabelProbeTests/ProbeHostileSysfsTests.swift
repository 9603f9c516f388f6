import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Issue 12, the probe's sysfs side: a captured or synthetic tree may hold anything. Nothing
/// crashes, hangs or is dropped in silence: a FIFO, a device node or a number out of range costs
/// that one fact (or that one function) and a warning naming the device and the file.
@Suite("Probe: hostile sysfs trees")
struct ProbeHostileSysfsTests {
    static let target = "0000:00:04.0"

    /// A conventional-PCI NIC (no Express capability), so link speed and width come from the
    /// sysfs files rather than config space.
    static func conventional(_ attributes: [String: String] = [:]) -> TreeBuilder.Function {
        .init(
            address: target, vendor: "8086", device: "1533", classCode: "020000", revision: "03",
            config: ConfigSpace(vendor: 0x8086, device: 0x1533, classCode: 0x020000, revision: 3, express: nil).bytes(),
            iommuGroup: 7, attributes: attributes, uevent: true)
    }

    static func warned(_ s: Snapshot, _ file: String, _ words: String) -> Bool {
        s.warnings.contains { w in
            (w.path ?? "").hasSuffix("/" + file) && w.description.contains(file) && w.message.contains(words)
        }
    }

    /// Runs the debug `hwlabel` with a deadline: a hang fails the test instead of wedging it.
    struct Run {
        var status: Int32
        var signalled: Bool
        var timedOut: Bool
        var stdout: Data
        var stderr: String
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: stdout)) as? [String: Any] }
        var warnings: [[String: Any]] { json?["warnings"] as? [[String: Any]] ?? [] }
        var addresses: [String] { (json?["functions"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String } }
    }

    static func hwlabel(_ arguments: [String], timeout: TimeInterval = 60) throws -> Run {
        let dir = try ProbeTestSupport.makeTemp("run")
        defer { ProbeTestSupport.removeTemp(dir) }
        FileManager.default.createFile(atPath: dir + "/out", contents: nil)
        FileManager.default.createFile(atPath: dir + "/err", contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/out"))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/err"))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try ProbeTestSupport.hwlabelBinary())
        p.arguments = arguments
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let deadline = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < deadline { usleep(20_000) }
        let timedOut = p.isRunning
        if timedOut {
            kill(p.processIdentifier, SIGKILL)
        }
        p.waitUntilExit()
        try out.close()
        try err.close()
        return Run(
            status: p.terminationStatus, signalled: p.terminationReason == .uncaughtSignal, timedOut: timedOut,
            stdout: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/out"))) ?? Data(),
            stderr: String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: dir + "/err"))) ?? Data(), as: UTF8.self))
    }

    /// `inventory --format json` on a tree: exits 0 in time, not killed, schema-valid, and the
    /// healthy neighbour is listed.
    static func inventory(_ t: TreeBuilder, extra: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> Run {
        let r = try hwlabel(["inventory", "--sysfs-root", t.sysRoot, "--format", "json"] + extra)
        #expect(!r.timedOut, "hwlabel hung", sourceLocation: sourceLocation)
        #expect(!r.signalled && r.status == 0, "rc \(r.status): \(r.stderr.suffix(400))", sourceLocation: sourceLocation)
        #expect(r.addresses.contains("0000:00:03.0"), sourceLocation: sourceLocation)
        if r.status == 0 { try SchemaValidator.validate(r.stdout, label: "hostile tree", sourceLocation: sourceLocation) }
        return r
    }

    static func runWarned(_ r: Run, address: String?, file: String, _ words: String) -> Bool {
        r.warnings.contains { w in
            (address == nil || w["address"] as? String == address) && ((w["path"] as? String) ?? "").hasSuffix("/" + file)
                && ((w["message"] as? String) ?? "").contains(words)
        }
    }

    // MARK: numbers

    /// Today's crash: `String(Int(v))` of a Double from `current_link_speed` trapped (SIGILL)
    /// on `inf`, `1e19`, 2^63. Every one is null plus a warning; good speeds still normalise.
    @Test(
        "link speeds that are not speeds: null and a warning, no crash",
        arguments: [
            "inf", "-inf", "nan", "1e19", "9223372036854775808", "18446744073709551616", "1e-05",
            "0x1p3", "-8.0", "0", "8.0.0", "12345", "8,0", "",
        ])
    func badLinkSpeed(_ v: String) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(
            Self.conventional([
                "current_link_speed": "\(v) GT/s PCIe", "max_link_speed": v + " GT/s",
                "current_link_width": "4", "max_link_width": "8",
            ]))
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.link?.currentSpeed == nil && f.link?.maxSpeed == nil)
        #expect(f.link?.currentWidth == 4 && f.link?.maxWidth == 8)
        #expect(Self.warned(s, "current_link_speed", "not a link speed"), "\(s.warnings)")
        #expect(Self.warned(s, "max_link_speed", "not a link speed"), "\(s.warnings)")
    }

    @Test(
        "the kernel's speed strings normalise as lspci prints them; garbage does not",
        arguments: [
            ("2.5 GT/s PCIe", "2.5GT/s"), ("5.0 GT/s PCIe", "5GT/s"), ("8.0 GT/s PCIe", "8GT/s"), ("16.0 GT/s PCIe", "16GT/s"),
            ("32.0 GT/s PCIe", "32GT/s"), ("64.0 GT/s PCIe", "64GT/s"), ("2.5 GT/s", "2.5GT/s"), ("5 GT/s", "5GT/s"),
            ("0.5 GT/s", "0.5GT/s"), ("inf GT/s PCIe", nil), ("1e19 GT/s", nil), ("nan GT/s", nil), ("Unknown", nil),
            ("33 MHz PCI", nil), ("8.0 GT/s PCIe extra", nil), ("8.0  GT/s", nil), ("10000 GT/s", nil), ("0.0 GT/s", nil),
        ] as [(String, String?)])
    func speedTable(_ input: String, _ want: String?) {
        #expect(SysfsFunctionReader.normaliseSpeed(input) == want)
    }

    /// `inventory` end to end on the speeds that killed it: exit 0, schema-valid JSON.
    @Test("inventory CLI survives link speeds inf, 1e19 and 2^63", arguments: ["inf", "1e19", "9223372036854775808"])
    func badLinkSpeedCLI(_ v: String) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(Self.conventional(["current_link_speed": "\(v) GT/s PCIe", "max_link_speed": "\(v) GT/s PCIe"]))
        let r = try Self.inventory(t)
        #expect(r.addresses.contains(Self.target))
        #expect(Self.runWarned(r, address: Self.target, file: "current_link_speed", "not a link speed"), "\(r.warnings)")
    }

    /// Every number read from a file is range-checked before it is converted or emitted: what
    /// is out of range is null (the schema's minimums hold) and named.
    @Test(
        "numbers out of range: null and a warning naming the file",
        arguments: [
            ("numa_node", "99999999999999999999"), ("numa_node", "-7"), ("numa_node", "1e3"), ("numa_node", "+1"),
            ("current_link_width", "-4"), ("current_link_width", "64"), ("max_link_width", "1e19"),
            ("sriov_totalvfs", "-1"), ("sriov_totalvfs", "70000"), ("sriov_numvfs", "9223372036854775808"),
        ] as [(String, String)])
    func numbersOutOfRange(_ file: String, _ value: String) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        var fn = Self.conventional([
            "current_link_speed": "5.0 GT/s PCIe", "current_link_width": "4", "max_link_width": "4",
            "sriov_totalvfs": "8", "sriov_numvfs": "0",
        ])
        fn.attributes[file] = value
        try t.add(fn)
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        switch file {
        case "numa_node": #expect(f.numaNode == nil)
        case "current_link_width": #expect(f.link?.currentWidth == nil && f.link?.maxWidth == 4)
        case "max_link_width": #expect(f.link?.maxWidth == nil && f.link?.currentWidth == 4)
        case "sriov_totalvfs": #expect(f.sriov?.totalVFs == nil && f.sriov?.numVFs == 0)
        default: #expect(f.sriov?.numVFs == nil && f.sriov?.totalVFs == 8)
        }
        #expect(Self.warned(s, file, "is not a number in"), "\(s.warnings)")
    }

    @Test("IOMMU group names that are not group numbers: null and named, never negative")
    func badGroupNames() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(Self.conventional())
        // A group directory named -3 and the function's link pointing at it; a `007` beside it.
        try t.mkdir("sys/kernel/iommu_groups/-3/devices")
        try t.mkdir("sys/kernel/iommu_groups/007/devices")
        t.remove(Self.target, "iommu_group")
        try t.symlink("sys/kernel/iommu_groups/-3", at: t.relativeDir(Self.target) + "/iommu_group")
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.iommuGroup == nil)
        #expect(Self.warned(s, "iommu_group", "not a group number"), "\(s.warnings)")
        #expect(!s.iommu.groups.contains { $0.number < 0 })
        #expect(s.iommu.groups.map(\.number).sorted() == [7])
    }

    @Test("mdev and VRAM numbers out of range: null and named")
    func gpuNumbers() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(
            .init(
                address: Self.target, vendor: "1002", device: "6863", classCode: "030000",
                config: ConfigSpace(vendor: 0x1002, device: 0x6863, classCode: 0x030000).bytes(),
                attributes: ["mem_info_vram_total": "18446744073709551616"]))
        try t.mdevType(Self.target, id: "amd-1", name: "slice", description: "one", available: "-2")
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.gpu?.vramBytes == nil)
        #expect(Self.warned(s, "mem_info_vram_total", "not a byte count"), "\(s.warnings)")
        #expect(f.mdevTypes?.first?.availableInstances == nil && f.mdevTypes?.first?.name == "slice")
        #expect(Self.warned(s, "available_instances", "ignored"), "\(s.warnings)")
    }

    // MARK: FIFOs and device nodes

    enum Planted: String, CaseIterable, Sendable { case fifo, devZero, directory }

    static let fifoTargets = [
        "numa_node", "uevent", "resource", "reset_method", "current_link_speed", "max_link_width",
        "config", "driver_override", "local_cpulist", "label", "sriov_totalvfs", "boot_vga",
    ]

    static func plant(_ kind: Planted, at path: String) throws {
        unlink(path)
        switch kind {
        case .fifo: #expect(mkfifo(path, 0o644) == 0)
        case .devZero: #expect(Glibc.symlink("/dev/zero", path) == 0)
        case .directory: try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        }
    }

    /// Today's hang: any per-function attribute that is a FIFO blocked the whole run in open(2)
    /// (ours, or libpci's for `config` and `resource`). Now it costs that fact and a warning.
    @Test(
        "a FIFO or /dev/zero as a function's attribute: that fact only, named; inventory exits 0 in time",
        arguments: fifoTargets, [Planted.fifo, .devZero])
    func plantedAttribute(_ file: String, _ kind: Planted) throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(
            Self.conventional([
                "current_link_speed": "5.0 GT/s PCIe", "max_link_width": "4", "reset_method": "flr bus",
                "driver_override": "(null)", "label": "Onboard LAN", "sriov_totalvfs": "7",
                "boot_vga": "0",
            ]))
        try Self.plant(kind, at: t.dir(Self.target) + "/" + file)
        let r = try Self.inventory(t)
        // The function itself is kept: its identity comes from `uevent` or the ID files.
        #expect(r.addresses.contains(Self.target))
        let words = kind == .fifo ? "FIFO" : "character device"
        #expect(Self.runWarned(r, address: Self.target, file: file, words), "\(file): \(r.warnings)")
        // In process: the other facts are intact.
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.vendor == "8086" && f.device == "1533")
        if file != "config" { #expect(f.capabilities != nil) }
        if file != "numa_node" { #expect(f.localCPUs == (file == "local_cpulist" ? nil : "0-1")) }
    }

    @Test("a FIFO as the IOMMU group's type, an mdev file or an NVIDIA vGPU file: named, no hang")
    func plantedOutsideFunction() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(
            .init(
                address: Self.target, vendor: "10de", device: "2331", classCode: "030200",
                config: ConfigSpace(vendor: 0x10de, device: 0x2331, classCode: 0x030200).bytes(), iommuGroup: 9))
        try t.mdevType(Self.target, id: "nvidia-1", name: "GRID", description: "d", available: "4")
        try t.nvidiaVGPU(Self.target, creatable: [.init(id: 1, name: "NVIDIA H100-1C")], current: 0)
        let groupType = t.sysRoot + "/kernel/iommu_groups/9/type"
        let mdev = t.dir(Self.target) + "/mdev_supported_types/nvidia-1/available_instances"
        let vgpu = t.dir(Self.target) + "/nvidia/creatable_vgpu_types"
        for p in [groupType, mdev, vgpu] { try Self.plant(.fifo, at: p) }
        let r = try Self.inventory(t)
        #expect(Self.runWarned(r, address: nil, file: "iommu_groups/9/type", "FIFO"), "\(r.warnings)")
        #expect(Self.runWarned(r, address: Self.target, file: "available_instances", "FIFO"), "\(r.warnings)")
        #expect(Self.runWarned(r, address: Self.target, file: "creatable_vgpu_types", "FIFO"), "\(r.warnings)")
        let s = try ProbeBadInputTests.scan(t)
        #expect(s.iommu.groups.first { $0.number == 9 }?.devices == [PCIAddress(Self.target)!])
        #expect(s.function(at: PCIAddress(Self.target)!)?.mdevTypes?.first?.name == "GRID")
    }

    @Test("an attribute over a page is refused, not read on")
    func oversizedAttribute() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(Self.conventional())
        try t.attr(Self.target, "local_cpulist", String(repeating: "7", count: SysfsRoot.Limit.attribute + 1))
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.localCPUs == nil)
        #expect(Self.warned(s, "local_cpulist", "not a sysfs attribute"), "\(s.warnings)")
        // Exactly a page is still an attribute.
        try t.attr(Self.target, "local_cpulist", String(repeating: "7", count: SysfsRoot.Limit.attribute - 1) + "\n")
        #expect(try ProbeBadInputTests.scan(t).function(at: PCIAddress(Self.target)!)?.localCPUs?.count == SysfsRoot.Limit.attribute - 1)
    }

    // MARK: line ends and resource

    @Test("CRLF uevent and resource read as LF ones")
    func crlfFiles() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(Self.conventional())
        let lf = try ProbeBadInputTests.scan(t).function(at: PCIAddress(Self.target)!)
        for file in ["uevent", "resource", "numa_node", "revision"] {
            let p = t.dir(Self.target) + "/" + file
            let text = try String(contentsOfFile: p, encoding: .utf8)
            try text.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: p, atomically: false, encoding: .utf8)
        }
        let s = try ProbeBadInputTests.scan(t)
        #expect(s.function(at: PCIAddress(Self.target)!) == lf)
        #expect(!s.warnings.contains { $0.address == Self.target }, "\(s.warnings)")
    }

    @Test("resource is parsed as libpci parses it; a bad line costs the BARs, not the capabilities")
    func resourceParsing() throws {
        let r = try SysfsResource.parse(
            "0x00000000fe000000 0x00000000fe01ffff 0x0000000000040200\n"
                + "0x0000000000000000 0x0000000000000000 0x0000000000000000\n0x000000000000e000 0x000000000000e01f 0x0000000000040101\n"
        ).get()
        #expect(r.barLines == 3 && r.sizes[0] == 0x20000 && r.bases[2] == 0xe001 && r.flags[0] == 0x40200)
        let bars = ConfigReader.bars(r, headerType: 0)
        #expect(bars.map(\.index) == [0, 2] && bars[0].kind == "memory" && bars[1].kind == "io" && bars[0].size == 0x20000)
        #expect(throws: SysfsResource.malformed(line: 1, text: "0x1 0x2")) { try SysfsResource.parse("0x1 0x2\n").get() }
        let tooWide = #expect(throws: ProbeError.self) { try SysfsResource.parse("0x10000000000000000 0x2 0x0\n").get() }
        #expect(tooWide?.code == .malformed)

        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(ProbeBadInputTests.nic(Self.target))
        try t.attr(Self.target, "resource", "0xfe000000 junk 0x200\n")
        let s = try ProbeBadInputTests.scan(t)
        let f = try #require(s.function(at: PCIAddress(Self.target)!))
        #expect(f.bars.isEmpty && f.capabilities?.flr == true)
        #expect(Self.warned(s, "resource", "BARs unknown"), "\(s.warnings)")
    }

    // MARK: vanishing

    /// A function removed between the directory's open and the reads (hot-unplug mid-scan):
    /// its open directory now reads nothing; it is skipped and named, nothing else is lost.
    @Test("function directory removed after it was opened: skipped, named")
    func vanishedAfterOpen() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try ProbeBadInputTests.healthy(t)
        try t.add(Self.conventional())
        let reader = SysfsFunctionReader(root: SysfsRoot(t.sysRoot))
        let a = PCIAddress(Self.target)!
        let d = try reader.open(a).get()
        try FileManager.default.removeItem(atPath: t.dir(Self.target))
        var warnings: [ProbeWarning] = []
        guard case .failure(let w) = reader.identity(a, in: d, warnings: &warnings) else {
            Issue.record("identity read from a removed directory")
            return
        }
        #expect(w.address == Self.target && w.message.contains("No such file or directory"), "\(w)")
        let s = try ProbeBadInputTests.scan(t)
        #expect(s.functions.map(\.address.description) == ["0000:00:03.0"])
    }
}
