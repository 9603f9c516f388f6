#if canImport(Glibc)
import Glibc
#endif
import Foundation
import HWLabelProbe

/// Where a bearer token comes from, for the controller sink, the Placement sink and
/// `hwlabel placement sync` alike. Read on every use, so a rotated token is picked up.
///
/// A token file holds one token: surrounding whitespace and line ends are ignored; a line
/// break, space or control character inside, bytes that are not UTF-8, an empty file or one
/// over 64 KiB are refused with a message that names the file and never shows the token.
public enum TokenSource: Sendable, Hashable {
    /// A file holding the token.
    case file(String)
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredential=<name>:…`).
    case credential(String)

    public struct ReadError: Error, CustomStringConvertible, Sendable {
        /// The token file, when the failure is about one.
        public var path: String?
        /// Why, without the path (and never with any of the file's content).
        public var reason: String
        /// True when the file is missing or holds nothing but whitespace (an unset credential).
        public var isEmpty: Bool
        public init(path: String?, reason: String, isEmpty: Bool = false) {
            self.path = path
            self.reason = reason
            self.isEmpty = isEmpty
        }
        public var description: String { path.map { "token file \($0): \(reason)" } ?? reason }
    }

    public func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ReadError) -> Secret {
        let path: String
        switch self {
        case .file(let p): path = p
        case .credential(let name):
            guard let dir = environment["CREDENTIALS_DIRECTORY"] else {
                throw ReadError(
                    path: nil, reason: "credential \(name): CREDENTIALS_DIRECTORY is not set (LoadCredential= missing?)",
                    isEmpty: true)
            }
            path = dir + "/" + name
        }
        let bytes: [UInt8]
        do { bytes = try BoundedFile.read(path, limit: BoundedFile.Limit.token) } catch {
            throw ReadError(path: path, reason: error.reasonText, isEmpty: error.errno == ENOENT)
        }
        return try Self.token(from: bytes, path: path)
    }

    /// The token in a token file's bytes (see the type's documentation for what is refused).
    public static func token(from bytes: [UInt8], path: String) throws(ReadError) -> Secret {
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D }
        var lo = 0, hi = bytes.count
        while lo < hi, isSpace(bytes[lo]) { lo += 1 }
        while hi > lo, isSpace(bytes[hi - 1]) { hi -= 1 }
        guard lo < hi else { throw ReadError(path: path, reason: "empty: no token in it", isEmpty: true) }
        let body = bytes[lo..<hi]
        if body.contains(where: { $0 == 0x0A || $0 == 0x0D }) {
            throw ReadError(path: path, reason: "the token has a line break inside it; a token file holds one token on one line (not used)")
        }
        if body.contains(where: { $0 == 0x20 || $0 == 0x09 }) {
            throw ReadError(path: path, reason: "the token has a space or tab inside it; a token file holds one token (not used)")
        }
        if let i = body.firstIndex(where: { $0 < 0x20 || $0 == 0x7F }) {
            throw ReadError(path: path, reason: "the token has a control character (byte \(i - lo + 1)) inside it (not used)")
        }
        guard let token = String(validating: body, as: UTF8.self) else {
            throw ReadError(path: path, reason: "the token is not UTF-8 text (not used)")
        }
        return Secret(token)
    }
}
