import Crypto
import Foundation
import HWLabelCore
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
    public static let currentSchemaVersion = "1.2"

    public var schemaVersion: String
    public var generatedAt: String
    public var digest: String
    public var source: SnapshotSource
    @Nullable public var host: HostFacts?
    public var iommu: IOMMUFacts
    public var functions: [PCIFunction]
    public var descriptors: [AssignableDevice]
    public var warnings: [ProbeWarning]

    public init(
        snapshot: Snapshot, descriptors: [AssignableDevice], extraWarnings: [ProbeWarning] = [],
        generatedAt: Date
    ) {
        schemaVersion = Self.currentSchemaVersion
        self.generatedAt = rfc3339(generatedAt)
        source = snapshot.source
        host = snapshot.host
        iommu = snapshot.iommu
        functions = snapshot.functions
        // The builder returns them in address order: keep that array rather than a sorted copy.
        let inOrder = descriptors.indices.dropFirst().allSatisfy { descriptors[$0 - 1].address < descriptors[$0].address }
        self.descriptors = inOrder ? descriptors : descriptors.sorted { $0.address < $1.address }
        warnings = snapshot.warnings + extraWarnings
        digest = ""
    }

    /// Encodes the document, filling `digest`; see `stream(pretty:splitAt:to:)`. The bytes are
    /// exactly `PrettyJSON.format` of the compact document when `pretty` (a test checks it).
    /// `splitAt`: arrays shorter than this are encoded in one piece.
    public mutating func encodeJSON(pretty: Bool, splitAt: Int = 512) throws -> [UInt8] {
        try encoded(pretty: pretty, splitAt: splitAt).bytes
    }

    /// The encoded document, held in memory: for a destination that cannot be written over once
    /// the digest is known (a pipe). A file takes `stream` instead and holds none of it.
    public struct Encoded {
        public let bytes: [UInt8]

        public func write(_ sink: (UnsafeRawBufferPointer) -> Void) {
            bytes.withUnsafeBytes(sink)
        }
    }

    /// The whole document in one array, digest in place.
    public mutating func encoded(pretty: Bool, splitAt: Int = 512) throws -> Encoded {
        var out: [UInt8] = []
        let patch = try stream(pretty: pretty, splitAt: splitAt) { out.append(contentsOf: $0) }
        out.replaceSubrange(patch.offset..<(patch.offset + patch.hexDigits.count), with: patch.hexDigits)
        return Encoded(bytes: out)
    }

    /// Where the digest's hex digits go in the bytes `stream` wrote: `digest` sorts before
    /// `functions` and covers them, so the stream carries 64 zeros there, to be written over
    /// once the rest is out.
    public struct DigestPatch: Sendable {
        /// Bytes from the start of the stream.
        public let offset: Int
        /// The 64 lowercase hex digits of the SHA-256.
        public let hexDigits: [UInt8]
    }

    /// Placeholder for the digest while the content it covers is written: same length.
    static let digestPlaceholder = "sha256:" + String(repeating: "0", count: 64)

    /// Encodes the document in pieces on every core and hands them to `sink` in order as they
    /// are ready, hashing the compact bytes on the way; fills `digest` and returns where its
    /// digits go (they are zeros in the stream). Each top-level member is one piece, and the two
    /// large arrays are cut into slices of `sliceElements` elements, one piece each; a piece is
    /// indented by the thread that encodes it when `pretty`. At most a few pieces per core are
    /// in memory at once: neither the compact nor the indented document is ever held whole
    /// (at 10,000 functions they were 33 MiB and 54 MiB, most of the peak memory).
    ///
    /// The bytes (digest in place) are exactly `PrettyJSON.format` of the compact document when
    /// `pretty`; the digest is the SHA-256 of the compact document without `digest` and
    /// `generatedAt`. `splitAt`: arrays shorter than this are encoded in one piece.
    public mutating func stream(
        pretty: Bool, splitAt: Int = 512, sliceElements: Int = 64,
        to sink: (UnsafeRawBufferPointer) -> Void
    ) throws -> DigestPatch {
        // Members in key order; `digest` and `generatedAt` are not hashed.
        enum Key: Int, CaseIterable {
            case descriptors, digest, functions, generatedAt, host, iommu, schemaVersion, source, warnings
        }
        var queued: [Job] = []
        func member<T: Encodable & Sendable>(_ key: Key, _ value: T) {
            queued.append(Job(key: key.rawValue, kind: .whole) { try CanonicalJSON.encode(value) })
        }
        func slices<T: Encodable & Sendable>(_ key: Key, _ items: [T], depth: Int = 2) {
            let wanted = max(1, (items.count + sliceElements - 1) / max(1, sliceElements))
            for range in Parallel.chunks(items.count, serialBelow: splitAt, maxChunks: wanted) {
                let slice = items[range]
                queued.append(Job(key: key.rawValue, kind: .slice(depth: depth)) { try CanonicalJSON.encodeElements(slice) })
            }
        }
        slices(.descriptors, descriptors)
        member(.digest, Self.digestPlaceholder)
        slices(.functions, functions)
        member(.generatedAt, generatedAt)
        member(.host, _host)
        // `iommu.groups` (one group per VF on an SR-IOV host) is sliced like the top-level
        // arrays: the object around it goes out as the text before and after its `[]`.
        let shell = try Self.around(iommu, emptied: "groups", pretty: pretty) { $0.groups = [] }
        queued.append(Job(key: Key.iommu.rawValue, kind: .text(pretty: shell.before.pretty)) { shell.before.compact })
        slices(.iommu, iommu.groups, depth: 3)
        queued.append(Job(key: Key.iommu.rawValue, kind: .text(pretty: shell.after.pretty)) { shell.after.compact })
        member(.schemaVersion, schemaVersion)
        member(.source, source)
        member(.warnings, warnings)
        let jobs = queued

        var hasher = SHA256()
        var written = 0
        var digestOffset = 0
        var failure: Error?
        func put(_ b: UnsafeRawBufferPointer) {
            sink(b)
            written += b.count
        }
        func put(_ bytes: [UInt8]) { bytes.withUnsafeBytes(put) }
        func put(_ text: StaticString) { put(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)) }
        func hash(_ text: StaticString) {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
        }
        var sliceWritten = false
        var hashedMembers = 0
        Parallel.ordered(
            jobs.count, window: 2 * Parallel.cores + 2,
            produce: { i in
                Result { () throws -> Piece in
                    let bytes = try jobs[i].encode()
                    guard pretty, !bytes.isEmpty else { return Piece(compact: bytes) }
                    let depth: Int
                    switch jobs[i].kind {
                    case .text(let text): return Piece(compact: bytes, pretty: text)
                    case .whole: depth = 1
                    case .slice(let d): depth = d
                    }
                    var p: [UInt8] = []
                    PrettyJSON.format(bytes, depth: depth, into: &p)
                    return Piece(compact: bytes, pretty: p)
                }
            },
            consume: { i, result in
                guard failure == nil else { return }
                let piece: Piece
                do { piece = try result.get() } catch {
                    failure = error
                    return
                }
                let job = jobs[i]
                let key = Key(rawValue: job.key)!
                let hashed = key != .digest && key != .generatedAt
                if i == 0 || jobs[i - 1].key != job.key {
                    // A member begins: `"key":` (and the brace or comma before it).
                    put(i == 0 ? (pretty ? "{\n  " : "{") : (pretty ? ",\n  " : ","))
                    let name = Array("\"\(key)\"".utf8)
                    put(name)
                    put(pretty ? " : " : ":")
                    if hashed {
                        hash(hashedMembers == 0 ? "{" : ",")
                        hashedMembers += 1
                        name.withUnsafeBytes { hasher.update(bufferPointer: $0) }
                        hash(":")
                    }
                    sliceWritten = false
                }
                if case .slice(let depth) = job.kind {
                    // PrettyJSON's layout of an array whose elements sit at `depth`.
                    let indent = String(repeating: " ", count: 2 * depth)
                    if !piece.compact.isEmpty {
                        put(Array((sliceWritten ? (pretty ? ",\n" + indent : ",") : (pretty ? "[\n" + indent : "[")).utf8))
                        if hashed { hash(sliceWritten ? "," : "[") }
                        sliceWritten = true
                        put(piece.pretty ?? piece.compact)
                        if hashed { piece.compact.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
                    }
                    if i == jobs.count - 1 || jobs[i + 1].key != job.key || !jobs[i + 1].isSlice {
                        put(Array((sliceWritten ? (pretty ? "\n" + indent.dropLast(2) + "]" : "]") : "[]").utf8))
                        if hashed { hash(sliceWritten ? "]" : "[]") }
                    }
                } else {
                    // `"sha256:` comes before the digits.
                    if key == .digest { digestOffset = written + 8 }
                    put(piece.pretty ?? piece.compact)
                    if hashed { piece.compact.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
                }
            })
        if let failure { throw failure }
        put(pretty ? "\n}" : "}")
        hash("}")
        let hexDigits = hasher.finalize().map { hex($0, 2) }.joined()
        digest = "sha256:" + hexDigits
        return DigestPatch(offset: digestOffset, hexDigits: Array(hexDigits.utf8))
    }

    /// One unit of encoding work: a top-level member (indented at depth 1 when pretty), a
    /// slice of an array's elements (indented at their depth), or the text of a member around
    /// a sliced array inside it (already indented).
    struct Job: Sendable {
        enum Kind: Sendable {
            case whole
            case slice(depth: Int)
            case text(pretty: [UInt8])
        }
        var key: Int
        var kind: Kind
        var encode: @Sendable () throws -> [UInt8]
        var isSlice: Bool {
            if case .slice = kind { return true }
            return false
        }
    }

    /// The encoding of `value` with the array member `name` emptied by `empty`, cut around that
    /// member's `[]`: the text before it (through `"name":`) and after it, compact and, when
    /// `pretty`, as PrettyJSON lays the value out at depth 1. The array's elements go between.
    static func around<T: Encodable>(
        _ value: T, emptied name: String, pretty: Bool, _ empty: (inout T) -> Void
    ) throws -> (before: (compact: [UInt8], pretty: [UInt8]), after: (compact: [UInt8], pretty: [UInt8])) {
        var shell = value
        empty(&shell)
        let compact = try CanonicalJSON.encode(shell)
        var indented: [UInt8] = []
        if pretty { PrettyJSON.format(compact, depth: 1, into: &indented) }
        func cut(_ bytes: [UInt8], at marker: String) throws -> ([UInt8], [UInt8]) {
            let m = Array(marker.utf8)
            guard let start = bytes.indices.first(where: { bytes[$0...].starts(with: m) }) else {
                throw EncodingError.invalidValue(
                    name, EncodingError.Context(codingPath: [], debugDescription: "\(name) not found in its object"))
            }
            // Through the key and separator; after the two bytes of `[]`.
            return (Array(bytes[..<(start + m.count - 2)]), Array(bytes[(start + m.count)...]))
        }
        let (b, a) = try cut(compact, at: "\"\(name)\":[]")
        let (pb, pa) = pretty ? try cut(indented, at: "\"\(name)\" : []") : ([], [])
        return ((b, pb), (a, pa))
    }

    /// Encoded JSON: compact (for a slice, elements `e1,e2,…`), and indented when pretty.
    struct Piece {
        var compact: [UInt8]
        var pretty: [UInt8]? = nil
    }
}
