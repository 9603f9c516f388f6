import Foundation
import Testing
@testable import HWLabelProbe

/// `hwlabel inventory --format json` against schema/inventory-1.0.schema.json, plus the
/// determinism and atomic-write promises of the command.
@Suite("Inventory: JSON schema, determinism, -o")
struct InventorySchemaTests {
    static let schema = ProbeTestSupport.packageRoot + "/schema/inventory-1.0.schema.json"

    /// Validates with python3-jsonschema (Draft 2020-12) and checks that every object's keys
    /// are sorted as emitted. Fails, never skips, when jsonschema is missing.
    static let validator = """
        import json, sys
        try:
            import jsonschema
        except ImportError:
            print("python3 module jsonschema missing: pip install jsonschema", file=sys.stderr)
            sys.exit(2)
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        text = open(sys.argv[2]).read()
        unsorted = []
        def hook(pairs):
            keys = [k for k, _ in pairs]
            if keys != sorted(keys):
                unsorted.append(keys)
            return dict(pairs)
        doc = json.loads(text, object_pairs_hook=hook)
        if unsorted:
            print("keys not sorted:", unsorted[0], file=sys.stderr)
            sys.exit(3)
        v = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
        errors = sorted(v.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors[:10]:
            print("/".join(map(str, e.absolute_path)), ":", e.message[:300], file=sys.stderr)
        sys.exit(1 if errors else 0)
        """

    static func validate(_ json: Data, label: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let dir = try ProbeTestSupport.makeTemp("schema")
        defer { ProbeTestSupport.removeTemp(dir) }
        try Self.validator.write(toFile: dir + "/v.py", atomically: true, encoding: .utf8)
        try json.write(to: URL(fileURLWithPath: dir + "/doc.json"))
        let python = try #require(ProbeTestSupport.which("python3"), "python3 missing", sourceLocation: sourceLocation)
        let r = try ProbeTestSupport.run(python, [dir + "/v.py", Self.schema, dir + "/doc.json"])
        #expect(r.status != 2, "\(r.stderr) — run `pip install jsonschema`", sourceLocation: sourceLocation)
        #expect(r.status == 0, "\(label) does not validate: \(r.stderr)", sourceLocation: sourceLocation)
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
        try Self.validate(r.stdoutData, label: input.rawValue)
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
        try t.add(ProbeTreeBuilderTests.rootPort)
        try t.group(1, add: "0000:00:01.0")
        let cfg = ConfigSpace(vendor: 0x10de, device: 0x2236, classCode: 0x030200, revision: 0xa1, flr: true, aer: true,
                              acs: (1, 1), sriov: (4, 4, 1, 0x2236), ari: true, dsn: 42)
        try t.add(.init(address: "0000:41:00.0", vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                        subsystemVendor: "10de", subsystemDevice: "1482", config: cfg.bytes(), driver: "nvidia",
                        iommuGroup: 2, numaNode: "1", parent: "0000:00:01.0",
                        attributes: ["sriov_totalvfs": "4", "sriov_numvfs": "1", "reset_method": "flr",
                                     "boot_vga": "0", "driver_override": "vfio-pci", "label": "Slot 3"]))
        try t.add(.init(address: "0000:41:00.4", vendor: "10de", device: "2236", classCode: "030200", revision: "a1",
                        driver: "nvidia", iommuGroup: 3, parent: "0000:00:01.0"))
        try t.linkVFs(pf: "0000:41:00.0", vfs: ["0000:41:00.4"])
        try t.attr("0000:41:00.4", "nvidia/creatable_vgpu_types", "ID : vGPU Name\n557 : NVIDIA A10-1B\n")
        try t.mdevType("0000:41:00.0", id: "nvidia-1", name: "A10-1B", description: "d", available: "2")
        try t.drm("0000:41:00.0", nodes: ["card1", "renderD129"])
        try t.sysFile("bus/pci/slots/3/address", "0000:41:00\n")
        let r = try Self.inventory(["--sysfs-root", t.sysRoot])
        try #require(r.status == 0, "\(r.stderr)")
        try Self.validate(r.stdoutData, label: "synthetic")
        // Make sure the rich facts really are in the document the schema accepted.
        let doc = try JSONSerialization.jsonObject(with: r.stdoutData) as! [String: Any]
        let fns = doc["functions"] as! [[String: Any]]
        let gpu = try #require(fns.first { $0["address"] as? String == "0000:41:00.0" })
        #expect((gpu["capabilities"] as? [String: Any])?["sriov"] is [String: Any])
        #expect(gpu["physicalSlot"] as? String == "3")
        #expect(gpu["driverOverride"] as? String == "vfio-pci")
        #expect((gpu["mdevTypes"] as? [Any])?.count == 1)
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
        try Self.validator.write(toFile: dir + "/v.py", atomically: true, encoding: .utf8)
        try bad.write(to: URL(fileURLWithPath: dir + "/doc.json"))
        let v = try ProbeTestSupport.run(try #require(ProbeTestSupport.which("python3")), [dir + "/v.py", Self.schema, dir + "/doc.json"])
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
        try Self.validate(written, label: "-o file")
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
        let t = try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(),
                                         ["inventory", "--format", "table"] + Input.sysfsNFD.arguments)
        try #require(j.status == 0 && t.status == 0)
        let digest = (try JSONSerialization.jsonObject(with: j.stdoutData) as! [String: Any])["digest"] as! String
        #expect(t.stdout.contains("digest: \(digest)"))
    }
}
