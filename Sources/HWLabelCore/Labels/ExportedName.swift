/// The names a label (or an architecture, a kind, a vGPU type) takes in other systems: one
/// normaliser per target format, all built on one rule for collapsing runs of characters the
/// target does not allow.
public enum ExportedName {
    /// What a run of rejected characters right after a kept `replacement` character writes.
    public enum RunAfterReplacement: Sendable {
        /// Another replacement: `a-(b` → `a--b` when `-` is both kept and the replacement.
        case written
        /// Nothing: `a-(b` → `a-b`.
        case absorbed
    }

    /// `text` with every scalar `keep` accepts copied and each run of scalars it rejects written
    /// as one `replacement`.
    public static func collapsingRuns(
        _ text: String, keeping keep: (Unicode.Scalar) -> Bool,
        into replacement: Unicode.Scalar,
        afterReplacement: RunAfterReplacement = .written
    ) -> String {
        var out = String.UnicodeScalarView()
        // The last scalar written ends a run: a rejected one adds nothing more.
        var inRun = false
        for u in text.unicodeScalars {
            if keep(u) {
                out.append(u)
                inRun = afterReplacement == .absorbed && u == replacement
            } else if !inRun {
                out.append(replacement)
                inRun = true
            }
        }
        return String(out)
    }

    /// `text` cut to `maxLength` characters, then trimmed to an ASCII letter or digit at both
    /// ends; nil when nothing is left.
    public static func trimmedToAlphanumericEnds(_ text: String, maxLength: Int) -> String? {
        var scalars = Substring(text.prefix(maxLength)).unicodeScalars
        while let f = scalars.first, !isASCIIAlphanumeric(f) { scalars.removeFirst() }
        while let l = scalars.last, !isASCIIAlphanumeric(l) { scalars.removeLast() }
        return scalars.isEmpty ? nil : String(scalars)
    }

    public static func isASCIIAlphanumeric(_ u: Unicode.Scalar) -> Bool {
        (u >= "A" && u <= "Z") || (u >= "a" && u <= "z") || (u >= "0" && u <= "9")
    }

    /// OpenStack Placement custom trait or resource class: `prefix` + `text` upper-cased, every
    /// run of characters outside `[A-Z0-9_]` one `_` (not trimmed: `A (x)` → `A_X_`), cut to
    /// 255 characters. Placement accepts `CUSTOM_[A-Z0-9_]+` up to 255 for both. Nil when only
    /// underscores are left (an empty or all-punctuation name).
    public static func placement(_ text: String, prefix: String) -> String? {
        let body = collapsingRuns(
            text.uppercased(), keeping: { ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9") || $0 == "_" },
            into: "_")
        guard body.unicodeScalars.contains(where: { $0 != "_" }) else { return nil }
        let full = prefix + body
        return full.count > placementMaxLength ? String(full.prefix(placementMaxLength)) : full
    }

    public static let placementMaxLength = 255

    /// Kubernetes label name (the part after `hwlabel.io/` in an NFD feature file): at most 63
    /// characters of `[A-Za-z0-9._-]`, alphanumeric at both ends; a run of other characters is
    /// one `-`, and none is added right after a `-`. Nil when nothing usable is left.
    public static func nfdLabelName(_ raw: String) -> String? {
        trimmedToAlphanumericEnds(
            collapsingRuns(raw, keeping: isKubernetesLabelCharacter, into: "-", afterReplacement: .absorbed),
            maxLength: kubernetesMaxLength)
    }

    /// Kubernetes label value for a valid hardware label (≤ 63, `[A-Za-z0-9._-]`, alphanumeric
    /// at both ends, as validation guarantees): each run of other characters is one `_`.
    public static func kubernetesLabelValue(_ label: HardwareLabel) -> String {
        String(collapsingRuns(label.name, keeping: isKubernetesLabelCharacter, into: "_").prefix(kubernetesMaxLength))
    }

    public static let kubernetesMaxLength = 63

    static func isKubernetesLabelCharacter(_ u: Unicode.Scalar) -> Bool {
        isASCIIAlphanumeric(u) || u == "." || u == "_" || u == "-"
    }
}
