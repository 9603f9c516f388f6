import Foundation
import HWLabelTestSupport
import Testing

/// `hwlabel diff` run as a user runs it: the built binary over inventories that the binary
/// wrote from real captures (Tests/Fixtures) and from kernel-shaped trees, before and after a
/// change to the tree (a rebind, a narrower link, fewer VFs, a card in another slot).
@Suite("Diff: hwlabel diff over real captures and trees")
struct DiffCommandTests {
    /// A directory the test's inventories are written in.
    final class Workspace {
        let dir: String
        init() throws { dir = try ProbeTestSupport.makeTemp("diff") }
        deinit { ProbeTestSupport.removeTemp(dir) }

        /// `hwlabel inventory --format json -o <dir>/<name>.json` over `source`; returns the path.
        func inventory(_ name: String, _ source: [String]) throws -> String {
            let path = dir + "/" + name + ".json"
            let r = try ProbeTestSupport.run(
                try ProbeTestSupport.hwlabelBinary(),
                ["inventory", "--format", "json", "-o", path] + source)
            try #require(r.status == 0, "inventory \(source): \(r.stderr)")
            return path
        }

        func write(_ name: String, _ text: String) throws -> String {
            let path = dir + "/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }

        /// `path` rewritten by `edit` (as a JSON object), saved as `name`.
        func edited(_ path: String, as name: String, _ edit: (inout [String: Any]) -> Void) throws -> String {
            var doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
            edit(&doc)
            let out = dir + "/" + name
            try JSONSerialization.data(withJSONObject: doc, options: [.sortedKeys]).write(to: URL(fileURLWithPath: out))
            return out
        }
    }

    static func diff(_ arguments: [String]) throws -> ProbeTestSupport.Result {
        try ProbeTestSupport.run(try ProbeTestSupport.hwlabelBinary(), ["diff"] + arguments)
    }

    /// `diff --format json` parsed.
    static func json(_ old: String, _ new: String, status: Int32 = 1) throws -> [String: Any] {
        let r = try diff(["--format", "json", old, new])
        try #require(r.status == status, "exit \(r.status): \(r.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: r.stdoutData) as? [String: Any])
    }

    static func entries(_ doc: [String: Any], _ key: String) -> [[String: Any]] {
        doc[key] as? [[String: Any]] ?? []
    }

    /// Instance id of each descriptor of an inventory file, by address.
    static func instances(_ path: String) throws -> [String: String] {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        var out: [String: String] = [:]
        for d in doc["descriptors"] as? [[String: Any]] ?? [] {
            out[d["address"] as! String] = (d["instance"] as! [String: Any])["id"] as? String
        }
        return out
    }

    static let fixtures = ProbeTestSupport.fixtures
    static let captures: [(String, [String])] = [
        ("nfd", ["--sysfs-root", fixtures + "/sysfs/nfd-xeon-c620-rootfs-1/sys"]),
        ("thinkpad", ["--sysfs-root", fixtures + "/sysfs/ghw-thinkpad-x1-carbon-gen10/sys"]),
        ("renoir", ["--sysfs-root", fixtures + "/sysfs/procfs-renoir-e810-vega10/sys"]),
        ("alderlake", ["--pci-dump", fixtures + "/lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx"]),
    ]

    @Test("a real capture against itself, and against its schema 1.0 form: exit 0, nothing on stdout")
    func identicalCaptures() throws {
        let w = try Workspace()
        for (name, source) in Self.captures {
            let a = try w.inventory(name, source), b = try w.inventory(name + "-again", source)
            let same = try Self.diff([a, b])
            #expect(same.status == 0 && same.stdout.isEmpty && same.stderr.isEmpty, "\(name): \(same.stdout)\(same.stderr)")
            let old = try w.edited(a, as: name + "-1.0.json") { _ = InventorySchemaTests.downgradeTo10(&$0) }
            let r = try Self.diff([old, b])
            #expect(r.status == 0 && r.stdout.isEmpty, "\(name): \(r.stdout)\(r.stderr)")
            #expect(r.stderr.contains("\(old) is schema 1.0") && r.stderr.contains("mode, usage, binding: not compared"))
            let doc = try Self.json(old, b, status: 0)
            #expect(doc["identical"] as? Bool == true)
            #expect(doc["notCompared"] as? [String] == ["mode", "usage", "binding"])
            #expect((doc["old"] as? [String: Any])?["schemaVersion"] as? String == "1.0")
        }
    }

    @Test("two different real hosts: every descriptor added or removed, by instance id; table and JSON agree")
    func differentCaptures() throws {
        let w = try Workspace()
        let paths = try Self.captures.map { try w.inventory($0.0, $0.1) }
        for (i, j) in [(0, 1), (1, 2), (2, 3), (3, 0)] {
            let ia = try Self.instances(paths[i]), ib = try Self.instances(paths[j])
            let doc = try Self.json(paths[i], paths[j])
            let added = Self.entries(doc, "added").map { $0["instance"] as! String }
            let removed = Self.entries(doc, "removed").map { $0["instance"] as! String }
            #expect(added == Set(ib.values).subtracting(ia.values).sorted(), "\(i)→\(j)")
            #expect(removed == Set(ia.values).subtracting(ib.values).sorted(), "\(i)→\(j)")
            #expect(!added.isEmpty || !removed.isEmpty)
            let table = try Self.diff([paths[i], paths[j]])
            #expect(table.status == 1)
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.filter { $0.hasPrefix("added ") }.count == added.count)
            #expect(lines.filter { $0.hasPrefix("removed ") }.count == removed.count)
            let fns = doc["functions"] as! [String: [[String: Any]]]
            #expect(
                lines.count == added.count + removed.count + Self.entries(doc, "moved").count
                    + Self.entries(doc, "changed").count + fns.values.map(\.count).reduce(0, +))
            // Deterministic: the same bytes twice.
            #expect(
                try Self.diff(["--format", "json", paths[i], paths[j]]).stdout
                    == (try Self.diff(["--format", "json", paths[i], paths[j]]).stdout))
        }
    }

    @Test("a port rebound to vfio-pci: its driver changed, matched by serial number")
    func rebind() throws {
        let w = try Workspace()
        let (t0, h) = try HostTrees.sriovNICHost()
        defer { t0.cleanup() }
        let (t1, _) = try HostTrees.sriovNICHost(.init(drivers: [h.e810[1]: "vfio-pci"]))
        defer { t1.cleanup() }
        let old = try w.inventory("old", ["--sysfs-root", t0.sysRoot])
        let new = try w.inventory("new", ["--sysfs-root", t1.sysRoot])
        let id = try #require(try Self.instances(old)[h.e810[1]])
        #expect(id.hasPrefix("dsn:"))
        let doc = try Self.json(old, new)
        let changes = Self.entries(doc, "changed").filter { $0["instance"] as? String == id }
        let driver = try #require(changes.first { $0["field"] as? String == "driver" })
        #expect(driver["old"] as? String == "ice" && driver["new"] as? String == "vfio-pci")
        #expect(driver["address"] as? String == h.e810[1])
        // Only that port changed.
        #expect(Set(Self.entries(doc, "changed").map { $0["instance"] as! String }) == [id])
        #expect(Self.entries(doc, "added").isEmpty && Self.entries(doc, "removed").isEmpty && Self.entries(doc, "moved").isEmpty)
        let table = try Self.diff([old, new])
        #expect(table.status == 1)
        #expect(
            table.stdout.split(separator: "\n").contains {
                $0.hasPrefix("changed  \(h.e810[1])  \(id)") && $0.hasSuffix("driver: ice -> vfio-pci")
            },
            "\(table.stdout)")
        #expect(try Self.diff([new, new]).status == 0)
    }

    @Test("a link that trained at x8: a link change, and readiness names it")
    func narrowerLink() throws {
        let w = try Workspace()
        let (t, h) = try HostTrees.sriovNICHost()
        defer { t.cleanup() }
        let old = try w.inventory("old", ["--sysfs-root", t.sysRoot])
        // Link Status (Express capability at 0x60, register at +0x12): 16GT/s (4), width 8.
        let config = t.dir(h.e810[0]) + "/config"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: config)))
        try #require(bytes[0x60] == 0x10, "the Express capability sits at 0x60")
        let status: UInt16 = 4 | 8 << 4
        bytes[0x72] = UInt8(status & 0xff)
        bytes[0x73] = UInt8(status >> 8)
        try t.writeBytes(config, bytes)
        let new = try w.inventory("new", ["--sysfs-root", t.sysRoot])
        let id = try #require(try Self.instances(old)[h.e810[0]])
        let doc = try Self.json(old, new)
        let changes = Self.entries(doc, "changed")
        #expect(Set(changes.map { $0["instance"] as! String }) == [id])
        let link = try #require(changes.first { $0["field"] as? String == "link" })
        #expect(link["old"] as? String == "16GT/s x16 (max 16GT/s x16)")
        #expect(link["new"] as? String == "16GT/s x8 (max 16GT/s x16)")
        #expect(
            changes.contains { $0["field"] as? String == "readiness-reasons" && ($0["new"] as? String)?.contains("link-degraded") == true })
    }

    @Test("fewer VFs enabled: the VFs that went are removed, the rest unchanged")
    func fewerVFs() throws {
        let w = try Workspace()
        let (t0, h0) = try HostTrees.sriovNICHost(.init(cx7VFs: 8, vfsOnVFIO: 4))
        defer { t0.cleanup() }
        let (t1, h1) = try HostTrees.sriovNICHost(.init(cx7VFs: 6, vfsOnVFIO: 0))
        defer { t1.cleanup() }
        let old = try w.inventory("old", ["--sysfs-root", t0.sysRoot])
        let new = try w.inventory("new", ["--sysfs-root", t1.sysRoot])
        let ids = try Self.instances(old)
        let gone = Set(h0.cx7VFs).subtracting(h1.cx7VFs).sorted()
        try #require(gone.count == 2)
        let doc = try Self.json(old, new)
        let removed = Self.entries(doc, "removed")
        #expect(removed.map { $0["address"] as! String }.sorted() == gone)
        #expect(removed.map { $0["instance"] as! String }.sorted() == gone.map { ids[$0]! }.sorted())
        #expect(removed.allSatisfy { ($0["instance"] as! String).contains("/vf") })
        #expect(Self.entries(doc, "added").isEmpty)
        // VFs 4 and 5 went from vfio-pci back to mlx5_core.
        let rebound = Self.entries(doc, "changed").filter { $0["field"] as? String == "driver" }
        #expect(rebound.map { $0["address"] as! String }.sorted() == Array(h0.cx7VFs[4..<6]))
        #expect(rebound.allSatisfy { $0["old"] as? String == "vfio-pci" && $0["new"] as? String == "mlx5_core" })
    }

    /// Two root ports; a card with a serial number and one without, under `withSerial` and the other.
    static func twoSlots(serialUnder withSerial: Int) throws -> TreeBuilder {
        let t = try TreeBuilder()
        let ports = ["0000:00:01.0", "0000:00:02.0"]
        for (i, p) in ports.enumerated() {
            try t.addBridge(
                p, vendor: "8086", device: "2030", port: .rootPort, secondary: UInt8(i + 1),
                subordinate: UInt8(i + 1), parent: nil, iommuGroup: i)
        }
        for (i, p) in ports.enumerated() {
            let address = String(format: "0000:%02x:00.0", i + 1)
            let serial = i == withSerial
            let cfg = ConfigSpace(
                vendor: 0x10de, device: serial ? 0x1eb8 : 0x1e30, classCode: 0x030200,
                subsystemVendor: 0x10de, subsystemDevice: serial ? 0x12a2 : 0x12ba, flr: true,
                dsn: serial ? 0x0011_2233_4455_6677 : nil)
            try t.add(
                .init(
                    address: address, vendor: "10de", device: serial ? "1eb8" : "1e30", classCode: "030200",
                    subsystemVendor: "10de", subsystemDevice: serial ? "12a2" : "12ba", config: cfg.bytes(),
                    driver: "vfio-pci", iommuGroup: 10 + i, parent: p))
        }
        return t
    }

    @Test("cards swapped between slots: the one with a serial number moved; the other is removed and added")
    func movedCard() throws {
        let w = try Workspace()
        let t0 = try Self.twoSlots(serialUnder: 0), t1 = try Self.twoSlots(serialUnder: 1)
        defer { t0.cleanup(); t1.cleanup() }
        let old = try w.inventory("old", ["--sysfs-root", t0.sysRoot])
        let new = try w.inventory("new", ["--sysfs-root", t1.sysRoot])
        let doc = try Self.json(old, new)
        let moved = Self.entries(doc, "moved")
        #expect(moved.count == 1)
        let dsn = try #require(moved.first?["instance"] as? String)
        #expect(dsn.hasPrefix("dsn:"))
        #expect(moved.first?["from"] as? String == "0000:01:00.0" && moved.first?["to"] as? String == "0000:02:00.0")
        // The card without a serial number is known by its path: a new path, a new device.
        let removed = Self.entries(doc, "removed"), added = Self.entries(doc, "added")
        #expect(removed.map { $0["address"] as! String } == ["0000:02:00.0"])
        #expect(added.map { $0["address"] as! String } == ["0000:01:00.0"])
        #expect(removed.first?["ids"] as? String == "10de:1e30" && added.first?["ids"] as? String == "10de:1e30")
        #expect((removed.first?["instance"] as? String)?.hasPrefix("path:") == true)
        #expect(Self.entries(doc, "changed").isEmpty, "\(Self.entries(doc, "changed"))")
        let table = try Self.diff([old, new]).stdout
        #expect(table.contains("moved    0000:02:00.0  \(dsn)"), "\(table)")
        #expect(table.split(separator: "\n").count == 3)
    }

    @Test("unreadable input: exit 2 naming the file, and where for JSON errors; nothing on stdout")
    func unreadable() throws {
        let w = try Workspace()
        let good = try w.inventory("good", Self.captures[0].1)
        let cases: [(String, String)] = [
            (w.dir + "/missing.json", "No such file or directory"),
            (w.dir, "Is a directory"),
            (
                try w.write("syntax.json", "{\n  \"schemaVersion\": \"1.1\",\n  \"descriptors\": [,]\n}\n"),
                "not valid JSON at line 3, column 19"
            ),
            (try w.write("empty.json", ""), "not valid JSON at line 1, column 1"),
            (try w.write("array.json", "[]"), "not an hwlabel inventory: the top level is not a JSON object"),
            (try w.write("other.json", "{\"apiVersion\": \"v1\"}"), "not an hwlabel inventory: no \"schemaVersion\""),
            (
                try w.write("major.json", "{\"schemaVersion\": \"2.0\", \"descriptors\": [], \"functions\": []}"),
                "schema 2.0 is not one this hwlabel reads"
            ),
            (try w.write("nofunctions.json", "{\"schemaVersion\": \"1.1\", \"descriptors\": []}"), "no \"functions\" member"),
            (
                try w.edited(good, as: "mistyped.json") { doc in
                    var ds = doc["descriptors"] as! [[String: Any]]
                    var r = ds[1]["readiness"] as! [String: Any]
                    r["state"] = "bogus"
                    ds[1]["readiness"] = r
                    doc["descriptors"] = ds
                }, "descriptors[1].readiness.state: "
            ),
        ]
        for (bad, message) in cases {
            for args in [[bad, good], [good, bad], ["--format", "json", good, bad]] {
                let r = try Self.diff(args)
                #expect(r.status == 2, "\(args): \(r.stderr)")
                #expect(r.stdout.isEmpty)
                #expect(r.stderr.hasPrefix("hwlabel: error: \(bad): ") && r.stderr.contains(message), "\(r.stderr)")
            }
        }
        // Usage errors are 2 as well.
        #expect(try Self.diff([good]).status == 2)
        #expect(try Self.diff(["-", "-"]).status == 2)
    }

    @Test("an inventory read from standard input or a pipe")
    func standardInput() throws {
        let w = try Workspace()
        let a = try w.inventory("a", Self.captures[0].1), b = try w.inventory("b", Self.captures[1].1)
        let sh = try #require(ProbeTestSupport.which("sh"))
        let bin = try ProbeTestSupport.hwlabelBinary()
        let same = try ProbeTestSupport.run(sh, ["-c", "\"$0\" diff - \"$1\" < \"$1\"", bin, a])
        #expect(same.status == 0 && same.stdout.isEmpty, "\(same.stderr)")
        let piped = try ProbeTestSupport.run(sh, ["-c", "cat \"$2\" | \"$0\" diff \"$1\" -", bin, a, b])
        #expect(piped.status == 1)
        #expect(piped.stdout == (try Self.diff([a, b])).stdout)
    }
}
