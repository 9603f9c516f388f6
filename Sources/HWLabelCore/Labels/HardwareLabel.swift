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
        // Fast path over the bytes: every allowed character is ASCII, so a valid label is
        // 1…63 allowed bytes with alphanumeric ends (labels.conf may hold 100,000s of them).
        let fast = text.utf8.withContiguousStorageIfAvailable { b -> Bool in
            guard b.count >= 1, b.count <= Self.maxLength, Self.alnumByte(b[0]), Self.alnumByte(b[b.count - 1]) else { return false }
            var i = 1
            while i < b.count, Self.allowedByte(b[i]) { i += 1 }
            return i == b.count
        }
        if fast == true {
            self.name = text
            return
        }
        let name = text
        guard !name.isEmpty else { throw LabelError.invalidLabel(text, "a label cannot be empty") }
        guard name.count <= Self.maxLength else {
            throw LabelError.invalidLabel(text, "longer than \(Self.maxLength) characters (\(name.count))")
        }
        for ch in name.unicodeScalars where !Self.allowed(ch) {
            throw LabelError.invalidLabel(text, "character '\(ch)' is not allowed (use letters, digits, space, . _ - + / ( ))")
        }
        guard let f = name.unicodeScalars.first, let l = name.unicodeScalars.last,
            Self.isAlnum(f), Self.isAlnum(l)
        else {
            throw LabelError.invalidLabel(text, "must start and end with a letter or digit")
        }
        self.name = name
    }

    public var description: String { name }
    public static func < (a: HardwareLabel, b: HardwareLabel) -> Bool { a.name < b.name }

    /// The prefix of a label's Placement trait (and resource class).
    public static let placementPrefix = "CUSTOM_HWLABEL_"

    /// OpenStack Placement trait: `CUSTOM_HWLABEL_` + upper-cased label, every run of characters
    /// outside `[A-Z0-9_]` collapsed into one `_` (`ExportedName.placement`).
    public var placementTrait: String {
        // A valid label has a letter or digit at each end, so there is always a trait.
        ExportedName.placement(name, prefix: Self.placementPrefix)!
    }

    /// The trait every Placement provider hwlabel manages carries.
    public static let managedTrait = "CUSTOM_HWLABEL_MANAGED"
    /// The prefix of the trait that names the card a provider describes
    /// (`CUSTOM_HWLABEL_DEV_10DE_1EB8_10DE_12A2`).
    public static let identityTraitPrefix = "CUSTOM_HWLABEL_DEV_"

    /// True for an identity trait: the prefix and two or four groups of 4 upper-case hex digits.
    public static func isIdentityTrait(_ trait: String) -> Bool {
        guard trait.hasPrefix(identityTraitPrefix) else { return false }
        let groups = trait.dropFirst(identityTraitPrefix.count).split(separator: "_", omittingEmptySubsequences: false)
        return (groups.count == 2 || groups.count == 4)
            && groups.allSatisfy { $0.count == 4 && $0.allSatisfy { ("0"..."9").contains($0) || ("A"..."F").contains($0) } }
    }

    /// The trait of hwlabel's own this label would export as ("Managed" is
    /// `CUSTOM_HWLABEL_MANAGED`, "dev 10de 1eb8" an identity trait), or nil. Such a label would
    /// be read as hwlabel's marker, so `label set` and `rule add` refuse it and the Placement
    /// sink publishes a device carrying it without the trait.
    public var reservedTrait: String? {
        let t = placementTrait
        return t == Self.managedTrait || Self.isIdentityTrait(t) ? t : nil
    }

    /// Kubernetes label value (`ExportedName.kubernetesLabelValue`): runs of characters outside
    /// `[A-Za-z0-9._-]` become one `_`.
    public var kubernetesValue: String { ExportedName.kubernetesLabelValue(self) }

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

    static func alnumByte(_ c: UInt8) -> Bool {
        (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39)
    }

    /// `A-Z a-z 0-9 space . _ - + / ( )` as bytes.
    static func allowedByte(_ c: UInt8) -> Bool {
        alnumByte(c) || c == 0x20 || c == 0x2E || c == 0x5F || c == 0x2D || c == 0x2B || c == 0x2F || c == 0x28 || c == 0x29
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

/// Strict 4-hex-digit ID, lower-cased: IDs travel as strings (`"10de"`).
func normalizedID(_ text: String, what: String) throws(LabelError) -> String {
    // Already canonical (labels.conf as hwlabel writes it): 4 lower-case hex digits.
    if text.utf8.count == 4, text.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) { return text }
    var s = Substring(text.lowercased())
    if s.hasPrefix("0x") { s = s.dropFirst(2) }
    guard s.count == 4, s.allSatisfy(\.isHexDigit) else { throw LabelError.invalidID(text, what + " (4 hex digits)") }
    return String(s)
}
