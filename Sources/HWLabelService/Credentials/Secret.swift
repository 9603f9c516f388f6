import Foundation

/// A value that must never be logged or printed: its descriptions are redacted.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String
    public init(_ value: String) { self.value = value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: EmptyCollection<Mirror.Child>()) }

    /// What replaces a secret in text.
    public static let mask = "<redacted>"

    /// `text` with every credential taken out: each of `known` (as it is, and as Swift's and
    /// JSON's escaping print it), and whatever follows `Bearer ` or `X-Auth-Token` up to the
    /// end of the quoted string or line it is in. The one redaction used wherever an error
    /// message leaves the agent: logs, `status.json`, `hwlabel agent status`, CLI errors.
    /// An HTTP client's header error, for one, prints the header's value.
    public static func redact(_ text: String, known: [Secret] = []) -> String {
        var out = text
        for secret in known where !secret.value.isEmpty {
            let escaped = String(String(reflecting: secret.value).dropFirst().dropLast())
            for form in Set([secret.value, escaped]) where out.contains(form) {
                out = out.replacingOccurrences(of: form, with: mask)
            }
        }
        for marker in ["Bearer ", "bearer ", "BEARER ", "X-Auth-Token: ", "X-Auth-Token=", "x-auth-token: "] {
            out = redactAfter(marker, in: out)
        }
        return out
    }

    /// Replaces what follows each `marker` up to an unescaped `"`, a line end or the end.
    static func redactAfter(_ marker: String, in text: String) -> String {
        guard text.contains(marker) else { return text }
        var result = ""
        var rest = Substring(text)
        while let r = rest.range(of: marker) {
            result += rest[..<r.upperBound]
            var i = r.upperBound
            var escaped = false
            while i < rest.endIndex {
                let c = rest[i]
                if escaped {
                    escaped = false
                } else if c == "\\" {
                    escaped = true
                } else if c == "\"" || c == "\n" || c == "\r\n" || c == "\r" {
                    break
                }
                i = rest.index(after: i)
            }
            if i > r.upperBound, !rest[r.upperBound..<i].hasPrefix(mask) { result += mask } else { result += rest[r.upperBound..<i] }
            rest = rest[i...]
        }
        return result + rest
    }
}
