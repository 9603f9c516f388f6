import Crypto
import Dispatch
import Foundation
import HWLabelProbe

/// The one-shot audit dump (`hwlabel inventory --format json`): the whole snapshot plus the
/// descriptors built from it. Deterministic: sorted keys, functions and descriptors ordered by
/// address, and a SHA-256 digest over everything except `generatedAt` and `digest` itself, so
/// two dumps of an unchanged host carry the same digest.
///
/// The digest is the SHA-256 of the compact, key-sorted JSON of the document without those two
/// keys (what `json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)` gives).
public struct InventoryDocument: Codable, Sendable {
    /// `major.minor`; a 1.N reader accepts 1.0…1.N.
    public static let currentSchemaVersion = "1.0"

    public var schemaVersion: String
    public var generatedAt: String
    public var digest: String
    public var source: SnapshotSource
    @Nullable public var host: HostFacts?
    public var iommu: IOMMUFacts
    public var functions: [PCIFunction]
    public var descriptors: [AssignableDevice]
    public var warnings: [ProbeWarning]

    public init(snapshot: Snapshot, descriptors: [AssignableDevice], extraWarnings: [ProbeWarning] = [],
                generatedAt: Date) {
        schemaVersion = Self.currentSchemaVersion
        self.generatedAt = Self.rfc3339(generatedAt)
        source = snapshot.source
        host = snapshot.host
        iommu = snapshot.iommu
        functions = snapshot.functions
        self.descriptors = descriptors.sorted { $0.address < $1.address }
        warnings = snapshot.warnings + extraWarnings
        digest = ""
    }

    /// Encodes the document once: each top-level member is encoded separately and joined in
    /// key order, the digest is taken over the content members, and `digest` is filled in.
    /// (Encoding a 10,000-function host twice, once for the digest and once for output, was
    /// 40% of `inventory`'s time.)
    public mutating func encodeJSON(pretty: Bool) throws -> [UInt8] {
        var members: [(String, [UInt8])] = [
            ("descriptors", try Self.encodeArray(descriptors)),
            ("functions", try Self.encodeArray(functions)),
            ("host", try CanonicalJSON.encode(_host)),
            ("iommu", try CanonicalJSON.encode(iommu)),
            ("schemaVersion", try CanonicalJSON.encode(schemaVersion)),
            ("source", try CanonicalJSON.encode(source)),
            ("warnings", try CanonicalJSON.encode(warnings)),
        ]
        var hasher = SHA256()
        hasher.update(data: Self.object(members))
        digest = "sha256:" + hasher.finalize().map { hex($0, 2) }.joined()
        members.append(("digest", try CanonicalJSON.encode(digest)))
        members.append(("generatedAt", try CanonicalJSON.encode(generatedAt)))
        members.sort { $0.0 < $1.0 }
        let compact = Self.object(members)
        members.removeAll()
        return pretty ? PrettyJSON.format(compact) : compact
    }

    /// `2026-11-21T08:09:06Z`. (ISO8601DateFormatter would load ICU's 40 MB of data for one
    /// timestamp: a third of a small host's run time.)
    public static func rfc3339(_ date: Date) -> String {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                      tm.tm_hour, tm.tm_min, tm.tm_sec)
    }

    /// Encodes a large array in slices on every core, one element at a time (so only one
    /// element's tree is alive per core), and joins them: the bytes are identical to encoding
    /// it whole, since compact JSON has no state across elements.
    static func encodeArray<T: Encodable & Sendable>(_ items: [T]) throws -> [UInt8] {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let parts = items.count < 512 ? 1 : min(cores, 8)
        let size = (items.count + parts - 1) / parts
        let slots = UnsafeMutableBufferPointer<Result<[UInt8], Error>?>.allocate(capacity: parts)
        slots.initialize(repeating: nil)
        defer { slots.deallocate() }
        nonisolated(unsafe) let out = slots
        let encodeSlice: @Sendable (Int) -> Void = { i in
            out[i] = Result {
                var bytes: [UInt8] = []
                for (n, item) in items[min(i * size, items.count)..<min((i + 1) * size, items.count)].enumerated() {
                    if n > 0 { bytes.append(UInt8(ascii: ",")) }
                    bytes.append(contentsOf: try CanonicalJSON.encode(item))
                }
                return bytes
            }
        }
        if parts == 1 { encodeSlice(0) } else { DispatchQueue.concurrentPerform(iterations: parts, execute: encodeSlice) }
        var joined: [UInt8] = [UInt8(ascii: "[")]
        var first = true
        for r in slots {
            let bytes = try r!.get()
            guard !bytes.isEmpty else { continue }
            if !first { joined.append(UInt8(ascii: ",")) }
            joined.append(contentsOf: bytes)
            first = false
        }
        joined.append(UInt8(ascii: "]"))
        return joined
    }

    /// `{"k1":v1,"k2":v2}` from members already in key order.
    static func object(_ members: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(members.reduce(2) { $0 + $1.0.utf8.count + $1.1.count + 4 })
        for (i, (key, value)) in members.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: key.utf8)
            out.append(contentsOf: "\":".utf8)
            out.append(contentsOf: value)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}

/// Indents compact JSON in one linear pass (two spaces, `"key" : value` as JSONEncoder's
/// pretty printer writes it). Input must be valid compact JSON.
public enum PrettyJSON {
    public static func format(_ json: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(json.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        var i = 0
        func newline() {
            out.append(0x0a)
            for _ in 0..<depth { out.append(0x20); out.append(0x20) }
        }
        while i < json.count {
            let c = json[i]
            if inString {
                out.append(c)
                if escaped { escaped = false } else if c == 0x5c { escaped = true } else if c == 0x22 { inString = false }
                i += 1
                continue
            }
            switch c {
            case 0x22:
                inString = true
                out.append(c)
            case 0x7b, 0x5b: // { [
                out.append(c)
                let close: UInt8 = c == 0x7b ? 0x7d : 0x5d
                if i + 1 < json.count, json[i + 1] == close {
                    out.append(close)
                    i += 1
                } else {
                    depth += 1
                    newline()
                }
            case 0x7d, 0x5d: // } ]
                depth -= 1
                newline()
                out.append(c)
            case 0x2c: // ,
                out.append(c)
                newline()
            case 0x3a: // :
                out.append(contentsOf: [0x20, 0x3a, 0x20])
            default:
                out.append(c)
            }
            i += 1
        }
        return out
    }
}
