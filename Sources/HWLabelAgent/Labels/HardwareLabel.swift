/// A user hardware label such as `Turing GPU`: one per device, as vSphere's Assignable Hardware
/// `customLabel`. Validated once, then exported in the forms other engines accept.
public struct HardwareLabel: Codable, Sendable, Hashable, Comparable, CustomStringConvertible {
    public let name: String

    /// Longest label accepted: the Kubernetes label-value limit, so every label exports as-is
    /// (after spaces become `_`) to Node Feature Discovery.
    public static let maxLength = 63

    /// Validates: 1…63 characters from `A-Z a-z 0-9`, space, `.`, `_`, `-`, `+`, `/`, `(`, `)`,
    /// starting and ending with a letter or digit.
    public init(validating text: String) throws(LabelError) {
        let name = text
        guard !name.isEmpty else { throw LabelError.invalidLabel(text, "a label cannot be empty") }
        guard name.count <= Self.maxLength else {
            throw LabelError.invalidLabel(text, "longer than \(Self.maxLength) characters (\(name.count))")
        }
        for ch in name.unicodeScalars where !Self.allowed(ch) {
            throw LabelError.invalidLabel(text, "character '\(ch)' is not allowed (use letters, digits, space, . _ - + / ( ))")
        }
        guard let f = name.unicodeScalars.first, let l = name.unicodeScalars.last,
              Self.isAlnum(f), Self.isAlnum(l) else {
            throw LabelError.invalidLabel(text, "must start and end with a letter or digit")
        }
        self.name = name
    }

    public var description: String { name }
    public static func < (a: HardwareLabel, b: HardwareLabel) -> Bool { a.name < b.name }

    /// OpenStack Placement trait: `CUSTOM_HWLABEL_` + upper-cased label, every run of characters
    /// outside `[A-Z0-9_]` collapsed into one `_` (Placement's rule for custom traits, ≤ 255).
    public var placementTrait: String {
        var out = ""
        var pendingUnderscore = false
        for ch in name.uppercased().unicodeScalars {
            if ("A"..."Z").contains(ch) || ("0"..."9").contains(ch) || ch == "_" {
                if pendingUnderscore { out += "_"; pendingUnderscore = false }
                out.unicodeScalars.append(ch)
            } else {
                pendingUnderscore = true
            }
        }
        if pendingUnderscore { out += "_" }
        return String(("CUSTOM_HWLABEL_" + out).prefix(255))
    }

    /// Kubernetes label value (≤ 63, `[A-Za-z0-9._-]`, alphanumeric at both ends): runs of
    /// other characters become one `_`. Validation guarantees the ends are alphanumeric.
    public var kubernetesValue: String {
        var out = ""
        var pending = false
        for ch in name.unicodeScalars {
            if Self.isAlnum(ch) || ch == "." || ch == "_" || ch == "-" {
                if pending { out += "_"; pending = false }
                out.unicodeScalars.append(ch)
            } else {
                pending = true
            }
        }
        return String(out.prefix(63))
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(name)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(validating: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    static func isAlnum(_ c: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(c) || ("a"..."z").contains(c) || ("0"..."9").contains(c)
    }

    static func allowed(_ c: Unicode.Scalar) -> Bool {
        isAlnum(c) || " ._-+/()".unicodeScalars.contains(c)
    }
}

/// The exported forms of a label, shown by `label list` and carried in reports.
public struct ExportedForms: Codable, Sendable, Hashable {
    public var placementTrait: String
    public var kubernetesValue: String
    public init(_ label: HardwareLabel) {
        placementTrait = label.placementTrait
        kubernetesValue = label.kubernetesValue
    }
}

public enum LabelError: Error, Sendable, Hashable, CustomStringConvertible {
    case invalidLabel(String, String)
    case invalidID(String, String)
    case invalidRule(String)
    case notFound(String)
    case conflict(String)

    public var description: String {
        switch self {
        case let .invalidLabel(label, why): "invalid label \"\(label)\": \(why)"
        case let .invalidID(id, why): "invalid \(why): \(id)"
        case let .invalidRule(why): "invalid rule: \(why)"
        case let .notFound(what): "no such \(what)"
        case let .conflict(what): what
        }
    }
}

/// Strict 4-hex-digit ID, lower-cased: IDs travel as strings (`"10de"`).
func normalizedID(_ text: String, what: String) throws(LabelError) -> String {
    var s = Substring(text.lowercased())
    if s.hasPrefix("0x") { s = s.dropFirst(2) }
    guard s.count == 4, s.allSatisfy(\.isHexDigit) else { throw LabelError.invalidID(text, what + " (4 hex digits)") }
    return String(s)
}
