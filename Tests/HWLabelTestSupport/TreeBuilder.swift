import Foundation
import Glibc
import HWLabelProbe

/// Builds kernel-shaped sysfs trees, in a temporary directory for edge-case tests or in a given
/// one (`hwlabel-treegen`, the benchmarks' trees).
///
/// Layout (as Linux): real directories under `sys/devices/pci<DDDD>:<BB>/…/<BDF>`, relative
/// symlinks `sys/bus/pci/devices/<BDF>`, `driver` → `sys/bus/pci/drivers/<name>`,
/// `iommu_group` → `sys/kernel/iommu_groups/<N>` (with `devices/<BDF>` back-links),
/// `physfn`/`virtfnN`, and a binary `config` from `ConfigSpace`. The methods under "kernel-shaped
/// host facts" add what real hosts carry beyond that (SR-IOV files, NVIDIA vGPU files, mdev
/// instances, `vfio-dev`, DRM and net class devices, PCIe switches, `/proc/driver/nvidia`);
/// `HostTrees` puts them together into whole hosts.
package final class TreeBuilder {
    /// The directory the tree is written in; the sysfs root is `sys` below it.
    package let base: String
    package var sysRoot: String { base + "/sys" }

    /// A tree in a fresh temporary directory, removed by `cleanup()`.
    package convenience init() throws {
        try self.init(base: ProbeTestSupport.makeTemp("sysfs"))
    }

    /// A tree in `base` (created when missing), which must not hold a `sys` yet.
    package init(base: String) throws {
        self.base = base
        guard !FileManager.default.fileExists(atPath: base + "/sys") else {
            throw ProbeTestSupport.SupportError("\(base)/sys exists")
        }
        try mkdir("sys/bus/pci/devices")
        try mkdir("sys/devices")
    }

    /// Removes `base` and everything in it.
    package func cleanup() { ProbeTestSupport.removeTemp(base) }

    package struct Function {
        package var address: String
        package var vendor: String
        package var device: String
        package var classCode: String
        package var revision: String = "01"
        package var subsystemVendor: String? = nil
        package var subsystemDevice: String? = nil
        /// Bytes of the `config` file; nil writes none.
        package var config: [UInt8]? = nil
        package var driver: String? = nil
        package var iommuGroup: Int? = nil
        /// Create the `iommu_group` link but not the group directory (as in many captures).
        package var danglingGroup = false
        package var numaNode: String = "-1"
        package var localCPUs: String? = "0-1"
        /// The bridge whose directory holds this function (nil: directly under the root bus).
        package var parent: String? = nil
        /// Extra attribute files: name → content (a newline is appended).
        package var attributes: [String: String] = [:]
        /// `resource` lines (start end flags); nil: 13 zero lines.
        package var resource: [String]? = nil
        /// Write `uevent` as the kernel's `pci_uevent()` does (DRIVER, PCI_CLASS, PCI_ID,
        /// PCI_SUBSYS_ID, PCI_SLOT_NAME, MODALIAS), from the IDs above; `bindDriver` keeps
        /// its DRIVER= line in step.
        package var uevent = false
        package init(
            address: String, vendor: String, device: String, classCode: String, revision: String = "01", subsystemVendor: String? = nil,
            subsystemDevice: String? = nil, config: [UInt8]? = nil, driver: String? = nil, iommuGroup: Int? = nil,
            danglingGroup: Bool = false, numaNode: String = "-1", localCPUs: String? = "0-1", parent: String? = nil,
            attributes: [String: String] = [:], resource: [String]? = nil, uevent: Bool = false
        ) {
            self.address = address
            self.vendor = vendor
            self.device = device
            self.classCode = classCode
            self.revision = revision
            self.subsystemVendor = subsystemVendor
            self.subsystemDevice = subsystemDevice
            self.config = config
            self.driver = driver
            self.iommuGroup = iommuGroup
            self.danglingGroup = danglingGroup
            self.numaNode = numaNode
            self.localCPUs = localCPUs
            self.parent = parent
            self.attributes = attributes
            self.resource = resource
            self.uevent = uevent
        }
    }

    private var dirs: [String: String] = [:]

    /// Real directory of a function (relative to `base`).
    package func relativeDir(_ address: String) -> String { dirs[address]! }
    package func dir(_ address: String) -> String { base + "/" + dirs[address]! }

    @discardableResult
    package func add(_ f: Function) throws -> String {
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
        if f.uevent { try writeUevent(f) }
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

    package func bindDriver(_ address: String, _ driver: String) throws {
        let rel = dirs[address]!
        try mkdir("sys/bus/pci/drivers/" + driver)
        try symlink("sys/bus/pci/drivers/" + driver, at: rel + "/driver")
        try? symlink(rel, at: "sys/bus/pci/drivers/\(driver)/\(address)")
        try setUeventDriver(address, driver)
    }

    /// Adds a function to IOMMU group `n` (creating the group, with `type`).
    package func group(_ n: Int, add address: String, type: String = "DMA") throws {
        let g = "sys/kernel/iommu_groups/\(n)"
        try mkdir(g + "/devices")
        if !FileManager.default.fileExists(atPath: base + "/" + g + "/type") { try write(base + "/" + g + "/type", type + "\n") }
        try symlink(dirs[address]!, at: g + "/devices/" + address)
        try symlink(g, at: dirs[address]! + "/iommu_group")
    }

    /// `virtfnN` on the PF and `physfn` on each VF.
    package func linkVFs(pf: String, vfs: [String]) throws {
        for (i, vf) in vfs.enumerated() {
            try symlink(dirs[vf]!, at: dirs[pf]! + "/virtfn\(i)")
            try symlink(dirs[pf]!, at: dirs[vf]! + "/physfn")
        }
    }

    package func mdevType(
        _ address: String, id: String, name: String, description: String, available: String,
        deviceAPI: String = "vfio-pci"
    ) throws {
        let t = dirs[address]! + "/mdev_supported_types/" + id
        try mkdir(t + "/devices")
        try write(base + "/" + t + "/name", name + "\n")
        try write(base + "/" + t + "/description", description + "\n")
        try write(base + "/" + t + "/available_instances", available + "\n")
        try write(base + "/" + t + "/device_api", deviceAPI + "\n")
    }

    package func drm(_ address: String, nodes: [String]) throws {
        for n in nodes { try mkdir(dirs[address]! + "/drm/" + n) }
    }

    /// A file below the sysfs root, e.g. `kernel/iommu_groups` or `module/kvm`.
    package func sysFile(_ relative: String, _ content: String) throws {
        let p = sysRoot + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (p as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try write(p, content)
    }

    package func attr(_ address: String, _ name: String, _ content: String) throws {
        let p = dir(address) + "/" + name
        try FileManager.default.createDirectory(
            atPath: (p as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try write(p, content)
    }

    package func remove(_ address: String, _ name: String) { unlink(dir(address) + "/" + name) }

    // MARK: kernel-shaped host facts (sriov, vGPU, mdev instances, vfio-dev, drm, net, switches, proc)

    /// The bridge whose directory holds `address` (nil: on a root bus); a VF sits beside its
    /// PF, under the same bridge.
    package func parentBridge(of address: String) -> String? {
        let comps = relativeDir(address).split(separator: "/")
        guard comps.count >= 2, !comps[comps.count - 2].hasPrefix("pci") else { return nil }
        return String(comps[comps.count - 2])
    }

    /// The proc root (`proc` below `base`), written only by the methods that say so.
    package var procRoot: String { base + "/proc" }

    /// Roots for `.sysfs(root:paths:)`: this sysfs, and the proc dir when something was written there.
    package var hostPaths: HostPaths {
        HostPaths(sys: sysRoot, proc: FileManager.default.fileExists(atPath: procRoot) ? procRoot : nil, dev: nil, etc: nil)
    }

    /// The `uevent` text the kernel's `pci_uevent()` prints (after the driver core's DRIVER=).
    package static func ueventBody(
        address: String, vendor: String, device: String, classCode: String,
        subsystemVendor: String?, subsystemDevice: String?
    ) -> String {
        let v = vendor.uppercased(), d = device.uppercased()
        let sv = (subsystemVendor ?? "0000").uppercased(), sd = (subsystemDevice ?? "0000").uppercased()
        let cls = UInt32(classCode, radix: 16) ?? 0
        func h(_ x: UInt32, _ w: Int) -> String {
            let s = String(x, radix: 16, uppercase: true)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        return "PCI_CLASS=\(h(cls, 4))\nPCI_ID=\(v):\(d)\nPCI_SUBSYS_ID=\(sv):\(sd)\n"
            + "PCI_SLOT_NAME=\(address)\nMODALIAS=pci:v0000\(v)d0000\(d)sv0000\(sv)sd0000\(sd)"
            + "bc\(h(cls >> 16, 2))sc\(h((cls >> 8) & 0xff, 2))i\(h(cls & 0xff, 2))\n"
    }

    package func writeUevent(_ f: Function) throws {
        try write(
            dir(f.address) + "/uevent",
            Self.ueventBody(
                address: f.address, vendor: f.vendor, device: f.device, classCode: f.classCode,
                subsystemVendor: f.subsystemVendor, subsystemDevice: f.subsystemDevice))
    }

    /// Rewrites the DRIVER= line of an existing `uevent` (the driver core adds it while bound).
    package func setUeventDriver(_ address: String, _ driver: String?) throws {
        let p = dir(address) + "/uevent"
        guard let old = FileManager.default.contents(atPath: p) else { return }
        let kept = String(decoding: old, as: UTF8.self).split(separator: "\n").filter { !$0.hasPrefix("DRIVER=") }
        let lines = (driver.map { ["DRIVER=" + $0] } ?? []) + kept.map(String.init)
        try write(p, lines.joined(separator: "\n") + "\n")
    }

    /// Unbinds: removes the `driver` link, the driver's back-link and DRIVER= from `uevent`.
    package func unbindDriver(_ address: String) throws {
        let rel = dirs[address]!
        if let t = try? FileManager.default.destinationOfSymbolicLink(atPath: base + "/" + rel + "/driver") {
            unlink(base + "/sys/bus/pci/drivers/" + (t as NSString).lastPathComponent + "/" + address)
        }
        unlink(base + "/" + rel + "/driver")
        try setUeventDriver(address, nil)
    }

    /// The PF's SR-IOV files as the kernel writes them (`sriov_totalvfs`, `sriov_numvfs`,
    /// `sriov_vf_device` in `%x`, `sriov_offset`, `sriov_stride`, `sriov_drivers_autoprobe`)
    /// and the `virtfnN`/`physfn` links for the VFs that exist (`sriov_numvfs` = their count).
    package func sriov(pf: String, totalVFs: Int, vfDevice: String, vfs: [String] = [], offset: Int = 1, stride: Int = 1) throws {
        try attr(pf, "sriov_totalvfs", "\(totalVFs)\n")
        try attr(pf, "sriov_numvfs", "\(vfs.count)\n")
        try attr(pf, "sriov_vf_device", String(UInt16(vfDevice, radix: 16)!, radix: 16) + "\n")
        try attr(pf, "sriov_offset", "\(offset)\n")
        try attr(pf, "sriov_stride", "\(stride)\n")
        try attr(pf, "sriov_drivers_autoprobe", "1\n")
        try linkVFs(pf: pf, vfs: vfs)
    }

    /// The addresses of `count` VFs of `pf` from First VF Offset and VF Stride (routing IDs:
    /// bus << 8 | device << 3 | function, so with ARI they run on past function 7).
    package static func vfAddresses(pf: String, count: Int, offset: Int, stride: Int) -> [String] {
        let domain = pf.prefix(4)
        let bus = Int(pf.dropFirst(5).prefix(2), radix: 16)!
        let dev = Int(pf.dropFirst(8).prefix(2), radix: 16)!
        let fn = Int(pf.suffix(1))!
        let rid = bus << 8 | dev << 3 | fn
        return (0..<count).map { i in
            let r = rid + offset + i * stride
            return domain + String(format: ":%02x:%02x.%x", r >> 8, (r >> 3) & 0x1f, r & 7)
        }
    }

    /// NVIDIA vGPU type ID and name, as in `creatable_vgpu_types`.
    package struct VGPUProfile: Sendable, Hashable {
        package var id: Int
        package var name: String
        package init(id: Int, name: String) {
            self.id = id
            self.name = name
        }
    }

    /// `creatable_vgpu_types` as the NVIDIA vGPU manager prints it: a header, then one
    /// `<id padded to 6> : <name>` line per type; only the header when nothing is creatable.
    package static func creatableVGPUTypesText(_ types: [VGPUProfile]) -> String {
        func pad(_ s: String) -> String { s + String(repeating: " ", count: max(0, 6 - s.count)) }
        return ([pad("ID") + ": vGPU Name"] + types.map { pad(String($0.id)) + ": " + $0.name })
            .joined(separator: "\n") + "\n"
    }

    /// `<VF>/nvidia/creatable_vgpu_types` and `<VF>/nvidia/current_vgpu_type` (`0` = none),
    /// the vendor-specific VFIO vGPU files of NVIDIA's vGPU 17+ manager on an SR-IOV VF.
    package func nvidiaVGPU(_ vf: String, creatable: [VGPUProfile], current: Int) throws {
        try attr(vf, "nvidia/creatable_vgpu_types", Self.creatableVGPUTypesText(creatable))
        try attr(vf, "nvidia/current_vgpu_type", "\(current)\n")
    }

    /// `/sys/class/mdev_bus/<BDF>` → the parent device (what `mdevctl types` walks).
    package func mdevParent(_ address: String) throws {
        try symlink(dirs[address]!, at: "sys/class/mdev_bus/" + address)
    }

    /// An existing mediated device: a directory `<parent>/<uuid>` with `mdev_type` →
    /// `../mdev_supported_types/<type>`, linked from `mdev_supported_types/<type>/devices/<uuid>`
    /// and `bus/mdev/devices/<uuid>`, bound to `driver` on bus mdev. VFIO gives an mdev an
    /// emulated IOMMU group of its own (`iommu_group_alloc()`, named `vfio-noiommu`, type
    /// `unknown`: no default domain), holding no PCI function; pass its number to create it.
    /// The default driver is the name NVIDIA's vGPU manager is believed to register on
    /// kernels without `vfio_mdev` (≥ 5.16); older kernels show `vfio_mdev`.
    @discardableResult
    package func mdevInstance(
        parent: String, type: String, uuid: String, driver: String? = "nvidia-vgpu-vfio",
        emulatedIOMMUGroup: Int? = nil
    ) throws -> String {
        let p = dirs[parent]!
        let rel = p + "/" + uuid
        try mkdir(rel)
        try symlink(p + "/mdev_supported_types/" + type, at: rel + "/mdev_type")
        try symlink(rel, at: p + "/mdev_supported_types/" + type + "/devices/" + uuid)
        try symlink(rel, at: "sys/bus/mdev/devices/" + uuid)
        try symlink("sys/bus/mdev", at: rel + "/subsystem")
        try write(base + "/" + rel + "/remove", "")
        var uevent = "MDEV_TYPE=\(type)\n"
        if let drv = driver {
            try mkdir("sys/bus/mdev/drivers/" + drv)
            try symlink("sys/bus/mdev/drivers/" + drv, at: rel + "/driver")
            try symlink(rel, at: "sys/bus/mdev/drivers/\(drv)/\(uuid)")
            uevent = "DRIVER=\(drv)\n" + uevent
        }
        try write(base + "/" + rel + "/uevent", uevent)
        if let n = emulatedIOMMUGroup {
            let g = "sys/kernel/iommu_groups/\(n)"
            try mkdir(g + "/devices")
            try write(base + "/" + g + "/type", "unknown\n")
            try write(base + "/" + g + "/name", "vfio-noiommu\n")
            try symlink(rel, at: g + "/devices/" + uuid)
            try symlink(g, at: rel + "/iommu_group")
        }
        return base + "/" + rel
    }

    /// `<BDF>/vfio-dev/vfio<N>`: the VFIO device cdev of a function bound to a VFIO driver
    /// (kernel ≥ 6.2, `/dev/vfio/devices/vfio<N>`), with `dev`, `uevent`, and the class link.
    package func vfioDevice(_ address: String, index: Int, major: Int = 508) throws {
        let rel = dirs[address]! + "/vfio-dev/vfio\(index)"
        try mkdir(rel)
        try write(base + "/" + rel + "/dev", "\(major):\(index)\n")
        try write(base + "/" + rel + "/uevent", "MAJOR=\(major)\nMINOR=\(index)\nDEVNAME=vfio/devices/vfio\(index)\n")
        try symlink("sys/class/vfio-dev", at: rel + "/subsystem")
        try symlink(rel, at: "sys/class/vfio-dev/vfio\(index)")
    }

    /// `drm/card<N>` and `drm/renderD<M>` (major 226) with `dev`, `uevent` and `class/drm` links.
    package func drmNodes(_ address: String, card: Int, render: Int?) throws {
        var nodes = [("card\(card)", card)]
        if let r = render { nodes.append(("renderD\(r)", r)) }
        for (name, minor) in nodes {
            let rel = dirs[address]! + "/drm/" + name
            try mkdir(rel)
            try write(base + "/" + rel + "/dev", "226:\(minor)\n")
            try write(base + "/" + rel + "/uevent", "MAJOR=226\nMINOR=\(minor)\nDEVNAME=dri/\(name)\nDEVTYPE=drm_minor\n")
            try symlink("sys/class/drm", at: rel + "/subsystem")
            try symlink(rel, at: "sys/class/drm/" + name)
        }
    }

    /// `net/<ifname>` directories (with `address`, `ifindex`, `operstate`) and `class/net` links.
    package func net(_ address: String, interfaces: [(name: String, mac: String)], firstIfindex: Int = 2) throws {
        for (i, n) in interfaces.enumerated() {
            let rel = dirs[address]! + "/net/" + n.name
            try mkdir(rel)
            try write(base + "/" + rel + "/address", n.mac + "\n")
            try write(base + "/" + rel + "/ifindex", "\(firstIfindex + i)\n")
            try write(base + "/" + rel + "/operstate", "up\n")
            try write(base + "/" + rel + "/type", "1\n")
            try symlink(rel, at: "sys/class/net/" + n.name)
        }
    }

    /// A PCIe bridge (root port, switch upstream or downstream port): class 0604, header type 1
    /// with its bus numbers, Express port type, ACS on root and downstream ports unless `acs`
    /// says otherwise (capability 0x5f, control 0x1d as Linux enables it), on `pcieport`
    /// (pass nil for a PCIe-to-PCI bridge, which no port driver binds); `pci_bus/<DDDD:SS>`,
    /// `secondary_bus_number` and `subordinate_bus_number` as the kernel writes them.
    @discardableResult
    package func addBridge(
        _ address: String, vendor: String, device: String, port: ConfigSpace.PortType,
        secondary: UInt8, subordinate: UInt8, parent: String?, iommuGroup: Int?,
        revision: UInt8 = 1, numaNode: String = "-1", localCPUs: String? = nil,
        link: (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8) = (5, 16, 5, 16),
        driver: String? = "pcieport", acs: Bool? = nil, uevent: Bool = true
    ) throws -> String {
        let primary = UInt8(address.dropFirst(5).prefix(2), radix: 16)!
        let withACS = acs ?? (port == .rootPort || port == .downstream)
        let cfg = ConfigSpace(
            vendor: UInt16(vendor, radix: 16)!, device: UInt16(device, radix: 16)!,
            classCode: 0x060400, revision: revision, headerType: 1, express: port,
            link: link, aer: true,
            acs: withACS ? (0x5f, 0x1d) : nil,
            busNumbers: (primary, secondary, subordinate))
        let d = try add(
            Function(
                address: address, vendor: vendor, device: device, classCode: "060400",
                revision: String(format: "%02x", revision), config: cfg.bytes(), driver: driver,
                iommuGroup: iommuGroup, numaNode: numaNode, localCPUs: localCPUs, parent: parent,
                uevent: uevent))
        try mkdir(dirs[address]! + "/pci_bus/" + address.prefix(4) + ":" + String(format: "%02x", secondary))
        try attr(address, "secondary_bus_number", "\(secondary)\n")
        try attr(address, "subordinate_bus_number", "\(subordinate)\n")
        return d
    }

    /// `bus/pci/slots/<name>/address` (`DDDD:BB:DD`: a slot holds every function of a device).
    package func slot(_ name: String, address: String) throws {
        try sysFile("bus/pci/slots/\(name)/address", String(address.prefix(10)) + "\n")
    }

    /// An IOMMU unit (`class/iommu/<name>` → `devices/virtual/iommu/<name>`) and each
    /// function's `iommu` link to it.
    package func iommuUnit(_ name: String, devices: [String]) throws {
        let rel = "sys/devices/virtual/iommu/" + name
        try mkdir(rel + "/devices")
        try symlink(rel, at: "sys/class/iommu/" + name)
        for a in devices {
            try symlink(rel, at: dirs[a]! + "/iommu")
            try symlink(dirs[a]!, at: rel + "/devices/" + a)
        }
    }

    /// `/proc/driver/nvidia/gpus/<BDF>/information` as nv-procfs.c prints it.
    package func nvidiaInformation(
        _ address: String, model: String, minor: Int, uuid: String, irq: Int = 0,
        videoBIOS: String = "96.00.74.00.01", firmware: String? = "550.90.07"
    ) throws {
        var s = "Model: \t\t \(model)\nIRQ:   \t\t \(irq)\nGPU UUID: \t \(uuid)\nVideo BIOS: \t \(videoBIOS)\n"
        s += "Bus Type: \t PCIe\nDMA Size: \t 52 bits\nDMA Mask: \t 0xfffffffffffff\nBus Location: \t \(address)\n"
        s += "Device Minor: \t \(minor)\n"
        if let f = firmware { s += "GPU Firmware: \t \(f)\n" }
        s += "GPU Excluded:\t No\n"
        try procFile("driver/nvidia/gpus/\(address)/information", s)
    }

    /// A file below the proc root.
    package func procFile(_ relative: String, _ content: String) throws {
        let p = procRoot + "/" + relative
        try FileManager.default.createDirectory(
            atPath: (p as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        try write(p, content)
    }

    /// One BAR for `resourceLines`: flags as the kernel prints them (0x40200 32-bit memory,
    /// 0x14220c 64-bit prefetchable memory, 0x40101 I/O).
    package struct BARSpec {
        package var index: Int
        package var start: UInt64
        package var size: UInt64
        package var flags: UInt64
        package static func mem32(_ i: Int, _ start: UInt64, _ size: UInt64) -> BARSpec {
            .init(index: i, start: start, size: size, flags: 0x40200)
        }
        package static func mem64Pref(_ i: Int, _ start: UInt64, _ size: UInt64) -> BARSpec {
            .init(index: i, start: start, size: size, flags: 0x14220c)
        }
        package static func mem64(_ i: Int, _ start: UInt64, _ size: UInt64) -> BARSpec {
            .init(index: i, start: start, size: size, flags: 0x140204)
        }
        package init(index: Int, start: UInt64, size: UInt64, flags: UInt64) {
            self.index = index
            self.start = start
            self.size = size
            self.flags = flags
        }
    }

    /// The 13 lines of a `resource` file (BARs 0–5, ROM, IOV BARs 7–12); others zero.
    package static func resourceLines(_ bars: [BARSpec]) -> [String] {
        func x(_ v: UInt64) -> String { String(format: "0x%016llx", v) }
        return (0..<13).map { i in
            guard let b = bars.first(where: { $0.index == i }) else { return "\(x(0)) \(x(0)) \(x(0))" }
            return "\(x(b.start)) \(x(b.start + b.size - 1)) \(x(b.flags))"
        }
    }

    // MARK: primitives

    package func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: base + "/" + relative, withIntermediateDirectories: true)
    }

    package func write(_ path: String, _ text: String) throws {
        try writeBytes(path, Array(text.utf8))
    }

    package func writeBytes(_ path: String, _ bytes: [UInt8]) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw ProbeTestSupport.SupportError("cannot write \(path)")
        }
    }

    /// A relative symlink at `link` (relative to base) pointing to `target` (relative to base),
    /// as the kernel makes them (`../../../devices/…`).
    package func symlink(_ target: String, at link: String) throws {
        let linkDir = link.split(separator: "/").dropLast()
        let t = target.split(separator: "/")
        var common = 0
        while common < linkDir.count, common < t.count, linkDir[linkDir.startIndex + common] == t[common] { common += 1 }
        let up = Array(repeating: "..", count: linkDir.count - common)
        let rel = (up + t[common...].map(String.init)).joined(separator: "/")
        let p = base + "/" + link
        try FileManager.default.createDirectory(
            atPath: (p as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        guard Glibc.symlink(rel, p) == 0 else {
            throw ProbeTestSupport.SupportError("symlink \(p) -> \(rel): errno \(errno)")
        }
    }
}

/// A config space image with a valid header and capability chain, as the kernel's `config`.
package struct ConfigSpace {
    /// Device/Port Type of the Express capability; `pciBridge` is a PCI Express to PCI/PCI-X bridge.
    package enum PortType: UInt16 { case endpoint = 0, rootPort = 4, upstream = 5, downstream = 6, pciBridge = 7, rcEndpoint = 9 }

    package var vendor: UInt16
    package var device: UInt16
    package var classCode: UInt32
    package var revision: UInt8 = 1
    package var headerType: UInt8 = 0
    package var multiFunction = false
    package var subsystemVendor: UInt16 = 0
    package var subsystemDevice: UInt16 = 0
    /// PM capability; NoSoftRst bit value.
    package var pm: Bool? = true
    package var msix = true
    /// PCI Express capability; nil for conventional PCI.
    package var express: PortType? = .endpoint
    package var flr = false
    /// Conventional PCI Advanced Features capability with FLR.
    package var afFLR = false
    /// LnkCap speed code/width, LnkSta speed code/width.
    package var link: (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8) = (4, 16, 3, 8)
    package var aer = false
    /// ACS capability and control bits.
    package var acs: (cap: UInt16, ctl: UInt16)? = nil
    package var sriov: (total: UInt16, initial: UInt16, num: UInt16, vfDevice: UInt16)? = nil
    package var ari = false
    package var dsn: UInt64? = nil
    package enum ChainFault { case loop, pointerBelow100 }
    package var chainFault: ChainFault? = nil
    /// Total size: 4096 (root reading PCIe), 256 (conventional), 64 (non-root).
    package var size = 4096
    /// An SR-IOV virtual function: its Vendor and Device ID registers read 0xFFFF (PCIe base
    /// spec, SR-IOV chapter: the IDs are the PF's Vendor ID and its SR-IOV capability's VF
    /// Device ID, which the kernel caches), the Command register keeps only Bus Master, the
    /// rest of the header and the capabilities are valid.
    package var virtualFunction = false
    /// Type 1 header bus numbers (primary, secondary, subordinate); nil keeps 0, 1, 1.
    package var busNumbers: (primary: UInt8, secondary: UInt8, subordinate: UInt8)? = nil
    /// SR-IOV First VF Offset and VF Stride (routing-ID units); nil keeps 0x80 and 2.
    package var sriovRouting: (offset: UInt16, stride: UInt16)? = nil
    /// SR-IOV Control: VF Enable and VF MSE set, as after writing `sriov_numvfs` (the kernel
    /// sets both when NumVFs > 0). Off by default.
    package var sriovEnabled = false

    /// All ones, the size of a function that fell off the bus or sits in D3cold: the kernel
    /// still lists it (and its sysfs `vendor`/`device` hold the IDs cached at enumeration),
    /// but every config read returns 0xFFFFFFFF.
    package static func allOnes(size: Int = 4096) -> [UInt8] { [UInt8](repeating: 0xff, count: size) }

    package func bytes() -> [UInt8] {
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
        if headerType == 1 {
            let b = busNumbers ?? (0, 1, 1)
            p8(0x18, b.primary); p8(0x19, b.secondary); p8(0x1a, b.subordinate)
        }
        // Standard chain: PM 0x40 → MSI-X 0x50 → Express 0x60 → AF 0xa0.
        var std: [(Int, UInt8, (Int) -> Void)] = []
        if let nsr = pm {
            std.append(
                (
                    0x40, 0x01,
                    { o in
                        p16(o + 2, 0x0003); p16(o + 4, nsr ? 0x0008 : 0)
                    }
                ))
        }
        if msix { std.append((0x50, 0x11, { o in p16(o + 2, 0x0007) })) }
        if let t = express {
            std.append(
                (
                    0x60, 0x10,
                    { o in
                        p16(o + 2, (t.rawValue << 4) | 2)
                        p32(o + 4, 0x0000_8000 | (flr ? 0x1000_0000 : 0))
                        let l = link
                        p32(o + 0x0c, UInt32(l.maxSpeed) | UInt32(l.maxWidth) << 4)
                        p16(o + 0x12, UInt16(l.speed) | UInt16(l.width) << 4)
                    }
                ))
        }
        if afFLR {
            std.append(
                (
                    0xa0, 0x13,
                    { o in
                        p8(o + 2, 6); p8(o + 3, 0x03)
                    }
                ))
        }
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
        if let a = acs {
            ext.append(
                (
                    0x000d,
                    { o in
                        p16(o + 4, a.cap); p16(o + 6, a.ctl)
                    }
                ))
        }
        if let s = sriov {
            ext.append(
                (
                    0x0010,
                    { o in
                        p16(o + 0x0c, s.initial); p16(o + 0x0e, s.total); p16(o + 0x10, s.num)
                        let r = sriovRouting ?? (0x80, 2)
                        p16(o + 0x14, r.offset); p16(o + 0x16, r.stride); p16(o + 0x1a, s.vfDevice)
                        if sriovEnabled { p16(o + 0x08, 0x0009) } // VF Enable | VF MSE
                        if sriovRouting != nil || sriovEnabled {
                            p32(o + 0x1c, 0x0000_0553) // Supported Page Sizes: 4K 8K 64K 256K 1M 4M
                            p32(o + 0x20, 0x0000_0001) // System Page Size: 4K
                        }
                    }
                ))
        }
        if ari { ext.append((0x000e, { _ in })) }
        if let sn = dsn {
            ext.append(
                (
                    0x0003,
                    { o in
                        p32(o + 4, UInt32(sn & 0xffff_ffff)); p32(o + 8, UInt32(sn >> 32))
                    }
                ))
        }
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
        if virtualFunction {
            p16(0, 0xffff); p16(2, 0xffff)
            p16(4, 0x0004) // Memory Space is RO zero on a VF (the PF's VF MSE governs); Bus Master
        }
        return Array(c.prefix(size))
    }
    package init(
        vendor: UInt16, device: UInt16, classCode: UInt32, revision: UInt8 = 1, headerType: UInt8 = 0, multiFunction: Bool = false,
        subsystemVendor: UInt16 = 0, subsystemDevice: UInt16 = 0, pm: Bool? = true, msix: Bool = true, express: PortType? = .endpoint,
        flr: Bool = false, afFLR: Bool = false, link: (maxSpeed: UInt8, maxWidth: UInt8, speed: UInt8, width: UInt8) = (4, 16, 3, 8),
        aer: Bool = false, acs: (cap: UInt16, ctl: UInt16)? = nil,
        sriov: (total: UInt16, initial: UInt16, num: UInt16, vfDevice: UInt16)? = nil, ari: Bool = false, dsn: UInt64? = nil,
        chainFault: ChainFault? = nil, size: Int = 4096, virtualFunction: Bool = false,
        busNumbers: (primary: UInt8, secondary: UInt8, subordinate: UInt8)? = nil, sriovRouting: (offset: UInt16, stride: UInt16)? = nil,
        sriovEnabled: Bool = false
    ) {
        self.vendor = vendor
        self.device = device
        self.classCode = classCode
        self.revision = revision
        self.headerType = headerType
        self.multiFunction = multiFunction
        self.subsystemVendor = subsystemVendor
        self.subsystemDevice = subsystemDevice
        self.pm = pm
        self.msix = msix
        self.express = express
        self.flr = flr
        self.afFLR = afFLR
        self.link = link
        self.aer = aer
        self.acs = acs
        self.sriov = sriov
        self.ari = ari
        self.dsn = dsn
        self.chainFault = chainFault
        self.size = size
        self.virtualFunction = virtualFunction
        self.busNumbers = busNumbers
        self.sriovRouting = sriovRouting
        self.sriovEnabled = sriovEnabled
    }
}

extension TreeBuilder.Function {
    /// A Skylake-SP root port (8086:2030) on `pcieport`, with ACS: the parent most synthetic
    /// trees hang their endpoints under.
    package static let sampleRootPort = TreeBuilder.Function(
        address: "0000:00:01.0", vendor: "8086", device: "2030", classCode: "060400", revision: "04",
        config: ConfigSpace(
            vendor: 0x8086, device: 0x2030, classCode: 0x060400, revision: 4, headerType: 1,
            express: .rootPort, acs: (0x5f, 0x1d)
        ).bytes(),
        driver: "pcieport")
}
