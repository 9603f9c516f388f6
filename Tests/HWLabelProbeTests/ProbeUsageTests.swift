import Foundation
import Glibc
import HWLabelTestSupport
import Testing
@testable import HWLabelProbe

/// Who holds a function (processes with its VFIO, DRM or NVIDIA nodes open) and how the host
/// uses it (frame buffer console, network, mounts, swap). Holders are found by scanning the
/// REAL /proc for child processes of this test that hold files under a temporary dev root.
@Suite("Probe: device holders and host uses")
struct ProbeUsageTests {
    static let gpu = "0000:41:00.0", audio = "0000:41:00.1", vfioNIC = "0000:42:00.0"

    /// A GPU and its audio function in IOMMU group 12, and a NIC bound to vfio-pci with the
    /// cdev `vfio3`, plus a temporary dev root holding the nodes (plain files).
    static func holderTree() throws -> (TreeBuilder, dev: String) {
        let t = try TreeBuilder()
        let g = ConfigSpace(vendor: 0x10de, device: 0x2236, classCode: 0x030200, multiFunction: true)
        try t.add(
            .init(
                address: gpu, vendor: "10de", device: "2236", classCode: "030200", config: g.bytes(),
                driver: "vfio-pci", iommuGroup: 12))
        let a = ConfigSpace(vendor: 0x10de, device: 0x1aef, classCode: 0x040300, multiFunction: true)
        try t.add(
            .init(
                address: audio, vendor: "10de", device: "1aef", classCode: "040300", config: a.bytes(),
                driver: "vfio-pci", iommuGroup: 12))
        try t.drm(gpu, nodes: ["card1", "renderD128"])
        let n = ConfigSpace(vendor: 0x8086, device: 0x1889, classCode: 0x020000)
        try t.add(
            .init(
                address: vfioNIC, vendor: "8086", device: "1889", classCode: "020000", config: n.bytes(),
                driver: "vfio-pci", iommuGroup: 13))
        try t.mkdir(t.relativeDir(vfioNIC) + "/vfio-dev/vfio3")
        let dev = t.base + "/dev"
        for node in ["vfio/12", "vfio/vfio", "vfio/devices/vfio3", "dri/renderD128", "dri/card1", "nvidiactl"] {
            try t.mkdir("dev/" + (node as NSString).deletingLastPathComponent)
            try t.write(dev + "/" + node, "")
        }
        return (t, dev)
    }

    /// A child process that opens `files` and sleeps; its command line ends with `extra`
    /// (e.g. QEMU's `-name guest=vm1,debug-threads=on`). Returns once /proc shows every file
    /// open. The caller kills it.
    static func holder(_ files: [String], extra: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try #require(ProbeTestSupport.which("python3")))
        p.arguments =
            [
                "-c",
                """
                import os, sys, time
                files = sys.argv[1:sys.argv.index('--')]
                fds = [os.open(f, os.O_RDONLY) for f in files]
                time.sleep(60)
                """,
            ] + files + ["--"] + extra
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let want = Set(files.map { SysfsRoot.resolve($0) ?? $0 })
        for _ in 0..<200 {
            let fdDir = "/proc/\(p.processIdentifier)/fd"
            let open = Set((SysfsRoot.list(fdDir) ?? []).compactMap { SysfsRoot.linkTarget(fdDir + "/" + $0) })
            if want.isSubset(of: open) { return p }
            usleep(25_000)
        }
        stop(p)
        throw ProbeTestSupport.SupportError("child \(p.processIdentifier) did not open \(files) in 5 s")
    }

    static func stop(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    @Test("real /proc: a VFIO group, a VFIO cdev and a render node held by child processes")
    func realProcHolders() throws {
        let (t, dev) = try Self.holderTree()
        defer { t.cleanup() }
        let vm = try Self.holder(
            [dev + "/vfio/12", dev + "/vfio/vfio", dev + "/vfio/devices/vfio3"],
            extra: ["-name", "guest=vm1,debug-threads=on"])
        defer { Self.stop(vm) }
        let app = try Self.holder([dev + "/dri/renderD128", dev + "/nvidiactl"], extra: [])
        defer { Self.stop(app) }

        let paths = HostPaths(sys: t.sysRoot, proc: "/proc", dev: dev, etc: nil)
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: paths))
        let host = try #require(snap.host)
        let holders = try #require(host.deviceHolders)
        let realDev = SysfsRoot.resolve(dev)!
        let vmPid = Int(vm.processIdentifier), appPid = Int(app.processIdentifier)

        // The group node is held for every function of group 12.
        let group = holders.filter { $0.pid == vmPid && $0.kind == "vfio-group" }
        #expect(group.map(\.address.description) == [Self.gpu, Self.audio])
        for h in group {
            #expect(h.process == "python3")
            #expect(h.guest == "vm1")
            #expect(h.node == realDev + "/vfio/12")
            #expect(h.isVM)
        }
        // The cdev names one function; /dev/vfio/vfio (the container) names none.
        #expect(snap.function(at: PCIAddress(Self.vfioNIC)!)?.vfioDevice == "vfio3")
        let cdev = holders.filter { $0.kind == "vfio-device" }
        #expect(cdev.map(\.address.description) == [Self.vfioNIC] && cdev.first?.pid == vmPid && cdev.first?.guest == "vm1")
        #expect(!holders.contains { $0.node.hasSuffix("/vfio/vfio") || $0.node.hasSuffix("/nvidiactl") })
        // The render node: the GPU alone, a host process without a guest name.
        let drm = holders.filter { $0.kind == "drm" }
        #expect(drm.map(\.address.description) == [Self.gpu])
        #expect(drm.first?.pid == appPid && drm.first?.guest == nil && drm.first?.isVM == false)
        #expect(drm.first?.node == realDev + "/dri/renderD128")
        // Nothing else on this machine holds files under a temporary dev root.
        #expect(Set(holders.map(\.pid)) == [vmPid, appPid])
        #expect(host.unreadableProcesses != nil)
    }

    @Test("fake proc: /dev/nvidiaN → the GPU whose driver information says Device Minor N")
    func nvidiaMinor() throws {
        let (t, dev) = try Self.holderTree()
        defer { t.cleanup() }
        let proc = t.base + "/proc"
        try t.mkdir("proc/4242/fd")
        try t.write(proc + "/4242/comm", "nvidia-smi\n")
        try t.write(proc + "/4242/cmdline", "nvidia-smi\0-q\0")
        for (fd, target) in [
            ("3", dev + "/nvidia0"), ("4", dev + "/nvidiactl"), ("5", dev + "/nvidia-uvm"),
            ("6", "socket:[1234]"), ("7", dev + "/nvidia1"),
        ] {
            #expect(symlink(target, proc + "/4242/fd/" + fd) == 0)
        }
        try t.mkdir("proc/4243") // no fd directory: a process that exited (ENOENT), not counted
        try t.mkdir("proc/self/fd")
        try t.mkdir("proc/driver/nvidia/gpus/\(Self.gpu)")
        try t.write(
            proc + "/driver/nvidia/gpus/\(Self.gpu)/information",
            "Model: \t\t NVIDIA A10\nIRQ:   \t\t 180\nDevice Minor: \t 0\nBus Location: \t 0000:41:00.0\n")
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: HostPaths(sys: t.sysRoot, proc: proc, dev: dev, etc: nil)))
        let holders = try #require(snap.host?.deviceHolders)
        // nvidia1 has no GPU with that minor; nvidiactl and nvidia-uvm are not per GPU.
        #expect(
            holders == [
                DeviceHolder(
                    address: PCIAddress(Self.gpu)!, pid: 4242, process: "nvidia-smi",
                    node: dev + "/nvidia0", kind: "nvidia")
            ])
        #expect(snap.host?.unreadableProcesses == 0)
        #expect(snap.host?.hostUses == [])
    }

    @Test("no proc root: holders, unreadable count and host uses stay unknown")
    func noProcRoot() throws {
        let (t, _) = try Self.holderTree()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot))
        #expect(snap.host?.deviceHolders == nil)
        #expect(snap.host?.unreadableProcesses == nil)
        #expect(snap.host?.hostUses == nil)
        // Sysfs facts of the function itself are still read.
        #expect(snap.function(at: PCIAddress(Self.vfioNIC)!)?.vfioDevice == "vfio3")
    }

    @Test(
        "EACCES and EPERM on <pid>/fd count as unreadable; a vanished process does not",
        arguments: [(EACCES, true), (EPERM, true), (ENOENT, false), (ESRCH, false), (ENOTDIR, false)])
    func unreadableErrno(_ e: Int32, _ counted: Bool) {
        #expect(UsageReader.deniesAccess(e) == counted)
    }

    @Test(
        "QEMU -name: guest=NAME or a plain NAME, ,, is a comma",
        arguments: [
            (["qemu-system-x86_64", "-name", "guest=vm1,debug-threads=on"], "vm1"),
            (["qemu-system-x86_64", "-name", "web,,01,process=qemu:web"], "web,01"),
            (["qemu-kvm", "-m", "4G", "-name", "debug-threads=on,guest=a,,b"], "a,b"),
            (["qemu-kvm", "--name", "plain"], "plain"),
            (["qemu-kvm", "-m", "4G"], nil),
            (["qemu-kvm", "-name"], nil),
            (["qemu-kvm", "-name", "process=x"], nil),
        ] as [([String], String?)])
    func guestName(_ args: [String], _ expected: String?) {
        let cmdline = Array(args.joined(separator: "\0").utf8) + [0]
        #expect(UsageReader.guestName(cmdline) == expected)
    }

    @Test(
        "fd link classification under a dev root",
        arguments: [
            ("/x/dev/vfio/12", UsageReader.Node.vfioGroup(12)),
            ("/x/dev/vfio/devices/vfio3", .vfioDevice("vfio3")),
            ("/x/dev/dri/renderD128", .drm("renderD128")),
            ("/x/dev/dri/card0", .drm("card0")),
            ("/x/dev/nvidia7", .nvidia(7)),
            ("/x/dev/vfio/vfio", nil), ("/x/dev/nvidiactl", nil), ("/x/dev/nvidia-uvm", nil),
            ("/x/dev/dri/by-path", nil), ("/x/dev/vfio/devices/vfiox", nil), ("/x/devx/vfio/1", nil),
            ("/dev/vfio/12", nil), ("socket:[99]", nil),
        ] as [(String, UsageReader.Node?)])
    func classify(_ target: String, _ node: UsageReader.Node?) {
        #expect(UsageReader.classify(target, devPrefixes: ["/x/dev/"]) == node)
    }

    @Test("mdev instances: entries of mdev_supported_types/<id>/devices")
    func mdevInstances() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        let g = ConfigSpace(vendor: 0x10de, device: 0x1eb8, classCode: 0x030200)
        try t.add(.init(address: Self.gpu, vendor: "10de", device: "1eb8", classCode: "030200", config: g.bytes(), driver: "nvidia"))
        try t.mdevType(Self.gpu, id: "nvidia-222", name: "GRID T4-1B", description: "", available: "14")
        try t.mdevType(Self.gpu, id: "nvidia-230", name: "GRID T4-16Q", description: "", available: "0")
        let types = t.relativeDir(Self.gpu) + "/mdev_supported_types"
        for uuid in ["83b8f4f2-509f-382f-3c1e-e6bfe0fa1001", "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"] {
            try t.mkdir("sys/devices/virtual/mdev/" + uuid)
            try t.symlink("sys/devices/virtual/mdev/" + uuid, at: types + "/nvidia-222/devices/" + uuid)
        }
        try t.attr(Self.gpu, "mdev_supported_types/nvidia-999/name", "no devices dir\n")
        let f = try #require(try Probe().snapshot(.sysfs(root: t.sysRoot)).function(at: PCIAddress(Self.gpu)!))
        #expect(f.mdevTypes?.map(\.id) == ["nvidia-222", "nvidia-230", "nvidia-999"])
        #expect(f.mdevTypes?.map(\.instances) == [2, 0, nil])
        #expect(f.mdevTypes?.first?.availableInstances == 14)
    }

    // MARK: host uses

    static let nvme = "0000:3d:00.0", nic = "0000:3b:00.0"

    /// An NVMe disk with partitions p2 (/), p3 (under dm-0, /var) and p4 (swap); four NIC
    /// functions: eth0 up with routes, eth1 up with only link-local IPv6, eth2 down with a
    /// route, eth3 up as a bond0 slave where bond0 has a global IPv6 address; a GPU whose
    /// frame buffer carries the console.
    static func hostTree() throws -> (TreeBuilder, proc: String) {
        let t = try TreeBuilder()
        let n = ConfigSpace(vendor: 0x144d, device: 0xa80a, classCode: 0x010802)
        try t.add(.init(address: nvme, vendor: "144d", device: "a80a", classCode: "010802", config: n.bytes(), driver: "nvme"))
        let disk = t.relativeDir(nvme) + "/nvme/nvme0/nvme0n1"
        try t.mkdir(disk)
        try t.write(t.base + "/" + disk + "/dev", "259:0\n")
        try t.symlink(disk, at: "sys/dev/block/259:0")
        try t.symlink(disk, at: "sys/class/block/nvme0n1")
        for p in [2, 3, 4] {
            let part = disk + "/nvme0n1p\(p)"
            try t.mkdir(part)
            try t.write(t.base + "/" + part + "/dev", "259:\(p)\n")
            try t.write(t.base + "/" + part + "/partition", "\(p)\n")
            try t.symlink(part, at: "sys/dev/block/259:\(p)")
            try t.symlink(part, at: "sys/class/block/nvme0n1p\(p)")
        }
        let dm = "sys/devices/virtual/block/dm-0"
        try t.mkdir(dm + "/slaves")
        try t.symlink(disk + "/nvme0n1p3", at: dm + "/slaves/nvme0n1p3")
        try t.symlink(dm, at: "sys/dev/block/253:0")
        try t.symlink(dm, at: "sys/class/block/dm-0")

        for (i, (iface, state)) in [("eth0", "up"), ("eth1", "up"), ("eth2", "down"), ("eth3", "up")].enumerated() {
            let a = "0000:3b:00.\(i)"
            let c = ConfigSpace(vendor: 0x8086, device: 0x1521, classCode: 0x020000, multiFunction: true)
            try t.add(.init(address: a, vendor: "8086", device: "1521", classCode: "020000", config: c.bytes(), driver: "igb"))
            let dir = t.relativeDir(a) + "/net/" + iface
            try t.mkdir(dir)
            try t.write(t.base + "/" + dir + "/operstate", state + "\n")
            try t.symlink(t.relativeDir(a), at: dir + "/device")
            try t.symlink(dir, at: "sys/class/net/" + iface)
        }
        // virtio puts the interface one bus layer down: <BDF>/virtio0/net/eth4.
        let v = ConfigSpace(vendor: 0x1af4, device: 0x1041, classCode: 0x020000, express: nil)
        try t.add(
            .init(
                address: "0000:00:03.0", vendor: "1af4", device: "1041", classCode: "020000", config: v.bytes(),
                driver: "virtio-pci"))
        let eth4 = t.relativeDir("0000:00:03.0") + "/virtio0/net/eth4"
        try t.mkdir(eth4)
        try t.write(t.base + "/" + eth4 + "/operstate", "down\n")
        try t.symlink(eth4, at: "sys/class/net/eth4")
        let bond = "sys/devices/virtual/net/bond0"
        try t.mkdir(bond)
        try t.write(t.base + "/" + bond + "/operstate", "up\n")
        try t.symlink(bond, at: "sys/class/net/bond0")
        try t.symlink(bond, at: t.relativeDir("0000:3b:00.3") + "/net/eth3/upper_bond0")
        try t.symlink(t.relativeDir("0000:3b:00.3") + "/net/eth3", at: bond + "/lower_eth3")

        let g = ConfigSpace(vendor: 0x10de, device: 0x2236, classCode: 0x030000)
        try t.add(.init(address: gpu, vendor: "10de", device: "2236", classCode: "030000", config: g.bytes(), driver: "nvidia"))
        let fb = t.relativeDir(gpu) + "/graphics/fb0"
        try t.mkdir(fb)
        try t.write(t.base + "/" + fb + "/name", "nvidia-drmdrmfb\n")
        try t.symlink(t.relativeDir(gpu), at: fb + "/device")
        try t.symlink(fb, at: "sys/class/graphics/fb0")
        try t.sysFile("class/vtconsole/vtcon0/bind", "0\n")
        try t.sysFile("class/vtconsole/vtcon0/name", "(S) dummy device\n")
        try t.sysFile("class/vtconsole/vtcon1/bind", "1\n")
        try t.sysFile("class/vtconsole/vtcon1/name", "(M) frame buffer device\n")

        let proc = t.base + "/proc"
        try t.mkdir("proc/self")
        try t.mkdir("proc/net")
        try t.write(
            proc + "/self/mountinfo",
            """
            22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
            30 22 253:0 / /var rw,relatime shared:2 - xfs /dev/mapper/vg-var rw,attr2
            31 22 0:25 / /tmp rw,nosuid shared:3 - tmpfs tmpfs rw
            32 22 259:2 /srv /mnt/my\\040data rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw
            33 22 0:26 / /proc rw - proc proc rw

            """)
        try t.write(
            proc + "/swaps",
            """
            Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority
            /dev/nvme0n1p4                          partition\t8388604\t\t0\t\t-2
            /var/swapfile                           file\t\t1048572\t\t0\t\t-3
            /dev/zram0                              partition\t1048572\t\t0\t\t100

            """)
        // 10.0.2.0/24 and a default route via 10.0.2.1 on eth0 (addresses in host byte order);
        // a route on eth2, which is down.
        try t.write(
            proc + "/net/route",
            """
            Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
            eth0\t00000000\t0102000A\t0003\t0\t0\t100\t00000000\t0\t0\t0
            eth0\t0002000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0
            eth2\t0003000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0

            """)
        try t.write(
            proc + "/net/if_inet6",
            """
            00000000000000000000000000000001 01 80 10 80       lo
            fe800000000000000000000000000011 03 40 20 80     eth1
            20010db8000000000000000000000005 06 40 00 80    bond0

            """)
        try t.write(
            proc + "/net/ipv6_route",
            """
            fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth1
            fe800000000000000000000000000011 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001     eth1
            ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000003 00000000 00000001     eth1
            00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo

            """)
        return (t, proc)
    }

    static func uses(_ snap: Snapshot, _ address: String, _ kind: String) -> [String] {
        (snap.host?.hostUses ?? []).filter { $0.address.description == address && $0.kind == kind }.map(\.detail)
    }

    @Test("host uses: console frame buffer, interfaces up with routes or addresses, mounts, swap")
    func hostUses() throws {
        let (t, proc) = try Self.hostTree()
        defer { t.cleanup() }
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: HostPaths(sys: t.sysRoot, proc: proc, dev: nil, etc: nil)))
        #expect(Self.uses(snap, Self.gpu, "framebuffer-console") == ["fb0 (nvidia-drmdrmfb) carries the console"])
        #expect(Self.uses(snap, Self.nic, "network-up") == ["eth0 is up with the default route"])
        #expect(Self.uses(snap, "0000:3b:00.1", "network-up").isEmpty, "only link-local IPv6 on eth1")
        #expect(Self.uses(snap, "0000:3b:00.2", "network-up").isEmpty, "eth2 is down")
        #expect(Self.uses(snap, "0000:3b:00.3", "network-up") == ["eth3 is up under bond0, which has address 2001:db8::5/64"])
        #expect(
            Self.uses(snap, Self.nvme, "mounted") == [
                "/ (ext4) on nvme0n1p2", "/mnt/my data (ext4) on nvme0n1p2",
                "/var (xfs) on dm-0 (nvme0n1p3)",
            ])
        #expect(Self.uses(snap, Self.nvme, "swap") == ["swap file /var/swapfile on nvme0n1p3", "swap on nvme0n1p4"])
        // tmpfs, proc and zram are on no function; every use names a function we listed.
        #expect(
            Set(snap.host?.hostUses?.map(\.address.description) ?? [])
                == [Self.gpu, Self.nic, "0000:3b:00.3", Self.nvme])
        // Per-function sysfs facts, and HostReader's facts through the same code.
        #expect(snap.function(at: PCIAddress(Self.nvme)!)?.blockDevices == ["nvme0n1"])
        #expect(snap.function(at: PCIAddress(Self.nic)!)?.netInterfaces == ["eth0"])
        #expect(snap.function(at: PCIAddress("0000:00:03.0")!)?.netInterfaces == ["eth4"], "from class/net, below virtio0")
        #expect(snap.function(at: PCIAddress(Self.gpu)!)?.netInterfaces == nil)
        #expect(snap.function(at: PCIAddress(Self.gpu)!)?.blockDevices == nil)
        #expect(snap.host?.rootFilesystemDevices == [PCIAddress(Self.nvme)!])
        #expect(snap.host?.defaultRouteDevices == [PCIAddress(Self.nic)!])
        // No dev root: holders unknown, host uses known.
        #expect(snap.host?.deviceHolders == nil && snap.host?.hostUses != nil)
    }

    @Test("an unreadable mountinfo is named in a warning; the other uses are still read")
    func unreadableMountinfo() throws {
        let (t, proc) = try Self.hostTree()
        defer { t.cleanup() }
        unlink(proc + "/self/mountinfo")
        try t.mkdir("proc/self/mountinfo") // read(2) on a directory: EISDIR, even as root
        let snap = try Probe().snapshot(.sysfs(root: t.sysRoot, paths: HostPaths(sys: t.sysRoot, proc: proc, dev: nil, etc: nil)))
        #expect(
            snap.warnings.contains { $0.path == proc + "/self/mountinfo" && $0.message.contains("errno \(EISDIR)") },
            "\(snap.warnings)")
        #expect(Self.uses(snap, Self.nvme, "mounted").isEmpty)
        #expect(Self.uses(snap, Self.nvme, "swap") == ["swap on nvme0n1p4"], "no mount table: the swap file's disk is unknown")
        #expect(Self.uses(snap, Self.nic, "network-up") == ["eth0 is up with the default route"])
        #expect(snap.host?.rootFilesystemDevices == nil)
    }

    @Test(
        "procfs route and address text",
        arguments: [
            ("20010db8000000000000000000000005", "2001:db8::5"),
            ("00000000000000000000000000000001", "::1"),
            ("20010db8000100000000000000000000", "2001:db8:1::"),
            ("20010db8000000010000000000000001", "2001:db8:0:1::1"),
            ("fe800000000000000210fffffe123456", "fe80::210:ffff:fe12:3456"),
        ])
    func ipv6Text(_ hex32: String, _ text: String) {
        #expect(ProcNet.ipv6(hex32[...]) == text)
    }

    @Test("IPv4 route table: host byte order, masks as prefix lengths, the default route")
    func ipv4Routes() {
        let r = ProcNet.parseIPv4Routes(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                + "eth0\t00000000\t0102000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                + "eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n")
        #expect(r["eth0"]?.map(\.destination) == ["default", "192.168.0.0/16"])
        #expect(r["eth0"]?.map(\.isDefault) == [true, false])
        #expect(ProcNet(ipv4Routes: r).defaultRouteInterfaces == ["eth0"])
        #expect(ProcNet().defaultRouteInterfaces == nil)
    }
}
