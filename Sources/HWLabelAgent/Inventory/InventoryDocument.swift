import Crypto
import Foundation
import HWLabelProbe

/// The one-shot audit dump (`hwlabel inventory --format json`): the whole snapshot plus the
/// descriptors built from it. Deterministic: sorted keys, functions and descriptors ordered by
/// address, and a SHA-256 digest over everything except `generatedAt` and `digest` itself, so
/// two dumps of an unchanged host carry the same digest.
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
        self.generatedAt = ISO8601DateFormatter().string(from: generatedAt)
        source = snapshot.source
        host = snapshot.host
        iommu = snapshot.iommu
        functions = snapshot.functions
        self.descriptors = descriptors.sorted { $0.address < $1.address }
        warnings = snapshot.warnings + extraWarnings
        digest = ""
        digest = "sha256:" + Self.contentDigest(of: self)
    }

    /// Hex SHA-256 of the canonical JSON of the document with `generatedAt` and `digest` blanked.
    public static func contentDigest(of doc: InventoryDocument) -> String {
        var copy = doc
        copy.generatedAt = ""
        copy.digest = ""
        let data = (try? canonicalEncoder().encode(copy)) ?? Data()
        return SHA256.hash(data: data).map { hex($0, 2) }.joined()
    }

    public static func canonicalEncoder(pretty: Bool = false) -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
