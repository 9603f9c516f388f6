import Foundation
import Glibc

/// Builds kernel-shaped sysfs trees in a temporary directory for edge-case tests.
///
/// Layout (as Linux): real directories under `sys/devices/pci<DDDD>:<BB>/…/<BDF>`, relative
/// symlinks `sys/bus/pci/devices/<BDF>`, `driver` → `sys/bus/pci/drivers/<name>`,
/// `iommu_group` → `sys/kernel/iommu_groups/<N>` (with `devices/<BDF>` back-links),
/// `physfn`/`virtfnN`, and a binary `config` from `ConfigSpace`.
final class TreeBuilder {
    /// The temporary directory; the sysfs root is `sys` below it.
    let base: String
    var sysRoot: String { base + "/sys" }

    init() throws {
        base = try ProbeTestSupport.makeTemp("sysfs")
        try mkdir("sys/bus/pci/devices")
        try mkdir("sys/devices")
    }

    func cleanup() { ProbeTestSupport.removeTemp(base) }

    struct Function {
        var address: String
        var vendor: String
        var device: String
        var classCode: String
        var revision: String = "01"
        var subsystemVendor: String? = nil
        var subsystemDevice: String? = nil
        /// Bytes of the `config` file; nil writes none.
        var config: [UInt8]? = nil
        var driver: String? = nil
        var iommuGroup: Int? = nil
        /// Create the `iommu_group` link but not the group directory (as in many captures).
        var danglingGroup = false
        var numaNode: String = "-1"
        var localCPUs: String? = "0-1"
        /// The bridge whose directory holds this function (nil: directly under the root bus).
        var parent: String? = nil
        /// Extra attribute files: name → content (a newline is appended).
        var attributes: [String: String] = [:]
        /// `resource` lines (start end flags); nil: 13 zero lines.
        var resource: [String]? = nil
    }

    private var dirs: [String: String] = [:]

    /// Real directory of a function (relative to `base`).
    func relativeDir(_ address: String) -> String { dirs[address]! }
    func dir(_ address: String) -> String { base + "/" + dirs[address]! }

    @discardableResult
    func add(_ f: Function) throws -> String {
        let domain = String(f.address.prefix(4))
        let bus = String(f.address.dropFirst(5).prefix(2))
        let parentDir = f.parent.map { dirs[$0]! } ?? "sys/devices/pci\(domain):\(bus)"
        let rel = parentDir + "/" + f.address
        dirs[f.address] = rel
        try mkdir(rel)
        let d = base + "/" + rel
        try write(d + "/vendor", "0x" + f.vendor + "\n")
        try write(d + "/device", "0x" + f.device + "\n")
        try write(d + "/class", "0x" + f.classCode + "\n")
        try write(d + "/revision", "0x" + f.revision + "\n")
        if let s = f.subsystemVendor { try write(d + "/subsystem_vendor", "0x" + s + "\n") }
        if let s = f.subsystemDevice { try write(d + "/subsystem_device", "0x" + s + "\n") }
        try write(d + "/numa_node", f.numaNode + "\n")
        if let c = f.localCPUs { try write(d + "/local_cpulist", c + "\n") }
        try write(d + "/irq", "0\n")
        let res = f.resource ?? Array(repeating: "0x0000000000000000 0x0000000000000000 0x0000000000000000", count: 13)
        try write(d + "/resource", res.joined(separator: "\n") + "\n")
        if let c = f.config { try writeBytes(d + "/config", c) }
        for (k, v) in f.attributes { try write(d + "/" + k, v + "\n") }
        try symlink(rel, at: "sys/bus/pci/devices/" + f.address)
        if let drv = f.driver { try bindDriver(f.address, drv) }
        if let g = f.iommuGroup {
            if f.danglingGroup {
                try symlink("sys/kernel/iommu_groups/\(g)", at: rel + "/iommu_group")
            } else {
                try group(g, add: f.address)
            }
        }
        return d
    }

    func bindDriver(_ address: String, _ driver: String) throws {
        let rel = dirs[address]!
        try mkdir("sys/bus/pci/drivers/" + driver)
        try symlink("sys/bus/pci/drivers/" + driver, at: rel + "/driver")
        try? symlink(rel, at: "sys/bus/pci/drivers/\(driver)/\(address)")
    }

    /// Adds a function to IOMMU group `n` (creating the group, with `type`).
    func group(_ n: Int, add address: String, type: String = "DMA") throws {
        let g = "sys/kernel/iommu_groups/\(n)"
        try mkdir(g + "/devices")
        if !FileManager.default.fileExists(atPath: base + "/" + g + "/type") { try write(base + "/" + g + "/type", type + "\n") }
        try symlink(dirs[address]!, at: g + "/devices/" + address)
        try symlink(g, at: dirs[address]! + "/iommu_group")
    }

    /// `virtfnN` on the PF and `physfn` on each VF.
    func linkVFs(pf: String, vfs: [String]) throws {
        for (i, vf) in vfs.enumerated() {
            try symlink(dirs[vf]!, at: dirs[pf]! + "/virtfn\(i)")
            try symlink(dirs[pf]!, at: dirs[vf]! + "/physfn")
        }
    }

    func mdevType(_ address: String, id: String, name: String, description: String, available: String,
                  deviceAPI: String = "vfio-pci") throws {
        let t = dirs[address]! + "/mdev_supported_types/" + id
        try mkdir(t + "/devices")
        try write(base + "/" + t + "/name", name + "\n")
        try write(base + "/" + t + "/description", description + "\n")
        try write(base + "/" + t + "/available_instances", available + "\n")
        try write(base + "/" + t + "/device_api", deviceAPI + "\n")
    }

    func drm(_ address: String, nodes: [String]) throws {
        for n in nodes { try mkdir(dirs[address]! + "/drm/" + n) }
    }

    /// A file below the sysfs root, e.g. `kernel/iommu_groups` or `module/kvm`.
    func sysFile(_ relative: String, _ content: String) throws {
        let p = sysRoot + "/" + relative
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try write(p, content)
    }

    func attr(_ address: String, _ name: String, _ content: String) throws {
        let p = dir(address) + "/" + name
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try write(p, content)
    }

    func remove(_ address: String, _ name: String) { unlink(dir(address) + "/" + name) }

    // MARK: primitives

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: base + "/" + relative, withIntermediateDirectories: true)
    }

    func write(_ path: String, _ text: String) throws {
        try writeBytes(path, Array(text.utf8))
    }

    func writeBytes(_ path: String, _ bytes: [UInt8]) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ProbeTestSupport.SupportError("cannot write \(path)")
        }
    }

    /// A relative symlink at `link` (relative to base) pointing to `target` (relative to base),
    /// as the kernel makes them (`../../../devices/…`).
    func symlink(_ target: String, at link: String) throws {
        let linkDir = link.split(separator: "/").dropLast()
        let t = target.split(separator: "/")
        var common = 0
        while common < linkDir.count, common < t.count, linkDir[linkDir.startIndex + common] == t[common] { common += 1 }
        let up = Array(repeating: "..", count: linkDir.count - common)
        let rel = (up + t[common...].map(String.init)).joined(separator: "/")
        let p = base + "/" + link
        try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        guard Glibc.symlink(rel, p) == 0 else {
            throw ProbeTestSupport.SupportError("symlink \(p) -> \(rel): errno \(errno)")
        }
    }
}

/// A config space image with a valid header and capability chain, as the kernel's `config`.
struct ConfigSpace {
    enum PortType: UInt16 { case endpoint = 0, rootPort = 4, upstream = 5, downstream = 6, rcEndpoint = 9 }

    var vendor: UInt16
    var device: UInt16
    var classCode: UInt32
    var revision: UInt8 = 1
    var headerType: UInt8 = 0
    var multiFunction = false
    var subsystemVendor: UInt16 = 0
    var subsystemDevice: UInt16 = 0
    /// PM capability; NoSoftRst bit value.
    var pm: Bool? = true
    var msix = true
    /// PCI Express capability; nil for conventional PCI.
    var express: PortType? = .endpoint
    var flr = false
    /// Conventional PCI Advanced Features capability with FLR.
    var afFLR = false
    /// LnkCap speed code/width, LnkSta speed code/width.
    var link: (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8) = (4, 16, 3, 8)
    var aer = false
    /// ACS capability and control bits.
    var acs: (cap: UInt16, ctl: UInt16)? = nil
    var sriov: (total: UInt16, initial: UInt16, num: UInt16, vfDevice: UInt16)? = nil
    var ari = false
    var dsn: UInt64? = nil
    enum ChainFault { case loop, pointerBelow100 }
    var chainFault: ChainFault? = nil
    /// Total size: 4096 (root reading PCIe), 256 (conventional), 64 (non-root).
    var size = 4096

    func bytes() -> [UInt8] {
        var c = [UInt8](repeating: 0, count: 4096)
        func p8(_ o: Int, _ v: UInt8) { c[o] = v }
        func p16(_ o: Int, _ v: UInt16) { c[o] = UInt8(v & 0xff); c[o + 1] = UInt8(v >> 8) }
        func p32(_ o: Int, _ v: UInt32) { p16(o, UInt16(v & 0xffff)); p16(o + 2, UInt16(v >> 16)) }
        p16(0, vendor); p16(2, device)
        p16(4, 0x0406)
        p8(8, revision)
        p8(9, UInt8(classCode & 0xff)); p8(10, UInt8((classCode >> 8) & 0xff)); p8(11, UInt8(classCode >> 16))
        p8(0x0e, headerType | (multiFunction ? 0x80 : 0))
        if headerType == 0 { p16(0x2c, subsystemVendor); p16(0x2e, subsystemDevice) }
        if headerType == 1 { p8(0x18, 0); p8(0x19, 1); p8(0x1a, 1) }
        // Standard chain: PM 0x40 → MSI-X 0x50 → Express 0x60 → AF 0xa0.
        var std: [(Int, UInt8, (Int) -> Void)] = []
        if let nsr = pm { std.append((0x40, 0x01, { o in p16(o + 2, 0x0003); p16(o + 4, nsr ? 0x0008 : 0) })) }
        if msix { std.append((0x50, 0x11, { o in p16(o + 2, 0x0007) })) }
        if let t = express {
            std.append((0x60, 0x10, { o in
                p16(o + 2, (t.rawValue << 4) | 2)
                p32(o + 4, 0x0000_8000 | (flr ? 0x1000_0000 : 0))
                let l = link
                p32(o + 0x0c, UInt32(l.maxSpeed) | UInt32(l.maxWidth) << 4)
                p16(o + 0x12, UInt16(l.speed) | UInt16(l.width) << 4)
            }))
        }
        if afFLR { std.append((0xa0, 0x13, { o in p8(o + 2, 6); p8(o + 3, 0x03) })) }
        if !std.isEmpty {
            p16(6, 0x0010) // Status: capabilities list
            p8(0x34, UInt8(std[0].0))
            for (i, cap) in std.enumerated() {
                p8(cap.0, cap.1)
                p8(cap.0 + 1, i + 1 < std.count ? UInt8(std[i + 1].0) : 0)
                cap.2(cap.0)
            }
        }
        // Extended chain from 0x100, 0x40 bytes apart.
        var ext: [(UInt16, (Int) -> Void)] = []
        if aer { ext.append((0x0001, { _ in })) }
        if let a = acs { ext.append((0x000d, { o in p16(o + 4, a.cap); p16(o + 6, a.ctl) })) }
        if let s = sriov {
            ext.append((0x0010, { o in
                p16(o + 0x0c, s.initial); p16(o + 0x0e, s.total); p16(o + 0x10, s.num)
                p16(o + 0x14, 0x80); p16(o + 0x16, 2); p16(o + 0x1a, s.vfDevice)
            }))
        }
        if ari { ext.append((0x000e, { _ in })) }
        if let sn = dsn { ext.append((0x0003, { o in p32(o + 4, UInt32(sn & 0xffff_ffff)); p32(o + 8, UInt32(sn >> 32)) })) }
        if express != nil {
            for (i, e) in ext.enumerated() {
                let o = 0x100 + i * 0x40
                var next = i + 1 < ext.count ? UInt32(0x100 + (i + 1) * 0x40) : 0
                if i + 1 == ext.count {
                    switch chainFault {
                    case .loop: next = 0x100
                    case .pointerBelow100: next = 0x0c0
                    case nil: break
                    }
                }
                p32(o, UInt32(e.0) | 1 << 16 | next << 20)
                e.1(o)
            }
        }
        return Array(c.prefix(size))
    }
}
