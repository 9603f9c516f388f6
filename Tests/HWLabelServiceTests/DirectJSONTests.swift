import Foundation
import HWLabelTestSupport
import Testing
import HWLabelCore
import HWLabelProbe

/// The inventory writes functions and descriptors with hand-laid writers (`DirectJSON.swift`),
/// not through `encode(to:)`. Their `Encodable` form stays the definition: for every function
/// and descriptor of every recorded tree and kernel-shaped host, and for values with every
/// optional member set, the two must give the same bytes.
@Suite("Direct JSON writers: byte for byte what Codable gives")
struct DirectJSONTests {
    /// `encodeElements` takes the direct writer for these types; `encode` of one value takes
    /// `encode(to:)`.
    static func check<T: Encodable>(_ values: [T], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
        for v in values {
            let direct = text(try CanonicalJSON.encodeElements([v]))
            let codable = text(try CanonicalJSON.encode(v))
            #expect(direct == codable, "\(what)", sourceLocation: sourceLocation)
            if direct != codable { return }
        }
        // Several in one run: separated by commas, as the inventory's slices are; and an array
        // inside another value (a report's descriptors) takes the same writers.
        let codable = try values.map { text(try CanonicalJSON.encode($0)) }.joined(separator: ",")
        #expect(text(try CanonicalJSON.encodeElements(values)) == codable, "\(what): elements", sourceLocation: sourceLocation)
        if let functions = values as? [PCIFunction] {
            #expect(
                text(try CanonicalJSON.encode(["x": functions])) == "{\"x\":[" + codable + "]}", "\(what): nested",
                sourceLocation: sourceLocation)
        }
        if let devices = values as? [AssignableDevice] {
            #expect(
                text(try CanonicalJSON.encode(["x": devices])) == "{\"x\":[" + codable + "]}", "\(what): nested",
                sourceLocation: sourceLocation)
        }
    }

    static func checkSnapshot(_ snap: Snapshot, _ what: String) throws {
        #expect(!snap.functions.isEmpty, "\(what): no functions")
        try check(snap.functions, what + " functions")
        try check(DeviceFixtures.descriptors(snap).descriptors, what + " descriptors")
    }

    @Test("every recorded sysfs tree and lspci dump")
    func fixtures() throws {
        for name in ProbeTestSupport.fixtureNames("sysfs") {
            let root = ProbeTestSupport.fixtures + "/sysfs/" + name + "/sys"
            try Self.checkSnapshot(try Probe().snapshot(.sysfs(root: root)), name)
        }
        for name in ProbeTestSupport.fixtureNames("lspci") {
            try Self.checkSnapshot(try Probe().snapshot(.dump(file: ProbeTestSupport.fixtures + "/lspci/" + name)), name)
        }
    }

    @Test("kernel-shaped hosts: GPUs with vGPU types and mdevs, NVSwitches, SR-IOV NICs, usage from /proc")
    func hostTrees() throws {
        for (name, tree) in [
            ("hgx-h100", try HostTrees.hgxH100().tree), ("vgpu-host", try HostTrees.vgpuHost().tree),
            ("sriov-nic-host", try HostTrees.sriovNICHost().tree),
        ] {
            defer { tree.cleanup() }
            let paths = HostPaths(sys: tree.sysRoot, proc: tree.procRoot, dev: nil, etc: nil)
            try Self.checkSnapshot(try Probe().snapshot(.sysfs(root: tree.sysRoot, paths: paths)), name)
        }
    }

    /// Members most trees leave null or empty: udev properties, ACS, an SR-IOV capability,
    /// mdev types, a label with a rule, drift, VM bindings and host uses, escapes in strings.
    @Test("every optional member set, and strings that need escapes")
    func everyMember() throws {
        var f = DeviceFixtures.function("0000:3b:00.0", "10de", "1eb8", class: 0x030200, subsystem: ("10de", "12a2"), serial: "00-11")
        f.properties = ["HWLABEL_LABEL": "Turing \"T4\"\\", "ID_PATH": "pci-0000:3b:00.0"]
        f.names.vendor = "NVIDIA\tCorp\n"
        f.firmwareLabel = "Slot\u{1}3"
        f.link = LinkFacts(source: "sysfs")
        f.express = ExpressFacts(portType: "endpoint", version: 2)
        f.bars = [
            BAR(index: 0, kind: "memory", size: 16 << 20, is64Bit: false, prefetchable: false),
            BAR(index: 1, kind: "io", size: nil, is64Bit: false, prefetchable: false),
        ]
        var caps = f.capabilities ?? CapabilityFacts()
        caps.acs = ACSFacts(capabilities: ["SV", "RR"], enabled: ["SV"])
        caps.sriov = SRIOVCapability(totalVFs: 16, initialVFs: 16, numVFs: 4, vfDeviceID: "1eb9")
        caps.list = ["pm", "msi", "express", "ext:sriov"]
        f.capabilities = caps
        f.sriov = SRIOVState(totalVFs: 16, numVFs: 1, vfDevice: "1eb9", virtualFunctions: [PCIAddress("0000:3b:00.4")!])
        f.mdevTypes = [
            MdevType(
                id: "nvidia-222", name: "GRID T4-1Q", description: "num_heads=4", availableInstances: 16, deviceAPI: "vfio-pci",
                instances: 0)
        ]
        f.netInterfaces = ["eth0"]
        f.blockDevices = ["nvme0n1"]
        f.vfioDevice = "vfio0"
        f.unresponsive = false
        f.physicalFunction = PCIAddress("0000:3a:00.0")
        try Self.check([f], "function")

        var d = try #require(DeviceFixtures.descriptors(DeviceFixtures.snapshot([f])).descriptors.first)
        d.label = LabelAssignment(name: "Turing GPU", source: "rule", rule: "vendor=10de")
        let identity = RecordedIdentity(f)
        var other = identity
        other.device = "20b5"
        d.drift = [IdentityDrift(source: .label, key: "slot:3", recorded: other, present: identity, label: "Old")]
        d.usage = DeviceUsage(
            state: .vm,
            bindings: [VMBinding(pid: 42, process: "qemu-system-x86", guest: "vm\"1", node: "/dev/vfio/7", address: f.address)],
            hostUses: [HostUseEntry(kind: "mount", address: f.address, detail: "/")], unknownBecause: nil)
        d.capacity = Capacity(mdevTypes: f.mdevTypes ?? [], sriov: SRIOVCapacity(total: 16, enabled: 1, free: 15), vgpuTypes: [])
        try Self.check([d], "descriptor")
        d.label = LabelAssignment(name: "Plain", source: "instance")
        try Self.check([d], "descriptor, label without a rule")
    }
}
