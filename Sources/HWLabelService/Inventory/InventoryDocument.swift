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
        self.descriptors = descriptors.sorted { $0.address < $1.address }
        warnings = snapshot.warnings + extraWarnings
        digest = ""
    }

    /// Encodes the document once, on every core: each top-level member is one job, and the two
    /// large arrays are cut into slices of elements, one job each; a job also indents its bytes
    /// when `pretty`. The digest is taken over the compact content members piece by piece, and
    /// the output is assembled from the pieces, so the SHA-256 and one copy are all that stays
    /// serial. (Encoding a 10,000-function host twice, once for the digest and once for output,
    /// was 40% of `inventory`'s time; indenting it in one pass another 10%.)
    ///
    /// The bytes are exactly `PrettyJSON.format` of the compact document (a test checks it).
    /// `splitAt`: arrays shorter than this are encoded in one piece.
    public mutating func encodeJSON(pretty: Bool, splitAt: Int = 512) throws -> [UInt8] {
        try encoded(pretty: pretty, splitAt: splitAt).bytes
    }

    /// The encoded document, still in its pieces: `write` hands them to a file or a socket
    /// without first joining them into one array (40 MB at 10,000 functions).
    public struct Encoded {
        let members: [(String, Member)]
        let pretty: Bool
        let byteCount: Int

        public func write(_ sink: (UnsafeRawBufferPointer) -> Void) {
            InventoryDocument.write(members, pretty: pretty, sink)
        }

        public var bytes: [UInt8] {
            var out: [UInt8] = []
            out.reserveCapacity(byteCount)
            write { out.append(contentsOf: $0) }
            return out
        }
    }

    /// Encodes the document (filling `digest`) into pieces; see `encodeJSON(pretty:splitAt:)`.
    public mutating func encoded(pretty: Bool, splitAt: Int = 512) throws -> Encoded {
        var jobs: [Job] = []
        func member<T: Encodable & Sendable>(_ value: T) -> Int {
            jobs.append(Job(depth: 1) { try CanonicalJSON.encode(value) })
            return jobs.count - 1
        }
        func slices<T: Encodable & Sendable>(_ items: [T]) -> Range<Int> {
            let first = jobs.count
            // Twice as many slices as cores: they share the cores with the other members' jobs.
            for range in Parallel.chunks(items.count, serialBelow: splitAt, maxChunks: min(Parallel.cores * 2, 16)) {
                let slice = items[range]
                jobs.append(Job(depth: 2) { try CanonicalJSON.encodeElements(slice) })
            }
            return first..<jobs.count
        }
        // Largest single members first, so no core is left with one at the end.
        let iommuJob = member(iommu), warningsJob = member(warnings), hostJob = member(_host)
        let sourceJob = member(source), versionJob = member(schemaVersion)
        let descriptorJobs = slices(descriptors), functionJobs = slices(functions)
        let done = try Self.run(jobs, pretty: pretty)
        var members: [(String, Member)] = [
            ("descriptors", .slices(Array(done[descriptorJobs]))),
            ("functions", .slices(Array(done[functionJobs]))),
            ("host", .bytes(done[hostJob])),
            ("iommu", .bytes(done[iommuJob])),
            ("schemaVersion", .bytes(done[versionJob])),
            ("source", .bytes(done[sourceJob])),
            ("warnings", .bytes(done[warningsJob])),
        ]
        var hasher = SHA256()
        Self.write(members, pretty: false) { hasher.update(bufferPointer: $0) }
        digest = "sha256:" + hasher.finalize().map { hex($0, 2) }.joined()
        members.append(("digest", .bytes(Piece(compact: try CanonicalJSON.encode(digest)))))
        members.append(("generatedAt", .bytes(Piece(compact: try CanonicalJSON.encode(generatedAt)))))
        members.sort { $0.0 < $1.0 }
        return Encoded(
            members: members, pretty: pretty,
            byteCount: done.reduce(256) { $0 + ($1.pretty ?? $1.compact).count + 8 })
    }

    /// One unit of encoding work: compact bytes, indented at `depth` when pretty.
    struct Job: Sendable {
        var depth: Int
        var encode: @Sendable () throws -> [UInt8]
    }

    /// Runs the jobs on every core (in index order as threads free up) and returns their pieces.
    static func run(_ jobs: [Job], pretty: Bool) throws -> [Piece] {
        let done = Parallel.map(jobs.count) { i in
            Result {
                let bytes = try jobs[i].encode()
                guard pretty, !bytes.isEmpty else { return Piece(compact: bytes) }
                var p: [UInt8] = []
                PrettyJSON.format(bytes, depth: jobs[i].depth, into: &p)
                return Piece(compact: bytes, pretty: p)
            }
        }
        return try done.map { try $0.get() }
    }

    /// A top-level member's value: one piece, or an array encoded in slices.
    enum Member {
        case bytes(Piece)
        case slices([Piece])
    }

    /// Encoded JSON: compact (for a slice, elements `e1,e2,…`), and indented when pretty.
    struct Piece {
        var compact: [UInt8]
        var pretty: [UInt8]? = nil
    }

    /// The document from members already in key order, handed to `sink` in pieces: compact
    /// (`{"k1":v1,"k2":v2}`), or pretty, exactly as `PrettyJSON.format` of the compact one
    /// (pieces indented by their job at depth 1 for members and 2 for slices are used as is).
    static func write(_ members: [(String, Member)], pretty: Bool, _ sink: (UnsafeRawBufferPointer) -> Void) {
        func put(_ bytes: [UInt8]) { bytes.withUnsafeBytes(sink) }
        func put(_ text: StaticString) { sink(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount)) }
        func put(_ p: Piece, depth: Int) {
            guard pretty else { return put(p.compact) }
            if let b = p.pretty { return put(b) }
            var b: [UInt8] = []
            PrettyJSON.format(p.compact, depth: depth, into: &b)
            put(b)
        }
        put("{")
        for (i, (key, value)) in members.enumerated() {
            put(i == 0 ? (pretty ? "\n  " : "") : (pretty ? ",\n  " : ","))
            put(Array("\"\(key)\"".utf8))
            put(pretty ? " : " : ":")
            switch value {
            case .bytes(let b): put(b, depth: 1)
            case .slices(let slices):
                let parts = slices.filter { !$0.compact.isEmpty }
                if parts.isEmpty { put("[]"); continue }
                put(pretty ? "[\n    " : "[")
                for (n, s) in parts.enumerated() {
                    if n > 0 { put(pretty ? ",\n    " : ",") }
                    put(s, depth: 2)
                }
                put(pretty ? "\n  ]" : "]")
            }
        }
        put(pretty ? "\n}" : "}")
    }
}
