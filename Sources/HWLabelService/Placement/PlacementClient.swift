import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// A Placement API response: status, body, and the error code Placement puts in
/// `{"errors":[{"code":"placement.concurrent_update",…}]}`.
public struct PlacementResponse: Sendable {
    public var status: Int
    public var body: Data
    public init(status: Int, body: Data) {
        self.status = status
        self.body = body
    }
    public var errorCode: String? {
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let errors = o["errors"] as? [[String: Any]], let first = errors.first else { return nil }
        return first["code"] as? String
    }
    public var errorDetail: String {
        guard let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
              let errors = o["errors"] as? [[String: Any]], let first = errors.first else {
            return String(decoding: body.prefix(300), as: UTF8.self)
        }
        return (first["detail"] as? String ?? first["title"] as? String ?? "")
            .replacingOccurrences(of: "\n", with: " ")
    }
    func json() throws -> [String: Any] {
        guard let o = try JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw PlacementError.badResponse("expected a JSON object")
        }
        return o
    }
}

public enum PlacementError: Error, Sendable, CustomStringConvertible {
    /// Placement answered with an unexpected status.
    case http(method: String, path: String, status: Int, code: String?, detail: String)
    case transport(method: String, path: String, String)
    case badResponse(String)
    case tokenFile(path: String, String)
    case gaveUp(provider: String, attempts: Int)

    public var description: String {
        switch self {
        case .http(let m, let p, let s, let c, let d): "\(m) \(p): HTTP \(s)\(c.map { " \($0)" } ?? ""): \(d)"
        case .transport(let m, let p, let why): "\(m) \(p): \(why)"
        case .badResponse(let why): "unexpected Placement response: \(why)"
        case .tokenFile(let p, let why): "cannot read token file \(p): \(why)"
        case .gaveUp(let n, let a): "\(n): still conflicting after \(a) attempts (placement.concurrent_update)"
        }
    }
}

/// Sends one request to Placement. One small seam so tests can count or disturb requests.
public protocol PlacementTransport: Sendable {
    func send(method: String, path: String, body: Data?) async throws -> PlacementResponse
}

/// Request counts by kind, for the sync result and the benchmark.
public final class PlacementRequestCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var _reads = 0
    private var _writes = 0
    public init() {}
    public func record(method: String) {
        lock.lock(); defer { lock.unlock() }
        if method == "GET" || method == "HEAD" { _reads += 1 } else { _writes += 1 }
    }
    public var reads: Int { lock.lock(); defer { lock.unlock() }; return _reads }
    public var writes: Int { lock.lock(); defer { lock.unlock() }; return _writes }
}

/// Placement over HTTP (AsyncHTTPClient). Sends `X-Auth-Token` (never logged) and
/// `OpenStack-API-Version: placement <microversion>` on every request.
public struct PlacementHTTPTransport: PlacementTransport {
    public var baseURL: String
    public var microversion: String
    public var timeout: TimeAmount
    public let counter: PlacementRequestCounter
    private let token: Token
    private let client: HTTPClient

    /// A fixed token (`hwlabel placement sync`), or a token source read before every request
    /// (the agent: a rewritten token file is used from the next request on).
    enum Token: Sendable {
        case fixed(String)
        case source(TokenSource)
    }

    public init(baseURL: String, token: String, microversion: String = "1.39",
                timeout: TimeAmount = .seconds(30), client: HTTPClient = .shared,
                counter: PlacementRequestCounter = PlacementRequestCounter()) {
        self.init(baseURL: baseURL, token: .fixed(token), microversion: microversion, timeout: timeout, client: client, counter: counter)
    }

    /// Reads `tokenSource` before every request.
    public init(baseURL: String, tokenSource: TokenSource, microversion: String = "1.39",
                timeout: TimeAmount = .seconds(30), client: HTTPClient = .shared,
                counter: PlacementRequestCounter = PlacementRequestCounter()) {
        self.init(baseURL: baseURL, token: .source(tokenSource), microversion: microversion, timeout: timeout, client: client, counter: counter)
    }

    init(baseURL: String, token: Token, microversion: String, timeout: TimeAmount, client: HTTPClient,
         counter: PlacementRequestCounter) {
        var url = baseURL
        while url.hasSuffix("/") { url.removeLast() }
        self.baseURL = url
        self.token = token
        self.microversion = microversion
        self.timeout = timeout
        self.client = client
        self.counter = counter
    }

    /// Reads the token from a file, as the agent does (`TokenSource`: one token, surrounding
    /// whitespace ignored, a line break or control character inside refused).
    public static func token(fromFile path: String) throws -> String {
        do { return try TokenSource.file(path).read().value } catch {
            throw PlacementError.tokenFile(path: path, error.reason)
        }
    }

    /// The token for the next request.
    func currentToken() throws(PlacementError) -> String {
        switch token {
        case .fixed(let t): return t
        case .source(let s):
            do { return try s.read().value } catch {
                throw PlacementError.tokenFile(path: error.path ?? "-", error.reason)
            }
        }
    }

    public func send(method: String, path: String, body: Data?) async throws -> PlacementResponse {
        let token = try currentToken()
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        request.headers.add(name: "X-Auth-Token", value: token)
        request.headers.add(name: "OpenStack-API-Version", value: "placement \(microversion)")
        request.headers.add(name: "Accept", value: "application/json")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        counter.record(method: method)
        do {
            let response = try await client.execute(request, timeout: timeout)
            var buffer = try await response.body.collect(upTo: 64 << 20)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            return PlacementResponse(status: Int(response.status.code), body: Data(bytes))
        } catch let e as PlacementError {
            throw e
        } catch {
            // The client's errors may print request headers (an invalid header value is
            // printed whole): the token never leaves in an error.
            throw PlacementError.transport(method: method, path: path, Secret.redact("\(error)", known: [Secret(token)]))
        }
    }
}

/// Percent-encodes a query value (`+`, `&`, `=`, `,` kept out of the value's meaning).
func placementQueryValue(_ s: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~:")
    return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
}
