import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL

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
        public var token: TokenSource?
        /// PEM file with the CA(s) to trust instead of the system store.
        public var caFile: String?
        /// Whole-request timeout.
        public var timeout: TimeInterval
        public var connectTimeout: TimeInterval
        public var retry: RetryPolicy
        public init(url: String, token: TokenSource? = nil, caFile: String? = nil, timeout: TimeInterval = 10,
                    connectTimeout: TimeInterval = 5, retry: RetryPolicy = RetryPolicy()) {
            self.url = url
            self.token = token
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
            timeout: .init(connect: .milliseconds(Int64(configuration.connectTimeout * 1000)),
                           read: .milliseconds(Int64(configuration.timeout * 1000))))
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
                let error = error as? ControllerError ?? .transport(String(describing: error))
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
        if let source = configuration.token {
            let token: Secret
            do { token = try source.read() } catch { throw ControllerError.token(error.description) }
            request.headers.add(name: "Authorization", value: "Bearer " + token.value)
        }
        let body: Data
        do { body = try report.canonicalJSON() } catch { throw ControllerError.transport("cannot encode report: \(error)") }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(request, timeout: .milliseconds(Int64(configuration.timeout * 1000)),
                                                logger: logger)
            // Drain (bounded): the body is informational only; garbage on 2xx is not an error.
            _ = try await response.body.collect(upTo: 64 * 1024)
        } catch let e as HTTPClientError where e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout {
            throw ControllerError.timeout
        } catch {
            throw ControllerError.transport(String(describing: error))
        }
        let status = Int(response.status.code)
        if (200..<300).contains(status) { return }
        let retryAfter = response.headers.first(name: "Retry-After").flatMap { TimeInterval($0) }
        throw ControllerError.status(status, retryAfter: retryAfter)
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
}

/// Where the bearer token comes from. Read on every request, so a rotated token is picked up.
public enum TokenSource: Sendable, Hashable {
    /// A file holding the token (surrounding whitespace ignored).
    case file(String)
    /// A systemd credential: `$CREDENTIALS_DIRECTORY/<name>` (`LoadCredential=<name>:…`).
    case credential(String)

    public struct ReadError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    public func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ReadError) -> Secret {
        let path: String
        switch self {
        case .file(let p): path = p
        case .credential(let name):
            guard let dir = environment["CREDENTIALS_DIRECTORY"] else {
                throw ReadError(description: "credential \(name): CREDENTIALS_DIRECTORY is not set (LoadCredential= missing?)")
            }
            path = dir + "/" + name
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ReadError(description: "cannot read token file \(path)")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !token.isEmpty else { throw ReadError(description: "token file \(path) is empty") }
        return Secret(token)
    }
}
