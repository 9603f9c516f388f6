import Foundation
import HWLabelService
import HWLabelTestSupport
import Testing
import HWLabelCore
@testable import HWLabelProbe

/// `hwlabel inventory --format json` against schema/inventory-1.0.schema.json (which describes
/// schema 1.0 and 1.1), plus the
/// determinism and atomic-write promises of the command.
@Suite("Inventory: JSON schema, determinism, -o")
struct InventorySchemaTests {
    static let keysAddedIn11 = (
        descriptor: ["mode", "parent", "excludes", "usage", "vgpu"],
        function: ["unresponsive", "vfioDevice", "netInterfaces", "blockDevices"],
        mdevType: ["instances"],
        host: ["deviceHolders", "unreadableProcesses", "hostUses"]
    )

    /// `doc` as schema 1.0 wrote it: the 1.1 keys removed, `schemaVersion` 1.0. Returns how
    /// many keys it removed.
    static func downgradeTo10(_ doc: inout [String: Any]) -> Int {
        var removed = 0
        func strip(_ o: inout [String: Any], _ keys: [String]) {
            for k in keys where o.removeValue(forKey: k) != nil { removed += 1 }
        }
        doc["schemaVersion"] = "1.0"
        if var descriptors = doc["descriptors"] as? [[String: Any]] {
            for i in descriptors.indices { strip(&descriptors[i], keysAddedIn11.descriptor) }
            doc["descriptors"] = descriptors
        }
        if var functions = doc["functions"] as? [[String: Any]] {
            for i in functions.indices {
                strip(&functions[i], keysAddedIn11.function)
                if var mdev = functions[i]["mdevTypes"] as? [[String: Any]] {
                    for j in mdev.indices { strip(&mdev[j], keysAddedIn11.mdevType) }
                    functions[i]["mdevTypes"] = mdev
                }
            }
            doc["functions"] = functions
        }
        if var host = doc["host"] as? [String: Any] {
            strip(&host, keysAddedIn11.host)
            doc["host"] = host
        }
        return removed
    }

    enum Input: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case live, dump, sysfsNFD, sysfsThinkpad, sysfsProcfs
        var arguments: [String] {
            let fx = ProbeTestSupport.fixtures
            return switch self {
            case .live: []
            case .dump: ["--pci-dump", fx + "/lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx"]
            case .sysfsNFD: ["--sysfs-root", fx + "/sysfs/nfd-xeon-c620-rootfs-1/sys"]
            case .sysfsThinkpad: ["--sysfs-root", fx + "/sysfs/ghw-thinkpad-x1-carbon-gen10/sys"]
            case .sysfsProcfs: ["--sysfs-root", fx + "/sysfs/procfs-renoir-e810-vega10/sys"]
            }
        }
        var testDescription: String { rawValue }
    }

    static func inventory(_ args: [String]) throws -> ProbeTestSupport.Result {
        try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), ["inventory", "--format", "json"] + args)
    }

    @Test("inventory JSON validates against the schema", arguments: Input.allCases)
    func validates(_ input: Input) throws {
        let r = try Self.inventory(input.arguments)
        try #require(r.status == 0, "hwlabel inventory \(input.arguments): \(r.stderr)")
        try SchemaValidator.validate(r.stdoutData, label: input.rawValue)
        if input == .dump {
            // The descriptor part of the schema is exercised, not vacuously satisfied by [].
            let doc = try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
            #expect(((doc["descriptors"] as? [Any]) ?? []).count > 0)
        }
    }

    @Test("a synthetic tree with every optional fact validates")
    func richTreeValidates() throws {
        let t = try TreeBuilder()
        defer { t.cleanup() }
        try t.add(.sampleRootPort)
        try t.group(1, add: "0000:00:01.0")
        let cfg = ConfigSpace(
            vendor: 0x10de, device: 0x2236, classCode: 0x030200, revision: 0xa1, flr: true, aer: true,
            acs: (1, 1), sriov: (4, 4, 1, 0x2236), ari: true, dsn: 42)
        try t.add(
            .init(
                address: "0000:41:00.0", vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                subsystemVendor: "10de", subsystemDevice: "1482", config: cfg.bytes(), driver: "nvidia",
                iommuGroup: 2, numaNode: "1", parent: "0000:00:01.0",
                attributes: [
                    "sriov_totalvfs": "4", "sriov_numvfs": "1", "reset_method": "flr",
                    "boot_vga": "0", "driver_override": "vfio-pci", "label": "Slot 3",
                ]))
        try t.add(
            .init(
                address: "0000:41:00.4", vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                driver: "nvidia", iommuGroup: 3, parent: "0000:00:01.0"))
        try t.linkVFs(pf: "0000:41:00.0", vfs: ["0000:41:00.4"])
        try t.attr("0000:41:00.4", "nvidia/creatable_vgpu_types", "ID : vGPU Name\n557 : NVIDIA A10-1B\n")
        try t.mdevType("0000:41:00.0", id: "nvidia-1", name: "A10-1B", description: "d", available: "2")
        try t.drm("0000:41:00.0", nodes: ["card1", "renderD129"])
        try t.sysFile("bus/pci/slots/3/address", "0000:41:00\n")
        let r = try Self.inventory(["--sysfs-root", t.sysRoot])
        try #require(r.status == 0, "\(r.stderr)")
        try SchemaValidator.validate(r.stdoutData, label: "synthetic")
        // Make sure the rich facts really are in the document the schema accepted.
        let doc = try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
        let fns = doc["functions"] as! [[String: Any]]
        let gpu = try #require(fns.first { $0["address"] as? String == "0000:41:00.0" })
        #expect((gpu["capabilities"] as? [String: Any])?["sriov"] is [String: Any])
        #expect(gpu["physicalSlot"] as? String == "3")
        #expect(gpu["driverOverride"] as? String == "vfio-pci")
        #expect((gpu["mdevTypes"] as? [Any])?.count == 1)
    }

    @Test("schema 1.1: a 1.0 document still validates, and a 1.1 one with every new field set does")
    func versionsOneZeroAndOneOne() throws {
        let r = try Self.inventory(Input.dump.arguments)
        try #require(r.status == 0, "\(r.stderr)")
        var doc = try JSONDecoder().decode(InventoryDocument.self, from: r.stdoutData)
        #expect(doc.schemaVersion == "1.2")
        try #require(doc.descriptors.count >= 2 && !doc.functions.isEmpty)

        // Every 1.1 field, with a value (not null) wherever it can have one.
        let a = doc.descriptors[0].address, b = doc.descriptors[1].address
        var host = HostFacts()
        host.deviceHolders = [
            DeviceHolder(
                address: a, pid: 4242, process: "qemu-system-x86", node: "/dev/vfio/12",
                kind: "vfio-group", guest: "vm-1")
        ]
        host.unreadableProcesses = 3
        host.hostUses = [HostUse(address: b, kind: "network-up", detail: "eth0 is up with 10.0.0.5/24")]
        doc.host = host
        doc.functions[0].unresponsive = false
        doc.functions[0].vfioDevice = "vfio3"
        doc.functions[0].netInterfaces = ["eth0"]
        doc.functions[0].blockDevices = ["nvme0n1"]
        doc.functions[0].mdevTypes = [
            MdevType(
                id: "nvidia-222", name: "GRID T4-2Q", description: "num_heads=4",
                availableInstances: 7, deviceAPI: "vfio-pci", instances: 1)
        ]
        doc.descriptors[0].mode = .vgpu
        doc.descriptors[0].excludes = [b]
        doc.descriptors[0].usage = DeviceUsage(
            state: .vm, bindings: [VMBinding(pid: 4242, process: "qemu-system-x86", guest: "vm-1", node: "/dev/vfio/12", address: a)],
            hostUses: [HostUseEntry(kind: "drm-open", address: a, detail: "Xorg (pid 900) has /dev/dri/card0 open")])
        doc.descriptors[0].vgpu = VGPUOffer(
            mechanism: "mdev", activeType: "GRID T4-2Q", activeInstances: 1, mixedSize: false,
            framebuffer: Sourced(16 << 30, source: "catalog"), slots: [b],
            profiles: [
                VGPUProfile(
                    id: "nvidia-222", name: "GRID T4-2Q", available: 7, instances: 1,
                    framebuffer: Sourced(2 << 30, source: "mdev-description"), basis: "available_instances")
            ],
            publishedType: "GRID T4-2Q")
        doc.descriptors[1].mode = .sriovVF
        doc.descriptors[1].parent = a
        doc.descriptors[1].usage = DeviceUsage(state: .unknown, unknownBecause: "3 processes unreadable")
        let v11 = Data(try doc.encodeJSON(pretty: false))
        try SchemaValidator.validate(v11, label: "1.1 with every new field")

        // The fields are really there, with values.
        var json = try JSONSerialization.jsonObject(with: v11) as! [String: Any]
        let d0 = (json["descriptors"] as! [[String: Any]])[0]
        #expect(((d0["vgpu"] as? [String: Any])?["profiles"] as? [[String: Any]])?.first?["instances"] as? Int == 1)
        #expect((d0["usage"] as? [String: Any])?["state"] as? String == "vm")
        #expect(((json["host"] as? [String: Any])?["deviceHolders"] as? [Any])?.count == 1)
        #expect(((json["functions"] as! [[String: Any]])[0]["mdevTypes"] as? [[String: Any]])?.first?["instances"] as? Int == 1)

        // Mistyped 1.1 fields are rejected: the new parts of the schema are not vacuous.
        for (path, bad) in [("mode", "passthrough" as Any), ("usage", ["state": "busy"] as Any)] {
            var wrong = json
            var ds = wrong["descriptors"] as! [[String: Any]]
            ds[0][path] = bad
            wrong["descriptors"] = ds
            let status = try SchemaValidator.validationStatus(try SchemaValidator.canonical(wrong))
            #expect(status.0 == 1, "the schema accepted descriptor \(path) = \(bad)")
        }

        // The same document as 1.0 wrote it: none of the new keys.
        let removed = Self.downgradeTo10(&json)
        #expect(removed >= 5 + 4 + 1 + 3)
        try SchemaValidator.validate(try SchemaValidator.canonical(json), label: "1.0 document")
        // And a real document of today, downgraded, too.
        var today = try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
        #expect(Self.downgradeTo10(&today) > 0)
        try SchemaValidator.validate(try SchemaValidator.canonical(today), label: "1.0 dump document")
    }

    @Test("the schema rejects a document with a mistyped fact")
    func schemaIsNotVacuous() throws {
        let r = try Self.inventory(Input.dump.arguments)
        try #require(r.status == 0)
        var doc = try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
        var fns = doc["functions"] as! [[String: Any]]
        fns[0]["vendor"] = 32902 // an integer ID: exactly what the contract forbids
        doc["functions"] = fns
        let bad = try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys])
        let dir = try ProbeTestSupport.makeTemp("schema")
        defer { ProbeTestSupport.removeTemp(dir) }
        try SchemaValidator.validator.write(toFile: dir + "/v.py", atomically: true, encoding: .utf8)
        try bad.write(to: URL(fileURLWithPath: dir + "/doc.json"))
        let v = try ProbeTestSupport.run(
            try #require(ProbeTestSupport.which("python3")), [dir + "/v.py", SchemaValidator.schema, dir + "/doc.json"])
        #expect(v.status == 1, "schema accepted an integer vendor ID: \(v.stderr)")
    }

    @Test("two runs on the same input: same digest and content, functions by address", arguments: Input.allCases)
    func deterministic(_ input: Input) throws {
        let a = try Self.inventory(input.arguments)
        let b = try Self.inventory(input.arguments)
        try #require(a.status == 0 && b.status == 0)
        func parse(_ d: Data) throws -> [String: Any] { try JSONSerialization.jsonObject(with: d) as! [String: Any] }
        var da = try parse(a.stdoutData), db = try parse(b.stdoutData)
        let digest = try #require(da["digest"] as? String)
        #expect(digest.hasPrefix("sha256:") && digest.count == 7 + 64)
        // Only generatedAt may differ between runs; the digest leaves it out.
        #expect(digest == db["digest"] as? String)
        da["generatedAt"] = nil
        db["generatedAt"] = nil
        #expect(NSDictionary(dictionary: da).isEqual(to: db))
        let addresses = (da["functions"] as! [[String: Any]]).map { $0["address"] as! String }
        #expect(addresses == addresses.sorted())
        #expect(!addresses.isEmpty)
    }

    @Test("-o FILE writes atomically: the document, no temporary file left behind")
    func atomicOutput() throws {
        let dir = try ProbeTestSupport.makeTemp("out")
        defer { ProbeTestSupport.removeTemp(dir) }
        let out = dir + "/inventory.json"
        try "old content\n".write(toFile: out, atomically: false, encoding: .utf8)
        let r = try Self.inventory(Input.dump.arguments + ["-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.isEmpty)
        let entries = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(entries == ["inventory.json"], "left behind: \(entries)")
        let written = try Data(contentsOf: URL(fileURLWithPath: out))
        let stdout = try Self.inventory(Input.dump.arguments)
        let a = try JSONSerialization.jsonObject(with: written) as! [String: Any]
        let b = try JSONSerialization.jsonObject(with: stdout.stdoutData) as! [String: Any]
        #expect(a["digest"] as? String == b["digest"] as? String)
        try SchemaValidator.validate(written, label: "-o file")
    }

    @Test("-o into a directory that does not exist: exit 4, nothing created")
    func outputFailure() throws {
        let r = try Self.inventory(Input.dump.arguments + ["-o", "/nonexistent-hwlabel-dir/inventory.json"])
        #expect(r.status == 4)
        #expect(r.stderr.contains("/nonexistent-hwlabel-dir/inventory.json"))
    }

    @Test("the table format carries the same digest as the JSON")
    func tableDigest() throws {
        let j = try Self.inventory(Input.sysfsNFD.arguments)
        let t = try ProbeTestSupport.run(
            try ProbeTestSupport.hwlabelBinary(),
            ["inventory", "--format", "table"] + Input.sysfsNFD.arguments)
        try #require(j.status == 0 && t.status == 0)
        let digest = (try JSONSerialization.jsonObject(with: j.stdoutData) as! [String: Any])["digest"] as! String
        #expect(t.stdout.contains("digest: \(digest)"))
    }
}
