import AsyncHTTPClient
import Foundation
import HWLabelCore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import HWLabelProbe

/// POSTs each report as JSON to a placement controller. Contract: README.md, "HTTP contract (for controller authors)".
///
/// Every report goes through the outbox first; the newest pending report is what is sent, with
/// `Idempotency-Key: <machine-id>/<epoch>/<generation>`. Transport errors, timeouts, 408, 409,
/// 425, 429 and 5xx are retried with exponential backoff and jitter (honouring `Retry-After`);
/// other statuses are permanent for that attempt. After the last attempt `deliver` throws and
/// the report stays in the outbox for the agent's next try (or the next start).
public final class ControllerSink: ReportSink {
    public struct Configuration: Sendable {
        public var url: String
        /// Read before every request, so a rewritten token file is used from the next one on.
        public var token: TokenSource?
        /// When true, a token file that is missing or empty means "send no `Authorization`
        /// header" (the empty placeholder install.sh creates); when false it fails the request.
        public var tokenOptional: Bool
        /// PEM file with the CA(s) to trust instead of the system store.
        public var caFile: String?
        /// Whole-request timeout.
        public var timeout: TimeInterval
        public var connectTimeout: TimeInterval
        public var retry: RetryPolicy
        public init(url: String, token: TokenSource? = nil, tokenOptional: Bool = false, caFile: String? = nil,
                    timeout: TimeInterval = 10, connectTimeout: TimeInterval = 5, retry: RetryPolicy = RetryPolicy()) {
            self.url = url
            self.token = token
            self.tokenOptional = tokenOptional
            self.caFile = caFile
            self.timeout = timeout
            self.connectTimeout = connectTimeout
            self.retry = retry
        }
    }

    public let name: String
    public let configuration: Configuration
    public let outbox: Outbox
    let client: HTTPClient
    let logger: Logger

    public init(name: String = "controller", configuration: Configuration, outboxDirectory: String, logger: Logger) throws {
        self.name = name
        self.configuration = configuration
        self.outbox = Outbox(directory: outboxDirectory, sink: name)
        self.logger = logger
        var tls = TLSConfiguration.makeClientConfiguration()
        if let ca = configuration.caFile {
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(ca))
        }
        var config = HTTPClient.Configuration(
            tlsConfiguration: tls,
            timeout: .init(connect: .milliseconds(Self.milliseconds(configuration.connectTimeout)),
                           read: .milliseconds(Self.milliseconds(configuration.timeout))))
        config.redirectConfiguration = .disallow
        self.client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    /// Must be called once when the sink is no longer used.
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// The report waiting in the outbox, if any.
    public var pending: Report? { outbox.load() }

    public func deliver(_ report: Report) async throws {
        let toSend = try outbox.store(report)
        var attempt = 0
        while true {
            attempt += 1
            do {
                try await post(toSend)
                outbox.acknowledge(toSend)
                logger.debug("report delivered", metadata: ["sink": "\(name)", "generation": "\(toSend.generation)",
                                                            "attempt": "\(attempt)"])
                return
            } catch {
                // post() throws ControllerError only; AgentSleep's CancellationError ends the loop below.
                let error = error as? ControllerError ?? .transport(Secret.redact(String(describing: error)))
                guard error.isRetryable, attempt < configuration.retry.maxAttempts else { throw error }
                let delay = error.retryAfter.map { min($0, configuration.retry.maxDelay) }
                    ?? configuration.retry.delay(afterAttempt: attempt)
                logger.info("delivery failed; retrying", metadata: [
                    "sink": "\(name)", "generation": "\(toSend.generation)", "attempt": "\(attempt)",
                    "error": "\(error)", "retry.in": "\(String(format: "%.2f", delay))s"])
                try await AgentSleep.sleep(seconds: delay)
            }
        }
    }

    func post(_ report: Report) async throws {
        var request = HTTPClientRequest(url: configuration.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "hwlabel-agent/\(Report.currentSchemaVersion)")
        request.headers.add(name: "Idempotency-Key", value: report.idempotencyKey)
        request.headers.add(name: "Hwlabel-Schema-Version", value: report.schemaVersion)
        request.headers.add(name: "Hwlabel-Generation", value: String(report.generation))
        request.headers.add(name: "Hwlabel-Digest", value: report.digest)
        var known: [Secret] = []
        if let source = configuration.token {
            do throws(TokenSource.ReadError) {
                let token = try source.read()
                known.append(token)
                request.headers.add(name: "Authorization", value: "Bearer " + token.value)
            } catch {
                if !(error.isEmpty && configuration.tokenOptional) { throw ControllerError.token(error.description) }
            }
        }
        let body: Data
        do { body = try report.canonicalJSON() } catch { throw ControllerError.transport("cannot encode report: \(error)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Self.milliseconds(configuration.timeout)),
                                                logger: logger)
            // Drain (bounded): the body is informational only; garbage on 2xx is not an error.
            _ = try await response.body.collect(upTo: 64 * 1024)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw ControllerError.timeout
        } catch {
            // The client's errors may print request headers (an invalid header value is
            // printed whole): nothing of the token leaves this function.
            throw ControllerError.transport(Secret.redact(String(describing: error), known: known))
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return }
        throw ControllerError.status(status, retryAfter: Self.retryAfter(response.headers.first(name: "Retry-After")))
    }

    /// `Retry-After` in seconds: delay-seconds only (1*DIGIT), at most a day; nil for an
    /// HTTP-date, a negative, fractional, `inf` or `nan` value, which are ignored.
    static func retryAfter(_ header: String?) -> TimeInterval? {
        guard let h = header?.trimmingCharacters(in: .whitespaces), !h.isEmpty, h.utf8.count <= 9,
              h.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(h) else { return nil }
        return TimeInterval(min(v, 86400))
    }

    /// A timeout in whole milliseconds for NIO, 1 ms … 1 day whatever the configuration holds
    /// (no trap on `inf`, `nan` or a value past Int64).
    static func milliseconds(_ seconds: TimeInterval) -> Int64 {
        guard seconds.isFinite, seconds > 0 else { return seconds == .infinity ? 86_400_000 : 1 }
        return Int64(min(max(seconds * 1000, 1), 86_400_000))
    }
}

/// Exponential backoff with jitter: attempt n waits a random time in [d/2, d] where
/// d = min(maxDelay, baseDelay · 2^(n-1)).
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: TimeInterval
    public var maxDelay: TimeInterval
    public init(maxAttempts: Int = 5, baseDelay: TimeInterval = 0.5, maxDelay: TimeInterval = 30) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }
    public func delay(afterAttempt n: Int) -> TimeInterval {
        let d = min(maxDelay, baseDelay * pow(2, Double(max(0, n - 1))))
        return d / 2 + Double.random(in: 0...(d / 2))
    }
}

public enum ControllerError: Error, CustomStringConvertible, Sendable {
    case status(Int, retryAfter: TimeInterval?)
    case timeout
    case transport(String)
    /// The token could not be read (the message names the path, never the content).
    case token(String)

    public var isRetryable: Bool {
        switch self {
        case .status(let s, _): [408, 409, 425, 429].contains(s) || (500..<600).contains(s)
        case .timeout, .transport: true
        case .token: false
        }
    }
    var retryAfter: TimeInterval? {
        if case .status(_, let r) = self { return r }
        return nil
    }
    public var description: String {
        switch self {
        case .status(let s, _): "controller answered HTTP \(s)"
        case .timeout: "controller did not answer in time"
        case .transport(let m): "cannot reach controller: \(m)"
        case .token(let m): m
        }
    }
}

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
                if escaped { escaped = false } else if c == "\\" { escaped = true } else if c == "\"" || c == "\n" || c == "\r\n" || c == "\r" { break }
                i = rest.index(after: i)
            }
            if i > r.upperBound, !rest[r.upperBound..<i].hasPrefix(mask) { result += mask } else { result += rest[r.upperBound..<i] }
            rest = rest[i...]
        }
        return result + rest
    }
}

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
                throw ReadError(path: nil, reason: "credential \(name): CREDENTIALS_DIRECTORY is not set (LoadCredential= missing?)",
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
