import HWLabelProbe

/// Every error the core throws: a hand-edited file that cannot be used, a check request that
/// cannot be used, a label, ID or rule that is not valid.
///
/// `code` says what kind (the CLI exits 2 for all of them: they are input errors), `file` and
/// `line` say where when there is a where, `subject` is the value at fault as it was typed, and
/// `cause` is the probe's file error underneath when reading failed. `description` is the
/// message users see, e.g. `labels.conf:12: unknown directive 'lable' (device, rule)`.
///
/// `ConfigError`, `RequestError` and `LabelError` name this one type where the kind is known.
public struct CoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// A hand-edited file (`labels.conf`, `policy.conf`, the lock beside them): `file`,
        /// optionally `line`.
        case config
        /// A check request whose content is not a request: JSON syntax, unknown key, wrong type,
        /// or asking for nothing sensible.
        case invalidRequest
        /// A check request file that cannot be read at all (missing, a directory, too large…).
        case unreadableRequest
        /// A label that cannot be a label (`subject`: the text; `message`: why).
        case invalidLabel
        /// A vendor, device, class or address that does not parse (`subject`: the text;
        /// `message`: what was expected).
        case invalidID
        /// A rule or selector that cannot be used.
        case invalidRule
        /// Nothing by that name.
        case notFound
        /// Two rules that say different things about one selector.
        case conflict
    }

    /// A check request's error kind: the content, or the file itself.
    public enum Kind: Sendable, Hashable {
        case unreadable
        case invalid
    }

    public var code: Code
    /// What is wrong, starting with where inside the file when there is such a where
    /// (`devices[1].count: …`).
    public var message: String
    /// The file: a config file, or a request file (`-` is stdin); nil when the input came from
    /// the command line.
    public var file: String?
    public var line: Int?
    /// The value at fault, as typed (an invalid label or ID).
    public var subject: String?
    /// The file error underneath, when a file could not be read.
    public var cause: ProbeError?

    public init(
        _ code: Code, message: String, file: String? = nil, line: Int? = nil, subject: String? = nil,
        cause: ProbeError? = nil
    ) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
        self.subject = subject
        self.cause = cause
    }

    public var description: String {
        switch code {
        case .config:
            let at = file ?? ""
            return line.map { "\(at):\($0): \(message)" } ?? "\(at): \(message)"
        case .invalidRequest, .unreadableRequest:
            let what = code == .invalidRequest ? "invalid request" : "cannot read the request"
            return (file.map { "\($0 == "-" ? "stdin" : $0): " } ?? "") + "\(what): \(message)"
        case .invalidLabel: return "invalid label \"\(subject ?? "")\": \(message)"
        case .invalidID: return "invalid \(message): \(subject ?? "")"
        case .invalidRule: return "invalid rule: \(message)"
        case .notFound: return "no such \(message)"
        case .conflict: return message
        }
    }
}

/// A parse error that names the file and line: `labels.conf:12: unknown directive 'lable'`.
public typealias ConfigError = CoreError
/// A request that cannot be used (an input error: `hwlabel check` exits 2).
public typealias RequestError = CoreError
/// A label, ID or rule that is not valid.
public typealias LabelError = CoreError

extension CoreError {
    // MARK: config files

    /// `path:line: message`, or `path: message` without a line.
    public init(path: String, line: Int? = nil, message: String) {
        self.init(.config, message: message, file: path, line: line)
    }

    /// The config file (`.config` errors).
    public var path: String {
        get { file ?? "" }
        set { file = newValue }
    }

    // MARK: check requests

    /// `[file: ]invalid request: message` or `[file: ]cannot read the request: message`.
    public init(_ message: String, kind: Kind = .invalid, file: String? = nil) {
        self.init(kind == .invalid ? .invalidRequest : .unreadableRequest, message: message, file: file)
    }

    /// Whether a request error is about the content or the file.
    public var kind: Kind {
        get { code == .unreadableRequest ? .unreadable : .invalid }
        set {
            if code == .invalidRequest || code == .unreadableRequest {
                code = newValue == .unreadable ? .unreadableRequest : .invalidRequest
            }
        }
    }

    // MARK: labels, IDs, rules

    public static func invalidLabel(_ label: String, _ why: String) -> CoreError {
        CoreError(.invalidLabel, message: why, subject: label)
    }
    public static func invalidID(_ id: String, _ what: String) -> CoreError {
        CoreError(.invalidID, message: what, subject: id)
    }
    public static func invalidRule(_ why: String) -> CoreError { CoreError(.invalidRule, message: why) }
    public static func notFound(_ what: String) -> CoreError { CoreError(.notFound, message: what) }
    public static func conflict(_ what: String) -> CoreError { CoreError(.conflict, message: what) }
}
