import AsyncHTTPClient
import Foundation
import HWLabelCore
import Logging
import NIOCore
import NIOHTTP1
import NIOSSL
import HWLabelProbe

/// POSTs each report as JSON to a placement controller. Contract: docs/agent.md, "HTTP contract (for controller authors)".
///
/// Every report goes through the outbox first; the newest pending report is what is sent, with
/// `Idempotency-Key: <machine-id>/<epoch>/<generation>`. `deliver` makes one attempt: a failure
/// throws a `ControllerError` that says whether it is transient (transport errors, timeouts,
/// 408, 409, 425, 429, 5xx; `Retry-After` honoured) and leaves the report in the outbox. The
/// agent's `SinkWorker` retries it on `configuration.retry` (or the next start sends it).
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
        /// How `SinkWorker` retries this sink's failed attempts.
        public var retry: RetryPolicy
        public init(
            url: String, token: TokenSource? = nil, tokenOptional: Bool = false, caFile: String? = nil,
            timeout: TimeInterval = 10, connectTimeout: TimeInterval = 5, retry: RetryPolicy = RetryPolicy()
        ) {
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
            timeout: .init(
                connect: .milliseconds(Self.milliseconds(configuration.connectTimeout)),
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

    /// One attempt: stores `report` in the outbox, posts the newest pending report, and removes
    /// it from the outbox once the controller answered 2xx. Throws `ControllerError` (or the
    /// outbox's error when the report cannot be stored).
    public func deliver(_ report: Report) async throws {
        try await deliver(report, canonical: nil)
    }

    /// `deliver` with the report's canonical bytes already encoded (the outbox and the request
    /// body are those bytes).
    public func deliver(_ report: Report, canonical: [UInt8]) async throws {
        try await deliver(report, canonical: Optional(canonical))
    }

    private func deliver(_ report: Report, canonical: [UInt8]?) async throws {
        let (toSend, bytes) = try outbox.store(report, canonical: canonical)
        do { try await post(toSend, body: bytes) } catch {
            // post() throws ControllerError only; anything else (a cancellation) is a transport error.
            throw error as? ControllerError ?? .transport(Secret.redact(String(describing: error)))
        }
        outbox.acknowledge(toSend)
        logger.debug("report delivered", metadata: ["sink": "\(name)", "generation": "\(toSend.generation)"])
    }

    func post(_ report: Report, body encoded: [UInt8]? = nil) async throws {
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
        do { body = try encoded.map { Data($0) } ?? report.canonicalJSON() } catch {
            throw ControllerError.transport("cannot encode report: \(error)")
        }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await client.execute(
                request, timeout: .milliseconds(Self.milliseconds(configuration.timeout)),
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
            h.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let v = Int(h)
        else { return nil }
        return TimeInterval(min(v, 86400))
    }

    /// A timeout in whole milliseconds for NIO, 1 ms … 1 day whatever the configuration holds
    /// (no trap on `inf`, `nan` or a value past Int64).
    static func milliseconds(_ seconds: TimeInterval) -> Int64 {
        guard seconds.isFinite, seconds > 0 else { return seconds == .infinity ? 86_400_000 : 1 }
        return Int64(min(max(seconds * 1000, 1), 86_400_000))
    }
}

public enum ControllerError: TransientFailure, CustomStringConvertible, Sendable {
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
    public var retryAfter: TimeInterval? {
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
