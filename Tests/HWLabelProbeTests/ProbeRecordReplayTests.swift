import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Recording this host's sysfs and reading the copy with `.sysfs(root:)` must give the same
/// per-function facts as `.live()`.
@Suite("Probe: live vs recorded tree of the same host")
struct ProbeRecordReplayTests {
    /// Attribute files the probe (or libpci) reads. Only these are copied: reading other
    /// sysfs files (`rom`, `remove`, `reset`) has side effects or fails.
    static let files = [
        "vendor", "device", "class", "revision", "subsystem_vendor", "subsystem_device", "config",
        "resource", "irq", "numa_node", "local_cpulist", "local_cpus", "driver_override",
        "reset_method", "boot_vga", "label", "current_link_speed", "current_link_width",
        "max_link_speed", "max_link_width", "sriov_totalvfs", "sriov_numvfs", "sriov_vf_device",
        "modalias", "uevent", "enable", "msi_bus", "d3cold_allowed", "ari_enabled",
    ]
    static let links = ["driver", "iommu_group", "physfn"]

    /// Copies `/sys/bus/pci/devices/*` into `<dest>/sys` with the kernel's layout: real
    /// directories under `devices/…`, relative links in `bus/pci/devices`, link targets created.
    static func record(into dest: String) throws {
        let fm = FileManager.default
        let sys = "/sys"
        func rel(_ absolute: String) -> String { String(absolute.dropFirst(sys.count + 1)) }
        func copyFile(_ from: String, _ to: String) throws {
            let fd = open(from, O_RDONLY)
            guard fd >= 0 else { return } // unreadable attribute: the live probe gets nothing either
            defer { close(fd) }
            var out = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { break }
                out.append(contentsOf: buf[0..<n])
            }
            fm.createFile(atPath: to, contents: Data(out))
        }
        func mirrorLink(_ linkPath: String, in destDir: String) throws {
            guard let target = SysfsRoot.linkTarget(linkPath) else { return }
            let name = (linkPath as NSString).lastPathComponent
            try? fm.createSymbolicLink(atPath: destDir + "/" + name, withDestinationPath: target)
            // Create the target directory so the link resolves as on the host.
            if let real = SysfsRoot.resolve(linkPath), real.hasPrefix(sys + "/") {
                try fm.createDirectory(atPath: dest + "/sys/" + rel(real), withIntermediateDirectories: true)
            }
        }
        try fm.createDirectory(atPath: dest + "/sys/bus/pci/devices", withIntermediateDirectories: true)
        for name in try fm.contentsOfDirectory(atPath: sys + "/bus/pci/devices") {
            let link = sys + "/bus/pci/devices/" + name
            guard let real = SysfsRoot.resolve(link), let target = SysfsRoot.linkTarget(link) else { continue }
            let d = dest + "/sys/" + rel(real)
            try fm.createDirectory(atPath: d, withIntermediateDirectories: true)
            for f in files where fm.fileExists(atPath: real + "/" + f) { try copyFile(real + "/" + f, d + "/" + f) }
            let entries = (try? fm.contentsOfDirectory(atPath: real)) ?? []
            for l in links + entries.filter({ $0.hasPrefix("virtfn") }) where SysfsRoot.linkTarget(real + "/" + l) != nil {
                try mirrorLink(real + "/" + l, in: d)
            }
            try fm.createSymbolicLink(atPath: dest + "/sys/bus/pci/devices/" + name, withDestinationPath: target)
        }
        // IOMMU groups, units and slots, when the host has them.
        for g in (try? fm.contentsOfDirectory(atPath: sys + "/kernel/iommu_groups")) ?? [] {
            let gd = dest + "/sys/kernel/iommu_groups/" + g
            try fm.createDirectory(atPath: gd + "/devices", withIntermediateDirectories: true)
            try copyFile(sys + "/kernel/iommu_groups/\(g)/type", gd + "/type")
            for m in (try? fm.contentsOfDirectory(atPath: sys + "/kernel/iommu_groups/\(g)/devices")) ?? [] {
                try? fm.createSymbolicLink(
                    atPath: gd + "/devices/" + m,
                    withDestinationPath: SysfsRoot.linkTarget(sys + "/kernel/iommu_groups/\(g)/devices/" + m) ?? "")
            }
        }
        if fm.fileExists(atPath: sys + "/kernel/iommu_groups") {
            try fm.createDirectory(atPath: dest + "/sys/kernel/iommu_groups", withIntermediateDirectories: true)
        } else if fm.fileExists(atPath: sys + "/kernel") {
            // The live probe reads "IOMMU off" from an existing /sys/kernel without groups.
            try fm.createDirectory(atPath: dest + "/sys/kernel", withIntermediateDirectories: true)
        }
        for u in (try? fm.contentsOfDirectory(atPath: sys + "/class/iommu")) ?? [] {
            try fm.createDirectory(atPath: dest + "/sys/class/iommu/" + u, withIntermediateDirectories: true)
        }
        // Network interfaces and block devices name the functions they sit on (netInterfaces,
        // blockDevices): their class links, with the targets created.
        for cls in ["net", "block"] {
            let dir = sys + "/class/" + cls
            guard let names = try? fm.contentsOfDirectory(atPath: dir) else { continue }
            try fm.createDirectory(atPath: dest + "/sys/class/" + cls, withIntermediateDirectories: true)
            for n in names { try mirrorLink(dir + "/" + n, in: dest + "/sys/class/" + cls) }
        }
        for s in (try? fm.contentsOfDirectory(atPath: sys + "/bus/pci/slots")) ?? [] {
            try fm.createDirectory(atPath: dest + "/sys/bus/pci/slots/" + s, withIntermediateDirectories: true)
            try copyFile(sys + "/bus/pci/slots/\(s)/address", dest + "/sys/bus/pci/slots/\(s)/address")
        }
    }

    @Test("live and --sysfs-root of a recording give the same functions", .tags(.probeLive))
    func liveEqualsRecorded() throws {
        let dir = try ProbeTestSupport.makeTemp("record")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Self.record(into: dir)
        let live = try Probe().snapshot(.live())
        let replay = try Probe().snapshot(.sysfs(root: dir + "/sys"))
        #expect(replay.source.kind == "sysfs")
        try #require(!live.functions.isEmpty)
        #expect(live.functions.map(\.address) == replay.functions.map(\.address))
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        for (a, b) in zip(live.functions, replay.functions) {
            // udev properties exist only live (rules run by udevd); none are set on these hosts.
            var b2 = b
            b2.properties = a.properties
            let ja = String(decoding: try enc.encode(a), as: UTF8.self)
            let jb = String(decoding: try enc.encode(b2), as: UTF8.self)
            #expect(ja == jb, "\(a.address): live and recorded differ\nlive:     \(ja)\nrecorded: \(jb)")
        }
        // IOMMU layout is sysfs too.
        #expect(live.iommu == replay.iommu)
        // Host facts differ by design: the recording has no /proc, /etc or /dev, so hostname,
        // machine-id, boot id, kernel, CPU flags, command line, vfio/iommufd are null there.
        #expect(replay.host?.kernel == nil && live.host?.kernel != nil)
        // Same warnings per function, apart from the root in the paths.
        let lw = Set(live.warnings.map { $0.message.replacingOccurrences(of: "/sys/", with: "<root>/") })
        let rw = Set(replay.warnings.map { $0.message.replacingOccurrences(of: dir + "/sys/", with: "<root>/") })
        #expect(lw == rw)
    }
}
