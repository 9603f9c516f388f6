import Foundation
@testable import HWLabelService
import HWLabelCore
import HWLabelProbe
import HWLabelTestSupport
import Testing

/// CanonicalJSON must write exactly what JSONEncoder([.sortedKeys, .withoutEscapingSlashes])
/// writes, or the inventory digest would depend on which encoder produced it.
@Suite("Inventory: canonical JSON encoder")
struct InventoryCanonicalJSONTests {
    static func reference<T: Encodable>(_ v: T) throws -> [UInt8] {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try e.encode(v))
    }

    /// One of `sources`: "live", a dump under `lspci/`, or a tree under `sysfs/`.
    static func snapshot(named source: String) throws -> (Snapshot, DescriptorSet) {
        try snapshot(
            source == "live"
                ? .live()
                : source.hasPrefix("lspci/")
                    ? .dump(file: ProbeTestSupport.fixtures + "/" + source)
                    : .sysfs(root: ProbeTestSupport.fixtures + "/" + source + "/sys"))
    }

    static func snapshot(_ source: ProbeSource) throws -> (Snapshot, DescriptorSet) {
        let s = try Probe().snapshot(source)
        return (s, DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: Policy()))
    }

    static let sources: [String] = [
        "live",
        "lspci/asus-alderlake-laptop-rtx3070ti-irisxe-sriov-gl9755.lspci-vvxxxx",
        "lspci/pciutils-tests__tree-asus-p6t6.lspci",
        "sysfs/procfs-renoir-e810-vega10",
        "sysfs/nfd-xeon-c620-rootfs-1",
        "sysfs/ghw-kvm-guest-tesla-p100",
    ]

    @Test("byte-identical to JSONEncoder on real snapshots and descriptors", arguments: sources)
    func matchesFoundation(source: String) throws {
        let (s, set) = try Self.snapshot(named: source)
        #expect(!s.functions.isEmpty)
        #expect(try CanonicalJSON.encode(s) == Self.reference(s))
        #expect(try CanonicalJSON.encode(set) == Self.reference(set))
    }

    struct Odd: Codable {
        var text: String
        var map: [String: String]
        var numbers: [Int]
        var big: UInt64
        var flag: Bool?
        var nested: [[String]]
    }

    @Test("escapes, unicode, slashes, nil, nested containers")
    func oddValues() throws {
        let v = Odd(
            text: "quote \" backslash \\ slash / newline \n tab \t cr \r bell \u{07} esc \u{1b} é 漢 🚀",
            map: ["z": "last", "a": "first", "é": "accent", "B": "upper", "_": "under"],
            numbers: [-1, 0, Int.max], big: UInt64.max, flag: nil, nested: [[], ["x"]])
        let ours = try CanonicalJSON.encode(v)
        #expect(ours == (try Self.reference(v)))
        let back = try JSONDecoder().decode(Odd.self, from: Data(ours))
        #expect(back.text == v.text && back.map == v.map && back.big == v.big)
    }

    enum K: String, CodingKey { case zeta, beta, alpha, gamma, delta }
    enum L: String, CodingKey { case aardvark, zulu }

    /// Every container shape Codable offers: nested keyed and unkeyed containers, super-encoders
    /// (keyed and single-value), two key types in one object, empty values.
    struct Manual: Encodable {
        struct Empty: Encodable {}
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            try c.encode("z", forKey: .zeta)
            var n = c.nestedContainer(keyedBy: K.self, forKey: .beta)
            try n.encode(1, forKey: .zeta)
            try n.encode(true, forKey: .alpha)
            try n.encode(Empty(), forKey: .gamma)
            var u = c.nestedUnkeyedContainer(forKey: .alpha)
            try u.encode("x")
            var un = u.nestedContainer(keyedBy: K.self)
            try un.encodeNil(forKey: .delta)
            try un.encode(-7, forKey: .alpha)
            var uu = u.nestedUnkeyedContainer()
            try uu.encode(3)
            try uu.encode([String]())
            try u.encode(["b": 2, "a": 1])
            var sup = c.superEncoder(forKey: .gamma).singleValueContainer()
            try sup.encode("s")
            var sk = c.superEncoder().container(keyedBy: K.self)
            try sk.encode(false, forKey: .alpha)
            var sv = c.superEncoder(forKey: .delta).singleValueContainer()
            try sv.encode(Odd(text: "t", map: ["k": "v"], numbers: [1], big: 2, flag: true, nested: [["n"]]))
            var other = encoder.container(keyedBy: L.self)
            try other.encode(UInt8(9), forKey: .zulu)
            try other.encode(Int64.min, forKey: .aardvark)
        }
    }

    @Test("nested containers, super-encoders and mixed key types: JSONEncoder's bytes")
    func everyContainerShape() throws {
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        let one = text(try CanonicalJSON.encode(Manual())), reference = text(try Self.reference(Manual()))
        #expect(one == reference)
        let two = text(try CanonicalJSON.encode([Manual(), Manual()]))
        #expect(two == "[" + reference + "," + reference + "]")
        #expect(try CanonicalJSON.encode(Manual.Empty()) == Array("{}".utf8))
        #expect(
            try CanonicalJSON.encodeElements([Manual(), Manual()])
                == Array(try Self.reference([Manual(), Manual()]).dropFirst().dropLast()))
        #expect(try CanonicalJSON.encodeElements([Odd]()) == [])
    }

    struct Scalars: Encodable {
        var doubles: [Double]
        var float: Float
        var data: Data
        var url: URL
        var decimal: Decimal
        var date: Date
    }

    @Test("doubles, Data, URL, Decimal and Date in JSONEncoder's forms; NaN and infinity are errors")
    func foundationScalars() throws {
        let v = Scalars(
            doubles: [1.0, -0.0, 0.5, 1e20, 1e-7, 123_456_789_012_345_678.0, 5e-324], float: 2.0,
            data: Data([0, 1, 2, 0xff]), url: URL(string: "https://ctl.example/v1/reports?x=1")!,
            decimal: Decimal(string: "-12.5")!, date: Date(timeIntervalSince1970: 1_750_000_000.25))
        let ours = String(decoding: try CanonicalJSON.encode(v), as: UTF8.self)
        #expect(ours == String(decoding: try Self.reference(v), as: UTF8.self))
        #expect(ours.contains(#""doubles":[1,-0,0.5,1e+20,"#) && ours.contains(#""float":2,"#))
        for bad in [Double.nan, .infinity, -.infinity] {
            #expect(throws: EncodingError.self) { try CanonicalJSON.encode([bad]) }
        }
        #expect(throws: EncodingError.self) { try CanonicalJSON.encode(["f": Float.nan]) }
    }

    @Test("omittingKeys leaves out top-level members only, wherever they sort")
    func omittingTopLevelKeys() throws {
        func text(_ b: [UInt8]) -> String { String(decoding: b, as: UTF8.self) }
        let v = ["a": ["a": 1, "z": 2], "m": ["a": 3], "z": ["z": 4]]
        #expect(text(try CanonicalJSON.encode(v, omittingKeys: ["a", "z"])) == #"{"m":{"a":3}}"#)
        #expect(text(try CanonicalJSON.encode(v, omittingKeys: ["m"])) == #"{"a":{"a":1,"z":2},"z":{"z":4}}"#)
        #expect(text(try CanonicalJSON.encode(v, omittingKeys: ["a", "m", "z"])) == "{}")
        #expect(try CanonicalJSON.encode(v, omittingKeys: []) == CanonicalJSON.encode(v))
        // Keys already in order (no re-layout) and a keyed type's own coding keys.
        #expect(
            text(
                try CanonicalJSON.encode(
                    Odd(text: "t", map: [:], numbers: [], big: 1, flag: nil, nested: []),
                    omittingKeys: ["big", "text"])) == #"{"map":{},"nested":[],"numbers":[]}"#)
    }

    static func pretty<T: Encodable>(_ v: T) throws -> [UInt8] {
        PrettyJSON.format(try CanonicalJSON.encode(v), emptyContainers: .blankLine)
    }

    @Test("PrettyJSON .blankLine indents canonical bytes exactly as JSONEncoder's .prettyPrinted", arguments: sources)
    func prettyMatchesFoundation(source: String) throws {
        let (s, set) = try Self.snapshot(named: source)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let report = ReportBuilder.next(
            previous: nil, epoch: "e",
            scan: ScanResult(
                descriptors: set.descriptors,
                host: HostIdentity(machineId: nil, hostname: "h"), bootId: nil), now: Date())
        #expect(PrettyJSON.format(try CanonicalJSON.encode(set), emptyContainers: .blankLine) == Array(try e.encode(set)))
        #expect(PrettyJSON.format(try CanonicalJSON.encode(report), emptyContainers: .blankLine) == Array(try e.encode(report)))
        // The other documents printed this way: `label list --format json`, `placement sync
        // --format json`, status.json.
        let listing = LabelListing(labels: LabelSet(), descriptors: set, snapshot: s)
        #expect(try Self.pretty(listing) == Array(try e.encode(listing)))
        var sync = PlacementSyncResult(rootName: "h", dryRun: true)
        sync.created = ["a/b"]
        #expect(try Self.pretty(sync) == Array(try e.encode(sync)))
        var status = AgentStatus(pid: 7, agentEpoch: "e", updatedAt: "2026-11-30T00:00:00Z")
        status.recentErrors = [.init(at: "t", sink: nil, message: "m \"q\" /")]
        #expect(try Self.pretty(status) == Array(try StateStore.encode(status)))
        #expect(try Self.pretty(status) == Array(try e.encode(status)))
        let empties: [String: [[Int]]] = ["a": [], "b": [[]], "c": [[1], []]]
        #expect(PrettyJSON.format(try CanonicalJSON.encode(empties), emptyContainers: .blankLine) == Array(try e.encode(empties)))
        #expect(PrettyJSON.format(Array("{}".utf8), emptyContainers: .blankLine) == Array("{\n\n}".utf8))
        #expect(PrettyJSON.format(Array(#"{"a":[]}"#.utf8)) == Array("{\n  \"a\" : []\n}".utf8))
    }

    /// A nested container written to after its parent moved on: JSONEncoder keeps references to
    /// every container; a streaming encoder cannot place it any more and must say so.
    struct LateWrite: Encodable {
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            var n = c.nestedContainer(keyedBy: K.self, forKey: .beta)
            try c.encode(1, forKey: .alpha)
            try n.encode(2, forKey: .zeta)
        }
    }
    struct LateNested: Encodable {
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: K.self)
            var u = c.nestedUnkeyedContainer(forKey: .beta)
            try c.encode(1, forKey: .alpha)
            _ = u.nestedContainer(keyedBy: K.self)
        }
    }

    @Test("writing to a container after its parent moved on is an error, never misplaced bytes")
    func lateWritesThrow() {
        #expect(throws: EncodingError.self) { try CanonicalJSON.encode(LateWrite()) }
        #expect(throws: EncodingError.self) { try CanonicalJSON.encode(LateNested()) }
    }

    @Test("sliced, parallel encoding gives the one-pass bytes: compact, pretty and digest", arguments: sources)
    func slicedEqualsWhole(source: String) throws {
        let (s, set) = try Self.snapshot(named: source)
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        var whole = InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: at)
        let compact = try whole.encodeJSON(pretty: false, splitAt: Int.max)
        // Split however small: up to 16 slices, one element each when there are fewer.
        var sliced = InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: at)
        let pretty = try sliced.encodeJSON(pretty: true, splitAt: 1)
        #expect(sliced.digest == whole.digest)
        #expect(pretty == PrettyJSON.format(compact))
        var slicedCompact = InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: at)
        #expect(try slicedCompact.encodeJSON(pretty: false, splitAt: 1) == compact)
        #expect(
            try JSONSerialization.jsonObject(with: Data(pretty)) as? NSDictionary
                == JSONSerialization.jsonObject(with: Data(compact)) as? NSDictionary)
    }

    @Test("the inventory digest is the SHA-256 of the canonical document without digest and generatedAt")
    func digestIsReproducibleOutsideSwift() throws {
        let (s, set) = try Self.snapshot(.dump(file: ProbeTestSupport.fixtures + "/lspci/pciutils-tests__cap-dvsec-cxl.lspci"))
        var doc = InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: Date())
        let bytes = try doc.encodeJSON(pretty: true)
        let script = """
            import hashlib, json, sys
            d = json.load(sys.stdin)
            claimed = d.pop("digest"); d.pop("generatedAt")
            canon = json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
            print(claimed == "sha256:" + hashlib.sha256(canon).hexdigest())
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", script]
        let input = Pipe(), output = Pipe()
        p.standardInput = input
        p.standardOutput = output
        try p.run()
        input.fileHandleForWriting.write(Data(bytes))
        try input.fileHandleForWriting.close()
        let answer = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(answer.trimmingCharacters(in: .whitespacesAndNewlines) == "True")
        #expect(doc.digest.hasPrefix("sha256:") && doc.digest.count == 71)
    }
}

/// The inventory is written in pieces through a 64 KiB buffer, never joined into one array.
@Suite("Inventory: streamed atomic output")
struct InventoryStreamedOutputTests {
    @Test("pieces smaller and larger than the buffer give exactly the joined bytes, atomically")
    func piecesEqualJoined() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hwlabel-stream-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // 1 byte, a run of small pieces that straddle a buffer boundary, one piece of 3 buffers.
        let pieces: [[UInt8]] =
            [[0x7b]] + (0..<3000).map { i in Array("\"k\(i)\":\(i),".utf8) }
            + [[UInt8](repeating: 0x20, count: 3 << 16), [0x7d]]
        let path = dir + "/inventory.json"
        try AtomicFile.write(to: path) { put in for p in pieces { p.withUnsafeBytes(put) } }
        #expect(FileManager.default.contents(atPath: path) == Data(pieces.joined()))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["inventory.json"])
    }

    @Test("a device that refuses the bytes (/dev/full) is an error naming it, not a short file")
    func failedWriteIsReported() throws {
        guard FileManager.default.fileExists(atPath: "/dev/full") else { return }
        #expect {
            try AtomicFile.write(to: "/dev/full") { put in
                [UInt8](repeating: 0x41, count: 200_000).withUnsafeBytes(put)
                [UInt8](repeating: 0x42, count: 10).withUnsafeBytes(put)
            }
        } throws: { error in
            guard let f = error as? AtomicFile.Failure else { return false }
            return f.path == "/dev/full" && f.step == "write" && f.errno == ENOSPC
        }
    }

    @Test("Encoded.write hands over the bytes encodeJSON returns")
    func encodedWriteEqualsBytes() throws {
        let s = try Probe().snapshot(.sysfs(root: ProbeTestSupport.fixtures + "/sysfs/procfs-renoir-e810-vega10/sys"))
        let set = DescriptorBuilder().descriptors(snapshot: s, labels: LabelSet(), policy: Policy())
        let at = Date(timeIntervalSince1970: 1_800_000_000)
        var a = InventoryDocument(snapshot: s, descriptors: set.descriptors, generatedAt: at)
        var b = a
        let bytes = try a.encodeJSON(pretty: true, splitAt: 1)
        var streamed: [UInt8] = []
        try b.encoded(pretty: true, splitAt: 1).write { streamed.append(contentsOf: $0) }
        #expect(streamed == bytes)
        #expect(b.digest == a.digest && a.digest.hasPrefix("sha256:"))
    }
}
